"""Id maps an unprivileged user may not write itself: newuidmap and newgidmap.

Without CAP_SETUID/CAP_SETGID over the parent user namespace the kernel lets a
process write just one line to a child's uid_map (gid_map): its own euid
(egid), size 1. Anything more -- root plus a subordinate range from
/etc/subuid, say -- goes through the setuid helpers of shadow's ``uidmap``
package, which write exactly the ranges the administrator granted the user
and refuse the rest. runc does the same, with the same command lines.

Only an unprivileged ``create`` with such a mapping imports this module (and
``subprocess`` with it): the privileged path writes the maps itself.

setgroups: newgidmap writes ``/proc/<pid>/setgroups`` itself, "allow" when
every range is one /etc/subgid grants and "deny" otherwise, before it writes
the map. pyoci must then leave setgroups alone: the kernel never lets a denied
setgroups be allowed again, so denying it first would make newgidmap fail, and
a user granted subordinate gids may let the container call setgroups
(additionalGids work). Without newgidmap pyoci has to deny it, or the user
could drop a supplementary group that a file's permissions deny access to.
"""

from __future__ import annotations

import os

# Where the helpers are looked for when PATH is unset (Debian puts them there).
_DEFAULT_PATH = "/usr/bin:/bin"
_TIMEOUT = 30.0
_TOOLS = {"uidMappings": "newuidmap", "gidMappings": "newgidmap"}


def write_with_helper(pid: int, key: str, mappings: list[dict]) -> None:
    """Have newuidmap/newgidmap write the map of ``pid``; one-line error if it can't."""
    from pyoci.errors import PyociError

    tool = _TOOLS[key]
    path = _find(tool)
    if path is None:
        raise PyociError(
            f"linux.{key}: {_describe(mappings)} needs {tool} (package uidmap), which is not on "
            f"PATH; an unprivileged user can map only its own id (size 1) without it")
    argv = [path, str(pid)]
    for m in mappings:
        argv += [str(int(m["containerID"])), str(int(m["hostID"])), str(int(m["size"]))]
    failure = _run(argv)
    if failure:
        raise PyociError(f"linux.{key}: {failure}")


def _run(argv: list[str]) -> str:
    """Run the helper; return why it failed (its stderr on one line), or ''."""
    import subprocess  # only here: never on the privileged hot path

    tool = os.path.basename(argv[0])
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return f"{tool} did not finish within {_TIMEOUT:.0f} s"
    except OSError as e:
        return f"{argv[0]}: {e.strerror}"
    if done.returncode == 0:
        return ""
    text = (done.stderr or done.stdout).decode(errors="replace")
    said = "; ".join(line.strip() for line in text.splitlines() if line.strip())
    return said or f"{tool} exited with status {done.returncode}"


def _find(tool: str) -> str | None:
    """The first executable ``tool`` on PATH (``/usr/bin:/bin`` when PATH is unset)."""
    import shutil  # only here, with subprocess: never on the privileged hot path

    return shutil.which(tool, path=os.environ.get("PATH") or _DEFAULT_PATH)


def _describe(mappings: list[dict]) -> str:
    ranges = ", ".join(f"{m['containerID']}->{m['hostID']} size {m['size']}" for m in mappings)
    return f"mapping [{ranges}]"

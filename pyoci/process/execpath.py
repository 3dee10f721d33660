"""Find the container's executable the way runc does (Go's ``exec.LookPath``).

The error texts copy runc's word for word because engines decide the exit code
from them: podman and docker turn ``executable file not found in $PATH`` and
``no such file or directory`` into 127 and ``permission denied`` into 126.
Go prints errno texts in lower case, hence :func:`go_strerror`.
"""

from __future__ import annotations

import os
import stat

from pyoci.errors import PyociError

#: runc's PATH when the container's environment sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecutableNotFound(PyociError):
    """The process's executable is missing or not executable (runc's phrasing)."""


def go_strerror(err: int | None) -> str:
    """An errno's text as Go's syscall package spells it (lower-case first letter)."""
    text = os.strerror(err or 0)
    return text[:1].lower() + text[1:]


def _quote(name: str) -> str:
    """Go's strconv.Quote for the common case: escape backslashes and quotes."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def path_from_env(env: list[str]) -> str:
    """The last ``PATH=`` in ``env`` wins, as with repeated setenv in runc."""
    found = None
    for entry in env:
        if entry.startswith("PATH="):
            found = entry[5:]
    return DEFAULT_PATH if found is None else found


def _check_executable(path: str, shown: str) -> str | None:
    """None if ``path`` can be exec'd, else the Go error text for it.

    Go (before 1.20) answers "permission denied" for directories and files
    without an execute bit; runc users and engines rely on that wording.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        return f"stat {shown}: {go_strerror(e.errno)}"
    if not stat.S_ISREG(st.st_mode):
        return go_strerror(13)  # EACCES
    if os.access(path, os.X_OK):
        return None
    return go_strerror(13)


def resolve_executable(arg0: str, env: list[str], cwd: str) -> str:
    """The path to exec for ``arg0``, searched in the container's PATH.

    A name containing "/" is used as is, relative names against ``cwd``; a
    bare name is looked up in each PATH directory (an empty entry means
    ``cwd``). Raises :class:`ExecutableNotFound` with runc's message.
    """
    if "/" in arg0:
        full = os.path.join(cwd, arg0)
        problem = _check_executable(full, arg0)
        if problem is not None:
            raise ExecutableNotFound(f"exec: {_quote(arg0)}: {problem}")
        return full
    search = path_from_env(env)
    for directory in search.split(":") if search else []:
        full = os.path.join(cwd, directory or ".", arg0)
        if _check_executable(full, full) is None:
            return os.path.normpath(full)
    raise ExecutableNotFound(f"exec: {_quote(arg0)}: executable file not found in $PATH")


def env_mapping(env: list[str]) -> dict[str, str]:
    """``KEY=value`` strings as the mapping os.execve wants: a later duplicate wins, as
    with repeated setenv; an entry without '=' (or with an empty key) is dropped."""
    result: dict[str, str] = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep and key:
            result[key] = value
    return result

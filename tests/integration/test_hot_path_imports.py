"""Each hot-path command imports only what it uses (issue 7).

Start-up is most of what ``state``, ``kill``, ``delete`` cost, and a third of
``run``: a module that sneaks back onto one of these paths (jsonschema on a
valid config, pyroute2 without netDevices, or json/re/enum/typing/socket
through some convenience import) is a regression of milliseconds. Not a
timing test: the real command runs in ``python -I -S`` as the launcher starts
it, and reports ``sys.modules`` when it is done.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import (
    PYOCI,
    Bundle,
    Pyoci,
    assert_nothing_left,
    launcher_path_lines,
    needs_root,
    reap_children,
)

pytestmark = needs_root

PROBE = """
import sys
{path_lines}
from pyoci.cli import main
rc = main({argv!r})
with open({report!r}, "w") as f:
    f.write(repr((rc, sorted(sys.modules))))
"""

# Never on any of these commands with the demo config (no netDevices, valid).
HEAVY = {"jsonschema", "referencing", "pyroute2", "jeepney", "typing", "json", "re", "enum",
         "socket", "signal", "selectors", "pathlib", "dataclasses", "functools", "inspect",
         "subprocess", "threading", "tempfile", "argparse", "ast", "array", "datetime",
         "contextlib", "logging", "hashlib",
         # namedtuple's: collections, operator, keyword, reprlib (pyoci.record instead)
         "collections", "operator", "keyword", "reprlib"}
# Modules of features the demo config does not use (no terminal, hooks, seccomp,
# scheduler/affinity/NUMA/personality): imported only for a config that has them.
UNUSED_FEATURES = {"pyoci.process.console", "termios", "pyoci.container.hooks",
                   "pyoci.security.seccomp", "pyoci.process.placement",
                   "pyoci.process.scheduler", "pyoci.process.cpulist",
                   "pyoci.process.mempolicy", "pyoci.process.intelrdt"}
# ctypes: pyoci.cdata is the part of it syscalls.py needs; resource and struct
# (C extensions): syscalls.prlimit and bytes arithmetic instead.
HEAVY_OR_UNUSED = HEAVY | UNUSED_FEATURES | {"ctypes", "resource", "struct"}
# The init's own code (rootfs, process set-up, capabilities): stage 1 imports it
# after the fork, while the parent makes the cgroup, so the parent never does.
INIT_SIDE = {"pyoci.process.init", "pyoci.process.setup", "pyoci.process.execpath",
             "pyoci.rootfs", "pyoci.security.capabilities"}
# state, kill and delete read a state file and make a syscall or two: nothing
# of the create path either.
QUERY = HEAVY | {"ctypes", "pyoci.config", "pyoci.rootfs", "pyoci.process.init",
                 "pyoci.security.seccomp", "pyoci.config.fastcheck",
                 # no --log: a Logger would write nothing
                 "pyoci.log",
                 # os.py builds collections.abc: ~1.3 ms of a ~12 ms command (pyoci/paths.py)
                 "os", "posixpath"} | UNUSED_FEATURES
# state, start and kill ask only whether the cgroup is frozen: not the manager.
STATUS = QUERY | {"pyoci.cgroups.manager"}


def _modules(pyoci: Pyoci, tmp_path: Path, *args: str, status: int = 0) -> set[str]:
    """The modules the command ``pyoci --root ROOT args...`` had loaded at its end."""
    launcher = Path(PYOCI[0])
    venv_python = launcher.with_name("python")
    if len(PYOCI) != 1 or not venv_python.exists():
        pytest.skip("the probe needs .venv/bin/pyoci and its interpreter")
    report = tmp_path / "report"
    argv = ["--root", str(pyoci.root), *args]
    probe = PROBE.format(path_lines=launcher_path_lines(), argv=argv, report=str(report))
    with tempfile.TemporaryFile() as out:  # create hands its stdio to the container
        subprocess.run([str(venv_python), "-I", "-S", "-c", probe], stdout=out, stderr=out,
                       stdin=subprocess.DEVNULL, timeout=60, check=True)
    rc, modules = eval(report.read_text())  # noqa: S307 - our own repr of a tuple
    assert rc == status, f"pyoci {' '.join(args)} exited {rc}"
    report.unlink()
    return set(modules)


def _loaded(found: set[str], forbidden: set[str]) -> list[str]:
    return sorted(m for m in found if m in forbidden or m.split(".")[0] in forbidden)


def test_lifecycle_commands_import_only_what_they_use(
        pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    bundle.with_args("sleep", "1000")
    cid = f"hp{os.getpid()}lc"  # an id no command line around us mentions
    assert _loaded(_modules(pyoci, tmp_path, "create", "--bundle", str(bundle.path), cid),
                   HEAVY_OR_UNUSED | INIT_SIDE) == []
    assert _loaded(_modules(pyoci, tmp_path, "state", cid), STATUS) == []
    assert _loaded(_modules(pyoci, tmp_path, "start", cid), STATUS) == []
    # exec joins a running container: none of the init's rootfs code either.
    assert _loaded(_modules(pyoci, tmp_path, "exec", cid, "/bin/true"),
                   HEAVY_OR_UNUSED | {"pyoci.process.init", "pyoci.rootfs"}) == []
    assert _loaded(_modules(pyoci, tmp_path, "kill", cid, "KILL"), STATUS) == []
    reap_children()  # the killed init was reparented to us
    assert _loaded(_modules(pyoci, tmp_path, "delete", cid), QUERY) == []
    assert_nothing_left(pyoci, cid)


def test_engine_flags_keep_the_short_commands_short(
        pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    """containerd and docker pass --log and --log-format json to every command."""
    bundle.with_args("sleep", "1000")
    cid = f"hp{os.getpid()}log"
    log = ["--log", str(tmp_path / "log.json"), "--log-format", "json"]
    engine_query = QUERY - {"pyoci.log"}
    _modules(pyoci, tmp_path, "create", "--bundle", str(bundle.path), cid)
    engine_status = STATUS - {"pyoci.log"}
    assert _loaded(_modules(pyoci, tmp_path, *log, "state", cid), engine_status) == []
    assert _loaded(_modules(pyoci, tmp_path, *log, "list"), engine_status) == []
    assert _loaded(_modules(pyoci, tmp_path, *log, "delete", "--force", cid),
                   engine_query) == []
    reap_children()
    assert_nothing_left(pyoci, cid)


def test_run_imports_only_what_it_uses(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    bundle.with_args("/bin/true")
    cid = f"hp{os.getpid()}run"
    assert _loaded(_modules(pyoci, tmp_path, "run", "--bundle", str(bundle.path), cid),
                   HEAVY_OR_UNUSED | INIT_SIDE) == []
    assert_nothing_left(pyoci, cid)


def test_the_probe_sees_a_heavy_import(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    """An invalid config makes create ask jsonschema why: the probe must notice."""
    bundle.edit(lambda c: c["process"].update(cwd=5))
    found = _modules(pyoci, tmp_path, "create", "--bundle", str(bundle.path), f"hp{os.getpid()}bad",
                     status=1)
    assert "jsonschema" in _loaded(found, HEAVY)

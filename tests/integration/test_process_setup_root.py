"""finalize_process + exec_process for real: a forked child becomes the process.

Needs root (setresuid, capset, bounding-set drops); no namespaces are used, so
the checks read the exec'd shell's own /proc entries.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator

import pytest

from pyoci.errors import PyociError
from pyoci.process.setup import ExecPlan, apply_rlimits, exec_process, finalize_process
from pyoci.security.capabilities import CAPABILITIES, last_cap

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
# The exec'd process reports on itself directly: a shell would add its own
# signal dispositions (busybox ash ignores SIGQUIT).
STATUS_ARGS = [BUSYBOX, "cat", "/proc/self/status", "/proc/self/limits",
               "/proc/self/oom_score_adj"]
SHELL_ARGS = [BUSYBOX, "sh", "-c",
              "echo umask=$(umask); echo fds=$(ls /proc/$$/fd); echo pwd=$(pwd)"]


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not os.access(BUSYBOX, os.X_OK):
        pytest.skip(f"{BUSYBOX} not installed (Debian busybox-static)")


def _run_child(body: Callable[[], None]) -> tuple[int, str]:
    """Fork, run ``body`` with stdout/stderr on a pipe; return exit code and output.

    The child never returns into pytest: any exception is printed and _exit'ed.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(w, 1)
            os.dup2(w, 2)
            body()
        except BaseException as e:  # noqa: BLE001 - report everything to the parent
            os.write(2, f"{type(e).__name__}: {e}\n".encode())
        os._exit(99)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


def _status_field(text: str, name: str) -> str:
    match = re.search(rf"^{name}:[ \t]*(.*)$", text, re.M)
    assert match, f"{name} missing from output:\n{text}"
    return match.group(1).strip()


def _mask(*names: str) -> int:
    return sum(1 << CAPABILITIES[n] for n in names if CAPABILITIES[n] <= last_cap())


def _full_config(args: list[str], cwd: str) -> dict:
    return {
        "args": args,
        "env": ["PATH=/usr/bin:/bin", "TERM=dumb"],
        "cwd": cwd,
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [1001, 1002], "umask": 0o027},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}],
        "capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_NET_BIND_SERVICE",
                         "CAP_CHECKPOINT_RESTORE"],
            "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"],
        },
        "noNewPrivileges": True,
        "oomScoreAdj": 100,
    }


def _run_full(args: list[str], cwd: str) -> str:
    """Run the full config in a child with a stray fd 42, fd 3 preserved, a kept channel."""
    chan_r, chan_w = os.pipe()  # init's own channel: close-on-exec, must survive finalize

    def body() -> None:
        stray = os.open("/dev/null", os.O_RDONLY)
        os.dup2(stray, 42, inheritable=True)  # an engine's leaked fd
        os.dup2(stray, 3, inheritable=True)  # the one --preserve-fds=1 keeps
        os.close(stray)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})  # must not leak either
        plan = finalize_process(_full_config(args, cwd), preserve_fds=1, keep_fds={chan_w})
        os.write(chan_w, b"ok")  # the kept channel still works after finalize
        exec_process(plan)

    try:
        code, out = _run_child(body)
        os.close(chan_w)
        assert os.read(chan_r, 2) == b"ok", out
    finally:
        os.close(chan_r)
    assert code == 0, out
    return out + f"chan={chan_w}\n"


@pytest.fixture
def user_cwd() -> Iterator[str]:
    """A directory only uid 1000 owns, as the process's cwd."""
    _need_root()
    cwd = tempfile.mkdtemp(prefix="pyoci-setup-")
    os.chown(cwd, 1000, 1000)
    os.chmod(cwd, 0o700)
    yield cwd
    os.rmdir(cwd)


def test_full_process_credentials_caps_signals_limits(user_cwd: str) -> None:
    _need_root()
    if os.sysconf("SC_OPEN_MAX") < 2048:
        pytest.skip("hard RLIMIT_NOFILE below 2048: cannot test 1024/2048 without raising it")
    out = _run_full(STATUS_ARGS, user_cwd)
    assert _status_field(out, "Uid").split() == ["1000"] * 4
    assert _status_field(out, "Gid").split() == ["1000"] * 4
    assert _status_field(out, "Groups").split() == ["1001", "1002"]
    assert _status_field(out, "Umask") == "0027"
    bnd = _mask("CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_NET_BIND_SERVICE",
                "CAP_CHECKPOINT_RESTORE")
    assert int(_status_field(out, "CapBnd"), 16) == bnd
    assert int(_status_field(out, "CapInh"), 16) == _mask("CAP_KILL", "CAP_NET_BIND_SERVICE")
    # A non-root exec of a file without file caps keeps exactly the ambient set.
    amb = _mask("CAP_NET_BIND_SERVICE")
    assert int(_status_field(out, "CapAmb"), 16) == amb
    assert int(_status_field(out, "CapPrm"), 16) == amb
    assert int(_status_field(out, "CapEff"), 16) == amb
    assert _status_field(out, "NoNewPrivs") == "1"
    assert int(_status_field(out, "SigIgn"), 16) == 0
    assert int(_status_field(out, "SigBlk"), 16) == 0
    assert re.search(r"^Max open files\s+1024\s+2048\s+files", out, re.M), out
    assert re.search(r"^100$", out, re.M), out  # oom_score_adj


def test_full_process_fds_umask_cwd(user_cwd: str) -> None:
    _need_root()
    if os.sysconf("SC_OPEN_MAX") < 2048:
        pytest.skip("hard RLIMIT_NOFILE below 2048: cannot test 1024/2048 without raising it")
    out = _run_full(SHELL_ARGS, user_cwd)
    assert "umask=0027" in out
    fds = re.search(r"^fds=(.*)$", out, re.M)
    chan = re.search(r"^chan=(\d+)$", out, re.M)
    assert fds and chan, out
    listed = fds.group(1).split()
    assert "42" not in listed and chan.group(1) not in listed
    assert {"0", "1", "2", "3"} <= set(listed)
    assert f"pwd={user_cwd}" in out


def test_no_capabilities_clears_every_set() -> None:
    _need_root()
    config = {"args": ["busybox", "cat", "/proc/self/status"], "cwd": "/",
              "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    code, out = _run_child(lambda: exec_process(
        finalize_process(config, preserve_fds=0, keep_fds=set())))
    assert code == 0, out
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(_status_field(out, field), 16) == 0, field
    assert _status_field(out, "Groups") == ""
    assert _status_field(out, "NoNewPrivs") == "0"


def test_missing_executable_uses_runc_wording() -> None:
    _need_root()
    config = {"args": ["nosuchprog"], "cwd": "/", "env": ["PATH=/bin"]}
    code, out = _run_child(lambda: exec_process(
        finalize_process(config, preserve_fds=0, keep_fds=set())))
    assert code == 99
    assert 'exec: "nosuchprog": executable file not found in $PATH' in out


def test_exec_failure_uses_runc_wording() -> None:
    _need_root()
    fd, bogus = tempfile.mkstemp(prefix="pyoci-bogus-")
    os.write(fd, b"\x00\x01 not an executable format")
    os.close(fd)
    os.chmod(bogus, 0o755)
    try:
        code, out = _run_child(lambda: exec_process(ExecPlan(bogus, [bogus], [], "/")))
    finally:
        os.unlink(bogus)
    assert code == 99
    assert f"PyociError: exec {bogus}: exec format error" in out


def test_bad_cwd_uses_runc_wording() -> None:
    _need_root()
    config = {"args": [BUSYBOX, "true"], "cwd": "/nonexistent-pyoci", "env": []}
    code, out = _run_child(lambda: exec_process(
        finalize_process(config, preserve_fds=0, keep_fds=set())))
    assert code == 99
    assert ('chdir to cwd ("/nonexistent-pyoci") set in config.json failed: '
            "no such file or directory") in out


def test_raising_hard_rlimit_without_cap_sys_resource_is_clean() -> None:
    _need_root()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("hard RLIMIT_NOFILE is unlimited: nothing above it to refuse")
    with open("/proc/self/status") as f:
        eff = int(_status_field(f.read(), "CapEff"), 16)
    if eff & (1 << CAPABILITIES["CAP_SYS_RESOURCE"]):
        pytest.skip("CAP_SYS_RESOURCE present: raising the hard limit would succeed")
    entry = {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
    with pytest.raises(PyociError) as info:
        apply_rlimits([entry, {"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard + 1}])
    assert str(info.value) == (f"process.rlimits[1] (RLIMIT_NOFILE): cannot set soft={soft} "
                               f"hard={hard + 1}: Operation not permitted")
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)


def _without_imports() -> None:
    """Make any further import fail, as after pivot_root hides the host's stdlib."""
    sys.meta_path[:] = []
    sys.path_hooks[:] = []
    sys.path[:] = []
    sys.path_importer_cache.clear()


@pytest.mark.parametrize("args, expected_code, expected", [
    ([BUSYBOX, "echo", "hello"], 0, "hello"),
    (["nosuchprog"], 99, "executable file not found in $PATH"),
    (["/nonexistent/prog"], 99, "stat /nonexistent/prog: no such file or directory"),
])
def test_no_import_fires_after_setup(user_cwd: str, args: list[str], expected_code: int,
                                     expected: str) -> None:
    def body() -> None:
        _without_imports()
        exec_process(finalize_process(_full_config(args, user_cwd), preserve_fds=0,
                                      keep_fds=set()))

    code, out = _run_child(body)
    assert code == expected_code, out
    assert expected in out
    assert "ModuleNotFoundError" not in out and "ImportError" not in out

"""``linux.seccomp`` seen from inside a container, and its errors (root only).

Each test runs busybox under a filter and reads what the filter did from the
shell's output or exit status: errno texts, SIGSYS (exit 128+31), a notify
listener owned by the test answering the container's syscalls.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root

pytestmark = [pytest.mark.root, needs_root]

SIGSYS_EXIT = 128 + 31
MKDIR = ["mkdir", "mkdirat"]
UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


def new_id() -> str:
    return f"pyoci-sc-{uuid4().hex[:8]}"


def with_seccomp(bundle: Bundle, section: dict, *, nnp: bool | None = None) -> Bundle:
    def edit(cfg: dict) -> None:
        cfg["linux"]["seccomp"] = section
        if nnp is not None:
            cfg["process"]["noNewPrivileges"] = nnp
    return bundle.edit(edit)


def run(pyoci: Pyoci, bundle: Bundle, script: str, *, rc: int = 0) -> str:
    """``sh -c script`` under the bundle's filter; its stdout+stderr."""
    bundle.with_args("sh", "-c", script)
    cid = new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False,
                 stdin=subprocess.DEVNULL)
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == rc, f"exit {proc.returncode}: {out}"
    assert_nothing_left(pyoci, cid)
    return out


def detached(pyoci: Pyoci, *args: str) -> subprocess.CompletedProcess:
    """``pyoci create``: the container keeps create's stdio, so files, not pipes."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), *args], stdout=out,
                              stderr=err, stdin=subprocess.DEVNULL, timeout=60, check=False)
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    return proc


def deny(names: list[str], action: str = "SCMP_ACT_ERRNO", **extra: object) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": names, "action": action, **extra}]}


# --- actions and errnos ------------------------------------------------------

def test_errno_defaults_to_eperm(pyoci: Pyoci, bundle: Bundle) -> None:
    with_seccomp(bundle, deny(MKDIR))
    out = run(pyoci, bundle, "mkdir /tmp/d; echo rc=$?")
    assert "Operation not permitted" in out and "rc=1" in out


@pytest.mark.parametrize("nnp", [True, False])
def test_errno_ret_is_returned(pyoci: Pyoci, bundle: Bundle, nnp: bool) -> None:
    with_seccomp(bundle, deny(MKDIR, errnoRet=errno.ENOSPC), nnp=nnp)
    assert "No space left on device" in run(pyoci, bundle, "mkdir /tmp/d; true")


def test_unknown_syscall_names_are_skipped(pyoci: Pyoci, bundle: Bundle) -> None:
    with_seccomp(bundle, deny(["pyoci_no_such_syscall", *MKDIR], errnoRet=errno.EXDEV))
    assert "Invalid cross-device link" in run(pyoci, bundle, "mkdir /tmp/d; true")


def test_rule_equal_to_default_is_skipped(pyoci: Pyoci, bundle: Bundle) -> None:
    section = deny(MKDIR, errnoRet=errno.ENOSPC)
    section["syscalls"].insert(0, {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"})
    with_seccomp(bundle, section)
    assert "No space left on device" in run(pyoci, bundle, "mkdir /tmp/d; true")


@pytest.mark.parametrize("nnp", [True, False])
def test_default_errno_with_allow_list(pyoci: Pyoci, bundle: Bundle, nnp: bool) -> None:
    if not UNISTD.exists():
        pytest.skip(f"{UNISTD} missing (linux-libc-dev): no syscall list to allow")
    names = [line.split()[1][len("__NR_"):] for line in UNISTD.read_text().splitlines()
             if line.startswith("#define __NR_")]
    allowed = [n for n in names if n not in MKDIR]
    with_seccomp(bundle, {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSPC,
                          "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]},
                 nnp=nnp)
    out = run(pyoci, bundle, "echo hello; mkdir /tmp/d; true")
    assert "hello" in out and "No space left on device" in out


@pytest.mark.parametrize("nnp", [True, False])
@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"])
def test_sigsys_actions(pyoci: Pyoci, bundle: Bundle, action: str, nnp: bool) -> None:
    with_seccomp(bundle, deny(MKDIR, action), nnp=nnp)
    bundle.with_args("mkdir", "/tmp/d")
    cid = new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == SIGSYS_EXIT, proc.stderr.decode()
    assert_nothing_left(pyoci, cid)


def test_trace_without_tracer_is_enosys(pyoci: Pyoci, bundle: Bundle) -> None:
    with_seccomp(bundle, deny(MKDIR, "SCMP_ACT_TRACE"))
    assert "Function not implemented" in run(pyoci, bundle, "mkdir /tmp/d; true")


def test_log_allows(pyoci: Pyoci, bundle: Bundle) -> None:
    """Under a default of ERRNO, a LOG rule is what lets mkdir through."""
    if not UNISTD.exists():
        pytest.skip(f"{UNISTD} missing (linux-libc-dev): no syscall list to allow")
    names = [line.split()[1][len("__NR_"):] for line in UNISTD.read_text().splitlines()
             if line.startswith("#define __NR_")]
    with_seccomp(bundle, {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": [n for n in names if n not in MKDIR], "action": "SCMP_ACT_ALLOW"},
        {"names": MKDIR, "action": "SCMP_ACT_LOG"}]})
    assert "made" in run(pyoci, bundle, "mkdir /dev/shm/d && echo made")


@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                  "SECCOMP_FILTER_FLAG_TSYNC"])
def test_flags_load(pyoci: Pyoci, bundle: Bundle, flag: str) -> None:
    with_seccomp(bundle, dict(deny(MKDIR, errnoRet=errno.ENOSPC), flags=[flag]))
    assert "No space left on device" in run(pyoci, bundle, "mkdir /tmp/d; true")


def test_wait_killable_recv_as_libseccomp_allows(pyoci: Pyoci, bundle: Bundle) -> None:
    flag = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
    supported = flag in json.loads(pyoci("features").stdout)["linux"]["seccomp"]["supportedFlags"]
    with_seccomp(bundle, dict(deny(MKDIR, errnoRet=errno.ENOSPC), flags=[flag]))
    bundle.with_args("true")
    cid = new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False, stdin=subprocess.DEVNULL)
    if supported:
        assert proc.returncode == 0, proc.stderr.decode()
    else:
        assert proc.returncode != 0
        assert f"linux.seccomp.flags[0]: {flag} is not supported" in proc.stderr.decode()
    assert_nothing_left(pyoci, cid)


# --- argument conditions --------------------------------------------------------

KILL_PROBE = 'for s in 0 18 28; do kill -$s $$ 2>/dev/null && echo "$s:ok" || echo "$s:no"; done'
SIGNALS = (0, 18, 28)  # harmless to the shell: existence check, SIGCONT, SIGWINCH


def verdicts(out: str) -> dict[int, str]:
    return {int(k): v for k, v in (line.split(":") for line in out.split() if ":" in line)}


@pytest.mark.parametrize(("op", "value", "two", "matches"), [
    ("SCMP_CMP_NE", 18, 0, lambda s: s != 18),
    ("SCMP_CMP_LT", 18, 0, lambda s: s < 18),
    ("SCMP_CMP_LE", 18, 0, lambda s: s <= 18),
    ("SCMP_CMP_EQ", 18, 0, lambda s: s == 18),
    ("SCMP_CMP_GE", 18, 0, lambda s: s >= 18),
    ("SCMP_CMP_GT", 18, 0, lambda s: s > 18),
    ("SCMP_CMP_MASKED_EQ", 0x08, 0x08, lambda s: s & 0x08 == 0x08),
])
def test_arg_operators(pyoci: Pyoci, bundle: Bundle, op: str, value: int, two: int,
                       matches) -> None:  # noqa: ANN001
    """kill(2)'s signal number (argument 1) decides, through the shell's kill builtin."""
    arg = {"index": 1, "value": value, "op": op}
    if op == "SCMP_CMP_MASKED_EQ":
        arg["valueTwo"] = two
    with_seccomp(bundle, deny(["kill"], args=[arg]))
    got = verdicts(run(pyoci, bundle, KILL_PROBE))
    assert got == {s: "no" if matches(s) else "ok" for s in SIGNALS}


def test_same_argument_twice_is_an_or(pyoci: Pyoci, bundle: Bundle) -> None:
    """runc's rule: conditions on one index become separate rules."""
    with_seccomp(bundle, deny(["kill"], args=[{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                                              {"index": 1, "value": 28, "op": "SCMP_CMP_EQ"}]))
    assert verdicts(run(pyoci, bundle, KILL_PROBE)) == {0: "no", 18: "ok", 28: "no"}


def test_different_arguments_are_an_and(pyoci: Pyoci, bundle: Bundle) -> None:
    with_seccomp(bundle, deny(["kill"], args=[{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                              {"index": 1, "value": 18, "op": "SCMP_CMP_EQ"}]))
    out = run(pyoci, bundle, "sleep 5 & kill -18 $! && echo other:ok; kill -18 1 || echo self:no;"
                             " kill -28 1 && echo self28:ok; kill -9 $!")
    assert "other:ok" in out and "self:no" in out and "self28:ok" in out


# --- when the filter is loaded ----------------------------------------------------

def seccomp_mode(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Seccomp:"):
            return int(line.split()[1])
    pytest.skip("/proc/<pid>/status has no Seccomp: line")


@pytest.mark.parametrize(("nnp", "at_create"), [(True, 0), (False, 2)])
def test_filter_load_time(pyoci: Pyoci, bundle: Bundle, nnp: bool, at_create: int) -> None:
    """noNewPrivileges: only once started (just before execve); otherwise at create."""
    with_seccomp(bundle, deny(MKDIR), nnp=nnp).with_args("sleep", "30")
    cid = new_id()
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    pid = pyoci.state(cid)["pid"]
    assert seccomp_mode(pid) == at_create
    start = pyoci("start", cid, check=False)
    assert start.returncode == 0, start.stderr.decode()
    assert seccomp_mode(pid) == 2
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


# --- SCMP_ACT_NOTIFY ----------------------------------------------------------------

class Listener:
    """A seccomp agent: takes the state and fd from pyoci, answers every
    notification with (val, error), until stopped."""

    def __init__(self, path: Path, val: int, error: int) -> None:
        from pyoci.security import libseccomp

        self.lib = libseccomp.load()
        self.lib.seccomp_api_get()  # the notify calls refuse (EOPNOTSUPP) until probed
        self.mod = libseccomp
        self.val, self.error = val, error
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.state: dict = {}
        self.answered = 0
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
            with conn:
                data, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            self.state = json.loads(data)
            with os.fdopen(fds[0], "rb", buffering=0) as f:
                self._answer(f.fileno())
        except BaseException as e:  # noqa: BLE001 - reported by close()
            self.failure = e

    def _answer(self, fd: int) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            req = self.mod.Notif()
            if self.lib.seccomp_notify_receive(fd, ctypes.byref(req)) < 0:
                return  # the container is gone
            resp = self.mod.NotifResp(req.id, self.val, -self.error, 0)
            self.lib.seccomp_notify_respond(fd, ctypes.byref(resp))
            self.answered += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.server.close()
        if self.failure is not None:
            raise self.failure


@pytest.mark.parametrize("nnp", [False, True])
def test_notify_listener_answers(pyoci: Pyoci, bundle: Bundle, tmp_path: Path,
                                 nnp: bool) -> None:
    """The listener gets the process state and the fd; its answers become the
    syscall's results: mkdir "succeeds" without creating anything, or fails
    with the listener's errno."""
    path = tmp_path / "agent.sock"
    val, err = (0, 0) if nnp else (0, errno.EXDEV)
    listener = Listener(path, val, err)
    with_seccomp(bundle, dict(deny(MKDIR, "SCMP_ACT_NOTIFY"), listenerPath=str(path),
                              listenerMetadata="pyoci-test-meta"), nnp=nnp)
    try:
        out = run(pyoci, bundle, "mkdir /tmp/d && echo made; test -d /tmp/d || echo absent")
    finally:
        listener.close()
    if nnp:
        assert "made" in out and "absent" in out
    else:
        assert "Invalid cross-device link" in out and "made" not in out
    assert listener.answered >= 1
    state = listener.state
    assert state["fds"] == ["seccompFd"] and state["metadata"] == "pyoci-test-meta"
    assert state["ociVersion"] and state["pid"] > 0 and state["pid"] == state["state"]["pid"]
    assert state["state"]["id"].startswith("pyoci-sc-")
    assert state["state"]["status"] == ("created" if nnp else "creating")


@pytest.mark.parametrize("nnp", [False, True])
def test_notify_listener_unreachable(pyoci: Pyoci, bundle: Bundle, tmp_path: Path,
                                     nnp: bool) -> None:
    """Without noNewPrivileges create fails (and rolls back); with it the
    filter loads at start, so start fails and the process never runs."""
    path = tmp_path / "nobody.sock"
    with_seccomp(bundle, dict(deny(MKDIR, "SCMP_ACT_NOTIFY"), listenerPath=str(path)), nnp=nnp)
    bundle.with_args("sleep", "30")
    cid = new_id()
    want = f"linux.seccomp.listenerPath: {path}: No such file or directory"
    proc = detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    if nnp:
        assert proc.returncode == 0, proc.stderr.decode()
        pid = pyoci.state(cid)["pid"]
        proc = pyoci("start", cid, check=False)
        assert want in proc.stderr.decode() and proc.returncode != 0
        assert pyoci.state(cid)["status"] == "stopped"  # the init never exec'd sleep
        assert not Path(f"/proc/{pid}/cmdline").exists() or \
            b"sleep" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        pyoci("delete", "--force", cid)
    else:
        assert proc.returncode != 0 and want in proc.stderr.decode()
    assert_nothing_left(pyoci, cid)


# --- errors -------------------------------------------------------------------

@pytest.mark.parametrize(("section", "message"), [
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mkdir"], "action": "SCMP_ACT_BOGUS"}]},
     "linux.seccomp.syscalls[1].action"),
    (deny(MKDIR, "SCMP_ACT_KILL", errnoRet=1),
     'linux.seccomp.syscalls[0].errnoRet: not supported with action "SCMP_ACT_KILL"'),
    ({"defaultAction": "SCMP_ACT_KILL_PROCESS", "defaultErrnoRet": 1},
     'linux.seccomp.defaultErrnoRet: not supported with defaultAction "SCMP_ACT_KILL_PROCESS"'),
    (deny(MKDIR, "SCMP_ACT_NOTIFY"), "linux.seccomp.listenerPath: required with SCMP_ACT_NOTIFY"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"},
     "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
    (dict(deny(MKDIR), architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]),
     "linux.seccomp.architectures[1]"),
    (deny(["kill"], args=[{"index": 1, "value": 0, "op": "SCMP_CMP_ALMOST"}]),
     "linux.seccomp.syscalls[0].args[0].op"),
    (deny(["kill"], args=[{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]),
     "linux.seccomp.syscalls[0].args[0].index"),
    (dict(deny(MKDIR), flags=["SECCOMP_FILTER_FLAG_BOGUS"]), "linux.seccomp.flags[0]"),
    (dict(deny(["sendmsg"], "SCMP_ACT_NOTIFY"), listenerPath="/run/pyoci-none.sock"),
     "linux.seccomp.syscalls[0].names"),
])
def test_errors_name_the_field(pyoci: Pyoci, bundle: Bundle, section: dict,
                               message: str) -> None:
    with_seccomp(bundle, section).with_args("true")
    cid = new_id()
    proc = detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    err = proc.stderr.decode()
    assert proc.returncode != 0 and message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert_nothing_left(pyoci, cid)


def test_architectures_add_other_abis(pyoci: Pyoci, bundle: Bundle) -> None:
    with_seccomp(bundle, dict(deny(MKDIR, errnoRet=errno.ENOSPC),
                              architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                             "SCMP_ARCH_X32"]))
    assert "No space left on device" in run(pyoci, bundle, "mkdir /tmp/d; true")


def test_features_come_from_the_tables(pyoci: Pyoci) -> None:
    from pyoci.security import seccomp

    doc = json.loads(pyoci("features").stdout)["linux"]["seccomp"]
    assert doc["enabled"] is True
    assert doc["actions"] == list(seccomp.ACTIONS)
    assert doc["operators"] == list(seccomp.OPERATORS)
    assert doc["knownFlags"] == list(seccomp.FLAGS)
    assert set(doc["supportedFlags"]) <= set(doc["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_LOG" in doc["supportedFlags"]
    assert "SCMP_ARCH_X86_64" in doc["archs"] and set(doc["archs"]) <= set(seccomp.ARCHES)


def test_notify_on_unknown_names_only_needs_no_listener(pyoci: Pyoci, bundle: Bundle,
                                                        tmp_path: Path) -> None:
    """Every NOTIFY name skipped: no listener fd exists, nothing is sent."""
    with_seccomp(bundle, dict(deny(["pyoci_no_such_syscall"], "SCMP_ACT_NOTIFY"),
                              listenerPath=str(tmp_path / "nobody.sock")), nnp=False)
    assert "alive" in run(pyoci, bundle, "echo alive")


@pytest.mark.parametrize("nnp", [False, True])
def test_notify_with_tsync(pyoci: Pyoci, bundle: Bundle, tmp_path: Path, nnp: bool) -> None:
    path = tmp_path / "agent.sock"
    listener = Listener(path, 0, errno.EXDEV)
    with_seccomp(bundle, dict(deny(MKDIR, "SCMP_ACT_NOTIFY"), listenerPath=str(path),
                              flags=["SECCOMP_FILTER_FLAG_TSYNC"]), nnp=nnp)
    try:
        out = run(pyoci, bundle, "mkdir /tmp/d; true")
    finally:
        listener.close()
    assert "Invalid cross-device link" in out and listener.answered >= 1

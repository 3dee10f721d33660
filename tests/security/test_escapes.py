"""Escape attempts from inside a container, one regression test per class (issue 8.5).

Each test plays the attacker from a container process (or a hook standing in
for one during create) and checks on the host that the attack did not land:

* the host interpreter, pyoci's ``/proc/<pid>/exe``, is never reachable from a
  container that shares the host's pid namespace, even with CAP_SYS_PTRACE,
  during create, start, run and exec (CVE-2019-5736 class);
* no host fd and no host cwd reaches a container process (CVE-2024-21626);
* a mount destination, masked path or read-only path that is a symlink in the
  rootfs resolves inside the rootfs;
* /dev/null for masks and /dev/console cannot be swapped for symlinks, and
  sysctl writes reach the container's procfs (CVE-2025-31133/52565/52881).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from tests.conftest import (
    PYOCI,
    REPO,
    Bundle,
    Pyoci,
    assert_nothing_left,
    mounts_mentioning,
    needs_root,
)

pytestmark = [pytest.mark.root, needs_root]

HOST_PYTHON = os.path.realpath(sys.executable)


def new_id() -> str:
    return f"pyoci-sec-{uuid4().hex[:8]}"


def host_exe_id() -> str:
    st = os.stat(HOST_PYTHON)
    return f"{st.st_dev}:{st.st_ino}"


def detached(pyoci: Pyoci, *args: str, **kwargs: object) -> subprocess.CompletedProcess:
    """create / run -d: the container keeps our stdio, so files rather than pipes."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), *args], stdout=out,
                              stderr=err, stdin=subprocess.DEVNULL, timeout=60,
                              **kwargs)  # type: ignore[call-overload]
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    return proc


def poll(fn, timeout: float = 30.0) -> object:  # noqa: ANN001
    """Wait for fn() to be truthy; no timing is asserted, the bound only avoids a hang."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {fn}")


def no_pid_namespace(cfg: dict) -> None:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]


def add_caps(cfg: dict, *caps: str) -> None:
    for name in ("bounding", "effective", "permitted", "ambient"):
        cfg["process"]["capabilities"][name] += list(caps)


# -- CVE-2019-5736: the host interpreter -----------------------------------------------

# For each process whose command line names $CID (busybox ps shows it with
# spaces; grep stops at a NUL) and whose exe is not the
# container's busybox: the device:inode of what /proc/<pid>/exe opens, or
# "denied"; a sealed copy must also refuse to be opened for writing. The
# control line is the same probe on a host Python process ($HOSTPID).
EXE_PROBE = r"""
probe() {
  p=$1; link=$(readlink /proc/$p/exe 2>/dev/null)
  [ "$link" = /bin/busybox ] && return
  id=$(stat -L -c %d:%i /proc/$p/exe 2>/dev/null || echo denied)
  w=ro
  case "$link" in /memfd:*) ( : >> /proc/$p/exe ) 2>/dev/null && w=WROTE ;; esac
  c=$(cat /proc/$p/comm 2>/dev/null); echo "$2 $p $id $w ${c:--} $link"
}
probe $HOSTPID control
ps -o pid,args | grep -F "$CID" | while read p rest; do
  [ "$p" = "$$" ] || probe $p pyoci
done
"""


def check_exe_report(text: str, *, comm: str | None = None) -> None:
    """No pyoci process's exe (only those named ``comm``, if given) is the host
    interpreter, and at least one was seen; the control shows the probe works."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    control = [f for f in lines if f[0] == "control"]
    assert control and control[0][2] == host_exe_id(), \
        f"the probe cannot see the host interpreter at all, so proves nothing: {text}"
    seen = [f for f in lines if f[0] == "pyoci" and comm in (None, f[4])]
    assert seen, f"no pyoci process was visible to the attacker: {text}"
    for fields in seen:
        assert fields[2] != host_exe_id(), f"host interpreter reachable: {fields}"
        assert fields[3] != "WROTE", f"sealed interpreter copy was writable: {fields}"


def test_exec_with_ptrace_cannot_reach_host_interpreter(pyoci: Pyoci, bundle: Bundle) -> None:
    """The known gap: exec without a pid namespace, the process given CAP_SYS_PTRACE,
    opened /proc/<pyoci exec>/exe (non-dumpable does not stop CAP_SYS_PTRACE)."""
    cid = new_id()
    bundle.edit(no_pid_namespace)
    bundle.with_args("sleep", "100")
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    pyoci("start", cid)
    try:
        proc = pyoci("exec", "--cap", "CAP_SYS_PTRACE", "--env", f"CID={cid}",
                     "--env", f"HOSTPID={os.getpid()}", cid, "sh", "-c", EXE_PROBE,
                     stdin=subprocess.DEVNULL)
        check_exe_report(proc.stdout.decode())
    finally:
        pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


def test_run_foreground_cannot_be_reached(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()

    def edit(cfg: dict) -> None:
        no_pid_namespace(cfg)
        add_caps(cfg, "CAP_SYS_PTRACE")
        cfg["process"]["env"] += [f"CID={cid}", f"HOSTPID={os.getpid()}"]
        cfg["process"]["args"] = ["sh", "-c", EXE_PROBE]

    bundle.edit(edit)
    proc = pyoci("run", "--bundle", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    check_exe_report(proc.stdout.decode())
    assert_nothing_left(pyoci, cid)


WATCHER = r"""
while [ ! -e /stop ]; do
""" + EXE_PROBE.replace("probe $HOSTPID control", "") + r"""
done > /seen.txt
probe $HOSTPID control >> /seen.txt
touch /done
"""


def test_create_and_start_cannot_be_reached(pyoci: Pyoci, bundle: Bundle,
                                             tmp_path: Path) -> None:
    """A container in the host pid namespace with CAP_SYS_PTRACE watches while
    another is created and its init waits in the container's namespaces as
    pyoci, until started. (Each pyoci command is the host interpreter for the
    few milliseconds before it re-executes sealed; it is in no container
    namespace then, like runc's own binary, and is not checked here.)"""
    victim = Bundle(tmp_path / "victim")
    victim.edit(no_pid_namespace)
    victim.with_args("true")
    watcher, target = new_id(), new_id()

    def edit(cfg: dict) -> None:
        no_pid_namespace(cfg)
        add_caps(cfg, "CAP_SYS_PTRACE")
        cfg["root"]["readonly"] = False
        cfg["process"]["env"] += [f"CID={target}", f"HOSTPID={os.getpid()}"]
        cfg["process"]["args"] = ["sh", "-c", WATCHER]

    bundle.edit(edit)
    assert detached(pyoci, "run", "-d", "--bundle", str(bundle.path), watcher).returncode == 0
    try:
        assert detached(pyoci, "create", "--bundle", str(victim.path), target).returncode == 0
        seen = bundle.rootfs / "seen.txt"
        poll(lambda: seen.exists() and b" pyoci:init " in seen.read_bytes())
        pyoci("start", target)
        (bundle.rootfs / "stop").touch()
        poll(lambda: (bundle.rootfs / "done").exists())
        check_exe_report(seen.read_text(), comm="pyoci:init")
    finally:
        pyoci("delete", "--force", target, check=False)
        pyoci("delete", "--force", watcher)
    assert_nothing_left(pyoci, target)
    assert_nothing_left(pyoci, watcher)


INIT_PROBE = "stat -L -c %d:%i /proc/1/exe 2>/dev/null || echo denied; readlink /proc/1/exe"


def test_waiting_init_is_sealed_when_ptrace_is_possible(pyoci: Pyoci, bundle: Bundle) -> None:
    """With a pid namespace but no user namespace, a container process holding
    CAP_SYS_PTRACE (here an exec'd one, while the init waits for start as pyoci)
    could open /proc/1/exe: the init must then run from the sealed copy."""
    cid = new_id()
    bundle.edit(lambda cfg: add_caps(cfg, "CAP_SYS_PTRACE"))
    bundle.with_args("true")
    assert detached(pyoci, "create", "--bundle", str(bundle.path), cid).returncode == 0
    try:
        out = pyoci("exec", cid, "sh", "-c", INIT_PROBE, stdin=subprocess.DEVNULL)
        exe_id, link = out.stdout.decode().split(maxsplit=1)
        assert exe_id not in ("denied", host_exe_id()), out.stdout
        assert link.startswith("/memfd:pyoci-sealed"), out.stdout
    finally:
        pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


def test_exec_adding_ptrace_before_start_is_refused(pyoci: Pyoci, bundle: Bundle) -> None:
    """The config grants no CAP_SYS_PTRACE, so create left the waiting init
    unsealed; ``exec --cap CAP_SYS_PTRACE`` into it is refused in one line,
    while a plain exec runs and is denied the init's exe."""
    cid = new_id()
    bundle.with_args("true")
    assert detached(pyoci, "create", "--bundle", str(bundle.path), cid).returncode == 0
    try:
        plain = pyoci("exec", cid, "sh", "-c", INIT_PROBE, check=False,
                      stdin=subprocess.DEVNULL)
        assert plain.stdout.decode().split()[0] == "denied", plain.stdout
        attack = pyoci("exec", "--cap", "CAP_SYS_PTRACE", cid, "sh", "-c", INIT_PROBE,
                       check=False, stdin=subprocess.DEVNULL)
        err = attack.stderr.decode()
        assert attack.returncode != 0 and attack.stdout == b"", attack
        assert "CAP_SYS_PTRACE" in err and len(err.strip().splitlines()) == 1, err
        assert pyoci.state(cid)["status"] == "created"
    finally:
        pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


# -- CVE-2024-21626: host fds and cwd --------------------------------------------------

FD_PROBE = "ls -l /proc/$$/fd; echo cwd=; readlink /proc/self/cwd"


@pytest.fixture
def host_fds(tmp_path: Path) -> Iterator[list[int]]:
    """Inheritable fds of host objects, passed to pyoci as an engine might leak them."""
    (tmp_path / "secret").write_text("host")
    fds = [os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY),
           os.open(tmp_path / "secret", os.O_RDONLY), os.open("/sys/fs/cgroup", os.O_RDONLY)]
    for fd in fds:
        os.set_inheritable(fd, True)
    yield fds
    for fd in fds:
        os.close(fd)


def check_fd_report(text: str, cwd: str = "/") -> None:
    lines = text.strip().splitlines()
    assert lines[-2:] == ["cwd=", cwd], text
    fds = {}
    for line in lines:
        if " -> " in line:
            left, target = line.split(" -> ", 1)
            fds[left.split()[-1]] = target
    assert sorted(fds) == ["0", "1", "2"], f"stray fds in the container: {fds}"
    for target in fds.values():
        assert not target.startswith(("/sys", "/tmp", "/work", "/run", str(REPO))), target


def test_no_host_fd_or_cwd_in_run(pyoci: Pyoci, bundle: Bundle, host_fds: list[int],
                                  tmp_path: Path) -> None:
    cid = new_id()
    bundle.with_args("sh", "-c", FD_PROBE)
    proc = pyoci("run", "--bundle", str(bundle.path), cid, pass_fds=host_fds, cwd=tmp_path,
                 stdin=subprocess.DEVNULL)
    check_fd_report(proc.stdout.decode())
    assert_nothing_left(pyoci, cid)


def test_no_host_fd_or_cwd_in_exec(pyoci: Pyoci, bundle: Bundle, host_fds: list[int],
                                   tmp_path: Path) -> None:
    cid = new_id()
    bundle.with_args("sleep", "100")
    detached(pyoci, "create", "--bundle", str(bundle.path), cid, pass_fds=host_fds,
             cwd=tmp_path)
    pyoci("start", cid, pass_fds=host_fds)
    try:
        for args in ((), ("--cwd", "/tmp")):
            proc = pyoci("exec", *args, cid, "sh", "-c", FD_PROBE, pass_fds=host_fds,
                         cwd=tmp_path, stdin=subprocess.DEVNULL)
            check_fd_report(proc.stdout.decode(), "/tmp" if args else "/")
    finally:
        pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


def test_cwd_through_a_leaked_fd_stays_inside(pyoci: Pyoci, bundle: Bundle,
                                              host_fds: list[int]) -> None:
    """process.cwd naming /proc/self/fd/<a host fd> (the CVE's trick) must not
    land the process in a host directory: it fails or resolves in the container."""
    for fd in host_fds:
        cid = new_id()
        bundle.edit(lambda c, fd=fd: c["process"].__setitem__("cwd", f"/proc/self/fd/{fd}"))
        bundle.with_args("sh", "-c", "readlink /proc/self/cwd; ls")
        proc = pyoci("run", "--bundle", str(bundle.path), cid, pass_fds=host_fds,
                     check=False, stdin=subprocess.DEVNULL)
        out = proc.stdout.decode()
        assert "secret" not in out and "cgroup.procs" not in out, out
        if proc.returncode != 0:
            assert len(proc.stderr.decode().strip().splitlines()) == 1, proc.stderr
        assert_nothing_left(pyoci, cid)
    for cid in exec_cwd_attempts(pyoci, bundle, host_fds):
        assert_nothing_left(pyoci, cid)


def exec_cwd_attempts(pyoci: Pyoci, bundle: Bundle, host_fds: list[int]) -> list[str]:
    cid = new_id()
    bundle.edit(lambda c: c["process"].__setitem__("cwd", "/"))
    bundle.with_args("sleep", "100")
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    pyoci("start", cid)
    try:
        for fd in host_fds:
            proc = pyoci("exec", "--cwd", f"/proc/self/fd/{fd}", cid, "sh", "-c",
                         "readlink /proc/self/cwd; ls", pass_fds=host_fds, check=False,
                         stdin=subprocess.DEVNULL)
            out = proc.stdout.decode()
            assert "secret" not in out and "cgroup.procs" not in out, out
    finally:
        pyoci("delete", "--force", cid)
    return [cid]


# -- symlinks in the rootfs: mounts, masks, read-only paths -----------------------------

@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A host directory the attacks aim at, with a file whose content must survive."""
    path = Path(tempfile.mkdtemp(prefix="pyoci-sec-host-"))
    (path / "secret").write_text("host-secret")
    yield path
    subprocess.run(["umount", "-l", str(path)], capture_output=True)
    for _ in range(3):
        subprocess.run(["umount", "-l", str(path / "secret")], capture_output=True)
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def check_host_dir(host_dir: Path) -> None:
    assert (host_dir / "secret").read_text() == "host-secret"
    assert sorted(p.name for p in host_dir.iterdir()) == ["secret"]
    assert mounts_mentioning(str(host_dir)) == [], "a mount landed on the host"


@pytest.mark.parametrize("link", ["/../../../../../{host}", "{host}", "../../../..{host}"])
def test_mount_destination_symlink_stays_in_rootfs(pyoci: Pyoci, bundle: Bundle,
                                                   host_dir: Path, link: str) -> None:
    cid = new_id()
    (bundle.rootfs / "evil").symlink_to(link.format(host=host_dir))
    inside = bundle.rootfs / str(host_dir).lstrip("/")
    inside.mkdir(parents=True)

    def edit(cfg: dict) -> None:
        cfg["mounts"].append({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"})
        cfg["mounts"].append({"destination": "/evil/sub", "type": "tmpfs", "source": "tmpfs"})
        cfg["process"]["args"] = ["sh", "-c", "touch /evil/planted && grep -c "
                                  + str(host_dir) + " /proc/self/mountinfo"]

    bundle.edit(edit)
    proc = pyoci("run", "--bundle", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    assert proc.stdout.decode().split() == ["2"], proc.stdout  # both mounts, inside
    check_host_dir(host_dir)
    assert inside.is_dir() and not (inside / "planted").exists()  # it was on the tmpfs
    assert_nothing_left(pyoci, cid)


def test_dangling_mount_destination_symlink_fails_cleanly(pyoci: Pyoci, bundle: Bundle,
                                                          host_dir: Path) -> None:
    """The symlink's in-root target does not exist: refused, nothing made on the host."""
    cid = new_id()
    (bundle.rootfs / "evil").symlink_to(f"/../../..{host_dir}/new")
    bundle.edit(lambda c: c["mounts"].append({"destination": "/evil", "type": "tmpfs",
                                              "source": "tmpfs"}))
    fail_cleanly(pyoci, bundle, cid, "mounts[")
    check_host_dir(host_dir)


@pytest.mark.parametrize("field", ["maskedPaths", "readonlyPaths"])
def test_masked_and_readonly_symlinks_stay_in_rootfs(pyoci: Pyoci, bundle: Bundle,
                                                     host_dir: Path, field: str) -> None:
    """A masked (or read-only) path that is a symlink acts on its in-root target;
    the host file of the same path is neither masked nor remounted."""
    cid = new_id()
    inside = bundle.rootfs / str(host_dir).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "secret").write_text("in-root")
    for name in ("evilfile", "evildir"):
        target = host_dir / "secret" if name == "evilfile" else host_dir
        (bundle.rootfs / "etc" / name).symlink_to("/../../.." + str(target))

    def edit(cfg: dict) -> None:
        cfg["linux"][field] = ["/etc/evilfile", "/etc/evildir"]
        cfg["root"]["readonly"] = False
        cfg["process"]["args"] = [
            "sh", "-c", f"cat {host_dir}/secret; echo; echo x > /etc/evilfile && echo WRITABLE"]

    bundle.edit(edit)
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False,
                 stdin=subprocess.DEVNULL)
    out = proc.stdout.decode()
    assert "host-secret" not in out, out
    if field == "maskedPaths":
        assert out.split()[:1] != ["in-root"], f"mask did not apply: {out}"
    else:
        assert out.split()[:1] == ["in-root"] and "WRITABLE" not in out, out
    check_host_dir(host_dir)
    assert (inside / "secret").read_text() == "in-root"
    assert_nothing_left(pyoci, cid)


# -- CVE-2025-31133 / 52565 / 52881: /dev/null, /dev/console, /proc/sys -----------------

def no_dev_mounts(cfg: dict) -> None:
    """No tmpfs on /dev: the image's /dev is used (its devpts and others stay)."""
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"]


def fail_cleanly(pyoci: Pyoci, bundle: Bundle, cid: str, *words: str) -> str:
    proc = detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    err = proc.stderr.decode()
    assert proc.returncode != 0, f"create succeeded: {err}"
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err
    assert_nothing_left(pyoci, cid)
    return err


def test_dev_null_symlink_in_rootfs_is_refused(pyoci: Pyoci, bundle: Bundle,
                                               host_dir: Path) -> None:
    cid = new_id()
    dev = bundle.rootfs / "dev"
    dev.mkdir(exist_ok=True)
    (dev / "null").unlink(missing_ok=True)
    (dev / "null").symlink_to(f"/../../..{host_dir}/secret")
    bundle.edit(no_dev_mounts)
    fail_cleanly(pyoci, bundle, cid, "/dev/null")
    check_host_dir(host_dir)


SWAP_DEV_NULL = """
import json, os, sys
state = json.load(sys.stdin)
dev = f"/proc/{state['pid']}/root{state['rootfs']}/dev"
os.unlink(dev + "/null")
os.symlink("/proc/sys/kernel/core_pattern", dev + "/null")
"""


def test_dev_null_swapped_during_setup_is_refused(pyoci: Pyoci, bundle: Bundle) -> None:
    """A createRuntime hook (standing in for a racing attacker) swaps the new
    /dev/null for a symlink to a host knob before the masks go on."""
    cid = new_id()
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    bundle.edit(lambda c: c.setdefault("hooks", {}).__setitem__("createRuntime", [
        {"path": str(REPO / ".venv" / "bin" / "python"), "args": ["python", "-c",
                                                                  SWAP_DEV_NULL]}]))
    fail_cleanly(pyoci, bundle, cid, "/dev/null")
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before


def test_dev_console_symlink_is_replaced(pyoci: Pyoci, bundle: Bundle, host_dir: Path) -> None:
    cid = new_id()
    dev = bundle.rootfs / "dev"
    dev.mkdir(exist_ok=True)
    (dev / "console").unlink(missing_ok=True)
    (dev / "console").symlink_to(f"/../../..{host_dir}/secret")
    inside = bundle.rootfs / str(host_dir).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "secret").write_text("in-root")

    def edit(cfg: dict) -> None:
        no_dev_mounts(cfg)
        cfg["root"]["readonly"] = False  # /dev/console is made in the image's /dev
        cfg["process"]["terminal"] = True
        cfg["process"]["args"] = ["sh", "-c", f"cat {host_dir}/secret; echo; "
                                  "stat -c %F /dev/console; grep -c console /proc/self/mountinfo"]

    bundle.edit(edit)
    proc = pyoci("run", "--bundle", str(bundle.path), cid, input=b"")
    out = proc.stdout.decode().split()
    assert out[0] == "in-root", out  # no pty was mounted over the symlink's target
    assert out[-1] == "1" and not (dev / "console").is_symlink(), out
    check_host_dir(host_dir)
    assert_nothing_left(pyoci, cid)


def test_sysctl_write_lands_in_container_procfs(pyoci: Pyoci, bundle: Bundle,
                                                host_dir: Path) -> None:
    """A bind mount over /proc/sys (a fake kernel/domainname from the host) must
    not receive the sysctl write: it goes to the container's procfs."""
    cid = new_id()
    (host_dir / "kernel").mkdir()
    (host_dir / "kernel" / "domainname").write_text("host-value")

    def edit(cfg: dict) -> None:
        cfg["mounts"].append({"destination": "/proc/sys", "type": "bind",
                              "source": str(host_dir), "options": ["rbind"]})
        cfg["linux"]["sysctl"] = {"kernel.domainname": "pyoci-sec"}
        cfg["linux"]["readonlyPaths"] = []
        cfg["process"]["args"] = ["sh", "-c", "cat /proc/sys/kernel/domainname"]

    bundle.edit(edit)
    try:
        proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False,
                     stdin=subprocess.DEVNULL)
        if proc.returncode != 0:  # refusing is as good as writing to the right place
            assert "linux.sysctl" in proc.stderr.decode(), proc.stderr
        assert (host_dir / "kernel" / "domainname").read_text() == "host-value"
    finally:
        (host_dir / "kernel" / "domainname").unlink()
        (host_dir / "kernel").rmdir()
    assert_nothing_left(pyoci, cid)


def test_sysctl_through_symlinked_proc_stays_in_procfs(pyoci: Pyoci, bundle: Bundle,
                                                       host_dir: Path) -> None:
    """/proc in the image is a symlink out of the rootfs: proc is mounted at its
    in-root target and the sysctl write goes to that procfs, not the host path."""
    cid = new_id()
    proc_dir = bundle.rootfs / "proc"
    proc_dir.rmdir()
    proc_dir.symlink_to(f"/../../..{host_dir}")
    (bundle.rootfs / str(host_dir).lstrip("/")).mkdir(parents=True)

    def edit(cfg: dict) -> None:
        cfg["linux"]["sysctl"] = {"kernel.domainname": "pyoci-sec"}
        cfg["process"]["args"] = ["sh", "-c", "cat /proc/sys/kernel/domainname"]

    bundle.edit(edit)
    proc = pyoci("run", "--bundle", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    assert proc.stdout.decode().strip() == "pyoci-sec"
    check_host_dir(host_dir)
    assert_nothing_left(pyoci, cid)


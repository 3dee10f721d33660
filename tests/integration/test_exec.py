"""``pyoci exec`` through the real binary (root only): namespaces, cgroup, flags,
exit statuses, --process, --detach, refusals and fd hygiene."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root
from test_lifecycle import alive, create_started, detached, poll

pytestmark = [pytest.mark.root, needs_root]

SLEEP = ("sleep", "100")
NS = ("pid", "uts", "net", "mnt", "ipc")


def run_exec(pyoci: Pyoci, *args: str, check: bool = False,
             **kwargs: object) -> subprocess.CompletedProcess:
    return pyoci("exec", *args, check=check, stdin=subprocess.DEVNULL, **kwargs)


def host_cgroup_procs(init_pid: int) -> set[int]:
    """Every pid in the init's own cgroups (each hierarchy)."""
    pids: set[int] = set()
    for line in Path(f"/proc/{init_pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        name = controllers.split(",")[0].removeprefix("name=") if controllers else "unified"
        for base in (Path("/sys/fs/cgroup") / name, Path("/sys/fs/cgroup") / controllers):
            procs = base / path.lstrip("/") / "cgroup.procs"
            if procs.exists():
                pids |= {int(p) for p in procs.read_text().split()}
                break
    return pids


@pytest.fixture
def running(pyoci: Pyoci, bundle: Bundle):  # noqa: ANN201
    cid, pid = create_started(pyoci, bundle, SLEEP)
    yield cid, pid
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


def test_same_namespaces_root_and_hostname(pyoci: Pyoci, running: tuple[str, int]) -> None:
    cid, pid = running
    script = f"for n in {' '.join(NS)}; do readlink /proc/self/ns/$n; done; hostname; ls /"
    proc = run_exec(pyoci, cid, "sh", "-c", script, check=True)
    lines = proc.stdout.decode().split("\n")
    assert lines[:len(NS)] == [os.readlink(f"/proc/{pid}/ns/{n}") for n in NS]
    config = json.loads(Path(pyoci.state(cid)["bundle"], "config.json").read_text())
    assert lines[len(NS)] == config["hostname"]
    assert "bin" in proc.stdout.decode().split() and "work" not in proc.stdout.decode().split()


def test_in_container_cgroup(pyoci: Pyoci, running: tuple[str, int], tmp_path: Path) -> None:
    cid, pid = running
    pid_file = tmp_path / "exec.pid"
    # The process keeps exec's stdio: files, not pipes, or the caller waits for it.
    proc = detached(pyoci, "exec", "--detach", "--pid-file", str(pid_file), cid, "sleep", "50")
    assert proc.returncode == 0, proc.stderr
    text = pid_file.read_text()
    assert text.isdigit() and not text.endswith("\n")
    child = int(text)
    assert alive(child)
    assert child in host_cgroup_procs(pid)
    os.kill(child, signal.SIGKILL)
    # exec has exited, so its process was reparented to us (the tests' subreaper).
    os.waitpid(child, 0)


def test_exit_status_and_signal(pyoci: Pyoci, running: tuple[str, int]) -> None:
    cid, _ = running
    assert run_exec(pyoci, cid, "sh", "-c", "exit 3").returncode == 3
    assert run_exec(pyoci, cid, "sh", "-c", "kill -9 $$").returncode == 128 + 9
    assert run_exec(pyoci, cid, "true").returncode == 0


def test_flags_observed_inside(pyoci: Pyoci, running: tuple[str, int]) -> None:
    cid, _ = running
    proc = run_exec(pyoci, "--env", "EXEC_X=42", "--cwd", "/tmp", "--user", "1000:1000",
                    "--additional-gids", "7", "--cap", "CAP_SYS_ADMIN", "--no-new-privs",
                    cid, "sh", "-c", 'echo "$EXEC_X"; pwd; cat /proc/self/status', check=True)
    out = proc.stdout.decode().split("\n")
    assert out[0] == "42" and out[1] == "/tmp"
    status = dict(line.split(":\t", 1) for line in out[2:] if ":\t" in line)
    assert status["Uid"].split()[0] == "1000" and status["Gid"].split()[0] == "1000"
    assert status["Groups"].split() == ["7"]
    assert int(status["CapEff"], 16) & (1 << 21)  # CAP_SYS_ADMIN
    assert status["NoNewPrivs"].strip() == "1"


def test_process_file(pyoci: Pyoci, running: tuple[str, int], tmp_path: Path) -> None:
    cid, _ = running
    doc = {"args": ["sh", "-c", "echo from-file $P; exit 5"], "cwd": "/",
           "env": ["PATH=/bin:/usr/bin", "P=yes"], "user": {"uid": 0, "gid": 0}}
    (tmp_path / "process.json").write_text(json.dumps(doc))
    proc = run_exec(pyoci, "--process", str(tmp_path / "process.json"), cid)
    assert proc.returncode == 5
    assert proc.stdout.decode() == "from-file yes\n"
    (tmp_path / "bad.json").write_text(json.dumps(dict(doc, cwd="relative")))
    proc = run_exec(pyoci, "--process", str(tmp_path / "bad.json"), cid)
    assert proc.returncode != 0 and "process.cwd" in proc.stderr.decode()


def test_executable_not_found(pyoci: Pyoci, running: tuple[str, int]) -> None:
    cid, _ = running
    proc = run_exec(pyoci, cid, "no-such-program")
    assert proc.returncode != 0
    assert 'exec: "no-such-program": executable file not found in $PATH' in proc.stderr.decode()
    assert len(proc.stderr.decode().strip().splitlines()) == 1


def test_stray_fds_do_not_leak(pyoci: Pyoci, running: tuple[str, int],
                               tmp_path: Path) -> None:
    cid, _ = running
    marker = tmp_path / "stray-marker"
    marker.write_text("")
    opened = os.open(marker, os.O_RDONLY)
    fd = os.dup2(opened, 40, inheritable=True)  # a caller's fd without close-on-exec
    os.close(opened)
    try:
        cmd = [*PYOCI, "--root", str(pyoci.root), "exec", cid, "ls", "-l", "/proc/self/fd"]
        proc = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL,
                              pass_fds=(fd,), timeout=30)
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "stray-marker" not in out
    assert " 40 -> " not in out


def test_exe_of_runtime_not_openable(pyoci: Pyoci, running: tuple[str, int]) -> None:
    """The exec'd process's ancestors outside the container are not visible,
    and its own exe is the container's program, not the host interpreter."""
    cid, _ = running
    proc = run_exec(pyoci, cid, "readlink", "/proc/self/exe", check=True)
    assert proc.stdout.decode().strip() == "/bin/busybox"


def test_runtime_exe_not_openable_from_host_pid_ns(pyoci: Pyoci, bundle: Bundle) -> None:
    """Without a pid namespace the exec'd process sees pyoci's own processes:
    none of them (the host interpreter) may be opened through /proc/<pid>/exe."""
    bundle.edit(lambda c: c["linux"].__setitem__(
        "namespaces", [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]))
    cid, _ = create_started(pyoci, bundle, SLEEP)
    try:
        script = "cat /proc/$PPID/exe >/dev/null 2>&1 && echo OPENED; echo ppid=$PPID"
        proc = run_exec(pyoci, cid, "sh", "-c", script, check=True)
        out = proc.stdout.decode()
        assert "OPENED" not in out and "ppid=" in out and "ppid=0" not in out
    finally:
        pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


def test_refusals(pyoci: Pyoci, bundle: Bundle) -> None:
    proc = run_exec(pyoci, "no-such-container", "true")
    assert proc.returncode != 0 and "does not exist" in proc.stderr.decode()
    cid, pid = create_started(pyoci, bundle, ("true",))
    poll(lambda: pyoci.state(cid)["status"] == "stopped")
    proc = run_exec(pyoci, cid, "true")
    assert proc.returncode != 0
    assert proc.stderr.decode().strip().endswith("cannot exec in a stopped container")
    pyoci("delete", cid)
    assert_nothing_left(pyoci, cid)


def test_paused_needs_ignore_paused(pyoci: Pyoci, running: tuple[str, int]) -> None:
    cid, _ = running
    pyoci("pause", cid)
    try:
        proc = run_exec(pyoci, cid, "true")
        assert proc.returncode != 0 and "paused" in proc.stderr.decode()
    finally:
        pyoci("resume", cid)


def test_tty_foreground_relay(pyoci: Pyoci, running: tuple[str, int]) -> None:
    cid, _ = running
    proc = run_exec(pyoci, "--tty", cid, "sh", "-c", "tty; exit 4", timeout=30)
    assert proc.returncode == 4
    assert proc.stdout.decode().startswith("/dev/pts/")


def test_tty_console_socket(pyoci: Pyoci, running: tuple[str, int], tmp_path: Path) -> None:
    import socket

    cid, _ = running
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        proc = detached(pyoci, "exec", "--tty", "--detach", "--console-socket", path,
                        "--pid-file", str(tmp_path / "pid"), cid, "sh", "-c", "echo on-the-pty")
        assert proc.returncode == 0, proc.stderr
        conn, _ = listener.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    master = fds[0]
    try:
        out = b""
        while b"on-the-pty" not in out:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        assert b"on-the-pty" in out
    finally:
        os.close(master)
        try:
            os.waitpid(int((tmp_path / "pid").read_text()), 0)
        except ChildProcessError:
            pass

"""containerd drives pyoci through containerd-shim-runc-v2, as Kubernetes would.

One private containerd (own config, root, state, sockets, CRI off) serves the
whole module; every test runs real containers with ``ctr --runc-binary
<pyoci>`` in a private namespace and a private runc root, and proves pyoci ran
them by pyoci's own state file under that root. At the end nothing of the
containers (state, cgroups, mounts, processes, shim sockets) or of containerd
outside its private directories may remain.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from daemons import (
    PYOCI_BIN,
    ROOTFS,
    Containerd,
    assert_containers_gone,
    host_leaks,
    host_snapshot,
    missing_prerequisites,
    remove_tree,
    run_client,
    running_pid,
    shim_socket,
    wait_for,
)
from oci_image import build_archive

if TYPE_CHECKING:  # the fixtures come from tests/conftest.py; only their types here
    from conftest import Bundle, Pyoci

IMAGE = "pyoci-test/busybox:latest"
IMAGE_REF = f"docker.io/{IMAGE}"


class Ctr:
    """``ctr`` against the private containerd, in one namespace, with pyoci as
    the runtime binary and a private runc root and fifo directory."""

    def __init__(self, containerd: Containerd, base: Path) -> None:
        self.containerd = containerd
        self.namespace = f"pyoci-ctr-{os.getpid()}"
        self.runc_root = base / "runc"
        self.fifo_dir = base / "fifo"
        self.ids: list[str] = []

    def __call__(self, *args: str, check: bool = True, timeout: float = 180
                 ) -> subprocess.CompletedProcess:
        return run_client(self.argv(*args), check=check, timeout=timeout)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """``ctr run`` with pyoci (see ``run_argv``)."""
        return run_client(self.run_argv(*args), check=check, timeout=180)

    def argv(self, *args: str) -> list[str]:
        return ["ctr", "--address", str(self.containerd.address), "--namespace",
                self.namespace, *args]

    def new_id(self, stem: str) -> str:
        cid = f"{stem}-{os.getpid()}-{len(self.ids)}"
        self.ids.append(cid)
        return cid

    def run_argv(self, *args: str) -> list[str]:
        """``ctr run`` with pyoci: the flags the README documents."""
        return self.argv("run", "--runc-binary", PYOCI_BIN, "--runc-root", str(self.runc_root),
                         "--fifo-dir", str(self.fifo_dir), *args)

    def bundle(self, cid: str) -> Path:
        return self.containerd.state / "io.containerd.runtime.v2.task" / self.namespace / cid

    def pyoci_state(self, cid: str) -> Path:
        return self.runc_root / self.namespace / cid / "state.json"

    def running_pid(self, cid: str) -> int:
        return running_pid(self.pyoci_state(cid))

    def task_status(self, cid: str) -> tuple[int, str]:
        """(pid, status) from ``ctr task ls``."""
        for line in self("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return int(fields[1]), fields[2]
        raise AssertionError(f"task {cid} not listed")

    def remove_everything(self) -> None:
        """Best effort: kill and delete every task and container of the namespace."""
        for cid in self.ids:
            self("task", "kill", "-s", "KILL", cid, check=False, timeout=60)
            self("task", "delete", "--force", cid, check=False, timeout=60)
            self("containers", "rm", cid, check=False, timeout=60)


def assert_pyoci_ran(ctr: Ctr, cid: str) -> None:
    """pyoci's state file (with its init identity) sits under the runc root the shim
    was given, and the shim recorded pyoci as its runtime binary."""
    state = json.loads(ctr.pyoci_state(cid).read_text())
    assert state["id"] == cid and "start_time" in state["init"], state
    options = json.loads((ctr.bundle(cid) / "options.json").read_text())
    assert options.get("binary_name") == PYOCI_BIN, options
    assert (ctr.bundle(cid) / "log.json").exists()


def assert_gone(ctr: Ctr, *ids: str, with_parent: bool = False) -> None:
    """Nothing of these containers remains (``with_parent``: nor the namespace's
    parent cgroup)."""
    assert_containers_gone(list(ids), ctr.runc_root, ctr.namespace,
                           containerd_address=ctr.containerd.address,
                           namespace=ctr.namespace, with_parent=with_parent)


@pytest.fixture(scope="module")
def ctr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctr]:
    reason = missing_prerequisites("containerd", ("containerd", "ctr", "containerd-shim-runc-v2",
                                                  "script"))
    if reason:
        pytest.skip(reason)
    before = host_snapshot()
    base = tmp_path_factory.mktemp("ctd")
    containerd = Containerd(base / "daemon")
    client = Ctr(containerd, base)
    done: list[bool] = []

    def cleanup() -> None:
        if done:
            return
        done.append(True)
        try:
            client.remove_everything()
        finally:
            containerd.stop(PYOCI_BIN, [client.runc_root])
            remove_tree(base)

    atexit.register(cleanup)  # also on an interrupted session
    try:
        containerd.start()
        archive = build_archive(ROOTFS, base / "busybox.tar", IMAGE)
        client("images", "import", str(archive))
        yield client
    finally:
        cleanup()
        atexit.unregister(cleanup)
    assert host_leaks(before, host_snapshot()) == []
    sockets = [shim_socket(containerd.address, client.namespace, cid) for cid in client.ids]
    assert [s for s in sockets if s.exists()] == []


def test_image_is_imported(ctr: Ctr) -> None:
    listed = ctr("images", "ls", "-q").stdout.split()
    assert IMAGE_REF in listed


def test_run_rm_output_and_status(ctr: Ctr) -> None:
    """``ctr run --rm`` through pyoci: the output arrives, then the status."""
    cid = ctr.new_id("run")
    proc = subprocess.Popen(
        ctr.run_argv("--rm", IMAGE_REF, cid, "sh", "-c",
                     "echo hello; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 7"),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: ctr.running_pid(cid) or proc.poll() is not None)
        assert_pyoci_ran(ctr, cid)
        pid = ctr.running_pid(cid)
        Path(f"/proc/{pid}/root/tmp/go").touch()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out == "hello\n", err
    assert proc.returncode == 7, err
    assert_gone(ctr, cid)


def test_no_stray_fds_reach_the_container(ctr: Ctr) -> None:
    """The shim leaves a socket at fd 3 when it calls create: the container's
    process must hold only its stdio (here PID 1, the shell, lists its fds)."""
    cid = ctr.new_id("fds")
    out = ctr.run("--rm", IMAGE_REF, cid, "sh", "-c", "ls /proc/1/fd; true")
    assert out.stdout.split() == ["0", "1", "2"], out
    assert_gone(ctr, cid)


def test_detached_exec_ps_pause_kill_delete(ctr: Ctr, tmp_path: Path) -> None:
    cid = ctr.new_id("detached")
    log = tmp_path / "task.log"
    script = ("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done & "
              "echo started; wait")
    ctr.run("-d", "--log-uri", f"file://{log}", IMAGE_REF, cid, "sh", "-c",
            script)
    assert_pyoci_ran(ctr, cid)
    pid, status = ctr.task_status(cid)
    assert status == "RUNNING"
    assert wait_for(lambda: "started" in log.read_text())

    try:
        _exec_without_tty(ctr, cid)
        _exec_with_tty(ctr, cid)
        _task_ps(ctr, cid, pid)
        _pause_resume(ctr, cid, pid)
    except BaseException:
        # Leave nothing for the next tests to trip over.
        ctr("task", "resume", cid, check=False)
        ctr.remove_everything()
        raise
    _kill_and_delete(ctr, cid)
    assert_gone(ctr, cid)


def _exec_without_tty(ctr: Ctr, cid: str) -> None:
    out = ctr("task", "exec", "--fifo-dir", str(ctr.fifo_dir), "--exec-id", "plain", cid,
              "sh", "-c", "tty; echo exec-ok; cat /proc/1/cmdline | tr '\\0' ' '",
              check=False)
    assert "not a tty" in out.stdout and "exec-ok" in out.stdout, out
    assert "sh -c" in out.stdout  # the exec joined the container's pid namespace


def _exec_with_tty(ctr: Ctr, cid: str) -> None:
    """``exec -t``: the shim passes ``terminal: true`` in the process file and a
    console socket; ctr insists on a terminal of its own, so it runs under script(1)."""
    command = shlex.join(ctr.argv("task", "exec", "--fifo-dir", str(ctr.fifo_dir), "-t",
                                  "--exec-id", "tty", cid, "sh", "-c",
                                  "tty; test -t 0 && echo stdin-is-tty"))
    out = subprocess.run(["script", "-qec", command, "/dev/null"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=180, check=False)
    assert "/dev/pts/" in out.stdout and "stdin-is-tty" in out.stdout, out


def _task_ps(ctr: Ctr, cid: str, pid: int) -> None:
    """``task ps`` lists the host pids pyoci's ``ps --format json`` reports."""
    lines = ctr("task", "ps", cid).stdout.splitlines()
    pids = {int(line.split()[0]) for line in lines[1:] if line.strip()}
    assert pid in pids and len(pids) >= 2, lines  # sh and its counting subshell
    # The loop's `sleep 0.05` comes and goes; sh and the subshell stay.
    assert len([p for p in pids if Path(f"/proc/{p}").exists()]) >= 2, lines


def _counter(pid: int) -> str:
    return Path(f"/proc/{pid}/root/tmp/count").read_text()


def _pause_resume(ctr: Ctr, cid: str, pid: int) -> None:
    """Paused means frozen: the freezer says so and the counter stands still."""
    ctr("task", "pause", cid)
    assert ctr.task_status(cid)[1] == "PAUSED"
    freezer = Path("/sys/fs/cgroup/freezer") / ctr.namespace / cid / "freezer.state"
    assert freezer.read_text().strip() == "FROZEN"
    frozen_at = _counter(pid)
    time.sleep(1)  # the loop writes 20 times a second when it runs
    assert _counter(pid) == frozen_at
    ctr("task", "resume", cid)
    assert ctr.task_status(cid)[1] == "RUNNING"
    assert freezer.read_text().strip() == "THAWED"
    assert wait_for(lambda: _counter(pid) != frozen_at)


def _kill_and_delete(ctr: Ctr, cid: str) -> None:
    ctr("task", "kill", "-s", "KILL", cid)
    assert wait_for(lambda: ctr.task_status(cid)[1] == "STOPPED")
    again = ctr("task", "kill", "-s", "KILL", cid, check=False)
    assert again.returncode != 0 and "process already finished" in again.stderr, again
    assert ctr("task", "ps", cid).stdout.splitlines()[1:] == []  # pyoci ps: null
    ctr("task", "delete", cid)
    assert not ctr.pyoci_state(cid).parent.exists()
    ctr("containers", "rm", cid)


def _pyoci_create_error(pyoci: Pyoci, bundle: Bundle) -> str:
    proc = pyoci("create", "--bundle", str(bundle.path), "probe", check=False)
    assert proc.returncode != 0
    return proc.stderr.decode().strip().removeprefix("pyoci: ")


def test_missing_command_fails_with_pyocis_message(ctr: Ctr, pyoci: Pyoci,
                                                   bundle: Bundle) -> None:
    expected = _pyoci_create_error(pyoci, bundle.with_args("/nonexistent/cmd"))
    cid = ctr.new_id("nocmd")
    out = ctr.run("--rm", IMAGE_REF, cid, "/nonexistent/cmd", check=False)
    assert out.returncode != 0
    assert "OCI runtime create failed" in out.stderr and expected in out.stderr, \
        (expected, out.stderr)
    assert ctr("containers", "ls", "-q").stdout.split().count(cid) == 0
    assert_gone(ctr, cid)


def test_invalid_config_fails_with_pyocis_message(ctr: Ctr, pyoci: Pyoci, bundle: Bundle,
                                                  tmp_path: Path) -> None:
    """A spec given with ``--config`` that pyoci's checks refuse."""
    bogus = {"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}
    expected = _pyoci_create_error(
        pyoci, bundle.edit(lambda c: c["process"].setdefault("rlimits", []).insert(0, bogus)))
    spec = json.loads(ctr("oci", "spec").stdout)
    spec["process"]["rlimits"] = [bogus, *spec["process"].get("rlimits", [])]
    spec["process"]["args"] = ["true"]
    config = tmp_path / "spec.json"
    config.write_text(json.dumps(spec))
    cid = ctr.new_id("badcfg")
    out = ctr.run("--rm", "--config", str(config), cid, check=False)
    assert out.returncode != 0
    assert expected in out.stderr, (expected, out.stderr)
    assert_gone(ctr, cid)


def test_nothing_left_by_any_test(ctr: Ctr) -> None:
    """After all of the above: no task or container in the namespace, nothing of
    pyoci's under the shim's runc root, no cgroup, mount or process of any id."""
    assert ctr("task", "ls", "-q").stdout.split() == []
    assert ctr("containers", "ls", "-q").stdout.split() == []
    assert list(ctr.runc_root.glob("*/*")) == []
    assert_gone(ctr, *ctr.ids, with_parent=True)

"""podman (through conmon) runs real containers with pyoci as its runtime.

One private podman for the module (``podman_env.PodmanEnv``): its own storage,
run root, tmpdir, file locks and events, no network, cgroupfs, and a
containers.conf whose only runtime is pyoci. Each test proves pyoci really ran
the container: podman reports pyoci as the container's runtime, or pyoci's own
state directory (``/run/pyoci/<id>``: podman never passes ``--root``) exists
while the container runs. The last test removes the environment and proves
nothing of the containers is left.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from podman_env import (
    CGROUP_ROOT,
    IMAGE,
    PYOCI,
    PYOCI_STATE,
    PodmanEnv,
    cgroups_named,
    missing_tools,
    mounts_mentioning,
    pids_mentioning,
)

# Not imported from tests/conftest.py: another conftest.py may own the name "conftest".
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (creates real containers)")
pytestmark = [pytest.mark.root, needs_root]

RUN = ("run", "--network", "none")
# sh as PID 1 leaves on SIGTERM only through a trap: a clean exit 0 proves podman's
# `kill <id> 15` reached it through pyoci (else podman would SIGKILL: 137).
WAIT_FOR_TERM = ("sh", "-c", 'trap "exit 0" TERM; sleep 1000 & wait')


@pytest.fixture(scope="module")
def podman() -> Iterator[PodmanEnv]:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    env = PodmanEnv()
    try:
        env.import_busybox()
        yield env
    finally:
        env.close()


def pyoci_state(cid: str) -> dict:
    """pyoci's view of a container podman made (pyoci's default root)."""
    out = subprocess.run([str(PYOCI), "state", cid], capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)


def freezer_state(pid: int) -> str:
    """The v1 freezer state of the cgroup the process is in."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            state = CGROUP_ROOT / "freezer" / path.lstrip("/") / "freezer.state"
            return state.read_text().strip()
    raise AssertionError(f"process {pid} has no freezer cgroup")


def read_line(stream, timeout: float = 60) -> str:  # noqa: ANN001 - a text pipe
    """One line from a child's pipe, or fail instead of hanging the suite."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no output within {timeout}s"
    return stream.readline()


def inspect(podman: PodmanEnv, cid: str, template: str) -> str:
    return podman("inspect", "--format", template, cid).stdout.strip()


def in_pty(podman: PodmanEnv, *args: str) -> subprocess.CompletedProcess:
    """podman under a pseudo-terminal (util-linux ``script``), as a user types it."""
    return subprocess.run(["script", "-qec", podman.shell_command(*args), "/dev/null"],
                          env=podman.env, capture_output=True, text=True, timeout=90,
                          stdin=subprocess.DEVNULL)


def assert_gone(cid: str) -> None:
    assert not (PYOCI_STATE / cid).exists(), f"pyoci state of {cid} left behind"
    assert cgroups_named(f"libpod-{cid}") + cgroups_named(cid) == [], "cgroups left behind"
    assert mounts_mentioning(cid) == [], "container mounts left behind"


def test_podman_reports_pyoci_as_its_runtime(podman: PodmanEnv) -> None:
    info = json.loads(podman("info", "--format", "json").stdout)
    runtime = info["host"]["ociRuntime"]
    assert runtime["name"] == "pyoci"
    assert runtime["path"] == str(PYOCI)
    assert runtime["version"].startswith("pyoci version ")  # from `pyoci --version`


def test_run_rm_passes_stdio_and_exit_status(podman: PodmanEnv, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    script = 'echo hi; read line; echo "got $line"; echo err >&2; exit 3'
    proc = subprocess.Popen(
        podman.argv(*RUN, "--rm", "-i", "--cidfile", str(cidfile), IMAGE, "sh", "-c", script),
        env=podman.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        assert read_line(proc.stdout) == "hi\n"
        cid = cidfile.read_text().strip()
        state = pyoci_state(cid)  # pyoci runs it: its state, in its default root
        assert state["status"] == "running" and state["id"] == cid
        out, err = proc.communicate("x\n", timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out) == (3, "got x\n"), err
    assert "err" in err.splitlines()
    assert_gone(cid)


def test_detached_exec_pause_stop_rm(podman: PodmanEnv) -> None:
    cid = podman(*RUN, "-d", IMAGE, *WAIT_FOR_TERM).stdout.strip()
    pid = int(inspect(podman, cid, "{{.State.Pid}}"))
    assert inspect(podman, cid, "{{.OCIRuntime}}") == "pyoci"
    assert pyoci_state(cid)["pid"] == pid

    exe = podman("exec", cid, "sh", "-c", "echo ex; exit 4", check=False)
    assert (exe.returncode, exe.stdout) == (4, "ex\n"), exe.stderr
    assert podman("exec", cid, "cat", "/proc/1/cmdline").stdout.startswith("sh\0-c\0")
    tty = in_pty(podman, "exec", "-it", cid, "tty")
    assert re.search(r"/dev/pts/\d+", tty.stdout), tty

    podman("pause", cid)
    assert freezer_state(pid) == "FROZEN"
    assert pyoci_state(cid)["status"] == "paused"
    assert inspect(podman, cid, "{{.State.Status}}") == "paused"
    podman("unpause", cid)
    assert freezer_state(pid) == "THAWED"
    assert pyoci_state(cid)["status"] == "running"

    podman("stop", "--time", "60", cid)
    assert inspect(podman, cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 0"
    podman("rm", cid)
    assert_gone(cid)
    assert not Path(f"/proc/{pid}").exists()


def test_run_interactive_tty(podman: PodmanEnv) -> None:
    """The terminal through conmon's console socket. What a fast process prints
    before podman has attached is lost to the terminal (a podman race, worse with
    runc), but conmon logs it: the container log is the reliable witness."""
    proc = in_pty(podman, *RUN, "-it", "--name", "tty-test", IMAGE, "tty")
    try:
        assert proc.returncode == 0, proc
        logged = podman("logs", "tty-test").stdout.replace("\r", "").split("\n")
        assert "/dev/pts/0" in logged, logged
        assert inspect(podman, "tty-test", "{{.Config.Tty}} {{.OCIRuntime}}") == "true pyoci"
    finally:
        podman("rm", "--force", "tty-test", check=False)


@pytest.mark.parametrize(("command", "status", "text"), [
    ("nosuchcmd", 127, "not found"),
    ("/nosuch/dir/cmd", 127, "no such file or directory"),
    ("/etc/passwd", 126, "permission denied"),
])
def test_exec_failure_maps_to_shell_status(podman: PodmanEnv, command: str, status: int,
                                           text: str) -> None:
    proc = podman(*RUN, "--rm", IMAGE, command, check=False)
    assert proc.returncode == status, proc.stderr
    assert text in proc.stderr.lower()
    assert "pyoci" in proc.stderr  # the runtime's own message reached the user


def test_preserve_fds(podman: PodmanEnv, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.write_text("from the host\n")
    leak = tmp_path / "leak"
    leak.write_text("must stay outside\n")
    argv = podman.argv(*RUN, "--rm", "--preserve-fds", "1", IMAGE, "sh", "-c",
                       "cat <&3; if [ -e /proc/self/fd/4 ]; then echo fd4 leaked; fi")
    proc = subprocess.run(["sh", "-c", 'exec "$@" 3<"$EXTRA" 4<"$LEAK"', "sh", *argv],
                          env=dict(podman.env, EXTRA=str(extra), LEAK=str(leak)),
                          capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert (proc.returncode, proc.stdout) == (0, "from the host\n"), proc.stderr


def test_bind_volume_with_slave_propagation(podman: PodmanEnv, tmp_path: Path) -> None:
    """A ``:slave`` volume makes podman write ``rootfsPropagation: rslave`` (runc's
    recursive form, outside the spec's list): pyoci takes it as runc does."""
    (tmp_path / "f").write_text("through the volume\n")
    proc = podman(*RUN, "--rm", "-v", f"{tmp_path}:/v:slave", IMAGE, "cat", "/v/f", check=False)
    assert (proc.returncode, proc.stdout) == (0, "through the volume\n"), proc.stderr


def test_zz_nothing_left_after_podman(podman: PodmanEnv) -> None:
    """Runs last: a container still running is removed by the clean-up, and no
    container of the module leaves a process, cgroup, mount or pyoci state."""
    podman(*RUN, "-d", IMAGE, "sleep", "1000")
    ids = podman.container_ids()
    assert ids, "the event log names no container"
    podman.close()
    for cid in ids:
        assert_gone(cid)
        assert pids_mentioning(cid) == [], f"processes of {cid} left"
    assert not podman.base.exists()
    assert mounts_mentioning(str(podman.base)) == []
    assert podman.host_defaults_created() == [], "podman wrote to its default paths"

"""docker drives pyoci as an added runtime (``dockerd --add-runtime pyoci=...``).

One private dockerd (own data root, exec root, socket, no bridge, no iptables,
no ip forwarding, cgroupfs, nofile 20000, a cgroup parent of its own) on one
private containerd serves the module. Each test runs real containers with
``docker run --runtime pyoci --network none`` and proves pyoci ran them by
pyoci's state file under the shim's runc root. Nothing of the containers or
of the daemons outside their private directories may remain.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from daemons import (
    PYOCI_BIN,
    ROOTFS,
    Containerd,
    Dockerd,
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
DOCKER = "/usr/bin/docker"  # Debian's client, of the daemon's version
MEMORY_CGROUP = Path("/sys/fs/cgroup/memory")


class Docker:
    """The docker client against the private dockerd; remembers the ids it made."""

    def __init__(self, dockerd: Dockerd) -> None:
        self.dockerd = dockerd
        self.ids: list[str] = []

    def __call__(self, *args: str, check: bool = True, timeout: float = 180
                 ) -> subprocess.CompletedProcess:
        return run_client([DOCKER, *args], check=check, timeout=timeout,
                          env=self.dockerd.env())

    def run_argv(self, *args: str) -> list[str]:
        """``docker run`` with pyoci: the flags the README documents (plus no network)."""
        return [DOCKER, "run", "--runtime", "pyoci", "--network", "none", *args]

    def pyoci_state(self, cid: str) -> Path:
        return self.dockerd.runtime_root / "moby" / cid / "state.json"

    def running_pid(self, cid: str) -> int:
        return running_pid(self.pyoci_state(cid))

    def remove_everything(self) -> None:
        listed = self("ps", "-aq", "--no-trunc", check=False, timeout=60).stdout.split()
        if listed:
            self("rm", "-f", *listed, check=False, timeout=120)


def assert_pyoci_ran(docker: Docker, cid: str) -> None:
    """pyoci's state file (with its init identity) sits under the shim's runc root."""
    state = json.loads(docker.pyoci_state(cid).read_text())
    assert state["id"] == cid and "start_time" in state["init"], state
    assert json.loads(docker("inspect", cid).stdout)[0]["HostConfig"]["Runtime"] == "pyoci"


def assert_gone(docker: Docker, *ids: str, with_parent: bool = False) -> None:
    """Nothing of these containers remains (``with_parent``: nor dockerd's cgroup
    parent)."""
    assert_containers_gone(list(ids), docker.dockerd.runtime_root, docker.dockerd.cgroup_parent,
                           containerd_address=docker.dockerd.containerd_address,
                           namespace="moby", with_parent=with_parent)


@pytest.fixture(scope="module")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    reason = missing_prerequisites("dockerd", ("containerd", "dockerd",
                                               "containerd-shim-runc-v2", DOCKER))
    if reason:
        pytest.skip(reason)
    before = host_snapshot()
    base = tmp_path_factory.mktemp("dkr")
    containerd = Containerd(base / "containerd")
    dockerd = Dockerd(base / "docker", containerd, PYOCI_BIN, f"pyoci-docker-{os.getpid()}")
    client = Docker(dockerd)
    done: list[bool] = []

    def cleanup() -> None:
        if done:
            return
        done.append(True)
        try:
            client.remove_everything()
        finally:
            dockerd.stop()
            containerd.stop(PYOCI_BIN, [dockerd.runtime_root])
            remove_tree(base)

    atexit.register(cleanup)  # also on an interrupted session
    try:
        containerd.start()
        dockerd.start()
        archive = build_archive(ROOTFS, base / "busybox.tar", IMAGE)
        client("load", "-i", str(archive))
        yield client
    finally:
        cleanup()
        atexit.unregister(cleanup)
    assert host_leaks(before, host_snapshot()) == []
    sockets = [shim_socket(containerd.address, "moby", cid) for cid in client.ids]
    assert [s for s in sockets if s.exists()] == []


def test_image_is_loaded(docker: Docker) -> None:
    assert IMAGE in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()


def test_run_rm_output_and_status(docker: Docker, tmp_path: Path) -> None:
    """``docker run --rm --runtime pyoci``: pyoci runs it, output and status arrive."""
    cidfile = tmp_path / "cid"
    proc = subprocess.Popen(
        docker.run_argv("--rm", "--cidfile", str(cidfile), IMAGE, "sh", "-c",
                        "echo hello; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 3"),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=docker.dockerd.env())
    try:
        assert wait_for(lambda: cidfile.exists() and cidfile.read_text() != ""
                        or proc.poll() is not None)
        cid = cidfile.read_text().strip()
        docker.ids.append(cid)
        assert wait_for(lambda: docker.running_pid(cid) or proc.poll() is not None)
        assert_pyoci_ran(docker, cid)
        Path(f"/proc/{docker.running_pid(cid)}/root/tmp/go").touch()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert out == "hello\n", err
    assert proc.returncode == 3, err
    assert_gone(docker, cid)


def test_run_with_terminal(docker: Docker, tmp_path: Path) -> None:
    """``docker run -t``: create gets a console socket and sends the pty master there."""
    cidfile = tmp_path / "cid"
    out = docker(*docker.run_argv("--rm", "-t", "--cidfile", str(cidfile), IMAGE, "sh", "-c",
                                  "tty; test -t 0 && echo stdin-is-tty")[1:])
    docker.ids.append(cidfile.read_text().strip())
    assert "/dev/pts/" in out.stdout and "stdin-is-tty" in out.stdout, out
    assert_gone(docker, docker.ids[-1])


def test_missing_command_is_127_with_pyocis_message(docker: Docker, pyoci: Pyoci,
                                                    bundle: Bundle, tmp_path: Path) -> None:
    """docker maps pyoci's 'no such file or directory' to 127 and shows the message."""
    probe = pyoci("create", "--bundle", str(bundle.with_args("/nonexistent/cmd").path),
                  "probe", check=False)
    assert probe.returncode != 0
    expected = probe.stderr.decode().strip().removeprefix("pyoci: ")
    cidfile = tmp_path / "cid"
    out = subprocess.run(docker.run_argv("--rm", "--cidfile", str(cidfile), IMAGE,
                                         "/nonexistent/cmd"),
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
                         env=docker.dockerd.env(), check=False)
    if cidfile.exists():
        docker.ids.append(cidfile.read_text().strip())
    assert out.returncode == 127, out
    assert expected in out.stderr, (expected, out.stderr)
    assert_gone(docker, *docker.ids[-1:])


def test_detached_exec_update_top_rm(docker: Docker) -> None:
    cid = docker(*docker.run_argv("-d", IMAGE, "sleep", "1000")[1:]).stdout.strip()
    docker.ids.append(cid)
    assert wait_for(lambda: docker.running_pid(cid) > 0)
    assert_pyoci_ran(docker, cid)
    pid = docker.running_pid(cid)

    plain = docker("exec", cid, "sh", "-c", "tty; echo exec-ok; cat /proc/1/cmdline", check=False)
    assert "not a tty" in plain.stdout and "exec-ok" in plain.stdout, plain
    assert "sleep" in plain.stdout and "1000" in plain.stdout  # the container's pid 1
    tty = docker("exec", "-t", cid, "sh", "-c", "tty; test -t 1 && echo stdout-is-tty")
    assert "/dev/pts/" in tty.stdout and "stdout-is-tty" in tty.stdout, tty

    _update_memory(docker, cid)

    top = docker("top", cid).stdout.splitlines()
    assert any(line.split()[1] == str(pid) and "sleep 1000" in line for line in top[1:]), top

    docker("rm", "-f", cid)
    assert cid not in docker("ps", "-aq", "--no-trunc").stdout.split()
    assert_gone(docker, cid)


def _update_memory(docker: Docker, cid: str) -> None:
    """``docker update`` reaches pyoci as ``update --resources -`` (JSON on stdin):
    the container's own memory cgroup shows the new limits."""
    group = MEMORY_CGROUP / docker.dockerd.cgroup_parent / cid
    limit = group / "memory.limit_in_bytes"
    assert int(limit.read_text()) != 64 << 20
    docker("update", "--memory", "64m", "--memory-swap", "128m", cid)
    assert int(limit.read_text()) == 64 << 20
    swap = group / "memory.memsw.limit_in_bytes"
    if swap.exists():  # swap accounting may be off in the kernel
        assert int(swap.read_text()) == 128 << 20
    assert json.loads(docker("inspect", cid).stdout)[0]["HostConfig"]["Memory"] == 64 << 20


def test_nothing_left_by_any_test(docker: Docker) -> None:
    assert docker("ps", "-aq").stdout.split() == []
    assert list(docker.dockerd.runtime_root.glob("*/*")) == []
    assert_gone(docker, *docker.ids, with_parent=True)

"""The containerd shim's contract, call by call, without an engine (root only).

containerd-shim-runc-v2 (under ``ctr``, docker and Kubernetes) calls the runtime
with ``--root <runc-root>/<namespace> --log <bundle>/log.json --log-format json``
before every command, from the bundle directory, with ``root.path`` relative,
an extra socket inherited at fd 3, ``exec --process`` files carrying
``terminal: true`` next to a console socket (no ``--tty``), and ``update
--resources -`` on stdin; it reads ``ps --format json`` (``null`` once stopped),
matches kill's ``container not running``/``does not exist``, and calls ``delete
--force`` even for a container that is gone. The engine tests run the real shim
(tests/engines); these pin each contract down in seconds.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the fixtures come from tests/conftest.py; only their types here
    from conftest import Bundle, Pyoci

# Not imported from conftest: tests/conformance/conftest.py can shadow that name.
PYOCI = [str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "pyoci")]
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (real containers)")]

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
NAMESPACE = f"pyoci-shim-{os.getpid()}"  # containerd's namespace: k8s.io, moby, ...
CID = f"shim-{os.getpid()}"
# What `docker update --memory 64m --memory-swap 128m --cpu-shares 512 --pids-limit 100`
# hands the runtime (blockIO weight 0 means "unchanged").
DOCKER_UPDATE = {"memory": {"limit": 64 << 20, "swap": 128 << 20}, "cpu": {"shares": 512},
                 "pids": {"limit": 100}, "blockIO": {"weight": 0}}


class Shim:
    """Calls pyoci the way containerd-shim-runc-v2 does."""

    def __init__(self, pyoci: Pyoci, bundle: Path) -> None:
        self.root = pyoci.root  # stands for <runc-root>/<namespace>
        self.bundle = bundle
        self.log = bundle / "log.json"

    def __call__(self, *args: str, stdin: bytes | None = None, pass_fds: tuple[int, ...] = ()
                 ) -> tuple[int, str]:
        """(exit status, stdout+stderr): the shim reads both as one error text.
        Files, not pipes: a created container keeps create's stdio."""
        cmd = [*PYOCI, "--root", str(self.root), "--log", str(self.log), "--log-format",
               "json", *args]
        with tempfile.TemporaryFile() as out:
            proc = subprocess.run(cmd, input=stdin, stdin=None if stdin else subprocess.DEVNULL,
                                  stdout=out, stderr=out, cwd=self.bundle, pass_fds=pass_fds,
                                  timeout=60, check=False)
            out.seek(0)
            return proc.returncode, out.read().decode()

    def ok(self, *args: str, **kwargs: object) -> str:
        status, text = self(*args, **kwargs)  # type: ignore[arg-type]
        assert status == 0, (args, text)
        return text

    def log_entries(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def shim_bundle(bundle: Bundle, tmp_path: Path) -> Bundle:
    """The shim's bundle: ``root.path`` is the relative ``rootfs`` and the cgroup is
    ``/<namespace>/<id>``, as containerd writes them."""
    (bundle.path / "rootfs").symlink_to(bundle.rootfs)

    def shim_like(config: dict) -> None:
        config["root"]["path"] = "rootfs"
        config["process"]["args"] = ["sleep", "1000"]
        config["linux"]["cgroupsPath"] = f"/{NAMESPACE}/{CID}"

    return bundle.edit(shim_like)


def _console_exec(shim: Shim, cid: str, tmp_path: Path) -> bytes:
    """``exec --process`` with ``terminal: true`` and a console socket, no ``--tty``:
    the pty master arrives on the socket and carries the process's output."""
    process = {"terminal": True, "user": {"uid": 0, "gid": 0}, "cwd": "/",
               "args": ["sh", "-c", "tty; echo on-the-pty"],
               "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]}
    process_file = tmp_path / "runc-process1"
    process_file.write_text(json.dumps(process))
    path = str(tmp_path / "pty.sock")
    pid_file = shim.bundle / "exec1.pid"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        shim.ok("exec", "--process", str(process_file), "--console-socket", path, "--detach",
                "--pid-file", str(pid_file), cid)
        conn, _ = listener.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    assert pid_file.read_text().isdigit()
    out = b""
    try:
        while b"on-the-pty" not in out:
            try:
                chunk = os.read(fds[0], 4096)
            except OSError:  # EIO: the slave side closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(fds[0])
        _reap(int(pid_file.read_text()))
    return out


def _reap(pid: int) -> None:
    """The shim reaps its exec processes (it is their subreaper; here pytest is): an
    unreaped zombie in the container's pid namespace would keep its dying init alive."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def test_shim_call_sequence(pyoci: Pyoci, shim_bundle: Bundle, tmp_path: Path) -> None:
    cid = CID
    shim = Shim(pyoci, shim_bundle.path)
    kept, other = socket.socketpair()  # the shim's stray socket, inherited by create
    with kept, other:
        shim.ok("create", "--bundle", str(shim.bundle), "--pid-file",
                str(shim.bundle / "init.pid"), cid, pass_fds=(kept.fileno(),))
    assert shim.log.exists() and shim.log_entries() == []  # created even with nothing to say
    pid_text = (shim.bundle / "init.pid").read_text()
    assert pid_text.isdigit()  # decimal, no newline
    pid = int(pid_text)
    shim.ok("start", cid)
    assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    assert pid in json.loads(shim.ok("ps", "--format", "json", cid))

    assert b"/dev/pts/" in _console_exec(shim, cid, tmp_path)

    shim.ok("update", "--resources", "-", cid, stdin=json.dumps(DOCKER_UPDATE).encode())
    memory = Path("/sys/fs/cgroup/memory") / NAMESPACE / cid / "memory.limit_in_bytes"
    if memory.parent.is_dir():
        assert int(memory.read_text()) == 64 << 20

    shim.ok("pause", cid)
    assert pyoci.state(cid)["status"] == "paused"
    shim.ok("resume", cid)
    shim.ok("kill", cid, "9")
    deadline = time.monotonic() + 60
    while pyoci.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline, "SIGKILL did not stop the container"
        time.sleep(0.05)
    assert shim.ok("ps", "--format", "json", cid).strip() == "null"
    status, text = shim("kill", cid, "9")
    assert status != 0 and "container not running" in text
    assert_logged(shim, "container not running")
    shim.ok("delete", cid)
    shim.ok("delete", "--force", cid)  # the shim's second, separate delete: gone is fine
    status, text = shim("kill", cid, "9")
    assert status != 0 and "does not exist" in text
    assert_logged(shim, "does not exist")
    assert not (shim.root / cid).exists()
    assert [h for h in Path("/sys/fs/cgroup").iterdir() if (h / NAMESPACE).exists()] == []


def assert_logged(shim: Shim, text: str) -> None:
    """The shim shows the last ``error`` entry of log.json: it must be this failure's,
    with an RFC 3339 time (anything else breaks go-runc's parsing)."""
    last = shim.log_entries()[-1]
    assert last["level"] == "error" and text in last["msg"], last
    assert RFC3339.match(last["time"]), last

"""Private containerd and dockerd for the engine tests, and their clean-up.

Each daemon gets its own directories under one base directory (state, root,
sockets, logs), its own process group, and is stopped by its pid whatever
happens. Nothing may reach the host's defaults (``/run/containerd``,
``/var/lib/containerd``, ``/var/lib/docker``, ``/run/docker``, ``/run/runc``)
or the host network, with one exception containerd 1.6 hard-codes: its shims'
sockets live in ``/run/containerd/s/<sha256>``. A shim removes its socket on a
clean exit; ``Containerd.stop`` removes those of shims it had to kill, and
``shim_socket`` lets tests assert none is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import processes_with

REPO = Path(__file__).resolve().parents[2]
ROOTFS = REPO / "bundles" / "busybox" / "rootfs"
PYOCI_BIN = str(REPO / ".venv" / "bin" / "pyoci")
SHIM_SOCKET_DIR = Path("/run/containerd/s")
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# The host paths the daemons would use by default: none may change during the tests.
HOST_DEFAULTS = (Path("/run/containerd"), Path("/var/lib/containerd"), Path("/opt/containerd"),
                 Path("/var/lib/docker"), Path("/run/docker"), Path("/run/runc"),
                 Path("/run/docker.sock"), Path("/etc/docker/key.json"))


class DaemonError(RuntimeError):
    """A daemon did not come up; the message names its log."""


def missing_prerequisites(daemon: str, tools: tuple[str, ...]) -> str | None:
    """Why this machine cannot run the tests of an engine that runs ``daemon``
    (root, then ``missing_tools``), or None."""
    if os.geteuid() != 0:
        return f"needs root (runs {daemon} and real containers)"
    return missing_tools(tools)


def missing_tools(tools: tuple[str, ...]) -> str | None:
    """Why an engine test or benchmark cannot run here (``tools``, pyoci's
    launcher, the demo rootfs), or None."""
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} is not installed (tests/engines/install.sh installs it)"
    if not os.access(PYOCI_BIN, os.X_OK):
        return f"{PYOCI_BIN} is missing (run .ci/setup.sh)"
    if not (ROOTFS / "bin" / "busybox").exists():
        return f"{ROOTFS} is not built (run bundles/busybox/build-rootfs.sh)"
    return None


def run_client(cmd: list[str], *, check: bool, timeout: float,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """An engine client's command, stdin closed and output kept; ``check``: a
    non-zero exit fails the test with the command and both outputs."""
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{shlex.join(cmd)} exited {proc.returncode}:\n"
                             f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def running_pid(state_file: Path) -> int:
    """The init pid pyoci recorded in ``state_file`` once the container runs, else 0."""
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return 0
    return state["init"]["pid"] if state.get("status") == "running" else 0


def host_snapshot() -> dict[str, list[str]]:
    """What exists at the host defaults (one level deep): compared before and after."""
    snap: dict[str, list[str]] = {}
    for path in HOST_DEFAULTS:
        if path.is_dir():
            snap[str(path)] = sorted(p.name for p in path.iterdir())
        elif path.exists():
            snap[str(path)] = []
    return snap


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


class Daemon:
    """One daemon process in its own process group, with its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
                 ) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env=self.env, close_fds=True)

    def wait_ready(self, probe: Callable[[], bool], what: str,
                   timeout: float = READY_TIMEOUT) -> None:
        """Poll ``probe`` until it holds; fail early if the daemon exits."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DaemonError(f"{self.name} exited with {self.proc.returncode} before "
                                  f"{what}; log {self.log}:\n{log_tail(self.log)}")
            if probe():
                return
            time.sleep(0.2)
        raise DaemonError(f"{self.name} (pid {self.proc.pid}): {what} not ready after "
                          f"{timeout:.0f}s; log {self.log}:\n{log_tail(self.log)}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole process group after a grace period."""
        if self.proc is None:
            return
        pid = self.proc.pid
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # the group is the daemon's own session
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(STOP_TIMEOUT)


def socket_accepts(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def pids_with_arg(text: str) -> list[int]:
    """Live host pids whose command line contains ``text`` as one argument."""
    want = text.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if want in args and state != "Z":
            found.append(int(entry.name))
    return found


def shim_socket(address: Path, namespace: str, task_id: str) -> Path:
    """Where containerd 1.6's runc v2 shim puts its socket (runtime/v2/shim/util_unix.go):
    the sha256 of ``<containerd address>/<namespace>/<id>`` under /run/containerd/s."""
    digest = hashlib.sha256(os.path.join(str(address), namespace, task_id).encode()).hexdigest()
    return SHIM_SOCKET_DIR / digest


def shims_of(address: Path) -> list[tuple[int, str, str]]:
    """(pid, namespace, id) of every live shim serving that containerd."""
    shims = []
    for pid in pids_with_arg(str(address)):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if not args or not args[0].endswith("containerd-shim-runc-v2"):
            continue
        opts = dict(zip(args[1::2], args[2::2], strict=False))
        shims.append((pid, opts.get("-namespace", ""), opts.get("-id", "")))
    return shims


def unmount_under(base: Path) -> None:
    """Lazily unmount everything mounted at or below ``base``, deepest first."""
    prefix = str(base).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    for point in sorted({p for p in points if (p + "/").startswith(prefix)}, key=len,
                        reverse=True):
        subprocess.run(["umount", "-l", point], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)


def pyoci_force_delete(pyoci: str, runc_root: Path) -> None:
    """Ask pyoci to remove whatever containers are left under a shim's runc root."""
    if not runc_root.is_dir():
        return
    for state_json in runc_root.glob("*/*/state.json"):
        cdir = state_json.parent
        subprocess.run([pyoci, "--root", str(cdir.parent), "delete", "--force", cdir.name],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120, check=False)


def _rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


class Containerd:
    """A private containerd: own config, root, state and sockets; CRI off."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.state = base / "state"
        self.address = base / "containerd.sock"
        self.config = base / "config.toml"
        self.log = base / "containerd.log"
        self.had_shim_dir = SHIM_SOCKET_DIR.exists()
        self.had_run_containerd = SHIM_SOCKET_DIR.parent.exists()
        self.daemon = Daemon("containerd", ["containerd", "--config", str(self.config)],
                             self.log)

    def write_config(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.config.write_text(f"""version = 2
root = "{self.root}"
state = "{self.state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{self.address}"

[ttrpc]
  address = "{self.address}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{self.base / 'opt'}"
""")

    def start(self) -> None:
        self.write_config()
        self.daemon.start()
        self.daemon.wait_ready(self._answers, f"grpc socket {self.address}")

    def _answers(self) -> bool:
        if not socket_accepts(self.address):
            return False
        probe = subprocess.run(["ctr", "--address", str(self.address), "version"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                               check=False)
        return probe.returncode == 0

    def stop(self, pyoci: str, runc_roots: list[Path]) -> None:
        """Stop the daemon, then whatever it leaves: containers, shims, their
        sockets, mounts and the directories."""
        self.daemon.stop()
        for root in runc_roots:
            pyoci_force_delete(pyoci, root)
        for pid, namespace, task_id in shims_of(self.address):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(FileNotFoundError):
                shim_socket(self.address, namespace, task_id).unlink()
        if not self.had_shim_dir:
            _rmdir_if_empty(SHIM_SOCKET_DIR)
        if not self.had_run_containerd:
            _rmdir_if_empty(SHIM_SOCKET_DIR.parent)


class Dockerd:
    """A private dockerd using a given containerd, with no network set-up of its own."""

    def __init__(self, base: Path, containerd: Containerd, pyoci: str, cgroup_parent: str
                 ) -> None:
        self.base = base
        self.cgroup_parent = cgroup_parent
        self.containerd_address = containerd.address
        self.data_root = base / "data"
        self.exec_root = base / "exec"
        self.host = base / "docker.sock"
        self.log = base / "dockerd.log"
        self.client_config = base / "client"
        # dockerd 20.10 gives every runtime added with --add-runtime the runc root
        # of its default runtime: <exec-root>/runtime-runc.
        self.runtime_root = self.exec_root / "runtime-runc"
        self.daemon = Daemon("dockerd", [
            "dockerd", "--config-file", str(base / "daemon.json"),
            "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
            "--pidfile", str(base / "dockerd.pid"), "-H", f"unix://{self.host}",
            "--containerd", str(containerd.address),
            "--bridge", "none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
            "--userland-proxy=false", "--exec-opt", "native.cgroupdriver=cgroupfs",
            "--default-ulimit", "nofile=20000:20000", "--add-runtime", f"pyoci={pyoci}",
            "--cgroup-parent", f"/{cgroup_parent}",
        ], self.log)

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.client_config.mkdir(exist_ok=True)
        # dockerd 20.10 writes a trust key to /etc/docker/key.json unless told where.
        (self.base / "daemon.json").write_text(
            json.dumps({"deprecated-key-path": str(self.base / "key.json")}))
        self.daemon.start()
        self.daemon.wait_ready(self._answers, f"API socket {self.host}")

    def env(self) -> dict[str, str]:
        """The client's environment: our daemon, a private client config dir."""
        return {**os.environ, "DOCKER_HOST": f"unix://{self.host}",
                "DOCKER_CONFIG": str(self.client_config)}

    def _answers(self) -> bool:
        if not socket_accepts(self.host):
            return False
        probe = subprocess.run(["/usr/bin/docker", "version"], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=30, env=self.env(), check=False)
        return probe.returncode == 0

    def stop(self) -> None:
        self.daemon.stop()


def remove_tree(base: Path) -> None:
    """Unmount and delete a daemon's base directory."""
    unmount_under(base)
    shutil.rmtree(base, ignore_errors=True)


def host_leaks(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """Host default paths that appeared, or gained entries, during the tests.

    ``/run/containerd`` may hold ``s``, containerd's hard-coded shim socket
    directory, which another engine run on the machine may share: our own
    shim sockets are checked one by one with ``shim_socket`` instead.
    """
    leaks = []
    for path, entries in after.items():
        new = set(entries) - set(before.get(path, []))
        if path == str(SHIM_SOCKET_DIR.parent):
            new.discard(SHIM_SOCKET_DIR.name)
            if path not in before and not new:
                continue
        if path not in before:
            leaks.append(f"{path} was created ({sorted(entries)})")
        elif new:
            leaks.append(f"{path} gained {sorted(new)}")
    return leaks


def container_leftovers(ids: list[str], runc_root: Path, cgroup_parent: str,
                        *, with_parent: bool = False) -> list[str]:
    """What is left of these containers: pyoci state dirs under the shim's runc
    root, cgroup dirs named for them (at the top or under ``cgroup_parent``), mounts
    and live processes mentioning them; ``with_parent``: also the parent cgroup in
    any hierarchy (only once every container under it is gone)."""
    left = []
    hierarchies = [h for h in Path("/sys/fs/cgroup").iterdir() if h.is_dir()]
    for cid in ids:
        left += [f"state dir {p}" for p in runc_root.glob(f"*/{cid}")]
        left += [f"cgroup {h / sub}" for h in hierarchies
                 for sub in (Path(cid), Path(cgroup_parent) / cid) if (h / sub).is_dir()]
        with open("/proc/self/mountinfo") as f:
            left += [f"mount {line.split()[4]}" for line in f if cid in line]
        left += [f"process {pid}" for pid in pids_mentioning(cid)]
    if with_parent:
        left += [f"cgroup {h / cgroup_parent}" for h in hierarchies
                 if (h / cgroup_parent).is_dir()]
    return left


def assert_containers_gone(ids: list[str], runc_root: Path, cgroup_parent: str, *,
                           containerd_address: str, namespace: str,
                           with_parent: bool = False) -> None:
    """No state, cgroup, mount, process or shim socket of these containers remains
    (``with_parent``: nor their parent cgroup); waits, as a shim cleans up after
    the engine has answered."""
    left: list[str] = []

    def clean() -> bool:
        left[:] = container_leftovers(ids, runc_root, cgroup_parent, with_parent=with_parent)
        left.extend(f"shim socket {s}" for s in
                    (shim_socket(containerd_address, namespace, cid) for cid in ids)
                    if s.exists())
        return not left

    assert wait_for(clean), f"left behind: {left}"


def pids_mentioning(text: str) -> list[int]:
    """Live pids with ``text`` anywhere in their command line."""
    return processes_with(text)


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll until ``predicate`` holds or the deadline passes (a bound, not a timing check)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)

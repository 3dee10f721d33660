"""A private podman for the engine tests and the benchmark, and its clean-up.

podman has no daemon: every call is a process that reads its configuration and
storage, starts conmon, and conmon calls the OCI runtime. So isolation is a
matter of configuration: a private containers.conf (``CONTAINERS_CONF``) that
names pyoci as the runtime, a private storage.conf
(``CONTAINERS_STORAGE_CONF``), and the global flags ``--root --runroot
--tmpdir --network-config-dir --events-backend file --cgroup-manager cgroupfs``
on every call (podman hands the same flags to the ``container cleanup`` call
conmon makes when a container exits). File locks under the private tmpdir keep
podman off ``/dev/shm/libpod_lock``.

Two things podman 4.3 does outside its configured directories are handled
here: the image copy in ``podman import`` creates a blob-info cache in
``/var/lib/containers/cache`` (it falls back to memory when it cannot, so the
import runs in a private mount namespace where ``/var/lib`` is read-only), and
with cgroupfs conmon puts itself into ``/libpod_parent/conmon`` in every
hierarchy (removed at the end when this environment created it).

podman never passes ``--root`` to the runtime, so pyoci keeps its state in its
default root, ``/run/pyoci``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import daemons

from tests.conftest import processes_with

PYOCI = Path(daemons.PYOCI_BIN)
ROOTFS = daemons.ROOTFS
IMAGE = "localhost/busybox"
PYOCI_STATE = Path("/run/pyoci")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "libpod_parent"
# podman's own defaults: none may appear because of these tests.
HOST_DEFAULTS = (Path("/var/lib/containers"), Path("/run/containers"), Path("/run/libpod"),
                 Path("/dev/shm/libpod_lock"))
# Without CAP_SYS_RESOURCE and with a hard nofile limit of 20000, podman's default
# rlimits (nofile 1048576) fail in any runtime.
DEFAULT_ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")


def missing_tools() -> str | None:
    """Why this machine cannot run the podman tests, or None."""
    return daemons.missing_tools(("podman", "conmon", "script", "unshare"))


def _toml_list(items: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


class PodmanEnv:
    """podman with every path under one private base directory.

    ``runtimes`` maps runtime names to binaries; the first is the default.
    """

    def __init__(self, runtimes: dict[str, str] | None = None) -> None:
        self.runtimes = runtimes or {"pyoci": str(PYOCI)}
        self.base = Path(tempfile.mkdtemp(prefix="pyoci-podman-"))
        self.root = self.base / "root"
        self.runroot = self.base / "runroot"
        self.tmpdir = self.base / "tmp"
        self.netdir = self.base / "net"
        for d in (self.root, self.runroot, self.tmpdir, self.netdir):
            d.mkdir()
        self.host_before = {str(p): p.exists() for p in HOST_DEFAULTS}
        self.parent_existed = any((h / CGROUP_PARENT).exists() for h in CGROUP_ROOT.iterdir())
        self.env = self._write_config()
        self.closed = False

    def _write_config(self) -> dict[str, str]:
        names = list(self.runtimes)
        conf = self.base / "containers.conf"
        conf.write_text("\n".join([
            "[containers]",
            f"default_ulimits = {_toml_list(DEFAULT_ULIMITS)}",
            'netns = "none"',
            "[network]",
            f"network_config_dir = {json.dumps(str(self.netdir))}",
            "[engine]",
            f"runtime = {json.dumps(names[0])}",
            f"runtime_supports_json = {_toml_list(names)}",
            'cgroup_manager = "cgroupfs"',
            'events_logger = "file"',
            'lock_type = "file"',
            f"tmp_dir = {json.dumps(str(self.tmpdir))}",
            f"image_copy_tmp_dir = {json.dumps(str(self.tmpdir))}",
            "[engine.runtimes]",
            *(f"{name} = [{json.dumps(path)}]" for name, path in self.runtimes.items()),
        ]) + "\n")
        storage = self.base / "storage.conf"
        storage.write_text("\n".join([
            "[storage]",
            'driver = "overlay"',
            f"graphroot = {json.dumps(str(self.root))}",
            f"runroot = {json.dumps(str(self.runroot))}",
        ]) + "\n")
        env = dict(os.environ, CONTAINERS_CONF=str(conf), CONTAINERS_STORAGE_CONF=str(storage),
                   TMPDIR=str(self.tmpdir))
        env.pop("CONTAINERS_REGISTRIES_CONF", None)
        return env

    # --- running podman ---------------------------------------------------------

    def argv(self, *args: str) -> list[str]:
        """A podman command line with the isolation flags."""
        return ["podman", "--root", str(self.root), "--runroot", str(self.runroot),
                "--tmpdir", str(self.tmpdir), "--network-config-dir", str(self.netdir),
                "--events-backend", "file", "--cgroup-manager", "cgroupfs", *args]

    def __call__(self, *args: str, check: bool = True, timeout: float = 90,
                 **kwargs: object) -> subprocess.CompletedProcess:
        """Run podman; stdin is /dev/null unless given (a container keeps what it gets)."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("capture_output", True)
        proc = subprocess.run(self.argv(*args), env=self.env, timeout=timeout, text=True,
                              **kwargs)  # type: ignore[call-overload]
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {proc.returncode}:\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def shell_command(self, *args: str) -> str:
        """The podman command line as one shell string (for ``script -c``)."""
        return shlex.join(self.argv(*args))

    def import_busybox(self) -> None:
        """``podman import`` a tarball of the demo rootfs as localhost/busybox.

        In a private mount namespace with /var/lib read-only, so that the image
        copy's blob-info cache stays in memory instead of /var/lib/containers.
        """
        tarball = self.tmpdir / "busybox.tar"
        subprocess.run(["tar", "-C", str(ROOTFS), "-cf", str(tarball), "."], check=True)
        script = ("mount --bind /var/lib /var/lib && mount -o remount,bind,ro /var/lib && "
                  f"exec {self.shell_command('import', '--quiet', str(tarball), IMAGE)}")
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private",
                               "sh", "-c", script], env=self.env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"podman import failed: {proc.stderr}")
        tarball.unlink()

    def container_ids(self) -> set[str]:
        """Every container this podman ever created (from its file event log)."""
        ids: set[str] = set()
        log = self.tmpdir / "events" / "events.log"
        with contextlib.suppress(OSError):
            for line in log.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("Type") == "container" and event.get("ID"):
                        ids.add(event["ID"])
        return ids

    # --- clean-up -----------------------------------------------------------------

    def close(self) -> None:
        """Remove every container, process, mount and directory this podman made."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self("rm", "--all", "--force", "--time", "0", check=False, timeout=120)
        for pid in pids_mentioning(str(self.base)):  # conmon of a container rm missed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for cid in self.container_ids():
            if (PYOCI_STATE / cid).exists():
                subprocess.run([str(PYOCI), "delete", "--force", cid], capture_output=True,
                               check=False, timeout=60)
        unmount_under(self.base)
        if not self.parent_existed:
            remove_cgroup_parent()
        shutil.rmtree(self.base, ignore_errors=True)
        for path, existed in self.host_before.items():
            if not existed and Path(path).is_dir():
                # Only if still empty: another engineer's podman may be using it.
                with contextlib.suppress(OSError):
                    Path(path).rmdir()

    def host_defaults_created(self) -> list[str]:
        """podman default paths that did not exist before and exist now."""
        return [p for p, existed in self.host_before.items() if not existed and Path(p).exists()]


def pids_mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions ``text``."""
    return processes_with(text)


def mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def unmount_under(base: Path) -> None:
    """Detach every mount below ``base``, deepest first."""
    points = []
    for line in mounts_mentioning(str(base)):
        point = line.split()[4]
        if point.startswith(str(base)):
            points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


def cgroups_named(name: str) -> list[Path]:
    """Cgroup directories of that name at the top of every hierarchy or under
    podman's parent (``/libpod_parent/libpod-<id>`` with cgroupfs)."""
    return [base / name for h in CGROUP_ROOT.iterdir() for base in (h, h / CGROUP_PARENT)
            if (base / name).is_dir()]


def remove_cgroup_parent() -> None:
    """Remove ``/libpod_parent`` (and conmon's group in it) where empty."""
    for hierarchy in CGROUP_ROOT.iterdir():
        parent = hierarchy / CGROUP_PARENT
        for d in (parent / "conmon", parent):
            for _ in range(50):  # a conmon that just exited may still be leaving
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)

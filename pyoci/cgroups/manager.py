"""The cgroupfs driver: one directory per hierarchy, behind the manager interface.

``create`` makes the container's cgroup and puts the container in it before
the container can run a single instruction of its own; later commands rebuild
the same manager from what ``create`` recorded in the state (``to_state``), so
they never depend on how the host looks at the time they run.

Drivers: cgroupfs v1 (every mounted v1 hierarchy, plus the unified hierarchy
of a hybrid host), cgroupfs v2, and systemd (:mod:`pyoci.cgroups.systemd`, a
subclass that lets systemd make the cgroup, then works on its paths).
"""

from __future__ import annotations

import _signal as signal  # signal.py's enums cost ~5 ms of start-up
import errno
import posix  # not os: see pyoci/paths.py
import time

from pyoci import paths
from pyoci.cgroups import frozen
from pyoci.cgroups import read_or_empty as _read
from pyoci.errors import ConfigError, PyociError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cgroups.join import CgroupJoin

CGROUP_ROOT = "/sys/fs/cgroup"


class CgroupPermissionError(PyociError):
    """We may not create the cgroup: fatal as root, ignored when rootless (as runc does)."""


class CgroupManager:
    """The cgroup of one container: one directory per hierarchy."""

    driver = "cgroupfs"

    def __init__(self, paths: dict[str, str], created: list[str] | None = None) -> None:
        self.paths = paths
        self.created = created or []

    # -- life cycle ---------------------------------------------------------
    def create(self) -> None:
        """Make every missing directory of the path, remembering which we made."""
        for hierarchy, path in self.paths.items():
            for directory in _missing_ancestors(path):
                try:
                    posix.mkdir(directory, 0o755)
                except FileExistsError:
                    continue
                except PermissionError as e:
                    raise CgroupPermissionError(f"cgroup {directory}: {e.strerror}") from None
                except OSError as e:
                    raise PyociError(f"cgroup {directory}: {e.strerror}") from None
                self.created.append(directory)
                if hierarchy == "cpuset":
                    _inherit_cpuset(directory)
            if hierarchy == "" and paths.isdir(path):
                from pyoci.cgroups import v2  # lazily: only where a cgroup2 tree is mounted

                v2.prepare_parents(path)

    def check_empty(self, field_name: str) -> None:
        """runc refuses to put a container into a cgroup other processes use."""
        for path in self.paths.values():
            if path not in self.created and _read_procs(path):
                raise ConfigError(f"{field_name}: cgroup {path} already has processes in it")

    def self_join(self) -> CgroupJoin | None:
        """The files a child joins through by itself (pyoci.cgroups.join); None
        where the parent must do it all with ``add``."""
        from pyoci.cgroups.join import CgroupJoin  # join imports this module

        return CgroupJoin.open(self.paths)

    def add(self, pid: int) -> None:
        for path in self.paths.values():
            add_process(path, pid)

    def pids(self) -> list[int]:
        path = self._procs_path()
        return _read_procs(path) if path else []

    def kill_all(self, sig: int) -> None:
        for pid in self.pids():
            try:
                posix.kill(pid, sig)
            except ProcessLookupError:
                pass

    def destroy(self) -> None:
        """Remove the directories create made, deepest first.

        The container's own directories are retried while exiting tasks leave; a
        parent create made is removed only if it is empty by then: another
        container may have been created under it since, and it stays for that one.
        """
        own = set(self.paths.values())
        for directory in sorted(self.created, key=len, reverse=True):
            if directory in own:
                _rmdir_retry(directory)
            else:
                _rmdir_if_empty(directory)
        self.created = []

    def oom_killed(self) -> bool:
        """Whether the memory controller's OOM killer has killed a task here: the
        one explanation of an init that vanished mid-set-up under a small limit."""
        candidates = []
        if self.paths.get("memory"):
            candidates.append(paths.join(self.paths["memory"], "memory.oom_control"))
        if self.paths.get(""):
            candidates.append(paths.join(self.paths[""], "memory.events"))
        for path in candidates:
            for line in _read(path).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip() not in ("", "0"):
                    return True
        return False

    def is_frozen(self) -> bool:
        return frozen(self.paths)

    def freeze(self) -> None:
        """Pause every process: v1 freezer where mounted (as runc does on hybrid hosts),
        else v2 cgroup.freeze; return only once the kernel reports them frozen."""
        freezer = self.paths.get("freezer")
        if freezer:
            _freeze_v1(freezer)
            return
        unified = self.paths.get("")
        if unified and paths.exists(paths.join(unified, "cgroup.freeze")):
            _freeze_v2(unified)
            return
        raise PyociError("pause: the container's cgroup has no freezer")

    def thaw(self) -> None:
        thaw(self)

    def signal_all(self, sig: int) -> None:
        """``kill --all``: SIGKILL through v2 cgroup.kill when there is one (atomic,
        forks included); otherwise freeze, signal every pid, thaw, as runc does."""
        unified = self.paths.get("")
        kill_file = paths.join(unified, "cgroup.kill") if unified else ""
        if sig == signal.SIGKILL and kill_file and paths.exists(kill_file):
            with open(kill_file, "w") as f:
                f.write("1")
            if self.is_frozen():
                thaw(self)  # a v1-frozen task dies only once thawed
            return
        frozen = False
        try:
            self.freeze()
            frozen = True
        except PyociError:
            pass  # no freezer: signal without it
        try:
            for pid in self.all_pids():
                try:
                    posix.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if frozen:
                thaw(self)

    def all_pids(self) -> list[int]:
        """Every pid in the container's cgroup and its sub-cgroups, in the order read."""
        path = self._procs_path()
        if not path:
            return []
        found: list[int] = []
        pending = [path]
        while pending:  # top-down, as os.walk goes
            directory = pending.pop(0)
            found.extend(_read_procs(directory))
            pending[:0] = _subdirectories(directory)
        return found

    def to_state(self) -> dict:
        return {"driver": self.driver, "paths": self.paths, "created": self.created}

    def planned_state(self) -> dict:
        """``to_state()`` as it will be once ``create()`` has run, every directory it
        is about to make counted as made: create records it first, so that a create
        killed half-way leaves a state ``delete --force`` can undo."""
        doc = self.to_state()
        doc["created"] = [d for path in self.paths.values() for d in _missing_ancestors(path)]
        return doc

    def _procs_path(self) -> str | None:
        for key in ("", "pids", "freezer", "memory"):
            if key in self.paths:
                return self.paths[key]
        return next(iter(self.paths.values()), None)


def add_process(directory: str, pid: int) -> None:
    """Write ``pid`` into one cgroup's cgroup.procs: the join by the parent, which
    waits for an RCU grace period (pyoci.cgroups.join says when it is needed)."""
    try:
        with open(paths.join(directory, "cgroup.procs"), "w") as f:
            f.write(str(pid))
    except OSError as e:
        raise PyociError(f"join cgroup {directory}: {e.strerror}") from None


def manager_for_config(config: dict, container_id: str, *, systemd: bool) -> CgroupManager:
    """Choose the driver from the host and the path from linux.cgroupsPath."""
    raw = config.get("linux", {}).get("cgroupsPath") or ""
    if systemd:  # a transient scope over D-Bus; jeepney is loaded only on this path
        from pyoci.cgroups import systemd as systemd_driver

        return systemd_driver.manager_for_config(config, container_id)
    if ":" in raw:
        raise ConfigError(f"linux.cgroupsPath: {raw!r} is a systemd path "
                          "(slice:prefix:name); it needs --systemd-cgroup")
    path = raw if raw else f"/{container_id}"
    import os  # create's path imports os anyway

    normal = os.path.normpath("/" + path.lstrip("/"))
    if normal == "/" or ".." in path.split("/"):
        raise ConfigError(f"linux.cgroupsPath: {raw!r} is not a valid cgroup path")
    return CgroupManager({h: mount.rstrip("/") + normal for h, mount in hierarchies().items()})


def manager_from_state(doc: dict) -> CgroupManager:
    """The manager create recorded; the systemd driver's knows its unit for delete."""
    if doc.get("driver") == "systemd":
        from pyoci.cgroups import systemd as systemd_driver

        return systemd_driver.manager_from_state(doc)
    return CgroupManager(dict(doc.get("paths", {})), list(doc.get("created", [])))


def hierarchies() -> dict[str, str]:
    """Mount points by controller name; "" names the cgroup2 (unified) hierarchy.

    A v1 mount that carries several controllers (cpu,cpuacct) appears once,
    under its first controller; a named hierarchy (name=systemd) under its name.
    """
    found: dict[str, str] = {}
    for pre, post in _visible_mounts():
        fstype, _, options = (post.split() + ["", "", ""])[:3]
        mountpoint = pre.split()[4]
        if mountpoint.startswith(CGROUP_ROOT):
            _add_hierarchy(found, fstype, options, mountpoint)
    return found


def _add_hierarchy(found: dict[str, str], fstype: str, options: str, mountpoint: str) -> None:
    if fstype == "cgroup2":
        found[""] = mountpoint
    elif fstype == "cgroup":
        names = [o for o in options.split(",") if o not in _MOUNT_FLAGS]
        controllers = [o.removeprefix("name=") for o in names
                       if o.startswith("name=") or "=" not in o]
        if controllers:
            found.setdefault(controllers[0], mountpoint)


def _visible_mounts() -> list[tuple[str, str]]:
    """mountinfo lines (before and after " - ") minus the mounts hidden by an overmount.

    cgroup2 mounted over a hybrid /sys/fs/cgroup (a private mount namespace
    that wants a v2-only view) leaves the v1 mounts in mountinfo, under the
    overmounted tmpfs; they are unreachable and must not count.
    """
    with open("/proc/self/mountinfo") as f:
        lines = [line.partition(" - ")[::2] for line in f]
    fields = {pre.split()[0]: pre.split() for pre, _ in lines}
    over = {f[1]: f[0] for f in fields.values()
            if f[1] in fields and fields[f[1]][4] == f[4]}

    def reachable(mount_id: str, seen: int = 0) -> bool:
        parent = fields[mount_id][1]
        if parent not in fields or parent == mount_id or seen > 64:
            return True
        return over.get(parent, mount_id) == mount_id and reachable(parent, seen + 1)

    return [(pre, post) for pre, post in lines
            if pre.split()[0] not in over and reachable(pre.split()[0])]


_MOUNT_FLAGS = {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode",
                "favordynmods", "nsdelegate", "memory_recursiveprot"}


def _missing_ancestors(path: str) -> list[str]:
    missing = []
    while not paths.isdir(path):
        missing.append(path)
        path = paths.dirname(path)
    return list(reversed(missing))


def _inherit_cpuset(directory: str) -> None:
    """A new v1 cpuset cgroup starts with no cpus or mems: copy the parent's."""
    parent = paths.dirname(directory)
    for name in ("cpuset.cpus", "cpuset.mems"):
        value = _read(paths.join(directory, name)).strip()
        if not value:
            with open(paths.join(directory, name), "w") as f:
                f.write(_read(paths.join(parent, name)).strip() or "\n")


def _subdirectories(directory: str) -> list[str]:
    try:
        with posix.scandir(directory) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _read_procs(path: str) -> list[int]:
    return [int(p) for p in _read(paths.join(path, "cgroup.procs")).split()]


def _rmdir_if_empty(directory: str) -> None:
    try:
        posix.rmdir(directory)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
            raise PyociError(f"remove cgroup {directory}: {e.strerror}") from None


def _rmdir_retry(directory: str, attempts: int = 50) -> None:
    for _ in range(attempts):
        try:
            posix.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != 16:  # EBUSY: tasks still leaving
                raise PyociError(f"remove cgroup {directory}: {e.strerror}") from None
            for pid in _read_procs(directory):
                try:
                    posix.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
    raise PyociError(f"remove cgroup {directory}: still busy")


def _freeze_v1(freezer: str) -> None:
    """runc's loop: ask for FROZEN until the state reads FROZEN; a task stuck in
    FREEZING gets a brief thaw every 50 tries so it can reach a freezable point."""
    state_file = paths.join(freezer, "freezer.state")
    for attempt in range(1000):
        if attempt % 50 == 49:
            _write(state_file, "THAWED")
            time.sleep(0.01)
        _write(state_file, "FROZEN")
        if _read(state_file).strip() == "FROZEN":
            return
        time.sleep(0.001 if attempt < 25 else 0.01)
    _write(state_file, "THAWED")
    raise PyociError(f"pause: {freezer} did not reach FROZEN")


def _freeze_v2(unified: str) -> None:
    """Write cgroup.freeze and wait for ``frozen 1`` in cgroup.events."""
    _write(paths.join(unified, "cgroup.freeze"), "1")
    events = paths.join(unified, "cgroup.events")
    for _ in range(1000):
        if "frozen 1" in _read(events):
            return
        time.sleep(0.005)
    _write(paths.join(unified, "cgroup.freeze"), "0")
    raise PyociError(f"pause: {unified} did not reach frozen")


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise PyociError(f"{path}: {e.strerror}") from None


def thaw(manager: CgroupManager) -> None:
    """Let a frozen container run again, so that it can receive SIGKILL and exit."""
    freezer = manager.paths.get("freezer")
    if freezer:
        with open(paths.join(freezer, "freezer.state"), "w") as f:
            f.write("THAWED")
    unified = manager.paths.get("")
    if unified and paths.exists(paths.join(unified, "cgroup.freeze")):
        with open(paths.join(unified, "cgroup.freeze"), "w") as f:
            f.write("0")

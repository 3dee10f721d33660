"""Linux namespaces: which to create, which to join, and the id maps.

Paths of namespaces to join are opened and type-checked by ``create`` before
anything is set up, so a wrong path is reported up front and a path that only
resolves in the host mount namespace still works after the child has left it.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up
import fcntl
import os
import sys

from pyoci import syscalls
from pyoci.errors import ConfigError, PyociError

FLAGS = {
    "pid": syscalls.CLONE_NEWPID,
    "network": syscalls.CLONE_NEWNET,
    "mount": syscalls.CLONE_NEWNS,
    "ipc": syscalls.CLONE_NEWIPC,
    "uts": syscalls.CLONE_NEWUTS,
    "user": syscalls.CLONE_NEWUSER,
    "cgroup": syscalls.CLONE_NEWCGROUP,
    "time": syscalls.CLONE_NEWTIME,
}
PROC_NAMES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc",
    "uts": "uts", "user": "user", "cgroup": "cgroup", "time": "time",
}
_TYPE_BY_FLAG = {flag: name for name, flag in FLAGS.items()}
_NS_GET_NSTYPE = 0xB703


class NamespacePlan:
    """The new namespaces (a CLONE_NEW* mask) and the open fds of those to join."""

    def __init__(self, new: int = 0, join: dict[str, int] | None = None) -> None:
        self.new = new
        self.join = join or {}

    @classmethod
    def from_config(cls, config: dict) -> NamespacePlan:
        plan = cls()
        try:
            for i, ns in enumerate(config.get("linux", {}).get("namespaces", [])):
                kind, path = ns["type"], ns.get("path", "")
                if path:
                    plan.join[kind] = open_namespace(path, kind, f"linux.namespaces[{i}].path")
                else:
                    plan.new |= FLAGS[kind]
        except BaseException:
            plan.close()
            raise
        return plan

    def has(self, kind: str) -> bool:
        """The container has its own (new or joined) namespace of this kind."""
        return bool(self.new & FLAGS[kind]) or kind in self.join

    def close(self) -> None:
        for fd in self.join.values():
            os.close(fd)
        self.join.clear()


def open_namespace(path: str, kind: str, field_name: str) -> int:
    """Open a namespace file and check it is of the kind the config claims."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"{field_name}: {path}: {e.strerror}") from None
    try:
        actual = fcntl.ioctl(fd, _NS_GET_NSTYPE)
    except OSError:
        os.close(fd)
        raise ConfigError(f"{field_name}: {path} is not a namespace file") from None
    if actual != FLAGS[kind]:
        os.close(fd)
        got = PROC_NAMES.get(_TYPE_BY_FLAG.get(actual, ""), "unknown")
        raise ConfigError(f"{field_name}: {path} is a {got} namespace, not {PROC_NAMES[kind]}")
    return fd


def join_namespaces(plan: NamespacePlan) -> None:
    """setns into every namespace given by path; the user namespace first, so
    that the capabilities it grants apply to joining the others."""
    order = sorted(plan.join, key=lambda k: k != "user")
    for kind in order:
        try:
            syscalls.setns(plan.join[kind], FLAGS[kind])
        except OSError as e:
            raise PyociError(f"join {PROC_NAMES[kind]} namespace: {e.strerror}") from None


def write_id_maps(pid: int, config: dict, *, deny_setgroups: bool) -> None:
    """Write uid_map/gid_map of a child that has just unshared its user namespace.

    An unprivileged caller may write only a single mapping of its own id;
    anything more goes through newuidmap/newgidmap (:mod:`pyoci.idmap_helpers`,
    which says why setgroups is then left to newgidmap).
    """
    linux = config.get("linux", {})
    helped = {key for key in ("uidMappings", "gidMappings")
              if _needs_helper(key, linux.get(key) or [])}
    if deny_setgroups and "gidMappings" not in helped:
        _write_proc(pid, "setgroups", "deny")
    for name, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
        mappings = linux.get(key) or []
        if key in helped:
            from pyoci.idmap_helpers import write_with_helper  # unprivileged only

            write_with_helper(pid, key, mappings)
            continue
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)
        if lines:
            try:
                _write_proc(pid, name, lines)
            except OSError as e:
                raise ConfigError(f"linux.{key}: writing {name}: {e.strerror}") from None


def _needs_helper(key: str, mappings: list[dict]) -> bool:
    """Unprivileged (as runc: euid != 0) and anything but one size-1 mapping of our own id.

    Root writes any map itself, whatever --rootless says; so does anyone for an
    empty map."""
    euid = os.geteuid()
    if euid == 0 or not mappings:
        return False
    own = euid if key == "uidMappings" else os.getegid()
    return len(mappings) != 1 or int(mappings[0]["size"]) != 1 \
        or int(mappings[0]["hostID"]) != own


def _write_proc(pid: int, name: str, data: str) -> None:
    fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def write_time_offsets(offsets: dict) -> None:
    """Set the clocks of a time namespace unshared but not yet entered by a child."""
    clocks = {"monotonic": "monotonic", "boottime": "boottime"}
    lines = []
    for name, value in offsets.items():
        if name not in clocks:
            raise ConfigError(f"linux.timeOffsets: unknown clock {name!r}")
        lines.append(f"{clocks[name]} {int(value.get('secs', 0))} {int(value.get('nanosecs', 0))}")
    if not lines:  # a time namespace without offsets: an empty write is EINVAL
        return
    try:
        with open("/proc/self/timens_offsets", "w") as f:
            f.write("\n".join(lines) + "\n")
    except OSError as e:
        raise ConfigError(f"linux.timeOffsets: {e.strerror}") from None


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def _ifreq_flags(name: bytes, flags: int) -> bytes:
    """struct ifreq with ifr_flags: struct.pack("16sH22x", name, flags), 40 bytes,
    without importing struct (~0.3 ms of every create with a network namespace)."""
    return name.ljust(16, b"\0")[:16] + flags.to_bytes(2, sys.byteorder) + bytes(22)


def bring_up_loopback() -> None:
    """A new network namespace has ``lo`` down; runc brings it up, so do we."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # _socket's: no context manager
    try:
        reply = fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, _ifreq_flags(b"lo", 0))
        flags = int.from_bytes(reply[16:18], sys.byteorder)
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, _ifreq_flags(b"lo", flags | _IFF_UP))
    finally:
        s.close()

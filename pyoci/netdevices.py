"""``linux.netDevices``: move host interfaces into the container's network namespace.

config-linux.md "Network Devices": each entry ``"<host name>": {"name": "<name
inside>"}`` names an interface of the runtime's network namespace that MUST be
moved into the container's, renamed (``name`` may be a ``%d`` template),
keep its permanent global addresses (the kernel drops every address on a move,
so they are recorded first and re-added inside, as runc does) and be set up.

Two halves, for start-up time: :func:`check` runs right after the config is
loaded and touches nothing (ioctl look-ups, no pyroute2); :func:`move_devices`
runs in the parent at PREPIVOT and is the only place pyroute2 (~200-300 ms to
import) is loaded, so a config without ``netDevices`` never pays for it.

Rollback: a failed create must leave the host as it was, but the kernel
destroys virtual devices (a veth takes its host peer with it) and sends
physical ones to the *initial* namespace when a network namespace dies. So the
moved devices are put back explicitly: :class:`MovedDevices` holds the
container's namespace open (an fd) until create has either succeeded
(:meth:`MovedDevices.close`) or failed (:meth:`MovedDevices.restore`), because
by the time create rolls back the container's init has already been killed.
"""

from __future__ import annotations

import os
import socket

from pyoci import syscalls
from pyoci.config.validate import format_path
from pyoci.errors import ConfigError, PyociError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from typing import Any

_IFF_UP = 0x1
_IFA_F_PERMANENT = 0x80
_RT_SCOPE_UNIVERSE = 0


def requested(config: dict) -> dict[str, dict]:
    """The ``linux.netDevices`` map, empty when absent."""
    return (config.get("linux") or {}).get("netDevices") or {}


def _where(host_name: str) -> str:
    return format_path(["linux", "netDevices", host_name])


def _target(host_name: str, entry: dict) -> str:
    """config-linux.md: "If not specified, the host name is used"."""
    return entry.get("name") or host_name


def check(config: dict) -> None:
    """Fail before create touches anything: a private network namespace, unique
    target names and host interfaces that exist (the static name rules are in
    pyoci/config/semantic.py)."""
    devices = requested(config)
    if not devices:
        return
    _check_private_netns(config)
    owners: dict[str, str] = {}
    for host_name, entry in devices.items():
        target = _target(host_name, entry)
        if "%d" not in target and target in owners:
            raise ConfigError(f'{_where(host_name)}.name: "{target}" is also the name given '
                              f"to {_where(owners[target])}")
        owners[target] = host_name
        try:
            socket.if_nametoindex(host_name)
        except OSError:
            raise ConfigError(f"{_where(host_name)}: no such network interface on the host"
                              ) from None


def _check_private_netns(config: dict) -> None:
    """Devices can only move into a network namespace other than the runtime's own
    (runc's isHostNetNS: "host" means the runtime's current namespace)."""
    for i, ns in enumerate(config["linux"].get("namespaces") or []):
        if ns["type"] != "network":
            continue
        path = ns.get("path")
        if path and _same_file(path, "/proc/self/ns/net"):
            raise ConfigError(f"linux.netDevices: linux.namespaces[{i}].path is the runtime's "
                              "own network namespace: devices need the container's own")
        return
    raise ConfigError("linux.netDevices: requires a network namespace in linux.namespaces")


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False  # NamespacePlan reports an unusable path, naming its field
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


class _Device:
    """One entry, what it looked like on the host, and where it ended up."""

    def __init__(self, host_name: str, entry: dict) -> None:
        self.host_name = host_name
        self.target = _target(host_name, entry)
        self.where = _where(host_name)
        self.host_index = 0
        self.was_up = False
        self.addresses: list[dict[str, Any]] = []
        self.container_index = 0  # set once the device is in the container


class MovedDevices:
    """The devices create moved, and the means to put them back if create fails."""

    def __init__(self, host: Any, container: Any, container_ns: int, own_ns: int) -> None:
        self.host = host
        self.container = container
        self.container_ns = container_ns
        self.own_ns = own_ns
        self.devices: list[_Device] = []

    def restore(self) -> None:
        """Create failed: bring every device home under its host name, with its
        addresses and its former up state. Best effort, newest first."""
        try:
            while self.devices:
                device = self.devices.pop()
                try:
                    _restore_one(self, device)
                except Exception:  # noqa: BLE001, S112 - the others still go home
                    continue
        finally:
            self.close()

    def close(self) -> None:
        """Let go of the container's namespace (its lifetime is the container's again)."""
        self.devices.clear()
        for handle in (self.host, self.container):
            if handle is not None:
                handle.close()
        self.host = self.container = None
        for fd in (self.container_ns, self.own_ns):
            if fd >= 0:
                os.close(fd)
        self.container_ns = self.own_ns = -1


def move_devices(config: dict, init_pid: int) -> MovedDevices:
    """Move, rename, re-address and set up every ``linux.netDevices`` entry.

    Runs in pyoci's own namespaces while the container's init waits before
    pivot_root. On failure, devices already moved are put back before the error
    goes up; on success the caller must ``close()`` or ``restore()`` the result.
    """
    moved = _open(init_pid)
    try:
        for host_name, entry in requested(config).items():
            device = _Device(host_name, entry)
            _move_one(moved, device)
    except BaseException:
        moved.restore()
        raise
    return moved


def _open(init_pid: int) -> MovedDevices:
    """rtnetlink handles on both sides; the container's socket is created inside
    its namespace (setns there and back: the parent is single-threaded)."""
    from pyroute2 import IPRoute  # only here: see the module docstring

    own_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    container_ns = host = None
    try:
        container_ns = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        syscalls.setns(container_ns, syscalls.CLONE_NEWNET)
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
        finally:
            syscalls.setns(own_ns, syscalls.CLONE_NEWNET)
        host = IPRoute(groups=0)
        container = IPRoute(use_socket=sock, groups=0)
    except BaseException:
        if host is not None:
            host.close()
        for fd in (own_ns, container_ns):
            if fd is not None:
                os.close(fd)
        raise
    return MovedDevices(host, container, container_ns, own_ns)


def _move_one(moved: MovedDevices, device: _Device) -> None:
    """Record, check, move (renaming in the same request), re-address, set up."""
    host, container = moved.host, moved.container
    _record(host, device)
    _check_name_free(container, device)
    known = {link["index"] for link in container.get_links()}
    if device.was_up:
        _netlink(device, "setting it down", host.link, "set", index=device.host_index,
                 state="down")
    moved.devices.append(device)  # from here on restore() knows about it
    try:
        _netlink(device, "moving it into the container's network namespace", host.link, "set",
                 index=device.host_index, net_ns_fd=moved.container_ns, ifname=device.target)
    finally:
        # The kernel moves first and renames second: even a failed request may
        # have left the device inside, which restore() must then know.
        device.container_index = _arrived(container, known)
    if not device.container_index:
        raise PyociError(f"{device.where}: cannot find the moved interface in the container")
    _add_addresses(container, device.container_index, device)
    _netlink(device, "setting it up in the container", container.link, "set",
             index=device.container_index, state="up")


def _record(host: Any, device: _Device) -> None:
    """Index, up state and the addresses the spec says to keep: permanent, global
    scope, any family. Read before the link goes down (IPv6 drops addresses then)."""
    found = host.link_lookup(ifname=device.host_name)
    if not found:
        raise PyociError(f"{device.where}: no such network interface on the host")
    device.host_index = found[0]
    link = host.get_links(device.host_index)[0]
    device.was_up = bool(link["flags"] & _IFF_UP)
    device.addresses = [_address(msg) for msg in host.get_addr(index=device.host_index)
                        if _kept(msg)]


def _kept(msg: Any) -> bool:
    flags = msg.get_attr("IFA_FLAGS")
    flags = msg["flags"] if flags is None else flags
    return bool(flags & _IFA_F_PERMANENT) and msg["scope"] == _RT_SCOPE_UNIVERSE


def _address(msg: Any) -> dict[str, Any]:
    """The parts of an address that survive a rename (a label would not: it must
    start with the interface's name)."""
    local, address = msg.get_attr("IFA_LOCAL"), msg.get_attr("IFA_ADDRESS")
    spec: dict[str, Any] = {"family": msg["family"], "prefixlen": msg["prefixlen"],
                            "address": local or address}
    if local and address and local != address:
        spec["peer"] = address  # point-to-point: IFA_ADDRESS is the peer
    broadcast = msg.get_attr("IFA_BROADCAST")
    if broadcast:
        spec["broadcast"] = broadcast
    return spec


def _check_name_free(container: Any, device: _Device) -> None:
    """The kernel moves the device first and renames it second: a taken name
    would strand the device in the container under its host name, so look first
    (a ``%d`` template is the kernel's to resolve)."""
    if "%d" in device.target or not container.link_lookup(ifname=device.target):
        return
    field = f"{device.where}.name" if device.target != device.host_name else device.where
    raise PyociError(f'{field}: "{device.target}" already exists in the container')


def _arrived(container: Any, known: set[int]) -> int:
    """The device's index in the container, 0 if it is not there: the one link that
    was not there before (the kernel keeps the index only when it is free there)."""
    new = [link["index"] for link in container.get_links() if link["index"] not in known]
    return new[0] if len(new) == 1 else 0


def _add_addresses(handle: Any, index: int, device: _Device) -> None:
    for spec in device.addresses:
        _netlink(device, f"adding address {spec['address']}/{spec['prefixlen']}",
                 handle.addr, "add", index=index, **spec)


def _restore_one(moved: MovedDevices, device: _Device) -> None:
    """Undo _move_one for one device, whatever step it reached."""
    host, container = moved.host, moved.container
    index = device.host_index
    if device.container_index:
        container.link("set", index=device.container_index, state="down")
        container.link("set", index=device.container_index, net_ns_fd=moved.own_ns,
                       ifname=device.host_name)
        index = host.link_lookup(ifname=device.host_name)[0]
        _add_addresses(host, index, device)
    if device.was_up:
        host.link("set", index=index, state="up")



def _netlink(device: _Device, doing: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one rtnetlink request; a refusal becomes one line naming the entry."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        return fn(*args, **kwargs)
    except NetlinkError as e:
        raise PyociError(f"{device.where}: {doing}: {os.strerror(e.code)}") from None

"""Populate the container's /dev: default devices, linux.devices, links, console.

The spec requires null, zero, full, random, urandom, tty and ptmx in every
container, the /dev/fd and /dev/std* links when /proc provides their
targets, and every ``linux.devices`` entry. Creating a node needs
CAP_MKNOD in the initial user namespace, so in a user namespace each
character/block device is instead bind-mounted from the host's node of the
same path, as runc does. All paths go through paths.py, so a /dev symlinked
out of the rootfs cannot make us create nodes on the host.
"""

from __future__ import annotations

import errno
import os
import stat

from pyoci import syscalls as sc
from pyoci.errors import PyociError
from pyoci.record import Record
from pyoci.rootfs.paths import (
    create_file_in_root,
    fd_path,
    mkdir_all_in_root,
    open_in_root,
    split_parent,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from typing import Any

_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}

# (path, major, minor) of the devices every container gets (config-linux.md).
DEFAULT_DEVICES = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)

# runtime-linux.md's links, created only when their target exists.
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
)


class Device(Record):
    """A device node to provide; ``label`` names its config field in errors."""

    __slots__ = ("label", "path", "kind", "major", "minor", "mode", "uid", "gid")
    _defaults = (0, 0, 0o666, -1, -1)


def in_user_namespace() -> bool:
    """True unless our uid map is the initial namespace's identity map."""
    with open("/proc/self/uid_map") as f:
        return f.read().split() != ["0", "0", "4294967295"]


def needs_dev_setup(mounts: list[dict[str, Any]]) -> bool:
    """Like runc: populate /dev unless the config bind-mounts a /dev in."""
    for mount in mounts:
        if "/" + "/".join(p for p in mount.get("destination", "").split("/") if p) != "/dev":
            continue
        options = mount.get("options") or []
        if mount.get("type") == "bind" or "bind" in options or "rbind" in options:
            return False
    return True


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def device_from_config(index: int, entry: dict[str, Any]) -> Device:
    """Validate one ``linux.devices`` entry into a :class:`Device`."""
    label = "linux.devices[" + str(index) + "]"
    kind = _KINDS.get(entry.get("type"))  # type: ignore[arg-type]
    if kind is None:
        raise PyociError(label + '.type: unknown device type "' + str(entry.get("type")) + '"')
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise PyociError(label + ".path: expected a path")
    if kind != stat.S_IFIFO and ("major" not in entry or "minor" not in entry):
        raise PyociError(label + ": major and minor are required for type "
                         + str(entry.get("type")))
    mode = entry.get("fileMode")
    return Device(label + " (" + path + ")", path, kind, int(entry.get("major", 0)),
                  int(entry.get("minor", 0)),
                  _default_mode() if mode is None else int(mode) & 0o7777,
                  int(entry.get("uid", -1)), int(entry.get("gid", -1)))


def _matches(st: os.stat_result, dev: Device, bind: bool) -> bool:
    if bind and stat.S_ISREG(st.st_mode):
        return True  # an earlier bind target (or one we bind over)
    if stat.S_IFMT(st.st_mode) != dev.kind:
        return False
    return dev.kind == stat.S_IFIFO or st.st_rdev == os.makedev(dev.major, dev.minor)


def _existing(parent_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def create_device(root_fd: int, dev: Device, *, in_userns: bool) -> None:
    """mknod ``dev`` inside the root, or bind the host's node when we may not."""
    bind = in_userns and dev.kind != stat.S_IFIFO
    parent, name = split_parent(dev.path)
    try:
        parent_fd = mkdir_all_in_root(root_fd, parent)
    except OSError as err:
        raise PyociError(dev.label + ": create parent: " + os.strerror(err.errno)) from None
    try:
        st = _existing(parent_fd, name)
        if st is not None:
            if not _matches(st, dev, bind):
                raise PyociError(dev.label + ": path exists and is not the requested device")
            if not bind:
                return
        if not bind:
            bind = not _mknod(parent_fd, name, dev)
        if bind:
            _bind_host_node(root_fd, dev)
    finally:
        os.close(parent_fd)


def _mknod(parent_fd: int, name: str, dev: Device) -> bool:
    """Create the node with its exact mode and owner; False if mknod is not allowed."""
    try:
        os.mknod(name, dev.kind | dev.mode, os.makedev(dev.major, dev.minor),
                 dir_fd=parent_fd)
    except PermissionError:
        if dev.kind == stat.S_IFIFO:
            raise PyociError(dev.label + ": mknod: " + os.strerror(errno.EPERM)) from None
        return False
    except OSError as err:
        raise PyociError(dev.label + ": mknod: " + os.strerror(err.errno)) from None
    try:
        os.chmod(name, dev.mode, dir_fd=parent_fd, follow_symlinks=True)
        if dev.uid != -1 or dev.gid != -1:
            os.chown(name, dev.uid, dev.gid, dir_fd=parent_fd, follow_symlinks=False)
    except OSError as err:
        raise PyociError(dev.label + ": set owner/mode: " + os.strerror(err.errno)) from None
    return True


def _is_node(path: str, dev: Device) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_IFMT(st.st_mode) == dev.kind and st.st_rdev == os.makedev(dev.major,
                                                                            dev.minor)


def host_node(dev: Device) -> str | None:
    """The host's node for ``dev``: at the same path (runc's rule) or, failing that,
    any node in /dev with the same type and major:minor. Never a node that merely
    shares the name: binding the wrong device into a container would be worse than
    failing."""
    if _is_node(dev.path, dev):
        return dev.path
    for directory in ("/dev", "/dev/char", "/dev/block"):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            candidate = directory + "/" + name
            if _is_node(candidate, dev):
                return candidate
    return None


def _bind_host_node(root_fd: int, dev: Device) -> None:
    """In a user namespace mknod is refused: bind the host's node instead. Its mode
    and owner stay the host's: changing them would change the host's device."""
    source = host_node(dev)
    if source is None:
        raise PyociError(dev.label + ": no host device " + str(dev.major) + ":"
                         + str(dev.minor) + " to bind: " + os.strerror(errno.ENOENT))
    try:
        fd = create_file_in_root(root_fd, dev.path, 0o000)
    except OSError as err:
        raise PyociError(dev.label + ": create bind target: " + os.strerror(err.errno)) from None
    try:
        sc.mount(source, fd_path(fd), None, sc.MS_BIND)
    except OSError as err:
        raise PyociError(dev.label + ": bind host device: " + os.strerror(err.errno)) from None
    finally:
        os.close(fd)


def create_default_devices(root_fd: int, *, in_userns: bool) -> None:
    """The six default character devices, 0666 root:root as runc makes them."""
    for path, major, minor in DEFAULT_DEVICES:
        dev = Device("default device " + path, path, stat.S_IFCHR, major, minor, 0o666, 0, 0)
        create_device(root_fd, dev, in_userns=in_userns)


def create_config_devices(root_fd: int, devices: list[dict[str, Any]], *,
                          in_userns: bool) -> None:
    """Every ``linux.devices`` entry, validated before anything is created."""
    parsed = [device_from_config(i, entry) for i, entry in enumerate(devices)]
    for dev in parsed:
        create_device(root_fd, dev, in_userns=in_userns)


def _exists_in_root(root_fd: int, path: str) -> bool:
    try:
        os.close(open_in_root(root_fd, path))
    except OSError:
        return False
    return True


def _replace_symlink(dev_fd: int, target: str, name: str) -> None:
    try:
        os.symlink(target, name, dir_fd=dev_fd)
    except FileExistsError:
        pass


def create_dev_links(root_fd: int) -> None:
    """/dev/ptmx -> pts/ptmx, /dev/fd and std* links, /dev/core when kcore exists."""
    try:
        dev_fd = mkdir_all_in_root(root_fd, "/dev")
    except OSError as err:
        raise PyociError("/dev: " + os.strerror(err.errno)) from None
    try:
        _setup_ptmx(dev_fd)
        if _exists_in_root(root_fd, "/proc/self/fd"):
            for target, name in DEV_SYMLINKS:
                _replace_symlink(dev_fd, target, name)
        if _exists_in_root(root_fd, "/proc/kcore"):
            _replace_symlink(dev_fd, "/proc/kcore", "core")
    finally:
        os.close(dev_fd)


def _setup_ptmx(dev_fd: int) -> None:
    """The container's ptmx must be its own devpts instance's, not the host's node."""
    try:
        os.unlink("ptmx", dir_fd=dev_fd)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise PyociError("/dev/ptmx: remove: " + os.strerror(err.errno)) from None
    try:
        os.symlink("pts/ptmx", "ptmx", dir_fd=dev_fd)
    except OSError as err:
        raise PyociError("/dev/ptmx: symlink: " + os.strerror(err.errno)) from None


def console_target(root_fd: int) -> int:
    """O_PATH fd of /dev/console as a plain file or node, never through a symlink.

    A /dev/console that is a symlink (from the image, or swapped in during
    setup) would carry the pty's bind mount to wherever it points, e.g. over
    a /proc file before the masks go on (CVE-2025-52565): a symlink is
    replaced by an empty file, and the bind goes through the fd.
    """
    dev_fd = mkdir_all_in_root(root_fd, "/dev")
    try:
        st = _existing(dev_fd, "console")
        if st is not None and stat.S_ISLNK(st.st_mode):
            os.unlink("console", dir_fd=dev_fd)
            st = None
        if st is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open("console", flags, 0o600, dir_fd=dev_fd))
        fd = sc.openat2(dev_fd, "console", os.O_PATH, 0,
                        sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_XDEV)
    finally:
        os.close(dev_fd)
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
    return fd


def bind_console(root_fd: int, console_path: str) -> None:
    """Bind the pty slave onto /dev/console, the spec's way to give it a console."""
    try:
        fd = console_target(root_fd)
    except OSError as err:
        raise PyociError("process.terminal: /dev/console: " + os.strerror(err.errno)) from None
    try:
        sc.mount(console_path, fd_path(fd), None, sc.MS_BIND)
    except OSError as err:
        raise PyociError('process.terminal: bind "' + console_path + '" onto /dev/console: '
                         + os.strerror(err.errno)) from None
    finally:
        os.close(fd)

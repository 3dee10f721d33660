"""Turn the bundle's rootfs into the container's ``/``.

The container init (already in its new mount namespace) calls
:func:`prepare_rootfs` once, then :func:`apply_sysctl`. Every module this
package needs is imported here at top level on purpose: after pivot_root the
host's standard library is out of reach, so no import may fire later, not
even while formatting an error.
"""

from __future__ import annotations

import errno
import os

from pyoci import faults
from pyoci import syscalls as sc
from pyoci.errors import ConfigError, PyociError
from pyoci.rootfs import mountinfo
from pyoci.rootfs.dev import (
    bind_console,
    create_config_devices,
    create_default_devices,
    create_dev_links,
    in_user_namespace,
    needs_dev_setup,
)
from pyoci.rootfs.masking import apply_masks
from pyoci.rootfs.mounts import apply_mounts, mount_flags_of
from pyoci.rootfs.options import PROPAGATION
from pyoci.rootfs.paths import mkdir_all_in_root
from pyoci.rootfs.pivot import move_into, pivot_into
from pyoci.security import selinux

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from collections.abc import Callable
    from typing import Any

__all__ = ["prepare_rootfs", "apply_sysctl", "root_propagation"]

_DEFAULT_PROPAGATION = sc.MS_SLAVE | sc.MS_REC


def root_propagation(value: str | None) -> int:
    """mount(2) flags for ``linux.rootfsPropagation`` (0 when unset)."""
    if not value:
        return 0
    if value not in PROPAGATION:
        raise ConfigError('linux.rootfsPropagation: unknown propagation "' + str(value) + '"')
    return PROPAGATION[value]


def _rootfs_path(config: dict[str, Any], bundle: str) -> str:
    path = (config.get("root") or {}).get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError("root.path: missing")
    full = os.path.realpath(os.path.join(bundle, path))
    if not os.path.isdir(full):
        raise ConfigError('root.path: "' + full + '": not a directory')
    return full


def _mount_step(field: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except OSError as err:
        raise PyociError(field + ": " + os.strerror(err.errno)) from None


def _make_parent_private(rootfs: str) -> None:
    """pivot_root refuses a new root whose parent mount is shared (EINVAL), as runc notes."""
    parent = mountinfo.mount_containing(mountinfo.read(), rootfs)
    if parent is not None and parent.shared:
        sc.mount(None, parent.mount_point, None, sc.MS_PRIVATE)


def _before_pivot_propagation(flags: int) -> int:
    """What to set on the host-side ``/`` before pivot.

    A shared ``/`` would make pivot_root fail and would share the container's
    mounts with the host, and an unbindable one refuses the rootfs bind, so
    those are only applied after pivot, where "shared" gives the rootfs its
    own peer group (the spec's meaning).
    """
    if not flags or flags & (sc.MS_SHARED | sc.MS_UNBINDABLE):
        return _DEFAULT_PROPAGATION
    # Recursive, unlike runc's "slave": otherwise a shared mount holding the
    # rootfs stays shared, gets made private for pivot_root, and the container's
    # "/" loses its master: it would not receive the host's mount events that
    # config-linux.md promises for "slave".
    return flags | sc.MS_REC


def _populate(root_fd: int, config: dict[str, Any], bundle: str, userns_fd: int | None,
              console_path: str | None) -> None:
    """Everything done while the rootfs is still a subdirectory: mounts, /dev, console."""
    linux = config.get("linux") or {}
    # linux.mountLabel: a context= option on the mounts that take one (runc's rules).
    mounts = selinux.label_mounts(config.get("mounts") or [], linux.get("mountLabel"))
    namespaces = linux.get("namespaces") or []
    cgroupns = any(ns.get("type") == "cgroup" for ns in namespaces)
    apply_mounts(root_fd, mounts, bundle, userns_fd=userns_fd, cgroupns=cgroupns)
    if needs_dev_setup(mounts):
        in_userns = in_user_namespace()
        create_default_devices(root_fd, in_userns=in_userns)
        create_config_devices(root_fd, linux.get("devices") or [], in_userns=in_userns)
        faults.maybe_fail("linux.devices")
        create_dev_links(root_fd)
    if console_path:
        bind_console(root_fd, console_path)
    cwd = (config.get("process") or {}).get("cwd")
    if isinstance(cwd, str) and cwd.strip("/"):
        # A missing cwd is created (0755, as root, before root.readonly) like runc does.
        _mount_step("process.cwd", lambda: os.close(mkdir_all_in_root(root_fd, cwd)))


def _remount_root_readonly() -> None:
    flags = mount_flags_of("/") | sc.MS_RDONLY | sc.MS_BIND | sc.MS_REMOUNT
    _mount_step("root.readonly", sc.mount, None, "/", None, flags)


def prepare_rootfs(config: dict[str, Any], bundle: str, *, no_pivot: bool = False,
                   userns_fd: int | None = None, console_path: str | None = None,
                   before_pivot: Callable[[], None] | None = None) -> None:
    """Build the container's filesystem view and make it ``/`` (runc's order).

    ``userns_fd`` is the container's user namespace (for idmap mounts without
    their own mappings); ``console_path`` a pty slave to bind on /dev/console.
    ``before_pivot`` runs once every mount is in place but the root is still
    the host's: the moment the spec gives prestart, createRuntime and
    createContainer hooks.
    """
    linux = config.get("linux") or {}
    propagation = root_propagation(linux.get("rootfsPropagation"))
    rootfs = _rootfs_path(config, bundle)
    _mount_step("linux.rootfsPropagation", sc.mount, None, "/", None,
                _before_pivot_propagation(propagation))
    _mount_step("root.path: make parent mount private", _make_parent_private, rootfs)
    _mount_step("root.path: bind rootfs", sc.mount, rootfs, rootfs, None,
                sc.MS_BIND | sc.MS_REC)
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _populate(root_fd, config, bundle, userns_fd, console_path)
    finally:
        os.close(root_fd)
    if before_pivot is not None:
        before_pivot()
    (move_into if no_pivot else pivot_into)(rootfs)
    # Before readonlyPaths, which usually makes /proc/sys read-only (runc's order).
    apply_sysctl(linux.get("sysctl") or {})
    faults.maybe_fail("linux.sysctl")
    new_root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        apply_masks(new_root, linux.get("maskedPaths") or [], linux.get("readonlyPaths") or [])
    finally:
        os.close(new_root)
    if (config.get("root") or {}).get("readonly"):
        _remount_root_readonly()
    if propagation:
        # Last: masks and readonlyPaths bind paths onto themselves, which a
        # recursively unbindable tree refuses and a recursively shared /proc
        # makes fail (EINVAL); podman writes the recursive forms runc accepts.
        _mount_step("linux.rootfsPropagation", sc.mount, None, "/", None, propagation)


def sysctl_path(key: str) -> str:
    """/proc/sys path of a sysctl key; keys that could walk elsewhere are refused."""
    if not key or "/" in key or ".." in key or key.startswith("."):
        raise ConfigError('linux.sysctl: "' + key + '": invalid key')
    return "/proc/sys/" + key.replace(".", "/")


_SYSCTL_RESOLVE = sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS


def _open_procfs() -> tuple[int, int]:
    """A procfs of the container's namespaces to write sysctls through, and the
    resolve flags to use under it (CVE-2025-52881 class).

    A rootfs or a mount may put a symlink, another filesystem or a bind of
    another /proc file where a /proc/sys entry should be, redirecting the
    write. A fresh detached procfs instance has no such mounts, so nothing
    may be crossed under it. Where one may not be made (no pid namespace of
    our own in a user namespace), the container's /proc is used, checked to
    be a procfs root, with no symlink followed and each file checked to be
    on procfs.
    """
    try:
        return sc.fresh_mount("proc"), _SYSCTL_RESOLVE | sc.RESOLVE_NO_XDEV
    except OSError:
        pass
    try:
        fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise PyociError("linux.sysctl: /proc: " + os.strerror(err.errno)) from None
    if sc.fstatfs_type(fd) != sc.PROC_SUPER_MAGIC or os.fstat(fd).st_ino != 1:
        os.close(fd)
        raise PyociError("linux.sysctl: /proc is not a procfs mount: refusing to write")
    return fd, _SYSCTL_RESOLVE


def _open_sysctl(proc_fd: int, path: str, flags: int, resolve: int) -> int:
    fd = sc.openat2(proc_fd, path, flags, 0, resolve)
    if sc.fstatfs_type(fd) != sc.PROC_SUPER_MAGIC:
        os.close(fd)
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
    return fd


def _current_value(proc_fd: int, path: str, resolve: int) -> list[str] | None:
    try:
        fd = _open_sysctl(proc_fd, path, os.O_RDONLY, resolve)
    except OSError:
        return None
    try:
        return os.read(fd, 65536).decode(errors="replace").split()
    except OSError:
        return None
    finally:
        os.close(fd)


def _write_value(proc_fd: int, path: str, value: str, resolve: int) -> None:
    fd = _open_sysctl(proc_fd, path, os.O_WRONLY | os.O_TRUNC, resolve)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def apply_sysctl(sysctl: dict[str, str]) -> None:
    """Write each ``linux.sysctl`` entry into the container's own /proc/sys.

    prepare_rootfs already calls this before readonlyPaths turns /proc/sys
    read-only; a value already in place is not rewritten, so a second call
    after prepare_rootfs is a harmless no-op.
    """
    paths = [(key, sysctl_path(key), str(value)) for key, value in sysctl.items()]
    if not paths:
        return
    proc_fd, resolve = _open_procfs()
    try:
        for key, path, value in paths:
            relative = path.removeprefix("/proc/")
            if _current_value(proc_fd, relative, resolve) == value.split():
                continue
            try:
                _write_value(proc_fd, relative, value, resolve)
            except OSError as err:
                raise PyociError('linux.sysctl: "' + key + '": ' + _sysctl_error(err)) from None
    finally:
        os.close(proc_fd)


def _sysctl_error(err: OSError) -> str:
    if err.errno in (errno.EXDEV, errno.ELOOP):
        return "not in the container's procfs (a mount or symlink is in the way)"
    return os.strerror(err.errno)

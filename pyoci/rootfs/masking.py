"""maskedPaths and readonlyPaths, applied after pivot_root.

Both lists name paths as the container sees them, so they are resolved from
the new ``/`` with RESOLVE_IN_ROOT and mounted through the fd; a path the
image does not have is skipped (runc and the conformance tests expect that).
"""

from __future__ import annotations

import os
import stat

from pyoci import syscalls as sc
from pyoci.errors import PyociError
from pyoci.rootfs.mounts import mount_flags_of
from pyoci.rootfs.paths import fd_path, open_in_root

# Flags a read-only remount keeps from the mount it covers (else EPERM in a userns).
_KEEP = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | sc.MS_NODIRATIME \
    | sc.MS_RELATIME


def _open_optional(root_fd: int, label: str, path: str) -> int | None:
    """O_PATH fd of ``path`` in the root, or None when the image lacks it."""
    try:
        return open_in_root(root_fd, path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise PyociError(label + ": " + os.strerror(err.errno)) from None


def _label(field: str, index: int, path: str) -> str:
    return "linux." + field + "[" + str(index) + '] ("' + path + '")'


def open_dev_null(root_fd: int) -> int:
    """O_PATH fd of the container's /dev/null, checked to be the null device.

    Masking binds it over files; bound by name, a /dev/null swapped for a
    symlink (say to /proc/sys/kernel/core_pattern) before or during setup
    would put a writable host knob where a mask should be (CVE-2025-31133).
    So: no symlink anywhere on the way, a character device 1:3, bound through
    the fd.
    """
    try:
        fd = sc.openat2(root_fd, "dev/null", os.O_PATH, 0,
                        sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS)
    except OSError as err:
        raise PyociError("linux.maskedPaths: /dev/null: " + os.strerror(err.errno)) from None
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise PyociError("linux.maskedPaths: /dev/null is not the null device (1:3)")
    return fd


def mask_path(root_fd: int, index: int, path: str) -> None:
    """Hide ``path``: /dev/null over a file, an empty read-only tmpfs over a directory."""
    label = _label("maskedPaths", index, path)
    fd = _open_optional(root_fd, label, path)
    if fd is None:
        return
    try:
        target = fd_path(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY, None)
        else:
            null = open_dev_null(root_fd)  # each time: the check is the point
            try:
                sc.mount(fd_path(null), target, None, sc.MS_BIND)
            finally:
                os.close(null)
    except OSError as err:
        raise PyociError(label + ": " + os.strerror(err.errno)) from None
    finally:
        os.close(fd)


def readonly_path(root_fd: int, index: int, path: str) -> None:
    """Bind ``path`` onto itself, then remount it read-only keeping its other flags."""
    label = _label("readonlyPaths", index, path)
    fd = _open_optional(root_fd, label, path)
    if fd is None:
        return
    try:
        sc.mount(fd_path(fd), fd_path(fd), None, sc.MS_BIND | sc.MS_REC)
        top = open_in_root(root_fd, path)
        try:
            keep = mount_flags_of(fd_path(top)) & _KEEP
            sc.mount(None, fd_path(top), None,
                     sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep)
        finally:
            os.close(top)
    except OSError as err:
        raise PyociError(label + ": " + os.strerror(err.errno)) from None
    finally:
        os.close(fd)


def apply_masks(root_fd: int, masked: list[str], readonly: list[str]) -> None:
    """readonlyPaths first, then maskedPaths, in runc's order."""
    for index, path in enumerate(readonly):
        readonly_path(root_fd, index, path)
    for index, path in enumerate(masked):
        mask_path(root_fd, index, path)

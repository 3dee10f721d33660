"""Make the prepared rootfs the container's ``/``.

pivot_root is preferred because it takes the host's mounts out of the
container's mount namespace entirely; ``--no-pivot`` (for ramdisk roots,
where pivot_root is EINVAL) moves the rootfs over ``/`` and chroots, which
leaves the old root reachable to a process that can escape a chroot.
"""

from __future__ import annotations

import os

from pyoci import syscalls as sc
from pyoci.errors import PyociError


def pivot_into(rootfs: str) -> None:
    """runc's trick: pivot_root(".", ".") stacks the old root on the new one, then detach it."""
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.chdir(rootfs)
        sc.pivot_root(".", ".")
        os.fchdir(old_root)
        # The old root may be shared with the host: make its unmount local.
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    except OSError as err:
        raise PyociError("root.path: pivot_root: " + os.strerror(err.errno)) from None
    finally:
        os.close(old_root)
    os.chdir("/")


def move_into(rootfs: str) -> None:
    """--no-pivot: MS_MOVE the rootfs over ``/`` and chroot into it."""
    try:
        os.chdir(rootfs)
        sc.mount(rootfs, "/", None, sc.MS_MOVE)
        os.chroot(".")
    except OSError as err:
        raise PyociError("root.path: move rootfs to /: " + os.strerror(err.errno)) from None
    os.chdir("/")

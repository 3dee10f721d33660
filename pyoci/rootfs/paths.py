"""Resolve, open and create paths inside the rootfs without escaping it.

A rootfs comes from an image and is untrusted: ``/etc`` may be a symlink to
``/`` and a destination may be ``../../..``. Resolving such a path with the
host's view would place a mount on the host. Every lookup here goes through
openat2(RESOLVE_IN_ROOT), so ``..`` and absolute symlinks stop at the rootfs,
and callers then mount onto the resulting O_PATH fd through ``/proc/self/fd/N``
instead of re-resolving a string.
"""

from __future__ import annotations

import errno
import os

from pyoci import syscalls as sc

RESOLVE = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY


def fd_path(fd: int) -> str:
    """The magic-link path that makes mount(2) act on exactly what ``fd`` is."""
    return "/proc/self/fd/" + str(fd)


def components(path: str) -> list[str]:
    """Split a container path into its components (empty ones dropped)."""
    return [part for part in path.split("/") if part and part != "."]


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH) -> int:
    """Open ``path`` as seen from ``root_fd`` being ``/`` (relative paths too)."""
    relative = "/".join(components(path)) or "."
    return sc.openat2(root_fd, relative, flags | os.O_CLOEXEC, 0, RESOLVE)


def _mkdir_at(parent_fd: int, name: str, mode: int) -> None:
    """mkdirat that tolerates a racing creator but not a non-directory."""
    try:
        os.mkdir(name, mode, dir_fd=parent_fd)
    except FileExistsError:
        pass


def mkdir_all_in_root(root_fd: int, path: str, mode: int = 0o755) -> int:
    """Create every missing directory of ``path`` inside the root; return an O_PATH fd.

    Each prefix is resolved from the root (so a symlink met on the way is
    followed the way the container will see it) and only the last missing
    name is created with mkdirat on its already-resolved parent fd.
    """
    parts = components(path)
    fd = os.dup(root_fd)
    try:
        for i, name in enumerate(parts):
            nxt = _open_or_mkdir(root_fd, fd, "/".join(parts[: i + 1]), name, mode)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_or_mkdir(root_fd: int, parent_fd: int, prefix: str, name: str, mode: int) -> int:
    try:
        return open_in_root(root_fd, prefix, _O_PATH_DIR)
    except FileNotFoundError:
        if name == "..":
            raise
    _mkdir_at(parent_fd, name, mode)
    return open_in_root(root_fd, prefix, _O_PATH_DIR)


def split_parent(path: str) -> tuple[str, str]:
    """(parent path, last name) of a container path; the root has no name."""
    parts = components(path)
    if not parts:
        return "/", ""
    return "/" + "/".join(parts[:-1]), parts[-1]


def create_file_in_root(root_fd: int, path: str, mode: int = 0o644) -> int:
    """Make sure ``path`` exists inside the root (creating an empty file); O_PATH fd.

    An existing entry of any type is kept (a bind of a file onto it will fail
    later with the kernel's own error if it is a directory).
    """
    try:
        return open_in_root(root_fd, path)
    except FileNotFoundError:
        pass
    parent, name = split_parent(path)
    if name in ("", ".."):
        raise OSError(errno.EISDIR, "create " + path + ": " + os.strerror(errno.EISDIR))
    parent_fd = mkdir_all_in_root(root_fd, parent)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        os.close(os.open(name, flags, mode, dir_fd=parent_fd))
    finally:
        os.close(parent_fd)
    return open_in_root(root_fd, path)

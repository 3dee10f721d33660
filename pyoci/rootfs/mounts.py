"""Apply the config's ``mounts`` in order, inside the rootfs.

Each destination is created and opened with paths.py (so symlinks in the
image cannot redirect a mount to the host) and every mount(2) targets the
resulting fd through /proc/self/fd/N. After a mount lands, the destination is
re-opened so that remounts, propagation and recursive attributes act on the
new mount rather than on the directory it covers.
"""

from __future__ import annotations

import os
import stat

from pyoci import faults
from pyoci import syscalls as sc
from pyoci.errors import PyociError
from pyoci.rootfs import mountinfo
from pyoci.rootfs.options import MountOptions, parse_options
from pyoci.rootfs.paths import (
    create_file_in_root,
    fd_path,
    mkdir_all_in_root,
    open_in_root,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from collections.abc import Callable  # collections: ~1.5 ms of start-up
    from typing import Any

CGROUP_ROOT = "/sys/fs/cgroup"
_CGROUP_FLAGS = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC

# statvfs f_flag bit -> the mount(2) flag it reports (most are equal).
_ST_TO_MS = {
    1: sc.MS_RDONLY, 2: sc.MS_NOSUID, 4: sc.MS_NODEV, 8: sc.MS_NOEXEC,
    16: sc.MS_SYNCHRONOUS, 64: sc.MS_MANDLOCK, 1024: sc.MS_NOATIME,
    2048: sc.MS_NODIRATIME, 4096: sc.MS_RELATIME, 8192: sc.MS_NOSYMFOLLOW,
}
# Flags a bind remount can change; anything else in options is irrelevant to it.
_PER_MOUNT = (sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME
              | sc.MS_NODIRATIME | sc.MS_RELATIME | sc.MS_STRICTATIME | sc.MS_NOSYMFOLLOW)


def _fail(label: str, what: str, err: OSError) -> PyociError:
    reason = os.strerror(err.errno) if err.errno else str(err)
    return PyociError(label + ": " + what + ": " + reason)


def _do(label: str, what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one kernel step; turn its OSError into a one-line error naming the mount."""
    try:
        return fn(*args)
    except OSError as err:
        raise _fail(label, what, err) from None


def mount_flags_of(path: str) -> int:
    """The per-mount flags currently on ``path``, as mount(2) flags."""
    st_flags = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS.items() if st_flags & st)


def bind_remount(target: str, flags: int, cleared: int = 0) -> None:
    """Remount a bind mount with ``flags``, keeping flags the kernel locks.

    In a user namespace, nosuid/nodev/noexec/ro/atime inherited from a more
    privileged mount are locked and dropping them is EPERM; like runc, retry
    with the mount's current flags added (minus those the user cleared).
    """
    want = (flags & _PER_MOUNT) | sc.MS_BIND | sc.MS_REMOUNT
    try:
        sc.mount(None, target, None, want)
    except PermissionError:
        current = mount_flags_of(target) & ~cleared
        sc.mount(None, target, None, want | current)


def _is_bind(mount: dict[str, Any], opts: MountOptions) -> bool:
    return opts.is_bind or mount.get("type") == "bind"


def _bind_source(label: str, mount: dict[str, Any], bundle: str) -> str:
    source = mount.get("source") or ""
    if not source:
        raise PyociError(label + ": bind mount needs a source")
    if not os.path.isabs(source):
        source = os.path.join(bundle, source)
    try:
        os.stat(source)
    except OSError as err:
        raise _fail(label, 'mount source "' + source + '"', err) from None
    return source


def _create_destination(label: str, root_fd: int, dest: str, is_file: bool) -> int:
    if is_file:
        return _do(label, "create mount point", create_file_in_root, root_fd, dest)
    return _do(label, "create mount point", mkdir_all_in_root, root_fd, dest)


def apply_mounts(root_fd: int, mounts: list[dict[str, Any]], bundle: str, *,
                 userns_fd: int | None = None, cgroupns: bool = False) -> None:
    """Mount every entry of ``mounts`` in order (the spec requires the order)."""
    for index, mount in enumerate(mounts):
        apply_mount(root_fd, index, mount, bundle, userns_fd=userns_fd, cgroupns=cgroupns)


def apply_mount(root_fd: int, index: int, mount: dict[str, Any], bundle: str, *,
                userns_fd: int | None = None, cgroupns: bool = False) -> None:
    """Mount one entry; errors name ``mounts[index] (destination)``."""
    faults.maybe_fail("mounts", index)
    dest = mount.get("destination", "")
    label = "mounts[" + str(index) + "] (" + dest + ")"
    opts = parse_options(mount.get("options"))
    if mount.get("type") == "cgroup" and not _is_bind(mount, opts):
        _mount_cgroup(root_fd, label, dest, opts, cgroupns)
        return
    if _is_bind(mount, opts):
        source = _bind_source(label, mount, bundle)
        dest_fd = _create_destination(label, root_fd, dest, not os.path.isdir(source))
        try:
            _bind(label, source, dest_fd, opts, mount, userns_fd)
        finally:
            os.close(dest_fd)
    else:
        dest_fd = _create_destination(label, root_fd, dest, False)
        try:
            _mount_fs(label, mount, dest_fd, opts)
            if opts.tmpcopyup:
                _do(label, "tmpcopyup", _copy_up, root_fd, dest, dest_fd)
        finally:
            os.close(dest_fd)
    _finish(label, root_fd, dest, opts, _is_bind(mount, opts))


def _bind(label: str, source: str, dest_fd: int, opts: MountOptions, mount: dict[str, Any],
          userns_fd: int | None) -> None:
    if opts.idmap or opts.ridmap:
        _idmapped_bind(label, source, dest_fd, opts, mount, userns_fd)
        return
    flags = sc.MS_BIND | (sc.MS_REC if opts.is_recursive_bind else 0)
    _do(label, "bind mount", sc.mount, source, fd_path(dest_fd), None, flags)


def _mount_fs(label: str, mount: dict[str, Any], dest_fd: int, opts: MountOptions) -> None:
    if opts.idmap or opts.ridmap:
        raise PyociError(label + ": idmap is only supported on bind mounts")
    fstype = mount.get("type") or None
    source = mount.get("source") or fstype or "none"
    flags = opts.flags & ~(sc.MS_BIND | sc.MS_REC)
    _do(label, "mount " + str(fstype), sc.mount, source, fd_path(dest_fd), fstype, flags,
        opts.data or None)


def _copy_up(root_fd: int, dest: str, old_fd: int) -> None:
    """tmpcopyup: copy what the new tmpfs hides into it (``old_fd`` still sees that)."""
    import shutil  # only tmpcopyup needs it, and this runs before pivot_root

    new_fd = open_in_root(root_fd, dest)
    try:
        st = os.fstat(old_fd)
        shutil.copytree(fd_path(old_fd), fd_path(new_fd), symlinks=True, dirs_exist_ok=True)
        os.chmod(fd_path(new_fd), stat.S_IMODE(st.st_mode))
        os.chown(fd_path(new_fd), st.st_uid, st.st_gid)
    finally:
        os.close(new_fd)


def _finish(label: str, root_fd: int, dest: str, opts: MountOptions, is_bind: bool) -> None:
    """Remount, propagation and recursive attributes on the mount just made."""
    top = _do(label, "reopen mount point", open_in_root, root_fd, dest)
    try:
        target = fd_path(top)
        if is_bind and opts.flags & _PER_MOUNT:
            _do(label, "remount bind", bind_remount, target, opts.flags, opts.clear)
        for prop in opts.propagation:
            _do(label, "set propagation", sc.mount, None, target, None, prop)
        if opts.has_rec_attrs:
            _do(label, "mount_setattr", sc.mount_setattr, top, "",
                sc.AT_EMPTY_PATH | sc.AT_RECURSIVE, opts.attr_set, opts.attr_clr)
    finally:
        os.close(top)


# --- idmapped bind mounts -------------------------------------------------


def _idmapped_bind(label: str, source: str, dest_fd: int, opts: MountOptions,
                   mount: dict[str, Any], userns_fd: int | None) -> None:
    """open_tree(CLONE) + mount_setattr(IDMAP) + move_mount, as mount_setattr(2) shows."""
    own_fd = _mapping_userns(label, mount)
    ns_fd = own_fd if own_fd is not None else userns_fd
    if ns_fd is None:
        raise PyociError(label + ": idmap needs uidMappings/gidMappings or a user namespace")
    try:
        clone = sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC
        if opts.is_recursive_bind:
            clone |= sc.AT_RECURSIVE
        tree = _do(label, "open_tree", sc.open_tree, sc.AT_FDCWD, source, clone)
        try:
            flags = sc.AT_EMPTY_PATH | (sc.AT_RECURSIVE if opts.ridmap else 0)
            _do(label, "idmap", sc.mount_setattr, tree, "", flags, sc.MOUNT_ATTR_IDMAP, 0, 0,
                ns_fd)
            _do(label, "move_mount", sc.move_mount, tree, "", dest_fd, "",
                sc.MOVE_MOUNT_F_EMPTY_PATH | sc.MOVE_MOUNT_T_EMPTY_PATH)
        finally:
            os.close(tree)
    finally:
        if own_fd is not None:
            os.close(own_fd)


def _map_text(label: str, mappings: list[dict[str, Any]]) -> str:
    lines = []
    for m in mappings:
        try:
            lines.append(f"{int(m['containerID'])} {int(m['hostID'])} {int(m['size'])}")
        except (KeyError, TypeError, ValueError):
            raise PyociError(label + ": bad uidMappings/gidMappings entry") from None
    return "\n".join(lines) + "\n"


def _mapping_userns(label: str, mount: dict[str, Any]) -> int | None:
    """A user namespace fd carrying the mount's own mappings, or None if it has none."""
    uids, gids = mount.get("uidMappings"), mount.get("gidMappings")
    if not uids and not gids:
        return None
    if not uids or not gids:
        raise PyociError(label + ": idmap needs both uidMappings and gidMappings")
    return _do(label, "create idmap user namespace", userns_with_maps,
               _map_text(label, uids), _map_text(label, gids))


def userns_with_maps(uid_map: str, gid_map: str) -> int:
    """Fork a child into a new user namespace, map it, and keep an fd to that namespace.

    The child only exists to own the namespace while we write its maps and open
    its ns/user; the fd keeps the namespace alive after it exits. Init is
    usually PID 1 of a new pid namespace while /proc is still the host's, so
    the child reports its pid as that /proc knows it (the /proc/self link).
    """
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, os.readlink("/proc/self").encode())
            os.read(done_r, 1)
            status = 0
        finally:
            os._exit(status)
    os.close(ready_w)
    os.close(done_r)
    try:
        proc_pid = os.read(ready_r, 32).decode()
        if not proc_pid.isdigit():
            raise OSError(1, "user namespace helper failed")
        _write_proc(proc_pid, "uid_map", uid_map)
        _write_proc(proc_pid, "gid_map", gid_map)
        return os.open("/proc/" + proc_pid + "/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


def _write_proc(pid: str, name: str, text: str) -> None:
    fd = os.open("/proc/" + pid + "/" + name, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# --- cgroup mounts --------------------------------------------------------


def _mount_cgroup(root_fd: int, label: str, dest: str, opts: MountOptions,
                  cgroupns: bool) -> None:
    """type "cgroup": cgroup2 on a v2-only host, else a tmpfs of v1 hierarchies."""
    entries = mountinfo.read()
    top = next((e for e in entries if e.mount_point == CGROUP_ROOT), None)
    dest_fd = _create_destination(label, root_fd, dest, False)
    try:
        if top is not None and top.fstype == "cgroup2":
            _mount_cgroup2(label, root_fd, dest, dest_fd, opts, cgroupns)
        else:
            _mount_cgroup1(label, root_fd, dest, dest_fd, opts, entries, cgroupns)
    finally:
        os.close(dest_fd)
    _finish(label, root_fd, dest, _without_ro(opts), False)


def _without_ro(opts: MountOptions) -> MountOptions:
    """The cgroup code applies ro itself; _finish only does propagation/attrs."""
    return MountOptions(0, 0, opts.propagation, opts.attr_set, opts.attr_clr)


def _mount_cgroup2(label: str, root_fd: int, dest: str, dest_fd: int, opts: MountOptions,
                   cgroupns: bool) -> None:
    flags = (opts.flags & _PER_MOUNT) | _CGROUP_FLAGS
    try:
        sc.mount("cgroup2", fd_path(dest_fd), "cgroup2", flags)
        return
    except OSError as err:
        if cgroupns or err.errno not in (1, 16):  # EPERM, EBUSY: bind our own cgroup
            raise _fail(label, "mount cgroup2", err) from None
    source = CGROUP_ROOT + _own_cgroup_path(lambda c: c == "")
    _do(label, "bind cgroup", sc.mount, source, fd_path(dest_fd), None, sc.MS_BIND | sc.MS_REC)
    top = _do(label, "reopen mount point", open_in_root, root_fd, dest)
    try:
        _do(label, "remount cgroup", bind_remount, fd_path(top), flags)
    finally:
        os.close(top)


def _mount_cgroup1(label: str, root_fd: int, dest: str, dest_fd: int, opts: MountOptions,
                   entries: list[mountinfo.MountEntry], cgroupns: bool) -> None:
    flags = (opts.flags & _PER_MOUNT & ~sc.MS_RDONLY) | _CGROUP_FLAGS
    _do(label, "mount tmpfs", sc.mount, "tmpfs", fd_path(dest_fd), "tmpfs", flags, "mode=755")
    tmp_fd = _do(label, "reopen mount point", open_in_root, root_fd, dest)
    try:
        sub_flags = flags | (opts.flags & sc.MS_RDONLY)
        for entry in _cgroup_hierarchies(entries):
            _mount_hierarchy(label, tmp_fd, entry, sub_flags, cgroupns)
        _copy_cgroup_symlinks(tmp_fd)
        if opts.flags & sc.MS_RDONLY:
            _do(label, "remount cgroup tmpfs ro", bind_remount, fd_path(tmp_fd),
                flags | sc.MS_RDONLY)
    finally:
        os.close(tmp_fd)


def _cgroup_hierarchies(entries: list[mountinfo.MountEntry]) -> list[mountinfo.MountEntry]:
    prefix = CGROUP_ROOT + "/"
    found = {}
    for e in entries:
        name = e.mount_point[len(prefix):]
        if e.mount_point.startswith(prefix) and "/" not in name and e.fstype in (
                "cgroup", "cgroup2"):
            found[name] = e
    return [found[name] for name in sorted(found)]


def _controllers(entry: mountinfo.MountEntry) -> list[str]:
    """The controllers/name= of a v1 hierarchy: what selects it at mount time."""
    known = _known_controllers()
    return [o for o in entry.super_options if o in known or o.startswith("name=")]


_KERNEL_CONTROLLERS: set[str] = set()


def _known_controllers() -> set[str]:
    """The kernel's cgroup controllers; read once (a v1 host asks once per hierarchy,
    ten times per create), as the names never change while the system runs."""
    if not _KERNEL_CONTROLLERS:
        with open("/proc/cgroups") as f:
            _KERNEL_CONTROLLERS.update(line.split()[0] for line in f
                                if line.strip() and not line.startswith("#"))
    return _KERNEL_CONTROLLERS


def _own_cgroup_path(match: Callable[[str], bool]) -> str:
    """Our cgroup path in the hierarchy whose controller field satisfies ``match``."""
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if match(ctrls):
                return path.rstrip("/")
    return ""


def _mount_hierarchy(label: str, tmp_fd: int, entry: mountinfo.MountEntry, flags: int,
                     cgroupns: bool) -> None:
    name = os.path.basename(entry.mount_point)
    _do(label, "mkdir " + name, _mkdir_quiet, tmp_fd, name)
    sub = _open_beneath(label, tmp_fd, name)
    try:
        if cgroupns:
            _mount_fresh_hierarchy(label, sub, entry, flags)
            return
        _bind_own_hierarchy(label, sub, entry)
    finally:
        os.close(sub)
    top = _open_beneath(label, tmp_fd, name)  # the bind just made, not the dir under it
    try:
        _do(label, "remount " + name, bind_remount, fd_path(top), flags)
    finally:
        os.close(top)


def _open_beneath(label: str, dir_fd: int, name: str) -> int:
    return _do(label, "open " + name, sc.openat2, dir_fd, name, os.O_PATH | os.O_DIRECTORY,
               0, sc.RESOLVE_BENEATH | sc.RESOLVE_NO_SYMLINKS)


def _mkdir_quiet(dir_fd: int, name: str) -> None:
    try:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    except FileExistsError:
        pass


def _mount_fresh_hierarchy(label: str, sub: int, entry: mountinfo.MountEntry,
                           flags: int) -> None:
    """In a cgroup namespace a new cgroup mount shows the namespace's root: ours."""
    if entry.fstype == "cgroup2":
        _do(label, "mount cgroup2", sc.mount, "cgroup2", fd_path(sub), "cgroup2", flags)
        return
    data = ",".join(_controllers(entry))
    _do(label, "mount cgroup " + data, sc.mount, "cgroup", fd_path(sub), "cgroup", flags, data)


def _bind_own_hierarchy(label: str, sub: int, entry: mountinfo.MountEntry) -> None:
    """Without a cgroup namespace bind only our own cgroup, as runc does."""
    if entry.fstype == "cgroup2":
        path = _own_cgroup_path(lambda c: c == "")
    else:
        want = set(_controllers(entry))
        path = _own_cgroup_path(lambda c: set(c.split(",")) == want)
    root = entry.root.rstrip("/")
    if root and path.startswith(root):
        path = path[len(root):]
    source = entry.mount_point + path
    _do(label, "bind " + source, sc.mount, source, fd_path(sub), None, sc.MS_BIND | sc.MS_REC)


def _copy_cgroup_symlinks(tmp_fd: int) -> None:
    """Recreate the host's alias links (cpu -> cpu,cpuacct) next to the hierarchies."""
    with os.scandir(CGROUP_ROOT) as it:
        for entry in it:
            if entry.is_symlink():
                try:
                    os.symlink(os.readlink(entry.path), entry.name, dir_fd=tmp_fd)
                except FileExistsError:
                    pass

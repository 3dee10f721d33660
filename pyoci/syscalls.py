"""The one place pyoci talks to the kernel through ctypes.

Everything the standard library lacks (mount, pivot_root, unshare on 3.11,
openat2, the new mount API, prctl options python-prctl lacks) is wrapped here
as a small function that raises :class:`OSError` with the errno and the call's
name, so callers can add the config field that was being applied. Keeping the
ctypes surface in one module lets the rest of pyoci be tested without root.
"""

from __future__ import annotations

import _thread
import errno
import os

# The subset of ctypes pyoci needs, without ctypes' ~2 ms of start-up (cdata.py).
from pyoci import cdata as ctypes

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# Namespace clone flags (<linux/sched.h>).
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags (<linux/mount.h>).
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_FORCE = 1
MNT_DETACH = 2

# openat2(2) resolve flags (<linux/openat2.h>).
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# The new mount API (<linux/mount.h>).
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
AT_SYMLINK_NOFOLLOW = 0x100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# prctl(2) options python-prctl does not wrap.
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15

_SYSCALLS = {
    "x86_64": {
        "pivot_root": 155,
        "open_tree": 428,
        "move_mount": 429,
        "openat2": 437,
        "mount_setattr": 442,
        "keyctl": 250,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "clone3": 435,
    },
    "aarch64": {
        "pivot_root": 41,
        "open_tree": 428,
        "move_mount": 429,
        "openat2": 437,
        "mount_setattr": 442,
        "keyctl": 219,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "clone3": 435,
    },
}
_MACHINE = os.uname().machine
_NR = _SYSCALLS.get(_MACHINE, _SYSCALLS["x86_64"])


def _fail(what: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def _check(ret: int, what: str) -> int:
    if ret < 0:
        raise _fail(what)
    return ret


def _bytes(value: str | bytes | None) -> bytes | None:
    if value is None:
        return None
    return value if isinstance(value, bytes) else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype),
                       ctypes.c_ulong(flags), _bytes(data)), f"mount {target}")


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_bytes(target), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_NR["pivot_root"], _bytes(new_root), _bytes(put_old)),
           "pivot_root")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)), "setdomainname")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """Open ``path`` relative to ``dirfd`` with openat2's resolution limits.

    ``RESOLVE_IN_ROOT`` makes ``..`` and absolute symlinks stay inside
    ``dirfd``: the way to walk an untrusted rootfs without escaping it.
    """
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    return _check(_libc.syscall(_NR["openat2"], dirfd, _bytes(path), ctypes.byref(how),
                                ctypes.sizeof(how)), f"openat2 {path}")


PROC_SUPER_MAGIC = 0x9FA0


def fstatfs_type(fd: int) -> int:
    """f_type of the filesystem ``fd`` is on (os.fstatvfs does not report it)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit
    _check(_libc.fstatfs(fd, buf), "fstatfs")
    return ctypes.c_long.from_buffer(buf).value


def fresh_mount(fstype: str) -> int:
    """A detached mount of a new ``fstype`` instance (fsopen, fsconfig CREATE, fsmount):
    nothing else can have mounted over or into it."""
    fs = _check(_libc.syscall(_NR["fsopen"], _bytes(fstype), 1), "fsopen " + fstype)  # CLOEXEC
    try:
        _check(_libc.syscall(_NR["fsconfig"], fs, 6, None, None, 0), "fsconfig")  # CMD_CREATE
        return _check(_libc.syscall(_NR["fsmount"], fs, 1, 0), "fsmount")  # CLOEXEC
    finally:
        os.close(fs)


def open_tree(dirfd: int, path: str, flags: int) -> int:
    return _check(_libc.syscall(_NR["open_tree"], dirfd, _bytes(path), flags),
                  f"open_tree {path}")


def move_mount(from_fd: int, from_path: str, to_fd: int, to_path: str, flags: int) -> None:
    _check(_libc.syscall(_NR["move_mount"], from_fd, _bytes(from_path), to_fd,
                         _bytes(to_path), flags), f"move_mount {to_path}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(dirfd: int, path: str, flags: int, attr_set: int = 0, attr_clr: int = 0,
                  propagation: int = 0, userns_fd: int = 0) -> None:
    attr = _MountAttr(attr_set, attr_clr, propagation, userns_fd)
    _check(_libc.syscall(_NR["mount_setattr"], dirfd, _bytes(path), flags,
                         ctypes.byref(attr), ctypes.sizeof(attr)), f"mount_setattr {path}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                              ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)), "prctl")


CLONE_INTO_CGROUP = 0x200000000
_SIGCHLD = 17  # x86_64 and aarch64
_python: ctypes.CDLL | None = None  # libc and the interpreter's C API, GIL held


def fork_into_cgroup(cgroup_fd: int) -> int:
    """``os.fork()`` whose child is born in the cgroup v2 directory ``cgroup_fd``
    (clone3 with CLONE_INTO_CGROUP, Linux 5.7).

    Why: a write to ``cgroup.procs`` takes the kernel's cgroup_threadgroup_rwsem
    for writing, which first waits for an RCU grace period (7-16 ms here); a
    fork into the cgroup takes it for reading only. The interpreter's fork hooks
    run around the call as ``os.fork`` runs them. The caller must be
    single-threaded (a raw clone3 skips glibc's fork, which takes the malloc
    locks another thread could hold), and the child must not call ``raise()``
    or ``pthread_kill()``: glibc's cached thread id is the parent's. Python code
    calls neither. OSError where the kernel refuses: ENOSYS, E2BIG (before
    5.7), EACCES (a user namespace that does not own the cgroup), EBUSY (a
    cgroup with controllers enabled for its children).
    """
    global _python
    if _thread._count():
        raise OSError(errno.EBUSY, "clone3: other threads are running")
    if _python is None:
        _python = ctypes.CDLL(None, use_errno=True, keep_gil=True)
        _python.syscall.restype = ctypes.c_long
        for name in ("PyOS_BeforeFork", "PyOS_AfterFork_Parent", "PyOS_AfterFork_Child"):
            getattr(_python, name).restype = None
    # struct clone_args up to .cgroup (CLONE_ARGS_SIZE_VER2): flags, pidfd,
    # child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
    # set_tid_size, cgroup.
    args = (ctypes.c_uint64 * 11)(CLONE_INTO_CGROUP, 0, 0, 0, _SIGCHLD, 0, 0, 0, 0, 0, cgroup_fd)
    _python.PyOS_BeforeFork()
    pid = _python.syscall(_NR["clone3"], args, ctypes.sizeof(args))
    if pid == 0:
        _python.PyOS_AfterFork_Child()
        return 0
    error = _fail("clone3") if pid < 0 else None  # before the next call overwrites errno
    _python.PyOS_AfterFork_Parent()
    if error is not None:
        raise error
    return pid


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_dumpable(dumpable: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if dumpable else 0)


def set_process_name(name: bytes) -> None:
    """The comm of /proc/<pid>/stat (at most 15 bytes); execve replaces it."""
    buf = ctypes.create_string_buffer(name[:15])
    prctl(PR_SET_NAME, ctypes.addressof(buf))


MADV_POPULATE_WRITE = 23  # Linux 5.14


def populate_write(address: int, length: int) -> None:
    """Fault in [address, address+length) for writing: copy-on-write pages are
    copied and missing ones allocated now, charged to the current memory cgroup."""
    if _libc.madvise(ctypes.c_void_p(address), ctypes.c_size_t(length),
                     MADV_POPULATE_WRITE) != 0:
        raise _fail("madvise")


# capset(2) (<linux/capability.h>): python-prctl goes through libcap, whose
# compile-time table may lack the newest capabilities (CAP_CHECKPOINT_RESTORE).
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's three capability sets from 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.capset(ctypes.byref(header), data), "capset")


# prlimit(2): resource.prlimit without the resource module (a C extension:
# a dlopen and ~0.3-0.5 ms of every create's start-up).
RLIM_INFINITY = 2**64 - 1


class _Rlimit(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_uint64), ("max", ctypes.c_uint64)]


def prlimit(resource: int, limits: tuple[int, int] | None = None) -> tuple[int, int]:
    """Our own (soft, hard) limit of ``resource``, set to ``limits`` if given;
    returns the previous one. Values are the kernel's: unlimited is RLIM_INFINITY."""
    old = _Rlimit()
    new = None if limits is None else ctypes.byref(_Rlimit(*limits))
    _check(_libc.prlimit(0, resource, new, ctypes.byref(old)), "prlimit")
    return old.cur, old.max


# close_range(2) flags (<linux/close_range.h>).
CLOSE_RANGE_UNSHARE = 2
CLOSE_RANGE_CLOEXEC = 4
_NR_CLOSE_RANGE = 436  # the same on x86_64 and aarch64


def close_range(first: int, last: int, flags: int = 0) -> None:
    _check(_libc.syscall(_NR_CLOSE_RANGE, ctypes.c_uint(first), ctypes.c_uint(last),
                         ctypes.c_uint(flags)), "close_range")

# Bounding-set prctls: python-prctl refuses numbers beyond its compile-time table.
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24

# Additions for the rootfs layer: moving a detached tree onto an O_PATH fd.
AT_FDCWD = -100
MOVE_MOUNT_T_EMPTY_PATH = 0x40


KEYCTL_JOIN_SESSION_KEYRING = 1


def join_session_keyring(name: str) -> int:
    return _check(_libc.syscall(_NR["keyctl"], KEYCTL_JOIN_SESSION_KEYRING, _bytes(name)),
                  "keyctl join session keyring")


# -- Scheduling and placement (process.scheduler, ioPriority, memoryPolicy, personality).
_PLACEMENT_NR = {
    "x86_64": {"sched_setattr": 314, "sched_getattr": 315, "ioprio_set": 251,
               "ioprio_get": 252, "set_mempolicy": 238, "get_mempolicy": 239},
    "aarch64": {"sched_setattr": 274, "sched_getattr": 275, "ioprio_set": 30,
                "ioprio_get": 31, "set_mempolicy": 237, "get_mempolicy": 236},
}
_NR_PLACEMENT = _PLACEMENT_NR.get(_MACHINE, _PLACEMENT_NR["x86_64"])
IOPRIO_WHO_PROCESS = 1


class SchedAttr(ctypes.Structure):
    """struct sched_attr (<linux/sched/types.h>), SCHED_ATTR_SIZE_VER1: 56 bytes."""

    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64),
                ("sched_util_min", ctypes.c_uint32), ("sched_util_max", ctypes.c_uint32)]


def sched_setattr(attr: SchedAttr, pid: int = 0) -> None:
    attr.size = ctypes.sizeof(SchedAttr)
    _check(_libc.syscall(_NR_PLACEMENT["sched_setattr"], pid, ctypes.byref(attr), 0),
           "sched_setattr")


def sched_getattr(pid: int = 0) -> SchedAttr:
    attr = SchedAttr()
    _check(_libc.syscall(_NR_PLACEMENT["sched_getattr"], pid, ctypes.byref(attr),
                         ctypes.sizeof(attr), 0), "sched_getattr")
    return attr


def ioprio_set(value: int, pid: int = 0) -> None:
    _check(_libc.syscall(_NR_PLACEMENT["ioprio_set"], IOPRIO_WHO_PROCESS, pid, value),
           "ioprio_set")


def ioprio_get(pid: int = 0) -> int:
    return _check(_libc.syscall(_NR_PLACEMENT["ioprio_get"], IOPRIO_WHO_PROCESS, pid),
                  "ioprio_get")


def _nodemask(words: list[int]) -> ctypes.Array:
    return (ctypes.c_ulong * max(len(words), 1))(*words)


def set_mempolicy(mode: int, words: list[int], maxnode: int) -> None:
    """``words`` is the nodemask as unsigned longs; the kernel reads ``maxnode - 1`` bits."""
    mask = _nodemask(words)
    _check(_libc.syscall(_NR_PLACEMENT["set_mempolicy"], mode,
                         mask if words else None, ctypes.c_ulong(maxnode)), "set_mempolicy")


def get_mempolicy(nwords: int = 16) -> tuple[int, list[int]]:
    """The calling thread's policy mode and its nodemask words."""
    mode = ctypes.c_int(0)
    mask = (ctypes.c_ulong * nwords)()
    _check(_libc.syscall(_NR_PLACEMENT["get_mempolicy"], ctypes.byref(mode), mask,
                         ctypes.c_ulong(nwords * 8 * ctypes.sizeof(ctypes.c_ulong)),
                         None, ctypes.c_ulong(0)), "get_mempolicy")
    return mode.value, list(mask)


PERSONALITY_QUERY = 0xFFFFFFFF


def personality(persona: int) -> int:
    """Set the execution domain; returns the previous persona (query with 0xffffffff).

    personality(3) is bound here, on first use (dlsym), not at import: few
    containers set linux.personality.
    """
    _libc.personality.restype = ctypes.c_int
    return _check(_libc.personality(ctypes.c_ulong(persona)), "personality")


_NR_BPF = {"x86_64": 321, "aarch64": 280}


def bpf(cmd: int, attr: ctypes.Array) -> int:
    """bpf(2) with ``attr`` (a zeroed buffer holding union bpf_attr); returns its result."""
    return _check(_libc.syscall(_NR_BPF.get(_MACHINE, 321), cmd, attr,
                                ctypes.sizeof(attr)), f"bpf(cmd {cmd})")

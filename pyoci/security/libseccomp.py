"""A small ctypes binding of libseccomp 2.x: only what pyoci's filters need.

Imported only when a config has ``linux.seccomp`` (or by ``features``), and
always in the runtime process before it forks: the container init inherits the
loaded library and every function pointer already resolved, because after
pivot_root neither the host's libseccomp nor Python's stdlib can be found.
Every call that fails raises :class:`OSError` with the errno libseccomp
returned (it returns ``-errno``), so the caller can name the config field.
"""

from __future__ import annotations

import ctypes
import os

LIBRARY = "libseccomp.so.2"

NR_SCMP_ERROR = -1


class ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class Version(ctypes.Structure):
    """struct scmp_version."""

    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


class SeccompData(ctypes.Structure):
    """struct seccomp_data: what the filter saw."""

    _fields_ = [("nr", ctypes.c_int), ("arch", ctypes.c_uint32),
                ("instruction_pointer", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6)]


class Notif(ctypes.Structure):
    """struct seccomp_notif (used by listeners such as the tests)."""

    _fields_ = [("id", ctypes.c_uint64), ("pid", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("data", SeccompData)]


class NotifResp(ctypes.Structure):
    """struct seccomp_notif_resp."""

    _fields_ = [("id", ctypes.c_uint64), ("val", ctypes.c_int64),
                ("error", ctypes.c_int32), ("flags", ctypes.c_uint32)]


_c_int, _c_uint, _u32, _vp = ctypes.c_int, ctypes.c_uint, ctypes.c_uint32, ctypes.c_void_p
_SIGNATURES: dict[str, tuple[object, list]] = {
    "seccomp_version": (ctypes.POINTER(Version), []),
    "seccomp_api_get": (_c_uint, []),
    "seccomp_init": (_vp, [_u32]),
    "seccomp_release": (None, [_vp]),
    "seccomp_arch_resolve_name": (_u32, [ctypes.c_char_p]),
    "seccomp_arch_native": (_u32, []),
    "seccomp_arch_add": (_c_int, [_vp, _u32]),
    "seccomp_attr_set": (_c_int, [_vp, _c_int, _u32]),
    "seccomp_syscall_resolve_name": (_c_int, [ctypes.c_char_p]),
    "seccomp_rule_add_array": (_c_int, [_vp, _u32, _c_int, _c_uint, ctypes.POINTER(ArgCmp)]),
    "seccomp_load": (_c_int, [_vp]),
    "seccomp_notify_fd": (_c_int, [_vp]),
    "seccomp_notify_receive": (_c_int, [_c_int, ctypes.POINTER(Notif)]),
    "seccomp_notify_respond": (_c_int, [_c_int, ctypes.POINTER(NotifResp)]),
}


class LibSeccomp:
    """The opened library with every function typed and resolved up front."""

    def __init__(self, path: str = LIBRARY) -> None:
        lib = ctypes.CDLL(path)
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)
        v = lib.seccomp_version().contents
        self.version = f"{v.major}.{v.minor}.{v.micro}"

    def check(self, rc: int, what: str) -> int:
        """libseccomp returns -errno; turn that into an OSError."""
        if rc < 0:
            raise OSError(-rc, f"{what}: {_strerror(-rc)}")
        return rc

    def conditions(self, conds: list[tuple[int, int, int, int]]) -> ctypes.Array:
        """A C array of scmp_arg_cmp from (index, op, a, b) tuples."""
        array = (ArgCmp * max(len(conds), 1))()
        for i, (index, op, a, b) in enumerate(conds):
            array[i] = ArgCmp(index, op, a, b)
        return array


def _strerror(errnum: int) -> str:
    return os.strerror(errnum)


_loaded: LibSeccomp | None = None


def load() -> LibSeccomp:
    """The process-wide library handle, opened on first use (before any fork)."""
    global _loaded
    if _loaded is None:
        _loaded = LibSeccomp()
    return _loaded

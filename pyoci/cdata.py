"""The part of :mod:`ctypes` that :mod:`pyoci.syscalls` uses, built on ``_ctypes`` alone.

``import ctypes`` costs ~2 ms of CPU on top of its C extension (measured here:
``python -I -S -c 'import ctypes'`` 13.3 ms, ``import _ctypes`` 11.3 ms): its
``__init__`` defines every C type, several function-pointer prototypes, the
``LibraryLoader`` objects, and imports ``struct`` and ``ctypes._endian``. Every
``create``, ``run`` and ``exec`` needs a handful of libc calls and pays that.

This module defines only what pyoci's syscall wrappers use, exactly as ctypes
defines it for this platform (LP64 Linux: ``c_long``/``c_ulong`` are 8 bytes,
``c_int``/``c_uint`` 4), so its objects are ordinary ctypes data:
``_ctypes`` converts, calls and checks them, and they mix with objects of the
real :mod:`ctypes`, which the modules off the hot path (libseccomp, eBPF)
still import. tests/unit/test_cdata.py compares every name with ctypes'.
"""

from __future__ import annotations

from _ctypes import (
    FUNCFLAG_CDECL,
    FUNCFLAG_PYTHONAPI,
    FUNCFLAG_USE_ERRNO,
    RTLD_LOCAL,
    Array,
    CFuncPtr,
    Structure,
    _SimpleCData,
    addressof,
    byref,
    get_errno,
    sizeof,
)
from _ctypes import dlopen as _dlopen

__all__ = ["CDLL", "Array", "Structure", "addressof", "byref", "c_char", "c_int", "c_int32",
           "c_long", "c_size_t", "c_uint", "c_uint32", "c_uint64", "c_ulong", "c_void_p",
           "create_string_buffer", "get_errno", "sizeof"]


class c_int(_SimpleCData):  # noqa: N801 - ctypes' names, so callers read the same
    _type_ = "i"


class c_uint(_SimpleCData):  # noqa: N801
    _type_ = "I"


class c_long(_SimpleCData):  # noqa: N801
    _type_ = "l"


class c_ulong(_SimpleCData):  # noqa: N801
    _type_ = "L"


class c_void_p(_SimpleCData):  # noqa: N801
    _type_ = "P"


class c_char(_SimpleCData):  # noqa: N801
    _type_ = "c"


# What ctypes aliases them to where int is 4 bytes and long 8 (checked by the tests).
c_int32 = c_int
c_uint32 = c_uint
c_uint64 = c_ulong
c_size_t = c_ulong


def create_string_buffer(init: int | bytes) -> Array:
    """A zeroed ``char[init]``, or a NUL-terminated copy of ``init`` (as ctypes')."""
    if isinstance(init, bytes):
        buf = (c_char * (len(init) + 1))()
        buf.value = init
        return buf
    return (c_char * init)()


class CDLL:
    """ctypes.CDLL for ``dlopen(NULL)`` and friends: functions bound on first use.

    As with ctypes, an attribute is looked up with dlsym the first time it is
    read (returning ``int`` unless its ``restype`` is set) and then cached on
    the instance, so a command binds only the libc functions it calls.

    ``keep_gil`` makes its functions hold the GIL through the call, as
    ``ctypes.PyDLL``'s do: for the interpreter's own C API, and for a raw fork
    (clone3), whose child must not find the GIL released by the parent.
    """

    def __init__(self, name: str | None, use_errno: bool = False, keep_gil: bool = False) -> None:
        flags = FUNCFLAG_CDECL | (FUNCFLAG_USE_ERRNO if use_errno else 0)
        if keep_gil:
            flags |= FUNCFLAG_PYTHONAPI

        class _FuncPtr(CFuncPtr):
            _flags_ = flags
            _restype_ = c_int

        self._FuncPtr = _FuncPtr
        self._name = name
        self._handle = _dlopen(name, RTLD_LOCAL)

    def __getattr__(self, name: str) -> CFuncPtr:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        func = self._FuncPtr((name, self))
        func.__name__ = name
        setattr(self, name, func)
        return func

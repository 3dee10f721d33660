"""pyoci.cdata must be ctypes, for the names pyoci.syscalls uses (see its docstring)."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from pyoci import cdata, syscalls

SIMPLE = ["c_int", "c_uint", "c_long", "c_ulong", "c_void_p", "c_char",
          "c_int32", "c_uint32", "c_uint64", "c_size_t"]


@pytest.mark.parametrize("name", SIMPLE)
def test_simple_types_are_ctypes_own(name: str) -> None:
    ours, theirs = getattr(cdata, name), getattr(ctypes, name)
    assert ours._type_ == theirs._type_  # noqa: SLF001 - the C type code is the definition
    assert cdata.sizeof(ours) == ctypes.sizeof(theirs)
    value = b"x" if name == "c_char" else 5
    assert ours(value).value == theirs(value).value


def test_aliases_are_the_same_class_as_in_ctypes() -> None:
    """ctypes makes c_uint64 *be* c_ulong here: so must we (same names, same identity)."""
    for alias, base in (("c_int32", "c_int"), ("c_uint32", "c_uint"), ("c_uint64", "c_ulong"),
                        ("c_size_t", "c_ulong")):
        assert (getattr(ctypes, alias) is getattr(ctypes, base)) == \
            (getattr(cdata, alias) is getattr(cdata, base))


def test_helpers_are_ctypes_own() -> None:
    for name in ("Structure", "Array", "byref", "sizeof", "addressof", "get_errno"):
        assert getattr(cdata, name) is getattr(ctypes, name)


def test_create_string_buffer_matches_ctypes() -> None:
    for init in (0, 1, 16, b"", b"abc", b"pyoci-init"):
        ours, theirs = cdata.create_string_buffer(init), ctypes.create_string_buffer(init)
        assert cdata.sizeof(ours) == ctypes.sizeof(theirs)
        assert ours.raw == theirs.raw


def test_cdll_calls_libc_with_errno() -> None:
    libc = cdata.CDLL(None, use_errno=True)
    assert libc.getpid() == os.getpid()
    assert libc.getpid is libc.getpid  # bound once, on first use
    assert libc.close(-1) == -1
    assert cdata.get_errno() == errno.EBADF
    libc.syscall.restype = cdata.c_long
    assert libc.syscall(39) == os.getpid() or os.uname().machine != "x86_64"  # SYS_getpid
    with pytest.raises(AttributeError):
        libc.__wrapped__  # noqa: B018 - dunder lookups are not dlsym'd, as in ctypes


def test_syscalls_does_not_import_ctypes() -> None:
    assert syscalls.ctypes is cdata

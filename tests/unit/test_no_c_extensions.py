"""What the hot path builds instead of importing resource and struct agrees with them:
rlimit numbers, prlimit, and struct ifreq (pyoci.process.setup, syscalls, namespaces)."""

from __future__ import annotations

import resource

from pyoci import syscalls
from pyoci.process.setup import RLIMITS


def test_numbers_are_the_resource_modules() -> None:
    for name, number in RLIMITS.items():
        assert getattr(resource, name, 10) == number, name  # 3.11 lacks RLIMIT_LOCKS (10)


def test_prlimit_reads_and_sets_like_resource() -> None:
    nofile = RLIMITS["RLIMIT_NOFILE"]
    soft, hard = resource.getrlimit(nofile)
    want = (soft, hard)
    got = syscalls.prlimit(nofile)
    assert got == tuple(syscalls.RLIM_INFINITY if v == resource.RLIM_INFINITY else v for v in want)
    lower = max(0, soft - 1) if soft != resource.RLIM_INFINITY else 1024
    try:
        assert syscalls.prlimit(nofile, (lower, got[1])) == got
        assert resource.getrlimit(nofile)[0] == lower
    finally:
        resource.setrlimit(nofile, (soft, hard))


def test_prlimit_error_is_an_oserror_with_errno() -> None:
    import errno

    import pytest

    with pytest.raises(OSError) as info:
        syscalls.prlimit(RLIMITS["RLIMIT_NOFILE"], (2, 1))  # soft above hard
    assert info.value.errno == errno.EINVAL


def test_ifreq_flags_is_structs_layout() -> None:
    """namespaces.bring_up_loopback builds struct ifreq without the struct module."""
    import struct
    import sys

    from pyoci.namespaces import _ifreq_flags

    for flags in (0, 1, 0x1043, 0xFFFF):
        packed = struct.pack("16sH22x", b"lo", flags)
        assert _ifreq_flags(b"lo", flags) == packed
        assert int.from_bytes(packed[16:18], sys.byteorder) == flags

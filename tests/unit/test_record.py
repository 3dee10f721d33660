"""pyoci.record.Record keeps the namedtuple behaviour the rootfs records relied on."""

from __future__ import annotations

import pytest

from pyoci.record import Record
from pyoci.rootfs.dev import Device
from pyoci.rootfs.mountinfo import parse_line
from pyoci.rootfs.options import MountOptions, parse_options


class Pair(Record):
    __slots__ = ("a", "b")
    _defaults = (7,)


def test_positional_named_and_default_fields() -> None:
    assert (Pair(1, 2).a, Pair(1, 2).b) == (1, 2)
    assert Pair(b=3, a=1) == Pair(1, 3)
    assert Pair(1).b == 7
    assert tuple(Pair(1, 2)) == (1, 2)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        Pair()
    with pytest.raises(TypeError):
        Pair(1, 2, 3)
    with pytest.raises(TypeError):
        Pair(1, c=2)


def test_immutable_hashable_replace_repr() -> None:
    p = Pair(1, 2)
    with pytest.raises(AttributeError):
        p.a = 5  # type: ignore[misc]
    assert hash(p) == hash(Pair(1, 2)) and p != Pair(1, 3)
    assert p._replace(b=9) == Pair(1, 9) and p == Pair(1, 2)
    assert repr(p) == "Pair(a=1, b=2)"


def test_the_rootfs_records() -> None:
    dev = Device("null", "/dev/null", 0o020000, 1, 3)
    assert (dev.mode, dev.uid, dev.gid) == (0o666, -1, -1)
    assert MountOptions() == parse_options([])
    assert parse_options(["ro"]).flags == 1
    entry = parse_line("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root "
                       "rw,errors=continue")
    assert (entry.mount_point, entry.optional, entry.fstype) == ("/mnt2", ("master:1",), "ext3")
    assert not entry.shared

"""Translate a mount's ``options`` list into what the kernel calls need.

A spec mount option can mean four different things: a mount(2) flag to set or
to clear, a propagation change that must be a separate mount(2) call after the
mount exists, a recursive attribute that only mount_setattr(AT_RECURSIVE) can
apply, or a filesystem-specific string for mount(2)'s data argument. Keeping
the translation a pure function lets every option of config.md's "Linux mount
options" table be tested without root.
"""

from __future__ import annotations

from pyoci import syscalls as sc
from pyoci.record import Record

# option -> (clear?, mount(2) flag). Later options override earlier ones, as
# with mount(8): "ro,rw" is read-write.
_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, sc.MS_SYNCHRONOUS),
    "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME),
    "dirsync": (False, sc.MS_DIRSYNC),
    "exec": (True, sc.MS_NOEXEC),
    "iversion": (False, sc.MS_I_VERSION),
    "lazytime": (False, sc.MS_LAZYTIME),
    "loud": (True, sc.MS_SILENT),
    "mand": (False, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME),
    "nodev": (False, sc.MS_NODEV),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "noexec": (False, sc.MS_NOEXEC),
    "noiversion": (True, sc.MS_I_VERSION),
    "nolazytime": (True, sc.MS_LAZYTIME),
    "nomand": (True, sc.MS_MANDLOCK),
    "norelatime": (True, sc.MS_RELATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosuid": (False, sc.MS_NOSUID),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME),
    "remount": (False, sc.MS_REMOUNT),
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "silent": (False, sc.MS_SILENT),
    "strictatime": (False, sc.MS_STRICTATIME),
    "sync": (False, sc.MS_SYNCHRONOUS),
    "suid": (True, sc.MS_NOSUID),
    "symfollow": (True, sc.MS_NOSYMFOLLOW),
}

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

# Recursive (mount_setattr) boolean attributes: option -> (clear?, attribute).
_REC_ATTRS: dict[str, tuple[bool, int]] = {
    "rro": (False, sc.MOUNT_ATTR_RDONLY),
    "rrw": (True, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, sc.MOUNT_ATTR_NOSUID),
    "rsuid": (True, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (False, sc.MOUNT_ATTR_NODEV),
    "rdev": (True, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (False, sc.MOUNT_ATTR_NOEXEC),
    "rexec": (True, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, sc.MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, sc.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, sc.MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, sc.MOUNT_ATTR_NOSYMFOLLOW),
}

# Recursive atime options. The kernel's atime setting is an enum, not bits:
# mount_setattr only changes it when attr_clr holds all of MOUNT_ATTR__ATIME
# (a partial clear is EINVAL), so each option names the mode it leaves. The
# "no"/"a" forms fall back to the kernel default (relatime), except
# rnorelatime, whose only meaningful reading is strictatime.
_REC_ATIME: dict[str, int] = {
    "rrelatime": sc.MOUNT_ATTR_RELATIME,
    "rnorelatime": sc.MOUNT_ATTR_STRICTATIME,
    "rnoatime": sc.MOUNT_ATTR_NOATIME,
    "ratime": sc.MOUNT_ATTR_RELATIME,
    "rstrictatime": sc.MOUNT_ATTR_STRICTATIME,
    "rnostrictatime": sc.MOUNT_ATTR_RELATIME,
}


class MountOptions(Record):
    """A parsed ``options`` list.

    ``flags`` and ``clear`` are disjoint mount(2) flags; ``propagation`` holds
    one mount(2) flag word per propagation option, in order; ``attr_set`` and
    ``attr_clr`` are for mount_setattr(AT_RECURSIVE); ``data`` is every option
    the table does not know, comma-joined for mount(2)'s data argument.
    """

    __slots__ = ("flags", "clear", "propagation", "attr_set", "attr_clr", "idmap", "ridmap",
                 "tmpcopyup", "data")
    _defaults = (0, 0, (), 0, 0, False, False, False, "")

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND)

    @property
    def is_recursive_bind(self) -> bool:
        return bool(self.flags & sc.MS_REC) and self.is_bind

    @property
    def has_rec_attrs(self) -> bool:
        return bool(self.attr_set or self.attr_clr)


class _Builder:
    """Mutable accumulator: options are applied left to right, last one wins."""

    def __init__(self) -> None:
        self.flags = 0
        self.clear = 0
        self.propagation: list[int] = []
        self.attr_set = 0
        self.attr_clr = 0
        self.idmap = False
        self.ridmap = False
        self.tmpcopyup = False
        self.data: list[str] = []

    def flag(self, clear: bool, bit: int) -> None:
        if clear:
            self.flags &= ~bit
            self.clear |= bit
        else:
            self.flags |= bit
            self.clear &= ~bit

    def rec_attr(self, clear: bool, bit: int) -> None:
        if clear:
            self.attr_set &= ~bit
            self.attr_clr |= bit
        else:
            self.attr_set |= bit
            self.attr_clr &= ~bit

    def rec_atime(self, mode: int) -> None:
        self.attr_set = (self.attr_set & ~sc.MOUNT_ATTR__ATIME) | mode
        self.attr_clr |= sc.MOUNT_ATTR__ATIME

    def add(self, option: str) -> None:
        if option in _FLAGS:
            self.flag(*_FLAGS[option])
        elif option in PROPAGATION:
            self.propagation.append(PROPAGATION[option])
        elif option in _REC_ATTRS:
            self.rec_attr(*_REC_ATTRS[option])
        elif option in _REC_ATIME:
            self.rec_atime(_REC_ATIME[option])
        elif option == "idmap":
            self.idmap = True
        elif option == "ridmap":
            self.ridmap = True
        elif option == "tmpcopyup":
            self.tmpcopyup = True
        else:
            self.data.append(option)

    def build(self) -> MountOptions:
        return MountOptions(self.flags, self.clear, tuple(self.propagation), self.attr_set,
                            self.attr_clr, self.idmap, self.ridmap, self.tmpcopyup,
                            ",".join(self.data))


def parse_options(options: list[str] | None) -> MountOptions:
    """Parse a spec mount's ``options``; unknown options become mount data."""
    builder = _Builder()
    for option in options or ():
        builder.add(option)
    return builder.build()


def known_options() -> frozenset[str]:
    """Every option string pyoci interprets itself (the rest go to mount data)."""
    return frozenset(_FLAGS) | frozenset(PROPAGATION) | frozenset(_REC_ATTRS) | frozenset(
        _REC_ATIME) | {"idmap", "ridmap", "tmpcopyup"}

"""Every option of config.md's "Linux mount options" table maps to the right flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyoci import syscalls as sc
from pyoci.rootfs.options import known_options, parse_options

SPEC_CONFIG = Path("/work/shared/runtime-spec-v1.3.0/config.md")

# option -> (flags set, flags cleared)
FLAG_CASES = {
    "async": (0, sc.MS_SYNCHRONOUS),
    "atime": (0, sc.MS_NOATIME),
    "bind": (sc.MS_BIND, 0),
    "defaults": (0, 0),
    "dev": (0, sc.MS_NODEV),
    "diratime": (0, sc.MS_NODIRATIME),
    "dirsync": (sc.MS_DIRSYNC, 0),
    "exec": (0, sc.MS_NOEXEC),
    "iversion": (sc.MS_I_VERSION, 0),
    "lazytime": (sc.MS_LAZYTIME, 0),
    "loud": (0, sc.MS_SILENT),
    "mand": (sc.MS_MANDLOCK, 0),
    "noatime": (sc.MS_NOATIME, 0),
    "nodev": (sc.MS_NODEV, 0),
    "nodiratime": (sc.MS_NODIRATIME, 0),
    "noexec": (sc.MS_NOEXEC, 0),
    "noiversion": (0, sc.MS_I_VERSION),
    "nolazytime": (0, sc.MS_LAZYTIME),
    "nomand": (0, sc.MS_MANDLOCK),
    "norelatime": (0, sc.MS_RELATIME),
    "nostrictatime": (0, sc.MS_STRICTATIME),
    "nosuid": (sc.MS_NOSUID, 0),
    "nosymfollow": (sc.MS_NOSYMFOLLOW, 0),
    "rbind": (sc.MS_BIND | sc.MS_REC, 0),
    "relatime": (sc.MS_RELATIME, 0),
    "remount": (sc.MS_REMOUNT, 0),
    "ro": (sc.MS_RDONLY, 0),
    "rw": (0, sc.MS_RDONLY),
    "silent": (sc.MS_SILENT, 0),
    "strictatime": (sc.MS_STRICTATIME, 0),
    "sync": (sc.MS_SYNCHRONOUS, 0),
    "suid": (0, sc.MS_NOSUID),
    "symfollow": (0, sc.MS_NOSYMFOLLOW),
}

PROPAGATION_CASES = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

ATIME = sc.MOUNT_ATTR__ATIME
# option -> (attr_set, attr_clr) for mount_setattr(AT_RECURSIVE)
REC_CASES = {
    "rro": (sc.MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, sc.MOUNT_ATTR_RDONLY),
    "rnosuid": (sc.MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, sc.MOUNT_ATTR_NOSUID),
    "rnodev": (sc.MOUNT_ATTR_NODEV, 0),
    "rdev": (0, sc.MOUNT_ATTR_NODEV),
    "rnoexec": (sc.MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, sc.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (sc.MOUNT_ATTR_NODIRATIME, 0),
    "rdiratime": (0, sc.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (sc.MOUNT_ATTR_NOSYMFOLLOW, 0),
    "rsymfollow": (0, sc.MOUNT_ATTR_NOSYMFOLLOW),
    "rrelatime": (sc.MOUNT_ATTR_RELATIME, ATIME),
    "rnorelatime": (sc.MOUNT_ATTR_STRICTATIME, ATIME),
    "rnoatime": (sc.MOUNT_ATTR_NOATIME, ATIME),
    "ratime": (sc.MOUNT_ATTR_RELATIME, ATIME),
    "rstrictatime": (sc.MOUNT_ATTR_STRICTATIME, ATIME),
    "rnostrictatime": (sc.MOUNT_ATTR_RELATIME, ATIME),
}


def spec_table_options() -> set[str]:
    """The option names of config.md's Linux mount options table."""
    if not SPEC_CONFIG.exists():
        pytest.skip(f"spec text not found at {SPEC_CONFIG}")
    text = SPEC_CONFIG.read_text()
    table = text.split('name="configLinuxMountOptions"', 1)[1].split("[^1]:", 1)[0]
    return {m.strip() for m in re.findall(r"^\s*`([^`]+)`\s*\|", table, re.M)}


def test_cases_cover_the_whole_spec_table() -> None:
    covered = set(FLAG_CASES) | set(PROPAGATION_CASES) | set(REC_CASES) | {
        "idmap", "ridmap", "tmpcopyup"}
    table = spec_table_options()
    assert len(table) > 60
    assert table - covered == set()
    assert table <= known_options()


@pytest.mark.parametrize("option", sorted(FLAG_CASES))
def test_flag_option(option: str) -> None:
    parsed = parse_options([option])
    want_set, want_clear = FLAG_CASES[option]
    assert (parsed.flags, parsed.clear) == (want_set, want_clear)
    assert parsed.data == ""
    assert parsed.propagation == ()
    assert (parsed.attr_set, parsed.attr_clr) == (0, 0)


@pytest.mark.parametrize("option", sorted(PROPAGATION_CASES))
def test_propagation_option(option: str) -> None:
    parsed = parse_options([option])
    assert parsed.propagation == (PROPAGATION_CASES[option],)
    assert (parsed.flags, parsed.clear, parsed.data) == (0, 0, "")


@pytest.mark.parametrize("option", sorted(REC_CASES))
def test_recursive_option(option: str) -> None:
    parsed = parse_options([option])
    assert (parsed.attr_set, parsed.attr_clr) == REC_CASES[option]
    assert parsed.has_rec_attrs
    assert (parsed.flags, parsed.clear, parsed.data) == (0, 0, "")


def test_idmap_options() -> None:
    assert parse_options(["idmap"]).idmap and not parse_options(["idmap"]).ridmap
    assert parse_options(["ridmap"]).ridmap and not parse_options(["ridmap"]).idmap
    assert parse_options(["idmap", "mode=1"]).data == "mode=1"


def test_unknown_options_become_data_in_order() -> None:
    parsed = parse_options(["nosuid", "mode=755", "strictatime", "size=65536k", "nodev"])
    assert parsed.data == "mode=755,size=65536k"
    assert parsed.flags == sc.MS_NOSUID | sc.MS_STRICTATIME | sc.MS_NODEV


def test_later_option_wins() -> None:
    assert parse_options(["ro", "rw"]).flags & sc.MS_RDONLY == 0
    assert parse_options(["ro", "rw"]).clear == sc.MS_RDONLY
    assert parse_options(["rw", "ro"]).flags == sc.MS_RDONLY
    assert parse_options(["rw", "ro"]).clear == 0
    assert parse_options(["rro", "rrw"]).attr_set == 0
    assert parse_options(["rro", "rrw"]).attr_clr == sc.MOUNT_ATTR_RDONLY


def test_recursive_atime_last_mode_wins() -> None:
    parsed = parse_options(["rnoatime", "rstrictatime", "rnosuid"])
    assert parsed.attr_set == sc.MOUNT_ATTR_STRICTATIME | sc.MOUNT_ATTR_NOSUID
    assert parsed.attr_clr == ATIME


def test_propagation_keeps_order() -> None:
    parsed = parse_options(["rbind", "rprivate", "unbindable"])
    assert parsed.propagation == (sc.MS_PRIVATE | sc.MS_REC, sc.MS_UNBINDABLE)
    assert parsed.is_bind and parsed.is_recursive_bind


def test_empty_and_none() -> None:
    assert parse_options(None) == parse_options([])
    assert not parse_options([]).is_bind
    assert parse_options(["bind"]).is_bind and not parse_options(["bind"]).is_recursive_bind

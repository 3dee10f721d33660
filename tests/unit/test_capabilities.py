"""Capability name table and parsing of ``process.capabilities`` (no root needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyoci.errors import ConfigError
from pyoci.security import capabilities as caps
from pyoci.security.capabilities import CapabilitySets, cap_mask, parse_capabilities

HEADER = Path("/usr/include/linux/capability.h")


def test_table_has_41_names_in_kernel_order() -> None:
    assert len(caps.CAPABILITY_NAMES) == 41
    assert caps.CAPABILITIES["CAP_CHOWN"] == 0
    assert caps.CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert caps.CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40


def test_table_matches_kernel_header() -> None:
    if not HEADER.exists():
        pytest.skip(f"{HEADER} not present (install linux-libc-dev)")
    defined = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^#define\s+(CAP_[A-Z_]+)\s+(\d+)\s*$", HEADER.read_text(), re.M)
        if m.group(1) != "CAP_LAST_CAP"
    }
    assert defined, "no CAP_ defines parsed from the header"
    for name, number in defined.items():
        assert caps.CAPABILITIES.get(name) == number, name


def test_absent_capabilities_means_all_sets_empty() -> None:
    assert parse_capabilities(None) == CapabilitySets()
    assert parse_capabilities({}) == CapabilitySets()


def test_known_names_map_to_numbers() -> None:
    sets = parse_capabilities({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"],
        "inheritable": [],
        "ambient": ["CAP_KILL"],
    })
    assert sets.bounding == {0, 5, 10}
    assert sets.effective == {5}
    assert sets.permitted == {0, 5}
    assert sets.inheritable == frozenset()
    assert sets.ambient == {5}
    assert cap_mask(sets.bounding) == (1 << 0) | (1 << 5) | (1 << 10)


def test_unknown_name_is_a_warning_naming_the_field(capfd: pytest.CaptureFixture) -> None:
    """config.md: a capability that cannot be mapped MUST be logged as a warning;
    runtimes SHOULD NOT fail (runc also only warns)."""
    sets = parse_capabilities({"bounding": ["CAP_CHOWN", "CAP_FOO"]})
    assert sets.bounding == {0}
    assert 'process.capabilities.bounding: unknown capability "CAP_FOO"' in capfd.readouterr().err


def test_lowercase_name_is_unknown_as_in_runc(capfd: pytest.CaptureFixture) -> None:
    assert parse_capabilities({"effective": ["cap_chown"]}).effective == frozenset()
    assert 'effective: unknown capability "cap_chown"' in capfd.readouterr().err


def test_wrong_types_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^process.capabilities.permitted: expected array"):
        parse_capabilities({"permitted": "CAP_CHOWN"})
    with pytest.raises(ConfigError, match=r"^process.capabilities.ambient: expected capability"):
        parse_capabilities({"ambient": [5]})
    with pytest.raises(ConfigError, match=r"^process.capabilities: expected object"):
        parse_capabilities(["CAP_CHOWN"])  # type: ignore[arg-type]


def test_names_beyond_running_kernel_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate an older kernel whose last capability is CAP_BPF (39): runc skips 40.
    monkeypatch.setattr(caps, "_last_cap", 39)
    sets = parse_capabilities({"bounding": ["CAP_BPF", "CAP_CHECKPOINT_RESTORE"]})
    assert sets.bounding == {39}


def test_last_cap_matches_proc() -> None:
    path = Path("/proc/sys/kernel/cap_last_cap")
    if not path.exists():
        pytest.skip("/proc/sys/kernel/cap_last_cap not available")
    assert caps.last_cap() == int(path.read_text())


def test_probe_finds_the_same_last_cap() -> None:
    path = Path("/proc/sys/kernel/cap_last_cap")
    if not path.exists():
        pytest.skip("/proc/sys/kernel/cap_last_cap not available")
    assert caps._probe_last_cap() == int(path.read_text())

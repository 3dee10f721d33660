"""Scheduling, placement and LSM fields without root: parsing, validation, packing."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from pyoci import syscalls
from pyoci.container.features import features_document
from pyoci.errors import ConfigError
from pyoci.process import cpulist, intelrdt, mempolicy, placement, scheduler
from pyoci.security import apparmor, selinux


@pytest.mark.parametrize(("text", "expected"), [
    ("0-3,7", [0, 1, 2, 3, 7]), (" 1 , 0 ", [0, 1]), ("", []), (None, []), ("2-2", [2]),
    ("3,1-2,2", [1, 2, 3]),
])
def test_cpulist_parse(text: str | None, expected: list[int]) -> None:
    assert cpulist.parse("f", text) == expected


@pytest.mark.parametrize("text", ["3-1", "a", "1-", "70000"])
def test_cpulist_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="^f: "):
        cpulist.parse("f", text)


def test_cpulist_format_round_trip() -> None:
    assert cpulist.format_list([0, 1, 2, 3, 7, 9, 10]) == "0-3,7,9-10"
    assert cpulist.parse("f", cpulist.format_list([0, 2, 3])) == [0, 2, 3]


def test_check_present_names_the_missing_cpu(tmp_path: Path) -> None:
    online = tmp_path / "online"
    online.write_text("0-1\n")
    cpulist.check_present("x", [0, 1], str(online), "CPU")
    with pytest.raises(ConfigError, match=r"^x: CPU 2 is not online \(online: 0-1\)$"):
        cpulist.check_present("x", [1, 2], str(online), "CPU")


def test_sched_attr_layout() -> None:
    """struct sched_attr, SCHED_ATTR_SIZE_VER1: offsets from <linux/sched/types.h>."""
    assert ctypes.sizeof(syscalls.SchedAttr) == 56
    offsets = {name: getattr(syscalls.SchedAttr, name).offset for name, _ in
               syscalls.SchedAttr._fields_}
    assert offsets == {"size": 0, "sched_policy": 4, "sched_flags": 8, "sched_nice": 16,
                       "sched_priority": 20, "sched_runtime": 24, "sched_deadline": 32,
                       "sched_period": 40, "sched_util_min": 48, "sched_util_max": 52}


def test_sched_params_every_policy_and_flag() -> None:
    assert scheduler.POLICIES == {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2,
                                  "SCHED_BATCH": 3, "SCHED_ISO": 4, "SCHED_IDLE": 5,
                                  "SCHED_DEADLINE": 6}
    params = scheduler.sched_params({"policy": "SCHED_OTHER", "nice": -3,
                                     "flags": list(scheduler.FLAGS)})
    assert (params.policy, params.nice, params.flags) == (0, -3, 0x7F)
    dl = scheduler.sched_params({"policy": "SCHED_DEADLINE", "runtime": 1, "deadline": 2,
                                 "period": 3})
    assert (dl.policy, dl.runtime, dl.deadline, dl.period) == (6, 1, 2, 3)
    assert scheduler.sched_params({"policy": "SCHED_RR", "priority": 99}).priority == 99


@pytest.mark.parametrize(("sched", "field"), [
    ({"policy": "SCHED_X"}, "process.scheduler.policy"),
    ({"policy": "SCHED_FIFO"}, "process.scheduler.priority"),
    ({"policy": "SCHED_RR", "priority": 100}, "process.scheduler.priority"),
    ({"policy": "SCHED_BATCH", "priority": 1}, "process.scheduler.priority"),
    ({"policy": "SCHED_OTHER", "nice": -21}, "process.scheduler.nice"),
    ({"policy": "SCHED_OTHER", "runtime": 5}, "process.scheduler"),
    ({"policy": "SCHED_DEADLINE"}, "process.scheduler"),
    ({"policy": "SCHED_DEADLINE", "runtime": 3, "deadline": 5, "period": 4},
     "process.scheduler"),
    ({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_X"]}, "process.scheduler.flags"),
])
def test_sched_params_rejects(sched: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"^{field}: "):
        scheduler.sched_params(sched)


@pytest.mark.parametrize(("klass", "prio", "value"), [
    ("IOPRIO_CLASS_RT", 0, 0x2000), ("IOPRIO_CLASS_BE", 7, 0x4007),
    ("IOPRIO_CLASS_IDLE", 4, 0x6004)])
def test_ioprio_value(klass: str, prio: int, value: int) -> None:
    assert scheduler.ioprio_value({"class": klass, "priority": prio}) == value


@pytest.mark.parametrize("io", [{"class": "IOPRIO_CLASS_NONE", "priority": 0},
                                {"class": "IOPRIO_CLASS_BE", "priority": 8}])
def test_ioprio_rejects(io: dict) -> None:
    with pytest.raises(ConfigError, match=r"^process\.ioPriority\.(class|priority): "):
        scheduler.ioprio_value(io)


def test_mempolicy_mode_flags_and_mask() -> None:
    pol = mempolicy.parse({"mode": "MPOL_INTERLEAVE", "nodes": "0,64",
                           "flags": ["MPOL_F_STATIC_NODES"]})
    assert pol.mode == 3 | (1 << 15)
    assert pol.nodemask() == ([1, 1], 129)  # bits 0 and 64: two words, maxnode = bits + 1
    assert mempolicy.parse({"mode": "MPOL_LOCAL"}).nodemask() == ([], 0)
    assert mempolicy.parse({"mode": "MPOL_BIND", "nodes": "1",
                            "flags": ["MPOL_F_NUMA_BALANCING"]}).mode == 2 | (1 << 13)


@pytest.mark.parametrize("policy", [
    {"mode": "MPOL_X"}, {"mode": "MPOL_BIND"}, {"mode": "MPOL_DEFAULT", "nodes": "0"},
    {"mode": "MPOL_LOCAL", "flags": ["MPOL_F_STATIC_NODES"]},
    {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_X"]},
    {"mode": "MPOL_BIND", "nodes": "0",
     "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
])
def test_mempolicy_rejects(policy: dict) -> None:
    with pytest.raises(ConfigError, match=r"^linux\.memoryPolicy"):
        mempolicy.parse(policy)


def test_mempolicy_relative_nodes_are_not_checked_against_online(tmp_path: Path) -> None:
    online = tmp_path / "online"
    online.write_text("0\n")
    relative = mempolicy.parse({"mode": "MPOL_BIND", "nodes": "3",
                                "flags": ["MPOL_F_RELATIVE_NODES"]})
    mempolicy.check_nodes_online(relative, str(online))
    with pytest.raises(ConfigError, match=r"node 3 is not online \(online: 0\)"):
        mempolicy.check_nodes_online(mempolicy.parse({"mode": "MPOL_BIND", "nodes": "3"}),
                                     str(online))


def test_personality_values() -> None:
    assert placement.personality_value({"domain": "LINUX"}) == 0
    assert placement.personality_value({"domain": "LINUX32"}) == 8
    with pytest.raises(ConfigError, match=r'^linux\.personality\.domain: unknown domain "X"'):
        placement.personality_value({"domain": "X"})
    with pytest.raises(ConfigError, match=r"^linux\.personality\.flags: "):
        placement.personality_value({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]})


def test_intel_rdt_detection_on_canned_mountinfo(tmp_path: Path) -> None:
    """Fake mountinfo files stand in for a host with and without resctrl."""
    with_rdt = tmp_path / "with"
    with_rdt.write_text("30 22 0:26 / /sys/fs/resctrl rw,relatime shared:9 - resctrl resctrl rw\n")
    without = tmp_path / "without"
    without.write_text("22 1 0:21 / /sys rw shared:7 - sysfs sysfs rw\n")
    assert intelrdt.resctrl_mounted(mountinfo=str(with_rdt))
    assert not intelrdt.resctrl_mounted(mountinfo=str(without))
    cfg = {"linux": {"intelRdt": {"closID": "x"}}}
    with pytest.raises(ConfigError, match="^linux.intelRdt: resctrl is not mounted at "
                                          "/sys/fs/resctrl$"):
        intelrdt.check(cfg, mountinfo=str(without))
    with pytest.raises(ConfigError, match="^linux.intelRdt: not supported"):
        intelrdt.check(cfg, mountinfo=str(with_rdt))


def test_intel_rdt_absent_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the field resctrl must not even be looked at (config-linux.md)."""
    def forbidden(*_args: object, **_kwargs: object) -> bool:
        raise AssertionError("resctrl looked at without linux.intelRdt")

    monkeypatch.setattr(intelrdt, "resctrl_mounted", forbidden)
    intelrdt.check({"linux": {}})
    intelrdt.check({})


def test_features_follow_the_implementation() -> None:
    linux = features_document()["linux"]
    assert linux["apparmor"] == {"enabled": apparmor.IMPLEMENTED} == {"enabled": True}
    assert linux["selinux"] == {"enabled": selinux.IMPLEMENTED} == {"enabled": True}
    assert linux["intelRdt"] == {"enabled": intelrdt.IMPLEMENTED}
    assert linux["memoryPolicy"] == {"modes": list(mempolicy.MODES),
                                     "flags": list(mempolicy.FLAGS)}
    assert len(linux["memoryPolicy"]["modes"]) == 7

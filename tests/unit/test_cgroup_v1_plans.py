"""The v1 plans and runc's device emulator, without a host: order, skips, errors."""

from __future__ import annotations

import pytest

from pyoci.cgroups import devices, v1
from pyoci.errors import ConfigError

F = "linux.resources.memory"


def test_memory_limit_then_swap_without_host() -> None:
    plan = v1.memory_plan({"limit": 10, "swap": 20}, F, None)
    assert [w[0] for w in plan] == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]


def test_memory_raising_writes_swap_first(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "memory.limit_in_bytes").write_text("100\n")
    plan = v1.memory_plan({"limit": 150, "swap": 200}, F, str(tmp_path))
    assert [w[0] for w in plan] == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_zero_values_ask_for_nothing() -> None:
    assert v1.memory_plan({"limit": 0, "reservation": 0, "swappiness": -1}, F, None) == []
    assert v1.cpu_plan({"shares": 0, "quota": 0}, "c") == []
    assert v1.net_cls_plan({"classID": 0}, "n") == []
    assert v1.rdma_plan({}, "r") == []


def test_pids_values() -> None:
    assert v1.pids_plan({"limit": -1}, "p") == [("pids.max", "max", "p.limit")]
    assert v1.pids_plan({"limit": 0}, "p") == [("pids.max", "0", "p.limit")]
    assert v1.pids_plan({}, "p") == []


def test_blkio_lines() -> None:
    plan = v1.blkio_plan({"weight": 10, "weightDevice": [{"major": 8, "minor": 0, "weight": 5}],
                          "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}]},
                         "b", None)
    assert plan == [("blkio.bfq.weight", "10", "b.weight"),
                    ("blkio.bfq.weight_device", "8:0 5", "b.weightDevice[0].weight"),
                    ("blkio.throttle.write_iops_device", "8:16 300",
                     "b.throttleWriteIOPSDevice[0]")]


def test_hugetlb_and_rdma_and_net_prio() -> None:
    assert v1.hugetlb_plan([{"pageSize": "2MB", "limit": 4}], "h") == \
        [("hugetlb.2MB.limit_in_bytes", "4", "h[0]")]
    with pytest.raises(ConfigError, match=r"h\[0\]\.pageSize"):
        v1.hugetlb_plan([{"pageSize": "2M", "limit": 4}], "h")
    assert v1.rdma_plan({"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10}}, "r") == \
        [("rdma.max", "mlx5_1 hca_handle=3 hca_object=10", "r.mlx5_1")]
    assert v1.net_prio_plan({"priorities": [{"name": "eth0", "priority": 5}]}, "n") == \
        [("net_prio.ifpriomap", "eth0 5", "n.priorities[0]")]


def test_emulator_whitelist_with_defaults() -> None:
    rules = devices.effective_rules([{"allow": False, "access": "rwm"},
                                     {"allow": False, "type": "c", "major": 1, "minor": 5,
                                      "access": "rwm"}], [], "d")
    emu = devices.build(rules, "d")
    assert "c 1:5 rwm" in emu.lines()  # runc's defaults come after the config's rules
    assert emu.transition(devices.parse_list("a *:* rwm\n"))[0] == ("devices.deny", "a")
    assert emu.transition(devices.parse_list("\n".join(emu.lines()))) == []


def test_emulator_linux_devices_replace_a_default() -> None:
    rules = devices.effective_rules([], [{"path": "/dev/null"}], "d")
    assert "c 1:3 rwm" not in devices.build(rules, "d").lines()


def test_emulator_partial_wildcard_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"d\[2\]: would leave"):
        devices.build([{"allow": False}, {"allow": True, "type": "c", "major": 1},
                       {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"}],
                      "d")


def test_emulator_blacklist() -> None:
    emu = devices.build([{"allow": True, "access": "rwm"},
                         {"allow": False, "type": "b", "major": 8, "minor": 0, "access": "w"}],
                        "d")
    assert emu.transition(devices.Emulator()) == [("devices.allow", "a"),
                                                  ("devices.deny", "b 8:0 w")]

"""The systemd driver's pure parts: cgroupsPath parsing and OCI → unit properties.

Expected values are runc's (libcontainer/cgroups/systemd common.go, v1.go,
v2.go): an engine moving from runc to pyoci must get the same unit.
"""

from __future__ import annotations

import pytest

from pyoci.cgroups.systemd import (
    INFINITY,
    base_properties,
    cpu_quota_properties,
    expand_slice,
    parse_path,
    v1_properties,
    v2_properties,
)
from pyoci.errors import ConfigError


def test_parse_path_forms() -> None:
    assert parse_path("system.slice:docker:abc", "id") == ("system.slice", "docker-abc.scope")
    assert parse_path(":crio:abc", "id") == ("system.slice", "crio-abc.scope")
    assert parse_path("machine.slice::abc", "id") == ("machine.slice", "abc.scope")
    assert parse_path("", "myid") == ("system.slice", "pyoci-myid.scope")


@pytest.mark.parametrize("raw", ["system.slice:abc", "a:b:c:d", "/plain/path", "x.slice:p:",
                                 "notaslice:p:n", "a--b.slice:p:n", "-a.slice:p:n",
                                 "a/b.slice:p:n", "system.slice:p:sub.slice"])
def test_parse_path_rejects(raw: str) -> None:
    with pytest.raises(ConfigError, match="linux.cgroupsPath"):
        parse_path(raw, "id")


def test_expand_slice() -> None:
    assert expand_slice("-.slice") == "/"
    assert expand_slice("system.slice") == "/system.slice"
    assert expand_slice("a-b-c.slice") == "/a.slice/a-b.slice/a-b-c.slice"


def test_base_properties() -> None:
    props = dict(base_properties("p-x.scope", "system.slice", 42))
    assert props["Slice"] == ("s", "system.slice")
    assert props["PIDs"] == ("au", [42])
    assert props["Delegate"] == ("b", True)
    assert props["DefaultDependencies"] == ("b", False)


def test_cpu_quota_rounds_up_to_10ms() -> None:
    # 50000/100000 → 500000 µs/s; 12345/100000 → 123450 → rounded up to 130000
    assert cpu_quota_properties(50000, 100000) == [("CPUQuotaPeriodUSec", ("t", 100000)),
                                                   ("CPUQuotaPerSecUSec", ("t", 500000))]
    assert cpu_quota_properties(12345, None) == [("CPUQuotaPerSecUSec", ("t", 130000))]
    assert cpu_quota_properties(-1, None) == [("CPUQuotaPerSecUSec", ("t", INFINITY))]
    assert cpu_quota_properties(None, 0) == []


def test_v1_properties() -> None:
    res = {"memory": {"limit": 64 << 20}, "cpu": {"shares": 512, "quota": 20000,
                                                   "period": 100000},
           "blockIO": {"weight": 300}, "pids": {"limit": 32}}
    assert dict(v1_properties(res)) == {
        "MemoryLimit": ("t", 64 << 20), "CPUShares": ("t", 512),
        "CPUQuotaPeriodUSec": ("t", 100000), "CPUQuotaPerSecUSec": ("t", 200000),
        "BlockIOWeight": ("t", 300), "TasksMax": ("t", 32)}
    assert dict(v1_properties({"memory": {"limit": -1}, "pids": {"limit": -1}})) == {
        "MemoryLimit": ("t", INFINITY), "TasksMax": ("t", INFINITY)}
    assert v1_properties({"memory": {"limit": 0}, "pids": {"limit": 0}, "cpu": {}}) == []


def test_v2_properties() -> None:
    res = {"memory": {"limit": 100, "reservation": 50, "swap": 300},
           "cpu": {"shares": 1024}, "blockIO": {"weight": 500}, "pids": {"limit": 7}}
    assert dict(v2_properties(res)) == {
        "MemoryMax": ("t", 100), "MemoryLow": ("t", 50), "MemorySwapMax": ("t", 200),
        "CPUWeight": ("t", 39), "IOWeight": ("t", 4950), "TasksMax": ("t", 7)}
    assert dict(v2_properties({"memory": {"limit": 100, "swap": -1}})) == {
        "MemoryMax": ("t", 100), "MemorySwapMax": ("t", INFINITY)}


def test_default_path_does_not_load_jeepney() -> None:
    """jeepney is imported only when a bus is needed, never by the mapping or the CLI."""
    import subprocess
    import sys

    code = ("import sys; import pyoci.cli, pyoci.cgroups.systemd as s; "
            "s.v1_properties({}); print('jeepney' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"

"""linux.resources on this host's cgroup v1 hierarchies: files, limits that bite, errors.

Every value is read back from the container's own cgroup directory while the
container exists (created, not started), compared with what runc 1.1.5 writes
for the same config; then the container is deleted and nothing may be left.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root

from pyoci.cgroups.manager import hierarchies

pytestmark = [pytest.mark.root, needs_root]

V1 = {name: Path(mount) for name, mount in hierarchies().items() if name}


def new_id() -> str:
    return f"pyoci-{uuid4().hex[:8]}"


def needs_v1(controller: str, file: str | None = None) -> Path:
    if controller not in V1:
        pytest.skip(f"no v1 {controller} hierarchy on this host")
    if file and not (V1[controller] / file).exists() and not _child_has(controller, file):
        pytest.skip(f"this kernel has no {controller} file {file}")
    return V1[controller]


def _child_has(controller: str, file: str) -> bool:
    """Some files (blkio.bfq.weight) exist in child cgroups only."""
    probe = V1[controller] / f"pyoci-probe-{uuid4().hex[:6]}"
    probe.mkdir()
    try:
        return (probe / file).exists()
    finally:
        probe.rmdir()


def create(pyoci: Pyoci, bundle: Bundle, cid: str, *, check: bool = True
           ) -> subprocess.CompletedProcess:
    """``pyoci create``: the container keeps create's stdio, so files, not pipes."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle",
                               str(bundle.path), cid], stdout=out, stderr=err,
                              stdin=subprocess.DEVNULL, timeout=60)
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def set_resources(resources: dict) -> Callable[[dict], None]:
    def edit(c: dict) -> None:
        c["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}], **resources}
    return edit


def read_created(pyoci: Pyoci, bundle: Bundle, resources: dict,
                 files: list[tuple[str, str]]) -> list[str]:
    """Create a container with ``resources``, read (controller, file) from its cgroup."""
    bundle.edit(set_resources(resources))
    bundle.with_args("sleep", "30")
    cid = new_id()
    create(pyoci, bundle, cid)
    try:
        return [(V1[ctrl] / cid / name).read_text().strip() for ctrl, name in files]
    finally:
        pyoci("delete", "--force", cid)
        assert_nothing_left(pyoci, cid)


def run_inside(pyoci: Pyoci, bundle: Bundle, resources: dict, script: str
               ) -> subprocess.CompletedProcess:
    bundle.edit(set_resources(resources))
    bundle.with_args("sh", "-c", script)
    cid = new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False,
                 stdin=subprocess.DEVNULL)
    assert_nothing_left(pyoci, cid)
    return proc


def create_fails(pyoci: Pyoci, bundle: Bundle, resources: dict) -> str:
    """The failed create's one stderr line; nothing of it may be left."""
    bundle.edit(set_resources(resources))
    cid = new_id()
    proc = create(pyoci, bundle, cid, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert_nothing_left(pyoci, cid)
    return err


MiB = 1 << 20

# (id, resources, controller, file, expected content); values as runc 1.1.5 writes them.
FILE_CASES = [
    ("memory-limit", {"memory": {"limit": 32 * MiB}}, "memory", "memory.limit_in_bytes",
     str(32 * MiB)),
    ("memory-reservation", {"memory": {"reservation": 16 * MiB}}, "memory",
     "memory.soft_limit_in_bytes", str(16 * MiB)),
    ("memory-swap", {"memory": {"limit": 32 * MiB, "swap": 64 * MiB}}, "memory",
     "memory.memsw.limit_in_bytes", str(64 * MiB)),
    ("memory-unlimited", {"memory": {"limit": -1}}, "memory", "memory.memsw.limit_in_bytes",
     "9223372036854771712"),
    ("memory-swappiness", {"memory": {"swappiness": 10}}, "memory", "memory.swappiness", "10"),
    ("memory-oom", {"memory": {"disableOOMKiller": True}}, "memory", "memory.oom_control",
     "oom_kill_disable 1"),
    ("memory-kernelTCP", {"memory": {"kernelTCP": 8 * MiB}}, "memory",
     "memory.kmem.tcp.limit_in_bytes", str(8 * MiB)),
    ("memory-hierarchy", {"memory": {"useHierarchy": True}}, "memory", "memory.use_hierarchy",
     "1"),
    ("cpu-shares", {"cpu": {"shares": 512}}, "cpu", "cpu.shares", "512"),
    ("cpu-quota", {"cpu": {"quota": 50000, "period": 100000}}, "cpu", "cpu.cfs_quota_us",
     "50000"),
    ("cpu-period", {"cpu": {"quota": 50000, "period": 200000}}, "cpu", "cpu.cfs_period_us",
     "200000"),
    ("cpu-burst", {"cpu": {"quota": 50000, "burst": 20000}}, "cpu", "cpu.cfs_burst_us",
     "20000"),
    ("cpu-idle", {"cpu": {"idle": 1}}, "cpu", "cpu.idle", "1"),
    ("cpu-rt-runtime", {"cpu": {"realtimeRuntime": 10000}}, "cpu", "cpu.rt_runtime_us",
     "10000"),
    ("cpu-rt-period", {"cpu": {"realtimePeriod": 500000}}, "cpu", "cpu.rt_period_us",
     "500000"),
    ("cpuset-cpus", {"cpu": {"cpus": "1"}}, "cpuset", "cpuset.cpus", "1"),
    ("cpuset-mems", {"cpu": {"mems": "0"}}, "cpuset", "cpuset.mems", "0"),
    ("pids-limit", {"pids": {"limit": 10}}, "pids", "pids.max", "10"),
    ("pids-unlimited", {"pids": {"limit": -1}}, "pids", "pids.max", "max"),
    ("pids-two", {"pids": {"limit": 2}}, "pids", "pids.max", "2"),
]


@pytest.mark.parametrize(("resources", "controller", "file", "expected"),
                         [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_value_lands_in_file(pyoci: Pyoci, bundle: Bundle, resources: dict, controller: str,
                             file: str, expected: str) -> None:
    needs_v1(controller, file)
    (got,) = read_created(pyoci, bundle, resources, [(controller, file)])
    assert got.splitlines()[0] == expected


def block_device() -> str:
    for dev in sorted(Path("/sys/block").iterdir()):
        if not dev.name.startswith(("loop", "zram", "ram")):
            return (dev / "dev").read_text().strip()
    pytest.skip("no disk in /sys/block to throttle")


@pytest.mark.parametrize(("key", "file"), [
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
])
def test_blkio_throttle(pyoci: Pyoci, bundle: Bundle, key: str, file: str) -> None:
    needs_v1("blkio", file)
    dev = block_device()
    major, minor = map(int, dev.split(":"))
    (got,) = read_created(pyoci, bundle,
                          {"blockIO": {key: [{"major": major, "minor": minor, "rate": 1234}]}},
                          [("blkio", file)])
    assert got == f"{dev} 1234"


def test_blkio_weight_in_the_file_the_kernel_has(pyoci: Pyoci, bundle: Bundle) -> None:
    """blkio.weight (CFQ) if present, else blkio.bfq.weight, as runc 1.1 picks."""
    needs_v1("blkio")
    file = "blkio.weight" if _child_has("blkio", "blkio.weight") else "blkio.bfq.weight"
    needs_v1("blkio", file)
    (got,) = read_created(pyoci, bundle, {"blockIO": {"weight": 300}}, [("blkio", file)])
    assert got == "300"


def test_blkio_leaf_weight_without_cfq_is_an_error(pyoci: Pyoci, bundle: Bundle) -> None:
    needs_v1("blkio")
    if _child_has("blkio", "blkio.leaf_weight"):
        pytest.skip("this kernel has CFQ's blkio.leaf_weight")
    err = create_fails(pyoci, bundle, {"blockIO": {"leafWeight": 300}})
    assert "linux.resources.blockIO.leafWeight: cannot write blkio.leaf_weight" in err


def test_zero_values_are_not_written(pyoci: Pyoci, bundle: Bundle) -> None:
    """runc skips zero shares/quota/limit/weight: the cgroup keeps the kernel defaults."""
    needs_v1("cpu")
    needs_v1("memory")
    got = read_created(pyoci, bundle, {"cpu": {"shares": 0, "quota": 0},
                                       "memory": {"limit": 0}},
                       [("cpu", "cpu.shares"), ("cpu", "cpu.cfs_quota_us"),
                        ("memory", "memory.limit_in_bytes")])
    assert got == ["1024", "-1", "9223372036854771712"]


def test_kernel_memory(pyoci: Pyoci, bundle: Bundle) -> None:
    """Linux 6 keeps memory.kmem.limit_in_bytes but ignores writes: refused, not faked."""
    root = needs_v1("memory", "memory.kmem.limit_in_bytes")
    probe = root / f"pyoci-probe-{uuid4().hex[:6]}"
    probe.mkdir()
    try:
        try:
            (probe / "memory.kmem.limit_in_bytes").write_text(str(64 * MiB))
            honoured = (probe / "memory.kmem.limit_in_bytes").read_text().strip() == str(64 * MiB)
        except OSError:
            honoured = False
    finally:
        probe.rmdir()
    resources = {"memory": {"kernel": 64 * MiB}}
    if honoured:
        (got,) = read_created(pyoci, bundle, resources, [("memory", "memory.kmem.limit_in_bytes")])
        assert got == str(64 * MiB)
    else:
        err = create_fails(pyoci, bundle, resources)
        assert "linux.resources.memory.kernel:" in err


# -- limits that bite ----------------------------------------------------------
FORK_20 = ("for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 30 & done;"
           " echo all")


def test_pids_limit_stops_forks(pyoci: Pyoci, bundle: Bundle) -> None:
    needs_v1("pids")
    limited = run_inside(pyoci, bundle, {"pids": {"limit": 10}}, FORK_20)
    assert limited.returncode != 0
    assert b"can't fork: Resource temporarily unavailable" in limited.stderr
    free = run_inside(pyoci, bundle, {"pids": {"limit": 100}}, FORK_20)
    assert (free.returncode, free.stdout) == (0, b"all\n"), free.stderr


def _oom_kills_of(pyoci: Pyoci, bundle: Bundle, limit: int, script: str) -> int:
    """Run ``script`` under ``limit`` and return the OOM kills its memory cgroup
    counted, read from the host before delete. Under pressure the kernel may kill
    more than the intended victim (even the container's PID 1, once the first victim
    is already exiting), so only the cgroup's own count is a stable proof."""
    import time

    bundle.edit(set_resources({"memory": {"limit": limit, "swap": limit}}))
    bundle.with_args("sh", "-c", script)
    cid = new_id()
    create(pyoci, bundle, cid)
    try:
        pyoci("start", cid)
        deadline = time.monotonic() + 30
        while pyoci.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.05)
        control = (V1["memory"] / cid / "memory.oom_control").read_text()
    finally:
        pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)
    return int(control.split("oom_kill ")[1].split()[0])


def test_memory_limit_oom_kills(pyoci: Pyoci, bundle: Bundle) -> None:
    """tail keeps a newline-free stream in memory: 100 MB against 32 MiB, no swap."""
    needs_v1("memory", "memory.memsw.limit_in_bytes")
    script = "head -c 100000000 /dev/zero | tail >/dev/null"
    assert _oom_kills_of(pyoci, bundle, 32 * MiB, script) >= 1
    assert _oom_kills_of(pyoci, bundle, 512 * MiB, script) == 0


def test_cpuset_confines_cpus(pyoci: Pyoci, bundle: Bundle) -> None:
    root = needs_v1("cpuset")
    cpus = (root / "cpuset.effective_cpus").read_text().strip()
    last = cpus.replace(",", "-").split("-")[-1]
    proc = run_inside(pyoci, bundle, {"cpu": {"cpus": last}},
                      "grep Cpus_allowed_list /proc/self/status")
    assert proc.stdout.decode().split() == ["Cpus_allowed_list:", last], proc.stderr


# -- errors --------------------------------------------------------------------
@pytest.mark.parametrize(("resources", "field", "controller"), [
    ({"network": {"classID": 1048577}}, "linux.resources.network.classID", "net_cls"),
    ({"network": {"priorities": [{"name": "lo", "priority": 5}]}},
     "linux.resources.network.priorities[0]", "net_prio"),
    ({"rdma": {"mlx5_1": {"hcaHandles": 3}}}, "linux.resources.rdma.mlx5_1", "rdma"),
], ids=["net_cls", "net_prio", "rdma"])
def test_absent_controller_is_an_error(pyoci: Pyoci, bundle: Bundle, resources: dict,
                                       field: str, controller: str) -> None:
    if controller in V1:
        pytest.skip(f"this host has a v1 {controller} hierarchy")
    err = create_fails(pyoci, bundle, resources)
    assert f"{field}: the {controller} cgroup controller is not available" in err


def test_absent_controller_not_asked_for_is_silent(pyoci: Pyoci, bundle: Bundle) -> None:
    """Zero and empty values ask for nothing: no error even without net_cls/rdma."""
    needs_v1("pids")
    (got,) = read_created(pyoci, bundle, {"network": {"classID": 0, "priorities": []},
                                          "rdma": {}, "hugepageLimits": [],
                                          "pids": {"limit": 7}}, [("pids", "pids.max")])
    assert got == "7"


def test_hugepage_limits(pyoci: Pyoci, bundle: Bundle) -> None:
    """No v1 hugetlb here: the limit goes to the unified hierarchy if it has hugetlb."""
    if not Path("/sys/kernel/mm/hugepages/hugepages-2048kB").exists():
        pytest.skip("no 2 MB huge pages on this host")
    resources = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]}
    if "hugetlb" in V1:
        (got,) = read_created(pyoci, bundle, resources,
                              [("hugetlb", "hugetlb.2MB.limit_in_bytes")])
        assert got == str(4 * MiB)
        return
    unified = Path(hierarchies().get("", "/nonexistent"))
    if "hugetlb" not in (unified / "cgroup.controllers").read_text().split():
        err = create_fails(pyoci, bundle, resources)
        assert "linux.resources.hugepageLimits[0]: the hugetlb cgroup controller" in err
        return
    bundle.edit(set_resources(resources))
    cid = new_id()
    create(pyoci, bundle, cid)
    try:
        assert (unified / cid / "hugetlb.2MB.max").read_text().strip() == str(4 * MiB)
    finally:
        pyoci("delete", "--force", cid)
        assert_nothing_left(pyoci, cid)


def test_bad_cpuset_is_an_error(pyoci: Pyoci, bundle: Bundle) -> None:
    needs_v1("cpuset")
    err = create_fails(pyoci, bundle, {"cpu": {"cpus": "99"}})
    assert "linux.resources.cpu.cpus: cannot write cpuset.cpus: " in err


@pytest.mark.parametrize("limit", [0, 1])
def test_pids_limit_too_small_to_create(pyoci: Pyoci, bundle: Bundle, limit: int) -> None:
    """Valid for the kernel, but create forks inside the cgroup: refused with the field."""
    needs_v1("pids")
    err = create_fails(pyoci, bundle, {"pids": {"limit": limit}})
    assert f"linux.resources.pids.limit: {limit} leaves no room" in err


def test_bad_swappiness_is_an_error(pyoci: Pyoci, bundle: Bundle) -> None:
    needs_v1("memory")
    err = create_fails(pyoci, bundle, {"memory": {"swappiness": 101}})
    assert "linux.resources.memory.swappiness: " in err


def test_swap_below_limit_is_an_error(pyoci: Pyoci, bundle: Bundle) -> None:
    """memsw (memory+swap) below the memory limit: the kernel refuses, field named."""
    needs_v1("memory", "memory.memsw.limit_in_bytes")
    err = create_fails(pyoci, bundle, {"memory": {"limit": 64 * MiB, "swap": 32 * MiB}})
    assert "linux.resources.memory.swap: cannot write memory.memsw.limit_in_bytes: " in err


def test_unified_without_v2_controller_is_an_error(pyoci: Pyoci, bundle: Bundle) -> None:
    needs_v1("memory")
    err = create_fails(pyoci, bundle, {"unified": {"memory.max": "1000000"}})
    assert 'linux.resources.unified' in err


# -- devices -------------------------------------------------------------------
RUNC_DEFAULTS = ["b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
                 "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm"]


def test_devices_list_is_runcs(pyoci: Pyoci, bundle: Bundle) -> None:
    """Deny all, the config's allows, then runc's defaults: what runc 1.1.5 leaves."""
    needs_v1("devices")
    rules = {"devices": [{"allow": False, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"},
                         {"allow": True, "type": "b", "major": 7, "access": "rw"}]}
    bundle.edit(lambda c: c["linux"]["resources"].update(rules))
    bundle.with_args("sleep", "30")
    cid = new_id()
    create(pyoci, bundle, cid)
    try:
        got = (V1["devices"] / cid / "devices.list").read_text().split("\n")
    finally:
        pyoci("delete", "--force", cid)
        assert_nothing_left(pyoci, cid)
    assert sorted(filter(None, got)) == sorted([*RUNC_DEFAULTS, "c 1:11 r", "b 7:* rw"])


def test_devices_enforced(pyoci: Pyoci, bundle: Bundle) -> None:
    """/dev/null works; a node for /dev/mem (c 1:1, not allowed) cannot be opened.

    A deny rule for a default device (c 1:5) is overridden by runc's defaults,
    appended after the config's rules, so /dev/zero stays readable, as in runc.
    """
    needs_v1("devices")
    bundle.edit(lambda c: c["process"]["capabilities"]["bounding"].append("CAP_MKNOD"))
    bundle.edit(lambda c: c["process"]["capabilities"]["effective"].append("CAP_MKNOD"))
    bundle.edit(lambda c: c["process"]["capabilities"]["permitted"].append("CAP_MKNOD"))
    rules = [{"allow": False, "access": "rwm"},
             {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]
    bundle.edit(lambda c: c["linux"]["resources"].update(devices=rules))
    script = ("echo x > /dev/null && echo null-ok; head -c1 /dev/zero | wc -c; "
              "mknod /dev/mem c 1 1 && head -c1 /dev/mem")
    bundle.with_args("sh", "-c", script)
    cid = new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False, stdin=subprocess.DEVNULL)
    assert_nothing_left(pyoci, cid)
    assert proc.stdout.decode().split() == ["null-ok", "1"], proc.stderr
    assert "/dev/mem: Operation not permitted" in proc.stderr.decode()


def test_partial_wildcard_removal_is_an_error(pyoci: Pyoci, bundle: Bundle) -> None:
    """runc's emulator refuses what v1 would silently ignore (c 1:3 stays allowed)."""
    needs_v1("devices")
    rules = [{"allow": False, "access": "rwm"},
             {"allow": True, "type": "c", "major": 1, "access": "rw"},
             {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "r"}]
    bundle.edit(lambda c: c["linux"]["resources"].update(devices=rules))
    cid = new_id()
    proc = create(pyoci, bundle, cid, check=False)
    assert proc.returncode != 0
    assert "linux.resources.devices[2]: would leave the partially matching wildcard rule " \
           "c 1:* rw" in proc.stderr.decode()
    assert_nothing_left(pyoci, cid)

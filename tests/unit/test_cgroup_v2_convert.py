"""cgroup v2 conversions and writers (no root): runc's formulas, file lines, the eBPF encoding."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pyoci.cgroups import ebpf, v2
from pyoci.errors import ConfigError, PyociError


@pytest.mark.parametrize(("shares", "weight"), [
    (0, 0), (2, 1), (1024, 39), (262144, 10000), (512, 20), (100, 4)])
def test_cpu_shares_to_weight(shares: int, weight: int) -> None:
    """runc 1.1: 1 + (shares - 2) * 9999 / 262142, 0 stays "unset"."""
    assert v2.cpu_shares_to_weight(shares) == weight


@pytest.mark.parametrize(("blkio", "io"), [(0, 0), (10, 1), (1000, 10000), (500, 4950), (100, 910)])
def test_blkio_weight_to_io_weight(blkio: int, io: int) -> None:
    assert v2.blkio_weight_to_io_weight(blkio) == io


@pytest.mark.parametrize(("swap", "memory", "expected"), [
    (0, -1, -1),          # unlimited memory, swap unset: swap unlimited too
    (-1, 1000, -1),       # -1 stays max
    (0, 1000, 0),         # unset
    (3000, 1000, 2000),   # memory+swap minus memory
    (1000, 1000, 0),      # equal: no swap
])
def test_memory_swap_to_v2(swap: int, memory: int, expected: int) -> None:
    assert v2.memory_swap_to_v2(swap, memory) == expected


@pytest.mark.parametrize(("swap", "memory", "reason"), [
    (3000, 0, "without memory limit"), (3000, -1, "without memory limit"),
    (500, 1000, "should be >= memory limit"), (3000, -5, "invalid memory value")])
def test_memory_swap_to_v2_refusals(swap: int, memory: int, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        v2.memory_swap_to_v2(swap, memory)


@pytest.mark.parametrize(("quota", "period", "line"), [
    (0, 0, ""), (50000, 100000, "50000 100000"), (-1, 100000, "max 100000"),
    (-1, 0, "max"), (20000, 0, "20000"), (0, 250000, "max 250000")])
def test_cpu_max(quota: int, period: int, line: str) -> None:
    assert v2.cpu_max(quota, period) == line


def test_num_to_str() -> None:
    assert (v2.num_to_str(0), v2.num_to_str(-1), v2.num_to_str(42)) == ("", "max", "42")


def test_io_max_and_rdma_lines() -> None:
    assert v2.io_max_line({"major": 8, "minor": 0, "rate": 1048576}, "rbps") == \
        "8:0 rbps=1048576"
    assert v2.io_max_line({"major": 8, "minor": 16, "rate": 0}, "wiops") == "8:16 wiops=max"
    assert v2.rdma_line("mlx5_1", {"hcaHandles": 3, "hcaObjects": 10000}) == \
        "mlx5_1 hca_handle=3 hca_object=10000"
    assert v2.rdma_line("mlx4_0", {"hcaObjects": 7}) == "mlx4_0 hca_object=7"


@pytest.mark.parametrize("key", ["", ".", "..", "../memory.max", "a/b", "x..y"])
def test_unified_key_refused(key: str) -> None:
    with pytest.raises(ConfigError, match=r'linux\.resources\.unified\['):
        v2.check_unified_key(key, "linux.resources.unified")


def _cgroup_dir(tmp_path: Path, *names: str) -> Path:
    """A stand-in cgroup directory: the files exist (writers never create files)."""
    for name in names:
        (tmp_path / name).write_text("")
    return tmp_path


def test_memory_writer(tmp_path: Path) -> None:
    d = _cgroup_dir(tmp_path, "memory.max", "memory.low", "memory.swap.max")
    v2._memory(str(d), {"limit": 1 << 20, "reservation": 1 << 19, "swap": 3 << 20},
               "linux.resources.memory")
    assert (d / "memory.max").read_text() == str(1 << 20)
    assert (d / "memory.low").read_text() == str(1 << 19)
    assert (d / "memory.swap.max").read_text() == str(2 << 20)


def test_memory_writer_equal_swap_disables_swap(tmp_path: Path) -> None:
    d = _cgroup_dir(tmp_path, "memory.max", "memory.swap.max")
    v2._memory(str(d), {"limit": 4096 * 256, "swap": 4096 * 256}, "m")
    assert (d / "memory.swap.max").read_text() == "0"


def test_memory_writer_without_swap_accounting_ignores_max(tmp_path: Path) -> None:
    """As runc: no memory.swap.max file, and swap asks for "max": nothing to do."""
    d = _cgroup_dir(tmp_path, "memory.max")
    v2._memory(str(d), {"limit": -1}, "m")
    assert (d / "memory.max").read_text() == "max"
    assert not (d / "memory.swap.max").exists()


def test_memory_writer_refusals(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"linux\.resources\.memory\.swap: unable"):
        v2._memory(str(tmp_path), {"swap": 100}, "linux.resources.memory")
    with pytest.raises(ConfigError, match=r"\.swappiness: cgroup v2"):
        v2._memory(str(tmp_path), {"swappiness": 10}, "linux.resources.memory")


def test_cpu_writer(tmp_path: Path) -> None:
    d = _cgroup_dir(tmp_path, "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle")
    v2._cpu(str(d), {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000,
                     "idle": 1}, "linux.resources.cpu")
    assert [(d / n).read_text() for n in ("cpu.weight", "cpu.max", "cpu.max.burst",
                                          "cpu.idle")] == ["39", "50000 100000", "1000", "1"]
    with pytest.raises(ConfigError, match=r"cpu\.realtimeRuntime"):
        v2._cpu(str(d), {"realtimeRuntime": 10}, "linux.resources.cpu")


def test_io_pids_cpuset_hugetlb_rdma_writers(tmp_path: Path) -> None:
    d = _cgroup_dir(tmp_path, "io.weight", "io.max", "pids.max", "cpuset.cpus",
                    "cpuset.mems", "hugetlb.2MB.max", "rdma.max")
    v2._io(str(d), {"weight": 500,
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 300}]}, "io")
    assert (d / "io.weight").read_text() == "4950"
    assert (d / "io.max").read_text() == "8:0 wiops=300"
    v2._pids(str(d), {"limit": -1}, "pids")
    assert (d / "pids.max").read_text() == "max"
    v2._cpuset(str(d), {"cpus": "0-1", "mems": "0"}, "cpu")
    assert (d / "cpuset.cpus").read_text() == "0-1"
    v2._hugetlb(str(d), [{"pageSize": "2MB", "limit": 2097152}], "hugepageLimits")
    assert (d / "hugetlb.2MB.max").read_text() == "2097152"
    v2._rdma(str(d), {"mlx5_1": {"hcaHandles": 3}}, "rdma")
    assert (d / "rdma.max").read_text() == "mlx5_1 hca_handle=3"


def test_missing_file_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(PyociError, match=r"^hugepageLimits\[0\]: cannot write hugetlb\.1GB\.max: "
                                         r"No such file or directory$"):
        v2._hugetlb(str(tmp_path), [{"pageSize": "1GB", "limit": 0}], "hugepageLimits")


def test_unknown_group_refused() -> None:
    with pytest.raises(ConfigError, match="linux.resources.network: cgroup v2 has no"):
        v2.apply_group("/nonexistent", "network", {"classID": 1}, "linux.resources.network")


# -- the eBPF device filter -------------------------------------------------------------

def _decode(program: bytes) -> list[tuple[int, int, int, int, int]]:
    out = []
    for i in range(0, len(program), 8):
        code, regs, off, imm = struct.unpack_from("<BBhi", program, i)
        out.append((code, regs & 0xF, regs >> 4, off, imm))
    return out


def test_instruction_encoding() -> None:
    """Byte layout of struct bpf_insn: code, dst|src<<4, s16 off, s32 imm (little endian)."""
    assert ebpf.ldx_w(2, 1, 4) == bytes([0x61, 0x12, 4, 0, 0, 0, 0, 0])
    assert ebpf.alu32_imm(0x50, 2, 0xFFFF) == bytes([0x54, 0x02, 0, 0, 0xFF, 0xFF, 0, 0])
    assert ebpf.alu32_imm(0x70, 3, 16) == bytes([0x74, 0x03, 0, 0, 16, 0, 0, 0])
    assert ebpf.mov32_reg(1, 3) == bytes([0xBC, 0x31, 0, 0, 0, 0, 0, 0])
    assert ebpf.jmp_imm(0x50, 4, 1, 3) == bytes([0x55, 0x04, 3, 0, 1, 0, 0, 0])
    assert ebpf.jmp_reg(0x50, 1, 3, 2) == bytes([0x5D, 0x31, 2, 0, 0, 0, 0, 0])
    assert ebpf.exit_insn() == bytes([0x95, 0, 0, 0, 0, 0, 0, 0])


def test_program_deny_all_allow_null() -> None:
    """[deny a rwm, allow c 1:3 rwm]: the last rule is checked first; deny-all ends it."""
    prog = ebpf.program_for([{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "c", "major": 1, "minor": 3,
                              "access": "rwm"}], "linux.resources.devices")
    assert _decode(prog) == [
        (0x61, 2, 1, 0, 0), (0x54, 2, 0, 0, 0xFFFF),   # r2 = type
        (0x61, 3, 1, 0, 0), (0x74, 3, 0, 0, 16),       # r3 = access
        (0x61, 4, 1, 4, 0), (0x61, 5, 1, 8, 0),        # r4 = major, r5 = minor
        (0x55, 2, 0, 4, 2),                            # type != char: next block
        (0x55, 4, 0, 3, 1),                            # major != 1
        (0x55, 5, 0, 2, 3),                            # minor != 3
        (0xB4, 0, 0, 0, 1), (0x95, 0, 0, 0, 0),        # allow
        (0xB4, 0, 0, 0, 0), (0x95, 0, 0, 0, 0),        # deny-all matches everything
    ]


def test_program_partial_access_and_default_deny() -> None:
    """An allow with "rw" checks (access & rw) == access; a deny "w" any overlap; then deny."""
    prog = _decode(ebpf.program_for([
        {"allow": True, "type": "b", "major": 8, "access": "rw"},
        {"allow": False, "type": "c", "major": 5, "minor": 0, "access": "w"}], "d"))
    body = prog[6:]
    assert body == [
        (0x55, 2, 0, 7, 2),                            # deny c 5:0 w: type
        (0xBC, 1, 3, 0, 0), (0x54, 1, 0, 0, 4),        # r1 = r3 & WRITE
        (0x15, 1, 0, 4, 0),                            # no write requested: next
        (0x55, 4, 0, 3, 5), (0x55, 5, 0, 2, 0),
        (0xB4, 0, 0, 0, 0), (0x95, 0, 0, 0, 0),
        (0x55, 2, 0, 6, 1),                            # allow b 8:* rw: type
        (0xBC, 1, 3, 0, 0), (0x54, 1, 0, 0, 6),        # r1 = r3 & (READ|WRITE)
        (0x5D, 1, 3, 3, 0),                            # r1 != r3: next
        (0x55, 4, 0, 2, 8),
        (0xB4, 0, 0, 0, 1), (0x95, 0, 0, 0, 0),
        (0xB4, 0, 0, 0, 0), (0x95, 0, 0, 0, 0),        # default deny
    ]


@pytest.mark.parametrize(("entry", "message"), [
    ({"allow": True, "type": "x"}, r'd\[0\]\.type: unknown device type "x"'),
    ({"allow": True, "type": "c", "access": "rq"}, r'd\[0\]\.access: unknown access "q"'),
    ({"allow": True, "type": "c", "major": "1"}, r"d\[0\]\.major: '1' is not a device number"),
])
def test_program_refusals(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ebpf.program_for([entry], "d")

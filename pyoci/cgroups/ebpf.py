"""linux.resources.devices on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program.

cgroup v2 has no devices.allow/deny files; the kernel asks a BPF program
attached to the cgroup instead. We assemble that program ourselves (a dozen
instruction kinds; no compiler, no library), following the layout of runc's
libcontainer/cgroups/devices/ebpf devicefilter:

    r2 = ctx->access_type & 0xffff      device type (BPF_DEVCG_DEV_*)
    r3 = ctx->access_type >> 16         requested access (BPF_DEVCG_ACC_*)
    r4 = ctx->major;  r5 = ctx->minor
    one block per rule, the LAST rule first, each jumping to the next block
    unless it matches; a matching block returns 1 (allow) or 0 (deny)
    the default: return 0 (deny)

so the last matching rule wins, as the OCI list is meant to be read. The
program needs no helper, so any license string loads; we use runc's "Apache".

Imported only when a v2-only host needs a device filter.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from typing import Any

from pyoci import syscalls
from pyoci.errors import ConfigError, PyociError

# <linux/bpf.h>
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE = 1, 2, 4
BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR = 1, 2
LICENSE = b"Apache\0"

_ACCESS = {"r": BPF_DEVCG_ACC_READ, "w": BPF_DEVCG_ACC_WRITE, "m": BPF_DEVCG_ACC_MKNOD}
_ALL_ACCESS = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD
_TYPES = {"c": BPF_DEVCG_DEV_CHAR, "b": BPF_DEVCG_DEV_BLOCK, "a": None}

# -- a tiny eBPF assembler ----------------------------------------------------------
# Instruction classes / ops / sources (<linux/bpf_common.h>, <linux/bpf.h>).
_LDX, _ALU, _JMP = 0x01, 0x04, 0x05
_MEM, _W = 0x60, 0x00
_AND, _RSH, _MOV = 0x50, 0x70, 0xB0
_JEQ, _JNE, _EXIT = 0x10, 0x50, 0x90
_K, _X = 0x00, 0x08


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """struct bpf_insn: u8 code, u8 dst:4 src:4 (dst in the low nibble), s16 off, s32 imm."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def ldx_w(dst: int, src: int, off: int) -> bytes:
    return insn(_LDX | _MEM | _W, dst, src, off)


def alu32_imm(op: int, dst: int, imm: int) -> bytes:
    return insn(_ALU | op | _K, dst, imm=imm)


def mov32_reg(dst: int, src: int) -> bytes:
    return insn(_ALU | _MOV | _X, dst, src)


def jmp_imm(op: int, dst: int, imm: int, off: int) -> bytes:
    return insn(_JMP | op | _K, dst, off=off, imm=imm)


def jmp_reg(op: int, dst: int, src: int, off: int) -> bytes:
    return insn(_JMP | op | _X, dst, src, off=off)


def exit_insn() -> bytes:
    return insn(_JMP | _EXIT)


PROLOGUE = [
    ldx_w(2, 1, 0), alu32_imm(_AND, 2, 0xFFFF),  # r2 = type
    ldx_w(3, 1, 0), alu32_imm(_RSH, 3, 16),      # r3 = access
    ldx_w(4, 1, 4),                              # r4 = major
    ldx_w(5, 1, 8),                              # r5 = minor
]

# -- rules ---------------------------------------------------------------------------


class Rule:
    """One linux.resources.devices entry, checked: type (None = any), numbers, access bits."""

    __slots__ = ("allow", "dev_type", "major", "minor", "access")

    def __init__(self, allow: bool, dev_type: int | None, major: int | None,
                 minor: int | None, access: int) -> None:
        self.allow, self.dev_type, self.access = allow, dev_type, access
        self.major = None if dev_type is None else major  # "a" means every device
        self.minor = None if dev_type is None else minor

    def matches_all(self) -> bool:
        return (self.dev_type is None and self.major is None and self.minor is None
                and self.access == _ALL_ACCESS)


def _number(entry: dict[str, Any], key: str, where: str) -> int | None:
    value = entry.get(key)
    if value is None or value == -1:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ConfigError(f"{where}.{key}: {value!r} is not a device number")
    return value


def parse_rule(entry: dict[str, Any], where: str) -> Rule:
    """An OCI device cgroup entry; a missing type means "a", missing access "rwm"."""
    kind = entry.get("type") or "a"
    if kind not in _TYPES:
        raise ConfigError(f'{where}.type: unknown device type "{kind}"')
    access = 0
    for ch in entry.get("access") or "rwm":
        if ch not in _ACCESS:
            raise ConfigError(f'{where}.access: unknown access "{ch}"')
        access |= _ACCESS[ch]
    return Rule(bool(entry.get("allow")), _TYPES[kind], _number(entry, "major", where),
                _number(entry, "minor", where), access)


def _rule_block(rule: Rule) -> list[bytes]:
    """The block for one rule: its checks jump past the block when the rule does not match."""
    checks: list[tuple[str, int, int]] = []  # (kind, reg/imm...) resolved below
    if rule.dev_type is not None:
        checks.append(("jne_imm", 2, rule.dev_type))
    if rule.access != _ALL_ACCESS:
        checks.append(("access", 0, rule.access))
    if rule.major is not None:
        checks.append(("jne_imm", 4, rule.major))
    if rule.minor is not None:
        checks.append(("jne_imm", 5, rule.minor))
    size = sum(3 if kind == "access" else 1 for kind, _, _ in checks) + 2
    out: list[bytes] = []
    for kind, reg, value in checks:
        if kind == "jne_imm":
            out.append(jmp_imm(_JNE, reg, value, size - len(out) - 1))
            continue
        out += [mov32_reg(1, 3), alu32_imm(_AND, 1, value)]
        if rule.allow:  # every requested bit must be allowed: (r3 & acc) != r3 -> next
            out.append(jmp_reg(_JNE, 1, 3, size - len(out) - 1))
        else:           # any requested bit denied: (r3 & acc) == 0 -> next
            out.append(jmp_imm(_JEQ, 1, 0, size - len(out) - 1))
    return out + [insn(_ALU | _MOV | _K, 0, imm=1 if rule.allow else 0), exit_insn()]


def assemble(rules: list[Rule]) -> bytes:
    """The whole program: prologue, the rules last-first, default deny.

    Rules before one that matches everything can never decide (the verifier
    would reject their blocks as unreachable), so assembly stops there.
    """
    program = list(PROLOGUE)
    for rule in reversed(rules):
        program += _rule_block(rule)
        if rule.matches_all():
            return b"".join(program)
    program += [insn(_ALU | _MOV | _K, 0, imm=0), exit_insn()]
    return b"".join(program)


def program_for(devices: list[dict[str, Any]], field: str) -> bytes:
    return assemble([parse_rule(entry, f"{field}[{i}]") for i, entry in enumerate(devices)])


# -- loading and attaching --------------------------------------------------------------


def _attr() -> ctypes.Array:
    return ctypes.create_string_buffer(128)


def load(program: bytes, field: str) -> int:
    """BPF_PROG_LOAD; on a verifier refusal the error carries the verifier's last words."""
    code = ctypes.create_string_buffer(program, len(program))
    license_buf = ctypes.create_string_buffer(LICENSE, len(LICENSE))
    attr = _attr()
    struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
                     ctypes.addressof(code), ctypes.addressof(license_buf))
    struct.pack_into("<I", attr, 68, BPF_CGROUP_DEVICE)  # expected_attach_type
    try:
        return syscalls.bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        log = ctypes.create_string_buffer(65536)
        struct.pack_into("<IIQ", attr, 24, 1, len(log), ctypes.addressof(log))
        try:
            os.close(syscalls.bpf(BPF_PROG_LOAD, attr))
        except OSError:
            pass
        last = [line for line in log.value.decode(errors="replace").splitlines() if line]
        detail = f" ({last[-1]})" if last else ""
        raise PyociError(f"{field}: cannot load the device filter: {e.strerror}{detail}") from None


def attached_programs(cgroup_fd: int) -> list[int]:
    """Ids of the device programs attached to the cgroup itself (BPF_PROG_QUERY)."""
    ids = (ctypes.c_uint32 * 64)()
    attr = _attr()
    struct.pack_into("<IIIIQI", attr, 0, cgroup_fd, BPF_CGROUP_DEVICE, 0, 0,
                     ctypes.addressof(ids), len(ids))
    syscalls.bpf(BPF_PROG_QUERY, attr)
    count = struct.unpack_from("<I", attr, 24)[0]
    return list(ids[:count])


def _detach(cgroup_fd: int, prog_id: int) -> None:
    attr = _attr()
    struct.pack_into("<I", attr, 0, prog_id)
    prog_fd = syscalls.bpf(BPF_PROG_GET_FD_BY_ID, attr)
    try:
        attr = _attr()
        struct.pack_into("<III", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE)
        syscalls.bpf(BPF_PROG_DETACH, attr)
    finally:
        os.close(prog_fd)


def attach_device_filter(path: str, devices: list[dict[str, Any]], field: str) -> None:
    """Load the filter for ``devices`` and attach it to the cgroup at ``path``.

    Attached with BPF_F_ALLOW_MULTI, as runc does; programs attached earlier
    (an update) are detached once the new one is in place, so there is no
    moment without a filter. The program lives as long as the cgroup does.
    """
    program = program_for(devices, field)
    prog_fd = load(program, field)
    try:
        cgroup_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        os.close(prog_fd)
        raise PyociError(f"{field}: cgroup {path}: {e.strerror}") from None
    try:
        old = attached_programs(cgroup_fd)
        attr = _attr()
        struct.pack_into("<IIII", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE,
                         BPF_F_ALLOW_MULTI)
        syscalls.bpf(BPF_PROG_ATTACH, attr)
        for prog_id in old:
            _detach(cgroup_fd, prog_id)
    except OSError as e:
        raise PyociError(f"{field}: cannot attach the device filter to {path}: "
                         f"{e.strerror}") from None
    finally:
        os.close(cgroup_fd)
        os.close(prog_fd)

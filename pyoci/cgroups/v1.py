"""cgroup v1 writers for ``linux.resources``, file by file as runc 1.1 writes them.

Each resource group first becomes a *plan*: the (file, value, field) writes it
needs, in runc's order, skipping what runc skips (mostly zero values). The
plan is computed without touching the host when no directory is given, which
is how :mod:`pyoci.cgroups.resources` learns whether a config *asks* for a
controller at all: an empty plan for an absent controller is silence, a
non-empty one an error naming ``plan[0]``'s field.
"""

from __future__ import annotations

import os

from pyoci.errors import ConfigError

Write = tuple[str, str, str]  # (file name, value, config field it comes from)

_ERRNO_NAMES = {16: "Device or resource busy", 22: "Invalid argument",
                2: "No such file or directory"}


# -- memory -------------------------------------------------------------------
def memory_plan(mem: dict, field: str, path: str | None) -> list[Write]:
    """memory.* files; limit/swap ordered so the kernel accepts the pair (runc)."""
    limit, swap = mem.get("limit") or 0, mem.get("swap") or 0
    if limit == -1 and not swap and path and _exists(path, "memory.memsw.limit_in_bytes"):
        swap = -1  # unlimited memory means unlimited swap too (runc)
    lim_w = [("memory.limit_in_bytes", str(limit), f"{field}.limit")] if limit else []
    swap_w = [("memory.memsw.limit_in_bytes", str(swap), f"{field}.swap")] if swap else []
    if limit and swap and path and (swap == -1 or _read_int(path, "memory.limit_in_bytes") < swap):
        plan = swap_w + lim_w  # raising: memsw first, or the kernel refuses limit > memsw
    else:
        plan = lim_w + swap_w
    for key, name in (("kernel", "memory.kmem.limit_in_bytes"),
                      ("kernelTCP", "memory.kmem.tcp.limit_in_bytes"),
                      ("reservation", "memory.soft_limit_in_bytes")):
        if mem.get(key):
            plan.append((name, str(mem[key]), f"{field}.{key}"))
    if mem.get("disableOOMKiller"):
        plan.append(("memory.oom_control", "1", f"{field}.disableOOMKiller"))
    swappiness = mem.get("swappiness")
    if swappiness is not None and swappiness != -1:
        if not 0 <= swappiness <= 100:
            raise ConfigError(f"{field}.swappiness: {swappiness} is not in 0-100")
        plan.append(("memory.swappiness", str(swappiness), f"{field}.swappiness"))
    if mem.get("useHierarchy") is not None:
        plan.append(("memory.use_hierarchy", "1" if mem["useHierarchy"] else "0",
                     f"{field}.useHierarchy"))
    return plan


def check_memory_usage(path: str, mem: dict, field: str) -> None:
    """checkBeforeUpdate: a limit below what the container already uses is refused."""
    limit = mem.get("limit") or 0
    if mem.get("checkBeforeUpdate") and limit > 0:
        usage = _read_int(path, "memory.usage_in_bytes")
        if limit < usage:
            raise ConfigError(f"{field}.limit: {limit} is below the current usage {usage} "
                              "(checkBeforeUpdate)")


# -- cpu and cpuset -----------------------------------------------------------
def cpu_plan(cpu: dict, field: str) -> list[Write]:
    """cpu.* files: shares, period, quota, burst, idle, then the real-time pair."""
    plan: list[Write] = []
    for key, name in (("shares", "cpu.shares"), ("period", "cpu.cfs_period_us"),
                      ("quota", "cpu.cfs_quota_us")):
        if cpu.get(key):
            plan.append((name, str(cpu[key]), f"{field}.{key}"))
    if cpu.get("burst") is not None:  # 0 is a real value: no burst
        plan.append(("cpu.cfs_burst_us", str(cpu["burst"]), f"{field}.burst"))
    if cpu.get("idle") is not None:
        plan.append(("cpu.idle", str(cpu["idle"]), f"{field}.idle"))
    for key, name in (("realtimePeriod", "cpu.rt_period_us"),
                      ("realtimeRuntime", "cpu.rt_runtime_us")):
        if cpu.get(key):
            plan.append((name, str(cpu[key]), f"{field}.{key}"))
    return plan


def cpuset_plan(cpu: dict, field: str) -> list[Write]:
    return [(f"cpuset.{key}", cpu[key], f"{field}.{key}")
            for key in ("cpus", "mems") if cpu.get(key)]


CPUSET_KEYS = ("cpus", "mems")


# -- pids, blkio, hugetlb, network, rdma -------------------------------------
def pids_plan(pids: dict, field: str) -> list[Write]:
    """-1 (any negative) is "max"; 0 is a real limit (config-linux.md says so)."""
    limit = pids.get("limit")
    if limit is None:
        return []
    return [("pids.max", "max" if limit < 0 else str(limit), f"{field}.limit")]


def blkio_plan(bio: dict, field: str, path: str | None) -> list[Write]:
    """blkio.weight if the kernel has it (CFQ), else blkio.bfq.weight (runc 1.1)."""
    prefix = "blkio." if path and _exists(path, "blkio.weight") else "blkio.bfq."
    plan: list[Write] = []
    if bio.get("weight"):
        plan.append((prefix + "weight", str(bio["weight"]), f"{field}.weight"))
    if bio.get("leafWeight"):
        plan.append(("blkio.leaf_weight", str(bio["leafWeight"]), f"{field}.leafWeight"))
    for i, dev in enumerate(bio.get("weightDevice") or []):
        where, dev_id = f"{field}.weightDevice[{i}]", f"{dev['major']}:{dev['minor']}"
        if dev.get("weight"):
            plan.append((prefix + "weight_device", f"{dev_id} {dev['weight']}", f"{where}.weight"))
        if dev.get("leafWeight"):
            plan.append(("blkio.leaf_weight_device", f"{dev_id} {dev['leafWeight']}",
                         f"{where}.leafWeight"))
    for key, name in (("throttleReadBpsDevice", "read_bps_device"),
                      ("throttleWriteBpsDevice", "write_bps_device"),
                      ("throttleReadIOPSDevice", "read_iops_device"),
                      ("throttleWriteIOPSDevice", "write_iops_device")):
        for i, dev in enumerate(bio.get(key) or []):
            plan.append((f"blkio.throttle.{name}", f"{dev['major']}:{dev['minor']} {dev['rate']}",
                         f"{field}.{key}[{i}]"))
    return plan


def hugetlb_plan(limits: list, field: str) -> list[Write]:
    """The spec's pageSize ("2MB", "64KB", "1GB") is the kernel's file name already."""
    plan: list[Write] = []
    for i, entry in enumerate(limits):
        size = entry.get("pageSize", "")
        if not (size[:-2].isdigit() and size[-2:] in ("KB", "MB", "GB")):
            raise ConfigError(f"{field}[{i}].pageSize: {size!r} is not <number>KB|MB|GB")
        plan.append((f"hugetlb.{size}.limit_in_bytes", str(entry["limit"]), f"{field}[{i}]"))
    return plan


def net_cls_plan(net: dict, field: str) -> list[Write]:
    class_id = net.get("classID")
    return [("net_cls.classid", str(class_id), f"{field}.classID")] if class_id else []


def net_prio_plan(net: dict, field: str) -> list[Write]:
    return [("net_prio.ifpriomap", f"{p['name']} {p['priority']}", f"{field}.priorities[{i}]")
            for i, p in enumerate(net.get("priorities") or [])]


def rdma_plan(rdma: dict, field: str) -> list[Write]:
    """One rdma.max line per device: "mlx5_1 hca_handle=3 hca_object=10000"."""
    plan: list[Write] = []
    for device, limits in rdma.items():
        line = device
        if limits.get("hcaHandles") is not None:
            line += f" hca_handle={limits['hcaHandles']}"
        if limits.get("hcaObjects") is not None:
            line += f" hca_object={limits['hcaObjects']}"
        if line != device:
            plan.append(("rdma.max", line, f"{field}.{device}"))
    return plan


# -- writing ------------------------------------------------------------------
def write_plan(path: str, plan: list[Write]) -> None:
    """Write each file in order; the first failure is a one-line ConfigError.

    A cfs period the kernel refuses (EINVAL: old quota / new period exceeds the
    parent) is retried after the quota, as runc does.
    """
    pending = list(plan)
    retried: set[str] = set()
    while pending:
        name, value, where = pending.pop(0)
        try:
            write_file(path, name, value)
        except OSError as e:
            if (name == "cpu.cfs_period_us" and e.errno == 22 and name not in retried
                    and any(w[0] == "cpu.cfs_quota_us" for w in pending)):
                retried.add(name)
                pending.append((name, value, where))
                continue
            raise _write_error(where, name, value, e) from None
        _check_read_back(path, name, value, where)


def write_file(path: str, name: str, value: str) -> None:
    """One write(2) of the whole value: the kernel parses each write separately."""
    fd = os.open(os.path.join(path, name), os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _check_read_back(path: str, name: str, value: str, where: str) -> None:
    """Files the kernel accepts but clamps or ignores: say so rather than pretend."""
    if name == "cpu.shares":
        got = _read_int(path, name)
        if got != int(value):
            bound = "maximum" if int(value) > got else "minimum"
            raise ConfigError(f"{where}: {value} is out of range: the {bound} allowed "
                              f"cpu shares is {got}")
    elif name == "memory.kmem.limit_in_bytes" and int(value) > 0:
        got = _read_int(path, name)
        if got > int(value) + 4096:  # the kernel rounds to a page; more means ignored
            raise ConfigError(f"{where}: this kernel ignores {name} (kernel memory "
                              "limits were removed from Linux)")


def _write_error(where: str, name: str, value: str, e: OSError) -> ConfigError:
    if e.errno == 2:
        return ConfigError(f"{where}: cannot write {name}: this host's kernel has no such "
                           "file")
    reason = e.strerror or _ERRNO_NAMES.get(e.errno or 0, f"errno {e.errno}")
    return ConfigError(f"{where}: cannot write {name}: {reason}")


def _exists(path: str, name: str) -> bool:
    return os.path.exists(os.path.join(path, name))


def _read_int(path: str, name: str) -> int:
    try:
        with open(os.path.join(path, name)) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0

"""cgroup v2 writers: OCI resource sections, ``linux.resources.unified``, controllers.

Imported only when a container's resources reach the cgroup2 hierarchy (a
v2-only host, or a controller a hybrid host binds to cgroup2), so the common
start-up path does not pay for it.

The OCI resource fields speak cgroup v1 (shares, memory+swap, blkio weights);
the conversions follow runc (libcontainer/cgroups/utils.go and fs2/*.go) so that
an engine sees the same cgroup files under pyoci as under runc.

A controller's files exist in a cgroup only once every ancestor lists the
controller in its ``cgroup.subtree_control``: :func:`enable_controllers` does
that, from the hierarchy's root down to the container's parent.
"""

from __future__ import annotations

import os

from pyoci.errors import ConfigError, PyociError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from typing import Any

# -- conversions (runc's libcontainer/cgroups/utils.go) ---------------------


def cpu_shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] onto cpu.weight [1, 10000], linearly (runc 1.1).

    0 means "not set" and stays 0 (nothing is written).
    """
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] onto io.weight [1, 10000] (runc's ConvertBlkIOToIOWeightValue)."""
    if weight == 0:
        return 0
    return 1 + ((weight - 10) * 9999) // 990


def memory_swap_to_v2(swap: int, memory: int) -> int:
    """OCI swap is memory+swap; memory.swap.max is swap alone.

    runc's ConvertMemorySwapToCgroupV2Value: -1 is "max" and 0 "unset"; an
    unlimited memory with swap unset makes swap unlimited too; otherwise
    swap.max = swap - limit, which needs a limit no larger than swap.
    Raises ValueError with runc's reason.
    """
    if memory == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if memory in (0, -1):
        raise ValueError("unable to set swap limit without memory limit")
    if memory < 0:
        raise ValueError(f"invalid memory value: {memory}")
    if swap < memory:
        raise ValueError("memory+swap limit should be >= memory limit")
    return swap - memory


def num_to_str(value: int) -> str:
    """runc's numToStr: 0 is "leave alone" (""), -1 is "max"."""
    if value == 0:
        return ""
    if value == -1:
        return "max"
    return str(value)


def cpu_max(quota: int, period: int) -> str:
    """cpu.max from cfs quota/period: "max" for no quota; the period only when given."""
    if quota == 0 and period == 0:
        return ""
    value = str(quota) if quota > 0 else "max"
    return f"{value} {period}" if period else value


# -- file access --------------------------------------------------------------


def write_file(directory: str, name: str, value: str, where: str, *,
               name_in_message: bool = True) -> None:
    """One write(2) of the whole value, without O_CREAT: a missing file is ENOENT.

    ``name_in_message=False`` where ``where`` already names the file (unified keys).
    """
    target = f" {name}" if name_in_message else ""
    try:
        fd = os.open(os.path.join(directory, name), os.O_WRONLY)
    except OSError as e:
        raise PyociError(f"{where}: cannot write{target}: {e.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as e:
        to = f" to {name}" if name_in_message else ""
        raise PyociError(f"{where}: cannot write {value!r}{to}: {e.strerror}") from None
    finally:
        os.close(fd)


def _read_words(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def hierarchy_ancestors(path: str) -> list[str]:
    """The directories above ``path`` in the same cgroup2 mount, root first."""
    try:
        dev = os.stat(path).st_dev
    except OSError:
        dev = None
    chain: list[str] = []
    current = os.path.dirname(path)
    while True:
        try:
            if dev is not None and os.stat(current).st_dev != dev:
                break
        except OSError:
            break
        chain.append(current)
        if dev is None or current == "/" or not current:
            break
        current = os.path.dirname(current)
    return list(reversed(chain))


def available_controllers(path: str) -> list[str]:
    """Controllers the cgroup2 hierarchy offers at the root above ``path``."""
    chain = hierarchy_ancestors(path)
    return _read_words(os.path.join(chain[0], "cgroup.controllers")) if chain else []


def enable_controllers(path: str, controllers: list[str], field: str) -> None:
    """Write "+ctrl" into cgroup.subtree_control of every ancestor, root first.

    A controller the hierarchy does not offer is the config's problem: an error
    naming ``field``.
    """
    chain = hierarchy_ancestors(path)
    if not chain:
        raise PyociError(f"{field}: {path} is not in a cgroup2 hierarchy")
    offered = _read_words(os.path.join(chain[0], "cgroup.controllers"))
    for ctrl in controllers:
        if ctrl not in offered:
            raise ConfigError(f"{field}: the {ctrl} controller is not available in "
                              "cgroup v2 on this host")
    for directory in chain:
        enabled = _read_words(os.path.join(directory, "cgroup.subtree_control"))
        missing = [c for c in controllers if c not in enabled]
        if missing:
            write_file(directory, "cgroup.subtree_control",
                       " ".join("+" + c for c in missing), field)


def prepare_parents(path: str) -> None:
    """Best effort, as runc's fs2 does: enable every offered controller above ``path``.

    Called when the container's directory is created, so that the container
    gets the files of every controller the host offers in v2. An ancestor that
    refuses (it holds processes, or is threaded) is left as it is; a resource
    that needs the controller then fails with its own field named.
    """
    chain = hierarchy_ancestors(path)
    if not chain:
        return
    offered = _read_words(os.path.join(chain[0], "cgroup.controllers"))
    for directory in chain:
        enabled = _read_words(os.path.join(directory, "cgroup.subtree_control"))
        for ctrl in offered:
            if ctrl in enabled:
                continue
            try:
                write_file(directory, "cgroup.subtree_control", "+" + ctrl, "")
            except PyociError:
                continue


# -- the resource sections -----------------------------------------------------


def _int(values: dict[str, Any], key: str, field: str) -> int:
    value = values.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{field}.{key}: must be an integer")
    return value


def _memory(path: str, values: dict[str, Any], field: str) -> None:
    if values.get("swappiness") is not None:
        raise ConfigError(f"{field}.swappiness: cgroup v2 has no memory swappiness")
    if values.get("disableOOMKiller"):
        raise ConfigError(f"{field}.disableOOMKiller: cgroup v2 cannot disable the OOM killer")
    limit = _int(values, "limit", field)
    swap = _int(values, "swap", field)
    for key in ("limit", "reservation", "swap"):
        if _int(values, key, field) < -1:
            raise ConfigError(f"{field}.{key}: {values[key]} is negative")
    try:
        swap_v2 = memory_swap_to_v2(swap, limit)
    except ValueError as e:
        raise ConfigError(f"{field}.swap: {e}") from None
    swap_str = num_to_str(swap_v2)
    if swap_str == "" and swap_v2 == 0 and swap > 0:
        swap_str = "0"  # swap == limit: no swap at all
    if swap_str:
        if os.path.exists(os.path.join(path, "memory.swap.max")) or swap_str not in ("max", "0"):
            write_file(path, "memory.swap.max", swap_str, f"{field}.swap")
    if num_to_str(limit):
        write_file(path, "memory.max", num_to_str(limit), f"{field}.limit")
    reservation = num_to_str(_int(values, "reservation", field))
    if reservation:
        write_file(path, "memory.low", reservation, f"{field}.reservation")


def _cpu(path: str, values: dict[str, Any], field: str) -> None:
    for key in ("realtimeRuntime", "realtimePeriod"):
        if values.get(key):
            raise ConfigError(f"{field}.{key}: cgroup v2 has no realtime (rt) cpu limits")
    if values.get("idle") is not None:
        write_file(path, "cpu.idle", str(_int(values, "idle", field)), f"{field}.idle")
    weight = cpu_shares_to_weight(_int(values, "shares", field))
    if weight:
        write_file(path, "cpu.weight", str(weight), f"{field}.shares")
    value = cpu_max(_int(values, "quota", field), _int(values, "period", field))
    if value:
        write_file(path, "cpu.max", value, f"{field}.quota")
    if values.get("burst") is not None:
        write_file(path, "cpu.max.burst", str(_int(values, "burst", field)), f"{field}.burst")


def _cpuset(path: str, values: dict[str, Any], field: str) -> None:
    for key in ("cpus", "mems"):
        if values.get(key):
            write_file(path, f"cpuset.{key}", str(values[key]), f"{field}.{key}")


def _pids(path: str, values: dict[str, Any], field: str) -> None:
    limit = _int(values, "limit", field)
    if limit != 0:  # runc 1.1: 0 leaves it alone, a negative limit is "max"
        write_file(path, "pids.max", str(limit) if limit > 0 else "max", f"{field}.limit")


_THROTTLE = (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
             ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops"))


def _io(path: str, values: dict[str, Any], field: str) -> None:
    if values.get("leafWeight") or any(d.get("leafWeight") for d in
                                       values.get("weightDevice") or []):
        raise ConfigError(f"{field}.leafWeight: cgroup v2 has no leaf weight")
    bfq = os.path.exists(os.path.join(path, "io.bfq.weight"))
    weight = _int(values, "weight", field)
    if weight:
        if bfq:  # BFQ takes the blkio scale as it is
            write_file(path, "io.bfq.weight", str(weight), f"{field}.weight")
        else:
            write_file(path, "io.weight", str(blkio_weight_to_io_weight(weight)),
                       f"{field}.weight")
    for i, dev in enumerate(values.get("weightDevice") or []):
        if dev.get("weight") is None:
            continue
        where = f"{field}.weightDevice[{i}]"
        if bfq:
            line = f"{dev['major']}:{dev['minor']} {dev['weight']}"
            write_file(path, "io.bfq.weight", line, where)
        else:
            line = f"{dev['major']}:{dev['minor']} {blkio_weight_to_io_weight(dev['weight'])}"
            write_file(path, "io.weight", line, where)
    for key, name in _THROTTLE:
        for i, dev in enumerate(values.get(key) or []):
            write_file(path, "io.max", io_max_line(dev, name), f"{field}.{key}[{i}]")


def io_max_line(dev: dict[str, Any], name: str) -> str:
    """One io.max entry; rate 0 (v1's "no limit") becomes "max"."""
    rate = dev.get("rate") or 0
    return f"{dev['major']}:{dev['minor']} {name}={rate if rate else 'max'}"


def _hugetlb(path: str, values: list[dict[str, Any]], field: str) -> None:
    for i, entry in enumerate(values or []):
        size = str(entry.get("pageSize", ""))
        if not size or "/" in size or "." in size:
            raise ConfigError(f"{field}[{i}].pageSize: {size!r} is not a page size")
        write_file(path, f"hugetlb.{size}.max", str(entry.get("limit", 0)), f"{field}[{i}]")


def rdma_line(device: str, limits: dict[str, Any]) -> str:
    parts = [device]
    if limits.get("hcaHandles") is not None:
        parts.append(f"hca_handle={limits['hcaHandles']}")
    if limits.get("hcaObjects") is not None:
        parts.append(f"hca_object={limits['hcaObjects']}")
    return " ".join(parts)


def _rdma(path: str, values: dict[str, Any], field: str) -> None:
    for device, limits in (values or {}).items():
        if "/" in device or " " in device:
            raise ConfigError(f"{field}[{device!r}]: not a device name")
        write_file(path, "rdma.max", rdma_line(device, limits or {}), f"{field}[{device!r}]")


# group (an OCI linux.resources key or a v2 controller name) -> (controller, writer)
_GROUPS = {
    "memory": ("memory", _memory),
    "cpu": ("cpu", _cpu),
    "cpuset": ("cpuset", _cpuset),
    "pids": ("pids", _pids),
    "blockIO": ("io", _io),
    "io": ("io", _io),
    "hugepageLimits": ("hugetlb", _hugetlb),
    "hugetlb": ("hugetlb", _hugetlb),
    "rdma": ("rdma", _rdma),
}


def _cpu_needs_cpuset(values: Any) -> bool:
    return isinstance(values, dict) and bool(values.get("cpus") or values.get("mems"))


def apply_group(path: str, group: str, values: Any, field: str) -> None:
    """Write one OCI resource section into the container's cgroup2 directory.

    ``group`` is the linux.resources key ("memory", "cpu", "pids", "blockIO",
    "hugepageLimits", "rdma") or the v2 controller name ("io", "hugetlb",
    "cpuset"); ``field`` names the section in errors. The controller is
    enabled above ``path`` first. linux.resources.cpu's cpus/mems belong to
    the cpuset controller and are written whether the group is "cpu" or "cpuset".
    """
    if group not in _GROUPS:
        raise ConfigError(f"{field}: cgroup v2 has no {group!r} controller")
    controller, writer = _GROUPS[group]
    if not values:
        return
    if group == "cpuset" or (group == "cpu" and _cpu_needs_cpuset(values)):
        enable_controllers(path, ["cpuset"], field)
        _cpuset(path, values, field)
        if group == "cpuset":
            return
    if group == "cpu" and not (set(values) - {"cpus", "mems"}):
        return
    enable_controllers(path, [controller], field)
    writer(path, values, field)


# -- linux.resources.unified -------------------------------------------------


def check_unified_key(key: str, field: str) -> None:
    """A key names one file in the container's own cgroup directory, nothing else."""
    if not key or "/" in key or key in (".", "..") or ".." in key or "\0" in key:
        raise ConfigError(f'{field}["{key}"]: not a cgroup file name')


def apply_unified(path: str | None, unified: dict[str, Any], field: str) -> None:
    """Each key written verbatim to the file of that name in the container's cgroup.

    A key whose prefix names a controller the hierarchy offers enables that
    controller first. Without a cgroup2 directory (a v1-only host) any key is
    an error: there is nowhere to write it.
    """
    if not unified:
        return
    for key in unified:
        check_unified_key(key, field)
    if not path:
        raise ConfigError(f"{field}: needs cgroup v2, and this host has no cgroup2 hierarchy")
    offered = available_controllers(path)
    for key, value in unified.items():
        where = f'{field}["{key}"]'
        if not isinstance(value, str):
            raise ConfigError(f"{where}: the value must be a string")
        prefix = key.split(".", 1)[0]
        if prefix in offered:
            enable_controllers(path, [prefix], where)
        elif prefix != "cgroup" and not os.path.exists(os.path.join(path, key)):
            raise ConfigError(f"{where}: cannot write: No such file or directory "
                              f"(no {prefix} controller in cgroup v2 on this host)")
        write_file(path, key, value, where, name_in_message=False)

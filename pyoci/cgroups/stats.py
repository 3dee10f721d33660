"""Container statistics in the shape of runc's ``types.Stats`` (``runc events``).

Each controller is read from its v1 hierarchy when the container has one, else
from the cgroup2 directory (where a hybrid host's unified tree still carries
``cpu.stat``). Field names, and which ones Go's ``omitempty`` drops when zero,
follow runc 1.1's ``types/events.go`` so that consumers of runc's output can
read ours.
"""

from __future__ import annotations

import os

_UINT64_MAX = (1 << 64) - 1


def collect(paths: dict[str, str]) -> dict:
    """The ``data`` of a ``stats`` event."""
    return {
        "cpu": cpu_stats(paths),
        "cpuset": cpuset_stats(paths.get("cpuset")),
        "memory": memory_stats(paths),
        "pids": pids_stats(paths),
        "blkio": blkio_stats(paths.get("blkio")),
        "hugetlb": hugetlb_stats(paths.get("hugetlb")),
        "intel_rdt": {},
        "network_interfaces": None,
    }


# -- readers -----------------------------------------------------------------
def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _uint(path: str, *, max_value: int = _UINT64_MAX) -> int:
    """A one-number file; "max" (v2 "no limit") reads as ``max_value``."""
    text = (_read(path) or "").strip()
    if text == "max":
        return max_value
    try:
        return int(text)
    except ValueError:
        return 0


def _keyed(path: str) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, cpuacct.stat)."""
    found: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            found[parts[0]] = int(parts[1])
    return found


def _omit(doc: dict, *keys: str) -> dict:
    """Go's ``omitempty``: zero numbers and empty lists/maps vanish."""
    for key in keys:
        if not doc.get(key):
            doc.pop(key, None)
    return doc


# -- cpu ---------------------------------------------------------------------
def cpu_stats(paths: dict[str, str]) -> dict:
    usage = {"total": 0, "percpu": [], "percpu_kernel": [], "percpu_user": [],
             "kernel": 0, "user": 0}
    throttling = {"periods": 0, "throttledPeriods": 0, "throttledTime": 0}
    acct, cpu, unified = paths.get("cpuacct"), paths.get("cpu"), paths.get("")
    if acct:
        _cpuacct_v1(acct, usage)
    elif unified:
        stat = _keyed(os.path.join(unified, "cpu.stat"))
        usage.update(total=stat.get("usage_usec", 0) * 1000,
                     kernel=stat.get("system_usec", 0) * 1000,
                     user=stat.get("user_usec", 0) * 1000)
    source = os.path.join(cpu, "cpu.stat") if cpu else \
        os.path.join(unified, "cpu.stat") if unified else ""
    stat = _keyed(source) if source else {}
    throttling.update(periods=stat.get("nr_periods", 0),
                      throttledPeriods=stat.get("nr_throttled", 0),
                      throttledTime=stat.get("throttled_time", stat.get("throttled_usec", 0)
                                             * (1 if "throttled_time" in stat else 1000)))
    _omit(usage, "total", "percpu", "percpu_kernel", "percpu_user")
    return {"usage": usage, "throttling": _omit(throttling, *throttling)}


def _cpuacct_v1(path: str, usage: dict) -> None:
    usage["total"] = _uint(os.path.join(path, "cpuacct.usage"))
    usage["percpu"] = [int(v) for v in (_read(os.path.join(path, "cpuacct.usage_percpu"))
                                        or "").split()]
    rows = (_read(os.path.join(path, "cpuacct.usage_all")) or "").splitlines()[1:]
    for row in rows:  # "cpu user system"
        parts = row.split()
        if len(parts) == 3:
            usage["percpu_user"].append(int(parts[1]))
            usage["percpu_kernel"].append(int(parts[2]))
    stat = _keyed(os.path.join(path, "cpuacct.stat"))
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    usage["user"] = stat.get("user", 0) * tick_ns
    usage["kernel"] = stat.get("system", 0) * tick_ns


# -- cpuset ------------------------------------------------------------------
_CPUSET_FLAGS = ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                 "memory_spread_page", "memory_spread_slab", "memory_pressure",
                 "sched_load_balance", "sched_relax_domain_level")


def cpuset_stats(path: str | None) -> dict:
    # runc's key order: cpus, cpu_exclusive, mems, then the rest
    doc: dict = {"cpus": [], "cpu_exclusive": 0, "mems": []}
    doc.update({name: 0 for name in _CPUSET_FLAGS[1:]})
    if path:
        doc["cpus"] = _list_of(_read(os.path.join(path, "cpuset.cpus")) or "")
        doc["mems"] = _list_of(_read(os.path.join(path, "cpuset.mems")) or "")
        for name in _CPUSET_FLAGS:
            text = (_read(os.path.join(path, f"cpuset.{name}")) or "0").strip()
            doc[name] = int(text) if text.lstrip("-").isdigit() else 0
    return _omit(doc, "cpus", "mems")


def _list_of(text: str) -> list[int]:
    """``0-3,7`` → [0, 1, 2, 3, 7]."""
    found: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        found.extend(range(int(low), int(high or low) + 1))
    return found


# -- memory ------------------------------------------------------------------
def memory_stats(paths: dict[str, str]) -> dict:
    v1, unified = paths.get("memory"), paths.get("")
    if v1:
        raw = _keyed(os.path.join(v1, "memory.stat"))
        doc = {"cache": raw.get("cache", 0),
               "usage": _entry_v1(v1, "memory"),
               "swap": _entry_v1(v1, "memory.memsw"),
               "kernel": _entry_v1(v1, "memory.kmem"),
               "kernelTCP": _entry_v1(v1, "memory.kmem.tcp"),
               "raw": raw}
    elif unified and os.path.exists(os.path.join(unified, "memory.current")):
        raw = _keyed(os.path.join(unified, "memory.stat"))
        zero = {"limit": 0, "failcnt": 0}
        doc = {"cache": raw.get("file", 0),
               "usage": _omit({"limit": _uint(os.path.join(unified, "memory.max")),
                               "usage": _uint(os.path.join(unified, "memory.current")),
                               "max": _uint(os.path.join(unified, "memory.peak")),
                               "failcnt": _keyed(os.path.join(unified, "memory.events"))
                               .get("max", 0)}, "usage", "max"),
               "swap": _omit({"limit": _uint(os.path.join(unified, "memory.swap.max")),
                              "usage": _uint(os.path.join(unified, "memory.swap.current")),
                              "failcnt": 0}, "usage"),
               "kernel": dict(zero), "kernelTCP": dict(zero), "raw": raw}
    else:
        zero = {"limit": 0, "failcnt": 0}
        doc = {"cache": 0, "usage": dict(zero), "swap": dict(zero), "kernel": dict(zero),
               "kernelTCP": dict(zero), "raw": {}}
    return _omit(doc, "cache", "raw")


def _entry_v1(path: str, prefix: str) -> dict:
    entry = {"limit": _uint(os.path.join(path, f"{prefix}.limit_in_bytes")),
             "usage": _uint(os.path.join(path, f"{prefix}.usage_in_bytes")),
             "max": _uint(os.path.join(path, f"{prefix}.max_usage_in_bytes")),
             "failcnt": _uint(os.path.join(path, f"{prefix}.failcnt"))}
    return _omit(entry, "usage", "max")


# -- pids --------------------------------------------------------------------
def pids_stats(paths: dict[str, str]) -> dict:
    path = paths.get("pids")
    if not path and paths.get("") and os.path.exists(os.path.join(paths[""], "pids.current")):
        path = paths[""]
    if not path:
        return {}
    return _omit({"current": _uint(os.path.join(path, "pids.current")),
                  "limit": _uint(os.path.join(path, "pids.max"), max_value=0)},
                 "current", "limit")


# -- blkio -------------------------------------------------------------------
_BLKIO_FIELDS = (  # (json name, file name after the blkio., blkio.bfq. or throttle prefix)
    ("ioServiceBytesRecursive", "io_service_bytes_recursive"),
    ("ioServicedRecursive", "io_serviced_recursive"),
    ("ioQueueRecursive", "io_queued_recursive"),
    ("ioServiceTimeRecursive", "io_service_time_recursive"),
    ("ioWaitTimeRecursive", "io_wait_time_recursive"),
    ("ioMergedRecursive", "io_merged_recursive"),
    ("ioTimeRecursive", "time_recursive"),
    ("sectorsRecursive", "sectors_recursive"),
)


def blkio_stats(path: str | None) -> dict:
    """runc's order: CFQ files, else BFQ (``blkio.bfq.*``), else the throttle files."""
    if not path:
        return {}
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        if os.path.exists(os.path.join(path, prefix + "io_serviced_recursive")):
            break
    else:
        return {}
    doc: dict = {}
    for name, suffix in _BLKIO_FIELDS:
        entries = _blkio_entries(_read(os.path.join(path, prefix + suffix)) or "")
        if entries:
            doc[name] = entries
    return doc


def _blkio_entries(text: str) -> list[dict]:
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or ":" not in fields[0]:
            continue  # "Total N"
        major, _, minor = fields[0].partition(":")
        op = fields[1] if len(fields) == 3 else ""
        value = int(fields[-1])
        entries.append(_omit({"major": int(major), "minor": int(minor), "op": op,
                              "value": value}, "major", "minor", "op", "value"))
    return entries


# -- hugetlb -----------------------------------------------------------------
def hugetlb_stats(path: str | None) -> dict:
    found: dict = {}
    if not path:
        return found
    try:
        sizes = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return found
    for entry in sizes:  # hugepages-2048kB → 2MB
        size = _page_size_name(int(entry.removeprefix("hugepages-").removesuffix("kB")))
        base = os.path.join(path, f"hugetlb.{size}")
        found[size] = _omit({"usage": _uint(base + ".usage_in_bytes"),
                             "max": _uint(base + ".max_usage_in_bytes"),
                             "failcnt": _uint(base + ".failcnt")}, "usage", "max")
    return found


def _page_size_name(kib: int) -> str:
    for unit in ("KB", "MB", "GB", "TB"):
        if kib < 1024 or kib % 1024:
            return f"{kib}{unit}"
        kib //= 1024
    return f"{kib}PB"

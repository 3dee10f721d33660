"""``pyoci update``: change a running container's cgroup limits, as ``runc update``.

The new values come from ``--resources FILE`` (``-`` for stdin: the containerd
shim's way) and from runc's flags, which override the file. They are written by
``pyoci.cgroups.resources.apply`` (the one writer of limits) and then merged
into the config kept in the state, so that later readers see what is in force.
"""

from __future__ import annotations

import sys

from pyoci import jsonio
from pyoci.container.state import STOPPED, StateStore
from pyoci.errors import PyociError, StatusError, UsageError

# flag → (section, key, kind); kinds: "mem" (runc's RAMInBytes or -1), "uint", "int", "str"
FLAGS: dict[str, tuple[str, str, str]] = {
    "--memory": ("memory", "limit", "mem"),
    "--memory-reservation": ("memory", "reservation", "mem"),
    "--memory-swap": ("memory", "swap", "mem"),
    "--kernel-memory": ("memory", "kernel", "mem"),
    "--kernel-memory-tcp": ("memory", "kernelTCP", "mem"),
    "--cpu-shares": ("cpu", "shares", "uint"),
    "--cpu-share": ("cpu", "shares", "uint"),  # runc 1.1's own spelling
    "--cpu-quota": ("cpu", "quota", "int"),
    "--cpu-period": ("cpu", "period", "uint"),
    "--cpu-rt-runtime": ("cpu", "realtimeRuntime", "int"),
    "--cpu-rt-period": ("cpu", "realtimePeriod", "uint"),
    "--cpuset-cpus": ("cpu", "cpus", "str"),
    "--cpuset-mems": ("cpu", "mems", "str"),
    "--pids-limit": ("pids", "limit", "int"),
    "--blkio-weight": ("blockIO", "weight", "uint16"),
}

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str) -> int:
    """docker/go-units RAMInBytes: ``64m``, ``1.5g``, ``512KiB``, ``100 kb`` (binary units)."""
    s = text.strip()
    low = s.lower()
    if low.endswith("b"):
        low = low[:-1]
    if low.endswith("i"):
        low = low[:-1]
    unit = low[-1:] if low[-1:] in "kmgtp" and low[-1:] else ""
    number = (low[:-1] if unit else low).rstrip(" ")
    if not number or not all(part.isdigit() and part.isascii() for part in number.split(".")):
        raise ValueError(text)
    return int(float(number) * _UNITS[unit])


def parse_value(flag: str, raw: str, kind: str) -> int | str:
    try:
        if kind == "str":
            return raw
        if kind == "mem":
            return -1 if raw.strip() == "-1" else ram_in_bytes(raw)
        value = int(raw, 10)
        if kind == "int":
            return value
        limit = 0xFFFF if kind == "uint16" else (1 << 64) - 1
        if not 0 <= value <= limit:
            raise ValueError(raw)
        return value
    except ValueError:
        raise UsageError(f"{flag}: invalid value {raw!r}".replace("'", '"')) from None


def read_resources(source: str) -> dict:
    """The ``--resources`` document: an OCI LinuxResources object."""
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source) as f:
                text = f.read()
        doc = jsonio.loads(text)
    except OSError as e:
        raise PyociError(f"--resources: {source}: {e.strerror}") from None
    except ValueError as e:
        raise UsageError(f"--resources: invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise UsageError("--resources: expected a JSON object (LinuxResources)")
    return doc


def build_resources(source: str | None, flag_values: dict[str, str]) -> dict:
    """File first, then every given flag on top of it."""
    doc = read_resources(source) if source else {}
    for flag, raw in flag_values.items():
        section, key, kind = FLAGS[flag]
        if not isinstance(doc.get(section), dict):
            doc[section] = {}
        doc[section][key] = parse_value(flag, raw, kind)
    blkio = doc.get("blockIO")
    if isinstance(blkio, dict) and blkio.get("weight") == 0:
        del blkio["weight"]  # runc treats 0 as "not set" (docker update sends it)
    return doc


def merge(old: dict, new: dict) -> dict:
    """Section by section, key by key: what update did not mention stays."""
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def update(store: StateStore, container_id: str, doc: dict) -> None:
    with store.open(container_id) as cdir:
        state = cdir.load()
        if state.current_status(cdir.path) == STOPPED:
            raise StatusError("container not running")
        from pyoci.cgroups.manager import manager_from_state

        try:
            from pyoci.cgroups import resources
        except ImportError:
            raise PyociError("update: cgroup resources are not supported yet") from None
        resources.apply(manager_from_state(state.cgroup), doc, field="update")
        linux = state.config.setdefault("linux", {})
        linux["resources"] = merge(linux.get("resources") or {}, doc)
        cdir.save(state)

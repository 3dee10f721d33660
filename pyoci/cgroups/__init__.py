"""cgroup management behind one small interface (:mod:`pyoci.cgroups.manager`).

This package module stays small on purpose: ``state``, ``kill`` and ``start``
need only to know whether a container is frozen, and ``create``, ``run`` and
``exec`` import :mod:`pyoci.cgroups.warmup` first thing; neither should pay
for the manager's code (~0.4 ms of a ~12 ms ``state``).
"""

from __future__ import annotations


def frozen(paths: dict[str, str]) -> bool:
    """Whether the cgroup with these directories (by hierarchy, "" for cgroup2)
    is frozen: the v1 freezer where one is mounted, as runc does on hybrid
    hosts, else cgroup2's cgroup.freeze (missing in the root cgroup)."""
    freezer = paths.get("freezer")
    if freezer:
        return _read(f"{freezer}/freezer.state") == "FROZEN"
    unified = paths.get("")
    return bool(unified) and _read(f"{unified}/cgroup.freeze") == "1"


def is_frozen(doc: dict) -> bool:
    """``frozen`` for the cgroup a container's state recorded (any driver)."""
    return frozen(doc.get("paths") or {})


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""

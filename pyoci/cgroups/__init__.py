"""cgroup management behind one small interface (:mod:`pyoci.cgroups.manager`).

This package module stays small on purpose: ``state``, ``kill`` and ``start``
need only to know whether a container is frozen, and should not pay for the
manager's code (~0.4 ms of a ~12 ms ``state``).
"""

from __future__ import annotations


def frozen(paths: dict[str, str]) -> bool:
    """Whether the cgroup with these directories (by hierarchy, "" for cgroup2)
    is frozen: the v1 freezer where one is mounted, as runc does on hybrid
    hosts, else cgroup2's cgroup.freeze (missing in the root cgroup)."""
    freezer = paths.get("freezer")
    if freezer:
        return read_or_empty(f"{freezer}/freezer.state").strip() == "FROZEN"
    unified = paths.get("")
    return bool(unified) and read_or_empty(f"{unified}/cgroup.freeze").strip() == "1"


def is_frozen(doc: dict) -> bool:
    """``frozen`` for the cgroup a container's state recorded (any driver)."""
    return frozen(doc.get("paths") or {})


def read_or_empty(path: str) -> str:
    """A cgroup file's text, or "" where there is none to read (a controller
    not mounted, a file the kernel lacks, a cgroup already removed)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""

"""CPU and NUMA node lists such as ``0-3,7`` (execCPUAffinity, memoryPolicy.nodes).

Pure parsing, shared by the parent's early checks and the children that apply
the values, so a bad list fails in ``create`` before anything is touched.
"""

from __future__ import annotations

from pyoci.errors import ConfigError

CPU_ONLINE = "/sys/devices/system/cpu/online"
NODE_ONLINE = "/sys/devices/system/node/online"
# A bound on list sizes: the kernel's own limits (NR_CPUS, MAX_NUMNODES) are far lower.
_MAX_INDEX = 1 << 16


def parse(field: str, text: str | None) -> list[int]:
    """The sorted, de-duplicated indices of ``text``; empty for an empty list."""
    result: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            first, last = int(low), int(high if sep else low)
        except ValueError:
            raise ConfigError(f'{field}: "{text}" is not a list such as 0-3,7') from None
        if first > last or last >= _MAX_INDEX:
            raise ConfigError(f'{field}: bad range "{part}"')
        result.update(range(first, last + 1))
    return sorted(result)


def online(path: str) -> list[int]:
    """What the host has online (``/sys/.../online``); empty if the file is missing."""
    try:
        with open(path) as f:
            return parse(path, f.read())
    except OSError:
        return []


def check_present(field: str, wanted: list[int], path: str, what: str) -> None:
    """Refuse indices the host does not have, naming the first missing one."""
    present = online(path)
    if not present:
        return  # cannot tell: let the kernel decide
    missing = [i for i in wanted if i not in present]
    if missing:
        raise ConfigError(f"{field}: {what} {missing[0]} is not online "
                          f"(online: {format_list(present)})")


def format_list(indices: list[int]) -> str:
    """The compact form the kernel prints (0-3,7)."""
    parts: list[str] = []
    start = prev = None
    for i in indices:
        if prev is not None and i == prev + 1:
            prev = i
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = i
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)

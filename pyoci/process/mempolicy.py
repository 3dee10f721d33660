"""linux.memoryPolicy: from config.json to set_mempolicy(2) arguments.

Pure translation and validation; ``features`` lists MODES and FLAGS from here,
so what pyoci announces is exactly what it recognises.
"""

from __future__ import annotations

from pyoci.errors import ConfigError
from pyoci.process import cpulist

# <linux/mempolicy.h>
MODES: dict[str, int] = {
    "MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6,
}  # fmt: skip

FLAGS: dict[str, int] = {
    "MPOL_F_NUMA_BALANCING": 1 << 13,
    "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_STATIC_NODES": 1 << 15,
}

# set_mempolicy(2): these take no nodes, these need at least one; PREFERRED takes
# zero (meaning "local") or more.
_NO_NODES = frozenset({"MPOL_DEFAULT", "MPOL_LOCAL"})
_NEED_NODES = frozenset({"MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
                         "MPOL_PREFERRED_MANY"})
_WORD_BITS = 64
_FIELD = "linux.memoryPolicy"


class MemPolicy:
    """set_mempolicy's mode word (mode | flags) and node list."""

    __slots__ = ("mode", "nodes", "relative")

    def __init__(self, mode: int, nodes: list[int], relative: bool) -> None:
        self.mode = mode
        self.nodes = nodes
        self.relative = relative

    def nodemask(self) -> tuple[list[int], int]:
        """The mask as unsigned longs and set_mempolicy's ``maxnode`` (bits + 1)."""
        if not self.nodes:
            return [], 0
        nwords = self.nodes[-1] // _WORD_BITS + 1
        words = [0] * nwords
        for node in self.nodes:
            words[node // _WORD_BITS] |= 1 << (node % _WORD_BITS)
        return words, nwords * _WORD_BITS + 1


def parse(policy: dict) -> MemPolicy:
    """Validate ``linux.memoryPolicy``; the kernel's own rules, with the field named."""
    name = policy.get("mode")
    if name not in MODES:
        raise ConfigError(f'{_FIELD}.mode: unknown mode "{name}"')
    flags = 0
    for flag in policy.get("flags") or ():
        if flag not in FLAGS:
            raise ConfigError(f'{_FIELD}.flags: unknown flag "{flag}"')
        flags |= FLAGS[flag]
    both = FLAGS["MPOL_F_STATIC_NODES"] | FLAGS["MPOL_F_RELATIVE_NODES"]
    if flags & both == both:
        raise ConfigError(f"{_FIELD}.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES "
                          "exclude each other")
    nodes = cpulist.parse(f"{_FIELD}.nodes", policy.get("nodes"))
    if name in _NO_NODES and (nodes or flags):
        raise ConfigError(f"{_FIELD}: {name} takes no nodes and no flags")
    if name in _NEED_NODES and not nodes:
        raise ConfigError(f"{_FIELD}.nodes: {name} needs at least one node")
    relative = bool(flags & FLAGS["MPOL_F_RELATIVE_NODES"])
    return MemPolicy(MODES[name] | flags, nodes, relative)


def check_nodes_online(policy: MemPolicy, path: str = cpulist.NODE_ONLINE) -> None:
    """Absolute node numbers must exist; relative ones are positions, not nodes."""
    if not policy.relative:
        cpulist.check_present(f"{_FIELD}.nodes", policy.nodes, path, "node")

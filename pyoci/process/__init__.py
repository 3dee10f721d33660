"""Processes: the init's two stages, exec, placement, terminals, the sync protocol."""

# The config fields pyoci.process.placement acts on. Without any of them the
# module (and its cpulist, mempolicy, scheduler, intelrdt) is never imported:
# ~0.5 ms of every run's start-up for settings few containers have.
_PLACEMENT_PROCESS = ("scheduler", "ioPriority", "execCPUAffinity")
_PLACEMENT_LINUX = ("memoryPolicy", "personality", "intelRdt")


def has_placement(config: dict) -> bool:
    """True when ``config`` sets a field :mod:`pyoci.process.placement` checks or applies.

    The runtime process imports placement then, before any fork: the init and
    exec's grandchild apply it after pivot_root/setns, where the host's files
    (and so any first import) are out of reach; they find it in sys.modules.
    """
    process = config.get("process") or {}
    linux = config.get("linux") or {}
    return any(process.get(k) is not None for k in _PLACEMENT_PROCESS) or \
        any(linux.get(k) is not None for k in _PLACEMENT_LINUX)

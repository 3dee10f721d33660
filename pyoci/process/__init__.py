"""Processes: the init's two stages, exec, placement, terminals, the sync protocol."""

import _signal  # signal.py's enums cost ~3 ms of start-up
import posix  # not os: see pyoci/paths.py

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


def kill_and_reap(pid: int) -> None:
    """SIGKILL a child of ours and wait for it: what every failure path does with
    the processes create or exec forked. The caller is a child subreaper, so
    even the init (a grandchild) is ours to reap. A pid of 0 (none yet) is skipped."""
    if pid <= 0:
        return
    try:
        posix.kill(pid, _signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        posix.waitpid(pid, 0)
    except ChildProcessError:
        pass

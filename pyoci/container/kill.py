"""``pyoci kill``: signal the container's init, or with ``--all`` every process.

The init is signalled through a pidfd opened after its identity (pid plus start
time) was checked, so a pid the kernel has since recycled is never signalled.
"""

from __future__ import annotations

# The C core of the signal module: signal.py adds enums that cost ~5 ms to import.
import _signal as signal
import posix  # not os: see pyoci/paths.py

from pyoci.container.state import CREATED, PAUSED, RUNNING, StateStore
from pyoci.errors import PyociError, StatusError, UsageError


def parse_signal(text: str) -> int:
    """``9``, ``KILL``, ``SIGKILL``, ``sigkill``, ``RTMIN+3`` all name a signal."""
    raw = text.strip()
    if raw.isdigit():
        number = int(raw)
        if 0 <= number <= signal.SIGRTMAX:  # 0 checks the init exists, as kill(2) does
            return number
        raise UsageError(f"signal: invalid signal number {raw}")
    name = raw.upper().removeprefix("SIG")
    for prefix, base in (("RTMIN+", signal.SIGRTMIN), ("RTMAX-", signal.SIGRTMAX)):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            number = base + int(name[len(prefix):]) * (1 if prefix == "RTMIN+" else -1)
            if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
                return number
    number = _NAMED.get(f"SIG{name}")
    if number is None:
        raise UsageError(f"signal: unknown signal {text!r}")
    return number


_NAMED = {n: getattr(signal, n) for n in dir(signal)
          if n.startswith("SIG") and "_" not in n}


def kill(store: StateStore, container_id: str, sig: int, *, all_processes: bool) -> None:
    with store.open(container_id, lock=False) as cdir:
        state = cdir.load()
        status = state.current_status(cdir.path)
        if status not in (CREATED, RUNNING, PAUSED):
            raise StatusError("container not running")
        if all_processes:
            from pyoci.cgroups.manager import manager_from_state

            manager_from_state(state.cgroup).signal_all(sig)
            return
        _signal_identity(state.init.pid, state.init.start_time, sig)


def _signal_identity(pid: int, start_time: int, sig: int) -> None:
    from pyoci.container.state import read_proc_stat

    try:
        pidfd = posix.pidfd_open(pid)
    except ProcessLookupError:
        raise StatusError("container not running") from None
    try:
        stat = read_proc_stat(pid)
        if stat is None or stat[1] != start_time or stat[0] == "Z":
            raise StatusError("container not running")
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        raise StatusError("container not running") from None
    except OSError as e:
        raise PyociError(f"kill: {e.strerror}") from None
    finally:
        posix.close(pidfd)

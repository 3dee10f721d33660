"""Fault injection for the test suite: inert unless ``PYOCI_FAULT_INJECT`` is set.

Some steps of ``create`` (and of start, exec and delete) cannot be made to fail
from a config alone, yet the promise that a failure there leaves nothing
behind, or that ``pyoci`` killed there can still be cleaned up, needs a test.
The steps call :func:`maybe_fail` at their boundaries; the tests set

    PYOCI_FAULT_INJECT=<point>         that step fails with "<point>: injected fault"
    PYOCI_FAULT_INJECT=<point>:kill    the pyoci process is SIGKILLed right there

Points are named after the step's config field or command, e.g. ``cgroup``,
``linux.namespaces.pid``, ``mounts[3]``, ``process``, ``start.released``.

Unset (every real run), a call costs one comparison against an empty string:
the environment is read once, at import, before any fork. Nothing is imported
lazily, because some points run in the container init after pivot_root, where
the host's standard library is out of reach. For the same reason, and because
a process in a new pid namespace cannot signal one outside it, the kill mode
starts an executioner at import: a child in pyoci's pid namespace that SIGKILLs
pyoci as soon as a point writes to its pipe; the point then waits (on a pidfd)
until pyoci is dead, so the kill is exactly there.
"""

from __future__ import annotations

import _signal
import posix  # not os: see pyoci/paths.py

from pyoci import paths
from pyoci.errors import PyociError

_SPEC = paths.environ("PYOCI_FAULT_INJECT") or ""
_POINT, _, _MODE = _SPEC.partition(":")
# The process that imported us is the pyoci command; its children inherit the fd.
_MAIN_PID = posix.getpid()
_MAIN_PIDFD = _KILL_PIPE = -1


def _start_executioner() -> None:
    """Fork the process that kills pyoci when a point asks (kill mode only)."""
    global _MAIN_PIDFD, _KILL_PIPE  # noqa: PLW0603 - set once, at import
    _MAIN_PIDFD = posix.pidfd_open(_MAIN_PID)
    read_end, _KILL_PIPE = posix.pipe()  # close-on-exec: no container program keeps it
    if posix.fork() == 0:
        posix.close(_KILL_PIPE)
        if posix.read(read_end, 1):
            _signal.pidfd_send_signal(_MAIN_PIDFD, _signal.SIGKILL)
        posix._exit(0)
    posix.close(read_end)


if _MODE == "kill":
    import select as _select  # here, not at the point: it may run after pivot_root

    _start_executioner()


def maybe_fail(point: str, index: int | None = None) -> None:
    """Fail (or die) here if the tests asked for it; ``index`` names one of a list."""
    if not _POINT:
        return
    if (point if index is None else f"{point}[{index}]") == _POINT:
        _trigger()


def maybe_fail_namespace(plan: object) -> None:
    """``linux.namespaces.<type>``: fail if the container has that namespace.

    ``plan`` is a NamespacePlan (its ``has``); not imported here to stay small.
    """
    if _POINT.startswith("linux.namespaces.") and \
            plan.has(_POINT.removeprefix("linux.namespaces.")):  # type: ignore[attr-defined]
        _trigger()


def _trigger() -> None:
    if _MODE != "kill":
        raise PyociError(f"{_POINT}: injected fault")
    if posix.getpid() == _MAIN_PID:
        _signal.pidfd_send_signal(_MAIN_PIDFD, _signal.SIGKILL)
        while True:  # the signal is on its way: do not run past the point
            posix.sched_yield()
    posix.write(_KILL_PIPE, b"k")
    # A pidfd polls readable once its process is dead, from any pid namespace.
    _select.select([_MAIN_PIDFD], [], [])
    # A child carries on, as it would if pyoci had died on its own.

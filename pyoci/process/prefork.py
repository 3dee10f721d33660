"""Stage 1, forked before ``create`` has imported its own code.

Why: create's imports and its config checks take ~11 ms, and stage 1's import
of the init's code (pyoci.process.init with the rootfs, setup and security
modules) took another 3-5 ms after a fork made only once they were done; both
were on the path of every ``create`` and ``run``. Forked as soon as the CLI
knows the command is one of those two, stage 1 imports the init's code on the
other core while the parent imports create's, then waits for its InitContext
(CONTEXT, see ``pyoci.process.context.send_context``). From there on it is
the stage 1 of ``pyoci.process.launcher``, as if forked there.

A create that fails before it hands the context over discards the child:
killed and reaped, so no process is left behind. The child also exits by
itself at EOF, when the parent dies first.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up
import posix  # not os: see pyoci/paths.py

from pyoci import faults  # noqa: F401 - before the fork: its kill mode needs pyoci's pid
from pyoci.process import kill_and_reap, protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from pyoci.process.context import InitContext


class Prefork:
    """The parent's handle on a stage 1 that has not been given its context yet."""

    def __init__(self, pid: int, chan: socket.socket) -> None:
        self.pid = pid
        self.chan: socket.socket | None = chan

    @classmethod
    def start(cls) -> Prefork | None:
        """Fork stage 1 now; None when the fork fails (launch forks later then,
        and reports that failure with the container's context)."""
        try:
            parent_end, child_end = protocol.channel_pair()
        except OSError:
            return None
        try:
            pid = posix.fork()
        except OSError:
            parent_end.close()
            child_end.close()
            return None
        if pid == 0:
            parent_end.close()
            _child(child_end)
        child_end.close()
        return cls(pid, parent_end)

    def hand_over(self, ctx: InitContext) -> tuple[int, socket.socket]:
        """Send the context; the caller owns the process and the channel from here
        on, even when the sending fails (the child may have died importing)."""
        from pyoci.process.context import send_context

        pid, chan = self.pid, self.chan
        if chan is None:
            raise ValueError("stage 1 was already handed over or discarded")
        self.pid, self.chan = 0, None
        try:
            send_context(chan, ctx)
        except OSError:
            pass  # the launcher reads the child's ERROR (or EOF) next
        return pid, chan

    def discard(self) -> None:
        """Kill and reap the child, unless it was handed over (then a no-op)."""
        if self.chan is None:
            return
        self.chan.close()
        self.chan = None
        kill_and_reap(self.pid)


def _child(chan: socket.socket) -> NoReturn:
    """Import the init's code, wait for the context, then be stage 1."""
    debug = False
    try:
        from pyoci.process.context import receive_context
        from pyoci.process.init import prepare_imports, run_child

        ctx = receive_context(chan)
        debug = ctx.debug
        prepare_imports(ctx)
    except BaseException as exc:  # noqa: BLE001 - every error must reach the parent
        protocol.report_error(chan, exc, debug)
        posix._exit(1)
    run_child(ctx, chan)

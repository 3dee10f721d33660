"""A pyoci process that stays in the foreground for the container's process
(``run`` and ``exec``): it passes on the signals it receives and waits, as a
child subreaper, until that process exits."""

from __future__ import annotations

import _signal as signal  # signal.py's enums cost ~3 ms of start-up
import os

FORWARDED = (
    signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1,
    signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT, signal.SIGALRM,
)


def forward_signals(pid: int) -> None:
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)


def wait_for(pid: int) -> int:
    """Reap every child (orphans come to us too) until ``pid`` exits; its status,
    128+N when signal N killed it."""
    while True:
        got, status = os.waitpid(-1, 0)
        if got == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
                else 128 + os.WTERMSIG(status)

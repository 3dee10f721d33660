"""``--log`` and ``--log-format``: the error line engines read.

containerd and docker show the last ``error`` entry of the log file and break
on a missing file or a non-RFC3339 time; podman reads the whole file as one
JSON object. So the file is created at start-up even if nothing is logged, and
a failure appends exactly one line.

Warnings (a failing poststop hook) go to stderr and, through the Logger the
command line made last, to the same file; they never change an exit status.
"""

from __future__ import annotations

import posix  # not os: see pyoci/paths.py

from pyoci import jsonio
from pyoci.container.state import rfc3339_now

_active: Logger | None = None


class Logger:
    def __init__(self, path: str | None = None, fmt: str = "text") -> None:
        self.path = path
        self.fmt = fmt
        self.fd = -1
        if path:
            self.fd = posix.open(path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT
                                 | posix.O_CLOEXEC, 0o644)
        global _active  # noqa: PLW0603 - warn() needs the command's logger, wherever it runs
        _active = self

    def error(self, message: str) -> None:
        self._write("error", message)

    def warning(self, message: str) -> None:
        self._write("warning", message)

    def _write(self, level: str, message: str) -> None:
        if self.fd < 0:
            return
        now = rfc3339_now()
        if self.fmt == "json":
            line = jsonio.dumps({"level": level, "msg": message, "time": now})
        else:
            line = f'time="{now}" level={level} msg={jsonio.dumps(message)}'
        posix.write(self.fd, (line + "\n").encode())


def warn(message: str) -> None:
    """Tell the user something went wrong that does not fail the command."""
    warn_stderr(message)
    if _active is not None:
        _active.warning(message)


def warn_stderr(message: str) -> None:
    """Stderr only: for a command that is failing anyway, whose log file must hold
    exactly one line (podman reads it as one JSON object)."""
    try:
        posix.write(2, f"pyoci: warning: {message}\n".encode())
    except OSError:
        pass

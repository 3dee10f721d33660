"""``--log`` and ``--log-format``: the error line engines read.

containerd and docker show the last ``error`` entry of the log file and break
on a missing file or a non-RFC3339 time; podman reads the whole file as one
JSON object. So the file is created at start-up even if nothing is logged, and
a failure appends exactly one line.
"""

from __future__ import annotations

import os

from pyoci import jsonio
from pyoci.container.state import rfc3339_now


class Logger:
    def __init__(self, path: str | None = None, fmt: str = "text") -> None:
        self.path = path
        self.fmt = fmt
        self.fd = -1
        if path:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

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
        os.write(self.fd, (line + "\n").encode())

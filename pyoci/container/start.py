"""``pyoci start``: release the init blocked on the exec socket.

The init execs the user's program with the connection still open and
close-on-exec, so EOF with no data means the exec happened; if execve fails
the init writes its error into the connection first, and that becomes start's
error, as runc reports a failed exec.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enums, selectors) costs ~8 ms of start-up
import os

from pyoci.container.state import CREATED, EXEC_SOCKET, RUNNING, StateStore, socket_path
from pyoci.errors import PyociError, StatusError


def start(store: StateStore, container_id: str) -> None:
    with store.open(container_id) as cdir:
        state = cdir.load()
        status = state.current_status(cdir.path)
        if status != CREATED:
            raise StatusError(_refusal(status))
        failure = _release(socket_path(cdir.path, cdir.fd))
        try:
            os.unlink(cdir.file(EXEC_SOCKET))
        except FileNotFoundError:
            pass
        state.status = RUNNING
        cdir.save(state)
    if failure:
        raise PyociError(failure)


def _refusal(status: str) -> str:
    if status == "stopped":
        return "cannot start a container that has stopped"
    if status in (RUNNING, "paused"):
        return f"cannot start an already {status} container"
    return f"cannot start a container that is {status}"


def _release(path: str) -> str:
    """Connect, say go, and read until the init's exec closes the connection."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        try:
            conn.connect(path)
            conn.sendall(b"s")
        except OSError as e:
            raise PyociError(f"container init is not waiting for start: {e.strerror}") from None
        chunks = []
        while chunk := conn.recv(4096):
            chunks.append(chunk)
    finally:
        conn.close()
    return b"".join(chunks).decode(errors="replace")

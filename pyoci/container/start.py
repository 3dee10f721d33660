"""``pyoci start``: release the init blocked on the exec socket.

The init execs the user's program with the connection still open and
close-on-exec, so EOF with no data means the exec happened; if execve fails
the init writes its error into the connection first, and that becomes start's
error, as runc reports a failed exec.

Hooks (runtime.md lifecycle steps 7 to 9): the init runs the startContainer
hooks before its exec; when one fails, its error arrives the same way and
start stops and destroys the container (steps 12 and 13, poststop included).
The poststart hooks run here, after the lock is released (a hook may call
pyoci itself); a failing one also kills and destroys the container, and start
fails with its message.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enums, selectors) costs ~8 ms of start-up
import posix  # not os: see pyoci/paths.py

from pyoci import faults
from pyoci.container.state import (
    CREATED,
    EXEC_SOCKET,
    RUNNING,
    ContainerDir,
    ContainerState,
    StateStore,
    socket_path,
)
from pyoci.errors import ContainerNotFound, PyociError, StatusError
from pyoci.process.sealed import config_has_own_pid_namespace, reexec_sealed

# How the init's startContainer hook failures begin (pyoci/container/hooks.py).
_START_HOOK_FAILED = "hooks.startContainer"


def start(store: StateStore, container_id: str) -> None:
    with store.open(container_id) as cdir:
        state = cdir.load()
        if not config_has_own_pid_namespace(state.config):
            # The process will see our pid (and poststart hooks run beside it): go
            # on from a sealed interpreter. Our fds, the lock's too, close on exec.
            reexec_sealed()
        status = state.current_status(cdir.path)
        if status != CREATED:
            raise StatusError(_refusal(status))
        failure = _release(socket_path(cdir.path, cdir.fd), state)
        faults.maybe_fail("start.released")
        try:
            posix.unlink(cdir.file(EXEC_SOCKET))
        except FileNotFoundError:
            pass
        faults.maybe_fail("start.unlinked")
        if failure.startswith(_START_HOOK_FAILED):
            _destroy(cdir, state)
            raise PyociError(failure)
        state.status = RUNNING
        cdir.save(state)
    if failure:
        raise PyociError(failure)
    if state.config.get("hooks"):
        _run_poststart(store, state)


def _run_poststart(store: StateStore, state: ContainerState) -> None:
    """Lifecycle step 9, in pyoci's namespaces with status "running"; a failure
    continues at step 12: the container is stopped and destroyed."""
    from pyoci.container.hooks import HookError, hooks_of, run_hooks

    try:
        run_hooks("poststart", hooks_of(state.config, "poststart"), state.public(RUNNING))
    except HookError:
        try:
            with store.open(state.id) as cdir:
                _destroy(cdir, cdir.load())
        except ContainerNotFound:
            pass  # deleted by someone else meanwhile: nothing left to destroy
        raise


def _destroy(cdir: ContainerDir, state: ContainerState) -> None:
    from pyoci.container.delete import destroy

    destroy(cdir, state)


def _refusal(status: str) -> str:
    if status == "stopped":
        return "cannot start a container that has stopped"
    if status in (RUNNING, "paused"):
        return f"cannot start an already {status} container"
    return f"cannot start a container that is {status}"


def _release(path: str, state: ContainerState) -> str:
    """Connect, say go, and read until the init's exec closes the connection.

    A message carrying an fd is the init's seccomp notify fd (noNewPrivileges
    loads the filter only now): it goes on to the listener before the exec.
    """
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        try:
            conn.connect(path)
            faults.maybe_fail("start.connected")
            conn.sendall(b"s")
        except OSError as e:
            raise PyociError(f"container init is not waiting for start: {e.strerror}") from None
        chunks = []
        own_failure = ""
        while True:
            try:
                chunk, ancillary, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4))
            except ConnectionResetError:  # killed holding the connection, i.e. before exec
                raise PyociError("container init exited before it ran the program") from None
            if ancillary:
                own_failure = own_failure or _forward_notify_fd(conn, state, ancillary)
                continue
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        conn.close()
    return own_failure or b"".join(chunks).decode(errors="replace")


def _forward_notify_fd(conn: socket.socket, state: ContainerState,
                       ancillary: list[tuple[int, int, bytes]]) -> str:
    """Send the notify fd to listenerPath, then tell the init; return our error."""
    from pyoci.process.protocol import fds_from
    from pyoci.security import seccomp

    fds = fds_from(ancillary)
    try:
        if not fds:
            raise PyociError("linux.seccomp: the init sent no notify fd")
        seccomp.send_to_listener(state.config, state.public(CREATED), fds[0])
    except PyociError as e:
        conn.sendall(seccomp.HANDOFF_FAILED)
        return e.message
    finally:
        for fd in fds:
            posix.close(fd)
    conn.sendall(seccomp.HANDOFF_OK)
    return ""

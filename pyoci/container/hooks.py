"""Lifecycle hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle").

Each hook is forked and exec'd directly, with the container's state document
on its stdin and pyoci's stdout/stderr. :mod:`subprocess` is not used: it
imports selectors, threading and more (start-up time), and the
``createContainer`` and ``startContainer`` hooks run inside the container init,
where after pivot_root the host's standard library is out of reach. So this
module imports only built-in modules and pyoci modules the init has already
loaded, all at the top, and nothing lazily on any path (errors included).

A ``timeout`` is enforced with a pidfd and poll (no threads: the runtime forks).
The hook gets its own process group, so a timed-out shell script is killed
together with what it started.
"""

from __future__ import annotations

import _signal
import os
import select
import time

from pyoci import jsonio
from pyoci.errors import PyociError
from pyoci.process.execpath import env_mapping

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from collections.abc import Callable
    from typing import NoReturn

# The hook kinds pyoci runs, in the lifecycle's order; features.md's ``hooks``
# list is derived from this tuple.
HOOK_KINDS: tuple[str, ...] = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)

_EXEC_FAILED_STATUS = 127


class HookError(PyociError):
    """A hook failed: it exited non-zero, was killed, timed out or could not be run."""


def hooks_of(config: dict, kind: str) -> list[dict]:
    """The configured hooks of one kind (an absent or null list is empty)."""
    return list((config.get("hooks") or {}).get(kind) or [])


def run_hooks(kind: str, hooks: list[dict], state_doc: dict, *,
              warn: Callable[[str], None] | None = None) -> None:
    """Run ``hooks`` in order, each with ``state_doc`` as JSON on its stdin.

    The first failure raises :class:`HookError` naming ``hooks.<kind>[<i>]``;
    with ``warn`` (poststop: "log a warning ... as if the hook had succeeded")
    the message goes to ``warn`` and the next hook runs.
    """
    if not hooks:
        return
    payload = jsonio.dumps(state_doc).encode()
    for index, hook in enumerate(hooks):
        try:
            failure = _run_one(hook, payload)
        except OSError as e:  # fork or pidfd_open refused (a pids limit, no memory)
            failure = f"could not be run: {e.strerror or e}"
        if failure is None:
            continue
        message = f"hooks.{kind}[{index}]: {hook['path']} {failure}"
        if warn is None:
            raise HookError(message)
        warn(message)


def _run_one(hook: dict, payload: bytes) -> str | None:
    """Run one hook to its end; None on success, else what went wrong."""
    path = hook["path"]
    # Python's execve refuses an empty argv; an absent or empty args means [path].
    argv = list(hook.get("args") or []) or [path]
    env = env_mapping(hook.get("env") or [])
    stdin_r, stdin_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _child(path, argv, env, stdin_r, err_w)
    os.close(stdin_r)
    os.close(err_w)
    try:
        try:
            exec_error = _read_all(err_r)
        finally:
            os.close(err_r)
        if exec_error:
            os.close(stdin_w)
            _wait(pid)
            return f"could not be run: {exec_error}"
        status = _supervise(pid, stdin_w, payload, hook.get("timeout"))
    except BaseException:
        # Interrupted (SIGINT, or SIGTERM during create): leave no hook behind.
        _kill_group(pid)
        _wait(pid)
        raise
    if status is None:
        return f"timed out after {hook['timeout']} s"
    return _describe(status)


def _child(path: str, argv: list[str], env: dict[str, str], stdin_r: int,
           err_w: int) -> NoReturn:
    """The forked hook, until execve; it never returns into the runtime's code."""
    try:
        os.setpgid(0, 0)
        if stdin_r == 0:
            os.set_inheritable(0, True)
        else:
            os.dup2(stdin_r, 0)  # dup2 makes fd 0 inheritable
        # Python ignores SIGPIPE and SIGXFSZ; handled signals reset on exec by themselves.
        for sig in (_signal.SIGPIPE, _signal.SIGXFSZ):
            _signal.signal(sig, _signal.SIG_DFL)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
        os.execve(path, argv, env)
    except OSError as e:
        _write_quietly(err_w, (e.strerror or str(e)).encode())
    except BaseException as e:  # noqa: BLE001 - e.g. a NUL byte in an argument
        _write_quietly(err_w, f"{type(e).__name__}: {e}".encode())
    finally:
        os._exit(_EXEC_FAILED_STATUS)


def _supervise(pid: int, stdin_w: int, payload: bytes, timeout: int | None) -> int | None:
    """Feed the state to the hook's stdin (closing ``stdin_w``) and reap the hook;
    its wait status, or None after killing it when ``timeout`` expired first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = memoryview(payload)
    try:
        pidfd = os.pidfd_open(pid)
    except BaseException:
        os.close(stdin_w)
        raise
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        os.set_blocking(stdin_w, False)
        poller.register(stdin_w, select.POLLOUT)
        while True:
            events = poller.poll(_remaining_ms(deadline))
            if not events and deadline is not None and time.monotonic() >= deadline:
                _kill_group(pid)
                _wait(pid)
                return None
            if any(fd == pidfd for fd, _mask in events):
                return _wait(pid)
            if pending:
                pending = _feed(stdin_w, pending)
                if not pending:  # EOF tells the hook the document is complete
                    poller.unregister(stdin_w)
                    os.close(stdin_w)
                    stdin_w = -1
    finally:
        os.close(pidfd)
        if stdin_w >= 0:
            os.close(stdin_w)


def _feed(fd: int, pending: memoryview) -> memoryview:
    """Write what the pipe takes now; a hook that closed its stdin takes nothing more."""
    try:
        return pending[os.write(fd, pending):]
    except BlockingIOError:
        return pending
    except OSError:  # EPIPE: the hook does not read its stdin, which is its right
        return pending[:0]


def _remaining_ms(deadline: float | None) -> int | None:
    if deadline is None:
        return None
    return max(0, int((deadline - time.monotonic()) * 1000) + 1)


def _describe(status: int) -> str | None:
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return None if code == 0 else f"exited with status {code}"
    return f"was killed by signal {os.WTERMSIG(status)}"


def _read_all(fd: int) -> str:
    """The exec-error pipe: EOF with nothing read means execve succeeded."""
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _wait(pid: int) -> int:
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue


def _kill_group(pid: int) -> None:
    """SIGKILL the hook and its process group (what a hook script started)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, _signal.SIGKILL)
        except OSError:
            pass


def _write_quietly(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    except OSError:
        pass

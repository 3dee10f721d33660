"""Pay the cgroup migration's RCU wait while the interpreter is still busy.

Every write to a ``cgroup.procs`` file takes the kernel's global
``cgroup_threadgroup_rwsem`` for writing. Unless the hierarchy was mounted with
``favordynmods``, taking it first waits for an RCU grace period (~10 ms on
these machines) and leaves the semaphore's fast path off for one more grace
period after the write; a migration in that window does not wait. runc pays
that wait once per create and exec, and so did pyoci, with the init idle
behind it.

``begin`` starts a thread that moves this process into the cgroup it is
already in (a migration that changes nothing, so no controller sees it), and
repeats that every 6 ms (plus up to the 5 ms the main thread may keep the
GIL: about one grace period) so the window stays open; the wait now
runs while the main thread imports, validates and forks. ``end`` stops the
thread once the real writes are done. Nothing here can fail a command: a
cgroup we may not write to (rootless) just means no warm-up.

The thread is plain ``_thread`` (``threading`` costs an import), holds no
lock a forked child could need, and the children close its file at fork.
"""

from __future__ import annotations

import _thread
import os

_INTERVAL = 0.006  # seconds: inside one grace period (~10 ms here) with the GIL wait


class _Warmup:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.stop = _thread.allocate_lock()
        self.stop.acquire()
        self.done = _thread.allocate_lock()
        self.done.acquire()

    def loop(self) -> None:
        try:
            while True:
                try:
                    os.write(self.fd, b"0")  # "0": the writing process itself
                except OSError:
                    return
                if self.stop.acquire(timeout=_INTERVAL):
                    return
        finally:
            self.done.release()

    def close_in_child(self) -> None:
        if self.fd >= 0:  # -1 once ``end`` closed it: the number may be reused
            os.close(self.fd)
            self.fd = -1


_current: _Warmup | None = None


def begin() -> None:
    """Start keeping the migration fast path open (idempotent, never raises)."""
    global _current
    if _current is not None:
        return
    fd = _open_own_procs()
    if fd < 0:
        return
    warm = _Warmup(fd)
    os.register_at_fork(after_in_child=warm.close_in_child)
    try:
        _thread.start_new_thread(warm.loop, ())
    except RuntimeError:
        os.close(fd)
        return
    _current = warm


def end() -> None:
    """Stop the thread and wait for it (it never blocks more than one write)."""
    global _current
    warm, _current = _current, None
    if warm is None:
        return
    warm.stop.release()
    warm.done.acquire()
    os.close(warm.fd)
    warm.fd = -1


def _open_own_procs() -> int:
    """An fd on the cgroup.procs of a cgroup this process is in, or -1."""
    try:
        with open("/proc/self/cgroup", "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return -1
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        controllers, path = fields[1], fields[2]
        if controllers:
            mounts = [controllers.removeprefix("name="), controllers.split(",")[0]]
        else:
            mounts = ["unified", ""]
        for mount in mounts:
            procs = f"/sys/fs/cgroup/{mount}{path}/cgroup.procs".replace("//", "/")
            try:
                return os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
            except OSError:
                continue
    return -1

"""Run pyoci from a sealed in-memory copy of the interpreter (CVE-2019-5736 class).

Every pyoci process is the host's Python interpreter: ``/proc/<pid>/exe``
of each is ``/usr/bin/python3.x``. A container that shares the host's pid
namespace sees those pids, and a process in it that holds CAP_SYS_PTRACE
may open that link whatever the dumpable flag says (non-dumpable only stops
callers without CAP_SYS_PTRACE over the mm's user namespace), then, once
the interpreter is not busy, reopen it for writing and replace the host's
Python. runc's answer is to run from a sealed copy of its binary; this is
the same for the interpreter: copy it into a memfd, seal it against every
change, and re-exec the current command from it. ``/proc/<pid>/exe`` is
then the memfd, which cannot be written, and never a host file.

The copy costs a few milliseconds and the interpreter's size in memory
while the process lives, so pyoci does it only where a container's
processes can see pyoci's: the container has no pid namespace of its own.
"""

from __future__ import annotations

import posix  # not os: see pyoci/paths.py
import sys

_NAME = "pyoci-sealed-interpreter"


def is_sealed() -> bool:
    """True when this process already runs from the sealed copy."""
    try:
        return posix.readlink("/proc/self/exe").startswith("/memfd:" + _NAME)
    except OSError:
        return False


def _same_namespace(path: str, kind: str) -> bool:
    """Whether ``path`` is our own namespace of that kind; an unreadable link
    counts as ours, the safe answer (it makes pyoci seal)."""
    try:
        theirs, ours = posix.stat(path), posix.stat(f"/proc/self/ns/{kind}")
    except OSError:
        return True
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def shares_our_pid_namespace(pid: int) -> bool:
    """True when ``pid`` (a container's init) is in our pid namespace."""
    return _same_namespace(f"/proc/{pid}/ns/pid", "pid")


def _config_namespace(config: dict, kind: str) -> dict | None:
    for ns in (config.get("linux") or {}).get("namespaces") or []:
        if isinstance(ns, dict) and ns.get("type") == kind:
            return ns
    return None


def config_has_own_pid_namespace(config: dict) -> bool:
    """A new pid namespace (no ``path``): its processes cannot see ours."""
    ns = _config_namespace(config, "pid")
    return ns is not None and not ns.get("path")


def _has_own_user_namespace(config: dict) -> bool:
    """A user namespace other than ours: CAP_SYS_PTRACE in it gives no power over
    our processes, whose memory belongs to the host's user namespace."""
    ns = _config_namespace(config, "user")
    if ns is None:
        return False
    return not ns.get("path") or not _same_namespace(ns["path"], "user")


def _may_hold_ptrace(process: dict | None) -> bool:
    """CAP_SYS_PTRACE in the bounding set: the process, or a file-capability
    program it runs, can have it."""
    caps = (process or {}).get("capabilities") or {}
    return "CAP_SYS_PTRACE" in (caps.get("bounding") or [])


def must_seal(config: dict, process: dict | None = None) -> bool:
    """Whether a container process could open ``/proc/<pid>/exe`` of a pyoci process.

    It can when it sees our pids (no pid namespace of its own), and also when
    one of our processes enters its pid namespace (the init waiting for start,
    exec's child) while a process there may hold CAP_SYS_PTRACE over host
    memory: no user namespace of its own, and CAP_SYS_PTRACE in a bounding set
    (the config's, or ``process``, an exec'd one). Non-dumpable does not stop
    CAP_SYS_PTRACE; only the sealed copy does.
    """
    if not config_has_own_pid_namespace(config):
        return True
    if _has_own_user_namespace(config):
        return False
    return _may_hold_ptrace(config.get("process")) or _may_hold_ptrace(process)


def _sealed_copy() -> int:
    """A memfd holding the interpreter, sealed against writes, growth and shrinking."""
    import fcntl
    import os

    src = os.open(os.path.realpath(sys.executable), os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd = os.memfd_create(_NAME, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        size, offset = os.fstat(src).st_size, 0
        while offset < size:
            sent = os.sendfile(fd, src, offset, size - offset)
            if sent == 0:
                break
            offset += sent
    finally:
        os.close(src)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK
                | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd


def reexec_sealed() -> None:
    """Restart this very command from the sealed copy (no-op when already there).

    Must run before pyoci has made anything (state, cgroups, processes): the
    command starts over. The original argv keeps its interpreter path and
    flags, so the interpreter finds its standard library as before; fds the
    caller passed (stdio, --preserve-fds) are inheritable and survive.
    """
    if is_sealed():
        from pyoci.syscalls import set_process_name

        set_process_name(b"pyoci")  # the kernel named us after the memfd; ps shows "pyoci"
        return
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(_sealed_copy(), sys.orig_argv, os.environ)

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

import os
import sys

_NAME = "pyoci-sealed-interpreter"


def is_sealed() -> bool:
    """True when this process already runs from the sealed copy."""
    try:
        return os.readlink("/proc/self/exe").startswith("/memfd:" + _NAME)
    except OSError:
        return False


def shares_our_pid_namespace(pid: int) -> bool:
    """True when ``pid`` (a container's init) is in our pid namespace; an
    unreadable link counts as shared, the safe answer."""
    try:
        theirs = os.stat(f"/proc/{pid}/ns/pid")
        ours = os.stat("/proc/self/ns/pid")
    except OSError:
        return True
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def config_has_own_pid_namespace(config: dict) -> bool:
    """A new pid namespace (no ``path``): its processes cannot see ours."""
    namespaces = (config.get("linux") or {}).get("namespaces") or []
    return any(isinstance(ns, dict) and ns.get("type") == "pid" and not ns.get("path")
               for ns in namespaces)


def _sealed_copy() -> int:
    """A memfd holding the interpreter, sealed against writes, growth and shrinking."""
    import fcntl

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
        _rename(b"pyoci")  # the kernel named us after the memfd; ps shows "pyoci"
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(_sealed_copy(), sys.orig_argv, os.environ)


def _rename(name: bytes) -> None:
    """Set our comm (PR_SET_NAME), which execve of a memfd set to "memfd:<name>"."""
    import ctypes

    from pyoci.syscalls import prctl

    buf = ctypes.create_string_buffer(name[:15])
    prctl(15, ctypes.addressof(buf))  # PR_SET_NAME

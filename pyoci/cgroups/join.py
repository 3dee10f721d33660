"""How a container process enters its cgroup without a ``cgroup.procs`` write.

A write to ``cgroup.procs`` (or to ``tasks`` with another process's pid) takes
the kernel's global cgroup_threadgroup_rwsem for writing, and that first waits
for an RCU grace period: 7-16 ms on these machines, during which cgroup_mutex
is held and every cgroup mkdir waits too. runc pays it on every create and
exec. Two ways in skip it:

- cgroup v1: a single-threaded process that writes ``0`` (itself) to a
  hierarchy's ``tasks`` file moves only itself, and the kernel leaves the
  global lock alone for that (measured here: 0.07 ms against 7.4 ms). The
  parent opens the ``tasks`` files and the child writes through them: v1
  checks the credentials the file was opened with, so a child already in a new
  user namespace may use them.
- cgroup v2: a child forked with clone3(CLONE_INTO_CGROUP) is born in the
  cgroup (:func:`pyoci.syscalls.fork_into_cgroup`). The kernel checks the
  forking process's own credentials, so from a user namespace that does not
  own the cgroup it refuses (EACCES): there the child is forked plainly and
  the parent writes its pid, grace period and all.

The parent builds a :class:`CgroupJoin` from the manager's paths and hands its
fds to the child; ``fork`` makes the child, ``enter`` (in the child) does the
v1 part, ``parent_joins`` tells both sides whether the parent still has a
write to make, and ``finish_join`` is the parent making it.
"""

from __future__ import annotations

import errno
import os

from pyoci import paths, syscalls
from pyoci.cgroups.manager import CgroupManager, add_process
from pyoci.errors import PyociError

# clone3's refusals that come before the kernel takes a pid: no clone3 (before
# 5.3), or no CLONE_INTO_CGROUP (5.3 to 5.6: the longer clone_args).
_NOT_SUPPORTED = (errno.ENOSYS, errno.E2BIG)


class CgroupJoin:
    """The open ``tasks`` files of the v1 hierarchies and the v2 directory."""

    __slots__ = ("tasks", "tasks_fds", "directory", "directory_fd", "born_inside")

    def __init__(self, tasks: list[str], tasks_fds: list[int],
                 directory: str = "", directory_fd: int = -1) -> None:
        self.tasks = tasks
        self.tasks_fds = tasks_fds
        self.directory = directory
        self.directory_fd = directory_fd
        self.born_inside = False  # set by fork: the child started in the v2 cgroup

    @classmethod
    def open(cls, cgroup_paths: dict[str, str]) -> CgroupJoin:
        """Open what the child needs for ``cgroup_paths`` (the manager's: "" is v2)."""
        join = cls([], [])
        try:
            for hierarchy, path in cgroup_paths.items():
                if hierarchy == "":
                    join.directory = path
                    join.directory_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                else:
                    join.tasks.append(paths.join(path, "tasks"))
                    join.tasks_fds.append(os.open(join.tasks[-1], os.O_WRONLY | os.O_CLOEXEC))
        except OSError as e:
            join.close()
            raise PyociError(f"join cgroup {path}: {e.strerror}") from None
        return join

    def fds(self) -> list[int]:
        """Every fd, in the order ``from_message`` expects them."""
        return self.tasks_fds + ([self.directory_fd] if self.directory_fd >= 0 else [])

    def describe(self) -> dict:
        """What goes into the message that carries ``fds()``."""
        return {"tasks": self.tasks, "directory": self.directory}

    @classmethod
    def from_message(cls, doc: dict, fds: list[int]) -> CgroupJoin:
        """The child's copy, from ``describe()`` and the fds that came with it."""
        tasks = list(doc.get("tasks", []))
        directory = str(doc.get("directory", ""))
        expected = len(tasks) + (1 if directory else 0)
        if len(fds) != expected:
            for fd in fds:
                os.close(fd)
            raise PyociError(f"sync protocol: {len(fds)} cgroup fds for {expected} cgroups")
        return cls(tasks, fds[:len(tasks)], directory, fds[-1] if directory else -1)

    def fork(self, *, into: bool = True, fallback: bool = True) -> int:
        """Fork; with ``into`` the child is born in the v2 cgroup when the kernel
        lets us, else (and without a v2 cgroup) a plain ``os.fork``.

        Without ``fallback`` a refusal is the join's error: a fork that fails
        as the first process of a new pid namespace leaves that namespace
        unable to fork ever again (the kernel's free_pid), so there only a
        kernel without CLONE_INTO_CGROUP (refused before any pid is taken)
        may fall back.
        """
        if into and self.directory_fd >= 0:
            try:
                pid = syscalls.fork_into_cgroup(self.directory_fd)
            except OSError as e:
                if not fallback and e.errno not in _NOT_SUPPORTED:
                    raise PyociError(f"join cgroup {self.directory}: {e.strerror}") from None
            else:
                self.born_inside = True
                return pid
        return os.fork()

    def enter(self) -> None:
        """In the (single-threaded) child: join every v1 hierarchy, then close."""
        try:
            for path, fd in zip(self.tasks, self.tasks_fds, strict=True):
                try:
                    os.write(fd, b"0")
                except OSError as e:
                    raise PyociError(f"join cgroup {paths.dirname(path)}: {e.strerror}") from None
        finally:
            self.close()

    def close(self) -> None:
        for fd in self.fds():
            try:
                os.close(fd)
            except OSError:
                pass
        self.tasks_fds = []
        self.directory_fd = -1


def parent_joins(join: CgroupJoin | None) -> bool:
    """Whether the parent still has to write the child into a cgroup: all of
    them without a join (a new systemd scope: ``manager.add`` makes it), else
    the v2 one if the child was not born in it."""
    return join is None or (bool(join.directory) and not join.born_inside)


def finish_join(manager: CgroupManager, join: CgroupJoin | None, pid: int) -> None:
    """The parent's part of the join, as ``parent_joins`` says (often nothing)."""
    if join is None:
        manager.add(pid)
    elif parent_joins(join):
        add_process(join.directory, pid)

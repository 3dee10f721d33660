"""The parent's half of the two-stage fork.

The parent forks stage 1 first (or the CLI did, pyoci.process.prefork) and
makes the container's cgroup while that child imports the init's code and sets
up its namespaces (the two take about as long, on two cores). Then it writes
the uid/gid maps (only a process outside the new user namespace may) and hands
stage 1 the cgroup's files: the init is born in the v2 cgroup and joins the v1
hierarchies itself, before it makes its cgroup namespace or mounts anything, so
every process the container runs starts inside it (pyoci.cgroups.join: no
cgroup.procs write, and so no RCU grace period to wait for). Where the kernel
refuses that, the parent writes. On any failure every forked process is killed
and reaped before the error goes up, so nothing is left running.
"""

from __future__ import annotations

import _socket as socket  # socket.py costs ~8 ms
import os

from pyoci import syscalls
from pyoci.cgroups.join import finish_join, parent_joins
from pyoci.cgroups.manager import CgroupManager
from pyoci.errors import PyociError
from pyoci.namespaces import write_id_maps
from pyoci.process import kill_and_reap, protocol
from pyoci.process.context import InitContext
from pyoci.process.protocol import Message

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc imports collections: ~1.5 ms of start-up
    from collections.abc import Callable
    from typing import NoReturn

    from pyoci.cgroups.join import CgroupJoin
    from pyoci.process.prefork import Prefork


def launch(ctx: InitContext, make_cgroup: Callable[[], CgroupManager], *, rootless: bool,
           before_pivot: Callable[[int], None] | None = None,
           on_seccomp: Callable[[int, int], None] | None = None,
           prefork: Prefork | None = None,
           ) -> tuple[int, CgroupManager]:
    """Fork the container; return its init's host pid, once it is created, and
    the cgroup ``make_cgroup()`` made (it runs right after the fork).

    ``before_pivot(init_pid)`` is the runtime's part of creation that needs the
    container's namespaces but must precede pivot_root (the init waits for it).
    ``on_seccomp(init_pid, fd)`` forwards a seccomp notify fd the init sent.
    ``prefork``: a stage 1 forked already, which gets ``ctx`` instead of a fork.
    """
    if prefork is not None:
        stage1, parent_end = prefork.hand_over(ctx)
    else:
        stage1, parent_end = _fork_stage1(ctx)
    init_pid = 0
    cgroup = join = None
    try:
        cgroup = make_cgroup()
        join = cgroup.self_join()
        protocol.expect(parent_end, protocol.READY)
        if ctx.namespaces.new & syscalls.CLONE_NEWUSER:
            write_id_maps(stage1, ctx.config, deny_setgroups=rootless)
        _send_go(parent_end, join)
        created = prepivot = joined = False
        joinable = not ctx.prefaults  # else: once the init says PREFAULTED
        while not (init_pid and created):
            # stage 1 reports the init's pid right after forking it, but a
            # descheduled stage 1 may speak after the init: take the messages in
            # any order, and answer PREPIVOT once the pid is known.
            msg = protocol.expect(parent_end, protocol.PID, protocol.PREFAULTED,
                                  protocol.PREPIVOT, protocol.CREATED, protocol.SECCOMP)
            if msg.kind == protocol.SECCOMP:
                _forward_seccomp(parent_end, msg, init_pid, on_seccomp)
            elif msg.kind == protocol.PID:
                init_pid = msg.pid
                if join is not None:
                    join.born_inside = msg.joined
            elif msg.kind == protocol.PREFAULTED:
                joinable = True
            elif msg.kind == protocol.PREPIVOT:
                prepivot = True
            else:
                created = True
            if init_pid and not joined and (joinable or not parent_joins(join)):
                if parent_joins(join):
                    _join(cgroup, join, init_pid, parent_end)
                joined = True
                if init_pid != stage1:
                    _reap(stage1)  # it exits once it has sent PID
            if prepivot and init_pid:
                prepivot = False
                if before_pivot is not None:
                    before_pivot(init_pid)
                # The init's host pid: its hooks' state documents need it.
                protocol.send(parent_end, Message(protocol.RESUME, pid=init_pid))
    except BaseException as e:
        if join is not None:
            join.close()  # when GO was never sent
        for pid in (init_pid, stage1):
            kill_and_reap(pid)
        if (isinstance(e, protocol.ChannelClosed) and cgroup is not None
                and cgroup.oom_killed()):
            raise PyociError("linux.resources.memory.limit: the OOM killer killed the "
                             "container's init during set-up (the limit is too small)") from None
        raise
    finally:
        parent_end.close()
    return init_pid, cgroup


def _fork_stage1(ctx: InitContext) -> tuple[int, socket.socket]:
    parent_end, child_end = protocol.channel_pair()
    stage1 = os.fork()
    if stage1 == 0:
        parent_end.close()
        _enter_stage1(ctx, child_end)
    child_end.close()
    return stage1, parent_end


def _enter_stage1(ctx: InitContext, chan: socket.socket) -> NoReturn:
    """The child's side: import the init's code here, not in the parent (see the
    module docstring), and never return into the parent's code."""
    try:
        from pyoci.process.init import run_child
    except BaseException as exc:  # noqa: BLE001 - every error must reach the parent
        protocol.report_error(chan, exc, ctx.debug)
        os._exit(1)
    run_child(ctx, chan)


def _send_go(chan: socket.socket, join: CgroupJoin | None) -> None:
    """GO, with the files through which the init joins its cgroup itself; our
    copies are closed once sent (the paths stay, for a write of ours)."""
    if join is None:
        protocol.send(chan, Message(protocol.GO))
        return
    try:
        protocol.send_fds(chan, Message(protocol.GO, cgroup=join.describe()), join.fds())
    finally:
        join.close()


def _join(cgroup: CgroupManager, join: CgroupJoin | None, init_pid: int,
          chan: socket.socket) -> None:
    """Put the init in the cgroups it could not enter by itself, then let it go
    on (JOINED): the v2 one when clone3 was refused (a user namespace), or, with
    a new systemd scope, all of them (starting the scope is what makes it).

    The init, not stage 1: the fork's page tables and copies are not charged
    to the container, so a smaller memory limit suffices (and under a small
    one the init has copied its pages first: PREFAULTED). The init makes its
    cgroup namespace and its first mount only after JOINED.
    """
    try:
        finish_join(cgroup, join, init_pid)
    except PyociError:
        _raise_child_error(chan)  # an init that failed meanwhile: its error, not ESRCH
        raise
    try:
        protocol.send(chan, Message(protocol.JOINED))
    except OSError:
        pass  # every child end is closed: the init's ERROR (or EOF) is read next


def _raise_child_error(chan: socket.socket) -> None:
    """Raise the ERROR a child has already sent, if there is one."""
    chan.setblocking(False)
    try:
        msg = protocol.receive(chan)
    except (OSError, PyociError):
        return
    finally:
        chan.setblocking(True)
    if msg.kind == protocol.ERROR:
        raise PyociError(msg.error)


def _forward_seccomp(chan: socket.socket, msg: Message, init_pid: int,
                     on_seccomp: Callable[[int, int], None] | None) -> None:
    """Hand the init's notify fd on, close our copy, and let the init carry on."""
    try:
        if on_seccomp is None or msg.fd < 0:
            raise PyociError("linux.seccomp: the notify fd has nowhere to go")
        on_seccomp(init_pid, msg.fd)
    finally:
        if msg.fd >= 0:
            os.close(msg.fd)
    protocol.send(chan, Message(protocol.SECCOMP_DONE))


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


"""What runs in the forked children: stage 1, then the container init.

Stage 1 joins the namespaces given by path, unshares the user namespace and
waits for the parent to write its id maps and to send the cgroup's files; then
it unshares the rest. A new pid or time namespace only applies to children, so
stage 1 forks the init there and exits. The init builds the rootfs, becomes the
configured process, reports CREATED, and blocks on the exec socket until
``start`` connects; then it execs the user's program.

Nothing here may return into the caller's code: every path ends in execve or
``os._exit``, and every error is reported over the sync channel first.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up
import errno
import os

from pyoci import faults, syscalls
from pyoci.cgroups.join import CgroupJoin, parent_joins
from pyoci.container.state import INIT_WAITING_NAME
from pyoci.errors import PyociError
from pyoci.namespaces import (
    bring_up_loopback,
    join_namespaces,
    write_time_offsets,
)
from pyoci.process import has_placement, protocol
from pyoci.process.context import InitContext
from pyoci.process.protocol import Message
from pyoci.process.setup import ExecPlan, exec_process, finalize_process
from pyoci.rootfs import prepare_rootfs
from pyoci.security import has_seccomp, lsm

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from typing import NoReturn

    from pyoci.namespaces import NamespacePlan


def run_child(ctx: InitContext, chan: socket.socket) -> NoReturn:
    """Entry point of the forked stage-1 process."""
    try:
        for fd in ctx.parent_fds:
            os.close(fd)
        _stage1(ctx, chan)
    except BaseException as exc:  # noqa: BLE001 - every error must reach the parent
        _report(chan, exc, ctx.debug)
        os._exit(1)
    os._exit(0)


def prepare_imports(ctx: InitContext) -> None:
    """What create imports and prepares before its fork for a config that uses
    it, for a stage 1 forked before create (pyoci.process.prefork): the init
    needs it after pivot_root, where a first import finds no file."""
    config = ctx.config
    if has_placement(config):
        from pyoci.process import placement  # noqa: F401
    if has_seccomp(config):
        from pyoci.security import seccomp

        seccomp.check(config)  # builds the filter the init loads
    if ctx.console_socket is not None:
        from pyoci.process import console  # noqa: F401
    if config.get("hooks"):
        from pyoci.container import hooks  # noqa: F401


# exec's children report through the same function without importing this
# module (and with it the rootfs code): it lives in protocol.
_report = protocol.report_error


def _stage1(ctx: InitContext, chan: socket.socket) -> None:
    ns = ctx.namespaces
    # Non-dumpable before touching any container namespace: a container process
    # must never be able to open /proc/<us>/exe, the host's interpreter. A
    # rootless parent can only write our id maps while /proc/<us> is still
    # ours, i.e. dumpable; until GO we are alone in a brand-new user namespace.
    late = ctx.rootless and bool(ns.new & syscalls.CLONE_NEWUSER) and not ns.join
    if not late:
        syscalls.set_dumpable(False)
    if has_placement(ctx.config):
        from pyoci.process import placement

        placement.apply_initial_affinity(ctx.config)
    join_namespaces(ns)
    if ns.new & syscalls.CLONE_NEWUSER:
        syscalls.unshare(syscalls.CLONE_NEWUSER)
    # Without a user namespace nothing the parent does before GO matters to the
    # other namespaces: make them now, while the parent makes the cgroup.
    early = not ns.has("user")
    if early:
        _unshare_rest(ns)
    protocol.send(chan, Message(protocol.READY))
    join = _cgroup_join(protocol.expect(chan, protocol.GO))
    if late:
        syscalls.set_dumpable(False)
    if ns.has("user"):
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    if not early:
        _unshare_rest(ns)
    if ns.new & syscalls.CLONE_NEWTIME:
        write_time_offsets(ctx.config.get("linux", {}).get("timeOffsets", {}))
    if ns.has("pid") or ns.has("time"):
        # Born in the v2 cgroup, unless its memory is to be prefaulted outside
        # or we are in a user namespace, which the kernel checks clone3 against
        # (and whose refusal would leave the new pid namespace unable to fork).
        into = not ctx.prefaults and not ns.has("user")
        pid = join.fork(into=into, fallback=False) if join is not None else os.fork()
        if pid:
            born_inside = join is not None and join.born_inside
            protocol.send(chan, Message(protocol.PID, pid=pid, joined=born_inside))
            os._exit(0)
    else:
        protocol.send(chan, Message(protocol.PID, pid=os.getpid()))
    ctx.cgroup_join = join
    _container_init(ctx, chan)


def _cgroup_join(go: Message) -> CgroupJoin | None:
    """The cgroup's files GO brought (None: the parent joins us to all of it)."""
    if go.cgroup is None:
        for fd in go.fds:
            os.close(fd)
        return None
    return CgroupJoin.from_message(go.cgroup, go.fds)


def _unshare_rest(ns: NamespacePlan) -> None:
    """Every new namespace but user (done first) and cgroup (it waits for the
    init's cgroup, see launcher._join)."""
    rest = ns.new & ~(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWCGROUP)
    if rest:
        try:
            syscalls.unshare(rest)
        except OSError as e:
            raise PyociError(f"linux.namespaces: unshare: {e.strerror}") from None
    faults.maybe_fail_namespace(ns)


def _container_init(ctx: InitContext, chan: socket.socket) -> NoReturn:
    config = ctx.config
    process = config.get("process") or {}
    os.setsid()
    if not ctx.no_new_keyring:
        _join_session_keyring(ctx.container_id)
    if ctx.namespaces.new & syscalls.CLONE_NEWNET:
        bring_up_loopback()
    _join_cgroup(ctx, chan)
    prepare_rootfs(config, ctx.bundle, no_pivot=ctx.no_pivot, userns_fd=_userns_fd(ctx),
                   before_pivot=lambda: _before_pivot(ctx, chan))
    _set_names(config)
    syscalls.set_process_name(INIT_WAITING_NAME)  # before seccomp: what `state` reads
    if process.get("terminal") and ctx.console_socket is not None:
        from pyoci.process import console  # create imported it: no file is read here

        console.setup_console(ctx.console_socket, process.get("consoleSize"))
        ctx.console_socket.close()
    if ctx.extra_env:
        process = dict(process, env=list(process.get("env", [])) + ctx.extra_env)
    listener = ctx.exec_listener
    keep = {chan.fileno()} | ({listener.fileno()} if listener else set())
    # Still privileged here: scheduling, labels, and a seccomp filter that
    # noNewPrivileges does not allow to load later.
    if has_placement(config):
        from pyoci.process import placement  # create imported it: no file is read here

        placement.apply(config)
    lsm.prepare_exec(config)
    if not process.get("noNewPrivileges") and has_seccomp(config):
        from pyoci.security import seccomp  # create imported it: no file is read here

        seccomp.load_privileged(config, chan)  # a notify fd goes to create over chan
    faults.maybe_fail("process")
    plan = finalize_process(process, preserve_fds=ctx.preserve_fds, keep_fds=keep)
    protocol.send(chan, Message(protocol.CREATED))
    chan.close()
    if listener is None:
        _start_container(ctx, process, plan)
    conn = _wait_for_start(listener)
    try:
        _start_container(ctx, process, plan, conn)
    except PyociError as e:
        conn.sendall(e.message.encode())
        os._exit(127)
    os._exit(127)


def _join_cgroup(ctx: InitContext, chan: socket.socket) -> None:
    """Join the container's cgroup, then make the cgroup namespace, whose root is
    the cgroup we are in at that moment.

    The v1 hierarchies we join ourselves (pyoci.cgroups.join); the v2 one we
    were born in, unless the parent has to write us into it (and, with a new
    systemd scope, into all of them). Everything before this point is charged
    to pyoci's cgroup, not the container's; nothing of the container (mounts,
    hooks, its program) runs before it.
    """
    join = ctx.cgroup_join
    if ctx.prefaults:
        _prefault_writable()  # before any join: these copies are not the container's
    faults.maybe_fail("cgroup.join")  # the init gone while it joins
    if join is not None:
        join.enter()
    if parent_joins(join):
        if ctx.prefaults:
            protocol.send(chan, Message(protocol.PREFAULTED))
        protocol.expect(chan, protocol.JOINED)
    if ctx.namespaces.new & syscalls.CLONE_NEWCGROUP:
        try:
            syscalls.unshare(syscalls.CLONE_NEWCGROUP)
        except OSError as e:
            raise PyociError(f"linux.namespaces: unshare: {e.strerror}") from None


def _prefault_writable() -> None:
    """Copy now every page the init shares copy-on-write with pyoci, and fill its
    writable mappings, so that building the rootfs after the join writes to
    pages already ours: the container is charged for what it adds, not for the
    Python process it was forked from (about 6 MiB). Best effort: where it
    fails (a kernel before 5.14: EINVAL) the limit is only tighter."""
    with open("/proc/self/maps", "rb") as f:
        maps = f.read()
    for line in maps.splitlines():
        fields = line.split()
        if fields[1] != b"rw-p" or (len(fields) > 5 and fields[5].startswith(b"[v")):
            continue  # [vvar], [vsyscall]: not ordinary memory
        start, _, end = fields[0].partition(b"-")
        try:
            syscalls.populate_write(int(start, 16), int(end, 16) - int(start, 16))
        except OSError:
            return


def _start_container(ctx: InitContext, process: dict, plan: ExecPlan,
                     conn: socket.socket | None = None) -> NoReturn:
    """``start`` connected: the startContainer hooks (lifecycle step 7, in the
    container, state "created"), then the user's program. A hook's failure
    reaches ``start`` through the exec socket like an exec failure, and its
    message starts with "hooks.startContainer", which tells start to destroy."""
    if ctx.hook_state is not None:
        _run_init_hooks(ctx, "startContainer", "created")
    _exec(ctx.config, process, plan, conn)


def _run_init_hooks(ctx: InitContext, kind: str, status: str) -> None:
    """Hooks the spec runs in the container's namespaces, run by the init itself.
    Their state's pid is "the pid as seen by the container" (config.md, runtime.md
    state): the init's own pid in its namespace, not the host's."""
    from pyoci.container import hooks  # create imported it (config has hooks)

    doc = dict(ctx.hook_state or {}, status=status, pid=os.getpid())
    hooks.run_hooks(kind, hooks.hooks_of(ctx.config, kind), doc)


def _exec(config: dict, process: dict, plan: ExecPlan,
          conn: socket.socket | None = None) -> NoReturn:
    """The last steps: a noNewPrivileges seccomp filter as late as possible (its
    notify fd goes to ``start`` over ``conn``), then execve."""
    if process.get("noNewPrivileges") and has_seccomp(config):
        from pyoci.security import seccomp  # create imported it: no file is read here

        seccomp.load_late(config, conn)
    exec_process(plan)


def _before_pivot(ctx: InitContext, chan: socket.socket) -> None:
    """Hand over to the parent (netDevices, prestart and createRuntime hooks), then
    run what belongs in the container's namespaces before pivot_root."""
    protocol.send(chan, Message(protocol.PREPIVOT))
    resume = protocol.expect(chan, protocol.RESUME)
    if ctx.hook_state is not None:
        # createContainer: container namespaces, the runtime's root still visible.
        ctx.hook_state["pid"] = resume.pid
        _run_init_hooks(ctx, "createContainer", "creating")


def _wait_for_start(listener: socket.socket) -> socket.socket:
    """Block until ``start`` connects; the connection closes itself on exec."""
    fd, _ = listener._accept()  # _socket's accept: close-on-exec (accept4), like socket.py's
    conn = socket.socket(fileno=fd)
    listener.close()
    conn.recv(1)
    return conn


def _set_names(config: dict) -> None:
    if "hostname" in config and config["hostname"] != "":
        syscalls.sethostname(config["hostname"])
    if config.get("domainname"):
        syscalls.setdomainname(config["domainname"])


def _userns_fd(ctx: InitContext) -> int | None:
    if not ctx.namespaces.has("user"):
        return None
    return os.open("/proc/self/ns/user", os.O_RDONLY | os.O_CLOEXEC)


def _join_session_keyring(container_id: str) -> None:
    """A fresh session keyring keeps the container out of the caller's keys."""
    try:
        syscalls.join_session_keyring(f"_ses.{container_id}")
    except OSError as e:
        # Kernels without keyrings, or an LSM that forbids them: runc carries on too.
        if e.errno not in (errno.ENOSYS, errno.EACCES, errno.EPERM):
            raise


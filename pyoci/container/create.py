"""``pyoci create``: everything but the user's program.

Order matters for rollback: validation touches nothing on the host; after that
each step that leaves something behind (state dir, cgroup, processes) pushes
its undo onto a stack, and any failure unwinds the stack, so a failed create
leaves no state dir, cgroup, mount, process or socket.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up
import os
import pwd

from pyoci import faults, syscalls
from pyoci.cgroups import manager as cgroups
from pyoci.config.load import load_config
from pyoci.config.semantic import check_container_id
from pyoci.container.state import (
    CREATED,
    CREATING,
    STOPPED,
    ContainerDir,
    ContainerState,
    ProcessIdentity,
    StateStore,
    rfc3339_now,
    socket_path,
)
from pyoci.errors import ConfigError, PyociError, UsageError
from pyoci.namespaces import NamespacePlan
from pyoci.process import has_placement, kill_and_reap
from pyoci.process.context import InitContext
from pyoci.process.launcher import launch
from pyoci.process.sealed import is_sealed, must_seal, reexec_sealed
from pyoci.security import has_seccomp, lsm

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.process.prefork import Prefork


class CreateOptions:
    """The arguments of ``create`` (and ``run``), as the CLI parsed them."""

    def __init__(self, container_id: str, bundle: str = ".", pid_file: str | None = None,
                 console_socket: str | None = None, no_pivot: bool = False,
                 no_new_keyring: bool = False, preserve_fds: int = 0,
                 systemd_cgroup: bool = False, rootless: bool = False,
                 detached: bool = True, debug: bool = False) -> None:
        self.container_id = container_id
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.systemd_cgroup = systemd_cgroup
        self.rootless = rootless
        self.detached = detached
        self.debug = debug
        # Set by create for a foreground run with a terminal and no console
        # socket: our end of the private socket the pty master arrives on.
        self.console_receiver: socket.socket | None = None


def create(store: StateStore, opts: CreateOptions,
           prefork: Prefork | None = None) -> ContainerState:
    """Create the container and leave its init blocked until ``start``.

    ``prefork``: stage 1, forked by the CLI before it imported this module
    (pyoci.process.prefork); the caller discards it if create fails first.
    """
    check_container_id(opts.container_id)
    bundle = os.path.abspath(opts.bundle)
    config = load_config(bundle)
    # placement and seccomp are imported only for a config that uses them, and
    # then here, before the fork: the init applies them after pivot_root.
    if has_placement(config):
        from pyoci.process import placement

        placement.check(config)  # scheduling, affinity, NUMA, personality, intelRdt
    lsm.check(config)  # a label for an LSM the host lacks fails here
    if has_seccomp(config):
        from pyoci.security import seccomp

        seccomp.check(config)  # and builds the filter the init will load
    _check_net_devices(config)
    rootfs = _rootfs_path(config, bundle)
    terminal = _check_terminal(config, opts)
    faults.maybe_fail("validation")
    if must_seal(config):
        if prefork is not None and not is_sealed():
            prefork.discard()  # it runs the host interpreter; the sealed copy forks its own
        reexec_sealed()  # the container may open our pids' exe: never the host interpreter
    syscalls.set_child_subreaper()
    _interrupt_on_termination()
    cleanup = UndoStack()   # runs whatever happens: closes what create opened
    rollback = UndoStack()  # runs only on failure: removes what create made
    state = None
    try:
        namespaces = NamespacePlan.from_config(config)
        cleanup.push(namespaces.close)
        cdir = store.create(opts.container_id)
        cleanup.push(cdir.close)
        rollback.push(cdir.remove)
        state = _initial_state(opts, bundle, rootfs, config)
        cgroup = cgroups.manager_for_config(config, opts.container_id,
                                            systemd=opts.systemd_cgroup)
        cgroup.check_empty("linux.cgroupsPath")
        rollback.push(cgroup.destroy)
        # Written ahead: delete --force of a create killed from here on finds the cgroup.
        state.cgroup = cgroup.planned_state()
        cdir.save(state)
        faults.maybe_fail("state")
        ctx = _init_context(opts, bundle, config, namespaces, cdir, cleanup, terminal)
        faults.maybe_fail("exec.sock")
        if config.get("hooks"):  # createContainer/startContainer hooks read it in the init
            ctx.hook_state = state.public(CREATED)
            # The init runs them after pivot_root, where no first import finds a file.
            from pyoci.container import hooks  # noqa: F401

        def make_cgroup() -> cgroups.CgroupManager:
            """Runs in the parent while stage 1 imports the init's code and
            unshares: the cgroup's mkdirs and limits overlap them."""
            made = _create_cgroup(cgroup, rootless=opts.rootless)
            faults.maybe_fail("cgroup")
            state.cgroup = made.to_state()
            if made.driver == "systemd":  # the scope's cgroup exists once stage 1 is in it
                made.after_join.append(
                    lambda: _apply_resources(config, made, rootless=opts.rootless))
            else:
                _apply_resources(config, made, rootless=opts.rootless)  # before the init joins
                faults.maybe_fail("linux.resources")
            return made

        pid, cgroup = launch(ctx, make_cgroup, rootless=opts.rootless,
                             before_pivot=lambda init_pid: _before_pivot(config, state, init_pid,
                                                                         rollback, cleanup),
                             on_seccomp=lambda init_pid, fd: _seccomp_listener(config, state,
                                                                               init_pid, fd),
                             prefork=prefork)
        rollback.push(kill_and_reap, pid)
        state.cgroup = cgroup.to_state()  # the systemd driver learnt its paths in launch
        state.init = ProcessIdentity.of(pid)
        state.status = CREATED
        if opts.pid_file:
            write_pid_file(opts.pid_file, pid)
        faults.maybe_fail("created")
        cdir.save(state)
        return state
    except BaseException:
        rollback.unwind()
        _poststop_after_failure(config, state)
        raise
    finally:
        cleanup.unwind()


def _before_pivot(config: dict, state: ContainerState, init_pid: int,
                  rollback: UndoStack, cleanup: UndoStack) -> None:
    """The runtime's share of creation once the container's namespaces exist and
    its mounts are in place, before pivot_root: runs in pyoci's own namespaces."""
    state.init = ProcessIdentity.of(init_pid)
    if (config.get("linux") or {}).get("netDevices"):
        # First, before any hook: hooks may expect the devices in place.
        from pyoci import netdevices  # pyroute2 is loaded only on this path

        moved = netdevices.move_devices(config, init_pid)
        cleanup.push(moved.close)  # success: the netns is the container's alone
        rollback.push(moved.restore)  # failure (runs first): the devices go home
    if config.get("hooks"):
        _run_create_hooks(config, state, init_pid)


def _seccomp_listener(config: dict, state: ContainerState, init_pid: int, fd: int) -> None:
    """The init loaded a notify filter before CREATED: its listener gets the fd
    with the state as runc sends it then (status "creating", the init's pid)."""
    doc = state.public(CREATED)
    doc.update(status=CREATING, pid=init_pid)
    from pyoci.security import seccomp  # imported by create() already: a notify filter

    seccomp.send_to_listener(config, doc, fd)


def _run_create_hooks(config: dict, state: ContainerState, init_pid: int) -> None:
    """prestart, then createRuntime (runtime.md lifecycle steps 3 and 4): status
    "creating" with the init's pid, which is what such a hook needs (its netns)."""
    from pyoci.container.hooks import hooks_of, run_hooks

    doc = state.public(CREATING)
    doc["pid"] = init_pid
    for kind in ("prestart", "createRuntime"):
        run_hooks(kind, hooks_of(config, kind), doc)


def _poststop_after_failure(config: dict, state: ContainerState | None) -> None:
    """A failure from lifecycle step 3 on (the init got as far as pre-pivot, so its
    pid is recorded) continues at steps 12 and 13: the rollback has destroyed
    the container, now the poststop hooks run, their failures only warnings.
    Warnings go to stderr only: the --log file of a failed create holds one line."""
    if state is None or not state.init.pid or not config.get("hooks"):
        return
    from pyoci.container.hooks import hooks_of, run_hooks
    from pyoci.log import warn_stderr

    try:
        run_hooks("poststop", hooks_of(config, "poststop"), state.public(STOPPED),
                  warn=warn_stderr)
    except Exception as e:  # noqa: BLE001 - never hide the error that made create fail
        warn_stderr(f"hooks.poststop: {e}")


def _check_net_devices(config: dict) -> None:
    """linux.netDevices against the host, before anything is made (cheap: no pyroute2).

    Unprivileged it is refused outright: moving a host interface needs
    CAP_NET_ADMIN over the host's network namespace, which no user namespace
    grants, and the failure would otherwise surface as a bare EPERM/EACCES."""
    if (config.get("linux") or {}).get("netDevices"):
        if os.geteuid() != 0:
            raise ConfigError("linux.netDevices: moving a host network interface into the "
                              "container needs root (CAP_NET_ADMIN in the host's network "
                              "namespace): not possible rootless")
        from pyoci import netdevices

        netdevices.check(config)


class Terminated(PyociError):
    """SIGTERM or SIGHUP arrived while create was half done."""


def _interrupt_on_termination() -> None:
    """Turn SIGTERM/SIGHUP into an exception, so that a stopped create rolls back."""
    import _signal

    def handler(signum: int, _frame: object) -> None:
        raise Terminated(f"create interrupted by signal {signum}: rolled back")

    for sig in (_signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, handler)


def _apply_resources(config: dict, cgroup: cgroups.CgroupManager, *, rootless: bool) -> None:
    """linux.resources, device list included, so the process never runs unlimited.

    Even a config without ``linux.resources`` gets runc's default device policy
    (deny all but the standard nodes): otherwise a process with CAP_MKNOD could
    mknod and open any host device. Rootless skips the devices controller, as
    runc does (it cannot be delegated), and then nothing is imported.
    """
    linux = config.get("linux") or {}
    if linux.get("resources") is None and (rootless or not cgroup.paths):
        return
    from pyoci.cgroups import resources

    res = linux.get("resources") or {}
    resources.check_create(res)
    if rootless and not cgroup.paths:
        _refuse_limits_without_cgroup(res)
        return
    resources.apply(cgroup, res, linux_devices=linux.get("devices") or [],
                    skip_devices=rootless)


def _refuse_limits_without_cgroup(res: dict) -> None:
    """Rootless with no writable cgroup (runc's rule): a limit cannot be set, and a
    container the config wants limited must not run unlimited, so it is refused.
    Only the devices list, which rootless ignores anyway, may be there."""
    for group, values in res.items():
        if group != "devices" and values not in (None, {}, []):
            raise ConfigError(f"linux.resources.{group}: cannot set {group} limits rootless: "
                              "the container could not join or create a cgroup (none is "
                              "delegated to this user)")


def _create_cgroup(cgroup: cgroups.CgroupManager, *, rootless: bool) -> cgroups.CgroupManager:
    """Rootless, a cgroup we may not create is skipped, as runc does; as root it is fatal."""
    try:
        cgroup.create()
    except cgroups.CgroupPermissionError as e:
        if not rootless:
            raise
        cgroup.destroy()
        from pyoci.log import warn

        warn(f"running without cgroups (no delegated cgroup is writable): {e.message}")
        return cgroups.CgroupManager({})
    return cgroup


class UndoStack:
    """Callbacks run last-in, first-out (contextlib.ExitStack costs an import).

    A failing callback does not stop the others, and never hides the error
    that made create roll back.
    """

    def __init__(self) -> None:
        self._steps: list[tuple] = []

    def push(self, fn, *args: object) -> None:  # noqa: ANN001
        self._steps.append((fn, args))

    def unwind(self) -> None:
        while self._steps:
            fn, args = self._steps.pop()
            try:
                fn(*args)
            except Exception:  # noqa: BLE001, S110 - best effort; the first error wins
                pass


def _rootfs_path(config: dict, bundle: str) -> str:
    path = config["root"]["path"]
    rootfs = os.path.normpath(os.path.join(bundle, path))
    if not os.path.isdir(rootfs):
        raise ConfigError(f"root.path: {rootfs}: no such directory")
    return rootfs


def _check_terminal(config: dict, opts: CreateOptions) -> bool:
    terminal = bool((config.get("process") or {}).get("terminal"))
    if terminal and not opts.console_socket and opts.detached:
        raise UsageError("process.terminal is true: --console-socket is required "
                         "for a detached container")
    if opts.console_socket and not terminal:
        raise UsageError("--console-socket given but process.terminal is false")
    return terminal


def _initial_state(opts: CreateOptions, bundle: str, rootfs: str, config: dict) -> ContainerState:
    return ContainerState(
        id=opts.container_id,
        bundle=bundle,
        rootfs=rootfs,
        created=rfc3339_now(),
        owner=_owner(),
        creator=ProcessIdentity.of(os.getpid()),
        annotations=dict(config.get("annotations") or {}),
        systemd_cgroup=opts.systemd_cgroup,
        rootless=opts.rootless,
        config=config,
    )


def _owner() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _init_context(opts: CreateOptions, bundle: str, config: dict, namespaces: NamespacePlan,
                  cdir: ContainerDir, cleanup: UndoStack, terminal: bool) -> InitContext:
    listener = _exec_listener(cdir)
    cleanup.push(listener.close)
    console = None
    if opts.console_socket or terminal:
        # Only with a terminal (termios, fcntl, struct): the init sets it up
        # after pivot_root, where no first import finds a file.
        from pyoci.process.console import connect_console_socket
    if opts.console_socket:
        console = connect_console_socket(opts.console_socket)
        cleanup.push(console.close)
    elif terminal:
        # A foreground run with a terminal: the pty master comes back to us.
        opts.console_receiver, console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cleanup.push(console.close)
    listen_fds = _listen_fds()
    return InitContext(
        container_id=opts.container_id,
        bundle=bundle,
        config=config,
        namespaces=namespaces,
        exec_listener=listener,
        console_socket=console,
        preserve_fds=opts.preserve_fds + listen_fds,
        no_pivot=opts.no_pivot,
        no_new_keyring=opts.no_new_keyring,
        extra_env=[f"LISTEN_FDS={listen_fds}", "LISTEN_PID=1"] if listen_fds else [],
        debug=opts.debug,
        parent_fds=[cdir.fd],
        rootless=opts.rootless,
    )


def _exec_listener(cdir: ContainerDir) -> socket.socket:
    """The socket the init blocks on until ``start`` connects to it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(socket_path(cdir.path, cdir.fd))
    sock.listen(1)
    return sock


def _listen_fds() -> int:
    """Socket activation: LISTEN_FDS meant for us are passed on to the container."""
    raw = os.environ.get("LISTEN_FDS", "")
    if not raw.isdigit() or os.environ.get("LISTEN_PID", str(os.getpid())) != str(os.getpid()):
        return 0
    return int(raw)


def write_pid_file(path: str, pid: int) -> None:
    """The decimal pid, no newline, renamed into place so readers never see half."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise PyociError(f"--pid-file: {path}: {e.strerror}") from None

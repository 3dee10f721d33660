"""``pyoci exec``: run one more process in a running container, as ``runc exec``.

The parent (this process) checks everything it can on the host side: the
container's status, the process document, the LSM labels and the seccomp
filter (built here, loaded by the grandchild). It then forks a child, born in
the container's v2 cgroup where there is one (pyoci.cgroups.join), that makes
itself non-dumpable, joins the v1 hierarchies itself, waits until the parent
has done whatever joining is left, and setns into the init's namespaces (user
first). A pid
namespace only applies to children, so the child forks the grandchild, which
becomes the process: terminal, labels, rlimits, capabilities, user, seccomp,
signals reset, stray fds closed, execve. Errors come back over a SEQPACKET
channel as one line; its EOF (the channel is close-on-exec) means the exec
happened. pyoci is a child subreaper, so the grandchild is ours to wait for.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up
import os

from pyoci import faults, jsonio, syscalls
from pyoci.container.state import CREATED, PAUSED, STOPPED, StateStore
from pyoci.errors import ConfigError, PyociError, StatusError, UsageError
from pyoci.namespaces import PROC_NAMES
from pyoci.process import has_placement, kill_and_reap, protocol
from pyoci.process.foreground import forward_signals, wait_for
from pyoci.process.protocol import ChannelClosed, Message
from pyoci.process.sealed import must_seal, reexec_sealed, shares_our_pid_namespace
from pyoci.process.setup import exec_process, finalize_process
from pyoci.security import has_seccomp, lsm
from pyoci.security.capabilities import parse_capabilities

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from pyoci.cgroups.join import CgroupJoin

#: The order runc joins in: user first, so its capabilities cover the rest.
_NS_ORDER = ("user", "ipc", "uts", "network", "pid", "mount", "cgroup", "time")
_CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

class ExecOptions:
    """The command line of ``exec``; a plain class (dataclasses cost start-up time)."""

    def __init__(self, container_id: str, args: list[str], *, process_file: str | None = None,
                 tty: bool = False, detach: bool = False, pid_file: str | None = None,
                 console_socket: str | None = None, cwd: str | None = None,
                 env: list[str] | None = None, user: str | None = None,
                 additional_gids: list[str] | None = None, caps: list[str] | None = None,
                 no_new_privs: bool = False, apparmor: str | None = None,
                 process_label: str | None = None, preserve_fds: int = 0,
                 ignore_paused: bool = False, debug: bool = False) -> None:
        self.container_id = container_id
        self.args = args
        self.process_file = process_file
        self.tty = tty
        self.detach = detach
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.cwd = cwd
        self.env = env or []
        self.user = user
        self.additional_gids = additional_gids or []
        self.caps = caps or []
        self.no_new_privs = no_new_privs
        self.apparmor = apparmor
        self.process_label = process_label
        self.preserve_fds = preserve_fds
        self.ignore_paused = ignore_paused
        self.debug = debug


# --- the process document -----------------------------------------------------

def build_process(config: dict, opts: ExecOptions) -> dict:
    """The process to run: ``--process`` as given (runc ignores the other flags
    then), else the container's own with the command and the flags applied."""
    if opts.process_file:
        try:
            with open(opts.process_file, "rb") as f:
                process = jsonio.loads(f.read())
        except OSError as e:
            raise UsageError(f"--process: {opts.process_file}: {e.strerror}") from None
        except ValueError as e:
            raise ConfigError(f"--process: {opts.process_file}: invalid JSON: {e}") from None
        if not isinstance(process, dict):
            raise ConfigError(f"--process: {opts.process_file}: expected a JSON object")
    else:
        if not opts.args:
            raise UsageError("exec: no command given (and no --process)")
        process = jsonio.loads(jsonio.dumps(config.get("process") or {}))  # a deep copy
        process["args"] = list(opts.args)
        process["terminal"] = opts.tty
        if opts.cwd:
            process["cwd"] = opts.cwd
        process["env"] = list(process.get("env") or []) + opts.env
        user = dict(process.get("user") or {})
        if opts.user:
            uid, _, gid = opts.user.partition(":")
            user["uid"] = _number("--user", uid)
            if gid:
                user["gid"] = _number("--user", gid)
        if opts.additional_gids:
            user["additionalGids"] = [_number("--additional-gids", g)
                                      for g in opts.additional_gids]
        process["user"] = user
        if opts.caps:
            caps = dict(process.get("capabilities") or {})
            for name in _CAP_SETS:
                caps[name] = list(caps.get(name) or []) + opts.caps
            process["capabilities"] = caps
        if opts.no_new_privs:
            process["noNewPrivileges"] = True
        if opts.apparmor:
            process["apparmorProfile"] = opts.apparmor
        if opts.process_label:
            process["selinuxLabel"] = opts.process_label
    validate_process(process)
    return process


def _number(flag: str, text: str) -> int:
    if not text.isdigit():
        raise UsageError(f"{flag}: expected a non-negative integer, got {text!r}")
    return int(text)


def validate_process(process: dict) -> None:
    """The checks runc makes on an exec process, plus the capability names."""
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise ConfigError("process.args: expected a non-empty array of strings")
    cwd = process.get("cwd")
    if not isinstance(cwd, str) or cwd == "":
        raise ConfigError("process.cwd: must not be empty")
    if not os.path.isabs(cwd):
        raise ConfigError(f"process.cwd: {cwd!r} must be an absolute path")
    env = process.get("env") or []
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise ConfigError("process.env: expected an array of strings")
    for entry in env:
        if "=" not in entry:
            raise ConfigError(f"process.env: {entry!r} is not KEY=value")
    parse_capabilities(process.get("capabilities"))


# --- the parent -----------------------------------------------------------------

def exec_container(store: StateStore, opts: ExecOptions) -> int:
    """Run the process; its exit status without --detach, else 0 once it runs."""
    from pyoci.cgroups.manager import manager_from_state

    with store.open(opts.container_id, lock=False) as cdir:
        state = cdir.load()
        status = state.current_status(cdir.path)
    if status == STOPPED:
        raise StatusError("cannot exec in a stopped container")
    if status == PAUSED and not opts.ignore_paused:
        raise StatusError("cannot exec in a paused container (use --ignore-paused to override)")
    process = build_process(state.config, opts)
    config = dict(state.config, process=process)
    lsm.check(config)
    # Imported only when the config uses them, and here, before the fork: the
    # grandchild applies them after setns(mnt), where no first import finds a file.
    if has_placement(config):
        from pyoci.process import placement  # noqa: F401
    if has_seccomp(config):
        from pyoci.security import seccomp

        seccomp.check(config)
    if process.get("terminal"):
        from pyoci.process import console
    init_pid = state.init.pid
    if status == CREATED and must_seal(state.config, process) and not must_seal(state.config):
        # Only the process's CAP_SYS_PTRACE makes sealing needed, so create left
        # the waiting init unsealed: this process could open its exe.
        raise StatusError("cannot exec a process with CAP_SYS_PTRACE before the container "
                          "has started: it could open the waiting init's interpreter; "
                          "start the container first")
    if shares_our_pid_namespace(init_pid) or must_seal(state.config, process):
        reexec_sealed()  # the process may open our pid's exe: never the host interpreter
    # Stays until the process exits: nothing in the container may open /proc/<us>/.
    syscalls.set_dumpable(False)
    ns_fds = _open_namespaces(init_pid)
    console_sock = receiver = None
    try:
        if process.get("terminal"):
            if opts.console_socket:
                console_sock = console.connect_console_socket(opts.console_socket)
            elif opts.detach:
                raise UsageError("exec: --tty with --detach needs --console-socket")
            else:
                receiver, console_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        elif opts.console_socket:
            raise UsageError("--console-socket: only with a terminal (--tty)")
        syscalls.set_child_subreaper()
        pid = _launch(config, ns_fds, manager_from_state(state.cgroup), console_sock, opts)
    finally:
        for fd in ns_fds.values():
            os.close(fd)
        if console_sock is not None:
            console_sock.close()
    faults.maybe_fail("exec.started")
    if opts.pid_file:
        from pyoci.container.create import write_pid_file

        write_pid_file(opts.pid_file, pid)
    if opts.detach:
        return 0
    forward_signals(pid)
    if receiver is not None:
        try:
            master = console.receive_master(receiver)
        finally:
            receiver.close()
        pidfd = os.pidfd_open(pid)
        try:
            console.relay(master, pidfd)
        finally:
            os.close(pidfd)
            os.close(master)
    return wait_for(pid)


def _open_namespaces(init_pid: int) -> dict[str, int]:
    """The init's namespaces that differ from ours, opened now (the pid may not last)."""
    fds: dict[str, int] = {}
    try:
        for kind in _NS_ORDER:
            name = PROC_NAMES[kind]
            try:
                theirs = os.stat(f"/proc/{init_pid}/ns/{name}")
            except FileNotFoundError:
                continue  # a namespace type this kernel lacks
            except OSError as e:
                raise PyociError(f"exec: /proc/{init_pid}/ns/{name}: {e.strerror}") from None
            ours = os.stat(f"/proc/self/ns/{name}")
            if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
                continue
            fds[kind] = os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    return fds


def _launch(config: dict, ns_fds: dict[str, int], cgroup: object,
            console_sock: socket.socket | None, opts: ExecOptions) -> int:
    """Fork the two children; return the host pid of the process once it has exec'd."""
    from pyoci.cgroups.join import finish_join  # the cgroup manager's module is loaded

    join = cgroup.self_join()  # type: ignore[attr-defined]
    parent_end, child_end = protocol.channel_pair()
    try:
        # execCPUAffinity.initial is for before the move, which a child born in
        # the v2 cgroup has already made: that child is forked plainly.
        child = join.fork(into=not _has_initial_affinity(config)) if join else os.fork()
    except BaseException:
        if join is not None:
            join.close()
        raise
    if child == 0:
        parent_end.close()
        _child(config, ns_fds, console_sock, opts, child_end, join)
    child_end.close()
    if join is not None:
        join.close()  # the child's copies are its own
    pid = 0
    try:
        protocol.expect(parent_end, protocol.READY)  # it has joined what it could
        finish_join(cgroup, join, child)  # type: ignore[arg-type]
        faults.maybe_fail("exec.cgroup")
        protocol.send(parent_end, Message(protocol.GO))
        pid = protocol.expect(parent_end, protocol.PID).pid
        os.waitpid(child, 0)
        child = 0
        try:
            protocol.expect(parent_end)  # only an ERROR can come: EOF means exec'd
        except ChannelClosed:
            return pid
        raise PyociError("sync protocol: unexpected message after PID")
    except BaseException:
        for p in (pid, child):
            kill_and_reap(p)
        raise
    finally:
        parent_end.close()


# --- the children -----------------------------------------------------------------

def _has_initial_affinity(config: dict) -> bool:
    affinity = (config.get("process") or {}).get("execCPUAffinity") or {}
    return bool(affinity.get("initial"))


def _child(config: dict, ns_fds: dict[str, int], console_sock: socket.socket | None,
           opts: ExecOptions, chan: socket.socket, join: CgroupJoin | None) -> NoReturn:
    """Join the container, fork the process; never return into the parent's code."""
    try:
        # Before any container namespace: nothing in there may open our /proc/<pid>/exe.
        syscalls.set_dumpable(False)
        if has_placement(config):
            from pyoci.process import placement  # the parent imported it

            placement.apply_initial_affinity(config)  # execCPUAffinity.initial: before the move
        if join is not None:
            join.enter()  # the v1 hierarchies (pyoci.cgroups.join)
        protocol.send(chan, Message(protocol.READY))
        protocol.expect(chan, protocol.GO)  # in the container's cgroup now
        for kind in _NS_ORDER:
            if kind in ns_fds:
                try:
                    syscalls.setns(ns_fds[kind], 0)
                except OSError as e:
                    raise PyociError(f"join {PROC_NAMES[kind]} namespace: {e.strerror}") from None
        for fd in ns_fds.values():
            os.close(fd)
        if "user" in ns_fds:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        pid = os.fork()
        if pid == 0:
            _grandchild(config, console_sock, opts, chan)
        protocol.send(chan, Message(protocol.PID, pid=pid))
    except BaseException as exc:  # noqa: BLE001 - every error must reach the parent
        protocol.report_error(chan, exc, opts.debug)
        os._exit(1)
    os._exit(0)


def _grandchild(config: dict, console_sock: socket.socket | None, opts: ExecOptions,
                chan: socket.socket) -> NoReturn:
    try:
        process = config["process"]
        # setns(mnt) left our root and cwd at the container's root; make it explicit.
        os.chdir("/")
        # In the container's cgroup and still privileged: execCPUAffinity.final,
        # scheduler, ioPriority (config.md applies them to an exec'd process too).
        if has_placement(config):
            from pyoci.process import placement  # the parent imported it

            placement.apply(config)
        if console_sock is not None:
            from pyoci.process import console  # the parent imported it

            os.setsid()
            console.setup_console(console_sock, process.get("consoleSize"), bind_console=False)
            console_sock.close()
        lsm.prepare_exec(config)
        if not process.get("noNewPrivileges"):
            _load_seccomp(config)
        plan = finalize_process(process, preserve_fds=opts.preserve_fds,
                                keep_fds={chan.fileno()})
        if process.get("noNewPrivileges"):
            _load_seccomp(config)
        exec_process(plan)
    except BaseException as exc:  # noqa: BLE001
        protocol.report_error(chan, exc, opts.debug)
        os._exit(1)


def _load_seccomp(config: dict) -> None:
    """Load the filter the parent built. A notify fd has no listener to go to here."""
    if not has_seccomp(config):
        return
    from pyoci.security import seccomp  # the parent imported it

    fd = seccomp._load(config)  # noqa: SLF001 - the loader without the init's handoff
    if fd >= 0:
        os.close(fd)



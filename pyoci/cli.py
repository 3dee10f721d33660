"""The ``pyoci`` command line: a thin, runc-compatible adapter.

It parses runc's flags (``--flag value`` and ``--flag=value``, the single-dash
spelling Go's flag package allows, global flags before the command), turns
them into calls of the ``container`` layer, and maps every failure to one line
on stderr (and the ``--log`` file) plus a non-zero exit. Commands import what
they use only when they run: start-up time is part of every engine call.
"""

from __future__ import annotations

import posix  # not os: see pyoci/paths.py
import sys

from pyoci import __version__, paths
from pyoci.errors import PyociError, UsageError

DEFAULT_ROOT = "/run/pyoci"


class Command:
    """One subcommand: its value options, boolean flags and positional arguments."""

    def __init__(self, run, values: dict[str, str] | None = None,  # noqa: ANN001
                 flags: dict[str, str] | None = None, positionals: tuple[int, int] = (1, 1),
                 usage: str = "<container-id>", summary: str = "",
                 stop_at_positional: bool = False) -> None:
        self.run = run
        self.stop_at_positional = stop_at_positional  # ps: what follows the id is ps's
        self.values = values or {}
        self.flags = flags or {}
        self.positionals = positionals
        self.usage = usage
        self.summary = summary


class Globals:
    """The global flags, which come before the command."""

    def __init__(self) -> None:
        self.root = DEFAULT_ROOT
        self.log: str | None = None
        self.log_format = "text"
        self.debug = False
        self.systemd_cgroup = False
        self.rootless = "auto"


_GLOBAL_VALUES = {"--root": "root", "--log": "log", "--log-format": "log_format",
                  "--rootless": "rootless", "--criu": "criu"}
_GLOBAL_FLAGS = {"--debug": "debug", "--systemd-cgroup": "systemd_cgroup"}
_TRUE = {"true", "1", "yes", "t"}
_FALSE = {"false", "0", "no", "f"}


def _normalise(arg: str) -> str:
    """Go's flag package accepts ``-root`` for ``--root``."""
    if arg.startswith("-") and not arg.startswith("--") and len(arg.split("=")[0]) > 2:
        return "-" + arg
    return arg


def parse_options(args: list[str], values: dict[str, str], flags: dict[str, str],
                  *, stop_at_positional: bool = False) -> tuple[dict, list[str]]:
    """Split ``args`` into options (by destination name) and positionals."""
    opts: dict = {}
    positionals: list[str] = []
    i = 0
    while i < len(args):
        arg = _normalise(args[i])
        i += 1
        if arg == "--":
            positionals.extend(args[i:])
            break
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            if stop_at_positional:
                positionals.extend(args[i:])
                break
            continue
        name, eq, inline = arg.partition("=")
        if name in values:
            if eq:
                value = inline
            elif i < len(args):
                value, i = args[i], i + 1
            else:
                raise UsageError(f"flag needs an argument: {name}")
            dest = values[name]
            if dest.endswith("[]"):
                opts.setdefault(dest[:-2], []).append(value)
            else:
                opts[dest] = value
        elif name in flags:
            if eq and inline.lower() not in _TRUE | _FALSE:
                raise UsageError(f"invalid boolean value {inline!r} for flag {name}")
            opts[flags[name]] = not eq or inline.lower() in _TRUE
        else:
            raise UsageError(f"flag provided but not defined: {name}")
    return opts, positionals


def parse_globals(argv: list[str]) -> tuple[Globals, list[str]]:
    """Global flags come before the command; stop at the first non-flag."""
    g = Globals()
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-", "--"):
        name = _normalise(argv[i]).partition("=")[0]
        if name in ("--version", "-v", "--help", "-h"):
            break
        if name in _GLOBAL_VALUES and "=" not in argv[i] and name != "--rootless":
            opts, _ = parse_options(argv[i:i + 2], _GLOBAL_VALUES, _GLOBAL_FLAGS)
            i += 2
        elif name == "--rootless" and "=" not in argv[i]:
            nxt = argv[i + 1] if i + 1 < len(argv) else ""
            take = nxt.lower() in _TRUE | _FALSE | {"auto"}
            opts = {"rootless": nxt if take else "true"}
            i += 2 if take else 1
        else:
            opts, _ = parse_options(argv[i:i + 1], _GLOBAL_VALUES, _GLOBAL_FLAGS)
            i += 1
        for key, value in opts.items():
            if hasattr(g, key):
                setattr(g, key, value)
    runtime_dir = paths.environ("XDG_RUNTIME_DIR")
    if g.root == DEFAULT_ROOT and posix.geteuid() != 0 and runtime_dir is not None \
            and not any(_normalise(a).partition("=")[0] == "--root" for a in argv[:i]):
        # Unprivileged, like runc: state goes where the user may write it.
        g.root = paths.join(runtime_dir, "pyoci")
    if g.log_format not in ("text", "json"):
        raise UsageError(f"--log-format: unknown format {g.log_format!r} (want text or json)")
    return g, argv[i:]


def _store(g: Globals):  # noqa: ANN202 - StateStore is imported lazily
    from pyoci.container.state import StateStore

    return StateStore(g.root)


def _container_id(pos: list[str]) -> str:
    return pos[0]


def _rootless(g: Globals) -> bool:
    if g.rootless == "auto":
        return posix.geteuid() != 0
    return g.rootless.lower() in _TRUE


def _create_options(g: Globals, opts: dict, pos: list[str]):  # noqa: ANN202
    from pyoci.container.create import CreateOptions

    preserve = opts.get("preserve_fds", "0")
    if not str(preserve).isdigit():
        raise UsageError(f"--preserve-fds: expected a non-negative integer, got {preserve!r}")
    return CreateOptions(
        container_id=_container_id(pos),
        bundle=opts.get("bundle") or ".",
        pid_file=opts.get("pid_file"),
        console_socket=opts.get("console_socket"),
        no_pivot=opts.get("no_pivot", False),
        no_new_keyring=opts.get("no_new_keyring", False),
        preserve_fds=int(preserve),
        systemd_cgroup=g.systemd_cgroup,
        rootless=_rootless(g),
        debug=g.debug,
    )


def cmd_create(g: Globals, opts: dict, pos: list[str]) -> int:
    prefork = _prefork()  # first: it imports the init's code while we import create's
    try:
        from pyoci.container.create import create

        create(_store(g), _create_options(g, opts, pos), prefork)
    finally:
        if prefork is not None:
            prefork.discard()
    return 0


def cmd_run(g: Globals, opts: dict, pos: list[str]) -> int:
    prefork = _prefork()
    try:
        from pyoci.container.run import run

        return run(_store(g), _create_options(g, opts, pos), detach=opts.get("detach", False),
                   prefork=prefork)
    finally:
        if prefork is not None:
            prefork.discard()


def _prefork():  # noqa: ANN202 - the annotation would import the module early
    """Stage 1 of the container, forked before create's code is imported."""
    from pyoci.process.prefork import Prefork

    return Prefork.start()


def cmd_start(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.start import start

    start(_store(g), _container_id(pos))
    return 0


def cmd_state(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.query import dumps, state_document

    print(dumps(state_document(_store(g), _container_id(pos))))
    return 0


def cmd_kill(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.kill import kill, parse_signal

    sig = parse_signal(pos[1] if len(pos) > 1 else "SIGTERM")
    kill(_store(g), _container_id(pos), sig, all_processes=opts.get("all", False))
    return 0


def cmd_delete(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.delete import delete

    delete(_store(g), _container_id(pos), force=opts.get("force", False))
    return 0


def cmd_list(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.query import dumps, format_table, list_documents

    fmt = opts.get("format", "table")
    if fmt not in ("table", "json"):
        raise UsageError(f"--format: invalid format {fmt!r} (want table or json)")
    docs = list_documents(_store(g))
    if opts.get("quiet"):
        out = "\n".join(d["id"] for d in docs)
    elif fmt == "json":
        out = dumps(docs)
    else:
        out = format_table(docs)
    if out:
        print(out)
    return 0


def cmd_spec(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.spec import write_spec

    write_spec(opts.get("bundle") or ".", bool(opts.get("rootless", False)))
    return 0


def cmd_features(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.features import features_document
    from pyoci.container.query import dumps

    print(dumps(features_document()))
    return 0


def cmd_pause(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.pause import pause

    pause(_store(g), _container_id(pos))
    return 0


def cmd_resume(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.pause import resume

    resume(_store(g), _container_id(pos))
    return 0


def cmd_ps(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container import ps

    fmt = opts.get("format", "table")
    ps.check_format(fmt)
    pids = ps.container_pids(_store(g), _container_id(pos))
    print(ps.json_text(pids) if fmt == "json" else ps.table_text(pids, pos[1:]))
    return 0


def cmd_update(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.update import build_resources, update

    flags = {k: v for k, v in opts.items() if k.startswith("--")}
    update(_store(g), _container_id(pos), build_resources(opts.get("resources"), flags))
    return 0


def cmd_events(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.events import events, parse_duration

    interval = parse_duration(opts.get("interval", "5s"))
    events(_store(g), _container_id(pos), stats=opts.get("stats", False), interval=interval)
    return 0


def cmd_exec(g: Globals, opts: dict, pos: list[str]) -> int:
    from pyoci.container.exec import ExecOptions, exec_container

    preserve = opts.get("preserve_fds", "0")
    if not str(preserve).isdigit():
        raise UsageError(f"--preserve-fds: expected a non-negative integer, got {preserve!r}")
    return exec_container(_store(g), ExecOptions(
        _container_id(pos), pos[1:], process_file=opts.get("process"),
        tty=opts.get("tty", False), detach=opts.get("detach", False),
        pid_file=opts.get("pid_file"), console_socket=opts.get("console_socket"),
        cwd=opts.get("cwd"), env=opts.get("env"), user=opts.get("user"),
        additional_gids=opts.get("additional_gids"), caps=opts.get("cap"),
        no_new_privs=opts.get("no_new_privs", False), apparmor=opts.get("apparmor"),
        process_label=opts.get("process_label"), preserve_fds=int(preserve),
        ignore_paused=opts.get("ignore_paused", False), debug=g.debug))


_EXEC_VALUES = {"--process": "process", "-p": "process", "--pid-file": "pid_file",
                "--console-socket": "console_socket", "--cwd": "cwd", "--env": "env[]",
                "-e": "env[]", "--user": "user", "-u": "user",
                "--additional-gids": "additional_gids[]", "-g": "additional_gids[]",
                "--cap": "cap[]", "-c": "cap[]", "--apparmor": "apparmor",
                "--process-label": "process_label", "-l": "process_label",
                "--preserve-fds": "preserve_fds"}
_EXEC_FLAGS = {"--tty": "tty", "-t": "tty", "--detach": "detach", "-d": "detach",
               "--no-new-privs": "no_new_privs", "--ignore-paused": "ignore_paused"}

_UPDATE_VALUES = {"--resources": "resources", "-r": "resources",
                  **{f: f for f in ("--memory", "--memory-reservation", "--memory-swap",
                                    "--kernel-memory", "--kernel-memory-tcp", "--cpu-shares",
                                    "--cpu-share", "--cpu-quota", "--cpu-period",
                                    "--cpu-rt-runtime", "--cpu-rt-period", "--cpuset-cpus",
                                    "--cpuset-mems",
                                    "--pids-limit", "--blkio-weight")}}

_CREATE_VALUES = {"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file",
                  "--console-socket": "console_socket", "--preserve-fds": "preserve_fds"}
_CREATE_FLAGS = {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"}

COMMANDS: dict[str, Command] = {
    "create": Command(cmd_create, _CREATE_VALUES, _CREATE_FLAGS,
                      summary="create a container"),
    "run": Command(cmd_run, _CREATE_VALUES,
                   {**_CREATE_FLAGS, "--detach": "detach", "-d": "detach",
                    "--keep": "keep"},
                   summary="create and run a container"),
    "start": Command(cmd_start, summary="executes the user defined process in a created container"),
    "state": Command(cmd_state, summary="output the state of a container"),
    "kill": Command(cmd_kill, flags={"--all": "all", "-a": "all"}, positionals=(1, 2),
                    usage="<container-id> [signal]",
                    summary="kill sends the specified signal (default: SIGTERM) to the "
                            "container's init process"),
    "delete": Command(cmd_delete, flags={"--force": "force", "-f": "force"},
                      summary="delete any resources held by the container"),
    "list": Command(cmd_list, values={"--format": "format", "-f": "format"},
                    flags={"--quiet": "quiet", "-q": "quiet"}, positionals=(0, 0), usage="",
                    summary="lists containers started by pyoci with the given root"),
    "spec": Command(cmd_spec, values={"--bundle": "bundle", "-b": "bundle"},
                    flags={"--rootless": "rootless"}, positionals=(0, 0), usage="",
                    summary="create a new specification file"),
    "features": Command(cmd_features, positionals=(0, 0), usage="",
                        summary="show the enabled features"),
    "pause": Command(cmd_pause, summary="pause suspends all processes inside the container"),
    "resume": Command(cmd_resume,
                      summary="resumes all processes that have been previously paused"),
    "ps": Command(cmd_ps, values={"--format": "format", "-f": "format"},
                  positionals=(1, 1 << 16), usage="<container-id> [ps options]",
                  summary="ps displays the processes running inside a container",
                  stop_at_positional=True),
    "exec": Command(cmd_exec, _EXEC_VALUES, _EXEC_FLAGS, positionals=(1, 1 << 16),
                    usage="<container-id> <command> [command options]",
                    summary="execute new process inside the container",
                    stop_at_positional=True),
    "update": Command(cmd_update, values=_UPDATE_VALUES,
                      summary="update container resource constraints"),
    "events": Command(cmd_events, values={"--interval": "interval"},
                      flags={"--stats": "stats"},
                      summary="display container events such as OOM notifications, cpu, "
                              "memory, and IO usage statistics"),
}


def usage() -> str:
    lines = ["usage: pyoci [global options] command [command options] [arguments...]", "",
             "An OCI runtime-spec v1.3.0 container runtime, a drop-in for runc.", "",
             "commands:"]
    lines += [f"  {name:<10} {cmd.summary}" for name, cmd in COMMANDS.items()]
    lines += ["", "global options:",
              f"  --root value        root directory for container state (default: {DEFAULT_ROOT})",
              "  --log value         log file for errors (default: stderr only)",
              "  --log-format value  text or json (default: text)",
              "  --debug             show tracebacks and debug context",
              "  --systemd-cgroup    use the systemd cgroup driver",
              "  --rootless value    true, false or auto (default: auto)",
              "  --version, -v       print the version"]
    return "\n".join(lines)


def version_text() -> str:
    from pyoci import SPEC_VERSION

    return f"pyoci version {__version__}\nspec: {SPEC_VERSION}\npython: {sys.version.split()[0]}"


def dispatch(g: Globals, rest: list[str]) -> int:
    if not rest or rest[0] in ("--help", "-h", "help"):
        print(usage())
        return 0 if rest else 1
    if rest[0] in ("--version", "-v"):
        print(version_text())
        return 0
    name, args = rest[0], rest[1:]
    cmd = COMMANDS.get(name)
    if cmd is None:
        raise UsageError(f"No help topic for '{name}'")
    if args[:1] in (["--help"], ["-h"]):
        print(f"usage: pyoci {name} [command options] {cmd.usage}\n\n{cmd.summary}")
        return 0
    opts, pos = parse_options(args, cmd.values, cmd.flags,
                              stop_at_positional=cmd.stop_at_positional)
    low, high = cmd.positionals
    if not low <= len(pos) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        raise UsageError(f"{name}: expected {want} argument(s) ({cmd.usage or 'none'}), "
                         f"got {len(pos)}")
    return cmd.run(g, opts, pos)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    g = Globals()
    logger = None
    try:
        g, rest = parse_globals(argv)
        if g.log:  # without --log a Logger writes nothing: don't import pyoci.log
            from pyoci.log import Logger

            logger = Logger(g.log, g.log_format)
        return dispatch(g, rest)
    except PyociError as e:  # a user-facing failure: no traceback, even with --debug
        return _fail(e.message, logger, g.debug, None)
    except KeyboardInterrupt:
        return _fail("interrupted", logger, g.debug, None)
    except OSError as e:
        text = f"{e.filename}: {e.strerror}" if e.filename else str(e.strerror or e)
        return _fail(text, logger, g.debug, e)
    except Exception as e:  # noqa: BLE001 - no traceback without --debug
        return _fail(f"internal error: {type(e).__name__}: {e}", logger, g.debug, e)


_MAX_MESSAGE = 2048


def _shorten(message: str) -> str:
    """A config value can be megabytes: keep a message one readable line, with
    its start (the field) and its end (the reason, which engines match)."""
    if len(message) > _MAX_MESSAGE:
        cut = len(message) - 2000
        message = f"{message[:1400]}...({cut} characters left out)...{message[-600:]}"
    return message.translate(_LINE_BREAKS)


# Every character str.splitlines() breaks at, and other controls, shown escaped.
_LINE_BREAKS = {c: repr(chr(c))[1:-1] for c in [*range(0x20), 0x7F, 0x85, 0x2028, 0x2029]
                if c != 0x09}


def _fail(message: str, logger: object, debug: bool, exc: BaseException | None) -> int:
    message = _shorten(message)
    if debug and exc is not None:
        import traceback

        traceback.print_exception(exc)
    print(f"pyoci: {message}", file=sys.stderr)
    if logger is not None:
        logger.error(message)  # type: ignore[attr-defined]
    return 1


def exit_now(code: int) -> None:
    """Leave without the interpreter's teardown: the launcher's last call.

    Teardown (module dicts, the garbage collector, ...) costs ~4 ms of every
    command and does nothing pyoci needs: its own files are written with
    os.write or closed where they are used, and its children are separate
    processes. Only stdio may hold buffered text, so it is flushed here; a
    failed flush exits 120, as CPython's own teardown does.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    posix._exit(code)

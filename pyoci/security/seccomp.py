"""``linux.seccomp``: filters through libseccomp (config-linux.md "Seccomp").

The whole section is checked *and the filter built* in the runtime process
(:func:`check`, called by ``create`` right after loading the config): every
mistake a user can make becomes a one-line error before anything exists on the
host, and libseccomp itself (opened with ctypes) is in memory before the
fork, so the container init, which cannot see the host's files after
pivot_root, inherits a ready filter and only has to load it.

runc's timing: without noNewPrivileges loading a filter is privileged, so it
happens before capabilities are dropped (:func:`load_privileged`); with it,
as late as possible, after ``start`` connected and just before execve
(:func:`load_late`). With ``SCMP_ACT_NOTIFY`` the listener fd goes back to a
runtime process over the channel the init has at that moment (the sync
channel to ``create``, or the exec-socket connection to ``start``), which
forwards it to ``listenerPath`` (:func:`send_to_listener`).

Nothing here imports anything or touches libseccomp unless the config has
``linux.seccomp``: this module is on every ``create``'s path.
"""

from __future__ import annotations

import os

from pyoci import SPEC_VERSION
from pyoci.errors import ConfigError, PyociError
from pyoci.process import protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

    from pyoci.security.libseccomp import LibSeccomp

FIELD = "linux.seccomp"

# Spec action -> (libseccomp action, whether it carries an errno).
# SCMP_ACT_KILL is libseccomp's (and runc's) KILL_THREAD.
ACTIONS: dict[str, tuple[int, bool]] = {
    "SCMP_ACT_KILL": (0x00000000, False),
    "SCMP_ACT_KILL_PROCESS": (0x80000000, False),
    "SCMP_ACT_KILL_THREAD": (0x00000000, False),
    "SCMP_ACT_TRAP": (0x00030000, False),
    "SCMP_ACT_ERRNO": (0x00050000, True),
    "SCMP_ACT_TRACE": (0x7FF00000, True),
    "SCMP_ACT_ALLOW": (0x7FFF0000, False),
    "SCMP_ACT_LOG": (0x7FFC0000, False),
    "SCMP_ACT_NOTIFY": (0x7FC00000, False),
}
NOTIFY = "SCMP_ACT_NOTIFY"

# Spec operator -> enum scmp_compare.
OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}  # fmt: skip
MASKED_EQ = "SCMP_CMP_MASKED_EQ"

# Spec flag -> enum scmp_filter_attr (WAITKILL exists from libseccomp 2.6).
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 4,
    "SECCOMP_FILTER_FLAG_LOG": 6,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 7,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 10,
}
_ATTR_CTL_NNP = 3

# The spec's architectures; libseccomp's name is the lower-cased suffix.
ARCHES: tuple[str, ...] = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
)  # fmt: skip

_EPERM = 1
_MAX_ERRNO = 0xFFFF  # SECCOMP_RET_DATA is 16 bits
_MAX_ARGS = 6
_NR_SCMP_ERROR = -1
# The init sends the notify fd with sendmsg right after loading the filter:
# a notification on it could never be answered (runc refuses "write" likewise).
_NOTIFY_FORBIDDEN = ("sendmsg",)
_SUN_PATH_MAX = 107


class Prepared:
    """A filter built in the runtime process, waiting in memory to be loaded."""

    def __init__(self, section: dict, ctx: int, notify: bool) -> None:
        self.section = section
        self.ctx = ctx
        self.notify = notify


_lib: LibSeccomp | None = None
_prepared: Prepared | None = None


def section_of(config: dict) -> dict | None:
    return (config.get("linux") or {}).get("seccomp") or None


def check(config: dict) -> None:
    """Validate ``linux.seccomp`` and build its filter, before anything is created."""
    global _prepared
    section = section_of(config)
    if section is None:
        return
    lib = _binding()
    ctx = lib.seccomp_init(_default_action(section))
    if not ctx:
        raise ConfigError(f"{FIELD}.defaultAction: libseccomp refused the default action")
    try:
        notify = _build(lib, ctx, section)
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    _prepared = Prepared(section, ctx, notify)


def _binding() -> LibSeccomp:
    """Open libseccomp once, in the runtime process (never after pivot_root)."""
    global _lib
    if _lib is None:
        from pyoci.security import libseccomp

        try:
            _lib = libseccomp.load()
        except OSError as e:
            raise ConfigError(f"{FIELD}: libseccomp is not available: {e}") from None
    return _lib


def _action(where: str, name: object, errno_ret: object, errno_field: str) -> int:
    """The libseccomp action for a spec action and its optional errno."""
    if name not in ACTIONS:
        raise ConfigError(f'{where}: unknown action "{name}"')
    value, takes_errno = ACTIONS[name]  # type: ignore[index]
    if errno_ret is None:
        return value | _EPERM if takes_errno else value
    if not takes_errno:
        raise ConfigError(f"{errno_field}: action {name} takes no errno")
    if type(errno_ret) is not int or not 0 <= errno_ret <= _MAX_ERRNO:
        raise ConfigError(f"{errno_field}: {errno_ret!r} is not an errno (0-{_MAX_ERRNO})")
    return value | errno_ret


def _default_action(section: dict) -> int:
    name = section.get("defaultAction")
    if name == NOTIFY:
        raise ConfigError(f"{FIELD}.defaultAction: {NOTIFY} cannot be the default action")
    return _action(f"{FIELD}.defaultAction", name, section.get("defaultErrnoRet"),
                   f"{FIELD}.defaultErrnoRet")


def _build(lib: LibSeccomp, ctx: int, section: dict) -> bool:
    """Fill the filter from the section; True when it has a NOTIFY rule."""
    # libseccomp sets no_new_privs on load unless told not to; that is
    # process.noNewPrivileges' business, not the filter's.
    lib.check(lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0), "seccomp_attr_set")
    for i, arch in enumerate(section.get("architectures") or []):
        _add_arch(lib, ctx, f"{FIELD}.architectures[{i}]", arch)
    for i, flag in enumerate(section.get("flags") or []):
        _set_flag(lib, ctx, f"{FIELD}.flags[{i}]", flag)
    default = _default_action(section)
    rules = section.get("syscalls") or []
    notify = False
    for i, rule in enumerate(rules):
        notify |= _add_syscall_rule(lib, ctx, f"{FIELD}.syscalls[{i}]", rule, default)
    if any(rule.get("action") == NOTIFY for rule in rules):
        _check_listener(section)
    return notify


def arch_token(lib: LibSeccomp, name: object) -> int:
    """libseccomp's token for a spec architecture, 0 when it does not know it."""
    if name not in ARCHES:
        return 0
    return lib.seccomp_arch_resolve_name(name[len("SCMP_ARCH_"):].lower().encode())  # type: ignore[index]


def _add_arch(lib: LibSeccomp, ctx: int, where: str, name: object) -> None:
    if name not in ARCHES:
        raise ConfigError(f'{where}: unknown architecture "{name}"')
    token = arch_token(lib, name)
    if not token:
        raise ConfigError(f"{where}: {name} is not known to libseccomp {lib.version}")
    rc = lib.seccomp_arch_add(ctx, token)
    if rc < 0 and -rc != 17:  # EEXIST: the native arch is always there
        raise ConfigError(f"{where}: {name}: {os.strerror(-rc)}")


def _set_flag(lib: LibSeccomp, ctx: int, where: str, flag: object) -> None:
    if flag not in FLAGS:
        raise ConfigError(f'{where}: unknown flag "{flag}"')
    if lib.seccomp_attr_set(ctx, FLAGS[flag], 1) < 0:  # type: ignore[index]
        raise ConfigError(f"{where}: {flag} is not supported by libseccomp {lib.version} "
                          "on this kernel")


def _conditions(where: str, args: list) -> list[tuple[int, int, int, int]]:
    conds = []
    for j, arg in enumerate(args):
        at = f"{where}.args[{j}]"
        index, op = arg.get("index"), arg.get("op")
        if type(index) is not int or not 0 <= index < _MAX_ARGS:
            raise ConfigError(f"{at}.index: {index!r} is out of range (0-{_MAX_ARGS - 1})")
        if op not in OPERATORS:
            raise ConfigError(f'{at}.op: unknown operator "{op}"')
        value, two = arg.get("value", 0), arg.get("valueTwo", 0)
        for name, v in (("value", value), ("valueTwo", two)):
            if type(v) is not int or not 0 <= v < 1 << 64:
                raise ConfigError(f"{at}.{name}: {v!r} is not a 64-bit unsigned integer")
        conds.append((index, OPERATORS[op], value, two if op == MASKED_EQ else 0))
    return conds


def _rule_sets(conds: list[tuple[int, int, int, int]]) -> list[list[tuple[int, int, int, int]]]:
    """One AND-ed rule, or, as runc does when two conditions test the same
    argument (libseccomp refuses that), one rule per condition."""
    indexes = [c[0] for c in conds]
    if len(set(indexes)) == len(indexes):
        return [conds]
    return [[c] for c in conds]


def _add_syscall_rule(lib: LibSeccomp, ctx: int, where: str, rule: dict, default: int) -> bool:
    """Add one ``syscalls[]`` entry; True when it added a NOTIFY rule (a listener fd)."""
    name = rule.get("action")
    action = _action(f"{where}.action", name, rule.get("errnoRet"), f"{where}.errnoRet")
    conds = _conditions(where, rule.get("args") or [])
    names = rule.get("names") or []
    if name == NOTIFY:
        for syscall in names:
            if syscall in _NOTIFY_FORBIDDEN:
                raise ConfigError(f'{where}.names: {NOTIFY} cannot be used for "{syscall}" '
                                  "(the runtime needs it to hand over the notify fd)")
    if action == default:
        return False  # redundant, and libseccomp rejects it: runc skips it too
    added = False
    for k, syscall in enumerate(names):
        nr = lib.seccomp_syscall_resolve_name(str(syscall).encode())
        if nr == _NR_SCMP_ERROR:
            continue  # unknown on this architecture: skipped, as runc does
        for rule_conds in _rule_sets(conds):
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(rule_conds),
                                            lib.conditions(rule_conds))
            if rc < 0:
                raise ConfigError(f'{where}.names[{k}]: adding the rule for "{syscall}": '
                                  f"{os.strerror(-rc)}")
            added = True
    return added and name == NOTIFY


def _check_listener(section: dict) -> None:
    path = section.get("listenerPath")
    if not path:
        raise ConfigError(f"{FIELD}.listenerPath: required with {NOTIFY}")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ConfigError(f"{FIELD}.listenerPath: {path!r} is not an absolute path")
    if len(path.encode()) > _SUN_PATH_MAX:
        raise ConfigError(f"{FIELD}.listenerPath: longer than a unix socket path may be")


# --- in the container init -------------------------------------------------

def load_privileged(config: dict, chan: socket.socket) -> None:
    """Load before capabilities are dropped (no noNewPrivileges); the notify
    fd goes to ``create`` over the sync channel, which forwards it."""
    fd = _load(config)
    if fd < 0:
        return
    try:
        protocol.send_fds(chan, protocol.Message(protocol.SECCOMP), [fd])
        protocol.expect(chan, protocol.SECCOMP_DONE)
    finally:
        os.close(fd)


def load_late(config: dict, conn: socket.socket | None) -> None:
    """Load right before execve (noNewPrivileges); the notify fd goes to
    ``start`` over its exec-socket connection, which forwards it."""
    fd = _load(config)
    if fd < 0:
        return
    try:
        if conn is None:
            raise PyociError(f"{FIELD}.listenerPath: no runtime process to hand the "
                             "notify fd to")
        protocol.send_bytes_with_fds(conn, HANDOFF, [fd])
        if conn.recv(1) != HANDOFF_OK:
            raise PyociError(f"{FIELD}.listenerPath: the notify fd was not delivered")
    finally:
        os.close(fd)


# What the init and ``start`` say on the exec socket about the notify fd.
HANDOFF = b"\0"
HANDOFF_OK = b"k"
HANDOFF_FAILED = b"!"


def _load(config: dict) -> int:
    """Load the prepared filter; return its notify fd, or -1 when it has none."""
    section = section_of(config)
    if section is None:
        return -1
    prepared, lib = _prepared, _lib
    if prepared is None or lib is None or prepared.section is not section:
        raise PyociError(f"{FIELD}: the filter was not prepared before the fork")
    rc = lib.seccomp_load(prepared.ctx)
    if rc < 0:
        raise PyociError(f"{FIELD}: loading the filter: {os.strerror(-rc)}")
    if not prepared.notify:
        return -1
    fd = lib.seccomp_notify_fd(prepared.ctx)
    if fd < 0:
        raise PyociError(f"{FIELD}: no notify fd: {os.strerror(-fd)}")
    return fd


# --- in the runtime process (create, start) --------------------------------

def send_to_listener(config: dict, state: dict, fd: int) -> None:
    """Send the container process state (runtime.md) and the notify fd to
    ``listenerPath``, in one message, as runc does."""
    import _socket

    from pyoci import jsonio

    section = section_of(config) or {}
    path = section.get("listenerPath", "")
    doc: dict[str, object] = {"ociVersion": SPEC_VERSION, "fds": ["seccompFd"],
                              "pid": state.get("pid", 0), "state": state}
    if section.get("listenerMetadata"):
        doc["metadata"] = section["listenerMetadata"]
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        protocol.send_bytes_with_fds(sock, jsonio.dumps(doc).encode(), [fd])
    except OSError as e:
        raise PyociError(f"{FIELD}.listenerPath: {path}: {e.strerror}") from None
    finally:
        sock.close()


def features() -> dict:
    """features-linux.md ``seccomp``, from the tables above and what the
    running libseccomp and kernel accept."""
    try:
        lib = _binding()
    except ConfigError:
        return {"enabled": False}
    return {
        "enabled": True,
        "actions": [a for a in ACTIONS if _action_supported(lib, ACTIONS[a][0])],
        "operators": list(OPERATORS),
        "archs": [a for a in ARCHES if arch_token(lib, a)],
        "knownFlags": list(FLAGS),
        "supportedFlags": [f for f in FLAGS if _flag_supported(lib, FLAGS[f])],
    }


def _action_supported(lib: LibSeccomp, action: int) -> bool:
    """Whether libseccomp accepts a rule with this action on this kernel."""
    ctx = lib.seccomp_init(ACTIONS["SCMP_ACT_ALLOW"][0])
    if not ctx:
        return False
    try:
        nr = lib.seccomp_syscall_resolve_name(b"getpid")
        allow = ACTIONS["SCMP_ACT_ALLOW"][0]
        return action == allow or lib.seccomp_rule_add_array(ctx, action, nr, 0, None) == 0
    finally:
        lib.seccomp_release(ctx)


def _flag_supported(lib: LibSeccomp, attr: int) -> bool:
    ctx = lib.seccomp_init(ACTIONS["SCMP_ACT_ALLOW"][0])
    if not ctx:
        return False
    try:
        return lib.seccomp_attr_set(ctx, attr, 1) == 0
    finally:
        lib.seccomp_release(ctx)

"""Turn the container init into the container's process, then exec it.

The container init calls :func:`finalize_process` once it has pivoted into
the rootfs, and :func:`exec_process` when ``start`` arrives. The order follows
runc's standard init, because each step needs privileges a later one drops:
rlimits and oom_score_adj while still privileged, stray fds closed, the
bounding set dropped, keep-caps on so the uid switch keeps the permitted set,
the user switched, the cwd entered, keep-caps off, the final capability sets,
and no_new_privs last.

Everything is imported at module top level: after ``pivot_root`` the host's
standard library is gone, so no lazy import may fire, not even on an error path.
"""

from __future__ import annotations

import _signal as signal  # signal.py's enums cost ~3 ms of start-up
import errno
import os

from pyoci import syscalls
from pyoci.errors import ConfigError, PyociError
from pyoci.process.execpath import env_mapping, go_strerror, resolve_executable
from pyoci.security.capabilities import (
    apply_capabilities,
    drop_bounding,
    parse_capabilities,
    set_keepcaps,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~3 ms to import; only the type checker needs it
    from typing import NoReturn

#: getrlimit(2) resource names accepted in ``process.rlimits[].type``, with their
#: numbers (<asm-generic/resource.h>: x86_64 and aarch64; the resource module,
#: a C extension, is not imported for them: tests/unit/test_no_c_extensions.py
#: compares). Python 3.11 lacks RLIMIT_LOCKS; its number is fixed by the ABI too.
RLIMITS: dict[str, int] = {
    "RLIMIT_AS": 9, "RLIMIT_CORE": 4, "RLIMIT_CPU": 0, "RLIMIT_DATA": 2, "RLIMIT_FSIZE": 1,
    "RLIMIT_LOCKS": 10, "RLIMIT_MEMLOCK": 8, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_NOFILE": 7, "RLIMIT_NPROC": 6, "RLIMIT_RSS": 5, "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15, "RLIMIT_SIGPENDING": 11, "RLIMIT_STACK": 3,
}

_RLIM_MAX = 2**64 - 1
_SIGNALS: tuple[int, ...] = tuple(
    int(s) for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)
)
_EMPTY_MASK: frozenset[int] = frozenset()


class ExecPlan:
    """What :func:`exec_process` runs: the resolved path and the final argv/env/cwd.

    A plain class, not a dataclass: importing dataclasses costs ~10 ms here.
    """

    __slots__ = ("path", "argv", "env", "cwd")

    def __init__(self, path: str, argv: list[str], env: list[str], cwd: str) -> None:
        self.path = path
        self.argv = argv
        self.env = env
        self.cwd = cwd

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecPlan):
            return NotImplemented
        return (self.path, self.argv, self.env, self.cwd) == (
            other.path, other.argv, other.env, other.cwd)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ExecPlan(path={self.path!r}, argv={self.argv!r}, env=..., cwd={self.cwd!r})"


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _RLIM_MAX


def _rlim(value: int) -> int:
    """A value from 2**63 up means "unlimited" (RLIM_INFINITY), as it did through
    Python's resource module, which refused the rest of that range."""
    return syscalls.RLIM_INFINITY if value >= 2**63 else value


def _parse_rlimit(index: int, entry: object, seen: set[str]) -> tuple[str, int, int, int]:
    where = f"process.rlimits[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected object")
    kind = entry.get("type")
    if kind not in RLIMITS:
        raise ConfigError(f'{where}.type: unknown rlimit "{kind}"')
    if kind in seen:
        raise ConfigError(f"{where}.type: duplicate rlimit {kind}")
    seen.add(kind)
    for key in ("soft", "hard"):
        if not _is_uint(entry.get(key)):
            raise ConfigError(f"{where}.{key}: expected unsigned integer, got {entry.get(key)!r}")
    return kind, RLIMITS[kind], entry["soft"], entry["hard"]


def apply_rlimits(rlimits: list[dict] | None) -> None:
    """Set every ``process.rlimits`` entry; duplicates are an error per the spec.

    Raising a hard limit needs CAP_SYS_RESOURCE, which the caller may lack:
    that is reported as a clean error naming the entry.
    """
    seen: set[str] = set()
    parsed = [_parse_rlimit(i, entry, seen) for i, entry in enumerate(rlimits or [])]
    for index, (kind, number, soft, hard) in enumerate(parsed):
        try:
            syscalls.prlimit(number, (_rlim(soft), _rlim(hard)))
        except (OSError, ValueError) as e:
            code = e.errno if isinstance(e, OSError) and e.errno else errno.EINVAL
            reason = os.strerror(code)
            raise PyociError(f"process.rlimits[{index}] ({kind}): cannot set soft={soft} "
                             f"hard={hard}: {reason}") from None


def apply_oom_score_adj(value: int | None) -> None:
    """Write ``process.oomScoreAdj``; None leaves the inherited value, as the spec demands."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"process.oomScoreAdj: expected integer, got {value!r}")
    try:
        # Bytes: a text-mode open could need a codec that is not imported yet.
        with open("/proc/self/oom_score_adj", "wb") as f:
            f.write(b"%d" % value)
    except OSError as e:
        raise PyociError(f"process.oomScoreAdj: cannot set {value}: "
                         f"{os.strerror(e.errno or 0)}") from None


def close_stray_fds(keep_upto: int, also_keep: set[int]) -> None:
    """Make sure no fd above ``keep_upto`` survives the exec, except through us.

    Engines leak their own fds into the runtime. Marking them close-on-exec
    with one close_range call is enough and leaves ``also_keep`` (init's
    channels, already close-on-exec) usable until exec. Older kernels get an
    explicit close, from /proc/self/fd when it is mounted, else by range.
    """
    try:
        syscalls.close_range(keep_upto + 1, 0xFFFFFFFF, syscalls.CLOSE_RANGE_CLOEXEC)
        return
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EINVAL):
            raise PyociError(f"cannot close inherited fds: {os.strerror(e.errno or 0)}") from None
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        _close_by_range(keep_upto, also_keep)
        return
    for fd in fds:
        if fd > keep_upto and fd not in also_keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own directory fd, already gone


def _close_by_range(keep_upto: int, also_keep: set[int]) -> None:
    """Close every fd above ``keep_upto`` up to the fd limit, stepping around ``also_keep``."""
    limit = syscalls.prlimit(RLIMITS["RLIMIT_NOFILE"])[0]
    if limit == syscalls.RLIM_INFINITY or limit > 1 << 20:
        limit = 1 << 20
    start = keep_upto + 1
    for fd in sorted(k for k in also_keep if k > keep_upto):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, max(start, limit))


def _setgroups_allowed() -> bool:
    """False only in a user namespace whose /proc/self/setgroups says "deny"."""
    try:
        with open("/proc/self/setgroups", "rb") as f:
            return f.read().strip() != b"deny"
    except OSError:
        return True


def _user_id(user: dict, key: str) -> int:
    value = user.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32 - 1:
        raise ConfigError(f"process.user.{key}: expected integer, got {value!r}")
    return value


def _additional_gids(user: dict) -> list[int]:
    gids = user.get("additionalGids") or []
    if not isinstance(gids, list):
        raise ConfigError(f"process.user.additionalGids: expected array, got {gids!r}")
    for gid in gids:
        if isinstance(gid, bool) or not isinstance(gid, int) or not 0 <= gid < 2**32 - 1:
            raise ConfigError(f"process.user.additionalGids: expected integer, got {gid!r}")
    return gids


def set_user(user: dict) -> None:
    """Switch to ``process.user``: groups, gid, uid, then umask.

    As in runc, the supplementary groups are always replaced (by the list or
    by nothing) so no host group leaks in, except in a user namespace where
    setgroups is denied, where asking for additionalGids is an error.
    """
    uid, gid = _user_id(user, "uid"), _user_id(user, "gid")
    gids = _additional_gids(user)
    umask = user.get("umask")
    if umask is not None and (isinstance(umask, bool) or not isinstance(umask, int)
                              or not 0 <= umask <= 0o7777):
        raise ConfigError(f"process.user.umask: expected integer 0..4095, got {umask!r}")
    _set_ids(uid, gid, gids)
    if umask is not None:
        os.umask(umask)


def _set_ids(uid: int, gid: int, gids: list[int]) -> None:
    if _setgroups_allowed():
        try:
            os.setgroups(gids)
        except OSError as e:
            raise PyociError(f"process.user.additionalGids: setgroups {gids}: "
                             f"{os.strerror(e.errno or 0)}") from None
    elif gids:
        raise PyociError("process.user.additionalGids: cannot set supplementary groups: "
                         "setgroups is denied in this user namespace")
    try:
        os.setresgid(gid, gid, gid)
    except OSError as e:
        raise PyociError(f"process.user.gid: setresgid {gid}: "
                         f"{os.strerror(e.errno or 0)}") from None
    try:
        os.setresuid(uid, uid, uid)
    except OSError as e:
        raise PyociError(f"process.user.uid: setresuid {uid}: "
                         f"{os.strerror(e.errno or 0)}") from None


def set_no_new_privileges() -> None:
    """Set no_new_privs so setuid binaries and file caps grant nothing after exec."""
    try:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
    except OSError as e:
        raise PyociError(f"process.noNewPrivileges: {os.strerror(e.errno or 0)}") from None


def _chdir(cwd: str) -> OSError | None:
    """chdir, then make sure the result is reachable from our root.

    Fds the caller leaked are still open (close-on-exec) here, so a cwd such as
    /proc/self/fd/7 would land in a host directory (CVE-2024-21626); getcwd
    fails for a directory outside the root, and we go back to "/".
    """
    try:
        os.chdir(cwd)
    except OSError as e:
        return e
    try:
        os.getcwd()
    except OSError as e:
        os.chdir("/")
        return e
    return None


def _home_for(uid: int) -> str:
    """HOME from the container's /etc/passwd, or "/" as runc falls back to."""
    try:
        with open("/etc/passwd", "rb") as f:
            for raw in f:
                fields = raw.decode("utf-8", "replace").rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid) and fields[5]:
                    return fields[5]
    except OSError:
        pass
    return "/"


def _final_env(process: dict, uid: int) -> list[str]:
    """``process.env`` plus HOME when it is missing, as runc adds it."""
    env = list(process.get("env") or [])
    if not any(entry.startswith("HOME=") for entry in env):
        env.append(f"HOME={_home_for(uid)}")
    return env


def _args(process: dict) -> list[str]:
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise ConfigError("process.args: expected a non-empty array of strings")
    return args


def _enter_cwd(cwd: str, first_error: OSError | None) -> None:
    """Second chdir attempt, as the target user; runc's wording on failure."""
    if first_error is None:
        return
    err = _chdir(cwd)
    if err is not None:
        raise PyociError(f'chdir to cwd ("{cwd}") set in config.json failed: '
                         f"{go_strerror(err.errno)}")


def finalize_process(process: dict, *, preserve_fds: int, keep_fds: set[int]) -> ExecPlan:
    """Apply everything in ``process`` except the exec itself, in runc's order.

    ``preserve_fds`` fds after stdio stay open for the container; ``keep_fds``
    are init's own close-on-exec channels it still needs before exec.
    """
    args = _args(process)
    cwd = process.get("cwd") or "/"
    user = process.get("user") or {}
    sets = parse_capabilities(process.get("capabilities"))
    apply_rlimits(process.get("rlimits"))
    apply_oom_score_adj(process.get("oomScoreAdj"))
    close_stray_fds(2 + preserve_fds, keep_fds)
    drop_bounding(sets)
    set_keepcaps(True)
    first_error = _chdir(cwd)  # as root: works unless only the target user may enter
    set_user(user)
    _enter_cwd(cwd, first_error)
    set_keepcaps(False)
    apply_capabilities(sets)
    if process.get("noNewPrivileges"):
        set_no_new_privileges()
    env = _final_env(process, _user_id(user, "uid"))
    path = resolve_executable(args[0], env, cwd)
    return ExecPlan(path=path, argv=args, env=env, cwd=cwd)


def reset_signals() -> None:
    """Default every disposition and unblock all signals.

    Python ignores SIGPIPE and SIGXFSZ and handles SIGINT; the container's
    process must start from the defaults, as after a fresh exec by a shell.
    """
    for sig in _SIGNALS:
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # signals glibc reserves for itself
    signal.pthread_sigmask(signal.SIG_SETMASK, _EMPTY_MASK)


def exec_process(plan: ExecPlan) -> NoReturn:
    """Exec the container's process; on failure raise runc's ``exec <path>: <errno>``."""
    reset_signals()
    try:
        os.execve(plan.path, plan.argv, env_mapping(plan.env))
    except OSError as e:
        raise PyociError(f"exec {plan.path}: {go_strerror(e.errno)}") from None

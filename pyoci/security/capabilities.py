"""Linux capabilities: parse ``process.capabilities`` and apply it.

The name table is our own rather than python-prctl's because python-prctl
1.8.1 is built against a libcap that lacks CAP_CHECKPOINT_RESTORE (40) and
rejects numbers beyond its table. So the bounding set, keep-caps, the ambient
set (raw ``prctl``) and the three thread sets (our own ``capset``) all go
through :mod:`pyoci.syscalls`; python-prctl (~1 ms to import) stays off the
start-up path and serves the tests as an independent reader of the result.

Everything is imported at module load: the container init calls this after
``pivot_root``, when the host's standard library is no longer reachable.
"""

from __future__ import annotations

import errno
import os

from pyoci import syscalls
from pyoci.errors import ConfigError, PyociError
from pyoci.log import warn

#: capabilities(7) names in kernel order: the index is the capability number.
CAPABILITY_NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
CAPABILITIES: dict[str, int] = {name: i for i, name in enumerate(CAPABILITY_NAMES)}

#: The sets of ``process.capabilities``, in the order runc reports them.
SET_NAMES = ("bounding", "effective", "inheritable", "permitted", "ambient")

_PR_CAPBSET_READ_MAX = 63  # capability masks are 64 bits wide
_last_cap: int | None = None


class CapabilitySets:
    """Capability numbers per set; an absent set is empty, as in runc.

    A plain class, not a dataclass: importing dataclasses costs ~10 ms on the
    ``create``/``run`` path.
    """

    __slots__ = SET_NAMES

    def __init__(self, bounding: frozenset[int] = frozenset(),
                 effective: frozenset[int] = frozenset(),
                 inheritable: frozenset[int] = frozenset(),
                 permitted: frozenset[int] = frozenset(),
                 ambient: frozenset[int] = frozenset()) -> None:
        self.bounding = frozenset(bounding)
        self.effective = frozenset(effective)
        self.inheritable = frozenset(inheritable)
        self.permitted = frozenset(permitted)
        self.ambient = frozenset(ambient)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CapabilitySets):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in SET_NAMES)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={sorted(getattr(self, n))}" for n in SET_NAMES)
        return f"CapabilitySets({parts})"


def cap_mask(caps: frozenset[int] | set[int]) -> int:
    """The kernel's bit mask for a set of capability numbers."""
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    return mask


def cap_name(cap: int) -> str:
    """The capabilities(7) name of a number, or ``CAP_<n>`` for one newer than our table."""
    return CAPABILITY_NAMES[cap] if 0 <= cap < len(CAPABILITY_NAMES) else f"CAP_{cap}"


def last_cap() -> int:
    """The highest capability the running kernel knows.

    /proc may not be mounted inside the container, so fall back to probing the
    bounding set, which answers EINVAL for numbers beyond the kernel's last.
    """
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
                _last_cap = int(f.read().strip())
        except (OSError, ValueError):
            _last_cap = _probe_last_cap()
    return _last_cap


def _probe_last_cap() -> int:
    for cap in range(_PR_CAPBSET_READ_MAX, -1, -1):
        try:
            syscalls.prctl(syscalls.PR_CAPBSET_READ, cap)
            return cap
        except OSError:
            continue
    return len(CAPABILITY_NAMES) - 1


def _describe(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return type(value).__name__ if value is not None else "null"


def _parse_set(names: object, where: str, kernel_last: int) -> frozenset[int]:
    """Map one list of names to numbers, skipping ones the kernel lacks as runc does."""
    if names is None:
        return frozenset()
    if not isinstance(names, list):
        raise ConfigError(f"{where}: expected array, got {_describe(names)}")
    caps: set[int] = set()
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"{where}: expected capability name, got {_describe(name)}")
        cap = CAPABILITIES.get(name)
        if cap is None:  # config.md: warn, and SHOULD NOT fail
            warn(f'{where}: unknown capability "{name}" ignored')
            continue
        if cap <= kernel_last:
            caps.add(cap)
    return frozenset(caps)


def parse_capabilities(caps: dict | None,
                       where: str = "process.capabilities") -> CapabilitySets:
    """Turn ``process.capabilities`` into numbers; absent means every set empty."""
    if caps is None:
        return CapabilitySets()
    if not isinstance(caps, dict):
        raise ConfigError(f"{where}: expected object, got {_describe(caps)}")
    kernel_last = last_cap()
    parsed = {name: _parse_set(caps.get(name), f"{where}.{name}", kernel_last)
              for name in SET_NAMES}
    return CapabilitySets(**parsed)


def drop_bounding(sets: CapabilitySets) -> None:
    """Drop every capability not in the bounding set (needs CAP_SETPCAP)."""
    for cap in range(last_cap() + 1):
        if cap in sets.bounding:
            continue
        try:
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)
        except OSError as e:
            if e.errno == errno.EINVAL:  # the kernel does not know it: nothing to drop
                continue
            raise PyociError(f"process.capabilities.bounding: cannot drop {cap_name(cap)}: "
                             f"{os.strerror(e.errno or 0)}") from None


_PR_SET_KEEPCAPS = 8


def set_keepcaps(keep: bool) -> None:
    """Keep the permitted set across the setresuid away from root (or stop keeping it)."""
    try:
        syscalls.prctl(_PR_SET_KEEPCAPS, 1 if keep else 0)
    except OSError as e:
        raise PyociError(f"cannot set keep-caps: {os.strerror(e.errno or 0)}") from None


def apply_capabilities(sets: CapabilitySets) -> None:
    """Set effective/permitted/inheritable, then the ambient set.

    Ambient capabilities must already be permitted and inheritable, so they
    come last. A capability the kernel refuses to raise into ambient is
    skipped, as runc does (it only warns).
    """
    masks = cap_mask(sets.effective), cap_mask(sets.permitted), cap_mask(sets.inheritable)
    try:
        syscalls.capset(*masks)
    except OSError as e:
        held = _held() if e.errno == errno.EPERM else None
        if held is None:
            raise PyociError(f"process.capabilities: capset: "
                             f"{os.strerror(e.errno or 0)}") from None
        _capset_granted(masks, *held)
    _apply_ambient(sets.ambient)


def _held() -> tuple[int, int] | None:
    """Our own permitted and inheritable masks (None if /proc cannot tell)."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith("Cap"))
        return int(fields["CapPrm"], 16), int(fields["CapInh"], 16)
    except (OSError, KeyError, ValueError):
        return None


def _capset_granted(masks: tuple[int, int, int], permitted: int, inheritable: int) -> None:
    """config.md: capabilities that cannot be granted MUST be logged as a warning and
    SHOULD NOT fail the container: keep what the runtime holds, warn about the rest."""
    effective, wanted, inh = masks
    allowed_inh = permitted | inheritable
    missing = ((effective | wanted) & ~permitted) | (inh & ~allowed_inh)
    names = ", ".join(cap_name(c) for c in range(64) if missing >> c & 1)
    warn(f"process.capabilities: cannot grant {names} (the runtime does not hold them)")
    try:
        syscalls.capset(effective & permitted, wanted & permitted, inh & allowed_inh)
    except OSError as e:
        raise PyociError(f"process.capabilities: capset: {os.strerror(e.errno or 0)}") from None


def _apply_ambient(ambient: frozenset[int]) -> None:
    try:
        syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as e:
        if e.errno == errno.EINVAL and not ambient:  # kernel without ambient caps
            return
        raise PyociError(f"process.capabilities.ambient: cannot clear: "
                         f"{os.strerror(e.errno or 0)}") from None
    for cap in sorted(ambient):
        try:
            syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, cap)
        except OSError:
            continue

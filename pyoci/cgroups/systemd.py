"""The systemd cgroup driver (``--systemd-cgroup``), as runc's systemd managers do it.

With this driver systemd owns the container's cgroup: ``linux.cgroupsPath`` is
``slice:prefix:name``, and pyoci asks systemd over D-Bus for a transient scope
unit ``<prefix>-<name>.scope`` in that slice holding the container's stage-1
pid (``StartTransientUnit``), with the limits systemd itself understands as
unit properties, so that a later ``systemctl daemon-reload`` does not undo
them. Once the job is done the scope's ``ControlGroup`` is known and the rest
of pyoci's manager works on those directories unchanged: resources.apply (for
everything systemd has no property for, and again for what it has, as runc's
v1 driver does), freeze, kill, stats. ``delete`` stops the unit.

The D-Bus client (jeepney, pure Python) is imported only here, and this module
only with ``--systemd-cgroup`` or for a container created with it: the default
path never pays for it. The property mapping is plain functions
(:func:`v1_properties`, :func:`v2_properties`) so it is unit-tested without a bus.
"""

from __future__ import annotations

import os
import re

from pyoci.cgroups.manager import CgroupManager, hierarchies
from pyoci.errors import ConfigError, PyociError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cgroups.join import CgroupJoin

FIELD = "linux.cgroupsPath"
DEFAULT_SLICE = "system.slice"
DEFAULT_PREFIX = "pyoci"  # runc's default is "runc"; ours names the runtime that made it
SYSTEMD_BUS_NAME = "org.freedesktop.systemd1"
SYSTEMD_PATH = "/org/freedesktop/systemd1"
MANAGER_IFACE = "org.freedesktop.systemd1.Manager"
PRIVATE_SOCKET = "/run/systemd/private"
SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"
JOB_TIMEOUT = 30.0  # seconds; runc waits 30 s for the job too
INFINITY = 2**64 - 1  # systemd's "infinity" for uint64 properties
DEFAULT_CPU_PERIOD = 100000  # µs, the kernel's and runc's default
_UNIT_CHARS = re.compile(r"^[A-Za-z0-9:_.\\-]+$")


class SystemdUnavailable(PyociError):
    """No systemd answers on the bus: --systemd-cgroup cannot work on this host."""


# -- linux.cgroupsPath ------------------------------------------------------
def parse_path(raw: str, container_id: str) -> tuple[str, str]:
    """(slice, unit) from ``slice:prefix:name``; an empty path gives runc's
    defaults (system.slice, the container id as name). Errors name the field,
    because an engine's typo otherwise surfaces as an obscure D-Bus error."""
    if not raw:
        return DEFAULT_SLICE, f"{DEFAULT_PREFIX}-{container_id}.scope"
    parts = raw.split(":")
    if len(parts) != 3:
        raise ConfigError(f"{FIELD}: {raw!r} is not of the form slice:prefix:name, "
                          "which the systemd cgroup driver needs")
    slice_name, prefix, name = parts
    slice_name = slice_name or DEFAULT_SLICE
    if not name:
        raise ConfigError(f"{FIELD}: {raw!r} has an empty name (slice:prefix:name)")
    expand_slice(slice_name, raw)
    if name.endswith(".slice"):
        raise ConfigError(f"{FIELD}: {raw!r} names a slice unit; pyoci creates scopes only")
    unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    if not _UNIT_CHARS.match(unit) or len(unit) > 255:
        raise ConfigError(f"{FIELD}: {raw!r} gives {unit!r}, not a valid systemd unit name")
    return slice_name, unit


def expand_slice(slice_name: str, raw: str = "") -> str:
    """The cgroup path of a slice, as systemd lays it out ("a-b.slice" lives in
    /a.slice/a-b.slice); checks the name the way runc's ExpandSlice does."""
    where = f"{FIELD}: {raw or slice_name!r}"
    if not slice_name.endswith(".slice") or "/" in slice_name:
        raise ConfigError(f"{where}: slice {slice_name!r} is not a valid slice name")
    if slice_name == "-.slice":
        return "/"
    stem = slice_name.removesuffix(".slice")
    if not stem or "--" in stem or stem.startswith("-") or stem.endswith("-"):
        raise ConfigError(f"{where}: slice {slice_name!r} is not a valid slice name")
    path, prefix = "", ""
    for component in stem.split("-"):
        prefix = f"{prefix}-{component}" if prefix else component
        path += f"/{prefix}.slice"
    return path


# -- OCI linux.resources -> unit properties ------------------------------------
Property = tuple[str, tuple[str, object]]


def base_properties(unit: str, slice_name: str, pid: int) -> list[Property]:
    """The properties every scope gets (runc's common set): the slice, the pid,
    delegation (so the container may manage its own sub-cgroups) and accounting,
    and no default dependencies (a container must not be stopped with a target)."""
    return [
        ("Description", ("s", f"pyoci container {unit.removesuffix('.scope')}")),
        ("Slice", ("s", slice_name)),
        ("PIDs", ("au", [pid])),
        ("Delegate", ("b", True)),
        ("DefaultDependencies", ("b", False)),
        ("MemoryAccounting", ("b", True)),
        ("CPUAccounting", ("b", True)),
        ("TasksAccounting", ("b", True)),
    ]


def cpu_quota_properties(quota: int | None, period: int | None) -> list[Property]:
    """runc's addCpuQuota: systemd wants quota per second, rounded up to 10 ms
    (its granularity), else it would silently round down and grant less CPU."""
    props: list[Property] = []
    quota = quota or 0
    period = period or 0
    if period:
        props.append(("CPUQuotaPeriodUSec", ("t", period)))
    if quota or period:
        per_sec = INFINITY
        if quota > 0:
            per_sec = quota * 1_000_000 // (period or DEFAULT_CPU_PERIOD)
            if per_sec % 10000:
                per_sec = (per_sec // 10000 + 1) * 10000
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    return props


def _tasks_max(limit: int | None) -> list[Property]:
    """pids.limit > 0 is a limit, -1 (or any negative: "max") is infinity; 0 is unset."""
    if limit is None or limit == 0:
        return []
    return [("TasksMax", ("t", INFINITY if limit < 0 else limit))]


def _u64(value: int) -> int:
    """-1 means unlimited in OCI; systemd spells that UINT64_MAX."""
    return INFINITY if value < 0 else value


def v1_properties(resources: dict) -> list[Property]:
    """runc's genV1ResourcesProperties: the properties of a cgroup v1 host."""
    memory = resources.get("memory") or {}
    cpu = resources.get("cpu") or {}
    props: list[Property] = []
    if memory.get("limit"):
        props.append(("MemoryLimit", ("t", _u64(memory["limit"]))))
    if cpu.get("shares"):
        props.append(("CPUShares", ("t", cpu["shares"])))
    props += cpu_quota_properties(cpu.get("quota"), cpu.get("period"))
    weight = (resources.get("blockIO") or {}).get("weight")
    if weight:
        props.append(("BlockIOWeight", ("t", weight)))
    props += _tasks_max((resources.get("pids") or {}).get("limit"))
    return props


def v2_properties(resources: dict) -> list[Property]:
    """runc's genV2ResourcesProperties: the properties of a cgroup v2 host, with
    runc's conversions (shares → weight, blkio weight → io weight, swap = the
    OCI memory+swap total minus memory)."""
    memory = resources.get("memory") or {}
    cpu = resources.get("cpu") or {}
    props: list[Property] = []
    limit = memory.get("limit") or 0
    if limit:
        props.append(("MemoryMax", ("t", _u64(limit))))
    if memory.get("reservation"):
        props.append(("MemoryLow", ("t", _u64(memory["reservation"]))))
    swap = memory.get("swap") or 0
    if swap:
        if swap == -1:
            props.append(("MemorySwapMax", ("t", INFINITY)))
        elif limit > 0 and swap >= limit:
            props.append(("MemorySwapMax", ("t", swap - limit)))
    shares = cpu.get("shares") or 0
    if shares:
        props.append(("CPUWeight", ("t", 1 + ((shares - 2) * 9999) // 262142)))
    props += cpu_quota_properties(cpu.get("quota"), cpu.get("period"))
    weight = (resources.get("blockIO") or {}).get("weight") or 0
    if weight:
        props.append(("IOWeight", ("t", 1 + (weight - 10) * 9999 // 990)))
    props += _tasks_max((resources.get("pids") or {}).get("limit"))
    return props


def resource_properties(resources: dict, *, v1: bool) -> list[Property]:
    """The mapping for this host: runc uses its v1 (legacy) manager whenever
    the host is not unified-only, a hybrid host included."""
    return v1_properties(resources) if v1 else v2_properties(resources)


# -- the D-Bus side -------------------------------------------------------------
def bus_address() -> str:
    """DBUS_SYSTEM_BUS_ADDRESS when set (read from os.environ: python -I hides
    only PYTHON* variables), else the system bus socket."""
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or f"unix:path={SYSTEM_BUS_SOCKET}"


def _unavailable(why: str) -> SystemdUnavailable:
    return SystemdUnavailable(f"--systemd-cgroup: the systemd cgroup driver needs a running "
                              f"systemd, and none answers on {bus_address()} ({why})")


class Bus:
    """One blocking connection to the system bus and systemd's Manager on it."""

    def __init__(self) -> None:
        try:
            from jeepney.io.blocking import open_dbus_connection
        except ImportError:
            raise PyociError("--systemd-cgroup: the jeepney package (D-Bus client) is "
                             "not installed") from None
        try:
            self.conn = open_dbus_connection(bus_address(), auth_timeout=2.0)
        except (OSError, ValueError, StopIteration) as e:
            raise _unavailable(getattr(e, "strerror", None) or str(e) or type(e).__name__
                               ) from None
        except Exception as e:  # jeepney's auth/protocol errors
            raise _unavailable(str(e) or type(e).__name__) from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, path: str, interface: str, method: str, signature: str | None = None,
             body: tuple = (), *, destination: str = SYSTEMD_BUS_NAME) -> tuple:
        """A method call's reply body; a D-Bus error becomes a PyociError."""
        from jeepney import DBusAddress, MessageType, new_method_call

        msg = new_method_call(DBusAddress(path, destination, interface), method,
                              signature, body)
        try:
            reply = self.conn.send_and_get_reply(msg, timeout=JOB_TIMEOUT)
        except TimeoutError:
            raise PyociError(f"systemd: {method}: no answer in {JOB_TIMEOUT:.0f}s") from None
        if reply.header.message_type == MessageType.error:
            from jeepney import HeaderFields

            name = reply.header.fields.get(HeaderFields.error_name, "")
            text = reply.body[0] if reply.body else ""
            raise DBusError(name, f"systemd: {method}: {name}: {text}".rstrip(": "))
        return reply.body

    def check_systemd(self) -> None:
        """Fail in one line now, before anything is forked, when no systemd is on the bus."""
        from jeepney.bus_messages import message_bus

        reply = self.conn.send_and_get_reply(message_bus.NameHasOwner(SYSTEMD_BUS_NAME),
                                             timeout=5)
        if not reply.body or not reply.body[0]:
            raise _unavailable(f"no {SYSTEMD_BUS_NAME} on the bus")

    def run_job(self, method: str, signature: str, body: tuple) -> None:
        """Call a Manager method that queues a job and wait for its JobRemoved,
        as runc does; a result other than "done" is the command's error."""
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus

        rule = MatchRule(type="signal", interface=MANAGER_IFACE, member="JobRemoved",
                         path=SYSTEMD_PATH)
        self.conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=5)
        with self.conn.filter(rule, bufsize=64) as queue:
            (job,) = self.call(SYSTEMD_PATH, MANAGER_IFACE, method, signature, body)
            import time

            deadline = time.monotonic() + JOB_TIMEOUT
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PyociError(f"systemd: {method} {body[0]}: job {job} did not finish "
                                     f"in {JOB_TIMEOUT:.0f}s")
                try:
                    signal = self.conn.recv_until_filtered(queue, timeout=remaining)
                except TimeoutError:
                    continue
                _, removed, unit, result = signal.body
                if removed == job:
                    if result != "done":
                        raise PyociError(f"systemd: {method} {unit}: job {result}")
                    return

    def control_group(self, unit: str) -> str:
        """The unit's ControlGroup property: where systemd put the scope."""
        (path,) = self.call(SYSTEMD_PATH, MANAGER_IFACE, "GetUnit", "s", (unit,))
        (value,) = self.call(path, "org.freedesktop.DBus.Properties", "Get", "ss",
                             ("org.freedesktop.systemd1.Scope", "ControlGroup"))
        return value[1]


class DBusError(PyociError):
    """An error reply, with its D-Bus error name kept for the callers that expect some."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


# -- the manager ----------------------------------------------------------------
class SystemdManager(CgroupManager):
    """A container's cgroup owned by a systemd scope unit.

    ``create`` only checks that systemd answers (the scope cannot exist before a
    pid is in it); ``add(init)`` starts the unit with that pid, learns its
    cgroup, joins the v1 hierarchies systemd left out (runc's joinCgroups) and
    then runs ``after_join`` (create's resources.apply), all while the init still
    waits for JOINED, so the container never runs unlimited.
    """

    driver = "systemd"

    def __init__(self, unit: str, slice_name: str, properties: list | None = None,
                 paths: dict[str, str] | None = None, created: list[str] | None = None,
                 started: bool = False) -> None:
        super().__init__(paths or {}, created)
        self.unit = unit
        self.slice = slice_name
        self.properties = properties or []
        self.started = started
        self.after_join: list = []

    def create(self) -> None:
        with Bus() as bus:
            bus.check_systemd()

    def check_empty(self, field_name: str) -> None:
        """The scope is new by construction: systemd refuses an existing unit name."""

    def self_join(self) -> CgroupJoin | None:
        """Before the scope exists, only ``add`` can make it, with the pid in it."""
        return super().self_join() if self.started else None

    def add(self, pid: int) -> None:
        if self.started:  # a second process (none today): plain cgroup.procs writes
            super().add(pid)
            return
        props = base_properties(self.unit, self.slice, pid) + list(self.properties)
        with Bus() as bus:
            bus.check_systemd()
            bus.run_job("StartTransientUnit", "ssa(sv)a(sa(sv))",
                        (self.unit, "replace", props, []))
            self.started = True
            cgroup = bus.control_group(self.unit)
        if not cgroup.startswith("/"):
            raise PyociError(f"systemd: {self.unit} has no cgroup (ControlGroup {cgroup!r})")
        self.paths = {h: mount.rstrip("/") + cgroup for h, mount in hierarchies().items()}
        super().create()  # hierarchies systemd did not populate: made and recorded
        super().add(pid)  # idempotent where systemd already put it
        for step in self.after_join:
            step()

    def destroy(self) -> None:
        """StopUnit (systemd kills what is left and removes its directories),
        then remove the directories pyoci made itself."""
        if self.started:
            try:
                with Bus() as bus:
                    bus.run_job("StopUnit", "ss", (self.unit, "replace"))
            except DBusError as e:
                if not e.name.endswith("NoSuchUnit"):
                    raise
            except SystemdUnavailable:
                # systemd is gone (or the bus is): nobody else will clean the scope's
                # directories, and delete --force must not leave them behind.
                self.created = sorted(set(self.created) | set(self.paths.values()))
            self.started = False
        super().destroy()

    def to_state(self) -> dict:
        doc = super().to_state()
        doc.update(unit=self.unit, slice=self.slice, started=self.started)
        return doc


def manager_for_config(config: dict, container_id: str) -> SystemdManager:
    """The systemd manager for a config: parses cgroupsPath and maps the resources
    for this host's cgroup version; nothing touches the bus yet."""
    raw = (config.get("linux") or {}).get("cgroupsPath") or ""
    slice_name, unit = parse_path(raw, container_id)
    resources = (config.get("linux") or {}).get("resources") or {}
    v1 = any(h for h in hierarchies() if h not in ("", "systemd"))
    return SystemdManager(unit, slice_name, resource_properties(resources, v1=v1))


def manager_from_state(doc: dict) -> SystemdManager:
    return SystemdManager(doc.get("unit", ""), doc.get("slice", ""), None,
                          dict(doc.get("paths", {})), list(doc.get("created", [])),
                          bool(doc.get("started")))

"""Checks on config.json that a JSON Schema cannot express.

These run after schema validation, so every field already has the right type.
Each rule comes from a MUST in config.md / config-linux.md (or from a value
the kernel is certain to reject, where failing early gives a clearer error)
and raises ConfigError with one line naming the field.
"""

from __future__ import annotations

from pyoci.config.validate import format_path
from pyoci.errors import ConfigError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from typing import Any

SOURCE = "config.json"

# getrlimit(2): every resource Linux knows.
LINUX_RLIMITS = frozenset(
    "RLIMIT_" + name
    for name in (
        "AS CORE CPU DATA FSIZE LOCKS MEMLOCK MSGQUEUE NICE NOFILE NPROC RSS RTPRIO "
        "RTTIME SIGPENDING STACK"
    ).split()
)
# time_namespaces(7): the only clocks a time namespace can offset.
TIME_CLOCKS = ("boottime", "monotonic")
# config-linux.md seccomp: "Some actions like SCMP_ACT_ERRNO and SCMP_ACT_TRACE
# allow to specify the errno code to return."
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# set_mempolicy(2): modes that take no nodes / need at least one.
MPOL_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
MPOL_NEED_NODES = (
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED_MANY",
)
IFNAMSIZ = 16  # includes the trailing NUL
CONTAINER_ID_MAX = 1024
# runc's id rule, ^[\w+\-.]+$ in ASCII; a set, not a regex: re costs start-up time.
_CONTAINER_ID_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{SOURCE}: {path}: {message}")


def check_container_id(cid: str) -> None:
    """Apply runc's container-id rule, so ids stay safe as path components."""
    bounds = f"1 to {CONTAINER_ID_MAX} characters"
    if not cid or len(cid) > CONTAINER_ID_MAX:
        raise UsageError(f'invalid container id "{cid[:64]}": must be {bounds} long')
    if cid in (".", "..") or not _CONTAINER_ID_CHARS.issuperset(cid):
        raise UsageError(
            f'invalid container id "{cid}": use only ASCII letters, digits, "_", "+", "-" '
            f'and "." ({bounds}, not "." or "..")'
        )


def check_config(doc: dict[str, Any]) -> None:
    """Raise ConfigError for the first cross-field or value rule ``doc`` breaks."""
    linux = doc.get("linux") or {}
    namespaces = _check_namespaces(linux)
    _check_version(doc)
    _check_root(doc)
    _check_process(doc.get("process"))
    _check_uts(doc, namespaces)
    _check_hooks(doc.get("hooks") or {})
    _check_mounts(doc.get("mounts") or [], namespaces)
    _check_user_mappings(linux, namespaces)
    _check_time_offsets(linux, namespaces)
    _check_linux_paths(linux)
    _check_devices(linux.get("devices") or [])
    _check_net_devices(linux, namespaces)
    _check_resources(linux.get("resources") or {})
    _check_seccomp(linux.get("seccomp"))
    _check_memory_policy(linux.get("memoryPolicy"))
    _check_personality(linux.get("personality"))


def _check_version(doc: dict[str, Any]) -> None:
    """config.md: compatibility holds within a major version; 2.x may mean anything.

    0.x (pre-1.0 drafts, as in the spec's own example) is accepted like runc does.
    """
    version = str(doc.get("ociVersion", "1.0.0"))
    if int(version.split(".", 1)[0]) > 1:
        raise _fail("ociVersion", f'"{version}" is not supported (this runtime implements 1.x)')


def _check_namespaces(linux: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """No duplicate types, absolute paths; returns type -> entry for the others."""
    seen: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(linux.get("namespaces") or []):
        where = f"linux.namespaces[{i}]"
        kind = entry["type"]
        if kind in seen:
            raise _fail(f"{where}.type", f'duplicate namespace type "{kind}"')
        path = entry.get("path")
        if path is not None and not path.startswith("/"):
            raise _fail(f"{where}.path", f'"{path}" must be an absolute path')
        seen[kind] = entry
    return seen


def _check_root(doc: dict[str, Any]) -> None:
    """config.md: root is REQUIRED on Linux and its path must name something."""
    root = doc.get("root")
    if root is None:
        raise ConfigError(f'{SOURCE}: missing required field "root"')
    if not root.get("path"):
        raise _fail("root.path", "must not be empty")


def _check_process(process: dict[str, Any] | None) -> None:
    """cwd absolute, args non-empty, rlimits known and unique, kernel ranges."""
    if process is None:
        return
    if not process["cwd"].startswith("/"):
        raise _fail("process.cwd", f'"{process["cwd"]}" must be an absolute path')
    if not process.get("args"):
        raise _fail("process.args", "must contain at least one entry (the program to run)")
    _check_rlimits(process.get("rlimits") or [])
    adj = process.get("oomScoreAdj")
    if adj is not None and not -1000 <= adj <= 1000:
        raise _fail("process.oomScoreAdj", f"must be between -1000 and 1000, got {adj}")
    prio = process.get("ioPriority")
    if prio is not None and not 0 <= prio["priority"] <= 7:
        got = prio["priority"]
        raise _fail("process.ioPriority.priority", f"must be between 0 and 7, got {got}")


def _check_rlimits(rlimits: list[dict[str, Any]]) -> None:
    """config.md: unknown types and duplicated types MUST be errors."""
    seen: set[str] = set()
    for i, rlimit in enumerate(rlimits):
        where = f"process.rlimits[{i}]"
        kind = rlimit["type"]
        if kind not in LINUX_RLIMITS:
            raise _fail(f"{where}.type", f'"{kind}" is not a Linux resource limit')
        if kind in seen:
            raise _fail(f"{where}.type", f'duplicate rlimit type "{kind}"')
        seen.add(kind)
        if rlimit["soft"] > rlimit["hard"]:
            soft, hard = rlimit["soft"], rlimit["hard"]
            raise _fail(f"{where}.soft", f"{soft} is above the hard limit {hard}")


def _check_uts(doc: dict[str, Any], namespaces: dict[str, dict[str, Any]]) -> None:
    """Setting a name without a UTS namespace would rename the host."""
    for field in ("hostname", "domainname"):
        if doc.get(field) and "uts" not in namespaces:
            raise _fail(field, "cannot be set without a uts namespace in linux.namespaces")


def _check_hooks(hooks: dict[str, Any]) -> None:
    """config.md: hook path MUST be absolute.

    Only a config with hooks gets here: hooks.py (select, time) is imported
    for its list of kinds then, not on every create."""
    if not hooks:
        return
    from pyoci.container.hooks import HOOK_KINDS

    for kind in HOOK_KINDS:
        for i, hook in enumerate(hooks.get(kind) or []):
            if not hook["path"].startswith("/"):
                raise _fail(f"hooks.{kind}[{i}].path", f'"{hook["path"]}" must be an absolute path')


def _check_mounts(mounts: list[dict[str, Any]], namespaces: dict[str, dict[str, Any]]) -> None:
    """config.md: uid/gid mappings go together; idmap needs a mapping or a userns."""
    for i, mount in enumerate(mounts):
        where = f"mounts[{i}]"
        has_uid, has_gid = "uidMappings" in mount, "gidMappings" in mount
        if has_uid != has_gid:
            present, absent = "uidMappings", "gidMappings"
            if has_gid:
                present, absent = absent, present
            raise _fail(f"{where}.{present}", f"must be specified along with {absent}")
        options = mount.get("options") or []
        idmapped = "idmap" in options or "ridmap" in options
        if idmapped and not has_uid and "user" not in namespaces:
            raise _fail(
                f"{where}.options",
                "idmap needs uidMappings/gidMappings or a user namespace",
            )


def _check_user_mappings(linux: dict[str, Any], namespaces: dict[str, dict[str, Any]]) -> None:
    """ID mappings only mean something for a user namespace."""
    for field in ("uidMappings", "gidMappings"):
        if linux.get(field) and "user" not in namespaces:
            raise _fail(f"linux.{field}", "requires a user namespace in linux.namespaces")


def _check_time_offsets(linux: dict[str, Any], namespaces: dict[str, dict[str, Any]]) -> None:
    """Offsets apply to a time namespace, and only to the clocks it virtualises."""
    offsets = linux.get("timeOffsets")
    if offsets is None:
        return
    if "time" not in namespaces:
        raise _fail("linux.timeOffsets", "requires a time namespace in linux.namespaces")
    for clock in offsets:
        if clock not in TIME_CLOCKS:
            where = format_path(["linux", "timeOffsets", clock])
            raise _fail(where, f"unknown clock, use one of {', '.join(TIME_CLOCKS)}")


def _check_linux_paths(linux: dict[str, Any]) -> None:
    """config-linux.md: masked and readonly paths MUST be absolute."""
    for field in ("maskedPaths", "readonlyPaths"):
        for i, path in enumerate(linux.get(field) or []):
            if not path.startswith("/"):
                raise _fail(f"linux.{field}[{i}]", f'"{path}" must be an absolute path')


def _check_devices(devices: list[dict[str, Any]]) -> None:
    """config-linux.md: major/minor REQUIRED unless type is p; path is a full path."""
    for i, device in enumerate(devices):
        where = f"linux.devices[{i}]"
        if not device["path"].startswith("/"):
            raise _fail(f"{where}.path", f'"{device["path"]}" must be an absolute path')
        if device["type"] == "p":
            continue
        for field in ("major", "minor"):
            if field not in device:
                raise _fail(where, f'missing required field "{field}" (type "{device["type"]}")')


def _check_net_devices(linux: dict[str, Any], namespaces: dict[str, dict[str, Any]]) -> None:
    """Moving an interface needs a network namespace and kernel-valid names."""
    devices = linux.get("netDevices")
    if not devices:
        return
    if "network" not in namespaces:
        raise _fail("linux.netDevices", "requires a network namespace in linux.namespaces")
    for host_name, entry in devices.items():
        where = format_path(["linux", "netDevices", host_name])
        _check_ifname(where, host_name)
        if "name" in entry:
            _check_ifname(f"{where}.name", entry["name"].replace("%d", "0"))


def _check_ifname(where: str, name: str) -> None:
    """dev_valid_name() in the kernel: 1..15 bytes, no '/', ':' or blanks."""
    import re  # netDevices only: re costs start-up time

    size = len(name.encode())
    if not 0 < size < IFNAMSIZ or name in (".", "..") or re.search(r"[/:\s]", name):
        raise _fail(where, f'"{name}" is not a valid network interface name')


def _check_resources(resources: dict[str, Any]) -> None:
    """config-linux.md rules between resource fields."""
    cpu = resources.get("cpu") or {}
    quota, burst = cpu.get("quota"), cpu.get("burst")
    if quota is not None and burst is not None and quota > 0 and burst > quota:
        raise _fail("linux.resources.cpu.burst", f"{burst} is larger than quota {quota}")
    block_io = resources.get("blockIO") or {}
    for i, entry in enumerate(block_io.get("weightDevice") or []):
        if "weight" not in entry and "leafWeight" not in entry:
            where = f"linux.resources.blockIO.weightDevice[{i}]"
            raise _fail(where, "must set at least one of weight or leafWeight")
    for name, entry in (resources.get("rdma") or {}).items():
        if "hcaHandles" not in entry and "hcaObjects" not in entry:
            where = format_path(["linux", "resources", "rdma", name])
            raise _fail(where, "must set at least one of hcaHandles or hcaObjects")


def _check_seccomp(seccomp: dict[str, Any] | None) -> None:
    """config-linux.md: errno only with actions that return one; metadata needs a listener."""
    if seccomp is None:
        return
    if "listenerMetadata" in seccomp and "listenerPath" not in seccomp:
        raise _fail("linux.seccomp.listenerMetadata", "must not be set without listenerPath")
    if "defaultErrnoRet" in seccomp and seccomp["defaultAction"] not in ERRNO_ACTIONS:
        raise _fail(
            "linux.seccomp.defaultErrnoRet",
            f'not supported with defaultAction "{seccomp["defaultAction"]}"',
        )
    for i, rule in enumerate(seccomp.get("syscalls") or []):
        if "errnoRet" in rule and rule["action"] not in ERRNO_ACTIONS:
            where = f"linux.seccomp.syscalls[{i}].errnoRet"
            raise _fail(where, f'not supported with action "{rule["action"]}"')


def _check_memory_policy(policy: dict[str, Any] | None) -> None:
    """set_mempolicy(2): some modes forbid nodes, others need at least one."""
    if policy is None:
        return
    mode, nodes = policy["mode"], (policy.get("nodes") or "").strip()
    if mode in MPOL_NO_NODES and nodes:
        raise _fail("linux.memoryPolicy.nodes", f"must be empty with mode {mode}")
    if mode in MPOL_NEED_NODES and not nodes:
        raise _fail("linux.memoryPolicy.nodes", f"must list at least one node with mode {mode}")


def _check_personality(personality: dict[str, Any] | None) -> None:
    """config-linux.md: "Currently no flag values are supported"."""
    if personality and personality.get("flags"):
        raise _fail("linux.personality.flags", f'"{personality["flags"][0]}" is not supported')

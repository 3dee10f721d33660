"""The default config.json that ``pyoci spec`` writes.

It mirrors ``runc spec`` (users and tools expect the same starting point from a
drop-in replacement) with two deliberate differences: ``ociVersion`` is the
spec version pyoci implements, and a cgroup namespace is requested, as newer
runc releases do, so the container cannot see the host's cgroup paths.
"""

from __future__ import annotations

import json
import os

from pyoci import SPEC_VERSION
from pyoci.errors import PyociError

# runc's defaults: the few capabilities a typical unprivileged service needs.
DEFAULT_CAPABILITIES: tuple[str, ...] = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")

# Paths runc hides (bind /dev/null or an empty ro tmpfs) because they leak host
# information or allow attacks on the host.
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
)

# Paths runc leaves visible but read-only: writing them would affect the host.
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


def _process() -> dict:
    """The process section; a fresh dict each call so callers may mutate it."""
    caps = list(DEFAULT_CAPABILITIES)
    return {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ],
        "cwd": "/",
        "capabilities": {
            "bounding": list(caps),
            "effective": list(caps),
            "permitted": list(caps),
            "ambient": list(caps),
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    }


def _mounts() -> list[dict]:
    """The runc default mount list (privileged variant)."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": [*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": list(_NOSUID_NOEXEC_NODEV),
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": [*_NOSUID_NOEXEC_NODEV, "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": [*_NOSUID_NOEXEC_NODEV, "relatime", "ro"],
        },
    ]


def _linux() -> dict:
    """The linux section: deny all devices, the usual namespaces and masks."""
    return {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        "maskedPaths": list(DEFAULT_MASKED_PATHS),
        "readonlyPaths": list(DEFAULT_READONLY_PATHS),
    }


def _make_rootless(spec: dict) -> None:
    """Adapt ``spec`` in place the way ``runc spec --rootless`` does.

    An unprivileged user can only map its own uid/gid, cannot create a network
    namespace with usable devices, cannot mount sysfs outside a netns it owns,
    cannot mount the cgroup hierarchy on v1, and cannot chown devpts to gid 5
    (unmapped), and cgroup resources need delegation it usually lacks. The
    result runs as is: a user granted subordinate ids (/etc/subuid) may add
    ranges to the mappings, written by newuidmap/newgidmap.
    """
    linux = spec["linux"]
    linux.pop("resources", None)
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    linux["namespaces"].append({"type": "user"})
    mounts: list[dict] = []
    for mount in spec["mounts"]:
        if mount["type"] == "cgroup":
            continue
        if mount["type"] == "sysfs":
            mount = {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", *_NOSUID_NOEXEC_NODEV, "ro"],
            }
        elif mount["type"] == "devpts":
            mount["options"] = [o for o in mount["options"]
                                if not o.startswith(("gid=", "uid="))]
        mounts.append(mount)
    spec["mounts"] = mounts


def default_spec(rootless: bool = False) -> dict:
    """Return the config ``pyoci spec [--rootless]`` writes, as a fresh dict."""
    spec = {
        "ociVersion": SPEC_VERSION,
        "process": _process(),
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyoci",
        "mounts": _mounts(),
        "linux": _linux(),
    }
    if rootless:
        _make_rootless(spec)
    return spec


def dumps_spec(spec: dict) -> str:
    """Serialise a config the way runc does (tab indent), for diff-friendliness."""
    return json.dumps(spec, indent="\t") + "\n"


def write_spec(bundle: str, rootless: bool) -> None:
    """Write ``<bundle>/config.json``; never clobber a user's existing config."""
    path = os.path.join(bundle, "config.json")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise PyociError("File config.json exists. Remove it first.") from None
    except OSError as err:
        raise PyociError(f"cannot create {path}: {err.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(dumps_spec(default_spec(rootless)))

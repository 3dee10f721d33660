"""The Features structure printed by ``pyoci features`` (features.md).

The spec says this document describes what the runtime *implements*, fixed at
build time and independent of the host, so it is a plain literal: no probing of
the kernel; the only imports are pyoci's own name tables (no ctypes, no
syscalls). One exception, which features-linux.md asks for: ``linux.seccomp``
lists the archs the running libseccomp knows and, in ``supportedFlags``, the
flags it and the kernel accept (libseccomp is opened for that alone). When a
feature lands, the entry named in the comments below must grow with it, or
engines will refuse configs pyoci could run (or, worse, send configs it
silently ignores).
"""

from __future__ import annotations

import pyoci
from pyoci.container.hooks import HOOK_KINDS
from pyoci.process import intelrdt, mempolicy
from pyoci.rootfs.options import known_options
from pyoci.security import apparmor, selinux

# config.md "Posix-platform Hooks", including the deprecated prestart: the
# kinds pyoci/container/hooks.py runs, so the list cannot claim more.
HOOKS: tuple[str, ...] = HOOK_KINDS

# Every mount option pyoci interprets itself, straight from the parser's tables:
# the Linux mount-option table of config.md plus tmpcopyup. Filesystem-specific
# data options (mode=, size=...) are deliberately absent: features.md says they
# SHOULD NOT be listed.
MOUNT_OPTIONS: tuple[str, ...] = tuple(sorted(known_options()))

# defs-linux.json NamespaceType: all eight, time included.
NAMESPACES: tuple[str, ...] = (
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
)  # fmt: skip

# Every capability the kernel defines, in kernel order (CAP_CHOWN = 0 ...
# CAP_CHECKPOINT_RESTORE = 40). Grow when the kernel adds one.
CAPABILITIES: tuple[str, ...] = (
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
)  # fmt: skip


def _linux_features() -> dict:
    """features-linux.md; each ``False`` below is a feature not yet implemented."""
    return {
        "namespaces": list(NAMESPACES),
        "capabilities": list(CAPABILITIES),
        # Grow systemd/systemdUser with the systemd cgroup driver, rdma with
        # the rdma controller.
        "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
        # From pyoci/security/seccomp.py's tables, filtered by what the running
        # libseccomp and kernel accept (the one probe here; ctypes only now).
        "seccomp": _seccomp_features(),
        # What pyoci implements (features-linux.md), not what this host enables.
        "apparmor": {"enabled": apparmor.IMPLEMENTED},
        "selinux": {"enabled": selinux.IMPLEMENTED},
        # When intelRdt lands: schemata and monitoring too.
        "intelRdt": {"enabled": intelrdt.IMPLEMENTED},
        "mountExtensions": {"idmap": {"enabled": True}},
        # linux.netDevices: pyoci/netdevices.py moves host interfaces in.
        "netDevices": {"enabled": True},
        "memoryPolicy": {"modes": list(mempolicy.MODES), "flags": list(mempolicy.FLAGS)},
    }


def _seccomp_features() -> dict:
    from pyoci.security import seccomp

    return seccomp.features()


def features_document() -> dict:
    """Return the Features structure as a fresh dict (callers may mutate it)."""
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": pyoci.SPEC_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": list(MOUNT_OPTIONS),
        "linux": _linux_features(),
        "annotations": {"io.github.pyoci.version": pyoci.__version__},
    }

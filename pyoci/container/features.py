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
from pyoci.security.capabilities import CAPABILITY_NAMES

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

# Every capability pyoci knows, in kernel order: the table it parses and sets with.
CAPABILITIES: tuple[str, ...] = CAPABILITY_NAMES


def _linux_features() -> dict:
    """features-linux.md; each ``False`` below is a feature not yet implemented."""
    return {
        "namespaces": list(NAMESPACES),
        "capabilities": list(CAPABILITIES),
        # systemd: --systemd-cgroup (pyoci/cgroups/systemd.py, the system instance;
        # no user instance yet). rdma: rdma.max is written by pyoci/cgroups/v1.py
        # and v2.py (linux.resources.rdma).
        "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False, "rdma": True},
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

"""process.apparmorProfile: the profile the kernel switches to at execve.

As libapparmor's aa_change_onexec and runc do, the init writes
``exec <profile>`` to its own ``attr/apparmor/exec`` (or, on kernels without
the per-LSM directory, the shared ``attr/exec``); the kernel applies it at the
next execve, which is the user's program. Only ``os`` is used, so features.py
can read IMPLEMENTED without loading ctypes.
"""

from __future__ import annotations

import os

# features.md "apparmor.enabled": pyoci implements the field (host support aside).
IMPLEMENTED = True
ENABLED_PARAM = "/sys/module/apparmor/parameters/enabled"
SECURITYFS_DIR = "/sys/kernel/security/apparmor"
PROC_ATTR = "/proc/self/attr"


def host_enabled(param: str = ENABLED_PARAM, securityfs: str = SECURITYFS_DIR) -> bool:
    """The module parameter says Y (securityfs may be unmounted), or securityfs shows it."""
    try:
        with open(param, "rb") as f:
            if f.read(1) == b"Y":
                return True
    except OSError:
        pass
    return os.path.isdir(securityfs)


def exec_attr_path(attr_dir: str = PROC_ATTR) -> str:
    """The per-LSM node when the kernel has it, else the legacy shared one."""
    own = os.path.join(attr_dir, "apparmor", "exec")
    return own if os.path.exists(own) else os.path.join(attr_dir, "exec")


def change_onexec(profile: str, attr_dir: str = PROC_ATTR) -> None:
    """Ask for ``profile`` at the next execve; OSError names the node written."""
    write_attr(exec_attr_path(attr_dir), f"exec {profile}")


def write_attr(path: str, value: str) -> None:
    """One write(2) of the whole value: the kernel parses each write on its own."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)

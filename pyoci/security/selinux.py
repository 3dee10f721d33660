"""process.selinuxLabel and linux.mountLabel.

The process label is written to the init's ``attr/exec``, as libselinux's
setexeccon does, and takes effect at the next execve. The mount label becomes a
``context="..."`` option of the mounts that take one, following runc (which
uses go-selinux's FormatMountLabel): not bind mounts, which keep their
source's labels, nor proc, sysfs, mqueue and cgroup, whose labels the kernel's
policy fixes.
"""

from __future__ import annotations

import os

from pyoci.security.apparmor import PROC_ATTR, write_attr

# features.md "selinux.enabled": pyoci implements the fields (host support aside).
IMPLEMENTED = True
SELINUXFS = "/sys/fs/selinux"
FILESYSTEMS = "/proc/filesystems"
_UNLABELLED_TYPES = frozenset({"bind", "proc", "sysfs", "mqueue", "cgroup", "cgroup2"})


def host_enabled(filesystems: str = FILESYSTEMS, selinuxfs: str = SELINUXFS) -> bool:
    """selinuxfs is known to the kernel and mounted (libselinux's is_selinux_enabled)."""
    try:
        with open(filesystems) as f:
            known = any(line.split()[-1:] == ["selinuxfs"] for line in f)
    except OSError:
        return False
    return known and os.path.exists(os.path.join(selinuxfs, "enforce"))


def set_exec_label(label: str, attr_dir: str = PROC_ATTR) -> None:
    """The label the next execve gives this process."""
    write_attr(os.path.join(attr_dir, "exec"), label)


def takes_label(mount: dict) -> bool:
    """runc's rule: filesystems mounted fresh take the context, binds and kernel fs do not."""
    options = mount.get("options") or ()
    if mount.get("type") in _UNLABELLED_TYPES or "bind" in options or "rbind" in options:
        return False
    return not any(o.startswith("context=") for o in options)


def label_mounts(mounts: list[dict], label: str | None) -> list[dict]:
    """``mounts`` with ``context="label"`` added where it applies (copies, not edits)."""
    if not label:
        return mounts
    option = f'context="{label}"'
    return [dict(m, options=[*(m.get("options") or ()), option]) if takes_label(m) else m
            for m in mounts]

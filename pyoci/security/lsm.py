"""AppArmor and SELinux labels for the container process.

``check`` runs in the parent (the host's /sys and /proc) and refuses a label
for an LSM the host has not enabled, as runc does, instead of running the
container unconfined. ``prepare_exec`` runs in the init before capabilities are
dropped; the labels take effect at the execve of the user's program.
linux.mountLabel is applied by the rootfs code through selinux.label_mounts.
"""

from __future__ import annotations

from pyoci.errors import ConfigError, PyociError
from pyoci.security import apparmor, selinux


def check(config: dict) -> None:
    """Refuse a requested label whose LSM is not enabled on this host."""
    process = config.get("process") or {}
    if process.get("apparmorProfile") and not apparmor.host_enabled():
        raise ConfigError("process.apparmorProfile: AppArmor is not enabled on this host "
                          f"({apparmor.ENABLED_PARAM} is not Y)")
    for field, value in (("process.selinuxLabel", process.get("selinuxLabel")),
                         ("linux.mountLabel", (config.get("linux") or {}).get("mountLabel"))):
        if value and not selinux.host_enabled():
            raise ConfigError(f"{field}: SELinux is not enabled on this host "
                              f"(no selinuxfs mounted at {selinux.SELINUXFS})")


def prepare_exec(config: dict, attr_dir: str = apparmor.PROC_ATTR) -> None:
    """Write the exec-time labels; ``attr_dir`` is injectable for tests only."""
    process = config.get("process") or {}
    if process.get("apparmorProfile"):
        _write("process.apparmorProfile", apparmor.change_onexec,
               process["apparmorProfile"], attr_dir)
    if process.get("selinuxLabel"):
        _write("process.selinuxLabel", selinux.set_exec_label, process["selinuxLabel"], attr_dir)


def _write(field: str, fn, value: str, attr_dir: str) -> None:  # noqa: ANN001
    try:
        fn(value, attr_dir)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        raise PyociError(f'{field}: "{value}": {where}{e.strerror}') from None

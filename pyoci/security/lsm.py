"""AppArmor and SELinux labels for the container process (issue 3, work in progress).

Call site: :func:`prepare_exec` in the init before capabilities are dropped;
the label takes effect at execve. Until implemented, a requested label is
refused rather than ignored.
"""

from __future__ import annotations

from pyoci.errors import ConfigError


def prepare_exec(config: dict) -> None:
    process = config.get("process") or {}
    if process.get("apparmorProfile"):
        raise ConfigError("process.apparmorProfile: not supported yet")
    if process.get("selinuxLabel"):
        raise ConfigError("process.selinuxLabel: not supported yet")
    if (config.get("linux") or {}).get("mountLabel"):
        raise ConfigError("linux.mountLabel: not supported yet")

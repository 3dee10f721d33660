"""linux.intelRdt: refused with a clear error (pyoci does not write resctrl yet).

config-linux.md: with ``intelRdt`` set and no resctrl mounted the runtime MUST
fail; without ``intelRdt`` it MUST NOT touch resctrl at all, so nothing here
reads anything unless the field is present.
"""

from __future__ import annotations

from pyoci.errors import ConfigError

RESCTRL_ROOT = "/sys/fs/resctrl"
MOUNTINFO = "/proc/self/mountinfo"
# features.md "intelRdt.enabled": whether pyoci implements the field. It does
# not (no closID directory, schemata or tasks writes), so it is refused below.
IMPLEMENTED = False


def resctrl_mounted(root: str = RESCTRL_ROOT, mountinfo: str = MOUNTINFO) -> bool:
    """True when a resctrl filesystem is mounted exactly at ``root``."""
    try:
        with open(mountinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if len(fields) > 4 and fields[4] == root and right.split()[:1] == ["resctrl"]:
            return True
    return False


def check(config: dict, *, root: str = RESCTRL_ROOT, mountinfo: str = MOUNTINFO) -> None:
    """Refuse ``linux.intelRdt``, saying why; touch nothing when it is absent."""
    linux = config.get("linux") or {}
    if "intelRdt" not in linux or linux["intelRdt"] is None:
        return
    if not resctrl_mounted(root, mountinfo):
        raise ConfigError(f"linux.intelRdt: resctrl is not mounted at {root}")
    if not IMPLEMENTED:
        raise ConfigError("linux.intelRdt: not supported by pyoci (resctrl is mounted, "
                          "but pyoci does not assign containers to it)")

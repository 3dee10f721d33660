"""Read /proc/self/mountinfo: the only reliable view of the mount table.

The rootfs layer needs it to find the mount holding the rootfs (to make it
private before pivot_root), to learn whether the host runs cgroup v2 only or
v1/hybrid, and which v1 hierarchies exist. Parsing is a pure function so it
can be tested on canned text.
"""

from __future__ import annotations

from pyoci.record import Record

MOUNTINFO = "/proc/self/mountinfo"


class MountEntry(Record):
    """One mountinfo line; ``optional`` holds the propagation tags (shared:N...)."""

    __slots__ = ("mount_id", "parent_id", "root", "mount_point", "options", "optional",
                 "fstype", "source", "super_options")

    @property
    def shared(self) -> bool:
        return any(tag.startswith("shared:") for tag in self.optional)


def _unescape(field: str) -> str:
    """mountinfo octal-escapes space, tab, newline and backslash (\\040...)."""
    if "\\" not in field:
        return field
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_line(line: str) -> MountEntry:
    fields = line.split()
    sep = fields.index("-", 6)
    return MountEntry(
        mount_id=int(fields[0]),
        parent_id=int(fields[1]),
        root=_unescape(fields[3]),
        mount_point=_unescape(fields[4]),
        options=tuple(fields[5].split(",")),
        optional=tuple(fields[6:sep]),
        fstype=fields[sep + 1],
        source=_unescape(fields[sep + 2]),
        super_options=tuple(fields[sep + 3].split(",")) if len(fields) > sep + 3 else (),
    )


def parse(text: str) -> list[MountEntry]:
    return [parse_line(line) for line in text.splitlines() if line.strip()]


def read(path: str = MOUNTINFO) -> list[MountEntry]:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return parse(f.read())


def mount_containing(entries: list[MountEntry], path: str) -> MountEntry | None:
    """The last-mounted entry whose mount point is ``path`` or an ancestor of it."""
    best: MountEntry | None = None
    for entry in entries:
        mp = entry.mount_point
        inside = path == mp or mp == "/" or path.startswith(mp.rstrip("/") + "/")
        if inside and (best is None or len(mp) >= len(best.mount_point)):
            best = entry
    return best

"""The device allow/deny list: runc's emulator, so the cgroup ends up as runc's.

runc (libcontainer/cgroups/devices) never hands the config's rules to the
kernel one by one: it replays them, followed by its default allowed devices,
into an emulator of the v1 devices controller, then writes the minimal
transition from the cgroup's current list to the result. Reproducing that
gives the same devices.list, including runc's one deliberate difference from
the kernel: removing part of a wildcard exception is an error, not a silent
no-op (cgroup v1 would ignore it and leave the access granted).
"""

from __future__ import annotations

from pyoci.errors import ConfigError

WILDCARD = -1
Rule = tuple[str, int, int]  # (type "c"|"b", major, minor): the key of an exception

# runc 1.1.5's AllowedDevices (libcontainer/specconv), in its order; a default
# whose path linux.devices also lists is dropped, as runc does.
DEFAULT_RULES: tuple[tuple[str | None, str, int, int, str], ...] = (
    (None, "c", WILDCARD, WILDCARD, "m"),
    (None, "b", WILDCARD, WILDCARD, "m"),
    ("/dev/null", "c", 1, 3, "rwm"),
    ("/dev/random", "c", 1, 8, "rwm"),
    ("/dev/full", "c", 1, 7, "rwm"),
    ("/dev/tty", "c", 5, 0, "rwm"),
    ("/dev/zero", "c", 1, 5, "rwm"),
    ("/dev/urandom", "c", 1, 9, "rwm"),
    (None, "c", 136, WILDCARD, "rwm"),  # /dev/pts/*
    (None, "c", 5, 2, "rwm"),  # /dev/ptmx
    (None, "c", 10, 200, "rwm"),  # /dev/net/tun
)


class Emulator:
    """The state of a v1 devices cgroup: default policy plus exceptions."""

    def __init__(self, default_allow: bool = False) -> None:
        self.default_allow = default_allow
        self.rules: dict[Rule, str] = {}

    def apply(self, allow: bool, kind: str, major: int, minor: int, access: str,
              where: str) -> None:
        if kind == "a":  # any "a" rule resets the policy, whatever its numbers
            self.default_allow, self.rules = allow, {}
        elif allow == self.default_allow:
            self._remove((kind, major, minor), access, where)
        else:
            key = (kind, major, minor)
            self.rules[key] = _perms(self.rules.get(key, "") + access)

    def _remove(self, key: Rule, access: str, where: str) -> None:
        kind, major, minor = key
        for partial in ((kind, WILDCARD, minor), (kind, major, WILDCARD),
                        (kind, WILDCARD, WILDCARD)):
            if partial[1:] == key[1:]:
                continue
            if set(self.rules.get(partial, "")) & set(access):
                raise ConfigError(f"{where}: would leave the partially matching wildcard "
                                  f"rule {_line(partial, self.rules[partial])} in place")
        left = _perms("".join(c for c in self.rules.get(key, "") if c not in access))
        if left:
            self.rules[key] = left
        else:
            self.rules.pop(key, None)

    def lines(self) -> list[str]:
        """devices.list as the kernel prints it."""
        if self.default_allow and not self.rules:
            return ["a *:* rwm"]
        return [_line(k, self.rules[k]) for k in sorted(self.rules)]

    def transition(self, current: Emulator) -> list[tuple[str, str]]:
        """(file, rule) writes that turn ``current`` into self.

        Always the disruptive form (reset, then every exception) when they
        differ: v1 cannot show a blacklist's deny rules, and the kernel merges
        partial permission changes in ways only a reset makes exact.
        """
        if current.lines() == self.lines():
            return []
        reset = "devices.allow" if self.default_allow else "devices.deny"
        other = "devices.deny" if self.default_allow else "devices.allow"
        return [(reset, "a")] + [(other, _line(k, self.rules[k])) for k in sorted(self.rules)]


def parse_list(text: str) -> Emulator:
    """An emulator from devices.list: "a *:* rwm" alone means allow-all."""
    lines = text.split("\n")
    if "a *:* rwm" in lines:
        return Emulator(default_allow=True)
    emu = Emulator()
    for line in filter(None, lines):
        kind, numbers, access = line.split()
        major, minor = (WILDCARD if n == "*" else int(n) for n in numbers.split(":"))
        emu.rules[(kind, major, minor)] = _perms(access)
    return emu


def effective_rules(devices: list, linux_devices: list | None, field: str) -> list[dict]:
    """The config's rules, then runc's defaults (not those linux.devices replaces)."""
    rules = [dict(d) for d in devices]
    if linux_devices is None:
        return rules
    taken = {d.get("path") for d in linux_devices}
    for path, kind, major, minor, access in DEFAULT_RULES:
        if path is None or path not in taken:
            rules.append({"allow": True, "type": kind, "major": major, "minor": minor,
                          "access": access})
    return rules


def build(rules: list[dict], field: str) -> Emulator:
    """Replay the rules into a whitelist, runc's starting point."""
    emu = Emulator()
    for i, rule in enumerate(rules):
        where = f"{field}[{i}]"
        kind = rule.get("type") or "a"
        if kind not in ("a", "b", "c"):
            raise ConfigError(f"{where}.type: {kind!r} is not a, b or c")
        access = rule.get("access") or "rwm"
        if set(access) - set("rwm"):
            raise ConfigError(f"{where}.access: {access!r} is not made of r, w and m")
        major = rule.get("major")
        minor = rule.get("minor")
        emu.apply(bool(rule.get("allow")), kind, WILDCARD if major is None else major,
                  WILDCARD if minor is None else minor, access, where)
    return emu


def _perms(access: str) -> str:
    return "".join(c for c in "rwm" if c in access)


def _line(key: Rule, access: str) -> str:
    kind, major, minor = key
    return (f"{kind} {'*' if major == WILDCARD else major}:"
            f"{'*' if minor == WILDCARD else minor} {access}")

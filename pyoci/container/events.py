"""``pyoci events``: statistics and OOM notices as JSON lines, as ``runc events``.

``--stats`` prints one ``{"type":"stats","id":...,"data":{...}}`` and exits.
Otherwise a stats event follows every ``--interval`` (Go duration, default 5s)
and an ``{"type":"oom","id":...}`` line each time the kernel's OOM killer acts
in the container (v1: an eventfd registered on memory.oom_control through
cgroup.event_control; v2: the ``oom_kill`` count of memory.events), until the
container stops or its cgroup is removed.
"""

from __future__ import annotations

import gc
import os
import select
import sys
import time

from pyoci import jsonio
from pyoci.container.state import STOPPED, ContainerState, StateStore
from pyoci.errors import PyociError, UsageError

_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
             "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration (``1s``, ``500ms``, ``1m30s``, ``1.5h``), in seconds."""
    s, total, sign = text.strip(), 0.0, 1
    if s[:1] in "+-" and s:
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise UsageError(f"--interval: invalid duration {text!r}")
    while s:
        i = 0
        while i < len(s) and (s[i].isdigit() or s[i] == "."):
            i += 1
        j = i
        while j < len(s) and not (s[j].isdigit() or s[j] == "."):
            j += 1
        number, unit = s[:i], s[i:j]
        if not number or number == "." or number.count(".") > 1 or unit not in _UNITS_NS:
            raise UsageError(f"--interval: invalid duration {text!r}")
        total += float(number) * _UNITS_NS[unit]
        s = s[j:]
    return sign * total / 1e9


def stats_event(state: ContainerState) -> dict:
    from pyoci.cgroups.stats import collect

    return {"type": "stats", "id": state.id, "data": collect(state.cgroup.get("paths", {}))}


def _emit(event: dict) -> None:
    sys.stdout.write(jsonio.dumps(event) + "\n")
    sys.stdout.flush()


def events(store: StateStore, container_id: str, *, stats: bool, interval: float) -> None:
    if interval <= 0:
        raise UsageError("duration interval must be greater than 0")
    with store.open(container_id, lock=False) as cdir:
        state = cdir.load()
        if state.current_status(cdir.path) == STOPPED:
            raise PyociError(f"container with id {container_id} is not running")
    if stats:
        _emit(stats_event(state))
        return
    watcher = OomWatcher(state.cgroup.get("paths", {}))
    gc.enable()  # the launcher turns it off for short commands; this one runs for long
    try:
        _loop(state, watcher, interval)
    finally:
        watcher.close()


def _loop(state: ContainerState, watcher: OomWatcher, interval: float) -> None:
    """Wake at least every 0.2 s to notice the container's end; stats on the interval."""
    due = time.monotonic() + interval
    while state.init.alive() and watcher.cgroup_exists():
        timeout = max(0.0, min(due - time.monotonic(), 0.2))
        if watcher.wait(timeout):
            _emit({"type": "oom", "id": state.id})
        if time.monotonic() >= due and state.init.alive():
            _emit(stats_event(state))
            due += interval


class OomWatcher:
    """OOM notifications for one container's memory cgroup (v1 eventfd or v2 counter)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self.efd = -1
        self.events_file = ""
        self.last_kills = 0
        self.memory = paths.get("memory") or ""
        unified = paths.get("") or ""
        if self.memory:
            self._register_v1()
        elif unified and os.path.exists(os.path.join(unified, "memory.events")):
            self.memory = unified
            self.events_file = os.path.join(unified, "memory.events")
            self.last_kills = self._kills()

    def _register_v1(self) -> None:
        control = os.path.join(self.memory, "memory.oom_control")
        try:
            ofd = os.open(control, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            self.efd = os.eventfd(0, os.EFD_CLOEXEC)
            with open(os.path.join(self.memory, "cgroup.event_control"), "w") as f:
                f.write(f"{self.efd} {ofd}")
        except OSError as e:
            self.close()
            raise PyociError(f"events: register OOM notification: {e.strerror}") from None
        finally:
            os.close(ofd)

    def _kills(self) -> int:
        try:
            with open(self.events_file) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            pass
        return 0

    def wait(self, timeout: float) -> bool:
        """True once an OOM happened; waits up to ``timeout`` seconds."""
        if self.efd >= 0:
            ready, _, _ = select.select([self.efd], [], [], timeout)
            if not ready:
                return False
            os.eventfd_read(self.efd)
            # The eventfd also fires when the cgroup is removed: that is no OOM.
            return self.cgroup_exists()
        time.sleep(timeout)
        if self.events_file:
            kills = self._kills()
            if kills > self.last_kills:
                self.last_kills = kills
                return True
        return False

    def cgroup_exists(self) -> bool:
        return not self.memory or os.path.isdir(self.memory)

    def close(self) -> None:
        if self.efd >= 0:
            os.close(self.efd)
            self.efd = -1

"""The init pre-faults its memory before joining the cgroup only under a small limit."""

from __future__ import annotations

import os

import pytest

from pyoci.namespaces import NamespacePlan
from pyoci.process import init
from pyoci.process.context import PREFAULT_BELOW, InitContext


@pytest.mark.parametrize(("memory", "expected"), [
    (None, False),
    ({}, False),
    ({"limit": -1}, False),
    ({"limit": 1 << 20}, True),
    ({"limit": PREFAULT_BELOW}, False),
    ({"limit": 1 << 30}, False),
])
def test_small_memory_limit(memory: dict | None, expected: bool) -> None:
    resources = {} if memory is None else {"memory": memory}
    config = {"linux": {"resources": resources}}
    assert InitContext("c", "/b", config, NamespacePlan.from_config(config)).prefaults is expected


def _shared_dirty_kib_in_child(prefault: bool) -> int:
    """Shared_Dirty of a forked child (pages it still shares copy-on-write with us)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            if prefault:
                init._prefault_writable()
            with open("/proc/self/smaps_rollup", encoding="ascii") as f:
                shared = next(line.split()[1] for line in f if line.startswith("Shared_Dirty:"))
            os.write(write_end, shared.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as f:
        return int(f.read())


def test_prefault_copies_what_the_fork_shares() -> None:
    """What stays shared is read-only now (relocations of the loaded libraries)."""
    before = _shared_dirty_kib_in_child(prefault=False)
    after = _shared_dirty_kib_in_child(prefault=True)
    assert after * 10 < before, (before, after)

"""pyoci.cgroups.warmup: the thread that keeps the cgroup migration fast path
open while create, run and exec import and fork (issue 7).

What it must never do is change anything: this process stays in its cgroups,
the thread is gone after ``end``, and a forked child (the container's stage 1
and init) does not inherit its fd on a host cgroup.procs file. Its speed-up is
measured by conformance/bench.py, not here.
"""

from __future__ import annotations

import os
import time

from conftest import needs_root

from pyoci.cgroups import warmup

pytestmark = needs_root


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _wait_threads(n: int) -> int:
    deadline = time.monotonic() + 5
    while _threads() != n and time.monotonic() < deadline:
        time.sleep(0.005)
    return _threads()


def _procs_fds() -> list[int]:
    """Our fds open on a cgroup.procs file."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("/sys/fs/cgroup/") and target.endswith("/cgroup.procs"):
            found.append(int(name))
    return found


def test_warmup_runs_a_thread_and_changes_no_membership() -> None:
    with open("/proc/self/cgroup") as f:
        before = f.read()
    threads = _wait_threads(1)  # a thread of an earlier test may still be ending
    warmup.begin()
    try:
        fds = _procs_fds()
        assert len(fds) == 1, f"expected one fd on our own cgroup.procs, found {fds}"
        assert _threads() == threads + 1
        time.sleep(0.02)  # a few rounds of self-migration
    finally:
        warmup.end()
    assert _procs_fds() == []
    assert _wait_threads(threads) == threads, "the warm-up thread outlived end()"
    with open("/proc/self/cgroup") as f:
        assert f.read() == before


def test_a_forked_child_does_not_keep_the_fd() -> None:
    warmup.begin()
    try:
        (fd,) = _procs_fds()
        pid = os.fork()
        if pid == 0:
            try:
                os.fstat(fd)
                os._exit(1)  # still open in the child: it would reach the container
            except OSError:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
    finally:
        warmup.end()
    assert os.waitstatus_to_exitcode(status) == 0, "the child inherited the cgroup.procs fd"


def test_end_without_begin_and_begin_twice_are_harmless() -> None:
    warmup.end()
    threads = _wait_threads(1)  # a thread of an earlier test may still be ending
    warmup.begin()
    warmup.begin()
    try:
        assert len(_procs_fds()) == 1
        assert _threads() == threads + 1
    finally:
        warmup.end()
    assert _wait_threads(threads) == threads

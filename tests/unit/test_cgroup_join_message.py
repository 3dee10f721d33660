"""pyoci.cgroups.join without root: the message that carries the files, and
which side joins the v2 cgroup (tests/integration/test_cgroup_join.py joins
real cgroups)."""

from __future__ import annotations

import os

import pytest

from pyoci.cgroups.join import CgroupJoin, parent_joins
from pyoci.errors import PyociError


def _pipes(n: int) -> list[int]:
    fds = []
    for _ in range(n):
        r, w = os.pipe()
        os.close(r)
        fds.append(w)
    return fds


def test_describe_and_from_message_keep_the_order() -> None:
    fds = _pipes(3)
    join = CgroupJoin(["/a/tasks", "/b/tasks"], fds[:2], "/u/c", fds[2])
    assert join.fds() == fds
    copy = CgroupJoin.from_message(join.describe(), join.fds())
    assert (copy.tasks, copy.tasks_fds, copy.directory, copy.directory_fd) == \
        (["/a/tasks", "/b/tasks"], fds[:2], "/u/c", fds[2])
    copy.close()
    assert copy.fds() == []
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)  # closed


def test_from_message_refuses_a_count_mismatch_and_closes_what_came() -> None:
    fds = _pipes(1)
    with pytest.raises(PyociError, match="1 cgroup fds for 2 cgroups"):
        CgroupJoin.from_message({"tasks": ["/a/tasks"], "directory": "/u/c"}, fds)
    with pytest.raises(OSError):
        os.fstat(fds[0])


def test_parent_joins_only_a_v2_cgroup_the_child_was_not_born_in() -> None:
    assert not parent_joins(CgroupJoin(["/a/tasks"], []))  # v1 only: the child's part
    v2 = CgroupJoin([], [], "/u/c")
    assert parent_joins(v2)
    v2.born_inside = True
    assert not parent_joins(v2)
    assert parent_joins(None)  # no join at all: a new systemd scope, all the parent's


def test_open_names_the_cgroup_it_cannot_open(tmp_path: object) -> None:
    missing = os.path.join(str(tmp_path), "nope")
    with pytest.raises(PyociError, match=f"join cgroup {missing}: No such file"):
        CgroupJoin.open({"cpu": missing})


def test_plain_fork_without_a_v2_directory() -> None:
    join = CgroupJoin([], [])
    pid = join.fork()
    if pid == 0:
        os._exit(7)
    assert os.waitpid(pid, 0)[1] >> 8 == 7
    assert not join.born_inside

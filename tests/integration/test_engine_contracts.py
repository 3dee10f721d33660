"""Contracts engines rely on that pyoci once broke (see /work/shared/docs/engines.md),
each checked on the real binary.

- podman writes runc's recursive propagation names into
  ``linux.rootfsPropagation`` (``-v SRC:DST:slave`` gives ``rslave``), which
  the spec's schema does not list but runc accepts; the recursive shared and
  unbindable forms must not break the self-binds of readonlyPaths.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from pyoci import syscalls
from tests.conftest import Bundle, Pyoci, assert_nothing_left, needs_root

pytestmark = [pytest.mark.root, needs_root]


@pytest.fixture
def shared_rootfs(bundle: Bundle) -> Iterator[Bundle]:
    """The bundle's rootfs on a shared mount (this host's / is private), so that
    the container's propagation is observable."""
    top = str(bundle.rootfs.parent)
    syscalls.mount(top, top, None, syscalls.MS_BIND)
    try:
        syscalls.mount(None, top, None, syscalls.MS_SHARED)
        yield bundle
    finally:
        syscalls.umount2(top, syscalls.MNT_DETACH)


def _root_tags(mountinfo: str) -> list[str]:
    """The optional (propagation) fields of the / mount."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if fields[4] == "/":
            return fields[6:fields.index("-")]
    raise AssertionError(f"no / in:\n{mountinfo}")


@pytest.mark.parametrize(("propagation", "want", "refused"), [
    ("rslave", {"master"}, {"shared"}),
    ("rshared", {"shared"}, set()),  # a peer group of its own (still the host's slave)
    ("rprivate", set(), {"master", "shared", "unbindable"}),
    ("runbindable", {"unbindable"}, {"master", "shared"}),
])
def test_runc_recursive_rootfs_propagation(pyoci: Pyoci, shared_rootfs: Bundle, propagation: str,
                                           want: set[str], refused: set[str]) -> None:
    def edit(cfg: dict) -> None:
        cfg["linux"]["rootfsPropagation"] = propagation
        cfg["process"]["args"] = ["cat", "/proc/self/mountinfo"]
    shared_rootfs.edit(edit)
    cid = f"pyoci-rprop-{uuid.uuid4().hex[:6]}"
    out = pyoci("run", "--bundle", str(shared_rootfs.path), cid,
                stdin=subprocess.DEVNULL).stdout.decode()
    kinds = {tag.split(":")[0] for tag in _root_tags(out)}
    assert want <= kinds and not kinds & refused, (propagation, kinds)
    assert_nothing_left(pyoci, cid)

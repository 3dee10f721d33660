"""Contracts engines rely on that pyoci once broke (see /work/shared/docs/engines.md),
each checked on the real binary.

- podman reads the whole ``--log`` file as one JSON object, and reuses the file
  when a container that failed to start is started again.
- podman writes runc's recursive propagation names into
  ``linux.rootfsPropagation`` (``-v SRC:DST:slave`` gives ``rslave``), which
  the spec's schema does not list but runc accepts.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root

from pyoci import syscalls

pytestmark = [pytest.mark.root, needs_root]


def _fail_with_log(pyoci: Pyoci, log: Path, fmt: str) -> None:
    proc = pyoci("--log", str(log), "--log-format", fmt, "state", "no-such-container",
                 check=False)
    assert proc.returncode == 1
    assert b"does not exist" in proc.stderr


def test_json_log_is_one_object_after_repeated_failures(pyoci: Pyoci, tmp_path: Path) -> None:
    log = tmp_path / "oci-log"
    log.write_text('{"level":"error","msg":"an earlier failure"}\nnot json at all\n')
    for _ in range(2):
        _fail_with_log(pyoci, log, "json")
        entry = json.loads(log.read_text())  # the whole file: what podman parses
        assert entry["level"] == "error"
        assert entry["msg"] == 'container "no-such-container" does not exist'


def test_text_log_keeps_appending(pyoci: Pyoci, tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    for _ in range(2):
        _fail_with_log(pyoci, log, "text")
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and all("level=error" in line for line in lines)


def test_json_log_on_own_stderr_keeps_what_stderr_held(pyoci: Pyoci, tmp_path: Path) -> None:
    """--log /dev/stderr with stderr in a file: that file is not the engine's to replace."""
    err = tmp_path / "stderr"
    err.write_text("written before\n")
    with open(err, "a") as f:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), "--log", "/dev/stderr",
                               "--log-format", "json", "state", "nope"], stderr=f,
                              stdout=subprocess.DEVNULL, timeout=60, check=False)
    assert proc.returncode == 1
    text = err.read_text()
    assert text.startswith("written before\n") and "does not exist" in text


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

"""Rootless: an unprivileged user runs a container in its own user namespace.

The test drops to uid/gid 65534 (nobody) with setpriv, as a user without
root would run pyoci: the parent can then write the id maps of its child only
while the child is still dumpable, and it may not create cgroups (skipped, as
runc does when rootless).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import PYOCI, ROOTFS, cgroup_dirs, needs_root, reap_children

NOBODY = 65534


def _as_nobody(*args: str, env: dict | None = None,
               capture: bool = True) -> subprocess.CompletedProcess:
    """Run pyoci as nobody; without ``capture`` the container's stdio is /dev/null
    (a created container's init keeps its stdio open, so pipes would never close)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    cmd = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *PYOCI, *args]
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.run(cmd, stdout=out, stderr=out, text=True, timeout=60,
                          env=env or {"PATH": "/usr/bin:/bin"})


@pytest.fixture
def rootless_dirs(tmp_path: Path):  # noqa: ANN201
    if not ROOTFS.exists():
        pytest.skip(f"{ROOTFS} is not built")
    base = Path("/tmp") / f"pyoci-rootless-{uuid.uuid4().hex[:8]}"
    base.mkdir(mode=0o755)
    state = base / "state"
    bundle = base / "bundle"
    for d in (state, bundle):
        d.mkdir()
        os.chown(d, NOBODY, NOBODY)
    yield state, bundle
    shutil.rmtree(base, ignore_errors=True)
    reap_children()


def _rootless_config(bundle: Path, args: list[str]) -> None:
    out = _as_nobody("spec", "--rootless", "--bundle", str(bundle))
    assert out.returncode == 0, out.stderr
    config = json.loads((bundle / "config.json").read_text())
    config["root"]["path"] = str(ROOTFS)
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    for key in ("uidMappings", "gidMappings"):
        config["linux"][key] = [{"containerID": 0, "hostID": NOBODY, "size": 1}]
    (bundle / "config.json").write_text(json.dumps(config))


@needs_root
def test_rootless_run_maps_the_user_to_root_in_the_container(rootless_dirs) -> None:  # noqa: ANN001
    state, bundle = rootless_dirs
    _rootless_config(bundle, ["sh", "-c", "id -u; cat /proc/self/uid_map; echo pid=$$"])
    cid = f"pyoci-rl-{uuid.uuid4().hex[:6]}"
    out = _as_nobody("--root", str(state), "run", "--bundle", str(bundle), cid)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    # No delegated cgroup is writable for nobody here: runc's rule, run without, warn.
    assert "warning: running without cgroups" in out.stderr, out.stderr
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(NOBODY), "1"]
    assert lines[2] == "pid=1"
    assert not (state / cid).exists()
    assert cgroup_dirs(cid) == []


@needs_root
def test_rootless_state_defaults_to_xdg_runtime_dir(rootless_dirs) -> None:  # noqa: ANN001
    state, bundle = rootless_dirs
    _rootless_config(bundle, ["true"])
    cid = f"pyoci-rl-{uuid.uuid4().hex[:6]}"
    env = {"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(state)}
    out = _as_nobody("create", "--bundle", str(bundle), cid, env=env, capture=False)
    assert out.returncode == 0
    try:
        assert (state / "pyoci" / cid / "state.json").exists()
        listed = _as_nobody("list", "-q", env=env)
        assert listed.stdout.split() == [cid]
    finally:
        assert _as_nobody("delete", "--force", cid, env=env).returncode == 0
    assert not (state / "pyoci" / cid).exists()

"""Linux fields observed from inside (or around) a real container that the other
files do not cover: rootfsPropagation and an explicit cgroupsPath."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import Bundle, Pyoci, assert_nothing_left, cgroup_dirs, needs_root


def _root_tags(mountinfo: str) -> list[str]:
    """The optional (propagation) fields of the container's / mount."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if fields[4] == "/":
            return [f for f in fields[6:fields.index("-")]]
    raise AssertionError(f"no / in:\n{mountinfo}")


@pytest.fixture
def rootfs_on_shared_mount(tmp_path: Path, bundle: Bundle):  # noqa: ANN201
    """A rootfs on a shared host mount (this host's / is private: no systemd),
    so that propagation to and from the host is observable."""
    import shutil

    from pyoci import syscalls
    from tests.conftest import ROOTFS

    top = tmp_path / "shared"
    top.mkdir()
    syscalls.mount(str(top), str(top), None, syscalls.MS_BIND)
    try:
        syscalls.mount(None, str(top), None, syscalls.MS_SHARED)
        shutil.copytree(ROOTFS, top / "rootfs", symlinks=True)
        bundle.config["root"]["path"] = str(top / "rootfs")
        bundle.write()
        yield top
    finally:
        syscalls.umount2(str(top), syscalls.MNT_DETACH)


@needs_root
@pytest.mark.parametrize("propagation,expect", [
    ("private", lambda tags: tags == []),
    ("shared", lambda tags: any(t.startswith("shared:") for t in tags)),
    ("slave", lambda tags: any(t.startswith("master:") for t in tags)
     and not any(t.startswith("shared:") for t in tags)),
    ("unbindable", lambda tags: "unbindable" in tags),
])
def test_rootfs_propagation(pyoci: Pyoci, bundle: Bundle, rootfs_on_shared_mount: Path,
                            propagation: str, expect) -> None:  # noqa: ANN001
    def edit(cfg: dict) -> None:
        cfg["linux"]["rootfsPropagation"] = propagation
        cfg["process"]["args"] = ["cat", "/proc/self/mountinfo"]
    bundle.edit(edit)
    cid = f"pyoci-prop-{uuid.uuid4().hex[:6]}"
    out = pyoci("run", "--bundle", str(bundle.path), cid).stdout.decode()
    tags = _root_tags(out)
    assert expect(tags), (propagation, tags)
    assert_nothing_left(pyoci, cid)


@needs_root
def test_slave_rootfs_receives_host_mounts(pyoci: Pyoci, bundle: Bundle,
                                           rootfs_on_shared_mount: Path, tmp_path: Path) -> None:
    """config-linux.md: with "slave" the rootfs receives propagation events from the host."""
    import subprocess

    from pyoci import syscalls
    from tests.conftest import PYOCI

    target = rootfs_on_shared_mount / "rootfs" / "mnt"
    target.mkdir(exist_ok=True)
    bundle.edit(lambda cfg: (cfg["linux"].__setitem__("rootfsPropagation", "slave"),
                             cfg["process"].__setitem__("args", ["sleep", "100"])))
    cid = f"pyoci-prop-{uuid.uuid4().hex[:6]}"
    subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle", str(bundle.path),
                    cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    pid = pyoci.state(cid)["pid"]
    syscalls.mount("tmpfs", str(target), "tmpfs", 0, "size=64k")
    try:
        seen = Path(f"/proc/{pid}/mountinfo").read_text()
    finally:
        syscalls.umount2(str(target), syscalls.MNT_DETACH)
        pyoci("delete", "--force", cid)
    assert any(line.split()[4] == "/mnt" for line in seen.splitlines()), seen
    assert_nothing_left(pyoci, cid)


@needs_root
def test_explicit_cgroups_path_is_used_and_removed(pyoci: Pyoci, bundle: Bundle) -> None:
    parent = f"pyoci-cgp-{uuid.uuid4().hex[:6]}"
    bundle.edit(lambda cfg: cfg["linux"].__setitem__("cgroupsPath", f"/{parent}/inner"))
    bundle.with_args("sh", "-c", "cat /proc/self/cgroup")
    cid = f"pyoci-{uuid.uuid4().hex[:6]}"
    out = pyoci("run", "--bundle", str(bundle.path), cid).stdout.decode()
    # Inside a cgroup namespace the container's own cgroup reads as "/".
    assert all(line.endswith(":/") for line in out.splitlines() if line), out
    assert cgroup_dirs(parent) == [], "create's parent directories are removed on delete"
    assert_nothing_left(pyoci, cid)


@needs_root
def test_explicit_cgroups_path_while_running(pyoci: Pyoci, bundle: Bundle,
                                            tmp_path: Path) -> None:
    parent = f"pyoci-cgp-{uuid.uuid4().hex[:6]}"
    bundle.edit(lambda cfg: cfg["linux"].__setitem__("cgroupsPath", f"/{parent}/inner"))
    bundle.with_args("sleep", "100")
    cid = f"pyoci-{uuid.uuid4().hex[:6]}"
    import subprocess

    from tests.conftest import PYOCI

    subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle", str(bundle.path),
                    cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    pid = pyoci.state(cid)["pid"]
    inner = [d / "inner" for d in cgroup_dirs(parent)]
    assert len(inner) >= 2
    for d in inner:
        assert str(pid) in (d / "cgroup.procs").read_text().split(), d
    pyoci("delete", "--force", cid)
    assert cgroup_dirs(parent) == []
    assert_nothing_left(pyoci, cid)


@needs_root
def test_default_device_policy_without_linux_resources(pyoci: Pyoci, bundle: Bundle) -> None:
    """No linux.resources at all: runc's default device list still applies, so even a
    process with CAP_MKNOD cannot open a host device outside that list through a node
    it makes. /dev/loop-control (c 10:237) opens fine for root and refuses reads with
    EINVAL: "Operation not permitted" can only come from the devices cgroup."""
    def edit(cfg: dict) -> None:
        cfg["linux"].pop("resources", None)
        caps = ["CAP_MKNOD"]
        cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective",
                                                            "permitted")}
        cfg["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                              "options": ["size=64k"]})
        cfg["process"]["args"] = ["sh", "-c", "mknod /scratch/lc c 10 237 && echo made; "
                                  "head -c1 /scratch/lc 2>&1; head -c1 /dev/zero | wc -c"]
    bundle.edit(edit)
    cid = f"pyoci-dev-{uuid.uuid4().hex[:6]}"
    out = pyoci("run", "--bundle", str(bundle.path), cid).stdout.decode().splitlines()
    assert out[0] == "made"
    assert "Operation not permitted" in out[1], out
    assert out[2].strip() == "1"
    assert_nothing_left(pyoci, cid)


@needs_root
def test_parent_cgroup_shared_with_another_container_stays(pyoci: Pyoci, tmp_path: Path) -> None:
    """Container A's create made /P; B lives in /P too. Deleting A must succeed and
    leave /P (and B) alone; B's delete then succeeds as well."""
    import subprocess

    from tests.conftest import PYOCI

    parent = f"pyoci-cgp-{uuid.uuid4().hex[:6]}"
    ids = []
    for name in ("a", "b"):
        b = Bundle(tmp_path / name)
        b.config["linux"]["cgroupsPath"] = f"/{parent}/{name}"
        b.with_args("sleep", "100")
        cid = f"pyoci-{name}-{uuid.uuid4().hex[:6]}"
        subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle", str(b.path),
                        cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        ids.append(cid)
    b_pid = pyoci.state(ids[1])["pid"]
    pyoci("delete", "--force", ids[0])
    for d in cgroup_dirs(parent):
        assert not (d / "a").exists(), d
        assert str(b_pid) in (d / "b" / "cgroup.procs").read_text().split(), d
    assert pyoci.state(ids[1])["status"] == "created"
    pyoci("delete", "--force", ids[1])
    for d in cgroup_dirs(parent):
        assert not (d / "b").exists()
        d.rmdir()  # left by design: B's create did not make it
    for cid in ids:
        assert_nothing_left(pyoci, cid)

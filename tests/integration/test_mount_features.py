"""Mount features of issue 3, observed from inside a real container.

Recursive attributes (mount_setattr with AT_RECURSIVE), nosymfollow, idmapped
bind mounts (idmap, ridmap, per-mount uid/gid mappings), and devices in a user
namespace (bind-mounted from the host, since mknod is not allowed there).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from pyoci import syscalls
from tests.conftest import Bundle, Pyoci, assert_nothing_left, needs_root


@pytest.fixture(autouse=True)
def private_rootfs(bundle: Bundle, tmp_path: Path) -> None:
    """These tests add mount points: give each its own rootfs, not the shared demo one."""
    import shutil

    from tests.conftest import ROOTFS

    rootfs = tmp_path / "private-rootfs"
    shutil.copytree(ROOTFS, rootfs, symlinks=True)
    bundle.config["root"]["path"] = str(rootfs)
    bundle.write()


def new_id() -> str:
    return f"pyoci-mf-{uuid.uuid4().hex[:8]}"


def run_in(pyoci: Pyoci, bundle: Bundle, script: str) -> str:
    bundle.with_args("sh", "-c", script)
    cid = new_id()
    out = pyoci("run", "--bundle", str(bundle.path), cid)
    assert_nothing_left(pyoci, cid)
    return out.stdout.decode()


def add_mount(bundle: Bundle, mount: dict) -> None:
    bundle.config["mounts"].append(mount)
    bundle.write()


def mount_options(mountinfo: str, target: str) -> set[str]:
    """Per-mount options of the mount at ``target`` (the last one if stacked)."""
    found: set[str] = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[4] == target:
            found = set(fields[5].split(","))
    assert found, f"{target} not mounted:\n{mountinfo}"
    return found


@pytest.fixture
def tree_with_submount(tmp_path: Path):  # noqa: ANN201
    """A host directory with a tmpfs mounted inside it (undone afterwards)."""
    top = tmp_path / "tree"
    sub = top / "sub"
    sub.mkdir(parents=True)
    (top / "file").write_text("top\n")
    syscalls.mount("tmpfs", str(sub), "tmpfs", 0, "size=1m")
    (sub / "inner").write_text("inner\n")
    try:
        yield top
    finally:
        syscalls.umount2(str(sub), syscalls.MNT_DETACH)


@needs_root
@pytest.mark.parametrize("option,flag", [("rro", "ro"), ("rnosuid", "nosuid"),
                                          ("rnodev", "nodev"), ("rnoexec", "noexec"),
                                          ("rnoatime", "noatime"),
                                          ("rnosymfollow", "nosymfollow")])
def test_recursive_attribute_reaches_submounts(pyoci: Pyoci, bundle: Bundle,
                                               tree_with_submount: Path, option: str,
                                               flag: str) -> None:
    add_mount(bundle, {"destination": "/data", "type": "none",
                       "source": str(tree_with_submount), "options": ["rbind", option]})
    info = run_in(pyoci, bundle, "cat /proc/self/mountinfo")
    assert flag in mount_options(info, "/data")
    assert flag in mount_options(info, "/data/sub")


@needs_root
def test_plain_ro_bind_leaves_submount_writable_but_rro_does_not(
        pyoci: Pyoci, bundle: Bundle, tree_with_submount: Path) -> None:
    add_mount(bundle, {"destination": "/plain", "type": "none",
                       "source": str(tree_with_submount), "options": ["rbind", "ro"]})
    add_mount(bundle, {"destination": "/rec", "type": "none",
                       "source": str(tree_with_submount), "options": ["rbind", "rro"]})
    out = run_in(pyoci, bundle,
                 "touch /plain/sub/a 2>/dev/null && echo plain-writable; "
                 "touch /rec/sub/b 2>/dev/null || echo rec-readonly")
    assert out.split() == ["plain-writable", "rec-readonly"]


@needs_root
def test_nosymfollow_refuses_symlinks(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    src = tmp_path / "links"
    src.mkdir()
    (src / "target").write_text("reached\n")
    (src / "link").symlink_to("target")
    add_mount(bundle, {"destination": "/links", "type": "none", "source": str(src),
                       "options": ["bind", "nosymfollow"]})
    out = run_in(pyoci, bundle, "cat /links/target; cat /links/link 2>&1 || echo refused")
    assert out.splitlines()[0] == "reached"
    assert out.splitlines()[-1] == "refused"


def _owned_tree(tmp_path: Path, uid: int) -> Path:
    src = tmp_path / "owned"
    src.mkdir()
    (src / "f").write_text("x")
    os.chown(src / "f", uid, uid)
    return src


@needs_root
def test_idmap_with_per_mount_mappings_shows_files_as_mapped(pyoci: Pyoci, bundle: Bundle,
                                                              tmp_path: Path) -> None:
    src = _owned_tree(tmp_path, 1000)
    mapping = [{"containerID": 1000, "hostID": 2000, "size": 10}]
    add_mount(bundle, {"destination": "/idm", "type": "none", "source": str(src),
                       "options": ["bind", "idmap"], "uidMappings": mapping,
                       "gidMappings": mapping})
    # An idmapped mount maps on-disk ids through the mount's mapping (1000 -> 2000), so
    # the file owned by 1000 on disk appears owned by 2000 in the container.
    out = run_in(pyoci, bundle, "stat -c '%u %g' /idm/f; cat /proc/self/mountinfo")
    owner = out.splitlines()[0]
    assert owner == "2000 2000", out
    assert "idmapped" in mount_options(out, "/idm")


@needs_root
def test_ridmap_maps_submounts_too(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    src = _owned_tree(tmp_path, 1000)
    sub = src / "sub"
    sub.mkdir()
    syscalls.mount("tmpfs", str(sub), "tmpfs", 0, "size=1m,uid=1000,gid=1000")
    try:
        mapping = [{"containerID": 1000, "hostID": 3000, "size": 1}]
        add_mount(bundle, {"destination": "/ridm", "type": "none", "source": str(src),
                           "options": ["rbind", "ridmap"], "uidMappings": mapping,
                           "gidMappings": mapping})
        out = run_in(pyoci, bundle, "stat -c '%u' /ridm/f /ridm/sub")
    finally:
        syscalls.umount2(str(sub), syscalls.MNT_DETACH)
    assert out.split() == ["3000", "3000"]


@needs_root
def test_idmap_without_any_mapping_is_an_error(pyoci: Pyoci, bundle: Bundle,
                                                tmp_path: Path) -> None:
    src = _owned_tree(tmp_path, 1000)
    add_mount(bundle, {"destination": "/idm", "type": "none", "source": str(src),
                       "options": ["bind", "idmap"]})
    bundle.with_args("true")
    cid = new_id()
    out = pyoci("create", "--bundle", str(bundle.path), cid, check=False)
    assert out.returncode != 0
    err = out.stderr.decode()
    assert "idmap" in err and "mounts[" in err, err
    assert len(err.strip().splitlines()) == 1
    assert_nothing_left(pyoci, cid)


def _userns(bundle: Bundle) -> None:
    def edit(cfg: dict) -> None:
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        cfg["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1,
                                    "minor": 3, "fileMode": 0o620, "uid": 7, "gid": 8}]
    bundle.edit(edit)


@needs_root
def test_devices_in_a_user_namespace_are_bind_mounted(pyoci: Pyoci, bundle: Bundle) -> None:
    _userns(bundle)
    out = run_in(pyoci, bundle,
                 "stat -c '%t:%T %a %u %g' /dev/mynull; echo hi > /dev/mynull && echo ok; "
                 "grep ' /dev/mynull ' /proc/self/mountinfo | wc -l")
    lines = out.splitlines()
    assert lines[0].split()[0] == "1:3"
    assert lines[1] == "ok"
    # mknod is not allowed in a user namespace: the node is a bind mount of the host's
    # (found by major:minor, as the host has no /dev/mynull), whose mode stays the host's.
    assert lines[2] == "1"
    assert lines[0].split()[1:] == ["666", "0", "0"]
    assert oct(os.stat("/dev/null").st_mode & 0o777) == "0o666"


@needs_root
def test_device_without_a_host_node_in_a_user_namespace_is_an_error(
        pyoci: Pyoci, bundle: Bundle) -> None:
    _userns(bundle)
    bundle.config["linux"]["devices"][0].update(major=250, minor=250)
    bundle.with_args("true")
    cid = new_id()
    out = pyoci("create", "--bundle", str(bundle.path), cid, check=False)
    assert out.returncode != 0
    assert "linux.devices[0]" in out.stderr.decode() and "250:250" in out.stderr.decode()
    assert_nothing_left(pyoci, cid)


@needs_root
def test_existing_file_of_another_kind_is_an_error(pyoci: Pyoci, bundle: Bundle,
                                                   tmp_path: Path) -> None:
    import shutil

    from tests.conftest import ROOTFS

    rootfs = tmp_path / "rootfs"
    shutil.copytree(ROOTFS, rootfs, symlinks=True)
    (rootfs / "dev").mkdir(exist_ok=True)
    (rootfs / "dev" / "mynull").write_text("not a device")

    def edit(cfg: dict) -> None:
        cfg["root"]["path"] = str(rootfs)
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"
                         and not m["destination"].startswith("/dev/")]
        cfg["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1,
                                    "minor": 3}]
        cfg["process"]["args"] = ["true"]
    bundle.edit(edit)
    cid = new_id()
    out = pyoci("create", "--bundle", str(bundle.path), cid, check=False)
    assert out.returncode != 0
    err = out.stderr.decode()
    assert "linux.devices[0]" in err, err
    assert_nothing_left(pyoci, cid)

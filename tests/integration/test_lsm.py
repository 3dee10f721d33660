"""AppArmor and SELinux fields (root for the create paths).

This machine has neither LSM enabled, so the end-to-end tests prove the error
path: a label for an LSM the host lacks fails ``create`` with one line naming
the field and leaves nothing behind. The writing path is tested against a
temporary directory standing in for /proc/self/attr (a fake: the real nodes
refuse writes without the LSM), and the mountLabel rule on the mounts list.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import DEMO_CONFIG, Bundle, Pyoci, assert_nothing_left, needs_root

from pyoci.errors import PyociError
from pyoci.security import apparmor, lsm, selinux


def refused(pyoci: Pyoci, bundle: Bundle, edit) -> str:  # noqa: ANN001
    bundle.edit(edit)
    cid = f"pyoci-{uuid4().hex[:8]}"
    proc = pyoci("create", "--bundle", str(bundle.path), cid, check=False,
                 stdin=subprocess.DEVNULL)
    err = proc.stderr.decode().strip()
    assert proc.returncode != 0 and len(err.splitlines()) == 1, err
    assert_nothing_left(pyoci, cid)
    return err


@pytest.mark.root
@needs_root
def test_apparmor_profile_without_apparmor(pyoci: Pyoci, bundle: Bundle) -> None:
    if apparmor.host_enabled():
        pytest.skip("AppArmor is enabled here: the not-enabled error cannot be provoked")
    err = refused(pyoci, bundle, lambda c: c["process"].update(apparmorProfile="pyoci-prof"))
    assert err.endswith("process.apparmorProfile: AppArmor is not enabled on this host "
                        f"({apparmor.ENABLED_PARAM} is not Y)")


@pytest.mark.root
@needs_root
@pytest.mark.parametrize(("where", "field"), [("process", "selinuxLabel"),
                                              ("linux", "mountLabel")])
def test_selinux_labels_without_selinux(pyoci: Pyoci, bundle: Bundle, where: str,
                                        field: str) -> None:
    if selinux.host_enabled():
        pytest.skip("SELinux is enabled here: the not-enabled error cannot be provoked")
    label = "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811"
    err = refused(pyoci, bundle, lambda c: c[where].update({field: label}))
    assert err.endswith(f"{where}.{field}: SELinux is not enabled on this host "
                        f"(no selinuxfs mounted at {selinux.SELINUXFS})")


# -- the writing path, against a stand-in for /proc/self/attr (no root needed) --------

def test_apparmor_prefers_the_per_lsm_node(tmp_path: Path) -> None:
    """Fake attr dir: apparmor/exec exists, so it is written, the shared node is not."""
    (tmp_path / "apparmor").mkdir()
    (tmp_path / "apparmor" / "exec").write_text("")
    (tmp_path / "exec").write_text("")
    lsm.prepare_exec({"process": {"apparmorProfile": "docker-default"}}, attr_dir=str(tmp_path))
    assert (tmp_path / "apparmor" / "exec").read_text() == "exec docker-default"
    assert (tmp_path / "exec").read_text() == ""


def test_apparmor_falls_back_to_the_shared_node(tmp_path: Path) -> None:
    """Fake attr dir without apparmor/: older kernels have only attr/exec."""
    (tmp_path / "exec").write_text("")
    lsm.prepare_exec({"process": {"apparmorProfile": "docker-default"}}, attr_dir=str(tmp_path))
    assert (tmp_path / "exec").read_text() == "exec docker-default"


def test_selinux_label_written_to_exec(tmp_path: Path) -> None:
    """Fake attr dir: setexeccon writes the bare label to attr/exec."""
    (tmp_path / "exec").write_text("")
    label = "system_u:system_r:svirt_lxc_net_t:s0:c124,c675"
    lsm.prepare_exec({"process": {"selinuxLabel": label}}, attr_dir=str(tmp_path))
    assert (tmp_path / "exec").read_text() == label


def test_nothing_written_without_labels(tmp_path: Path) -> None:
    (tmp_path / "exec").write_text("untouched")
    lsm.prepare_exec({"process": {"args": ["sh"]}}, attr_dir=str(tmp_path))
    assert (tmp_path / "exec").read_text() == "untouched"


def test_write_failure_names_the_field(tmp_path: Path) -> None:
    """No attr node (e.g. no /proc in the container): one line with field and path."""
    with pytest.raises(PyociError) as info:
        lsm.prepare_exec({"process": {"selinuxLabel": "x_u:x_r:x_t:s0"}},
                         attr_dir=str(tmp_path / "missing"))
    assert info.value.message.startswith('process.selinuxLabel: "x_u:x_r:x_t:s0": ')
    assert "No such file or directory" in info.value.message


def test_host_detection_reads_the_named_files(tmp_path: Path) -> None:
    """Stand-ins for the module parameter, securityfs and /proc/filesystems."""
    param = tmp_path / "enabled"
    param.write_text("Y\n")
    assert apparmor.host_enabled(str(param), str(tmp_path / "nosecfs"))
    param.write_text("N\n")
    assert not apparmor.host_enabled(str(param), str(tmp_path / "nosecfs"))
    filesystems = tmp_path / "filesystems"
    filesystems.write_text("nodev\tsysfs\nnodev\tselinuxfs\n")
    (tmp_path / "selinux").mkdir()
    assert not selinux.host_enabled(str(filesystems), str(tmp_path / "selinux"))
    (tmp_path / "selinux" / "enforce").write_text("1")
    assert selinux.host_enabled(str(filesystems), str(tmp_path / "selinux"))


# -- linux.mountLabel --------------------------------------------------------------

def test_mount_label_follows_runcs_rules() -> None:
    mounts = json.loads(DEMO_CONFIG.read_text())["mounts"] + [
        {"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind"]},
        {"destination": "/b2", "type": "none", "source": "/tmp", "options": ["bind"]},
        {"destination": "/cg", "type": "cgroup", "source": "cgroup"},
    ]
    label = "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811"
    labelled = selinux.label_mounts(mounts, label)
    got = {m["destination"]: f'context="{label}"' in (m.get("options") or [])
           for m in labelled}
    by_type = {m["destination"]: m.get("type") for m in mounts}
    for dest, has in got.items():
        assert has == (by_type[dest] in ("tmpfs", "devpts")), (dest, by_type[dest])
    assert any(got.values())
    assert mounts[0].get("options") == json.loads(DEMO_CONFIG.read_text())["mounts"][0].get(
        "options"), "the config's own lists must not be modified"


def test_no_mount_label_leaves_mounts_alone() -> None:
    mounts = [{"destination": "/tmp", "type": "tmpfs", "options": ["nosuid"]}]
    assert selinux.label_mounts(mounts, None) is mounts
    assert selinux.label_mounts(mounts, "") is mounts

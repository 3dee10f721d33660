"""What `pyoci features` claims must hold: each advertised mount option is
accepted by a real container, observed from inside."""

from __future__ import annotations

import json
import uuid

from tests.conftest import Bundle, Pyoci, assert_nothing_left, needs_root

# Options that only make sense on a bind mount, or on an existing mount.
BIND_ONLY = {"bind", "rbind", "idmap", "ridmap"}
NOT_ON_A_NEW_MOUNT = {"remount"}


@needs_root
def test_every_advertised_mount_option_is_accepted(pyoci: Pyoci, bundle: Bundle,
                                                    tmp_path) -> None:  # noqa: ANN001
    features = json.loads(pyoci("features").stdout)
    options = [o for o in features["mountOptions"] if o not in BIND_ONLY | NOT_ON_A_NEW_MOUNT]
    assert len(options) > 50
    src = tmp_path / "src"
    src.mkdir()

    def edit(cfg: dict) -> None:
        cfg["root"]["readonly"] = False
        for i, option in enumerate(options):
            cfg["mounts"].append({"destination": f"/opt/t{i}", "type": "tmpfs",
                                  "source": "tmpfs", "options": [option, "size=64k"]})
        for j, option in enumerate(sorted(BIND_ONLY - {"idmap", "ridmap"})):
            cfg["mounts"].append({"destination": f"/opt/b{j}", "type": "none",
                                  "source": str(src), "options": [option]})
        mapping = [{"containerID": 0, "hostID": 1000, "size": 1}]
        for k, option in enumerate(("idmap", "ridmap")):
            cfg["mounts"].append({"destination": f"/opt/m{k}", "type": "none",
                                  "source": str(src), "options": ["rbind", option],
                                  "uidMappings": mapping, "gidMappings": mapping})
        cfg["process"]["args"] = ["sh", "-c", "grep -c ' /opt/' /proc/self/mountinfo"]

    import shutil

    from tests.conftest import ROOTFS

    rootfs = tmp_path / "rootfs"
    shutil.copytree(ROOTFS, rootfs, symlinks=True)
    bundle.config["root"]["path"] = str(rootfs)
    bundle.edit(edit)
    cid = f"pyoci-feat-{uuid.uuid4().hex[:6]}"
    out = pyoci("run", "--bundle", str(bundle.path), cid)
    expected = len(options) + len(BIND_ONLY)
    assert int(out.stdout.decode().strip()) >= expected
    assert_nothing_left(pyoci, cid)

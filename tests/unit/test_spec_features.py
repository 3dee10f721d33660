"""default_spec, write_spec, features_document and the demo bundle's config.

The documents pyoci hands out must validate against the OFFICIAL runtime-spec
schemas (engines and other runtimes validate them the same way), so these tests
load every schema file of the spec's schema/ directory into one registry.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import pyoci
from pyoci.container.features import CAPABILITIES, MOUNT_OPTIONS, features_document
from pyoci.container.spec import default_spec, write_spec
from pyoci.errors import PyociError

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(os.environ.get("OCI_SPEC_DIR", REPO.parent / "shared" / "runtime-spec-v1.3.0"))
SCHEMA_DIR = SPEC_DIR / "schema"
BUSYBOX_CONFIG = REPO / "bundles" / "busybox" / "config.json"

Validate = Callable[[dict], None]


def _make_validator(name: str) -> Validate:
    """Build a draft-04 validator for schema/<name>, resolving refs by file name."""
    if not SCHEMA_DIR.is_dir():
        pytest.skip(f"runtime-spec schemas not found at {SCHEMA_DIR} (set OCI_SPEC_DIR)")
    try:
        import jsonschema  # heavy: imported only here, never at module top
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4
    except ImportError as err:
        pytest.skip(f"jsonschema/referencing not importable: {err}")
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append(
            (path.name, Resource.from_contents(contents, default_specification=DRAFT4))
        )
    registry = Registry().with_resources(resources)
    validator = jsonschema.Draft4Validator(registry[name].contents, registry=registry)

    def validate(doc: dict) -> None:
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors)

    return validate


@pytest.fixture(scope="module")
def validate_config() -> Validate:
    return _make_validator("config-schema.json")


@pytest.fixture(scope="module")
def validate_features() -> Validate:
    return _make_validator("features-schema.json")


def test_validator_rejects_a_bad_config(validate_config: Validate) -> None:
    """Guards the other tests: a validator that accepts anything proves nothing."""
    bad = default_spec()
    bad["linux"]["namespaces"].append({"type": "bogus"})
    with pytest.raises(AssertionError, match="bogus"):
        validate_config(bad)


@pytest.mark.parametrize("rootless", [False, True])
def test_default_spec_validates(validate_config: Validate, rootless: bool) -> None:
    validate_config(default_spec(rootless=rootless))


def test_default_spec_is_runc_like() -> None:
    spec = default_spec()
    assert spec["ociVersion"] == pyoci.SPEC_VERSION == "1.3.0"
    assert spec["process"]["terminal"] is True
    assert spec["process"]["args"] == ["sh"]
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    types = [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert types == ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]


def test_default_spec_returns_fresh_dicts() -> None:
    first = default_spec()
    first["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    assert "CAP_SYS_ADMIN" not in default_spec()["process"]["capabilities"]["bounding"]


def test_rootless_spec() -> None:
    spec = default_spec(rootless=True)
    linux = spec["linux"]
    types = [ns["type"] for ns in linux["namespaces"]]
    assert "user" in types and "network" not in types
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert "resources" not in linux
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert "/sys/fs/cgroup" not in by_dest
    assert by_dest["/sys"]["type"] == "none" and "rbind" in by_dest["/sys"]["options"]
    assert not any(o.startswith("gid=") for o in by_dest["/dev/pts"]["options"])
    # The privileged default must be untouched by building a rootless one.
    assert any(m["type"] == "cgroup" for m in default_spec()["mounts"])


def test_features_validate(validate_features: Validate) -> None:
    validate_features(features_document())


def test_features_content() -> None:
    doc = features_document()
    assert doc["ociVersionMin"] == "1.0.0" and doc["ociVersionMax"] == "1.3.0"
    assert set(doc["hooks"]) == {
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    }
    linux = doc["linux"]
    assert sorted(linux["namespaces"]) == [
        "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
    ]  # fmt: skip
    assert len(CAPABILITIES) == 41 == len(set(CAPABILITIES))
    assert CAPABILITIES[0] == "CAP_CHOWN" and CAPABILITIES[-1] == "CAP_CHECKPOINT_RESTORE"
    assert linux["cgroup"] == {
        "v1": True,
        "v2": True,
        "systemd": True,
        "systemdUser": False,
        "rdma": True,
    }
    assert linux["mountExtensions"] == {"idmap": {"enabled": True}}
    assert doc["annotations"] == {"io.github.pyoci.version": pyoci.__version__}


def test_features_mount_options_cover_spec_table() -> None:
    """Every option of config.md's Linux mount-option table must be recognised."""
    config_md = SPEC_DIR / "config.md"
    if not config_md.is_file():
        pytest.skip(f"runtime-spec text not found at {config_md} (set OCI_SPEC_DIR)")
    text = config_md.read_text(encoding="utf-8")
    table = text.split('### <a name="configLinuxMountOptions" />', 1)[1].split("[^1]:", 1)[0]
    names = {
        line.split("|")[0].strip().strip("`").strip()
        for line in table.splitlines()
        if line.startswith(" `")
    }
    assert len(names) > 50
    assert names <= set(MOUNT_OPTIONS), sorted(names - set(MOUNT_OPTIONS))
    assert len(MOUNT_OPTIONS) == len(set(MOUNT_OPTIONS))


def test_busybox_bundle_config_validates(validate_config: Validate) -> None:
    config = json.loads(BUSYBOX_CONFIG.read_text(encoding="utf-8"))
    validate_config(config)
    assert config["ociVersion"] == "1.3.0"
    assert config["process"]["terminal"] is False
    assert config["hostname"] == "pyoci"
    assert config["root"] == {"path": "rootfs", "readonly": True}


def test_write_spec_writes_valid_file(tmp_path: Path, validate_config: Validate) -> None:
    write_spec(str(tmp_path), rootless=False)
    text = (tmp_path / "config.json").read_text(encoding="utf-8")
    assert text.startswith('{\n\t"ociVersion"')  # runc's tab indent
    written = json.loads(text)
    assert written == default_spec()
    validate_config(written)


def test_write_spec_rootless(tmp_path: Path) -> None:
    write_spec(str(tmp_path), rootless=True)
    written = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert written == default_spec(rootless=True)


def test_write_spec_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    target.write_text("mine", encoding="utf-8")
    with pytest.raises(PyociError, match=r"^File config\.json exists\. Remove it first\.$"):
        write_spec(str(tmp_path), rootless=False)
    assert target.read_text(encoding="utf-8") == "mine"


def test_write_spec_missing_bundle_is_a_pyoci_error(tmp_path: Path) -> None:
    with pytest.raises(PyociError, match="cannot create"):
        write_spec(str(tmp_path / "nope"), rootless=False)


def test_features_returns_fresh_dicts() -> None:
    doc = features_document()
    pristine = copy.deepcopy(doc)
    doc["linux"]["namespaces"].clear()
    assert features_document() == pristine


def test_every_advertised_mount_option_is_interpreted_by_the_parser() -> None:
    """features' mountOptions come from the parser: none of them may fall through
    to the filesystem's data string, where the kernel would see it unparsed."""
    from pyoci.rootfs.options import parse_options

    for option in features_document()["mountOptions"]:
        assert parse_options([option]).data == "", option
    assert parse_options(["size=1m"]).data == "size=1m"

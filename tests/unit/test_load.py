"""load_config / parse_json_document: every way reading config.json can fail."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pyoci.config.load import load_config, parse_json_document
from pyoci.errors import ConfigError

GOOD: dict[str, Any] = {
    "ociVersion": "1.3.0",
    "root": {"path": "rootfs"},
    "process": {"cwd": "/", "args": ["true"]},
    "linux": {"namespaces": [{"type": "mount"}]},
}


def _bundle(tmp_path: Path, content: bytes | str | None) -> str:
    """A bundle dir whose config.json holds ``content`` (None: no config.json)."""
    if content is not None:
        data = content.encode() if isinstance(content, str) else content
        (tmp_path / "config.json").write_bytes(data)
    return str(tmp_path)


def _error(bundle: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(bundle)
    message = caught.value.message
    assert "\n" not in message
    return message


def test_good_config_is_returned(tmp_path: Path) -> None:
    doc = load_config(_bundle(tmp_path, json.dumps(GOOD)))
    assert doc == GOOD


def test_bundle_missing(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    assert _error(missing) == f'bundle "{missing}" does not exist'


def test_bundle_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    assert _error(str(path)) == f'bundle "{path}" is not a directory'


def test_config_missing(tmp_path: Path) -> None:
    assert _error(_bundle(tmp_path, None)) == f'config.json: not found in bundle "{tmp_path}"'


def test_config_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").mkdir()
    assert _error(str(tmp_path)).startswith("config.json: is a directory")


def test_config_unreadable(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, json.dumps(GOOD))
    os.chmod(tmp_path / "config.json", 0)
    try:
        if os.access(tmp_path / "config.json", os.R_OK):
            pytest.skip("running with CAP_DAC_OVERRIDE (root): a mode-0 file is still readable")
        assert _error(bundle).startswith("config.json: cannot read ")
        assert "Permission denied" in _error(bundle)
    finally:
        os.chmod(tmp_path / "config.json", 0o644)


def test_config_read_error(tmp_path: Path) -> None:
    """A read that fails after open (EIO): works even as root."""
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("/proc/self/mem is not available")
    (tmp_path / "config.json").symlink_to("/proc/self/mem")
    message = _error(str(tmp_path))
    assert message.startswith(f"config.json: cannot read {tmp_path}/config.json: ")


def test_invalid_utf8(tmp_path: Path) -> None:
    raw = b'{"ociVersion": "1.3.0", "hostname": "\xff"}'
    assert _error(_bundle(tmp_path, raw)) == "config.json: invalid UTF-8 at byte 37"


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    text = '{\n  "ociVersion": "1.3.0",\n  "root": {"path": "rootfs"}\n  "x": 1\n}'
    assert _error(_bundle(tmp_path, text)) == (
        "config.json: invalid JSON at line 4 column 3: Expecting ',' delimiter"
    )


def test_empty_file(tmp_path: Path) -> None:
    assert _error(_bundle(tmp_path, b"")).startswith("config.json: invalid JSON at line 1 column 1")


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[]", "an array"), ('"x"', "a string"), ("null", "null"), ("1", "a number"),
     ("true", "a boolean")],
)
def test_top_level_not_an_object(tmp_path: Path, text: str, kind: str) -> None:
    assert _error(_bundle(tmp_path, text)) == (
        f"config.json: top level must be a JSON object, got {kind}"
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_is_not_json(tmp_path: Path, constant: str) -> None:
    text = '{"ociVersion": "1.3.0", "x": ' + constant + "}"
    message = _error(_bundle(tmp_path, text))
    assert message == f"config.json: invalid JSON: invalid constant {constant}"


def test_schema_error_is_reported(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(GOOD))
    doc["process"]["user"] = {"uid": "x", "gid": 0}
    assert _error(_bundle(tmp_path, json.dumps(doc))) == (
        'config.json: process.user.uid: expected integer, got "x"'
    )


def test_semantic_error_is_reported(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(GOOD))
    doc["process"]["cwd"] = "relative"
    assert _error(_bundle(tmp_path, json.dumps(doc))) == (
        'config.json: process.cwd: "relative" must be an absolute path'
    )


def test_parse_json_document_uses_the_source_name() -> None:
    assert parse_json_document(b'{"a": 1}', "state.json") == {"a": 1}
    with pytest.raises(ConfigError, match=r"^process\.json: invalid JSON at line 1 column 2"):
        parse_json_document(b"{]", "process.json")
    with pytest.raises(ConfigError, match=r"^process\.json: top level must be a JSON object"):
        parse_json_document(b"[1]", "process.json")


def test_byte_order_mark_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"^config\.json: invalid JSON"):
        parse_json_document(b'\xef\xbb\xbf{"a": 1}', "config.json")

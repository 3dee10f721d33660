"""fastcheck must give jsonschema's verdict on every document, and stay cheap.

pyoci.config.validate answers "valid?" with fastcheck and only asks
jsonschema (Draft7Validator, strict integers, our schemas) to explain a
failure. A disagreement would either accept a config jsonschema rejects or
reject one with no message, so the verdicts are compared on the official
vectors, on real configs, on thousands of systematic mutants and on random
JSON values put at random places.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyoci.config import fastcheck
from pyoci.config.validate import SCHEMA_FILES, _schemas_dir, _validator, is_valid
from pyoci.container.spec import default_spec
from pyoci.errors import ConfigError
from tests.jsontree import copy_json, nodes

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
SPEC_DIR = Path(os.environ.get("OCI_SPEC_DIR") or REPO.parent / "shared" / "runtime-spec-v1.3.0")
VECTORS = SPEC_DIR / "schema" / "test"
UNKNOWN = "pyociUnknownField"

STATE: dict[str, Any] = {
    "ociVersion": "1.3.0",
    "id": "c1",
    "status": "running",
    "pid": 42,
    "bundle": "/b",
    "annotations": {"k": "v"},
}
FEATURES: dict[str, Any] = {
    "ociVersionMin": "1.0.0",
    "ociVersionMax": "1.3.0",
    "hooks": ["prestart", "poststop"],
    "mountOptions": ["ro", "rbind"],
    "annotations": {"org.opencontainers.runc.version": "1.2.0"},
    "potentiallyUnsafeConfigAnnotations": ["com.example.x"],
    "linux": {
        "namespaces": ["pid", "user"],
        "capabilities": ["CAP_KILL"],
        "cgroup": {"v1": True, "v2": True, "systemd": None, "systemdUser": False, "rdma": True},
        "seccomp": {
            "enabled": True,
            "actions": ["SCMP_ACT_ALLOW"],
            "operators": ["SCMP_CMP_EQ"],
            "archs": ["SCMP_ARCH_X86_64"],
            "knownFlags": ["SECCOMP_FILTER_FLAG_LOG"],
            "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG"],
        },
        "apparmor": {"enabled": True},
        "selinux": {"enabled": None},
        "memoryPolicy": {"modes": ["MPOL_BIND"], "flags": ["MPOL_F_STATIC_NODES"]},
        "intelRdt": {"enabled": True, "schemata": True, "monitoring": False},
        "mountExtensions": {"idmap": {"enabled": True}},
        "netDevices": {"enabled": True},
    },
}

# Replacement values: every JSON type, integer edges, integral float, empties.
VALUES: dict[str, Any] = {
    "null": None,
    "true": True,
    "false": False,
    "0": 0,
    "7": 7,
    "-1": -1,
    "2**31": 2**31,
    "2**32": 2**32,
    "2**63": 2**63,
    "2**64": 2**64,
    "-2**63-1": -(2**63) - 1,
    "1.0": 1.0,
    "1.5": 1.5,
    "empty-string": "",
    "string": "x",
    "newline": "a\n",
    "empty-array": [],
    "array": ["x"],
    "int-array": [1],
    "empty-object": {},
    "object": {"x": "x"},
}


def _sibling(name: str) -> Any:
    """A sibling test module, loaded by path (works in any pytest import mode)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_fastcheck_sibling_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _rich_config() -> dict[str, Any]:
    """test_schemas.RICH_CONFIG: a config that sets every Linux field."""
    return _sibling("test_schemas").RICH_CONFIG


def _reference(kind: str, doc: object) -> bool:
    """jsonschema's verdict: the validator validate.explain uses."""
    return bool(_validator(kind).is_valid(doc))


def _official_vectors() -> list[tuple[str, str, Path]]:
    """(kind, good|bad, path) of every official test vector."""
    found = []
    for kind in SCHEMA_FILES:
        for verdict in ("good", "bad"):
            folder = VECTORS / kind / verdict
            if folder.is_dir():
                found += [(kind, verdict, p) for p in sorted(folder.glob("*.json"))]
    return found


def _documents() -> list[tuple[str, str, Any]]:
    """(kind, label, document): every good document the mutants start from."""
    docs: list[tuple[str, str, Any]] = [
        ("config", "rich", _rich_config()),
        ("config", "busybox", json.loads((REPO / "bundles/busybox/config.json").read_text())),
        ("config", "default_spec", default_spec()),
        ("config", "default_spec-rootless", default_spec(rootless=True)),
        ("state", "state", STATE),
        ("features", "features", FEATURES),
    ]
    for kind, verdict, path in _official_vectors():
        if verdict == "good" and kind != "config":
            docs.append((kind, path.name, json.loads(path.read_text())))
    return docs


def _shape(value: Any) -> Any:
    return tuple(sorted(value)) if isinstance(value, dict) else type(value).__name__


def _mutations(doc: Any) -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    """(label, path, value) for every node: each VALUES entry, deletes, added keys.

    Array items with the same shape at the same generic path (the 60 mount
    options of a features document) would only repeat verdicts: first one only.
    """
    seen: set[tuple[Any, ...]] = set()
    for path, value in nodes(doc):
        signature = (tuple("*" if isinstance(p, int) else p for p in path), _shape(value))
        if signature in seen:
            continue
        seen.add(signature)
        for label, new in VALUES.items():
            if not (type(new) is type(value) and new == value):
                yield label, path, new
        if isinstance(value, dict):
            for key in value:
                yield "delete", (*path, key), None
            yield "add-unknown", (*path, UNKNOWN), "x"
            yield "add-empty-key", (*path, ""), "x"
            yield "add-unknown-object", (*path, UNKNOWN), {"a": [1, None]}
        if isinstance(value, list):
            yield "append-null", (*path, len(value)), None
            yield "append-string", (*path, len(value)), "x"


def _prune(doc: Any, path: tuple[Any, ...]) -> Any:
    """Keep only the scalars and the mutated branch in objects along the path.

    Any document is a fair test of equivalence; dropping the sibling branches
    just makes jsonschema's half of the comparison much cheaper.
    """
    if not path or not isinstance(doc, (dict, list)):
        return doc
    head, rest = path[0], path[1:]
    if isinstance(doc, list):
        return [_prune(v, rest) if i == head else v for i, v in enumerate(doc)]
    kept = {k: v for k, v in doc.items() if k == head or not isinstance(v, (dict, list))}
    if head in kept:
        kept[head] = _prune(kept[head], rest)
    return kept


def _mutate(doc: Any, label: str, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return copy_json(new)
    mutant = copy_json(doc)
    parent = mutant
    for part in path[:-1]:
        parent = parent[part]
    if label == "delete":
        del parent[path[-1]]
    elif isinstance(parent, list) and path[-1] == len(parent):
        parent.append(copy_json(new))
    else:
        parent[path[-1]] = copy_json(new)
    return mutant


def _assert_same(kind: str, doc: Any, label: str) -> bool:
    ours, theirs = is_valid(kind, doc), _reference(kind, doc)
    assert ours == theirs, f"{kind} {label}: fastcheck says {ours}, jsonschema {theirs}"
    return ours


# --- equivalence ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "verdict", "path"),
    _official_vectors() or [pytest.param("", "", Path(), marks=pytest.mark.skip)],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_official_vectors(kind: str, verdict: str, path: Path) -> None:
    try:
        doc = json.loads(path.read_bytes())
    except ValueError:
        pytest.skip(f"{path.name} is not JSON: nothing for a schema validator to judge")
    _assert_same(kind, doc, path.name)


def test_official_vectors_present() -> None:
    if not VECTORS.is_dir():
        pytest.skip(f"official runtime-spec vectors not found at {VECTORS} (set OCI_SPEC_DIR)")
    assert len(_official_vectors()) >= 15


def test_real_configs_are_valid() -> None:
    for kind, label, doc in _documents():
        assert _assert_same(kind, doc, label), f"{label} should be valid"


def test_mutants_match_jsonschema() -> None:
    checked = 0
    verdicts = set()
    for kind, name, doc in _documents():
        for n, (label, path, new) in enumerate(_mutations(doc)):
            mutant = _mutate(_prune(doc, path), label, path, new)
            verdicts.add(_assert_same(kind, mutant, f"{name} {label} at {path}"))
            if n % 37 == 0:
                _assert_same(kind, _mutate(doc, label, path, new), f"{name} full {label} {path}")
            checked += 1
    assert checked > 8000 and verdicts == {True, False}


# Random JSON, including what json.loads accepts beyond JSON (NaN, Infinity).
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([-1, 0, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 65535, 65536])
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["1.3.0", "RLIMIT_X", "CAP_KILL", "MB:1", "2MB", "0-3,7", "rwm", "pid"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@cache
def _paths(kind_index: int) -> tuple[str, Any, list[tuple[Any, ...]]]:
    kind, _label, doc = _documents()[kind_index]
    return kind, doc, [path for path, _ in nodes(doc)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_values_at_random_paths(data: st.DataObject) -> None:
    kind, doc, paths = _paths(data.draw(st.sampled_from([0, 1, 4, 5]), label="document"))
    path = data.draw(st.sampled_from(paths), label="path")
    value = data.draw(_JSON, label="value")
    target = doc
    for part in path:
        target = target[part]
    if isinstance(target, dict) and data.draw(st.booleans(), label="add a key"):
        path = (*path, data.draw(st.sampled_from([*target, "", UNKNOWN]), label="key"))
    mutant = _mutate(_prune(doc, path), "set", path, value)
    _assert_same(kind, mutant, f"{value!r} at {path}")


@pytest.mark.parametrize(
    ("doc", "valid"),
    [
        ({"ociVersion": "1.3.0", "id": "c", "status": "created", "bundle": "/b"}, False),
        ({"ociVersion": "1.3.0", "id": "c", "status": "stopped", "bundle": "/b"}, True),
        (
            {"ociVersion": "1.3.0", "id": "c", "status": "created", "bundle": "/b", "pid": 1.0},
            False,
        ),
        ({"ociVersion": "1.3.0\n", "id": "c", "status": "x", "bundle": "/b"}, False),
        ({"ociVersion": "1.3.0", "id": "c", "status": "x", "bundle": "/b", "pid": True}, False),
        ({"ociVersion": "1.3.0", "id": "c", "status": "x", "bundle": "/b", "pid": math.nan}, False),
    ],
)
def test_state_edge_cases(doc: dict[str, Any], valid: bool) -> None:
    """if/then (pid required when created/running), strict integers, the newline guard."""
    assert _assert_same("state", doc, repr(doc)) is valid


# --- the loader -------------------------------------------------------------


def test_every_schema_file_compiles() -> None:
    """check_all compiles every node of every file: no unsupported keyword anywhere."""
    fastcheck.check_all(str(SCHEMAS))


def _schemas_with(tmp_path: Path, edit: Any) -> Path:
    """A copy of schemas/ with one file edited by ``edit(name, doc)``."""
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, target)
    for path in target.glob("*.json"):
        doc = json.loads(path.read_text())
        if edit(path.name, doc):
            path.write_text(json.dumps(doc))
    return target


@pytest.mark.parametrize(
    ("file", "where", "keyword", "value"),
    [
        ("defs.json", ("definitions", "semver"), "format", "uri"),
        ("defs-linux.json", ("definitions", "device"), "multipleOf", 2),
        ("config-schema.json", (), "unevaluatedProperties", False),
    ],
)
def test_unsupported_keyword_raises(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    file: str,
    where: tuple[str, ...],
    keyword: str,
    value: object,
) -> None:
    def edit(name: str, doc: dict[str, Any]) -> bool:
        if name != file:
            return False
        for part in where:
            doc = doc[part]
        doc[keyword] = value
        return True

    directory = _schemas_with(tmp_path, edit)
    with pytest.raises(fastcheck.SchemaError, match=keyword):
        fastcheck.check_all(str(directory))
    # On the success path too: before the node gives any verdict, not silently.
    monkeypatch.setenv("PYOCI_SCHEMAS", str(directory))
    with pytest.raises(ConfigError, match=keyword):
        is_valid("config", _rich_config())


def test_broken_ref_raises(tmp_path: Path) -> None:
    def edit(name: str, doc: dict[str, Any]) -> bool:
        if name == "config-schema.json":
            doc["properties"]["hostname"] = {"$ref": "defs.json#/definitions/nope"}
        return name == "config-schema.json"

    directory = _schemas_with(tmp_path, edit)
    with pytest.raises(fastcheck.SchemaError, match="nope"):
        fastcheck.check_all(str(directory))


def test_supported_keywords_cover_our_schemas() -> None:
    """Also a plain scan, independent of the compiler's own walk."""
    used: set[str] = set()

    def walk(node: Any, parent_key: str = "") -> None:
        if isinstance(node, dict):
            if parent_key not in ("properties", "definitions", "patternProperties"):
                used.update(node)
            for key, child in node.items():
                if key not in ("enum", "const", "required"):
                    walk(child, key)
        elif isinstance(node, list):
            for child in node:
                walk(child, parent_key)

    for path in SCHEMAS.glob("*.json"):
        walk(json.loads(path.read_text()))
    assert used <= fastcheck.SUPPORTED_KEYWORDS, used - fastcheck.SUPPORTED_KEYWORDS


def test_literal_patterns_and_numbers() -> None:
    """Unit checks of the trickier keyword semantics, against jsonschema's rules."""
    check = fastcheck._Schemas(str(SCHEMAS)).compile
    base = "https://pyoci.invalid/schemas/x.json"
    assert not check({"not": {"pattern": "\n"}}, base)("a\nb")
    assert check({"pattern": "a.c"}, base)("xabc")  # re.search, not fullmatch
    assert not check({"type": "integer"}, base)(1.0)
    assert not check({"type": "number"}, base)(True)
    assert check({"minimum": 0}, base)(math.nan)  # jsonschema: nan < 0 is False
    assert check({"enum": [1]}, base)(1.0) and not check({"enum": [1]}, base)(True)
    assert not check({"uniqueItems": True}, base)([1, 1.0])
    assert check({"uniqueItems": True}, base)([1, True])
    assert check({"const": [1, {"a": False}]}, base)([1.0, {"a": False}])
    assert not check({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, base)(3)
    assert check({"dependencies": {"a": ["b"]}}, base)({"b": 1})
    assert not check({"dependencies": {"a": ["b"]}}, base)({"a": 1})
    items = {"items": [{"type": "string"}], "additionalItems": False}
    assert check(items, base)(["x"]) and not check(items, base)(["x", "y"])


# --- cost -------------------------------------------------------------------

_IMPORT_PROBE = """
import sys
sys.path[:0] = [{repo!r}]
import json
import pyoci.config.validate as v
v.validate_config(json.load(open({config!r})))
v.validate_state({state!r})
bad = [m for m in sys.modules
       if m.split(".")[0] in ("jsonschema", "referencing", "pathlib", "dataclasses",
                              "typing", "inspect")]
print(json.dumps(bad))
"""


def test_success_path_imports_nothing_heavy() -> None:
    """The success path must not import jsonschema, referencing, pathlib, typing...

    -I -S is how bin/pyoci starts Python, so this is the production import graph.
    """
    code = _IMPORT_PROBE.format(
        repo=str(REPO), config=str(REPO / "bundles/busybox/config.json"), state=STATE
    )
    env = {k: v for k, v in os.environ.items() if k != "PYOCI_SCHEMAS"}
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(out.stdout) == []


def test_schemas_dir_matches_validate() -> None:
    """fastcheck reads the same files as jsonschema's registry does."""
    assert Path(_schemas_dir()).resolve() == SCHEMAS.resolve()


def test_integral_float_rejected_under_linux_too() -> None:
    """jsonschema used to lose the strict integer check behind "$ref": "config-linux.json"."""
    from pyoci.config.validate import validate_config

    doc = {"ociVersion": "1.3.0", "linux": {"uidMappings": [{"containerID": 1.0}]}}
    doc["linux"]["uidMappings"][0].update(hostID=1, size=1)
    assert not _reference("config", doc)
    with pytest.raises(ConfigError, match=r"uidMappings\[0\]\.containerID: expected integer"):
        validate_config(doc)


# --- patterns without re ----------------------------------------------------

_PATTERN_ALPHABET = "0123456789.-+ ,:_\nABCGKMPRILTZabrwmz\u00e9\u0663"


def _schema_patterns() -> set[str]:
    """Every ``pattern`` and ``patternProperties`` key in our schema files."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found.add(value)
                elif key == "patternProperties" and isinstance(value, dict):
                    found.update(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in SCHEMAS.glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def test_every_schema_regex_has_a_fast_equivalent() -> None:
    """A new regex in the schemas would bring re (~4 ms) back onto the create path."""
    regexes = {p for p in _schema_patterns() if fastcheck._REGEX_META.intersection(p)}
    assert regexes <= set(fastcheck.FAST_PATTERNS)


@pytest.mark.parametrize("pattern", sorted(fastcheck.FAST_PATTERNS))
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fast_pattern_is_re_search(pattern: str, data: st.DataObject) -> None:
    """Each hand-written matcher gives re.search's verdict: on matching strings,
    on those with one character changed, inserted or removed, and on any text."""
    import re

    fast = fastcheck.FAST_PATTERNS[pattern]
    text = data.draw(st.one_of(st.from_regex(pattern), st.text(_PATTERN_ALPHABET, max_size=12)))
    variants = [text, text + "\n", text + "\n\n", "\n" + text, " " + text]
    if text:
        i = data.draw(st.integers(0, len(text) - 1))
        c = data.draw(st.sampled_from(_PATTERN_ALPHABET))
        variants += [text[:i] + c + text[i + 1:], text[:i] + c + text[i:], text[:i] + text[i + 1:]]
    for value in variants:
        assert fast(value) == (re.search(pattern, value) is not None), repr(value)


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("^RLIMIT_[A-Z]+$", "RLIMIT_NOFILE\n", True),
    ("^RLIMIT_[A-Z]+$", "RLIMIT_", False),
    ("^[rwm]*$", "\n", True),
    ("^[1-9][0-9]*[KMG]B$", "02MB", False),
    ("^[1-9][0-9]*[KMG]B$", "2\u0663MB", False),
])
def test_fast_pattern_edges(pattern: str, value: str, expected: bool) -> None:
    assert fastcheck.FAST_PATTERNS[pattern](value) is expected


@pytest.mark.parametrize("value", ["1.0.0", "1.3.0-rc.1+build.5", "01.0.0", "1.0", "1.0.0-",
                                   "1.0.0-01", "1.0.0-0a", "1.0.0+", "1.0.0+a..b", "1.0.0-a-b"])
def test_fast_semver_examples(value: str) -> None:
    import re

    pattern = next(p for p in fastcheck.FAST_PATTERNS if p.startswith("^(0|"))
    assert fastcheck.FAST_PATTERNS[pattern](value) == (re.search(pattern, value) is not None)

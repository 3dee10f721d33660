"""Bad input, property-based (issue 8.4): mutated configs, bad ids, bad arguments.

Each example runs the real binary as root with a private --root. A config
mutant takes the demo config and applies one mutation at a random JSON path
(wrong type, out-of-range number, huge string, deep nesting, unknown field)
or to its bytes (invalid UTF-8, truncation). The official schema is the
oracle: a mutant it still accepts may be created (and is then deleted); any
other must fail with exactly one line on stderr that names the field (or
says the JSON is malformed and where), no traceback, and nothing left.
The counts of examples run are printed (``-s`` shows them).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import (
    PYOCI,
    SPEC_DIR,
    Bundle,
    Pyoci,
    assert_nothing_left,
    base_config,
    needs_root,
    official_validator,
    reap_children,
)
from tests.jsontree import nodes

pytestmark = [pytest.mark.root, needs_root]

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
COUNTS: dict[str, int] = {}
Path_ = tuple[str | int, ...]


def count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    print(f"\nhypothesis examples run: {COUNTS}")


def walk(node: Any) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) below ``node``."""
    return ((path, value) for path, value in nodes(node) if path)


def dotted(path: Path_) -> str:
    """The way pyoci names a field: process.user.uid, linux.namespaces[0].type."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def put(doc: dict, path: Path_, value: Any) -> dict:
    doc = copy.deepcopy(doc)
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


BASE = base_config()
PATHS = [p for p, _ in walk(BASE) if p[0] != "root"]
INT_PATHS = [p for p, v in walk(BASE) if type(v) is int]
STR_PATHS = [p for p, v in walk(BASE) if isinstance(v, str) and p[0] != "root"]
OBJ_PATHS = [()] + [p for p, v in walk(BASE) if isinstance(v, dict)]
MARK = "pyoci-utf8-mark"

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def _kind(value: Any) -> str:
    return "number" if type(value) in (int, float) else type(value).__name__


def wrong_type(draw: st.DrawFn) -> tuple[str, Path_, Any]:
    path = draw(st.sampled_from(PATHS))
    old = _value(path)
    new = draw(json_values.filter(lambda v: _kind(v) != _kind(old)))
    return "wrong-type", path, new


def out_of_range(draw: st.DrawFn) -> tuple[str, Path_, Any]:
    path = draw(st.sampled_from(INT_PATHS))
    new = draw(st.one_of(st.integers(max_value=-1), st.integers(2**64, 2**80),
                         st.floats(0.5, 1e30).filter(lambda f: f != int(f))))
    return "out-of-range", path, new


def huge_string(draw: st.DrawFn) -> tuple[str, Path_, Any]:
    path = draw(st.sampled_from(STR_PATHS))
    size = draw(st.integers(64 << 10, 1 << 20))
    return "huge-string", path, draw(st.sampled_from("x/é\\\"")) * size


def deep_nesting(draw: st.DrawFn) -> tuple[str, Path_, Any]:
    path = draw(st.sampled_from(PATHS))
    depth = draw(st.integers(2, 20000))
    return "deep-nesting", path, ("[" * depth, "]" * depth)


def unknown_field(draw: st.DrawFn) -> tuple[str, Path_, Any]:
    path = draw(st.sampled_from(OBJ_PATHS))
    name = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in _value(path)))
    return "unknown-field", path + (name,), draw(json_values)


def invalid_utf8(draw: st.DrawFn) -> tuple[str, Path_, Any]:
    path = draw(st.sampled_from(STR_PATHS))
    bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\x80abc"]))
    return "invalid-utf8", path, bad


def truncated(draw: st.DrawFn) -> tuple[str, Path_, Any]:
    return "truncated", (), draw(st.floats(0, 1, exclude_max=True))


def _value(path: Path_) -> Any:
    node: Any = BASE
    for part in path:
        node = node[part]
    return node


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, Path_, bytes, dict | None]:
    """(kind, path, config bytes, the document when it is JSON at all)."""
    maker = draw(st.sampled_from([wrong_type, out_of_range, huge_string, deep_nesting,
                                  unknown_field, invalid_utf8, truncated]))
    kind, path, value = maker(draw)
    if kind == "deep-nesting":
        text = json.dumps(put(BASE, path, MARK))
        opening, closing = value
        raw = text.replace(json.dumps(MARK), opening + closing).encode()
        try:
            return kind, path, raw, json.loads(raw)
        except RecursionError:
            return kind, path, raw, None
    if kind == "invalid-utf8":
        raw = json.dumps(put(BASE, path, MARK)).encode()
        return kind, path, raw.replace(MARK.encode(), b"a" + value + b"z"), None
    if kind == "truncated":
        raw = json.dumps(BASE, indent=1).encode()
        return kind, path, raw[:int(value * len(raw))], None
    doc = put(BASE, path, value)
    return kind, path, json.dumps(doc).encode(), doc


@functools.cache
def _oracle():  # noqa: ANN202
    return official_validator(SPEC_DIR, "config-schema.json")


@pytest.fixture(scope="module")
def schema() -> None:
    if not (SPEC_DIR / "schema").is_dir():
        pytest.skip("the runtime-spec schemas are needed as the oracle")


def schema_valid(doc: dict | None) -> bool:
    """The official schema's verdict (the oracle); not JSON at all is invalid."""
    if doc is None:
        return False
    try:
        return _oracle().is_valid(doc)
    except RecursionError:
        return False


def run(pyoci: Pyoci, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """pyoci with stderr in a file: a created container keeps create's stdio."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), *args], cwd=cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=err, timeout=60)
        err.seek(0)
        proc.stderr = err.read()
    return proc


def one_line(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err[:2000]!r}"
    assert len(lines[0]) < 4096, f"message too long: {lines[0][:200]}..."
    return lines[0]


MALFORMED = re.compile(r"invalid (JSON|UTF-8).*(line \d+ column \d+|byte \d+|depth)")


def names_field(message: str, path: Path_) -> bool:
    """The message names the mutated field or one of its parents (an object
    whose member is wrong), never just "invalid config"."""
    prefixes = [dotted(path[:n]) for n in range(len(path), 0, -1)]
    return any(p and p in message for p in prefixes)


@SETTINGS
@given(mutant=mutants())
def test_mutated_config_fails_with_one_line(pyoci: Pyoci, bundle: Bundle, schema: None,
                                             mutant: tuple) -> None:
    kind, path, raw, doc = mutant
    count(f"config:{kind}")
    raw = raw.replace(json.dumps(str(BASE["root"]["path"])).encode(),
                      json.dumps(str(bundle.rootfs)).encode())
    (bundle.path / "config.json").write_bytes(raw)
    cid = f"pyoci-bad-{uuid4().hex[:8]}"
    proc = run(pyoci, "create", "--bundle", str(bundle.path), cid)
    if proc.returncode == 0:
        assert schema_valid(doc), f"{kind} at {dotted(path)} was accepted"
        pyoci("delete", "--force", cid)
    else:
        message = one_line(proc)
        if doc is None or (kind == "deep-nesting" and MALFORMED.search(message)):
            # (how deep a parse may go differs between this process and pyoci's)
            assert MALFORMED.search(message), message
        elif not schema_valid(doc):
            assert names_field(message, path), f"{kind} at {dotted(path)}: {message}"
    reap_children()
    assert_nothing_left(pyoci, cid)


# -- ids -----------------------------------------------------------------------------

BAD_IDS = ["..", ".", "a/b", "", "x" * 1024, "é", "../x", "/abs", "a b", "a\nb", "ü" * 300,
           "-", "--", "a:b"]
ID_COMMANDS = ["state", "start", "delete", "pause", "resume", "ps", "events", "update",
               "kill"]


@SETTINGS
@given(cid=st.one_of(st.sampled_from(BAD_IDS),
                     st.text(min_size=0, max_size=1100).filter(lambda s: "\0" not in s)))
def test_bad_ids_fail_cleanly(pyoci: Pyoci, bundle: Bundle, cid: str) -> None:
    count("ids")
    valid = re.fullmatch(r"[\w+.-]+", cid, re.ASCII) and cid not in (".", "..") \
        and len(cid) <= 1024
    proc = run(pyoci, "create", "--bundle", str(bundle.path), "--", cid)
    if proc.returncode == 0:
        assert valid, f"id {cid!r} was accepted"
        pyoci("delete", "--force", "--", cid)
    else:
        one_line(proc)
    for command in ID_COMMANDS:
        one_line(run(pyoci, command, "--", cid))
    reap_children()
    if len(cid.strip(". /-")) >= 4 and len(cid.encode()) < 256:  # specific enough to grep
        assert_nothing_left(pyoci, cid)
    assert pyoci.ids() == []


# -- every command's arguments ---------------------------------------------------------

def _commands() -> dict[str, list[str]]:
    from pyoci.cli import _GLOBAL_FLAGS, _GLOBAL_VALUES, COMMANDS

    table = {name: [*cmd.values, *cmd.flags] for name, cmd in COMMANDS.items()}
    table[""] = [*_GLOBAL_VALUES, *_GLOBAL_FLAGS]
    return table


COMMAND_FLAGS = _commands()
JUNK = ["--nope", "-x", "--", "-", "=", "--bundle=", "nope-id", "-1", "1e9", "abc", "é",
        "x" * 5000, "--format=xml", "SIGNOPE", "99999999999999999999", "--root", ""]


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMAND_FLAGS)))
    pool = COMMAND_FLAGS[name] + JUNK
    args = draw(st.lists(st.one_of(st.sampled_from(pool),
                                   st.text(max_size=12).filter(lambda s: "\0" not in s)),
                         max_size=6))
    return [name, *args] if name else args


@SETTINGS
@given(argv=command_lines())
def test_command_arguments_fail_cleanly(pyoci: Pyoci, tmp_path: Path, argv: list[str]) -> None:
    """Random flags, values and positionals for every command: a clean success
    or one line and a non-zero exit, never a traceback, a signal or a hang."""
    count("arguments")
    proc = run(pyoci, *argv, cwd=tmp_path)
    assert proc.returncode >= 0, f"{argv}: killed by signal {-proc.returncode}"
    if proc.returncode != 0 and set(argv) & set(COMMAND_FLAGS) - {""}:
        # (with no command at all pyoci prints its usage, on stdout)
        one_line(proc)
    else:
        assert b"Traceback" not in proc.stderr
    for cid in pyoci.ids():
        pyoci("delete", "--force", "--", cid, check=False)
    reap_children()


FIXED_CASES = [
    ["create"], ["create", "a", "b"], ["create", "--bundle"], ["create", "--nope", "x"],
    ["create", "--preserve-fds", "x", "x"], ["create", "--preserve-fds=-1", "x"],
    ["run"], ["run", "--detach=maybe", "x"], ["start"], ["start", "a", "b"], ["state"],
    ["kill"], ["kill", "x", "SIGNOPE"], ["kill", "x", "99999"], ["kill", "a", "b", "c"],
    ["delete"], ["delete", "--force=maybe", "x"], ["list", "x"], ["list", "--format", "xml"],
    ["list", "--format"], ["spec", "x"], ["spec", "--bundle"], ["features", "x"],
    ["pause"], ["resume"], ["ps"], ["ps", "x", "--format", "xml"], ["exec"], ["exec", "x"],
    ["exec", "--preserve-fds", "x", "x", "true"], ["exec", "--user", "abc", "x", "true"],
    ["exec", "--process"], ["update"], ["update", "--memory", "abc", "x"],
    ["events"], ["events", "--interval", "xyz", "x"], ["nope"], ["--log-format", "xml", "list"],
    ["--root"], ["--nope", "list"],
]


@pytest.mark.parametrize("argv", FIXED_CASES, ids=[" ".join(a) or "none" for a in FIXED_CASES])
def test_known_bad_arguments(pyoci: Pyoci, tmp_path: Path, argv: list[str]) -> None:
    proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), *argv], cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert proc.returncode != 0, f"{argv} succeeded"
    one_line(proc)
    assert proc.stdout == b""

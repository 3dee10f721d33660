"""pyoci.jsonio must read and write exactly what the json module does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyoci import jsonio

REPO = str(Path(__file__).resolve().parents[2])


def run_bare(code: str) -> subprocess.CompletedProcess:
    """Run code in an interpreter started as pyoci's launcher starts it (-I -S)."""
    return subprocess.run([sys.executable, "-I", "-S", "-c",
                           f"import sys; sys.path.insert(0, {REPO!r})\n{code}"],
                          capture_output=True, text=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values)
def test_round_trip_matches_json(value: object) -> None:
    assert jsonio.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert jsonio.dumps_indented(value) == json.dumps(value, indent=2)
    text = json.dumps(value, indent=1)
    assert jsonio.loads(text) == json.loads(text)
    assert jsonio.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("bad", ['{"a":1,}', '{"a":1} x', "[1, 2", '"\\q"', "", "  ", "{'a': 1}",
                                 '"\x01"'])
def test_malformed_documents_raise_jsons_error(bad: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        jsonio.loads(bad)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(bad)
    assert (ours.value.msg, ours.value.pos) == (theirs.value.msg, theirs.value.pos)


def test_parse_constant_can_reject_nan() -> None:
    def reject(name: str) -> None:
        raise ValueError(f"invalid constant {name}")

    with pytest.raises(ValueError, match="invalid constant NaN"):
        jsonio.loads('{"a": NaN}', parse_constant=reject)
    assert jsonio.loads("[Infinity]") == [float("inf")]


def test_malformed_input_without_json_imported_gives_decode_error() -> None:
    """In a bare -I -S interpreter _json alone cannot raise its error: we fall back."""
    out = run_bare("from pyoci import jsonio\n"
                   "try:\n    jsonio.loads('{\"a\":1,}')\n"
                   "except ValueError as e:\n    print(type(e).__name__, e.lineno, e.colno)\n")
    assert out.stdout.strip() == "JSONDecodeError 1 8", out.stderr


def test_importing_jsonio_does_not_import_json() -> None:
    out = run_bare("import pyoci.jsonio; print('json' in sys.modules, 're' in sys.modules)")
    assert out.stdout.strip() == "False False", out.stderr

"""JSON in and out without importing :mod:`json` on the hot path.

``import json`` pulls in ``re``, ``enum``, ``functools`` and ``collections``:
about 8 ms on these machines, more than the rest of a ``pyoci state``. The
parsing and compact encoding themselves live in the C module ``_json``, which
costs nothing to import, so this module drives it directly, and formats the
indented output of ``state``/``list`` itself. Error paths (a malformed
document) hand over to :mod:`json` for its precise message; the behaviour is
the same as ``json.loads``/``json.dumps``, which the tests check.
"""

from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"


class _ScanContext:
    """The attributes ``_json.make_scanner`` reads from a json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    memo: dict = {}

    def __init__(self, parse_constant) -> None:  # noqa: ANN001
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = parse_constant


def _constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


_SCANNER = _json.make_scanner(_ScanContext(_constant))


def loads(text: str | bytes, *, parse_constant=None) -> object:  # noqa: ANN001
    """Like ``json.loads``; ``parse_constant`` may reject NaN/Infinity as Go does."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    scanner = _SCANNER if parse_constant is None else \
        _json.make_scanner(_ScanContext(parse_constant))
    start = _skip_ws(text, 0)
    try:
        value, end = scanner(text, start)
    except (StopIteration, SystemError):
        # _json reports errors through json.decoder.JSONDecodeError, which it
        # cannot reach unless json is imported (SystemError): json says it better.
        return _slow_loads(text, parse_constant)
    if _skip_ws(text, end) != len(text):
        return _slow_loads(text, parse_constant)
    return value


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WHITESPACE:
        i += 1
    return i


def _slow_loads(text: str, parse_constant) -> object:  # noqa: ANN001
    """Let json raise its JSONDecodeError (a ValueError) with line and column."""
    import json

    kwargs = {"parse_constant": parse_constant} if parse_constant else {}
    return json.loads(text, **kwargs)


_ENCODE_STR = _json.encode_basestring_ascii
_COMPACT = _json.make_encoder(None, None, _ENCODE_STR, None, ":", ",", False, False, True)


def dumps(value: object) -> str:
    """Compact JSON, as ``json.dumps(value, separators=(",", ":"))`` writes it."""
    return "".join(_COMPACT(value, 0))


def dumps_indented(value: object, indent: str = "  ", level: int = 0) -> str:
    """``json.dumps(value, indent=2)``: the human-facing output of state and list."""
    pad = indent * (level + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{_ENCODE_STR(str(k))}: {dumps_indented(v, indent, level + 1)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent * level + "}"
    if isinstance(value, (list, tuple)) and value:
        items = [pad + dumps_indented(v, indent, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent * level + "]"
    return dumps(value)

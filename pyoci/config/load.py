"""Reading config.json (and other JSON documents) with one-line errors.

Only ``json`` is imported here: schema validation pulls in jsonschema lazily,
inside :mod:`pyoci.config.validate`.
"""

from __future__ import annotations

import os

from pyoci import jsonio
from pyoci.config.semantic import check_config
from pyoci.config.validate import validate_config
from pyoci.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at start-up; only the checker needs it
    from typing import Any

CONFIG_NAME = "config.json"


def load_config(bundle: str) -> dict[str, Any]:
    """Read, parse, schema-validate and sanity-check ``<bundle>/config.json``."""
    raw = _read_config(bundle)
    doc = parse_json_document(raw, CONFIG_NAME)
    try:
        validate_config(doc, CONFIG_NAME)
        check_config(doc)
    except RecursionError:  # json parses deeper than the recursive checks can walk
        raise ConfigError(f"{CONFIG_NAME}: invalid JSON: nesting too deep "
                          "(maximum recursion depth)") from None
    return doc


def _read_config(bundle: str) -> bytes:
    """The raw bytes of config.json, or a ConfigError saying what is wrong."""
    if not os.path.isdir(bundle):
        what = "is not a directory" if os.path.exists(bundle) else "does not exist"
        raise ConfigError(f'bundle "{bundle}" {what}')
    path = os.path.join(bundle, CONFIG_NAME)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ConfigError(f'{CONFIG_NAME}: not found in bundle "{bundle}"') from None
    except IsADirectoryError:
        raise ConfigError(f'{CONFIG_NAME}: is a directory in bundle "{bundle}"') from None
    except OSError as exc:
        raise ConfigError(f"{CONFIG_NAME}: cannot read {path}: {exc.strerror}") from None


def _reject_constant(name: str) -> None:
    """JSON has no NaN/Infinity; Python's json would accept them, Go's would not."""
    raise ValueError(f"invalid constant {name}")


def parse_json_document(raw: bytes, source: str) -> dict[str, Any]:
    """Decode strict UTF-8 JSON whose top level must be an object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: invalid UTF-8 at byte {exc.start}") from None
    try:
        doc = jsonio.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        if hasattr(exc, "lineno"):  # json.JSONDecodeError, raised on the slow path
            raise ConfigError(f"{source}: invalid JSON at line {exc.lineno} "
                              f"column {exc.colno}: {exc.msg}") from None
        raise ConfigError(f"{source}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: top level must be a JSON object, got {_kind(doc)}")
    return doc


def _kind(value: object) -> str:
    """JSON type name for the top-level error."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"

"""Schema validation of config.json, state and features documents.

Validation is split in two steps on purpose: :func:`is_valid` answers "is the
document valid?" (the hot path, taken by every ``create``/``run``) and
:func:`explain` builds the one-line message only when it is not. A faster
generated validator (e.g. fastjsonschema) can later replace the first step
without touching the error messages. :func:`is_valid` is answered by
:mod:`pyoci.config.fastcheck`, a small interpreter of our schema files.

jsonschema costs ~70-120 ms to import, so it is imported only on the failure
path (to explain an invalid document), never at module level. There the
schemas in ``schemas/`` are loaded into a ``referencing`` registry: their
``$id``s live under an ``.invalid`` host and nothing is ever fetched from the
network. The success path imports no typing, pathlib or jsonschema: every
millisecond of import shows in each ``create``/``run``.
"""

from __future__ import annotations

import os

from pyoci.config import fastcheck
from pyoci.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing and pathlib cost import time
    from pathlib import Path
    from typing import Any



def _cache(fn):  # noqa: ANN001, ANN202 - a decorator; types would need typing
    """functools.cache for the error path: functools costs ~2 ms of every start-up,
    and json and re are imported here only where a message is built."""
    results: dict[tuple, object] = {}

    def cached(*args: object) -> object:
        if args not in results:
            results[args] = fn(*args)
        return results[args]

    return cached


# Document kind -> root schema file name.
SCHEMA_FILES: dict[str, str] = {
    "config": "config-schema.json",
    "state": "state-schema.json",
    "features": "features-schema.json",
}

_MAX_SHOWN = 40


def schemas_dir() -> Path:
    """Where the schema files are: ``$PYOCI_SCHEMAS`` or ``<repo>/schemas``."""
    from pathlib import Path

    return Path(_schemas_dir())


def _schemas_dir() -> str:
    """:func:`schemas_dir` as a string, without importing pathlib (the hot path)."""
    override = os.environ.get("PYOCI_SCHEMAS")
    if override:
        return override
    package = os.path.dirname(os.path.realpath(__file__))
    return os.path.join(os.path.dirname(os.path.dirname(package)), "schemas")


def schema_path(name: str) -> Path:
    """Path of one schema file, e.g. ``schema_path("config-schema.json")``."""
    return schemas_dir() / name


def validate_config(doc: object, source: str = "config.json") -> None:
    """Raise ConfigError naming the faulty field if ``doc`` breaks the config schema."""
    _validate("config", doc, source)


def validate_state(doc: object, source: str = "state.json") -> None:
    """Raise ConfigError naming the faulty field if ``doc`` breaks the state schema."""
    _validate("state", doc, source)


def validate_features(doc: object, source: str = "features") -> None:
    """Raise ConfigError naming the faulty field if ``doc`` breaks the features schema."""
    _validate("features", doc, source)


def _validate(kind: str, doc: object, source: str) -> None:
    """Cheap yes/no first; build the message only on failure.

    jsonschema is the reference: should fastcheck ever reject a document
    jsonschema accepts (a bug the equivalence tests exist to catch), the
    document is accepted rather than refused with no message to show.
    """
    if is_valid(kind, doc):
        return
    error = _best_error(kind, doc)
    if error is not None:
        raise ConfigError(_one_line(error, source))


def is_valid(kind: str, doc: object) -> bool:
    """The success-path check, by fastcheck: no jsonschema import."""
    try:  # subschemas compile on first use, so a schema error can come from either call
        return fastcheck.checker(_schemas_dir(), SCHEMA_FILES[kind])(doc)
    except fastcheck.SchemaError as exc:
        raise ConfigError(f"schema: {exc}") from exc


def explain(kind: str, doc: object, source: str) -> str:
    """One line ``"<source>: <path>: <message>"`` for the most relevant error."""
    error = _best_error(kind, doc)
    if error is None:
        return f"{source}: valid"
    return _one_line(error, source)


def _best_error(kind: str, doc: object) -> Any:
    """jsonschema's most relevant error for ``doc``, or None if it is valid."""
    from jsonschema.exceptions import best_match

    return best_match(_validator(kind).iter_errors(doc), key=_relevance)


def _one_line(error: Any, source: str) -> str:
    """Render one jsonschema error as ``"<source>: <path>: <message>"``."""
    parts = list(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path:
        parts.append(error.instance)  # the offending key itself
    path = format_path(parts)
    message = describe(error)
    return f"{source}: {path}: {message}" if path else f"{source}: {message}"


def _relevance(error: Any) -> tuple[int, bool]:
    """Prefer the deepest error: that is where the user's mistake is.

    "process.user.uid: expected uint32" helps more than a summary at an
    ancestor; among equals, a concrete keyword beats anyOf/oneOf.
    """
    return (len(error.absolute_path), error.validator not in ("anyOf", "oneOf"))


def format_path(parts: Any) -> str:
    """Render a JSON path as ``linux.namespaces[1].type`` (odd keys quoted)."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_ident(part):
            out += f".{part}" if out else part
        else:
            import json  # only for an odd key: json and re cost start-up time

            out += f"[{json.dumps(part)}]"
    return out


def _is_ident(part: str) -> bool:
    """``re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", part)`` without re: for ASCII text
    str.isidentifier is exactly that pattern, and "$" also matches before a final
    newline."""
    body = part[:-1] if part.endswith("\n") else part
    return body.isascii() and body.isidentifier()


def _shown(value: object) -> str:
    """A short JSON rendering of a user value for messages."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _type_name(value: object) -> str:
    """JSON type of a Python value, for "expected X, got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def describe(error: Any) -> str:
    """Turn one jsonschema error into a short human message."""
    handler = _DESCRIBERS.get(error.validator)
    if handler is not None:
        return str(handler(error))
    return str(error.message).replace("\n", " ")


def _describe_type(error: Any) -> str:
    expected = error.validator_value
    if isinstance(expected, list):
        expected = " or ".join(expected)
    instance = error.instance
    if isinstance(instance, (dict, list)):
        return f"expected {expected}, got {_type_name(instance)}"
    return f"expected {expected}, got {_shown(instance)}"


def _describe_required(error: Any) -> str:
    instance = error.instance if isinstance(error.instance, dict) else {}
    missing = [k for k in error.validator_value if k not in instance]
    name = missing[0] if missing else error.validator_value[0]
    return f'missing required field "{name}"'


def _describe_enum(error: Any) -> str:
    choices = ", ".join(sorted(str(c) for c in error.validator_value))
    return f"{_shown(error.instance)} is not one of {choices}"


def _describe_range(error: Any) -> str:
    schema = error.schema
    title = schema.get("title")
    low, high = schema.get("minimum"), schema.get("maximum")
    if title and low is not None and high is not None:
        return f"expected {title} ({low} to {high}), got {_shown(error.instance)}"
    if error.validator == "minimum":
        return f"must be at least {low}, got {_shown(error.instance)}"
    return f"must be at most {high}, got {_shown(error.instance)}"


def _describe_pattern(error: Any) -> str:
    title = error.schema.get("title")
    wanted = title or f"a string matching {error.validator_value}"
    return f"{_shown(error.instance)} is not {wanted}"


def _describe_not(error: Any) -> str:
    if isinstance(error.instance, str) and "\n" in error.instance:
        return "must not contain a newline"
    return f"{_shown(error.instance)} is not allowed here"


def _describe_min_items(error: Any) -> str:
    return f"must have at least {error.validator_value} item(s)"


def _describe_min_length(error: Any) -> str:
    if "propertyNames" in error.absolute_schema_path:
        return "keys must not be empty strings"
    return "must not be empty"


_DESCRIBERS = {
    "type": _describe_type,
    "required": _describe_required,
    "enum": _describe_enum,
    "minimum": _describe_range,
    "maximum": _describe_range,
    "pattern": _describe_pattern,
    "not": _describe_not,
    "minItems": _describe_min_items,
    "minLength": _describe_min_length,
}


@_cache
def _validator(kind: str) -> Any:
    """A compiled draft-07 validator for one document kind, built once per process."""
    from jsonschema import Draft7Validator, validators

    registry = _registry()
    root = _load_schema(SCHEMA_FILES[kind])
    strict = validators.extend(Draft7Validator, type_checker=_strict_type_checker())
    return strict(root, registry=registry)


def _strict_type_checker() -> Any:
    """Draft-07 calls 1.0 an integer; Go (runc) and our os.* calls do not."""
    from jsonschema import Draft7Validator

    def is_integer(_checker: Any, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    return Draft7Validator.TYPE_CHECKER.redefine("integer", is_integer)


def _load_schema(name: str) -> dict[str, Any]:
    """Read one schema file; a missing or broken file is an installation error."""
    path = schema_path(name)
    try:
        import json

        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"schema {path}: cannot load: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"schema {path}: not a JSON object")
    # jsonschema picks the validator class of every subschema carrying a
    # "$schema" (validator_for in evolve): following "$ref": "config-linux.json"
    # would switch to the stock Draft7Validator and accept 1.0 as an integer
    # under linux. Without the keyword the strict class is kept everywhere;
    # the registry is told the files are draft-07.
    loaded.pop("$schema", None)
    return loaded


@_cache
def _registry() -> Any:
    """All our schema files, by ``$id``: references resolve offline."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    resources = []
    for path in sorted(schemas_dir().glob("*.json")):
        contents = _load_schema(path.name)
        resources.append(Resource.from_contents(contents, default_specification=DRAFT7))
    return Registry().with_resources((r.id(), r) for r in resources if r.id())

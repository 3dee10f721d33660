"""A small, dependency-free yes/no validator for pyoci's own draft-07 schemas.

jsonschema costs ~70 ms to import, more than runc's whole ``run``; every
``create``/``run`` validates config.json, so the success path must not pay
for it. This module interprets the files in ``schemas/`` directly: each
subschema is compiled once per process into a closure that answers
"valid?". Only that answer is given: on a failure :mod:`pyoci.config.validate`
asks jsonschema for the precise message, so the two must agree on every
document (tests/unit/test_fastcheck.py checks this on thousands of mutants).

Only the keywords listed in ``_COMPILERS`` (and the annotations in
``_IGNORED``) are understood. Any other keyword makes compilation raise
:class:`SchemaError`, so a schema change can never silently weaken
validation. Subschemas are compiled on first use (a process validates one
document, which reaches a fraction of the schema), so the error comes before
the node gives any verdict; :func:`check_all`, run by the unit tests,
compiles every node of every file up front.

Semantics follow jsonschema's ``Draft7Validator`` with pyoci's choices: a
float such as ``1.0`` is not an integer, booleans are neither numbers nor
integers, ``pattern`` is ``re.search``, and keywords beside a ``$ref`` are
ignored (draft-07 rule).

Only ``os`` and pyoci's ``jsonio`` are imported: no typing, pathlib or
dataclasses, whose import time would show on every run. Not even ``re``
(~4 ms with enum and functools): the patterns of our schemas are checked by
the exact equivalents in :data:`FAST_PATTERNS` (tests/unit/test_fastcheck.py
compares them with ``re.search``); any other pattern imports ``re`` on first use.
"""

from __future__ import annotations

import os

from pyoci import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only; importing typing costs time at run time
    from collections.abc import Callable

    Check = Callable[[object], bool]


class SchemaError(Exception):
    """A schema uses something this validator does not implement, or is broken."""


# Keywords that never affect validity.
_IGNORED = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "definitions", "default", "examples"}
)
# Characters that make a pattern more than a literal substring search.
_REGEX_META = frozenset(".^$*+?{}[]\\|()")


class _Schemas:
    """The schema files of one directory, by ``$id``, and their compiled checks.

    Files are read on first use of a reference into them (validating a
    config needs four of the seven files), and each (file, JSON pointer)
    is compiled once.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.by_id: dict[str, dict] = {}
        self.compiled: dict[str, Check] = {}
        self.refs: dict[tuple[str, str], Check] = {}
        self.roots: dict[str, Check] = {}
        self.scanned = False
        self.eager = False  # compile subschemas at once (check_all) instead of on use

    def root(self, name: str) -> Check:
        """The compiled check of one root schema file, e.g. ``config-schema.json``."""
        done = self.roots.get(name)
        if done is None:
            doc = self.load_file(name)
            done = self.roots[name] = self.ref(doc["$id"], "")
        return done

    def load_file(self, name: str) -> dict:
        """Read one schema file and register it under its ``$id``."""
        path = os.path.join(self.directory, name)
        try:
            with open(path, "rb") as handle:
                doc = jsonio.loads(handle.read())
        except (OSError, ValueError) as exc:
            raise SchemaError(f"schema {path}: cannot load: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("$id"), str):
            raise SchemaError(f"schema {path}: not a JSON object with an $id")
        self.by_id.setdefault(doc["$id"], doc)
        return doc

    def document(self, uri: str) -> dict:
        """The schema file whose ``$id`` is ``uri``: guess its name, else scan all files."""
        found = self.by_id.get(uri)
        if found is None:
            guess = uri.rsplit("/", 1)[-1]
            if os.path.isfile(os.path.join(self.directory, guess)):
                self.load_file(guess)
            found = self.by_id.get(uri)
        if found is None and not self.scanned:
            self.scanned = True
            for name in sorted(os.listdir(self.directory)):
                if name.endswith(".json"):
                    self.load_file(name)
            found = self.by_id.get(uri)
        if found is None:
            raise SchemaError(f"$ref to unknown schema {uri}")
        return found

    def ref(self, uri: str, pointer: str) -> Check:
        """The check for ``uri#pointer``, compiled once; cycles go through a forwarder."""
        key = f"{uri}#{pointer}"
        done = self.compiled.get(key)
        if done is not None:
            return done
        box: list[Check] = []
        self.compiled[key] = lambda value: box[0](value)
        check = self.compile(_pointer(self.document(uri), pointer, key), uri)
        box.append(check)
        self.compiled[key] = check
        return check

    def compile(self, schema: object, base: str) -> Check:
        """Compile one subschema found in the file whose ``$id`` is ``base``."""
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise SchemaError(f"{base}: a schema must be an object or a boolean: {schema!r}")
        if schema.get("$id", base) != base:
            raise SchemaError(f"{base}: nested $id {schema['$id']!r} is not supported")
        if "$ref" in schema:  # draft-07: keywords beside $ref are ignored
            return self.compile_ref(schema["$ref"], base)
        checks = []
        for keyword, value in schema.items():
            if keyword in _IGNORED or keyword in _PASSIVE:
                continue
            compiler = _COMPILERS.get(keyword)
            if compiler is None:
                raise SchemaError(f"{base}: unsupported keyword {keyword!r}")
            checks.append(compiler(self, value, schema, base))
        return _all_of(checks)

    def lazy(self, schema: object, base: str) -> Check:
        """A subschema compiled on its first use.

        A process validates one document, which reaches a fraction of the
        schema (no seccomp, no resources...): compiling the rest would cost
        more than the validation itself. An unsupported keyword still raises
        before the node it is in gives any verdict (and check_all, run by the
        tests, compiles everything).
        """
        if schema is True:
            return _always
        if schema is False:
            return _never
        if self.eager:
            return self.compile(schema, base)
        box: list[Check] = []

        def check(value: object) -> bool:
            if not box:
                box.append(self.compile(schema, base))
            return box[0](value)

        return check

    def compile_ref(self, ref: object, base: str) -> Check:
        """Resolve a ``$ref`` relative to ``base`` (same file, sibling file, absolute)."""
        if not isinstance(ref, str):
            raise SchemaError(f"{base}: $ref must be a string")
        done = self.refs.get((base, ref))
        if done is None:
            done = self.refs[(base, ref)] = self.resolve_ref(ref, base)
        return done

    def resolve_ref(self, ref: str, base: str) -> Check:
        """The uncached work of :meth:`compile_ref`."""
        where, _, pointer = ref.partition("#")
        if not where:
            uri = base
        elif "://" in where:
            uri = where
        else:
            uri = base.rsplit("/", 1)[0] + "/" + where.removeprefix("./")
        return self.ref(uri, pointer)


def _pointer(doc: object, pointer: str, where: str) -> object:
    """Follow a JSON pointer (``/definitions/x``) inside a loaded schema file."""
    if not pointer:
        return doc
    if not pointer.startswith("/") or "%" in pointer:
        raise SchemaError(f"unsupported $ref fragment in {where}")
    node = doc
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaError(f"unresolvable $ref {where}")
    return node


def _always(_value: object) -> bool:
    return True


def _never(_value: object) -> bool:
    return False


def _all_of(checks: list[Check]) -> Check:
    """One check from several; the common one-check case costs no extra call."""
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def check(value: object) -> bool:
        for one in frozen:
            if not one(value):
                return False
        return True

    return check


# --- JSON types -------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: object) -> bool:
    """Strict, as in validate.py: 1.0 is not an integer (Go and os.setuid agree)."""
    return isinstance(value, int) and not isinstance(value, bool)


_TYPE_TESTS: dict[str, Check] = {
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
    "integer": _is_integer,
    "number": _is_number,
    "string": lambda value: isinstance(value, str),
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}
# Exact Python type -> the JSON type names it satisfies (the fast path).
_TYPE_NAMES: dict[type, frozenset[str]] = {
    type(None): frozenset({"null"}),
    bool: frozenset({"boolean"}),
    int: frozenset({"integer", "number"}),
    float: frozenset({"number"}),
    str: frozenset({"string"}),
    list: frozenset({"array"}),
    dict: frozenset({"object"}),
}


_TYPE_CHECKS: dict[tuple[str, ...], Check] = {}


def _compile_type(_s: _Schemas, wanted: object, _schema: dict, base: str) -> Check:
    """The check for ``type``: one per distinct type list, shared by all nodes."""
    names = tuple([wanted] if isinstance(wanted, str) else wanted)  # type: ignore[arg-type]
    done = _TYPE_CHECKS.get(names)
    if done is None:
        if not names or any(n not in _TYPE_TESTS for n in names):
            raise SchemaError(f"{base}: bad type {wanted!r}")
        done = _TYPE_CHECKS[names] = _type_check(names)
    return done


def _type_check(names: tuple[str, ...]) -> Check:
    allowed = frozenset(names)
    tests = tuple(_TYPE_TESTS[n] for n in names)

    def check(value: object) -> bool:
        known = _TYPE_NAMES.get(type(value))
        if known is not None:
            return not known.isdisjoint(allowed)
        return any(test(value) for test in tests)  # subclasses: isinstance rules

    return check


# --- values -----------------------------------------------------------------


def _equal(one: object, two: object) -> bool:
    """JSON equality as jsonschema defines it: 1 == 1.0 but True != 1, deep."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[k], two[k]) for k in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return one == two


def _compile_enum(_s: _Schemas, choices: object, _schema: dict, base: str) -> Check:
    if not isinstance(choices, list):
        raise SchemaError(f"{base}: enum must be an array")
    if all(isinstance(c, str) for c in choices):
        strings = frozenset(choices)
        return lambda value: isinstance(value, str) and value in strings
    frozen = tuple(choices)
    return lambda value: any(_equal(c, value) for c in frozen)


def _compile_const(_s: _Schemas, const: object, _schema: dict, _base: str) -> Check:
    return lambda value: _equal(const, value)


def _number(value: object, keyword: str, base: str) -> int | float:
    if not _is_number(value):
        raise SchemaError(f"{base}: {keyword} must be a number")
    return value  # type: ignore[return-value]


# Comparisons are written as jsonschema's failure tests, negated, so that NaN
# (which json.loads accepts) gets the same verdict: every comparison is False.


def _compile_minimum(_s: _Schemas, limit: object, _schema: dict, base: str) -> Check:
    low = _number(limit, "minimum", base)
    return lambda value: not _is_number(value) or not value < low  # type: ignore[operator]


def _compile_maximum(_s: _Schemas, limit: object, _schema: dict, base: str) -> Check:
    high = _number(limit, "maximum", base)
    return lambda value: not _is_number(value) or not value > high  # type: ignore[operator]


def _compile_exclusive_minimum(_s: _Schemas, limit: object, _schema: dict, base: str) -> Check:
    low = _number(limit, "exclusiveMinimum", base)
    return lambda value: not _is_number(value) or not value <= low  # type: ignore[operator]


def _compile_exclusive_maximum(_s: _Schemas, limit: object, _schema: dict, base: str) -> Check:
    high = _number(limit, "exclusiveMaximum", base)
    return lambda value: not _is_number(value) or not value >= high  # type: ignore[operator]


def _count(value: object, keyword: str, base: str) -> int:
    if not _is_integer(value) or value < 0:  # type: ignore[operator]
        raise SchemaError(f"{base}: {keyword} must be a non-negative integer")
    return value  # type: ignore[return-value]


def _sized(kind: type, keyword: str, at_least: bool) -> object:
    """A compiler for min/max Length/Items/Properties: len() of one Python type."""

    def compile_sized(_s: _Schemas, limit: object, _schema: dict, base: str) -> Check:
        bound = _count(limit, keyword, base)
        if at_least:
            return lambda value: not isinstance(value, kind) or len(value) >= bound
        return lambda value: not isinstance(value, kind) or len(value) <= bound

    return compile_sized


def _searcher(pattern: object, base: str) -> Check:
    """``re.search`` for one pattern, compiled on first use (a literal needs no regex)."""
    if not isinstance(pattern, str):
        raise SchemaError(f"{base}: pattern must be a string")
    if not _REGEX_META.intersection(pattern):
        return lambda text: pattern in text  # type: ignore[operator]
    fast = FAST_PATTERNS.get(pattern)
    if fast is not None:
        return fast  # type: ignore[return-value]
    compiled: list = []

    def search(text: object) -> bool:
        if not compiled:
            import re

            compiled.append(re.compile(pattern))
        return compiled[0].search(text) is not None

    return search


# --- the schemas' patterns without re ---------------------------------------
# Each function is re.search(pattern, text) for its pattern, on any str. Note
# that "$" also matches just before a final "\n": _body() drops that one.

_DIGITS = frozenset("0123456789")
_ALNUM_DASH = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _body(text: str) -> str:
    """The text "$" anchors to: without one final newline."""
    return text[:-1] if text.endswith("\n") else text


def _numeric_id(text: str) -> bool:
    """``0|[1-9][0-9]*``, the whole text."""
    return text == "0" or (text[:1] in _DIGITS - {"0"} and _DIGITS.issuperset(text))


def _prerelease_id(text: str) -> bool:
    """``0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*``, the whole text."""
    if _DIGITS.issuperset(text):
        return _numeric_id(text)
    return _ALNUM_DASH.issuperset(text)


def _semver(text: str) -> bool:
    """The SemVer 2.0 pattern of ``ociVersion``."""
    rest, plus, build = _body(text).partition("+")
    if plus and not all(part and _ALNUM_DASH.issuperset(part) for part in build.split(".")):
        return False
    core, dash, pre = rest.partition("-")
    numbers = core.split(".")
    if len(numbers) != 3 or not all(_numeric_id(n) for n in numbers):
        return False
    return not dash or all(_prerelease_id(part) for part in pre.split("."))


def _prefixed_run(prefix: str, chars: frozenset, at_least: int) -> object:
    """``^PREFIX[chars]*$`` (at_least 0) or ``^PREFIX[chars]+$`` (at_least 1)."""

    def match(text: str) -> bool:
        body = _body(text)
        return body.startswith(prefix) and len(body) - len(prefix) >= at_least \
            and chars.issuperset(body[len(prefix):])

    return match


def _page_size(text: str) -> bool:
    """``^[1-9][0-9]*[KMG]B$`` (hugepage limits)."""
    body = _body(text)
    digits = body[:-2]
    return len(body) >= 3 and body[-1] == "B" and body[-2] in "KMG" \
        and digits[0] != "0" and _DIGITS.issuperset(digits)


def _cpu_list(text: str) -> bool:
    """``^ *([0-9]+( *- *[0-9]+)?( *, *[0-9]+( *- *[0-9]+)?)*)? *$`` (cpuset lists)."""
    body = _body(text).strip(" ")
    if not body:
        return True
    for item in body.split(","):
        first, dash, last = item.strip(" ").partition("-")
        first, last = first.rstrip(" "), last.lstrip(" ")
        if not first or not _DIGITS.issuperset(first):
            return False
        if dash and (not last or not _DIGITS.issuperset(last)):
            return False
    return True


FAST_PATTERNS: dict[str, object] = {
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?"
    r"(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$": _semver,
    "^RLIMIT_[A-Z]+$": _prefixed_run("RLIMIT_", _UPPER, 1),
    "^CAP_[A-Z_]+$": _prefixed_run("CAP_", _UPPER | {"_"}, 1),
    "^[rwm]*$": _prefixed_run("", frozenset("rwm"), 0),
    "^MB:": lambda text: text.startswith("MB:"),
    "^[1-9][0-9]*[KMG]B$": _page_size,
    r"^ *([0-9]+( *- *[0-9]+)?( *, *[0-9]+( *- *[0-9]+)?)*)? *$": _cpu_list,
}


def _compile_pattern(_s: _Schemas, pattern: object, _schema: dict, base: str) -> Check:
    search = _searcher(pattern, base)
    return lambda value: not isinstance(value, str) or search(value)


# --- objects ----------------------------------------------------------------


def _schema_map(s: _Schemas, value: object, keyword: str, base: str) -> dict[str, Check]:
    if not isinstance(value, dict):
        raise SchemaError(f"{base}: {keyword} must be an object")
    return {key: s.lazy(sub, base) for key, sub in value.items()}


def _compile_properties(s: _Schemas, props: object, _schema: dict, base: str) -> Check:
    """``properties``: each property's subschema is compiled when a document has it."""
    if not isinstance(props, dict):
        raise SchemaError(f"{base}: properties must be an object")
    checks: dict[str, Check] = {}
    if s.eager:
        checks.update((key, s.compile(sub, base)) for key, sub in props.items())

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        for key, item in value.items():
            one = checks.get(key)
            if one is None:
                if key not in props:
                    continue
                one = checks[key] = s.compile(props[key], base)
            if not one(item):
                return False
        return True

    return check


def _compile_pattern_properties(s: _Schemas, props: object, _schema: dict, base: str) -> Check:
    pairs = tuple((_searcher(k, base), c) for k, c in _schema_map(s, props, "pp", base).items())

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        return all(one(item) for key, item in value.items() for search, one in pairs if search(key))

    return check


def _compile_additional_properties(s: _Schemas, extra: object, schema: dict, base: str) -> Check:
    known = frozenset(schema.get("properties", {}))
    patterns = tuple(_searcher(p, base) for p in schema.get("patternProperties", {}))
    one = s.lazy(extra, base)

    def is_extra(key: str) -> bool:
        return key not in known and not any(search(key) for search in patterns)

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        return all(one(item) for key, item in value.items() if is_extra(key))

    return check


def _compile_required(_s: _Schemas, names: object, _schema: dict, base: str) -> Check:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SchemaError(f"{base}: required must be an array of strings")
    frozen = tuple(names)
    return lambda value: not isinstance(value, dict) or all(n in value for n in frozen)


def _compile_property_names(s: _Schemas, names: object, _schema: dict, base: str) -> Check:
    one = s.lazy(names, base)
    return lambda value: not isinstance(value, dict) or all(one(key) for key in value)


def _compile_dependencies(s: _Schemas, deps: object, _schema: dict, base: str) -> Check:
    if not isinstance(deps, dict):
        raise SchemaError(f"{base}: dependencies must be an object")
    rules: list[tuple[str, Check]] = []
    for key, dep in deps.items():
        if isinstance(dep, list):
            rules.append((key, _compile_required(s, dep, {}, base)))
        else:
            rules.append((key, s.lazy(dep, base)))
    frozen = tuple(rules)

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        return all(one(value) for key, one in frozen if key in value)

    return check


# --- arrays -----------------------------------------------------------------


def _compile_items(s: _Schemas, items: object, schema: dict, base: str) -> Check:
    if isinstance(items, list):
        return _compile_tuple_items(s, items, schema.get("additionalItems", True), base)
    one = s.lazy(items, base)
    return lambda value: not isinstance(value, list) or all(one(item) for item in value)


def _compile_tuple_items(s: _Schemas, items: list, extra: object, base: str) -> Check:
    """Draft-07 tuple form: ``items`` as a list, then ``additionalItems`` for the rest."""
    heads = tuple(s.lazy(sub, base) for sub in items)
    rest = s.lazy(extra, base)

    def check(value: object) -> bool:
        if not isinstance(value, list):
            return True
        if not all(one(item) for one, item in zip(heads, value, strict=False)):
            return False
        return all(rest(item) for item in value[len(heads) :])

    return check


def _compile_additional_items(_s: _Schemas, _extra: object, _schema: dict, _base: str) -> Check:
    """Applied by ``items`` (tuple form); without a list ``items`` it has no effect."""
    return _always


def _compile_contains(s: _Schemas, contains: object, _schema: dict, base: str) -> Check:
    one = s.lazy(contains, base)
    return lambda value: not isinstance(value, list) or any(one(item) for item in value)


def _compile_unique_items(_s: _Schemas, unique: object, _schema: dict, base: str) -> Check:
    if not isinstance(unique, bool):
        raise SchemaError(f"{base}: uniqueItems must be a boolean")
    if not unique:
        return _always

    def check(value: object) -> bool:
        if not isinstance(value, list):
            return True
        return not any(_equal(a, b) for i, a in enumerate(value) for b in value[i + 1 :])

    return check


# --- combinators ------------------------------------------------------------


def _schema_list(s: _Schemas, subs: object, keyword: str, base: str) -> tuple[Check, ...]:
    if not isinstance(subs, list) or not subs:
        raise SchemaError(f"{base}: {keyword} must be a non-empty array")
    return tuple(s.lazy(sub, base) for sub in subs)


def _compile_all_of(s: _Schemas, subs: object, _schema: dict, base: str) -> Check:
    return _all_of(list(_schema_list(s, subs, "allOf", base)))


def _compile_any_of(s: _Schemas, subs: object, _schema: dict, base: str) -> Check:
    checks = _schema_list(s, subs, "anyOf", base)
    return lambda value: any(one(value) for one in checks)


def _compile_one_of(s: _Schemas, subs: object, _schema: dict, base: str) -> Check:
    checks = _schema_list(s, subs, "oneOf", base)
    return lambda value: sum(1 for one in checks if one(value)) == 1


def _compile_not(s: _Schemas, sub: object, _schema: dict, base: str) -> Check:
    one = s.lazy(sub, base)
    return lambda value: not one(value)


def _compile_if(s: _Schemas, cond: object, schema: dict, base: str) -> Check:
    test = s.lazy(cond, base)
    then = s.lazy(schema.get("then", True), base)
    other = s.lazy(schema.get("else", True), base)
    return lambda value: then(value) if test(value) else other(value)


# then/else are applied by "if"; alone they do nothing (draft-07).
_PASSIVE = frozenset({"then", "else"})

_COMPILERS = {
    "type": _compile_type,
    "enum": _compile_enum,
    "const": _compile_const,
    "minimum": _compile_minimum,
    "maximum": _compile_maximum,
    "exclusiveMinimum": _compile_exclusive_minimum,
    "exclusiveMaximum": _compile_exclusive_maximum,
    "minLength": _sized(str, "minLength", True),
    "maxLength": _sized(str, "maxLength", False),
    "minItems": _sized(list, "minItems", True),
    "maxItems": _sized(list, "maxItems", False),
    "minProperties": _sized(dict, "minProperties", True),
    "maxProperties": _sized(dict, "maxProperties", False),
    "pattern": _compile_pattern,
    "properties": _compile_properties,
    "patternProperties": _compile_pattern_properties,
    "additionalProperties": _compile_additional_properties,
    "required": _compile_required,
    "propertyNames": _compile_property_names,
    "dependencies": _compile_dependencies,
    "items": _compile_items,
    "additionalItems": _compile_additional_items,
    "contains": _compile_contains,
    "uniqueItems": _compile_unique_items,
    "allOf": _compile_all_of,
    "anyOf": _compile_any_of,
    "oneOf": _compile_one_of,
    "not": _compile_not,
    "if": _compile_if,
}

SUPPORTED_KEYWORDS = frozenset(_COMPILERS) | _PASSIVE | _IGNORED | {"$ref"}

_LOADED: dict[str, _Schemas] = {}


def checker(directory: str, root_file: str) -> Check:
    """The compiled yes/no check for one root schema file, cached per process."""
    schemas = _LOADED.get(directory)
    if schemas is None:
        schemas = _LOADED[directory] = _Schemas(directory)
    return schemas.root(root_file)


def check_all(directory: str) -> None:
    """Compile every schema file of ``directory`` (and every definition) or raise.

    The success path compiles only what a document kind reaches; this walks
    everything, so a test can prove no file uses an unsupported keyword.
    """
    schemas = _Schemas(directory)
    schemas.eager = True
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            doc = schemas.load_file(name)
            schemas.compile(doc, doc["$id"])
            for key in doc.get("definitions", {}):
                schemas.ref(doc["$id"], "/definitions/" + key.replace("~", "~0").replace("/", "~1"))

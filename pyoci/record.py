"""Small immutable records: what the rootfs code used of ``collections.namedtuple``.

``import collections`` (with operator, keyword and reprlib) and the class that
each ``namedtuple()`` generates and compiles cost ~2 ms of every ``create`` and
``run`` start-up, for three record types. A subclass lists its fields in
``__slots__`` and the defaults of its last fields in ``_defaults``.
"""

from __future__ import annotations


class Record:
    """Fields set once by ``__init__`` (positional or by name); compared, hashed,
    iterated and shown by value, like a namedtuple of the same fields."""

    __slots__: tuple[str, ...] = ()
    _defaults: tuple = ()

    def __init__(self, *args: object, **kwargs: object) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}: {len(args)} values for {len(names)} fields")
        first_default = len(names) - len(self._defaults)
        for i, name in enumerate(names):
            if i < len(args):
                value = args[i]
            elif name in kwargs:
                value = kwargs.pop(name)
            elif i >= first_default:
                value = self._defaults[i - first_default]
            else:
                raise TypeError(f"{type(self).__name__}: missing field {name}")
            object.__setattr__(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unknown fields {sorted(kwargs)}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __iter__(self):  # noqa: ANN204 - an iterator of the field values
        return iter(self._values())

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def _replace(self, **changes: object) -> Record:
        values = {name: changes.pop(name, getattr(self, name)) for name in self.__slots__}
        if changes:
            raise TypeError(f"{type(self).__name__}: unknown fields {sorted(changes)}")
        return type(self)(**values)

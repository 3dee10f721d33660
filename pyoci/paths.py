"""The few ``os.path`` functions the short commands need, on ``posix`` alone.

``import os`` costs about 1.3 ms here (it builds the ``collections.abc``
classes for ``os.environ``): a tenth of a whole ``pyoci state``, whose own
work is a few file reads. So the modules on the paths of ``state``, ``kill``,
``start`` and ``delete`` use ``posix`` (the C module os.py wraps) and these
helpers; they behave as their ``os.path`` namesakes for the paths pyoci
builds. The create path imports os anyway and may use either.
tests/integration/test_hot_path_imports.py keeps os off the short paths.
"""

from __future__ import annotations

import posix

_S_IFMT = 0o170000
_S_IFDIR = 0o040000
_S_IFREG = 0o100000


def join(base: str, *names: str) -> str:
    """``os.path.join`` for names that are not absolute."""
    path = base
    for name in names:
        path = f"{path}{name}" if not path or path.endswith("/") else f"{path}/{name}"
    return path


def exists(path: str) -> bool:
    try:
        posix.stat(path)
    except (OSError, ValueError):
        return False
    return True


def isdir(path: str) -> bool:
    return _mode(path) & _S_IFMT == _S_IFDIR


def isfile(path: str) -> bool:
    return _mode(path) & _S_IFMT == _S_IFREG


def absolute(path: str) -> str:
    """``os.path.abspath``: an absolute path with nothing to normalise is returned
    as it is (every path pyoci's commands get from engines); any other pays os."""
    if path.startswith("/") and not path.startswith("//") and "/." not in path \
            and "//" not in path and (path == "/" or not path.endswith("/")):
        return path
    import os

    return os.path.abspath(path)


def basename(path: str) -> str:
    return path.rpartition("/")[2]


def dirname(path: str) -> str:
    """``os.path.dirname`` (trailing slashes of the head dropped, "/" kept)."""
    head = path.rpartition("/")[0]
    return head.rstrip("/") or ("/" if path.startswith("/") else head)


def environ(name: str) -> str | None:
    """One variable of the environment, decoded as ``os.environ`` decodes it."""
    value = posix.environ.get(name.encode())
    return None if value is None else value.decode(errors="surrogateescape")


def _mode(path: str) -> int:
    try:
        return posix.stat(path).st_mode
    except (OSError, ValueError):
        return 0

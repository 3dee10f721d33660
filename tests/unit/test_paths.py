"""pyoci.paths against the os.path functions it stands in for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyoci import paths

REPO = Path(__file__).resolve().parents[2]

JOINS = [("/run/pyoci", "c1"), ("/run/pyoci/", "c1"), ("", "pyoci"), ("/", "x"),
         ("/a", "b", "c"), ("rel", "x/y")]
NAMES = ["/run/pyoci/c1/state.json", "/a", "/", "a", "a/b", "/a/b/", "/a//b", "///a/b",
         "/sys/fs/cgroup/cpu/x"]
ROOTS = ["/run/pyoci", "/", "/run/pyoci/", "/run//pyoci", "/run/./pyoci", "/run/a/../pyoci",
         "rel/root", ".", "", "//run", "/run/.hidden"]


@pytest.mark.parametrize("parts", JOINS)
def test_join_is_os_path_join(parts: tuple[str, ...]) -> None:
    assert paths.join(*parts) == os.path.join(*parts)


@pytest.mark.parametrize("path", NAMES)
def test_basename_and_dirname_are_os_paths(path: str) -> None:
    assert paths.basename(path) == os.path.basename(path)
    if not path.startswith("//"):  # os keeps "//" (POSIX's implementation-defined root)
        assert paths.dirname(path) == os.path.dirname(path)


@pytest.mark.parametrize("path", ROOTS)
def test_absolute_is_os_path_abspath(path: str) -> None:
    assert paths.absolute(path) == os.path.abspath(path)


def test_exists_isdir_isfile(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_text("x")
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    for path in (tmp_path, file, link, tmp_path / "missing", "bad\0path"):
        assert paths.exists(str(path)) == os.path.exists(str(path)), path
        assert paths.isdir(str(path)) == os.path.isdir(str(path)), path
        assert paths.isfile(str(path)) == os.path.isfile(str(path)), path


def test_environ_decodes_as_os_environ() -> None:
    value = b"/run/user/1000/\xff"  # not UTF-8: os.environ escapes it
    probe = ("import os, sys; sys.path.insert(0, sys.argv[1]); from pyoci import paths; "
             "print(paths.environ('PYOCI_T') == os.environ['PYOCI_T'], "
             "paths.environ('PYOCI_UNSET_T'))")
    env = {**os.environb, b"PYOCI_T": value}
    env.pop(b"PYOCI_UNSET_T", None)
    out = subprocess.run([sys.executable, "-I", "-c", probe, str(REPO)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "None"]

"""resolve_executable: Go exec.LookPath semantics and runc's error texts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyoci.process.execpath import DEFAULT_PATH, ExecutableNotFound, resolve_executable


def _make(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    (tmp_path / "other").mkdir()
    _make(tmp_path / "bin" / "tool")
    _make(tmp_path / "bin" / "plain", 0o644)
    (tmp_path / "bin" / "adir").mkdir()
    _make(tmp_path / "other" / "tool")
    return tmp_path


def test_found_in_first_path_dir(tree: Path) -> None:
    env = [f"PATH={tree}/bin:{tree}/other"]
    assert resolve_executable("tool", env, "/") == f"{tree}/bin/tool"


def test_later_path_entry_wins(tree: Path) -> None:
    env = [f"PATH={tree}/bin", f"PATH={tree}/other"]
    assert resolve_executable("tool", env, "/") == f"{tree}/other/tool"


def test_not_found(tree: Path) -> None:
    with pytest.raises(ExecutableNotFound) as info:
        resolve_executable("nosuch", [f"PATH={tree}/bin"], "/")
    assert str(info.value) == 'exec: "nosuch": executable file not found in $PATH'


def test_directory_and_non_executable_are_skipped_in_path(tree: Path) -> None:
    for name in ("adir", "plain"):
        with pytest.raises(ExecutableNotFound, match="executable file not found in"):
            resolve_executable(name, [f"PATH={tree}/bin"], "/")


def test_empty_path_finds_nothing(tree: Path) -> None:
    with pytest.raises(ExecutableNotFound, match="not found in"):
        resolve_executable("sh", ["PATH="], "/")


def test_default_path_when_env_has_none() -> None:
    if not os.access("/bin/sh", os.X_OK):
        pytest.skip("/bin/sh not present")
    assert "/bin" in DEFAULT_PATH.split(":")
    found = resolve_executable("sh", ["TERM=xterm"], "/")
    assert os.path.basename(found) == "sh" and os.access(found, os.X_OK)


def test_absolute_used_as_is(tree: Path) -> None:
    target = f"{tree}/bin/tool"
    assert resolve_executable(target, ["PATH=/nonexistent"], "/") == target


def test_absolute_missing(tree: Path) -> None:
    with pytest.raises(ExecutableNotFound) as info:
        resolve_executable(f"{tree}/x", [], "/")
    assert str(info.value) == f'exec: "{tree}/x": stat {tree}/x: no such file or directory'


def test_absolute_directory_is_permission_denied(tree: Path) -> None:
    with pytest.raises(ExecutableNotFound) as info:
        resolve_executable(f"{tree}/bin", [], "/")
    assert str(info.value) == f'exec: "{tree}/bin": permission denied'


def test_absolute_non_executable_is_permission_denied(tree: Path) -> None:
    # Even root passes X_OK only when some x bit is set: 0644 has none.
    with pytest.raises(ExecutableNotFound) as info:
        resolve_executable(f"{tree}/bin/plain", [], "/")
    assert str(info.value) == f'exec: "{tree}/bin/plain": permission denied'


def test_relative_with_slash_is_against_cwd(tree: Path) -> None:
    assert resolve_executable("./bin/tool", [], str(tree)) == f"{tree}/./bin/tool"
    with pytest.raises(ExecutableNotFound) as info:
        resolve_executable("./bin/none", [], str(tree))
    assert str(info.value) == 'exec: "./bin/none": stat ./bin/none: no such file or directory'


def test_empty_path_entry_means_cwd(tree: Path) -> None:
    found = resolve_executable("tool", ["PATH=:/nonexistent"], str(tree / "bin"))
    assert found == f"{tree}/bin/tool"

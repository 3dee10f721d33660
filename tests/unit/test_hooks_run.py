"""run_hooks on its own: argv, env, stdin, exit status, timeout, warnings.

These run real hooks (the host's /bin/sh, /bin/sleep) without a container and
without root; the lifecycle moments are in tests/integration/test_hooks.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pyoci.container.features import features_document
from pyoci.container.hooks import HOOK_KINDS, HookError, run_hooks
from pyoci.errors import PyociError

STATE = {"ociVersion": "1.3.0", "id": "pyoci-unit", "pid": 42, "status": "creating",
         "bundle": "/b", "annotations": {"k": "v"}}


def sh_hook(tmp_path: Path, script: str, **extra: object) -> dict:
    path = tmp_path / "hook.sh"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return {"path": str(path), **extra}


def alive_with(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes() \
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_features_hooks_are_the_implemented_kinds() -> None:
    assert features_document()["hooks"] == list(HOOK_KINDS)
    assert HOOK_KINDS == ("prestart", "createRuntime", "createContainer", "startContainer",
                          "poststart", "poststop")


def test_state_on_stdin_args_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYOCI_LEAK_CHECK", "leaked")
    out = tmp_path / "out"
    hook = sh_hook(tmp_path, f'cat > {out}.stdin; printf "%s|" "$@" > {out}.args; '
                             f'echo "$HOOK_A|$PYOCI_LEAK_CHECK|$HOOK_B" > {out}.env',
                   args=["ignored-argv0", "one", "two words"], env=["HOOK_A=a=1", "HOOK_B=b"])
    run_hooks("prestart", [hook], STATE)
    assert json.loads((tmp_path / "out.stdin").read_text()) == STATE
    assert (tmp_path / "out.args").read_text() == "one|two words|"
    # Only the hook's own env: nothing of the runtime's environment leaks in.
    assert (tmp_path / "out.env").read_text() == "a=1||b\n"


def test_argv0_as_given(tmp_path: Path) -> None:
    out = tmp_path / "argv0"
    # /bin/sh -c: with args, argv[0] is what the config says ($0 inside sh -c).
    run_hooks("poststart", [{"path": "/bin/sh", "args": ["custom-zero", "-c",
                                                         f'echo "$0" > {out}']}], STATE)
    assert out.read_text() == "custom-zero\n"


def test_hooks_run_in_order_and_stop_at_the_first_failure(tmp_path: Path) -> None:
    log = tmp_path / "log"
    ok = {"path": "/bin/sh", "args": ["sh", "-c", f"echo ok >> {log}"]}
    bad = {"path": "/bin/sh", "args": ["sh", "-c", f"echo bad >> {log}; exit 3"]}
    with pytest.raises(HookError) as info:
        run_hooks("createRuntime", [ok, bad, ok], STATE)
    assert info.value.message == "hooks.createRuntime[1]: /bin/sh exited with status 3"
    assert isinstance(info.value, PyociError)
    assert log.read_text() == "ok\nbad\n"


def test_warn_reports_and_carries_on(tmp_path: Path) -> None:
    log = tmp_path / "log"
    warnings: list[str] = []
    bad = {"path": "/bin/false"}
    ok = {"path": "/bin/sh", "args": ["sh", "-c", f"echo ran >> {log}"]}
    run_hooks("poststop", [bad, ok, {"path": str(tmp_path / "missing")}], STATE,
              warn=warnings.append)
    assert log.read_text() == "ran\n"
    assert warnings == [
        "hooks.poststop[0]: /bin/false exited with status 1",
        f"hooks.poststop[2]: {tmp_path / 'missing'} could not be run: No such file or directory",
    ]


def test_not_executable(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    path.write_text("#!/bin/sh\n")
    with pytest.raises(HookError, match=r"hooks.prestart\[0\]: .*plain could not be run: "
                                        r"Permission denied"):
        run_hooks("prestart", [{"path": str(path)}], STATE)


def test_killed_by_signal(tmp_path: Path) -> None:
    with pytest.raises(HookError, match=r"/bin/sh was killed by signal 9$"):
        run_hooks("poststart", [{"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $$"]}], STATE)


def test_timeout_kills_the_hook_and_what_it_started(tmp_path: Path) -> None:
    marker = "4243.25"  # a unique sleep length to find stray processes by
    hook = sh_hook(tmp_path, f"sleep {marker}; true\n", timeout=1)
    began = time.monotonic()
    with pytest.raises(HookError) as info:
        run_hooks("createContainer", [hook], STATE)
    took = time.monotonic() - began
    assert info.value.message == f"hooks.createContainer[0]: {hook['path']} timed out after 1 s"
    assert 0.9 <= took < 3, took
    # The shell and its sleep (same process group) are both gone, not orphaned.
    assert alive_with(marker) == []


def test_timeout_not_reached(tmp_path: Path) -> None:
    out = tmp_path / "done"
    run_hooks("poststart", [{"path": "/bin/sh", "args": ["sh", "-c", f"sleep 0.2; touch {out}"],
                             "timeout": 5}], STATE)
    assert out.exists()


def test_big_state_and_a_hook_that_reads_nothing(tmp_path: Path) -> None:
    """A state larger than a pipe's buffer: a hook that never reads stdin must not
    hang the runtime, and one that reads gets all of it."""
    big = dict(STATE, annotations={f"k{i}": "v" * 100 for i in range(2000)})
    began = time.monotonic()
    run_hooks("poststart", [{"path": "/bin/true"}], big)
    assert time.monotonic() - began < 5
    out = tmp_path / "big"
    run_hooks("poststart", [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}"]}], big)
    assert json.loads(out.read_text()) == big


def test_hook_stdin_is_closed_after_the_state(tmp_path: Path) -> None:
    """EOF follows the document (a hook reading to the end must not hang), even
    under a timeout."""
    out = tmp_path / "n"
    run_hooks("prestart", [{"path": "/bin/sh", "args": ["sh", "-c", f"wc -c > {out}"],
                            "timeout": 5}], STATE)
    assert int(out.read_text()) == len(json.dumps(STATE, separators=(",", ":")))


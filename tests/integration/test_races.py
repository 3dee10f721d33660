"""Issue 8, part 3: races.

* 50 whole lifecycles at once, unique ids: all succeed, nothing is left;
* 10 creates of one id at once: exactly one wins, the others fail in one
  line ("already exists"), and the winner is untouched;
* state, kill and delete hammering a container while it exits: never a
  traceback, only valid statuses, never back from "stopped", and the final
  delete leaves nothing;
* a torn state.json: state, list and delete report it in one line, and
  delete --force still removes the container's cgroup and processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import (
    PYOCI,
    Bundle,
    Pyoci,
    assert_nothing_left,
    cgroup_dirs,
    needs_root,
    processes_with,
    reap_children,
)

pytestmark = [pytest.mark.root, needs_root]

STATUSES = {"creating", "created", "running", "paused", "stopped"}
# The order a container goes through; "does not exist" comes after all of them.
ORDER = {"creating": 0, "created": 1, "running": 2, "paused": 2, "stopped": 3,
         "does not exist": 4}


def new_id(tag: str) -> str:
    return f"pyoci-race-{tag}-{uuid4().hex[:6]}"


def run(pyoci: Pyoci, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    """Run pyoci with no pipe a container could inherit; (code, stdout, stderr)."""
    tag = uuid4().hex[:8]
    out_path, err_path = pyoci.root.parent / f"{tag}.out", pyoci.root.parent / f"{tag}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), *args],
                              stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout)
    text_out, text_err = out_path.read_text(), err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    assert "Traceback" not in text_err, text_err
    assert len(text_err.strip().splitlines()) <= 1, text_err
    return proc.returncode, text_out, text_err


def status_of(pyoci: Pyoci, cid: str) -> str:
    code, out, err = run(pyoci, "state", cid)
    if code != 0:
        assert "does not exist" in err, err
        return "does not exist"
    status = json.loads(out)["status"]
    assert status in STATUSES, out
    return status


def wait_for_status(pyoci: Pyoci, cid: str, wanted: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while status_of(pyoci, cid) != wanted:
        assert time.monotonic() < deadline, f"{cid} never became {wanted}"
        time.sleep(0.05)


def check_gone(pyoci: Pyoci, cid: str) -> None:
    reap_children()
    deadline = time.monotonic() + 20
    while processes_with(cid) and time.monotonic() < deadline:
        time.sleep(0.05)
        reap_children()
    assert_nothing_left(pyoci, cid)


# -- 50 lifecycles at once -----------------------------------------------------------

PARALLEL = 50


def lifecycle(pyoci: Pyoci, bundle: Bundle, cid: str) -> list[str]:
    """create, state, start, wait for the exit, delete; the statuses seen."""
    seen = []
    code, _, err = run(pyoci, "create", "--bundle", str(bundle.path), cid)
    assert code == 0, err
    seen.append(status_of(pyoci, cid))
    code, _, err = run(pyoci, "start", cid)
    assert code == 0, err
    wait_for_status(pyoci, cid, "stopped")
    seen.append("stopped")
    code, _, err = run(pyoci, "delete", cid)
    assert code == 0, err
    seen.append(status_of(pyoci, cid))
    return seen


def test_parallel_lifecycles(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.with_args("true")
    ids = [new_id(f"p{i}") for i in range(PARALLEL)]
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(lambda cid: lifecycle(pyoci, bundle, cid), ids))
    assert results == [["created", "stopped", "does not exist"]] * PARALLEL
    for cid in ids:
        check_gone(pyoci, cid)
    assert pyoci.ids() == []


# -- 10 creates of one id --------------------------------------------------------------

CONTENDERS = 10


def test_simultaneous_creates_of_one_id(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.with_args("sleep", "1000")
    cid = new_id("one")
    barrier = threading.Barrier(CONTENDERS)

    def contender() -> tuple[int, str]:
        barrier.wait()
        code, _, err = run(pyoci, "create", "--bundle", str(bundle.path), cid)
        return code, err

    with ThreadPoolExecutor(max_workers=CONTENDERS) as pool:
        results = list(pool.map(lambda _: contender(), range(CONTENDERS)))
    winners = [r for r in results if r[0] == 0]
    losers = [r for r in results if r[0] != 0]
    assert len(winners) == 1, results
    for _, err in losers:
        assert err.strip() == f'pyoci: container with id "{cid}" already exists', err
    # The winner is whole: created, its init waiting, and it starts and runs.
    state = pyoci.state(cid)
    assert state["status"] == "created" and state["pid"] > 0
    assert len([d for d in cgroup_dirs(cid)]) > 0
    code, _, err = run(pyoci, "start", cid)
    assert code == 0, err
    assert status_of(pyoci, cid) == "running"
    code, _, err = run(pyoci, "delete", "--force", cid)
    assert code == 0, err
    check_gone(pyoci, cid)


# -- state, kill and delete racing the exit -------------------------------------------

ROUNDS = 8
# start losing the race: killed (and perhaps deleted) before or while it released the init.
START_ERRORS = ("cannot start", "not waiting", "exited before", "does not exist")
ALLOWED_ERRORS = ("does not exist", "container not running", "not stopped",
                  "cannot delete", "is not running")


def _hammer(pyoci: Pyoci, cid: str, args: tuple[str, ...], stop: threading.Event,
            log: list[tuple[str, int, str]]) -> None:
    while not stop.is_set():
        if args[0] == "state":
            log.append(("state", 0, status_of(pyoci, cid)))
            continue
        code, _, err = run(pyoci, *args)
        if code != 0:
            assert any(text in err for text in ALLOWED_ERRORS), f"{args}: {err}"
        log.append((args[0], code, err.strip()))
        if args[0] == "delete" and code == 0:
            stop.set()


@pytest.mark.parametrize("program", [("true",), ("sleep", "0.05")], ids=["true", "sleep"])
def test_commands_racing_exit(pyoci: Pyoci, bundle: Bundle, program: tuple[str, ...]) -> None:
    bundle.with_args(*program)
    for round_ in range(ROUNDS):
        cid = new_id(f"x{round_}")
        code, _, err = run(pyoci, "create", "--bundle", str(bundle.path), cid)
        assert code == 0, err
        stop = threading.Event()
        logs: list[list[tuple[str, int, str]]] = [[] for _ in range(5)]
        commands = [("state", cid), ("state", cid), ("kill", cid, "KILL"),
                    ("kill", "--all", cid, "TERM"), ("delete", cid)]
        threads = [threading.Thread(target=_hammer, args=(pyoci, cid, c, stop, log))
                   for c, log in zip(commands, logs, strict=True)]
        for t in threads:
            t.start()
        try:
            code, _, err = run(pyoci, "start", cid)
            assert code == 0 or any(t in err for t in START_ERRORS), err
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            stop.set()
            for t in threads:
                t.join()
        for log in logs[:2]:  # what one reader sees never goes backwards
            ranks = [ORDER[status] for _, _, status in log]
            assert ranks == sorted(ranks), [s for _, _, s in log]
        assert any(code == 0 for _, code, _ in logs[4]), "delete never succeeded"
        assert status_of(pyoci, cid) == "does not exist"
        run(pyoci, "delete", "--force", cid)
        check_gone(pyoci, cid)


# -- a torn state.json ---------------------------------------------------------------

@pytest.mark.parametrize("keep", [0, 1, 0.5], ids=["empty", "one-byte", "half"])
def test_torn_state_file(pyoci: Pyoci, bundle: Bundle, keep: float) -> None:
    bundle.with_args("sleep", "1000")
    cid = new_id("torn")
    code, _, err = run(pyoci, "create", "--bundle", str(bundle.path), cid)
    assert code == 0, err
    pid = pyoci.state(cid)["pid"]
    assert run(pyoci, "start", cid)[0] == 0
    path = pyoci.root / cid / "state.json"
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * keep) if isinstance(keep, float) else keep])
    for args in (("state", cid), ("delete", cid), ("kill", cid, "KILL")):
        code, _, err = run(pyoci, *args)
        assert code != 0 and "corrupt state file" in err and str(path) in err, (args, err)
    code, out, err = run(pyoci, "list", "--format", "json")
    assert code == 0 and json.loads(out) == [], out
    assert "corrupt state file" in err, err
    assert Path(f"/proc/{pid}").exists()  # nothing above touched the container
    code, _, err = run(pyoci, "delete", "--force", cid)
    assert code == 0, err
    assert "corrupt state file" in err and "removed" in err, err
    check_gone(pyoci, cid)
    assert not Path(f"/proc/{pid}/stat").exists() or \
        Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert os.path.exists(bundle.path / "config.json")

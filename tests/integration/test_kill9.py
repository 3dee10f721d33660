"""Issue 8, part 2: pyoci killed with SIGKILL during create, start, exec or delete.

Deterministic points come from the test switch ``PYOCI_FAULT_INJECT=<point>:kill``
(pyoci/faults.py: pyoci is SIGKILLed exactly there, even when the point runs
in the container init); a few seeded random delays add kills anywhere. After
each kill, ``state`` must tell the truth, checked against the kernel:

* "does not exist": nothing of the container is left to see;
* "created": the init is alive and still waiting for start (comm pyoci:init);
* "running": the init is alive and is the user's program;
* "stopped": the init we knew, if any, is gone; a create killed before it
  finished reads as stopped (it can never be started);

and ``delete --force`` must remove everything: state dir, exec.sock, the cgroup
in every hierarchy (runc leaks it when killed mid-create), mounts, processes.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import (
    PYOCI,
    Bundle,
    Pyoci,
    assert_nothing_left,
    needs_root,
    processes_with,
    reap_children,
)

pytestmark = [pytest.mark.root, needs_root]

WAITING = "pyoci:init"
STATUSES = {"creating", "created", "running", "paused", "stopped"}


def new_id() -> str:
    return f"pyoci-k9-{uuid4().hex[:8]}"


def _comm(pid: int) -> str | None:
    """comm of a live (non-zombie) process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        return None
    return stat[stat.find("(") + 1:stat.rfind(")")]


def _popen(pyoci: Pyoci, *args: str, point: str = "") -> subprocess.Popen:
    env = dict(os.environ)
    if point:
        env["PYOCI_FAULT_INJECT"] = f"{point}:kill"
    return subprocess.Popen([*PYOCI, "--root", str(pyoci.root), *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)


def killed_at(pyoci: Pyoci, point: str, *args: str) -> None:
    """Run ``pyoci args`` that must die by SIGKILL at ``point``."""
    proc = _popen(pyoci, *args, point=point)
    assert proc.wait(timeout=60) == -9, f"pyoci {args[0]} was not killed at {point}"


def killed_after(pyoci: Pyoci, delay: float, *args: str) -> None:
    """Run ``pyoci args`` and SIGKILL it after ``delay`` seconds, if it still runs."""
    proc = _popen(pyoci, *args)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=60)


def create_ok(pyoci: Pyoci, bundle: Bundle, cid: str) -> int:
    proc = _popen(pyoci, "create", "--bundle", str(bundle.path), cid)
    assert proc.wait(timeout=60) == 0
    return pyoci.state(cid)["pid"]


def truthful_state(pyoci: Pyoci, cid: str, known_pid: int = 0) -> str:
    """``state`` after a kill: one of the valid answers, and true of the kernel."""
    proc = pyoci("state", cid, check=False)
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    if proc.returncode != 0:
        assert len(err.strip().splitlines()) == 1 and "does not exist" in err, err
        return "does not exist"
    import json

    doc = json.loads(proc.stdout)
    status = doc["status"]
    assert status in STATUSES, doc
    if status == "created":
        assert _comm(doc["pid"]) == WAITING, f"created, but pid {doc['pid']} is not waiting"
    elif status == "running":
        comm = _comm(doc["pid"])
        assert comm is not None and comm != WAITING, f"running, but pid {doc['pid']}: {comm}"
    elif status == "stopped":
        assert doc["pid"] == 0
        if known_pid:
            assert _comm(known_pid) is None, f"stopped, but {known_pid} lives"
    return status


def reap_zombies(keep: int) -> None:
    """Reap our zombie children but ``keep`` (a Popen's, which it must wait for itself)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == keep:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            try:
                os.waitpid(int(entry.name), os.WNOHANG)
            except ChildProcessError:
                pass


def delete_reaping(pyoci: Pyoci, cid: str) -> tuple[int, str]:
    """``delete --force`` while we reap, as an engine's shim (a subreaper) does: a
    process a killed exec left is reparented to us, and the container's pid 1 cannot
    finish dying until that process, killed with it, is reaped by its parent."""
    err_path = pyoci.root.parent / f"{cid}.delete.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([*PYOCI, "--root", str(pyoci.root), "delete", "--force", cid],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            reap_zombies(proc.pid)
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return proc.returncode, err_path.read_text()


def force_delete_leaves_nothing(pyoci: Pyoci, cid: str) -> None:
    code, err = delete_reaping(pyoci, cid)
    assert code == 0 and "Traceback" not in err, err
    reap_children()
    # Orphans of the killed command (a stage 1 on its way out) leave on their own.
    deadline = time.monotonic() + 20
    while processes_with(cid) and time.monotonic() < deadline:
        time.sleep(0.05)
        reap_children()
    assert_nothing_left(pyoci, cid)
    assert not pyoci.root.exists() or list(pyoci.root.rglob("exec.sock")) == []
    assert pyoci("state", cid, check=False).returncode != 0


# -- create ------------------------------------------------------------------------

def _add_namespace(cfg: dict, kind: str) -> None:
    if all(ns["type"] != kind for ns in cfg["linux"]["namespaces"]):
        cfg["linux"]["namespaces"].append({"type": kind})
    if kind == "user":
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


CREATE_POINTS = ["validation", "state", "cgroup", "linux.resources", "exec.sock",
                 *(f"linux.namespaces.{k}" for k in ("pid", "network", "ipc", "uts", "mount",
                                                     "cgroup", "user", "time")),
                 *(f"mounts[{i}]" for i in range(7)),
                 "linux.devices", "linux.sysctl", "process", "created"]


@pytest.mark.parametrize("point", CREATE_POINTS)
def test_create_killed(pyoci: Pyoci, bundle: Bundle, point: str) -> None:
    if point.startswith("linux.namespaces."):
        bundle.edit(lambda c: _add_namespace(c, point.rsplit(".", 1)[1]))
    bundle.with_args("sleep", "1000")
    cid = new_id()
    killed_at(pyoci, point, "create", "--bundle", str(bundle.path), cid)
    status = truthful_state(pyoci, cid)
    # Before the state is written nothing exists; after it, a create that never
    # finished can never be started: stopped.
    assert status == ("does not exist" if point == "validation" else "stopped"), status
    force_delete_leaves_nothing(pyoci, cid)


def test_killed_create_frees_the_id(pyoci: Pyoci, bundle: Bundle) -> None:
    """After delete --force the same id (and cgroup path) can be created again."""
    bundle.with_args("sleep", "1000")
    cid = new_id()
    killed_at(pyoci, "created", "create", "--bundle", str(bundle.path), cid)
    force_delete_leaves_nothing(pyoci, cid)
    create_ok(pyoci, bundle, cid)
    assert truthful_state(pyoci, cid) == "created"
    force_delete_leaves_nothing(pyoci, cid)


# -- start, exec, delete -------------------------------------------------------------

@pytest.mark.parametrize("point", ["start.connected", "start.released", "start.unlinked"])
def test_start_killed(pyoci: Pyoci, bundle: Bundle, point: str) -> None:
    """Whenever start dies once it has reached the init, the program runs: "running"."""
    bundle.with_args("sleep", "1000")
    cid = new_id()
    pid = create_ok(pyoci, bundle, cid)
    killed_at(pyoci, point, "start", cid)
    for _ in range(200):  # the init execs on its own once start is gone
        if _comm(pid) == "sleep":
            break
        time.sleep(0.02)
    assert truthful_state(pyoci, cid, pid) == "running"
    assert _comm(pid) == "sleep"
    force_delete_leaves_nothing(pyoci, cid)


@pytest.mark.parametrize("point", ["exec.cgroup", "exec.started"])
def test_exec_killed(pyoci: Pyoci, bundle: Bundle, point: str) -> None:
    """The container keeps running; a process exec left behind goes with delete --force."""
    bundle.with_args("sleep", "1000")
    cid = new_id()
    pid = create_ok(pyoci, bundle, cid)
    pyoci("start", cid)
    killed_at(pyoci, point, "exec", cid, "sleep", "999")
    assert truthful_state(pyoci, cid, pid) == "running"
    force_delete_leaves_nothing(pyoci, cid)


@pytest.mark.parametrize("point", ["delete.killed", "delete.cgroup"])
def test_delete_killed(pyoci: Pyoci, bundle: Bundle, point: str) -> None:
    bundle.with_args("sleep", "1000")
    cid = new_id()
    pid = create_ok(pyoci, bundle, cid)
    pyoci("start", cid)
    killed_at(pyoci, point, "delete", "--force", cid)
    assert truthful_state(pyoci, cid, pid) == "stopped"
    force_delete_leaves_nothing(pyoci, cid)


# -- seeded random delays ------------------------------------------------------------

ROUNDS = 3


@pytest.mark.parametrize("command", ["create", "start", "exec", "delete"])
def test_killed_at_random(pyoci: Pyoci, bundle: Bundle, command: str) -> None:
    rng = random.Random(f"issue-8-{command}")
    bundle.with_args("sleep", "1000")
    for _ in range(ROUNDS):
        cid = new_id()
        delay = rng.uniform(0.0, 0.5)
        pid = 0
        if command == "create":
            killed_after(pyoci, delay, "create", "--bundle", str(bundle.path), cid)
        else:
            pid = create_ok(pyoci, bundle, cid)
            if command != "start":
                pyoci("start", cid)
            args = {"start": ("start", cid), "exec": ("exec", cid, "sleep", "999"),
                    "delete": ("delete", "--force", cid)}[command]
            killed_after(pyoci, delay, *args)
        status = truthful_state(pyoci, cid, pid if command == "delete" else 0)
        print(f"{command} killed after {delay:.3f}s: {status}")
        force_delete_leaves_nothing(pyoci, cid)

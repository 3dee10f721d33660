"""pause, resume, update, ps, events and kill --all against real containers (root).

Each test starts its own container and proves the command through the kernel's
view (freezer files, /proc, a counter the container writes to a host file),
then deletes it and checks nothing is left.
"""

from __future__ import annotations

import json
import os
import posix
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root

from pyoci.cgroups.manager import CgroupManager, hierarchies

pytestmark = [pytest.mark.root, needs_root]

FORKING = ("sh", "-c", "sleep 100 & sleep 100 & wait")


def new_id() -> str:
    return f"pyoci-{uuid4().hex[:8]}"


def poll(fn: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {fn}")
        time.sleep(0.02)
    return value


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def started(pyoci: Pyoci, bundle: Bundle, *args: str) -> str:
    """create (stdio to /dev/null: the init keeps it) then start."""
    cid = new_id()
    bundle.with_args(*args)
    subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle",
                    str(bundle.path), cid], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
    pyoci("start", cid)
    return cid


def finish(pyoci: Pyoci, cid: str) -> None:
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


def cgroup_path(pyoci: Pyoci, cid: str, hierarchy: str) -> Path:
    state = json.loads((pyoci.root / cid / "state.json").read_text())
    return Path(state["cgroup"]["paths"][hierarchy])


def ps_json(pyoci: Pyoci, cid: str) -> list[int] | None:
    return json.loads(pyoci("ps", "--format", "json", cid).stdout)


# --- pause / resume -------------------------------------------------------------
def test_pause_stops_the_process_and_resume_restarts_it(pyoci: Pyoci, bundle: Bundle,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    bundle.edit(lambda c: c["mounts"].append(
        {"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]}))
    cid = started(pyoci, bundle, "sh", "-c",
                  "i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.02; done")
    counter = out / "n"

    def count() -> int:
        text = counter.read_text().strip() if counter.exists() else ""
        return int(text) if text else 0

    poll(lambda: count() > 3)
    pyoci("pause", cid)
    assert pyoci.state(cid)["status"] == "paused"
    assert (cgroup_path(pyoci, cid, "freezer") / "freezer.state").read_text().strip() == "FROZEN"
    frozen_at = count()
    time.sleep(0.5)
    assert count() == frozen_at, "the paused container kept writing"
    again = pyoci("pause", cid, check=False)
    assert again.returncode == 1 and b"container not running" in again.stderr
    pyoci("resume", cid)
    assert pyoci.state(cid)["status"] == "running"
    poll(lambda: count() > frozen_at + 3)
    again = pyoci("resume", cid, check=False)
    assert again.returncode == 1 and b"container not paused" in again.stderr
    finish(pyoci, cid)


def test_pause_of_a_stopped_container_and_unknown_ids(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = started(pyoci, bundle, "true")
    poll(lambda: pyoci.state(cid)["status"] == "stopped")
    res = pyoci("pause", cid, check=False)
    assert res.returncode == 1 and res.stderr.decode().strip() == "pyoci: container not running"
    res = pyoci("resume", cid, check=False)
    assert res.returncode == 1 and b"container not paused" in res.stderr
    assert pyoci("ps", "--format", "json", cid).stdout == b"null\n"
    finish(pyoci, cid)
    for command in (("pause",), ("resume",), ("ps",), ("ps", "--format", "json"),
                    ("update", "--pids-limit", "5"), ("events", "--stats")):
        res = pyoci(*command, "nothing-pyoci", check=False)
        assert res.returncode == 1, command
        assert res.stderr.decode().strip() == 'pyoci: container "nothing-pyoci" does not exist'


def test_v2_freeze_waits_for_frozen(tmp_path: Path) -> None:
    """The cgroup.freeze path, on a cgroup2 directory of the unified tree."""
    unified = hierarchies().get("")
    if not unified:
        pytest.skip("no cgroup2 hierarchy mounted")
    path = Path(unified) / f"pyoci-freeze-{uuid4().hex[:8]}"
    path.mkdir()
    proc = subprocess.Popen(["sleep", "100"])
    try:
        if not (path / "cgroup.freeze").exists():
            pytest.skip("this kernel's cgroup2 has no cgroup.freeze")
        manager = CgroupManager({"": str(path)})
        manager.add(proc.pid)
        manager.freeze()
        assert "frozen 1" in (path / "cgroup.events").read_text()
        assert manager.is_frozen()
        manager.thaw()
        assert "frozen 0" in (path / "cgroup.events").read_text()
        assert not manager.is_frozen()
    finally:
        proc.kill()
        proc.wait()
        poll(lambda: not (path / "cgroup.procs").read_text().strip())
        path.rmdir()


# --- kill --all -----------------------------------------------------------------
def test_kill_all_uses_cgroup_kill(pyoci: Pyoci, bundle: Bundle,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process dies, forks included, without one kill(2) from us."""
    cid = started(pyoci, bundle, *FORKING)
    pids = poll(lambda: (p := ps_json(pyoci, cid)) and len(p) == 3 and p)
    unified = cgroup_path(pyoci, cid, "")
    if not (unified / "cgroup.kill").exists():
        pytest.skip("the container's cgroup2 directory has no cgroup.kill")
    state = json.loads((pyoci.root / cid / "state.json").read_text())

    def refuse(*_: object) -> None:
        raise AssertionError("kill(2) used instead of cgroup.kill")

    monkeypatch.setattr(os, "kill", refuse)
    monkeypatch.setattr(posix, "kill", refuse)  # what pyoci.cgroups.manager calls
    CgroupManager(state["cgroup"]["paths"]).signal_all(signal.SIGKILL)
    monkeypatch.undo()
    poll(lambda: not any(alive(p) for p in pids))
    assert pyoci.state(cid)["status"] == "stopped"
    finish(pyoci, cid)


def test_kill_all_command_kills_forked_processes(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = started(pyoci, bundle, *FORKING)
    pids = poll(lambda: (p := ps_json(pyoci, cid)) and len(p) == 3 and p)
    pyoci("kill", "--all", cid, "9")
    poll(lambda: not any(alive(p) for p in pids))
    assert pyoci("ps", "--format", "json", cid).stdout == b"null\n"
    finish(pyoci, cid)


def test_kill_all_other_signal_freezes_signals_thaws(pyoci: Pyoci, bundle: Bundle) -> None:
    """TERM reaches the forked sleeps (not the init, which ignores it); thawed after."""
    cid = started(pyoci, bundle, "sh", "-c", "sleep 100 & sleep 100 & wait; sleep 100")
    pids = poll(lambda: (p := ps_json(pyoci, cid)) and len(p) == 3 and p)
    init = pyoci.state(cid)["pid"]
    pyoci("kill", "--all", cid, "TERM")
    children = [p for p in pids if p != init]
    poll(lambda: not any(alive(p) for p in children))
    assert alive(init)
    assert pyoci.state(cid)["status"] == "running", "left frozen after kill --all"
    finish(pyoci, cid)


# --- ps -------------------------------------------------------------------------
def test_ps_json_and_table(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = started(pyoci, bundle, *FORKING)
    pids = poll(lambda: (p := ps_json(pyoci, cid)) and len(p) == 3 and p)
    procs = [int(p) for p in (cgroup_path(pyoci, cid, "pids") / "cgroup.procs")
             .read_text().split()]
    assert sorted(pids) == sorted(procs)
    assert pyoci.state(cid)["pid"] in pids
    table = pyoci("ps", cid).stdout.decode().splitlines()
    assert table[0].split()[:2] == ["UID", "PID"]
    assert sorted(int(line.split()[1]) for line in table[1:]) == sorted(pids)
    custom = pyoci("ps", cid, "-o", "pid,comm").stdout.decode().splitlines()
    assert custom[0].split() == ["PID", "COMMAND"]
    assert sorted(line.split()[1] for line in custom[1:]) == ["sh", "sleep", "sleep"]
    bad = pyoci("ps", "--format", "yaml", cid, check=False)
    assert bad.returncode == 1 and b"invalid format" in bad.stderr
    finish(pyoci, cid)


# --- events ---------------------------------------------------------------------
def test_events_stats_once(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = started(pyoci, bundle, *FORKING)
    poll(lambda: (p := ps_json(pyoci, cid)) and len(p) == 3)
    lines = pyoci("events", "--stats", cid).stdout.decode().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["type"] == "stats" and event["id"] == cid
    data = event["data"]
    assert data["pids"]["current"] == 3
    assert data["memory"]["usage"]["usage"] > 0
    assert "pgfault" in data["memory"]["raw"]
    assert data["cpu"]["usage"]["total"] > 0
    assert len(data["cpu"]["usage"]["percpu"]) == os.cpu_count()
    assert list(data) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                          "network_interfaces"]  # runc 1.1.5's order
    assert list(data["cpuset"])[:3] == ["cpus", "cpu_exclusive", "mems"]
    finish(pyoci, cid)


def test_events_stream_until_the_container_stops(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = started(pyoci, bundle, "sleep", "1")
    res = pyoci("events", "--interval", "200ms", cid, timeout=20)
    events = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert len(events) >= 2, "expected a stats event every 200ms for about a second"
    assert {e["type"] for e in events} == {"stats"}
    bad = pyoci("events", "--interval", "soon", cid, check=False)
    assert bad.returncode == 1 and b"invalid duration" in bad.stderr
    finish(pyoci, cid)


def test_events_reports_oom(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    cid = new_id()
    bundle.with_args("sh", "-c", "sleep 0.5; head -c 400m /dev/zero | tail; sleep 100")
    subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle",
                    str(bundle.path), cid], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
    memory = cgroup_path(pyoci, cid, "memory")
    (memory / "memory.limit_in_bytes").write_text(str(32 << 20))
    out = tmp_path / "events.out"
    with out.open("wb") as sink:
        watcher = subprocess.Popen([*PYOCI, "--root", str(pyoci.root), "events", cid],
                                   stdout=sink, stderr=subprocess.DEVNULL)
        try:
            pyoci("start", cid)
            poll(lambda: b'"oom"' in out.read_bytes(), timeout=20)
        finally:
            watcher.kill()
            watcher.wait()
    assert json.loads(out.read_text().splitlines()[0]) == {"type": "oom", "id": cid}
    finish(pyoci, cid)


# --- update ---------------------------------------------------------------------
def test_update_parses_runc_flags_and_units(tmp_path: Path) -> None:
    from pyoci.container.update import build_resources, ram_in_bytes
    from pyoci.errors import UsageError

    assert ram_in_bytes("64m") == 64 << 20
    assert ram_in_bytes("1g") == 1 << 30
    assert ram_in_bytes("512KiB") == 512 << 10
    assert ram_in_bytes("1.5g") == 3 << 29
    source = tmp_path / "r.json"
    source.write_text(json.dumps({"memory": {"limit": 1000, "swap": 2000},
                                  "cpu": {"shares": 512}, "blockIO": {"weight": 0}}))
    doc = build_resources(str(source), {"--memory": "64m", "--memory-swap": "-1",
                                        "--cpu-quota": "-1", "--cpuset-cpus": "0",
                                        "--pids-limit": "100", "--blkio-weight": "300"})
    assert doc == {"memory": {"limit": 64 << 20, "swap": -1},
                   "cpu": {"shares": 512, "quota": -1, "cpus": "0"},
                   "pids": {"limit": 100}, "blockIO": {"weight": 300}}
    for flag, value in (("--memory", "abc"), ("--cpu-shares", "-5"), ("--blkio-weight", "x"),
                        ("--memory", "-2")):
        with pytest.raises(UsageError, match=f'{flag}: invalid value "{value}"'):
            build_resources(None, {flag: value})


def test_update_through_stdin_as_containerd(pyoci: Pyoci, bundle: Bundle) -> None:
    try:
        from pyoci.cgroups import resources  # noqa: F401
    except ImportError:
        pytest.skip("pyoci.cgroups.resources (the limits writer) has not landed yet")
    cid = started(pyoci, bundle, "sleep", "100")
    doc = {"memory": {"limit": 67108864, "swap": 134217728}, "cpu": {"shares": 512},
           "pids": {"limit": 100}, "blockIO": {"weight": 0}}
    pyoci("update", "--resources", "-", cid, input=json.dumps(doc).encode())
    assert (cgroup_path(pyoci, cid, "memory") / "memory.limit_in_bytes").read_text() \
        .strip() == "67108864"
    assert (cgroup_path(pyoci, cid, "cpu") / "cpu.shares").read_text().strip() == "512"
    assert (cgroup_path(pyoci, cid, "pids") / "pids.max").read_text().strip() == "100"
    pyoci("update", "--pids-limit", "50", "--memory", "96m", "--cpu-share", "256", cid)
    assert (cgroup_path(pyoci, cid, "cpu") / "cpu.shares").read_text().strip() == "256"
    assert (cgroup_path(pyoci, cid, "pids") / "pids.max").read_text().strip() == "50"
    stored = json.loads((pyoci.root / cid / "state.json").read_text())["config"]
    assert stored["linux"]["resources"]["pids"] == {"limit": 50}
    assert stored["linux"]["resources"]["memory"]["limit"] == 96 << 20
    assert stored["linux"]["resources"]["cpu"]["shares"] == 256
    assert stored["linux"]["resources"]["memory"]["swap"] == 134217728
    finish(pyoci, cid)

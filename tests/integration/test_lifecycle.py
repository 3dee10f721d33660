"""The container lifecycle through the real ``pyoci`` binary (root only).

create → state → start → (exit) → stopped → delete, and the refusals, kill
forms, ``run``, ``list``, the zombie rule and parallel creates.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import (
    PYOCI,
    ROOTFS,
    Bundle,
    Pyoci,
    assert_nothing_left,
    cgroup_dirs,
    needs_root,
    official_validator,
)

pytestmark = [pytest.mark.root, needs_root]

SLEEP = ("sleep", "1000")
# An init that handles TERM (a pid-namespace init ignores unhandled signals).
TRAPPING = ("sh", "-c", "trap 'exit 3' TERM; sleep 1000 & wait")


def new_id() -> str:
    return f"pyoci-{uuid4().hex[:8]}"


def poll(fn: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {fn}")
        time.sleep(interval)


def proc_state(pid: int) -> str | None:
    """The one-letter state of a host pid, None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def alive(pid: int) -> bool:
    return proc_state(pid) not in (None, "Z", "X")


def status_line(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


def handles(pid: int, sig: int) -> bool:
    try:
        return bool(int(status_line(pid, "SigCgt"), 16) & (1 << (sig - 1)))
    except (OSError, KeyError):
        return False


def status_of(pyoci: Pyoci, cid: str) -> str:
    return pyoci.state(cid)["status"]


def wait_status(pyoci: Pyoci, cid: str, want: str, timeout: float = 10.0) -> dict:
    return poll(lambda: (s := pyoci.state(cid))["status"] == want and s, timeout)  # type: ignore[return-value]


def create_started(pyoci: Pyoci, bundle: Bundle,
                   args: tuple[str, ...] = TRAPPING) -> tuple[str, int]:
    cid = new_id()
    bundle.with_args(*args)
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    pid = pyoci.state(cid)["pid"]
    pyoci("start", cid)
    if args == TRAPPING:
        poll(lambda: handles(pid, signal.SIGTERM))
    return cid, pid


def detached(pyoci: Pyoci, *args: str, check: bool = True,
             cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``pyoci create``/``run -d``: the container keeps create's stdio, so use files."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cmd = [*PYOCI, "--root", str(pyoci.root), *args]
        proc = subprocess.run(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                              timeout=60, cwd=cwd)
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}: {proc.stderr.decode()}")
    return proc


def force_delete(pyoci: Pyoci, cid: str) -> None:
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


# --- create / state -----------------------------------------------------------


def test_create_state_pidfile_and_schema(pyoci: Pyoci, bundle: Bundle, tmp_path: Path,
                                         spec_dir: Path) -> None:
    cid = new_id()
    annotations = {"org.example.key": "value", "com.pyoci.test": cid}
    bundle.edit(lambda c: (c["process"].update(args=list(SLEEP)),
                           c.update(annotations=annotations)))
    pidfile = tmp_path / "init.pid"
    detached(pyoci, "create", "--bundle", str(bundle.path), "--pid-file", str(pidfile), cid)

    state = pyoci.state(cid)
    errors = sorted(e.message for e in official_validator(spec_dir, "state-schema.json")
                    .iter_errors(state))
    assert errors == []
    assert state["ociVersion"] == "1.3.0"
    assert state["id"] == cid
    assert state["status"] == "created"
    assert state["bundle"] == str(bundle.path)
    assert state["rootfs"] == bundle.config["root"]["path"]
    assert state["annotations"] == annotations

    raw = pidfile.read_bytes()
    assert raw.isdigit(), f"pid file holds {raw!r}"
    pid = int(raw)
    assert pid == state["pid"] > 0
    assert alive(pid)
    # It is the container's init: pid 1 in its own pid namespace.
    assert status_line(pid, "NSpid").split()[-1] == "1"
    assert os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    # Its cgroup exists in every hierarchy.
    assert len(cgroup_dirs(cid)) >= 2
    force_delete(pyoci, cid)
    assert not alive(pid)


def test_args_run_only_after_start_then_stopped(pyoci: Pyoci, bundle: Bundle,
                                                tmp_path: Path, spec_dir: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cid = new_id()
    bundle.edit(lambda c: (
        c["process"].update(args=["sh", "-c", "echo ran > /tmp/marker"]),
        c["mounts"].append({"destination": "/tmp", "type": "bind", "source": str(out),
                            "options": ["rbind", "rw"]})))
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    pid = pyoci.state(cid)["pid"]
    time.sleep(0.2)
    assert not (out / "marker").exists(), "process.args ran before start"
    assert pyoci.state(cid)["status"] == "created"

    pyoci("start", cid)
    poll(lambda: (out / "marker").exists())
    assert (out / "marker").read_text() == "ran\n"
    state = wait_status(pyoci, cid, "stopped")
    assert state["pid"] == 0
    assert not alive(pid)
    assert list(official_validator(spec_dir, "state-schema.json").iter_errors(state)) == []

    again = pyoci("start", cid, check=False)
    assert again.returncode != 0
    assert b"Traceback" not in again.stderr

    pyoci("delete", cid)
    assert_nothing_left(pyoci, cid)


def test_start_twice_fails(pyoci: Pyoci, bundle: Bundle, spec_dir: Path) -> None:
    cid, pid = create_started(pyoci, bundle, SLEEP)
    state = pyoci.state(cid)
    assert state["status"] == "running" and state["pid"] == pid
    assert list(official_validator(spec_dir, "state-schema.json").iter_errors(state)) == []
    second = pyoci("start", cid, check=False)
    assert second.returncode != 0
    assert second.stderr.count(b"\n") == 1
    assert alive(pid) and status_of(pyoci, cid) == "running"
    force_delete(pyoci, cid)


def test_delete_running_is_refused_then_force_kills(pyoci: Pyoci, bundle: Bundle) -> None:
    cid, pid = create_started(pyoci, bundle, SLEEP)
    refused = pyoci("delete", cid, check=False)
    assert refused.returncode != 0
    assert b"not stopped" in refused.stderr
    assert alive(pid)
    assert status_of(pyoci, cid) == "running"
    assert (pyoci.root / cid).is_dir()

    dirs = cgroup_dirs(cid)
    assert len(dirs) >= 2, dirs
    pyoci("delete", "--force", cid)
    assert not alive(pid)
    assert not (pyoci.root / cid).exists()
    assert [d for d in dirs if d.exists()] == []
    assert_nothing_left(pyoci, cid)


def test_delete_force_of_a_created_container(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    bundle.with_args(*SLEEP)
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    pid = pyoci.state(cid)["pid"]
    force_delete(pyoci, cid)
    assert not alive(pid)


def test_unknown_id(pyoci: Pyoci) -> None:
    cid = new_id()
    assert pyoci("delete", "--force", cid, check=False).returncode == 0
    for command in (["delete", cid], ["state", cid], ["start", cid], ["kill", cid],
                    ["kill", cid, "KILL"], ["kill", "--all", cid, "KILL"]):
        proc = pyoci(*command, check=False)
        assert proc.returncode == 1, (command, proc)
        assert b"does not exist" in proc.stderr, (command, proc.stderr)
        assert b"Traceback" not in proc.stderr


def test_duplicate_id_fails_and_keeps_the_first(pyoci: Pyoci, bundle: Bundle,
                                                tmp_path: Path) -> None:
    cid = new_id()
    bundle.with_args(*SLEEP)
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    first = pyoci.state(cid)
    dirs = cgroup_dirs(cid)

    other = Bundle(tmp_path / "other").write()
    other.with_args("sh", "-c", "exit 0")
    pidfile = tmp_path / "dup.pid"
    dup = detached(pyoci, "create", "--bundle", str(other.path), "--pid-file", str(pidfile), cid,
                check=False)
    assert dup.returncode != 0
    assert b"already exists" in dup.stderr
    assert not pidfile.exists()

    assert pyoci.state(cid) == first
    assert alive(first["pid"])
    assert cgroup_dirs(cid) == dirs
    pyoci("start", cid)
    assert status_of(pyoci, cid) == "running"
    force_delete(pyoci, cid)


# --- kill ---------------------------------------------------------------------


@pytest.mark.parametrize("sig,code", [("TERM", 3), ("SIGTERM", 3), ("15", 3), ("KILL", None)])
def test_kill_signal_forms(pyoci: Pyoci, bundle: Bundle, sig: str, code: int | None) -> None:
    cid, pid = create_started(pyoci, bundle)
    pyoci("kill", cid, sig)
    state = wait_status(pyoci, cid, "stopped")
    assert state["pid"] == 0
    # A zombie until the subreaper (this test process) reaps it.
    _, status = os.waitpid(pid, 0)
    if code is None:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    else:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == code
    pyoci("delete", cid)
    assert_nothing_left(pyoci, cid)


def test_kill_default_signal_is_term(pyoci: Pyoci, bundle: Bundle) -> None:
    cid, pid = create_started(pyoci, bundle)
    pyoci("kill", cid)
    wait_status(pyoci, cid, "stopped")
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3
    pyoci("delete", cid)


def test_kill_stopped_container_fails(pyoci: Pyoci, bundle: Bundle) -> None:
    cid, _ = create_started(pyoci, bundle, ("true",))
    wait_status(pyoci, cid, "stopped")
    proc = pyoci("kill", cid, "KILL", check=False)
    assert proc.returncode != 0
    assert b"container not running" in proc.stderr
    pyoci("delete", cid)
    assert_nothing_left(pyoci, cid)


def test_kill_bad_signal(pyoci: Pyoci, bundle: Bundle) -> None:
    cid, pid = create_started(pyoci, bundle, SLEEP)
    for bad in ("NOSUCHSIG", "-1", "99999"):
        proc = pyoci("kill", cid, bad, check=False)
        assert proc.returncode != 0, bad
        assert b"Traceback" not in proc.stderr
    assert alive(pid)
    # Signal 0 only asks whether the init exists, as kill(2) and runc do.
    assert pyoci("kill", cid, "0").returncode == 0
    assert alive(pid)
    force_delete(pyoci, cid)
    assert pyoci("kill", cid, "0", check=False).returncode != 0


def cgroup_procs(cid: str) -> list[int]:
    pids: set[int] = set()
    for d in cgroup_dirs(cid):
        try:
            pids |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
        except OSError:
            pass
    return sorted(pids)


def test_kill_all(pyoci: Pyoci, bundle: Bundle) -> None:
    cid, pid = create_started(
        pyoci, bundle, ("sh", "-c", "sleep 1000 & sleep 1000 & trap 'exit 3' TERM; wait"))
    poll(lambda: len(cgroup_procs(cid)) >= 3)
    members = cgroup_procs(cid)
    assert pid in members
    pyoci("kill", "--all", cid, "KILL")
    poll(lambda: cgroup_procs(cid) == [])
    wait_status(pyoci, cid, "stopped")
    for member in members:
        assert not alive(member)
    pyoci("delete", cid)
    assert_nothing_left(pyoci, cid)


# --- run ----------------------------------------------------------------------


def test_run_returns_exit_status(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    bundle.with_args("sh", "-c", "echo out; echo err >&2; exit 7")
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False)
    assert proc.returncode == 7, proc
    assert proc.stdout == b"out\n"
    assert proc.stderr == b"err\n"
    assert_nothing_left(pyoci, cid)


def test_run_killed_by_signal_returns_128_plus_signal(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    bundle.with_args(*SLEEP)
    child = subprocess.Popen([*PYOCI, "--root", str(pyoci.root), "run", "--bundle",
                              str(bundle.path), cid], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        poll(lambda: (pyoci.root / cid).is_dir() and
             pyoci("state", cid, check=False).stdout.find(b'"running"') >= 0)
        pyoci("kill", cid, "KILL")
        assert child.wait(timeout=10) == 128 + signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert_nothing_left(pyoci, cid)


def test_run_detach(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    bundle.with_args(*SLEEP)
    start = time.monotonic()
    proc = detached(pyoci, "run", "--detach", "--bundle", str(bundle.path), cid)
    assert time.monotonic() - start < 10
    assert proc.returncode == 0
    state = pyoci.state(cid)
    assert state["status"] == "running"
    assert alive(state["pid"])
    force_delete(pyoci, cid)


# --- list ---------------------------------------------------------------------


def test_list_shows_created_and_running(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    created = new_id()
    bundle.with_args(*SLEEP)
    detached(pyoci, "create", "--bundle", str(bundle.path), created)
    running, _ = create_started(pyoci, Bundle(tmp_path / "b2").write(), SLEEP)

    table = pyoci("list").stdout.decode().splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[created][2] == "created"
    assert rows[running][2] == "running"
    assert rows[created][1] == str(pyoci.state(created)["pid"])
    assert rows[running][3] == str(tmp_path / "b2")

    docs = {d["id"]: d for d in json.loads(pyoci("list", "--format", "json").stdout)}
    assert set(docs) == {created, running}
    assert docs[created]["status"] == "created"
    assert docs[running]["status"] == "running"
    assert docs[created]["bundle"] == str(bundle.path)
    assert docs[running]["pid"] == pyoci.state(running)["pid"]

    quiet = pyoci("list", "-q").stdout.decode().split()
    assert sorted(quiet) == sorted([created, running])
    force_delete(pyoci, created)
    force_delete(pyoci, running)
    assert pyoci("list", "-q").stdout.strip() == b""


def test_list_empty_root(pyoci: Pyoci) -> None:
    proc = pyoci("list", "--format", "json")
    assert json.loads(proc.stdout or b"[]") in ([], None)


# --- the zombie rule ------------------------------------------------------------


def test_unreaped_init_reads_as_stopped(pyoci: Pyoci, bundle: Bundle) -> None:
    cid, pid = create_started(pyoci, bundle, ("true",))
    # Nobody reaps it yet: this test process is its (subreaper) parent.
    poll(lambda: proc_state(pid) == "Z")
    state = pyoci.state(cid)
    assert state["status"] == "stopped"
    assert state["pid"] == 0
    listed = json.loads(pyoci("list", "--format", "json").stdout)
    assert [d["status"] for d in listed if d["id"] == cid] == ["stopped"]
    kill = pyoci("kill", cid, "KILL", check=False)
    assert kill.returncode != 0 and b"container not running" in kill.stderr
    pyoci("delete", cid)  # a plain delete is allowed
    assert_nothing_left(pyoci, cid)


# --- paths --------------------------------------------------------------------


def test_relative_root_path_and_relative_bundle(pyoci: Pyoci, bundle: Bundle,
                                                tmp_path: Path) -> None:
    shutil.copytree(ROOTFS, bundle.path / "rootfs", symlinks=True)
    (bundle.path / "rootfs" / "only-in-this-copy").write_text("yes\n")
    bundle.edit(lambda c: (c["root"].update(path="rootfs"),
                           c["process"].update(args=["cat", "/only-in-this-copy"])))
    cid = new_id()
    detached(pyoci, "create", "--bundle", bundle.path.name, cid, cwd=tmp_path)
    state = pyoci.state(cid)
    assert state["bundle"] == str(bundle.path)
    assert state["rootfs"] == str(bundle.path / "rootfs")
    pyoci("delete", "--force", cid)

    cid2 = new_id()
    proc = pyoci("run", "--bundle", "bundle", cid2, cwd=tmp_path)
    assert proc.stdout == b"yes\n"
    assert_nothing_left(pyoci, cid)
    assert_nothing_left(pyoci, cid2)


def test_bundle_defaults_to_cwd(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    bundle.with_args("true")
    detached(pyoci, "create", cid, cwd=bundle.path)
    assert pyoci.state(cid)["bundle"] == str(bundle.path)
    force_delete(pyoci, cid)


# --- parallel -------------------------------------------------------------------


def test_parallel_creates(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.with_args(*SLEEP)
    ids = [new_id() for _ in range(10)]

    def create(cid: str) -> subprocess.CompletedProcess:
        return detached(pyoci, "create", "--bundle", str(bundle.path), cid, check=False)

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(create, ids))
    try:
        for cid, proc in zip(ids, results, strict=True):
            assert proc.returncode == 0, (cid, proc.stderr)
        listed = json.loads(pyoci("list", "--format", "json").stdout)
        assert sorted(d["id"] for d in listed) == sorted(ids)
        assert {d["status"] for d in listed} == {"created"}
        assert len({d["pid"] for d in listed}) == 10
    finally:
        with ThreadPoolExecutor(max_workers=10) as pool:
            deleted = list(pool.map(lambda cid: pyoci("delete", "--force", cid, check=False),
                                    ids))
    assert [p.returncode for p in deleted] == [0] * 10
    for cid in ids:
        assert_nothing_left(pyoci, cid)


# --- odds and ends -----------------------------------------------------------------


def test_run_passes_stdin_through(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    bundle.with_args("sh", "-c", "tr a-z A-Z; exit 4")
    proc = pyoci("run", "--bundle", str(bundle.path), cid, input=b"hello stdin\n", check=False)
    assert proc.returncode == 4
    assert proc.stdout == b"HELLO STDIN\n"
    assert_nothing_left(pyoci, cid)


def test_relative_pid_file(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    cid = new_id()
    bundle.with_args(*SLEEP)
    detached(pyoci, "create", "--bundle", str(bundle.path), "--pid-file", "rel.pid", cid,
             cwd=tmp_path)
    assert (tmp_path / "rel.pid").read_text() == str(pyoci.state(cid)["pid"])
    force_delete(pyoci, cid)


def test_kill_created_container(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    bundle.with_args("sh", "-c", "echo should-not-run")
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    pid = pyoci.state(cid)["pid"]
    pyoci("kill", cid, "KILL")
    state = wait_status(pyoci, cid, "stopped")
    assert state["pid"] == 0
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    refused = pyoci("start", cid, check=False)
    assert refused.returncode != 0
    pyoci("delete", cid)
    assert_nothing_left(pyoci, cid)


def test_parallel_creates_of_one_id(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.with_args(*SLEEP)
    cid = new_id()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(
            lambda _: detached(pyoci, "create", "--bundle", str(bundle.path), cid, check=False),
            range(6)))
    codes = sorted(p.returncode for p in results)
    assert codes.count(0) == 1, [(p.returncode, p.stderr) for p in results]
    for proc in results:
        if proc.returncode:
            assert b"already exists" in proc.stderr, proc.stderr
    state = pyoci.state(cid)
    assert state["status"] == "created" and alive(state["pid"])
    pyoci("start", cid)
    assert status_of(pyoci, cid) == "running"
    force_delete(pyoci, cid)


def test_without_pid_namespace_delete_kills_leftovers(pyoci: Pyoci, bundle: Bundle) -> None:
    """With the host pid namespace, the init's children outlive it: delete kills them."""
    cid = new_id()
    bundle.edit(lambda c: (
        c["process"].update(args=["sh", "-c", "sleep 1000 & sleep 1001 & exit 0"]),
        c["linux"].update(namespaces=[ns for ns in c["linux"]["namespaces"]
                                      if ns["type"] != "pid"])))
    detached(pyoci, "create", "--bundle", str(bundle.path), cid)
    pid = pyoci.state(cid)["pid"]
    assert status_line(pid, "NSpid").split() == [str(pid)]
    pyoci("start", cid)
    wait_status(pyoci, cid, "stopped")
    poll(lambda: len(cgroup_procs(cid)) == 2)
    leftovers = cgroup_procs(cid)
    assert all(alive(p) for p in leftovers)
    pyoci("delete", cid)
    for p in leftovers:
        poll(lambda p=p: not alive(p))
    assert_nothing_left(pyoci, cid)


def test_run_forwards_signals(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    bundle.with_args(*TRAPPING)
    child = subprocess.Popen([*PYOCI, "--root", str(pyoci.root), "run", "--bundle",
                              str(bundle.path), cid], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def trapping() -> bool:
            if not (pyoci.root / cid / "state.json").exists():
                return False
            state = json.loads(pyoci("state", cid, check=False).stdout or b"{}")
            return state.get("status") == "running" and handles(state["pid"], signal.SIGTERM)

        poll(trapping)
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == 3
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert_nothing_left(pyoci, cid)


def test_run_detach_pid_file_and_stdio(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    cid = new_id()
    bundle.with_args("sh", "-c", "echo to-stdout; echo to-stderr >&2")
    pidfile = tmp_path / "pid"
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), "run", "-d", "--pid-file",
                               str(pidfile), "--bundle", str(bundle.path), cid],
                              stdin=subprocess.DEVNULL, stdout=o, stderr=e, timeout=60)
    assert proc.returncode == 0, err.read_text()
    assert int(pidfile.read_text()) > 0
    state = wait_status(pyoci, cid, "stopped")
    assert state["pid"] == 0
    # The detached container's stdio is the one run was given.
    assert out.read_text() == "to-stdout\n"
    assert err.read_text() == "to-stderr\n"
    pyoci("delete", cid)
    assert_nothing_left(pyoci, cid)

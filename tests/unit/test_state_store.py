"""The state store: ids, exclusive create, atomic saves, process identity, status.

No root needed: everything happens under tmp_path and with the test's own
(or its forked children's) processes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import PYOCI, official_validator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyoci import SPEC_VERSION
from pyoci.container import state as state_mod
from pyoci.container.state import (
    CREATED,
    CREATING,
    EXEC_SOCKET,
    RUNNING,
    STATE_FILE,
    STOPPED,
    ContainerState,
    ProcessIdentity,
    StateStore,
    read_proc_stat,
    rfc3339_now,
)
from pyoci.errors import ContainerNotFound, PyociError


def _state(cid: str = "pyoci-unit", **kw: object) -> ContainerState:
    base = dict(id=cid, bundle="/b", rootfs="/b/rootfs", created=rfc3339_now(), owner="root")
    base.update(kw)
    return ContainerState(**base)  # type: ignore[arg-type]


def _self() -> ProcessIdentity:
    return ProcessIdentity.of(os.getpid())


def _dead() -> ProcessIdentity:
    """Our own pid with a start time it never had: a recycled pid."""
    me = _self()
    return ProcessIdentity(me.pid, me.start_time + 12345)


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(str(tmp_path / "root"))


# -- StateStore ----------------------------------------------------------------------

def test_create_open_ids(store: StateStore) -> None:
    assert store.ids() == []  # root does not even exist yet
    with store.create("pyoci-b") as cdir:
        cdir.save(_state("pyoci-b"))
    with store.create("pyoci-a") as cdir:
        cdir.save(_state("pyoci-a"))
    assert store.ids() == ["pyoci-a", "pyoci-b"]
    assert oct(os.stat(store.root).st_mode & 0o777) == "0o700"
    with store.open("pyoci-a") as cdir:
        assert cdir.path == os.path.join(store.root, "pyoci-a")
        loaded = cdir.load()
        assert loaded.id == "pyoci-a"
        assert _roundtrip(loaded).to_json() == loaded.to_json() == _state(
            "pyoci-a", created=loaded.created).to_json()
    assert store.path("x") == os.path.join(store.root, "x")


def _roundtrip(state: ContainerState) -> ContainerState:
    return ContainerState.from_json(json.loads(json.dumps(state.to_json())))


def test_ids_skip_dirs_without_state(store: StateStore) -> None:
    with store.create("pyoci-half"):
        pass  # a create that has not saved yet (or crashed before)
    os.makedirs(os.path.join(store.root, "pyoci-stray"))
    Path(store.root, "pyoci-file").write_text("")
    assert store.ids() == []


def test_create_is_exclusive(store: StateStore) -> None:
    first = store.create("pyoci-x")
    with pytest.raises(PyociError, match='container with id "pyoci-x" already exists'):
        store.create("pyoci-x")
    first.close()
    # Still exclusive once the first creator is gone: the directory is the claim.
    with pytest.raises(PyociError, match="already exists"):
        store.create("pyoci-x")


def test_racing_creates_have_one_winner(store: StateStore) -> None:
    results: list[object] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        try:
            results.append(store.create("pyoci-race"))
        except PyociError as e:
            results.append(e)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if not isinstance(r, PyociError)]
    assert len(winners) == 1
    winners[0].close()  # type: ignore[attr-defined]


def test_open_missing(store: StateStore) -> None:
    with pytest.raises(ContainerNotFound, match='container "pyoci-none" does not exist'):
        store.open("pyoci-none")
    with pytest.raises(ContainerNotFound):
        store.open("pyoci-none", lock=False)


def test_open_waits_for_lock_and_sees_deletion(store: StateStore) -> None:
    """A command blocked on the lock while the holder deletes gets 'does not exist'."""
    with store.create("pyoci-del") as cdir:
        cdir.save(_state("pyoci-del"))
    holder = store.open("pyoci-del")
    outcome: list[object] = []
    waiter = threading.Thread(target=lambda: outcome.append(_try_open(store, "pyoci-del")))
    waiter.start()
    deadline = time.monotonic() + 5
    while not _blocked_in_flock(waiter) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert outcome == []  # still waiting for the lock
    holder.remove()
    holder.close()
    waiter.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], ContainerNotFound), outcome


def _blocked_in_flock(thread: threading.Thread) -> bool:
    try:
        wchan = Path(f"/proc/self/task/{thread.native_id}/wchan").read_text()
    except OSError:
        return False
    return "lock" in wchan or wchan not in ("", "0")


def _try_open(store: StateStore, cid: str) -> object:
    try:
        cdir = store.open(cid)
    except PyociError as e:
        return e
    cdir.close()
    return cdir


def test_remove(store: StateStore) -> None:
    cdir = store.create("pyoci-rm")
    cdir.save(_state("pyoci-rm"))
    Path(cdir.file(EXEC_SOCKET)).write_text("")
    cdir.remove()
    cdir.close()
    cdir.close()
    assert not os.path.exists(cdir.path)
    assert store.ids() == []


# -- atomic save, corrupt state -------------------------------------------------------

def test_save_leaves_no_temporary(store: StateStore) -> None:
    with store.create("pyoci-s") as cdir:
        for status in (CREATING, CREATED):
            cdir.save(_state("pyoci-s", status=status))
        assert sorted(os.listdir(cdir.path)) == [STATE_FILE]
        assert oct(os.stat(cdir.file(STATE_FILE)).st_mode & 0o777) == "0o600"
        assert cdir.load().status == CREATED


def test_save_failure_keeps_old_state(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that dies half-way leaves the previous state.json whole."""
    with store.create("pyoci-s") as cdir:
        cdir.save(_state("pyoci-s", status=CREATING))
        before = Path(cdir.file(STATE_FILE)).read_bytes()
        real_write = os.write

        def half_then_fail(fd: int, data: bytes) -> int:
            real_write(fd, bytes(data)[: len(data) // 2])
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(state_mod.posix, "write", half_then_fail)
        with pytest.raises(OSError):
            cdir.save(_state("pyoci-s", status=CREATED, config={"big": "x" * 100000}))
        monkeypatch.undo()
        assert Path(cdir.file(STATE_FILE)).read_bytes() == before
        assert cdir.load().status == CREATING


def test_save_survives_short_writes(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.write may write less than asked (e.g. a signal, a nearly full disk): the
    saved file must still be whole, or the save must fail."""
    real_write = os.write

    def short(fd: int, data: bytes) -> int:
        return real_write(fd, bytes(data)[:4096])

    monkeypatch.setattr(state_mod.posix, "write", short)
    with store.create("pyoci-short") as cdir:
        state = _state("pyoci-short", config={"big": "x" * 100000})
        try:
            cdir.save(state)
        except OSError:
            return
        monkeypatch.undo()
        assert cdir.load().to_json() == _roundtrip(state).to_json()


def test_readers_never_see_half_a_file(store: StateStore) -> None:
    """A reader racing many saves always parses a complete document."""
    with store.create("pyoci-race") as cdir:
        cdir.save(_state("pyoci-race"))
        stop = threading.Event()
        bad: list[str] = []

        def reader() -> None:
            while not stop.is_set():
                try:
                    cdir.load()
                except PyociError as e:
                    bad.append(e.message)

        t = threading.Thread(target=reader)
        t.start()
        try:
            for i in range(200):
                cdir.save(_state("pyoci-race", config={"n": i, "pad": "y" * (i * 500)}))
        finally:
            stop.set()
            t.join()
        assert bad == []


@pytest.mark.parametrize("content", [
    b"",
    b'{"id": "pyoci-t", "bundle": "/b", "rootf',
    b"\xff\xfe garbage",
    b"[1, 2]",
    b'"text"',
    b'{"bundle": "/b"}',
    b'{"id": "x", "bundle": "/b", "rootfs": "/r", "init": "nope"}',
    b'{"id": "x", "bundle": "/b", "rootfs": "/r", "init": {"pid": 1, "bogus": 2}}',
    b'{"id": "x", "bundle": "/b", "rootfs": "/r", "init": {"pid": null, "start_time": 0}}',
    b'{"id": "x", "bundle": "/b", "rootfs": "/r", "init": {"pid": "12", "start_time": 0}}',
    b'{"id": "x", "bundle": "/b", "rootfs": "/r", "creator": {"pid": 1, "start_time": []}}',
    b"null",
], ids=["empty", "truncated", "binary", "list", "string", "missing-fields", "init-str",
        "init-extra", "pid-null", "pid-str", "start-list", "null"])
def test_corrupt_state_is_one_line_error(store: StateStore, content: bytes) -> None:
    with store.create("pyoci-t") as cdir:
        Path(cdir.file(STATE_FILE)).write_bytes(content)
        with pytest.raises(PyociError) as info:
            cdir.load()
    msg = info.value.message
    assert "corrupt state" in msg and STATE_FILE in msg and "\n" not in msg


def test_missing_state_file(store: StateStore) -> None:
    with store.create("pyoci-m") as cdir:
        with pytest.raises(PyociError, match="state file missing"):
            cdir.load()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_any_truncation_loads_or_says_corrupt(store: StateStore, cut: int) -> None:
    cid = "pyoci-h"
    path = Path(store.path(cid))
    if not path.exists():
        store.create(cid).close()
    good = json.dumps(_state(cid, init=_self(), annotations={"a": "b"}).to_json()).encode()
    path.joinpath(STATE_FILE).write_bytes(good[: cut % (len(good) + 1)])
    with store.open(cid) as cdir:
        try:
            cdir.load()
        except PyociError as e:
            assert "corrupt state" in e.message


def test_cli_state_of_torn_file(tmp_path: Path) -> None:
    """Through the real binary: one line on stderr, no traceback."""
    store = StateStore(str(tmp_path / "root"))
    with store.create("pyoci-torn") as cdir:
        Path(cdir.file(STATE_FILE)).write_bytes(b'{"id": "pyoci-torn", "bun')
    for args in (["state", "pyoci-torn"], ["list"], ["kill", "pyoci-torn", "KILL"]):
        proc = subprocess.run([*PYOCI, "--root", store.root, *args], capture_output=True,
                              timeout=30)
        err = proc.stderr.decode()
        if args == ["list"] and proc.returncode == 0:
            continue  # list may skip the broken entry
        assert proc.returncode != 0, args
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
        assert "corrupt state" in err, err


# -- ProcessIdentity ---------------------------------------------------------------

def test_identity_of_self() -> None:
    me = _self()
    assert me.pid == os.getpid() and me.start_time > 0
    assert me.alive()
    assert me.state() in ("R", "S")
    assert ProcessIdentity.of(os.getpid()).to_json() == me.to_json()  # stable


def test_identity_with_wrong_start_time() -> None:
    assert not _dead().alive()
    assert _dead().state() is None


def test_identity_of_nothing() -> None:
    assert not ProcessIdentity().alive()
    assert not ProcessIdentity(-1, 5).alive()
    assert ProcessIdentity.of(2**22 + 7).to_json() == {"pid": 2**22 + 7, "start_time": 0}
    assert not ProcessIdentity(2**22 + 7, 0).alive()
    assert read_proc_stat(2**22 + 7) is None


def test_identity_of_zombie_child() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    try:
        ident = ProcessIdentity.of(pid)
        assert ident.alive()
        os.close(w)  # the child exits; we do not reap it yet
        deadline = time.monotonic() + 5
        while ident.state() != "Z" and time.monotonic() < deadline:
            time.sleep(0.002)
        assert ident.state() == "Z"
        assert not ident.alive()
    finally:
        os.waitpid(pid, 0)
    assert not ident.alive() and ident.state() is None


def test_read_proc_stat_with_odd_command_name(tmp_path: Path) -> None:
    """comm may contain spaces and ')': the fields after it must still be found."""
    odd = tmp_path / "a) b (c"
    odd.symlink_to("/bin/sleep")
    proc = subprocess.Popen([str(odd), "5"])
    try:
        stat = read_proc_stat(proc.pid)
        assert stat is not None and stat[0] in ("R", "S", "D")
        assert stat[1] == ProcessIdentity.of(proc.pid).start_time > 0
    finally:
        proc.kill()
        proc.wait()


# -- status derivation -------------------------------------------------------------

def test_status_creating(tmp_path: Path) -> None:
    assert _state(status=CREATING, creator=_self()).current_status(str(tmp_path)) == CREATING
    assert _state(status=CREATING, creator=_dead()).current_status(str(tmp_path)) == STOPPED


def test_status_created_needs_exec_socket(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Created: exec.sock is there and the init still waits (its comm is pyoci:init)."""
    state = _state(status=CREATED, init=_self())
    (tmp_path / EXEC_SOCKET).write_text("")
    assert state.current_status(str(tmp_path)) == RUNNING  # our comm is not the init's
    monkeypatch.setattr(state_mod, "_comm", lambda pid: state_mod.INIT_WAITING_NAME)
    assert state.current_status(str(tmp_path)) == CREATED
    (tmp_path / EXEC_SOCKET).unlink()
    assert state.current_status(str(tmp_path)) == RUNNING


def test_status_running_and_stopped(tmp_path: Path) -> None:
    (tmp_path / EXEC_SOCKET).write_text("")
    assert _state(status=RUNNING, init=_self()).current_status(str(tmp_path)) == RUNNING
    for status in (CREATED, RUNNING):
        assert _state(status=status, init=_dead()).current_status(str(tmp_path)) == STOPPED
        assert _state(status=status).current_status(str(tmp_path)) == STOPPED


def test_status_of_zombie_init_is_stopped(tmp_path: Path) -> None:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        ident = ProcessIdentity(pid, 0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stat = read_proc_stat(pid)
            if stat and stat[0] == "Z":
                ident = ProcessIdentity(pid, stat[1])
                break
            time.sleep(0.002)
        state = _state(status=RUNNING, init=ident)
        assert state.current_status(str(tmp_path)) == STOPPED
    finally:
        os.waitpid(pid, 0)


# -- the public document -----------------------------------------------------------

def test_public_document(tmp_path: Path) -> None:
    state = _state("pyoci-pub", status=CREATED, init=_self(), annotations={"k": "v"},
                   config={"secret": 1}, cgroup={"paths": {}})
    doc = state.public(CREATED)
    assert list(doc) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                         "owner", "annotations"]
    assert doc["ociVersion"] == SPEC_VERSION == "1.3.0"
    assert doc["pid"] == os.getpid() and doc["status"] == CREATED
    assert doc["annotations"] == {"k": "v"}
    assert "config" not in doc and "cgroup" not in doc and "init" not in doc


@pytest.mark.parametrize("status", [CREATING, CREATED, RUNNING, STOPPED])
def test_public_document_matches_spec_schema(status: str, spec_dir: Path) -> None:
    doc = _state("pyoci-pub", status=status, init=_self()).public(status)
    assert "annotations" not in doc
    assert (doc["pid"] == 0) == (status in (CREATING, STOPPED))
    validator = official_validator(spec_dir, "state-schema.json")
    errors = [e.message for e in validator.iter_errors(doc)]
    assert errors == []


def test_rfc3339_now() -> None:
    before = datetime.now(UTC)
    text = rfc3339_now()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", text), text
    parsed = datetime.strptime(text[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=UTC)
    assert before.replace(microsecond=0) <= parsed <= after
    assert rfc3339_now() >= text  # lexical order is time order

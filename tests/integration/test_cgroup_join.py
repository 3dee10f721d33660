"""pyoci.cgroups.join on real cgroups (root only): a child born in its v2 cgroup
by clone3, v1 hierarchies joined by the child itself, and create and exec
doing without a single cgroup.procs write where the kernel allows it.

The point of it is speed (no RCU grace period per create or exec, README
"Where the time goes"), but what these tests assert is membership and which
writes happen, never time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PYOCI, REPO, Bundle, Pyoci, needs_root
from test_exec import host_cgroup_procs, run_exec
from test_lifecycle import create_started, detached

pytestmark = [pytest.mark.root, needs_root]

UNIFIED = Path("/sys/fs/cgroup/unified")
CPU = Path("/sys/fs/cgroup/cpu")


@pytest.fixture
def cgroups() -> Iterator[dict[str, str]]:
    """A fresh cgroup in the cpu hierarchy and in the unified one."""
    if not (UNIFIED / "cgroup.procs").exists() or not (CPU / "tasks").exists():
        pytest.skip("needs the hybrid layout: v1 cpu at /sys/fs/cgroup/cpu and cgroup2 "
                    "at /sys/fs/cgroup/unified")
    name = f"pyoci-join-{uuid.uuid4().hex[:8]}"
    made = {"cpu": CPU / name, "": UNIFIED / name}
    for path in made.values():
        path.mkdir()
    yield {k: str(v) for k, v in made.items()}
    for path in made.values():
        path.rmdir()  # fails if a test left a process behind


CHILD = """
import json, os, sys
sys.path.insert(0, {repo!r})
from pyoci.cgroups.join import CgroupJoin, parent_joins
join = CgroupJoin.open(json.loads(sys.argv[1]))
pid = join.fork(into=sys.argv[2] == "into")
if pid == 0:
    join.enter()
    os.write(1, open("/proc/self/cgroup").read().encode())
    os._exit(0)
join.close()
os.waitpid(pid, 0)
print("born_inside", join.born_inside, "parent_joins", parent_joins(join))
"""


def _join_in_subprocess(paths: dict[str, str], mode: str) -> tuple[dict[str, str], str]:
    """Fork through CgroupJoin in a fresh interpreter (a raw clone3 wants a
    single-threaded caller, which pytest's process is not bound to be)."""
    out = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO)),
                          json.dumps(paths), mode],
                         capture_output=True, check=True, timeout=30).stdout.decode()
    *cgroup_lines, verdict = out.strip().splitlines()
    membership = {}
    for line in cgroup_lines:
        _, controllers, path = line.split(":", 2)
        membership[controllers] = path
    return membership, verdict


def test_child_is_born_in_v2_and_joins_v1_itself(cgroups: dict[str, str]) -> None:
    name = "/" + Path(cgroups[""]).name
    membership, verdict = _join_in_subprocess(cgroups, "into")
    assert membership[""] == name  # born there: clone3 CLONE_INTO_CGROUP
    assert membership["cpu"] == name  # its own write of "0" to tasks
    assert verdict == "born_inside True parent_joins False"
    assert (UNIFIED / name.lstrip("/") / "cgroup.procs").read_text() == ""  # gone with it


def test_plain_fork_leaves_v2_to_the_parent(cgroups: dict[str, str]) -> None:
    name = "/" + Path(cgroups[""]).name
    membership, verdict = _join_in_subprocess(cgroups, "plain")
    assert membership[""] != name and membership["cpu"] == name
    assert verdict == "born_inside False parent_joins True"


# -- which cgroup.procs writes create and exec make ----------------------------------

AUDIT = """
import posix, sys
_log = posix.open({log!r}, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT, 0o600)

def _hook(event, args):
    if event != "open" or not isinstance(args[0], str):
        return
    if not args[0].endswith("/cgroup.procs"):
        return
    mode, flags = args[1], args[2]
    writing = any(c in mode for c in "wa+") if mode else bool(flags & 3)
    if writing:
        posix.write(_log, (args[0] + "\\n").encode())

sys.addaudithook(_hook)
sys.argv = [{launcher!r}] + sys.argv[1:]
exec(compile(open({launcher!r}).read(), {launcher!r}, "exec"))
"""


@pytest.fixture
def audited(pyoci: Pyoci, tmp_path: Path) -> tuple[Pyoci, Path]:
    """``pyoci`` whose every process (forks included) logs each cgroup.procs it
    opens for writing: the launcher run under an audit hook."""
    if PYOCI[0].endswith("python") or len(PYOCI) != 1:
        pytest.skip("needs the venv's launcher (.ci/setup.sh writes .venv/bin/pyoci)")
    log = tmp_path / "procs-writes.log"
    log.touch()
    wrapper = tmp_path / "audited_pyoci.py"
    wrapper.write_text(AUDIT.format(log=str(log), launcher=PYOCI[0]))
    python = Path(PYOCI[0]).read_text().splitlines()[0].removeprefix("#!").split()[0]
    original = list(PYOCI)
    PYOCI[:] = [python, "-IS", str(wrapper)]  # the list every helper runs
    try:
        yield pyoci, log
    finally:
        PYOCI[:] = original


def _writes(log: Path) -> list[str]:
    return log.read_text().splitlines()


def test_create_and_exec_write_no_cgroup_procs(audited: tuple[Pyoci, Path],
                                               bundle: Bundle) -> None:
    pyoci, log = audited
    cid, pid = create_started(pyoci, bundle, ("sleep", "100"))
    proc = run_exec(pyoci, cid, "true")
    assert proc.returncode == 0, proc.stderr
    assert _writes(log) == []  # every join was a clone3 or a write of "0" to tasks
    # ... and yet the init and an exec'd process are in every one of its cgroups.
    assert pid in host_cgroup_procs(pid)
    exec_pid_file = log.parent / "exec.pid"
    detached(pyoci, "exec", "--detach", "--pid-file", str(exec_pid_file), cid, "sleep", "50")
    exec_pid = int(exec_pid_file.read_text())
    try:
        assert exec_pid in host_cgroup_procs(pid)
        assert _writes(log) == []
    finally:
        os.kill(exec_pid, signal.SIGKILL)
        os.waitpid(exec_pid, 0)  # reparented to us, the tests' subreaper
    pyoci("delete", "--force", cid)


def test_user_namespace_create_writes_only_the_v2_cgroup(audited: tuple[Pyoci, Path],
                                                        bundle: Bundle) -> None:
    """clone3 checks the forking process's credentials: from the container's
    user namespace it would be refused (and, refused, would leave the new pid
    namespace unable to fork), so there the parent writes the v2 cgroup; the
    v1 hierarchies the init still joins itself."""
    pyoci, log = audited

    def user_namespace(config: dict) -> None:
        config["linux"]["namespaces"].append({"type": "user"})
        mapping = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        config["linux"].update(uidMappings=mapping, gidMappings=mapping)

    bundle.edit(user_namespace)
    cid, pid = create_started(pyoci, bundle, ("sleep", "100"))
    paths = json.loads((pyoci.root / cid / "state.json").read_text())["cgroup"]["paths"]
    expected = [paths[""] + "/cgroup.procs"] if "" in paths else []
    assert _writes(log) == expected
    assert pid in host_cgroup_procs(pid)
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        assert line.endswith("/" + cid), line  # every hierarchy, v2 included
    pyoci("delete", "--force", cid)

"""Lifecycle hooks at the spec's moments (config.md hooks, runtime.md lifecycle).

Every hook is one shell script that appends a JSON line to a log: its kind,
the state it read on stdin, its mount namespace, its env and extra args. The
hook directory is bind-mounted on the container's /mnt, so a startContainer
hook (whose path resolves in the container) runs the same script through the
container's busybox sh and writes the same log file.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root, official_validator

from pyoci.container.hooks import HOOK_KINDS

pytestmark = [pytest.mark.root, needs_root]

SCRIPT = """#!/bin/sh
# $1: the log as this hook sees it, $2: the kind, then the extra args
log=$1; kind=$2; shift 2
state=$(cat)
printf '{"kind":"%s","mnt":"%s","env":"%s","leak":"%s","extra":"%s","state":%s}\\n' \\
    "$kind" "$(readlink /proc/self/ns/mnt)" "$HOOK_ENV" "$PYOCI_HOOK_LEAK" "$*" "$state" >> "$log"
exit ${HOOK_EXIT:-0}
"""
IN_CONTAINER = "/mnt"
RUNTIME_KINDS = ("prestart", "createRuntime", "poststart", "poststop")


def new_id() -> str:
    return f"pyoci-hook-{uuid4().hex[:8]}"


class HookLog:
    """The hook script and its log, on the host and (bind-mounted) in the container."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "hooks"
        self.dir.mkdir()
        self.script = self.dir / "hook.sh"
        self.script.write_text(SCRIPT)
        self.script.chmod(0o755)
        self.log = self.dir / "log"

    def entry(self, kind: str, *, fail: bool = False, **extra: object) -> dict:
        """A hook of ``kind``; a startContainer hook's path and log resolve in the container."""
        inside = kind == "startContainer"
        path = f"{IN_CONTAINER}/hook.sh" if inside else str(self.script)
        log = f"{IN_CONTAINER}/log" if inside else str(self.log)
        env = [f"HOOK_ENV=env-{kind}"] + (["HOOK_EXIT=3"] if fail else [])
        return {"path": path, "args": ["hook.sh", log, kind, "x", "y z"], "env": env, **extra}

    def install(self, bundle: Bundle, hooks: dict[str, list[dict]]) -> None:
        def edit(cfg: dict) -> None:
            cfg["hooks"] = hooks
            cfg["annotations"] = {"org.pyoci.test": "hooks"}
            cfg["mounts"].append({"destination": IN_CONTAINER, "type": "bind",
                                  "source": str(self.dir), "options": ["rbind", "rw"]})
        bundle.edit(edit)

    def records(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def kinds(self) -> list[str]:
        return [r["kind"] for r in self.records()]


@pytest.fixture
def hooks(tmp_path: Path) -> HookLog:
    return HookLog(tmp_path)


def every_hook(hooks: HookLog, failing: str = "") -> dict[str, list[dict]]:
    return {kind: [hooks.entry(kind, fail=kind == failing)] for kind in HOOK_KINDS}


def create(pyoci: Pyoci, bundle: Bundle, cid: str, *, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``pyoci create``: the container keeps create's stdio, so use files, not pipes."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cmd = [*PYOCI, "--root", str(pyoci.root), "create", "--bundle", str(bundle.path), cid]
        proc = subprocess.run(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                              timeout=60, env=env)
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    if check:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


def proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def wait_stopped(pyoci: Pyoci, cid: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while pyoci.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline, f"{cid} did not stop"
        time.sleep(0.05)


def test_full_lifecycle_order_state_namespaces(pyoci: Pyoci, bundle: Bundle, hooks: HookLog,
                                               spec_dir: Path) -> None:
    bundle.with_args("sleep", "100")
    hooks.install(bundle, every_hook(hooks))
    cid = new_id()
    env = dict(os.environ, PYOCI_HOOK_LEAK="leaked")
    create(pyoci, bundle, cid, env=env)
    assert hooks.kinds() == ["prestart", "createRuntime", "createContainer"]
    created = pyoci.state(cid)
    pid = created["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    pyoci("start", cid, env=env)
    running = pyoci.state(cid)
    assert hooks.kinds() == ["prestart", "createRuntime", "createContainer", "startContainer",
                             "poststart"]
    pyoci("kill", cid, "KILL")
    wait_stopped(pyoci, cid)
    pyoci("delete", cid, env=env)
    assert_nothing_left(pyoci, cid)

    records = {r["kind"]: r for r in hooks.records()}
    assert list(records) == list(HOOK_KINDS)  # each once, in the lifecycle's order
    validator = official_validator(spec_dir, "state-schema.json")
    host_mnt = os.readlink("/proc/self/ns/mnt")
    assert container_mnt != host_mnt
    for kind, rec in records.items():
        validator.validate(rec["state"])
        assert rec["mnt"] == (host_mnt if kind in RUNTIME_KINDS else container_mnt), kind
        assert rec["env"] == f"env-{kind}" and rec["leak"] == "", kind  # only the hook's env
        assert rec["extra"] == "x y z", kind
    # The very document `pyoci state` prints, with the status of each moment.
    for kind in ("prestart", "createRuntime"):
        assert records[kind]["state"] == dict(created, status="creating"), kind
    # Container-namespace hooks get the pid as seen by the container: 1 in its pid ns.
    assert records["createContainer"]["state"] == dict(created, status="creating", pid=1)
    assert records["startContainer"]["state"] == dict(created, pid=1)
    assert records["poststart"]["state"] == running
    assert records["poststop"]["state"] == dict(running, status="stopped", pid=0)
    assert created["annotations"] == {"org.pyoci.test": "hooks"}


@pytest.mark.parametrize("failing", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook(pyoci: Pyoci, bundle: Bundle, hooks: HookLog, failing: str) -> None:
    """Lifecycle steps 3-5: an error, the container stopped and destroyed (step 12),
    then the poststop hooks (step 13)."""
    hooks.install(bundle, every_hook(hooks, failing=failing))
    cid = new_id()
    proc = create(pyoci, bundle, cid, check=False)
    assert proc.returncode == 1
    path = hooks.entry(failing)["path"]
    assert proc.stderr.decode().strip() == \
        f"pyoci: hooks.{failing}[0]: {path} exited with status 3"
    assert_nothing_left(pyoci, cid)
    order = list(HOOK_KINDS)
    assert hooks.kinds() == order[:order.index(failing) + 1] + ["poststop"]
    poststop = hooks.records()[-1]["state"]
    assert poststop["status"] == "stopped" and poststop["pid"] == 0 and poststop["id"] == cid


def test_failing_start_container_hook(pyoci: Pyoci, bundle: Bundle, hooks: HookLog) -> None:
    """Step 7: start fails with the hook's error; the program never runs, the
    container is stopped and destroyed, the poststop hooks run."""
    bundle.with_args("sh", "-c", f"touch {IN_CONTAINER}/program-ran; sleep 100")
    hooks.install(bundle, every_hook(hooks, failing="startContainer"))
    cid = new_id()
    create(pyoci, bundle, cid)
    proc = pyoci("start", cid, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == \
        f"pyoci: hooks.startContainer[0]: {IN_CONTAINER}/hook.sh exited with status 3"
    assert "does not exist" in pyoci("state", cid, check=False).stderr.decode()
    assert_nothing_left(pyoci, cid)
    assert not (hooks.dir / "program-ran").exists()
    assert hooks.kinds() == ["prestart", "createRuntime", "createContainer", "startContainer",
                             "poststop"]


def test_failing_poststart_hook(pyoci: Pyoci, bundle: Bundle, hooks: HookLog) -> None:
    """Step 9: the program ran, then start fails; the container is killed and
    destroyed, the poststop hooks run."""
    bundle.with_args("sleep", "100")
    hooks.install(bundle, every_hook(hooks, failing="poststart"))
    cid = new_id()
    create(pyoci, bundle, cid)
    pid = pyoci.state(cid)["pid"]
    proc = pyoci("start", cid, check=False)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == \
        f"pyoci: hooks.poststart[0]: {hooks.script} exited with status 3"
    assert_nothing_left(pyoci, cid)
    assert proc_state(pid) in (None, "Z")  # killed (the test process, a subreaper, reaps it)
    assert hooks.kinds() == list(HOOK_KINDS)
    assert hooks.records()[-1]["state"]["status"] == "stopped"


def test_failing_poststop_hook_is_a_warning(pyoci: Pyoci, bundle: Bundle, hooks: HookLog,
                                            tmp_path: Path) -> None:
    """Step 13: a warning (stderr and --log), the next hook still runs, delete succeeds."""
    bundle.with_args("true")
    hooks.install(bundle, {"poststop": [hooks.entry("poststop", fail=True),
                                        {"path": str(tmp_path / "missing")},
                                        hooks.entry("poststop")]})
    cid = new_id()
    create(pyoci, bundle, cid)
    log = tmp_path / "pyoci.log"
    proc = pyoci("delete", cid, global_args=("--log", str(log), "--log-format", "json"))
    assert proc.returncode == 0
    first = f"hooks.poststop[0]: {hooks.script} exited with status 3"
    second = f"hooks.poststop[1]: {tmp_path / 'missing'} could not be run: " \
             "No such file or directory"
    assert proc.stderr.decode().splitlines() == [f"pyoci: warning: {first}",
                                                 f"pyoci: warning: {second}"]
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["level"], e["msg"]) for e in entries] == [("warning", first), ("warning", second)]
    assert hooks.kinds() == ["poststop", "poststop"]
    assert_nothing_left(pyoci, cid)


def test_timeout_fails_create_and_leaves_nothing(pyoci: Pyoci, bundle: Bundle, hooks: HookLog,
                                                 tmp_path: Path) -> None:
    marker = "4244.75"  # a unique sleep length to find stray processes by
    hooks.install(bundle, {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", marker],
                                              "timeout": 1}],
                           "poststop": [hooks.entry("poststop")]})
    cid = new_id()
    began = time.monotonic()
    proc = create(pyoci, bundle, cid, check=False)
    took = time.monotonic() - began
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == \
        "pyoci: hooks.createRuntime[0]: /bin/sleep timed out after 1 s"
    assert 1 <= took < 5, took
    assert_nothing_left(pyoci, cid)
    assert subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True).stdout == b""
    assert hooks.kinds() == ["poststop"]


def test_run_foreground_runs_every_hook(pyoci: Pyoci, bundle: Bundle, hooks: HookLog) -> None:
    bundle.with_args("sh", "-c", "exit 7")
    hooks.install(bundle, every_hook(hooks))
    cid = new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 7, proc.stderr.decode()
    assert hooks.kinds() == list(HOOK_KINDS)
    assert hooks.records()[-1]["state"]["status"] == "stopped"
    assert_nothing_left(pyoci, cid)


def test_run_foreground_failing_poststart(pyoci: Pyoci, bundle: Bundle, hooks: HookLog) -> None:
    bundle.with_args("sleep", "100")
    hooks.install(bundle, every_hook(hooks, failing="poststart"))
    cid = new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == \
        f"pyoci: hooks.poststart[0]: {hooks.script} exited with status 3"
    assert hooks.kinds() == list(HOOK_KINDS)  # poststop once, after the destroy
    assert_nothing_left(pyoci, cid)


def test_prestart_can_reach_the_container_network_namespace(pyoci: Pyoci, bundle: Bundle,
                                                            tmp_path: Path) -> None:
    """The point of prestart/createRuntime: the state's pid names the new namespaces."""
    out = tmp_path / "netns"
    script = tmp_path / "netns.sh"
    script.write_text('#!/bin/sh\npid=$(sed \'s/.*"pid":\\([0-9]*\\).*/\\1/\')\n'
                      f'readlink /proc/$pid/ns/net > {out}\n')
    script.chmod(0o755)
    bundle.with_args("sleep", "100")
    bundle.edit(lambda c: c.update(hooks={"createRuntime": [{"path": str(script)}]}))
    cid = new_id()
    create(pyoci, bundle, cid)
    pid = pyoci.state(cid)["pid"]
    assert out.read_text().strip() == os.readlink(f"/proc/{pid}/ns/net")
    assert out.read_text().strip() != os.readlink("/proc/self/ns/net")
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)

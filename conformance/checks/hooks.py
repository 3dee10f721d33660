"""Checks of the hook lifecycle: config.md#posix-platform-hooks with runtime.md#lifecycle.

Every hook is one shell script that records, into a directory shared by host and
container (bind-mounted at /cf-hooks): its name in a common log (the order), the
state it read on stdin, its namespaces, its argv and environment, and the command
line of the state's pid. The suite appends its own markers (create-returned,
start-returned, delete-called, delete-returned) to the same log, so "when" is
observed, not assumed. One full lifecycle is recorded per runtime and shared by
the checks that only read it; failure and timeout checks each run their own.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from conformance.framework import Bundle, Context, check, fail, ns_id, pid_alive, require

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop")
RUNTIME_NS = ("prestart", "createRuntime", "poststart", "poststop")
CONTAINER_NS = ("createContainer", "startContainer")
NS_KINDS = ("mnt", "pid", "net", "uts", "ipc")
IN_ROOTFS = "/cf-hook.sh"  # the startContainer script's path: only inside the rootfs
SHARED = "/cf-hooks"  # where the container sees the hooks directory

HOOK_SCRIPT = r"""#!/bin/sh
# $1 hook name, $2 host directory for records, $3 action (fail, sleep) or nothing
name="$1"; dir="$2"
[ -d "$dir" ] || dir=/cf-hooks
cat > "$dir/$name.state"
echo "$name" >> "$dir/log"
for ns in mnt pid net uts ipc; do echo "$ns $(readlink /proc/self/ns/$ns)"; done > "$dir/$name.ns"
pid=$(tr -d ' \n\t' < "$dir/$name.state" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
[ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" > "$dir/$name.cmdline" 2>/dev/null
for a in "$0" "$@"; do echo "$a"; done > "$dir/$name.argv"
env > "$dir/$name.env"
case "$3" in
fail) exit 7 ;;
sleep) echo $$ > "$dir/$name.sleeper"; sleep 25; echo done > "$dir/$name.finished" ;;
esac
exit 0
"""
PROCESS = f"echo process >> {SHARED}/log; exec sleep 1000"
PROCESS_ARGS = ["sh", "-c", PROCESS]


@dataclass
class Hooked:
    """A bundle wired for hooks, and where the records land on the host."""

    bundle: Bundle
    records: Path
    script: Path

    def hook(self, kind: str, action: str = "", name: str = "", timeout: int = 0) -> None:
        """Append one hook of ``kind``; ``name`` tells two hooks of a kind apart."""
        path = IN_ROOTFS if kind == "startContainer" else str(self.script)
        records = SHARED if kind == "startContainer" else str(self.records)
        entry: dict = {"path": path, "args": [path, name or kind, records, action],
                       "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"CF_HOOK={kind}"]}
        if timeout:
            entry["timeout"] = timeout
        self.bundle.config.setdefault("hooks", {}).setdefault(kind, []).append(entry)

    def log(self) -> list[str]:
        path = self.records / "log"
        return path.read_text().split() if path.exists() else []

    def mark(self, what: str) -> None:
        with open(self.records / "log", "a") as f:
            f.write(what + "\n")

    def read(self, name: str) -> str | None:
        path = self.records / name
        return path.read_text() if path.exists() else None


def hooked(ctx: Context, *args: str) -> Hooked:
    """A bundle with the hook script on the host and in the rootfs, records shared."""
    bundle = ctx.bundle(*(args or PROCESS_ARGS))
    records = ctx.path("hooks")
    records.mkdir(mode=0o777)
    script = ctx.path("hook.sh")
    script.write_text(HOOK_SCRIPT)
    script.chmod(0o755)
    bundle.put(IN_ROOTFS, HOOK_SCRIPT, 0o755)
    bundle.config["mounts"].append({"destination": SHARED, "type": "bind",
                                    "source": str(records), "options": ["rbind", "rw"]})
    return Hooked(bundle, records, script)


@dataclass
class Lifecycle:
    """What one full create/start/kill/delete with every hook kind left behind."""

    cid: str
    pid: int
    bundle: str
    log: list[str]
    records: dict[str, str]
    ours: dict[str, str]
    container: dict[str, str]
    error: str = ""


_RECORDED: dict[str, Lifecycle] = {}


def lifecycle(ctx: Context) -> Lifecycle:
    """Record (once per runtime) a lifecycle with two hooks of every kind."""
    cached = _RECORDED.get(ctx.runtime.path)
    if cached is None:
        cached = _RECORDED[ctx.runtime.path] = _record(ctx)
    if cached.error:
        fail(cached.error)
    return cached


def _record(ctx: Context) -> Lifecycle:
    h = hooked(ctx)
    for kind in KINDS:
        h.hook(kind)
        h.hook(kind, name=f"{kind}-2")
    ours = {k: ns_id("self", k) for k in NS_KINDS}
    proc = ctx.create(h.bundle, check=False)
    if not proc.ok:
        return Lifecycle("", 0, "", h.log(), {}, ours, {}, f"create: {proc.describe()}")
    h.mark("create-returned")
    cid = proc.cid
    pid = ctx.host_pid(cid)
    container = {k: ns_id(pid, k) for k in NS_KINDS}
    steps = [("start", lambda: ctx.start(cid, check=False)), ("kill", lambda: ctx.kill(
        cid, "KILL", check=False)), ("delete", lambda: ctx.delete(cid, check=False))]
    error = ""
    for name, step in steps:
        if name == "delete":
            ctx.wait_status(cid, "stopped")
            h.mark("delete-called")
        result = step()
        if not result.ok and not error:
            error = f"{name}: {result.describe()}"
        if name == "start":
            h.mark("start-returned")
    h.mark("delete-returned")
    records = {p.name: p.read_text() for p in h.records.iterdir() if p.is_file()}
    return Lifecycle(cid, pid, str(h.bundle.path), h.log(), records, ours, container, error)


def _state(run: Lifecycle, kind: str) -> dict:
    raw = run.records.get(f"{kind}.state")
    require(raw is not None, f"the {kind} hook did not run")
    try:
        return json.loads(raw)
    except ValueError:
        fail(f"{kind} hook's stdin is not JSON: {raw[:200]!r}")
    return {}


def _position(run: Lifecycle, entry: str) -> int:
    require(entry in run.log, f"{entry} missing from the lifecycle log {run.log}")
    return run.log.index(entry)


def _order(run: Lifecycle, *entries: str) -> None:
    """Fail unless the entries appear in the log in this order."""
    positions = [_position(run, e) for e in entries]
    require(positions == sorted(positions), f"expected {' < '.join(entries)}; log: {run.log}")


# ---------------------------------------------------------------- when


WHEN = {
    "prestart": ("during create, before createRuntime", ("prestart", "createRuntime",
                                                         "create-returned")),
    "createRuntime": ("during create, after prestart, before createContainer",
                      ("prestart", "createRuntime", "createContainer", "create-returned")),
    "createContainer": ("during create, after createRuntime",
                        ("createRuntime", "createContainer", "create-returned")),
    "startContainer": ("during start, before the user-specified program",
                       ("create-returned", "startContainer", "process", "start-returned")),
    "poststart": ("during start, before start returns", ("create-returned", "startContainer",
                                                         "poststart", "start-returned")),
    "poststop": ("during delete, before delete returns", ("delete-called", "poststop",
                                                          "delete-returned")),
}
WHEN_TEXT = {
    "prestart": "The prestart hooks MUST be called as part of the create operation after the "
                "runtime environment has been created ... The prestart hooks MUST be called "
                "before the createRuntime hooks.",
    "createRuntime": "The createRuntime hooks MUST be called as part of the create operation "
                     "after the runtime environment has been created.",
    "createContainer": "The createContainer hooks MUST be called as part of the create "
                       "operation ... The createContainer hooks MUST be called after the "
                       "createRuntime hooks.",
    "startContainer": "The startContainer hooks MUST be called before the user-specified "
                      "process is executed as part of the start operation.",
    "poststart": "The poststart hooks MUST be called after the user-specified process is "
                 "executed but before the start operation returns.",
    "poststop": "The poststop hooks MUST be called after the container is deleted but before "
                "the delete operation returns.",
}
ANCHOR = {"prestart": "prestart", "createRuntime": "createruntime-hooks",
          "createContainer": "createcontainer-hooks", "startContainer": "startcontainer-hooks",
          "poststart": "poststart", "poststop": "poststop"}


def _when_check(kind: str) -> None:
    def body(ctx: Context) -> None:
        run = lifecycle(ctx)
        _order(run, *WHEN[kind][1])
        if kind == "poststart":  # "after the user-specified process is executed"
            seen = run.records.get("poststart.cmdline", "").split()
            require(seen == ["sleep", "1000"],
                    f"at poststart the container process runs {seen}, not the program")
        if kind in ("prestart", "createRuntime"):
            seen = run.records.get(f"{kind}.cmdline", "").split()
            require(seen[:1] != ["sh"], f"the program already ran at {kind}: {seen}")
        if kind == "poststop":
            require(not pid_alive(run.pid), "the container process lives at poststop")

    check(id=f"hooks.{kind}.when", spec=f"config.md#{ANCHOR[kind]}", level="MUST",
          text=f"{WHEN_TEXT[kind]} ({WHEN[kind][0]})")(body)


# ---------------------------------------------------------------- namespace


def _namespace_check(kind: str) -> None:
    where = "runtime" if kind in RUNTIME_NS else "container"

    def body(ctx: Context) -> None:
        run = lifecycle(ctx)
        raw = run.records.get(f"{kind}.ns")
        require(raw, f"the {kind} hook did not run")
        got = dict(line.split(" ", 1) for line in raw.splitlines() if " " in line)
        want = run.ours if where == "runtime" else run.container
        wrong = [k for k in NS_KINDS if got.get(k) != want[k]]
        require(not wrong, f"{kind} ran outside the {where} namespace for {wrong}")

    check(id=f"hooks.{kind}.namespace", spec=f"config.md#{ANCHOR[kind]}", level="MUST",
          text=f"The {kind} hooks MUST be executed in the {where} namespace.")(body)


# ---------------------------------------------------------------- stdin state


def _stdin_check(kind: str) -> None:
    def body(ctx: Context) -> None:
        run = lifecycle(ctx)
        state = _state(run, kind)
        errors = ctx.schema_errors(state, "state-schema.json")
        require(not errors, f"{kind}'s state violates the schema: {errors[:3]}")
        require(state.get("id") == run.cid, f"state id {state.get('id')!r}, not {run.cid!r}")
        require(os.path.realpath(str(state.get("bundle"))) == os.path.realpath(run.bundle),
                f"state bundle {state.get('bundle')!r}")
        if kind == "poststop":
            return  # pid is REQUIRED only while created or running
        want = run.pid if kind in RUNTIME_NS else 1
        require(state.get("pid") == want, f"state pid {state.get('pid')!r} at {kind}, "
                f"expected {want} (the pid as seen from the hook's namespace)")

    check(id=f"hooks.{kind}.stdin-state", spec="config.md#posix-platform-hooks", level="MUST",
          text="The state of the container MUST be passed to hooks over stdin ... (pid: for "
               "hooks executed in the runtime namespace, the pid as seen by the runtime; in "
               f"the container namespace, as seen by the container) -- {kind}.")(body)


for _kind in KINDS:
    _when_check(_kind)
    _namespace_check(_kind)
    _stdin_check(_kind)


@check(id="hooks.listed-order", spec="config.md#posix-platform-hooks", level="MUST",
       text="Hooks MUST be called in the listed order (two hooks of each kind run as listed).")
def listed_order(ctx: Context) -> None:
    run = lifecycle(ctx)
    for kind in KINDS:
        _order(run, kind, f"{kind}-2")


@check(id="hooks.args-env", spec="config.md#posix-platform-hooks", level="MUST",
       text="args (array of strings, OPTIONAL) with the same semantics as execv's argv; env "
            "(array of strings, OPTIONAL) with the same semantics as environ (path MUST be "
            "absolute): the hook sees exactly these.")
def args_env(ctx: Context) -> None:
    run = lifecycle(ctx)
    argv = run.records.get("createRuntime.argv", "").splitlines()
    require(argv[1:3] == ["createRuntime", str(Path(run.bundle).parent / "hooks")],
            f"createRuntime's argv is {argv}")
    env = run.records.get("createRuntime.env", "").splitlines()
    names = {line.split("=", 1)[0] for line in env}
    require("CF_HOOK=createRuntime" in env, f"the hook's env lacks CF_HOOK: {sorted(names)}")
    leaked = names - {"PATH", "CF_HOOK", "PWD", "SHLVL", "_", "OLDPWD"}
    require(not leaked, f"the hook inherited variables it was not given: {sorted(leaked)}")


@check(id="hooks.startContainer.path", spec="config.md#startcontainer-hooks", level="MUST",
       text="The startContainer hooks' path MUST resolve in the container namespace (a script "
            "that exists only inside the rootfs runs).")
def start_container_path(ctx: Context) -> None:
    require(not Path(IN_ROOTFS).exists(), f"{IN_ROOTFS} exists on the host; cannot tell")
    run = lifecycle(ctx)
    require("startContainer.state" in run.records, "the in-rootfs startContainer hook never ran")


@check(id="hooks.createContainer.path", spec="config.md#createcontainer-hooks", level="MUST",
       text="The createContainer hooks' path MUST resolve in the runtime namespace (a script "
            "that exists only on the host runs).")
def create_container_path(ctx: Context) -> None:
    run = lifecycle(ctx)
    require("createContainer.state" in run.records, "the host-only createContainer hook "
            "never ran")


# ---------------------------------------------------------------- failures


def _create_failure(kind: str) -> None:
    def body(ctx: Context) -> None:
        h = hooked(ctx, "sh", "-c", "echo ran > /cf-ran; exec sleep 1000")
        h.hook(kind, "fail")
        proc = ctx.create(h.bundle, check=False)
        ctx.expect_error(proc, f"create with a failing {kind} hook")
        require(ctx.status(proc.cid) is None, "the container exists after the failed hook")
        state = json.loads(h.read(f"{kind}.state") or "{}")
        pid = state.get("pid") if kind != "createContainer" else None
        if isinstance(pid, int) and pid > 0:
            require(not pid_alive(pid), f"the container process {pid} still lives")
        require(not (h.bundle.rootfs / "cf-ran").exists(), "the program ran")

    check(id=f"hooks.{kind}.failure", spec="runtime.md#lifecycle", level="MUST",
          text=f"If any {kind} hook fails, the runtime MUST generate an error, stop the "
               "container, and continue the lifecycle at step 12.")(body)


for _kind in ("prestart", "createRuntime", "createContainer"):
    _create_failure(_kind)


@check(id="hooks.startContainer.failure", spec="runtime.md#lifecycle", level="MUST",
       text="If any startContainer hook fails, the runtime MUST generate an error, stop the "
            "container, and continue the lifecycle at step 12.")
def start_container_failure(ctx: Context) -> None:
    h = hooked(ctx, "sh", "-c", "echo ran > /cf-ran; exec sleep 1000")
    h.hook("startContainer", "fail")
    cid = ctx.created(h.bundle)
    pid = ctx.host_pid(cid)
    ctx.expect_error(ctx.start(cid, check=False), "start with a failing startContainer hook")
    time.sleep(0.1)
    require(not pid_alive(pid), "the container process still lives")
    require(not (h.bundle.rootfs / "cf-ran").exists(), "the program ran")
    require(ctx.status(cid) in (None, "stopped"), f"status is {ctx.status(cid)!r}")


@check(id="hooks.poststart.failure", spec="runtime.md#lifecycle", level="MUST",
       text="If any poststart hook fails, the runtime MUST generate an error, stop the "
            "container, and continue the lifecycle at step 12.")
def poststart_failure(ctx: Context) -> None:
    h = hooked(ctx)
    h.hook("poststart", "fail")
    cid = ctx.created(h.bundle)
    pid = ctx.host_pid(cid)
    ctx.expect_error(ctx.start(cid, check=False), "start with a failing poststart hook")
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    require(not pid_alive(pid), "the container process still runs after poststart failed")
    require(ctx.status(cid) in (None, "stopped"), f"status is {ctx.status(cid)!r}")


@check(id="hooks.failure-continues-at-12", spec="runtime.md#lifecycle", level="MUST",
       text="If any createRuntime hook fails, the runtime MUST generate an error, stop the "
            "container, and continue the lifecycle at step 12 ... 13. The poststop hooks MUST "
            "be invoked by the runtime.")
def failure_runs_poststop(ctx: Context) -> None:
    h = hooked(ctx)
    h.hook("createRuntime", "fail")
    h.hook("poststop")
    proc = ctx.create(h.bundle, check=False)
    ctx.expect_error(proc, "create with a failing createRuntime hook")
    require("poststop" in h.log(), f"no poststop hook after the failure; log {h.log()}")


@check(id="hooks.poststop.failure", spec="runtime.md#lifecycle", level="MUST",
       text="If any poststop hook fails, the runtime MUST log a warning, but the remaining "
            "hooks and lifecycle continue as if the hook had succeeded.")
def poststop_failure(ctx: Context) -> None:
    h = hooked(ctx)
    h.hook("poststop", "fail")
    h.hook("poststop", name="poststop-2")
    cid = ctx.created(h.bundle)
    ctx.start(cid)
    ctx.kill(cid)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    require(ctx.status(cid) is None, "the container exists after delete")
    require("poststop-2" in h.log(), f"the hook after the failed one did not run: {h.log()}")


@check(id="hooks.timeout", spec="config.md#posix-platform-hooks", level="MUST",
       text="timeout (int, OPTIONAL) is the number of seconds before aborting the hook. If set, "
            "timeout MUST be greater than zero (a hook over its timeout is aborted and the "
            "create fails).")
def hook_timeout(ctx: Context) -> None:
    h = hooked(ctx)
    h.hook("createRuntime", "sleep", timeout=1)
    proc = ctx.create(h.bundle, check=False)
    ctx.expect_error(proc, "create with a createRuntime hook over its timeout")
    sleeper = int((h.read("createRuntime.sleeper") or "0").strip() or 0)
    require(sleeper, "the hook never started")
    time.sleep(0.2)
    require(not pid_alive(sleeper), f"the timed-out hook (pid {sleeper}) still runs")
    require(ctx.status(proc.cid) is None, "a container exists after the timeout")


@check(id="hooks.timeout-zero", spec="config.md#posix-platform-hooks", level="MUST",
       text="If set, timeout MUST be greater than zero (timeout 0 is rejected; no container).")
def hook_timeout_zero(ctx: Context) -> None:
    h = hooked(ctx)
    h.hook("createRuntime")
    h.bundle.config["hooks"]["createRuntime"][0]["timeout"] = 0
    proc = ctx.create(h.bundle, check=False)
    ctx.expect_error(proc, "create with a hook timeout of 0")
    require(ctx.status(proc.cid) is None, "a container exists after the error")


@check(id="hooks.path-absolute", spec="config.md#posix-platform-hooks", level="MUST",
       text="This specification extends the IEEE standard in that path MUST be absolute (a "
            "relative path is rejected, even when it would resolve from the bundle).")
def hook_path_absolute(ctx: Context) -> None:
    h = hooked(ctx)
    h.hook("createRuntime")
    relative = h.bundle.path / "hook.sh"
    relative.write_text(HOOK_SCRIPT)
    relative.chmod(0o755)
    h.bundle.config["hooks"]["createRuntime"][0]["path"] = "hook.sh"
    proc = ctx.rt("create", "--bundle", ".", ctx.new_id(), cwd=h.bundle.path.resolve(),
                  **_stdio(ctx, h.bundle.write()))
    ctx.expect_error(proc, "create with a relative hook path")
    require("createRuntime" not in h.log(), "the relative hook path was executed")


def _stdio(ctx: Context, bundle: Bundle) -> dict:
    return {"stdout": ctx.path("rel.stdout"), "stderr": ctx.path("rel.stderr")}

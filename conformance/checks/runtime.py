"""Checks derived from runtime.md: state, lifecycle, operations and errors.

Each check drives the runtime through its runc-compatible command line and
observes the outcome on the host (``/proc/<pid>``, cgroup directories, files
the container wrote into its private rootfs), not only the runtime's own reports.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from conformance.framework import (
    Bundle,
    Context,
    cgroup_dirs,
    cgroup_v1_mount,
    check,
    fail,
    ns_id,
    pid_alive,
    proc_status,
    remove_cgroup_dirs,
    require,
    skip,
)

SLEEP = ("sleep", "1000")


def wait_file(path: Path, timeout: float = 10.0) -> str:
    """Wait for a file the container writes; fail if it never appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return path.read_text()
        time.sleep(0.02)
    fail(f"{path.name} never written by the container")
    return ""


def cmdline(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return raw.decode(errors="replace").split("\0")[:-1]


def stopped_container(ctx: Context, bundle: Bundle) -> str:
    """Create and start a container whose process exits at once; wait for stopped."""
    cid = ctx.created(bundle)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    return cid


def running_container(ctx: Context, bundle: Bundle | None = None) -> tuple[str, int]:
    """A started container running ``sleep``; its id and host pid."""
    cid = ctx.created(bundle or ctx.bundle(*SLEEP))
    ctx.start(cid)
    ctx.wait_status(cid, "running")
    return cid, ctx.host_pid(cid)


def with_cgroup(ctx: Context, bundle: Bundle) -> str:
    """Give the bundle a fresh top-level cgroupsPath; remove it at clean-up."""
    path = f"/{ctx.workdir.name[-12:]}-{os.getpid()}-cg"
    bundle.config["linux"]["cgroupsPath"] = path
    ctx.defer(lambda: remove_cgroup_dirs(path))
    return path


# ---------------------------------------------------------------- state


@check(id="runtime.state.schema", spec="runtime.md#state", level="MUST",
       text="When serialized in JSON, the format MUST adhere to the JSON Schema "
            "schema/state-schema.json (checked in created, running and stopped).")
def state_schema(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    bundle.config["annotations"] = {"org.example.key": "value"}
    cid = ctx.created(bundle)
    docs = {"created": ctx.state(cid)}
    ctx.start(cid)
    docs["running"] = ctx.state(cid)
    ctx.kill(cid)
    ctx.wait_status(cid, "stopped")
    docs["stopped"] = ctx.state(cid)
    for status, doc in docs.items():
        errors = ctx.schema_errors(doc, "state-schema.json")
        require(not errors, f"{status} state violates the schema: {errors[:3]}")


@check(id="runtime.state.ociVersion", spec="runtime.md#state", level="REQUIRED",
       text="ociVersion (string, REQUIRED) is version of the OCI Runtime Specification with "
            "which the state complies; the state MUST adhere to the schema (a semantic version).")
def state_oci_version(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    version = ctx.state(cid).get("ociVersion")
    require(isinstance(version, str) and version[:1].isdigit() and version.count(".") >= 2,
            f"ociVersion is {version!r}")


@check(id="runtime.state.id", spec="runtime.md#state", level="MUST",
       text="id (string, REQUIRED) is the container's ID. This MUST be unique across all "
            "containers on this host (the state reports the id create was given).")
def state_id(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    got = ctx.state(cid).get("id")
    require(got == cid, f"state id is {got!r}, created as {cid!r}")


@check(id="runtime.state.status.created", spec="runtime.md#state", level="MUST",
       text="status created: the runtime has finished the create operation and the container "
            "process has neither exited nor executed the user-specified program (state MUST "
            "adhere to the schema).")
def status_created(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    status = ctx.state(cid).get("status")
    require(status == "created", f"status after create is {status!r}")


@check(id="runtime.state.status.running", spec="runtime.md#state", level="MUST",
       text="status running: the container process has executed the user-specified program "
            "but has not exited (state MUST adhere to the schema).")
def status_running(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    ctx.start(cid)
    status = ctx.state(cid).get("status")
    require(status == "running", f"status after start is {status!r}")


@check(id="runtime.state.status.stopped-exit", spec="runtime.md#state", level="MUST",
       text="status stopped: the container process has exited (step 10 in the lifecycle); "
            "state MUST adhere to the schema.")
def status_stopped_exit(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle("true"))
    pid = ctx.host_pid(cid)
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    require(not pid_alive(pid), f"stopped reported while pid {pid} still lives")


@check(id="runtime.state.status.stopped-kill", spec="runtime.md#state", level="MUST",
       text="stopped: the container process has exited ... This MAY happen due to ... the "
            "runtime's kill operation being invoked (the state MUST then say stopped).")
def status_stopped_kill(ctx: Context) -> None:
    cid, pid = running_container(ctx)
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    require(not pid_alive(pid), f"stopped reported while pid {pid} still lives")


@check(id="runtime.state.pid.created", spec="runtime.md#state", level="REQUIRED",
       text="pid (int, REQUIRED when status is created or running on Linux) is the ID of the "
            "container process (as seen by the runtime).")
def state_pid_created(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    pid = ctx.host_pid(cid)
    nspid = proc_status(pid).get("NSpid", "").split()
    require(nspid[-1:] == ["1"], f"pid {pid} is not PID 1 of the container's pid namespace "
            f"(NSpid {nspid})")


@check(id="runtime.state.pid.running", spec="runtime.md#state", level="REQUIRED",
       text="pid (int, REQUIRED when status is created or running on Linux) is the ID of the "
            "container process: after start it runs the user-specified program.")
def state_pid_running(ctx: Context) -> None:
    cid, pid = running_container(ctx)
    require(cmdline(pid) == list(SLEEP), f"state pid {pid} runs {cmdline(pid)}, not {SLEEP}")


@check(id="runtime.state.bundle", spec="runtime.md#state", level="REQUIRED",
       text="bundle (string, REQUIRED) is the absolute path to the container's bundle "
            "directory (state MUST adhere to the schema); create given a relative path.")
def state_bundle(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP).write()
    cid = ctx.new_id()
    proc = ctx.rt("create", "--bundle", bundle.path.name, cid, cwd=ctx.workdir,
                  stdout=ctx.out_file(cid), stderr=ctx.err_file(cid))
    require(proc.ok, f"create with a relative bundle failed: {proc.describe()}")
    got = ctx.state(cid).get("bundle")
    require(isinstance(got, str) and os.path.isabs(got), f"bundle is not absolute: {got!r}")
    require(os.path.realpath(got) == os.path.realpath(bundle.path),
            f"bundle is {got!r}, expected {bundle.path}")


@check(id="runtime.state.annotations", spec="runtime.md#state", level="MAY",
       text="annotations (map, OPTIONAL) contains the list of annotations associated with the "
            "container. If no annotations were provided then this property MAY either be "
            "absent or an empty map (provided ones must be the config's).")
def state_annotations(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    want = {"org.opencontainers.conformance.a": "1", "org.example/b": "two words"}
    bundle.config["annotations"] = want
    cid = ctx.created(bundle)
    got = ctx.state(cid).get("annotations")
    require(got == want, f"state annotations {got!r}, config had {want!r}")


@check(id="runtime.state.annotations-none", spec="runtime.md#state", level="MAY",
       text="If no annotations were provided then this property MAY either be absent or an "
            "empty map.")
def state_annotations_none(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    doc = ctx.state(cid)
    require(doc.get("annotations", {}) in ({}, None) and doc.get("annotations", {}) is not None,
            f"annotations without any in config: {doc.get('annotations')!r}")


# ---------------------------------------------------------------- query state


@check(id="runtime.state.no-id", spec="runtime.md#query-state", level="MUST",
       text="This operation MUST generate an error if it is not provided the ID of a container.")
def state_no_id(ctx: Context) -> None:
    ctx.expect_error(ctx.rt("state"), "state without an id")


@check(id="runtime.state.missing", spec="runtime.md#query-state", level="MUST",
       text="Attempting to query a container that does not exist MUST generate an error.")
def state_missing(ctx: Context) -> None:
    ctx.created(ctx.bundle(*SLEEP))  # the root exists and holds another container
    ctx.expect_error(ctx.rt("state", "cf-no-such-container"), "state of a missing id")


@check(id="runtime.state.deleted", spec="runtime.md#query-state", level="MUST",
       text="Attempting to query a container that does not exist MUST generate an error "
            "(after it was deleted).")
def state_deleted(ctx: Context) -> None:
    cid = stopped_container(ctx, ctx.bundle("true"))
    ctx.delete(cid)
    ctx.expect_error(ctx.rt("state", cid), "state of a deleted container")


# ---------------------------------------------------------------- create


@check(id="runtime.create.no-id", spec="runtime.md#create", level="MUST",
       text="This operation MUST generate an error if it is not provided a path to the bundle "
            "and the container ID to associate with the container.")
def create_no_id(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP).write()
    proc = ctx.rt("create", "--bundle", str(bundle.path))
    ctx.expect_error(proc, "create without an id")
    listed = ctx.rt("list", "-q")
    require(not listed.out.strip(), f"a container exists after the error: {listed.out!r}")


@check(id="runtime.create.bad-bundle", spec="runtime.md#create", level="MUST",
       text="This operation MUST generate an error if it is not provided a path to the bundle "
            "... (a bundle path that does not exist) and a new container MUST NOT be created.")
def create_bad_bundle(ctx: Context) -> None:
    cid = ctx.new_id()
    proc = ctx.rt("create", "--bundle", str(ctx.path("no-such-bundle")), cid)
    ctx.expect_error(proc, "create with a missing bundle")
    require(ctx.status(cid) is None, "the failed create left a container behind")


@check(id="runtime.create.duplicate-id", spec="runtime.md#create", level="MUST",
       text="If the ID provided is not unique across all containers within the scope of the "
            "runtime ... the implementation MUST generate an error and a new container MUST "
            "NOT be created.")
def create_duplicate(ctx: Context) -> None:
    first = ctx.bundle(*SLEEP)
    cid = ctx.created(first)
    before = ctx.state(cid)
    second = ctx.bundle("sh", "-c", "echo second > /second")
    proc = ctx.create(second, cid, check=False)
    ctx.expect_error(proc, "create with a duplicate id")
    after = ctx.state(cid)
    require(after == before, f"the first container's state changed: {before} -> {after}")
    require(pid_alive(before["pid"]), "the first container's process is gone")
    ctx.start(cid)
    ctx.wait_status(cid, "running")
    require(cmdline(before["pid"]) == list(SLEEP), "the container now runs another program")


@check(id="runtime.create.invalid-id", spec="runtime.md#create", level="MUST",
       text="If the ID provided ... is not valid in any other way, the implementation MUST "
            "generate an error and a new container MUST NOT be created (ids with '/' or '..').")
def create_invalid_id(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    for bad in ("../cf-escape", "cf/sub", ".."):
        proc = ctx.create(bundle, bad, check=False)
        ctx.expect_error(proc, f"create with id {bad!r}")
    require(not ctx.path("cf-escape").exists(), "state was written outside --root")
    listed = ctx.rt("list", "-q")
    require(not listed.out.strip(), f"containers exist after the errors: {listed.out!r}")


@check(id="runtime.create.cannot-apply", spec="runtime.md#create", level="MUST",
       text="If the runtime cannot apply a property as specified in the configuration, it MUST "
            "generate an error and a new container MUST NOT be created.")
def create_cannot_apply(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    bundle.config["mounts"].append(
        {"destination": "/mnt", "type": "cf-no-such-fs", "source": "none"})
    proc = ctx.create(bundle, check=False)
    ctx.expect_error(proc, "create with an unmountable filesystem type")
    require(ctx.status(proc.cid) is None, "a container exists after the error")


@check(id="runtime.create.error-no-trace", spec="runtime.md#errors", level="MUST",
       text="Unless otherwise stated, generating an error MUST leave the state of the "
            "environment as if the operation were never attempted (failed create: no cgroup, "
            "no state, the id is free).")
def create_error_no_trace(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    path = with_cgroup(ctx, bundle)
    bundle.config["mounts"].append(
        {"destination": "/mnt", "type": "cf-no-such-fs", "source": "none"})
    proc = ctx.create(bundle, check=False)
    ctx.expect_error(proc, "create with an unmountable filesystem type")
    left = cgroup_dirs(path)
    require(not left, f"the failed create left cgroup directories: {[str(p) for p in left]}")
    require(ctx.status(proc.cid) is None, "the failed create left state behind")
    bundle.config["mounts"].pop()
    ctx.create(bundle, proc.cid)  # the same id must be free again


@check(id="runtime.create.args-not-run", spec="runtime.md#create", level="MUST",
       text="process.args MUST NOT be applied until triggered by the start operation.")
def create_args_not_run(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "echo ran > /cf-ran; exec sleep 1000")
    cid = ctx.created(bundle)
    pid = ctx.host_pid(cid)
    time.sleep(0.2)  # give a premature exec a chance to show
    require(not (bundle.rootfs / "cf-ran").exists(), "process.args ran before start")
    require(cmdline(pid)[:1] != ["sh"], f"the created process already runs {cmdline(pid)}")
    ctx.start(cid)
    wait_file(bundle.rootfs / "cf-ran")


@check(id="runtime.lifecycle.config-edits-ignored", spec="runtime.md#lifecycle", level="MUST",
       text="Any updates to config.json after this step MUST NOT affect the container.")
def config_edits_ignored(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "echo $(hostname) first > /cf-which")
    bundle.config["hostname"] = "before"
    cid = ctx.created(bundle)
    bundle.config["hostname"] = "after"
    bundle.sh("echo $(hostname) second > /cf-which").write()
    ctx.start(cid)
    got = wait_file(bundle.rootfs / "cf-which").strip()
    require(got == "before first", f"the container saw the edited config: {got!r}")


def _created_pid(ctx: Context, bundle: Bundle) -> tuple[str, int]:
    cid = ctx.created(bundle)
    return cid, ctx.host_pid(cid)


@check(id="runtime.create.applies-namespaces", spec="runtime.md#create", level="MUST",
       text="All of the properties configured in config.json except for process MUST be "
            "applied (by create: every configured namespace exists before start).")
def create_applies_namespaces(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    bundle.namespaces().append({"type": "cgroup"})
    _, pid = _created_pid(ctx, bundle)
    kinds = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
             "cgroup": "cgroup"}
    same = [k for k in kinds.values() if ns_id(pid, k) == ns_id("self", k)]
    require(not same, f"the created process shares the host's {same} namespaces")


@check(id="runtime.create.applies-root", spec="runtime.md#create", level="MUST",
       text="All of the properties configured in config.json except for process MUST be "
            "applied (by create: the process's root is root.path).")
def create_applies_root(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    marker = bundle.put("/cf-root-marker", "x")
    _, pid = _created_pid(ctx, bundle)
    try:
        inside = os.stat(f"/proc/{pid}/root/cf-root-marker")
    except OSError as err:
        fail(f"the created process's root lacks the rootfs marker: {err}")
    require(inside.st_ino == marker.stat().st_ino, "the process's root is not root.path")


@check(id="runtime.create.applies-mounts", spec="runtime.md#create", level="MUST",
       text="All of the properties configured in config.json except for process MUST be "
            "applied (by create: every mount is in the created process's mount table).")
def create_applies_mounts(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    _, pid = _created_pid(ctx, bundle)
    table = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        table[pre.split()[4]] = post.split()[0]
    for mount in bundle.config["mounts"]:
        got = table.get(mount["destination"])
        require(got == mount["type"], f"{mount['destination']}: mounted as {got!r} at create, "
                f"config says {mount['type']}")


@check(id="runtime.create.applies-hostname", spec="runtime.md#create", level="MUST",
       text="All of the properties configured in config.json except for process MUST be "
            "applied (by create: the hostname is set in the new UTS namespace).")
def create_applies_hostname(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    bundle.config["hostname"] = "cf-created-host"
    _, pid = _created_pid(ctx, bundle)
    got = ctx.nsenter(pid, "-u", "cat", "/proc/sys/kernel/hostname").strip()
    require(got == "cf-created-host", f"hostname after create is {got!r}")


@check(id="runtime.create.applies-cgroup", spec="runtime.md#create", level="MUST",
       text="All of the properties configured in config.json except for process MUST be "
            "applied (by create: the process is in linux.cgroupsPath).")
def create_applies_cgroup(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    path = with_cgroup(ctx, bundle)
    _, pid = _created_pid(ctx, bundle)
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    require(any(line.split(":", 2)[2] == path for line in lines),
            f"the created process is not in {path}: {lines}")


# ---------------------------------------------------------------- start


@check(id="runtime.start.no-id", spec="runtime.md#start", level="MUST",
       text="This operation MUST generate an error if it is not provided the container ID.")
def start_no_id(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    ctx.expect_error(ctx.rt("start"), "start without an id")
    require(ctx.status(cid) == "created", "start without an id started a container")


@check(id="runtime.start.missing", spec="runtime.md#start", level="MUST",
       text="Attempting to start a container that is not created MUST have no effect on the "
            "container and MUST generate an error (an id that does not exist).")
def start_missing(ctx: Context) -> None:
    ctx.expect_error(ctx.rt("start", "cf-no-such-container"), "start of a missing id")


@check(id="runtime.start.runs-program", spec="runtime.md#start", level="MUST",
       text="This operation MUST run the user-specified program as specified by process.")
def start_runs_program(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "echo cf-started-$((6*7))")
    cid = stopped_container(ctx, bundle)
    require("cf-started-42" in ctx.out(cid), f"the program's output is {ctx.out(cid)!r}")


def _counting(ctx: Context) -> Bundle:
    return ctx.bundle("sh", "-c", "echo x >> /cf-count; exec sleep 1000")


@check(id="runtime.start.running", spec="runtime.md#start", level="MUST",
       text="Attempting to start a container that is not created MUST have no effect on the "
            "container and MUST generate an error (a running container).")
def start_running(ctx: Context) -> None:
    bundle = _counting(ctx)
    cid = ctx.created(bundle)
    ctx.start(cid)
    wait_file(bundle.rootfs / "cf-count")
    before = ctx.state(cid)
    ctx.expect_error(ctx.start(cid, check=False), "second start")
    time.sleep(0.2)
    require(ctx.state(cid) == before, "the state changed")
    count = (bundle.rootfs / "cf-count").read_text().count("x")
    require(count == 1, f"the program ran {count} times")


@check(id="runtime.start.stopped", spec="runtime.md#start", level="MUST",
       text="Attempting to start a container that is not created MUST have no effect on the "
            "container and MUST generate an error (a stopped container).")
def start_stopped(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "echo x >> /cf-count")
    cid = stopped_container(ctx, bundle)
    ctx.expect_error(ctx.start(cid, check=False), "start of a stopped container")
    time.sleep(0.2)
    require(ctx.status(cid) == "stopped", f"status became {ctx.status(cid)!r}")
    count = (bundle.rootfs / "cf-count").read_text().count("x")
    require(count == 1, f"the program ran {count} times")


@check(id="runtime.start.no-process", spec="runtime.md#start", level="MUST",
       text="This operation MUST generate an error if process was not set.")
def start_no_process(ctx: Context) -> None:
    bundle = ctx.bundle()
    del bundle.config["process"]
    proc = ctx.create(bundle, check=False)
    if not proc.ok:  # refusing at create also keeps the program from running
        require(ctx.status(proc.cid) is None, "a failed create left a container")
        return
    ctx.expect_error(ctx.start(proc.cid, check=False), "start without process")
    require(ctx.status(proc.cid) != "running", "a container without process runs")


# ---------------------------------------------------------------- kill


@check(id="runtime.kill.no-id", spec="runtime.md#kill", level="MUST",
       text="This operation MUST generate an error if it is not provided the container ID.")
def kill_no_id(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    ctx.expect_error(ctx.rt("kill"), "kill without an id")
    require(ctx.status(cid) == "created", "kill without an id affected a container")


@check(id="runtime.kill.missing", spec="runtime.md#kill", level="MUST",
       text="Attempting to send a signal to a container that is neither created nor running "
            "MUST have no effect on the container and MUST generate an error (missing id).")
def kill_missing(ctx: Context) -> None:
    ctx.expect_error(ctx.rt("kill", "cf-no-such-container", "KILL"), "kill of a missing id")


@check(id="runtime.kill.stopped", spec="runtime.md#kill", level="MUST",
       text="Attempting to send a signal to a container that is neither created nor running "
            "MUST have no effect on the container and MUST generate an error (stopped).")
def kill_stopped(ctx: Context) -> None:
    cid = stopped_container(ctx, ctx.bundle("true"))
    before = ctx.state(cid)
    ctx.expect_error(ctx.kill(cid, "KILL", check=False), "kill of a stopped container")
    require(ctx.state(cid) == before, "the stopped container's state changed")


@check(id="runtime.kill.created", spec="runtime.md#kill", level="MUST",
       text="This operation MUST send the specified signal to the container process (a "
            "created container accepts kill; KILL ends it).")
def kill_created(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "echo ran > /cf-ran")
    cid, pid = _created_pid(ctx, bundle)
    ctx.kill(cid, "KILL")
    ctx.wait_status(cid, "stopped")
    require(not pid_alive(pid), f"pid {pid} survived SIGKILL")
    require(not (bundle.rootfs / "cf-ran").exists(), "the killed container's program ran")


@check(id="runtime.kill.signal", spec="runtime.md#kill", level="MUST",
       text="This operation MUST send the specified signal to the container process (the "
            "program sees exactly that signal).")
def kill_signal(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "trap 'echo usr1 > /cf-sig' USR1; echo up > /cf-up; "
                        "while :; do sleep 0.05; done")
    cid = ctx.created(bundle)
    ctx.start(cid)
    wait_file(bundle.rootfs / "cf-up")
    ctx.kill(cid, "USR1")
    require(wait_file(bundle.rootfs / "cf-sig").strip() == "usr1", "USR1 was not seen")
    require(ctx.status(cid) == "running", "the container did not survive a trapped USR1")


@check(id="runtime.kill.signal-number", spec="runtime.md#kill", level="MUST",
       text="kill <container-id> <signal>: This operation MUST send the specified signal to "
            "the container process (given by number, 10 = SIGUSR1 on Linux).")
def kill_signal_number(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "trap 'echo usr1 > /cf-sig' USR1; echo up > /cf-up; "
                        "while :; do sleep 0.05; done")
    cid = ctx.created(bundle)
    ctx.start(cid)
    wait_file(bundle.rootfs / "cf-up")
    ctx.kill(cid, "10")
    require(wait_file(bundle.rootfs / "cf-sig").strip() == "usr1", "signal 10 was not seen")


# ---------------------------------------------------------------- delete


@check(id="runtime.delete.no-id", spec="runtime.md#delete", level="MUST",
       text="This operation MUST generate an error if it is not provided the container ID.")
def delete_no_id(ctx: Context) -> None:
    cid = stopped_container(ctx, ctx.bundle("true"))
    ctx.expect_error(ctx.rt("delete"), "delete without an id")
    require(ctx.status(cid) == "stopped", "delete without an id removed a container")


@check(id="runtime.delete.missing", spec="runtime.md#delete", level="MUST",
       text="Attempting to delete a container that is not stopped MUST have no effect on the "
            "container and MUST generate an error (an id that does not exist).")
def delete_missing(ctx: Context) -> None:
    ctx.expect_error(ctx.rt("delete", "cf-no-such-container"), "delete of a missing id")


@check(id="runtime.delete.created", spec="runtime.md#delete", level="MUST",
       text="Attempting to delete a container that is not stopped MUST have no effect on the "
            "container and MUST generate an error (a created container).")
def delete_created(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "echo ran > /cf-ran")
    cid, pid = _created_pid(ctx, bundle)
    ctx.expect_error(ctx.delete(cid, check=False), "delete of a created container")
    require(pid_alive(pid), "the created container's process was killed")
    require(ctx.status(cid) == "created", f"status is now {ctx.status(cid)!r}")


@check(id="runtime.delete.running", spec="runtime.md#delete", level="MUST",
       text="Attempting to delete a container that is not stopped MUST have no effect on the "
            "container and MUST generate an error (a running container).")
def delete_running(ctx: Context) -> None:
    cid, pid = running_container(ctx)
    ctx.expect_error(ctx.delete(cid, check=False), "delete of a running container")
    require(pid_alive(pid), "the running container's process was killed")
    require(ctx.status(cid) == "running", f"status is now {ctx.status(cid)!r}")


@check(id="runtime.delete.removes", spec="runtime.md#delete", level="MUST",
       text="Deleting a container MUST delete the resources that were created during the "
            "create step (state, cgroup directories, the process).")
def delete_removes(ctx: Context) -> None:
    bundle = ctx.bundle("true")
    path = with_cgroup(ctx, bundle)
    cid, pid = _created_pid(ctx, bundle)
    made = cgroup_dirs(path)
    require(made, f"create made no cgroup directory for {path}")
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    require(ctx.status(cid) is None, "state still answers after delete")
    left = [str(p) for p in made if p.exists()]
    require(not left, f"cgroup directories left after delete: {left}")
    require(not pid_alive(pid), f"pid {pid} still alive after delete")


@check(id="runtime.delete.keeps-unowned", spec="runtime.md#delete", level="MUST",
       text="Note that resources associated with the container, but not created by this "
            "container, MUST NOT be deleted (the bundle, a parent cgroup, bind sources).")
def delete_keeps_unowned(ctx: Context) -> None:
    hierarchy = cgroup_v1_mount("pids") or cgroup_v1_mount("memory")
    if hierarchy is None:
        skip("no v1 pids or memory hierarchy to make a parent cgroup in")
    parent = f"{ctx.workdir.name[-12:]}-{os.getpid()}-parent"
    (hierarchy / parent).mkdir()
    ctx.defer(lambda: remove_cgroup_dirs(f"/{parent}"))
    ctx.defer(lambda: remove_cgroup_dirs(f"/{parent}/child"))
    bundle = ctx.bundle("true")
    bundle.config["linux"]["cgroupsPath"] = f"/{parent}/child"
    source = ctx.path("bind-source")
    source.mkdir()
    (source / "keep").write_text("keep")
    bundle.config["mounts"].append({"destination": "/mnt", "type": "bind",
                                    "source": str(source), "options": ["rbind", "rw"]})
    cid = stopped_container(ctx, bundle)
    ctx.delete(cid)
    require((hierarchy / parent).is_dir(), "delete removed a parent cgroup it did not create")
    require((source / "keep").read_text() == "keep", "delete removed a bind mount's source")
    require((bundle.path / "config.json").is_file() and (bundle.rootfs / "bin").is_dir(),
            "delete removed the bundle")


@check(id="runtime.delete.keeps-existing-cgroup", spec="runtime.md#delete", level="MUST",
       text="Note that resources associated with the container, but not created by this "
            "container, MUST NOT be deleted (a cgroupsPath that existed before create).")
def delete_keeps_existing_cgroup(ctx: Context) -> None:
    hierarchy = cgroup_v1_mount("pids")
    if hierarchy is None:
        skip("no v1 pids hierarchy")
    bundle = ctx.bundle("true")
    path = with_cgroup(ctx, bundle)
    (hierarchy / path.lstrip("/")).mkdir()
    cid = stopped_container(ctx, bundle)
    ctx.delete(cid)
    require((hierarchy / path.lstrip("/")).is_dir(),
            "delete removed a cgroup that existed before create")


@check(id="runtime.delete.id-reusable", spec="runtime.md#delete", level="MAY",
       text="Once a container is deleted its ID MAY be used by a subsequent container.")
def delete_id_reusable(ctx: Context) -> None:
    bundle = ctx.bundle("true")
    cid = stopped_container(ctx, bundle)
    ctx.delete(cid)
    ctx.create(bundle, cid)
    require(ctx.status(cid) == "created", "the reused id is not a created container")


# ---------------------------------------------------------------- scope, errors


@check(id="runtime.scope.operations", spec="runtime.md#scope-of-a-container", level="MUST",
       text="The entity using a runtime to create a container MUST be able to use the "
            "operations defined in this specification against that same container.")
def scope_operations(ctx: Context) -> None:
    cid = ctx.created(ctx.bundle(*SLEEP))
    for step in (lambda: ctx.state(cid), lambda: ctx.start(cid), lambda: ctx.state(cid),
                 lambda: ctx.kill(cid, "KILL")):
        step()
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    require(ctx.status(cid) is None, "the container still exists after delete")


@check(id="runtime.errors.no-trace", spec="runtime.md#errors", level="MUST",
       text="Unless otherwise stated, generating an error MUST leave the state of the "
            "environment as if the operation were never attempted (failed start/delete/create "
            "on a running container).")
def errors_no_trace(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    cid, pid = running_container(ctx, bundle)
    before = json.dumps(ctx.state(cid), sort_keys=True)
    listing = ctx.rt("list", "-q").out
    for proc in (ctx.start(cid, check=False), ctx.delete(cid, check=False),
                 ctx.create(bundle, cid, check=False)):
        ctx.expect_error(proc, proc.args[0])
    require(json.dumps(ctx.state(cid), sort_keys=True) == before, "the state changed")
    require(ctx.rt("list", "-q").out == listing, "the container list changed")
    require(pid_alive(pid) and cmdline(pid) == list(SLEEP), "the process changed")


@check(id="runtime.lifecycle.exit-stops", spec="runtime.md#lifecycle", level="MUST",
       text="10. The container process exits ... 12. The container MUST be destroyed by "
            "undoing the steps performed during create (after delete nothing of it remains).")
def lifecycle_exit_stops(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "exit 3")
    path = with_cgroup(ctx, bundle)
    cid = stopped_container(ctx, bundle)
    ctx.delete(cid)
    require(not cgroup_dirs(path), "cgroup directories remain after delete")
    require(not ctx.rt("list", "-q").out.strip(), "the container is still listed")

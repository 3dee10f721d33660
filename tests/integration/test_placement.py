"""Scheduling and placement fields, observed from inside the container (root only).

process.scheduler, process.ioPriority, process.execCPUAffinity, linux.memoryPolicy,
linux.personality and linux.intelRdt: every field is read back where the
container's process can see it (/proc/self/stat, ionice, /proc/self/status,
/proc/self/numa_maps, uname) or from the host with sched_getattr/ioprio_get on
the created container's pid; every error path must fail ``create`` with one
line naming the field and leave nothing behind.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root

from pyoci import syscalls
from pyoci.process import placement, scheduler

pytestmark = [pytest.mark.root, needs_root]

CPU_CGROUP = Path("/sys/fs/cgroup/cpu")


def new_id() -> str:
    return f"pyoci-{uuid4().hex[:8]}"


def run_in(pyoci: Pyoci, bundle: Bundle, args: list[str],
           edit: Callable[[dict], object] | None = None, cid: str | None = None) -> str:
    """``pyoci run`` of ``args`` (exec'd directly: no shell, so no fork); its stdout."""
    if edit is not None:
        bundle.edit(edit)
    bundle.with_args(*args)
    cid = cid or new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False,
                 stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr.decode()
    assert_nothing_left(pyoci, cid)
    return proc.stdout.decode()


def refused(pyoci: Pyoci, bundle: Bundle, edit: Callable[[dict], object]) -> str:
    """``create`` must fail with one line and leave nothing; returns that line."""
    bundle.edit(edit)
    cid = new_id()
    proc = pyoci("create", "--bundle", str(bundle.path), cid, check=False)
    err = proc.stderr.decode().strip()
    assert proc.returncode != 0, proc.stdout.decode()
    assert len(err.splitlines()) == 1, err
    assert_nothing_left(pyoci, cid)
    return err


def stat_of(text: str) -> dict[str, int]:
    """nice, rt_priority and policy from a /proc/<pid>/stat line (proc(5) fields 19, 40, 41)."""
    fields = text.rsplit(")", 1)[1].split()
    return {"nice": int(fields[16]), "rt_priority": int(fields[37]), "policy": int(fields[38])}


def set_scheduler(**sched: object) -> Callable[[dict], object]:
    return lambda c: c["process"].update(scheduler=sched)


# -- process.scheduler -----------------------------------------------------------

@pytest.mark.parametrize(("policy", "nice"), [
    ("SCHED_OTHER", -5), ("SCHED_OTHER", 10), ("SCHED_BATCH", 5), ("SCHED_IDLE", 0)])
def test_scheduler_policy_and_nice(pyoci: Pyoci, bundle: Bundle, policy: str, nice: int) -> None:
    out = run_in(pyoci, bundle, ["cat", "/proc/self/stat"], set_scheduler(policy=policy, nice=nice))
    st = stat_of(out)
    assert st["policy"] == scheduler.POLICIES[policy]
    if policy != "SCHED_IDLE":  # the kernel reports SCHED_IDLE's weight, not a nice
        assert st["nice"] == nice


@pytest.fixture
def rt_cgroup() -> tuple[str, Path]:
    """The container's own v1 cpu cgroup, made beforehand with real-time runtime.

    pyoci does not apply linux.resources, and a new v1 cpu cgroup grants no
    real-time runtime (cpu.rt_runtime_us 0), which makes the kernel refuse
    SCHED_FIFO/RR. pyoci uses an existing empty cgroup as is and leaves it at
    delete, so the test gives the runtime and removes the directory itself.
    """
    if not (CPU_CGROUP / "cpu.rt_runtime_us").exists():
        pytest.skip("no v1 cpu controller with cpu.rt_runtime_us (RT_GROUP_SCHED) here")
    cid = new_id()
    path = CPU_CGROUP / cid
    path.mkdir()
    try:
        (path / "cpu.rt_runtime_us").write_text("10000")
        yield cid, path
    finally:
        path.rmdir()


@pytest.mark.parametrize("policy", ["SCHED_FIFO", "SCHED_RR"])
def test_scheduler_realtime(pyoci: Pyoci, bundle: Bundle, rt_cgroup: tuple[str, Path],
                            policy: str) -> None:
    cid, path = rt_cgroup
    bundle.edit(set_scheduler(policy=policy, priority=10))
    bundle.with_args("cat", "/proc/self/stat")
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr.decode()
    st = stat_of(proc.stdout.decode())
    assert (st["policy"], st["rt_priority"]) == (scheduler.POLICIES[policy], 10)
    assert not (pyoci.root / cid).exists()


def test_scheduler_realtime_without_rt_runtime_is_explained(pyoci: Pyoci, bundle: Bundle) -> None:
    if not (CPU_CGROUP / "cpu.rt_runtime_us").exists():
        pytest.skip("no v1 cpu controller with cpu.rt_runtime_us (RT_GROUP_SCHED) here")
    err = refused(pyoci, bundle, set_scheduler(policy="SCHED_FIFO", priority=10))
    assert "process.scheduler: sched_setattr: Operation not permitted" in err
    assert "cpu.rt_runtime_us" in err


def test_scheduler_deadline(pyoci: Pyoci, bundle: Bundle) -> None:
    """SCHED_DEADLINE forbids fork, so cat is the container's process itself."""
    out = run_in(pyoci, bundle, ["cat", "/proc/self/sched"], set_scheduler(
        policy="SCHED_DEADLINE", runtime=1_000_000, deadline=10_000_000, period=10_000_000,
        flags=["SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN"]))
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in
                                                   out.splitlines()) if v}
    assert fields["policy"] == str(scheduler.POLICIES["SCHED_DEADLINE"])
    # dl.runtime is what is left of this period's budget: at most the configured runtime.
    assert 0 < int(fields["dl.runtime"]) <= 1_000_000


def created_pid(pyoci: Pyoci, bundle: Bundle, edit: Callable[[dict], object]) -> tuple[str, int]:
    """A created (not started) container's init pid: it has applied every field.

    The init keeps create's stdio, so create's output goes to files, not pipes
    that would stay open as long as the container lives.
    """
    bundle.edit(edit)
    bundle.with_args("sleep", "60")
    cid = new_id()
    err_path = bundle.path / "create.err"
    with open(err_path, "w") as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle",
                               str(bundle.path), cid], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err, timeout=60)
    assert proc.returncode == 0, err_path.read_text()
    return cid, pyoci.state(cid)["pid"]


def delete(pyoci: Pyoci, cid: str) -> None:
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)


@pytest.mark.parametrize(("policy", "flag", "extra"), [
    ("SCHED_BATCH", "SCHED_FLAG_RESET_ON_FORK", {}),
    ("SCHED_DEADLINE", "SCHED_FLAG_RECLAIM",
     {"runtime": 1_000_000, "deadline": 10_000_000, "period": 10_000_000}),
    ("SCHED_DEADLINE", "SCHED_FLAG_DL_OVERRUN",
     {"runtime": 1_000_000, "deadline": 10_000_000, "period": 10_000_000}),
])
def test_scheduler_flags_read_back(pyoci: Pyoci, bundle: Bundle, policy: str, flag: str,
                                   extra: dict) -> None:
    """The kernel reports these flags back through sched_getattr on the init's pid."""
    cid, pid = created_pid(pyoci, bundle, set_scheduler(policy=policy, flags=[flag], **extra))
    try:
        attr = syscalls.sched_getattr(pid)
        assert attr.sched_policy == scheduler.POLICIES[policy]
        assert attr.sched_flags & scheduler.FLAGS[flag]
        if policy == "SCHED_DEADLINE":
            assert (attr.sched_runtime, attr.sched_deadline) == (1_000_000, 10_000_000)
    finally:
        delete(pyoci, cid)


def test_scheduler_keep_policy(pyoci: Pyoci, bundle: Bundle) -> None:
    """KEEP_POLICY: the policy field is ignored (stays SCHED_OTHER), the nice applies."""
    out = run_in(pyoci, bundle, ["cat", "/proc/self/stat"], set_scheduler(
        policy="SCHED_BATCH", nice=7, flags=["SCHED_FLAG_KEEP_POLICY"]))
    assert stat_of(out) | {"rt_priority": 0} == {"policy": 0, "nice": 7, "rt_priority": 0}


def test_scheduler_keep_params(pyoci: Pyoci, bundle: Bundle) -> None:
    """KEEP_PARAMS: policy and nice are kept (SCHED_OTHER, 0), only the other
    flags (here RESET_ON_FORK) take effect."""
    cid, pid = created_pid(pyoci, bundle, set_scheduler(
        policy="SCHED_BATCH", nice=7,
        flags=["SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_RESET_ON_FORK"]))
    try:
        attr = syscalls.sched_getattr(pid)
        assert (attr.sched_policy, attr.sched_nice) == (0, 0)
        assert attr.sched_flags & scheduler.FLAGS["SCHED_FLAG_RESET_ON_FORK"]
    finally:
        delete(pyoci, cid)


@pytest.mark.parametrize("flag", ["SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX"])
def test_scheduler_util_clamp(pyoci: Pyoci, bundle: Bundle, flag: str) -> None:
    edit = set_scheduler(policy="SCHED_OTHER", flags=[flag])
    if not _kernel_has_uclamp():
        err = refused(pyoci, bundle, edit)
        assert "process.scheduler: sched_setattr: Operation not supported" in err
        assert "utilization clamping" in err
        pytest.skip("kernel built without CONFIG_UCLAMP_TASK: only the error path is checked")
    cid, pid = created_pid(pyoci, bundle, edit)
    try:
        assert syscalls.sched_getattr(pid).sched_flags & scheduler.FLAGS[flag]
    finally:
        delete(pyoci, cid)


def _kernel_has_uclamp() -> bool:
    pid = os.fork()
    if pid == 0:
        try:
            syscalls.sched_setattr(syscalls.SchedAttr(sched_flags=scheduler.FLAGS[
                "SCHED_FLAG_UTIL_CLAMP_MIN"]))
        except OSError:
            os._exit(1)
        os._exit(0)
    return os.waitpid(pid, 0)[1] == 0


def test_scheduler_iso_is_refused_clearly(pyoci: Pyoci, bundle: Bundle) -> None:
    """Mainline kernels have no SCHED_ISO: the kernel's EINVAL, explained."""
    err = refused(pyoci, bundle, set_scheduler(policy="SCHED_ISO"))
    assert err.endswith("process.scheduler: sched_setattr: Invalid argument "
                        "(this kernel has no SCHED_ISO)")


@pytest.mark.parametrize(("sched", "message"), [
    ({"policy": "SCHED_LOTTERY"}, "process.scheduler.policy"),
    ({"policy": "SCHED_FIFO", "priority": 100},
     "process.scheduler.priority: 100 is out of range for SCHED_FIFO (1 to 99)"),
    ({"policy": "SCHED_OTHER", "priority": 3}, "process.scheduler.priority: must be 0"),
    ({"policy": "SCHED_OTHER", "nice": 20}, "process.scheduler.nice: 20 is out of range"),
    ({"policy": "SCHED_DEADLINE", "runtime": 5, "deadline": 2},
     "process.scheduler: SCHED_DEADLINE needs runtime <= deadline <= period"),
    ({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOPE"]}, "process.scheduler.flags"),
])
def test_scheduler_invalid(pyoci: Pyoci, bundle: Bundle, sched: dict, message: str) -> None:
    assert message in refused(pyoci, bundle, lambda c: c["process"].update(scheduler=sched))


# -- process.ioPriority ----------------------------------------------------------

@pytest.mark.parametrize(("klass", "prio", "shown"), [
    ("IOPRIO_CLASS_BE", 6, "best-effort: prio 6"),
    ("IOPRIO_CLASS_RT", 2, "realtime: prio 2"),
    ("IOPRIO_CLASS_IDLE", 0, "idle"),
])
def test_io_priority(pyoci: Pyoci, bundle: Bundle, klass: str, prio: int, shown: str) -> None:
    out = run_in(pyoci, bundle, ["ionice"],
                 lambda c: c["process"].update(ioPriority={"class": klass, "priority": prio}))
    assert out.strip() == shown


def test_io_priority_read_back_from_host(pyoci: Pyoci, bundle: Bundle) -> None:
    cid, pid = created_pid(pyoci, bundle, lambda c: c["process"].update(
        ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 3}))
    try:
        assert syscalls.ioprio_get(pid) == (2 << 13) | 3
    finally:
        delete(pyoci, cid)


@pytest.mark.parametrize("prio", [8, -1])
def test_io_priority_out_of_range(pyoci: Pyoci, bundle: Bundle, prio: int) -> None:
    err = refused(pyoci, bundle, lambda c: c["process"].update(
        ioPriority={"class": "IOPRIO_CLASS_BE", "priority": prio}))
    assert "process.ioPriority.priority: " in err and str(prio) in err


# -- process.execCPUAffinity -------------------------------------------------------

def _need_two_cpus() -> None:
    if not {0, 1} <= os.sched_getaffinity(0):
        pytest.skip("needs CPUs 0 and 1 available to the test")


def cpus_allowed(out: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.startswith("Cpus_allowed_list:"))


def test_affinity_final(pyoci: Pyoci, bundle: Bundle) -> None:
    _need_two_cpus()
    out = run_in(pyoci, bundle, ["cat", "/proc/self/status"], lambda c: c["process"].update(
        execCPUAffinity={"initial": "1", "final": "0"}))
    assert cpus_allowed(out) == "0"


def test_affinity_without_final_is_the_kernels(pyoci: Pyoci, bundle: Bundle) -> None:
    """No final: pyoci leaves the affinity alone after the cgroup move, and the
    kernel decides. Since 6.2 the kernel keeps a user-requested mask across
    cpuset changes, so the container still runs on ``initial``, which shows
    that stage 1 applied it; older kernels reset it to the cpuset's CPUs."""
    _need_two_cpus()
    release = tuple(int(x) for x in os.uname().release.split(".")[:2])
    if release < (6, 2):
        pytest.skip("kernel older than 6.2: the cgroup move may reset the affinity")
    out = run_in(pyoci, bundle, ["cat", "/proc/self/status"], lambda c: c["process"].update(
        execCPUAffinity={"initial": "1"}))
    assert cpus_allowed(out) == "1"


def test_affinity_initial_applies_in_the_calling_process() -> None:
    """apply_initial_affinity, as stage 1 calls it before the cgroup move (the
    move then resets it on v1 cpusets, so it is observed here, in a fork)."""
    _need_two_cpus()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        placement.apply_initial_affinity({"process": {"execCPUAffinity": {"initial": "1"}}})
        os.write(write, ",".join(map(str, sorted(os.sched_getaffinity(0)))).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as f:
        assert f.read() == "1"


@pytest.mark.parametrize("stage", ["initial", "final"])
def test_affinity_cpu_not_present(pyoci: Pyoci, bundle: Bundle, stage: str) -> None:
    err = refused(pyoci, bundle, lambda c: c["process"].update(
        execCPUAffinity={stage: "0,4095"}))
    assert f"process.execCPUAffinity.{stage}: CPU 4095 is not online (online: " in err


# -- linux.memoryPolicy ------------------------------------------------------------

def _need_numa() -> None:
    if not Path("/proc/self/numa_maps").exists():
        pytest.skip("kernel without CONFIG_NUMA: no /proc/self/numa_maps")


@pytest.mark.parametrize(("policy", "shown"), [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}, "weighted interleave:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}, "prefer (many):0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_DEFAULT"}, "default"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}, "bind=relative:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]},
     "bind=balancing:0"),
])
def test_memory_policy(pyoci: Pyoci, bundle: Bundle, policy: dict, shown: str) -> None:
    """numa_maps shows the task policy for every mapping without one of its own."""
    _need_numa()
    out = run_in(pyoci, bundle, ["cat", "/proc/self/numa_maps"],
                 lambda c: c["linux"].update(memoryPolicy=policy))
    first = out.splitlines()[0].split()
    assert " ".join(first[1:]).startswith(shown + " "), out.splitlines()[0]


@pytest.mark.parametrize(("policy", "message"), [
    ({"mode": "MPOL_BIND", "nodes": "0,63"}, "linux.memoryPolicy.nodes: node 63 is not online"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes: "),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes: "),
    ({"mode": "MPOL_BIND", "nodes": "0",
      "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}, "exclude each other"),
    ({"mode": "MPOL_NOPE"}, "linux.memoryPolicy.mode"),
])
def test_memory_policy_invalid(pyoci: Pyoci, bundle: Bundle, policy: dict, message: str) -> None:
    assert message in refused(pyoci, bundle, lambda c: c["linux"].update(memoryPolicy=policy))


# -- linux.personality -------------------------------------------------------------

@pytest.mark.parametrize(("domain", "machine"), [("LINUX32", "i686"), ("LINUX", "x86_64")])
def test_personality(pyoci: Pyoci, bundle: Bundle, domain: str, machine: str) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the expected uname -m values are x86_64's")
    out = run_in(pyoci, bundle, ["uname", "-m"],
                 lambda c: c["linux"].update(personality={"domain": domain}))
    assert out.strip() == machine


@pytest.mark.parametrize(("personality", "message"), [
    ({"domain": "LINUX64"}, "linux.personality.domain"),
    ({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]},
     'linux.personality.flags: "ADDR_NO_RANDOMIZE"'),
])
def test_personality_invalid(pyoci: Pyoci, bundle: Bundle, personality: dict,
                             message: str) -> None:
    assert message in refused(pyoci, bundle,
                              lambda c: c["linux"].update(personality=personality))


# -- linux.intelRdt ----------------------------------------------------------------

def test_intel_rdt_without_resctrl(pyoci: Pyoci, bundle: Bundle) -> None:
    from pyoci.process import intelrdt

    if intelrdt.resctrl_mounted():
        pytest.skip("resctrl is mounted here: the missing-resctrl error cannot be provoked")
    err = refused(pyoci, bundle, lambda c: c["linux"].update(intelRdt={"closID": "pyoci-x"}))
    assert err.endswith("linux.intelRdt: resctrl is not mounted at /sys/fs/resctrl")

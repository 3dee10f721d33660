"""Scheduling and placement of the container process.

``check`` runs in the parent right after config.json is loaded, so a bad value
fails before anything exists. ``apply_initial_affinity`` runs in stage 1 before
the parent moves it into the container's cgroup; ``apply`` runs in the init
while it is still privileged (a lower nice, a real-time policy and ioprio RT
need CAP_SYS_NICE/CAP_SYS_ADMIN, which finalize_process may drop). Every value
set here survives execve, so the user's program inherits it.
"""

from __future__ import annotations

import errno
import os

from pyoci import syscalls
from pyoci.errors import ConfigError, PyociError
from pyoci.process import cpulist, intelrdt, mempolicy, scheduler

# <linux/personality.h>: the execution domains config-linux.md allows.
PERSONALITY_DOMAINS: dict[str, int] = {"LINUX": 0x0000, "LINUX32": 0x0008}
_AFFINITY = "process.execCPUAffinity"


def check(config: dict) -> None:
    """Validate every placement field without touching the host (intelRdt reads mountinfo)."""
    process = config.get("process") or {}
    linux = config.get("linux") or {}
    if process.get("scheduler") is not None:
        scheduler.sched_params(process["scheduler"])
    if process.get("ioPriority") is not None:
        scheduler.ioprio_value(process["ioPriority"])
    for stage in ("initial", "final"):
        cpus = _affinity(process, stage)
        cpulist.check_present(f"{_AFFINITY}.{stage}", cpus, cpulist.CPU_ONLINE, "CPU")
    if linux.get("memoryPolicy") is not None:
        mempolicy.check_nodes_online(mempolicy.parse(linux["memoryPolicy"]))
    if linux.get("personality") is not None:
        personality_value(linux["personality"])
    intelrdt.check(config)


def _affinity(process: dict, stage: str) -> list[int]:
    """The CPUs of execCPUAffinity.<stage>; empty when absent or empty (leave as is)."""
    text = (process.get("execCPUAffinity") or {}).get(stage)
    return cpulist.parse(f"{_AFFINITY}.{stage}", text)


def personality_value(personality: dict) -> int:
    """config-linux.md allows two domains and, for now, no flags."""
    domain = personality.get("domain")
    if domain not in PERSONALITY_DOMAINS:
        raise ConfigError(f'linux.personality.domain: unknown domain "{domain}" '
                          f"(known: {', '.join(PERSONALITY_DOMAINS)})")
    for flag in personality.get("flags") or ():
        raise ConfigError(f'linux.personality.flags: unknown flag "{flag}" '
                          "(the spec defines none)")
    return PERSONALITY_DOMAINS[domain]


def apply_initial_affinity(config: dict) -> None:
    """execCPUAffinity.initial: the CPUs stage 1 runs on before the cgroup move."""
    cpus = _affinity(config.get("process") or {}, "initial")
    if cpus:
        _set_affinity(f"{_AFFINITY}.initial", cpus)


def apply(config: dict) -> None:
    """personality, memoryPolicy, ioPriority, execCPUAffinity.final, then scheduler.

    The scheduler comes last: SCHED_IDLE or a high nice would slow the rest of
    the set-up, and SCHED_DEADLINE refuses a later affinity change.
    """
    process = config.get("process") or {}
    linux = config.get("linux") or {}
    if linux.get("personality") is not None:
        _call("linux.personality", syscalls.personality,
              personality_value(linux["personality"]))
    if linux.get("memoryPolicy") is not None:
        _apply_memory_policy(mempolicy.parse(linux["memoryPolicy"]))
    if process.get("ioPriority") is not None:
        _call("process.ioPriority", syscalls.ioprio_set,
              scheduler.ioprio_value(process["ioPriority"]))
    cpus = _affinity(process, "final")
    if cpus:
        _set_affinity(f"{_AFFINITY}.final", cpus)
    if process.get("scheduler") is not None:
        _apply_scheduler(process["scheduler"])


def _call(field: str, fn, *args: object) -> None:  # noqa: ANN001
    try:
        fn(*args)
    except OSError as e:
        raise PyociError(f"{field}: {e.strerror}") from None


def _set_affinity(field: str, cpus: list[int]) -> None:
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as e:
        raise PyociError(f"{field}: sched_setaffinity {cpulist.format_list(cpus)}: "
                         f"{e.strerror}") from None


def _apply_memory_policy(policy: mempolicy.MemPolicy) -> None:
    words, maxnode = policy.nodemask()
    _call("linux.memoryPolicy", syscalls.set_mempolicy, policy.mode, words, maxnode)


def _apply_scheduler(config: dict) -> None:
    params = scheduler.sched_params(config)
    attr = syscalls.SchedAttr(
        sched_policy=params.policy, sched_flags=params.flags, sched_nice=params.nice,
        sched_priority=params.priority, sched_runtime=params.runtime,
        sched_deadline=params.deadline, sched_period=params.period)
    try:
        syscalls.sched_setattr(attr)
    except OSError as e:
        raise PyociError(f"process.scheduler: {e.strerror}{_sched_hint(config, e)}") from None


def _sched_hint(config: dict, err: OSError) -> str:
    """The usual reasons the kernel gives a bare errno for."""
    policy = config.get("policy")
    if err.errno == errno.EPERM and policy in scheduler.REALTIME:
        return (f" ({policy} in a cgroup whose cpu.rt_runtime_us is 0: the container's "
                "cpu cgroup must grant real-time runtime)")
    if err.errno == errno.EPERM and policy == "SCHED_DEADLINE":
        return " (SCHED_DEADLINE needs an affinity spanning every CPU of its root domain)"
    if err.errno == errno.EINVAL and policy == "SCHED_ISO":
        return " (this kernel has no SCHED_ISO)"
    if err.errno == errno.EOPNOTSUPP:
        return " (a requested flag is not supported by this kernel, e.g. utilization clamping)"
    return ""

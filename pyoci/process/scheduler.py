"""process.scheduler and process.ioPriority: from config.json to kernel values.

Pure translation and validation (no syscalls), so the parent can refuse a bad
value before anything exists and the tests can check every name without root.
The init hands the result to ``syscalls.sched_setattr`` / ``ioprio_set``.
"""

from __future__ import annotations

from pyoci.errors import ConfigError

# <linux/sched.h>. SCHED_ISO (4) is reserved upstream and refused by mainline
# kernels with EINVAL; it is passed through so the kernel gives its answer.
POLICIES: dict[str, int] = {
    "SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
    "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6,
}  # fmt: skip

FLAGS: dict[str, int] = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}  # fmt: skip

REALTIME = frozenset({"SCHED_FIFO", "SCHED_RR"})

# <linux/ioprio.h>: the class sits above 13 bits of per-class data.
IOPRIO_CLASSES: dict[str, int] = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2,
                                  "IOPRIO_CLASS_IDLE": 3}
IOPRIO_CLASS_SHIFT = 13

_FIELD = "process.scheduler"


class SchedParams:
    """The fields of struct sched_attr that config.json can set."""

    __slots__ = ("policy", "flags", "nice", "priority", "runtime", "deadline", "period")

    def __init__(self, policy: int, flags: int, nice: int, priority: int,
                 runtime: int, deadline: int, period: int) -> None:
        self.policy = policy
        self.flags = flags
        self.nice = nice
        self.priority = priority
        self.runtime = runtime
        self.deadline = deadline
        self.period = period


def sched_params(scheduler: dict) -> SchedParams:
    """Validate ``process.scheduler`` as the kernel would, with the field named."""
    name = scheduler.get("policy")
    if name not in POLICIES:
        raise ConfigError(f'{_FIELD}.policy: unknown policy "{name}"')
    flags = 0
    for flag in scheduler.get("flags") or ():
        if flag not in FLAGS:
            raise ConfigError(f'{_FIELD}.flags: unknown flag "{flag}"')
        flags |= FLAGS[flag]
    nice = scheduler.get("nice", 0)
    if not -20 <= nice <= 19:
        raise ConfigError(f"{_FIELD}.nice: {nice} is out of range (-20 to 19)")
    priority = scheduler.get("priority", 0)
    _check_priority(name, priority)
    runtime, deadline, period = (scheduler.get(k, 0) for k in ("runtime", "deadline", "period"))
    _check_deadline(name, runtime, deadline, period)
    return SchedParams(POLICIES[name], flags, nice, priority, runtime, deadline, period)


def _check_priority(policy: str, priority: int) -> None:
    """sched(7): 1-99 for the real-time policies, 0 for every other one."""
    if policy in REALTIME:
        if not 1 <= priority <= 99:
            raise ConfigError(f"{_FIELD}.priority: {priority} is out of range for {policy} "
                              "(1 to 99)")
    elif priority != 0:
        raise ConfigError(f"{_FIELD}.priority: must be 0 for {policy} "
                          "(only SCHED_FIFO and SCHED_RR take a priority)")


def _check_deadline(policy: str, runtime: int, deadline: int, period: int) -> None:
    """sched_setattr's rule for SCHED_DEADLINE: runtime <= deadline <= period."""
    if policy != "SCHED_DEADLINE":
        if runtime or deadline or period:
            raise ConfigError(f"{_FIELD}: runtime, deadline and period are only for "
                              f"SCHED_DEADLINE, not {policy}")
        return
    if deadline == 0 or runtime == 0:
        raise ConfigError(f"{_FIELD}: SCHED_DEADLINE needs a non-zero runtime and deadline")
    if runtime > deadline or (period and deadline > period):
        raise ConfigError(f"{_FIELD}: SCHED_DEADLINE needs runtime <= deadline <= period "
                          f"(got {runtime}, {deadline}, {period})")


def ioprio_value(io_priority: dict) -> int:
    """``process.ioPriority`` as the ioprio_set(2) value: class << 13 | priority."""
    name = io_priority.get("class")
    if name not in IOPRIO_CLASSES:
        raise ConfigError(f'process.ioPriority.class: unknown class "{name}"')
    priority = io_priority.get("priority")
    if not isinstance(priority, int) or not 0 <= priority <= 7:
        raise ConfigError(f"process.ioPriority.priority: {priority} is out of range (0 to 7)")
    return (IOPRIO_CLASSES[name] << IOPRIO_CLASS_SHIFT) | priority

"""Scheduling and placement of the container process (issue 3, work in progress).

Call sites: :func:`apply_initial_affinity` in stage 1 before it joins the
container's cgroup; :func:`apply` in the init while it is still privileged,
before capabilities are dropped. Until a field is implemented it is refused,
never silently ignored.
"""

from __future__ import annotations

from pyoci.errors import ConfigError


def apply_initial_affinity(config: dict) -> None:
    """execCPUAffinity.initial: the CPUs stage 1 runs on before the cgroup move."""
    affinity = (config.get("process") or {}).get("execCPUAffinity")
    if affinity and affinity.get("initial"):
        raise ConfigError("process.execCPUAffinity.initial: not supported yet")


def apply(config: dict) -> None:
    """scheduler, ioPriority, execCPUAffinity.final, memoryPolicy, personality, intelRdt."""
    process = config.get("process") or {}
    linux = config.get("linux") or {}
    for name in ("scheduler", "ioPriority"):
        if process.get(name):
            raise ConfigError(f"process.{name}: not supported yet")
    if (process.get("execCPUAffinity") or {}).get("final"):
        raise ConfigError("process.execCPUAffinity.final: not supported yet")
    for name in ("memoryPolicy", "personality", "intelRdt"):
        if linux.get(name):
            raise ConfigError(f"linux.{name}: not supported yet")

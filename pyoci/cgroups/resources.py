"""``linux.resources`` onto a container's cgroup: the one entry point.

``create`` calls :func:`apply` after making the cgroup and before the
container's process joins it (so the process never runs unlimited), and
``pyoci update`` calls it with the engine's JSON. Each resource group goes to
the controller's v1 hierarchy when the host mounts one, else to the
container's cgroup2 directory when its ``cgroup.controllers`` lists the
controller (:mod:`pyoci.cgroups.v2`), else the controller is absent: an
error when the config asks for something (a non-empty plan), silence when it
does not, so a config full of nulls and zeros runs anywhere.
"""

from __future__ import annotations

import os

from pyoci.cgroups import read_or_empty as _read
from pyoci.cgroups import v1
from pyoci.cgroups.devices import build, effective_rules, parse_list
from pyoci.errors import ConfigError

# Resource group -> the cgroup2 controller that implements it.
V2_CONTROLLER = {"memory": "memory", "cpu": "cpu", "cpuset": "cpuset", "blockIO": "io",
                 "pids": "pids", "hugepageLimits": "hugetlb", "rdma": "rdma"}


def apply(manager, resources: dict, *, field: str = "linux.resources",  # noqa: ANN001
          linux_devices: list | None = None, skip_devices: bool = False) -> None:
    """Apply every group of ``resources``; the first failure raises ConfigError.

    ``linux_devices`` (create passes ``linux.devices``, even []) means "this is
    the container's whole device policy": runc's default allowed devices are
    added and the list is applied even if ``resources.devices`` is absent. For
    an update (None) the device list is touched only when it is given.
    ``skip_devices``: rootless, where runc ignores the devices controller.
    """
    paths = manager.paths
    v2_dir = paths.get("")
    for group in ("memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma"):
        values = resources.get(group)
        if values:
            _apply_group(paths, v2_dir, group, values, f"{field}.{group}")
    if not skip_devices and (resources.get("devices") or linux_devices is not None):
        apply_devices(paths, resources.get("devices") or [], linux_devices, f"{field}.devices")
    if resources.get("unified"):
        _apply_unified(paths, resources["unified"], f"{field}.unified")


# Tasks in the cgroup while create runs: the launcher's stage 1 and the init it forks.
CREATE_TASKS = 2


def check_create(resources: dict, field: str = "linux.resources") -> None:
    """Limits no container could be created under, refused with their field.

    A pids limit of 0 is valid for the kernel (config-linux.md says so) and
    for ``update``, but create forks inside the cgroup, so the kernel's bare
    EAGAIN would be all the user saw.
    """
    limit = (resources.get("pids") or {}).get("limit")
    if limit is not None and 0 <= limit < CREATE_TASKS:
        raise ConfigError(f"{field}.pids.limit: {limit} leaves no room to start the "
                          f"container: create needs {CREATE_TASKS} tasks in the cgroup")


def _apply_group(paths: dict, v2_dir: str | None, group: str, values, where: str) -> None:  # noqa: ANN001
    """One group, split by v1 controller (cpu → cpu + cpuset, network → net_cls + net_prio)."""
    for controller, plan in _v1_plans(group, values, where, paths):
        if controller in paths:
            if controller == "memory":
                v1.check_memory_usage(paths[controller], values, where)
            v1.write_plan(paths[controller], plan)
        elif plan:
            _apply_v2(v2_dir, group, controller, _subset(group, controller, values), plan,
                      where)


def _v1_plans(group: str, values, where: str, paths: dict) -> list[tuple[str, list]]:  # noqa: ANN001
    """(v1 controller, plan) pairs; a plan reads the host only where runc does."""
    if group == "memory":
        return [("memory", v1.memory_plan(values, where, paths.get("memory")))]
    if group == "cpu":
        return [("cpu", v1.cpu_plan(values, where)), ("cpuset", v1.cpuset_plan(values, where))]
    if group == "pids":
        return [("pids", v1.pids_plan(values, where))]
    if group == "blockIO":
        return [("blkio", v1.blkio_plan(values, where, paths.get("blkio")))]
    if group == "hugepageLimits":
        return [("hugetlb", v1.hugetlb_plan(values, where))]
    if group == "network":
        return [("net_cls", v1.net_cls_plan(values, where)),
                ("net_prio", v1.net_prio_plan(values, where))]
    return [("rdma", v1.rdma_plan(values, where))]


def _subset(group: str, controller: str, values):  # noqa: ANN001, ANN202
    """The cpu group's share for one controller: cpuset takes cpus/mems, cpu the rest."""
    if group != "cpu":
        return values
    keep = controller == "cpuset"
    return {k: v for k, v in values.items() if (k in v1.CPUSET_KEYS) == keep}


def _apply_v2(v2_dir: str | None, group: str, controller: str, values, plan: list,  # noqa: ANN001
              where: str) -> None:
    """No v1 hierarchy: the container's cgroup2 directory, if it has the controller."""
    v2_name = V2_CONTROLLER.get("cpuset" if controller == "cpuset" else group)
    v2 = _v2_module("apply_group")
    if v2_dir and v2_name and v2 and v2_name in _controllers(v2_dir):
        v2.apply_group(v2_dir, group, values, where)
        return
    raise ConfigError(f"{plan[0][2]}: the {controller} cgroup controller is not available "
                      "on this host")


def apply_devices(paths: dict, devices: list, linux_devices: list | None, where: str) -> None:
    """v1: write the transition runc's emulator computes; v2-only: the eBPF filter."""
    rules = effective_rules(devices, linux_devices, where)
    target = build(rules, where)  # validates before anything is written
    path = paths.get("devices")
    if path:
        current = parse_list(_read(os.path.join(path, "devices.list")))
        for name, line in target.transition(current):
            try:
                v1.write_file(path, name, line)
            except OSError as e:
                raise ConfigError(f"{where}: cannot write {line!r} to {name}: "
                                  f"{e.strerror}") from None
        return
    ebpf = _ebpf_module()
    if paths.get("") and ebpf:
        ebpf.attach_device_filter(paths[""], rules, where)
    elif not _only_deny_all(devices):
        raise ConfigError(f"{where}: the devices cgroup controller is not available on "
                          "this host")


def _only_deny_all(devices: list) -> bool:
    """Every generated config starts with a lone deny-all: without a devices
    controller (no cgroup mounted, as under `ip netns exec`) that is no request
    to honour, while a rule naming a device is."""
    return all(not d.get("allow") and (d.get("type") or "a") == "a" for d in devices)


def _apply_unified(paths: dict, unified: dict, where: str) -> None:
    """cgroup v2 keys: only on a cgroup2 directory (config-linux.md: error on v1)."""
    v2 = _v2_module("apply_unified")
    if not paths.get(""):
        raise ConfigError(f"{where}: cgroup v2 files need a cgroup2 hierarchy, and this "
                          "host has only cgroup v1")
    if not v2:
        raise ConfigError(f"{where}: not supported yet")
    v2.apply_unified(paths[""], unified, where)


def _v2_module(needed: str):  # noqa: ANN202
    """pyoci.cgroups.v2 if it exists and has ``needed`` (it grows separately)."""
    try:
        from pyoci.cgroups import v2
    except ImportError:
        return None
    return v2 if hasattr(v2, needed) else None


def _ebpf_module():  # noqa: ANN202
    try:
        from pyoci.cgroups import ebpf
    except ImportError:
        return None
    return ebpf if hasattr(ebpf, "attach_device_filter") else None


def _controllers(v2_dir: str) -> list[str]:
    return _read(os.path.join(v2_dir, "cgroup.controllers")).split()

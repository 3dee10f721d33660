"""Checks derived from config-linux.md: namespaces, id mappings, time offsets,
devices, cgroups (path and resources), sysctl, seccomp, rootfsPropagation,
masked and readonly paths, personality, memoryPolicy, intelRdt, netDevices.

Namespaces are compared through ``/proc/<pid>/ns/*`` with the host's; cgroup
resources are read from the container's cgroup files on the host; the rest is
observed by busybox inside the container. Where config-linux.md states a field
without a keyword, the quoted requirement is runtime.md's "the container's
runtime environment MUST be created according to the configuration".
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from conformance.checks.config import container_mounts, expect_rejected, host_mount
from conformance.checks.runtime import running_container, with_cgroup
from conformance.framework import (
    Bundle,
    Context,
    cgroup_v1_mount,
    check,
    fail,
    ns_id,
    pid_alive,
    require,
    skip,
)

APPLIED = "(runtime.md: the container's runtime environment MUST be created according to " \
    "the configuration in config.json)"
INVALID = "Runtimes MUST generate an error when invalid or unsupported values are encountered"
SLEEP = ("sleep", "1000")
NS_FILES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
            "user": "user", "cgroup": "cgroup", "time": "time"}
ID_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def with_userns(bundle: Bundle) -> Bundle:
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = ID_MAP
    linux["gidMappings"] = ID_MAP
    return bundle


def ns_of(pid: int | str, kind: str) -> str:
    """The namespace of ``pid``; for pid/time the one its children get is the same."""
    return ns_id(pid, NS_FILES[kind])


# ---------------------------------------------------------------- namespaces


def _ns_created(kind: str) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle(*SLEEP)
        if kind == "user":
            with_userns(bundle)
        elif all(n["type"] != kind for n in bundle.namespaces()):
            bundle.namespaces().append({"type": kind})
        _, pid = running_container(ctx, bundle)
        require(ns_of(pid, kind) != ns_of("self", kind),
                f"the container shares the runtime's {kind} namespace")

    check(id=f"linux.namespaces.{kind}.created", spec="config-linux.md#namespaces",
          level="MUST",
          text=f"If path is not specified, the runtime MUST create a new container namespace "
               f"of type type ({kind}).")(body)


def _ns_inherited(kind: str) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle(*SLEEP)
        bundle.config["linux"]["namespaces"] = [n for n in bundle.namespaces()
                                                if n["type"] != kind]
        if kind == "uts":  # a hostname needs a private uts namespace
            bundle.config.pop("hostname", None)
        if kind == "network":  # sysfs needs a private network namespace
            bundle.config["mounts"] = [m for m in bundle.config["mounts"]
                                       if m["type"] != "sysfs"]
        _, pid = running_container(ctx, bundle)
        require(ns_of(pid, kind) == ns_of("self", kind),
                f"{kind} not listed, yet the container has its own {kind} namespace")

    check(id=f"linux.namespaces.{kind}.inherited", spec="config-linux.md#namespaces",
          level="MUST",
          text=f"If a namespace type is not specified in the namespaces array, the container "
               f"MUST inherit the runtime namespace of that type ({kind}).")(body)


for _kind in NS_FILES:
    _ns_created(_kind)
for _kind in ("network", "ipc", "uts", "cgroup", "user", "time"):
    _ns_inherited(_kind)


def holder(ctx: Context, *flags: str) -> int:
    """A host process sitting in fresh namespaces (``unshare`` flags); killed at clean-up."""
    proc = subprocess.Popen(["unshare", *flags, "sleep", "1000"], stdin=subprocess.DEVNULL)
    ctx.defer(lambda: (proc.kill(), proc.wait()))
    for _ in range(200):
        with contextlib.suppress(OSError):
            if all(ns_id(proc.pid, f) != ns_id("self", f) for f in _unshare_files(flags)):
                return proc.pid
        os.sched_yield()
        subprocess.run(["sleep", "0.01"], check=False)
    fail(f"unshare {' '.join(flags)} did not set up its namespaces")
    return 0


def _unshare_files(flags: tuple[str, ...]) -> list[str]:
    table = {"-n": "net", "-u": "uts", "-i": "ipc", "-C": "cgroup"}
    return [table[f] for f in flags if f in table]


JOINABLE = {"network": "-n", "uts": "-u", "ipc": "-i", "cgroup": "-C"}


def _ns_joined(kind: str, flag: str) -> None:
    def body(ctx: Context) -> None:
        target = holder(ctx, flag)
        bundle = ctx.bundle(*SLEEP)
        bundle.config["linux"]["namespaces"] = [n for n in bundle.namespaces()
                                                if n["type"] != kind]
        path = f"/proc/{target}/ns/{NS_FILES[kind]}"
        bundle.namespaces().append({"type": kind, "path": path})
        _, pid = running_container(ctx, bundle)
        require(ns_of(pid, kind) == ns_of(target, kind),
                f"the container is not in the {kind} namespace of {path}")

    check(id=f"linux.namespaces.{kind}.joined", spec="config-linux.md#namespaces",
          level="MUST",
          text=f"The runtime MUST place the container process in the namespace associated "
               f"with that path ({kind}).")(body)


for _kind, _flag in JOINABLE.items():
    _ns_joined(_kind, _flag)


@check(id="linux.namespaces.path-type-mismatch", spec="config-linux.md#namespaces",
       level="MUST",
       text="The runtime MUST generate an error if path is not associated with a namespace of "
            "type type.")
def ns_type_mismatch(ctx: Context) -> None:
    target = holder(ctx, "-u")
    bundle = ctx.bundle()
    bundle.config["linux"]["namespaces"] = [n for n in bundle.namespaces()
                                            if n["type"] != "network"]
    bundle.namespaces().append({"type": "network", "path": f"/proc/{target}/ns/uts"})
    expect_rejected(ctx, bundle, "network namespace path pointing at a uts namespace")


@check(id="linux.namespaces.duplicate", spec="config-linux.md#namespaces", level="MUST",
       text="If a namespaces field contains duplicated namespaces with same type, the runtime "
            "MUST generate an error.")
def ns_duplicate(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.namespaces().append({"type": "uts"})
    expect_rejected(ctx, bundle, "two uts namespaces")


@check(id="linux.namespaces.unknown-type", spec="config-linux.md#namespaces", level="MUST",
       text=f"type (string, REQUIRED) - namespace type ({INVALID}: an unknown type).")
def ns_unknown(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.namespaces().append({"type": "cf-bogus"})
    expect_rejected(ctx, bundle, "unknown namespace type")


@check(id="linux.namespaces.cgroup-view", spec="config-linux.md#namespaces", level="SHOULD",
       text="The following namespace types SHOULD be supported: cgroup the container will "
            "have an isolated view of the cgroup hierarchy (its own cgroup is /).")
def ns_cgroup_view(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.namespaces().append({"type": "cgroup"})
    with_cgroup(ctx, bundle)
    out = ctx.output(bundle, "cat /proc/self/cgroup")
    paths = {line.split(":", 2)[2] for line in out.splitlines() if line.count(":") >= 2}
    require(paths == {"/"}, f"/proc/self/cgroup inside shows {sorted(paths)}, expected only /")


# ---------------------------------------------------------------- user namespace mappings


def _map_lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()]


@check(id="linux.uidMappings", spec="config-linux.md#user-namespace-mappings", level="MUST",
       text="uidMappings (array of objects, OPTIONAL) describes the user namespace uid "
            f"mappings from the host to the container {APPLIED}.")
def uid_mappings(ctx: Context) -> None:
    _, pid = running_container(ctx, with_userns(ctx.bundle(*SLEEP)))
    got = _map_lines(Path(f"/proc/{pid}/uid_map").read_text())
    require(got == [["0", "100000", "65536"]], f"uid_map {got}")


@check(id="linux.gidMappings", spec="config-linux.md#user-namespace-mappings", level="MUST",
       text="gidMappings (array of objects, OPTIONAL) describes the user namespace gid "
            f"mappings from the host to the container {APPLIED}.")
def gid_mappings(ctx: Context) -> None:
    bundle = with_userns(ctx.bundle(*SLEEP))
    bundle.config["linux"]["gidMappings"] = [
        {"containerID": 0, "hostID": 200000, "size": 1000},
        {"containerID": 1000, "hostID": 300000, "size": 64536}]
    _, pid = running_container(ctx, bundle)
    got = _map_lines(Path(f"/proc/{pid}/gid_map").read_text())
    require(got == [["0", "200000", "1000"], ["1000", "300000", "64536"]], f"gid_map {got}")


@check(id="linux.idmappings.no-chown", spec="config-linux.md#user-namespace-mappings",
       level="SHOULD",
       text="The runtime SHOULD NOT modify the ownership of referenced filesystems to realize "
            "the mapping.")
def idmappings_no_chown(ctx: Context) -> None:
    bundle = with_userns(ctx.bundle())
    before = (bundle.rootfs / "bin").stat()
    ctx.output(bundle, "true")
    after = (bundle.rootfs / "bin").stat()
    require((after.st_uid, after.st_gid) == (before.st_uid, before.st_gid),
            f"/bin changed owner to {after.st_uid}:{after.st_gid}")


@check(id="linux.idmappings.process-ids", spec="config-linux.md#user-namespace-mappings",
       level="MUST",
       text="containerID ... is the starting uid/gid in the container; hostID ... on the host "
            f"to be mapped to containerID (uid 0 inside is 100000 outside) {APPLIED}.")
def idmappings_process_ids(ctx: Context) -> None:
    _, pid = running_container(ctx, with_userns(ctx.bundle(*SLEEP)))
    status = Path(f"/proc/{pid}/status").read_text()
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M)
    require(uid and uid.group(1) == "100000", f"host uid of container root: {uid and uid[1]}")


# ---------------------------------------------------------------- time offsets


def _time_offset_check(clock: str) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle(*SLEEP)
        bundle.namespaces().append({"type": "time"})
        bundle.config["linux"]["timeOffsets"] = {clock: {"secs": 86400 * 3, "nanosecs": 1234}}
        _, pid = running_container(ctx, bundle)
        lines = _map_lines(Path(f"/proc/{pid}/timens_offsets").read_text())
        require([clock, str(86400 * 3), "1234"] in lines, f"timens_offsets {lines}")

    check(id=f"linux.timeOffsets.{clock}", spec="config-linux.md#offset-for-time-namespace",
          level="MUST",
          text=f"timeOffsets (object, OPTIONAL) sets the offset for Time Namespace ({clock}: "
               f"secs, nanosecs) {APPLIED}.")(body)


for _clock in ("monotonic", "boottime"):
    _time_offset_check(_clock)


# ---------------------------------------------------------------- devices


def _stat_device(ctx: Context, bundle: Bundle, path: str) -> list[str]:
    return ctx.output(bundle, f"stat -c '%F|%t|%T|%a|%u|%g' {path}").strip().split("|")


DEVICE_KINDS = {"c": ({"major": 1, "minor": 3}, "character special file"),
                "b": ({"major": 7, "minor": 0}, "block special file"),
                "u": ({"major": 1, "minor": 5}, "character special file"),
                "p": ({}, "fifo")}


def _device_check(kind: str, numbers: dict, shown: str) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle()
        bundle.config["linux"]["devices"] = [{"path": "/dev/cf-dev", "type": kind,
                                              **numbers}]
        got = _stat_device(ctx, bundle, "/dev/cf-dev")
        require(got[0] == shown, f"/dev/cf-dev is a {got[0]!r}, expected {shown}")
        if numbers:
            want = [f"{numbers['major']:x}", f"{numbers['minor']:x}"]
            require(got[1:3] == want, f"/dev/cf-dev is {got[1:3]}, expected {want}")

    check(id=f"linux.devices.type-{kind}", spec="config-linux.md#devices", level="MUST",
          text=f"devices (array of objects, OPTIONAL) lists devices that MUST be available in "
               f"the container (type {kind}: {shown}, with its major and minor).")(body)


for _kind, (_numbers, _shown) in DEVICE_KINDS.items():
    _device_check(_kind, _numbers, _shown)


@check(id="linux.devices.mode-owner", spec="config-linux.md#devices", level="MUST",
       text="devices ... MUST be available in the container: fileMode - file mode for the "
            "device; uid - id of device owner; gid - id of device group.")
def devices_mode_owner(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["linux"]["devices"] = [{"path": "/dev/cf-null", "type": "c", "major": 1,
                                          "minor": 3, "fileMode": 0o640, "uid": 1234,
                                          "gid": 5678}]
    got = _stat_device(ctx, bundle, "/dev/cf-null")
    require(got[3:] == ["640", "1234", "5678"], f"mode/uid/gid {got[3:]}, expected 640 1234 "
            "5678")


@check(id="linux.devices.outside-dev", spec="config-linux.md#devices", level="MAY",
       text="The path MAY be anywhere in the container filesystem, notably outside of /dev "
            "(devices MUST be available in the container).")
def devices_outside_dev(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["linux"]["devices"] = [{"path": "/cf-devs/zero", "type": "c", "major": 1,
                                          "minor": 5}]
    got = _stat_device(ctx, bundle, "/cf-devs/zero")
    require(got[:3] == ["character special file", "1", "5"], f"/cf-devs/zero: {got}")


@check(id="linux.devices.usable", spec="config-linux.md#devices", level="MUST",
       text="devices (array of objects, OPTIONAL) lists devices that MUST be available in the "
            "container (reading the created /dev/cf-zero gives zeros).")
def devices_usable(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["linux"]["devices"] = [{"path": "/dev/cf-zero", "type": "c", "major": 1,
                                          "minor": 5, "fileMode": 0o666}]
    out = ctx.output(bundle, "head -c 4 /dev/cf-zero | od -An -tx1")
    require(out.split() == ["00"] * 4, f"read {out!r}")


@check(id="linux.devices.mismatch", spec="config-linux.md#devices", level="MUST",
       text="If a file already exists at path that does not match the requested device, the "
            "runtime MUST generate an error.")
def devices_mismatch(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.put("/cf-devs/null", "a regular file\n")
    bundle.config["linux"]["devices"] = [{"path": "/cf-devs/null", "type": "c", "major": 1,
                                          "minor": 3}]
    expect_rejected(ctx, bundle, "a regular file where a device is requested")


# ---------------------------------------------------------------- cgroups: path


def cgroup_file(ctx: Context, controller: str, path: str, name: str) -> str:
    mount = cgroup_v1_mount(controller)
    if mount is None:
        skip(f"no cgroup v1 {controller} hierarchy on this host")
    target = mount / path.strip("/") / name
    if not target.exists():
        skip(f"{name} does not exist on this host")
    return target.read_text().strip()


def _in_cgroup(controller: str) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle(*SLEEP)
        path = with_cgroup(ctx, bundle)
        _, pid = running_container(ctx, bundle)
        procs = cgroup_file(ctx, controller, path, "cgroup.procs").split()
        require(str(pid) in procs, f"pid {pid} is not in {controller}:{path}")

    check(id=f"linux.cgroupsPath.{controller}", spec="config-linux.md#cgroups-path",
          level="MUST",
          text=f"In the case of an absolute path (starting with /), the runtime MUST take the "
               f"path to be relative to the cgroups mount point ({controller}).")(body)


for _ctrl in ("memory", "cpu", "pids", "devices", "blkio", "cpuset", "freezer"):
    _in_cgroup(_ctrl)


@check(id="linux.cgroupsPath.consistent", spec="config-linux.md#cgroups-path", level="MUST",
       text="If the value is specified, the runtime MUST consistently attach to the same place "
            "in the cgroups hierarchy given the same value of cgroupsPath (a second container "
            "after the first is deleted).")
def cgroups_consistent(ctx: Context) -> None:
    first = ctx.bundle(*SLEEP)
    path = with_cgroup(ctx, first)
    cid1, _ = running_container(ctx, first)
    ctx.delete(cid1, force=True)
    second = ctx.bundle(*SLEEP)
    second.config["linux"]["cgroupsPath"] = path
    _, pid2 = running_container(ctx, second)
    procs = cgroup_file(ctx, "pids", path, "cgroup.procs").split()
    require(str(pid2) in procs, f"the second container ({pid2}) is not in {path}: {procs}")


# ---------------------------------------------------------------- cgroups: resources

# name -> (resources, controller, file, expected value, spec section)
RESOURCES: dict[str, tuple[dict, str, str, str, str]] = {
    "memory.limit": ({"memory": {"limit": 64 << 20}}, "memory", "memory.limit_in_bytes",
                     str(64 << 20), "memory"),
    "memory.reservation": ({"memory": {"reservation": 32 << 20}}, "memory",
                           "memory.soft_limit_in_bytes", str(32 << 20), "memory"),
    "memory.swap": ({"memory": {"limit": 64 << 20, "swap": 96 << 20}}, "memory",
                    "memory.memsw.limit_in_bytes", str(96 << 20), "memory"),
    "memory.swappiness": ({"memory": {"swappiness": 17}}, "memory", "memory.swappiness", "17",
                          "memory"),
    "memory.kernelTCP": ({"memory": {"kernelTCP": 16 << 20}}, "memory",
                         "memory.kmem.tcp.limit_in_bytes", str(16 << 20), "memory"),
    "cpu.shares": ({"cpu": {"shares": 512}}, "cpu", "cpu.shares", "512", "cpu"),
    "cpu.quota": ({"cpu": {"quota": 30000, "period": 100000}}, "cpu", "cpu.cfs_quota_us",
                  "30000", "cpu"),
    "cpu.period": ({"cpu": {"quota": 30000, "period": 60000}}, "cpu", "cpu.cfs_period_us",
                   "60000", "cpu"),
    "cpu.burst": ({"cpu": {"quota": 30000, "period": 100000, "burst": 10000}}, "cpu",
                  "cpu.cfs_burst_us", "10000", "cpu"),
    "cpu.idle": ({"cpu": {"idle": 1}}, "cpu", "cpu.idle", "1", "cpu"),
    "cpu.cpus": ({"cpu": {"cpus": "0"}}, "cpuset", "cpuset.cpus", "0", "cpu"),
    "cpu.mems": ({"cpu": {"mems": "0"}}, "cpuset", "cpuset.mems", "0", "cpu"),
    "pids.limit": ({"pids": {"limit": 42}}, "pids", "pids.max", "42", "pids"),
}


def _resource_check(name: str, resources: dict, controller: str, filename: str, want: str,
                    section: str) -> None:
    def body(ctx: Context) -> None:
        mount = cgroup_v1_mount(controller)
        if mount is None:
            skip(f"no cgroup v1 {controller} hierarchy on this host")
        if controller != "pids" and not (mount / filename).exists():  # root has no pids.max
            skip(f"{filename} does not exist on this host")
        bundle = ctx.bundle(*SLEEP)
        path = with_cgroup(ctx, bundle)
        bundle.config["linux"]["resources"] = resources
        running_container(ctx, bundle)
        got = cgroup_file(ctx, controller, path, filename)
        require(got == want, f"{filename} is {got!r}, expected {want}")

    check(id=f"linux.resources.{name}", spec=f"config-linux.md#{section}", level="MUST",
          text=f"You can configure a container's cgroups via the resources field of the Linux "
               f"configuration: {name} -> {filename} {APPLIED}.")(body)


for _name, _args in RESOURCES.items():
    _resource_check(_name, *_args)


@check(id="linux.resources.memory.disableOOMKiller", spec="config-linux.md#memory",
       level="MUST",
       text="disableOOMKiller (bool, OPTIONAL) - enables or disables the OOM killer ... To "
            f"disable it, specify a value of true {APPLIED}.")
def memory_oom_disable(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    path = with_cgroup(ctx, bundle)
    bundle.config["linux"]["resources"] = {"memory": {"limit": 64 << 20,
                                                      "disableOOMKiller": True}}
    running_container(ctx, bundle)
    got = cgroup_file(ctx, "memory", path, "memory.oom_control")
    require("oom_kill_disable 1" in got, f"memory.oom_control: {got!r}")


@check(id="linux.resources.pids.zero", spec="config-linux.md#pids", level="SHOULD",
       text="Even though it may superficially seem redundant, 0 is a valid limit value for "
            "the pids cgroup controller from the kernel's perspective and SHOULD be treated as "
            "such by runtimes.")
def pids_zero(ctx: Context) -> None:
    bundle = ctx.bundle(*SLEEP)
    path = with_cgroup(ctx, bundle)
    bundle.config["linux"]["resources"] = {"pids": {"limit": 0}}
    if not ctx.create(bundle, check=False).ok:
        return  # honoured as a real limit: no room for the container's processes
    got = cgroup_file(ctx, "pids", path, "pids.max")
    require(got == "0", f"pids.max is {got!r}, expected 0")


def _block_device() -> tuple[int, int] | None:
    """major:minor of a whole disk on the host (for blkio throttling)."""
    for dev in sorted(Path("/sys/block").iterdir()):
        if dev.name.startswith(("loop", "ram", "zram")):
            continue
        with contextlib.suppress(OSError, ValueError):
            major, minor = (dev / "dev").read_text().strip().split(":")
            return int(major), int(minor)
    return None


THROTTLES = {"throttleReadBpsDevice": ("blkio.throttle.read_bps_device", 1048576),
             "throttleWriteBpsDevice": ("blkio.throttle.write_bps_device", 2097152),
             "throttleReadIOPSDevice": ("blkio.throttle.read_iops_device", 123),
             "throttleWriteIOPSDevice": ("blkio.throttle.write_iops_device", 456)}


def _throttle_check(field: str, filename: str, rate: int) -> None:
    def body(ctx: Context) -> None:
        dev = _block_device()
        if dev is None:
            skip("no block device on this host")
        bundle = ctx.bundle(*SLEEP)
        path = with_cgroup(ctx, bundle)
        bundle.config["linux"]["resources"] = {"blockIO": {field: [
            {"major": dev[0], "minor": dev[1], "rate": rate}]}}
        running_container(ctx, bundle)
        got = cgroup_file(ctx, "blkio", path, filename)
        require(f"{dev[0]}:{dev[1]} {rate}" in got, f"{filename}: {got!r}")

    check(id=f"linux.resources.blockIO.{field}", spec="config-linux.md#block-io",
          level="MUST",
          text=f"blockIO (object, OPTIONAL) represents the cgroup subsystem blkio: {field} "
               f"(major, minor, rate) {APPLIED}.")(body)


for _field, (_file, _rate) in THROTTLES.items():
    _throttle_check(_field, _file, _rate)


@check(id="linux.resources.blockIO.weight", spec="config-linux.md#block-io", level="MUST",
       text=f"weight (uint16, OPTIONAL) - specifies per-cgroup weight {APPLIED}.")
def blkio_weight(ctx: Context) -> None:
    mount = cgroup_v1_mount("blkio")
    names = [n for n in ("blkio.weight", "blkio.bfq.weight") if mount and (mount / n).exists()]
    if not names:
        skip("no blkio weight file (no CFQ/BFQ) on this host")
    bundle = ctx.bundle(*SLEEP)
    path = with_cgroup(ctx, bundle)
    bundle.config["linux"]["resources"] = {"blockIO": {"weight": 321}}
    running_container(ctx, bundle)
    got = cgroup_file(ctx, "blkio", path, names[0])
    require("321" in got.split(), f"{names[0]}: {got!r}")


@check(id="linux.resources.hugepageLimits", spec="config-linux.md#huge-page-limits",
       level="MUST",
       text="hugepageLimits (array of objects, OPTIONAL) represents the hugetlb controller "
            f"which allows to limit the HugeTLB reservations {APPLIED}.")
def hugepage_limits(ctx: Context) -> None:
    if cgroup_v1_mount("hugetlb") is not None:
        mount, name = cgroup_v1_mount("hugetlb"), "hugetlb.2MB.limit_in_bytes"
    else:
        unified = Path("/sys/fs/cgroup/unified")
        if "hugetlb" not in (unified / "cgroup.controllers").read_text(errors="ignore").split() \
                if (unified / "cgroup.controllers").exists() else True:
            skip("no hugetlb controller on this host")
        mount, name = unified, "hugetlb.2MB.max"
    if not Path("/sys/kernel/mm/hugepages/hugepages-2048kB").exists():
        skip("no 2MB huge pages on this host")
    bundle = ctx.bundle(*SLEEP)
    path = with_cgroup(ctx, bundle)
    bundle.config["linux"]["resources"] = {"hugepageLimits": [{"pageSize": "2MB",
                                                               "limit": 4 << 21}]}
    running_container(ctx, bundle)
    target = mount / path.strip("/") / name  # type: ignore[operator]
    require(target.exists(), f"{target} does not exist")
    require(target.read_text().strip() == str(4 << 21), f"{name}: {target.read_text()!r}")


@check(id="linux.resources.network", spec="config-linux.md#network", level="MUST",
       text=f"network (object, OPTIONAL) represents the cgroup subsystems net_cls and "
            f"net_prio: classID {APPLIED}.")
def network_class(ctx: Context) -> None:
    if cgroup_v1_mount("net_cls") is None:
        skip("no net_cls cgroup controller on this host")
    bundle = ctx.bundle(*SLEEP)
    path = with_cgroup(ctx, bundle)
    bundle.config["linux"]["resources"] = {"network": {"classID": 1048577}}
    running_container(ctx, bundle)
    require(cgroup_file(ctx, "net_cls", path, "net_cls.classid") == "1048577", "classid")


@check(id="linux.unified.missing-controller", spec="config-linux.md#unified", level="MUST",
       text="The runtime MUST generate an error when the configuration refers to a cgroup "
            "controller that is not present or that cannot be enabled.")
def unified_missing(ctx: Context) -> None:
    controllers = Path("/sys/fs/cgroup/cgroup.controllers")
    unified = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    present = set()
    for f in (controllers, unified):
        if f.exists():
            present |= set(f.read_text().split())
    if "memory" in present:
        skip("the host's cgroup v2 has a memory controller")
    bundle = ctx.bundle()
    with_cgroup(ctx, bundle)
    bundle.config["linux"]["resources"] = {"unified": {"memory.max": "67108864"}}
    expect_rejected(ctx, bundle, "unified memory.max without a v2 memory controller")


# ---------------------------------------------------------------- devices cgroup

# /dev/loop0 (b 7:0): runtimes add /dev/net/tun and the default devices to every
# allowed list, so the probe is a block device they do not allow on their own.
LOOP = {"path": "/dev/cf-loop", "type": "b", "major": 7, "minor": 0, "fileMode": 0o666}


def _device_rules(ctx: Context, rules: list[dict]) -> tuple[str, str]:
    """Open /dev/cf-loop (b 7:0) inside under ``rules``; (outcome, host devices.list)."""
    if not Path("/dev/loop0").exists():
        skip("the host has no /dev/loop0")
    bundle = ctx.bundle("sh", "-c", "if (exec 3</dev/cf-loop) 2>/dev/null; then echo cf-open; "
                        "else echo cf-denied; fi; exec sleep 1000")
    path = with_cgroup(ctx, bundle)
    bundle.config["linux"]["devices"] = [LOOP]
    bundle.config["linux"]["resources"] = {"devices": rules}
    cid, _ = running_container(ctx, bundle)
    from conformance.checks.runtime import wait_file
    out = wait_file(ctx.out_file(cid))
    return out, cgroup_file(ctx, "devices", path, "devices.list")


DENY_ALL = {"allow": False, "access": "rwm"}
ALLOW_LOOP = {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "rw"}
DENY_LOOP = {"allow": False, "type": "b", "major": 7, "minor": 0, "access": "rw"}


@check(id="linux.resources.devices.deny", spec="config-linux.md#allowed-device-list",
       level="MUST",
       text="devices (array of objects, OPTIONAL) configures the allowed device list: allow "
            f"false denies access (opening a denied device fails) {APPLIED}.")
def devices_cgroup_deny(ctx: Context) -> None:
    out, listed = _device_rules(ctx, [DENY_ALL])
    require("cf-denied" in out, f"a device outside the allowed list opened: {out!r}")
    require("a *:* rwm" not in listed, f"devices.list allows everything: {listed!r}")


@check(id="linux.resources.devices.allow", spec="config-linux.md#allowed-device-list",
       level="MUST",
       text="devices ... configures the allowed device list: allow true with type, major, "
            f"minor, access grants it {APPLIED}.")
def devices_cgroup_allow(ctx: Context) -> None:
    out, listed = _device_rules(ctx, [DENY_ALL, ALLOW_LOOP])
    require("cf-open" in out, f"the allowed device did not open: {out!r}")
    require("b 7:0 rw" in listed, f"devices.list: {listed!r}")


@check(id="linux.resources.devices.order", spec="config-linux.md#allowed-device-list",
       level="MUST",
       text="The runtime MUST apply entries in the listed order (allow then deny of the same "
            "device: denied).")
def devices_cgroup_order(ctx: Context) -> None:
    out, _ = _device_rules(ctx, [DENY_ALL, ALLOW_LOOP, DENY_LOOP])
    require("cf-denied" in out, f"a later deny did not win over an earlier allow: {out!r}")


# ---------------------------------------------------------------- sysctl

SYSCTLS = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1",
           "net.ipv4.ip_local_port_range": "40000\t50000"}


def _sysctl_check(key: str, value: str) -> None:
    def body(ctx: Context) -> None:
        proc_path = "/proc/sys/" + key.replace(".", "/")
        host_before = Path(proc_path).read_text()
        bundle = ctx.bundle()
        bundle.config["linux"]["sysctl"] = {key: value.replace("\t", " ")}
        out = ctx.output(bundle, f"cat {proc_path}").strip()
        require(out.split() == value.split(), f"{key} inside is {out!r}, expected {value!r}")
        require(Path(proc_path).read_text() == host_before, f"the host's {key} changed")

    check(id=f"linux.sysctl.{key}", spec="config-linux.md#sysctl", level="MUST",
          text=f"sysctl (object, OPTIONAL) allows kernel parameters to be modified at runtime "
               f"for the container ({key}, namespaced: the host keeps its value) "
               f"{APPLIED}.")(body)


for _key, _value in SYSCTLS.items():
    _sysctl_check(_key, _value)


# ---------------------------------------------------------------- seccomp


def _seccomp(bundle: Bundle, syscalls: list[dict], default: str = "SCMP_ACT_ALLOW",
             **extra: object) -> Bundle:
    bundle.config["linux"]["seccomp"] = {"defaultAction": default,
                                         "architectures": ["SCMP_ARCH_X86_64"],
                                         "syscalls": syscalls, **extra}
    return bundle


MKDIRS = ["mkdir", "mkdirat"]
MKDIR_PROBE = "(mkdir /tmp/cf-d) 2>&1; echo rc=$?"


@check(id="linux.seccomp.errno", spec="config-linux.md#seccomp", level="MUST",
       text="errnoRet (uint, OPTIONAL) - the errno return code to use. Some actions like "
            f"SCMP_ACT_ERRNO and SCMP_ACT_TRACE allow to specify the errno code to return "
            f"(ETXTBSY here) {APPLIED}.")
def seccomp_errno(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [{"names": MKDIRS, "action": "SCMP_ACT_ERRNO",
                                      "errnoRet": 26}])
    out = ctx.output(bundle, MKDIR_PROBE)
    require("Text file busy" in out and "rc=1" in out, f"mkdir: {out!r}")


@check(id="linux.seccomp.errno-default-eperm", spec="config-linux.md#seccomp", level="MUST",
       text=f"errnoRet ... The default is EPERM {APPLIED}.")
def seccomp_errno_default(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [{"names": MKDIRS, "action": "SCMP_ACT_ERRNO"}])
    out = ctx.output(bundle, MKDIR_PROBE)
    require("Operation not permitted" in out, f"mkdir: {out!r}")


def _sigsys_check(action: str) -> None:
    def body(ctx: Context) -> None:
        bundle = _seccomp(ctx.bundle(), [{"names": MKDIRS, "action": action}])
        out = ctx.output(bundle, MKDIR_PROBE)
        require("rc=159" in out, f"mkdir under {action}: {out!r} (expected death by SIGSYS, "
                "159)")

    check(id=f"linux.seccomp.action.{action[9:].lower()}", spec="config-linux.md#seccomp",
          level="MUST",
          text=f"action (string, REQUIRED) - the action for seccomp rules: {action} (the "
               f"process dies of SIGSYS) {APPLIED}.")(body)


for _action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                "SCMP_ACT_TRAP"):
    _sigsys_check(_action)


@check(id="linux.seccomp.action.log", spec="config-linux.md#seccomp", level="MUST",
       text=f"action ... SCMP_ACT_LOG (the syscall is allowed, and logged) {APPLIED}.")
def seccomp_log(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [{"names": MKDIRS, "action": "SCMP_ACT_LOG"}],
                      default="SCMP_ACT_ERRNO", defaultErrnoRet=26)
    bundle.config["linux"]["seccomp"]["syscalls"].append(
        {"names": _all_syscalls(exclude=MKDIRS), "action": "SCMP_ACT_ALLOW"})
    out = ctx.output(bundle, MKDIR_PROBE)
    require("rc=0" in out, f"a logged mkdir was not allowed: {out!r}")


def _all_syscalls(exclude: list[str]) -> list[str]:
    """Every x86-64 syscall name from the kernel headers, minus ``exclude``."""
    header = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
    if not header.exists():
        skip("no asm/unistd_64.h to list the syscalls an allow-list needs")
    names = re.findall(r"#define __NR_(\w+) \d+", header.read_text())
    return [n for n in names if n not in exclude]


@check(id="linux.seccomp.defaultAction", spec="config-linux.md#seccomp", level="MUST",
       text="defaultAction (string, REQUIRED) - the default action for seccomp. Allowed values "
            "are the same as syscalls[].action (SCMP_ACT_ERRNO for every syscall not allowed; "
            f"SCMP_ACT_ALLOW for the rest) {APPLIED}.")
def seccomp_default_action(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [{"names": _all_syscalls(exclude=MKDIRS),
                                      "action": "SCMP_ACT_ALLOW"}], default="SCMP_ACT_ERRNO")
    out = ctx.output(bundle, MKDIR_PROBE + "; echo cf-alive")
    require("Operation not permitted" in out and "cf-alive" in out, f"output {out!r}")


@check(id="linux.seccomp.defaultErrnoRet", spec="config-linux.md#seccomp", level="MUST",
       text="defaultErrnoRet (uint, OPTIONAL) - the errno return code to use (for the "
            f"defaultAction SCMP_ACT_ERRNO) {APPLIED}.")
def seccomp_default_errno(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [{"names": _all_syscalls(exclude=MKDIRS),
                                      "action": "SCMP_ACT_ALLOW"}],
                      default="SCMP_ACT_ERRNO", defaultErrnoRet=26)
    out = ctx.output(bundle, MKDIR_PROBE)
    require("Text file busy" in out, f"mkdir: {out!r}")


@check(id="linux.seccomp.errnoRet-unsupported", spec="config-linux.md#seccomp", level="MUST",
       text="When the action doesn't support an errno, the runtime MUST print and error and "
            "fail (errnoRet with SCMP_ACT_KILL).")
def seccomp_errno_unsupported(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [{"names": MKDIRS, "action": "SCMP_ACT_KILL",
                                      "errnoRet": 5}])
    expect_rejected(ctx, bundle, "errnoRet on SCMP_ACT_KILL")


@check(id="linux.seccomp.defaultErrnoRet-unsupported", spec="config-linux.md#seccomp",
       level="MUST",
       text="defaultErrnoRet ... When the action doesn't support an errno, the runtime MUST "
            "print and error and fail (defaultErrnoRet with SCMP_ACT_ALLOW).")
def seccomp_default_errno_unsupported(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [], defaultErrnoRet=5)
    expect_rejected(ctx, bundle, "defaultErrnoRet with SCMP_ACT_ALLOW")


@check(id="linux.seccomp.names-empty", spec="config-linux.md#seccomp", level="MUST",
       text=f"names (array of strings, REQUIRED) - the names of the syscalls. names MUST "
            f"contain at least one entry ({INVALID}).")
def seccomp_names_empty(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [{"names": [], "action": "SCMP_ACT_ERRNO"}])
    expect_rejected(ctx, bundle, "a seccomp rule without names")


@check(id="linux.seccomp.unknown-action", spec="config-linux.md#seccomp", level="MUST",
       text=f"action (string, REQUIRED) - the action for seccomp rules ({INVALID}: an "
            f"unknown action).")
def seccomp_unknown_action(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(), [{"names": MKDIRS, "action": "SCMP_ACT_CF_BOGUS"}])
    expect_rejected(ctx, bundle, "an unknown seccomp action")


# kill(pid, sig): the shell's `kill -0 $$` passes 0, `kill -CONT $$` passes 18.
ARG_OPS: dict[str, tuple[dict, bool, bool]] = {  # op -> (arg, blocks sig 0, blocks sig 18)
    "SCMP_CMP_EQ": ({"value": 0}, True, False),
    "SCMP_CMP_NE": ({"value": 0}, False, True),
    "SCMP_CMP_LT": ({"value": 1}, True, False),
    "SCMP_CMP_LE": ({"value": 0}, True, False),
    "SCMP_CMP_GT": ({"value": 10}, False, True),
    "SCMP_CMP_GE": ({"value": 18}, False, True),
    "SCMP_CMP_MASKED_EQ": ({"value": 16, "valueTwo": 16}, False, True),
}


def _arg_check(op: str, arg: dict, blocks0: bool, blocks18: bool) -> None:
    def body(ctx: Context) -> None:
        bundle = _seccomp(ctx.bundle(), [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                                          "errnoRet": 26,
                                          "args": [{"index": 1, "op": op, **arg}]}])
        out = ctx.output(bundle, "kill -0 $$ 2>/dev/null; echo s0=$?; "
                         "kill -CONT $$ 2>/dev/null; echo s18=$?")
        want = [f"s0={1 if blocks0 else 0}", f"s18={1 if blocks18 else 0}"]
        require(out.split() == want, f"{op} {arg}: {out.split()}, expected {want}")

    check(id=f"linux.seccomp.args.{op[9:].lower()}", spec="config-linux.md#seccomp",
          level="MUST",
          text=f"args (array of objects, OPTIONAL) - the specific syscall in seccomp: index, "
               f"value, valueTwo, op {op} {APPLIED}.")(body)


for _op, (_arg, _b0, _b18) in ARG_OPS.items():
    _arg_check(_op, _arg, _b0, _b18)


def _notify_server(ctx: Context) -> tuple[Path, dict]:
    """A listener socket; a thread accepts one connection and records what arrives."""
    path = ctx.path("seccomp.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    server.settimeout(20)
    got: dict = {"connections": 0}

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            got["connections"] += 1
            with conn:
                data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 8)
                got["fds"] = fds
                while chunk := conn.recv(1 << 16):
                    data += chunk
                got["data"] = data
            server.settimeout(0.5)
            with contextlib.suppress(OSError):
                server.accept()
                got["connections"] += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    got["thread"] = thread

    def close() -> None:
        for fd in got.get("fds", []):
            with contextlib.suppress(OSError):
                os.close(fd)
        server.close()

    ctx.defer(close)
    return path, got


def _notified(ctx: Context) -> dict:
    path, got = _notify_server(ctx)
    bundle = _seccomp(ctx.bundle(*SLEEP), [{"names": ["mkdir", "mkdirat"],
                                            "action": "SCMP_ACT_NOTIFY"}],
                      listenerPath=str(path), listenerMetadata="cf-metadata")
    cid = ctx.created(bundle)
    ctx.start(cid, check=False)  # with noNewPrivileges the filter may only load at start
    got["thread"].join(5)
    require("data" in got, "nothing arrived on the listener socket")
    try:
        got["state"] = json.loads(got["data"])
    except ValueError:
        fail(f"the listener received no JSON: {got['data'][:200]!r}")
    return got


@check(id="linux.seccomp.notify.state", spec="config-linux.md#seccomp", level="MUST",
       text="listenerPath ... The runtime MUST send exactly one container process state per "
            "connection. The connection MUST NOT be reused and it MUST be closed after "
            "sending a seccomp state.")
def seccomp_notify_state(ctx: Context) -> None:
    got = _notified(ctx)
    state = got["state"]
    require(isinstance(state.get("state"), dict) and state.get("pid"),
            f"not a container process state: {state}")
    require(got["connections"] == 1, f"{got['connections']} connections")


@check(id="linux.seccomp.notify.fd", spec="config-linux.md#container-process-state",
       level="MUST",
       text="The container runtime MUST send the container process state over the UNIX "
            "socket as regular payload serialized in JSON and file descriptors MUST be sent "
            "using SCM_RIGHTS (fds names seccompFd).")
def seccomp_notify_fd(ctx: Context) -> None:
    got = _notified(ctx)
    names = got["state"].get("fds")
    require(names == ["seccompFd"], f"fds {names}, expected ['seccompFd']")
    require(len(got.get("fds", [])) == 1, f"{len(got.get('fds', []))} fds via SCM_RIGHTS")
    link = os.readlink(f"/proc/self/fd/{got['fds'][0]}")
    require("seccomp" in link, f"the fd is {link}, not a seccomp listener")


@check(id="linux.seccomp.notify.metadata", spec="config-linux.md#seccomp", level="MUST",
       text="listenerMetadata (string, OPTIONAL) - specifies an opaque data to pass to the "
            "seccomp agent. This string will be sent as the metadata field in the container "
            f"process state {APPLIED}.")
def seccomp_notify_metadata(ctx: Context) -> None:
    got = _notified(ctx)
    require(got["state"].get("metadata") == "cf-metadata", f"metadata "
            f"{got['state'].get('metadata')!r}")


@check(id="linux.seccomp.notify.send-fails", spec="config-linux.md#seccomp", level="MUST",
       text="If sending to this socket fails, the runtime MUST generate an error.")
def seccomp_notify_fails(ctx: Context) -> None:
    bundle = _seccomp(ctx.bundle(*SLEEP), [{"names": MKDIRS, "action": "SCMP_ACT_NOTIFY"}],
                      listenerPath=str(ctx.path("no-such.sock")))
    proc = ctx.create(bundle, check=False)
    if proc.ok:  # a filter loaded at start: start must report the error then
        started = ctx.start(proc.cid, check=False)  # type: ignore[attr-defined]
        ctx.expect_error(started, "an unreachable listenerPath (at start)")
        require(not pid_alive(ctx.pids.get(proc.cid, 0) or 0) or ctx.status(  # type: ignore
            proc.cid) != "running", "the container runs despite the failed send")


# ---------------------------------------------------------------- rootfsPropagation

ROOT_PROPAGATION: dict[str, tuple[Callable[[str], bool], str]] = {
    "shared": (lambda t: "shared:" in t, "shared:N"),
    "slave": (lambda t: "master:" in t and "shared:" not in t, "master:N only"),
    "private": (lambda t: "shared:" not in t and "master:" not in t, "no peer group"),
    "unbindable": (lambda t: "unbindable" in t, "unbindable"),
}


def _root_propagation_check(value: str, pred: Callable[[str], bool], what: str) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle()
        host_mount("--bind", str(bundle.path), str(bundle.path))  # a shared peer group on
        host_mount("--make-shared", str(bundle.path))             # the host to relate to
        bundle.config["linux"]["rootfsPropagation"] = value
        root = container_mounts(ctx, bundle).get("/")
        require(root is not None, "no / in the container's mountinfo")
        tags = " ".join(root["tags"])
        require(pred(tags), f"rootfsPropagation {value}: / has tags {tags!r}, expected {what}")

    check(id=f"linux.rootfsPropagation.{value}",
          spec="config-linux.md#rootfs-mount-propagation", level="MUST",
          text=f"rootfsPropagation (string, OPTIONAL) sets the rootfs's mount propagation. "
               f"Its value is either shared, slave, private or unbindable ({value}) "
               f"{APPLIED}.")(body)


for _value, (_pred, _what) in ROOT_PROPAGATION.items():
    _root_propagation_check(_value, _pred, _what)


# ---------------------------------------------------------------- masked and readonly paths


@check(id="linux.maskedPaths.file", spec="config-linux.md#masked-paths", level="MUST",
       text="maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside "
            f"the container so that they cannot be read (a file) {APPLIED}.")
def masked_file(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.put("/cf-secret", "cf-secret-content\n")
    bundle.config["linux"]["maskedPaths"] = ["/cf-secret"]
    out = ctx.output(bundle, "cat /cf-secret; true")
    require("cf-secret-content" not in out, f"the masked file was readable: {out!r}")


@check(id="linux.maskedPaths.dir", spec="config-linux.md#masked-paths", level="MUST",
       text="maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside "
            f"the container so that they cannot be read (a directory) {APPLIED}.")
def masked_dir(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.put("/cf-secrets/key", "cf-secret-content\n")
    bundle.config["linux"]["maskedPaths"] = ["/cf-secrets"]
    out = ctx.output(bundle, "ls -A /cf-secrets; cat /cf-secrets/key; true")
    require("key" not in out and "cf-secret-content" not in out,
            f"the masked directory was readable: {out!r}")


@check(id="linux.maskedPaths.proc", spec="config-linux.md#masked-paths", level="MUST",
       text="maskedPaths ... will mask over the provided paths inside the container so that "
            f"they cannot be read (the spec's example /proc/kcore) {APPLIED}.")
def masked_proc(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["linux"]["maskedPaths"] = ["/proc/kcore"]
    out = ctx.output(bundle, "stat -c '%s %t:%T' /proc/kcore; head -c 8 /proc/kcore | wc -c")
    require(out.split()[-1] == "0", f"/proc/kcore is readable: {out!r}")


def _readonly_check(name: str, setup: Callable[[Bundle], str], probe: str) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle()
        path = setup(bundle)
        bundle.config["linux"]["readonlyPaths"] = [path]
        out = ctx.output(bundle, f"{probe} 2>&1; echo rc=$?; touch /cf-elsewhere && "
                         "echo elsewhere-ok")
        require("rc=0" not in out, f"writing under readonly {path} succeeded: {out!r}")
        require("elsewhere-ok" in out, f"the rest of the rootfs is not writable: {out!r}")

    check(id=f"linux.readonlyPaths.{name}", spec="config-linux.md#readonly-paths",
          level="MUST",
          text=f"readonlyPaths (array of strings, OPTIONAL) will set the provided paths as "
               f"readonly inside the container (a {name}) {APPLIED}.")(body)


_readonly_check("dir", lambda b: (b.put("/cf-ro/file", "x"), "/cf-ro")[1],
                "touch /cf-ro/new")
_readonly_check("file", lambda b: (b.put("/cf-ro-file", "x"), "/cf-ro-file")[1],
                "echo y >> /cf-ro-file")
_readonly_check("proc-sys", lambda b: "/proc/sys", "echo 1 > /proc/sys/kernel/shm_rmid_forced")


@check(id="linux.mountLabel", spec="config-linux.md#mount-label", level="MUST",
       text="mountLabel (string, OPTIONAL) will set the Selinux context for the mounts in the "
            f"container {APPLIED}.")
def mount_label(ctx: Context) -> None:
    if not Path("/sys/fs/selinux").exists():
        skip("SELinux is not enabled on this host")
    bundle = ctx.bundle()
    bundle.config["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2"
    out = ctx.output(bundle, "grep ' /dev/shm ' /proc/self/mountinfo")
    require("context=" in out and "c1,c2" in out, f"/dev/shm: {out!r}")


# ---------------------------------------------------------------- personality, memoryPolicy

PERSONALITIES = {"LINUX32": "i686", "LINUX": os.uname().machine}


def _personality_check(domain: str, machine: str) -> None:
    def body(ctx: Context) -> None:
        if os.uname().machine != "x86_64":
            skip("the LINUX32 expectation is for x86_64 hosts")
        bundle = ctx.bundle()
        bundle.config["linux"]["personality"] = {"domain": domain}
        out = ctx.output(bundle, "uname -m").strip()
        require(out == machine, f"uname -m is {out!r}, expected {machine}")

    check(id=f"linux.personality.{domain.lower()}", spec="config-linux.md#personality",
          level="MUST",
          text=f"domain (string, REQUIRED) - the execution domain. LINUX32 will set the uname "
               f"system call to show a 32 bit CPU type, such as i686 ({domain}) "
               f"{APPLIED}.")(body)


for _domain, _machine in PERSONALITIES.items():
    _personality_check(_domain, _machine)


MEMPOLICIES = {"MPOL_BIND": ("0", "bind:0"), "MPOL_INTERLEAVE": ("0", "interleave:0"),
               "MPOL_PREFERRED": ("0", "prefer:0"), "MPOL_LOCAL": (None, "local")}


def _mempolicy_check(mode: str, nodes: str | None, shown: str) -> None:
    def body(ctx: Context) -> None:
        if not Path("/proc/self/numa_maps").exists():
            skip("the kernel has no NUMA support (/proc/self/numa_maps)")
        bundle = ctx.bundle()
        policy: dict = {"mode": mode}
        if nodes is not None:
            policy["nodes"] = nodes
        bundle.config["linux"]["memoryPolicy"] = policy
        out = ctx.output(bundle, "cat /proc/self/numa_maps")
        policies = {line.split()[1] for line in out.splitlines() if len(line.split()) > 1}
        require(shown in policies, f"numa_maps policies {sorted(policies)}, expected {shown}")

    check(id=f"linux.memoryPolicy.{mode[5:].lower()}", spec="config-linux.md#memory-policy",
          level="MUST",
          text=f"memoryPolicy (object, OPTIONAL) sets the NUMA memory policy for the "
               f"container: mode {mode} {APPLIED}.")(body)


for _mode, (_nodes, _shown2) in MEMPOLICIES.items():
    _mempolicy_check(_mode, _nodes, _shown2)


@check(id="linux.memoryPolicy.invalid", spec="config-linux.md#memory-policy", level="MUST",
       text=f"mode (string, REQUIRED) - A valid list of constants is shown below ({INVALID}: "
            f"an unknown mode).")
def mempolicy_invalid(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_CF_BOGUS"}
    expect_rejected(ctx, bundle, "an unknown memoryPolicy mode")


# ---------------------------------------------------------------- intelRdt


@check(id="linux.intelRdt.no-resctrl", spec="config-linux.md#intelrdt", level="MUST",
       text="If no mounted resctrl pseudo-filesystem is available in the runtime mount "
            "namespace, the runtime MUST generate an error.")
def intel_rdt_missing(ctx: Context) -> None:
    if any(" resctrl " in line for line in Path("/proc/self/mountinfo").read_text()
           .splitlines()):
        skip("resctrl is mounted on this host")
    bundle = ctx.bundle()
    bundle.config["linux"]["intelRdt"] = {"closID": "cf-clos", "l3CacheSchema": "L3:0=f"}
    expect_rejected(ctx, bundle, "intelRdt without resctrl")


# ---------------------------------------------------------------- netDevices


def dummy_link(ctx: Context, name: str, address: str | None = "192.0.2.77/24") -> None:
    """A virtual interface on the host (dummy, or one end of a veth pair if the kernel
    has no dummy driver) with a permanent global address; removed at clean-up if it is
    still on the host."""
    kinds = (["type", "dummy"], ["type", "veth", "peer", "name", f"{name}p"])
    errors = []
    for kind in kinds:
        proc = subprocess.run(["ip", "link", "add", name, *kind], capture_output=True,
                              check=False)
        if proc.returncode == 0:
            break
        errors.append(proc.stderr.decode().strip())
    else:
        skip(f"cannot create a dummy or veth interface: {errors}")
    for link in (name, f"{name}p"):
        ctx.defer(lambda link=link: subprocess.run(["ip", "link", "del", link],
                                                   capture_output=True, check=False))
    if address:
        subprocess.run(["ip", "addr", "add", address, "dev", name], check=True)


def _link_name(ctx: Context) -> str:
    return f"cfd{os.getpid() % 10000}{len(ctx.ids)}"[:14]


def _has_link(ip_output: str, name: str) -> bool:
    """Whether ``ip -o link`` output lists ``name`` (a veth shows as name@ifN)."""
    return re.search(rf"^\d+: {re.escape(name)}[:@]", ip_output, re.M) is not None


def _moved(ctx: Context, inside: str | None = "cfeth0") -> tuple[str, int, str]:
    host_name = _link_name(ctx)
    dummy_link(ctx, host_name)
    bundle = ctx.bundle(*SLEEP)
    bundle.config["linux"]["netDevices"] = {host_name: {"name": inside} if inside else {}}
    cid, pid = running_container(ctx, bundle)
    return host_name, pid, cid


@check(id="linux.netDevices.moved", spec="config-linux.md#network-devices", level="MUST",
       text="netDevices (object, OPTIONAL) - A set of network devices that MUST be made "
            "available in the container ... name - the name of the network device inside the "
            "container namespace.")
def netdev_moved(ctx: Context) -> None:
    host_name, pid, _ = _moved(ctx)
    inside = ctx.nsenter(pid, "-n", "ip", "-o", "link", "show")
    require(_has_link(inside, "cfeth0"), f"cfeth0 is not in the container: {inside!r}")
    require(not Path(f"/sys/class/net/{host_name}").exists(), "the device is still on the host")


@check(id="linux.netDevices.host-name", spec="config-linux.md#network-devices", level="MUST",
       text="netDevices ... MUST be made available in the container ... name (string, "
            "OPTIONAL) ... If not specified, the host name is used.")
def netdev_host_name(ctx: Context) -> None:
    host_name, pid, _ = _moved(ctx, inside=None)
    inside = ctx.nsenter(pid, "-n", "ip", "-o", "link", "show")
    require(_has_link(inside, host_name), f"{host_name} is not in the container: {inside!r}")


@check(id="linux.netDevices.up", spec="config-linux.md#network-devices", level="MUST",
       text="The runtime MUST set the network device state to \"up\" after moving it to the "
            "network namespace.")
def netdev_up(ctx: Context) -> None:
    _, pid, _ = _moved(ctx)
    out = ctx.nsenter(pid, "-n", "ip", "-o", "link", "show", "cfeth0")
    require("<" in out and "UP" in out.split("<", 1)[1].split(">", 1)[0],
            f"cfeth0 is not up: {out!r}")


@check(id="linux.netDevices.addresses", spec="config-linux.md#network-devices", level="MUST",
       text="The runtime MUST preserve existing network interface attributes, including all "
            "permanent IP addresses (IFA_F_PERMANENT flag) of any family with global scope.")
def netdev_addresses(ctx: Context) -> None:
    _, pid, _ = _moved(ctx)
    out = ctx.nsenter(pid, "-n", "ip", "-o", "addr", "show", "cfeth0")
    require("192.0.2.77/24" in out, f"the address was not preserved: {out!r}")


@check(id="linux.netDevices.name-exists", spec="config-linux.md#network-devices", level="MUST",
       text="If a network device with the specified name already exists in the container "
            "namespace, the runtime MUST generate an error.")
def netdev_name_exists(ctx: Context) -> None:
    host_name = _link_name(ctx)
    dummy_link(ctx, host_name, address=None)
    bundle = ctx.bundle()
    bundle.config["linux"]["netDevices"] = {host_name: {"name": "lo"}}
    expect_rejected(ctx, bundle, "moving a device in as lo")


@check(id="linux.netDevices.not-moved-back", spec="config-linux.md#network-devices",
       level="MUST",
       text="The runtime MUST NOT attempt to move the interface out of the namespace before "
            "deletion (a dummy device dies with the namespace instead of returning).")
def netdev_not_moved_back(ctx: Context) -> None:
    host_name, _, cid = _moved(ctx)
    ctx.kill(cid)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    ip = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    require(not _has_link(ip, host_name) and not _has_link(ip, "cfeth0"),
            "the device came back to the host after delete")

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
import os
import re
import subprocess
from pathlib import Path

from conformance.checks.config import expect_rejected
from conformance.checks.runtime import running_container, with_cgroup
from conformance.framework import (
    Bundle,
    Context,
    cgroup_v1_mount,
    check,
    fail,
    ns_id,
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

"""Checks derived from config.md: root, mounts (every Linux option of the table),
process (terminal, cwd, env, args, rlimits, user, capabilities, noNewPrivileges,
oomScoreAdj, scheduler, ioPriority, execCPUAffinity, LSM labels), hostname,
domainname, annotations, extensibility and invalid values.

Mount options are observed in the container's ``/proc/self/mountinfo`` (per-mount
flags, super-block flags, propagation tags); process attributes in
``/proc/self/status``, ``/proc/self/limits`` and ``/proc/self/stat``, or from
the host (``ionice -p``). Where config.md states a property without a keyword,
the quoted requirement is runtime.md's "the container's runtime environment
MUST be created according to the configuration in config.json".
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from conformance.checks.runtime import running_container
from conformance.framework import Bundle, Context, check, fail, proc_status, require, skip

APPLIED = "(runtime.md: the container's runtime environment MUST be created according to " \
    "the configuration in config.json)"
INVALID = "Runtimes MUST generate an error when invalid or unsupported values are encountered"
MNT = "/cfm"  # where option checks mount their tmpfs or bind mount

# ---------------------------------------------------------------- helpers


def mountinfo(text: str) -> dict[str, dict]:
    """Parse mountinfo text: mount point -> {opts, tags, fstype, super} (last wins)."""
    table: dict[str, dict] = {}
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields, rest = pre.split(), post.split()
        table[fields[4]] = {"opts": set(fields[5].split(",")), "tags": fields[6:],
                            "fstype": rest[0], "super": set(rest[2].split(",")) if
                            len(rest) > 2 else set()}
    return table


def container_mounts(ctx: Context, bundle: Bundle) -> dict[str, dict]:
    """The container's own mount table (it prints /proc/self/mountinfo)."""
    return mountinfo(ctx.output(bundle, "cat /proc/self/mountinfo"))


def mount_of(ctx: Context, bundle: Bundle, path: str) -> dict:
    table = container_mounts(ctx, bundle)
    require(path in table, f"{path} is not a mount point in the container")
    return table[path]


def host_mount(*args: str) -> None:
    """Run mount(8) on the host; the context detaches everything under its work dir."""
    proc = subprocess.run(["mount", *args], capture_output=True, check=False)
    if proc.returncode:
        fail(f"host mount {' '.join(args)}: {proc.stderr.decode().strip()}")


def source_with_submount(ctx: Context, sub_opts: str = "") -> Path:
    """A host directory with a file and a tmpfs submount ``sub`` (also with a file)."""
    src = ctx.path("src")
    (src / "sub").mkdir(parents=True)
    (src / "top-file").write_text("top\n")
    host_mount("-t", "tmpfs", "-o", sub_opts or "defaults", "cfsub", str(src / "sub"))
    if "ro" not in sub_opts.split(","):
        (src / "sub" / "sub-file").write_text("sub\n")
    return src


def tmpfs_mount(bundle: Bundle, options: list[str], dest: str = MNT) -> None:
    bundle.config["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                                    "options": options})


def bind_mount(bundle: Bundle, src: Path, options: list[str], dest: str = MNT) -> dict:
    entry = {"destination": dest, "type": "bind", "source": str(src), "options": options}
    bundle.config["mounts"].append(entry)
    return entry


def expect_rejected(ctx: Context, bundle: Bundle, what: str) -> None:
    """create must fail and leave no container behind."""
    proc = ctx.create(bundle, check=False)
    ctx.expect_error(proc, what)
    require(ctx.status(proc.cid) is None,  # type: ignore[attr-defined]
            f"{what}: create failed but the container exists")


# ---------------------------------------------------------------- root


@check(id="config.root.path", spec="config.md#root", level="REQUIRED",
       text="root.path (string, REQUIRED) Specifies the path to the root filesystem for the "
            "container (the container sees that directory as /).")
def root_path(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.put("/cf-root-marker", "cf-root-1\n")
    require("cf-root-1" in ctx.output(bundle, "cat /cf-root-marker"), "marker not seen at /")


@check(id="config.root.path-relative", spec="config.md#root", level="MAY",
       text="Either an absolute path or a relative path to the bundle. For example, with a "
            "bundle at /to/bundle and a root filesystem at /to/bundle/rootfs, the path value "
            "can be either /to/bundle/rootfs or rootfs. The value SHOULD be the conventional "
            "rootfs (a relative path MAY be given).")
def root_path_relative(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["root"]["path"] = "rootfs"
    bundle.put("/cf-root-marker", "cf-rel-root\n")
    require("cf-rel-root" in ctx.output(bundle, "cat /cf-root-marker"), "marker not seen")


@check(id="config.root.path-missing", spec="config.md#root", level="MUST",
       text=f"A directory MUST exist at the path declared by the field ({INVALID}).")
def root_path_missing(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["root"]["path"] = str(bundle.path / "no-such-rootfs")
    expect_rejected(ctx, bundle, "root.path does not exist")


@check(id="config.root.readonly", spec="config.md#root", level="MUST",
       text="readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only "
            "inside the container, defaults to false.")
def root_readonly(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["root"]["readonly"] = True
    out = ctx.output(bundle, "touch /cf-x 2>&1; echo rc=$?; "
                     "cat /proc/self/mountinfo")
    require("rc=0" not in out, f"writing / succeeded: {out!r}")
    root = mountinfo(out).get("/")
    require(root and "ro" in root["opts"], f"/ is not mounted ro: {out!r}")


@check(id="config.root.readonly-default", spec="config.md#root", level="MUST",
       text="readonly ... If true then the root filesystem MUST be read-only inside the "
            "container, defaults to false (unset: / is writable).")
def root_readonly_default(ctx: Context) -> None:
    bundle = ctx.bundle()
    del bundle.config["root"]["readonly"]
    out = ctx.output(bundle, "touch /cf-x && echo written")
    require("written" in out, f"/ is not writable: {out!r}")


# ---------------------------------------------------------------- mounts: structure


@check(id="config.mounts.order", spec="config.md#mounts", level="MUST",
       text="The runtime MUST mount entries in the listed order (a later mount on the same "
            "destination is on top).")
def mounts_order(ctx: Context) -> None:
    src = ctx.path("src")
    src.mkdir()
    (src / "marker").write_text("cf-second\n")
    bundle = ctx.bundle()
    tmpfs_mount(bundle, ["size=1m"])
    bind_mount(bundle, src, ["bind"])
    tmpfs_mount(bundle, ["size=1m"], dest=f"{MNT}/inner")
    out = ctx.output(bundle, f"cat {MNT}/marker; grep -c ' {MNT}/inner ' /proc/self/mountinfo")
    require("cf-second" in out, f"the bind listed second is not on top: {out!r}")
    require(out.split()[-1] == "1", f"the nested third mount is missing: {out!r}")


@check(id="config.mounts.relative-destination", spec="config.md#mounts", level="MUST",
       text="destination ... Linux: This value SHOULD be an absolute path. For compatibility "
            "with old tools and configurations, it MAY be a relative path, in which case it "
            "MUST be interpreted as relative to \"/\".")
def mounts_relative_destination(ctx: Context) -> None:
    bundle = ctx.bundle()
    tmpfs_mount(bundle, ["size=1m"], dest="cf-relative")
    table = container_mounts(ctx, bundle)
    require(table.get("/cf-relative", {}).get("fstype") == "tmpfs",
            "relative destination cf-relative is not a tmpfs at /cf-relative")


@check(id="config.mounts.destination-created", spec="config.md#mounts", level="MUST",
       text=f"destination (string, REQUIRED) Destination of mount point: path inside "
            f"container (a missing directory is created) {APPLIED}.")
def mounts_destination_created(ctx: Context) -> None:
    bundle = ctx.bundle()
    tmpfs_mount(bundle, ["size=1m"], dest="/cf-new/deep/dir")
    table = container_mounts(ctx, bundle)
    require("/cf-new/deep/dir" in table, "the mount at a new nested destination is missing")


@check(id="config.mounts.bind", spec="config.md#mounts", level="MUST",
       text="Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: "
            "bind | MUST | Bind mount.")
def mounts_bind(ctx: Context) -> None:
    src = source_with_submount(ctx)
    bundle = ctx.bundle()
    bind_mount(bundle, src, ["bind"])
    out = ctx.output(bundle, f"cat {MNT}/top-file; ls {MNT}/sub; "
                     f"grep -c ' {MNT}/sub ' /proc/self/mountinfo; true")
    require(out.startswith("top"), f"the bind source is not visible: {out!r}")
    require("sub-file" not in out and out.split()[-1] == "0",
            f"a non-recursive bind brought the submount along: {out!r}")


@check(id="config.mounts.rbind", spec="config.md#mounts", level="MUST",
       text="Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: "
            "rbind | MUST | Recursive bind mount.")
def mounts_rbind(ctx: Context) -> None:
    src = source_with_submount(ctx)
    bundle = ctx.bundle()
    bind_mount(bundle, src, ["rbind"])
    out = ctx.output(bundle, f"cat {MNT}/top-file {MNT}/sub/sub-file")
    require(out.split() == ["top", "sub"], f"rbind did not carry the submount: {out!r}")


@check(id="config.mounts.type-none-bind", spec="config.md#mounts", level="MUST",
       text="bind | MUST | Bind mount (with type \"none\", as in the spec's example "
            "{\"type\": \"none\", \"options\": [\"rbind\", \"rw\"]}).")
def mounts_type_none(ctx: Context) -> None:
    src = source_with_submount(ctx)
    bundle = ctx.bundle()
    bind_mount(bundle, src, ["rbind", "rw"])["type"] = "none"
    require("top" in ctx.output(bundle, f"cat {MNT}/top-file"), "bind source not visible")


@check(id="config.mounts.fs-specific-options", spec="config.md#mounts", level="SHOULD",
       text="Runtimes SHOULD treat unknown options as filesystem-specific ones (tmpfs "
            "mode= and uid= reach the filesystem).")
def mounts_fs_specific(ctx: Context) -> None:
    bundle = ctx.bundle()
    tmpfs_mount(bundle, ["mode=0711", "uid=1234", "size=1m"])
    out = ctx.output(bundle, f"stat -c '%a %u' {MNT}").split()
    require(out == ["711", "1234"], f"tmpfs root is {out}, expected mode 711 uid 1234")


@check(id="config.mounts.invalid-type", spec="config.md#mounts", level="MUST",
       text=f"type (string, OPTIONAL) The type of the filesystem to be mounted ... {INVALID} "
            f"(an unknown filesystem type fails create).")
def mounts_invalid_type(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["mounts"].append({"destination": MNT, "type": "cf-no-such-fs",
                                    "source": "none"})
    expect_rejected(ctx, bundle, "mount of an unknown filesystem type")


# ---------------------------------------------------------------- mounts: option flags

# option -> (options given to a fresh tmpfs, predicate on its mountinfo entry, what)
FlagCheck = tuple[list[str], Callable[[dict], bool], str]
FLAG_OPTIONS: dict[str, tuple[str, FlagCheck]] = {
    "ro": ("MUST", (["ro"], lambda m: "ro" in m["opts"], "mounted ro")),
    "rw": ("MUST", (["ro", "rw"], lambda m: "rw" in m["opts"], "rw overrides an earlier ro")),
    "nosuid": ("MUST", (["nosuid"], lambda m: "nosuid" in m["opts"], "nosuid")),
    "suid": ("MUST", (["nosuid", "suid"], lambda m: "nosuid" not in m["opts"],
                      "suid overrides an earlier nosuid")),
    "nodev": ("MUST", (["nodev"], lambda m: "nodev" in m["opts"], "nodev")),
    "dev": ("MUST", (["nodev", "dev"], lambda m: "nodev" not in m["opts"],
                     "dev overrides an earlier nodev")),
    "noexec": ("MUST", (["noexec"], lambda m: "noexec" in m["opts"], "noexec")),
    "exec": ("MUST", (["noexec", "exec"], lambda m: "noexec" not in m["opts"],
                      "exec overrides an earlier noexec")),
    "noatime": ("MUST", (["noatime"], lambda m: "noatime" in m["opts"], "noatime")),
    "atime": ("MUST", (["noatime", "atime"], lambda m: "noatime" not in m["opts"],
                       "atime overrides an earlier noatime")),
    "nodiratime": ("MUST", (["nodiratime"], lambda m: "nodiratime" in m["opts"], "nodiratime")),
    "diratime": ("MUST", (["nodiratime", "diratime"], lambda m: "nodiratime" not in m["opts"],
                          "diratime overrides an earlier nodiratime")),
    "relatime": ("MUST", (["relatime"], lambda m: "relatime" in m["opts"], "relatime")),
    "strictatime": ("MUST", (["strictatime"],
                             lambda m: not m["opts"] & {"relatime", "noatime"},
                             "strictatime: neither relatime nor noatime")),
    "nostrictatime": ("MUST", (["strictatime", "nostrictatime"],
                               lambda m: "relatime" in m["opts"],
                               "nostrictatime overrides an earlier strictatime")),
    "sync": ("MUST", (["sync"], lambda m: "sync" in m["super"], "super-block sync")),
    "async": ("MUST", (["sync", "async"], lambda m: "sync" not in m["super"],
                       "async overrides an earlier sync")),
    "dirsync": ("MUST", (["dirsync"], lambda m: "dirsync" in m["super"], "dirsync")),
    "lazytime": ("MUST", (["lazytime"], lambda m: "lazytime" in m["super"], "lazytime")),
    "nolazytime": ("MUST", (["lazytime", "nolazytime"], lambda m: "lazytime" not in m["super"],
                            "nolazytime overrides an earlier lazytime")),
    "nosymfollow": ("SHOULD", (["nosymfollow"], lambda m: "nosymfollow" in m["opts"],
                               "nosymfollow")),
    "symfollow": ("SHOULD", (["nosymfollow", "symfollow"],
                             lambda m: "nosymfollow" not in m["opts"],
                             "symfollow overrides an earlier nosymfollow")),
    # accepted without a visible flag of their own: the mount must still be made
    "defaults": ("MUST", (["defaults"], lambda m: "rw" in m["opts"], "defaults: rw")),
    "iversion": ("MUST", (["iversion"], lambda m: True, "mounted")),
    "noiversion": ("MUST", (["noiversion"], lambda m: True, "mounted")),
    "loud": ("MUST", (["silent", "loud"], lambda m: True, "mounted")),
    "silent": ("MUST", (["silent"], lambda m: True, "mounted")),
    "norelatime": ("MUST", (["norelatime"], lambda m: True, "mounted")),
}


def _flag_check(option: str, level: str, spec: FlagCheck) -> None:
    options, pred, what = spec

    def body(ctx: Context) -> None:
        bundle = ctx.bundle()
        tmpfs_mount(bundle, [*options, "size=1m"])
        entry = mount_of(ctx, bundle, MNT)
        require(entry["fstype"] == "tmpfs", f"{MNT} is {entry['fstype']}, not the tmpfs")
        require(pred(entry), f"options {options}: expected {what}; mountinfo has "
                f"{sorted(entry['opts'])} / super {sorted(entry['super'])}")

    check(id=f"config.mounts.option.{option}", spec="config.md#mounts", level=level,
          text=f"Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: "
               f"{option} | {level} (tmpfs with {options}: {what}).")(body)


for _opt, (_level, _spec) in FLAG_OPTIONS.items():
    _flag_check(_opt, _level, _spec)


@check(id="config.mounts.option.remount", spec="config.md#mounts", level="MUST",
       text="Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: "
            "remount | MUST (a later entry with remount,ro changes the earlier mount).")
def mounts_remount(ctx: Context) -> None:
    bundle = ctx.bundle()
    tmpfs_mount(bundle, ["size=1m"])
    tmpfs_mount(bundle, ["remount", "ro"])
    out = ctx.output(bundle, f"grep ' {MNT} ' /proc/self/mountinfo")
    entries = mountinfo(out)
    require(len(out.strip().splitlines()) == 1, f"remount stacked a new mount: {out!r}")
    require("ro" in entries[MNT]["opts"], f"{MNT} is not ro after remount: {out!r}")


# ---------------------------------------------------------------- recursive options

# option -> (host submount options, predicate on the submount's entry, what)
RECURSIVE: dict[str, tuple[str, Callable[[dict], bool], str]] = {
    "rro": ("", lambda m: "ro" in m["opts"], "ro"),
    "rrw": ("ro", lambda m: "rw" in m["opts"], "rw"),
    "rnosuid": ("", lambda m: "nosuid" in m["opts"], "nosuid"),
    "rsuid": ("nosuid", lambda m: "nosuid" not in m["opts"], "suid"),
    "rnodev": ("", lambda m: "nodev" in m["opts"], "nodev"),
    "rdev": ("nodev", lambda m: "nodev" not in m["opts"], "dev"),
    "rnoexec": ("", lambda m: "noexec" in m["opts"], "noexec"),
    "rexec": ("noexec", lambda m: "noexec" not in m["opts"], "exec"),
    "rnoatime": ("", lambda m: "noatime" in m["opts"], "noatime"),
    "ratime": ("noatime", lambda m: "noatime" not in m["opts"], "not noatime"),
    "rnodiratime": ("", lambda m: "nodiratime" in m["opts"], "nodiratime"),
    "rdiratime": ("nodiratime", lambda m: "nodiratime" not in m["opts"], "diratime"),
    "rrelatime": ("noatime", lambda m: "relatime" in m["opts"] and "noatime" not in m["opts"],
                  "relatime"),
    "rstrictatime": ("", lambda m: not m["opts"] & {"relatime", "noatime"}, "strictatime"),
    "rnosymfollow": ("", lambda m: "nosymfollow" in m["opts"], "nosymfollow"),
    "rsymfollow": ("nosymfollow", lambda m: "nosymfollow" not in m["opts"], "symfollow"),
}


def _recursive_check(option: str, sub_opts: str, pred: Callable[[dict], bool],
                     what: str) -> None:
    def body(ctx: Context) -> None:
        src = source_with_submount(ctx, sub_opts)
        bundle = ctx.bundle()
        bind_mount(bundle, src, ["rbind", option])
        table = container_mounts(ctx, bundle)
        sub = table.get(f"{MNT}/sub")
        require(sub is not None, "the submount did not come along with rbind")
        require(pred(sub), f"rbind,{option} (host submount {sub_opts or 'defaults'}): "
                f"submount has {sorted(sub['opts'])}, expected {what}")

    check(id=f"config.mounts.option.{option}", spec="config.md#mounts", level="SHOULD",
          text=f"Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: "
               f"{option} | SHOULD | Recursive {what} (applied to the submounts of an "
               f"rbind too).")(body)


for _opt, (_sub, _pred, _what) in RECURSIVE.items():
    _recursive_check(_opt, _sub, _pred, _what)


# ---------------------------------------------------------------- propagation options

# option -> (options, path checked, predicate on the tags, what)
PROPAGATION: dict[str, tuple[list[str], str, Callable[[str], bool], str]] = {
    "shared": (["bind", "shared"], MNT, lambda t: "shared:" in t, "shared:N"),
    "private": (["bind", "shared", "private"], MNT,
                lambda t: "shared:" not in t and "master:" not in t, "no peer group"),
    "slave": (["bind", "shared", "slave"], MNT, lambda t: "shared:" not in t,
              "no longer shared"),
    "unbindable": (["bind", "unbindable"], MNT, lambda t: "unbindable" in t, "unbindable"),
    "rshared": (["rbind", "rshared"], f"{MNT}/sub", lambda t: "shared:" in t, "shared:N"),
    "rprivate": (["rbind", "rshared", "rprivate"], f"{MNT}/sub",
                 lambda t: "shared:" not in t and "master:" not in t, "no peer group"),
    "rslave": (["rbind", "rshared", "rslave"], f"{MNT}/sub", lambda t: "shared:" not in t,
               "no longer shared"),
    "runbindable": (["rbind", "runbindable"], f"{MNT}/sub", lambda t: "unbindable" in t,
                    "unbindable"),
}


def _propagation_check(option: str, options: list[str], path: str,
                       pred: Callable[[str], bool], what: str) -> None:
    def body(ctx: Context) -> None:
        src = source_with_submount(ctx)
        bundle = ctx.bundle()
        bind_mount(bundle, src, options)
        entry = container_mounts(ctx, bundle).get(path)
        require(entry is not None, f"{path} is not mounted in the container")
        tags = " ".join(entry["tags"])
        require(pred(tags), f"options {options}: {path} has tags {tags!r}, expected {what}")

    check(id=f"config.mounts.option.{option}", spec="config.md#mounts", level="MUST",
          text=f"Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: "
               f"{option} | MUST | Bind mount propagation ({options} leaves {path} "
               f"{what}).")(body)


for _opt, (_opts, _path, _pred2, _what2) in PROPAGATION.items():
    _propagation_check(_opt, _opts, _path, _pred2, _what2)


@check(id="config.mounts.option.tmpcopyup", spec="config.md#mounts", level="MAY",
       text="tmpcopyup | MAY | copy up the contents to a tmpfs (the rootfs's files at the "
            "destination appear in the new tmpfs).")
def mounts_tmpcopyup(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.put(f"{MNT}/copied", "cf-copied-up\n")
    tmpfs_mount(bundle, ["tmpcopyup", "size=1m"])
    out = ctx.output(bundle, f"cat {MNT}/copied; grep ' {MNT} ' /proc/self/mountinfo")
    require("cf-copied-up" in out, f"the file was not copied up: {out!r}")
    require(mountinfo(out).get(MNT, {}).get("fstype") == "tmpfs", f"no tmpfs: {out!r}")


# ---------------------------------------------------------------- idmapped mounts

ID_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def _idmapped_bind(ctx: Context, options: list[str], explicit: bool = True) -> Bundle:
    if explicit:
        src = source_with_submount(ctx)
    else:  # in a user namespace the submount would be locked: a plain bind is refused
        src = ctx.path("src")
        src.mkdir()
        (src / "top-file").write_text("top\n")
    bundle = ctx.bundle()
    entry = bind_mount(bundle, src, options)
    if explicit:
        entry["uidMappings"] = ID_MAP
        entry["gidMappings"] = ID_MAP
    return bundle


@check(id="config.mounts.option.idmap", spec="config.md#mounts", level="MUST",
       text="idmap | SHOULD | Indicates that the mount MUST have an idmapping applied ... "
            "If uidMappings or gidMappings are specified for the mount, the runtime MUST use "
            "those values for the mount's mapping.")
def mounts_idmap(ctx: Context) -> None:
    bundle = _idmapped_bind(ctx, ["bind", "idmap"])
    out = ctx.output(bundle, f"stat -c '%u %g' {MNT}/top-file").split()
    require(out == ["100000", "100000"], f"host-root-owned file shows as {out} through the "
            "idmapped mount, expected 100000 100000")


@check(id="config.mounts.option.ridmap", spec="config.md#mounts", level="MUST",
       text="ridmap | SHOULD | Indicates that the mount MUST have an idmapping applied, and "
            "the mapping is applied recursively.")
def mounts_ridmap(ctx: Context) -> None:
    bundle = _idmapped_bind(ctx, ["rbind", "ridmap"])
    out = ctx.output(bundle, f"stat -c '%u %g' {MNT}/top-file {MNT}/sub/sub-file").split()
    require(out == ["100000"] * 4, f"owners through the ridmapped mount: {out}")


@check(id="config.mounts.idmap-userns", spec="config.md#mounts", level="MUST",
       text="idmap ... If uidMappings or gidMappings are not specified for the mount, the "
            "runtime MUST use the container's user namespace uidMappings and gidMappings.")
def mounts_idmap_userns(ctx: Context) -> None:
    bundle = _idmapped_bind(ctx, ["bind", "idmap"], explicit=False)
    (bundle.rootfs / MNT.lstrip("/")).mkdir()  # the userns root cannot create it
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = ID_MAP
    linux["gidMappings"] = ID_MAP
    out = ctx.output(bundle, f"stat -c '%u %g' {MNT}/top-file").split()
    require(out == ["0", "0"], f"a host-root file shows as {out} in the container (65534 "
            "means the mount is not idmapped)")


@check(id="config.mounts.idmap-uid-without-gid", spec="config.md#mounts", level="MUST",
       text="uidMappings ... If specified, it MUST be specified along with gidMappings "
            f"({INVALID}).")
def mounts_idmap_uid_only(ctx: Context) -> None:
    bundle = _idmapped_bind(ctx, ["bind", "idmap"])
    del bundle.config["mounts"][-1]["gidMappings"]
    expect_rejected(ctx, bundle, "mount uidMappings without gidMappings")


# ---------------------------------------------------------------- process: terminal


def _console_output(ctx: Context, bundle: Bundle) -> str:
    """Create with --console-socket, take the pty master the runtime sends, start,
    and read everything the process writes to its terminal."""
    bundle.config["process"]["terminal"] = True
    sock_path = ctx.path("console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctx.defer(server.close)
    server.bind(str(sock_path))
    server.listen(1)
    server.settimeout(10)
    cid = ctx.created(bundle, "--console-socket", str(sock_path))
    conn, _ = server.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    require(fds, "the runtime sent no file descriptor over the console socket")
    master = fds[0]
    ctx.defer(lambda: os.close(master))
    ctx.start(cid)
    chunks, deadline = [], time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO once the last slave fd is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


@check(id="config.process.terminal", spec="config.md#process", level="MUST",
       text="terminal (bool, OPTIONAL) specifies whether a terminal is attached to the "
            "process ... if set to true on Linux a pseudoterminal pair is allocated for the "
            "process and the pseudoterminal pty is duplicated on the process's standard "
            f"streams {APPLIED}.")
def process_terminal(ctx: Context) -> None:
    bundle = ctx.bundle("sh", "-c", "tty; tty <&1; tty <&2; echo cf-term-done")
    out = _console_output(ctx, bundle)
    ttys = [w for w in out.split() if w.startswith("/dev/")]
    require(len(ttys) == 3 and all(t.startswith("/dev/pts/") for t in ttys),
            f"the standard streams are not a pty: {out!r}")
    require("cf-term-done" in out, f"output did not come through the pty master: {out!r}")


@check(id="config.process.consoleSize", spec="config.md#process", level="MUST",
       text="consoleSize (object, OPTIONAL) specifies the console size in characters of the "
            f"terminal (height, width) {APPLIED}.")
def process_console_size(ctx: Context) -> None:
    bundle = ctx.bundle("stty", "size")
    bundle.config["process"]["consoleSize"] = {"height": 37, "width": 111}
    out = _console_output(ctx, bundle)
    require(out.split() == ["37", "111"], f"stty size printed {out!r}, expected 37 111")


@check(id="config.process.consoleSize-ignored", spec="config.md#process", level="MUST",
       text="Runtimes MUST ignore consoleSize if terminal is false or unset.")
def process_console_size_ignored(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["consoleSize"] = {"height": 37, "width": 111}
    out = ctx.output(bundle, "tty || echo cf-no-tty")
    require("cf-no-tty" in out, f"without terminal the process got a tty: {out!r}")


# ---------------------------------------------------------------- process: cwd, env, args


@check(id="config.process.cwd", spec="config.md#process", level="REQUIRED",
       text="cwd (string, REQUIRED) is the working directory that will be set for the "
            "executable. This value MUST be an absolute path.")
def process_cwd(ctx: Context) -> None:
    bundle = ctx.bundle()
    (bundle.rootfs / "cf-work" / "dir").mkdir(parents=True)
    bundle.config["process"]["cwd"] = "/cf-work/dir"
    out = ctx.output(bundle, "pwd").strip()
    require(out == "/cf-work/dir", f"pwd is {out!r}")


@check(id="config.process.cwd-relative", spec="config.md#process", level="MUST",
       text=f"cwd ... This value MUST be an absolute path ({INVALID}).")
def process_cwd_relative(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["cwd"] = "relative/dir"
    expect_rejected(ctx, bundle, "relative process.cwd")


@check(id="config.process.env", spec="config.md#process", level="MUST",
       text="env (array of strings, OPTIONAL) with the same semantics as IEEE Std "
            f"1003.1-2008's environ {APPLIED}.")
def process_env(ctx: Context) -> None:
    bundle = ctx.bundle("env")
    bundle.config["process"]["env"] = ["PATH=/bin:/usr/bin", "CF_A=one two", "CF_B=x=y"]
    lines = ctx.output(bundle).splitlines()
    require("CF_A=one two" in lines and "CF_B=x=y" in lines, f"environment: {lines}")


@check(id="config.process.env-exact", spec="config.md#process", level="MUST",
       text="env ... with the same semantics as environ: the process's environment is the "
            f"list, nothing of the runtime's environment leaks in {APPLIED}.")
def process_env_exact(ctx: Context) -> None:
    bundle = ctx.bundle("env").write()
    cid = ctx.new_id()
    proc = ctx.rt("run", "--bundle", str(bundle.path), cid, env={"CF_LEAK": "leaked"})
    require(proc.ok, f"run failed: {proc.describe()}")
    require("CF_LEAK" not in proc.out, f"the runtime's environment leaked: {proc.out!r}")


@check(id="config.process.args-path", spec="config.md#process", level="REQUIRED",
       text="args ... at least one entry is REQUIRED (non-Windows), and that entry is used "
            "with the same semantics as execvp's file (searched in the process's PATH).")
def process_args_path(ctx: Context) -> None:
    bundle = ctx.bundle("cf-prog", "a b", "")
    bundle.put("/cf-bin/cf-prog", "#!/bin/sh\necho \"cf-ran:$#:$1:$2\"\n", mode=0o755)
    bundle.config["process"]["env"] = ["PATH=/cf-bin:/bin:/usr/bin"]
    out = ctx.output(bundle).strip()
    require(out == "cf-ran:2:a b:", f"output {out!r}, expected cf-ran:2:a b:")


@check(id="config.process.args-empty", spec="config.md#process", level="REQUIRED",
       text=f"args ... at least one entry is REQUIRED (non-Windows) ({INVALID}).")
def process_args_empty(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["args"] = []
    proc = ctx.create(bundle, check=False)
    if proc.ok:  # some runtimes only notice at start: that must fail then
        started = ctx.start(proc.cid, check=False)  # type: ignore[attr-defined]
        ctx.expect_error(started, "empty process.args")


# ---------------------------------------------------------------- process: rlimits

LIMIT_NAMES = {"CPU": "Max cpu time", "FSIZE": "Max file size", "DATA": "Max data size",
               "STACK": "Max stack size", "CORE": "Max core file size",
               "RSS": "Max resident set", "NPROC": "Max processes",
               "NOFILE": "Max open files", "MEMLOCK": "Max locked memory",
               "AS": "Max address space", "LOCKS": "Max file locks",
               "SIGPENDING": "Max pending signals", "MSGQUEUE": "Max msgqueue size",
               "RTTIME": "Max realtime timeout"}


# <asm-generic/resource.h>: Python's resource module lacks some (RLIMIT_LOCKS).
RLIMIT_NUMBERS = {"CPU": 0, "FSIZE": 1, "DATA": 2, "STACK": 3, "CORE": 4, "RSS": 5, "NPROC": 6,
                  "NOFILE": 7, "MEMLOCK": 8, "AS": 9, "LOCKS": 10, "SIGPENDING": 11,
                  "MSGQUEUE": 12, "RTTIME": 15}


def _limit_values(kind: str) -> tuple[int, int]:
    """A (soft, hard) pair below the suite's own hard limit and unlike its values."""
    _, host_hard = resource.getrlimit(RLIMIT_NUMBERS[kind])
    top = 1 << 40 if host_hard == resource.RLIM_INFINITY else host_hard
    if kind == "NOFILE":
        top = min(top, 4099)
    if top < 17:  # e.g. a core hard limit of 0: no room below it, only 0..top
        return 0, top
    return top - 17, top - 7


def _proc_limits(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in text.splitlines()[1:]:
        name, values = line[:26].strip(), line[26:].split()
        if len(values) >= 2:
            out[name] = (values[0], values[1])
    return out


def _rlimit_check(kind: str) -> None:
    def body(ctx: Context) -> None:
        soft, hard = _limit_values(kind)
        bundle = ctx.bundle()
        bundle.config["process"]["rlimits"] = [
            {"type": f"RLIMIT_{kind}", "soft": soft, "hard": hard}]
        got = _proc_limits(ctx.output(bundle, "cat /proc/self/limits")).get(LIMIT_NAMES[kind])
        require(got == (str(soft), str(hard)), f"RLIMIT_{kind} is {got}, expected "
                f"soft {soft} hard {hard}")

    check(id=f"config.process.rlimits.{kind.lower()}", spec="config.md#posix-process",
          level="MUST",
          text=f"For each entry in rlimits, a getrlimit(3) on type MUST succeed. soft: "
               f"rlim.rlim_cur MUST match the configured value. hard: rlim.rlim_max MUST "
               f"match the configured value (RLIMIT_{kind}).")(body)


for _kind in LIMIT_NAMES:
    _rlimit_check(_kind)


@check(id="config.process.rlimits.duplicate", spec="config.md#posix-process", level="MUST",
       text="If rlimits contains duplicated entries with same type, the runtime MUST generate "
            "an error.")
def rlimits_duplicate(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
        {"type": "RLIMIT_NOFILE", "soft": 300, "hard": 400}]
    expect_rejected(ctx, bundle, "duplicate RLIMIT_NOFILE")


@check(id="config.process.rlimits.unknown-type", spec="config.md#posix-process", level="MUST",
       text="The runtime MUST generate an error for any values which cannot be mapped to a "
            "relevant kernel interface.")
def rlimits_unknown(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_CF_BOGUS", "soft": 1, "hard": 1}]
    expect_rejected(ctx, bundle, "unknown rlimit type")


# ---------------------------------------------------------------- process: user


@check(id="config.process.user.uid-gid", spec="config.md#posix-platform-user",
       level="REQUIRED",
       text="uid (int, REQUIRED) specifies the user ID in the container namespace. gid (int, "
            "REQUIRED) specifies the group ID in the container namespace.")
def user_uid_gid(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["user"] = {"uid": 1234, "gid": 5678}
    status = ctx.output(bundle, "cat /proc/self/status")
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    require(fields.get("Uid", "").split() == ["1234"] * 4, f"Uid: {fields.get('Uid')}")
    require(fields.get("Gid", "").split() == ["5678"] * 4, f"Gid: {fields.get('Gid')}")


@check(id="config.process.user.additionalGids", spec="config.md#posix-platform-user",
       level="MUST",
       text="additionalGids (array of ints, OPTIONAL) specifies additional group IDs in the "
            f"container namespace to be added to the process {APPLIED}.")
def user_additional_gids(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["user"] = {"uid": 1234, "gid": 5678, "additionalGids": [5, 4321]}
    out = ctx.output(bundle, "grep Groups: /proc/self/status").split()[1:]
    require({"5", "4321"} <= set(out), f"supplementary groups {out}, expected 5 and 4321")


@check(id="config.process.user.no-additionalGids", spec="config.md#posix-platform-user",
       level="MUST",
       text="additionalGids ... specifies additional group IDs to be added to the process "
            f"(none listed: the runtime's own groups do not leak) {APPLIED}.")
def user_no_additional_gids(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["user"] = {"uid": 1234, "gid": 5678}
    out = ctx.output(bundle, "grep Groups: /proc/self/status").split()[1:]
    require(set(out) <= {"5678"}, f"supplementary groups {out}, expected none")


@check(id="config.process.user.umask", spec="config.md#posix-platform-user", level="MUST",
       text=f"umask (int, OPTIONAL) specifies the umask of the user {APPLIED}.")
def user_umask(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["user"] = {"uid": 0, "gid": 0, "umask": 0o27}
    out = ctx.output(bundle, "umask").strip()
    require(out == "0027", f"umask is {out!r}, expected 0027")


# ---------------------------------------------------------------- process: capabilities

CAP_BITS = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13,
            "CAP_SYS_RESOURCE": 24, "CAP_AUDIT_WRITE": 29}
CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


def _caps_bundle(ctx: Context, uid: int = 0, **sets: list[str]) -> Bundle:
    bundle = ctx.bundle()
    bundle.config["process"]["user"] = {"uid": uid, "gid": uid}
    bundle.config["process"]["capabilities"] = {k: v for k, v in sets.items() if v is not None}
    return bundle


def _cap_masks(ctx: Context, bundle: Bundle) -> dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb of the container process, as integers."""
    out = ctx.output(bundle, "grep ^Cap /proc/self/status")
    return {k: int(v, 16) for k, v in (line.split(":") for line in out.splitlines())}


def _mask(*caps: str) -> int:
    return sum(1 << CAP_BITS[c] for c in caps)


@check(id="config.process.capabilities.bounding", spec="config.md#linux-process",
       level="MUST",
       text=f"bounding (array of strings, OPTIONAL) the bounding field is an array of "
            f"bounding capabilities that are kept for the process {APPLIED}.")
def caps_bounding(ctx: Context) -> None:
    caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]
    masks = _cap_masks(ctx, _caps_bundle(ctx, bounding=caps, effective=caps, permitted=caps))
    require(masks["CapBnd"] == _mask(*caps), f"CapBnd {masks['CapBnd']:#x}, expected "
            f"{_mask(*caps):#x}")


@check(id="config.process.capabilities.effective", spec="config.md#linux-process",
       level="MUST",
       text="effective (array of strings, OPTIONAL) the effective field is an array of "
            "effective capabilities that are kept for the process (uid 0: exactly the "
            f"listed set, nothing more) {APPLIED}.")
def caps_effective(ctx: Context) -> None:
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    masks = _cap_masks(ctx, _caps_bundle(ctx, bounding=caps, effective=caps, permitted=caps))
    require(masks["CapEff"] == _mask(*caps), f"CapEff {masks['CapEff']:#x}, expected "
            f"{_mask(*caps):#x}")


@check(id="config.process.capabilities.inheritable", spec="config.md#linux-process",
       level="MUST",
       text="inheritable (array of strings, OPTIONAL) the inheritable field is an array of "
            f"inheritable capabilities that are kept for the process {APPLIED}.")
def caps_inheritable(ctx: Context) -> None:
    caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]
    inh = ["CAP_CHOWN", "CAP_NET_RAW"]
    masks = _cap_masks(ctx, _caps_bundle(ctx, bounding=caps, effective=caps, permitted=caps,
                                         inheritable=inh))
    require(masks["CapInh"] == _mask(*inh), f"CapInh {masks['CapInh']:#x}, expected "
            f"{_mask(*inh):#x}")


@check(id="config.process.capabilities.ambient", spec="config.md#linux-process",
       level="MUST",
       text="ambient (array of strings, OPTIONAL) the ambient field is an array of ambient "
            "capabilities that are kept for the process (a non-root process keeps them "
            f"across exec) {APPLIED}.")
def caps_ambient(ctx: Context) -> None:
    caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    amb = ["CAP_NET_BIND_SERVICE"]
    masks = _cap_masks(ctx, _caps_bundle(ctx, 1000, bounding=caps, effective=caps,
                                         permitted=caps, inheritable=caps, ambient=amb))
    require(masks["CapAmb"] == _mask(*amb), f"CapAmb {masks['CapAmb']:#x}, expected "
            f"{_mask(*amb):#x}")
    require(masks["CapEff"] == _mask(*amb), f"uid 1000 CapEff {masks['CapEff']:#x}, "
            f"expected the ambient set {_mask(*amb):#x}")


@check(id="config.process.capabilities.permitted", spec="config.md#linux-process",
       level="MUST",
       text="permitted (array of strings, OPTIONAL) the permitted field is an array of "
            "permitted capabilities that are kept for the process (a capability outside it "
            f"cannot become ambient or effective) {APPLIED}.")
def caps_permitted(ctx: Context) -> None:
    bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    bundle = _caps_bundle(ctx, 1000, bounding=bnd, effective=["CAP_KILL"],
                          permitted=["CAP_KILL"], inheritable=bnd, ambient=["CAP_CHOWN",
                                                                            "CAP_KILL"])
    proc = ctx.run(bundle.sh("grep ^Cap /proc/self/status"))
    if not proc.ok:
        return  # refusing an ambient capability that is not permitted is acceptable here
    masks = {k: int(v, 16) for k, v in (line.split(":") for line in proc.out.splitlines())}
    leaked = [k for k in ("CapPrm", "CapEff", "CapAmb") if masks.get(k, 0) & _mask("CAP_CHOWN")]
    require(not leaked, f"CAP_CHOWN (not permitted) is in {leaked}: {masks}")


@check(id="config.process.capabilities.ungrantable", spec="config.md#linux-process",
       level="SHOULD",
       text="Runtimes SHOULD NOT fail if the container configuration requests capabilities "
            "that cannot be granted, for example, if the runtime operates in a restricted "
            "environment with a limited set of capabilities.")
def caps_ungrantable(ctx: Context) -> None:
    if proc_status(os.getpid()).get("CapBnd") and int(proc_status(os.getpid())["CapBnd"], 16) \
            & _mask("CAP_SYS_RESOURCE"):
        skip("this host's bounding set has CAP_SYS_RESOURCE; nothing is ungrantable")
    caps = ["CAP_KILL", "CAP_SYS_RESOURCE"]
    masks = _cap_masks(ctx, _caps_bundle(ctx, bounding=caps, effective=caps, permitted=caps))
    require(masks["CapBnd"] == _mask("CAP_KILL"), f"CapBnd {masks['CapBnd']:#x}")


@check(id="config.process.capabilities.unknown", spec="config.md#linux-process",
       level="SHOULD",
       text="Any value which cannot be mapped to a relevant kernel interface, or cannot be "
            "granted otherwise MUST be logged as a warning by the runtime. Runtimes SHOULD "
            "NOT fail if the container configuration requests capabilities that cannot be "
            "granted (an unknown name).")
def caps_unknown(ctx: Context) -> None:
    caps = ["CAP_KILL", "CAP_CF_NO_SUCH_CAP"]
    masks = _cap_masks(ctx, _caps_bundle(ctx, bounding=caps, effective=caps, permitted=caps))
    require(masks["CapBnd"] == _mask("CAP_KILL"), f"CapBnd {masks['CapBnd']:#x}")


@check(id="config.process.capabilities.warning", spec="config.md#linux-process",
       level="MUST",
       text="Any value which cannot be mapped to a relevant kernel interface, or cannot be "
            "granted otherwise MUST be logged as a warning by the runtime (the warning names "
            "the capability).")
def caps_warning(ctx: Context) -> None:
    caps = ["CAP_KILL", "CAP_CF_NO_SUCH_CAP"]
    proc = ctx.run(_caps_bundle(ctx, bounding=caps, effective=caps, permitted=caps))
    require("CAP_CF_NO_SUCH_CAP" in proc.err + proc.out,
            f"nothing about CAP_CF_NO_SUCH_CAP was logged (exit {proc.rc}): {proc.err!r}")


# ---------------------------------------------------------------- process: misc Linux


def _status_field(ctx: Context, bundle: Bundle, name: str) -> str:
    out = ctx.output(bundle, f"grep '^{name}:' /proc/self/status")
    return out.split(":", 1)[1].strip() if ":" in out else ""


@check(id="config.process.noNewPrivileges", spec="config.md#linux-process", level="MUST",
       text="noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the "
            f"process from gaining additional privileges {APPLIED}.")
def process_nnp(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["noNewPrivileges"] = True
    got = _status_field(ctx, bundle, "NoNewPrivs")
    require(got == "1", f"NoNewPrivs: {got!r}")


@check(id="config.process.noNewPrivileges-false", spec="config.md#linux-process",
       level="MUST",
       text="noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the "
            f"process from gaining additional privileges (false: not set) {APPLIED}.")
def process_nnp_false(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["noNewPrivileges"] = False
    got = _status_field(ctx, bundle, "NoNewPrivs")
    require(got == "0", f"NoNewPrivs: {got!r}")


@check(id="config.process.oomScoreAdj", spec="config.md#linux-process", level="MUST",
       text="If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value.")
def process_oom_set(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["oomScoreAdj"] = 123
    out = ctx.output(bundle, "cat /proc/self/oom_score_adj").strip()
    require(out == "123", f"oom_score_adj is {out!r}")


@check(id="config.process.oomScoreAdj-unset", spec="config.md#linux-process", level="MUST",
       text="If oomScoreAdj is not set, the runtime MUST NOT change the value of "
            "oom_score_adj (the caller's value is inherited).")
def process_oom_unset(ctx: Context) -> None:
    own = Path("/proc/self/oom_score_adj")
    before = own.read_text().strip()
    own.write_text("17")  # the runtime inherits it from the suite
    ctx.defer(lambda: own.write_text(before))
    bundle = ctx.bundle()
    bundle.config["process"].pop("oomScoreAdj", None)
    out = ctx.output(bundle, "cat /proc/self/oom_score_adj").strip()
    own.write_text(before)
    require(out == "17", f"oom_score_adj is {out!r}, the caller's was 17")


def _stat_fields(text: str) -> list[str]:
    """/proc/<pid>/stat fields after the comm, numbered from 3 (state) on."""
    return text.rsplit(")", 1)[1].split()


SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_BATCH": 3, "SCHED_IDLE": 5}


def _scheduler_check(policy: str, number: int) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle()
        bundle.config["process"]["scheduler"] = {"policy": policy, "nice": 7}
        fields = _stat_fields(ctx.output(bundle, "cat /proc/self/stat"))
        nice, got = fields[16], fields[38]  # stat fields 19 (nice) and 41 (policy)
        require(got == str(number), f"policy {got}, expected {number} ({policy})")
        if policy != "SCHED_IDLE":
            require(nice == "7", f"nice {nice}, expected 7")

    check(id=f"config.process.scheduler.{policy.lower()}", spec="config.md#linux-process",
          level="MUST",
          text=f"scheduler (object, OPTIONAL) is an object describing the scheduler "
               f"properties for the process: policy {policy}, nice 7 {APPLIED}.")(body)


for _policy, _number in SCHED_POLICIES.items():
    _scheduler_check(_policy, _number)


@check(id="config.process.scheduler.invalid", spec="config.md#linux-process", level="MUST",
       text=f"policy (string, REQUIRED) represents the scheduling policy. A valid list of "
            f"values is: SCHED_OTHER ... ({INVALID}).")
def scheduler_invalid(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_CF_BOGUS"}
    expect_rejected(ctx, bundle, "unknown scheduler policy")


IOPRIO = {"IOPRIO_CLASS_BE": ("best-effort", 6), "IOPRIO_CLASS_IDLE": ("idle", 0),
          "IOPRIO_CLASS_RT": ("realtime", 3)}


def _ioprio_check(klass: str, shown: str, prio: int) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle("sleep", "1000")
        bundle.config["process"]["ioPriority"] = {"class": klass, "priority": prio}
        _, pid = running_container(ctx, bundle)
        out = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True,
                             check=False).stdout.strip()
        want = shown if klass == "IOPRIO_CLASS_IDLE" else f"{shown}: prio {prio}"
        require(out == want, f"ionice -p shows {out!r}, expected {want!r}")

    check(id=f"config.process.ioPriority.{shown}", spec="config.md#linux-process",
          level="MUST",
          text=f"ioPriority (object, OPTIONAL) configures the I/O priority settings for the "
               f"container's processes: class {klass}, priority {prio} {APPLIED}.")(body)


for _klass, (_shown, _prio) in IOPRIO.items():
    _ioprio_check(_klass, _shown, _prio)


@check(id="config.process.execCPUAffinity", spec="config.md#linux-process", level="MUST",
       text="final (string, OPTIONAL) is a list of CPUs the process will be run on after the "
            f"transition to container's cgroup (an exec'd process) {APPLIED}.")
def exec_cpu_affinity(ctx: Context) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        skip("the host has a single CPU")
    cpu = max(os.sched_getaffinity(0))
    cid, _ = running_container(ctx)
    process = dict(ctx.bundle().config["process"])
    process["args"] = ["grep", "Cpus_allowed_list", "/proc/self/status"]
    process["execCPUAffinity"] = {"final": str(cpu)}
    spec = ctx.path("process.json")
    spec.write_text(json.dumps(process))
    proc = ctx.rt("exec", "--process", str(spec), cid)
    require(proc.ok, f"exec failed: {proc.describe()}")
    got = proc.out.split(":")[-1].strip()
    require(got == str(cpu), f"Cpus_allowed_list of the exec'd process is {got!r}, "
            f"expected {cpu}")


def _lsm_enabled(name: str) -> bool:
    with contextlib.suppress(OSError):
        return name in Path("/sys/kernel/security/lsm").read_text().split(",")
    return Path(f"/sys/module/{name}").exists() or (name == "selinux" and
                                                     Path("/sys/fs/selinux").exists())


@check(id="config.process.apparmorProfile", spec="config.md#linux-process", level="MUST",
       text="apparmorProfile (string, OPTIONAL) specifies the name of the AppArmor profile "
            f"for the process {APPLIED}.")
def process_apparmor(ctx: Context) -> None:
    if not _lsm_enabled("apparmor"):
        skip("AppArmor is not enabled on this host")
    bundle = ctx.bundle()
    bundle.config["process"]["apparmorProfile"] = "unconfined"
    out = ctx.output(bundle, "cat /proc/self/attr/current").strip()
    require(out.startswith("unconfined"), f"AppArmor label {out!r}")


@check(id="config.process.selinuxLabel", spec="config.md#linux-process", level="MUST",
       text="selinuxLabel (string, OPTIONAL) specifies the SELinux label for the process "
            f"{APPLIED}.")
def process_selinux(ctx: Context) -> None:
    if not _lsm_enabled("selinux"):
        skip("SELinux is not enabled on this host")
    label = Path("/proc/self/attr/current").read_text().strip("\0\n")
    bundle = ctx.bundle()
    bundle.config["process"]["selinuxLabel"] = label
    out = ctx.output(bundle, "cat /proc/self/attr/current").strip("\0\n")
    require(out == label, f"SELinux label {out!r}, expected {label!r}")


# ---------------------------------------------------------------- hostname, domainname


@check(id="config.hostname", spec="config.md#hostname", level="MUST",
       text="hostname (string, OPTIONAL) specifies the container's hostname as seen by "
            f"processes running inside the container {APPLIED}.")
def hostname_set(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["hostname"] = "cf-host-name"
    out = ctx.output(bundle, "cat /proc/sys/kernel/hostname").strip()
    require(out == "cf-host-name", f"hostname {out!r}")


@check(id="config.domainname", spec="config.md#domainname", level="MUST",
       text="domainname (string, OPTIONAL) specifies the container's domainname as seen by "
            f"processes running inside the container {APPLIED}.")
def domainname_set(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["domainname"] = "cf-domain.example"
    out = ctx.output(bundle, "cat /proc/sys/kernel/domainname").strip()
    require(out == "cf-domain.example", f"domainname {out!r}")
    host = Path("/proc/sys/kernel/domainname").read_text().strip()
    require(host != "cf-domain.example", "the host's domainname was changed")


# ---------------------------------------------------------------- annotations, extensibility


@check(id="config.annotations.state", spec="config.md#annotations", level="MUST",
       text="annotations (object, OPTIONAL) contains arbitrary metadata for the container. "
            "Annotations MUST be a key-value map ... Values MAY be an empty string (reported "
            "unchanged in state).")
def annotations_state(ctx: Context) -> None:
    bundle = ctx.bundle("sleep", "1000")
    want = {"com.example.cf.key": "value with spaces", "com.example.cf.empty": ""}
    bundle.config["annotations"] = want
    cid = ctx.created(bundle)
    got = ctx.state(cid).get("annotations") or {}
    require(all(got.get(k) == v for k, v in want.items()), f"state annotations {got}")


@check(id="config.annotations.empty-key", spec="config.md#annotations", level="MUST",
       text=f"Keys MUST NOT be an empty string ({INVALID}).")
def annotations_empty_key(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["annotations"] = {"": "x"}
    expect_rejected(ctx, bundle, "an annotation with an empty key")


@check(id="config.annotations.non-string", spec="config.md#annotations", level="MUST",
       text=f"Values MUST be strings ({INVALID}).")
def annotations_non_string(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["annotations"] = {"com.example.cf": 42}
    expect_rejected(ctx, bundle, "an annotation with a numeric value")


UNKNOWN_PLACES: dict[str, Callable[[dict], dict]] = {
    "top-level": lambda c: c,
    "process": lambda c: c["process"],
    "linux": lambda c: c["linux"],
    "mount": lambda c: c["mounts"][0],
    "annotation-key": lambda c: c.setdefault("annotations", {}),
}


def _unknown_check(place: str, where: Callable[[dict], dict]) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle()
        where(bundle.config)["com.example.cfUnknown" if place == "annotation-key"
                             else "cfUnknownProperty"] = "ignored"
        out = ctx.output(bundle, "echo cf-ran")
        require("cf-ran" in out, f"output {out!r}")

    check(id=f"config.extensibility.unknown-{place}", spec="config.md#extensibility",
          level="MUST",
          text=f"Runtimes MAY log unknown properties but MUST otherwise ignore them (an "
               f"unknown property in {place}).")(body)


for _place, _where in UNKNOWN_PLACES.items():
    _unknown_check(_place, _where)


@check(id="config.ociVersion.invalid", spec="config.md#specification-version", level="MUST",
       text="ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format and specifies the "
            f"version of the Open Container Initiative Runtime Specification ({INVALID}).")
def oci_version_invalid(ctx: Context) -> None:
    bundle = ctx.bundle()
    bundle.config["ociVersion"] = "not-a-version"
    expect_rejected(ctx, bundle, "ociVersion that is not SemVer")


INVALID_VALUES: dict[str, Callable[[dict], None]] = {
    "uid-negative": lambda c: c["process"]["user"].update(uid=-5),
    "terminal-string": lambda c: c["process"].update(terminal="yes"),
    "mounts-not-array": lambda c: c.update(mounts={"destination": "/x"}),
    "mount-no-destination": lambda c: c["mounts"].append({"type": "tmpfs",
                                                          "source": "tmpfs"}),
    "rlimit-soft-string": lambda c: c["process"]["rlimits"][0].update(soft="many"),
}


def _invalid_check(name: str, mutate: Callable[[dict], None]) -> None:
    def body(ctx: Context) -> None:
        bundle = ctx.bundle()
        mutate(bundle.config)
        expect_rejected(ctx, bundle, f"invalid config ({name})")

    check(id=f"config.invalid.{name}", spec="config.md#valid-values", level="MUST",
          text=f"Runtimes MUST generate an error when invalid or unsupported values are "
               f"encountered ({name}); nothing is created.")(body)


for _name, _mutate in INVALID_VALUES.items():
    _invalid_check(_name, _mutate)

"""Checks derived from features.md and features-linux.md: the ``features`` document
is valid, and what it claims holds when used in a config.json (each claimed
version, hook, mount option, namespace, capability and seccomp action).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from conformance.framework import (
    Bundle,
    Context,
    check,
    fail,
    ns_id,
    proc_status,
    require,
    skip,
)

CAPS = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
        "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
        "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
        "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
        "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
        "CHECKPOINT_RESTORE").split()
CAP_NUMBER = {f"CAP_{name}": n for n, name in enumerate(CAPS)}
NS_LINK = {"cgroup": "cgroup", "ipc": "ipc", "mount": "mnt", "network": "net", "pid": "pid",
           "time": "time", "user": "user", "uts": "uts"}
# Options that only make sense on a bind mount (propagation, recursive attributes).
BIND_ONLY = re.compile(r"^(r?bind|r?shared|r?slave|r?private|r?unbindable|r(?!elatime$).*|"
                       r"remount)$")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-(.+))?$")


def _version_key(text: str) -> tuple:
    m = _VERSION.match(text)
    require(m, f"{text!r} is not a semantic version")
    major, minor, patch, pre = m.groups()
    return (int(major), int(minor), int(patch), pre is None, pre or "")


@check(id="features.schema", spec="features.md#features-structure", level="MUST",
       text="The null value MUST NOT be confused with an empty value ... (the features "
            "document validates against schema/features-schema.json).")
def features_schema(ctx: Context) -> None:
    errors = ctx.schema_errors(ctx.features(), "features-schema.json")
    require(not errors, f"features violates the schema: {errors[:3]}")


@check(id="features.no-unknown-properties", spec="features.md#specification-version",
       level="MUST",
       text="The Features structure MUST NOT contain properties that are not defined in this "
            "version of the Open Container Initiative Runtime Specification.")
def features_no_unknown(ctx: Context) -> None:
    errors = ctx.schema_errors(ctx.features(), "features-schema.json", closed=True)
    documented = _documented_names(ctx.spec_dir)
    undefined = [e for e in errors
                 if not set(re.findall(r"'([^']+)'", e.partition("(")[2])) <= documented]
    require(not undefined, f"undefined properties: {undefined[:3]}")


def _documented_names(spec_dir: Path) -> set[str]:
    """Property names features*.md defines in bold (the schema lags the text:
    v1.3.0 documents linux.memoryPolicy but its features-linux.json lacks it)."""
    names: set[str] = set()
    for md in ("features.md", "features-linux.md"):
        with contextlib.suppress(OSError):
            names |= set(re.findall(r"\*\*`([A-Za-z0-9_]+)`\*\*", (spec_dir / md).read_text()))
    return names


@check(id="features.version-order", spec="features.md#specification-version", level="MUST",
       text="ociVersionMax ... The value MUST NOT be less than the value of the ociVersionMin "
            "property.")
def features_version_order(ctx: Context) -> None:
    doc = ctx.features()
    low, high = doc.get("ociVersionMin"), doc.get("ociVersionMax")
    require(isinstance(low, str) and isinstance(high, str), f"min {low!r}, max {high!r}")
    require(_version_key(high) >= _version_key(low), f"ociVersionMax {high} < min {low}")


def _version_check(key: str) -> None:
    def body(ctx: Context) -> None:
        version = ctx.features().get(key)
        require(isinstance(version, str), f"{key} is {version!r}")
        bundle = ctx.bundle()
        bundle.config["ociVersion"] = version
        out = ctx.output(bundle, "echo cf-accepted")
        require("cf-accepted" in out, f"ociVersion {version}: output {out!r}")

    check(id=f"features.{key}-accepted", spec="features.md#specification-version",
          level="MUST",
          text=f"{key} (string, REQUIRED) ... The runtime MUST accept this value as the "
               "ociVersion property of config.json.")(body)


for _key in ("ociVersionMin", "ociVersionMax"):
    _version_check(_key)


@check(id="features.hooks-supported", spec="features.md#hooks", level="MUST",
       text="hooks: The runtime MUST support the elements in this array as the hooks "
            "property of config.json (every claimed kind runs).")
def features_hooks(ctx: Context) -> None:
    claimed = ctx.features().get("hooks") or []
    if not claimed:
        return
    bundle = ctx.bundle("sleep", "1000")
    marks = ctx.path("marks")
    marks.mkdir(mode=0o777)
    bundle.config["mounts"].append({"destination": "/cf-marks", "type": "bind",
                                    "source": str(marks), "options": ["rbind", "rw"]})
    hooks = bundle.config["hooks"] = {}
    for kind in claimed:
        where = "/cf-marks" if kind == "startContainer" else str(marks)
        hooks[kind] = [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {where}/{kind}"]}]
    cid = ctx.created(bundle)
    ctx.start(cid)
    ctx.kill(cid)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    missing = [k for k in claimed if not (marks / k).exists()]
    require(not missing, f"claimed hooks that never ran: {missing}")


def _mount_entry(option: str, index: int, source: Path) -> dict:
    dest = f"/cf-mnt/o{index}"
    if BIND_ONLY.match(option):
        base = [] if option in ("bind", "rbind") else ["rbind"]
        return {"destination": dest, "type": "bind", "source": str(source),
                "options": [*base, option]}
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [option]}


def _try_options(ctx: Context, options: list[str], source: Path) -> str:
    """Create and run a container with one mount per option; '' or the error.
    ``remount`` changes an existing mount, so it follows a bind at the same place."""
    bundle = ctx.bundle()
    for i, option in enumerate(options):
        entry = _mount_entry(option, i, source)
        if option == "remount":
            bundle.config["mounts"].append(dict(entry, options=["rbind"]))
            entry["options"] = ["remount", "bind", "ro"]
        bundle.config["mounts"].append(entry)
    proc = ctx.run(bundle)
    return "" if proc.ok else proc.describe()


@check(id="features.mountOptions-recognized", spec="features.md#mount-options", level="MUST",
       text="mountOptions: The runtime MUST recognize the elements in this array as the "
            "options of mounts objects in config.json (a mount with each claimed option "
            "works; idmap options are left to the idmapped-mount checks).")
def features_mount_options(ctx: Context) -> None:
    claimed = [o for o in ctx.features().get("mountOptions") or [] if "idmap" not in o]
    source = ctx.path("bind-source")
    source.mkdir()
    if not _try_options(ctx, claimed, source):
        return
    refused = {}
    for option in claimed:
        error = _try_options(ctx, [option], source)
        if error:
            refused[option] = error[-160:]
    require(not refused, f"claimed mount options refused: {refused}")


@check(id="features.annotations", spec="features.md#annotations", level="MUST",
       text="Annotations MUST be a key-value map that follows the same convention as the Key "
            "and Values of the annotations property of config.json (string keys and values).")
def features_annotations(ctx: Context) -> None:
    annotations = ctx.features().get("annotations")
    if annotations is None:
        return
    require(isinstance(annotations, dict), f"annotations is {type(annotations).__name__}")
    bad = {k: v for k, v in annotations.items() if not k or not isinstance(v, str)}
    require(not bad, f"entries that are not string pairs: {bad}")


def _with_namespace(bundle: Bundle, kind: str) -> None:
    spaces = bundle.namespaces()
    if not any(ns["type"] == kind for ns in spaces):
        spaces.append({"type": kind})
    if kind == "user":
        linux = bundle.config["linux"]
        linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]


@check(id="features.linux.namespaces", spec="features-linux.md#namespaces", level="MUST",
       text="namespaces (array of strings, OPTIONAL) The recognized names of the namespaces, "
            "including namespaces that might not be supported by the host operating system. "
            "The runtime MUST recognize the elements in this array as the type of "
            "linux.namespaces objects in config.json (each one the host has is created).")
def features_namespaces(ctx: Context) -> None:
    claimed = (ctx.features().get("linux") or {}).get("namespaces") or []
    problems = []
    for kind in claimed:
        link = NS_LINK.get(kind)
        if link is None:
            problems.append(f"{kind}: not a namespace of the spec")
            continue
        if not Path(f"/proc/self/ns/{link}").exists():
            continue  # the host kernel lacks it: nothing to hold the claim to
        bundle = ctx.bundle("sleep", "1000")
        _with_namespace(bundle, kind)
        proc = ctx.create(bundle, check=False)
        if not proc.ok:
            problems.append(f"{kind}: {proc.describe()[-160:]}")
            continue
        ctx.start(proc.cid)
        ctx.wait_status(proc.cid, "running")
        pid = ctx.host_pid(proc.cid)
        if ns_id(pid, link) == ns_id("self", link):
            problems.append(f"{kind}: the process shares the host's namespace")
        ctx.delete(proc.cid, force=True)
    require(not problems, "; ".join(problems))


@check(id="features.linux.capabilities", spec="features-linux.md#capabilities", level="MUST",
       text="capabilities (array of strings, OPTIONAL) The recognized names of the "
            "capabilities ... The runtime MUST recognize the elements in this array in the "
            "process.capabilities object of config.json (each one the host has is granted).")
def features_capabilities(ctx: Context) -> None:
    claimed = (ctx.features().get("linux") or {}).get("capabilities") or []
    unknown = [c for c in claimed if c not in CAP_NUMBER]
    require(not unknown, f"claimed capabilities Linux does not have: {unknown}")
    host = int(proc_status(os.getpid())["CapBnd"], 16)
    usable = [c for c in claimed if host >> CAP_NUMBER[c] & 1]
    if not usable:
        skip("none of the claimed capabilities is in the host's bounding set")
    bundle = ctx.bundle("sleep", "1000")
    bundle.config["process"]["capabilities"] = {
        k: list(usable) for k in ("bounding", "effective", "permitted")}
    bundle.config["process"]["noNewPrivileges"] = True
    cid = ctx.created(bundle)
    ctx.start(cid)
    ctx.wait_status(cid, "running")
    status = proc_status(ctx.host_pid(cid))
    want = sum(1 << CAP_NUMBER[c] for c in usable)
    for field in ("CapBnd", "CapEff", "CapPrm"):
        got = int(status[field], 16)
        require(got == want, f"{field} {got:#x}, expected {want:#x} (missing "
                f"{[c for c in usable if not got >> CAP_NUMBER[c] & 1]})")


@check(id="features.linux.seccomp-actions", spec="features-linux.md#seccomp", level="MUST",
       text="actions (array of strings, OPTIONAL) The recognized names of the seccomp actions. "
            "The runtime MUST recognize the elements in this array in the syscalls[].action "
            "property of the linux.seccomp object in config.json (SCMP_ACT_NOTIFY, which needs "
            "a listener, is left to the seccomp checks).")
def features_seccomp_actions(ctx: Context) -> None:
    seccomp = (ctx.features().get("linux") or {}).get("seccomp") or {}
    if not seccomp.get("enabled"):
        return
    refused = {}
    for action in seccomp.get("actions") or []:
        if action == "SCMP_ACT_NOTIFY":
            continue
        bundle = ctx.bundle()
        rule: dict = {"names": ["acct"], "action": action}
        bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                             "syscalls": [rule]}
        proc = ctx.run(bundle)
        if not proc.ok:
            refused[action] = proc.describe()[-160:]
    require(not refused, f"claimed seccomp actions refused: {refused}")


def _lsm_check(name: str, path: str) -> None:
    def body(ctx: Context) -> None:
        claimed = ((ctx.features().get("linux") or {}).get(name) or {}).get("enabled")
        if not claimed:
            return
        if not Path(path).exists():
            skip(f"the host has no {name} ({path} is absent)")
        fail(f"{name} is claimed and the host has it, but no check exercises it yet")

    check(id=f"features.linux.{name}", spec=f"features-linux.md#{name}", level="MAY",
          text=f"{name}.enabled (bool, OPTIONAL) represents whether the runtime supports "
               f"{name}; it MAY be true even when the host lacks it.")(body)


_lsm_check("apparmor", "/sys/kernel/security/apparmor")
_lsm_check("selinux", "/sys/fs/selinux/enforce")

"""Each cross-field rule of pyoci.config.semantic fires and names its field."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyoci.config.semantic import LINUX_RLIMITS, check_config, check_container_id
from pyoci.config.validate import validate_config
from pyoci.errors import ConfigError, UsageError

SPEC_DIR = Path(
    os.environ.get("OCI_SPEC_DIR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "runtime-spec-v1.3.0"
)


def base() -> dict[str, Any]:
    """A small valid Linux config every test starts from."""
    return {
        "ociVersion": "1.3.0",
        "root": {"path": "rootfs"},
        "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
        "hostname": "box",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "mount"},
                {"type": "uts"},
                {"type": "network"},
                {"type": "user"},
                {"type": "time"},
            ],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        },
    }


def _ns(doc: dict[str, Any], kind: str) -> None:
    """Remove one namespace type from the config."""
    doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n["type"] != kind]


Edit = Callable[[dict[str, Any]], Any]

# (test id, edit to the base config, field the message must name, words it must contain)
CASES: list[tuple[str, Edit, str, str]] = [
    ("dup-namespace", lambda d: d["linux"]["namespaces"].append({"type": "pid"}),
     "linux.namespaces[6].type", 'duplicate namespace type "pid"'),
    ("relative-ns-path", lambda d: d["linux"]["namespaces"][0].update(path="proc/1/ns/pid"),
     "linux.namespaces[0].path", "absolute"),
    ("hostname-no-uts", lambda d: _ns(d, "uts"), "hostname", "uts namespace"),
    ("domainname-no-uts", lambda d: (_ns(d, "uts"), d.pop("hostname"), d.update(domainname="x")),
     "domainname", "uts namespace"),
    ("uidmap-no-userns", lambda d: (_ns(d, "user"), d["linux"].pop("gidMappings")),
     "linux.uidMappings", "user namespace"),
    ("gidmap-no-userns", lambda d: (_ns(d, "user"), d["linux"].pop("uidMappings")),
     "linux.gidMappings", "user namespace"),
    ("rlimit-unknown", lambda d: d["process"].update(
        rlimits=[{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]),
     "process.rlimits[0].type", '"RLIMIT_FOO" is not a Linux resource limit'),
    ("rlimit-dup", lambda d: d["process"].update(
        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}] * 2),
     "process.rlimits[1].type", 'duplicate rlimit type "RLIMIT_NOFILE"'),
    ("rlimit-soft-above-hard", lambda d: d["process"].update(
        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]),
     "process.rlimits[0].soft", "above the hard limit"),
    ("relative-cwd", lambda d: d["process"].update(cwd="tmp"), "process.cwd", "absolute"),
    ("empty-args", lambda d: d["process"].update(args=[]), "process.args", "at least one"),
    ("missing-args", lambda d: d["process"].pop("args"), "process.args", "at least one"),
    ("empty-root-path", lambda d: d["root"].update(path=""), "root.path", "must not be empty"),
    ("time-offsets-no-timens", lambda d: (_ns(d, "time"), d["linux"].update(
        timeOffsets={"monotonic": {"secs": 1}})), "linux.timeOffsets", "time namespace"),
    ("time-offsets-unknown-clock", lambda d: d["linux"].update(
        timeOffsets={"realtime": {"secs": 1}}), "linux.timeOffsets.realtime", "unknown clock"),
    ("oom-score-adj-range", lambda d: d["process"].update(oomScoreAdj=1001),
     "process.oomScoreAdj", "-1000 and 1000"),
    ("io-priority-range", lambda d: d["process"].update(
        ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 8}),
     "process.ioPriority.priority", "0 and 7"),
    ("relative-hook-path", lambda d: d.update(hooks={"poststop": [{"path": "bin/x"}]}),
     "hooks.poststop[0].path", "absolute"),
    ("mount-uid-without-gid", lambda d: d["mounts"][0].update(
        uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]),
     "mounts[0].uidMappings", "along with gidMappings"),
    ("mount-gid-without-uid", lambda d: d["mounts"][0].update(
        gidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]),
     "mounts[0].gidMappings", "along with uidMappings"),
    ("idmap-without-mapping-or-userns", lambda d: (
        _ns(d, "user"), d["linux"].pop("uidMappings"), d["linux"].pop("gidMappings"),
        d["mounts"][0].update(options=["rbind", "idmap"])), "mounts[0].options", "idmap"),
    ("relative-masked-path", lambda d: d["linux"].update(maskedPaths=["proc/kcore"]),
     "linux.maskedPaths[0]", "absolute"),
    ("relative-readonly-path", lambda d: d["linux"].update(readonlyPaths=["/a", "b"]),
     "linux.readonlyPaths[1]", "absolute"),
    ("device-no-major", lambda d: d["linux"].update(
        devices=[{"type": "c", "path": "/dev/x", "minor": 1}]),
     "linux.devices[0]", '"major"'),
    ("device-relative-path", lambda d: d["linux"].update(
        devices=[{"type": "p", "path": "dev/x"}]), "linux.devices[0].path", "absolute"),
    ("netdevices-no-netns", lambda d: (_ns(d, "network"), d["linux"].update(
        netDevices={"eth0": {}})), "linux.netDevices", "network namespace"),
    ("netdevice-bad-name", lambda d: d["linux"].update(
        netDevices={"eth0": {"name": "a/b"}}), "linux.netDevices.eth0.name", "interface name"),
    ("netdevice-long-name", lambda d: d["linux"].update(netDevices={"x" * 16: {}}),
     "linux.netDevices." + "x" * 16, "interface name"),
    ("cpu-burst-above-quota", lambda d: d["linux"].update(
        resources={"cpu": {"quota": 1000, "burst": 2000}}),
     "linux.resources.cpu.burst", "larger than quota"),
    ("weight-device-empty", lambda d: d["linux"].update(
        resources={"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}}),
     "linux.resources.blockIO.weightDevice[0]", "weight or leafWeight"),
    ("rdma-empty", lambda d: d["linux"].update(resources={"rdma": {"mlx5_1": {}}}),
     "linux.resources.rdma.mlx5_1", "hcaHandles or hcaObjects"),
    ("seccomp-metadata-no-listener", lambda d: d["linux"].update(
        seccomp={"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}),
     "linux.seccomp.listenerMetadata", "listenerPath"),
    ("seccomp-default-errno", lambda d: d["linux"].update(
        seccomp={"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
     "linux.seccomp.defaultErrnoRet", "SCMP_ACT_ALLOW"),
    ("seccomp-rule-errno", lambda d: d["linux"].update(seccomp={
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}),
     "linux.seccomp.syscalls[0].errnoRet", "SCMP_ACT_KILL"),
    ("mempolicy-nodes-forbidden", lambda d: d["linux"].update(
        memoryPolicy={"mode": "MPOL_DEFAULT", "nodes": "0"}),
     "linux.memoryPolicy.nodes", "must be empty"),
    ("mempolicy-nodes-needed", lambda d: d["linux"].update(
        memoryPolicy={"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes", "at least one node"),
    ("personality-flags", lambda d: d["linux"].update(
        personality={"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
     "linux.personality.flags", "not supported"),
    ("oci-version-major", lambda d: d.update(ociVersion="2.0.0"), "ociVersion", "not supported"),
]


def test_base_config_is_valid() -> None:
    doc = base()
    validate_config(doc)
    check_config(doc)


@pytest.mark.parametrize(("edit", "field", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule_fires_and_names_field(edit: Edit, field: str, words: str) -> None:
    doc = base()
    edit(doc)
    validate_config(doc)  # the schema accepts it: only the semantic rule can catch it
    with pytest.raises(ConfigError) as caught:
        check_config(doc)
    message = caught.value.message
    assert message.startswith(f"config.json: {field}"), message
    assert words in message
    assert "\n" not in message


def test_missing_root_is_an_error() -> None:
    doc = base()
    del doc["root"]
    with pytest.raises(ConfigError, match=r'^config\.json: missing required field "root"$'):
        check_config(doc)


@pytest.mark.parametrize("keep", ["path", "new"])
def test_uts_namespace_by_path_or_new_allows_hostname(keep: str) -> None:
    doc = base()
    if keep == "path":
        _ns(doc, "uts")
        doc["linux"]["namespaces"].append({"type": "uts", "path": "/proc/1/ns/uts"})
    doc["domainname"] = "example.test"
    check_config(doc)


def test_empty_hostname_needs_no_uts_namespace() -> None:
    doc = base()
    _ns(doc, "uts")
    doc["hostname"] = ""
    check_config(doc)


def test_process_is_optional() -> None:
    doc = base()
    del doc["process"]
    check_config(doc)


def test_every_linux_rlimit_is_accepted() -> None:
    doc = base()
    doc["process"]["rlimits"] = [{"type": t, "soft": 1, "hard": 2} for t in sorted(LINUX_RLIMITS)]
    check_config(doc)
    assert len(LINUX_RLIMITS) == 16


def test_netdevice_template_name_is_accepted() -> None:
    doc = base()
    doc["linux"]["netDevices"] = {"eth0": {"name": "ctr%d"}, "ens4": {}}
    check_config(doc)


def test_official_spec_example_passes() -> None:
    example = SPEC_DIR / "schema" / "test" / "config" / "good" / "spec-example.json"
    if not example.is_file():
        pytest.skip(f"official spec example not found at {example} (set OCI_SPEC_DIR)")
    doc = json.loads(example.read_text())
    validate_config(doc)
    check_config(copy.deepcopy(doc))


@pytest.mark.parametrize("cid", ["a", "abc-DEF_1.2+3", "x" * 1024, "..a", "a..", "0"])
def test_container_id_accepted(cid: str) -> None:
    check_container_id(cid)


@pytest.mark.parametrize(
    ("cid", "words"),
    [
        ("", "1 to 1024"),
        ("x" * 1025, "1 to 1024"),
        (".", '"." or ".."'),
        ("..", '"." or ".."'),
        ("a/b", "ASCII letters"),
        ("a b", "ASCII letters"),
        ("caf\u00e9", "ASCII letters"),
        ("a\n", "ASCII letters"),
        ("a:b", "ASCII letters"),
    ],
)
def test_container_id_rejected(cid: str, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_container_id(cid)
    assert words in caught.value.message
    assert caught.value.message.startswith("invalid container id")
    assert "\n" not in caught.value.message

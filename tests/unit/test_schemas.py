"""pyoci's schemas against the official runtime-spec v1.3.0 schemas.

Our schemas (``schemas/``) are authored from the spec text; the official ones
are the reference this test compares verdicts with: on the official test
vectors, and on systematic mutations of the good Linux vectors and of a rich
config that sets every Linux field. Where the official schema disagrees with
the spec text, the divergence is listed in ``SPEC_OVER_OFFICIAL`` with the
sentence it rests on; the test fails if a divergence is missing from that list
or if an entry no longer matches anything.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pyoci.config.load import parse_json_document
from pyoci.config.semantic import check_config
from pyoci.config.validate import (
    explain,
    format_path,
    is_valid,
    validate_config,
    validate_features,
    validate_state,
)
from pyoci.errors import ConfigError
from tests.jsontree import copy_json, nodes

SPEC_DIR = Path(
    os.environ.get("OCI_SPEC_DIR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "runtime-spec-v1.3.0"
)
OFFICIAL_DIR = SPEC_DIR / "schema"
ROOT_SCHEMAS = {
    "config": "config-schema.json",
    "state": "state-schema.json",
    "features": "features-schema.json",
}
# pyoci is a Linux runtime: its schema accepts the freebsd/solaris/windows/vm/zos
# sections as any object, so those platforms' vectors say nothing about it.
OTHER_PLATFORMS = ("freebsd-", "solaris-", "windows-", "vm-", "zos-")
UNKNOWN = "pyociUnknownField"

RICH_CONFIG: dict[str, Any] = {
    "ociVersion": "1.3.0",
    "root": {"path": "rootfs", "readonly": True},
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/data",
            "type": "none",
            "source": "/volumes/data",
            "options": ["rbind", "rw", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        },
    ],
    "process": {
        "terminal": True,
        "consoleSize": {"height": 25, "width": 80},
        "cwd": "/",
        "env": ["PATH=/usr/bin:/bin", "TERM=xterm"],
        "args": ["sh", "-c", "true"],
        "commandLine": "sh -c true",
        "user": {"uid": 1, "gid": 1, "umask": 18, "additionalGids": [5, 6], "username": "u"},
        "rlimits": [
            {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        ],
        "apparmorProfile": "acme_secure_profile",
        "capabilities": {
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL"],
            "inheritable": [],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"],
        },
        "noNewPrivileges": True,
        "oomScoreAdj": 100,
        "scheduler": {
            "policy": "SCHED_DEADLINE",
            "nice": 0,
            "priority": 0,
            "flags": ["SCHED_FLAG_RESET_ON_FORK"],
            "runtime": 1000000,
            "deadline": 2000000,
            "period": 3000000,
        },
        "selinuxLabel": "system_u:system_r:svirt_lxc_net_t:s0:c124,c675",
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
        "execCPUAffinity": {"initial": "7", "final": "0-3,7"},
    },
    "hostname": "rich",
    "domainname": "example.test",
    "hooks": {
        kind: [{"path": "/usr/bin/hook", "args": ["hook", kind], "env": ["A=1"], "timeout": 5}]
        for kind in (
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        )
    },
    "annotations": {"com.example.key": "value", "org.example.empty": ""},
    "linux": {
        "namespaces": [
            {"type": "pid"},
            {"type": "network", "path": "/var/run/netns/rich"},
            {"type": "mount"},
            {"type": "ipc"},
            {"type": "uts"},
            {"type": "user"},
            {"type": "cgroup"},
            {"type": "time"},
        ],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 32000}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 32000}],
        "timeOffsets": {
            "monotonic": {"secs": 172800, "nanosecs": 0},
            "boottime": {"secs": -5, "nanosecs": 10},
        },
        "devices": [
            {
                "type": "c",
                "path": "/dev/fuse",
                "major": 10,
                "minor": 229,
                "fileMode": 438,
                "uid": 0,
                "gid": 0,
            },
            {"type": "p", "path": "/dev/fifo"},
        ],
        "netDevices": {"eth0": {"name": "ctr0"}, "ens4": {}},
        "cgroupsPath": "/pyoci/rich",
        "resources": {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
            ],
            "memory": {
                "limit": 536870912,
                "reservation": 268435456,
                "swap": 1073741824,
                "kernel": -1,
                "kernelTCP": -1,
                "swappiness": 60,
                "disableOOMKiller": False,
                "useHierarchy": True,
                "checkBeforeUpdate": True,
            },
            "cpu": {
                "shares": 1024,
                "quota": 100000,
                "burst": 50000,
                "period": 100000,
                "realtimeRuntime": 950000,
                "realtimePeriod": 1000000,
                "cpus": "0-3,7",
                "mems": "0",
                "idle": 0,
            },
            "blockIO": {
                "weight": 500,
                "leafWeight": 300,
                "weightDevice": [
                    {"major": 8, "minor": 0, "weight": 500, "leafWeight": 300},
                    {"major": 8, "minor": 16, "weight": 200},
                ],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 700}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 80}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 1073741824}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
            "pids": {"limit": 1024},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
            "unified": {"memory.high": "1G"},
        },
        "intelRdt": {
            "closID": "guaranteed_group",
            "l3CacheSchema": "L3:0=7f0;1=1f",
            "memBwSchema": "MB:0=20;1=70",
            "schemata": ["L2:0=ff"],
            "enableMonitoring": True,
        },
        "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]},
        "sysctl": {"net.ipv4.ip_forward": "1"},
        "seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "listenerPath": "/run/seccomp-agent.sock",
            "listenerMetadata": "opaque",
            "syscalls": [
                {"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ALLOW"},
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": 38,
                    "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
                },
            ],
        },
        "rootfsPropagation": "slave",
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
        "mountLabel": "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811",
        "personality": {"domain": "LINUX", "flags": []},
    },
}

# Where the official schema is wrong against the spec text, pyoci follows the
# text. Each entry: (document kind, regex on the path with indices as [*],
# mutation labels, pyoci's verdict, the spec sentence).
SPEC_OVER_OFFICIAL: list[tuple[str, str, frozenset[str], bool, str]] = [
    ("config", r"ociVersion", frozenset({"empty-string"}), False,
     'config.md: "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format"'),
    ("state", r"ociVersion", frozenset({"empty-string"}), False,
     'config.md: "ociVersion ... MUST be in SemVer v2.0.0 format" (same property)'),
    ("features", r"ociVersionM(in|ax)", frozenset({"empty-string"}), False,
     'features.md: "The runtime MUST accept this value as the ociVersion property"'),
    ("config", r"process\.ioPriority\.priority", frozenset({"delete"}), False,
     'config.md: "priority (int, REQUIRED) specifies the priority level within the class"'),
    ("config", r"linux\.resources\.pids(\.limit)?", frozenset({"delete", "empty-object"}),
     True, 'config-linux.md: "limit (int64, OPTIONAL)"'),
    ("config", r"linux\.resources\.blockIO\.throttle\w+Device\[\*\]\.rate", frozenset({"delete"}),
     False, 'config-linux.md: "rate (uint64, REQUIRED) - bandwidth rate limit"'),
    ("config", r"linux\.memoryPolicy(\.mode)?", frozenset({"delete", "empty-object"}),
     False, 'config-linux.md: "mode (string, REQUIRED)"'),
    ("config", r"linux\.personality(\.domain)?", frozenset({"delete", "empty-object"}),
     False, 'config-linux.md: "domain (string, REQUIRED) - the execution domain"'),
    ("config", r"linux\.resources\.memory\.swappiness", frozenset({"2**32", "2**63"}), False,
     'config-linux.md: "swappiness ... The values are from 0 to 100"'),
    ("config", r"linux\.resources\.devices\[\*\]\.type", frozenset({"empty-string"}), False,
     'config-linux.md: "type (string, OPTIONAL) - type of device: a (all), c (char), '
     'or b (block)"'),
    ("config", rf"linux\.timeOffsets\.{UNKNOWN}", frozenset({"add-unknown"}), False,
     'config-linux.md: "The name of the clock is the entry key. Entry values are objects"'),
    ("state", r"status", frozenset({"empty-string"}), True,
     'runtime.md: "Additional values MAY be defined by the runtime" (runc reports paused)'),
    ("state", r"pid", frozenset({"delete"}), False,
     'runtime.md: "pid (int, REQUIRED when status is created or running on Linux)"'),
    ("features", r"(?!ociVersionM)[\w.]+", frozenset({"null"}), True,
     'features.md: "All properties in the Features structure except ociVersionMin and '
     'ociVersionMax MAY either be absent or have the null value"'),
]

NUMBERS = {"-1": -1, "2**32": 2**32, "2**63": 2**63, "2**64": 2**64}
EMPTIES = {"empty-string": "", "empty-array": [], "empty-object": {}}
OF_EACH_TYPE = {
    "null": None,
    "boolean": True,
    "integer": 7,
    "number": 1.5,
    "string": "x",
    "array": ["x"],
    "object": {"x": "x"},
}


def _need_spec() -> None:
    if not OFFICIAL_DIR.is_dir():
        pytest.skip(f"official runtime-spec schemas not found at {OFFICIAL_DIR} (set OCI_SPEC_DIR)")


@cache
def _official(kind: str) -> Any:
    """The official draft-04 validator for one kind, with file refs resolved offline."""
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def resource(path: Path) -> Resource:
        return Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT4)

    registry = Registry().with_resources(
        (path.name, resource(path)) for path in OFFICIAL_DIR.glob("*.json")
    )
    root = json.loads((OFFICIAL_DIR / ROOT_SCHEMAS[kind]).read_text())
    return Draft4Validator(root, registry=registry)


def _vectors() -> list[tuple[str, str, str]]:
    """(kind, good|bad, file) for the generic and Linux official test vectors."""
    found = []
    for kind in ROOT_SCHEMAS:
        for verdict in ("good", "bad"):
            folder = OFFICIAL_DIR / "test" / kind / verdict
            for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                if not path.name.startswith(OTHER_PLATFORMS):
                    found.append((kind, verdict, path.name))
    return found


def _ours(kind: str, raw: bytes) -> bool:
    """pyoci's verdict on raw bytes: parse, then schema."""
    try:
        doc = parse_json_document(raw, "doc")
    except ConfigError:
        return False
    return is_valid(kind, doc)


def test_official_vectors_are_found() -> None:
    _need_spec()
    names = {(kind, verdict) for kind, verdict, _ in _vectors()}
    assert ("config", "good") in names and ("config", "bad") in names
    assert ("state", "good") in names and ("features", "bad") in names


@pytest.mark.parametrize(("kind", "verdict", "name"), _vectors() or [("none", "none", "none")])
def test_official_vector_verdict(kind: str, verdict: str, name: str) -> None:
    _need_spec()
    raw = (OFFICIAL_DIR / "test" / kind / verdict / name).read_bytes()
    assert _ours(kind, raw) == (verdict == "good"), f"{kind}/{verdict}/{name}"


def _good_documents() -> list[tuple[str, str, Any]]:
    """(kind, label, document): the good Linux vectors plus RICH_CONFIG."""
    docs: list[tuple[str, str, Any]] = [("config", "rich", RICH_CONFIG)]
    for kind, verdict, name in _vectors():
        if verdict == "good":
            raw = (OFFICIAL_DIR / "test" / kind / verdict / name).read_text()
            docs.append((kind, name, json.loads(raw)))
    return docs


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _shape(value: Any) -> Any:
    """What decides a node's verdict besides its path: its type, or its keys."""
    if isinstance(value, dict):
        return tuple(sorted(value))
    return type(value).__name__


def _mutations(doc: Any) -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    """(label, path, new value or None for delete) for every node of ``doc``.

    Every node gets a value of each other JSON type; integers also get a
    negative and huge numbers, strings/arrays/objects also get an empty one (a
    number or an empty value of another type would only repeat the type error).
    Array items of the same shape at the same generic path (e.g. the 60 mount
    options of runc's features) give the same verdicts: only the first is kept.
    """
    seen: set[tuple[str, Any]] = set()
    for path, value in nodes(doc):
        signature = (_generic(path), _shape(value))
        if signature in seen:
            continue
        seen.add(signature)
        json_type = next((t for t, v in OF_EACH_TYPE.items() if type(v) is type(value)), None)
        for label, new in OF_EACH_TYPE.items():
            if label != json_type:
                yield label, path, new
        for label, new in (*NUMBERS.items(), *EMPTIES.items()):
            if type(new) is type(value) and not _same(new, value):
                yield label, path, new
        if isinstance(value, dict):
            for key in value:
                yield "delete", (*path, key), None
            if UNKNOWN not in value:
                yield "add-unknown", (*path, UNKNOWN), "x"


def _prune(doc: Any, path: tuple[Any, ...], depth: int = 0) -> Any:
    """Drop the container siblings of the mutated path in objects at depths 0 to 2.

    Neither schema has a container-valued required property or a cross-field
    keyword in objects that shallow, so the verdict is unchanged (checked on a
    sample in test_mutants_match_official) while validation gets much cheaper.
    """
    if not path or depth > 2:
        return doc
    head, rest = path[0], path[1:]
    if isinstance(doc, list):
        if not isinstance(head, int) or head >= len(doc):
            return doc
        return [_prune(v, rest, depth + 1) if i == head else v for i, v in enumerate(doc)]
    if not isinstance(doc, dict):
        return doc
    kept = {k: v for k, v in doc.items() if k == head or not isinstance(v, (dict, list))}
    if head in kept:
        kept[head] = _prune(kept[head], rest, depth + 1)
    return kept


def _mutate(doc: Any, label: str, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return copy_json(new)
    mutant = copy_json(doc)
    parent = mutant
    for part in path[:-1]:
        parent = parent[part]
    if label == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy_json(new)
    return mutant


def _generic(path: tuple[Any, ...]) -> str:
    return format_path(["[*]" if isinstance(p, int) else p for p in path]).replace(
        '["[*]"]', "[*]"
    )


def _allowed(kind: str, path: str, label: str, ours: bool) -> int | None:
    """Index of the SPEC_OVER_OFFICIAL entry covering this divergence."""
    for i, (k, pattern, labels, verdict, _why) in enumerate(SPEC_OVER_OFFICIAL):
        if k == kind and label in labels and ours == verdict and re.fullmatch(pattern, path):
            return i
    return None


def _message_names(kind: str, mutant: Any, label: str, path: tuple[Any, ...]) -> str | None:
    """None if our error message names the mutated field, else the message."""
    message = explain(kind, mutant, "doc")
    if label == "delete":
        where, needle = format_path(path[:-1]), f'"{path[-1]}"'
    else:
        where, needle = format_path(path), ""
    prefix = f"doc: {where}" if where else "doc: "
    return None if message.startswith(prefix) and needle in message else message


def test_good_documents_are_valid() -> None:
    _need_spec()
    for kind, label, doc in _good_documents():
        assert _official(kind).is_valid(doc), f"official rejects {label}"
        assert is_valid(kind, doc), f"pyoci rejects {label}"
    validate_config(RICH_CONFIG)
    check_config(copy_json(RICH_CONFIG))


def test_mutants_match_official() -> None:
    _need_spec()
    divergences: dict[tuple[str, str, str, bool], int | None] = {}
    bad_messages: list[str] = []
    checked = pruned_checks = 0
    for kind, _name, doc in _good_documents():
        official = _official(kind)
        for n, (label, path, new) in enumerate(_mutations(doc)):
            mutant = _mutate(_prune(doc, path), label, path, new)
            ours, theirs = is_valid(kind, mutant), official.is_valid(mutant)
            checked += 1
            if n % 53 == 0:
                full = _mutate(doc, label, path, new)
                assert (is_valid(kind, full), official.is_valid(full)) == (ours, theirs), path
                pruned_checks += 1
            if ours != theirs:
                key = (kind, _generic(path), label, ours)
                divergences[key] = _allowed(*key)
            if not ours and n % 5 == 0:
                wrong = _message_names(kind, mutant, label, path)
                if wrong is not None:
                    bad_messages.append(f"{label} at {format_path(path)}: {wrong}")
    assert checked > 4000 and pruned_checks > 50
    unexplained = sorted(k for k, entry in divergences.items() if entry is None)
    assert unexplained == [], "verdicts differ from the official schema"
    used = {(entry, key[2]) for key, entry in divergences.items()}
    unused = [
        (entry[1], label)
        for i, entry in enumerate(SPEC_OVER_OFFICIAL)
        for label in sorted(entry[2])
        if (i, label) not in used
    ]
    assert unused == [], "SPEC_OVER_OFFICIAL entries that match no divergence"
    assert bad_messages == []


def test_allow_list_is_not_a_blanket() -> None:
    """Entries must stay narrow: none may excuse, e.g., a wrong type at process.cwd."""
    assert _allowed("config", "process.cwd", "integer", False) is None
    assert _allowed("config", "linux.resources.pids.limit", "string", False) is None
    assert _allowed("features", "ociVersionMin", "null", True) is None
    assert len(SPEC_OVER_OFFICIAL) <= 20


# Stricter than the official schema on values the mutations above never produce.
STRICTER: list[tuple[str, tuple[Any, ...], Any, str]] = [
    ("config", ("linux", "resources", "devices", 1, "access"), "rx",
     'config-linux.md: "A composition of r (read), w (write), and m (mknod)"'),
    ("config", ("linux", "resources", "cpu", "cpus"), "0-3;7",
     'config-linux.md: "a comma-separated list, with dashes to represent ranges"'),
    ("config", ("linux", "memoryPolicy", "nodes"), "all",
     'config-linux.md: "a comma-separated list, with dashes to represent ranges"'),
    ("config", ("linux", "intelRdt", "memBwSchema"), "MB:0=20\n",
     'config-linux.md: memBwSchema "MUST NOT contain newlines"'),
    ("config", ("linux", "intelRdt", "schemata", 0), "L2:0=ff\nL3:0=1",
     'config-linux.md: schemata "The value MUST NOT contain newlines"'),
    ("config", ("annotations", ""), "v",
     'config.md: annotation "Keys MUST NOT be an empty string"'),
    ("config", ("ociVersion",), "1.0", 'config.md: "MUST be in SemVer v2.0.0 format"'),
]


@pytest.mark.parametrize(
    ("kind", "path", "value", "why"), STRICTER, ids=[format_path(c[1]) for c in STRICTER]
)
def test_stricter_than_official(kind: str, path: tuple[Any, ...], value: Any, why: str) -> None:
    _need_spec()
    mutant = _mutate(RICH_CONFIG, "set", path, value)
    assert _official(kind).is_valid(mutant), f"official already rejects: {why}"
    assert not is_valid(kind, mutant), why
    assert explain(kind, mutant, "config.json").startswith(f"config.json: {format_path(path)}")


def test_integral_float_is_not_an_integer() -> None:
    """Draft-07 calls 1.0 an integer; the official draft-04 schema, Go and os.setuid do not."""
    _need_spec()
    mutant = _mutate(RICH_CONFIG, "set", ("process", "user", "uid"), 1.0)
    assert not _official("config").is_valid(mutant)
    with pytest.raises(ConfigError, match=r"^config\.json: process\.user\.uid: expected integer"):
        validate_config(mutant)


def test_state_and_features_messages() -> None:
    """validate_state/validate_features: one line naming the field (no spec needed)."""
    state = {"ociVersion": "1.3.0", "id": "c1", "status": "running", "bundle": "/b"}
    with pytest.raises(ConfigError, match=r'^state\.json: missing required field "pid"$'):
        validate_state(state)
    validate_state({**state, "pid": 42})
    validate_state({**state, "status": "paused", "annotations": {"k": "v"}})
    with pytest.raises(ConfigError, match=r"^state\.json: pid: must be at least 0, got -1$"):
        validate_state({**state, "pid": -1})
    features = {"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0", "hooks": None}
    validate_features(features)
    with pytest.raises(ConfigError, match=r"^features: linux\.namespaces\[0\]: \"foo\" is not"):
        validate_features({**features, "linux": {"namespaces": ["foo"]}})
    with pytest.raises(ConfigError, match=r'^features: missing required field "ociVersionMax"$'):
        validate_features({"ociVersionMin": "1.0.0"})


def test_top_level_type_error() -> None:
    with pytest.raises(ConfigError, match=r"^config\.json: expected object, got array$"):
        validate_config([])

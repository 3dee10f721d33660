"""pyoci fixes found by the config.md / config-linux.md conformance checks.

Each test drives the real binary and observes the effect in /proc, as the
conformance check does: capabilities that cannot be granted or are unknown are
warned about and dropped (config.md: MUST warn, SHOULD NOT fail), and an exec'd
process gets process.execCPUAffinity.final (and the other placement fields).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import Bundle, Pyoci, needs_root
from test_lifecycle import create_started

pytestmark = [pytest.mark.root, needs_root]

CAP_KILL, CAP_SYS_RESOURCE = 5, 24


def _own_bounding() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return 0


def _run(pyoci: Pyoci, bundle: Bundle, *args: str) -> subprocess.CompletedProcess:
    bundle.with_args(*args)
    return pyoci("run", "--bundle", str(bundle.path), f"cf-{uuid4().hex[:8]}", check=False,
                 stdin=subprocess.DEVNULL)


def _caps(config: dict, names: list[str]) -> None:
    config["process"]["user"] = {"uid": 0, "gid": 0}
    config["process"]["capabilities"] = {k: names for k in ("bounding", "effective",
                                                            "permitted")}


def test_unknown_capability_is_a_warning(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.edit(lambda c: _caps(c, ["CAP_KILL", "CAP_CF_NO_SUCH"]))
    proc = _run(pyoci, bundle, "grep", "CapBnd", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr.decode()
    assert int(proc.stdout.split()[1], 16) == 1 << CAP_KILL
    assert b'unknown capability "CAP_CF_NO_SUCH"' in proc.stderr


def test_ungrantable_capability_is_dropped_with_a_warning(pyoci: Pyoci, bundle: Bundle) -> None:
    if _own_bounding() & (1 << CAP_SYS_RESOURCE):
        pytest.skip("this host can grant CAP_SYS_RESOURCE")
    bundle.edit(lambda c: _caps(c, ["CAP_KILL", "CAP_SYS_RESOURCE"]))
    proc = _run(pyoci, bundle, "grep", "CapEff", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr.decode()
    assert int(proc.stdout.split()[1], 16) == 1 << CAP_KILL
    assert b"cannot grant CAP_SYS_RESOURCE" in proc.stderr


def test_exec_gets_exec_cpu_affinity_final(pyoci: Pyoci, bundle: Bundle,
                                           tmp_path: Path) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs two CPUs")
    cid, _ = create_started(pyoci, bundle, ("sleep", "1000"))
    process = dict(bundle.config["process"], args=["grep", "Cpus_allowed_list",
                                                   "/proc/self/status"],
                   execCPUAffinity={"final": str(cpus[-1])})
    spec = tmp_path / "process.json"
    spec.write_text(json.dumps(process))
    out = pyoci("exec", "--process", str(spec), cid).stdout.decode()
    assert out.split(":")[1].strip() == str(cpus[-1])

"""--systemd-cgroup against a STAND-IN systemd on a private D-Bus.

No systemd runs on the machines these tests run on, so each test starts its
own dbus-daemon (own config, socket in a tmp dir) and, in a separate process,
``systemd_standin.py``: a stand-in for org.freedesktop.systemd1.Manager that
makes and removes real cgroup directories for the scope and logs every call.
pyoci is pointed at that bus with DBUS_SYSTEM_BUS_ADDRESS (the launcher's
``python -I`` ignores PYTHON* variables only). What is checked is pyoci's side:
the unit it asks for, the properties, that the container lands in the scope's
cgroup, that later commands use the recorded driver, and that delete stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import CGROUP_ROOT, PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root

pytestmark = [pytest.mark.root, needs_root]

HERE = Path(__file__).resolve().parent
SLICE = "pyocitest.slice"
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


class StandInBus:
    """A private bus with the stand-in systemd on it, and the log of its calls."""

    def __init__(self, tmp: Path) -> None:
        self.socket = tmp / "bus"
        self.log = tmp / "calls.jsonl"
        (tmp / "bus.conf").write_text(BUS_CONFIG.format(socket=self.socket))
        self.address = f"unix:path={self.socket}"
        self.daemon = subprocess.Popen(["dbus-daemon", "--nofork", "--nopidfile",
                                        f"--config-file={tmp / 'bus.conf'}",
                                        "--print-address"], stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL)
        assert self.daemon.stdout is not None
        self.daemon.stdout.readline()  # the address: the socket is listening
        self.server = subprocess.Popen([sys.executable, str(HERE / "systemd_standin.py"),
                                        self.address, str(self.log)],
                                       stdout=subprocess.PIPE)
        assert self.server.stdout is not None
        assert self.server.stdout.readline().strip() == b"ready"

    def calls(self, method: str) -> list[list]:
        if not self.log.exists():
            return []
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c["body"] for c in lines if c["method"] == method]

    def close(self) -> None:
        for proc in (self.server, self.daemon):
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def needs_dbus() -> None:
    if not shutil.which("dbus-daemon"):
        pytest.skip("dbus-daemon is not installed (Debian package dbus-daemon)")


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[StandInBus]:
    needs_dbus()
    (tmp_path / "dbus").mkdir()
    standin = StandInBus(tmp_path / "dbus")
    yield standin
    standin.close()


def env_for(bus: StandInBus) -> dict[str, str]:
    return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus.address}


def create(pyoci: Pyoci, bundle: Bundle, cid: str, *, env: dict[str, str]
           ) -> subprocess.CompletedProcess:
    """``pyoci --systemd-cgroup create``: the container keeps create's stdio, so
    files, not pipes (a pipe would stay open until the container exits)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), "--systemd-cgroup",
                               "create", "--bundle", str(bundle.path), cid],
                              stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                              timeout=60)
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    return proc


def test_create_state_kill_delete_through_systemd(pyoci: Pyoci, bundle: Bundle,
                                                   bus: StandInBus) -> None:
    cid = f"pyoci-{uuid4().hex[:8]}"
    bundle.with_args("sleep", "1000")
    bundle.edit(lambda c: c["linux"].update(
        cgroupsPath=f"{SLICE}:pyocitest:{cid}",
        resources={"memory": {"limit": 64 << 20}, "cpu": {"shares": 512},
                   "pids": {"limit": 32}}))
    env = env_for(bus)
    proc = create(pyoci, bundle, cid, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    unit = f"pyocitest-{cid}.scope"
    (started,) = bus.calls("StartTransientUnit")
    name, mode, props, aux = started
    assert (name, mode, aux) == (unit, "replace", [])
    values = {key: value for key, (_, value) in props}
    assert values["Slice"] == SLICE and values["Delegate"] is True
    assert values["DefaultDependencies"] is False
    assert values["MemoryLimit"] == 64 << 20
    assert values["CPUShares"] == 512
    assert values["TasksMax"] == 32
    assert len(values["PIDs"]) == 1

    state = pyoci.state(cid)  # no bus needed: the paths are in the state
    assert state["status"] == "created"
    scope = CGROUP_ROOT / "memory" / SLICE / unit
    assert str(state["pid"]) in (scope / "cgroup.procs").read_text().split()
    # cpuset is no systemd controller on v1: pyoci joined it itself, as runc does
    cpuset = CGROUP_ROOT / "cpuset" / SLICE / unit
    if cpuset.parent.parent.is_dir():
        assert str(state["pid"]) in (cpuset / "cgroup.procs").read_text().split()
    assert int((scope / "memory.limit_in_bytes").read_text()) == 64 << 20
    assert int((CGROUP_ROOT / "pids" / SLICE / unit / "pids.max").read_text()) == 32
    recorded = json.loads((pyoci.root / cid / "state.json").read_text())
    assert recorded["systemd_cgroup"] is True
    assert recorded["cgroup"]["driver"] == "systemd"
    assert recorded["cgroup"]["unit"] == unit

    pyoci("start", cid, env=env)
    pyoci("kill", cid, "KILL", env=env)
    for _ in range(200):
        if pyoci.state(cid)["status"] == "stopped":
            break
        time.sleep(0.01)
    assert pyoci.state(cid)["status"] == "stopped"
    pyoci("delete", cid, env=env)
    assert bus.calls("StopUnit") == [[unit, "replace"]]
    assert not scope.exists()
    assert not [p for p in CGROUP_ROOT.glob(f"*/{SLICE}/{unit}")]
    assert not [p for p in CGROUP_ROOT.glob(f"*/{SLICE}")], "slice left behind"
    assert_nothing_left(pyoci, cid)


def test_delete_force_without_bus_still_cleans(pyoci: Pyoci, bundle: Bundle,
                                               bus: StandInBus) -> None:
    """systemd gone by delete time: --force removes the scope's directories itself."""
    cid = f"pyoci-{uuid4().hex[:8]}"
    bundle.with_args("sleep", "1000")
    bundle.edit(lambda c: c["linux"].update(cgroupsPath=f"{SLICE}:pyocitest:{cid}"))
    proc = create(pyoci, bundle, cid, env=env_for(bus))
    assert proc.returncode == 0, proc.stderr.decode()
    bus.close()
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus.address}
    pyoci("delete", "--force", cid, env=env)
    assert not [p for p in CGROUP_ROOT.glob(f"*/{SLICE}/pyocitest-{cid}.scope")]
    for leftover in CGROUP_ROOT.glob(f"*/{SLICE}"):
        leftover.rmdir()  # the stand-in's slice: a real systemd keeps slices too
    assert_nothing_left(pyoci, cid)


def test_invalid_cgroups_path_form(pyoci: Pyoci, bundle: Bundle, bus: StandInBus) -> None:
    bundle.edit(lambda c: c["linux"].update(cgroupsPath="system.slice:only-two"))
    proc = create(pyoci, bundle, "bad", env=env_for(bus))
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "linux.cgroupsPath" in err and "slice:prefix:name" in err, err
    assert bus.calls("StartTransientUnit") == []
    assert pyoci.ids() == []


def test_no_bus_is_one_clear_line(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-bus"}
    proc = create(pyoci, bundle, "nobus", env=env)
    assert proc.returncode != 0
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "needs a running systemd" in lines[0], lines
    assert pyoci.ids() == []


def test_bus_without_systemd_is_one_clear_line(pyoci: Pyoci, bundle: Bundle,
                                                tmp_path: Path) -> None:
    """A bus on which nobody owns org.freedesktop.systemd1."""
    needs_dbus()
    (tmp_path / "b").mkdir()
    conf = tmp_path / "b" / "bus.conf"
    conf.write_text(BUS_CONFIG.format(socket=tmp_path / "b" / "bus"))
    daemon = subprocess.Popen(["dbus-daemon", "--nofork", "--nopidfile",
                               f"--config-file={conf}", "--print-address"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert daemon.stdout is not None
        daemon.stdout.readline()
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/b/bus"}
        proc = create(pyoci, bundle, "nosystemd", env=env)
        assert proc.returncode != 0
        lines = proc.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and "org.freedesktop.systemd1" in lines[0], lines
        assert pyoci.ids() == []
    finally:
        daemon.kill()
        daemon.wait()

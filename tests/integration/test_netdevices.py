"""``linux.netDevices``: host interfaces moved into the container's network namespace.

The host's real interfaces are never touched: each test makes a throw-away
network namespace ("the host" here) holding a veth pair with unique names and
addresses, and runs pyoci itself inside it with ``ip netns exec``, so the
runtime's own network namespace is the throw-away one. (This kernel has no
dummy driver; a veth end is a virtual device like a dummy.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, launcher_path_lines, needs_root

from pyoci.container.features import features_document

pytestmark = [pytest.mark.root, needs_root]

ADDR4 = "10.213.7.1/24"
ADDR6 = "fd00:213:7::1/64"


def new_id() -> str:
    return f"pyoci-{uuid4().hex[:8]}"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


class HostNs:
    """A throw-away network namespace with a veth pair ``<name>a``/``<name>b``, both
    up, ``<name>a`` holding ADDR4 and ADDR6; pyoci runs inside it."""

    def __init__(self) -> None:
        self.name = f"pyd-{uuid4().hex[:6]}"
        self.dev, self.peer = f"{self.name}a", f"{self.name}b"
        self.path = Path("/run/netns") / self.name

    def setup(self) -> None:
        ip("netns", "add", self.name)
        inside = ("-n", self.name)
        ip(*inside, "link", "add", self.dev, "type", "veth", "peer", "name", self.peer)
        ip(*inside, "addr", "add", ADDR4, "dev", self.dev)
        ip(*inside, "-6", "addr", "add", ADDR6, "dev", self.dev, "nodad")
        for dev in (self.dev, self.peer):
            ip(*inside, "link", "set", dev, "up")

    def remove(self) -> None:
        ip("netns", "del", self.name, check=False)

    def snapshot(self) -> dict[str, tuple]:
        """Per interface: up flag, mtu, MAC and the (address, prefix, scope) set."""
        links = json.loads(ip("-n", self.name, "-j", "addr").stdout)
        return {
            link["ifname"]: ("UP" in link["flags"], link["mtu"], link.get("address"),
                             frozenset((a["local"], a["prefixlen"], a["scope"])
                                       for a in link.get("addr_info", [])))
            for link in links
        }

    def pyoci(self, runner: Pyoci, *args: str) -> subprocess.CompletedProcess:
        """pyoci inside this namespace; stdio in files (a created container keeps it)."""
        cmd = ["ip", "netns", "exec", self.name, *PYOCI, "--root", str(runner.root), *args]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                  timeout=60)
            out.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = out.read(), err.read()
        return proc


@pytest.fixture
def host_ns() -> Iterator[HostNs]:
    if shutil.which("ip") is None:
        pytest.skip("iproute2's ip is not installed")
    ns = HostNs()
    try:
        ns.setup()
    except subprocess.CalledProcessError as e:
        ns.remove()
        pytest.skip(f"cannot make a veth pair in a throw-away netns: {e.stderr.strip()}")
    try:
        yield ns
    finally:
        ns.remove()
    assert not ns.path.exists(), f"network namespace {ns.name} left behind"


def with_devices(bundle: Bundle, devices: dict, *args: str, **linux: object) -> Bundle:
    def edit(cfg: dict) -> None:
        cfg["linux"]["netDevices"] = devices
        cfg["linux"].update(linux)
        if args:
            cfg["process"]["args"] = list(args)
    return bundle.edit(edit)


def one_line_failure(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert proc.returncode != 0, f"create succeeded: {err}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    return lines[0]


def test_features_advertise_net_devices() -> None:
    assert features_document()["linux"]["netDevices"] == {"enabled": True}


def test_device_is_moved_renamed_up_and_keeps_its_addresses(
        pyoci: Pyoci, bundle: Bundle, host_ns: HostNs) -> None:
    cid = new_id()
    script = ("cat /sys/class/net/eth7/operstate /sys/class/net/eth7/flags; "
              "ip -o addr show dev eth7; ls /sys/class/net")
    with_devices(bundle, {host_ns.dev: {"name": "eth7"}}, "sh", "-c", script)
    proc = host_ns.pyoci(pyoci, "run", "--bundle", str(bundle.path), cid)
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    operstate, flags, *_ = out.splitlines()
    assert operstate == "up"
    assert int(flags, 16) & 0x1, f"IFF_UP not set: {flags}"
    assert f"inet {ADDR4} " in out, out
    assert f"inet6 {ADDR6} " in out, out
    assert host_ns.dev not in out, "the host name is still visible inside"
    assert_nothing_left(pyoci, cid)


def test_created_container_holds_the_device_under_its_host_name(
        pyoci: Pyoci, bundle: Bundle, host_ns: HostNs) -> None:
    """No "name": the host name is kept. The device leaves the host; delete does not
    move it back (spec: MUST NOT), and the kernel destroys a virtual device with
    the namespace (a veth takes its peer along)."""
    cid = new_id()
    with_devices(bundle, {host_ns.dev: {}}, "sleep", "100")
    proc = host_ns.pyoci(pyoci, "create", "--bundle", str(bundle.path), cid)
    assert proc.returncode == 0, proc.stderr.decode()
    assert host_ns.dev not in host_ns.snapshot()
    pid = pyoci.state(cid)["pid"]
    inside = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "addr",
                             "show", "dev", host_ns.dev],
                            capture_output=True, text=True, check=True)
    link = json.loads(inside.stdout)[0]
    assert "UP" in link["flags"]
    assert {a["local"] for a in link["addr_info"]} >= {ADDR4.split("/")[0], ADDR6.split("/")[0]}
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)
    deadline = time.monotonic() + 10
    while host_ns.peer in host_ns.snapshot() and time.monotonic() < deadline:
        time.sleep(0.05)  # namespaces are freed asynchronously
    assert set(host_ns.snapshot()) == {"lo"}


@pytest.mark.parametrize("devices,args,linux,expected", [
    pytest.param({"pyd-nothere": {}}, (), {},
                 'linux.netDevices["pyd-nothere"]: no such network interface on the host',
                 id="missing-device"),
    pytest.param({"{dev}": {"name": "lo"}}, (), {},
                 'linux.netDevices["{dev}"].name: "lo" already exists in the container',
                 id="name-clash-with-lo"),
    pytest.param({"{dev}": {"name": "eth7"}, "{peer}": {"name": "lo"}}, (), {},
                 'linux.netDevices["{peer}"].name: "lo" already exists in the container',
                 id="second-clashes-first-goes-back"),
    pytest.param({"{dev}": {"name": "eth7"}, "{peer}": {"name": "eth7"}}, (), {},
                 'linux.netDevices["{peer}"].name: "eth7" is also the name given to '
                 'linux.netDevices["{dev}"]',
                 id="two-entries-one-name"),
    pytest.param({"{dev}": {"name": "eth7"}}, (), {"sysctl": {"net.core.pyoci_nope": "1"}},
                 'linux.sysctl: "net.core.pyoci_nope": No such file or directory',
                 id="init-fails-after-the-move"),
])
def test_failed_create_leaves_the_host_namespace_as_it_was(
        pyoci: Pyoci, bundle: Bundle, host_ns: HostNs, devices: dict, args: tuple,
        linux: dict, expected: str) -> None:
    """Devices already moved go home with their addresses and up state, even when
    the init died after the move (without that, the kernel would destroy the
    veth pair with the container's namespace)."""
    names = {"dev": host_ns.dev, "peer": host_ns.peer}
    devices = {k.format(**names): v for k, v in devices.items()}
    before = host_ns.snapshot()
    cid = new_id()
    with_devices(bundle, devices, *args, **linux)
    proc = host_ns.pyoci(pyoci, "create", "--bundle", str(bundle.path), cid)
    assert one_line_failure(proc) == "pyoci: " + expected.format(**names)
    assert_nothing_left(pyoci, cid)
    assert host_ns.snapshot() == before


@pytest.mark.parametrize("case", ["no-network-namespace", "runtime-own-namespace"])
def test_net_devices_need_the_container_own_network_namespace(
        pyoci: Pyoci, bundle: Bundle, host_ns: HostNs, case: str) -> None:
    def edit(cfg: dict) -> None:
        spaces = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "network"]
        if case == "runtime-own-namespace":
            spaces.append({"type": "network", "path": str(host_ns.path)})
        cfg["linux"]["namespaces"] = spaces
        cfg["linux"]["netDevices"] = {host_ns.dev: {}}
    bundle.edit(edit)
    before = host_ns.snapshot()
    cid = new_id()
    line = one_line_failure(host_ns.pyoci(pyoci, "create", "--bundle", str(bundle.path), cid))
    assert "linux.netDevices" in line
    assert ("requires a network namespace" if case == "no-network-namespace"
            else "is the runtime's own network namespace") in line
    assert_nothing_left(pyoci, cid)
    assert host_ns.snapshot() == before


IMPORT_PROBE = """
import sys
{path_lines}
from pyoci.cli import main
rc = main({argv!r})
with open({report!r}, "w") as f:
    f.write(f"{{rc}} {{'pyroute2' in sys.modules}}")
"""


@pytest.mark.parametrize("with_net_devices", [False, True])
def test_pyroute2_is_imported_only_for_net_devices(
        pyoci: Pyoci, bundle: Bundle, host_ns: HostNs, tmp_path: Path,
        with_net_devices: bool) -> None:
    """pyroute2 costs ~200-300 ms to import: a plain create must not load it (the
    run with netDevices proves the probe sees it when it is loaded)."""
    venv_python = Path(PYOCI[0]).with_name("python")
    if len(PYOCI) != 1 or not venv_python.exists():
        pytest.skip("the probe needs .venv/bin/pyoci and its interpreter")
    if with_net_devices:
        with_devices(bundle, {host_ns.dev: {"name": "eth7"}}, "true")
    cid = new_id()
    report = tmp_path / "report"
    argv = ["--root", str(pyoci.root), "create", "--bundle", str(bundle.path), cid]
    probe = IMPORT_PROBE.format(path_lines=launcher_path_lines(), argv=argv, report=str(report))
    with tempfile.TemporaryFile() as out:
        subprocess.run(["ip", "netns", "exec", host_ns.name, str(venv_python), "-I", "-S",
                        "-c", probe], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                       timeout=60, check=True)
    assert report.read_text() == f"0 {with_net_devices}"
    pyoci("delete", "--force", cid)
    assert_nothing_left(pyoci, cid)

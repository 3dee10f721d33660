"""cgroup v2 as a real container sees it: a v2-only host, simulated.

This machine is hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified with
hugetlb as its only controller). Each pyoci command here runs in a private
mount namespace with cgroup2 mounted on /sys/fs/cgroup, a v2-only view of the
same cgroup2 tree: a directory made there is /sys/fs/cgroup/unified/<id> on the
host, which is where these tests look (and where assert_nothing_left checks).

Not testable here in v2: memory, cpu, cpuset, io, pids, rdma. The machine's
cgroup2 tree offers no such controllers (they are bound to v1), so their
writers are covered by tests/unit/test_cgroup_v2_convert.py, and the
parametrized test below skips naming the missing controller.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PYOCI, Bundle, Pyoci, assert_nothing_left, needs_root, reap_children

pytestmark = needs_root
UNIFIED = Path("/sys/fs/cgroup/unified")
V2_VIEW = "mount --make-rprivate / && mount -t cgroup2 none /sys/fs/cgroup && exec \"$@\""


class V2Pyoci(Pyoci):
    """pyoci in a private mount namespace where /sys/fs/cgroup is cgroup2 only."""

    prefix = ("unshare", "-m", "sh", "-c", V2_VIEW, "sh")

    def __call__(self, *args: str, check: bool = True, input: bytes | None = None,
                 timeout: float = 60, global_args: tuple[str, ...] = (),
                 **kwargs: object) -> subprocess.CompletedProcess:
        cmd = [*self.prefix, *PYOCI, "--root", str(self.root), *global_args, *args]
        # files, not pipes: a created container keeps create's stdio open
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                  timeout=timeout, **kwargs)  # type: ignore[call-overload]
            out.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = out.read(), err.read()
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                                 f"stdout: {proc.stdout.decode()}\nstderr: {proc.stderr.decode()}")
        return proc


@pytest.fixture
def v2pyoci(tmp_path: Path) -> Iterator[V2Pyoci]:
    if not (UNIFIED / "cgroup.procs").exists():
        pytest.skip(f"no cgroup2 hierarchy at {UNIFIED} to view as a v2-only host")
    if not shutil.which("unshare"):
        pytest.skip("unshare(1) is not installed")
    runner = V2Pyoci(tmp_path / "state")
    yield runner
    for cid in runner.ids():  # delete in the same view, or the v2 directory would stay
        runner("delete", "--force", "--", cid, check=False)
    reap_children()
    assert runner.ids() == [], f"state dirs left behind: {runner.ids()}"


class HostPyoci(V2Pyoci):
    """pyoci in the host's own (hybrid) view, output through files as create needs."""

    prefix = ()


@pytest.fixture
def hostpyoci(tmp_path: Path) -> Iterator[HostPyoci]:
    runner = HostPyoci(tmp_path / "state")
    yield runner
    for cid in runner.ids():
        runner("delete", "--force", "--", cid, check=False)
    reap_children()
    assert runner.ids() == [], f"state dirs left behind: {runner.ids()}"


def _resources(**groups: object):  # noqa: ANN202
    def edit(config: dict) -> None:
        config["linux"]["resources"] = dict(groups)
    return edit


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    err = proc.stderr.decode().strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_v2_only_membership(v2pyoci: V2Pyoci, bundle: Bundle) -> None:
    """The container's cgroup is a direct cgroup2 directory and its init is in it."""
    cid = "pyoci-v2-member"
    bundle.with_args("sleep", "100")
    v2pyoci("create", "--bundle", str(bundle.path), cid)
    state = v2pyoci.state(cid)
    pid = state["pid"]
    procs = (UNIFIED / cid / "cgroup.procs").read_text().split()
    assert str(pid) in procs
    assert f"0::/{cid}\n" in Path(f"/proc/{pid}/cgroup").read_text()
    v2pyoci("delete", "--force", cid)
    assert_nothing_left(v2pyoci, cid)


def test_v2_only_run_sees_cgroup2(v2pyoci: V2Pyoci, bundle: Bundle) -> None:
    """run works end to end; in its cgroup namespace the v2 cgroup is the root."""
    cid = "pyoci-v2-run"
    bundle.with_args("cat", "/proc/self/cgroup")
    out = v2pyoci("run", "--bundle", str(bundle.path), cid).stdout.decode()
    assert "0::/" in out.split(), out
    assert_nothing_left(v2pyoci, cid)


def test_unified_core_files(v2pyoci: V2Pyoci, bundle: Bundle) -> None:
    cid = "pyoci-v2-unified"
    bundle.with_args("true")
    bundle.edit(_resources(unified={"cgroup.max.descendants": "7", "cgroup.max.depth": "3"}))
    v2pyoci("create", "--bundle", str(bundle.path), cid)
    assert (UNIFIED / cid / "cgroup.max.descendants").read_text() == "7\n"
    assert (UNIFIED / cid / "cgroup.max.depth").read_text() == "3\n"
    v2pyoci("delete", "--force", cid)
    assert_nothing_left(v2pyoci, cid)


@pytest.mark.parametrize(("key", "expected"), [
    ("memory.max", 'linux.resources.unified["memory.max"]: cannot write: No such file or '
                   "directory"),
    ("cgroup.no.such.file", 'linux.resources.unified["cgroup.no.such.file"]: cannot write: '
                            "No such file or directory"),
    ("../cgroup.procs", 'linux.resources.unified["../cgroup.procs"]: not a cgroup file name'),
])
def test_unified_refusals(v2pyoci: V2Pyoci, bundle: Bundle, key: str, expected: str) -> None:
    """One line naming the key; nothing left behind (memory has no v2 controller here)."""
    cid = "pyoci-v2-badkey"
    bundle.edit(_resources(unified={key: "1"}))
    err = _one_error_line(v2pyoci("create", "--bundle", str(bundle.path), cid, check=False))
    assert expected in err, err
    assert_nothing_left(v2pyoci, cid)


def test_unified_on_hybrid_goes_to_the_unified_dir(hostpyoci: HostPyoci, bundle: Bundle) -> None:
    """Hybrid host (no private view): v2 keys land in the container's unified directory."""
    if not (UNIFIED / "cgroup.procs").exists():
        pytest.skip("this host has no cgroup2 hierarchy at /sys/fs/cgroup/unified")
    cid = "pyoci-v2-hybrid"
    bundle.edit(_resources(unified={"cgroup.max.depth": "2"}))
    hostpyoci("create", "--bundle", str(bundle.path), cid)
    assert (UNIFIED / cid / "cgroup.max.depth").read_text() == "2\n"
    hostpyoci("delete", "--force", cid)
    assert_nothing_left(hostpyoci, cid)


def test_unified_v1_controller_key_on_hybrid_is_an_error(hostpyoci: HostPyoci,
                                                         bundle: Bundle) -> None:
    """memory is a v1 controller here: "memory.max" has no file in the unified directory."""
    if not (UNIFIED / "cgroup.procs").exists():
        pytest.skip("this host has no cgroup2 hierarchy at /sys/fs/cgroup/unified")
    if "memory" in (UNIFIED / "cgroup.controllers").read_text().split():
        pytest.skip("memory is a cgroup2 controller on this host")
    cid = "pyoci-v2-hybrid-mem"
    bundle.edit(_resources(unified={"memory.max": "1000000"}))
    err = _one_error_line(hostpyoci("create", "--bundle", str(bundle.path), cid, check=False))
    assert 'linux.resources.unified["memory.max"]: cannot write' in err, err
    assert_nothing_left(hostpyoci, cid)


def _hugetlb_or_skip() -> None:
    if "hugetlb" not in (UNIFIED / "cgroup.controllers").read_text().split():
        pytest.skip("no hugetlb controller in cgroup2 on this host")
    if not Path("/sys/kernel/mm/hugepages/hugepages-2048kB").is_dir():
        pytest.skip("no 2MB huge pages on this host")


def test_hugepage_limits_v2(v2pyoci: V2Pyoci, bundle: Bundle) -> None:
    """hugetlb is the one real v2 controller here: hugetlb.2MB.max."""
    _hugetlb_or_skip()
    cid = "pyoci-v2-hugetlb"
    bundle.with_args("true")
    bundle.edit(_resources(hugepageLimits=[{"pageSize": "2MB", "limit": 4194304}]))
    v2pyoci("create", "--bundle", str(bundle.path), cid)
    assert (UNIFIED / cid / "hugetlb.2MB.max").read_text() == "4194304\n"
    v2pyoci("delete", "--force", cid)
    assert_nothing_left(v2pyoci, cid)


def test_hugepage_limits_unknown_size_v2(v2pyoci: V2Pyoci, bundle: Bundle) -> None:
    _hugetlb_or_skip()
    cid = "pyoci-v2-hugetlb-bad"
    bundle.edit(_resources(hugepageLimits=[{"pageSize": "3MB", "limit": 4194304}]))
    err = _one_error_line(v2pyoci("create", "--bundle", str(bundle.path), cid, check=False))
    assert "linux.resources.hugepageLimits[0]: cannot write hugetlb.3MB.max" in err, err
    assert_nothing_left(v2pyoci, cid)


def test_device_filter_ebpf(v2pyoci: V2Pyoci, bundle: Bundle) -> None:
    """deny-all + allow c 1:3: /dev/null writable, /dev/zero (c 1:5) refused by the filter.

    /dev/zero is listed in linux.devices so the node exists and runc's default
    rule for it is not added (runc would allow it otherwise).
    """
    cid = "pyoci-v2-devices"
    bundle.with_args("sh", "-c", "echo x > /dev/null && echo null-ok; "
                     "head -c1 /dev/zero >/dev/null || echo zero-refused")

    def edit(config: dict) -> None:
        config["linux"]["devices"] = [{"path": "/dev/zero", "type": "c", "major": 1,
                                       "minor": 5, "fileMode": 0o666}]
        config["linux"]["resources"] = {"devices": [
            {"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}
    bundle.edit(edit)
    proc = v2pyoci("run", "--bundle", str(bundle.path), cid)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert out.split() == ["null-ok", "zero-refused"], (out, err)
    assert "/dev/zero" in err and "Operation not permitted" in err, err
    assert_nothing_left(v2pyoci, cid)


def test_device_filter_default_allows_dev_zero(v2pyoci: V2Pyoci, bundle: Bundle) -> None:
    """Without linux.devices, runc's default rules (c 1:5 among them) follow the user's."""
    cid = "pyoci-v2-devdefault"
    bundle.with_args("sh", "-c", "head -c1 /dev/zero | od -An -tx1")
    bundle.edit(_resources(devices=[{"allow": False, "access": "rwm"}]))
    out = v2pyoci("run", "--bundle", str(bundle.path), cid).stdout.decode()
    assert out.split() == ["00"], out
    assert_nothing_left(v2pyoci, cid)


# (group, values, v2 controller, file, expected content)
_NOT_HERE = [
    ("memory", {"limit": 67108864}, "memory", "memory.max", "67108864"),
    ("cpu", {"shares": 1024}, "cpu", "cpu.weight", "39"),
    ("cpu", {"cpus": "0"}, "cpuset", "cpuset.cpus", "0"),
    ("pids", {"limit": 40}, "pids", "pids.max", "40"),
    ("blockIO", {"weight": 500}, "io", "io.weight", "default 4950"),
    ("rdma", {"mlx5_0": {"hcaHandles": 2}}, "rdma", "rdma.max", "mlx5_0 hca_handle=2"),
]


@pytest.mark.parametrize(("group", "values", "controller", "name", "expected"), _NOT_HERE)
def test_controllers_absent_in_v2_here(v2pyoci: V2Pyoci, bundle: Bundle, group: str,
                                       values: dict, controller: str, name: str,
                                       expected: str) -> None:
    """Applied through the real container when the machine offers the v2 controller;
    otherwise create must refuse it with one line naming the field (never silently)."""
    cid = f"pyoci-v2-{controller}"
    bundle.with_args("true")
    bundle.edit(_resources(**{group: values}))
    offered = (UNIFIED / "cgroup.controllers").read_text().split()
    proc = v2pyoci("create", "--bundle", str(bundle.path), cid, check=False)
    if controller in offered:
        assert proc.returncode == 0, proc.stderr.decode()
        assert expected in (UNIFIED / cid / name).read_text()
        v2pyoci("delete", "--force", cid)
    else:
        err = _one_error_line(proc)
        assert f"linux.resources.{group}" in err and controller in err, err
    assert_nothing_left(v2pyoci, cid)
    if controller not in offered:
        pytest.skip(f"not testable here: no {controller} controller in cgroup v2 on this "
                    "machine (bound to v1); refusal checked, writer covered by unit tests")


def test_v2_view_helper_really_is_v2_only(tmp_path: Path) -> None:
    """The namespace the tests rely on: hierarchies() sees only the cgroup2 mount."""
    if not (UNIFIED / "cgroup.procs").exists():
        pytest.skip(f"no cgroup2 hierarchy at {UNIFIED}")
    python = str(Path(PYOCI[0]).parent / "python") if len(PYOCI) == 1 else PYOCI[0]
    out = subprocess.run(["unshare", "-m", "sh", "-c", V2_VIEW, "sh", python, "-c",
                          "from pyoci.cgroups.manager import hierarchies; print(hierarchies())"],
                         capture_output=True, check=True, env={**os.environ}).stdout.decode()
    assert out.strip() == "{'': '/sys/fs/cgroup'}"

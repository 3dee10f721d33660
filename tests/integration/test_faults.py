"""Issue 8, part 1: every step of ``create`` made to fail, then nothing is left.

Each step fails naturally where a config or the host can make it fail (an
unwritable --root, a cgroup path through a file, a value the kernel rejects, a
missing namespace file, a bad option for each kind of mount, a device path
taken, a failing hook, a rejected sysctl, a cwd that is a file); where nothing
can, the test switch ``PYOCI_FAULT_INJECT=<point>`` (pyoci/faults.py) makes
the step raise at its boundary. Either way create must exit non-zero with one
line that names the step, print no traceback, hand no process to us, and leave
no state dir, exec.sock, cgroup (any hierarchy), mount or process.
``test_failures.py`` holds the many bad-config cases; they are not repeated.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import (
    PYOCI,
    Bundle,
    Pyoci,
    assert_nothing_left,
    cgroup_dirs,
    needs_root,
    reap_children,
)

pytestmark = [pytest.mark.root, needs_root]

NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup", "user", "time")
DEFAULT_MOUNTS = 7  # /proc /dev /dev/pts /dev/shm /dev/mqueue /sys /sys/fs/cgroup


def new_id() -> str:
    return f"pyoci-fault-{uuid4().hex[:8]}"


def _children() -> list[int]:
    """Pids whose parent is the test process (a subreaper): zombies included."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry.name))
    return found


def fail_create(pyoci: Pyoci, bundle: Bundle, cid: str, *, env: dict[str, str] | None = None,
                root: Path | None = None) -> str:
    """A create that must fail cleanly; its single stderr line is returned."""
    reap_children()
    before = _children()
    err_path = pyoci.root.parent / f"{cid}.err"
    with open(err_path, "wb") as err:
        proc = subprocess.run([*PYOCI, "--root", str(root or pyoci.root), "create", "--bundle",
                               str(bundle.path), cid], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err, timeout=60,
                              env={**os.environ, **(env or {})})
    text = err_path.read_text()
    assert proc.returncode != 0, "create succeeded"
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {text!r}"
    assert _children() == before, "create handed processes to us"
    return lines[0]


def check_nothing_left(pyoci: Pyoci, cid: str) -> None:
    assert_nothing_left(pyoci, cid)
    root = pyoci.root
    assert not root.exists() or list(root.rglob("exec.sock")) == []
    assert pyoci.ids() == []


# -- injected: each step at its boundary ------------------------------------------

def _with_namespace(kind: str) -> Callable[[dict], None]:
    """The demo config lacks user and time namespaces: add the one asked for."""
    def edit(cfg: dict) -> None:
        spaces = cfg["linux"]["namespaces"]
        if all(ns["type"] != kind for ns in spaces):
            spaces.append({"type": kind})
        if kind == "user":
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    return edit


def _no_edit(cfg: dict) -> None:
    pass


INJECTED: dict[str, Callable[[dict], None]] = {
    "validation": _no_edit,
    "state": _no_edit,
    "cgroup": _no_edit,
    "linux.resources": _no_edit,
    "exec.sock": _no_edit,
    **{f"linux.namespaces.{kind}": _with_namespace(kind) for kind in NAMESPACES},
    "cgroup.join": _no_edit,
    **{f"mounts[{i}]": _no_edit for i in range(DEFAULT_MOUNTS)},
    "linux.devices": _no_edit,
    "linux.sysctl": _no_edit,
    "process": _no_edit,
    "created": _no_edit,
}


@pytest.mark.parametrize("point", list(INJECTED))
def test_injected_fault(pyoci: Pyoci, bundle: Bundle, point: str) -> None:
    bundle.edit(INJECTED[point])
    bundle.with_args("sleep", "1000")  # were anything left running, it would show
    cid = new_id()
    line = fail_create(pyoci, bundle, cid, env={"PYOCI_FAULT_INJECT": point})
    assert line == f"pyoci: {point}: injected fault", line
    check_nothing_left(pyoci, cid)


def test_fault_switch_is_inert(pyoci: Pyoci, bundle: Bundle) -> None:
    """Unset, or naming no point, the switch changes nothing."""
    bundle.with_args("true")
    for value in ("", "no-such-point"):
        cid = new_id()
        with open(os.devnull, "wb") as null:
            subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle",
                            str(bundle.path), cid], stdin=null, stdout=null, check=True,
                           env={**os.environ, "PYOCI_FAULT_INJECT": value}, timeout=60)
        assert pyoci.state(cid)["status"] == "created"
        pyoci("delete", "--force", cid)
        reap_children()
        check_nothing_left(pyoci, cid)


# -- natural faults ----------------------------------------------------------------

def _set(path: str, value: object) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        node = cfg
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return edit


def _mount_options(index: int, options: list[str]) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        cfg["mounts"][index]["options"] = options
    return edit


def _hook(kind: str) -> Callable[[dict], None]:
    return _set(f"hooks.{kind}", [{"path": "/bin/false"}])


def _namespace_path(kind: str) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        _with_namespace(kind)(cfg)
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == kind:
                ns["path"] = f"/nonexistent/pyoci-ns-{kind}"
    return edit


NATURAL: dict[str, tuple[Callable[[dict], None], tuple[str, ...]]] = {
    "cgroup-parent-is-a-file": (_set("linux.cgroupsPath", "/cgroup.procs/pyoci-x"),
                                ("cgroup", "Not a directory")),
    "cpuset-rejected": (_set("linux.resources.cpu", {"cpus": "4095"}),
                        ("linux.resources.cpu.cpus",)),
    **{f"namespace-path-{kind}": (_namespace_path(kind), ("linux.namespaces[",
                                                          f"pyoci-ns-{kind}"))
       for kind in NAMESPACES},
    "proc-bad-option": (_mount_options(0, ["hidepid=bogus"]), ("mounts[0]", "/proc")),
    "tmpfs-bad-size": (_mount_options(1, ["size=bogus"]), ("mounts[1]", "/dev")),
    "devpts-bad-option": (_mount_options(2, ["ptmxmode=zzz"]), ("mounts[2]", "/dev/pts")),
    "shm-bad-mode": (_mount_options(3, ["mode=zz"]), ("mounts[3]", "/dev/shm")),
    "mqueue-bad-option": (_mount_options(4, ["bogus=1"]), ("mounts[4]", "/dev/mqueue")),
    "sysfs-bad-option": (_mount_options(5, ["bogus=1"]), ("mounts[5]", "/sys")),
    "device-path-is-a-directory": (_set("linux.devices", [{"path": "/dev/shm", "type": "c",
                                                           "major": 1, "minor": 3}]),
                                   ("linux.devices[0]", "/dev/shm")),
    **{f"hook-{kind}": (_hook(kind), (f"hooks.{kind}",))
       for kind in ("prestart", "createRuntime", "createContainer")},
    "sysctl-value-rejected": (_set("linux.sysctl", {"net.ipv4.ip_forward": "abc"}),
                              ("linux.sysctl", "net.ipv4.ip_forward")),
    "cwd-is-a-file": (_set("process.cwd", "/bin/sh"), ("process.cwd",)),
}


@pytest.mark.parametrize("case", list(NATURAL))
def test_natural_fault(pyoci: Pyoci, bundle: Bundle, case: str) -> None:
    edit, expected = NATURAL[case]
    bundle.edit(edit)
    bundle.with_args("sleep", "1000")
    cid = new_id()
    line = fail_create(pyoci, bundle, cid)
    for text in expected:
        assert text in line, line
    check_nothing_left(pyoci, cid)
    assert cgroup_dirs("pyoci-x") == []


def test_unwritable_root(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    """The state dir cannot be made: --root lies under a regular file."""
    blocker = tmp_path / "pyoci-not-a-dir"
    blocker.write_text("")
    root = blocker / "state"
    cid = new_id()
    line = fail_create(pyoci, bundle, cid, root=root)
    assert str(blocker) in line and "Not a directory" in line, line
    check_nothing_left(pyoci, cid)
    assert blocker.is_file()

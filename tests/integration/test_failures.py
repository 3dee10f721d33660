"""``pyoci create`` failures: one line naming the field, no traceback, nothing left.

Every case runs the real binary as root, expects a non-zero exit and exactly one
line on stderr that names the config field (or flag) at fault, then checks that
the failed create left no state dir, no ``exec.sock``, no cgroup directory in
any hierarchy, no mount and no process, and that no child (alive or zombie)
was handed to the test process (a subreaper) by the failed create.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import (
    CGROUP_ROOT,
    PYOCI,
    Bundle,
    Pyoci,
    assert_nothing_left,
    cgroup_dirs,
    mounts_mentioning,
    needs_root,
    processes_with,
    reap_children,
)

pytestmark = [pytest.mark.root, needs_root]

RUNC = "/usr/sbin/runc"


def new_id() -> str:
    return f"pyoci-{uuid4().hex[:8]}"


def children() -> list[tuple[int, str]]:
    """(pid, state letter) of every child of the test process, zombies included."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me:
            found.append((int(entry.name), fields[0]))
    return found


def exec_sockets(root: Path) -> list[Path]:
    return list(root.rglob("exec.sock")) if root.exists() else []


def fail_create(pyoci: Pyoci, cid: str, *args: str, bundle: Bundle | None = None,
                global_args: tuple[str, ...] = ()) -> str:
    """Run a create that must fail; return its single stderr line."""
    reap_children()
    before = children()
    sockets = exec_sockets(pyoci.root)
    cmd = ["create"]
    if bundle is not None:
        cmd += ["--bundle", str(bundle.path)]
    proc = pyoci(*cmd, *args, cid, check=False, global_args=global_args, timeout=30)
    err = proc.stderr.decode()
    assert proc.returncode != 0, f"create succeeded: {err}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert proc.stdout == b"", proc.stdout
    # Nothing was orphaned to us: no new child, running or zombie.
    after = children()
    assert after == before, f"children grew: {before} -> {after}"
    assert exec_sockets(pyoci.root) == sockets
    print(f"pyoci: {lines[0]}")
    return lines[0]


def create_ok(pyoci: Pyoci, bundle: Bundle, cid: str, *args: str) -> None:
    """A create that must succeed; the init keeps its stdio, so none of it is a pipe."""
    with open(pyoci.root.parent / f"{cid}.err", "w+b") as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle",
                               str(bundle.path), *args, cid], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err, timeout=30)
        err.seek(0)
        assert proc.returncode == 0, err.read().decode()


def check_left(pyoci: Pyoci, cid: str) -> None:
    assert_nothing_left(pyoci, cid)
    assert exec_sockets(pyoci.root) == []
    assert pyoci.ids() == []


# -- config values -----------------------------------------------------------------

def _set(path: str, value: object) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        node = cfg
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return edit


def _add_mount(cfg: dict) -> None:
    cfg["mounts"].append({"destination": "/mnt/pyoci-missing", "type": "bind",
                          "source": "/nonexistent/pyoci-source", "options": ["rbind"]})


def _no_uts(cfg: dict) -> None:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "uts"]
    cfg["hostname"] = "pyoci-host"


def _bad_uid_map(cfg: dict) -> None:
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 10},
                                   {"containerID": 5, "hostID": 200000, "size": 10}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 10}]


def _unknown_mount_type(cfg: dict) -> None:
    cfg["mounts"].append({"destination": "/mnt/pyoci-fs", "type": "nopefs", "source": "x"})


def _rlimit_above_hard(cfg: dict) -> None:
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1 << 20, "soft": 1 << 20}]


CONFIG_CASES: dict[str, tuple[Callable[[dict], None], tuple[str, ...]]] = {
    "uid-string": (_set("process.user.uid", "x"), ("process.user.uid",)),
    "missing-mount-source": (_add_mount, ("/mnt/pyoci-missing",)),
    "unknown-sysctl": (_set("linux.sysctl", {"net.nope.nope": "1"}), ("linux.sysctl",)),
    "device-type": (_set("linux.devices", [{"path": "/dev/pyoci", "type": "x",
                                            "major": 1, "minor": 3}]),
                    ("linux.devices[0].type",)),
    "missing-executable": (_set("process.args", ["pyoci-no-such-program"]),
                           ("executable file not found in $PATH", "pyoci-no-such-program")),
    "missing-executable-abs": (_set("process.args", ["/pyoci/no/such/program"]),
                               ("/pyoci/no/such/program",)),
    "rlimit-above-hard": (_rlimit_above_hard, ("process.rlimits", "RLIMIT_NOFILE")),
    "relative-cwd": (_set("process.cwd", "tmp"), ("process.cwd",)),
    "uid-map-overlap": (_bad_uid_map, ("linux.uidMappings",)),
    "unknown-mount-type": (_unknown_mount_type, ("/mnt/pyoci-fs", "nopefs")),
    "rlimit-soft-above-hard": (_set("process.rlimits", [{"type": "RLIMIT_NOFILE", "hard": 10,
                                                         "soft": 20}]),
                               ("process.rlimits[0]",)),
    "unknown-rlimit": (_set("process.rlimits", [{"type": "RLIMIT_PYOCI", "hard": 1,
                                                 "soft": 1}]),
                       ("process.rlimits[0]",)),
    "empty-args": (_set("process.args", []), ("process.args",)),
    "hostname-without-uts": (_no_uts, ("hostname",)),
    "missing-rootfs": (_set("root.path", "/nonexistent/pyoci-rootfs"), ("root.path",)),
    "cgroups-path-dotdot": (_set("linux.cgroupsPath", "/pyoci/../../pyoci-escape"),
                            ("linux.cgroupsPath",)),
    "cgroups-path-systemd": (_set("linux.cgroupsPath", "system.slice:pyoci:abc"),
                             ("linux.cgroupsPath",)),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config(pyoci: Pyoci, bundle: Bundle, case: str) -> None:
    edit, expected = CONFIG_CASES[case]
    bundle.edit(edit)
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    for text in expected:
        assert text in line, line
    check_left(pyoci, cid)


def test_unknown_capability_is_a_warning_not_a_failure(pyoci: Pyoci, bundle: Bundle) -> None:
    """config.md: a capability that cannot be mapped MUST be logged as a warning, and
    the runtime SHOULD NOT fail (runc 1.1.5 fails here; newer runc warns too)."""
    bundle.edit(_set("process.capabilities.bounding", ["CAP_PYOCI_NOPE", "CAP_KILL"]))
    bundle.with_args("true")
    cid = new_id()
    proc = pyoci("run", "--bundle", str(bundle.path), cid, check=False, timeout=30)
    text = proc.stderr.decode()
    assert proc.returncode == 0, text
    assert "CAP_PYOCI_NOPE" in text and "Traceback" not in text, text
    pyoci("delete", "--force", cid, check=False)


def test_missing_mount_source_names_the_mount(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.edit(_add_mount)
    index = len(bundle.config["mounts"]) - 1
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert f"mounts[{index}]" in line and "/mnt/pyoci-missing" in line, line
    assert "/nonexistent/pyoci-source" in line or "no such" in line.lower(), line
    check_left(pyoci, cid)


def test_malformed_json(pyoci: Pyoci, bundle: Bundle) -> None:
    (bundle.path / "config.json").write_text('{\n  "ociVersion": "1.3.0",\n  "process": {,\n}')
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert "config.json" in line and "line 3" in line and "column" in line, line
    check_left(pyoci, cid)


def test_cgroups_path_dotdot_makes_no_dir(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.edit(_set("linux.cgroupsPath", "/pyoci-parent/../../pyoci-escape"))
    cid = new_id()
    fail_create(pyoci, cid, bundle=bundle)
    for name in ("pyoci-parent", "pyoci-escape"):
        assert cgroup_dirs(name) == []
    assert not (CGROUP_ROOT.parent / "pyoci-escape").exists()
    check_left(pyoci, cid)


def test_custom_cgroups_path_removed_on_failure(pyoci: Pyoci, bundle: Bundle) -> None:
    """A failure after the cgroup was made removes every directory create made."""
    parent = f"pyoci-parent-{uuid4().hex[:6]}"
    cid = new_id()
    bundle.edit(lambda c: (_set("linux.cgroupsPath", f"/{parent}/{cid}")(c),
                           _set("process.args", ["pyoci-no-such-program"])(c)))
    fail_create(pyoci, cid, bundle=bundle)
    assert cgroup_dirs(parent) == []
    check_left(pyoci, cid)


# -- namespaces by path ------------------------------------------------------------

def _ns_path(cfg: dict, kind: str, path: str) -> int:
    spaces = cfg["linux"]["namespaces"]
    for i, ns in enumerate(spaces):
        if ns["type"] == kind:
            ns["path"] = path
            return i
    raise AssertionError(kind)


def test_namespace_path_missing(pyoci: Pyoci, bundle: Bundle) -> None:
    index = _ns_path(bundle.config, "network", "/nonexistent/pyoci-netns")
    bundle.write()
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert f"linux.namespaces[{index}].path" in line, line
    check_left(pyoci, cid)


def test_namespace_path_wrong_type(pyoci: Pyoci, bundle: Bundle) -> None:
    """A network namespace file given as the uts namespace."""
    index = _ns_path(bundle.config, "uts", f"/proc/{os.getpid()}/ns/net")
    bundle.write()
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert f"linux.namespaces[{index}].path" in line, line
    check_left(pyoci, cid)


def test_namespace_path_not_a_namespace(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    plain = tmp_path / "pyoci-plain-file"
    plain.write_text("")
    index = _ns_path(bundle.config, "ipc", str(plain))
    bundle.write()
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert f"linux.namespaces[{index}].path" in line, line
    check_left(pyoci, cid)


# -- container ids -----------------------------------------------------------------

@pytest.mark.parametrize("cid", ["..", ".", "pyoci/b", "", "pyoci" + "x" * 1020,
                                 "pyoci-é", "pyoci\n", "pyoci id"],
                         ids=["dotdot", "dot", "slash", "empty", "1025", "non-ascii",
                              "newline", "space"])
def test_invalid_container_id(pyoci: Pyoci, bundle: Bundle, cid: str) -> None:
    reap_children()
    before = children()
    proc = pyoci("create", "--bundle", str(bundle.path), cid, check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "id" in lines[0].lower(), lines[0]
    assert children() == before
    assert pyoci.ids() == []
    assert not pyoci.root.exists() or list(pyoci.root.iterdir()) == []
    if cid.strip("./") and "/" not in cid:
        assert cgroup_dirs(cid) == []
    assert processes_with(str(bundle.path)) == []


def test_id_of_1024_chars_is_accepted_by_validation(pyoci: Pyoci, bundle: Bundle) -> None:
    """The limit is 1024: such an id passes id validation (it may fail later on sun_path
    or NAME_MAX, but not as an invalid id)."""
    cid = "pyoci" + "x" * 1019
    bundle.with_args("true")
    path = pyoci.root.parent / "err"
    with open(path, "wb") as errf:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), "create", "--bundle",
                               str(bundle.path), cid], stdout=subprocess.DEVNULL, stderr=errf,
                              stdin=subprocess.DEVNULL, timeout=30)
    err = path.read_text()
    assert "Traceback" not in err
    if proc.returncode != 0:
        assert len(err.strip().splitlines()) == 1, err
        assert "invalid" not in err.lower() or "id" not in err.lower(), err
    else:
        pyoci("delete", "--force", cid)
    reap_children()
    assert pyoci.ids() == []


# -- bundle and flags --------------------------------------------------------------

def test_missing_bundle(pyoci: Pyoci, tmp_path: Path) -> None:
    cid = new_id()
    missing = tmp_path / "pyoci-no-bundle"
    line = fail_create(pyoci, cid, "--bundle", str(missing))
    assert str(missing) in line and "bundle" in line, line
    check_left(pyoci, cid)


def test_bundle_without_config(pyoci: Pyoci, tmp_path: Path) -> None:
    cid = new_id()
    empty = tmp_path / "pyoci-empty-bundle"
    empty.mkdir()
    line = fail_create(pyoci, cid, "--bundle", str(empty))
    assert "config.json" in line, line
    check_left(pyoci, cid)


def test_relative_rootfs_missing(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.edit(_set("root.path", "rootfs"))  # relative to the bundle, which has none
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert "root.path" in line and str(bundle.path / "rootfs") in line, line
    check_left(pyoci, cid)


def test_console_socket_nowhere(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    bundle.edit(_set("process.terminal", True))
    cid = new_id()
    nowhere = tmp_path / "pyoci-no-console.sock"
    line = fail_create(pyoci, cid, "--console-socket", str(nowhere), bundle=bundle)
    assert "console" in line and str(nowhere) in line, line
    check_left(pyoci, cid)


def test_console_socket_not_listening(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    bundle.edit(_set("process.terminal", True))
    cid = new_id()
    path = tmp_path / "pyoci-dead.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))  # bound, never listening: connect is refused
    try:
        line = fail_create(pyoci, cid, "--console-socket", str(path), bundle=bundle)
    finally:
        sock.close()
    assert "console" in line, line
    check_left(pyoci, cid)


def test_terminal_without_console_socket(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.edit(_set("process.terminal", True))
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert "console-socket" in line, line
    check_left(pyoci, cid)


def test_unwritable_pid_file_rolls_everything_back(pyoci: Pyoci, bundle: Bundle,
                                                   tmp_path: Path) -> None:
    """The pid file is written after the init exists: it must be killed and reaped."""
    bundle.with_args("sleep", "1000")
    cid = new_id()
    pid_file = tmp_path / "pyoci-no-such-dir" / "pid"
    line = fail_create(pyoci, cid, "--pid-file", str(pid_file), bundle=bundle)
    assert "--pid-file" in line and str(pid_file) in line, line
    check_left(pyoci, cid)
    assert mounts_mentioning(cid) == []
    # The init ran "sleep 1000" from our bundle: nothing of it may survive.
    assert processes_with(str(bundle.path)) == []
    assert not pid_file.parent.exists()


def test_pid_file_in_readonly_dir(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.with_args("sleep", "1000")
    cid = new_id()
    line = fail_create(pyoci, cid, "--pid-file", "/proc/pyoci-pid", bundle=bundle)
    assert "--pid-file" in line, line
    check_left(pyoci, cid)


def test_create_after_failure_reuses_the_id(pyoci: Pyoci, bundle: Bundle,
                                            tmp_path: Path) -> None:
    """A rolled-back create really frees the id and the cgroup."""
    bundle.with_args("true")
    cid = new_id()
    fail_create(pyoci, cid, "--pid-file", str(tmp_path / "nodir" / "pid"), bundle=bundle)
    create_ok(pyoci, bundle, cid)
    assert pyoci.state(cid)["status"] == "created"
    pyoci("delete", "--force", cid)
    reap_children()
    check_left(pyoci, cid)


def test_duplicate_id(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.with_args("true")
    cid = new_id()
    create_ok(pyoci, bundle, cid)
    state = pyoci.state(cid)
    line = fail_create(pyoci, cid, bundle=bundle)
    assert "already exists" in line, line
    # The first container is untouched by the failed second create.
    assert pyoci.state(cid) == state
    pyoci("delete", "--force", cid)
    reap_children()
    check_left(pyoci, cid)


def test_unknown_flag(pyoci: Pyoci, bundle: Bundle) -> None:
    cid = new_id()
    line = fail_create(pyoci, cid, "--no-such-flag", bundle=bundle)
    assert "--no-such-flag" in line, line
    check_left(pyoci, cid)


def test_systemd_cgroup_flag_with_slice_path(pyoci: Pyoci, bundle: Bundle) -> None:
    """The same systemd-style path is not rejected as a *format* with --systemd-cgroup."""
    bundle.edit(lambda c: (_set("linux.cgroupsPath", "system.slice:pyoci:abc")(c),
                           _set("process.args", ["pyoci-no-such-program"])(c)))
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle, global_args=("--systemd-cgroup",))
    # Either the path is taken and the missing program is reported, or (no systemd
    # on the host) the flag itself is refused; never a complaint about the path's form.
    assert "executable file not found" in line or "--systemd-cgroup" in line, line
    check_left(pyoci, cid)


# -- compared with runc --------------------------------------------------------------

def _runc(root: Path, bundle: Bundle, cid: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([RUNC, "--root", str(root), "create", "--bundle", str(bundle.path),
                           cid], capture_output=True, timeout=30)
    subprocess.run([RUNC, "--root", str(root), "delete", "--force", cid],
                   capture_output=True, timeout=30)
    reap_children()
    return proc


@pytest.mark.skipif(not os.access(RUNC, os.X_OK), reason="runc not installed")
@pytest.mark.parametrize("case, runc_text", [
    ("missing-executable", "executable file not found in $PATH"),
    ("relative-cwd", "cwd"),
    ("hostname-without-uts", "hostname"),
    ("unknown-sysctl", "nope"),
    ("missing-rootfs", "pyoci-rootfs"),
])
def test_messages_like_runc(pyoci: Pyoci, bundle: Bundle, tmp_path: Path, case: str,
                            runc_text: str) -> None:
    """Both runtimes refuse the config and speak of the same thing."""
    edit, _ = CONFIG_CASES[case]
    bundle.edit(edit)
    cid = new_id()
    runc_proc = _runc(tmp_path / "runc-root", bundle, cid)
    assert runc_proc.returncode != 0
    assert runc_text.lower() in runc_proc.stderr.decode().lower(), runc_proc.stderr.decode()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert runc_text.lower() in line.lower(), line
    check_left(pyoci, cid)
    shutil.rmtree(tmp_path / "runc-root", ignore_errors=True)


def test_pid_file_is_a_directory_leaves_no_temp_file(pyoci: Pyoci, bundle: Bundle,
                                                     tmp_path: Path) -> None:
    bundle.with_args("sleep", "1000")
    cid = new_id()
    target = tmp_path / "pids" / "pyoci-pid"
    target.mkdir(parents=True)
    line = fail_create(pyoci, cid, "--pid-file", str(target), bundle=bundle)
    assert "--pid-file" in line, line
    assert sorted(p.name for p in target.parent.iterdir()) == ["pyoci-pid"]
    check_left(pyoci, cid)


def test_existing_cgroup_is_not_removed_on_failure(pyoci: Pyoci, bundle: Bundle) -> None:
    """create removes only the cgroup directories it made itself."""
    cid = new_id()
    parent = f"pyoci-keep-{uuid4().hex[:6]}"
    made = []
    for hierarchy in ("memory", "pids", "unified"):
        if (CGROUP_ROOT / hierarchy).is_dir():
            (CGROUP_ROOT / hierarchy / parent).mkdir()
            made.append(CGROUP_ROOT / hierarchy / parent)
    try:
        bundle.edit(lambda c: (_set("linux.cgroupsPath", f"/{parent}/{cid}")(c),
                               _set("process.args", ["pyoci-no-such-program"])(c)))
        fail_create(pyoci, cid, bundle=bundle)
        assert all(d.is_dir() for d in made)
        assert [d for d in cgroup_dirs(parent) if d not in made] == []
        assert all(not (d / cid).exists() for d in made)
        check_left(pyoci, cid)
    finally:
        for d in made:
            d.rmdir()
        for d in cgroup_dirs(parent):
            d.rmdir()


def test_config_not_an_object(pyoci: Pyoci, bundle: Bundle) -> None:
    (bundle.path / "config.json").write_text("[1, 2]")
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert "config.json" in line and "object" in line, line
    check_left(pyoci, cid)


def test_config_not_utf8(pyoci: Pyoci, bundle: Bundle) -> None:
    (bundle.path / "config.json").write_bytes(b'{"ociVersion": "\xff"}')
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert "config.json" in line and "UTF-8" in line, line
    check_left(pyoci, cid)


def test_failure_with_deep_root(bundle: Bundle, tmp_path: Path) -> None:
    """A --root too deep for sun_path: exec.sock goes through /proc/self/fd, and a
    failed create still removes it with the rest."""
    deep = tmp_path / ("d" * 120) / "state"
    runner = Pyoci(deep)
    bundle.edit(_set("process.args", ["pyoci-no-such-program"]))
    cid = new_id()
    try:
        line = fail_create(runner, cid, bundle=bundle)
        assert "executable file not found" in line, line
        check_left(runner, cid)
    finally:
        for leftover in runner.ids():
            runner("delete", "--force", leftover, check=False)
        reap_children()


@pytest.mark.parametrize("drop_pid_ns", [False, True], ids=["pid-ns", "no-pid-ns"])
def test_pid_file_failure_without_pid_namespace(pyoci: Pyoci, bundle: Bundle, tmp_path: Path,
                                                drop_pid_ns: bool) -> None:
    """Without a pid namespace the init is create's direct child; rolled back all the same."""
    def edit(cfg: dict) -> None:
        cfg["process"]["args"] = ["sleep", "1000"]
        if drop_pid_ns:
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                          if n["type"] != "pid"]
    bundle.edit(edit)
    cid = new_id()
    line = fail_create(pyoci, cid, "--pid-file", str(tmp_path / "nodir" / "pid"), bundle=bundle)
    assert "--pid-file" in line, line
    check_left(pyoci, cid)


def _syscall_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/syscall").read_text()
    except OSError:
        return ""


def _popen_with_default_sigint(argv: list[str], **kwargs: object) -> subprocess.Popen:
    """Popen with SIGINT at its default disposition, as a terminal's Ctrl-C finds it.

    A suite run as a background job (``sh -c '... &'``, nohup) inherits SIGINT
    ignored and passes that on; a Python started so installs no KeyboardInterrupt
    handler, and pyoci rightly keeps the ignore its caller chose. A handler of
    ours is reset to the default by exec; SIG_IGN would not be.
    """
    import signal

    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return subprocess.Popen(argv, **kwargs)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(argv, **kwargs)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_interrupted_create_rolls_back(pyoci: Pyoci, bundle: Bundle, tmp_path: Path,
                                       signame: str) -> None:
    """A signal while the init already exists: everything is undone, one line printed.

    A FIFO where the pid file's temporary goes makes create block at its very last
    step, once the container init is waiting for start.
    """
    import signal

    bundle.with_args("sleep", "1000")
    cid = new_id()
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    os.mkfifo(pid_dir / ".pid.tmp")
    reap_children()
    before = children()
    proc = _popen_with_default_sigint(
        [*PYOCI, "--root", str(pyoci.root), "create", "--bundle", str(bundle.path),
         "--pid-file", str(pid_dir / "pid"), cid],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        # openat (257 on x86_64, 56 on aarch64) of the FIFO blocks until a reader comes.
        while time.monotonic() < deadline and proc.poll() is None:
            if _syscall_of(proc.pid).split(" ")[0] in ("257", "56") and \
                    (pyoci.root / cid / "exec.sock").exists():
                break
            time.sleep(0.01)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert len(processes_with(cid)) >= 2  # create and the container init
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode()
    assert proc.returncode != 0
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 1, text
    reap_children()
    assert children() == before
    check_left(pyoci, cid)
    assert sorted(p.name for p in pid_dir.iterdir()) == [".pid.tmp"]


def test_cgroup_with_processes_is_refused(pyoci: Pyoci, bundle: Bundle) -> None:
    """A cgroupsPath other processes already use: refused, and that cgroup is untouched."""
    name = f"pyoci-busy-{uuid4().hex[:6]}"
    busy = CGROUP_ROOT / "pids" / name
    if not busy.parent.is_dir():
        pytest.skip("no pids v1 hierarchy")
    busy.mkdir()
    sleeper = subprocess.Popen(["sleep", "1000"])
    try:
        (busy / "cgroup.procs").write_text(str(sleeper.pid))
        bundle.edit(_set("linux.cgroupsPath", f"/{name}"))
        cid = new_id()
        line = fail_create(pyoci, cid, bundle=bundle)
        assert "linux.cgroupsPath" in line, line
        assert busy.is_dir()
        assert (busy / "cgroup.procs").read_text().split() == [str(sleeper.pid)]
        assert [d for d in cgroup_dirs(name) if d != busy] == []
        check_left(pyoci, cid)
    finally:
        sleeper.kill()
        sleeper.wait()
        for _ in range(100):
            try:
                busy.rmdir()
                break
            except OSError:
                time.sleep(0.01)


def test_memory_limit_too_small_names_the_limit(pyoci: Pyoci, bundle: Bundle) -> None:
    """An init OOM-killed during set-up is reported as the memory limit's fault
    (not "exited before it was ready"), and create leaves nothing."""
    def tiny_limit(cfg: dict) -> None:
        cfg["linux"].setdefault("resources", {})["memory"] = {"limit": 64 * 1024}

    bundle.edit(tiny_limit)
    cid = new_id()
    line = fail_create(pyoci, cid, bundle=bundle)
    assert "linux.resources.memory.limit" in line and "OOM" in line, line
    check_left(pyoci, cid)


def test_a_one_mib_memory_limit_is_enough_every_time(pyoci: Pyoci, bundle: Bundle) -> None:
    """Issue 7's memory goal, and the PREFAULTED handshake behind it: the parent
    joins the init to a small-limit cgroup only once the init has copied the
    pages it shares with pyoci, so the container is never charged for them.
    Before the handshake a fast join could land first and OOM-kill the init
    at random (2 runs in 20 at 1 MiB)."""
    def one_mib(cfg: dict) -> None:
        cfg["linux"].setdefault("resources", {})["memory"] = {"limit": 1 << 20}

    bundle.edit(one_mib)
    bundle.with_args("/bin/true")
    for _ in range(15):
        cid = new_id()
        assert pyoci("run", "--bundle", str(bundle.path), cid, check=False).returncode == 0
        check_left(pyoci, cid)

"""The rootfs layer against the real kernel.

Each root test forks a child that unshares a mount (and pid/uts) namespace,
makes ``/`` private, runs prepare_rootfs on a tiny busybox rootfs, observes
the result from inside and reports it as JSON over a pipe before ``_exit``.
Every mount dies with the namespace; the test checks the host saw nothing.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyoci import syscalls as sc
from pyoci.errors import PyociError
from pyoci.rootfs import apply_sysctl, prepare_rootfs
from pyoci.rootfs.paths import create_file_in_root, mkdir_all_in_root, open_in_root

BUSYBOX = "/bin/busybox"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


# --- helpers ---------------------------------------------------------------


def _child_report(fn: Callable[[], Any], w: int) -> None:
    try:
        payload = {"ok": fn()}
    except PyociError as e:
        payload = {"error": e.message}
    except BaseException as e:  # noqa: BLE001 - reported to the test, never swallowed
        payload = {"crash": repr(e) + "\n" + traceback.format_exc()}
    data = json.dumps(payload).encode()
    while data:
        data = data[os.write(w, data):]


def run_isolated(fn: Callable[[], Any],
                 flags: int = sc.CLONE_NEWNS | sc.CLONE_NEWPID | sc.CLONE_NEWUTS,
                 setup: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run ``fn`` as PID 1 of fresh namespaces; return its JSON report."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            sc.unshare(flags)
            if setup is not None:
                setup()
            sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
            inner = os.fork() if flags & sc.CLONE_NEWPID else 0
            if inner == 0:
                _child_report(fn, w)
                os._exit(0)
            os.waitpid(inner, 0)
            code = 0
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads(b"".join(chunks) or b"{}")
    assert "crash" not in report, report.get("crash")
    return report


def make_bundle(tmp_path: Path) -> Path:
    """bundle/rootfs with busybox and a few files, plus a host dir to bind."""
    rootfs = tmp_path / "bundle" / "rootfs"
    for d in ("bin", "proc", "dev", "masked_dir", "ro_dir", "etc"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
    (rootfs / "masked_dir" / "secret").write_text("secret")
    (rootfs / "ro_dir" / "file").write_text("x")
    (rootfs / "etc" / "masked_file").write_text("secret")
    (rootfs / "escape").symlink_to("/")
    (rootfs / "up").symlink_to("../../../..")
    host = tmp_path / "hostdata"
    host.mkdir()
    (host / "hello.txt").write_text("hello")
    (tmp_path / "hostfile").write_text("file-content")
    return tmp_path / "bundle"


def mountinfo() -> dict[str, dict[str, Any]]:
    """mount point -> {options, fstype, super}; the last mount of a point wins."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            out[fields[4]] = {"options": fields[5].split(","), "fstype": fields[sep + 1],
                              "super": fields[sep + 3].split(",")}
    return out


def node(path: str) -> dict[str, Any] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return {"fmt": stat.S_IFMT(st.st_mode), "perm": stat.S_IMODE(st.st_mode),
            "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev)}


def write_errno(path: str) -> int:
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError as e:
        return e.errno or -1
    return 0


def assert_host_clean(tmp_path: Path) -> None:
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()


# --- no root: paths.py ------------------------------------------------------


def test_paths_stay_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to("/")
    (root / "up").symlink_to("../../../../..")
    outside = f"pyoci-paths-{os.getpid()}"
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for path in (f"/escape/{outside}/a", f"up/{outside}/b", f"/../../{outside}/c"):
            fd = mkdir_all_in_root(root_fd, path)
            real = os.readlink(f"/proc/self/fd/{fd}")
            os.close(fd)
            assert real.startswith(str(root) + "/"), (path, real)
        fd = create_file_in_root(root_fd, f"/escape/{outside}/file")
        assert stat.S_ISREG(os.fstat(fd).st_mode)
        os.close(fd)
        assert (root / outside / "file").is_file()
        with pytest.raises(FileNotFoundError):
            open_in_root(root_fd, "/nope")
    finally:
        os.close(root_fd)
    assert not os.path.exists("/" + outside)
    assert not os.path.exists(str(tmp_path.parent.parent / outside))


def test_mkdir_all_refuses_file_component(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    root_fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(NotADirectoryError):
            mkdir_all_in_root(root_fd, "/f/sub")
    finally:
        os.close(root_fd)


# --- root: the full prepare_rootfs -------------------------------------------


def full_config(tmp_path: Path, unique: str) -> dict[str, Any]:
    return {
        "root": {"path": "rootfs", "readonly": True},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
            {"destination": "/data", "source": str(tmp_path / "hostdata"),
             "options": ["bind", "ro", "nosuid"]},
            {"destination": "/etc/deep/hostfile", "source": "../hostfile",
             "options": ["rbind", "rro"]},
            {"destination": f"/escape/{unique}", "type": "tmpfs", "source": "tmpfs",
             "options": ["mode=700"]},
            {"destination": f"/up/{unique}-up", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "relative", "type": "tmpfs", "source": "tmpfs",
             "options": ["noexec", "rprivate"]},
        ],
        "linux": {
            "devices": [
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                 "fileMode": 0o640, "uid": 0, "gid": 0},
                {"path": "/dev/myfifo", "type": "p", "fileMode": 0o600},
            ],
            "maskedPaths": ["/proc/kcore", "/etc/masked_file", "/masked_dir", "/nonexistent"],
            "readonlyPaths": ["/proc/sys", "/ro_dir", "/nonexistent2"],
            "sysctl": {"kernel.domainname": "pyoci-sysctl"},
        },
    }


def observe(unique: str) -> dict[str, Any]:
    mi = mountinfo()
    with open("/etc/masked_file", "rb") as f:
        masked_file = f.read(16)
    links = {n: os.readlink(f"/dev/{n}") for n in ("ptmx", "fd", "stdin", "stdout",
                                                     "stderr", "core")
             if os.path.islink(f"/dev/{n}")}
    return {
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "root_list": sorted(os.listdir("/")),
        "mounts": mi,
        "devices": {n: node(f"/dev/{n}") for n in ("null", "zero", "full", "random",
                                                    "urandom", "tty", "fuse", "myfifo")},
        "links": links,
        "masked_file": masked_file.decode(),
        "masked_file_node": node("/etc/masked_file"),
        "masked_dir": os.listdir("/masked_dir"),
        "ro_dir_write": write_errno("/ro_dir/file"),
        "data": open("/data/hello.txt").read(),
        "data_write": write_errno("/data/new"),
        "hostfile": open("/etc/deep/hostfile").read(),
        "root_write": write_errno("/newfile"),
        "escape_is_root": os.path.samefile("/escape", "/"),
        "cgroup_list": sorted(os.listdir("/sys/fs/cgroup")),
        "domainname": open("/proc/sys/kernel/domainname").read().strip(),
        "proc_sys_write": write_errno("/proc/sys/kernel/hostname"),
    }


@needs_root
def test_prepare_rootfs_full(tmp_path: Path) -> None:
    if not os.path.exists(BUSYBOX):
        pytest.skip(f"{BUSYBOX} missing (Debian package busybox-static)")
    bundle = make_bundle(tmp_path)
    unique = f"pyoci-escape-{os.getpid()}"
    config = full_config(tmp_path, unique)

    def body() -> dict[str, Any]:
        prepare_rootfs(config, str(bundle))
        apply_sysctl(config["linux"]["sysctl"])  # a second call is a no-op
        return observe(unique)

    report = run_isolated(body)
    assert "error" not in report, report["error"]
    got = report["ok"]
    mounts = got["mounts"]
    assert got["pid"] == 1 and got["cwd"] == "/"
    assert "busybox" not in got["root_list"] and "bin" in got["root_list"]
    # The container's mount table has no host path left in it.
    assert not any(str(tmp_path) in mp for mp in mounts)
    assert mounts["/proc"]["fstype"] == "proc"
    assert mounts["/dev"]["fstype"] == "tmpfs" and "nosuid" in mounts["/dev"]["options"]
    assert "mode=755" in mounts["/dev"]["super"]
    assert mounts["/dev/pts"]["fstype"] == "devpts"
    assert {"nosuid", "noexec", "nodev"} <= set(mounts["/dev/shm"]["options"])
    # bind ro (+ nosuid remount), file bind through a relative source, rro.
    assert {"ro", "nosuid"} <= set(mounts["/data"]["options"])
    assert got["data"] == "hello" and got["data_write"] == errno.EROFS
    assert "ro" in mounts["/etc/deep/hostfile"]["options"]
    assert got["hostfile"] == "file-content"
    # Symlinked destinations stayed inside the rootfs.
    assert got["escape_is_root"]
    assert mounts[f"/{unique}"]["fstype"] == "tmpfs"
    assert mounts[f"/{unique}-up"]["fstype"] == "tmpfs"
    assert "noexec" in mounts["/relative"]["options"]
    # cgroup: read-only, one entry per host hierarchy (or cgroup2 on v2-only hosts).
    cg = mounts["/sys/fs/cgroup"]
    assert "ro" in cg["options"]
    host_cgroups = sorted(os.listdir("/sys/fs/cgroup"))
    if cg["fstype"] == "tmpfs":
        for name in got["cgroup_list"]:
            assert mounts[f"/sys/fs/cgroup/{name}"]["fstype"] in ("cgroup", "cgroup2")
            assert "ro" in mounts[f"/sys/fs/cgroup/{name}"]["options"]
        assert set(got["cgroup_list"]) <= set(host_cgroups) and got["cgroup_list"]
    # Devices.
    devs = got["devices"]
    for name, (major, minor) in {"null": (1, 3), "zero": (1, 5), "full": (1, 7),
                                 "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}.items():
        assert devs[name]["fmt"] == stat.S_IFCHR, name
        assert (devs[name]["major"], devs[name]["minor"]) == (major, minor), name
        assert devs[name]["perm"] == 0o666, name
    assert devs["fuse"] == {"fmt": stat.S_IFCHR, "perm": 0o640, "major": 10, "minor": 229}
    assert devs["myfifo"]["fmt"] == stat.S_IFIFO and devs["myfifo"]["perm"] == 0o600
    links = {"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
             "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
    if os.path.exists("/proc/kcore"):
        links["core"] = "/proc/kcore"
    assert got["links"] == links
    # maskedPaths / readonlyPaths / root.readonly / sysctl.
    assert got["masked_file"] == "" and got["masked_dir"] == []
    assert got["masked_file_node"]["fmt"] == stat.S_IFCHR  # /dev/null bound over it
    assert mounts["/masked_dir"]["fstype"] == "tmpfs" and "ro" in mounts["/masked_dir"]["options"]
    assert got["ro_dir_write"] == errno.EROFS
    assert "ro" in mounts["/proc/sys"]["options"]
    assert got["proc_sys_write"] == errno.EROFS
    assert "ro" in mounts["/"]["options"] and got["root_write"] == errno.EROFS
    assert got["domainname"] == "pyoci-sysctl"
    # Nothing reached the host.
    assert_host_clean(tmp_path)
    assert not os.path.exists("/" + unique) and not os.path.exists(f"/{unique}-up")
    rootfs = bundle / "rootfs"
    assert (rootfs / unique).is_dir() and (rootfs / f"{unique}-up").is_dir()
    assert (rootfs / "etc" / "deep" / "hostfile").is_file()
    assert (tmp_path / "hostdata" / "new").exists() is False


@needs_root
@pytest.mark.parametrize("no_pivot", [False, True])
def test_prepare_rootfs_minimal_and_no_pivot(tmp_path: Path, no_pivot: bool) -> None:
    bundle = make_bundle(tmp_path)
    config = {"root": {"path": "rootfs"},
              "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
              "linux": {"rootfsPropagation": "rslave"}}

    def body() -> dict[str, Any]:
        prepare_rootfs(config, str(bundle), no_pivot=no_pivot)
        return {"list": sorted(os.listdir("/")), "null": node("/dev/null"),
                "mounts": list(mountinfo())}

    got = run_isolated(body)["ok"]
    assert "masked_dir" in got["list"] and "busybox" not in got["list"]
    assert got["null"]["fmt"] == stat.S_IFCHR
    assert "/proc" in got["mounts"]
    assert_host_clean(tmp_path)
    # /dev was not a tmpfs, so the default nodes went to the rootfs on disk.
    assert stat.S_ISCHR((bundle / "rootfs" / "dev" / "null").lstat().st_mode)


@needs_root
@pytest.mark.parametrize("propagation", ["shared", "rshared", "private", "unbindable"])
def test_rootfs_propagation(tmp_path: Path, propagation: str) -> None:
    bundle = make_bundle(tmp_path)
    config = {"root": {"path": "rootfs"},
              "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
              "linux": {"rootfsPropagation": propagation}}

    def body() -> str:
        prepare_rootfs(config, str(bundle))
        with open("/proc/self/mountinfo") as f:
            return f.read()

    report = run_isolated(body)
    assert "error" not in report, report["error"]
    root_line = next(line for line in report["ok"].splitlines() if line.split()[4] == "/")
    tags = root_line.split(" - ")[0].split()[6:]
    if "shared" in propagation:
        assert any(t.startswith("shared:") for t in tags)
    elif propagation == "unbindable":
        assert "unbindable" in tags
    else:
        assert not any(t.startswith("shared:") for t in tags)
    assert_host_clean(tmp_path)


@needs_root
@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda c: c["mounts"].append({"destination": "/data", "source": "/nope",
                                   "options": ["bind"]}),
     'mounts[1] (/data): mount source "/nope": No such file or directory'),
    (lambda c: c["linux"].update(devices=[{"path": "/dev/x", "type": "x"}]),
     'linux.devices[0].type: unknown device type "x"'),
    (lambda c: c["linux"].update(devices=[{"path": "/dev/shm", "type": "c", "major": 1,
                                           "minor": 3}]),
     "linux.devices[0] (/dev/shm): path exists and is not the requested device"),
    (lambda c: c["linux"].update(rootfsPropagation="sideways"),
     'linux.rootfsPropagation: unknown propagation "sideways"'),
    (lambda c: c["linux"].update(sysctl={"net.foo.bar": "1"}),
     'linux.sysctl: "net.foo.bar": No such file or directory'),
    (lambda c: c["linux"].update(sysctl={"../etc": "1"}),
     'linux.sysctl: "../etc": invalid key'),
    (lambda c: c["mounts"].append({"destination": "/x", "type": "nosuchfs",
                                   "source": "none"}),
     "mounts[1] (/x): mount nosuchfs: No such device"),
])
def test_prepare_rootfs_errors(tmp_path: Path, mutate: Callable[[dict[str, Any]], None],
                               expected: str) -> None:
    bundle = make_bundle(tmp_path)
    config: dict[str, Any] = {
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"devices": [], "sysctl": {}}}
    (bundle / "rootfs" / "dev" / "shm").mkdir()
    mutate(config)
    report = run_isolated(lambda: prepare_rootfs(config, str(bundle)))
    assert report.get("error") == expected
    assert_host_clean(tmp_path)


def _map_self_root() -> None:
    """After unshare(NEWUSER): map our uid/gid 0 to 0 (allowed for one's own ids)."""
    for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


@needs_root
def test_devices_in_user_namespace_are_bind_mounted(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    os.chmod(tmp_path, 0o755)
    config = {"root": {"path": "rootfs"},
              "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                         {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                          "options": ["nosuid", "mode=755"]},
                         {"destination": "/data", "source": str(tmp_path / "hostdata"),
                          "options": ["bind", "ro"]}],
              "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10,
                                     "minor": 229}]}}
    if not os.path.exists("/dev/fuse"):
        config["linux"]["devices"] = []

    def body() -> dict[str, Any]:
        prepare_rootfs(config, str(bundle))
        return {"null": node("/dev/null"), "fuse": node("/dev/fuse"),
                "mounts": mountinfo(), "data": open("/data/hello.txt").read()}

    report = run_isolated(body, flags=sc.CLONE_NEWUSER | sc.CLONE_NEWNS | sc.CLONE_NEWPID,
                          setup=_map_self_root)
    assert "error" not in report, report["error"]
    got = report["ok"]
    assert got["null"]["fmt"] == stat.S_IFCHR and (got["null"]["major"],
                                                   got["null"]["minor"]) == (1, 3)
    assert "/dev/null" in got["mounts"]  # a bind mount, not a mknod
    if config["linux"]["devices"]:
        assert "/dev/fuse" in got["mounts"] and got["fuse"]["minor"] == 229
    assert "ro" in got["mounts"]["/data"]["options"] and got["data"] == "hello"
    assert_host_clean(tmp_path)


@needs_root
def test_idmap_bind_with_mount_mappings(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    config = {"root": {"path": "rootfs"},
              "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                         {"destination": "/data", "source": str(tmp_path / "hostdata"),
                          "options": ["rbind", "idmap"],
                          "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                          "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 10}]}]}

    def body() -> dict[str, Any]:
        prepare_rootfs(config, str(bundle))
        st = os.stat("/data/hello.txt")
        return {"uid": st.st_uid, "gid": st.st_gid, "mounts": mountinfo()}

    report = run_isolated(body)
    if "idmap" in report.get("error", "") and "Invalid argument" in report["error"]:
        pytest.skip(f"filesystem of {tmp_path} does not support idmapped mounts")
    assert "error" not in report, report["error"]
    assert (report["ok"]["uid"], report["ok"]["gid"]) == (1000, 2000)
    assert "idmapped" in report["ok"]["mounts"]["/data"]["options"]
    assert os.stat(tmp_path / "hostdata" / "hello.txt").st_uid == 0
    assert_host_clean(tmp_path)


@needs_root
def test_idmap_without_any_user_namespace_is_an_error(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    config = {"root": {"path": "rootfs"},
              "mounts": [{"destination": "/data", "source": str(tmp_path / "hostdata"),
                          "options": ["bind", "idmap"]}]}
    report = run_isolated(lambda: prepare_rootfs(config, str(bundle)))
    assert report.get("error") == ("mounts[0] (/data): idmap needs uidMappings/gidMappings"
                                   " or a user namespace")


@needs_root
def test_cgroup_mount_in_cgroup_namespace(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    config = {"root": {"path": "rootfs"},
              "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                         {"destination": "/sys/fs/cgroup", "type": "cgroup",
                          "source": "cgroup", "options": ["nosuid", "noexec", "nodev"]}],
              "linux": {"namespaces": [{"type": "cgroup"}]}}

    def body() -> dict[str, Any]:
        prepare_rootfs(config, str(bundle))
        names = sorted(os.listdir("/sys/fs/cgroup"))
        return {"names": names, "mounts": mountinfo(),
                "procs": {n: os.path.exists(f"/sys/fs/cgroup/{n}/cgroup.procs")
                          for n in names}}

    flags = sc.CLONE_NEWNS | sc.CLONE_NEWPID | sc.CLONE_NEWCGROUP
    got = run_isolated(body, flags=flags)["ok"]
    top = got["mounts"]["/sys/fs/cgroup"]
    assert "ro" not in top["options"]
    if top["fstype"] == "cgroup2":
        assert "cgroup.procs" in got["names"]  # v2-only host: one unified mount
        return
    assert got["names"]
    for name in got["names"]:
        sub = got["mounts"][f"/sys/fs/cgroup/{name}"]
        assert sub["fstype"] in ("cgroup", "cgroup2") and got["procs"][name], name
        assert {"nosuid", "nodev", "noexec"} <= set(sub["options"])
    assert_host_clean(tmp_path)


@needs_root
def test_tmpcopyup_keeps_image_content(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    (bundle / "rootfs" / "etc" / "conf").write_text("from-image")
    os.chmod(bundle / "rootfs" / "etc", 0o751)
    config = {"root": {"path": "rootfs"},
              "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                         {"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                          "options": ["tmpcopyup", "nosuid"]}]}

    def body() -> dict[str, Any]:
        prepare_rootfs(config, str(bundle))
        with open("/etc/new", "w") as f:
            f.write("y")
        return {"conf": open("/etc/conf").read(), "mounts": mountinfo(),
                "mode": stat.S_IMODE(os.stat("/etc").st_mode)}

    got = run_isolated(body)["ok"]
    assert got["conf"] == "from-image" and got["mode"] == 0o751
    assert got["mounts"]["/etc"]["fstype"] == "tmpfs"
    assert not (bundle / "rootfs" / "etc" / "new").exists()
    assert_host_clean(tmp_path)

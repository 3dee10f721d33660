"""What a process sees from inside a pyoci container (root only).

Most tests run ``pyoci run`` with a shell script as ``process.args`` and read
its captured stdout; a few create/start a container and observe it from the
host (joining namespaces, the console socket).
"""

from __future__ import annotations

import array
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
from conftest import (
    PYOCI,
    ROOTFS,
    Bundle,
    Pyoci,
    assert_nothing_left,
    needs_root,
)

pytestmark = [pytest.mark.root, needs_root]


def new_id() -> str:
    return f"pyoci-{uuid4().hex[:8]}"


def inside(pyoci: Pyoci, bundle: Bundle, script: str, edit: Callable[[dict], object] | None = None,
           *, run_args: tuple[str, ...] = (), rc: int = 0, **kwargs: object) -> str:
    """Run ``sh -c script`` in a fresh container; return its stdout."""
    if edit is not None:
        bundle.edit(edit)
    bundle.with_args("sh", "-c", script)
    cid = new_id()
    proc = pyoci("run", *run_args, "--bundle", str(bundle.path), cid, check=False,
                 stdin=subprocess.DEVNULL, **kwargs)
    assert proc.returncode == rc, (f"exit {proc.returncode}\nstdout: {proc.stdout.decode()}\n"
                                   f"stderr: {proc.stderr.decode()}")
    assert_nothing_left(pyoci, cid)
    return proc.stdout.decode()


def private_rootfs(bundle: Bundle, readonly: bool = True) -> Path:
    """A copy of the busybox rootfs inside the bundle, used by relative path."""
    root = bundle.path / "rootfs"
    if not root.exists():
        shutil.copytree(ROOTFS, root, symlinks=True)
    bundle.edit(lambda c: c["root"].update(path="rootfs", readonly=readonly))
    return root


def mountinfo(text: str) -> dict[str, tuple[str, set[str], set[str]]]:
    """mount point -> (fstype, per-mount options, superblock options); last mount wins."""
    table = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        table[fields[4]] = (rfields[0], set(fields[5].split(",")), set(rfields[2].split(",")))
    return table


def status_fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


CAP = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10,
       "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21}


def mask(*names: str) -> int:
    return sum(1 << CAP[n] for n in set(names))


# --- identity -------------------------------------------------------------------


def test_pid_1_hostname_domainname(pyoci: Pyoci, bundle: Bundle) -> None:
    out = inside(pyoci, bundle, "echo $$; hostname; cat /proc/sys/kernel/domainname; "
                 "readlink /proc/1/exe; cat /proc/1/cmdline | tr '\\0' ' '",
                 lambda c: c.update(hostname="box-one", domainname="example.org"))
    lines = out.splitlines()
    assert lines[0] == "1"
    assert lines[1] == "box-one"
    assert lines[2] == "example.org"
    assert lines[4].startswith("sh -c echo $$")
    assert os.uname().nodename != "box-one"


def test_root_is_the_bundle_rootfs_and_readonly(pyoci: Pyoci, bundle: Bundle) -> None:
    root = private_rootfs(bundle, readonly=True)
    (root / "marker-only-here").write_text(f"{bundle.path}\n")
    out = inside(pyoci, bundle, "cat /marker-only-here; touch /x 2>&1 || echo refused; "
                 "awk '$5 == \"/\"' /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[0] == str(bundle.path)
    assert "Read-only file system" in lines[1]
    assert lines[2] == "refused"
    assert " ro," in lines[3] or " ro " in lines[3]
    assert not (root / "x").exists()


def test_root_writable_when_not_readonly(pyoci: Pyoci, bundle: Bundle) -> None:
    root = private_rootfs(bundle, readonly=False)
    out = inside(pyoci, bundle, "echo written > /newfile && cat /newfile")
    assert out == "written\n"
    assert (root / "newfile").read_text() == "written\n"


def test_user_namespace_maps(pyoci: Pyoci, bundle: Bundle) -> None:
    def edit(c: dict) -> None:
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1000}]

    out = inside(pyoci, bundle, "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
                 "stat -c %u /bin/busybox; readlink /proc/self/ns/user", edit)
    lines = out.splitlines()
    assert lines[0].split() == ["0", "100000", "65536"]
    assert lines[1].split() == ["0", "200000", "1000"]
    assert lines[2] == "0"
    assert lines[3] == "65534"  # host root is unmapped: the overflow uid
    assert lines[4] != os.readlink("/proc/self/ns/user")


def test_capabilities_root(pyoci: Pyoci, bundle: Bundle) -> None:
    caps = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID",
                         "CAP_SYS_ADMIN"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_KILL"],
            "ambient": ["CAP_NET_BIND_SERVICE"]}
    out = inside(pyoci, bundle, "cat /proc/self/status",
                 lambda c: c["process"].update(capabilities=caps, noNewPrivileges=True))
    st = status_fields(out)
    assert int(st["CapBnd"], 16) == mask(*caps["bounding"])
    assert int(st["CapInh"], 16) == mask(*caps["inheritable"])
    assert int(st["CapAmb"], 16) == mask(*caps["ambient"])
    # uid 0 under no_new_privs: exec keeps the permitted set, all of it effective.
    assert int(st["CapPrm"], 16) == mask(*caps["permitted"])
    assert int(st["CapEff"], 16) == mask(*caps["permitted"])
    assert st["NoNewPrivs"] == "1"


def test_capabilities_non_root_and_new_privs_allowed(pyoci: Pyoci, bundle: Bundle) -> None:
    caps = {"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
            "ambient": ["CAP_NET_BIND_SERVICE"]}
    out = inside(pyoci, bundle, "cat /proc/self/status",
                 lambda c: c["process"].update(capabilities=caps, noNewPrivileges=False,
                                               user={"uid": 1000, "gid": 1000}))
    st = status_fields(out)
    assert int(st["CapBnd"], 16) == mask(*caps["bounding"])
    assert int(st["CapInh"], 16) == mask(*caps["inheritable"])
    # A non-root exec keeps exactly the ambient set.
    assert int(st["CapAmb"], 16) == mask("CAP_NET_BIND_SERVICE")
    assert int(st["CapPrm"], 16) == mask("CAP_NET_BIND_SERVICE")
    assert int(st["CapEff"], 16) == mask("CAP_NET_BIND_SERVICE")
    assert st["NoNewPrivs"] == "0"
    assert st["Uid"].split() == ["1000"] * 4


def test_no_capabilities(pyoci: Pyoci, bundle: Bundle) -> None:
    out = inside(pyoci, bundle, "cat /proc/self/status; kill -0 1 && echo signalled",
                 lambda c: c["process"].pop("capabilities"))
    st = status_fields(out)
    for key in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(st[key], 16) == 0, key


def test_rlimits(pyoci: Pyoci, bundle: Bundle) -> None:
    limits = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 4096},
              {"type": "RLIMIT_CORE", "soft": 1024, "hard": 2048}]
    out = inside(pyoci, bundle, "ulimit -n; ulimit -Hn; grep -E 'open files|core file' "
                 "/proc/self/limits", lambda c: c["process"].update(rlimits=limits))
    lines = out.splitlines()
    assert lines[:2] == ["512", "4096"]
    core = next(line for line in lines if line.startswith("Max core"))
    assert core.split()[4:6] == ["1024", "2048"]
    files = next(line for line in lines if line.startswith("Max open files"))
    assert files.split()[3:5] == ["512", "4096"]


def test_user_groups_umask_cwd_env(pyoci: Pyoci, bundle: Bundle) -> None:
    def edit(c: dict) -> None:
        c["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001],
                                "umask": 0o027}
        c["process"]["cwd"] = "/tmp"
        c["process"]["env"] = ["PATH=/bin:/sbin", "FOO=bar baz", "EMPTY="]
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["mode=1777"]})

    out = inside(pyoci, bundle, "grep -E '^(Uid|Gid|Groups):' /proc/self/status; umask; pwd; "
                 "touch f; stat -c '%a %u %g' f; env | sort", edit,
                 env={**os.environ, "PYOCI_HOST_ONLY": "leak"})
    lines = out.splitlines()
    st = status_fields("\n".join(lines[:3]))
    assert st["Uid"].split() == ["1000"] * 4
    assert st["Gid"].split() == ["1001"] * 4
    assert st["Groups"].split() == ["2000", "2001"]
    assert lines[3] == "0027"
    assert lines[4] == "/tmp"
    assert lines[5] == "640 1000 1001"
    env = lines[6:]
    assert "FOO=bar baz" in env
    assert "EMPTY=" in env
    assert "PATH=/bin:/sbin" in env
    assert not any("PYOCI_HOST_ONLY" in e for e in env)


def test_missing_cwd_is_created(pyoci: Pyoci, bundle: Bundle) -> None:
    root = private_rootfs(bundle, readonly=True)
    out = inside(pyoci, bundle, "pwd; stat -c '%a %u' .",
                 lambda c: c["process"].update(cwd="/work/a/b", user={"uid": 1000, "gid": 1000}))
    assert out.splitlines() == ["/work/a/b", "755 0"]
    assert (root / "work" / "a" / "b").is_dir()


def test_oom_score_adj(pyoci: Pyoci, bundle: Bundle) -> None:
    out = inside(pyoci, bundle, "cat /proc/self/oom_score_adj",
                 lambda c: c["process"].update(oomScoreAdj=123))
    assert out == "123\n"


def test_cgroup_namespace_root(pyoci: Pyoci, bundle: Bundle) -> None:
    out = inside(pyoci, bundle, "cat /proc/self/cgroup; readlink /proc/self/ns/cgroup")
    lines = out.splitlines()
    assert lines[-1] != os.readlink("/proc/self/ns/cgroup")
    assert all(line.rsplit(":", 1)[1] == "/" for line in lines[:-1]), out


# --- mounts ---------------------------------------------------------------------


def test_mounts(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello").write_text("from the host\n")
    private_rootfs(bundle)
    for d in ("data", "scratch"):
        (bundle.path / "rootfs" / d).mkdir()

    def edit(c: dict) -> None:
        c["mounts"] += [
            {"destination": "/data", "type": "bind", "source": str(src),
             "options": ["rbind", "ro"]},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "noexec", "mode=755", "size=1m"]},
        ]

    out = inside(pyoci, bundle, "cat /data/hello; touch /data/x 2>/dev/null || echo ro-refused;"
                 " touch /scratch/y && echo tmpfs-writable; echo ---; cat /proc/self/mountinfo",
                 edit)
    head, _, info = out.partition("---\n")
    assert head.splitlines() == ["from the host", "ro-refused", "tmpfs-writable"]
    m = mountinfo(info)
    assert m["/proc"][0] == "proc"
    fstype, opts, sb = m["/dev"]
    assert fstype == "tmpfs" and "nosuid" in opts and {"mode=755", "size=65536k"} <= sb
    assert m["/dev/pts"][0] == "devpts"
    assert {"nosuid", "noexec"} <= m["/dev/pts"][1]
    assert {"ptmxmode=666", "mode=620", "gid=5"} <= m["/dev/pts"][2]
    assert m["/dev/shm"][0] == "tmpfs" and {"nosuid", "nodev", "noexec"} <= m["/dev/shm"][1]
    assert m["/dev/mqueue"][0] == "mqueue"
    assert m["/sys"][0] == "sysfs" and "ro" in m["/sys"][1]
    assert "ro" in m["/data"][1]
    fstype, opts, sb = m["/scratch"]
    assert fstype == "tmpfs"
    assert {"nosuid", "nodev", "noexec", "rw"} <= opts
    assert {"mode=755", "size=1024k"} <= sb
    assert "ro" in m["/"][1]
    assert not (src / "x").exists()


def test_masked_and_readonly_paths(pyoci: Pyoci, bundle: Bundle) -> None:
    root = private_rootfs(bundle, readonly=False)
    (root / "secret").mkdir()
    (root / "secret" / "key").write_text("s3cr3t\n")
    (root / "secret.txt").write_text("hidden\n")
    (root / "data").mkdir()

    def edit(c: dict) -> None:
        c["linux"]["maskedPaths"] += ["/secret", "/secret.txt", "/does/not/exist"]
        c["linux"]["readonlyPaths"] += ["/data", "/also/missing"]

    out = inside(pyoci, bundle, "ls -A /secret | wc -l; cat /secret.txt | wc -c; "
                 "stat -c '%F %t:%T' /secret.txt /proc/keys; wc -c < /proc/keys; "
                 "touch /secret/new 2>/dev/null || echo masked-dir-ro; "
                 "touch /data/f 2>/dev/null || echo data-ro; "
                 "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo procsys-ro; "
                 "touch /rootfs-writable && echo root-rw", edit)
    lines = out.splitlines()
    assert lines[0] == "0"
    assert lines[1] == "0"
    assert lines[2] == "character special file 1:3"
    assert lines[3] == "character special file 1:3"
    assert lines[4] == "0"
    assert lines[5:] == ["masked-dir-ro", "data-ro", "procsys-ro", "root-rw"]
    assert (root / "secret" / "key").read_text() == "s3cr3t\n"
    assert not (root / "data" / "f").exists()


def test_default_devices(pyoci: Pyoci, bundle: Bundle) -> None:
    out = inside(pyoci, bundle, "for d in null zero full random urandom tty; do "
                 "stat -c '%n %F %t:%T %a' /dev/$d; done; "
                 "for l in ptmx fd stdin stdout stderr; do echo /dev/$l $(readlink /dev/$l); done;"
                 " head -c 4 /dev/zero | wc -c; echo x > /dev/full 2>/dev/null || echo full")
    assert out.splitlines() == [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
        "/dev/ptmx pts/ptmx",
        "/dev/fd /proc/self/fd",
        "/dev/stdin /proc/self/fd/0",
        "/dev/stdout /proc/self/fd/1",
        "/dev/stderr /proc/self/fd/2",
        "4",
        "full",
    ]


def test_linux_devices_entry(pyoci: Pyoci, bundle: Bundle) -> None:
    def edit(c: dict) -> None:
        c["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                  "fileMode": 0o602, "uid": 1234, "gid": 2345}]
        c["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})

    out = inside(pyoci, bundle, "stat -c '%F %t:%T %a %u %g' /dev/mynull; "
                 "echo x > /dev/mynull && echo written", edit)
    # 0602: root without CAP_DAC_OVERRIDE writes through the "other" bits only.
    assert out.splitlines() == ["character special file 1:3 602 1234 2345", "written"]


def test_sysctl(pyoci: Pyoci, bundle: Bundle) -> None:
    out = inside(pyoci, bundle, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax",
                 lambda c: c["linux"].update(sysctl={"net.ipv4.ip_forward": "1",
                                                     "kernel.shmmax": "123456789"}))
    assert out.splitlines() == ["1", "123456789"]
    assert Path("/proc/sys/kernel/shmmax").read_text().strip() != "123456789"


def test_network_namespace_has_lo_up(pyoci: Pyoci, bundle: Bundle) -> None:
    out = inside(pyoci, bundle, "ls /sys/class/net; cat /sys/class/net/lo/flags; "
                 "readlink /proc/self/ns/net")
    lines = out.splitlines()
    assert lines[0] == "lo"
    assert int(lines[1], 16) & 0x1, "lo is not up"
    assert lines[2] != os.readlink("/proc/self/ns/net")


def test_time_namespace_offsets(pyoci: Pyoci, bundle: Bundle) -> None:
    def edit(c: dict) -> None:
        c["linux"]["namespaces"].append({"type": "time"})
        c["linux"]["timeOffsets"] = {"boottime": {"secs": 86400, "nanosecs": 0},
                                     "monotonic": {"secs": 3600}}

    before = float(Path("/proc/uptime").read_text().split()[0])
    out = inside(pyoci, bundle, "cat /proc/uptime; cat /proc/self/timens_offsets", edit)
    after = float(Path("/proc/uptime").read_text().split()[0])
    lines = out.splitlines()
    uptime = float(lines[0].split()[0])
    assert before + 86400 - 1 <= uptime <= after + 86400 + 1
    offsets = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert offsets == {"monotonic": ["3600", "0"], "boottime": ["86400", "0"]}


# --- namespaces by path, --no-pivot ------------------------------------------------


def _detached(pyoci: Pyoci, *args: str) -> None:
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), *args],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                              timeout=60)
        err.seek(0)
        assert proc.returncode == 0, err.read().decode()


def test_join_namespaces_by_path(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    first = new_id()
    a = Bundle(tmp_path / "a").write()
    a.edit(lambda c: (c.update(hostname="alpha"), c["process"].update(args=["sleep", "1000"])))
    _detached(pyoci, "create", "--bundle", str(a.path), first)
    pid = pyoci.state(first)["pid"]

    def edit(c: dict) -> None:
        c.pop("hostname", None)
        for ns in c["linux"]["namespaces"]:
            if ns["type"] in ("uts", "network", "ipc"):
                ns["path"] = f"/proc/{pid}/ns/{'net' if ns['type'] == 'network' else ns['type']}"

    out = inside(pyoci, bundle, "hostname; for n in uts net ipc pid; do "
                 "readlink /proc/self/ns/$n; done", edit)
    lines = out.splitlines()
    assert lines[0] == "alpha"
    assert lines[1] == os.readlink(f"/proc/{pid}/ns/uts")
    assert lines[2] == os.readlink(f"/proc/{pid}/ns/net")
    assert lines[3] == os.readlink(f"/proc/{pid}/ns/ipc")
    assert lines[4] != os.readlink(f"/proc/{pid}/ns/pid")  # not joined: a new one
    assert pyoci.state(first)["status"] == "created"
    pyoci("delete", "--force", first)
    assert_nothing_left(pyoci, first)


def test_join_user_and_pid_namespaces(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    first = new_id()
    a = Bundle(tmp_path / "a").write()

    def edit_a(c: dict) -> None:
        c["process"]["args"] = ["sleep", "1000"]
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]

    a.edit(edit_a)
    _detached(pyoci, "create", "--bundle", str(a.path), first)
    pid = pyoci.state(first)["pid"]
    pyoci("start", first)

    def edit_b(c: dict) -> None:
        c["linux"]["namespaces"] = [
            ns for ns in c["linux"]["namespaces"] if ns["type"] != "pid"] + [
            {"type": "pid", "path": f"/proc/{pid}/ns/pid"},
            {"type": "user", "path": f"/proc/{pid}/ns/user"}]

    out = inside(pyoci, bundle, "echo $$; cat /proc/self/uid_map; "
                 "tr '\\0' ' ' < /proc/1/cmdline; echo; "
                 "for n in user pid; do readlink /proc/self/ns/$n; done", edit_b)
    lines = out.splitlines()
    assert lines[0] != "1"
    assert lines[1].split() == ["0", "100000", "65536"]
    assert lines[2].strip() == "sleep 1000"  # pid 1 here is container A's init
    assert lines[3] == os.readlink(f"/proc/{pid}/ns/user")
    assert lines[4] == os.readlink(f"/proc/{pid}/ns/pid")
    assert pyoci.state(first)["status"] == "running"
    pyoci("delete", "--force", first)
    assert_nothing_left(pyoci, first)


def test_no_pivot(pyoci: Pyoci, bundle: Bundle) -> None:
    root = private_rootfs(bundle)
    (root / "no-pivot-marker").write_text("here\n")
    out = inside(pyoci, bundle, "cat /no-pivot-marker; echo $$; ls /proc/1/root/ >/dev/null "
                 "&& echo ok", run_args=("--no-pivot",))
    assert out.splitlines() == ["here", "1", "ok"]


# --- file descriptors ------------------------------------------------------------


def _run_with_fds(pyoci: Pyoci, bundle: Bundle, script: str, fds: dict[int, int],
                  *extra: str, env: dict | None = None) -> str:
    """pyoci run with ``fds`` (target number -> our fd) open and inheritable."""
    bundle.with_args("sh", "-c", script)
    cid = new_id()

    def place() -> None:
        for target, fd in fds.items():
            os.dup2(fd, target)

    proc = subprocess.run([*PYOCI, "--root", str(pyoci.root), "run", *extra, "--bundle",
                           str(bundle.path), cid], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, close_fds=False, preexec_fn=place,
                          env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert_nothing_left(pyoci, cid)
    fds, _, rest = proc.stdout.decode().partition("---\n")
    return " ".join(sorted(fds.split(), key=int)) + "\n" + rest


# The shell is pid 1 and holds no pipe of its own while ls lists its fds.
FD_SCRIPT = "ls -1 /proc/1/fd; echo ---; cat <&3 2>/dev/null || echo no-fd-3"


def test_stray_fds_do_not_reach_the_container(pyoci: Pyoci, bundle: Bundle,
                                              tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("fd three\n")
    fd = os.open(data, os.O_RDONLY)
    try:
        out = _run_with_fds(pyoci, bundle, FD_SCRIPT, {3: fd, 10: fd, 42: fd})
    finally:
        os.close(fd)
    assert out.splitlines() == ["0 1 2", "no-fd-3"]


def test_preserve_fds(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("fd three\n")
    fd = os.open(data, os.O_RDONLY)
    try:
        out = _run_with_fds(pyoci, bundle, FD_SCRIPT, {3: fd, 4: fd, 10: fd},
                            "--preserve-fds", "1")
    finally:
        os.close(fd)
    assert out.splitlines() == ["0 1 2 3", "fd three"]


def test_listen_fds(pyoci: Pyoci, bundle: Bundle, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("socket one\n")
    fd = os.open(data, os.O_RDONLY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    env["LISTEN_FDS"] = "2"
    try:
        out = _run_with_fds(pyoci, bundle, FD_SCRIPT + "; echo $LISTEN_FDS $LISTEN_PID",
                            {3: fd, 4: fd, 5: fd}, env=env)
    finally:
        os.close(fd)
    assert out.splitlines() == ["0 1 2 3 4", "socket one", "2 1"]


# --- the console socket ----------------------------------------------------------


@pytest.mark.parametrize("size", [None, {"height": 40, "width": 123}])
def test_console_socket(pyoci: Pyoci, bundle: Bundle, tmp_path: Path,
                        size: dict | None) -> None:
    path = tmp_path / "console.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    listener.settimeout(30)
    bundle.edit(lambda c: c["process"].update(
        terminal=True, args=["sh", "-c", "tty; readlink /proc/self/fd/0; stty size; "
                             "ls /dev/console >/dev/null && echo console; echo done-$$"],
        **({"consoleSize": size} if size else {})))
    cid = new_id()
    received: dict[str, object] = {}

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            fds = array.array("i")
            msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
            received["fds"] = list(fds)
            received["name"] = msg

    thread = threading.Thread(target=accept)
    thread.start()
    master = None
    try:
        _detached(pyoci, "create", "--bundle", str(bundle.path), "--console-socket", str(path),
                  cid)
        thread.join(30)
        assert received.get("fds") and len(received["fds"]) == 1, received  # type: ignore[arg-type]
        master = received["fds"][0]  # type: ignore[index]
        assert os.isatty(master)
        pyoci("start", cid)
        output = b""
        deadline = time.monotonic() + 10
        while b"done-1" not in output and time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the slave side closed
                break
            if not chunk:
                break
            output += chunk
        text = output.decode().replace("\r", "")
        lines = text.splitlines()
        assert lines[0].startswith("/dev/pts/") or lines[0] == "/dev/console", text
        assert lines[1].startswith("/dev/pts/") or lines[1] == "/dev/console", text
        if size:  # busybox stty fails on a 0x0 window, the default
            assert lines[2] == f"{size['height']} {size['width']}", text
        assert "console" in lines, text
        assert "done-1" in text
    finally:
        listener.close()
        if master is not None:
            os.close(master)
        pyoci("delete", "--force", cid, check=False)
    assert_nothing_left(pyoci, cid)


def test_terminal_without_console_socket_fails(pyoci: Pyoci, bundle: Bundle) -> None:
    bundle.edit(lambda c: c["process"].update(terminal=True))
    cid = new_id()
    proc = pyoci("create", "--bundle", str(bundle.path), cid, check=False,
                 stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert b"console-socket" in proc.stderr
    assert_nothing_left(pyoci, cid)

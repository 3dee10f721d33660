"""Rootless as a real user: spec --rootless + run, subordinate ids, refusals.

A throw-away system user (unique name, home under /tmp) is created for the
module and given a subuid/subgid range with usermod, which locks the files and
leaves every other entry alone; userdel removes the user, its group, home and
ranges at the end, whatever happened. pyoci then runs as that user through
setpriv, with XDG_RUNTIME_DIR a private 0700 directory of its own, so the
default state directory is $XDG_RUNTIME_DIR/pyoci.

Ranges beyond the user's own id are written by newuidmap/newgidmap (Debian's
uidmap); what they refuse, and what cannot work without privileges at all,
must fail with one line and leave nothing behind.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PYOCI, ROOTFS, needs_root, private_rootfs, processes_with, reap_children

pytestmark = needs_root

SUB_COUNT = 65536
WARNING = "pyoci: warning:"


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: Path
    sub_start: int  # the same range for subuid and subgid

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def state_root(self) -> Path:
        return self.run_dir / "pyoci"

    def owns(self, uid: int) -> bool:
        """The user's id or one of its subordinate ids: a process of this test."""
        return uid == self.uid or self.sub_start <= uid < self.sub_start + SUB_COUNT


def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _admin(*argv: str) -> None:
    """useradd/usermod/userdel, retried while another process holds the passwd lock."""
    for _ in range(20):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode == 0:
            return
        if "lock" not in done.stderr:
            break
        time.sleep(0.5)
    raise AssertionError(f"{' '.join(argv)}: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    for tool in ("useradd", "usermod", "userdel", "setpriv", "newuidmap", "newgidmap"):
        _tool(tool)
    if not ROOTFS.exists():
        pytest.skip(f"{ROOTFS} is not built")
    name = f"pyocirl{uuid.uuid4().hex[:8]}"
    home = Path("/tmp") / name
    start = 1_000_000 + random.randrange(4000) * SUB_COUNT  # noqa: S311 - not crypto
    last = start + SUB_COUNT - 1
    # A system user: useradd gives it no subordinate ids of its own, only ours.
    _admin(_tool("useradd"), "--system", "--create-home", "--home-dir", str(home),
           "--shell", "/bin/sh", "--user-group", name)
    pw = pwd.getpwnam(name)
    u = User(name, pw.pw_uid, pw.pw_gid, home, start)
    try:
        _admin(_tool("usermod"), "--add-subuids", f"{start}-{last}",
               "--add-subgids", f"{start}-{last}", name)
        home.chmod(0o755)
        u.run_dir.mkdir(mode=0o700)
        os.chown(u.run_dir, u.uid, u.gid)
        yield u
    finally:
        _kill_processes_of(u)
        _admin(_tool("userdel"), "--force", "--remove", name)
        shutil.rmtree(home, ignore_errors=True)
        reap_children()
    for table in ("/etc/subuid", "/etc/subgid", "/etc/passwd", "/etc/group"):
        assert f"{name}:" not in Path(table).read_text(), f"{name} left in {table}"


def _kill_processes_of(user: User) -> None:
    """Containers a failed test left: every process of the test user or its
    ranges was started by this module (the user exists only for it)."""
    for pid in _processes_of(user):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _processes_of(user: User) -> list[int]:
    """Live host pids whose real uid is the user's or one of its subordinate ids."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("State", "").split()[:1] == ["Z"]:
            continue
        if user.owns(int(fields["Uid"].split()[0])):
            pids.append(int(entry.name))
    return pids


def _as_user(user: User, *args: str, path: str = "/usr/bin:/bin", capture: bool = True,
             argv0: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run pyoci (or ``argv0``) as the user, in a login-like environment.

    Without ``capture`` stdio is /dev/null: a created container's init keeps
    its stdio open, so pipes would never close."""
    env = {"PATH": path, "HOME": str(user.home), "USER": user.name, "LOGNAME": user.name,
           "XDG_RUNTIME_DIR": str(user.run_dir)}
    cmd = [_tool("setpriv"), f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups",
           *(argv0 or PYOCI), *args]
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, text=True,
                          timeout=60, env=env, cwd="/", check=False)


def _errors(stderr: str) -> list[str]:
    """stderr without the documented warnings (running without cgroups)."""
    return [line for line in stderr.splitlines() if line and not line.startswith(WARNING)]


def _bundle(user: User) -> Path:
    """A bundle the user owns whose ``rootfs`` is a private copy of the demo
    rootfs (hard links, owned by root: read and run, never written)."""
    bundle = private_rootfs().parent
    os.chown(bundle, user.uid, user.gid)
    return bundle


def _spec(user: User, bundle: Path) -> dict:
    out = _as_user(user, "spec", "--rootless", "--bundle", str(bundle))
    assert out.returncode == 0, out.stderr
    return json.loads((bundle / "config.json").read_text())


def _write(bundle: Path, config: dict) -> None:
    (bundle / "config.json").write_text(json.dumps(config))


def _subid_config(user: User, bundle: Path, args: list[str], host_start: int | None = None,
                  gid_start: int | None = None) -> dict:
    """spec --rootless, with root mapped to the user and 1..65536 to a subordinate range."""
    config = _spec(user, bundle)
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    for key, start in (("uidMappings", host_start), ("gidMappings", gid_start)):
        own = user.uid if key == "uidMappings" else user.gid
        config["linux"][key] = [
            {"containerID": 0, "hostID": own, "size": 1},
            {"containerID": 1, "hostID": start or user.sub_start, "size": SUB_COUNT},
        ]
    _write(bundle, config)
    return config


def _assert_nothing_left(user: User, cid: str) -> None:
    assert not (user.state_root / cid).exists(), "state dir left behind"
    assert processes_with(cid) == [], "pyoci processes left behind"
    assert _processes_of(user) == [], "container processes left behind"


def _cid() -> str:
    return f"pyoci-rls-{uuid.uuid4().hex[:6]}"


# -- (a) spec --rootless + run, as is ----------------------------------------


def test_spec_rootless_is_runc_s_rootless_spec(user: User) -> None:
    config = _spec(user, _bundle(user))
    linux = config["linux"]
    kinds = [ns["type"] for ns in linux["namespaces"]]
    assert "user" in kinds and "network" not in kinds
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": user.uid, "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": user.gid, "size": 1}]
    assert "resources" not in linux
    mounts = {m["destination"]: m for m in config["mounts"]}
    assert mounts["/sys"]["type"] == "none" and "rbind" in mounts["/sys"]["options"]
    assert "/sys/fs/cgroup" not in mounts
    assert not [o for m in config["mounts"] for o in m.get("options", [])
                if o.startswith(("uid=", "gid="))]


def test_spec_rootless_runs_as_is(user: User) -> None:
    """Only args change: the terminal stays on, so the run gets script's pty."""
    script = shutil.which("script")
    if script is None:
        pytest.skip("script (bsdutils) is not installed")
    bundle = _bundle(user)
    config = _spec(user, bundle)
    config["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map; exit 3"]
    _write(bundle, config)
    cid = _cid()
    run = " ".join([*PYOCI, "run", "--bundle", str(bundle), cid])
    out = _as_user(user, "-qec", run, "/dev/null", argv0=[script])
    assert out.returncode == 3, out.stdout
    lines = [line.split() for line in out.stdout.splitlines() if not line.startswith(WARNING)]
    assert lines[:2] == [["0"], ["0", str(user.uid), "1"]], out.stdout
    _assert_nothing_left(user, cid)


# -- (b) subordinate ranges through newuidmap/newgidmap -------------------------


def test_subordinate_ranges_are_mapped_by_newuidmap(user: User) -> None:
    bundle = _bundle(user)
    data = user.home / f"data-{uuid.uuid4().hex[:6]}"
    data.mkdir(mode=0o755)
    os.chown(data, user.uid, user.gid)
    config = _subid_config(user, bundle, [
        "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; "
                    "touch /tmp/f && chown 1000:1000 /tmp/f && ls -ln /tmp/f"])
    config["mounts"].append({"destination": "/tmp", "type": "bind", "source": str(data),
                             "options": ["bind", "rw"]})
    for kind in ("bounding", "effective", "permitted"):  # runc's default set lacks it
        config["process"]["capabilities"][kind].append("CAP_CHOWN")
    _write(bundle, config)
    cid = _cid()
    out = _as_user(user, "run", "--bundle", str(bundle), cid)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    both = [["0", str(user.uid), "1"], ["1", str(user.sub_start), str(SUB_COUNT)]]
    assert rows[0:2] == both, out.stdout  # uid_map
    assert rows[2:4] == [["0", str(user.gid), "1"], both[1]], out.stdout  # gid_map
    # newgidmap allows setgroups when every range is one /etc/subgid grants.
    assert rows[4] == ["allow"], out.stdout
    assert rows[5][2:4] == ["1000", "1000"], out.stdout
    host = (data / "f").stat()
    assert (host.st_uid, host.st_gid) == (user.sub_start + 999, user.sub_start + 999)
    _assert_nothing_left(user, cid)


# -- (c) state under $XDG_RUNTIME_DIR/pyoci -----------------------------------


def test_lifecycle_as_the_user_keeps_state_under_xdg_runtime_dir(user: User) -> None:
    bundle = _bundle(user)
    _subid_config(user, bundle, ["sleep", "1000"])
    cid = _cid()
    out = _as_user(user, "create", "--bundle", str(bundle), cid, capture=False)
    assert out.returncode == 0
    try:
        state_file = user.state_root / cid / "state.json"
        assert state_file.exists()
        assert state_file.stat().st_uid == user.uid
        state = json.loads(_as_user(user, "state", cid).stdout)
        assert state["status"] == "created" and state["pid"] > 0
        status = Path(f"/proc/{state['pid']}/status").read_text()
        assert f"Uid:\t{user.uid}\t" in status  # container root is the user on the host
        assert _as_user(user, "list", "-q").stdout.split() == [cid]
        assert _as_user(user, "start", cid).returncode == 0
        assert json.loads(_as_user(user, "state", cid).stdout)["status"] == "running"
        assert _as_user(user, "kill", cid, "KILL").returncode == 0
    finally:
        deleted = _as_user(user, "delete", "--force", cid)
        reap_children()
    assert deleted.returncode == 0, deleted.stderr
    _assert_nothing_left(user, cid)


# -- (d) ranges the administrator did not grant -------------------------------


@pytest.mark.parametrize("which", ["uid", "gid"])
def test_ungranted_range_is_refused_with_newuidmap_s_reason(user: User, which: str) -> None:
    """A gid refusal comes after newuidmap succeeded: the rollback must still be whole."""
    bundle = _bundle(user)
    outside = user.sub_start + SUB_COUNT  # just past the granted range
    _subid_config(user, bundle, ["true"], host_start=outside if which == "uid" else None,
                  gid_start=outside if which == "gid" else None)
    cid = _cid()
    out = _as_user(user, "run", "--bundle", str(bundle), cid)
    assert out.returncode != 0
    errors = _errors(out.stderr)
    key = "uidMappings" if which == "uid" else "gidMappings"
    expected = (f"pyoci: linux.{key}: new{which}map: {which} range [1-{SUB_COUNT + 1}) -> "
                f"[{outside}-{outside + SUB_COUNT}) not allowed")
    assert errors == [expected], out.stderr
    _assert_nothing_left(user, cid)


# -- (e) what cannot work without privileges ----------------------------------


def _run_with(user: User, change: dict, args: list[str] | None = None,
              path: str = "/usr/bin:/bin") -> tuple[subprocess.CompletedProcess, str]:
    bundle = _bundle(user)
    config = _spec(user, bundle)
    config["process"]["terminal"] = False
    config["process"]["args"] = args or ["true"]
    for key, value in change.items():
        if key == "namespaces":
            config["linux"]["namespaces"].append(value)
        else:
            config["linux"][key] = value
    _write(bundle, config)
    cid = _cid()
    return _as_user(user, "run", "--bundle", str(bundle), cid, path=path), cid


def test_limits_without_a_delegated_cgroup_are_refused(user: User) -> None:
    out, cid = _run_with(user, {"resources": {"memory": {"limit": 64 << 20}}})
    if "running without cgroups" not in out.stderr:
        pytest.skip("a cgroup is delegated to the user here: the limit applies")
    assert out.returncode != 0
    assert _errors(out.stderr) == [
        "pyoci: linux.resources.memory: cannot set memory limits rootless: the container "
        "could not join or create a cgroup (none is delegated to this user)"], out.stderr
    _assert_nothing_left(user, cid)


def test_net_devices_are_refused(user: User) -> None:
    out, cid = _run_with(user, {"namespaces": {"type": "network"},
                                "netDevices": {"pyrl0": {}}})
    assert out.returncode != 0
    assert _errors(out.stderr) == [
        "pyoci: linux.netDevices: moving a host network interface into the container needs "
        "root (CAP_NET_ADMIN in the host's network namespace): not possible rootless"]
    _assert_nothing_left(user, cid)


def test_devices_are_bind_mounted_from_the_host_not_made(user: User) -> None:
    """mknod needs CAP_MKNOD in the initial namespace: the host's node is bound (README)."""
    device = {"path": "/dev/pyrl-null", "type": "c", "major": 1, "minor": 3}
    out, cid = _run_with(user, {"devices": [device]}, ["ls", "-ln", "/dev/pyrl-null"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("crw") and "1,   3" in out.stdout, out.stdout
    _assert_nothing_left(user, cid)
    missing = {"path": "/dev/pyrl-none", "type": "c", "major": 1, "minor": 99}
    out, cid = _run_with(user, {"devices": [missing]})
    assert out.returncode != 0
    assert _errors(out.stderr) == [
        "pyoci: linux.devices[0] (/dev/pyrl-none): no host device 1:99 to bind: "
        "No such file or directory"], out.stderr
    _assert_nothing_left(user, cid)


def test_sysctls_only_in_namespaces_the_container_owns(user: User) -> None:
    key = "net.ipv4.tcp_keepalive_time"  # the host's network namespace: not ours
    current = int(Path("/proc/sys/net/ipv4/tcp_keepalive_time").read_text())
    out, cid = _run_with(user, {"sysctl": {key: str(current + 1)}})
    assert out.returncode != 0
    assert _errors(out.stderr) == [f'pyoci: linux.sysctl: "{key}": Permission denied']
    assert int(Path("/proc/sys/net/ipv4/tcp_keepalive_time").read_text()) == current
    _assert_nothing_left(user, cid)
    # The container's own ipc namespace: allowed.
    out, cid = _run_with(user, {"sysctl": {"kernel.msgmax": "9000"}},
                         ["cat", "/proc/sys/kernel/msgmax"])
    assert (out.returncode, out.stdout.strip()) == (0, "9000"), out.stderr
    _assert_nothing_left(user, cid)


# -- (f) no newuidmap ---------------------------------------------------------


def test_without_newuidmap_only_the_own_id_can_be_mapped(user: User) -> None:
    empty = Path("/tmp") / f"pyoci-rls-path-{uuid.uuid4().hex[:6]}"
    empty.mkdir(mode=0o755)
    try:
        bundle = _bundle(user)
        _subid_config(user, bundle, ["true"])
        cid = _cid()
        out = _as_user(user, "run", "--bundle", str(bundle), cid, path=str(empty))
        assert out.returncode != 0
        errors = _errors(out.stderr)
        assert len(errors) == 1, out.stderr
        assert errors[0].startswith("pyoci: linux.uidMappings: mapping [0->"), out.stderr
        assert "needs newuidmap (package uidmap), which is not on PATH" in errors[0]
        _assert_nothing_left(user, cid)
        # The single mapping of spec --rootless needs no helper.
        out, cid = _run_with(user, {}, ["id", "-u"], path=str(empty))
        assert (out.returncode, out.stdout) == (0, "0\n"), out.stderr
    finally:
        empty.rmdir()

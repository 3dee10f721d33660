"""Shared fixtures: a pyoci runner with a private --root, bundles, leak checks.

Integration tests create real containers as root. The test process makes
itself a child subreaper, because a container's init is reparented to the
nearest subreaper once ``pyoci create`` exits, and PID 1 on these machines
does not reap orphans; the fixtures reap after every test.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTFS = REPO / "bundles" / "busybox" / "rootfs"
DEMO_CONFIG = REPO / "bundles" / "busybox" / "config.json"
SPEC_DIR = Path(os.environ.get("OCI_SPEC_DIR", REPO.parent / "shared" / "runtime-spec-v1.3.0"))
PYOCI = [str(REPO / ".venv" / "bin" / "pyoci")] if (REPO / ".venv" / "bin" / "pyoci").exists() \
    else [sys.executable, "-m", "pyoci"]
CGROUP_ROOT = Path("/sys/fs/cgroup")


def launcher_path_lines() -> str:
    """The sys.path set-up of the pyoci launcher, line for line, for probes
    that run pyoci.cli in ``python -I -S`` exactly as the launcher would."""
    return "\n".join(line for line in Path(PYOCI[0]).read_text().splitlines()
                     if line.startswith("sys.path"))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (creates real containers)")


def reap_children() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


_ROOTFS_BASE = Path("/tmp") / f"pyoci-test-rootfs-{os.getpid()}"


def private_rootfs() -> Path:
    """A hard-linked copy of the demo rootfs, under a world-traversable directory so
    that a container whose root is an unprivileged host uid (user namespace) can
    still reach it, unlike pytest's 0700 tmp_path."""
    import tempfile

    _ROOTFS_BASE.mkdir(mode=0o755, exist_ok=True)
    target = Path(tempfile.mkdtemp(dir=_ROOTFS_BASE))
    target.chmod(0o755)
    rootfs = target / "rootfs"

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(ROOTFS, rootfs, symlinks=True, copy_function=link_or_copy)
    return rootfs


@pytest.fixture(scope="session", autouse=True)
def subreaper() -> Iterator[None]:
    if os.geteuid() == 0:
        from pyoci.syscalls import set_child_subreaper

        set_child_subreaper()
    yield
    reap_children()
    shutil.rmtree(_ROOTFS_BASE, ignore_errors=True)


class Pyoci:
    """Runs the real ``pyoci`` binary with a private ``--root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, check: bool = True, input: bytes | None = None,
                 timeout: float = 60, global_args: tuple[str, ...] = (),
                 **kwargs: object) -> subprocess.CompletedProcess:
        cmd = [*PYOCI, "--root", str(self.root), *global_args, *args]
        proc = subprocess.run(cmd, capture_output=True, input=input, timeout=timeout,
                              **kwargs)  # type: ignore[call-overload]
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                                 f"stdout: {proc.stdout.decode()}\nstderr: {proc.stderr.decode()}")
        return proc

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid).stdout)

    def ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())


@pytest.fixture
def pyoci(tmp_path: Path) -> Iterator[Pyoci]:
    runner = Pyoci(tmp_path / "state")
    yield runner
    for cid in runner.ids():
        runner("delete", "--force", "--", cid, check=False)
    reap_children()
    assert runner.ids() == [], f"state dirs left behind: {runner.ids()}"


def base_config() -> dict:
    with open(DEMO_CONFIG) as f:
        config = json.load(f)
    config["root"]["path"] = str(ROOTFS)
    config["process"]["terminal"] = False
    return config


class Bundle:
    """A bundle directory whose config starts as the demo's, with a private rootfs.

    The rootfs is a hard-linked copy of the demo's (directories new, files shared):
    cheap, and mount points or device nodes a test makes never land in the shared
    demo rootfs, where they would change what other tests see.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.config = base_config()
        path.mkdir(parents=True, exist_ok=True)
        self.rootfs = private_rootfs()
        self.config["root"]["path"] = str(self.rootfs)

    def write(self, config: dict | None = None) -> Bundle:
        if config is not None:
            self.config = config
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))
        return self

    def with_args(self, *args: str) -> Bundle:
        self.config["process"]["args"] = list(args)
        return self.write()

    def edit(self, fn) -> Bundle:  # noqa: ANN001
        cfg = copy.deepcopy(self.config)
        fn(cfg)
        return self.write(cfg)


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    if not (ROOTFS / "bin" / "busybox").exists():
        pytest.skip(f"{ROOTFS} is not built: run bundles/busybox/build-rootfs.sh")
    return Bundle(tmp_path / "bundle").write()


def cgroup_dirs(name: str) -> list[Path]:
    """Every cgroup directory of that name in any hierarchy (v1 and unified)."""
    found = []
    for hierarchy in CGROUP_ROOT.iterdir():
        candidate = hierarchy / name
        if candidate.is_dir():
            found.append(candidate)
    return found


def mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def processes_with(text: str) -> list[int]:
    """Host pids whose command line mentions ``text`` (alive, not zombie), among
    those started after this test process: what pyoci may have left behind, and
    not a daemon of the machine whose flags happen to contain a generated id
    (pid 1 here runs with --auth-required: the id "requ" matched it)."""
    ours = _start_time(Path("/proc/self/stat").read_text())
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state = stat.rsplit(")", 1)[1].split()[0]
        if text.encode() in cmdline and state != "Z" and _start_time(stat) >= ours:
            pids.append(int(entry.name))
    return pids


def _start_time(stat: str) -> int:
    """Field 22 of /proc/<pid>/stat: when the process started, in clock ticks."""
    return int(stat.rsplit(")", 1)[1].split()[19])


def assert_nothing_left(pyoci: Pyoci, cid: str) -> None:
    assert not (pyoci.root / cid).exists(), f"state dir of {cid} left behind"
    assert cgroup_dirs(cid) == [], f"cgroups left behind: {cgroup_dirs(cid)}"
    assert mounts_mentioning(cid) == [], "mounts left behind"
    assert processes_with(cid) == [], "processes left behind"


@pytest.fixture
def spec_dir() -> Path:
    if not (SPEC_DIR / "schema").is_dir():
        pytest.skip(f"runtime-spec folder not found at {SPEC_DIR} (set OCI_SPEC_DIR)")
    return SPEC_DIR


def official_validator(spec_dir: Path, schema_name: str):  # noqa: ANN201
    """A jsonschema validator for one of the spec's official (draft-04) schemas."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    schema_dir = spec_dir / "schema"
    resources = []
    for path in schema_dir.glob("*.json"):
        doc = json.loads(path.read_text())
        resources.append((path.as_uri(), Resource.from_contents(doc, default_specification=DRAFT4)))
        resources.append((path.name, Resource.from_contents(doc, default_specification=DRAFT4)))
    registry = Registry().with_resources(resources)
    schema = json.loads((schema_dir / schema_name).read_text())
    schema.setdefault("$id", (schema_dir / schema_name).as_uri())
    return jsonschema.Draft4Validator(schema, registry=registry)


__all__ = ["Bundle", "Pyoci", "assert_nothing_left", "needs_root", "official_validator"]

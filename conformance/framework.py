"""The conformance suite's check registry and the context every check runs in.

How to write a check
====================

Checks live in ``conformance/checks/<specfile>.py`` (``runtime.py``,
``runtime_linux.py``, ``config.py``, ``config_linux.py``, ``features.py``,
``hooks.py``); every module in that package is imported automatically. A check
is a function taking a :class:`Context`, registered with :func:`check`::

    from conformance.framework import Context, check, require

    @check(id="config.hostname.set", spec="config.md#hostname", level="MUST",
           text="hostname ... Runtimes MUST set the container's hostname ...")
    def hostname_set(ctx: Context) -> None:
        bundle = ctx.bundle()
        bundle.config["hostname"] = "conf-host"
        out = ctx.output(bundle, "hostname")        # runs the container, returns stdout
        require(out.strip() == "conf-host", f"hostname inside is {out.strip()!r}")

Rules, because the suite is only worth something if every check can fail:

* ``id`` is unique, dotted, starts with the spec file's stem (``config.``,
  ``config-linux.`` -> ``linux.``, ``runtime.``, ``runtime-linux.`` -> ``rtlinux.``,
  ``hooks.``, ``features.``). ``spec`` is ``<file>.md#<section>``; ``text`` quotes
  the requirement and contains the ``level`` keyword (MUST/SHOULD/MAY) verbatim.
* Observe the effect, never the runtime's own claims: from inside the container
  (busybox reading ``/proc``) via :meth:`Context.output` / :meth:`Context.run`, or
  from the host via ``/proc/<pid>`` (:meth:`Context.host_pid`), cgroup files,
  :meth:`Context.nsenter`. ``state`` is only evidence for checks about ``state``.
* ``require(cond, why)`` / ``fail(why)`` fail the check; ``skip(why)`` is only for
  a host that lacks the feature (AppArmor, resctrl, a cgroup v2 controller), with
  the reason. A check the host supports never skips.
* Expected errors: ``ctx.create(bundle, check=False)`` returns the :class:`Proc`
  (``.ok``, ``.rc``, ``.err``) instead of failing; ``ctx.expect_error(proc, what)``
  fails unless the runtime reported an error. After an expected error, also prove
  "no effect" (``ctx.status(cid) is None``, process still there, ...).
* Bundles: :meth:`Context.bundle` gives a private bundle whose ``config`` dict is a
  small runc-like Linux config (see :func:`base_config`; args ``["true"]``, no
  terminal, pid/net/ipc/uts/mount namespaces, hostname ``conformance``) and whose
  rootfs is a hard-linked copy of the busybox rootfs. Files are shared with the
  source rootfs, so never modify an existing file in place: use
  :meth:`Bundle.put` (it unlinks first). Mutate ``bundle.config`` freely; it is
  written when the container is created (or call :meth:`Bundle.write`).
* Everything a check creates is removed after it (``delete --force`` of every id
  it created, leftover processes killed, mounts under its work dir detached, the
  work dir removed). Register your own host-side clean-up with ``ctx.defer(fn)``.
* Every runtime call has a timeout (``CALL_TIMEOUT``) and every check a deadline
  (``CHECK_TIMEOUT``), so a hanging runtime fails a check instead of the suite.
* A created container keeps create's stdio: the context gives the runtime files,
  never pipes. The suite is a child subreaper and reaps after every call, so an
  exited container's status becomes ``stopped``.
* Keep checks quick: typically one container; no timing assertions.

Which module owns what: ``runtime.py`` (runtime.md), ``hooks.py`` (the hook
lifecycle of config.md#posix-platform-hooks and runtime.md#lifecycle),
``runtime_linux.py`` (runtime-linux.md plus config-linux.md's default filesystems
and devices), ``features.py`` (features.md, features-linux.md claims),
``config.py`` and ``config_linux.py`` (the rest of config*.md).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import importlib
import itertools
import json
import os
import pkgutil
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOTFS = REPO / "bundles" / "busybox" / "rootfs"
DEFAULT_SPEC_DIR = REPO.parent / "shared" / "runtime-spec-v1.3.0"
CALL_TIMEOUT = 30.0  # seconds for one runtime invocation
CHECK_TIMEOUT = 120.0  # seconds for one check, all calls included
STATUS_TIMEOUT = 10.0  # seconds to wait for a status change
LEVELS = ("MUST", "REQUIRED", "SHOULD", "MAY")  # RFC 2119 keywords; REQUIRED == MUST
PR_SET_CHILD_SUBREAPER = 36


class Skip(Exception):
    """The host lacks what the check needs; the message says what."""


class Fail(AssertionError):
    """The runtime does not do what the check requires; the message says why."""


class CheckTimeout(Exception):
    """The check ran past CHECK_TIMEOUT (raised from SIGALRM)."""


def require(cond: object, why: str) -> None:
    """Fail the check with ``why`` unless ``cond`` holds."""
    if not cond:
        raise Fail(why)


def fail(why: str) -> None:
    raise Fail(why)


def skip(why: str) -> None:
    raise Skip(why)


@dataclass(frozen=True)
class Check:
    """One registered requirement-level check."""

    id: str
    spec: str
    level: str
    text: str
    func: Callable[[Context], None]


REGISTRY: dict[str, Check] = {}
_SPEC_RE = re.compile(r"^[a-z-]+\.md#[A-Za-z0-9_.-]+$")


def check(*, id: str, spec: str, level: str, text: str) -> Callable:  # noqa: A002
    """Register the decorated function as a check (see the module docstring)."""
    if level not in LEVELS:
        raise ValueError(f"{id}: level must be one of {LEVELS}")
    if level not in text:
        raise ValueError(f"{id}: text must quote the requirement's {level}")
    if not _SPEC_RE.match(spec):
        raise ValueError(f"{id}: spec must look like file.md#section, not {spec!r}")

    def register(func: Callable[[Context], None]) -> Callable[[Context], None]:
        if id in REGISTRY:
            raise ValueError(f"duplicate check id {id}")
        REGISTRY[id] = Check(id, spec, level, " ".join(text.split()), func)
        return func

    return register


def discover() -> list[Check]:
    """Import every module of conformance.checks; return the checks in order."""
    from conformance import checks

    for info in sorted(pkgutil.iter_modules(checks.__path__), key=lambda m: m.name):
        importlib.import_module(f"conformance.checks.{info.name}")
    return list(REGISTRY.values())


# ---------------------------------------------------------------- host helpers


def set_child_subreaper() -> None:
    """Orphaned container inits are reparented to us, so we can reap them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap() -> None:
    """Collect every exited child (container inits reparented to us).

    Only called when no subprocess of ours is running, so it never steals the
    exit status subprocess.run waits for.
    """
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (reaps first)."""
    reap()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def ns_id(pid: int | str, kind: str) -> str:
    """The namespace link of ``pid`` (e.g. ``mnt:[4026531840]``)."""
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def proc_status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def cgroup_v1_mount(controller: str) -> Path | None:
    """The host's v1 hierarchy for ``controller``, if mounted."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fields = post.split()
        if fields and fields[0] == "cgroup" and controller in fields[2].split(","):
            return Path(pre.split()[4])
    return None


def cgroup_mounts() -> list[Path]:
    """Every cgroup (v1) and cgroup2 mount point of the host."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        if post.split()[:1] in (["cgroup"], ["cgroup2"]):
            mounts.append(Path(pre.split()[4]))
    return mounts


def cgroup_dirs(cgroups_path: str) -> list[Path]:
    """The host directories that exist for ``cgroups_path`` in any hierarchy."""
    rel = cgroups_path.strip("/")
    return [m / rel for m in cgroup_mounts() if rel and (m / rel).is_dir()]


def remove_cgroup_dirs(cgroups_path: str) -> None:
    """Best-effort rmdir of ``cgroups_path`` everywhere (for ctx.defer)."""
    for path in cgroup_dirs(cgroups_path):
        with contextlib.suppress(OSError):
            path.rmdir()


def _closed(schema: Any) -> Any:
    """The schema with additionalProperties false wherever properties are listed."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def load_schema_validator(spec_dir: Path, name: str,
                          closed: bool = False) -> Callable[[Any], list[str]]:
    """A function returning the schema errors of a document, from the spec's schema/;
    ``closed`` also rejects properties the schema does not define."""
    try:
        import jsonschema
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4
    except ImportError:
        skip("the jsonschema package is not installed for this Python")
    schema_dir = spec_dir / "schema"
    if not (schema_dir / name).is_file():
        schema_dir = REPO / "schemas"
    if not (schema_dir / name).is_file():
        skip(f"no {name} under {spec_dir}/schema (pass --spec-dir)")
    registry = Registry()
    for path in schema_dir.glob("*.json"):
        doc = json.loads(path.read_text())
        resource = Resource.from_contents(_closed(doc) if closed else doc,
                                          default_specification=DRAFT4)
        registry = registry.with_resource(path.as_uri(), resource)
    schema = json.loads((schema_dir / name).read_text())
    schema = _closed(schema) if closed else schema
    schema["id"] = (schema_dir / name).as_uri()  # draft-04: relative $refs resolve here
    validator = jsonschema.Draft4Validator(schema, registry=registry)
    return lambda doc: [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                        for e in validator.iter_errors(doc)]


# ---------------------------------------------------------------- bundles


def base_config(rootfs: Path, oci_version: str = "1.3.0") -> dict:
    """A small runc-like Linux config every check starts from."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": oci_version,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["true"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": False},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        },
    }


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@dataclass
class Bundle:
    """A private bundle: ``path/config.json`` plus a hard-linked rootfs copy."""

    path: Path
    rootfs: Path
    config: dict

    def write(self) -> Bundle:
        """Write ``config`` to ``config.json`` (create/run do this for you)."""
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))
        return self

    def set_args(self, *args: str) -> Bundle:
        self.config["process"]["args"] = list(args)
        return self

    def sh(self, script: str) -> Bundle:
        """Make the process ``sh -c script`` (busybox sh)."""
        return self.set_args("sh", "-c", script)

    def put(self, path: str, content: str | bytes = b"", mode: int = 0o644) -> Path:
        """Create a file inside the rootfs (unlinking a shared hard link first)."""
        target = self.rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        data = content.encode() if isinstance(content, str) else content
        target.write_bytes(data)
        target.chmod(mode)
        return target

    def namespaces(self) -> list[dict]:
        return self.config.setdefault("linux", {}).setdefault("namespaces", [])


# ---------------------------------------------------------------- runtime calls


@dataclass
class Proc:
    """One finished runtime invocation."""

    args: list[str]
    rc: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def describe(self) -> str:
        msg = (self.err.strip() or self.out.strip())[-400:]
        return f"`{' '.join(self.args)}` exit {self.rc}: {msg}"


@dataclass
class Runtime:
    """A runtime under test: a display name and an absolute executable path."""

    name: str
    path: str

    def version(self) -> str:
        try:
            proc = subprocess.run([self.path, "--version"], capture_output=True,
                                  timeout=CALL_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"unknown ({err})"
        return (proc.stdout or proc.stderr).decode(errors="replace").strip().splitlines()[0]


_ids = itertools.count(1)


@dataclass
class Context:
    """What a check gets: the runtime, a private work dir and state root, helpers."""

    runtime: Runtime
    workdir: Path
    source_rootfs: Path
    spec_dir: Path
    oci_version: str = "1.3.0"  # base configs' ociVersion (--oci-version)
    ids: list[str] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    _deferred: list[Callable[[], object]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """The ``--root`` state directory private to this check."""
        return self.workdir / "state"

    # -- set-up

    def new_id(self) -> str:
        cid = f"cf{os.getpid()}-{next(_ids)}"
        self.ids.append(cid)
        return cid

    def bundle(self, *args: str) -> Bundle:
        """A private bundle (see the module docstring); ``args`` set process.args."""
        path = Path(tempfile.mkdtemp(prefix="bundle-", dir=self.workdir))
        path.chmod(0o755)
        rootfs = path / "rootfs"
        shutil.copytree(self.source_rootfs, rootfs, symlinks=True, copy_function=_link_or_copy)
        bundle = Bundle(path, rootfs, base_config(rootfs, self.oci_version))
        if args:
            bundle.set_args(*args)
        return bundle

    def path(self, name: str) -> Path:
        """A host path inside this check's work dir (for logs, markers)."""
        return self.workdir / name

    def defer(self, func: Callable[[], object]) -> None:
        """Run ``func`` at clean-up, before containers are deleted (LIFO)."""
        self._deferred.append(func)

    # -- raw calls

    def rt(self, *args: str, timeout: float = CALL_TIMEOUT, stdin: int | Path | None = None,
           stdout: Path | None = None, stderr: Path | None = None,
           pass_fds: tuple[int, ...] = (), cwd: Path | None = None,
           global_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
           fd3: Path | None = None) -> Proc:
        """``RUNTIME --root ROOT [global_args] args...`` with file stdio; never raises on
        a non-zero exit (a timeout is a Fail). ``env`` adds to the suite's environment;
        ``fd3`` hands the runtime an extra fd 3 open on that file."""
        argv = [self.runtime.path, "--root", str(self.root), *global_args, *args]
        if fd3 is not None:  # the runtime inherits fd 3 open on this file
            argv = ["/bin/sh", "-c", 'exec "$@" 3<"$0"', str(fd3), *argv]
        stamp = next(_ids)
        out_path = stdout or self.workdir / f".out-{stamp}"
        err_path = stderr or self.workdir / f".err-{stamp}"
        stdin_cm = open(stdin, "rb") if isinstance(stdin, Path) else contextlib.nullcontext(
            subprocess.DEVNULL if stdin is None else stdin)
        with stdin_cm as fin, open(out_path, "ab") as fout, open(err_path, "ab") as ferr:
            start_out, start_err = fout.tell(), ferr.tell()
            try:
                proc = subprocess.run(argv, stdin=fin, stdout=fout, stderr=ferr,
                                      timeout=timeout, pass_fds=pass_fds, cwd=cwd, check=False,
                                      env=None if env is None else {**os.environ, **env})
            except subprocess.TimeoutExpired:
                reap()
                raise Fail(f"`{' '.join(args)}` did not return within {timeout:.0f}s") from None
        reap()
        out = _read_from(out_path, start_out)
        err = _read_from(err_path, start_err)
        return Proc(list(args), proc.returncode, out, err)

    # -- lifecycle

    def create(self, bundle: Bundle, cid: str | None = None, *flags: str, check: bool = True,
               **kwargs: Any) -> Proc:
        """``create --bundle B [flags] ID``; the container's stdio goes to
        :meth:`out_file`/:meth:`err_file` of ``cid``. Fails unless ``check`` is False."""
        cid = cid or self.new_id()
        if cid not in self.ids:
            self.ids.append(cid)
        bundle.write()
        proc = self.rt("create", "--bundle", str(bundle.path), *flags, cid,
                       stdout=self.out_file(cid), stderr=self.err_file(cid), **kwargs)
        proc.cid = cid  # type: ignore[attr-defined]
        if check and not proc.ok:
            fail(f"create failed: {proc.describe()}")
        return proc

    def created(self, bundle: Bundle, *flags: str, **kwargs: Any) -> str:
        """Create a container that must succeed; return its id."""
        return self.create(bundle, None, *flags, **kwargs).cid  # type: ignore[attr-defined]

    def out_file(self, cid: str) -> Path:
        return self.workdir / f"{cid.replace('/', '%')}.stdout"

    def err_file(self, cid: str) -> Path:
        return self.workdir / f"{cid.replace('/', '%')}.stderr"

    def out(self, cid: str) -> str:
        """What the container (and create) wrote to stdout so far."""
        return _read_from(self.out_file(cid), 0)

    def _op(self, op: str, cid: str, *rest: str, check: bool) -> Proc:
        proc = self.rt(op, *rest, cid) if op != "kill" else self.rt(op, cid, *rest)
        if check and not proc.ok:
            fail(f"{op} failed: {proc.describe()}")
        return proc

    def start(self, cid: str, check: bool = True) -> Proc:
        return self._op("start", cid, check=check)

    def kill(self, cid: str, sig: str = "KILL", check: bool = True) -> Proc:
        return self._op("kill", cid, sig, check=check)

    def delete(self, cid: str, force: bool = False, check: bool = True) -> Proc:
        return self._op("delete", cid, *(["--force"] if force else []), check=check)

    def state(self, cid: str) -> dict:
        """The parsed ``state`` document; fails if the runtime errors."""
        proc = self.rt("state", cid)
        if not proc.ok:
            fail(f"state failed: {proc.describe()}")
        try:
            doc = json.loads(proc.out)
        except ValueError:
            fail(f"state printed no JSON: {proc.out[:200]!r}")
        if isinstance(doc, dict) and isinstance(doc.get("pid"), int) and doc["pid"] > 0:
            self.pids.setdefault(cid, doc["pid"])
        return doc

    def status(self, cid: str) -> str | None:
        """The reported status, or None if ``state`` errors (no such container)."""
        proc = self.rt("state", cid)
        if not proc.ok:
            return None
        with contextlib.suppress(ValueError, AttributeError):
            return json.loads(proc.out).get("status")
        return None

    def wait_status(self, cid: str, want: str, timeout: float = STATUS_TIMEOUT) -> None:
        """Poll ``state`` until ``status == want``; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.status(cid)
            if last == want:
                return
            time.sleep(0.02)
        fail(f"status stayed {last!r}, never {want!r}")

    def host_pid(self, cid: str) -> int:
        """The container process's pid on the host, from ``state`` and checked in /proc."""
        pid = self.state(cid).get("pid")
        require(isinstance(pid, int) and pid > 0, f"state has no usable pid: {pid!r}")
        require(Path(f"/proc/{pid}").exists(), f"state pid {pid} does not exist on the host")
        return pid

    def run(self, bundle: Bundle, *flags: str, timeout: float = CALL_TIMEOUT) -> Proc:
        """``run`` the container in the foreground: ``rc`` is the process's exit code,
        ``out``/``err`` are what it (and the runtime) wrote."""
        cid = self.new_id()
        bundle.write()
        return self.rt("run", "--bundle", str(bundle.path), *flags, cid, timeout=timeout)

    def output(self, bundle: Bundle, script: str | None = None) -> str:
        """Run ``sh -c script`` (or the bundle's args); fail unless it exits 0; stdout."""
        if script is not None:
            bundle.sh(script)
        proc = self.run(bundle)
        if not proc.ok:
            fail(f"container failed: {proc.describe()}")
        return proc.out

    def expect_error(self, proc: Proc, what: str) -> None:
        """Fail unless the runtime call reported an error."""
        require(not proc.ok, f"{what}: the runtime reported success (exit 0)")

    def nsenter(self, pid: int, flags: str, *cmd: str) -> str:
        """Run a host command in ``pid``'s namespaces (``flags`` e.g. ``-u -n``)."""
        proc = subprocess.run(["nsenter", "-t", str(pid), *flags.split(), *cmd],
                              capture_output=True, timeout=CALL_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
        if proc.returncode:
            fail(f"nsenter {flags} {' '.join(cmd)}: {proc.stderr.decode().strip()}")
        return proc.stdout.decode()

    def schema_errors(self, doc: Any, schema: str, closed: bool = False) -> list[str]:
        """Errors of ``doc`` against the spec's ``schema/<schema>`` (``closed``: no
        properties beyond the schema's)."""
        return load_schema_validator(self.spec_dir, schema, closed)(doc)

    def features(self) -> dict:
        """The runtime's ``features`` document; skips if it has none (features.md: a
        runtime MAY provide it), fails if it is not JSON."""
        proc = self.rt("features")
        if not proc.ok:
            skip(f"the runtime provides no features document (MAY): {proc.describe()}")
        try:
            return json.loads(proc.out)
        except ValueError:
            fail(f"features printed no JSON: {proc.out[:200]!r}")
        return {}

    # -- clean-up

    def cleanup(self) -> list[str]:
        """Remove everything the check made; return notes about leftovers."""
        notes: list[str] = []
        for func in reversed(self._deferred):
            with contextlib.suppress(Exception):
                func()
        for cid in self.ids:
            with contextlib.suppress(Fail, OSError):
                if self.root.exists() and self.status(cid) is not None:
                    self.rt("delete", "--force", cid, timeout=CALL_TIMEOUT)
                    if self.status(cid) is not None:
                        notes.append(f"{cid} survived delete --force")
        for cid, pid in self.pids.items():
            if pid_alive(pid) and _is_container_init(pid):
                notes.append(f"{cid}: pid {pid} still alive after clean-up; killed")
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        reap()
        _detach_mounts_under(self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return notes


def _is_container_init(pid: int) -> bool:
    """Guard against pid reuse: only kill a process in a pid namespace other than ours."""
    with contextlib.suppress(OSError):
        return ns_id(pid, "pid") != ns_id("self", "pid")
    return False


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _detach_mounts_under(path: Path) -> None:
    """Lazily unmount anything under ``path`` so rmtree never crosses into a mount."""
    prefix = str(path) + "/"
    targets = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for target in sorted((t for t in targets if t.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


# ---------------------------------------------------------------- running


@dataclass
class Result:
    check: Check
    status: str  # "pass" | "fail" | "skip"
    detail: str
    seconds: float


def _alarm(_signum: int, _frame: object) -> None:
    raise CheckTimeout(f"check exceeded {CHECK_TIMEOUT:.0f}s")


@contextlib.contextmanager
def _deadline() -> Iterator[None]:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CHECK_TIMEOUT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_check(chk: Check, runtime: Runtime, base: Path, rootfs: Path, spec_dir: Path,
              oci_version: str = "1.3.0") -> Result:
    """Run one check in a fresh context; classify the outcome; always clean up."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{chk.id}-", dir=base))
    workdir.chmod(0o755)
    ctx = Context(runtime, workdir, rootfs, spec_dir, oci_version)
    began = time.monotonic()
    status, detail = "pass", ""
    try:
        with _deadline():
            chk.func(ctx)
    except Skip as err:
        status, detail = "skip", str(err)
    except Fail as err:
        status, detail = "fail", str(err) or "failed"
    except (CheckTimeout, Exception) as err:  # a broken check or runtime still yields a row
        status, detail = "fail", f"error: {type(err).__name__}: {err}"
    finally:
        notes = ctx.cleanup()
    if notes:
        detail = "; ".join(filter(None, [detail, *notes]))
    return Result(chk, status, " ".join(detail.split()), time.monotonic() - began)


def copy_config(config: dict) -> dict:
    """A deep copy, for checks that build variants of one config."""
    return copy.deepcopy(config)

"""The per-container state store under ``--root``.

One directory per container holds ``state.json`` (written atomically through a
temporary file and rename) and ``exec.sock``, the socket the container init
waits on until ``start``. Every command that changes a container holds an
``flock`` on its directory, so two commands never interleave their writes.
The status the user sees is *derived* from the live process every time it is
read (a recorded pid is trusted only while its start time still matches), so a
container whose init died, even by ``kill -9`` behind pyoci's back, reads as
``stopped`` and a recycled pid is never mistaken for the container.
"""

from __future__ import annotations

import errno
import fcntl
import posix  # not os: see pyoci/paths.py
import time

from pyoci import SPEC_VERSION, jsonio, paths
from pyoci.errors import ContainerNotFound, PyociError

STATE_FILE = "state.json"
EXEC_SOCKET = "exec.sock"
# The init's comm while it waits for start; its execve replaces it. Without
# it, a start killed after the exec but before it removed exec.sock would
# leave a running container that reads as "created".
INIT_WAITING_NAME = b"pyoci:init"

CREATING = "creating"
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"


def rfc3339_now() -> str:
    """RFC 3339 UTC timestamp with nanoseconds, as runc writes ``created``."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class ProcessIdentity:
    """A pid plus its start time: together they name one process for good."""

    __slots__ = ("pid", "start_time")

    def __init__(self, pid: int = 0, start_time: int = 0) -> None:
        self.pid = pid
        self.start_time = start_time

    def to_json(self) -> dict:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        stat = read_proc_stat(pid)
        return cls(pid, stat[1] if stat else 0)

    def state(self) -> str | None:
        """The kernel's one-letter state of this very process, or None if it is gone."""
        if self.pid <= 0:
            return None
        stat = read_proc_stat(self.pid)
        if stat is None or stat[1] != self.start_time:
            return None
        return stat[0]

    def alive(self) -> bool:
        """Running in any sense but zombie: a zombie has finished its work."""
        st = self.state()
        return st is not None and st not in ("Z", "X")


def read_proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


class ContainerState:
    """What pyoci remembers about a container between commands.

    A plain class rather than a dataclass: importing dataclasses (and with it
    inspect) costs several milliseconds on every command.
    """

    _PLAIN = ("id", "bundle", "rootfs", "created", "owner", "status", "annotations", "cgroup",
              "systemd_cgroup", "rootless", "config")

    def __init__(self, id: str, bundle: str, rootfs: str, created: str = "",  # noqa: A002
                 owner: str = "", status: str = CREATING,
                 init: ProcessIdentity | None = None, creator: ProcessIdentity | None = None,
                 annotations: dict[str, str] | None = None, cgroup: dict | None = None,
                 systemd_cgroup: bool = False, rootless: bool = False,
                 config: dict | None = None) -> None:
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.owner = owner
        self.status = status
        self.init = init or ProcessIdentity()
        self.creator = creator or ProcessIdentity()
        self.annotations = annotations or {}
        self.cgroup = cgroup or {}
        self.systemd_cgroup = systemd_cgroup
        self.rootless = rootless
        self.config = config or {}

    @classmethod
    def from_json(cls, doc: dict) -> ContainerState:
        kwargs = {k: doc[k] for k in cls._PLAIN if k in doc}
        init = ProcessIdentity(**doc.get("init", {}))
        creator = ProcessIdentity(**doc.get("creator", {}))
        for ident in (init, creator):  # a TypeError here reads as "corrupt state file"
            if type(ident.pid) is not int or type(ident.start_time) is not int:
                raise TypeError("init/creator: pid and start_time must be integers")
        return cls(init=init, creator=creator, **kwargs)

    def to_json(self) -> dict:
        doc = {k: getattr(self, k) for k in self._PLAIN}
        doc["init"] = self.init.to_json()
        doc["creator"] = self.creator.to_json()
        return doc

    def current_status(self, directory: str) -> str:
        """The status right now, from the live process rather than the file."""
        if self.status == CREATING:
            return CREATING if self.creator.alive() else STOPPED
        if not self.init.alive():
            return STOPPED
        if self.cgroup and _is_frozen(self.cgroup):
            return PAUSED  # before "created": runc pauses a created container too
        if self.status == CREATED and paths.exists(paths.join(directory, EXEC_SOCKET)) \
                and _comm(self.init.pid) == INIT_WAITING_NAME:
            return CREATED
        return RUNNING

    def public(self, status: str) -> dict:
        """The state document of runtime.md (plus runc's rootfs/created/owner)."""
        doc = {
            "ociVersion": SPEC_VERSION,
            "id": self.id,
            "pid": self.init.pid if status not in (STOPPED, CREATING) else 0,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        }
        if self.annotations:
            doc["annotations"] = self.annotations
        return doc


def _comm(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return b""
    return raw[raw.find(b"(") + 1:raw.rfind(b")")]


def socket_path(directory: str, dirfd: int) -> str:
    """A path to exec.sock short enough for sun_path (108 bytes) however deep --root is."""
    path = paths.join(directory, EXEC_SOCKET)
    return path if len(path) < 100 else f"/proc/self/fd/{dirfd}/{EXEC_SOCKET}"


def _is_frozen(cgroup: dict) -> bool:
    from pyoci.cgroups import is_frozen

    return is_frozen(cgroup)


class StateFileMissing(ContainerNotFound):
    """A container directory without state.json: a create that has not written it
    yet, or one killed before it could. Such a container does not exist (``list``
    skips it too); ``delete --force`` removes the directory."""

    def __init__(self, path: str) -> None:
        PyociError.__init__(self, f'container "{paths.basename(paths.dirname(path))}" '
                                  f"does not exist ({path}: state file missing)")


class ContainerDir:
    """An open, locked container directory; use as a context manager."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            posix.close(self.fd)
            self.fd = -1

    def __enter__(self) -> ContainerDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def file(self, name: str) -> str:
        return paths.join(self.path, name)

    def load(self) -> ContainerState:
        try:
            with open(self.file(STATE_FILE), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise StateFileMissing(self.file(STATE_FILE)) from None
        try:
            return ContainerState.from_json(jsonio.loads(raw))
        except (ValueError, TypeError, AttributeError) as e:
            raise PyociError(f"{self.file(STATE_FILE)}: corrupt state file: {e}") from None

    def save(self, state: ContainerState) -> None:
        """Write state.json so that a reader sees the old or the new file, never half."""
        tmp = self.file(f".{STATE_FILE}.tmp")
        data = jsonio.dumps(state.to_json()).encode()
        flags = posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC | posix.O_CLOEXEC
        fd = posix.open(tmp, flags, 0o600)
        try:
            view = memoryview(data)
            while view:  # write(2) may write less than asked
                view = view[posix.write(fd, view):]
        finally:
            posix.close(fd)
        posix.rename(tmp, self.file(STATE_FILE))

    def remove(self) -> None:
        """Remove the directory and everything in it (files only: create makes no subdirs)."""
        for name in posix.listdir(self.path):
            try:
                posix.unlink(self.file(name))
            except FileNotFoundError:
                pass
        try:
            posix.rmdir(self.path)
        except FileNotFoundError:
            pass


class StateStore:
    """The ``--root`` directory: one subdirectory per container."""

    def __init__(self, root: str) -> None:
        self.root = paths.absolute(root)

    def path(self, cid: str) -> str:
        return paths.join(self.root, cid)

    def create(self, cid: str) -> ContainerDir:
        """Claim a new id: mkdir is atomic, so of two racing creates exactly one wins."""
        import os  # create's path imports os anyway

        os.makedirs(self.root, mode=0o700, exist_ok=True)
        path = self.path(cid)
        try:
            posix.mkdir(path, 0o700)
        except FileExistsError:
            raise PyociError(f'container with id "{cid}" already exists') from None
        fd = posix.open(path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return ContainerDir(path, fd)

    def open(self, cid: str, *, lock: bool = True) -> ContainerDir:
        """Open an existing container's directory, locked unless ``lock`` is False."""
        path = self.path(cid)
        try:
            fd = posix.open(path, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerNotFound(cid) from None
        if lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # The holder before us may have deleted the container.
            if _is_unlinked(fd):
                posix.close(fd)
                raise ContainerNotFound(cid)
        return ContainerDir(path, fd)

    def ids(self) -> list[str]:
        try:
            names = posix.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if paths.isfile(paths.join(self.root, n, STATE_FILE)))


def _is_unlinked(fd: int) -> bool:
    try:
        return posix.fstat(fd).st_nlink == 0
    except OSError as e:
        return e.errno == errno.ENOENT

"""What the parent hands the forked children: the config and everything create
opened for them.

Its own module so that the parent builds it without importing the init's code
(pyoci.process.init and the rootfs, setup and security modules under it): stage
1 imports that itself. A stage 1 forked early (pyoci.process.prefork) was not
there when the context was built, so it gets it over the sync channel
(``send_context``): the fields as JSON in a memfd (a config has no size limit,
a message has), the fds alongside.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up
import posix  # not os: see pyoci/paths.py

from pyoci import jsonio
from pyoci.namespaces import NamespacePlan
from pyoci.process import protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyoci.cgroups.join import CgroupJoin

PREFAULT_BELOW = 64 << 20


class InitContext:
    """Everything the children need; fork hands it over without serialising."""

    def __init__(self, container_id: str, bundle: str, config: dict,
                 namespaces: NamespacePlan, *, exec_listener: socket.socket | None = None,
                 console_socket: socket.socket | None = None, preserve_fds: int = 0,
                 no_pivot: bool = False, no_new_keyring: bool = False,
                 extra_env: list[str] | None = None, debug: bool = False,
                 parent_fds: list[int] | None = None, rootless: bool = False) -> None:
        self.container_id = container_id
        self.bundle = bundle
        self.config = config
        self.namespaces = namespaces
        self.exec_listener = exec_listener
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.extra_env = extra_env or []
        self.debug = debug
        # The parent's fds the children must not keep, e.g. the state dir's flock.
        self.parent_fds = parent_fds or []
        self.rootless = rootless
        # The state document (runtime.md) for createContainer and startContainer
        # hooks, set by create when the config has hooks; the init fills in its
        # host pid (from RESUME) and the status of the moment.
        self.hook_state: dict | None = None
        # Stage 1 sets it for the init: the files GO brought (pyoci.cgroups.join).
        self.cgroup_join: CgroupJoin | None = None

    @property
    def prefaults(self) -> bool:
        """Whether the init copies every page it shares with pyoci before it
        joins the cgroup (and says PREFAULTED): only below PREFAULT_BELOW of
        memory limit, where those ~6 MiB of copies would be charged to the
        container and could exhaust it; above it they fit anyway and the ~3 ms
        of CPU are saved."""
        memory = ((self.config.get("linux") or {}).get("resources") or {}).get("memory") or {}
        limit = memory.get("limit")
        return isinstance(limit, int) and 0 < limit < PREFAULT_BELOW


# The fields that travel as they are; the rest are fds, or the parent's own.
_PLAIN_FIELDS = ("container_id", "bundle", "config", "preserve_fds", "no_pivot",
                 "no_new_keyring", "extra_env", "debug", "rootless", "hook_state")


def send_context(chan: socket.socket, ctx: InitContext) -> None:
    """CONTEXT for a stage 1 forked before ``ctx`` existed. ``parent_fds`` stay
    behind: that child never had them (and an fd of that number there is
    another file)."""
    doc: dict[str, object] = {name: getattr(ctx, name) for name in _PLAIN_FIELDS}
    fds: list[int] = []

    def slot(fd: int) -> int:
        fds.append(fd)
        return len(fds)  # 0 is the memfd

    doc["new_namespaces"] = ctx.namespaces.new
    doc["join_namespaces"] = {kind: slot(fd) for kind, fd in ctx.namespaces.join.items()}
    for name in ("exec_listener", "console_socket"):
        sock = getattr(ctx, name)
        doc[name] = slot(sock.fileno()) if sock is not None else None
    memfd = posix.memfd_create("pyoci-context", posix.MFD_CLOEXEC)
    try:
        data = memoryview(jsonio.dumps(doc).encode())
        while data:
            data = data[posix.write(memfd, data):]
        protocol.send_fds(chan, protocol.Message(protocol.CONTEXT), [memfd, *fds])
    finally:
        posix.close(memfd)


def receive_context(chan: socket.socket) -> InitContext:
    """The child's side of ``send_context``."""
    msg = protocol.expect(chan, protocol.CONTEXT)
    try:
        doc = _read_all(msg.fds[0])
    finally:
        posix.close(msg.fds[0])
    fds = msg.fds

    def sock(slot: int | None) -> socket.socket | None:
        return None if slot is None else socket.socket(fileno=fds[slot])

    namespaces = NamespacePlan(doc["new_namespaces"],
                               {kind: fds[i] for kind, i in doc["join_namespaces"].items()})
    ctx = InitContext(doc["container_id"], doc["bundle"], doc["config"], namespaces,
                      exec_listener=sock(doc["exec_listener"]),
                      console_socket=sock(doc["console_socket"]),
                      preserve_fds=doc["preserve_fds"], no_pivot=doc["no_pivot"],
                      no_new_keyring=doc["no_new_keyring"], extra_env=doc["extra_env"],
                      debug=doc["debug"], rootless=doc["rootless"])
    ctx.hook_state = doc["hook_state"]
    return ctx


def _read_all(fd: int) -> dict:
    """The memfd's JSON, read at its size (a read of a fixed 1 MiB allocated that
    much twice, the second time only to find the end, for a ~2 KiB config)."""
    size = posix.fstat(fd).st_size
    chunks = []
    offset = 0
    while offset < size and (chunk := posix.pread(fd, size - offset, offset)):
        chunks.append(chunk)
        offset += len(chunk)
    return jsonio.loads(b"".join(chunks))

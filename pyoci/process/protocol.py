"""The parent/child sync protocol: one message type over one SEQPACKET socket.

``create`` (the parent) and the processes it forks (stage 1, then the
container init) take turns:

    parent -> CONTEXT  only to a stage 1 forked early (pyoci.process.prefork):
                       its InitContext, as JSON in a memfd, and its fds
    child  -> READY    it has joined or unshared its user namespace
    parent -> GO       uid/gid maps written: unshare the other namespaces; the
                       cgroup's files come along (pyoci.cgroups.join), through
                       which the init joins its v1 hierarchies itself
    child  -> PID      the container init's host pid (after the pid-ns fork),
                       and whether it was born in its v2 cgroup (clone3)
    and only when the parent still has to put the init in a cgroup (the v2
    one when clone3 was refused, or all with the systemd driver's new scope):
    init   -> PREFAULTED  under a small memory limit only: its pages are its
                       own now (see process.context), it may join the cgroup
    parent -> JOINED   the init is in its cgroup
    init   -> PREPIVOT every mount is in place, the root not yet pivoted: the
                       parent's turn (netDevices, prestart/createRuntime hooks)
    parent -> RESUME   done, with the init's host pid (for its hooks): pivot and
                       carry on
    init   -> SECCOMP  its seccomp filter is loaded; the notify fd rides along
                       (SCM_RIGHTS) for the parent to forward to listenerPath
    parent -> SECCOMP_DONE  forwarded: carry on
    init   -> CREATED  the rootfs and process are ready; blocked until start
    any    -> ERROR    what failed, with its context; the sender then exits

A SEQPACKET socket keeps message boundaries, and its EOF tells the parent that
every child end is closed, so a child that dies without a word is noticed.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up
import posix as os  # not os: see pyoci/paths.py
import sys

from pyoci import jsonio
from pyoci.errors import PyociError

CONTEXT = "context"
READY = "ready"
GO = "go"
JOINED = "joined"
PID = "pid"
PREFAULTED = "prefaulted"
PREPIVOT = "prepivot"
RESUME = "resume"
CREATED = "created"
SECCOMP = "seccomp"
SECCOMP_DONE = "seccompdone"
ERROR = "error"

_MAX_MESSAGE = 65536
_MAX_FDS = 32  # GO: a tasks file per v1 hierarchy (13 kinds) and the v2 directory
_FD_SPACE = socket.CMSG_SPACE(4 * _MAX_FDS)
_CLOEXEC = socket.MSG_CMSG_CLOEXEC


class Message:
    __slots__ = ("kind", "pid", "error", "fds", "joined", "cgroup")

    def __init__(self, kind: str, pid: int = 0, error: str = "", *, joined: bool = False,
                 cgroup: dict | None = None) -> None:
        self.kind = kind
        self.pid = pid
        self.error = error
        self.joined = joined  # PID: the init was born in its v2 cgroup
        self.cgroup = cgroup  # GO: CgroupJoin.describe() of the fds that come along
        self.fds: list[int] = []  # received fds (SCM_RIGHTS); the receiver must close them

    @property
    def fd(self) -> int:
        """The first received fd, or -1 (SECCOMP carries one)."""
        return self.fds[0] if self.fds else -1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self._key() == other._key()

    def _key(self) -> tuple:
        return (self.kind, self.pid, self.error, self.joined, self.cgroup)

    def __repr__(self) -> str:
        return f"Message({self.kind!r}, pid={self.pid}, error={self.error!r})"

    def encode(self) -> bytes:
        doc: dict[str, object] = {"kind": self.kind}
        if self.pid:
            doc["pid"] = self.pid
        if self.error:
            # Capped so the JSON (at most 12 bytes a character) fits one receive.
            doc["error"] = self.error[:4096]
        if self.joined:
            doc["joined"] = True
        if self.cgroup is not None:
            doc["cgroup"] = self.cgroup
        return jsonio.dumps(doc).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Message:
        doc = jsonio.loads(raw)
        cgroup = doc.get("cgroup")
        return cls(doc["kind"], int(doc.get("pid", 0)), str(doc.get("error", "")),
                   joined=doc.get("joined") is True,
                   cgroup=cgroup if isinstance(cgroup, dict) else None)


class ChannelClosed(PyociError):
    """The other side closed the channel without saying why."""


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(parent end, child end); both close-on-exec, as Python makes them."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, msg: Message) -> None:
    sock.send(msg.encode())


def send_bytes_with_fds(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    """socket.send_fds on a _socket object (socket.py and the array module it
    needs are not loaded): the pty master, the seccomp notify fd, GO's files."""
    if not fds:
        sock.send(data)
        return
    if len(fds) > _MAX_FDS:
        raise PyociError(f"sync protocol: {len(fds)} fds in one message (at most {_MAX_FDS})")
    packed = b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, packed)])


def send_fds(sock: socket.socket, msg: Message, fds: list[int]) -> None:
    """Send ``msg`` with ``fds`` attached."""
    send_bytes_with_fds(sock, msg.encode(), fds)


def fds_from(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The fds an SCM_RIGHTS message carried (socket.recv_fds without socket.py)."""
    return [int.from_bytes(data[i:i + 4], sys.byteorder)
            for level, kind, data in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
            for i in range(0, len(data) - 3, 4)]


def receive(sock: socket.socket) -> Message:
    # Received fds close on exec, as the ones a fork hands down do: none may
    # reach the container's process unless the init passes it on itself.
    try:
        raw, ancillary, _, _ = sock.recvmsg(_MAX_MESSAGE, _FD_SPACE, _CLOEXEC)
    except ConnectionResetError:
        # The peer closed with a message of ours unread (a JOINED to an init that
        # failed meanwhile): the kernel reports that once, ahead of the messages
        # the peer sent before closing, which are still queued (its ERROR).
        raw, ancillary, _, _ = sock.recvmsg(_MAX_MESSAGE, _FD_SPACE, _CLOEXEC)
    if not raw:
        raise ChannelClosed("container init exited before it was ready")
    fds = fds_from(ancillary)
    try:
        msg = Message.decode(raw)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    msg.fds = fds
    return msg


def expect(sock: socket.socket, *kinds: str) -> Message:
    """Receive the next message, of one of ``kinds``; a child's ERROR becomes our error."""
    msg = receive(sock)
    if msg.kind == ERROR:
        raise PyociError(msg.error)
    if msg.kind not in kinds:
        raise PyociError(f"sync protocol: expected {' or '.join(kinds)}, got {msg.kind}")
    return msg


def report_error(chan: socket.socket, exc: BaseException, debug: bool) -> None:
    """A child's last word: ``exc`` as one ERROR line (with ``debug``, where it
    was raised); a parent that is gone already is not an error."""
    if isinstance(exc, PyociError):
        text = exc.message
    elif isinstance(exc, OSError):
        text = f"{exc.strerror or exc}" if not exc.filename else f"{exc.filename}: {exc.strerror}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    if debug:
        text += " [" + _where(exc) + "]"
    try:
        send(chan, Message(ERROR, error=text))
    except OSError:
        pass


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}")
        tb = tb.tb_next
    return " < ".join(reversed(frames[-4:]))

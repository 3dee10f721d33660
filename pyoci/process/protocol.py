"""The parent/child sync protocol: one message type over one SEQPACKET socket.

``create`` (the parent) and the processes it forks (stage 1, then the
container init) take turns:

    child  -> READY    it has joined or unshared its user namespace
    parent -> GO       uid/gid maps written: unshare the other namespaces
    child  -> PID      the container init's host pid (after the pid-ns fork)
    init   -> PREFAULTED  under a small memory limit only: its pages are its
                       own now (see process.context), it may join the cgroup
    parent -> JOINED   the init is in its cgroup: unshare the cgroup namespace
                       and build the rootfs (pyoci.cgroups.warmup has had the
                       first cgroup.procs write's RCU grace period paid while
                       the parent imported and checked the config)
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
import sys

from pyoci import jsonio
from pyoci.errors import PyociError

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
_FD_SPACE = socket.CMSG_SPACE(4)  # one fd of SCM_RIGHTS


class Message:
    __slots__ = ("kind", "pid", "error", "fd")

    def __init__(self, kind: str, pid: int = 0, error: str = "") -> None:
        self.kind = kind
        self.pid = pid
        self.error = error
        self.fd = -1  # a received fd (SCM_RIGHTS); the receiver must close it

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and \
            (self.kind, self.pid, self.error) == (other.kind, other.pid, other.error)

    def __repr__(self) -> str:
        return f"Message({self.kind!r}, pid={self.pid}, error={self.error!r})"

    def encode(self) -> bytes:
        doc: dict[str, object] = {"kind": self.kind}
        if self.pid:
            doc["pid"] = self.pid
        if self.error:
            # Capped so the JSON (at most 12 bytes a character) fits one receive.
            doc["error"] = self.error[:4096]
        return jsonio.dumps(doc).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Message:
        doc = jsonio.loads(raw)
        return cls(doc["kind"], int(doc.get("pid", 0)), str(doc.get("error", "")))


class ChannelClosed(PyociError):
    """The other side closed the channel without saying why."""


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(parent end, child end); both close-on-exec, as Python makes them."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, msg: Message) -> None:
    sock.send(msg.encode())


def send_fd(sock: socket.socket, msg: Message, fd: int) -> None:
    """Send ``msg`` with ``fd`` attached."""
    send_bytes_with_fd(sock, msg.encode(), fd)


def send_bytes_with_fd(sock: socket.socket, data: bytes, fd: int) -> None:
    """socket.send_fds for one fd, on a _socket object (socket.py and the array
    module it needs are not loaded): the pty master, the seccomp notify fd."""
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))])


def fds_from(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The fds an SCM_RIGHTS message carried (socket.recv_fds without socket.py)."""
    return [int.from_bytes(data[i:i + 4], sys.byteorder)
            for level, kind, data in ancillary
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
            for i in range(0, len(data) - 3, 4)]


def receive(sock: socket.socket) -> Message:
    try:
        raw, ancillary, _, _ = sock.recvmsg(_MAX_MESSAGE, _FD_SPACE)
    except ConnectionResetError:
        # The peer closed with a message of ours unread (a JOINED to an init that
        # failed meanwhile): the kernel reports that once, ahead of the messages
        # the peer sent before closing, which are still queued (its ERROR).
        raw, ancillary, _, _ = sock.recvmsg(_MAX_MESSAGE, _FD_SPACE)
    if not raw:
        raise ChannelClosed("container init exited before it was ready")
    msg = Message.decode(raw)
    fds = fds_from(ancillary)
    if fds:
        msg.fd = fds[0]
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

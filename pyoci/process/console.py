"""The container's terminal: a pty from the container's own devpts.

The pty is opened after pivot_root, from the container's ``/dev/ptmx``, so it
belongs to the container's devpts instance. Its master goes to the engine
through ``--console-socket`` (one SCM_RIGHTS message), its slave becomes the
init's stdio, controlling terminal and ``/dev/console``.
"""

from __future__ import annotations

import array
import fcntl
import os
import socket
import struct
import termios

from pyoci import syscalls
from pyoci.errors import PyociError

_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431


def connect_console_socket(path: str) -> socket.socket:
    """Connected before fork, while the path still resolves on the host."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise PyociError(f"--console-socket: connect {path}: {e.strerror}") from None
    return sock


def open_pty() -> tuple[int, str]:
    """(master fd, slave path) from the devpts mounted at /dev/pts."""
    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise PyociError(f"process.terminal: open /dev/ptmx: {e.strerror}") from None
    fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
    buf = array.array("i", [0])
    fcntl.ioctl(master, _TIOCGPTN, buf)
    return master, f"/dev/pts/{buf[0]}"


def setup_console(sock: socket.socket, size: dict | None) -> None:
    master, slave_path = open_pty()
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    if size:
        winsize = struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, winsize)
    _bind_console(slave_path)
    try:
        socket.send_fds(sock, [slave_path.encode()], [master])
    except OSError as e:
        raise PyociError(f"--console-socket: send pty master: {e.strerror}") from None
    os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    if slave > 2:
        os.close(slave)


def _bind_console(slave_path: str) -> None:
    """/dev/console is the pty slave, as runc makes it; absent /dev: skip."""
    if not os.path.isdir("/dev"):
        return
    try:
        if not os.path.exists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        syscalls.mount(slave_path, "/dev/console", None, syscalls.MS_BIND)
    except OSError as e:
        raise PyociError(f"process.terminal: bind /dev/console: {e.strerror}") from None

"""The container's terminal: a pty from the container's own devpts.

The pty is opened after pivot_root, from the container's ``/dev/ptmx``, so it
belongs to the container's devpts instance. Its master goes to the engine
through ``--console-socket`` (one SCM_RIGHTS message), its slave becomes the
init's stdio, controlling terminal and ``/dev/console``.
"""

from __future__ import annotations

import _socket as socket  # socket.py (enum, selectors) costs ~8 ms of start-up
import fcntl
import os
import struct
import termios

from pyoci import syscalls
from pyoci.errors import PyociError
from pyoci.process import protocol

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
    # A bytes argument comes back filled in (array would import collections: ~2 ms).
    number = struct.unpack("i", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))[0]
    return master, f"/dev/pts/{number}"


def setup_console(sock: socket.socket, size: dict | None, *,
                  bind_console: bool = True) -> None:
    """The slave becomes stdio and controlling tty, the master goes over ``sock``;
    the init also binds the slave on /dev/console (an exec'd process does not)."""
    master, slave_path = open_pty()
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    if size:
        winsize = struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, winsize)
    if bind_console:
        _bind_console(slave_path)
    try:
        protocol.send_bytes_with_fds(sock, slave_path.encode(), [master])
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
    # Only the init gets here, after pivot_root: pyoci.rootfs is loaded already
    # (a lazy import is a sys.modules lookup), and exec never pays for it.
    from pyoci.rootfs.dev import console_target
    from pyoci.rootfs.paths import fd_path

    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # Never by name: a /dev/console symlink would carry the bind elsewhere.
        target = console_target(root)
        try:
            syscalls.mount(slave_path, fd_path(target), None, syscalls.MS_BIND)
        finally:
            os.close(target)
    except OSError as e:
        raise PyociError(f"process.terminal: bind /dev/console: {e.strerror}") from None
    finally:
        os.close(root)


def receive_master(sock: socket.socket) -> int:
    """The pty master the init sent over a console socket."""
    _, ancillary, _, _ = sock.recvmsg(1024, socket.CMSG_SPACE(4))
    fds = protocol.fds_from(ancillary)
    if not fds:
        raise PyociError("process.terminal: the container init sent no pty master")
    return fds[0]


def relay(master: int, pidfd: int) -> None:
    """Copy our stdin to the container's pty and the pty to our stdout until the init exits.

    ``pyoci run`` of a config with ``terminal: true`` and no console socket
    behaves like ``runc run``: the caller's terminal (if stdin is one) goes raw
    and the container's own pty carries the session, window size included.
    """
    import select
    import signal
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _copy_window_size(0, master)
        signal.signal(signal.SIGWINCH, lambda *_: _copy_window_size(0, master))
    poller = select.poll()
    for fd in (master, 0, pidfd):
        poller.register(fd, select.POLLIN)
    try:
        while True:
            for fd, _ in poller.poll():
                if fd == pidfd:
                    _drain(master)
                    return
                if fd == master and not _pump(master, 1):
                    return
                if fd == 0 and not _pump(0, master):
                    poller.unregister(0)  # stdin closed: keep showing output
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _pump(src: int, dst: int) -> bool:
    try:
        data = os.read(src, 65536)
    except OSError:  # EIO: every slave fd is closed
        return False
    if not data:
        return False
    while data:
        data = data[os.write(dst, data):]
    return True


def _drain(master: int) -> None:
    """Show what the container wrote before it exited."""
    os.set_blocking(master, False)
    try:
        while _pump(master, 1):
            pass
    except BlockingIOError:
        pass


def _copy_window_size(src: int, dst: int) -> None:
    try:
        fcntl.ioctl(dst, termios.TIOCSWINSZ, fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass

"""The InitContext a stage 1 forked early receives (pyoci.process.prefork), and
the handle's discard: over a real SEQPACKET socketpair, a real memfd, real forks."""

from __future__ import annotations

import fcntl
import os
import socket

import pytest

from pyoci.namespaces import NamespacePlan
from pyoci.process import protocol
from pyoci.process.context import InitContext, receive_context, send_context
from pyoci.process.prefork import Prefork


def _context(config: dict, **extra: object) -> InitContext:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    plan = NamespacePlan(new=0x20000 | 0x40000000, join={"network": os.open("/proc/self/ns/net",
                                                                              os.O_RDONLY)})
    ctx = InitContext("c1", "/bundle", config, plan, exec_listener=listener,
                      preserve_fds=2, no_pivot=True, extra_env=["LISTEN_FDS=2"],
                      debug=True, parent_fds=[99], rootless=True, **extra)
    ctx.hook_state = {"id": "c1", "status": "created"}
    return ctx


def _close(ctx: InitContext) -> None:
    ctx.namespaces.close()
    for sock in (ctx.exec_listener, ctx.console_socket):
        if sock is not None:
            sock.close()


def test_every_field_arrives_and_parent_fds_stay_behind() -> None:
    config = {"ociVersion": "1.3.0", "process": {"args": ["/bin/true"], "terminal": True}}
    console_ours, console_theirs = socket.socketpair()
    sent = _context(config, console_socket=console_theirs)
    parent, child = protocol.channel_pair()
    try:
        send_context(parent, sent)
        got = receive_context(child)
        try:
            assert (got.container_id, got.bundle, got.config) == ("c1", "/bundle", config)
            assert (got.preserve_fds, got.no_pivot, got.no_new_keyring) == (2, True, False)
            assert (got.extra_env, got.debug, got.rootless) == (["LISTEN_FDS=2"], True, True)
            assert got.hook_state == {"id": "c1", "status": "created"}
            assert got.parent_fds == []  # the child never had the parent's fds
            assert got.namespaces.new == sent.namespaces.new
            # The same open files, under the child's own fd numbers.
            assert os.stat(f"/proc/self/fd/{got.namespaces.join['network']}").st_ino == \
                os.fstat(sent.namespaces.join["network"]).st_ino
            assert got.exec_listener.family == socket.AF_UNIX
            assert got.exec_listener.fileno() != sent.exec_listener.fileno()
            got.console_socket.send(b"x")
            assert console_ours.recv(1) == b"x"
            for fd in (got.namespaces.join["network"], got.exec_listener.fileno(),
                       got.console_socket.fileno()):
                assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, fd
        finally:
            _close(got)
    finally:
        _close(sent)
        console_ours.close()
        parent.close()
        child.close()


def test_a_config_larger_than_a_message_arrives_whole() -> None:
    big = {"process": {"env": [f"V{i}={'x' * 100}" for i in range(2000)]}}  # ~200 KiB
    sent = _context(big)
    parent, child = protocol.channel_pair()
    try:
        send_context(parent, sent)
        got = receive_context(child)
        assert got.config == big
        _close(got)
    finally:
        _close(sent)
        parent.close()
        child.close()


def test_no_console_socket_arrives_as_none() -> None:
    sent = _context({})
    parent, child = protocol.channel_pair()
    try:
        send_context(parent, sent)
        got = receive_context(child)
        assert got.console_socket is None
        _close(got)
    finally:
        _close(sent)
        parent.close()
        child.close()


def _is_child(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def test_discard_kills_and_reaps_the_child() -> None:
    prefork = Prefork.start()
    assert prefork is not None
    pid = prefork.pid
    assert _is_child(pid)
    prefork.discard()
    assert not _is_child(pid)  # reaped: waitpid knows it no more
    prefork.discard()  # twice is harmless


def test_a_handed_over_child_is_no_longer_discarded() -> None:
    prefork = Prefork.start()
    assert prefork is not None
    pid, chan = prefork.hand_over(_context({}))
    try:
        prefork.discard()
        # Still ours to deal with: discard left it alone.
        assert _is_child(pid)
        # It got the context and, with an empty config, stage 1 goes on; its
        # unshare of nothing leaves it talking: READY (or an ERROR without root).
        msg = protocol.receive(chan)
        assert msg.kind in (protocol.READY, protocol.ERROR)
    finally:
        chan.close()
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    with pytest.raises(ValueError):
        prefork.hand_over(_context({}))

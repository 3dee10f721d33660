"""The parent/child sync protocol over a real SEQPACKET socketpair and a real fork."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyoci.errors import PyociError
from pyoci.process import protocol
from pyoci.process.protocol import ChannelClosed, Message

KINDS = [protocol.READY, protocol.GO, protocol.PID, protocol.CREATED, protocol.ERROR]


@pytest.fixture
def pair():  # noqa: ANN201
    parent, child = protocol.channel_pair()
    yield parent, child
    parent.close()
    child.close()


def _eq(a: Message, b: Message) -> bool:
    return (a.kind, a.pid, a.error) == (b.kind, b.pid, b.error) and a == b


# -- Message -------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(KINDS) | st.text(min_size=1, max_size=20),
       pid=st.integers(min_value=0, max_value=2**31 - 1),
       error=st.text(max_size=300))
def test_encode_decode_round_trip(kind: str, pid: int, error: str) -> None:
    msg = Message(kind, pid, error)
    raw = msg.encode()
    assert isinstance(raw, bytes)
    assert _eq(Message.decode(raw), msg)


def test_encoding_is_small_json() -> None:
    assert Message(protocol.GO).encode() == b'{"kind":"go"}'
    assert Message(protocol.PID, pid=42).encode() == b'{"kind":"pid","pid":42}'
    err = Message(protocol.ERROR, error='exec: "x": not found\n\u00e9')
    assert _eq(Message.decode(err.encode()), err)


def test_channel_pair_is_seqpacket_and_cloexec(pair: tuple[socket.socket, socket.socket]) -> None:
    for end in pair:
        assert end.type == socket.SOCK_SEQPACKET
        assert end.family == socket.AF_UNIX
        assert not os.get_inheritable(end.fileno())


# -- over a socketpair ------------------------------------------------------------

def test_send_receive_keeps_boundaries(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    sent = [Message(protocol.READY), Message(protocol.PID, pid=1234),
            Message(protocol.CREATED)]
    for msg in sent:
        protocol.send(child, msg)
    got = [protocol.receive(parent) for _ in sent]
    assert all(_eq(a, b) for a, b in zip(sent, got, strict=True))


def test_expect_returns_the_message(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    protocol.send(child, Message(protocol.PID, pid=77))
    assert protocol.expect(parent, protocol.PID).pid == 77


def test_expect_raises_the_childs_error(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    text = 'linux.sysctl: "net.nope.nope": No such file or directory'
    protocol.send(child, Message(protocol.ERROR, error=text))
    with pytest.raises(PyociError) as info:
        protocol.expect(parent, protocol.CREATED)
    assert info.value.message == text
    assert not isinstance(info.value, ChannelClosed)


def test_expect_error_is_one_line(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    protocol.send(child, Message(protocol.ERROR, error="first\nsecond"))
    with pytest.raises(PyociError) as info:
        protocol.expect(parent, protocol.READY)
    assert "\n" not in info.value.message and "first" in info.value.message


def test_expect_wrong_kind(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    protocol.send(child, Message(protocol.CREATED))
    with pytest.raises(PyociError, match="sync protocol: expected pid, got created"):
        protocol.expect(parent, protocol.PID)


def test_eof_is_channel_closed(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    child.close()
    with pytest.raises(ChannelClosed) as info:
        protocol.receive(parent)
    assert isinstance(info.value, PyociError)
    assert "exited" in info.value.message
    with pytest.raises(ChannelClosed):
        protocol.expect(parent, protocol.READY)


def test_queued_message_is_read_before_eof(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    protocol.send(child, Message(protocol.ERROR, error="mount failed"))
    child.close()
    with pytest.raises(PyociError, match="^mount failed$"):
        protocol.expect(parent, protocol.READY)
    with pytest.raises(ChannelClosed):
        protocol.receive(parent)


def test_long_error_text_survives(pair: tuple[socket.socket, socket.socket]) -> None:
    """An error longer than the receive buffer still arrives as the child's error
    (possibly shortened), never as a JSON decoding failure."""
    parent, child = pair
    child.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    text = "mounts[0] (/x): " + "y" * 100_000
    try:
        protocol.send(child, Message(protocol.ERROR, error=text))
    except OSError as e:
        pytest.fail(f"send of a long error failed: {e}")
    with pytest.raises(PyociError) as info:
        protocol.expect(parent, protocol.READY)
    assert info.value.message.startswith("mounts[0] (/x): yyy")


@settings(max_examples=50, deadline=None)
@given(error=st.text(min_size=1, max_size=20_000))
def test_any_error_text_fits_one_message(error: str) -> None:
    raw = Message(protocol.ERROR, error=error).encode()
    assert len(raw) <= protocol._MAX_MESSAGE
    assert error.startswith(Message.decode(raw).error)


# -- across a real fork ----------------------------------------------------------------

def _fork(body: Callable[[socket.socket], None]) -> tuple[int, socket.socket]:
    parent_end, child_end = protocol.channel_pair()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            parent_end.close()
            body(child_end)
        except BaseException:  # noqa: BLE001 - never return into pytest
            code = 3
        os._exit(code)
    child_end.close()
    return pid, parent_end


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_handshake_across_fork() -> None:
    def child(chan: socket.socket) -> None:
        protocol.send(chan, Message(protocol.READY))
        protocol.expect(chan, protocol.GO)
        protocol.send(chan, Message(protocol.PID, pid=os.getpid()))
        protocol.send(chan, Message(protocol.CREATED))

    pid, chan = _fork(child)
    try:
        protocol.expect(chan, protocol.READY)
        protocol.send(chan, Message(protocol.GO))
        assert protocol.expect(chan, protocol.PID).pid == pid
        protocol.expect(chan, protocol.CREATED)
        with pytest.raises(ChannelClosed):
            protocol.receive(chan)
    finally:
        chan.close()
    assert _wait(pid) == 0


def test_child_error_across_fork() -> None:
    def child(chan: socket.socket) -> None:
        protocol.send(chan, Message(protocol.READY))
        protocol.expect(chan, protocol.GO)
        protocol.send(chan, Message(protocol.ERROR, error="process.cwd: no such directory"))
        os._exit(1)

    pid, chan = _fork(child)
    try:
        protocol.expect(chan, protocol.READY)
        protocol.send(chan, Message(protocol.GO))
        with pytest.raises(PyociError, match="^process.cwd: no such directory$"):
            protocol.expect(chan, protocol.PID)
    finally:
        chan.close()
    assert _wait(pid) == 1


def test_silent_death_across_fork_is_channel_closed() -> None:
    pid, chan = _fork(lambda c: os._exit(9))
    try:
        with pytest.raises(ChannelClosed):
            protocol.expect(chan, protocol.READY)
    finally:
        chan.close()
    assert _wait(pid) == 9


def test_parent_gone_is_channel_closed_in_child() -> None:
    """The child waiting for GO learns that the parent closed its end."""
    r, w = os.pipe()

    def child(chan: socket.socket) -> None:
        os.close(r)
        try:
            protocol.expect(chan, protocol.GO)
        except ChannelClosed:
            os.write(w, b"closed")
            os._exit(0)
        os._exit(1)

    pid, chan = _fork(child)
    os.close(w)
    chan.close()
    assert os.read(r, 16) == b"closed"
    os.close(r)
    assert _wait(pid) == 0


def test_grandchild_reports_through_inherited_end() -> None:
    """As stage 1 hands the channel to the init it forks: EOF only when both are gone."""
    def stage1(chan: socket.socket) -> None:
        init = os.fork()
        if init == 0:
            protocol.send(chan, Message(protocol.CREATED))
            os._exit(0)
        protocol.send(chan, Message(protocol.PID, pid=init))
        os.waitpid(init, 0)  # no orphan left to the test process
        os._exit(0)

    pid, chan = _fork(stage1)
    try:
        # The two reports may arrive in either order (two processes send them).
        got = {m.kind: m for m in (protocol.expect(chan, protocol.PID, protocol.CREATED)
                                   for _ in range(2))}
        assert set(got) == {protocol.PID, protocol.CREATED}
        assert got[protocol.PID].pid not in (0, pid)
        with pytest.raises(ChannelClosed):
            protocol.receive(chan)
    finally:
        chan.close()
    assert _wait(pid) == 0


def test_an_error_sent_before_a_reset_still_arrives() -> None:
    """Our message left unread by a child that failed and closed (JOINED to a dying
    init): the reset the kernel reports first must not hide the child's ERROR."""
    parent_end, child_end = protocol.channel_pair()
    try:
        protocol.send(parent_end, Message(protocol.JOINED))  # never read
        protocol.send(child_end, Message(protocol.ERROR, error="mounts[0]: boom"))
        child_end.close()
        with pytest.raises(PyociError, match="mounts\\[0\\]: boom"):
            protocol.expect(parent_end, protocol.PREPIVOT)
        with pytest.raises(ChannelClosed):
            protocol.receive(parent_end)
    finally:
        parent_end.close()
        child_end.close()


# -- GO's cgroup files and PID's "joined" (pyoci.cgroups.join) ------------------------

def test_joined_and_cgroup_round_trip() -> None:
    doc = {"tasks": ["/sys/fs/cgroup/cpu/c/tasks"], "directory": "/sys/fs/cgroup/unified/c"}
    for msg in (Message(protocol.PID, 7, joined=True), Message(protocol.GO, cgroup=doc),
                Message(protocol.PID, 7)):
        back = Message.decode(msg.encode())
        assert back == msg and (back.joined, back.cgroup) == (msg.joined, msg.cgroup)
    assert b"joined" not in Message(protocol.PID, 7).encode()  # absent means False


def test_many_fds_arrive_in_order(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    pipes = [os.pipe() for _ in range(12)]
    try:
        protocol.send_fds(parent, Message(protocol.GO, cgroup={}), [w for _, w in pipes])
        msg = protocol.receive(child)
        assert len(msg.fds) == 12 and msg.fd == msg.fds[0]
        for (r, _), fd in zip(pipes, msg.fds, strict=True):
            os.write(fd, b"x")  # each received fd is the write end of its own pipe
            assert os.read(r, 1) == b"x"
            os.close(fd)
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)


def test_too_many_fds_is_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, _ = pair
    with pytest.raises(PyociError, match="fds in one message"):
        protocol.send_fds(parent, Message(protocol.GO), [0] * 33)


def test_no_fds_sends_plainly(pair: tuple[socket.socket, socket.socket]) -> None:
    parent, child = pair
    protocol.send_fds(parent, Message(protocol.GO, cgroup={"tasks": []}), [])
    msg = protocol.receive(child)
    assert msg.fds == [] and msg.fd == -1 and msg.cgroup == {"tasks": []}

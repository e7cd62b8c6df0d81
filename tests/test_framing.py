"""The course's framing (a 4-byte big-endian length, then the bytes) and the deadlock experiment, over real
sockets on 127.0.0.1."""

import socket
import struct
import threading

import pytest

from socketlab import framing
from socketlab.streams import IncompleteRead


@pytest.fixture
def pair():
    listener = socket.create_server(("127.0.0.1", 0))
    a = socket.create_connection(listener.getsockname(), timeout=3)
    b, _ = listener.accept()
    b.settimeout(3)
    listener.close()
    yield a, b
    a.close()
    b.close()


def test_messages_come_back_whole_however_the_stream_splits_them(pair):
    a, b = pair
    messages = [b"", "Привіт".encode(), bytes(range(256)) * 100]
    stream = b"".join(struct.pack("!I", len(m)) + m for m in messages)
    a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sender = threading.Thread(target=lambda: [a.sendall(stream[i:i + 7]) for i in range(0, len(stream), 7)])
    sender.start()
    assert [framing.recv_msg(b) for _ in messages] == messages
    sender.join(5)
    a.shutdown(socket.SHUT_WR)
    assert framing.recv_msg(b) is None  # the end, between two messages


def test_send_msg_writes_network_byte_order(pair):
    a, b = pair
    framing.send_msg(a, b"abc")
    assert b.recv(16) == b"\x00\x00\x00\x03abc"


def test_a_length_over_the_limit_is_refused_before_the_body_is_read(pair):
    a, b = pair
    a.sendall(struct.pack("!I", 5000) + b"x" * 10)
    with pytest.raises(framing.MessageTooLarge) as caught:
        framing.recv_msg(b, limit=4096)
    assert caught.value.size == 5000 and b.recv(100) == b"x" * 10  # the body is still unread


def test_a_stream_that_ends_inside_a_message_is_an_error(pair):
    a, b = pair
    a.sendall(b"\x00\x00")
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(IncompleteRead):
        framing.recv_msg(b)


def test_both_sides_sending_first_deadlock_and_each_way_out_finishes():
    stuck = framing.deadlock(1 << 20, buffer=32768, seconds=0.8)
    assert not stuck.done
    last = stuck.samples[-1]
    assert 0 < last["a_sent"] < 1 << 20 and 0 < last["b_sent"] < 1 << 20  # both stopped part-way
    if framing.queued(socket.socket()) is not None:  # Linux, macOS: the stuck bytes are in the buffers
        assert last["a_queued"] > 0 and last["b_queued"] > 0
    for way in framing.WAYS[1:]:
        result = framing.deadlock(1 << 20, buffer=32768, way=way, seconds=5)
        assert result.done, way
    with pytest.raises(ValueError):
        framing.deadlock(way="hope")


def test_no_thread_is_left_after_a_deadlock():
    before = set(threading.enumerate())
    framing.deadlock(1 << 20, seconds=0.3)
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []

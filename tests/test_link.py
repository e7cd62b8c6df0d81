"""The judge's line to the kernel: framed JSON with descriptors; values and errors that cross, and what does not."""

import errno
import socket
import struct
from pathlib import Path

import pytest

from socketlab.instructor.link import MAX_MESSAGE, Link, Opaque, RemoteError, decode, decode_error, encode, encode_error

pytestmark = pytest.mark.skipif(not hasattr(socket, "send_fds"), reason="no passing of descriptors here")


@pytest.fixture
def pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.settimeout(5)
    b.settimeout(5)
    yield Link(a), Link(b)
    a.close()
    b.close()


def test_values_cross_as_they_were(pair):
    ours, theirs = pair
    value = [b"\x00\xff", ("127.0.0.1", 5000), Path("/tmp/звіт.txt"), "ґ" * 10, None, 3.5, True]
    ours.send({"value": encode(value, [])})
    message, fds = theirs.receive()
    assert decode(message["value"], fds) == value and fds == []


def test_a_socket_crosses_as_the_same_connection(pair):
    ours, theirs = pair
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2], timeout=5)
        conn, _ = listener.accept()
        conn.settimeout(2.5)
        fds = []
        ours.send({"args": encode([conn], fds)}, fds)
        message, received = theirs.receive()
        [copy] = decode(message["args"], received, lambda fd, spec: socket.socket(fileno=fd))
        assert message["args"][0]["timeout"] == 2.5
        client.sendall(b"hello")
        assert copy.recv(5) == b"hello"  # the other process's copy reads what our client sent
        copy.close()
        conn.close()
        client.close()


def test_what_cannot_cross_keeps_its_name_and_repr():
    class Reply:
        def __repr__(self):
            return "<Reply 42>"

    back = decode(encode(Reply(), []), [])
    assert isinstance(back, Opaque) and back.type_name == "Reply" and repr(back) == "<Reply 42>"


def test_a_built_in_error_comes_back_as_itself_with_the_students_lines():
    error = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    back = decode_error(encode_error(error, "    serve(), line 3: conn.recv(10)"))
    assert type(back) is ConnectionResetError and back.errno == errno.ECONNRESET
    assert back.remote_frames == "    serve(), line 3: conn.recv(10)"
    decoding = decode_error(encode_error(UnicodeDecodeError("utf-8", b"\xd0", 0, 1, "unexpected end of data")))
    assert isinstance(decoding, UnicodeDecodeError) and decoding.object == b"\xd0"  # the check's hint needs its type


def test_an_error_of_the_students_own_class_keeps_its_name_and_its_built_in_base():
    class Oops(Exception):
        pass

    class BadFileName(ValueError):
        pass

    class ConnectionClosedEarly(EOFError):
        def __init__(self, got):
            super().__init__(f"got {got} bytes")

    back = decode_error(encode_error(Oops("no")))
    assert back.type_name == "Oops" and type(back).__name__ == "Oops" and str(back) == "no"
    bad = decode_error(encode_error(BadFileName("a/b")))
    assert isinstance(bad, ValueError) and type(bad).__name__ == "BadFileName" and str(bad) == "a/b"
    early = decode_error(encode_error(ConnectionClosedEarly(3)))
    assert isinstance(early, EOFError) and str(early) == "got 3 bytes"
    assert isinstance(decode_error({"type": "__import__", "args": ["os"]}), RemoteError)  # a name is not a class


def test_a_message_larger_than_the_limit_is_refused(pair):
    ours, theirs = pair
    ours.sock.sendall(struct.pack("!I", MAX_MESSAGE + 1))
    with pytest.raises(ValueError, match="too large"):
        theirs.receive()


def test_the_end_of_the_link_is_an_eof(pair):
    ours, theirs = pair
    ours.close()
    with pytest.raises(EOFError):
        theirs.receive()

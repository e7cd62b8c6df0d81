import socket
import threading
import time

import pytest

from conftest import write_in_pieces
from socketlab.streams import IncompleteRead, LineTooLong, recv_exactly, recv_line, recv_to_end


def test_recv_exactly_gathers_bytes_that_arrive_one_at_a_time(tcp_pair):
    client, server = tcp_pair()
    data = "Привіт, сокете!".encode()
    writer = threading.Thread(target=write_in_pieces, args=(client, data))
    writer.start()
    assert recv_exactly(server, len(data)) == data
    writer.join(5)


def test_recv_exactly_leaves_what_follows_in_the_socket(tcp_pair):
    client, server = tcp_pair()
    client.sendall(b"abcdef")
    assert recv_exactly(server, 2) == b"ab"
    assert recv_exactly(server, 4) == b"cdef"


def test_recv_exactly_zero_bytes(tcp_pair):
    _, server = tcp_pair()
    assert recv_exactly(server, 0) == b""


def test_recv_exactly_says_how_many_bytes_came(tcp_pair):
    client, server = tcp_pair()
    client.sendall(b"1234")
    client.close()
    with pytest.raises(IncompleteRead) as info:
        recv_exactly(server, 10)
    assert (info.value.expected, info.value.received) == (10, 4)
    assert "expected 10 bytes, got 4" in str(info.value)
    assert isinstance(info.value, EOFError)


def test_recv_exactly_rejects_negative(tcp_pair):
    _, server = tcp_pair()
    with pytest.raises(ValueError):
        recv_exactly(server, -1)


def test_recv_exactly_times_out(tcp_pair):
    client, server = tcp_pair()
    server.settimeout(0.2)
    client.sendall(b"12")
    with pytest.raises(TimeoutError):
        recv_exactly(server, 3)


def test_recv_line_returns_the_line_and_leaves_the_body(tcp_pair):
    client, server = tcp_pair()
    client.sendall(b"FILE 5 a.txt\nhello")
    assert recv_line(server) == b"FILE 5 a.txt\n"
    assert recv_exactly(server, 5) == b"hello"


def test_recv_line_from_one_byte_writes(tcp_pair):
    client, server = tcp_pair()
    writer = threading.Thread(target=write_in_pieces, args=(client, b"one line\nrest"))
    writer.start()
    assert recv_line(server) == b"one line\n"
    assert recv_exactly(server, 4) == b"rest"
    writer.join(5)


def test_recv_line_two_lines_in_one_segment(tcp_pair):
    client, server = tcp_pair()
    client.sendall(b"first\nsecond\n")
    assert recv_line(server) == b"first\n"
    assert recv_line(server) == b"second\n"


def test_recv_line_empty_at_clean_close(tcp_pair):
    client, server = tcp_pair()
    client.close()
    assert recv_line(server) == b""


def test_recv_line_incomplete(tcp_pair):
    client, server = tcp_pair()
    client.sendall(b"no newline")
    client.close()
    with pytest.raises(IncompleteRead) as info:
        recv_line(server)
    assert info.value.received == 10
    assert "got 10 bytes" in str(info.value)


def test_recv_line_too_long_reads_no_further(tcp_pair):
    client, server = tcp_pair()
    client.sendall(b"x" * 20 + b"\n")
    with pytest.raises(LineTooLong) as info:
        recv_line(server, limit=8)
    assert "at most 8 bytes" in str(info.value)
    assert recv_exactly(server, 13) == b"x" * 12 + b"\n"


def test_recv_line_exactly_at_the_limit(tcp_pair):
    client, server = tcp_pair()
    client.sendall(b"1234567\n")
    assert recv_line(server, limit=8) == b"1234567\n"


def test_recv_to_end(tcp_pair):
    client, server = tcp_pair()
    client.sendall(b"a" * 200_000)
    client.shutdown(socket.SHUT_WR)
    assert recv_to_end(server) == b"a" * 200_000


@pytest.mark.parametrize("module", ["streams", "protocol"])
def test_the_bottom_layer_imports_nothing_of_the_package(module):
    import ast
    import importlib

    source = open(importlib.import_module(f"socketlab.{module}").__file__, encoding="utf-8").read()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("socketlab"), ast.unparse(node)
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("socketlab") for a in node.names), ast.unparse(node)


def test_a_deadline_socket_ends_a_trickle_that_no_idle_timeout_would(tcp_pair):
    from socketlab.streams import DeadlineExceeded, extend_deadline, with_deadline

    client, server = tcp_pair()
    conn = with_deadline(server, 0.5)
    conn.settimeout(5.0)
    assert conn.gettimeout() == 5.0
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="open for over 0.5 s"):
        while True:
            client.sendall(b"x")  # always something to read: each recv returns at once
            conn.recv(1)
            time.sleep(0.05)
    assert 0.4 < time.monotonic() - started < 2.0
    with pytest.raises(DeadlineExceeded):
        conn.sendall(b"late")
    extend_deadline(conn, 1.0)  # a moment to say why
    conn.sendall(b"bye")
    assert client.recv(10).endswith(b"bye")
    conn.close()

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import live_threads, open_fds, reset
from socketlab import EchoClient, EchoServer, echo
from socketlab.echo import ReplyTooLong, preview
from socketlab.checks import send_slowly

BUF = EchoServer.bufsize
UKRAINIAN = "Використання Socket API для мережевих додатків — ґанок, їжак, є!"


@pytest.fixture
def server():
    with EchoServer(idle_timeout=5) as srv:
        yield srv


@pytest.mark.parametrize(
    "payload",
    [b"", b"x", bytes(range(256)) * (BUF // 256), b"z" * (3 * BUF), os.urandom(1_000_000)],
    ids=["empty", "1-byte", "one-buffer", "three-buffers", "1MB"],
)
def test_echo_returns_exactly_the_bytes_sent(server, payload):
    assert echo(payload, server.address) == payload


def test_echo_of_ukrainian_text_returns_str(server):
    reply = echo(UKRAINIAN, server.address)
    assert reply == UKRAINIAN and isinstance(reply, str)
    recv = [e for e in server.events if e.kind == "recv"]
    assert sum(e.nbytes for e in recv) == len(UKRAINIAN.encode("utf-8"))


def test_echo_accepts_a_server_as_address(server):
    assert echo(b"abc", server) == b"abc"


def test_echo_rejects_other_types(server):
    with pytest.raises(TypeError, match="str or bytes"):
        echo(42, server.address)


def test_echo_much_larger_than_socket_buffers_does_not_deadlock(server):
    # A client that sends everything before reading would block forever here.
    payload = os.urandom(16 * 1024 * 1024)
    assert echo(payload, server.address, timeout=10) == payload


def test_client_writing_one_byte_at_a_time(server):
    data = UKRAINIAN.encode()
    assert send_slowly(server.address, data, step=1) == data
    assert len([e for e in server.events if e.kind == "recv"]) > 1  # it really arrived in pieces


def test_a_client_that_resets_mid_message_does_not_stop_the_server(server):
    sock = socket.create_connection(server.address, timeout=5)
    sock.sendall(b"half a mess")
    sock.recv(100)
    reset(sock)
    assert echo("next client", server.address) == "next client"
    assert server.served == 2
    errors = [e for e in server.events if e.kind == "error"]
    assert [e.client_id for e in errors] == [1]
    assert "ConnectionResetError" in errors[0].detail


def test_reset_while_server_is_sending_is_logged_as_error():
    with EchoServer(idle_timeout=5) as srv:
        sock = socket.create_connection(srv.address, timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # Send a lot without reading, so the server is stuck sending its echo, then reset.
        sock.setblocking(False)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                sock.send(b"x" * 65536)
            except BlockingIOError:
                break
        reset(sock)
        assert echo(b"still here", srv.address) == b"still here"
        errors = [e for e in srv.events if e.kind == "error" and e.client_id == 1]
        assert errors, srv.events
        assert "ConnectionResetError" in errors[0].detail or "BrokenPipeError" in errors[0].detail


def test_idle_client_is_dropped_and_blocks_others_only_until_the_timeout():
    with EchoServer(idle_timeout=0.5) as srv:
        idle = socket.create_connection(srv.address, timeout=5)
        started = time.monotonic()
        reply = echo("waiting in line", srv.address, timeout=5)
        waited = time.monotonic() - started
        assert reply == "waiting in line"
        assert 0.3 < waited < 3.0, f"the second client waited {waited:.2f} s"
        assert idle.recv(10) == b""  # dropped by the server
        idle.close()
        timeouts = [e for e in srv.events if e.kind == "timeout"]
        assert [e.client_id for e in timeouts] == [1]
        assert "idle for 0.5 s" in timeouts[0].detail


def test_task1_serves_one_client_and_stops():
    srv = EchoServer(max_clients=1).start()
    assert echo("one", srv.address) == "one"
    assert srv.wait(2)
    with pytest.raises(ConnectionRefusedError):
        echo("two", srv.address)


def test_task2_serves_500_clients_in_a_row_without_leaking(server):
    echo(b"warm-up", server.address)
    fds, threads = open_fds(), live_threads()
    for i in range(500):
        message = f"client {i}".encode()
        assert echo(message, server.address) == message
    assert server.served == 501
    assert open_fds() <= fds + 2
    assert live_threads() == threads


def test_echo_client_keeps_one_connection(server):
    with EchoClient(server.address) as client:
        assert client.send("hello") == "hello"
        assert client.send(UKRAINIAN) == UKRAINIAN
        assert client.send(b"\x00\xff") == b"\x00\xff"
        big = os.urandom(2_000_000)
        assert client.send(big) == big
        assert client.last_rtt > 0
        assert "open" in repr(client)
    assert server.served == 1
    assert "closed" in repr(client)


def test_echo_client_sees_a_stopped_server(server):
    client = EchoClient(server.address)
    server.stop()
    with pytest.raises((ConnectionError, EOFError)):
        client.send("anyone?")
    client.close()


def test_echo_to_nothing_is_refused():
    with EchoServer() as srv:
        address = srv.address
    with pytest.raises(ConnectionRefusedError):
        echo("hi", address)


def test_echo_times_out_on_a_silent_server():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        with pytest.raises(TimeoutError, match="no complete reply in the time allowed: sent 6 of 6 bytes, received 0"):
            echo("hello?", silent.getsockname(), timeout=0.3)


def test_preview_is_short_and_printable():
    assert preview(b"hello") == "'hello'"
    assert preview("я" .encode() * 50).endswith("…'")
    assert preview(b"\xff") == "'\ufffd'"


NC = shutil.which("nc")


@pytest.mark.skipif(NC is None, reason="nc (netcat-openbsd) is not installed")
def test_interop_with_netcat(server):
    host, port = server.address
    done = subprocess.run(
        [NC, "-N", "-w", "5", host, str(port)], input=UKRAINIAN.encode(), capture_output=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == UKRAINIAN


class PeerThread:
    """A one-connection TCP peer on 127.0.0.1 that runs ``behave(conn, stop)`` in a thread."""

    def __init__(self, behave):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.address = self.listener.getsockname()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(behave,), daemon=True)

    def _run(self, behave):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                behave(conn, self.stop)
            except OSError:
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.listener.close()
        self.thread.join(10)


def trickle_reply(conn, stop):
    conn.recv(100)
    while not stop.wait(0.2):  # a byte every 0.2 s: every single wait is short
        conn.sendall(b".")


def endless_reply(conn, stop):
    conn.recv(100)
    block = b"\0" * 65536
    while not stop.is_set():
        conn.sendall(block)


def test_timeout_bounds_the_whole_echo_not_each_wait():
    with PeerThread(trickle_reply) as peer:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="no complete reply in the time allowed"):
            echo("hi", peer.address, timeout=1.0)
        assert time.monotonic() - started < 3.0


def test_a_reply_that_never_ends_is_cut_off_at_a_bound():
    with PeerThread(endless_reply) as peer:
        with pytest.raises(ReplyTooLong, match="longer than 1048578 bytes"):
            echo("hi", peer.address, timeout=10)
    with PeerThread(endless_reply) as peer:
        with pytest.raises(ReplyTooLong, match="longer than 1000 bytes"):
            echo("hi", peer.address, timeout=10, max_reply=1000)


def test_a_client_trickling_bytes_holds_the_sequential_server_only_until_the_deadline():
    with EchoServer(idle_timeout=1.0, deadline=1.0) as srv:
        with socket.create_connection(srv.address, timeout=5) as trickler:
            trickler.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stop = threading.Event()

            def trickle():
                while not stop.wait(0.3):
                    try:
                        trickler.send(b"x")
                    except OSError:
                        return

            thread = threading.Thread(target=trickle, daemon=True)
            thread.start()
            time.sleep(0.1)
            started = time.monotonic()
            assert echo("next", srv.address, timeout=5) == "next"
            assert time.monotonic() - started < 3.0
            stop.set()
            thread.join(5)
    timeouts = [e for e in srv.events if e.kind == "timeout"]
    assert [e.client_id for e in timeouts] == [1] and "1 s deadline" in timeouts[0].detail

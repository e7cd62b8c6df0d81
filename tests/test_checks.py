import socket
import threading

import pytest

import socketlab
from socketlab.checks import send_and_reset, send_slowly, student_server


def echo_once(listener):
    conn, _ = listener.accept()
    with conn:
        while data := conn.recv(1024):
            conn.sendall(data)


def test_student_server_runs_a_good_function():
    with student_server(echo_once) as address:
        assert socketlab.echo("hi", address) == "hi"


def test_a_function_that_raises_fails_fast_with_its_error():
    def stub(listener):
        raise NotImplementedError("your code here")

    with pytest.raises(AssertionError, match="raised NotImplementedError: your code here"):
        with student_server(stub, timeout=5) as address:
            socketlab.echo("hi", address, timeout=5)


def test_a_function_that_never_returns_is_reported():
    stop = threading.Event()

    def forever(listener):
        conn, _ = listener.accept()
        stop.wait(10)
        conn.close()

    with pytest.raises(AssertionError, match="still running"):
        with student_server(forever, timeout=0.5) as address:
            socket.create_connection(address, timeout=5).close()
    stop.set()


def test_a_function_that_waits_for_nobody_gives_up():
    with pytest.raises(AssertionError, match="raised TimeoutError"):
        with student_server(echo_once, timeout=0.3):
            pass


def test_send_slowly_and_send_and_reset():
    with socketlab.EchoServer() as server:
        assert send_slowly(server.address, "ґ".encode() * 5) == "ґ".encode() * 5
        send_and_reset(server.address, b"partial")
        assert socketlab.echo("next", server) == "next"

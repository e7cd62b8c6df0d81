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
    with student_server(echo_once) as session:
        assert socketlab.echo("hi", session.address) == "hi"


def test_a_function_that_raises_fails_fast_with_its_error():
    def stub(listener):
        raise NotImplementedError("your code here")

    with pytest.raises(AssertionError, match="raised NotImplementedError: your code here"):
        with student_server(stub, timeout=5) as session:
            socketlab.echo("hi", session.address, timeout=5)


def test_a_function_that_never_returns_is_reported():
    stop = threading.Event()

    def forever(listener):
        conn, _ = listener.accept()
        stop.wait(10)
        conn.close()

    with pytest.raises(AssertionError, match="still running"):
        with student_server(forever, timeout=0.5) as session:
            socket.create_connection(session.address, timeout=5).close()
    stop.set()


def test_a_function_that_waits_for_nobody_gives_up():
    with pytest.raises(AssertionError, match="raised TimeoutError"):
        with student_server(echo_once, timeout=0.1):
            pass


def test_send_slowly_and_send_and_reset():
    with socketlab.EchoServer() as server:
        assert send_slowly(server.address, "ґ".encode() * 5) == "ґ".encode() * 5
        send_and_reset(server.address, b"partial")
        assert socketlab.echo("next", server) == "next"


# Answers written with the course's own code, as a student might in their own notebook.
def uses_echo(message, address):
    return socketlab.echo(message, address)


def uses_the_server(listener):
    conn, _ = listener.accept()
    socketlab.EchoServer().handle(conn, 1)


helper_alias = socketlab.recv_exactly


def uses_an_alias(sock, n):
    return helper_alias(sock, n)


def uses_an_import_inside(sock, n):
    from socketlab.streams import recv_exactly

    return recv_exactly(sock, n)


def calls_a_helper_that_cheats(message, address):
    return uses_echo(message, address)


@pytest.mark.parametrize("answer", [uses_echo, uses_the_server, uses_an_alias, uses_an_import_inside,
                                    calls_a_helper_that_cheats])
def test_no_shortcuts_refuses_the_course_code_in_one_line(answer):
    from socketlab.checks import Shortcut, no_shortcuts

    with pytest.raises(Shortcut) as caught:
        no_shortcuts(answer)
    message = str(caught.value)
    assert "\n" not in message and "socket module" in message and answer.__name__ in message


def test_an_answer_written_with_socket_passes_and_03s_client_may_use_the_protocol():
    from socketlab import protocol
    from socketlab.checks import no_shortcuts
    from socketlab.streams import recv_line

    no_shortcuts(echo_once)

    def my_send_file(path, address):
        return protocol.build_header(1, path), recv_line

    no_shortcuts(my_send_file)


def test_student_server_refuses_a_shortcut_before_it_runs():
    from socketlab.checks import Shortcut

    with pytest.raises(Shortcut, match="uses_the_server uses socketlab.EchoServer"):
        with student_server(uses_the_server):
            raise AssertionError("the server must not have started")

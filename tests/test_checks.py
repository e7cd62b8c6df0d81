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
def test_an_answer_on_the_course_code_is_told_it_will_fail_when_graded(answer, capsys):
    """Advice, not a verdict: the line says the grader will fail it; the check itself goes on."""
    from socketlab.checks import no_shortcuts

    no_shortcuts(answer)
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and said.startswith("⚠") and "when graded" in said and answer.__name__ in said


def test_honest_answers_are_told_nothing(capsys):
    """socket, socketserver's serve_forever, 03's recv_line and protocol, through a helper of the student's."""
    import socketserver

    from socketlab import protocol
    from socketlab.checks import no_shortcuts
    from socketlab.streams import recv_line

    def read_header(conn):
        return recv_line(conn)

    def my_send_file(path, address):
        return protocol.build_header(1, path), read_header(address)

    def serve_clients(listener, count):
        server = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
        server.serve_forever()

    for answer in (echo_once, my_send_file, serve_clients):
        no_shortcuts(answer)
    assert capsys.readouterr().out == ""

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


# ---- a stuck answer, an interrupt, a stale definition ------------------------------------------------

from conftest import fails_with  # noqa: E402

from socketlab.checks import echo as echo_checks  # noqa: E402


def busy_loop(message, address):
    while True:  # `while True: pass`, as a student's first loop
        pass


def sleeps_for_ever(message, address):
    import time

    time.sleep(15)  # blocked in C: nothing Python can raise reaches it before it returns


def students_threads(before=()) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "student-code" and t.is_alive() and t not in before]


def test_a_stuck_answer_is_stopped_and_the_kernel_is_idle_again():
    import time

    before = students_threads()
    message = fails_with(echo_checks.echo_client, busy_loop)
    assert "did not return within 5 s" in message and "restart" not in message, message
    assert not students_threads(before), "the student's loop runs on"
    cpu = time.process_time()
    time.sleep(0.5)
    assert time.process_time() - cpu < 0.2, "something still spins"


def test_an_answer_that_cannot_be_stopped_says_to_restart_the_kernel():
    message = fails_with(echo_checks.echo_client, sleeps_for_ever)
    assert message.splitlines()[-1].startswith("your code is still running in the background (1 thread")
    assert "Kernel → Restart" in message, message


def test_an_interrupted_check_is_one_line():
    import os
    import signal

    if not hasattr(signal, "pthread_kill"):
        pytest.skip("no signals to a thread here")
    main = threading.main_thread().ident
    if threading.current_thread().ident != main:
        pytest.skip("the test runs outside the main thread")
    before = students_threads()
    timer = threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        message = fails_with(echo_checks.echo_client, busy_loop)
    finally:
        timer.cancel()
    assert message == "✘ the check was interrupted; run it again when your code is ready", message
    assert not students_threads(before), "the student's loop runs on"
    assert os.getpid()  # (still here: the interrupt ended the check, not the test run)


STALE = r'''
import json
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
said = {}
for step, code in enumerate([
        "from socketlab.checks import echo as check",
        "def serve_one_client(listener):\n    conn, _ = listener.accept()\n    with conn:\n"
        "        while data := conn.recv(4096):\n            conn.sendall(data)",
        "check.echo_server_pieces(serve_one_client)",
        "def serve_one_client(listener):\n    conn, _ = listener.accept(\n",      # a syntax error: not defined anew
        "check.echo_server_pieces(serve_one_client)",
        "def serve_one_client(listener):\n    conn, _ = listener.accept()\n    with conn:\n"
        "        while data := conn.recv(4096):\n            conn.sendall(data)\nraise ValueError('a try-it line')",
        "check.echo_server_pieces(serve_one_client)",     # its cell failed after the def: the new one is tested
]):
    result = shell.run_cell(code)
    error = result.error_before_exec or result.error_in_exec
    said[step] = str(error) if error else "ok"
print(json.dumps(said))
'''


def test_a_check_of_a_function_whose_cell_failed_says_so(tmp_path):
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", STALE], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["2"] == "ok", said
    assert said["4"].startswith("✘ the cell that defines serve_one_client did not run (SyntaxError on line 2)"), said
    assert said["6"] == "ok", said

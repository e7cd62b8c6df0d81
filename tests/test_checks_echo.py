"""The wrong answers students write for exercises 1-3, and the one line each check gives them.

Every wrong answer must fail its check every time, with a message naming the fix;
the reference answers must pass (50 times in a row in the slow family).
"""

import socket
import threading
import time

import pytest
from conftest import fails_with, language

from socketlab.checks import CheckFailed, echo as check

# ---- exercise 1: serve_one_client --------------------------------------------------------------------


def serve_one_client(listener):  # the reference answer
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(5)
        while data := conn.recv(4096):
            conn.sendall(data)


def single_recv(listener):
    conn, _ = listener.accept()
    with conn:
        conn.sendall(conn.recv(1024))


def one_big_recv(listener):
    conn, _ = listener.accept()
    with conn:
        conn.sendall(conn.recv(1_000_000))


def send_not_sendall(listener):
    conn, _ = listener.accept()
    with conn:
        while data := conn.recv(1_000_000):
            conn.send(data)


def decodes_each_piece(listener):
    conn, _ = listener.accept()
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data.decode("utf-8").encode("utf-8"))


kept = []


def never_closes(listener):
    conn, _ = listener.accept()
    kept.append(conn)  # "closed later"
    while data := conn.recv(4096):
        conn.sendall(data)


def own_fixed_port(listener):  # the Python docs' example, pasted: no timeout, a port of its own
    HOST, PORT = "127.0.0.1", 0  # the docs say 65432; any port but the listener's is as wrong
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, PORT))
        s.listen()
        conn, addr = s.accept()
        with conn:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data)


def serves_forever(listener):
    while True:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)


def send_in_the_loop(listener):  # as a student writes it: small reads, send() for sendall()
    conn, _ = listener.accept()
    with conn:
        while True:
            data = conn.recv(1024)
            if not data:
                break
            conn.send(data)


def recv_on_the_listener(listener):
    conn, _ = listener.accept()
    with conn:
        while data := listener.recv(4096):
            conn.sendall(data)


def stub(listener):
    raise NotImplementedError("your code here")


WRONG_SERVERS = {
    send_in_the_loop: "use sendall()",
    recv_on_the_listener: "the socket that accept() returned",
    single_recv: "recv in a loop",
    one_big_recv: "recv in a loop",
    send_not_sendall: "sendall",
    decodes_each_piece: "do not decode",
    never_closes: "close conn",
    own_fixed_port: "listener.accept()",
    serves_forever: "it should return",
    stub: "NotImplementedError",
}


@pytest.mark.parametrize("answer", WRONG_SERVERS, ids=lambda f: f.__name__)
def test_every_wrong_echo_server_fails_with_its_hint(answer):
    messages = []
    for check_function in (check.echo_server, check.echo_server_pieces):
        try:
            check_function(answer)
        except CheckFailed as exc:
            messages.append(str(exc))
    both = "\n".join(messages)
    assert WRONG_SERVERS[answer] in messages[0], messages  # the first check already says it
    assert all(line.startswith(("✘", "    ")) for line in both.splitlines()), both


@pytest.mark.slow
@pytest.mark.parametrize("answer", [single_recv, one_big_recv, send_not_sendall, decodes_each_piece,
                                    send_in_the_loop], ids=lambda f: f.__name__)
def test_the_answers_that_pass_on_a_lucky_run_fail_10_times_in_a_row(answer):
    for _ in range(10):
        test_every_wrong_echo_server_fails_with_its_hint(answer)


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["client_send", "shared_conn"])
def test_the_answers_that_race_fail_10_times_in_a_row(answer):
    from test_checks_concurrency import shared_conn

    for _ in range(10):
        if answer == "client_send":
            assert "with sendall" in fails_with(check.echo_client, client_send)
        else:
            from socketlab.checks import concurrency
            assert "share one conn" in fails_with(concurrency.thread_per_client, shared_conn)


def test_the_hints_speak_ukrainian_in_the_ukrainian_edition():
    with language("uk"):
        assert "використовуйте sendall()" in fails_with(check.echo_server, send_in_the_loop)
        assert "сокет, який повернув accept()" in fails_with(check.echo_server, recv_on_the_listener)
        assert "закодуйте" in fails_with(check.echo_client, sends_text)
        assert "слухаючий сокет закрито" in fails_with(check.sequential_server, closes_the_listener)


def test_a_single_recv_fails_the_pieces_check_too():
    assert "recv in a loop" in fails_with(check.echo_server_pieces, single_recv)
    assert "recv in a loop" in fails_with(check.echo_server_pieces, one_big_recv)


def test_an_error_before_accepting_is_shown_as_it_is():
    def opens_a_missing_file(listener):
        open("/no/such/folder/log.txt")

    message = fails_with(check.echo_server, opens_a_missing_file)
    assert "FileNotFoundError" in message and "never accepted" not in message, message


def test_the_student_frames_are_shown_for_their_own_error():
    message = fails_with(check.echo_server_pieces, decodes_each_piece)
    assert "UnicodeDecodeError" in message and "decodes_each_piece(), line" in message
    assert "socketlab" not in message


def test_the_reference_server_passes(capsys):
    check.echo_server(serve_one_client)
    check.echo_server_pieces(serve_one_client)
    assert "✔" in capsys.readouterr().out


# ---- exercise 2: my_echo ------------------------------------------------------------------------


def my_echo(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")


def no_half_close(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def client_single_recv(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(1_000_000).decode(errors="replace")


def counts_characters(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while len(data) < len(message):
            data += sock.recv(4096)
    return data.decode(errors="replace")


def client_decodes_each_piece(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        sock.shutdown(socket.SHUT_WR)
        text = ""
        while chunk := sock.recv(4096):
            text += chunk.decode()
    return text


def returns_bytes(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


def no_network(message, address):
    return message


def never_reads(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        sock.shutdown(socket.SHUT_WR)
        time.sleep(0.5)  # the reply arrives meanwhile, and is never read
    return message


def client_send(message, address):  # send() for sendall(), on a socket of its own with no timeout
    with socket.create_connection(address) as sock:
        sock.send(message.encode())
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            data = sock.recv(1024)
            if not data:
                break
            reply += data
    return reply.decode()


def sends_text(message, address):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message)
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(4096).decode()


def no_end_test(message, address):  # a loop with no test for b'': it spins once the server closed
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(message.encode())
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            reply += sock.recv(4096)


WRONG_CLIENTS = {
    client_send: "with sendall",
    sends_text: "encode it first",
    no_end_test: "stop reading when recv returns b''",
    no_half_close: "shutdown(socket.SHUT_WR)",
    never_reads: "before reading the whole reply",
    client_single_recv: "recv in a loop",
    counts_characters: "bytes, not characters",
    client_decodes_each_piece: "decode once",
    returns_bytes: "should return a str",
    no_network: "without connecting",
}


@pytest.mark.parametrize("answer", WRONG_CLIENTS, ids=lambda f: f.__name__)
def test_every_wrong_echo_client_fails_with_its_hint(answer):
    message = fails_with(check.echo_client, answer)
    assert WRONG_CLIENTS[answer] in message, message


def test_a_client_decoding_each_piece_is_shown_its_own_line():
    message = fails_with(check.echo_client, client_decodes_each_piece)
    assert "text += chunk.decode()" in message and "socketlab" not in message, message


def test_the_reference_client_passes():
    check.echo_client(my_echo)


# ---- exercise 3: serve_clients -------------------------------------------------------------------


def serve_clients(listener, count):
    for _ in range(count):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass


def while_true(listener, count):  # the notebook's own model of a permanent server
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass


def one_client_only(listener, count):
    conn, _ = listener.accept()
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)


def no_timeout(listener, count):
    for _ in range(count):
        conn, _ = listener.accept()
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass


def no_except(listener, count):
    for _ in range(count):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            while data := conn.recv(4096):
                conn.sendall(data)


def docs_example(listener, count):  # the Python docs' server, pasted into the exercise
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        for _ in range(count):
            conn, addr = s.accept()
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data)


def closes_the_listener(listener, count):  # `with listener:` inside the loop
    for _ in range(count):
        with listener:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)


WRONG_SEQUENTIAL = {
    closes_the_listener: (check.sequential_server, "the listener was closed"),
    docs_example: (check.sequential_server, "listener.accept()"),
    while_true: (check.sequential_server, "not while True"),
    one_client_only: (check.sequential_server, "one after another"),
    no_timeout: (check.survives_bad_clients, "conn.settimeout"),
    no_except: (check.survives_bad_clients, "OSError"),
}


@pytest.mark.parametrize("answer", WRONG_SEQUENTIAL, ids=lambda f: f.__name__)
def test_every_wrong_sequential_server_fails_with_its_hint(answer):
    check_function, hint = WRONG_SEQUENTIAL[answer]
    assert hint in fails_with(check_function, answer)


def test_the_reference_sequential_server_passes():
    check.sequential_server(serve_clients)
    check.survives_bad_clients(serve_clients)


# ---- after a check ---------------------------------------------------------------------------------


def spins_forever(listener):
    conn, _ = listener.accept()
    while True:  # no test for the end of the stream: recv returns b'' for ever
        try:
            data = conn.recv(4096)
        except OSError:
            return
        conn.sendall(data)


def test_no_student_thread_runs_on_after_a_check():
    threads = threading.active_count()
    with pytest.raises(CheckFailed):
        check.echo_server(spins_forever)
    time.sleep(0.2)
    assert threading.active_count() <= threads
    cpu = time.process_time()
    time.sleep(0.5)
    assert time.process_time() - cpu < 0.2, "something still spins"


@pytest.mark.slow
@pytest.mark.timeout(600)  # 200 checks, beside the other slow families on two cores
def test_the_reference_answers_pass_50_times_in_a_row():
    for _ in range(50):
        check.echo_server(serve_one_client)
        check.echo_server_pieces(serve_one_client)
        check.echo_client(my_echo)
        check.sequential_server(serve_clients)
        check.survives_bad_clients(serve_clients)

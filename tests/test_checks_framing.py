"""The wrong answers students write for exercises 12 and 13 (framing, the deadlock), and the one line each
check gives them; the reference answers and right answers in other styles pass."""

import selectors
import socket
import struct
import threading

import pytest

from conftest import as_student, catalogue_tests, fails_every_time, fails_with
from socketlab.checks import framing as check


# ---- send_msg --------------------------------------------------------------------------------------


def send_msg(sock, data):  # the reference answer
    sock.sendall(struct.pack("!I", len(data)) + data)


def send_msg_in_two(sock: socket.socket, data: bytes) -> None:
    sock.sendall(len(data).to_bytes(4, "big"))
    sock.sendall(data)


def native_order(sock, data):
    sock.sendall(struct.pack("I", len(data)) + data)


def plain_send(sock, data):
    sock.send(struct.pack("!I", len(data)) + data)


def text_length(sock, data):
    sock.sendall(f"{len(data)}\n".encode() + data)


def two_bytes(sock, data):
    sock.sendall(struct.pack("!H", len(data) % 65536) + data)


WRONG_SENDERS = {native_order: "network byte order", plain_send: "sendall", text_length: "struct.pack('!I'",
                 two_bytes: "struct.pack('!I'"}




# ---- recv_msg --------------------------------------------------------------------------------------


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"the stream ended after {len(data)} of {n} bytes")
        data += chunk
    return data


def recv_msg(sock, limit=1_048_576):  # the reference answer
    first = sock.recv(4)
    if not first:
        return None
    header = first + recv_exactly(sock, 4 - len(first))
    (size,) = struct.unpack("!I", header)
    if size > limit:
        raise ValueError(f"a message of {size} bytes is over the limit of {limit}")
    return recv_exactly(sock, size)


class MessageTooLong(ValueError):
    pass


def recv_msg_with_recv_into(sock: socket.socket, limit: int = 1_048_576) -> bytes | None:
    """A student's style: recv_into a bytearray, an exception class of their own, EOFError."""
    header = bytearray(4)
    view, got = memoryview(header), 0
    while got < 4:
        n = sock.recv_into(view[got:])
        if n == 0:
            if got == 0:
                return None
            raise EOFError("обрив посеред заголовка")
        got += n
    size = int.from_bytes(header, "big")
    if size > limit:
        raise MessageTooLong(size)
    body = bytearray()
    while len(body) < size:
        chunk = sock.recv(min(65536, size - len(body)))
        if not chunk:
            raise EOFError("обрив посеред повідомлення")
        body += chunk
    return bytes(body)


def no_loop(sock, limit=1_048_576):
    header = sock.recv(4)
    if not header:
        return None
    (size,) = struct.unpack("!I", header)
    if size > limit:
        raise ValueError
    return sock.recv(size)


def body_without_loop(sock, limit=1_048_576):
    first = sock.recv(4)
    if not first:
        return None
    (size,) = struct.unpack("!I", first + recv_exactly(sock, 4 - len(first)))
    if size > limit:
        raise ValueError
    return sock.recv(size)


def native_recv(sock, limit=1_048_576):
    first = sock.recv(4)
    if not first:
        return None
    (size,) = struct.unpack("I", first + recv_exactly(sock, 4 - len(first)))
    if size > limit:
        raise ValueError("too large")
    return recv_exactly(sock, size)


def limit_after_reading(sock, limit=1_048_576):
    first = sock.recv(4)
    if not first:
        return None
    (size,) = struct.unpack("!I", first + recv_exactly(sock, 4 - len(first)))
    data = recv_exactly(sock, size)
    if size > limit:
        raise ValueError("too large")
    return data


def no_limit(sock, limit=1_048_576):
    first = sock.recv(4)
    if not first:
        return None
    (size,) = struct.unpack("!I", first + recv_exactly(sock, 4 - len(first)))
    return recv_exactly(sock, size)


def makefile_each_time(sock, limit=1_048_576):
    stream = sock.makefile("rb")
    header = stream.read(4)
    if not header:
        return None
    (size,) = struct.unpack("!I", header)
    if size > limit:
        raise ValueError
    return stream.read(size)


def empty_at_the_end(sock, limit=1_048_576):
    first = sock.recv(4)
    if not first:
        return b""
    (size,) = struct.unpack("!I", first + recv_exactly(sock, 4 - len(first)))
    if size > limit:
        raise ValueError
    return recv_exactly(sock, size)


def none_inside(sock, limit=1_048_576):
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            return None
        header += chunk
    (size,) = struct.unpack("!I", header)
    if size > limit:
        raise ValueError
    return recv_exactly(sock, size)


WRONG_RECEIVERS = {
    no_loop: "loop until you have exactly",
    body_without_loop: "loop until you have exactly",
    native_recv: "network byte order",
    limit_after_reading: "compare the length with limit first",
    no_limit: "compare the length with limit first",
    makefile_each_time: "leave the rest for the next call",
    empty_at_the_end: "return None",
    none_inside: "half a message is an error",
}




# ---- exchange ---------------------------------------------------------------------------------------


def exchange(sock, data):  # the reference answer: send in a thread while the main thread reads
    sender = threading.Thread(target=send_msg, args=(sock, data))
    sender.start()
    reply = recv_msg(sock, limit=1 << 24)
    sender.join(10)
    return reply


def exchange_by_selectors(sock, data):
    out = memoryview(struct.pack("!I", len(data)) + data)
    got, size = bytearray(), None
    sock.setblocking(False)
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while out or size is None or len(got) < size + 4:
            for _key, events in sel.select(timeout=5):
                if events & selectors.EVENT_WRITE and out:
                    out = out[sock.send(out):]
                    if not out:
                        sel.modify(sock, selectors.EVENT_READ)
                if events & selectors.EVENT_READ:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    got += chunk
                    if size is None and len(got) >= 4:
                        size = struct.unpack("!I", got[:4])[0]
    sock.setblocking(True)
    return bytes(got[4:])


def send_first(sock, data):
    send_msg(sock, data)
    return recv_msg(sock, limit=1 << 24)


def thread_not_joined(sock, data):
    threading.Thread(target=send_msg, args=(sock, data), daemon=True).start()
    return recv_msg(sock, limit=1 << 24)


WRONG_EXCHANGES = {send_first: "send in a thread of its own", thread_not_joined: "join the sending thread"}




def test_a_deadlocked_exchange_fails_in_bounded_time_and_leaves_no_thread():
    import time
    before = set(threading.enumerate())
    started = time.monotonic()
    fails_with(check.exchanger, as_student(send_first, "exchange"))
    assert time.monotonic() - started < 6
    time.sleep(0.2)
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


def exchange_with_a_typo(sock, data):
    sender = threading.Thread(target=send_msg, args=(sock, data), daemon=True)
    sender.start()
    return recv_mesage(sock)  # noqa: F821 - the student's typo


def test_an_exchange_that_raises_is_told_its_own_error_not_a_deadlock():
    message = fails_with(check.exchanger, as_student(exchange_with_a_typo, "exchange"))
    assert "NameError" in message and "recv_mesage" in message and "sent first" not in message, message


# ---- every exercise: each wrong answer fails with its hint; right answers in other styles pass --------

EXERCISES = [(check.sender, "send_msg", WRONG_SENDERS, [send_msg, send_msg_in_two]),
             (check.receiver, "recv_msg", WRONG_RECEIVERS, [recv_msg, recv_msg_with_recv_into]),
             (check.exchanger, "exchange", WRONG_EXCHANGES, [exchange, exchange_by_selectors])]
test_every_wrong_answer_fails_with_its_hint, test_right_answers_pass = catalogue_tests(EXERCISES)


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e[1])
def test_the_reference_answers_pass_10_times_in_a_row(exercise, capsys):
    run, name, _wrong, right = exercise
    for _ in range(10):
        run(as_student(right[0], name))
    assert capsys.readouterr().out.count("✔") == 10


@pytest.mark.slow
@pytest.mark.parametrize("answer", [thread_not_joined, no_loop, body_without_loop, makefile_each_time],
                         ids=lambda f: f.__name__)
def test_the_answers_that_race_fail_10_times_in_a_row(answer):
    fails_every_time(EXERCISES, answer)

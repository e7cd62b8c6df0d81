"""The wrong answers students write for exercises 9–11 (UDP), and the one line each check gives them.

Every wrong answer must fail its check, every time, with a message naming the fix; the
reference answers must pass, and so must right answers written in other styles.
"""

import random
import socket
import time

import pytest

from conftest import as_student, catalogue_tests, fails_every_time
from socketlab.checks import CheckFailed, udp as check


# ---- exercise 9: udp_echo_server -----------------------------------------------------------------------


def udp_echo_server(sock, count):  # the reference answer
    for _ in range(count):
        data, address = sock.recvfrom(65535)
        sock.sendto(data, address)


def while_loop_with_logging(sock, count):
    import logging
    served = 0
    while served < count:
        data, address = sock.recvfrom(2 ** 16)
        logging.getLogger("udp").info("%d bytes from %s", len(data), address)
        sent = sock.sendto(data, address)
        assert sent == len(data)
        served += 1


def first_sender_only(sock, count):
    data, first = sock.recvfrom(65535)
    sock.sendto(data, first)
    for _ in range(count - 1):
        data = sock.recv(65535)
        sock.sendto(data, first)


def send_not_sendto(sock, count):
    for _ in range(count):
        data = sock.recv(65535)
        sock.send(data)


def small_buffer(sock, count):
    for _ in range(count):
        data, address = sock.recvfrom(1024)
        sock.sendto(data, address)


def stops_on_empty(sock, count):
    for _ in range(count):
        data, address = sock.recvfrom(65535)
        if not data:
            break
        sock.sendto(data, address)


def never_returns(sock, count):
    while True:
        data, address = sock.recvfrom(65535)
        sock.sendto(data, address)


WRONG_SERVERS = {
    first_sender_only: "its own sender",
    send_not_sendto: "no peer",
    small_buffer: "recvfrom(65535)",
    stops_on_empty: "empty datagram",
    never_returns: "still running",
}




# ---- exercise 10: ping ----------------------------------------------------------------------------------


def ping(address, count, timeout=1.0):  # the reference answer
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(1, count + 1):
            message = f"Ping {seq} {time.time()}".encode()
            start = time.perf_counter()
            sock.sendto(message, address)
            rtt = None
            deadline = start + timeout
            while (left := deadline - time.perf_counter()) > 0:
                sock.settimeout(left)
                try:
                    reply, _ = sock.recvfrom(65535)
                except TimeoutError:
                    break
                if reply == message:
                    rtt = time.perf_counter() - start
                    break
            rtts.append(rtt)
    return rtts, rtts.count(None) / count


class NoReply(Exception):
    pass


def ping_with_own_helpers(address, count: int, timeout: float = 1.0) -> tuple[list[float | None], float]:
    """A student's style: a helper, an exception class of their own, socket.timeout, a dict of times."""
    def wait_for(sock, seq):
        deadline = time.monotonic() + timeout
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data, _server = sock.recvfrom(4096)
            except socket.timeout:
                raise NoReply(seq)
            if data.split()[1] == str(seq).encode():
                return
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    times = {}
    try:
        for seq in range(count):
            t0 = time.monotonic()
            sock.sendto(b"Ping %d %f" % (seq, time.time()), address)
            try:
                wait_for(sock, seq)
                times[seq] = time.monotonic() - t0
            except NoReply:
                times[seq] = None
    finally:
        sock.close()
    rtts = [times[s] for s in range(count)]
    return rtts, sum(1 for r in rtts if r is None) / len(rtts)


def no_timeout(address, count, timeout=1.0):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(count):
            start = time.perf_counter()
            sock.sendto(f"Ping {seq}".encode(), address)
            sock.recvfrom(65535)
            rtts.append(time.perf_counter() - start)
    return rtts, 0.0


def unmatched(address, count, timeout=1.0):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for seq in range(count):
            start = time.perf_counter()
            sock.sendto(f"Ping {seq}".encode(), address)
            try:
                sock.recvfrom(65535)
                rtts.append(time.perf_counter() - start)
            except socket.timeout:
                rtts.append(None)
    return rtts, rtts.count(None) / count


def stops_at_first_loss(address, count, timeout=1.0):
    rtts = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for seq in range(count):
            start = time.perf_counter()
            sock.sendto(f"Ping {seq}".encode(), address)
            sock.recvfrom(65535)
            rtts.append(time.perf_counter() - start)
    return rtts, 0.0


def milliseconds(address, count, timeout=1.0):
    rtts, loss = ping(address, count, timeout)
    return [r * 1000 if r is not None else None for r in rtts], loss


def loss_in_percent(address, count, timeout=1.0):
    rtts, loss = ping(address, count, timeout)
    return rtts, loss * 100


def only_the_times(address, count, timeout=1.0):
    return ping(address, count, timeout)[0]


WRONG_PINGERS = {
    no_timeout: "give the socket a timeout",
    unmatched: "skip the replies to other pings",
    stops_at_first_loss: "TimeoutError",
    milliseconds: "in seconds",
    loss_in_percent: "fraction",
    only_the_times: "return rtts, loss",
}




# ---- exercise 11: request ------------------------------------------------------------------------------


def request(sock, address, data, first_wait=0.1, attempts=5):  # the reference answer
    request_id = random.randbytes(8).hex().encode()
    wait = first_wait
    for _ in range(attempts):
        sock.sendto(request_id + b" " + data, address)
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                reply, sender = sock.recvfrom(65535)
            except TimeoutError:
                break
            if sender == address and reply.startswith(request_id + b" "):
                return reply[len(request_id) + 1:]
        wait *= 2
    raise TimeoutError(f"no reply after {attempts} attempts")


_counter = iter(range(10**9))


class GaveUp(TimeoutError):
    pass


def request_with_a_counter(sock, address, data: bytes, first_wait: float = 0.1, attempts: int = 5) -> bytes:
    """A student's style: a global counter as the id, a struct header, a timeout that restarts per recv."""
    import struct
    number = next(_counter)
    header = struct.pack("!Q", number)
    wait = first_wait
    for attempt in range(attempts):
        sock.sendto(header + data, address)
        sock.settimeout(wait)
        try:
            while True:
                reply, _ = sock.recvfrom(65535)
                if reply[:8] == header:
                    return reply[8:]
        except socket.timeout:
            wait = wait * 2
    raise GaveUp(number)


def no_timeout_request(sock, address, data, first_wait=0.1, attempts=5):
    sock.sendto(data, address)
    return sock.recvfrom(65535)[0]


def no_retry(sock, address, data, first_wait=0.1, attempts=5):
    sock.settimeout(first_wait)
    sock.sendto(data, address)
    return sock.recvfrom(65535)[0]


def no_id(sock, address, data, first_wait=0.1, attempts=5):
    wait = first_wait
    for _ in range(attempts):
        sock.sendto(data, address)
        sock.settimeout(wait)
        try:
            return sock.recvfrom(65535)[0]
        except TimeoutError:
            wait *= 2
    raise TimeoutError


def fixed_wait(sock, address, data, first_wait=0.1, attempts=5):
    request_id = random.randbytes(8).hex().encode()
    for _ in range(attempts):
        sock.sendto(request_id + b" " + data, address)
        sock.settimeout(first_wait)
        try:
            while True:
                reply, _ = sock.recvfrom(65535)
                if reply.startswith(request_id + b" "):
                    return reply[len(request_id) + 1:]
        except TimeoutError:
            pass
    raise TimeoutError


def small_buffer_request(sock, address, data, first_wait=0.1, attempts=5):
    request_id = random.randbytes(8).hex().encode()
    wait = first_wait
    for _ in range(attempts):
        sock.sendto(request_id + b" " + data, address)
        sock.settimeout(wait)
        try:
            while True:
                reply, _ = sock.recvfrom(4096)
                if reply.startswith(request_id + b" "):
                    return reply[len(request_id) + 1:]
        except TimeoutError:
            wait *= 2
    raise TimeoutError


def returns_none_at_the_end(sock, address, data, first_wait=0.1, attempts=5):
    try:
        return request(sock, address, data, first_wait, attempts)
    except TimeoutError:
        return None


def keeps_the_id(sock, address, data, first_wait=0.1, attempts=5):
    request_id = random.randbytes(8).hex().encode()
    wait = first_wait
    for _ in range(attempts):
        sock.sendto(request_id + b" " + data, address)
        sock.settimeout(wait)
        try:
            while True:
                reply, _ = sock.recvfrom(65535)
                if reply.startswith(request_id):
                    return reply
        except TimeoutError:
            wait *= 2
    raise TimeoutError


WRONG_REQUESTS = {
    no_timeout_request: "give the socket a timeout",
    no_retry: "send again",
    no_id: "put an id in each request",
    fixed_wait: "double the wait",
    small_buffer_request: "recvfrom(65535)",
    returns_none_at_the_end: "raise TimeoutError",
    keeps_the_id: "without the id",
}


# ---- every exercise: each wrong answer fails with its hint; right answers in other styles pass --------

EXERCISES = [(check.echo_server, "udp_echo_server", WRONG_SERVERS, [udp_echo_server, while_loop_with_logging]),
             (check.pinger, "ping", WRONG_PINGERS, [ping, ping_with_own_helpers]),
             (check.retrying_request, "request", WRONG_REQUESTS, [request, request_with_a_counter])]
test_every_wrong_answer_fails_with_its_hint, test_right_answers_pass = catalogue_tests(EXERCISES)


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e[1])
def test_the_reference_answers_pass_10_times_in_a_row(exercise, capsys):
    run, name, _wrong, right = exercise
    for _ in range(10):
        run(as_student(right[0], name))
    assert capsys.readouterr().out.count("✔") == 10


def test_a_pinger_that_learnt_the_visible_fates_by_heart_fails_the_hidden_ones(capsys):
    """What the hidden test of notebook 05 is for: answers shaped after the visible check's network."""
    import ast
    from pathlib import Path

    import nbformat

    def learnt(address, count, timeout=1.0):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for n in range(count):
                sock.sendto(b"Ping %d" % n, address)
        lost = [fate in ("drop", "late") or before in ("late", "twice") and fate == "drop"
                for before, fate in zip(("",) + check.PINGS, check.PINGS)]
        return [None if gone else 0.06 for gone in lost], sum(lost) / count

    check.pinger(as_student(learnt, "ping"))
    assert "✔" in capsys.readouterr().out
    notebook = nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / "05_udp.ipynb", as_version=4)
    hidden = next(c.source for c in notebook.cells if "check.pinger(ping, fates=" in c.source)
    fates = ast.literal_eval(hidden.split("fates=")[1].split(")")[0] + ")")  # the hidden test's own fates
    with pytest.raises(CheckFailed):
        check.pinger(as_student(learnt, "ping"), fates=fates)


@pytest.mark.slow
@pytest.mark.parametrize("answer", [unmatched, no_id, fixed_wait, first_sender_only], ids=lambda f: f.__name__)
def test_the_answers_that_race_fail_10_times_in_a_row(answer):
    fails_every_time(EXERCISES, answer)

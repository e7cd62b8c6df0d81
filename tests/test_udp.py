"""The lossy UDP server, over real datagrams on 127.0.0.1: what it loses, repeats, delays and reorders,
the same on every run with the same seed."""

import socket
import time

import pytest

from socketlab.udp import MAX_DATAGRAM, LossyUDPServer


@pytest.fixture
def client():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    yield sock
    sock.close()


def replies(sock, within: float = 0.3) -> list[bytes]:
    """Every datagram that comes back within ``within`` seconds of the last one."""
    got = []
    sock.settimeout(within)
    while True:
        try:
            got.append(sock.recvfrom(MAX_DATAGRAM)[0])
        except TimeoutError:
            return got


def pings(server, sock, n: int) -> list[bool]:
    """Send n pings one after another, each waiting for its echo: which came back."""
    came = []
    sock.settimeout(0.1)  # loopback echoes in well under a millisecond: 0.1 s of silence is a loss
    for i in range(n):
        sock.sendto(f"ping {i}".encode(), server.address)
        try:
            came.append(sock.recvfrom(MAX_DATAGRAM)[0] == f"ping {i}".encode())
        except TimeoutError:
            came.append(False)
    return came


def test_a_datagram_keeps_its_boundaries(client):
    with LossyUDPServer() as server:
        client.sendto(b"one", server.address)
        client.sendto(b"two two", server.address)
        assert replies(client) == [b"one", b"two two"]  # two datagrams, never one stream "onetwo two"
        assert server.address[0] == "127.0.0.1"


def test_the_largest_datagram_travels_whole(client):
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    with LossyUDPServer() as server:
        client.sendto(b"x" * MAX_DATAGRAM, server.address)
        assert replies(client) == [b"x" * MAX_DATAGRAM]
        with pytest.raises(OSError):  # one byte more is not a UDP datagram over IPv4
            client.sendto(b"x" * (MAX_DATAGRAM + 1), server.address)


def test_everything_dropped_means_no_reply_and_a_drop_event(client):
    with LossyUDPServer(drop=1.0) as server:
        client.sendto(b"hello", server.address)
        assert replies(client) == []
    assert [e.kind for e in server.events if e.client_id == 1] == ["recv", "drop"]


def test_a_seed_gives_the_same_losses_every_run(client):
    runs = []
    for _ in range(2):
        with LossyUDPServer(drop=0.3, seed=42) as server:
            runs.append(pings(server, client, 20))
    assert runs[0] == runs[1]
    assert 0 < runs[0].count(False) < 20  # some lost, not all
    with LossyUDPServer(drop=0.3, seed=7) as server:
        assert pings(server, client, 20) != runs[0]  # another seed, another story


def test_duplicates_come_twice(client):
    with LossyUDPServer(duplicate=1.0) as server:
        client.sendto(b"twice", server.address)
        assert replies(client) == [b"twice", b"twice"]
    assert [e.kind for e in server.events if e.client_id == 1] == ["recv", "send", "send"]


def test_a_delay_holds_the_echo_back(client):
    with LossyUDPServer(delay=0.3, seed=3) as server:
        started = time.monotonic()
        client.sendto(b"slow", server.address)
        assert replies(client, 1.0) == [b"slow"]
        assert time.monotonic() - started < 1.5


def test_a_reordered_datagram_is_overtaken(client):
    # reordering holds a datagram back, so the next one overtakes it: a seed that holds the first only
    with LossyUDPServer(reorder=0.5, hold=0.4, seed=_seed_holding_only_the_first()) as server:
        client.sendto(b"first", server.address)
        client.sendto(b"second", server.address)
        assert replies(client, 0.8) == [b"second", b"first"]


def _seed_holding_only_the_first() -> int:
    """A seed whose first datagram is reordered and whose second is not (fates are drawn in order)."""
    import random

    for seed in range(1000):
        draws = random.Random(seed)
        fates = [[draws.random() for _ in range(4)] for _ in range(2)]
        if fates[0][2] < 0.5 <= fates[1][2]:
            return seed
    raise AssertionError("no such seed")


@pytest.mark.parametrize("options, word", [({"drop": 1.5}, "drop"), ({"duplicate": -0.1}, "duplicate"),
                                           ({"reorder": float("nan")}, "reorder"), ({"delay": 60}, "delay")])
def test_a_rate_out_of_range_is_refused_in_one_line(options, word):
    with pytest.raises(ValueError, match=word):
        LossyUDPServer(**options)


def test_stop_ends_the_thread_and_frees_the_port(client):
    server = LossyUDPServer().start()
    address = server.address
    server.stop()
    assert not server.running and server.events[-1].kind == "stop"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(address)  # free again


def test_the_courses_request_retries_and_takes_only_its_own_reply(client):
    from socketlab.udp import request

    # request 1: its first attempt comes back late, during request 2's wait; request 2's first is lost
    with LossyUDPServer(fates=["late", "echo", "drop", "echo"], hold=0.15) as server:
        assert request(client, server.address, b"one") == b"one"
        assert request(client, server.address, b"two") == b"two"  # not the late b"one"
        times = [e.t for e in server.events if e.kind == "recv"]
        assert len(times) == 4 and times[3] - times[2] >= 0.09  # request 2 waited 0.1 s before it sent again
    with LossyUDPServer(drop=1.0) as server, pytest.raises(TimeoutError):
        request(client, server.address, b"lost", first_wait=0.01, attempts=3)

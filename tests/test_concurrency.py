import asyncio
import os
import socket
import threading
import time

import pytest

import socketlab
from conftest import reset
from socketlab.concurrency import SERVER_KINDS, AsyncioEchoServer, SelectorEchoServer, ThreadingEchoServer, load
from socketlab.echo import run_clients
from socketlab.checks import send_slowly

KINDS = list(SERVER_KINDS.values())
CONCURRENT = [k for k in KINDS if k is not socketlab.EchoServer]


def ids(kind):
    return kind.__name__


@pytest.mark.parametrize("kind", KINDS, ids=ids)
@pytest.mark.parametrize("payload", [b"", b"x", "Привіт, світе!".encode(), os.urandom(1_000_000)],
                         ids=["empty", "1-byte", "ukrainian", "1MB"])
def test_echo_contract(kind, payload):
    with kind() as server:
        assert socketlab.echo(payload, server.address, timeout=10) == payload


@pytest.mark.parametrize("kind", KINDS, ids=ids)
def test_one_byte_at_a_time(kind):
    data = "байт за байтом".encode()
    with kind() as server:
        assert send_slowly(server.address, data, step=1) == data


@pytest.mark.parametrize("kind", KINDS, ids=ids)
def test_stop_contract(kind):
    server = kind(name="contract", idle_timeout=30).start()
    port = server.address[1]
    idle = [socket.create_connection(server.address, timeout=5) for _ in range(3)]
    time.sleep(0.1)  # let the server take them in
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    assert not server.running and socketlab.running_servers() == []
    for sock in idle:
        try:  # dropped, not left hanging: end of stream, or a reset if it was never accepted
            assert sock.recv(10) == b""
        except ConnectionResetError:
            pass
        sock.close()
    server.stop()  # twice is fine
    with kind(name="contract", port=port) as again:  # the port is free at once
        replaced = kind(name="contract").start()  # same name: the old one stops
        assert not again.running and replaced.running
        assert socketlab.echo("ok", replaced) == "ok"
        replaced.stop()
    assert [e.kind for e in server.events][-1] == "stop"


@pytest.mark.parametrize("kind", KINDS, ids=ids)
def test_100_concurrent_clients_are_all_served(kind):
    with kind(idle_timeout=10) as server:
        result = load(server, 100, seconds=0.2, timeout=20)
    assert result.failures == 0
    assert result.sessions >= 100  # every client finished at least one session
    accepts = [e for e in server.events if e.kind == "accept"]
    assert len(accepts) == result.sessions


@pytest.mark.parametrize("kind", KINDS, ids=ids)
def test_a_client_that_resets_does_not_disturb_the_others(kind):
    with kind() as server:
        sock = socket.create_connection(server.address, timeout=5)
        sock.sendall(b"half a mess")
        assert sock.recv(100) == b"half a mess"
        reset(sock)
        assert socketlab.echo("next", server) == "next"
        deadline = time.monotonic() + 5
        while not any(e.kind == "error" and e.client_id == 1 for e in server.events):
            assert time.monotonic() < deadline, server.events
            time.sleep(0.01)
        assert server.running


@pytest.mark.parametrize("kind", KINDS, ids=ids)
def test_idle_client_is_dropped(kind):
    with kind(idle_timeout=0.3) as server:
        idle = socket.create_connection(server.address, timeout=5)
        assert idle.recv(10) == b""
        idle.close()
        timeouts = [e for e in server.events if e.kind == "timeout"]
        assert [e.client_id for e in timeouts] == [1] and "idle for 0.3 s" in timeouts[0].detail


@pytest.mark.parametrize("kind", CONCURRENT, ids=ids)
def test_a_slow_client_holds_up_nobody(kind):
    with kind(idle_timeout=0.5) as server:
        runs = run_clients(server, 5, "hi", slow_first=1.0, clock=server.clock)
    assert all(run.ok for run in runs[1:])
    assert max(run.finished - run.started for run in runs[1:]) < 0.3


def test_the_sequential_server_does_make_them_wait():
    with socketlab.EchoServer(idle_timeout=0.5) as server:
        runs = run_clients(server, 3, "hi", slow_first=1.0, clock=server.clock)
    assert min(run.finished - run.started for run in runs[1:]) > 0.4


@pytest.mark.parametrize("kind", KINDS, ids=ids)
def test_slow_clients_load(kind):
    with kind(idle_timeout=5) as server:
        result = load(server, 10, seconds=0.3, rounds=2, think=0.02)
    assert result.failures == 0 and result.sessions >= 10
    if kind is socketlab.EchoServer:
        assert result.rate < 60  # 20 ms of thinking each, one at a time
    else:
        assert result.rate > 150  # ten at once


def test_selector_server_back_pressure():
    """A client that sends and never reads: the server stops reading it instead of hoarding."""
    with SelectorEchoServer() as server:
        sock = socket.create_connection(server.address, timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                sent += sock.send(b"x" * 65536)
            except BlockingIOError:
                time.sleep(0.05)  # give the server a chance to take more, if it would
                try:
                    sent += sock.send(b"x" * 65536)
                except BlockingIOError:
                    break
        pending = max(len(c.pending) for c in server._clients.values())
        assert sent > 2 * server.max_pending, "the test did not push hard enough"
        assert pending <= server.max_pending + server.bufsize
        sock.close()


def test_asyncio_server_in_a_running_event_loop():
    async def main():
        server = await AsyncioEchoServer(name="in-loop").astart()
        reply = await asyncio.to_thread(socketlab.echo, "з циклу подій", server.address)
        with pytest.raises(RuntimeError, match="await server.astart"):
            AsyncioEchoServer(name="other").start()
        replaced = await AsyncioEchoServer(name="in-loop").astart()  # a re-run cell: the old one stops
        assert not server.running
        await replaced.astop()
        return reply, server.address

    reply, address = asyncio.run(main())
    assert reply == "з циклу подій"
    with pytest.raises(ConnectionRefusedError):
        socketlab.echo("anyone?", address)


@pytest.mark.parametrize("kind", CONCURRENT, ids=ids)
def test_max_clients_is_for_the_sequential_server(kind):
    with pytest.raises(ValueError, match="sequential"):
        kind(max_clients=1)


def test_a_cancelled_client_task_ends_cancelled():
    async def scenario():
        server = await AsyncioEchoServer(name="cancel-me").astart()
        reader, writer = await asyncio.open_connection(*server.address)
        for _ in range(100):
            if server._tasks:
                break
            await asyncio.sleep(0.01)
        (task,) = server._tasks
        task.cancel()
        await asyncio.wait([task], timeout=5)
        writer.close()
        await server.astop()
        return task

    task = asyncio.run(scenario())
    assert task.done() and task.cancelled(), "the handler swallowed CancelledError"


def test_load_in_a_separate_process_pools_its_repeats_and_keeps_their_spread():
    from socketlab.concurrency import load_in_process

    with ThreadingEchoServer(idle_timeout=5) as server:
        result = load_in_process(server, 5, seconds=0.2, repeats=3, rounds=2, think=0.01)
        accepts = [e for e in server.events if e.kind == "accept"]
    assert result.failures == 0 and result.sessions == len(accepts) >= 15
    assert len(result.round_rates) == 3 and len(result.latencies) == result.sessions
    low, high = result.spread
    assert 0 < low <= result.rate <= high
    assert not [t for t in threading.enumerate() if t.name.startswith("load-client")], "the clients ran here"


def test_load_in_a_separate_process_counts_the_sessions_no_server_answered():
    from socketlab.concurrency import load_in_process

    with socket.create_server(("127.0.0.1", 0)) as closed:
        address = closed.getsockname()[:2]
    result = load_in_process(address, 2, seconds=0.1, repeats=2, timeout=2)
    assert result.sessions == 0 and result.failures >= 4 and result.round_rates == (0.0, 0.0)

"""The wrong answers students write for exercises 7 and 8, and the one line each check gives them.

Every wrong answer must fail its check every time, with a message naming the fix;
the reference answers must pass (50 times in a row in the slow family).
"""

import asyncio
import socket
import threading
import time

import pytest

from conftest import as_student

from socketlab.checks import CheckFailed, concurrency as check

# ---- exercise 7: serve_concurrently -------------------------------------------------------------


def echo_until_closed(conn):
    with conn:
        conn.settimeout(5)
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass


def serve_concurrently(listener, count):  # the reference answer
    workers = []
    for _ in range(count):
        conn, _ = listener.accept()
        worker = threading.Thread(target=echo_until_closed, args=(conn,))
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.join(10)


def no_join(listener, count):
    for _ in range(count):
        conn, _ = listener.accept()
        threading.Thread(target=echo_until_closed, args=(conn,), daemon=True).start()


def one_after_another(listener, count):
    for _ in range(count):
        conn, _ = listener.accept()
        echo_until_closed(conn)


def join_at_once(listener, count):
    for _ in range(count):
        conn, _ = listener.accept()
        worker = threading.Thread(target=echo_until_closed, args=(conn,))
        worker.start()
        worker.join(10)


def echo_without_except(conn):
    with conn:
        conn.settimeout(5)
        while data := conn.recv(4096):
            conn.sendall(data)


def no_except(listener, count):
    workers = []
    for _ in range(count):
        conn, _ = listener.accept()
        worker = threading.Thread(target=echo_without_except, args=(conn,))
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.join(10)


def echo_short_timeout(conn):
    with conn:
        conn.settimeout(0.2)
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass


def timeout_too_short(listener, count):
    workers = []
    for _ in range(count):
        conn, _ = listener.accept()
        worker = threading.Thread(target=echo_short_timeout, args=(conn,))
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.join(10)


def shared_conn(listener, count):  # the threads read a global conn: the last client's, once it was accepted
    global conn

    def handle():
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    workers = []
    for _ in range(count):
        conn, _ = listener.accept()
        worker = threading.Thread(target=handle)
        worker.start()
        workers.append(worker)
    for worker in workers:
        worker.join(10)


def stub(*args):
    raise NotImplementedError("your code here")


WRONG_THREAD_SERVERS = {
    shared_conn: "share one conn",
    no_join: "join",
    one_after_another: "one after another",
    join_at_once: "join them only after the loop",
    no_except: "catch it in the thread",
    timeout_too_short: "timeout of a few seconds",
    stub: "NotImplementedError",
}


@pytest.mark.parametrize("answer", WRONG_THREAD_SERVERS, ids=lambda f: f.__name__)
def test_every_wrong_thread_server_fails_with_its_hint(answer, capsys):
    for _ in range(2):
        with pytest.raises(CheckFailed) as caught:
            check.thread_per_client(as_student(answer, "serve_concurrently"))
        message = str(caught.value)
        assert WRONG_THREAD_SERVERS[answer] in message, message
        assert message.startswith("✘ ") and "socketlab/" not in message, message
    assert capsys.readouterr().err == "", "a student's thread printed a traceback"


def test_the_reference_thread_server_passes(capsys):
    check.thread_per_client(serve_concurrently)
    assert "✔" in capsys.readouterr().out


def test_no_student_thread_runs_on_after_the_check():
    threads = threading.active_count()
    with pytest.raises(CheckFailed):
        check.thread_per_client(no_join)
    time.sleep(0.3)
    assert threading.active_count() <= threads


# ---- exercise 8: handle_echo --------------------------------------------------------------------


async def handle_echo(reader, writer):  # the reference answer
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def sleeps(reader, writer):
    try:
        while data := await reader.read(4096):
            time.sleep(0.2)  # "the client is slow anyway"
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def blocking_socket(reader, writer):
    sock = socket.fromfd(writer.get_extra_info("socket").fileno(), socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(True)
        sock.settimeout(2)
        while data := sock.recv(4096):
            sock.sendall(data)
    except OSError:
        pass
    finally:
        sock.close()
        writer.close()


async def no_drain(reader, writer):
    while data := await reader.read(4096):
        writer.write(data)
    writer.close()


async def never_closes(reader, writer):
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()


async def single_read(reader, writer):
    writer.write(await reader.read(4096))
    await writer.drain()
    writer.close()


def not_a_coroutine(reader, writer):
    writer.close()


async def async_stub(reader, writer):
    raise NotImplementedError("your code here")


async def no_await(reader, writer):  # reader.read() without await: a coroutine, not bytes
    while data := reader.read(4096):
        writer.write(data)
        await writer.drain()


async def reads_it_all(reader, writer):  # reader.read() with no size: nothing comes back until the end
    data = await reader.read()
    writer.write(data)
    await writer.drain()
    writer.close()


WRONG_HANDLERS = {
    no_await: "await it",
    reads_it_all: "reader.read() with no size",
    sleeps: "never time.sleep",
    blocking_socket: "stopped the event loop",
    no_drain: "await writer.drain()",
    never_closes: "close the writer",
    single_read: "in a loop",
    not_a_coroutine: "async def",
    async_stub: "NotImplementedError",
}


@pytest.mark.parametrize("answer", WRONG_HANDLERS, ids=lambda f: f.__name__)
def test_every_wrong_handler_fails_with_its_hint(answer):
    for _ in range(2):
        with pytest.raises(CheckFailed) as caught:
            asyncio.run(check.asyncio_handler(as_student(answer, "handle_echo")))
        message = str(caught.value)
        assert WRONG_HANDLERS[answer] in message, message
        assert message.startswith("✘ ") and "socketlab/" not in message, message


def test_a_forgotten_await_leaves_no_warning_for_a_later_cell(recwarn):
    with pytest.raises(CheckFailed):
        asyncio.run(check.asyncio_handler(as_student(no_await, "handle_echo")))
    import gc
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)], [str(w.message) for w in recwarn]


def test_the_reference_handler_passes(capsys):
    asyncio.run(check.asyncio_handler(handle_echo))
    assert "✔" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_reference_answers_pass_50_times_in_a_row():
    for _ in range(50):
        check.thread_per_client(serve_concurrently)
        asyncio.run(check.asyncio_handler(handle_echo))

"""The checks of notebooks 01 and 02: an echo server, an echo client, a sequential server.

Each check is built to fail the common wrong answers every time, not in most runs:

- a message is sent in pieces, each only after the previous one came back, and
  split inside a Ukrainian letter: one ``recv`` cannot get it all, and decoding
  each piece breaks;
- a large message is sent while the reply is read slowly, so ``send`` (not
  ``sendall``) leaves bytes behind;
- the course's server notes whether the client half-closed or was timed out;
- a silent client, and one that crashes, come before the others.
"""

from __future__ import annotations

import socket
import threading
import time

from . import call_student, fail, preview, send_and_reset, student_server

__all__ = ["echo_server", "echo_server_pieces", "echo_client", "sequential_server", "survives_bad_clients"]

HINT_LOOP = "call recv in a loop until it returns b'' (the end of the stream)"


def _split(data: bytes, pieces: int = 3) -> list[bytes]:
    """``data`` in pieces whose boundaries fall inside two-byte letters where there are any."""
    cuts = sorted({1, *(max(1, min(len(data) - 1, len(data) * i // pieces | 1)) for i in range(1, pieces))})
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def _paced_exchange(address, pieces: list[bytes], *, wait: float = 1.0, timeout: float = 5.0) -> tuple[bytes, str]:
    """Send each piece after the echo of the previous one came back (or ``wait`` passed); read to the end.

    Returns ``(reply, how it ended)``: "end", "closed early" or "no end".
    """
    reply = bytearray()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = 0
        for piece in pieces:
            try:
                sock.sendall(piece)
            except OSError:
                return bytes(reply), "closed early"
            sent += len(piece)
            deadline = time.monotonic() + wait
            while len(reply) < sent and (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    break
                except OSError:
                    return bytes(reply), "closed early"
                if not chunk:
                    return bytes(reply), "closed early"
                reply += chunk
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(timeout)
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except TimeoutError:
            return bytes(reply), "no end"
        except OSError:
            return bytes(reply), "closed early"
    return bytes(reply), "end"


def _judge_echo(session, sent: bytes, reply: bytes, how: str, pieces: int = 1) -> None:
    """Fail with the likeliest cause if ``reply`` is not ``sent``."""
    if session.accepts == 0:
        fail("your server never accepted a client on the listener it was given: call listener.accept() "
             "(a socket of your own, on a port of your own, gets no clients)")
    if how == "no end" and reply == sent:
        fail(f"your server sent back {preview(reply)} but never closed the connection: "
             "close conn when recv returns b'' (with conn: …)")
    if reply == sent:
        return
    what = f"sent {preview(sent)}" + (f" in {pieces} pieces" if pieces > 1 else "")
    if how == "closed early" or (len(reply) < len(sent) and sent.startswith(reply)):
        fail(f"{what}, got back only {preview(reply)} before your server closed: {HINT_LOOP}")
    if how == "no end":
        fail(f"{what}, got back {preview(reply)} and the reply never ended: {HINT_LOOP}, then close conn")
    fail(f"{what}, got back {preview(reply)}: send back exactly the bytes you receive, with sendall")


def echo_server(serve_one_client, messages: list[bytes] | None = None) -> None:
    """Exercise 1: empty, short and 3 MB messages (or ``messages``) come back byte for byte."""
    for data in messages or (b"", "Привіт, світе!".encode(), "Я".encode() * 1_500_000):
        with student_server(serve_one_client, conn_timeout=5, send_buffer=65536) as session:
            reply, how = _large_exchange(session.address, data) if len(data) > 65536 else \
                _paced_exchange(session.address, [data] if data else [])
        _judge_echo(session, data, reply, how)
    print("✔ your server echoes empty, short and large messages")


def _large_exchange(address, data: bytes, *, timeout: float = 10.0) -> tuple[bytes, str]:
    """Send ``data`` while reading the reply slowly at first: a server's ``send`` then sends only part."""
    reply = bytearray()
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # small, so the server's buffer fills
        sock.settimeout(timeout)
        sock.connect(address)

        def write() -> None:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(1.0)  # read nothing at first: the server's buffer fills, and a single send() takes only part
        how = "end"
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except TimeoutError:
            how = "no end"
        except OSError:
            how = "closed early"
        writer.join(timeout)
    return bytes(reply), how


def echo_server_pieces(serve_one_client) -> None:
    """Exercise 1: a message in pieces, split inside letters, each sent after the last came back."""
    data = "Байт за байтом, шматок за шматком".encode()
    pieces = _split(data, 4)
    with student_server(serve_one_client, conn_timeout=5) as session:
        reply, how = _paced_exchange(session.address, pieces)
    _judge_echo(session, data, reply, how, pieces=len(pieces))
    print("✔ your server copes with a message arriving in pieces")


# ---- exercise 2: the client ----------------------------------------------------------------------


class _EchoJudge:
    """The course's side of the client check: one connection, a note of how the client ended, a paced reply."""

    def __init__(self, idle: float = 1.5):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(8)
        self.address = self.listener.getsockname()[:2]
        self.idle = idle
        self.connected = False
        self.ended = ""  # "half-close" or "silence"
        self.received = b""
        self.thread = threading.Thread(target=self._serve, name="echo-judge", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.connected = True
        with conn:
            conn.settimeout(self.idle)
            data = bytearray()
            try:
                while chunk := conn.recv(65536):
                    data += chunk
                self.ended = "half-close"
            except TimeoutError:
                self.ended = "silence"
            except OSError:
                self.ended = "reset"
            self.received = bytes(data)
            conn.settimeout(5)
            try:
                for piece in _split(self.received, 3):  # in pieces: one recv() gets only the first
                    conn.sendall(piece)
                    time.sleep(0.05)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


def echo_client(my_echo, messages: list[str] | None = None) -> None:
    """Exercise 2: the client half-closes, reads the reply to its end and decodes it once."""
    for message in messages or ("Привіт, світе!", "", "ґ" * 1_000_000):
        judge = _EchoJudge()
        try:
            reply = call_student(my_echo, message, judge.address, timeout=10,
                                 on_timeout=f"my_echo({preview(message)}) did not return within 10 s")
        except Exception as exc:
            if isinstance(exc.__cause__ or exc, UnicodeDecodeError) or "UnicodeDecodeError" in str(exc):
                fail(f"my_echo raised UnicodeDecodeError: a letter was split between two recv()s; "
                     "join all the bytes first, then decode once")
            raise
        finally:
            judge.close()
        sent = message.encode()
        if not judge.connected:
            fail(f"my_echo returned {preview(reply)} without connecting to the server: connect to address")
        if judge.received != sent:
            fail(f"my_echo was given {preview(message)}, the server received {preview(judge.received)}: "
                 "send message.encode('utf-8') with sendall")
        if judge.ended == "silence":
            fail("your client never said it was done sending, so the server waited for more: "
                 "call sock.shutdown(socket.SHUT_WR) after sendall")
        if not isinstance(reply, str):
            fail(f"my_echo should return a str, it returned {type(reply).__name__}: decode the reply")
        if reply != message:
            if len(reply) < len(message) and not message.isascii():
                fail(f"sent {preview(message)}, my_echo returned {preview(reply)}: {HINT_LOOP} "
                     "(and count bytes, not characters: a Ukrainian letter is 2 bytes in UTF-8)")
            fail(f"sent {preview(message)}, my_echo returned {preview(reply)}: {HINT_LOOP}, then decode once")
    print("✔ your client half-closes, reads the whole reply and decodes it")


# ---- exercise 3: a sequential server ----------------------------------------------------------------


def _echo_once(address, text: str, timeout: float) -> str | None:
    """One well-behaved client; its reply, or None if it got none in time."""
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(text.encode())
            sock.shutdown(socket.SHUT_WR)
            reply = bytearray()
            while chunk := sock.recv(65536):
                reply += chunk
        return reply.decode(errors="replace")
    except OSError:
        return None


def sequential_server(serve_clients, count: int = 3) -> None:
    """Exercise 3: ``count`` clients one after another, then the function returns."""
    with student_server(lambda listener: serve_clients(listener, count), name="serve_clients") as session:
        for i in range(1, count + 1):
            reply = _echo_once(session.address, f"клієнт {i}", timeout=4)
            if reply != f"клієнт {i}":
                served = f"served {i - 1} client{'s' if i != 2 else ''}" if reply is None else f"client {i} got back {reply!r}"
                if session.failure is not None:
                    break  # its error says more
                fail(f"{served}, then client {i} got no echo: accept {count} clients, one after another "
                     f"(for _ in range(count)), each until its recv returns b''")
        session.done.wait(2)
        if not session.done.is_set():
            fail(f"your serve_clients served {count} clients but did not return: serve count clients, "
                 "then return (for _ in range(count), not while True)")
    print(f"✔ your server serves {count} clients one after another, then returns")


def survives_bad_clients(serve_clients) -> None:
    """Exercise 3: a client that crashes, and one that stays silent, do not stop the next client."""
    with student_server(lambda listener: serve_clients(listener, 3), name="serve_clients", timeout=15) as session:
        send_and_reset(session.address, b"half a messa")  # a client that crashes mid-message
        silent = socket.create_connection(session.address, timeout=10)  # and one that says nothing
        try:
            started = time.monotonic()
            reply = _echo_once(session.address, "I am next", timeout=8)
            waited = time.monotonic() - started
        finally:
            silent.close()
        if reply != "I am next" or waited > 6:
            fail(f"after a crashed and a silent client, the next one waited {waited:.0f} s and got {reply!r}: "
                 "set a timeout on each connection (conn.settimeout(2)), catch OSError, serve the next client")
    print("✔ a crashed client and a silent one do not stop your server")

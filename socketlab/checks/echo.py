"""The checks of notebooks 01 and 02: an echo server, an echo client, a sequential server.

Each check is built to fail the common wrong answers every time, not in most runs:

- a message is sent in pieces, each only after the previous one came back, and
  split inside a Ukrainian letter: one ``recv`` cannot get it all, and decoding
  each piece breaks;
- a large message is sent while the reply is read slowly, so ``send`` (not
  ``sendall``) leaves bytes behind;
- the course's server notes whether the client half-closed or was timed out,
  and replies through a small send buffer, so a client that returns what it
  sent without reading the reply resets the connection under it;
- a silent client, and one that crashes, come before the others.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

from ..i18n import N_, _, ngettext
from . import CheckFailed, call_student, close_listener, fail, preview, send_and_reset, stops_cleanly, student_server

__all__ = ["echo_server", "echo_server_pieces", "echo_client", "sequential_server", "survives_bad_clients"]

# Once a whole reply came back, its end of stream comes at once from any server that closes:
# waiting longer for it only delays the hint for one that never does.
_END_DUE = 2.0
HINT_LOOP = N_("call recv in a loop until it returns b'' (the end of the stream)")  # _(HINT_LOOP) where used


def _split(data: bytes, pieces: int = 3) -> list[bytes]:
    """``data`` in pieces whose boundaries fall inside two-byte letters where there are any."""
    cuts = sorted({1, *(max(1, min(len(data) - 1, len(data) * i // pieces | 1)) for i in range(1, pieces))})
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def _paced_exchange(address, pieces: list[bytes], *, wait: float = 1.0, timeout: float = 5.0,
                    unaccepted: Callable[[], bool] = lambda: False) -> tuple[bytes, str]:
    """Send each piece after the echo of the previous one came back (or ``wait`` passed); read to the end.

    Returns ``(reply, how it ended)``: "end", "closed early" or "no end" (at once if ``unaccepted()``
    says, when the first piece got no echo, that the server never took this connection).
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
            if not reply and unaccepted():
                return b"", "no end"
        sock.shutdown(socket.SHUT_WR)
        end_due = min(timeout, _END_DUE)
        sock.settimeout(end_due if len(reply) >= sent else timeout)
        try:
            while chunk := sock.recv(65536):
                reply += chunk
                if len(reply) >= sent:
                    sock.settimeout(end_due)
        except TimeoutError:
            return bytes(reply), "no end"
        except OSError:
            return bytes(reply), "closed early"
    return bytes(reply), "end"


def _judge_echo(session, sent: bytes, reply: bytes, how: str, pieces: list[bytes] | None = None) -> None:
    """Fail with the likeliest cause if ``reply`` is not ``sent`` (sent as ``pieces``, each after the echo of
    the one before). What came back decides; the count of accepts, which a graded kernel reports itself,
    only names the cause of a reply that never came."""
    if reply == sent and how != "no end":
        return
    if session.accepts == 0 and not reply:
        fail(_("your server never accepted a client on the listener it was given: call listener.accept() "
               "(a socket of your own, on a port of your own, gets no clients)"))
    if how == "no end" and reply == sent:
        fail(_("your server sent back {reply} but never closed the connection: "
               "close conn when recv returns b'' (with conn: …)").format(reply=preview(reply)))
    if reply == sent:
        return
    count = len(pieces or [sent])
    what = (ngettext("sent {data} in {n} piece", "sent {data} in {n} pieces", count) if count > 1
            else _("sent {data}")).format(data=preview(sent), n=count)
    ends = {sum(map(len, (pieces or [sent])[:i])) for i in range(count + 1)}  # where a whole piece ends
    if len(reply) < len(sent) and not (sent.startswith(reply) and len(reply) in ends):
        # Bytes went missing inside a piece: send() took only part of what it was given.
        fail(_("{what}, got back only {reply}: send() may send only part of what it is given (it returns how "
               "much); use sendall(), which sends it all").format(what=what, reply=preview(reply)))
    if how == "closed early" or (len(reply) < len(sent) and sent.startswith(reply)):
        fail(_("{what}, got back only {reply} before your server closed: {hint}").format(
            what=what, reply=preview(reply), hint=_(HINT_LOOP)))
    if how == "no end":
        fail(_("{what}, got back {reply} and the reply never ended: {hint}, then close conn").format(
            what=what, reply=preview(reply), hint=_(HINT_LOOP)))
    fail(_("{what}, got back {reply}: send back exactly the bytes you receive, with sendall").format(
        what=what, reply=preview(reply)))


def _numbered_lines(size: int) -> bytes:
    """``size`` bytes of numbered Ukrainian lines: no stretch of it repeats, so an echo that lost
    bytes in the middle (``send`` instead of ``sendall``) never looks like one cut short."""
    lines = (f"{i:07d} Привіт, світе!\n" for i in range(size // 30 + 1))
    return "".join(lines).encode()[:size]


@stops_cleanly
def echo_server(serve_one_client, messages: list[bytes] | None = None) -> None:
    """Exercise 1: empty, short and 3 MB messages (or ``messages``) come back byte for byte."""
    for data in messages or ("Привіт, світе!".encode(), b"", _numbered_lines(3_000_000)):
        # A short message in two pieces, cut inside a letter: one recv() gets only the first, and
        # decoding each piece fails; a large one read slowly.
        pieces = [] if not data else [data] if len(data) > 65536 or len(data) < 2 else _split(data, 2)
        with student_server(serve_one_client, conn_timeout=5, send_buffer=65536) as session:
            reply, how = _large_exchange(session.address, data) if len(data) > 65536 else \
                _paced_exchange(session.address, pieces, unaccepted=lambda: session.accepts == 0)
        _judge_echo(session, data, reply, how, pieces)
    print("✔ " + _("your server echoes empty, short and large messages"))


def _large_exchange(address, data: bytes, *, timeout: float = 10.0, pause: float = 0.25,
                    wait_out: bool = False, absorbed: list[int] | None = None) -> tuple[bytes, str]:
    """Send ``data`` while reading nothing until the buffers are full (or ``pause`` s, all of it if
    ``wait_out``), then read the echo to its end.

    Its small receive buffer fills at once: a server's single ``send()`` then takes only part,
    and a handler that never drains piles the rest up. ``absorbed`` receives how many bytes
    the server took in before this client began to read: with small buffers on this side,
    a server that waits for its writes to drain takes about a megabyte, one that hoards takes all.
    """
    reply = bytearray()
    sent = [0]
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.settimeout(timeout)
        sock.connect(address)

        def write() -> None:
            try:
                for i in range(0, len(data), 65536):
                    sock.sendall(data[i:i + 65536])
                    sent[0] = i + 65536
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        if wait_out:
            time.sleep(pause)
        else:
            # Wait until half a megabyte has gone out (more than both buffers hold, so the server
            # has met a full one), or all of it, however slow the machine; at most two seconds.
            deadline = time.monotonic() + 2.0
            while writer.is_alive() and sent[0] < min(len(data), 1 << 19) and time.monotonic() < deadline:
                writer.join(0.005)
            writer.join(pause if writer.is_alive() else 0)
        if absorbed is not None:
            absorbed.append(sent[0])
        how = "end"
        try:
            while chunk := sock.recv(1 << 20):
                reply += chunk
                if len(reply) >= len(data):
                    sock.settimeout(min(timeout, _END_DUE))
        except TimeoutError:
            how = "no end"
        except OSError:
            how = "closed early"
        writer.join(timeout)
    return bytes(reply), how


@stops_cleanly
def echo_server_pieces(serve_one_client) -> None:
    """Exercise 1: a message in pieces, split inside letters, each sent after the last came back."""
    data = "Байт за байтом, шматок за шматком".encode()
    pieces = _split(data, 4)
    with student_server(serve_one_client, conn_timeout=5) as session:
        reply, how = _paced_exchange(session.address, pieces, unaccepted=lambda: session.accepts == 0)
    _judge_echo(session, data, reply, how, pieces)
    print("✔ " + _("your server copes with a message arriving in pieces"))


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
        self.unread = False  # the client closed with some of the reply never read
        self.replied = False  # the whole reply went out, and the connection was closed
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
            time.sleep(0.1)  # a reader that stalls: the client's send() then meets a full buffer
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
            # A small send buffer: a large reply then goes out only as fast as the client reads it,
            # and a client that closes without reading it all resets the connection under our sendall.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            try:
                for piece in _split(self.received, 3):  # in pieces: one recv() gets only the first
                    conn.sendall(piece)
                    time.sleep(0.05)
            except OSError:
                self.unread = True
                return
        self.replied = True

    def close(self) -> None:
        close_listener(self.listener)
        self.thread.join(10)


@stops_cleanly
def echo_client(my_echo, messages: list[str] | None = None) -> None:
    """Exercise 2: the client half-closes, reads the reply to its end and decodes it once."""
    for message in messages or ("Привіт, світе!", "", "ґ" * 1_000_000):
        judge = _EchoJudge()
        seconds = 5 if len(message) < 1000 else 10
        try:
            reply = call_student(my_echo, message, judge.address, timeout=seconds)
        except CheckFailed as exc:
            if exc.timed_out and judge.replied:
                fail(_("the server sent back {message} and closed, but my_echo did not return within {seconds} s: "
                       "stop reading when recv returns b'' (while chunk := sock.recv(4096): …)").format(
                    message=preview(message), seconds=seconds))
            if exc.timed_out:
                fail(_("my_echo({message}) did not return within {seconds} s").format(
                    message=preview(message), seconds=seconds))
            if isinstance(exc.error, UnicodeDecodeError):
                frames = str(exc).partition("\n")[2]  # the student's own lines, as raised() showed them
                fail(_("my_echo raised UnicodeDecodeError: a letter was split between two recv()s; "
                       "join all the bytes first, then decode once") + (f"\n{frames}" if frames else ""))
            raise
        finally:
            judge.close()
        sent = message.encode()
        if not judge.connected:
            fail(_("my_echo returned {reply} without connecting to the server: connect to address").format(
                reply=preview(reply)))
        if judge.received != sent:
            fail(_("my_echo was given {message}, the server received {received}: "
                   "send message.encode('utf-8') with sendall").format(message=preview(message),
                                                                      received=preview(judge.received)))
        if judge.ended == "silence":
            fail(_("your client never said it was done sending, so the server waited for more: "
                   "call sock.shutdown(socket.SHUT_WR) after sendall"))
        if not isinstance(reply, str):
            fail(_("my_echo should return a str, it returned {type}: decode the reply").format(
                type=type(reply).__name__))
        if reply != message:
            if len(reply) < len(message) and not message.isascii():
                fail(_("sent {message}, my_echo returned {reply}: {hint} "
                       "(and count bytes, not characters: a Ukrainian letter is 2 bytes in UTF-8)").format(
                    message=preview(message), reply=preview(reply), hint=_(HINT_LOOP)))
            fail(_("sent {message}, my_echo returned {reply}: {hint}, then decode once").format(
                message=preview(message), reply=preview(reply), hint=_(HINT_LOOP)))
        if judge.unread:
            fail(_("my_echo returned {reply}, but closed its connection before reading the whole reply from "
                   "the server: return what you received, not the message you sent").format(reply=preview(reply)))
    print("✔ " + _("your client half-closes, reads the whole reply and decodes it"))


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


@stops_cleanly
def sequential_server(serve_clients, count: int = 3) -> None:
    """Exercise 3: ``count`` clients one after another, then the function returns."""
    with student_server(lambda listener: serve_clients(listener, count), name="serve_clients") as session:
        for i in range(1, count + 1):
            reply = _echo_once(session.address, f"клієнт {i}", timeout=4)
            if reply != f"клієнт {i}":
                served = (ngettext("served {n} client", "served {n} clients", i - 1).format(n=i - 1)
                          if reply is None else _("client {i} got back {reply}").format(i=i, reply=repr(reply)))
                if session.failure is not None:
                    break  # its error says more
                fail(_("{served}, then client {i} got no echo: accept {count} clients, one after another "
                       "(for _ in range(count)), each until its recv returns b''").format(served=served, i=i,
                                                                                          count=count))
        session.done.wait(2)
        if not session.done.is_set():
            fail(_("your serve_clients served {count} clients but did not return: serve count clients, "
                   "then return (for _ in range(count), not while True)").format(count=count))
    print("✔ " + ngettext("your server serves {count} client one after another, then returns",
                          "your server serves {count} clients one after another, then returns",
                          count).format(count=count))


@stops_cleanly
def survives_bad_clients(serve_clients) -> None:
    """Exercise 3: a client that crashes, and one that stays silent, do not stop the next client."""
    with student_server(lambda listener: serve_clients(listener, 3), name="serve_clients", timeout=15,
                        vanishing=True) as session:
        send_and_reset(session.address, b"half a messa")  # a client that crashes mid-message
        silent = socket.create_connection(session.address, timeout=10)  # and one that says nothing
        try:
            started = time.monotonic()
            reply = _echo_once(session.address, "I am next", timeout=8)
            waited = time.monotonic() - started
        finally:
            silent.close()
        if reply != "I am next" or waited > 6:
            fail(_("after a crashed and a silent client, the next one waited {seconds:.0f} s and got {reply}: "
                   "set a timeout on each connection (conn.settimeout(1)), catch OSError, "
                   "serve the next client").format(seconds=waited, reply=repr(reply)))
    print("✔ " + _("a crashed client and a silent one do not stop your server"))

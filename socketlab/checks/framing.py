"""The checks of notebook 06: ``send_msg``/``recv_msg`` with a 4-byte big-endian length, and ``exchange()``.

Each is built to fail the common wrong answers every time:

- ``send_msg`` writes to a connection with a small send buffer and a time limit, whose reader waits a
  moment before reading: a single ``send()`` then takes only part of a large message;
- ``recv_msg`` gets a message split at every byte boundary (its pieces arrive apart), messages run
  together in one piece, an empty message, a header with the other byte order's meaning, a length
  over the limit whose body never comes, and streams that end before and inside a message;
- ``exchange`` meets a peer that sends its own large message before it reads, over buffers far
  smaller than either message: an answer that also sends first is stuck, and fails in bounded time.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

from ..i18n import N_, _
from . import CheckFailed, call_student, fail, preview, stops_cleanly
from .concurrency import _thread_errors
from ..framing import queued
from .harness import _Listener

__all__ = ["sender", "receiver", "exchanger"]

HINT_ORDER = N_("use network byte order, struct.pack('!I', len(data)) and struct.unpack('!I', header): "
                "the native order is reversed on most machines")
HINT_EXACTLY = N_("recv(n) may return fewer than n bytes: loop until you have exactly the 4 bytes of the header, "
                  "then exactly as many as it says")
LIMIT = 1 << 20


def _pair(*, buffer: int | None = None, timeout: float = 5.0) -> tuple[socket.socket, socket.socket]:
    """``(the student's end, the check's end)`` of a connection on 127.0.0.1; the student's end is one whose
    ``send()`` takes at most half of what it is given (as a busy network's may)."""
    listener = _Listener(socket.AF_INET, socket.SOCK_STREAM, send_buffer=buffer)
    with listener:
        if buffer:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        ours = socket.socket()
        if buffer:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        ours.connect(listener.getsockname())
        theirs, _peer = listener.accept()
    theirs.settimeout(timeout)
    ours.settimeout(timeout)
    ours.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return theirs, ours


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


# ---- exercise 12a: send_msg -----------------------------------------------------------------------


@stops_cleanly
def sender(send_msg) -> None:
    """``send_msg(sock, data)``: a short, an empty and a 1 MB message, each with its 4-byte big-endian length."""
    messages = ["Привіт".encode(), b"", ("ї" * 500_000).encode()]
    theirs, ours = _pair(buffer=65536, timeout=3.0)
    got: list[tuple[bytes, bytes]] = []

    def read() -> None:
        time.sleep(0.1)  # the reader is slow to start: a large message does not fit the buffers at once
        for data in messages:
            header = _read_exactly(ours, 4)
            size = struct.unpack("!I", header)[0] if len(header) == 4 else -1
            got.append((header, _read_exactly(ours, min(size, len(data) + 16)) if size >= 0 else b""))

    reader = threading.Thread(target=read, name="check-reader", daemon=True)
    reader.start()
    try:
        for data in messages:
            call_student(send_msg, theirs, data, timeout=8)
        theirs.shutdown(socket.SHUT_WR)
        reader.join(5)
    finally:
        theirs.close()
        ours.close()
    for data, (header, body) in zip(messages, got):
        expected = struct.pack("!I", len(data))
        if header == struct.pack("=I", len(data)) != expected:
            fail(_("a message of {n} bytes went with the header {header}: {hint}").format(
                n=len(data), header=header.hex(" "), hint=_(HINT_ORDER)))
        if header != expected:
            fail(_("a message of {n} bytes went with the header {header}, not {expected}: send its length as 4 "
                   "bytes, struct.pack('!I', len(data)), then the data").format(
                n=len(data), header=header.hex(" ") or _("nothing"), expected=expected.hex(" ")))
        if body != data:
            fail(_("a message of {n} bytes arrived as {m}: send() may take only part of it; use sendall").format(
                n=len(data), m=len(body)))
    if len(got) < len(messages):
        fail(_("only {k} of {n} messages arrived whole: send every byte with sendall").format(k=len(got),
                                                                                          n=len(messages)))
    print("✔ " + _("your send_msg frames short, empty and large messages with a big-endian length"))


# ---- exercise 12b: recv_msg -----------------------------------------------------------------------


def _framed(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def _write_pieces(sock: socket.socket, pieces: list[bytes], reader: socket.socket) -> None:
    """Each piece once the reader has taken the one before: then its ``recv()`` gets them apart."""
    with contextlib.suppress(OSError):
        for piece in pieces:
            _taken(reader)
            sock.sendall(piece)


def _taken(reader: socket.socket, wait: float = 1.0) -> None:
    """Until ``reader`` holds no unread byte (where the system tells; else a pause), at most ``wait`` s."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        counts = queued(reader)
        if counts is None:
            time.sleep(0.05)
            return
        if counts[1] == 0:
            time.sleep(0.005)  # (the reader's recv has returned, and it is back in the next one, or soon)
            return
        time.sleep(0.002)


@stops_cleanly
def receiver(recv_msg) -> None:
    """``recv_msg(sock, limit)``: pieces at every byte boundary, messages run together, the limit, the end."""
    body = "шість!".encode()[:6]  # 6 bytes: the header and the body are split at each of 9 places
    framed = _framed(body)
    texts = [f"{i}: ✓".encode() for i in range(3)]
    plan = [framed[:k] for k in range(1, len(framed))]  # first pieces; the rest of each follows
    theirs, ours = _pair(timeout=3.0)
    try:
        pieces: list[bytes] = []
        for k in range(1, len(framed)):
            pieces += [framed[:k], framed[k:]]
        pieces += [b"".join(_framed(t) for t in texts), _framed(b"")]
        writer = threading.Thread(target=_write_pieces, args=(ours, pieces, theirs), name="check-writer", daemon=True)
        writer.start()
        expected = [body] * len(plan) + texts + [b""]
        for i, data in enumerate(expected):
            got = _receive(recv_msg, theirs, i, data, together=i >= len(plan))
            if got == data:
                continue
            if isinstance(got, (bytes, bytearray)) and got and data.startswith(bytes(got)) or i < len(plan):
                split = i + 1
                where = _("inside the header") if split < 4 else _("inside the body")
                fail(_("a message of 6 bytes came in two pieces, split {where} after byte {split}, and your recv_msg "
                       "returned {got}: {hint}").format(where=where, split=split, got=_shown(got),
                                                       hint=_(HINT_EXACTLY)))
            fail(_("three messages came together in one piece, and your recv_msg returned {got} for {data}: take "
                   "only the bytes of one message, and leave the rest for the next call").format(
                got=_shown(got), data=_shown(data)))
        ours.shutdown(socket.SHUT_WR)
        end = call_student(recv_msg, theirs, LIMIT, timeout=3)
        if end is not None:
            fail(_("the stream ended between two messages, and your recv_msg returned {got}: return None "
                   "there").format(got=_shown(end)))
    finally:
        theirs.close()
        ours.close()
    _refuses_before_reading(recv_msg)
    _ends_inside(recv_msg)
    print("✔ " + _("your recv_msg takes messages in any pieces, refuses a length over the limit, and knows the end"))


def _receive(recv_msg, sock, i: int, data: bytes, *, together: bool):
    try:
        return call_student(recv_msg, sock, LIMIT, timeout=3)
    except CheckFailed as failure:
        if "unpack requires a buffer" in str(failure.error or ""):  # struct.error: a header of fewer bytes
            fail(_("a message's header came in two pieces, and your recv_msg unpacked only the first: {hint}").format(
                hint=_(HINT_EXACTLY)))
        if i == 0 and (failure.timed_out or isinstance(failure.error, ValueError)):
            fail(_("a message of 6 bytes, its header 00 00 00 06, was read as {wrong} bytes: {hint}").format(
                wrong=struct.unpack("=I", struct.pack("!I", len(data)))[0], hint=_(HINT_ORDER)))
        if together and (failure.timed_out or isinstance(failure.error, (TimeoutError, EOFError, ConnectionError))):
            fail(_("three messages came together in one piece, and your recv_msg waited for message {n}, which had "
                   "come with the one before: take only the bytes of one message, and leave the rest for the next "
                   "call (a new makefile() each call loses what the old one read ahead)").format(n=i + 1))
        if failure.timed_out or isinstance(failure.error, (TimeoutError, EOFError, ConnectionError)):
            fail(_("your recv_msg waited for bytes that were never sent (message {n}): read exactly 4 bytes of "
                   "header, then exactly as many as it says, and no more").format(n=i + 1))
        raise


def _refuses_before_reading(recv_msg) -> None:
    """A header that announces 2 GB, and nothing after it: refused at once, not read."""
    theirs, ours = _pair(timeout=5.0)
    try:
        ours.sendall(struct.pack("!I", 2_000_000_000) + b"x" * 100)
        started = time.monotonic()
        try:
            got = call_student(recv_msg, theirs, LIMIT, timeout=2)
        except CheckFailed as failure:
            if failure.timed_out or isinstance(failure.error, (TimeoutError, MemoryError, OverflowError)):
                fail(_("a header announced 2,000,000,000 bytes, over the limit of {limit}, and your recv_msg went "
                       "on to read them: compare the length with limit first, and raise ValueError").format(
                    limit=LIMIT))
            if not isinstance(failure.error, ValueError):
                raise
        else:
            fail(_("a header announced 2,000,000,000 bytes, over the limit of {limit}, and your recv_msg "
                   "returned {got}: raise ValueError").format(limit=LIMIT, got=_shown(got)))
        if time.monotonic() - started > 1.0:
            fail(_("your recv_msg took {seconds:.1f} s to refuse a length over the limit: refuse it before "
                   "reading").format(seconds=time.monotonic() - started))
    finally:
        theirs.close()
        ours.close()


def _ends_inside(recv_msg) -> None:
    """The stream ends after half a header: that is an error, not the end, and not a message."""
    theirs, ours = _pair(timeout=3.0)
    try:
        ours.sendall(b"\0\0")
        ours.shutdown(socket.SHUT_WR)
        try:
            got = call_student(recv_msg, theirs, LIMIT, timeout=3)
        except CheckFailed as failure:
            if isinstance(failure.error, (EOFError, ConnectionError)):
                return
            if failure.timed_out or failure.error is None:
                raise
            fail(_("the stream ended after 2 bytes of a header, and your recv_msg raised {error}: raise "
                   "ConnectionError (or EOFError) there").format(error=type(failure.error).__name__))
        fail(_("the stream ended after 2 bytes of a header, and your recv_msg returned {got}: raise "
               "ConnectionError (or EOFError): half a message is an error, not the end").format(got=_shown(got)))
    finally:
        theirs.close()
        ours.close()


def _shown(value, limit: int = 50) -> str:
    return preview(bytes(value)) if isinstance(value, (bytes, bytearray)) else repr(value)[:limit]


# ---- exercise 13: exchange -------------------------------------------------------------------------

_BUFFER = 32768  # bytes, each side's send and receive buffer: far less than either message
_STUCK = 2.0  # s with no byte moving: both sides are waiting for the other


@stops_cleanly
def exchanger(exchange, *, size: int = 2_000_000) -> None:
    """``exchange(sock, data)`` sends ``data`` as a framed message and returns the peer's, without deadlock."""
    theirs, ours = _pair(buffer=_BUFFER, timeout=_STUCK)
    theirs.settimeout(None)  # the student's side waits as long as it is made to: the peer decides it is stuck
    mine, yours = ("ю" * (size // 2)).encode(), ("є" * (size // 2)).encode()
    peer: dict = {"sent": 0, "stuck": False}

    def peer_side() -> None:
        """The classic peer: it sends its whole message first, then reads."""
        data = memoryview(_framed(mine))
        try:
            while peer["sent"] < len(data):
                peer["sent"] += ours.send(data[peer["sent"]:peer["sent"] + 65536])
            # A moment before it reads: the student's exchange then has our whole message while its own is
            # still being sent, so one that returns before its sending is done is caught every time.
            time.sleep(0.3)
            header = _read_exactly(ours, 4)
            peer["got"] = _read_exactly(ours, struct.unpack("!I", header)[0]) if len(header) == 4 else b""
        except TimeoutError:
            peer["stuck"] = True
            with contextlib.suppress(OSError):
                theirs.shutdown(socket.SHUT_RDWR)  # the student's side, stuck in its send, wakes and fails
        except OSError:
            pass

    worker = threading.Thread(target=peer_side, name="check-peer", daemon=True)
    worker.start()
    # (a thread of theirs still sending when the socket is closed dies of it: that is no news to print)
    with _thread_errors(), contextlib.ExitStack() as closing:
        closing.callback(ours.close)
        closing.callback(theirs.close)
        try:
            got = call_student(exchange, theirs, yours, timeout=_STUCK + 4)
        except CheckFailed as failure:
            worker.join(_STUCK + 1)
            # (an OSError is what a stuck send gets when the peer gives up; any other error is the student's own)
            if failure.timed_out or (peer["stuck"] and isinstance(failure.error, OSError)):
                fail(_("both sides sent first: we sent {ours} KB of our {total} KB and waited, and your exchange "
                       "waited too, sending before it read: send in a thread of its own (or with selectors) while "
                       "you read").format(ours=peer["sent"] // 1000, total=len(mine) // 1000))
            raise
        # As its caller would, the socket is closed once exchange returns: what it had not sent by then is lost.
        with contextlib.suppress(OSError):
            theirs.shutdown(socket.SHUT_RDWR)
        worker.join(_STUCK + 1)
    if got != mine:
        fail(_("we sent {sent} and your exchange returned {got}: return the message recv_msg received").format(
            sent=preview(mine), got=_shown(got)))
    if peer.get("got") != yours:
        fail(_("your exchange returned our message, but we received {got} of your {n} bytes: send all of it, "
               "framed, before returning (join the sending thread)").format(got=len(peer.get("got") or b""),
                                                                            n=len(yours)))
    print("✔ " + _("your exchange sends and receives {mb} MB at once, with no deadlock").format(mb=size / 1e6))

"""The checks of notebook 06's lab programs: ``framed_server.py`` and ``framed_client.py``, run as real processes.

``python framed_server.py HOST PORT`` serves clients one after another until it is stopped: it answers
each message (a 4-byte big-endian length, then the bytes) with the same message, framed, until its
client closes. ``python framed_client.py HOST PORT MESSAGE…`` sends each MESSAGE as a framed message,
reads the reply to each, and prints each reply on a line of its own.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from ..i18n import _
from ..programs import free_port, run
from . import fail, preview, stops_cleanly
from .framing import _framed, _read_exactly
from .scripts import _keyboard, _last_error, _readable, _start_server

__all__ = ["framed_server_script", "framed_client_script", "framed_scripts_together"]

HOST = "127.0.0.1"


def _replies(sock: socket.socket, count: int) -> list[bytes | None]:
    """Up to ``count`` framed replies (None for one that did not come whole)."""
    got: list[bytes | None] = []
    try:
        for _i in range(count):
            header = _read_exactly(sock, 4)
            if len(header) < 4:
                break
            body = _read_exactly(sock, struct.unpack("!I", header)[0])
            got.append(body)
    except OSError:
        pass
    return got + [None] * (count - len(got))


@stops_cleanly
def framed_server_script(path) -> None:
    """Two clients in a row; the first sends three messages run together, then one byte by byte."""
    path = _readable(path)
    port = free_port()
    server = _start_server(path, port)
    try:
        for client in (1, 2):
            texts = [f"клієнт {client}, повідомлення {i}".encode() for i in range(1, 4)]
            slow = "по байту".encode()
            with socket.create_connection((HOST, port), timeout=5) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(b"".join(_framed(t) for t in texts))
                for byte in _framed(slow):
                    sock.sendall(bytes([byte]))
                    time.sleep(0.003)
                got = _replies(sock, 4)
            for sent, reply in zip([*texts, slow], got):
                if reply != sent:
                    how = _("byte by byte") if sent is slow else _("run together with two others")
                    fail(_("client {client} sent {sent} ({how}), and {name} replied {reply}: read exactly 4 bytes of "
                           "length, then exactly that many, and answer with the same framing").format(
                        client=client, sent=preview(sent), how=how, name=path.name,
                        reply=preview(reply) if reply is not None else _("nothing")))
        if server.returncode is not None:
            fail(_("{name} ended by itself: serve the next client, until it is stopped").format(name=path.name))
    finally:
        server.stop()
    print("✔ " + _("{name} answers framed messages in any pieces, client after client").format(name=path.name))


class _FramedEcho:
    """The course's framed server for a client program: it answers each message in three pieces (the header
    cut in two), and records what it received."""

    def __init__(self):
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(10)
        self.address = self.listener.getsockname()[:2]
        self.received: list[bytes] = []
        self.bad_header: bytes | None = None
        self.thread = threading.Thread(target=self._serve, name="check-framed-server", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _peer = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                while len(header := _read_exactly(conn, 4)) == 4:
                    (size,) = struct.unpack("!I", header)
                    if size > 1 << 20:
                        self.bad_header = header
                        return
                    body = _read_exactly(conn, size)
                    if len(body) < size:  # the stream ended (or stalled) inside the message
                        return
                    self.received.append(body)
                    framed = _framed(body)
                    for piece in (framed[:2], framed[2:5], framed[5:]):
                        conn.sendall(piece)
                        time.sleep(0.01)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


@stops_cleanly
def framed_client_script(path) -> None:
    """``framed_client.py HOST PORT MESSAGE…``: each word framed; each reply, arriving in pieces, printed."""
    path = _readable(path)
    words = ["Привіт", "довге-" + "слово" * 200, "кінець"]
    server = _FramedEcho()
    try:
        transcript = run(path, *server.address, *words, timeout=10)
    finally:
        server.close()
    if _keyboard(transcript):
        fail(_("{name} waited for the keyboard (input()), where nobody types: take the messages from the command "
               "line (sys.argv[3:])").format(name=path.name))
    if server.bad_header is not None:
        fail(_("{name} sent the header {header}: send the length as 4 bytes in network byte order, "
               "struct.pack('!I', len(data))").format(name=path.name, header=server.bad_header.hex(" ")))
    sent = [w.encode() for w in words]
    # (messages framed right, then none: the program ended early, which the replies below explain)
    framed_right = bool(server.received) and server.received == sent[:len(server.received)]
    if not framed_right:
        fail(_("`python {name} HOST PORT {words}` sent the messages {got}: send each MESSAGE as one framed "
               "message").format(name=path.name, words=" ".join(w[:12] for w in words),
                                 got=", ".join(preview(m) for m in server.received) or _("nothing")))
    printed = transcript.text()
    missing = [w for w in words if w not in printed]
    if missing:
        fail(_("{name} did not print the reply {reply}, which came in three pieces: read exactly 4 bytes of "
               "length, then exactly that many").format(name=path.name, reply=preview(missing[0])))
    if transcript.returncode != 0:
        fail(_("{name} ended with exit status {status}: {error}").format(
            name=path.name, status=transcript.returncode, error=_last_error(transcript)))
    print("✔ " + _("{name} frames each message and reads each reply whole").format(name=path.name))


@stops_cleanly
def framed_scripts_together(server_path, client_path) -> None:
    """The student's client against the student's server, twice."""
    server_path, client_path = _readable(server_path), _readable(client_path)
    port = free_port()
    server = _start_server(server_path, port)
    try:
        for i in (1, 2):
            transcript = run(client_path, HOST, port, f"запуск-{i}", "ще", timeout=10)
            if f"запуск-{i}" not in transcript.text() or transcript.returncode != 0:
                fail(_("run {i} of {client} against {server} printed {printed} (exit status {status}): "
                       "{error}").format(i=i, client=client_path.name, server=server_path.name,
                                         printed=preview(transcript.text()), status=transcript.returncode,
                                         error=_last_error(transcript)))
    finally:
        server.stop()
    print("✔ " + _("{client} and {server} work together").format(client=client_path.name, server=server_path.name))

"""The checks of the lab's own programs: ``server.py``, ``client.py``, ``server2.py`` run as real processes.

Each script runs as ``python SCRIPT HOST PORT [MESSAGE…]`` on a free port,
against the course's own client or server, and against the student's other
script. A script that imports socketlab is refused: the lab's programs are
written with the socket module alone.
"""

from __future__ import annotations

import socket
from pathlib import Path

from .. import shortcuts
from ..programs import Program, _listening, free_port, run
from . import fail, preview
from .echo import _echo_once, _EchoJudge

__all__ = ["server_script", "client_script", "scripts_together", "restarts_at_once"]

HOST = "127.0.0.1"


def _readable(path) -> Path:
    path = Path(path)
    if not path.is_file():
        fail(f"there is no {path}: run the %%writefile cell above first")
    used = shortcuts.in_source(path.read_text(encoding="utf-8", errors="replace"), {}, frozenset())
    if used:
        fail(f"{path.name} uses {', '.join(used)} from the course: {shortcuts.FIX}")
    return path


def _last_error(program_or_transcript) -> str:
    lines = [text for _, kind, text in getattr(program_or_transcript, "transcript", program_or_transcript).lines
             if kind == "err" and text.strip()]
    return lines[-1].strip() if lines else "no error message"


def _start_server(path: Path, port: int) -> Program:
    server = Program(path, HOST, port, name=f"check-{path.name}").start()
    for _ in range(100):  # at most 5 s
        if _listening(port) or server.returncode is not None:
            break
        server.wait(0.05)
    if server.returncode is not None:
        fail(f"`python {path.name} {HOST} {port}` ended at once: {_last_error(server)}")
    if not _listening(port):
        server.stop()
        fail(f"`python {path.name} {HOST} {port}` does not listen on port {port}: take the host and the port "
             "from the command line (sys.argv[1], int(sys.argv[2]))")
    return server


def server_script(path, *, forever: bool = False, clients: int = 3) -> None:
    """``server.py`` serves one client and ends; ``server2.py`` (``forever``) serves ``clients`` and keeps running."""
    path = _readable(path)
    port = free_port()
    server = _start_server(path, port)
    try:
        for i in range(1, (clients if forever else 1) + 1):
            message = f"клієнт {i}: Привіт!"
            reply = _echo_once((HOST, port), message, timeout=5)
            if reply != message:
                fail(f"client {i} sent {preview(message)} to {path.name}, got back "
                     f"{'nothing' if reply is None else preview(reply)}"
                     + (f"; it said: {_last_error(server)}" if server.returncode is not None else ""))
        if forever:
            if server.wait(0.5) is not None:
                fail(f"{path.name} ended after {clients} clients: a permanent server loops over accept for ever")
        elif server.wait(3) is None:
            fail(f"{path.name} was still running after its client left: task 1's server serves one client, "
                 "then ends")
    finally:
        server.stop()
    print(f"✔ {path.name} " + (f"served {clients} clients one after another and keeps running" if forever
                                else "served one client and ended"))


def client_script(path) -> None:
    """``client.py HOST PORT MESSAGE`` sends the message, says it is done, and prints the whole reply."""
    path = _readable(path)
    message = "Привіт, світе! " * 3000  # 45 KB: more than one recv()
    judge = _EchoJudge()
    try:
        transcript = run(path, *judge.address, message, timeout=10)
    finally:
        judge.close()
    if not judge.connected:
        fail(f"{path.name} did not connect to {judge.address[0]} {judge.address[1]}: {_last_error(transcript)}")
    if judge.received != message.encode():
        fail(f"`python {path.name} HOST PORT MESSAGE` should send MESSAGE; the server received "
             f"{preview(judge.received)}")
    if judge.ended == "silence":
        fail(f"{path.name} never said it was done sending: call sock.shutdown(socket.SHUT_WR) after sendall")
    if message.strip() not in transcript.text():
        fail(f"{path.name} did not print the whole reply ({len(message)} characters): read until recv returns "
             f"b'', then print the decoded text; it printed {preview(transcript.text())}")
    if transcript.returncode != 0:
        fail(f"{path.name} ended with exit status {transcript.returncode}: {_last_error(transcript)}")
    print(f"✔ {path.name} sends its message, half-closes and prints the whole reply")


def scripts_together(server_path, client_path, *, runs: int = 1) -> None:
    """The student's client against the student's server, ``runs`` times (task 2: several)."""
    server_path, client_path = _readable(server_path), _readable(client_path)
    port = free_port()
    server = _start_server(server_path, port)
    try:
        for i in range(1, runs + 1):
            message = f"запуск {i}"
            transcript = run(client_path, HOST, port, message, timeout=10)
            if message not in transcript.text() or transcript.returncode != 0:
                fail(f"run {i} of {client_path.name} against {server_path.name} printed "
                     f"{preview(transcript.text())} (exit status {transcript.returncode}): {_last_error(transcript)}")
    finally:
        server.stop()
    print(f"✔ {client_path.name} and {server_path.name} work together" + (f", {runs} runs in a row" if runs > 1 else ""))


def restarts_at_once(path) -> None:
    """A permanent server stopped with a client connected starts again at once on the same port."""
    path = _readable(path)
    port = free_port()
    server = _start_server(path, port)
    client = socket.create_connection((HOST, port), timeout=5)
    try:
        client.sendall(b"hi")
        client.recv(16)
        server.stop()  # Ctrl-C while a client is connected: the server's end closes first...
    finally:
        client.close()  # ...and waits in TIME_WAIT once the client has closed too
    again = Program(path, HOST, port, name=f"check-{path.name}").start()
    try:
        for _ in range(60):
            if _listening(port) or again.returncode is not None:
                break
            again.wait(0.05)
        if not _listening(port):
            fail(f"{path.name} could not start again on port {port} at once ({_last_error(again)}): the old "
                 "connection waits in TIME_WAIT; create the listener with socket.create_server, or set "
                 "SO_REUSEADDR before bind")
    finally:
        again.stop()
    print(f"✔ {path.name} starts again at once on the same port")

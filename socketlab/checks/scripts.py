"""The checks of the lab's own programs: ``server.py``, ``client.py``, ``server2.py`` run as real processes.

Each script runs as ``python SCRIPT HOST PORT [MESSAGE…]`` on a free port,
against the course's own client or server, and against the student's other
script. They run as when graded: the package they find is its student side
(:mod:`socketlab.studentside`), so a program built on the course's own servers
fails here as it will there.
"""

from __future__ import annotations

import contextlib
import socket
import tempfile
from pathlib import Path

from ..programs import Program, _listening, free_port, run
from ..i18n import _, ngettext
from . import fail, preview
from .echo import _echo_once, _EchoJudge

__all__ = ["server_script", "client_script", "scripts_together", "restarts_at_once", "file_server_script",
           "file_client_script", "file_scripts_together"]

HOST = "127.0.0.1"


def _readable(path) -> Path:
    path = Path(path)
    if not path.is_file():
        fail(_("there is no {path}: run the %%writefile cell above first").format(path=path))
    return path


def _last_error(program_or_transcript) -> str:
    lines = [text for _, kind, text in getattr(program_or_transcript, "transcript", program_or_transcript).lines
             if kind == "err" and text.strip()]
    return lines[-1].strip() if lines else _("no error message")


def _start_server(path: Path, port: int) -> Program:
    server = Program(path, HOST, port, name=f"check-{path.name}").start()
    for _attempt in range(100):  # at most 5 s
        if _listening(port) or server.returncode is not None:
            break
        server.wait(0.05)
    command = f"`python {path.name} {HOST} {port}`"
    if server.returncode is not None:
        fail(_("{command} ended at once: {error}").format(command=command, error=_last_error(server)))
    if not _listening(port):
        server.stop()
        fail(_("{command} does not listen on port {port}: take the host and the port "
               "from the command line (sys.argv[1], int(sys.argv[2]))").format(command=command, port=port))
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
                got = _("nothing") if reply is None else preview(reply)
                if server.returncode is not None:
                    fail(_("client {i} sent {message} to {name}, got back {reply}; it said: {error}").format(
                        i=i, message=preview(message), name=path.name, reply=got, error=_last_error(server)))
                fail(_("client {i} sent {message} to {name}, got back {reply}").format(
                    i=i, message=preview(message), name=path.name, reply=got))
        if forever:
            if server.wait(0.5) is not None:
                fail(ngettext("{name} ended after {count} client: a permanent server loops over accept for ever",
                              "{name} ended after {count} clients: a permanent server loops over accept for ever",
                              clients).format(name=path.name, count=clients))
        elif server.wait(3) is None:
            fail(_("{name} was still running after its client left: task 1's server serves one client, "
                   "then ends").format(name=path.name))
    finally:
        server.stop()
    if forever:
        print("✔ " + ngettext("{name} served {count} client one after another and keeps running",
                              "{name} served {count} clients one after another and keeps running",
                              clients).format(name=path.name, count=clients))
    else:
        print("✔ " + _("{name} served one client and ended").format(name=path.name))


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
        fail(_("{name} did not connect to {host} {port}: {error}").format(
            name=path.name, host=judge.address[0], port=judge.address[1], error=_last_error(transcript)))
    if judge.received != message.encode():
        fail(_("{command} should send MESSAGE; the server received {received}").format(
            command=f"`python {path.name} HOST PORT MESSAGE`", received=preview(judge.received)))
    if judge.ended == "silence":
        fail(_("{name} never said it was done sending: call sock.shutdown(socket.SHUT_WR) after sendall").format(
            name=path.name))
    if message.strip() not in transcript.text():
        fail(_("{name} did not print the whole reply ({length} characters): read until recv returns "
               "b'', then print the decoded text; it printed {printed}").format(
            name=path.name, length=len(message), printed=preview(transcript.text())))
    if judge.unread:
        fail(_("{name} printed the message, but closed its connection before reading the whole reply: print "
               "what you received, not what you sent").format(name=path.name))
    if transcript.returncode != 0:
        fail(_("{name} ended with exit status {status}: {error}").format(
            name=path.name, status=transcript.returncode, error=_last_error(transcript)))
    print("✔ " + _("{name} sends its message, half-closes and prints the whole reply").format(name=path.name))


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
                fail(_("run {i} of {client} against {server} printed {printed} (exit status {status}): "
                       "{error}").format(i=i, client=client_path.name, server=server_path.name,
                                         printed=preview(transcript.text()), status=transcript.returncode,
                                         error=_last_error(transcript)))
    finally:
        server.stop()
    if runs > 1:
        print("✔ " + ngettext("{client} and {server} work together, {runs} run in a row",
                              "{client} and {server} work together, {runs} runs in a row",
                              runs).format(client=client_path.name, server=server_path.name, runs=runs))
    else:
        print("✔ " + _("{client} and {server} work together").format(client=client_path.name,
                                                                     server=server_path.name))


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
        for _attempt in range(60):
            if _listening(port) or again.returncode is not None:
                break
            again.wait(0.05)
        if not _listening(port):
            fail(_("{name} could not start again on port {port} at once ({error}): the old "
                   "connection waits in TIME_WAIT; create the listener with socket.create_server, or set "
                   "SO_REUSEADDR before bind").format(name=path.name, port=port, error=_last_error(again)))
    finally:
        again.stop()
    print("✔ " + _("{name} starts again at once on the same port").format(name=path.name))


# ---- task 3: the file server and client -----------------------------------------------------------

SAMPLE = "Звіт з лабораторної роботи: передача файлу.\nРядок 2 — кирилиця, ґ, є, ї.\n"


def _sample_files(folder: Path) -> list[Path]:
    """The same text in UTF-8 and in cp1251: both must arrive byte for byte."""
    files = []
    for encoding in ("utf-8", "cp1251"):
        path = folder / f"звіт-{encoding}.txt"
        path.write_text(SAMPLE * 50, encoding=encoding)
        files.append(path)
    return files


def _start_file_server(path: Path, port: int, folder: Path) -> Program:
    server = Program(path, HOST, port, folder, name=f"check-{path.name}").start()
    for _attempt in range(100):
        if _listening(port) or server.returncode is not None:
            break
        server.wait(0.05)
    if not _listening(port):
        server.stop()
        fail(_("{command} does not listen on port {port}: {error}").format(
            command=f"`python {path.name} {HOST} {port} FOLDER`", port=port, error=_last_error(server)))
    return server


@contextlib.contextmanager
def _file_server_script(path: Path):
    """``server3.py`` running on a free port, saving into ``WORK/uploads``: yields ``(WORK, port)``."""
    with tempfile.TemporaryDirectory(prefix="check-server3-") as work:
        work = Path(work)
        (work / "uploads").mkdir()
        port = free_port()
        server = _start_file_server(path, port, work / "uploads")
        try:
            yield work, port
        finally:
            server.stop()


def file_server_script(path) -> None:
    """``server3.py HOST PORT FOLDER`` saves what the course's client sends, byte for byte, and refuses bad names."""
    from ..files import send_file
    from ..streams import recv_line

    path = _readable(path)
    with _file_server_script(path) as (work, port):
        for sample in _sample_files(work):
            try:
                sent = send_file(sample, (HOST, port), timeout=10)  # fails loudly if the SHA-256 differs
            except Exception as exc:
                fail(_("the course's client sent {file} to {name}: {error}").format(file=sample.name, name=path.name,
                                                                                   error=exc))
            saved = work / "uploads" / sent.saved_name
            if not saved.is_file() or saved.read_bytes() != sample.read_bytes():
                fail(_("{name} said it saved {saved}, but {path} is not the file that was sent: "
                       "save the bytes exactly as they came").format(name=path.name, saved=repr(sent.saved_name),
                                                                     path=f"FOLDER/{sent.saved_name}"))
        with socket.create_connection((HOST, port), timeout=5) as sock:
            sock.sendall(b"FILE 4 ../evil.txt\n")
            reply = recv_line(sock)
        if not reply.startswith(b"ERROR bad-name") or (work / "evil.txt").exists():
            fail(_("the name {bad} must be refused with ERROR bad-name, {name} answered {reply}").format(
                bad="'../evil.txt'", name=path.name, reply=repr(reply)))
    print("✔ " + _("{name} saves UTF-8 and cp1251 files byte for byte and refuses a hostile name").format(
        name=path.name))


def file_client_script(path) -> None:
    """``client3.py HOST PORT FILE`` sends any text file to the course's server, which gets it byte for byte."""
    from ..files import FileServer

    path = _readable(path)
    with tempfile.TemporaryDirectory(prefix="check-client3-") as work:
        work = Path(work)
        with FileServer(work / "uploads", name="check-client3") as reference:
            for sample in _sample_files(work):
                transcript = run(path, *reference.address, sample, timeout=15)
                saved = work / "uploads" / sample.name
                if transcript.returncode != 0 or not saved.is_file():
                    fail(_("{command} did not deliver the file (exit status {status}): {error}").format(
                        command=f"`python {path.name} HOST PORT {sample.name}`", status=transcript.returncode,
                        error=_last_error(transcript)))
                if saved.read_bytes() != sample.read_bytes():
                    fail(_("{file} arrived changed: send the file's bytes (read_bytes), and their number "
                           "in the header, not the number of characters").format(file=sample.name))
        with FileServer(work / "small", name="check-client3-small", max_size=100) as small:
            refused = run(path, *small.address, _sample_files(work)[0], timeout=15)
    if refused.returncode == 0:
        fail(_("the server refused a file over its limit (ERROR too-large), but {name} ended with status 0: "
               "print the error and exit with sys.exit(1)").format(name=path.name))
    print("✔ " + _("{name} sends UTF-8 and cp1251 files byte for byte and reports a refusal").format(
        name=path.name))


def file_scripts_together(server_path, client_path) -> None:
    """The student's ``client3.py`` sends each sample file to the student's ``server3.py``: it arrives byte for byte."""
    server_path, client_path = _readable(server_path), _readable(client_path)
    with _file_server_script(server_path) as (work, port):
        for sample in _sample_files(work):
            transcript = run(client_path, HOST, port, sample, timeout=15)
            saved = work / "uploads" / sample.name
            if transcript.returncode != 0 or not saved.is_file() or saved.read_bytes() != sample.read_bytes():
                fail(_("{client} sent {file} to {server}, which did not save it byte for byte (exit status "
                       "{status}): {error}").format(client=client_path.name, file=sample.name, server=server_path.name,
                                                    status=transcript.returncode, error=_last_error(transcript)))
    print("✔ " + _("{client} and {server} work together: UTF-8 and cp1251 files arrive byte for byte").format(
        client=client_path.name, server=server_path.name))

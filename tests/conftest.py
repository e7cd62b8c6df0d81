"""Shared fixtures: every test gets real sockets on 127.0.0.1 and leaks no server."""

import contextlib
import os
import re
import select
import socket
import threading
import time

import pytest

# The tests read the package's English words: a developer's Ukrainian locale must not change them.
os.environ["LANGUAGE"] = "en"

import socketlab  # noqa: E402
from socketlab.streams import close_with_reset  # noqa: E402


@pytest.fixture(autouse=True)
def no_leaked_servers():
    yield
    leaked = socketlab.running_servers()
    socketlab.stop_all()
    assert not leaked, f"the test left servers running: {leaked}"


@pytest.fixture
def tcp_pair():
    """A connected (client, server-side) pair of TCP sockets on 127.0.0.1."""
    made = []

    def make(timeout=5.0):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            client = socket.create_connection(listener.getsockname(), timeout=timeout)
            listener.settimeout(timeout)
            server_side, _ = listener.accept()
        server_side.settimeout(timeout)
        made.extend([client, server_side])
        return client, server_side

    yield make
    for sock in made:
        sock.close()


@contextlib.contextmanager
def language(code: str):
    """The package speaking ``code`` (as a notebook of that edition makes it), English again afterwards."""
    from socketlab.i18n import use_language

    use_language(code)
    try:
        yield
    finally:
        use_language("en")


def as_student(answer, name: str):
    """The answer under the name the notebook gives it (what each exercise may use goes by that name)."""
    import types

    return types.FunctionType(answer.__code__, answer.__globals__, name, answer.__defaults__, answer.__closure__)


def fails_with(check_function, answer, *args) -> str:
    """The one line a check gives a wrong answer: a ✘, no traceback, nothing of the course's own files."""
    from socketlab.checks import CheckFailed

    with pytest.raises(CheckFailed) as caught:
        check_function(answer, *args)
    message = str(caught.value)
    assert message.startswith("✘ "), message
    assert "Traceback" not in message and "socketlab/" not in message, message
    return message


def catalogue_tests(exercises):
    """The two tests of a catalogue of answers: ``exercises`` is ``[(check, the answer's name in the notebook,
    {wrong answer: the words its hint must hold}, [right answers]), …]``. Each wrong answer fails with its
    one line and prints no traceback; each right one passes."""
    wrong = {answer: (run, name, hint) for run, name, answers, _right in exercises for answer, hint in answers.items()}
    right = {answer: (run, name) for run, name, _wrong, answers in exercises for answer in answers}

    @pytest.mark.parametrize("answer", wrong, ids=lambda f: f.__name__)
    def test_every_wrong_answer_fails_with_its_hint(answer, capsys):
        run, name, hint = wrong[answer]
        message = fails_with(run, as_student(answer, name))
        assert hint in message, message
        assert capsys.readouterr().err == "", "a student's thread printed a traceback"

    @pytest.mark.parametrize("answer", right, ids=lambda f: f.__name__)
    def test_right_answers_pass(answer, capsys):
        run, name = right[answer]
        run(as_student(answer, name))
        assert "✔" in capsys.readouterr().out

    return test_every_wrong_answer_fails_with_its_hint, test_right_answers_pass


def fails_every_time(exercises, answer, times: int = 10) -> None:
    """A wrong answer of a catalogue (see :func:`catalogue_tests`) fails with its hint ``times`` runs in a row."""
    run, name, hint = next((run, name, wrong[answer]) for run, name, wrong, _right in exercises if answer in wrong)
    for _ in range(times):
        message = fails_with(run, as_student(answer, name))
        assert hint in message, message


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def live_threads() -> int:
    return threading.active_count()


def read_line(stream, timeout=10.0) -> str:
    """The next line a child process writes, waiting at most ``timeout`` seconds ("" at its end).

    Read a byte at a time from the pipe itself: ``stream.readline()`` would pull every line already
    in the pipe into the stream's buffer, where the next call's select() cannot see them, and that
    call would wait out its timeout for a line that came long ago.
    """
    fd, line, deadline = stream.fileno(), b"", time.monotonic() + timeout
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        assert ready, f"no output within {timeout} s" + (f" after {line!r}" if line else "")
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line.decode("utf-8", "replace")


def write_in_pieces(sock: socket.socket, data: bytes, step: int = 1) -> None:
    """Write ``data`` a few bytes per send() so that the reader sees it in pieces."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(data), step):
        sock.sendall(data[i : i + step])


reset = close_with_reset  # as a crashed client would


class ChunkingProxy:
    """A TCP proxy on 127.0.0.1 that forwards client bytes ``step`` at a time.

    Put it between a client and a server to make every partial-recv bug show.
    """

    def __init__(self, upstream, step: int = 1):
        self.upstream = upstream
        self.step = step
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.address = self.listener.getsockname()
        self.threads = []

    def __enter__(self):
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def __exit__(self, *exc):
        self.listener.close()
        for thread in self.threads:
            thread.join(10)

    def _serve(self):
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        server = socket.create_connection(self.upstream, timeout=10)
        client.settimeout(10)
        back = threading.Thread(target=self._pump, args=(server, client, 1 << 16), daemon=True)
        back.start()
        self._pump(client, server, self.step)
        back.join(10)
        client.close()
        server.close()

    @staticmethod
    def _pump(src, dst, step):
        """Copy src to dst, ``step`` bytes per send, until src ends; then pass the end on."""
        dst.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while data := src.recv(1 << 16):
                for i in range(0, len(data), step):
                    dst.sendall(data[i : i + step])
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # one side went away: the test sees it on its own socket


def stray_values(nb) -> list[tuple[str, str]]:
    """Cells whose shown result is a bare number, bool or None: the return value of a call on the
    cell's last line (``first.stop()`` showed ``0``), not what the cell is for."""
    return [(cell.id, out.data["text/plain"]) for cell in nb.cells for out in cell.get("outputs", [])
            if out.output_type == "execute_result" and len(out.get("data", {})) == 1
            and re.fullmatch(r"-?\d+(\.\d+)?|True|False|None", out.data.get("text/plain", ""))]

"""The lab's own programs (``server.py``, ``client.py``, …) run as real processes, as in two terminals.

``Program`` starts a script in the background and keeps what it prints, line by
line with the time (threads only append to a list; nothing is printed). A
second ``Program`` with the same name stops the first, so re-running a cell
never finds the old server still holding its port, and no program outlives
the kernel: on Linux each one dies with it (``PR_SET_PDEATHSIG``), elsewhere
they are stopped when Python exits.

``two_terminals`` runs a server script and a client script against it (several
times, for task 2) and shows both transcripts side by side, as the lab
report's screenshots did.
"""

from __future__ import annotations

import atexit
import contextlib
import html
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import studentside
from .i18n import _

__all__ = ["Program", "Transcript", "free_port", "wait_listening", "run", "two_terminals", "stop_programs"]

_running: dict[str, "Program"] = {}
_lock = threading.RLock()  # start() stops an old program of the same name while holding it
_numbers = itertools.count(1)


def free_port(host: str = "127.0.0.1", protocol: str = "tcp") -> int:
    """A port nobody listens on now (the system's choice); ``protocol="udp"``: a UDP port nobody is bound to."""
    with socket.socket(type=socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(port: int, host: str = "127.0.0.1", timeout: float = 5.0, program: "Program | None" = None,
                   protocol: str = "tcp") -> bool:
    """Wait until a socket listens on ``port`` (``protocol="udp"``: is bound to it), or ``program`` ended;
    True if one does.

    It looks without connecting: a probe connection would be a one-client server's only client.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if program is not None and program.returncode is not None:
            return False
        if _listening(port, host, protocol):
            return True
        time.sleep(0.05)
    return False


def _listening(port: int, host: str = "127.0.0.1", protocol: str = "tcp") -> bool:
    """Whether a socket listens on ``port`` (UDP: is bound to it), without connecting to it (a one-client
    server stays free)."""
    try:
        import psutil

        return any((protocol == "udp" or c.status == psutil.CONN_LISTEN) and c.laddr and c.laddr.port == port
                   for c in psutil.net_connections(protocol))
    except Exception:  # no right to see every socket (macOS without root): try to bind it instead
        with socket.socket(type=socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return True
            return False


@dataclass
class Transcript:
    """What one program printed, with the time of each line, and how it ended."""

    title: str
    lines: list[tuple[float, str, str]] = field(default_factory=list)  # (time, "out"/"err", text)
    returncode: int | None = None

    def text(self) -> str:
        return "\n".join(line for _, _, line in self.lines)

    def __str__(self) -> str:
        return f"$ {self.title}\n" + "\n".join(f"[{_clock(t)}] {line}" for t, _, line in self.lines)


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _die_with_parent() -> None:  # runs in the child, before exec (Linux)
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Program:
    """A script running in the background; its transcript fills as it prints."""

    def __init__(self, script, *args, name: str | None = None, cwd=None):
        self.argv = [sys.executable, "-u", str(script), *map(str, args)]
        self.name = name or Path(script).name
        self.transcript = Transcript(" ".join(["python", Path(script).as_posix(), *map(str, args)]))
        self.cwd = cwd
        self.process: subprocess.Popen | None = None
        self._readers: list[threading.Thread] = []

    def start(self) -> "Program":
        with _lock:
            old = _running.pop(self.name, None)
            if old is not None:
                old.stop()
            env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1", **studentside.program_env()}
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            _running[self.name] = self
        for stream, kind in ((self.process.stdout, "out"), (self.process.stderr, "err")):
            reader = threading.Thread(target=self._read, args=(stream, kind), name=f"{self.name}-{kind}", daemon=True)
            reader.start()
            self._readers.append(reader)
        return self

    def _read(self, stream, kind: str) -> None:
        for raw in iter(stream.readline, b""):
            self.transcript.lines.append((time.time(), kind, raw.decode("utf-8", "replace").rstrip("\r\n")))
        stream.close()

    @property
    def returncode(self) -> int | None:
        """Its exit status once it has ended, and then its transcript is whole (its last lines read), else None."""
        code = None if self.process is None else self.process.poll()
        if code is not None:
            self._finish()
        return code

    def wait(self, timeout: float) -> int | None:
        """Wait for the program to end by itself; its exit status, or None if it is still running."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._finish()
        return code

    def stop(self, timeout: float = 3.0) -> int | None:
        """Ctrl-C, then a kill if it does not end; returns its exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(OSError):  # as Ctrl-C in its terminal would (Windows: terminate)
                if os.name == "nt":
                    self.process.terminate()
                else:
                    self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._finish()
        with _lock:
            if _running.get(self.name) is self:
                del _running[self.name]
        return self.process.returncode

    def _finish(self) -> None:
        for reader in self._readers:
            reader.join(2)
        self.transcript.returncode = self.process.returncode

    def __enter__(self) -> "Program":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run(script, *args, timeout: float = 10.0, cwd=None) -> Transcript:
    """Run a script to its end (at most ``timeout`` seconds) and return its transcript."""
    program = Program(script, *args, name=f"run-{next(_numbers)}", cwd=cwd).start()
    if program.wait(timeout) is None:
        program.stop()
        program.transcript.lines.append((time.time(), "err", f"(stopped: still running after {timeout:g} s)"))
    return program.transcript


def stop_programs() -> None:
    """Stop every program started here."""
    for program in list(_running.values()):
        program.stop()


atexit.register(stop_programs)


class Terminals:
    """Two transcripts side by side, as text or as an HTML table in a notebook."""

    def __init__(self, server: Transcript, clients: list[Transcript]):
        self.server, self.clients = server, clients

    def __str__(self) -> str:
        return "\n\n".join(str(t) for t in [self.server, *self.clients])

    def _repr_html_(self) -> str:
        # Divs with inline styles: JupyterLab restyles the table, td and pre of an output with rules more
        # specific than any class of ours (right-aligned cells, words broken anywhere), never a div's own
        # style. Long lines wrap at spaces; a word longer than the column scrolls it instead of breaking.
        terminals = [(_("terminal 1: the server"), [self.server]), (_("terminal 2: the client"), self.clients)]
        boxes = "".join(_terminal_box(title, transcripts) for title, transcripts in terminals)
        return f'<div class="sl-terminals" style="{_ROW}">{boxes}</div>'


_ROW = "display:flex;flex-wrap:wrap;gap:8px;margin:4px 0;text-align:left"
_BOX = ("flex:1 1 22em;min-width:0;border:1px solid var(--jp-border-color1,#9e9e9e);"
        "background:var(--jp-layout-color0,#fff);color:var(--jp-content-font-color1,#212121)")
_HEAD = ("margin:0;padding:4px 8px;font-weight:bold;text-align:left;font-family:var(--jp-ui-font-family,sans-serif);"
         "border-bottom:1px solid var(--jp-border-color1,#9e9e9e)")
_SCREEN = ("margin:0;padding:6px 8px;text-align:left;font-family:var(--jp-code-font-family,monospace);"
           "font-size:var(--jp-code-font-size,13px);line-height:1.45;white-space:pre-wrap;word-break:normal;"
           "overflow-wrap:normal;overflow-x:auto")
_QUIET = "color:var(--jp-content-font-color2,#616161)"  # the times: 4.5:1 or more in both themes
_ERR = "color:var(--jp-error-color1,#c62828)"


# Browsers may also break a line after a hyphen or a slash ("SHA-|256", "demo-|uploads/|server3"); a
# terminal breaks only at spaces, so a word holding one is kept whole (a too-long one scrolls its box).
_BREAKS_INSIDE = re.compile(r"\S*[-/\\\u2010-\u2014]\S*")


def _shown(text: str) -> str:
    return _BREAKS_INSIDE.sub(lambda m: f'<span style="white-space:nowrap">{m.group()}</span>', html.escape(text))


def _terminal_box(title: str, transcripts: list[Transcript]) -> str:
    """One terminal: its title, then each program's command line, its lines with their times, its exit."""
    parts = []
    for t in transcripts:
        rows = "".join(f'<span style="{_QUIET}">[{_clock(at)}]</span> '
                       + (f'<span style="{_ERR}">{_shown(text)}</span>' if kind == "err" else _shown(text))
                       + "\n" for at, kind, text in t.lines)
        end = "" if t.returncode is None else \
            f'<span style="{_QUIET}">(' + html.escape(_("exit status {status}").format(status=t.returncode)) + ")</span>\n"
        parts.append(f"<b>$ {_shown(t.title)}</b>\n{rows}{end}")
    label = html.escape(title)
    # tabindex: a terminal too wide for its column scrolls, and the keyboard must reach it to scroll it
    return (f'<div class="sl-terminal" style="{_BOX}" role="group" aria-label="{label}">'
            f'<div style="{_HEAD}">{label}</div>'
            f'<div class="sl-screen" style="{_SCREEN}" tabindex="0">' + "\n".join(parts) + "</div></div>")


def two_terminals(server_script, client_script, *client_args, runs: int = 1, port: int | None = None,
                  host: str = "127.0.0.1", cwd=None, name: str = "two-terminals", server_args=(),
                  protocol: str = "tcp") -> Terminals:
    """Start the server script on ``port`` (a free one by default), with ``server_args`` after the host and
    the port; run the client ``runs`` times against it. ``protocol="udp"`` for a UDP server."""
    port = port or free_port(host, protocol)
    server = Program(server_script, host, port, *server_args, name=name, cwd=cwd).start()
    wait_listening(port, host, program=server, protocol=protocol)
    clients = [run(client_script, host, port, *client_args, cwd=cwd) for _ in range(runs)]
    if server.wait(1.0 if runs == 1 else 0.2) is None:  # a one-client server ends by itself
        server.stop()
    return Terminals(server.transcript, clients)

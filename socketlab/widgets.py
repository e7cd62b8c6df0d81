"""ipywidgets panels: send echo messages, watch a server, send a file.

Build and ``display()`` them in the notebook's main thread.  Every button calls
a plain method (``panel.send("hi")``, ``panel.send_file(path)``), so a cell or a
test can do what a click does.  Server threads only assign widget values.
"""

from __future__ import annotations

import collections
import html
import tempfile
import threading
import time
from pathlib import Path

import ipywidgets as w

from .echo import DEFAULT_ECHO_PORT, echo
from .files import DEFAULT_FILE_PORT, send_file
from .server import Event, Server, address_of, format_event, preview

__all__ = ["EchoPanel", "ServerMonitor", "FileSendPanel"]

OK_MARK, ERROR_MARK = "✔", "✘"


def _problem(exc: BaseException) -> str:
    """An error as one line a student can act on."""
    hint = " (is the server running?)" if isinstance(exc, ConnectionRefusedError) else ""
    return f"{ERROR_MARK} {type(exc).__name__}: {exc}{hint}"


def _line(text: str, color: str = "inherit") -> str:
    return f'<div style="font-family: monospace; color: {color}">{html.escape(text)}</div>'


class _Panel:
    """Shows ``self.widget`` when displayed.

    A panel holds its widgets instead of being one, so that its own methods
    (``send``, ``close``…) cannot clash with the widget machinery's.
    """

    widget: w.Widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class EchoPanel(_Panel):
    """Type a message, press Send, see the echo with byte counts and round-trip time.

    Each message uses a new connection, like running the client once more, so
    the panel never holds a sequential server busy.
    """

    def __init__(self, address=("127.0.0.1", DEFAULT_ECHO_PORT), *, timeout: float = 5.0, history: int = 10):
        self.address = address_of(address)
        self.timeout = timeout
        self.lines: collections.deque[str] = collections.deque(maxlen=history)
        self.message = w.Text(placeholder="type a message, e.g. Привіт!", description="Message:",
                              layout=w.Layout(width="60%"))
        self.button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.output = w.HTML()
        self.button.on_click(lambda _: self.send())
        host, port = self.address
        title = w.HTML(f"<b>Echo client</b> → {host}:{port}")
        self.widget = w.VBox([title, w.HBox([self.message, self.button]), self.output])

    def send(self, text: str | None = None) -> str | None:
        """Send ``text`` (or what is typed in the box); returns the reply, or None on error."""
        text = self.message.value if text is None else text
        started = time.perf_counter()
        try:
            reply = echo(text, self.address, timeout=self.timeout)
        except (OSError, EOFError) as exc:
            self._show(_line(_problem(exc), "#c00"))
            return None
        ms = (time.perf_counter() - started) * 1000
        sent, got = len(text.encode("utf-8")), len(reply.encode("utf-8"))
        mark = OK_MARK if reply == text else ERROR_MARK
        self._show(_line(f"{mark} sent {sent} B {preview(text.encode())}  ←  got {got} B "
                         f"{preview(reply.encode())}  in {ms:.2f} ms"))
        return reply

    def _show(self, line: str) -> None:
        self.lines.append(line)
        self.output.value = "".join(reversed(self.lines))  # newest first


class ServerMonitor(_Panel):
    """A server's live event log and counters, with Stop and Clear buttons.

    The server's thread hands each event to :meth:`_on_event`, which only
    stores it and, at most every ``interval`` seconds, assigns the widgets'
    values; a timer makes sure the last events always show.
    """

    def __init__(self, server: Server, *, lines: int = 25, interval: float = 0.2):
        self.server = server
        self.interval = interval
        self.recent: collections.deque[Event] = collections.deque(maxlen=lines)
        self.counts: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._last_update = 0.0
        self._timer: threading.Timer | None = None
        self.summary = w.HTML()
        self.log = w.Textarea(disabled=True, layout=w.Layout(width="100%", height="14em"))
        self.stop_button = w.Button(description="Stop server", button_style="danger", icon="stop")
        self.clear_button = w.Button(description="Clear log", icon="eraser")
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        for event in server.events[-lines:]:
            self._count(event)
            self.recent.append(event)
        self.unsubscribe = server.subscribe(self._on_event)
        self.refresh()
        self.widget = w.VBox([self.summary, self.log, w.HBox([self.stop_button, self.clear_button])])

    def _count(self, event: Event) -> None:
        self.counts[event.kind] += 1
        if event.kind in ("recv", "header"):
            self.counts["bytes in"] += event.nbytes if event.kind == "recv" else 0
        if event.kind == "saved":
            self.counts["bytes in"] += event.nbytes

    def _on_event(self, event: Event) -> None:  # runs in the server's thread
        with self._lock:
            self._count(event)
            self.recent.append(event)
            due = time.monotonic() - self._last_update >= self.interval
            if not due and self._timer is None:
                self._timer = threading.Timer(self.interval, self.refresh)
                self._timer.name = "monitor-refresh"  # ends by itself within `interval`
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.refresh()

    def refresh(self) -> None:
        """Show the newest events and the counters now."""
        with self._lock:
            self._last_update = time.monotonic()
            self._timer = None
            text = "\n".join(format_event(e, self.server.role) for e in self.recent)
            c = self.counts
        state = "running" if self.server.running else "stopped"
        host, port = self.server.address
        self.summary.value = (f"<b>{html.escape(self.server.role)}</b> on {host}:{port} — {state} · "
                              f"{c['accept']} clients · {c['bytes in']} bytes in · "
                              f"{c['timeout']} dropped idle · {c['error']} errors")
        self.log.value = text

    def stop(self) -> None:
        self.server.stop()
        self.refresh()

    def clear(self) -> None:
        with self._lock:
            self.recent.clear()
        self.refresh()

    def close(self) -> None:
        """Stop following the server and remove the widgets."""
        self.unsubscribe()
        self.widget.close()


class FileSendPanel(_Panel):
    """Pick a file (or type a path), press Send, watch the progress and the SHA-256 check."""

    def __init__(self, address=("127.0.0.1", DEFAULT_FILE_PORT), *, timeout: float = 30.0):
        self.address = address_of(address)
        self.timeout = timeout
        self.picker = w.FileUpload(description="Choose file", multiple=False)
        self.path = w.Text(placeholder="…or a path next to the notebook, e.g. data/lab_report_uk.txt",
                           description="Path:", layout=w.Layout(width="60%"))
        self.button = w.Button(description="Send", button_style="primary", icon="upload")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="0%",
                                        layout=w.Layout(width="60%"))
        self.result = w.HTML()
        self.button.on_click(lambda _: self.send_file())
        host, port = self.address
        self.widget = w.VBox([w.HTML(f"<b>File client</b> → {host}:{port}"), self.picker,
                              w.HBox([self.path, self.button]), self.progress, self.result])

    def send_file(self, path: str | Path | None = None, name: str | None = None):
        """Send ``path``, else the chosen file, else the typed path; returns the SendResult or None."""
        try:
            if path is None and self.picker.value:
                return self._send_upload(self.picker.value[0])
            path = path if path is not None else self.path.value.strip()
            if not path:
                raise FileNotFoundError("choose a file or type a path first")
            return self._send(Path(path), name)
        except Exception as exc:  # shown in the panel: a widget must not raise into the void
            self.result.value = _line(_problem(exc), "#c00")
            return None

    def _send_upload(self, upload: dict):
        """The browser gave us the file's bytes: send them under the file's own name."""
        with tempfile.TemporaryDirectory(prefix="socketlab-upload-") as tmp:
            path = Path(tmp) / "upload"
            path.write_bytes(upload["content"])
            return self._send(path, upload["name"])

    def _send(self, path: Path, name: str | None):
        self.progress.bar_style = ""
        self.result.value = ""
        result = send_file(path, self.address, name=name, progress=self._show_progress, timeout=self.timeout)
        self.progress.bar_style = "success"
        self.result.value = _line(
            f"{OK_MARK} saved as {result.saved_name!r}: {result.size} bytes in {result.seconds * 1000:.1f} ms · "
            f"SHA-256 {result.sha256[:16]}… matches {OK_MARK}", "#2a7a2a")
        return result

    def _show_progress(self, sent: int, total: int) -> None:
        fraction = sent / total if total else 1.0
        self.progress.value = fraction
        self.progress.description = f"{fraction:.0%}"

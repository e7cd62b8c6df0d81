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

import anywidget
import ipywidgets as w
import traitlets

from .echo import DEFAULT_ECHO_PORT, echo
from .files import DEFAULT_FILE_PORT, send_file
from .i18n import _, retold
from .plots import bytes_in
from .protocol import ProtocolError
from .server import Event, Server, address_of, format_event, preview
from .udp import LossyUDPServer, ping, ping_report

__all__ = ["EchoPanel", "ServerMonitor", "FileSendPanel", "SocketTable", "LossPanel"]

OK_MARK, ERROR_MARK = "✔", "✘"
# JupyterLab's own theme colours, so that results read in the light and the dark theme:
# at least 4.5:1 on the notebook's background in both (tests/test_widgets.py checks them).
SUCCESS = "var(--jp-success-color0)"
ERROR = "var(--jp-error-color1)"
TEXT = "var(--jp-content-font-color1)"
# A file chosen in the browser travels to Python in one websocket message, and Jupyter's
# server (tornado) drops any message over 10 MiB: the connection breaks and the file never comes.
UPLOAD_LIMIT = 10 * 1024 * 1024


def _problem(exc: BaseException) -> str:
    """An error as one line a student can act on."""
    said = f"{exc.code}: {retold(exc.message)}" if isinstance(exc, ProtocolError) else exc
    error = f"{type(exc).__name__}: {said}"
    if isinstance(exc, ConnectionRefusedError):
        return f"{ERROR_MARK} " + _("{error} (is the server running?)").format(error=error)
    return f"{ERROR_MARK} {error}"


def _line(text: str, color: str = "inherit") -> str:
    return f'<div style="font-family: var(--jp-code-font-family, monospace); color: {color}">{html.escape(text)}</div>'


# Widths from the content: ipywidgets gives a button 148 px and a description 80 px, which cut the
# Ukrainian labels ("Зупинити сер…", "Повідомл…").
_LABEL_FITS = {"description_width": "initial"}


def _fits() -> w.Layout:
    return w.Layout(width="auto", min_width="max-content")


def _title(name: str, host: str, port: int) -> str:
    # (the name is translated by the caller: a _() inside an f-string is invisible to the extractor)
    return f"<b>{html.escape(name)}</b> → {host}:{port}"


def _size(n: int) -> str:
    if n < 1024:
        return _("{n} B").format(n=n)
    return _("{n:.1f} KiB").format(n=n / 1024) if n < 1024 * 1024 else _("{n:.1f} MiB").format(n=n / 1024 / 1024)


def _limit() -> str:
    """:data:`UPLOAD_LIMIT` as a person reads it (10 MiB), in the current language."""
    return _("{n} MiB").format(n=UPLOAD_LIMIT // (1024 * 1024))


_LIVE = '<div role="status" aria-live="polite">'


class _Status(w.HTML):
    """A panel's result, which a screen reader announces when it changes (a polite live region:
    ipywidgets sets no attribute on the widget's own element, so the region is in its value)."""

    @traitlets.validate("value")
    def _live(self, proposal):
        value = proposal["value"]
        return value if not value or value.startswith(_LIVE) else f"{_LIVE}{value}</div>"


# A focus ring that shows on both themes (3:1 or more): the widgets' own is 2.21:1.
_FOCUS_STYLE = ("<style>.sl-panel :focus{outline:2px solid var(--jp-brand-color1,#1976d2) !important;"
                "outline-offset:1px}</style>")


class _Panel:
    """Shows ``self.widget`` when displayed.

    A panel holds its widgets instead of being one, so that its own methods
    (``send``, ``close``…) cannot clash with the widget machinery's.
    """

    widget: w.Widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _panel(children: list) -> w.VBox:
    """A panel's box: its widgets, and the style of its focus ring (a style element applies hidden too)."""
    box = w.VBox([w.HTML(_FOCUS_STYLE, layout=w.Layout(display="none")), *children])
    box.add_class("sl-panel")
    return box


class EchoPanel(_Panel):
    """Type a message, press Send, see the echo with byte counts and round-trip time.

    Each message uses a new connection, like running the client once more, so
    the panel never holds a sequential server busy.
    """

    def __init__(self, address=("127.0.0.1", DEFAULT_ECHO_PORT), *, timeout: float = 5.0, history: int = 10):
        self.address = address_of(address)
        self.timeout = timeout
        self.lines: collections.deque[str] = collections.deque(maxlen=history)
        self.message = w.Text(placeholder=_("type a message, e.g. Привіт!"), description=_("Message:"),
                              layout=w.Layout(width="60%"), style=_LABEL_FITS)
        self.button = w.Button(description=_("Send"), button_style="primary", icon="paper-plane", layout=_fits())
        self.output = _Status()
        self.button.on_click(lambda _: self.send())
        self.message.on_msg(self._on_message)
        host, port = self.address
        title = w.HTML(_title(_("Echo client"), host, port))
        self.widget = _panel([title, w.HBox([self.message, self.button]), self.output])

    def _on_message(self, _widget, content, _buffers) -> None:
        """The browser's text box says "submit" when Enter is pressed in it."""
        if content.get("event") == "submit":
            self.send()

    def send(self, text: str | None = None) -> str | None:
        """Send ``text`` (or what is typed in the box); returns the reply, or None on error."""
        text = self.message.value if text is None else text
        started = time.perf_counter()
        try:
            reply = echo(text, self.address, timeout=self.timeout)
        except (OSError, EOFError, ValueError) as exc:  # ValueError: too long, or not UTF-8
            self._show(_line(_problem(exc), ERROR))
            return None
        ms = (time.perf_counter() - started) * 1000
        sent, got = len(text.encode("utf-8")), len(reply.encode("utf-8"))
        mark, color = (OK_MARK, TEXT) if reply == text else (ERROR_MARK, ERROR)
        self._show(_line(f"{mark} " + _("sent {sent} B {text}  ←  got {got} B {reply}  in {ms:.2f} ms").format(
            sent=sent, text=preview(text.encode()), got=got, reply=preview(reply.encode()), ms=ms), color))
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
        try:
            server.address
        except RuntimeError:  # before subscribing: a monitor that fails leaves nothing behind
            raise RuntimeError(_("{name} is not started: start it first (server.start()), "
                                 "then make its monitor").format(name=server.name)) from None
        self.server = server
        self.interval = interval
        self.recent: collections.deque[Event] = collections.deque(maxlen=lines)
        self.counts: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._last_update = 0.0
        self._timer: threading.Timer | None = None
        self.summary = w.HTML()
        self.log = w.HTML(layout=w.Layout(width="100%"))
        self.stop_button = w.Button(description=_("Stop server"), button_style="danger", icon="stop", layout=_fits())
        self.clear_button = w.Button(description=_("Clear log"), icon="eraser", layout=_fits())
        self.stop_button.on_click(lambda _: self.stop())
        self.clear_button.on_click(lambda _: self.clear())
        for event in server.events[-lines:]:
            self._count(event)
            self.recent.append(event)
        self.unsubscribe = server.subscribe(self._on_event)
        self.refresh()
        self.widget = _panel([self.summary, self.log, w.HBox([self.stop_button, self.clear_button])])

    def _count(self, event: Event) -> None:
        self.counts[event.kind] += 1
        self.counts["bytes in"] += bytes_in(event)

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

    def text(self) -> str:
        """The log lines shown, newest first."""
        with self._lock:
            return "\n".join(format_event(e, self.server.role) for e in reversed(self.recent))

    def refresh(self) -> None:
        """Show the newest events (newest first) and the counters now."""
        text = self.text()
        with self._lock:
            self._last_update = time.monotonic()
            self._timer = None
            c = self.counts
        state = _("running") if self.server.running else _("stopped")
        host, port = self.server.address
        self.summary.value = _("{role} on {host}:{port} — {state} · {clients} clients · {bytes_in} bytes in · "
                               "{dropped} dropped idle · {errors} errors").format(
            role=f"<b>{html.escape(self.server.role)}</b>", host=host, port=port, state=state,
            clients=c["accept"], bytes_in=c["bytes in"], dropped=c["timeout"], errors=c["error"])
        label = html.escape(_("server log"))
        self.log.value = (
            # role=log and tabindex: a scrolled region the keyboard can reach, read as a log
            f'<pre class="socketlab-log" role="log" tabindex="0" aria-label="{label}" '
            f'style="margin: 0; height: 14em; overflow: auto; padding: 2px 6px; '
            f'color: {TEXT}; font-family: var(--jp-code-font-family, monospace); '
            f'font-size: var(--jp-code-font-size, 13px); border: 1px solid var(--jp-border-color1, #bdbdbd);">'
            f'{html.escape(text)}</pre>')

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


class _Picker(w.FileUpload):
    """A FileUpload that says when the browser asks for its whole state again.

    The browser does that when it has reconnected to the kernel (and after a
    page reload), and a chosen file over :data:`UPLOAD_LIMIT` is what breaks
    the connection: the file is lost on the way, and this is all Python sees.
    """

    on_resync = None

    def get_state(self, key=None, drop_defaults=False):
        if key is None and self.on_resync is not None:  # not a change of one value: the whole state
            self.on_resync()
        return super().get_state(key=key, drop_defaults=drop_defaults)


class _ProgressBar:
    """How much of a file has gone, as a screen reader can tell: the browser's own ``<progress>``
    (role progressbar, with its value) and the percentage beside it. ipywidgets' bar has neither."""

    def __init__(self):
        self.widget = w.HTML(layout=w.Layout(width="60%"))
        self.show(0.0)

    def show(self, fraction: float, bar_style: str = "") -> None:
        self.value, self.bar_style = fraction, bar_style
        self.description = f"{fraction:.0%}"
        label = html.escape(_("sent"))
        mark = f" {OK_MARK}" if bar_style == "success" else ""
        self.widget.value = (f'<div style="display:flex;align-items:center;gap:8px;color:{TEXT}">'
                             f'<progress max="1" value="{fraction:.4f}" aria-label="{label}" style="flex:1">'
                             f'</progress><span>{self.description}{mark}</span></div>')


class FileSendPanel(_Panel):
    """Pick a file or type a path, press Send, watch the progress and the SHA-256 check.

    The last thing done wins: choosing a file empties the path, typing a path
    drops the chosen file; Clear forgets both.  A file chosen in the browser
    must be under :data:`UPLOAD_LIMIT` (10 MiB); for a larger one, type its path.
    """

    def __init__(self, address=("127.0.0.1", DEFAULT_FILE_PORT), *, timeout: float = 30.0):
        self.address = address_of(address)
        self.timeout = timeout
        self.picker = _Picker(description=_("Choose file"), multiple=False, layout=_fits(),
                              tooltip=_("a file up to {limit}; for a larger one, type its path").format(limit=_limit()))
        self.picker.on_resync = self._check_arrival
        self.chosen = w.HTML()
        self.path = w.Text(placeholder=_("…or a path next to the notebook, e.g. data/lab_report_uk.txt"),
                           description=_("Path:"), layout=w.Layout(width="60%"), style=_LABEL_FITS)
        self.button = w.Button(description=_("Send"), button_style="primary", icon="upload", layout=_fits())
        self.clear_button = w.Button(description=_("Clear"), icon="eraser", layout=_fits())
        self.progress = _ProgressBar()
        self.result = _Status()
        self.button.on_click(lambda _: self.send_file())
        self.clear_button.on_click(lambda _: self.clear())
        self.picker.observe(self._on_choice, "value")
        self.path.observe(self._on_path, "value")
        self.path.on_msg(self._on_path_message)
        self._show_choice()
        host, port = self.address
        self.widget = _panel([w.HTML(_title(_("File client"), host, port)),
                              w.HBox([self.picker, self.chosen]),
                              w.HBox([self.path, self.button, self.clear_button]), self.progress.widget, self.result])

    @property
    def choice(self) -> dict | None:
        """The file chosen in the browser (name, size, content…), or None."""
        return self.picker.value[0] if self.picker.value else None

    def _on_choice(self, change) -> None:
        if change["new"]:
            self.path.value = ""  # the file just chosen wins over a path typed before
        self._show_choice()

    def _on_path_message(self, _widget, content, _buffers) -> None:
        """Enter in the path box sends, as the Send button does."""
        if content.get("event") == "submit":
            self.send_file()

    def _on_path(self, change) -> None:
        if change["new"].strip() and self.picker.value:
            self.picker.value = ()  # a path typed now wins over the file chosen before
        self._show_choice()

    def _show_choice(self) -> None:
        chosen = self.choice
        if chosen is not None:
            text = _("chosen: {name} ({size})").format(name=chosen["name"],
                                                       size=_size(chosen.get("size", len(chosen["content"]))))
        else:
            text = _("no file chosen (up to {limit}; for a larger one, type its path)").format(limit=_limit())
        self.chosen.value = _line(text, TEXT)

    def _check_arrival(self) -> None:
        """The browser asked for the chooser's state again: a file too large for it may be lost."""
        if self.choice is None:
            self.result.value = _line(
                f"{ERROR_MARK} " + _("No chosen file arrived. A file over {limit} cannot travel from the browser "
                                     "to Python (the connection drops it): type its path in the Path box "
                                     "instead.").format(limit=_limit()), ERROR)

    def clear(self) -> None:
        """Forget the chosen file and the typed path; empty the progress bar and the result."""
        self.picker.value = ()
        self.path.value = ""
        self.progress.show(0.0)
        self.result.value = ""
        self._show_choice()

    def send_file(self, path: str | Path | None = None, name: str | None = None):
        """Send ``path``, else the typed path, else the chosen file; returns the SendResult or None."""
        try:
            if path is None:
                path = self.path.value.strip()
                if not path and self.choice is not None:
                    return self._send_upload(self.choice)
            if not path:
                raise FileNotFoundError(_("choose a file (up to {limit}) or type a path first").format(limit=_limit()))
            return self._send(Path(path), name)
        except Exception as exc:  # shown in the panel: a widget must not raise into the void
            self.result.value = _line(_problem(exc), ERROR)
            return None

    def _send_upload(self, upload: dict):
        """The browser gave us the file's bytes: send them under the file's own name."""
        with tempfile.TemporaryDirectory(prefix="socketlab-upload-") as tmp:
            path = Path(tmp) / "upload"
            path.write_bytes(upload["content"])
            return self._send(path, upload["name"])

    def _send(self, path: Path, name: str | None):
        self.progress.show(0.0)
        self.result.value = ""
        result = send_file(path, self.address, name=name, progress=self._show_progress, timeout=self.timeout)
        self.progress.show(1.0, "success")
        self.result.value = _line(
            f"{OK_MARK} " + _("saved as {name}: {size} bytes in {ms:.1f} ms · SHA-256 {sha256}… matches").format(
                name=repr(result.saved_name), size=result.size, ms=result.seconds * 1000,
                sha256=result.sha256[:16]) + f" {OK_MARK}", SUCCESS)
        return result

    def _show_progress(self, sent: int, total: int) -> None:
        self.progress.show(sent / total if total else 1.0)


class SocketTable(_Panel):
    """The operating system's TCP sockets on some ports, as ``ss -tan`` shows them, kept up to date.

    ``refresh()`` reads them once; ``watch(seconds)`` refreshes every ``interval``
    seconds in a background thread that only assigns the table (and ends by itself).
    """

    def __init__(self, ports, *, interval: float = 0.5):
        from .ossockets import SocketList

        self._list = SocketList
        self.ports = sorted({p for p in ports})
        self.interval = interval
        self.table = w.HTML()
        self.button = w.Button(description=_("Refresh"), icon="refresh", layout=_fits())
        self.button.on_click(lambda _: self.refresh())
        self.widget = _panel([self.table, self.button])
        self._stop = threading.Event()
        self.refresh()

    def refresh(self) -> str:
        current = self._list(self.ports)
        self.table.value = current._repr_html_()
        return str(current)

    def watch(self, seconds: float = 10.0) -> "SocketTable":
        self._stop.set()
        self._stop = stop = threading.Event()

        def loop() -> None:
            deadline = time.monotonic() + seconds
            while not stop.wait(self.interval) and time.monotonic() < deadline:
                self.refresh()

        threading.Thread(target=loop, name="socket-table", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


class _RangeSlider(anywidget.AnyWidget):
    """A slider that a screen reader can name: the browser's own ``<input type="range">`` with its ``<label>``
    and an ``<output>`` of the value. (ipywidgets' sliders give their handle no accessible name.)"""

    _esm = """
    function render({ model, el }) {
      const id = "sl-range-" + Math.random().toString(36).slice(2);
      const label = document.createElement("label");
      const input = document.createElement("input");
      const shown = document.createElement("output");
      label.htmlFor = id;
      input.type = "range";
      input.id = id;
      shown.htmlFor = id;
      const text = (value) => value + model.get("unit");
      const sync = () => {
        input.min = model.get("min"); input.max = model.get("max"); input.step = model.get("step");
        input.value = model.get("value");
        label.textContent = model.get("label");
        shown.textContent = text(model.get("value"));
        input.setAttribute("aria-valuetext", shown.textContent);
      };
      input.addEventListener("input", () => { shown.textContent = text(input.value); });
      input.addEventListener("change", () => { model.set("value", Number(input.value)); model.save_changes(); });
      model.on("change", sync);
      sync();
      el.classList.add("sl-range");
      el.append(label, input, shown);
    }
    export default { render };
    """
    _css = """
    .sl-range { display: flex; align-items: center; gap: 0.5em; margin: 2px 1em 2px 0;
                color: var(--jp-content-font-color1); font-size: var(--jp-widgets-font-size, 13px); }
    .sl-range input { accent-color: var(--jp-brand-color1, #1976d2); width: 10em; }
    .sl-range output { font-family: var(--jp-code-font-family, monospace); min-width: 4.5em; }
    """
    value = traitlets.Int(0).tag(sync=True)
    min = traitlets.Int(0).tag(sync=True)
    max = traitlets.Int(100).tag(sync=True)
    step = traitlets.Int(1).tag(sync=True)
    label = traitlets.Unicode("").tag(sync=True)
    unit = traitlets.Unicode("").tag(sync=True)

    @traitlets.validate("value")
    def _within(self, proposal):
        return max(self.min, min(self.max, proposal["value"]))


class LossPanel(_Panel):
    """Sliders for a :class:`~socketlab.udp.LossyUDPServer`'s loss, duplicates, delay and reordering, a seed,
    and a Ping button: ``count`` pings with a ``timeout``, told ping by ping and summed up."""

    def __init__(self, server: LossyUDPServer, *, count: int = 10, timeout: float = 0.5):
        self.server, self.timeout, self.results = server, timeout, []
        def slider(value: float, label: str, *, most: int = 100, step: int = 5, unit: str = " %") -> _RangeSlider:
            return _RangeSlider(value=round(value), max=most, step=step, label=label, unit=unit)

        self.drop = slider(server.drop * 100, _("lost"))
        self.duplicate = slider(server.duplicate * 100, _("duplicated"))
        self.reorder = slider(server.reorder * 100, _("late"))
        self.delay = slider(server.delay * 1000, _("delay up to"), most=400, step=10, unit=" " + _("ms"))
        self.seed = w.IntText(value=0, description=_("seed"), style=_LABEL_FITS, layout=w.Layout(width="12em"))
        self.count = _RangeSlider(value=count, min=1, max=50, label=_("pings"))
        self.button = w.Button(description=_("Ping"), button_style="primary", icon="bolt", layout=_fits())
        self.output = _Status()
        self.button.on_click(lambda _: self.ping())
        host, port = server.address
        title = w.HTML(_title(_("A network that loses datagrams"), host, port))
        self.widget = _panel([title, w.HBox([self.drop, self.duplicate]), w.HBox([self.reorder, self.delay]),
                              w.HBox([self.count, self.seed, self.button]), self.output])

    def ping(self, count: int | None = None) -> list:
        """Set the server's rates from the sliders, send the pings; returns them (``Ping`` each)."""
        self.server.configure(drop=self.drop.value / 100, duplicate=self.duplicate.value / 100,
                              reorder=self.reorder.value / 100, delay=self.delay.value / 1000, seed=self.seed.value)
        try:
            self.results = ping(self.server.address, count or self.count.value, timeout=self.timeout)
        except OSError as exc:
            self.output.value = _line(_problem(exc), ERROR)
            return []
        lines, summary = ping_report(self.results, self.timeout)
        self.output.value = _line(summary, TEXT) + "".join(_line(x, TEXT) for x in lines)
        return self.results

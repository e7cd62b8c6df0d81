"""Pictures of what a server recorded: a timeline per client and a sequence diagram.

Each takes a running (or stopped) server, or a list of its ``events``, and
returns a matplotlib ``Figure``; a notebook shows it as the cell's result.
Given a server, a picture first waits (at most ``wait`` seconds) until every
connection in its events has its ``close``: the server records it after the
client already has its reply.  Clients are numbered 1, 2, 3… in each picture,
in the order they connected.

Figures are made without pyplot, so nothing is shown twice and nothing piles
up in memory when a cell is re-run.  They fit JupyterLab's notebook width
(``WIDTH`` at 96 dpi). Each is drawn on its own white paper, in both of JupyterLab's
themes: no one colour of text reads at 4.5:1 on both white and the dark theme's #111.
In a notebook each shows as an image with a text alternative made from the same
events (``Picture.alt``, short) and the whole story in words below it
(``Picture.words``, in a collapsible block); the waiting and the served bars differ
by a hatch as well as by colour.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
import sys
import threading
import time
from typing import Iterable, Sequence


from .i18n import _, ngettext
from .protocol import ERROR_CODES
from .server import Event, kind_label

__all__ = ["timeline", "timelines", "sequence_diagram", "comparison", "Picture", "bytes_in"]

DPI = 96  # how a notebook shows the pictures
WIDTH = 8.2  # inches: 787 px, inside JupyterLab's notebook width, so nothing is scaled down
# On the pictures' white paper: text 7:1, the colours of bars and arrows at least 3:1.
PAPER = "#ffffff"
FOREGROUND = "#595959"
SERVED, WAITING, TROUBLE, TO_SERVER = "#3c9a3c", "#b86e00", "#c62828", "#3d85e0"
WAITING_HATCH = "////"  # waiting is striped, being served is solid: told apart without colour
SMALL = 8.5  # points: 11.3 px at 96 dpi, the smallest text in a picture
_STYLE = {
    "font.size": 10, "axes.titlesize": 11, "figure.titlesize": 12, "axes.labelsize": 10,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9,
    "text.color": FOREGROUND, "axes.labelcolor": FOREGROUND, "axes.edgecolor": FOREGROUND,
    "axes.titlecolor": FOREGROUND, "xtick.color": FOREGROUND, "ytick.color": FOREGROUND,
    "grid.color": FOREGROUND, "figure.facecolor": PAPER, "axes.facecolor": "none",
    "savefig.facecolor": PAPER, "savefig.transparent": False, "hatch.color": PAPER, "hatch.linewidth": 1.5,
}
_PEER_PORT = re.compile(r":(\d+)$")


@functools.cache
def _picture_class():
    """``Picture``: made on first use, so that importing this module does not import matplotlib
    (half a second that every notebook, and every graded run, would pay before drawing anything)."""
    from matplotlib.figure import Figure

    class Picture(Figure):
        """A matplotlib Figure that shows itself as a PNG in a notebook, pyplot or not, with its
        text alternative (``alt``) and the whole picture in words (``words``) beside it."""

        alt = ""
        words = ""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=DPI, facecolor=PAPER)
            return buffer.getvalue()

        def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
            # One drawing for both: the notebook shows the HTML, the PNG is kept for other readers.
            png = self._repr_png_()
            return {"text/html": self._html(png), "image/png": png}

        def _repr_html_(self) -> str:
            return self._html(self._repr_png_())

        def _html(self, png: bytes) -> str:
            png = base64.b64encode(png).decode("ascii")
            width, height = (round(v * DPI) for v in self.get_size_inches())
            # a div, not a pre: JupyterLab's rules for an output's pre break words anywhere
            summary = html.escape(_("The picture in words"))
            words = (f'<details style="margin:2px 0 6px"><summary>{summary}</summary>'
                     f'<div style="white-space:pre-wrap;word-break:normal;font-family:var(--jp-code-font-family,'
                     f'monospace);font-size:var(--jp-code-font-size,13px)">{html.escape(self.words)}</div></details>'
                     ) if self.words else ""
            return (f'<figure class="sl-picture" style="margin:0"><img src="data:image/png;base64,{png}" '
                     f'width="{width}" height="{height}" alt="{html.escape(self.alt or self.words[:200])}">'
                     f'{words}</figure>')

    return Picture


def __getattr__(name: str):
    if name == "Picture":
        return _picture_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _style():
    import matplotlib

    return matplotlib.rc_context(_STYLE)


def _picture(width: float, height: float):
    return _picture_class()(figsize=(min(width, WIDTH), height), dpi=DPI, layout="constrained")


def _described(fig, alt: str, lines: list[str]):
    fig.alt, fig.words = alt, "\n".join(lines)
    return fig


def _timeline_words(events: Sequence[Event], clients: Sequence | None, *, relative: bool) -> list[str]:
    """The timeline in words: each client's wait, service, bytes and trouble, as the bars show them."""
    conns = _connections(events)
    connected = {run.port: run.connected for run in clients or ()
                 if run.port is not None and getattr(run, "connected", None) is not None}
    end = max((e.t for e in events), default=0.0)
    origin = min([c["accept"] for c in conns.values()], default=0.0) if relative else 0.0
    if relative and connected:
        origin = min([origin] + [connected[c["port"]] for c in conns.values() if c.get("port") in connected])
    lines = []
    for n, c in enumerate(conns.values(), start=1):
        waited = c["accept"] - connected[c["port"]] if c.get("port") in connected else None
        line = _("client {n}: served from {start:.3f} s to {end:.3f} s, {bytes} B").format(
            n=n, start=c["accept"] - origin, end=c.get("close", end) - origin, bytes=c["bytes"])
        if waited is not None:
            line += "; " + _("waited {seconds:.3f} s to be accepted").format(seconds=max(waited, 0.0))
        if c["trouble"]:
            line += "; " + _("dropped (idle) or error")
        lines.append(line)
    return lines or [_("no client")]


def bytes_in(event: Event) -> int:
    """The bytes from a client that an event accounts for: echo data read, a file's saved body."""
    return event.nbytes if event.kind in ("recv", "saved") else 0


def _is_server(source) -> bool:
    return hasattr(source, "subscribe") and hasattr(source, "events")


def _open_connections(events: Iterable[Event]) -> set[int]:
    opened: set[int] = set()
    for e in events:
        if e.client_id:
            if e.kind == "close":
                opened.discard(e.client_id)
            else:
                opened.add(e.client_id)
    return opened


def _serves_in_this_thread(server) -> bool:
    """An asyncio server in the event loop of this very thread: waiting here would stop it."""
    asyncio = sys.modules.get("asyncio")  # not imported: no event loop at all
    loop = getattr(server, "_loop", None)
    if asyncio is None or loop is None:
        return False
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def events_of(source, wait: float = 1.0) -> list[Event]:
    """The events of a server (or a list of events, as it is).

    A server's events are taken once every connection in them has its
    ``close``, or after ``wait`` seconds, whichever comes first.  (An asyncio
    server serving in this thread's event loop is not waited for: it records
    each close before the client can see it.)
    """
    if not _is_server(source):
        return list(source)
    if _serves_in_this_thread(source):
        return source.events
    closed = threading.Event()

    def on_event(event: Event) -> None:  # runs in the server's thread: only signals
        if event.kind == "close":
            closed.set()

    unsubscribe = source.subscribe(on_event)
    try:
        deadline = time.monotonic() + wait
        while _open_connections(events := source.events) and (left := deadline - time.monotonic()) > 0:
            closed.wait(left)
            closed.clear()
        return events
    finally:
        unsubscribe()


def _connections(events: Iterable[Event]) -> dict[int, dict]:
    """Each connection's times, byte count and trouble, by client id, in the order they connected."""
    conns: dict[int, dict] = {}
    for e in events:
        if e.client_id == 0:
            continue
        c = conns.setdefault(e.client_id, {"bytes": 0, "trouble": []})
        if e.kind == "accept":
            c["accept"] = e.t
            port = _PEER_PORT.search(e.detail)
            c["port"] = int(port.group(1)) if port else None
        elif e.kind == "close":
            c["close"] = e.t
        elif e.kind in ("timeout", "error"):
            c["trouble"].append((e.t, e.kind))
        c["bytes"] += bytes_in(e)
    # A connection whose accept is not in the events began before them (e.g. the close of the
    # last client before ``clear_events()``, recorded just after it): not part of this story.
    return dict(sorted(((cid, c) for cid, c in conns.items() if "accept" in c), key=lambda item: item[1]["accept"]))


def timeline(source, clients: Sequence | None = None, *, title: str | None = None,
             wait: float = 1.0):
    """One row per client: waiting in the queue (if ``clients`` are given), then being served.

    ``source`` is a server or its ``events``.  ``clients`` are the records of
    :func:`socketlab.echo.run_clients` run with ``clock=server.clock``; they are
    matched to connections by port, and a client waits from the moment its
    ``connect()`` returned until the server accepted it.
    """
    events = events_of(source, wait)
    with _style():
        rows = max(len(_connections(events)), 2)
        fig = _picture(WIDTH, 0.4 * rows + 1.5)
        ax = fig.add_subplot()
        if _draw_timeline(ax, events, clients, relative=False):
            fig.legend(loc="outside lower center", ncols=3, frameon=False)
        ax.set_title(_("Who was served when") if title is None else title)
    words = _timeline_words(events, clients, relative=False)
    return _described(fig, _("{title}: a timeline of {n} clients, each one's wait and service").format(
        title=ax.get_title(), n=len(_connections(events))), words)


def timelines(panels: dict, *, title: str | None = None, wait: float = 1.0):
    """Timelines side by side, one per server: ``{"name": (server or events, clients), …}``.

    Times count from each panel's first client, on one shared axis, so the
    panels compare at a glance.
    """
    with _style():
        grid_rows = max((len(panels) + 1) // 2, 1)
        fig = _picture(WIDTH, 1.4 + 1.9 * grid_rows)
        axes = list(fig.subplots(grid_rows, 2, sharex=True, squeeze=False).flat)
        drawn, words = False, []
        for ax, (name, (source, clients)) in zip(axes, panels.items()):
            events = events_of(source, wait)
            drawn |= _draw_timeline(ax, events, clients, relative=True)
            ax.set_title(name)
            words += [f"{name}:"] + [f"  {line}" for line in _timeline_words(events, clients, relative=True)]
        for i in range(len(panels), len(axes)):
            axes[i].set_visible(False)  # an odd number of panels leaves one empty
            if i >= 2:
                axes[i - 2].xaxis.set_tick_params(labelbottom=True)  # the panel above it shows the times
        if drawn:
            fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3,
                       frameon=False)
        heading = _("The same clients, different servers") if title is None else title
        fig.suptitle(heading)
    return _described(fig, _("{title}: timelines of {servers}").format(title=heading, servers=", ".join(panels)),
                      words)


def _draw_timeline(ax, events: Sequence[Event], clients: Sequence | None, *, relative: bool) -> bool:
    """Draw one timeline on ``ax``; True if there was a client to draw."""
    conns = _connections(events)
    connected = {run.port: run.connected for run in clients or ()
                 if run.port is not None and getattr(run, "connected", None) is not None}
    end = max((e.t for e in events), default=1.0)
    starts = [c["accept"] for c in conns.values()]
    first = min(starts + [connected[c["port"]] for c in conns.values() if c.get("port") in connected],
                default=0.0)
    origin = first if relative else 0.0
    thinnest = (end - first) * 0.003  # so that a very short service still shows
    labelled: set[str] = set()

    def once(label: str) -> str | None:
        """A legend label the first time only."""
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for row, c in enumerate(conns.values()):
        accept, close = c["accept"] - origin, c.get("close", end) - origin
        if c.get("port") in connected:
            wait_from = connected[c["port"]] - origin
            ax.barh(row, max(accept - wait_from, 0.0), left=wait_from, color=WAITING, height=0.5,
                    hatch=WAITING_HATCH, label=once(_("connected, waiting to be accepted")))
        ax.barh(row, max(close - accept, thinnest), left=accept, color=SERVED, height=0.5,
                label=once(_("being served")))
        for t, _kind in c["trouble"]:
            ax.plot(t - origin, row, "x", color=TROUBLE, markersize=10, mew=2,
                    label=once(_("dropped (idle) or error")))
        # the byte count right of the bar, clear of a red mark at its end
        ax.annotate(_("{n} B").format(n=c["bytes"]), (max(close, accept + thinnest), row),
                    xytext=(9 if c["trouble"] else 4, 0), textcoords="offset points", va="center", fontsize=SMALL)
    ax.set_yticks(range(len(conns)), [_("client {n}").format(n=n) for n in range(1, len(conns) + 1)])
    ax.invert_yaxis()  # the first client on top
    ax.set_xlabel(_("seconds since the first client") if relative else _("seconds since the server started"))
    if not relative:
        ax.set_xlim(left=max(0.0, first - 0.05 * (end - first)))  # start where the story starts
    ax.margins(x=0.12)  # room for the byte counts at the right
    ax.grid(axis="x", alpha=0.3)
    return bool(conns)


def comparison(results: dict, *, title: str | None = None):
    """Bars of sessions/s (whiskers: the slowest and the fastest repeat) and median latency:
    ``{"server name": [LoadResult, …], …}``."""
    with _style():
        fig = _picture(WIDTH, 3.8)
        rate_ax, latency_ax = fig.subplots(1, 2)
        levels = sorted({r.clients for runs in results.values() for r in runs})
        width = 0.8 / max(len(results), 1)
        for i, (name, runs) in enumerate(results.items()):
            by_level = {r.clients: r for r in runs}
            xs = [j + i * width for j in range(len(levels))]
            rates = [by_level[n].rate if n in by_level else 0 for n in levels]
            spreads = [by_level[n].spread if n in by_level else (0, 0) for n in levels]
            # the whiskers: the lowest and the highest repeat, so one bar is not taken for the truth
            rate_ax.bar(xs, rates, width, label=name, ecolor=FOREGROUND, capsize=2,
                        yerr=[[r - low for r, (low, _high) in zip(rates, spreads)],
                              [high - r for r, (_low, high) in zip(rates, spreads)]])
            latency_ax.bar(xs, [by_level[n].median_ms if n in by_level else 0 for n in levels], width, label=name)
        for ax, label in ((rate_ax, _("sessions per second")), (latency_ax, _("median latency (ms), log scale"))):
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(levels))],
                          [ngettext("{n} client", "{n} clients", n).format(n=n) for n in levels])
            ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
        latency_ax.set_yscale("log")
        rate_ax.legend(frameon=False)
        heading = _("Sessions per second and latency, by server and number of clients") if title is None else title
        fig.suptitle(heading)
    words = [_("{server}, {clients}: {rate:.0f} sessions/s (from {low:.0f} to {high:.0f}), median latency "
               "{ms:.2f} ms").format(server=name, clients=ngettext("{n} client", "{n} clients", r.clients).format(
                   n=r.clients), rate=r.rate, low=r.spread[0], high=r.spread[1], ms=r.median_ms)
             for name, runs in results.items() for r in runs]
    return _described(fig, heading, words)


# ---- sequence diagram -----------------------------------------------------------

TO, FROM, NOTE = "to server", "to client", "note"


def _short(detail: str, width: int = 14) -> str:
    """A server's preview of some data (``'hello'``), shortened to fit between two lifelines."""
    if len(detail) <= width + 2:
        return detail
    quote = detail[0] if detail[:1] in "'\"" else ""
    return f"{detail[:width + len(quote)].rstrip('…')}…{quote}"


def _unquote(detail: str) -> str:
    """A name as the server previewed it (``'report.txt'``), without the quotes."""
    if len(detail) >= 2 and detail[0] in "'\"" and detail[-1] == detail[0]:
        return detail[1:-1]
    return detail


def _code(event: Event) -> str:
    """The protocol's error code of a file server's error event (``too-large: …``)."""
    return event.detail.split(":", 1)[0]


def _during_body(event: Event) -> bool:
    """Whether a file server records this only once the body is coming (so after READY)."""
    return event.kind in ("progress", "body", "recv", "saved") or (
        event.kind in ("error", "timeout") and _code(event) in ("incomplete", "timeout"))


def _steps(events: Sequence[Event]) -> list[tuple[Event, str, str, bool]]:
    """What travelled, as ``(event, direction, label, recorded)``, in the order it happened.

    An echo server records what it read and sent.  A file server records the
    header, how much of the body has arrived (``progress``), the saved file and
    errors; the protocol says what travelled in between: READY once the body
    comes, the whole body once the file is saved, OK right after saving.  Those
    are drawn from the events that imply them (``recorded`` False: no time of
    their own is known), unless the server recorded them itself (``ready``,
    ``body``, ``send`` events).
    """
    steps: list[tuple[Event, str, str, bool]] = []
    file: dict[int, dict] = {}  # per connection: the file being received
    files_seen: set[int] = set()  # connections that sent a file header
    for i, e in enumerate(events):
        upload = file.get(e.client_id)
        if e.kind == "accept":
            steps.append((e, TO, _("connect"), True))
        elif e.kind == "header":
            file[e.client_id] = {"size": e.nbytes, "ready": False, "body": 0}
            files_seen.add(e.client_id)
            steps.append((e, TO, _("header: {line}").format(line=f"FILE {e.nbytes} {_unquote(e.detail)}"), True))
        elif e.kind == "ready":
            if upload:
                upload["ready"] = True
            steps.append((e, FROM, "READY", True))
        elif upload is not None and _during_body(e):
            if not upload["ready"]:  # the body only comes after READY
                upload["ready"] = True
                steps.append((e, FROM, "READY", False))
            if e.kind in ("body", "recv"):
                upload["body"] += e.nbytes
                summary = e.detail if e.detail and not e.detail.startswith("piece") else ""  # "37 more pieces"
                label = _("body {n} B").format(n=e.nbytes) + (f" ({summary})" if summary else "")
                steps.append((e, TO, label, True))
            elif e.kind == "progress" and upload["body"]:
                pass  # the pieces themselves are drawn
            elif e.kind == "progress":
                steps.append((e, TO, _("body: {n} of {size} B so far").format(n=e.nbytes, size=upload["size"]), True))
                upload["progress"] = e.nbytes
            elif e.kind == "saved":
                if upload["body"] < e.nbytes:  # its pieces were not recorded
                    so_far = upload.get("progress", 0)
                    rest = (_("body: the rest, {n} B").format(n=e.nbytes - so_far) if so_far
                            else _("body: {n} B").format(n=e.nbytes))
                    steps.append((e, TO, rest, False))
                name, _sep, digest = e.detail.partition(" sha256 ")
                steps.append((e, NOTE, _("saved as {name}").format(name=name), True))
                following = next((later for later in events[i + 1:] if later.client_id == e.client_id), None)
                if following is None or following.kind != "send":  # the reply was not recorded
                    steps.append((e, FROM, f"OK {e.nbytes} {digest or '…'} {name}", False))
                del file[e.client_id]
            else:
                steps.append((e, FROM, f"ERROR {e.detail[:40]}", True))
                del file[e.client_id]
        elif e.kind == "recv":
            steps.append((e, TO, _("data {n} B {preview}").format(n=e.nbytes, preview=_short(e.detail)), True))
        elif e.kind == "send":
            replies = e.client_id in files_seen  # a file server's reply; an echo server's echo
            label = (e.detail[:40] or _("reply {n} B").format(n=e.nbytes)) if replies else \
                _("echo {n} B").format(n=e.nbytes)
            steps.append((e, FROM, label, True))
        elif e.kind in ("error", "timeout"):
            if _code(e) in ERROR_CODES:  # the file server told the client so in an ERROR line
                steps.append((e, FROM, f"ERROR {e.detail[:40]}", True))
                file.pop(e.client_id, None)
            else:
                steps.append((e, NOTE, f"{kind_label(e.kind)}: {e.detail[:36]}", True))
        elif e.kind == "close":
            steps.append((e, FROM, _("close"), True))
        else:
            steps.append((e, NOTE, f"{kind_label(e.kind)} {e.detail[:36]}".strip(), True))
    return steps


def sequence_diagram(source, *, max_clients: int = 3, max_rows: int = 40,
                     title: str | None = None, wait: float = 1.0):
    """Clients and the server as lifelines, one arrow per message, in the order they happened.

    ``source`` is a server or its ``events``.
    """
    events = events_of(source, wait)
    conns = list(_connections(events))[:max_clients]
    steps = _steps([e for e in events if e.client_id in conns])[:max_rows]
    x = {cid: i for i, cid in enumerate(conns)}
    server_x = len(conns) + 0.6
    with _style():
        fig = _picture(2.2 * (len(conns) + 1) + 1.5, 0.36 * len(steps) + 1.5)
        ax = fig.add_subplot()
        bottom = len(steps) + 0.2
        for n, cx in enumerate(x.values(), start=1):
            ax.plot([cx, cx], [-0.7, bottom], color=FOREGROUND, lw=1, ls=":")  # lifelines below the names
            ax.text(cx, -1, _("client {n}").format(n=n), ha="center", va="bottom", weight="bold")
        ax.plot([server_x, server_x], [-0.7, bottom], color=FOREGROUND, lw=1.5)
        ax.text(server_x, -1, _("server"), ha="center", va="bottom", weight="bold")
        for y, (e, direction, label, recorded) in enumerate(steps):
            cx = x[e.client_id]
            trouble = e.kind in ("timeout", "error")
            if direction == NOTE:
                ax.text(server_x + 0.08, y, label, ha="left", va="center", fontsize=SMALL,
                        color=TROUBLE if trouble else FOREGROUND, style="italic")
            else:
                start, stop = (cx, server_x) if direction == TO else (server_x, cx)
                color = TROUBLE if trouble else TO_SERVER if direction == TO else SERVED
                ax.annotate("", xy=(stop, y), xytext=(start, y),
                            arrowprops=dict(arrowstyle="->", color=color, lw=1.4,
                                            ls="--" if e.kind == "close" else "-"))
                ax.text((cx + server_x) / 2, y - 0.12, label, ha="center", va="bottom", fontsize=SMALL)
            if recorded:
                ax.text(-0.45, y, _("{ms:.1f} ms").format(ms=e.t * 1000), ha="right", va="center", fontsize=SMALL)
        ax.set_xlim(-1.1, server_x + 1.2)
        ax.set_ylim(bottom, -1.6)
        ax.axis("off")
        ax.set_title(_("What travelled between client and server") if title is None else title)
    number = {cid: n for n, cid in enumerate(conns, start=1)}
    words, server = [], _("server")
    for e, direction, label, _recorded in steps:
        who = _("client {n}").format(n=number[e.client_id])
        arrow = {TO: f"{who} → {server}", FROM: f"{server} → {who}"}.get(direction, f"{server} ({who})")
        words.append(_("{ms:.1f} ms").format(ms=e.t * 1000) + f"  {arrow}: {label}")
    return _described(fig, _("{title}: {n} messages between {clients} and the server").format(
        title=ax.get_title(), n=len(steps), clients=ngettext("{n} client", "{n} clients", len(conns)).format(
            n=len(conns))), words)

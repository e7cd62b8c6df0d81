"""Pictures of what a server recorded: a timeline per client and a sequence diagram.

Both take a server's ``events`` (and, for the timeline, optionally what the
clients saw) and return a matplotlib ``Figure``; a notebook shows it as the
cell's result.  Figures are made without pyplot, so nothing is shown twice and
nothing piles up in memory when a cell is re-run.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from typing import Iterable, Sequence

from matplotlib.figure import Figure

from .server import Event

__all__ = ["timeline", "timelines", "sequence_diagram", "comparison", "Picture"]

SERVED, WAITING, TROUBLE = "#4c9a2a", "#f0a030", "#d62728"
_PEER_PORT = re.compile(r":(\d+)$")


class Picture(Figure):
    """A matplotlib Figure that shows itself as a PNG in a notebook, pyplot or not."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=96)
        return buffer.getvalue()


def _connections(events: Iterable[Event]) -> dict[int, dict]:
    """accept/close/trouble times and byte counts of each connection, by client id."""
    conns: dict[int, dict] = defaultdict(lambda: {"bytes": 0, "trouble": []})
    for e in events:
        if e.client_id == 0:
            continue
        c = conns[e.client_id]
        if e.kind == "accept":
            c["accept"] = e.t
            port = _PEER_PORT.search(e.detail)
            c["port"] = int(port.group(1)) if port else None
        elif e.kind == "close":
            c["close"] = e.t
        elif e.kind in ("recv", "header"):
            c["bytes"] += e.nbytes if e.kind == "recv" else 0
        elif e.kind in ("timeout", "error"):
            c["trouble"].append((e.t, e.kind))
    return {cid: c for cid, c in sorted(conns.items()) if "accept" in c}


def timeline(events: Sequence[Event], clients: Sequence | None = None, *, title: str = "Who was served when") -> Figure:
    """One row per client: waiting in the queue (if ``clients`` are given), then being served.

    ``clients`` are the records of :func:`socketlab.echo.run_clients` run with
    ``clock=server.clock``; they are matched to connections by port.
    """
    rows = max(len(_connections(events)), 2)
    fig = Picture(figsize=(8, 0.45 * rows + 1.4), layout="constrained")
    ax = fig.add_subplot()
    if _draw_timeline(ax, events, clients, relative=False):
        fig.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    ax.set_title(title)
    return fig


def timelines(panels: dict, *, title: str = "The same clients, different servers") -> Figure:
    """Timelines side by side, one per server: ``{"name": (events, clients), …}``.

    Times count from each panel's first client, on one shared axis, so the
    panels compare at a glance.
    """
    fig = Picture(figsize=(12, 1.6 + 1.8 * ((len(panels) + 1) // 2)), layout="constrained")
    axes = fig.subplots((len(panels) + 1) // 2, 2, sharex=True, squeeze=False).flat
    drawn = False
    for ax, (name, (events, clients)) in zip(axes, panels.items()):
        drawn |= _draw_timeline(ax, events, clients, relative=True)
        ax.set_title(name)
    for ax in list(axes):
        ax.set_visible(False)  # an odd number of panels leaves one empty
    if drawn:
        fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3,
                   fontsize=8, frameon=False)
    fig.suptitle(title)
    return fig


def _draw_timeline(ax, events: Sequence[Event], clients: Sequence | None, *, relative: bool) -> bool:
    """Draw one timeline on ``ax``; True if there was a client to draw."""
    conns = _connections(events)
    started = {run.port: run.started for run in clients or () if run.port is not None}
    end = max((e.t for e in events), default=1.0)
    first = min([c["accept"] for c in conns.values()] + list(started.values()), default=0.0)
    origin = first if relative else 0.0
    thinnest = (end - first) * 0.003  # so that a very short service still shows
    labelled: set[str] = set()

    def once(label: str) -> str | None:
        """A legend label the first time only."""
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for row, (cid, c) in enumerate(conns.items()):
        accept, close = c["accept"] - origin, c.get("close", end) - origin
        if c.get("port") in started:
            wait_from = started[c["port"]] - origin
            ax.barh(row, accept - wait_from, left=wait_from, color=WAITING, height=0.5,
                    label=once("waiting to be accepted"))
        ax.barh(row, max(close - accept, thinnest), left=accept, color=SERVED, height=0.5,
                label=once("being served"))
        for t, _kind in c["trouble"]:
            ax.plot(t - origin, row, "x", color=TROUBLE, markersize=10, mew=2, label=once("dropped (idle) or error"))
        ax.text(max(close, accept + thinnest), row, f"  {c['bytes']} B", va="center", fontsize=8)
    ax.set_yticks(range(len(conns)), [f"client #{cid}" for cid in conns])
    ax.invert_yaxis()  # the first client on top
    ax.set_xlabel("seconds since the first client" if relative else "seconds since the server started")
    if not relative:
        ax.set_xlim(left=max(0.0, first - 0.05 * (end - first)))  # start where the story starts
    ax.grid(axis="x", alpha=0.3)
    return bool(conns)


def comparison(results: dict, *, title: str = "Sessions per second and latency, by server and number of clients") -> Figure:
    """Bars of sessions/s and median latency: ``{"server name": [LoadResult, …], …}``."""
    fig = Picture(figsize=(12, 4), layout="constrained")
    rate_ax, latency_ax = fig.subplots(1, 2)
    levels = sorted({r.clients for runs in results.values() for r in runs})
    width = 0.8 / max(len(results), 1)
    for i, (name, runs) in enumerate(results.items()):
        by_level = {r.clients: r for r in runs}
        xs = [j + i * width for j in range(len(levels))]
        rate_ax.bar(xs, [by_level[n].rate if n in by_level else 0 for n in levels], width, label=name)
        latency_ax.bar(xs, [by_level[n].median_ms if n in by_level else 0 for n in levels], width, label=name)
    for ax, label in ((rate_ax, "sessions per second"), (latency_ax, "median latency (ms), log scale")):
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(levels))], [f"{n} client" if n == 1 else f"{n} clients" for n in levels])
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    latency_ax.set_yscale("log")
    rate_ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def sequence_diagram(events: Sequence[Event], *, max_clients: int = 3, max_rows: int = 40,
                     title: str = "What travelled between client and server") -> Figure:
    """Clients and the server as lifelines, one arrow per event, in the order they happened."""
    conns = list(_connections(events))[:max_clients]
    rows = [e for e in events if e.client_id in conns][:max_rows]
    x = {cid: i for i, cid in enumerate(conns)}
    server_x = len(conns) + 0.6
    fig = Picture(figsize=(2.2 * (len(conns) + 1) + 1.5, 0.42 * len(rows) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    for cid, cx in x.items():
        ax.axvline(cx, color="#888", lw=1, ls=":")
        ax.text(cx, -1, f"client #{cid}", ha="center", va="bottom", weight="bold")
    ax.axvline(server_x, color="#333", lw=1.5)
    ax.text(server_x, -1, "server", ha="center", va="bottom", weight="bold")
    for y, e in enumerate(rows):
        cx = x[e.client_id]
        to_server = e.kind in ("accept", "recv", "header")
        start, stop = (cx, server_x) if to_server else (server_x, cx)
        color = TROUBLE if e.kind in ("timeout", "error") else SERVED if e.kind == "send" else "#1f5fa8"
        ax.annotate("", xy=(stop, y), xytext=(start, y),
                    arrowprops=dict(arrowstyle="->", color=color, lw=1.4, ls="--" if e.kind == "close" else "-"))
        label = {"accept": "connect", "recv": "data", "send": "echo", "close": "close"}.get(e.kind, e.kind)
        if e.nbytes:
            label += f" {e.nbytes} B"
        if e.kind in ("recv", "timeout", "error", "saved") and e.detail:
            label += f" {e.detail[:28]}"
        ax.text((cx + server_x) / 2, y - 0.12, label, ha="center", va="bottom", fontsize=8, color=color)
        ax.text(-0.45, y, f"{e.t * 1000:.1f} ms", ha="right", va="center", fontsize=7, color="#666")
    ax.set_xlim(-1.3, server_x + 0.5)
    ax.set_ylim(len(rows) + 0.2, -1.6)
    ax.axis("off")
    ax.set_title(title)
    return fig

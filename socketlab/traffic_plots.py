"""Pictures of traffic over time: pings and their fates (notebook 05), bytes stuck in buffers (notebook 06).

Drawn as :mod:`socketlab.plots` draws: on white paper, the course's colours, each with
its text alternative and the picture in words. A ping's fate is told by its marker's
shape as well as its colour: a dot came back, a cross was lost, a triangle was
answered twice, a square came late (after its timeout).
"""

from __future__ import annotations

from typing import Sequence

from .i18n import _, ngettext
from .plots import FOREGROUND, SERVED, TO_SERVER, TROUBLE, WAITING, WIDTH, _described, _picture, _style

__all__ = ["pings", "buffers"]

# fate -> (marker, colour); its words are _label's
_FATES = {"answered": ("o", SERVED), "lost": ("X", TROUBLE), "duplicated": ("^", TO_SERVER), "late": ("s", WAITING)}


def fate(ping) -> str:
    """What became of a ping (a :class:`socketlab.udp.Ping`): answered, lost, duplicated or late."""
    if ping.rtt is None:
        return "late" if ping.strays else "lost"
    return "duplicated" if ping.strays else "answered"


def _label(kind: str) -> str:
    return {"answered": _("answered"), "lost": _("lost"), "duplicated": _("answered, and a second copy came"),
            "late": _("lost: its reply came after the timeout")}[kind]


def pings(results: Sequence, *, timeout: float = 1.0, title: str | None = None):
    """A timeline of pings (when each left, its fate by shape and colour) above their round-trip times."""
    results = list(results)
    start = min((p.sent for p in results), default=0.0)
    with _style():
        fig = _picture(WIDTH, 3.9)
        line, bars = fig.subplots(2, 1, height_ratios=[1, 2.2])
        for kind, (marker, colour) in _FATES.items():
            mine = [p for p in results if fate(p) == kind]
            if mine:
                line.scatter([p.sent - start for p in mine], [0] * len(mine), marker=marker, s=70, color=colour,
                             edgecolors=FOREGROUND, linewidths=0.6, label=_label(kind), zorder=3)
        line.set_yticks([])
        line.set_xlabel(_("seconds since the first ping"))
        line.legend(loc="upper center", bbox_to_anchor=(0.5, -0.75), ncols=4, frameon=False, fontsize=8.5)
        answered = [p for p in results if p.rtt is not None]
        bars.bar([p.seq for p in answered], [p.rtt * 1000 for p in answered], color=SERVED, width=0.6)
        for p in results:
            if p.rtt is None:
                marker, colour = _FATES[fate(p)]
                bars.scatter([p.seq], [0], marker=marker, s=60, color=colour, edgecolors=FOREGROUND,
                             linewidths=0.6, zorder=3)
        bars.set_xticks([p.seq for p in results])
        bars.set_xlabel(_("ping"))
        bars.set_ylabel(_("round trip (ms)"))
        bars.grid(axis="y", alpha=0.3)
        lost = sum(p.rtt is None for p in results)
        heading = title or _("{n} pings, {lost} lost, timeout {timeout:g} s").format(
            n=len(results), lost=lost, timeout=timeout)
        fig.suptitle(heading)
    words = []
    for p in results:
        kind = fate(p)
        text = _("ping {seq}: {fate}").format(seq=p.seq, fate=_label(kind))
        if p.rtt is not None:
            text += "; " + _("round trip {ms:.2f} ms").format(ms=p.rtt * 1000)
        words.append(text)
    rtts = sorted(p.rtt for p in results if p.rtt is not None)
    if rtts:
        words.append(_("round trips from {low:.2f} to {high:.2f} ms, median {median:.2f} ms").format(
            low=rtts[0] * 1000, high=rtts[-1] * 1000, median=rtts[len(rtts) // 2] * 1000))
    alt = heading + ". " + ngettext("{n} ping lost", "{n} pings lost", lost).format(n=lost)
    return _described(fig, alt, words)


def buffers(samples: Sequence[dict], *, title: str | None = None):
    """Bytes over time in the deadlock: what each side has sent, and what the system holds in its buffers.

    ``samples``: ``{"t": s, "a_sent": B, "b_sent": B, "a_queued": B | None, "b_queued": B | None}``, where
    ``*_queued`` is what the system reports stuck in that side's send and receive buffers together.
    """
    with _style():
        fig = _picture(WIDTH, 3.4)
        ax = fig.subplots()
        t = [s["t"] for s in samples]
        for key, colour, style, label in (("a_sent", TO_SERVER, "-", _("A has sent")),
                                          ("b_sent", WAITING, "--", _("B has sent")),
                                          ("a_queued", TO_SERVER, ":", _("in A's buffers")),
                                          ("b_queued", WAITING, "-.", _("in B's buffers"))):
            values = [s.get(key) for s in samples]
            if any(v is not None for v in values):
                ax.plot(t, [(v or 0) / 1024 for v in values], style, color=colour, linewidth=2, label=label)
        ax.set_xlabel(_("seconds"))
        ax.set_ylabel(_("KiB"))
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, loc="lower right")
        heading = title or _("Both sides send before they read")
        fig.suptitle(heading)
    last = samples[-1] if samples else {}
    words = [_("after {t:.2f} s: A has sent {a} KiB, B has sent {b} KiB").format(
        t=last.get("t", 0.0), a=(last.get("a_sent") or 0) // 1024, b=(last.get("b_sent") or 0) // 1024)]
    if last.get("a_queued") is not None:
        words.append(_("stuck in the buffers: {a} KiB on A's side, {b} KiB on B's").format(
            a=(last.get("a_queued") or 0) // 1024, b=(last.get("b_queued") or 0) // 1024))
    return _described(fig, heading + ". " + words[0], words)

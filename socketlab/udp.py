"""A UDP echo server that behaves like a bad network: it drops, duplicates, delays and reorders
datagrams, at rates a student sets, the same way on every run with the same ``seed``.

Each datagram that arrives gets its fate from the server's own random generator, in the
order datagrams arrive: lost, or echoed once or twice, now or later (a datagram held back
by ``reorder`` is overtaken by the next ones). Everything is recorded as :class:`Event`
records like the TCP servers' (``recv``, ``drop``, ``send``…, with the sender as detail), so
the course's pictures and monitors read them the same way. One thread serves; it only
records and sends, and every wait in it is bounded, so ``stop()`` ends it at once.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import math
import random
import selectors
import socket
import threading
import time
from typing import Callable, Sequence

from .i18n import _
from .server import Event, Server, preview, release_name, take_name

__all__ = ["LossyUDPServer", "MAX_DATAGRAM", "FATES", "DEFAULT_UDP_PORT", "Ping", "ping", "ping_report", "request"]

MAX_DATAGRAM = 65_507  # the largest UDP payload over IPv4: 65,535 - 8 (UDP header) - 20 (IP header)
DEFAULT_UDP_PORT = 65435  # the notebooks' and the command line's UDP server
FATES = ("echo", "drop", "twice", "late")  # echoed; lost; echoed twice; echoed after `delay + hold` s


def _rate(name: str, value) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(_("{name} must be a fraction from 0 to 1 (0.3 for 30 %), got {value}").format(
            name=name, value=repr(value)))
    return float(value)


def _seconds(name: str, value) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 10:
        raise ValueError(_("{name} must be a number of seconds from 0 to 10, got {value}").format(
            name=name, value=repr(value)))
    return float(value)


class LossyUDPServer:
    """Echoes each datagram to its sender, through a network that loses some of them.

    ``drop``, ``duplicate`` and ``reorder`` are fractions of the datagrams (0.3: 30 %);
    ``delay`` is the longest extra time a datagram waits before it is echoed (each waits a
    random time up to it); a reordered one waits ``delay`` plus ``hold`` more.  ``fates``
    decides the first datagrams one by one instead (one of :data:`FATES` each: what a check
    needs to happen, happens, whatever the seed); the rest draw theirs at random.  The rates
    may be changed while it runs (a slider panel does).  Starting a server with the ``name``
    of a running one stops that one first, as the TCP servers do.
    """

    role = "udp-server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, drop: float = 0.0, duplicate: float = 0.0,
                 delay: float = 0.0, reorder: float = 0.0, hold: float = 0.05, seed: int = 0,
                 fates: Sequence[str] = (), name: str = "udp-server", log_size: int = 10_000):
        self.drop, self.duplicate, self.reorder = _rate("drop", drop), _rate("duplicate", duplicate), \
            _rate("reorder", reorder)
        self.delay, self.hold = _seconds("delay", delay), _seconds("hold", hold)
        unknown = [f for f in fates if f not in FATES]
        if unknown:
            raise ValueError(_("a fate must be one of {fates}, got {value}").format(fates=", ".join(FATES),
                                                                              value=repr(unknown[0])))
        self.fates = list(fates)
        self.host, self.port, self.name = host, port, name
        self._random = random.Random(seed)
        self._events: collections.deque[Event] = collections.deque(maxlen=log_size)  # the newest, as Server's
        self._listeners: list[Callable[[Event], None]] = []
        self._events_lock = threading.Lock()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._count = 0  # datagrams received

    def configure(self, *, drop: float | None = None, duplicate: float | None = None, delay: float | None = None,
                  reorder: float | None = None, seed: int | None = None) -> None:
        """Change the rates while it runs (each checked as in the constructor); a seed starts its draws anew."""
        rates = (_rate("drop", self.drop if drop is None else drop),
                 _rate("duplicate", self.duplicate if duplicate is None else duplicate),
                 _seconds("delay", self.delay if delay is None else delay),
                 _rate("reorder", self.reorder if reorder is None else reorder))
        self.drop, self.duplicate, self.delay, self.reorder = rates  # all checked before any is changed
        if seed is not None:
            self._random = random.Random(seed)

    # ---- running -------------------------------------------------------------

    def start(self) -> "LossyUDPServer":
        if self._sock is not None:
            raise RuntimeError(_("this server has already been started: create a new one"))
        take_name(self, self._bind)
        self._sock.setblocking(False)
        self._t0 = time.monotonic()
        self.log(0, "listen", detail="{}:{}".format(*self.address))
        self._thread = threading.Thread(target=self._serve, name="udp-server", daemon=True)
        self._thread.start()
        return self

    def _bind(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._sock = sock

    @property
    def address(self) -> tuple[str, int]:
        if self._sock is None:
            raise RuntimeError(_("the server is not started: start it first (server.start())"))
        return self._sock.getsockname()[:2]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        release_name(self)

    def __enter__(self) -> "LossyUDPServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _serve(self) -> None:
        due: list[tuple[float, int, int, bytes, tuple]] = []  # (when, order, datagram, data, peer): echoes due
        order = 0
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            while not self._stopping.is_set():
                wait = min(max(due[0][0] - time.monotonic(), 0.0), 0.05) if due else 0.05
                if selector.select(wait):
                    for when, n, data, peer in self._fates():
                        heapq.heappush(due, (when, order, n, data, peer))
                        order += 1
                while due and due[0][0] <= time.monotonic():
                    _when, _order, n, data, peer = heapq.heappop(due)
                    self._echo(n, data, peer)
        self.log(0, "stop", detail=_("{n} datagrams received").format(n=self._count))

    def _fates(self):
        """What happens to each datagram waiting now: (when to echo it, its number, data, sender), none if dropped."""
        while True:
            try:
                data, peer = self._sock.recvfrom(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. a port-unreachable report from an earlier echo: not fatal
                self.log(0, "error", detail=f"{type(exc).__name__}: {exc}")
                return
            self._count += 1
            n = self._count
            sender = f"{peer[0]}:{peer[1]}"
            self.log(n, "recv", len(data), f"{sender} {preview(data)}")
            # Every datagram draws the same four numbers, whatever the rates: one rate's change
            # leaves the other fates of a seeded run as they were.
            lost, twice, late, wait = (self._random.random() for _ in range(4))
            fate = self.fates[n - 1] if n <= len(self.fates) else None
            if fate == "drop" or (fate is None and lost < self.drop):
                self.log(n, "drop", len(data), sender)
                continue
            if fate is not None:
                twice, late, wait = (0.0 if fate == "twice" else 1.0), (0.0 if fate == "late" else 1.0), 1.0
            when = time.monotonic() + wait * self.delay + (self.delay + self.hold if late < self.reorder or
                                                           fate == "late" else 0.0)
            yield when, n, data, peer
            if twice < self.duplicate or fate == "twice":
                yield when + 0.001, n, data, peer

    def _echo(self, n: int, data: bytes, peer) -> None:
        try:
            self._sock.sendto(data, peer)
        except OSError as exc:
            self.log(0, "error", detail=f"{type(exc).__name__}: {exc}")
            return
        self.log(n, "send", len(data), f"{peer[0]}:{peer[1]}")

    # ---- events (as the TCP servers keep them) ---------------------------------

    def clock(self) -> float:
        return time.monotonic() - self._t0

    # The TCP servers' own: the same attributes (_events, _events_lock, _listeners), the same code.
    log = Server.log
    events = Server.events
    clear_events = Server.clear_events
    subscribe = Server.subscribe


# ---- the course's own clients: a pinger, and a request that retries ---------------------------------


@dataclasses.dataclass
class Ping:
    """One ping: its number, when it left (s, on the ``clock`` given), its round trip (None: lost), and
    how many replies to it came late or twice (they count for nothing)."""

    seq: int
    sent: float
    rtt: float | None
    strays: int = 0


def ping(address, count: int = 10, *, timeout: float = 1.0, clock: Callable[[], float] = time.monotonic) -> list[Ping]:
    """The classic UDP pinger: ``count`` pings ``Ping <seq> <time>``, one at a time, each waiting at most
    ``timeout`` s for its echo. A reply to an earlier ping (late, or a duplicate) is not this one's."""
    results: list[Ping] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(1, count + 1):
            sent = time.monotonic()
            message = f"Ping {seq} {time.time():.6f}".encode()
            sock.sendto(message, tuple(address))
            result = Ping(seq, clock(), None)
            while (left := sent + timeout - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data, peer = sock.recvfrom(MAX_DATAGRAM)
                except TimeoutError:
                    break
                if data == message and peer[:2] == tuple(address)[:2] and result.rtt is None:
                    result.rtt = time.monotonic() - sent
                    break
                _count_stray(results, data)
            results.append(result)
    return results


def ping_report(results: list[Ping], timeout: float) -> tuple[list[str], str]:
    """What pings came to, in words: a line per ping, and the summary (``10 sent, 7 received, 30% lost``)."""
    lines = [_("ping {seq}: {rtt:.2f} ms").format(seq=p.seq, rtt=p.rtt * 1000) if p.rtt is not None else
             _("ping {seq}: no reply within {timeout:g} s").format(seq=p.seq, timeout=timeout) for p in results]
    lost = sum(p.rtt is None for p in results)
    summary = _("{sent} sent, {got} received, {lost:.0%} lost").format(
        sent=len(results), got=len(results) - lost, lost=lost / max(len(results), 1))
    return lines, summary


def _count_stray(results: list[Ping], data: bytes) -> None:
    """A reply that is not the one awaited: count it against the ping it answers."""
    parts = data.split()
    if len(parts) >= 2 and parts[1].isdigit():
        for earlier in results:
            if earlier.seq == int(parts[1]):
                earlier.strays += 1


def request(sock: socket.socket, address, data: bytes, *, first_wait: float = 0.1, attempts: int = 5) -> bytes:
    """Send ``data`` to an echo server and return its echo, over a network that loses datagrams.

    Each attempt waits twice as long as the one before (0.1, 0.2, 0.4… s); a reply counts only if it
    comes from ``address`` and carries this request's id (an echo of an earlier request, late or
    duplicated, is skipped). Raises ``TimeoutError`` after ``attempts`` attempts.
    """
    request_id = f"{random.getrandbits(64):016x}".encode()
    message = request_id + b" " + data
    wait = first_wait
    for _attempt in range(attempts):
        sock.sendto(message, address)
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                reply, peer = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                break
            if peer[:2] == tuple(address)[:2] and reply.startswith(request_id + b" "):
                return reply[len(request_id) + 1:]
        wait *= 2
    raise TimeoutError(_("no reply after {n} attempts").format(n=attempts))

"""The checks of notebook 05: a UDP echo server, a pinger, and a request that retries.

Each runs against the course's lossy server with its fates fixed (:class:`~socketlab.udp.LossyUDPServer`
``fates``), so every run is the same and each common wrong answer meets what it gets wrong:

- the echo server hears two clients in turn (an answer that keeps the first sender's address
  answers the wrong one), an empty datagram (not an end of anything) and one of 9,000 bytes (a
  small buffer cuts it);
- the pinger meets a lost ping, a reply that comes after its timeout while the next ping waits,
  and a reply that comes twice while the next ping is lost: a pinger that does not match replies
  to pings by their number takes those for the next one's;
- ``request()`` loses its first attempts (the server sees when each came: a wait that does not
  double shows), then meets a late reply and a duplicate of earlier requests during later ones.

What the server saw is measured here, never taken from the student's word.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time

from ..i18n import N_, _
from ..udp import MAX_DATAGRAM, LossyUDPServer
from . import CheckFailed, _close_new, _open_sockets, call_student, fail, preview, stops_cleanly

__all__ = ["echo_server", "pinger", "retrying_request"]

_BIG = 9_000  # bytes: more than the 1024 or 4096 a TCP habit gives recvfrom


def _udp_socket(timeout: float | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)  # room for the large datagram
    sock.settimeout(timeout)
    return sock


def _wake(sock: socket.socket) -> None:
    """Wake a student's thread blocked on ``sock`` (a shutdown does on Linux, a datagram does anywhere)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
        poke.sendto(b"", sock.getsockname())


def _reply(sock: socket.socket, wait: float = 1.0) -> bytes | None:
    sock.settimeout(wait)
    try:
        return sock.recvfrom(MAX_DATAGRAM + 1)[0]
    except OSError:
        return None


class _Stalled(Exception):
    """The student's function still runs, and has sent the server nothing for a while: it waits forever."""


def _watched(server: LossyUDPServer, idle: float, function, *args, limit: float):
    """``call_student(function, *args)``, given up as soon as the server has heard nothing from it for
    ``idle`` s (:class:`_Stalled`): a client with no timeout waits for a lost reply for ever."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call_student(function, *args, timeout=limit)
        except CheckFailed as failure:
            outcome["failure"] = failure

    before = _open_sockets()
    worker = threading.Thread(target=run, name="udp-check", daemon=True)
    worker.start()
    heard, last = -1, time.monotonic()
    while worker.is_alive():
        worker.join(0.02)
        count = len(_arrivals(server))
        if count != heard:
            heard, last = count, time.monotonic()
        elif time.monotonic() - last > idle:
            _close_new(before)  # the socket it waits on: closed, the wait ends
            raise _Stalled
    if "failure" in outcome:
        raise outcome["failure"]
    return outcome["value"]


# ---- exercise 9: a UDP echo server -----------------------------------------------------------------

HINT_SENDER = N_("each datagram goes back to its own sender: data, address = sock.recvfrom(65535), then "
               "sock.sendto(data, address)")


@stops_cleanly
def echo_server(udp_echo_server) -> None:
    """Exercise 9: two clients in turn, an empty datagram, a large one; it returns after ``count``."""
    server = _udp_socket(timeout=5.0)
    a, b = _udp_socket(), _udp_socket()
    big = ("ї" * (_BIG // 2)).encode()
    plan = [(a, "один".encode()), (b, "два".encode()), (a, b""), (b, big), (a, "кінець".encode())]
    outcome: dict = {}
    still_running = _("your server was still running after its {count} datagrams: return after count "
                      "datagrams").format(count=len(plan))

    def run() -> None:
        try:
            outcome["value"] = call_student(udp_echo_server, server, len(plan), timeout=10, on_timeout=still_running)
        except CheckFailed as failure:
            outcome["failure"] = failure

    student = threading.Thread(target=run, name="udp-check", daemon=True)
    student.start()
    try:
        for i, (client, data) in enumerate(plan, 1):
            client.sendto(data, server.getsockname())
            got = _reply(client)
            other = _reply(b if client is a else a, 0.05)
            if got == data:
                continue
            student.join(0.3)
            if "failure" in outcome and not outcome["failure"].timed_out:
                _raise_with_hint(outcome["failure"])  # what the student's code raised says more
            name = "A" if client is a else "B"
            if other == data:
                fail(_("client {name} sent {sent} and the echo went to the other client: {hint}").format(
                    name=name, sent=preview(data), hint=_(HINT_SENDER)))
            if got is not None and data.startswith(got) and got:
                fail(_("a datagram of {n} bytes came back as {m}: {hint}").format(
                    n=len(data), m=len(got), hint=_(HINT_BUFFER)))
            if not data and not student.is_alive():
                fail(_("your server returned on an empty datagram: in UDP b'' is a datagram like any other, not "
                       "the end of a stream: echo it too, and stop after count datagrams"))
            if not student.is_alive() and "value" in outcome:
                fail(_("your server returned after {i} of {count} datagrams: echo count datagrams, then "
                       "return").format(i=i - 1, count=len(plan)))
            fail(_("client {name} sent {sent} and got back {got} within 1 s: {hint}").format(
                name=name, sent=preview(data), got=preview(got) if got is not None else _("nothing"),
                hint=_(HINT_SENDER)))
        student.join(2)
        if student.is_alive():
            fail(still_running)
        if "failure" in outcome:
            _raise_with_hint(outcome["failure"])
    finally:
        if student.is_alive():
            _wake(server)
            student.join(2)
        for sock in (server, a, b):
            sock.close()
    print("✔ " + _("your server echoes each datagram to its own sender, the empty one and the 9,000-byte one too"))


HINT_BUFFER = N_("recvfrom(size) cuts a datagram to size bytes and the rest is lost: use recvfrom(65535) (a "
                 "datagram holds at most 65,507)")
_TOO_BIG = {getattr(errno, "WSAEMSGSIZE", 10040)}  # Windows: the datagram did not fit the buffer
_NO_PEER = {errno.EDESTADDRREQ, errno.ENOTCONN, getattr(errno, "WSAEDESTADDRREQ", 10039),
            getattr(errno, "WSAENOTCONN", 10057)}  # send() on a socket with no peer


def _raise_with_hint(failure: CheckFailed) -> None:
    code = getattr(failure.error, "errno", None)
    if code in _TOO_BIG:
        fail(_("your server's recvfrom raised {error}: {hint}").format(error=failure.error, hint=_(HINT_BUFFER)))
    if code in _NO_PEER:
        fail(_("your server's send raised {error}: a UDP socket has no peer to send to: {hint}").format(
            error=failure.error, hint=_(HINT_SENDER)))
    raise failure


# ---- exercise 10: a pinger ---------------------------------------------------------------------------

# A ping's echo comes this long after it arrives: a round trip long enough to measure, and to tell
# seconds from milliseconds (0.05, not 50).
_ROUND_TRIP = 0.05
PINGS = ("echo", "drop", "echo", "late", "drop", "twice", "drop", "echo")


@stops_cleanly
def pinger(ping, *, fates=PINGS, timeout: float = 0.5) -> None:
    """Exercise 10: ``ping(address, count, timeout)`` returns the round trips (None: lost) and the loss."""
    fates = tuple(fates)
    count = len(fates)
    limit = count * timeout + 2.0
    late = 1.3 * timeout  # a late echo comes 0.3 timeouts into the next ping's wait
    with LossyUDPServer(delay=_ROUND_TRIP, hold=late - 2 * _ROUND_TRIP, fates=fates, name="check-pinger") as server:
        try:
            result = _watched(server, timeout + 1.0, ping, server.address, count, timeout, limit=limit)
        except _Stalled:
            came = len(_arrivals(server))
            fail(_("ping {n} was lost, and your ping waited for its reply for ever, never sending ping {m}: give "
                   "the socket a timeout (sock.settimeout(timeout)) and count a ping that times out as "
                   "lost").format(n=came, m=came + 1))
        except CheckFailed as failure:
            if failure.timed_out:
                fail(_("your ping did not return within {seconds:g} s: {count} pings with a {timeout:g} s timeout "
                       "each take at most {most:g} s").format(seconds=limit, count=count, timeout=timeout,
                                                            most=count * timeout))
            if isinstance(failure.error, TimeoutError):
                fail(_("ping {n} was lost, and your ping raised {error}: catch it (except TimeoutError:), count that "
                       "ping as lost and go on with the next").format(n=len(_arrivals(server)),
                                                                     error=type(failure.error).__name__))
            raise
        came = _arrivals(server)
    if len(came) != count:
        fail(_("the server got {got} pings from your ping(address, {count}, {timeout:g}): send exactly count pings, "
               "one after another, whether or not each is answered").format(got=len(came), count=count,
                                                                            timeout=timeout))
    rtts, loss = _unpack(result)
    if len(rtts) != count:
        fail(_("your ping returned {n} round trips for {count} pings: one per ping, None for a lost one").format(
            n=len(rtts), count=count))
    for n, (fate, rtt) in enumerate(zip(fates, rtts), 1):
        if fate in ("drop", "late") and rtt is not None:
            before = fates[n - 2] if n >= 2 else ""
            why = _("the late reply to ping {k}").format(k=n - 1) if before == "late" else \
                _("the second copy of the reply to ping {k}").format(k=n - 1) if before == "twice" else \
                _("a reply that came after your timeout") if fate == "late" else _("a reply to another ping")
            fail(_("ping {n} was lost, yet your ping gave it a round trip of {rtt}: it took {why} for its answer: "
                   "check the number in each reply and skip the replies to other pings").format(
                n=n, rtt=_shown(rtt), why=why))
        if fate in ("echo", "twice"):
            if rtt is None:
                fail(_("ping {n} was answered after {seconds:g} s, and your ping counted it as lost: wait up to "
                       "timeout seconds for each reply").format(n=n, seconds=_ROUND_TRIP))
            if not isinstance(rtt, (int, float)) or not _ROUND_TRIP * 0.8 <= rtt <= timeout:
                fail(_("ping {n} took {seconds:g} s there and back, and your ping says {rtt}: give round trips in "
                       "seconds (time.perf_counter() after minus before)").format(
                    n=n, seconds=_ROUND_TRIP, rtt=_shown(rtt)))
    lost = sum(rtt is None for rtt in rtts) / count
    if not isinstance(loss, (int, float)) or abs(loss - lost) > 1e-9:
        fail(_("{k} of {count} pings were lost, so the loss is {lost:g}, and your ping says {loss}: return the "
               "lost fraction (0.5 for a half)").format(k=round(lost * count), count=count, lost=lost,
                                                       loss=_shown(loss)))
    print("✔ " + _("your pinger times out lost pings, and matches each reply to its own ping: {lost:.0%} lost").format(
        lost=lost))


def _arrivals(server: LossyUDPServer) -> dict[int, float]:
    """Datagram number -> when the server got it."""
    return {e.client_id: e.t for e in server.events if e.kind == "recv"}


def _unpack(result) -> tuple[list, object]:
    if not (isinstance(result, (tuple, list)) and len(result) == 2 and isinstance(result[0], (list, tuple))):
        fail(_("your ping returned {value}: return two things, the round trips and the loss (return rtts, "
               "loss)").format(value=_shown(result)))
    return list(result[0]), result[1]


def _shown(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# ---- exercise 11: a request that retries ---------------------------------------------------------------

_FIRST_WAIT = 0.1
# The datagrams the server gets, in order, and what becomes of each: request 1 loses two attempts
# (their times show the wait), request 2's first echo comes late, inside request 3's first wait;
# request 4's comes twice, the copy inside request 5's first wait.
_REQUESTS = [("перший", ("drop", "drop", "echo")), ("другий", ("late", "echo")), ("третій", ("drop", "echo")),
             ("четвертий", ("twice",)), ("п'ятий", ("drop", "echo"))]
_LATE_ECHO = 0.15  # s after it arrives: request 2's first echo, while request 3 waits for its first attempt


@stops_cleanly
def retrying_request(request, *, attempts: int = 5) -> None:
    """Exercise 11: ``request(sock, address, data)`` retries with a doubling wait, by id, on one socket."""
    fates = [fate for _text, plan in _REQUESTS for fate in plan] + ["echo", "drop", "drop", "drop"]
    sock = _udp_socket()
    with LossyUDPServer(hold=_LATE_ECHO, fates=fates, name="check-request") as server:
        try:
            for i, (text, plan) in enumerate(_REQUESTS, 1):
                before = len(_arrivals(server))
                reply = _ask(request, sock, server, text.encode(), i, plan)
                times = sorted(_arrivals(server).items())[before:]
                if i == 1:
                    _waits_double([t for _n, t in times])
                if reply != text.encode():
                    _wrong_reply(i, text, reply)
            big = ("ї" * (_BIG // 2)).encode()
            reply = _ask(request, sock, server, big, len(_REQUESTS) + 1, ("echo",))
            if reply != big:
                fail(_("request {i} sent {n} bytes and returned {m}: recvfrom(size) cuts a datagram to size bytes: "
                       "use recvfrom(65535)").format(i=len(_REQUESTS) + 1, n=len(big),
                                                     m=len(reply) if isinstance(reply, bytes) else _shown(reply)))
            _gives_up(request, sock, server, attempts=3)
        finally:
            _wake(sock)
            sock.close()
    print("✔ " + _("your request retries with a doubling wait, and takes only its own reply"))


def _ask(request, sock, server, data: bytes, i: int, plan) -> object:
    lost = plan.count("drop") + plan.count("late")
    limit = sum(_FIRST_WAIT * 2 ** k for k in range(lost + 1)) + 3.0
    try:
        return _watched(server, 1.0, request, sock, server.address, data, limit=limit)
    except _Stalled:
        fail(_("request {i}'s first datagram was lost, and your request waited for its reply for ever: give the "
               "socket a timeout (sock.settimeout(wait)) and send again when it runs out").format(i=i))
    except CheckFailed as failure:
        if isinstance(failure.error, TimeoutError) and lost:
            fail(_("request {i}'s first datagram was lost, and your request gave up after one attempt "
                   "({error}): send again when the wait runs out, up to attempts times").format(
                i=i, error=type(failure.error).__name__))
        raise


def _waits_double(times: list[float]) -> None:
    if len(times) < 3:
        fail(_("request 1's first two datagrams were lost, and the server got {n} from your request: send again "
               "each time the wait runs out, up to attempts times").format(n=len(times)))
    first, second = times[1] - times[0], times[2] - times[1]
    if not 0.7 * _FIRST_WAIT <= first <= 3 * _FIRST_WAIT:
        fail(_("your request sent its second attempt {seconds:.2f} s after the first: wait first_wait "
               "({wait:g} s) for the first reply").format(seconds=first, wait=_FIRST_WAIT))
    if not 1.5 <= second / first <= 2.7:
        fail(_("your request waited {first:.2f} s, then {second:.2f} s: double the wait after each attempt "
               "(wait *= 2), so that a busy network is given time").format(first=first, second=second))


def _wrong_reply(i: int, text: str, reply) -> None:
    for k, (earlier, plan) in enumerate(_REQUESTS[:i - 1], 1):
        if isinstance(reply, bytes) and reply.endswith(earlier.encode()):
            what = _("the late reply to request {k}") if "late" in plan else \
                _("the second copy of the reply to request {k}")
            fail(_("request {i} sent {text} and returned {reply}, {what}: put an id in each request and skip "
                   "every reply that does not carry it").format(i=i, text=repr(text), reply=_shown(reply),
                                                               what=what.format(k=k)))
    fail(_("request {i} sent {text} and returned {reply}: return the reply's data, without the id").format(
        i=i, text=repr(text), reply=_shown(reply)))


def _gives_up(request, sock, server, attempts: int) -> None:
    """The last request loses every attempt: it must raise TimeoutError after ``attempts`` of them."""
    before = len(_arrivals(server))
    try:
        value = call_student(request, sock, server.address, "ще раз".encode(), _FIRST_WAIT, attempts, timeout=5)
    except CheckFailed as failure:
        if failure.timed_out:
            fail(_("every attempt of the last request was lost, and your request never gave up: stop after "
                   "attempts attempts"))
        if not isinstance(failure.error, TimeoutError):
            raise
    else:
        fail(_("every attempt of the last request was lost, and your request returned {value}: raise "
               "TimeoutError after the last attempt").format(value=_shown(value)))
    sent = len(_arrivals(server)) - before
    if sent != attempts:
        fail(_("with attempts={attempts}, your request sent {sent} datagrams: one per attempt").format(
            attempts=attempts, sent=sent))

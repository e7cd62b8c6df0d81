"""The checks of notebook 05's lab programs: ``udp_server.py`` and ``udp_client.py``, run as real processes.

``python udp_server.py HOST PORT`` echoes datagrams until it is stopped; ``python udp_client.py HOST PORT
COUNT`` sends COUNT pings with a 1 s timeout and ends with the loss as a percentage (``6 sent, 3
received, 50% lost``). The client meets the course's lossy server with its fates fixed, so the loss it
must report is known here; the server meets clients of the course's.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time

from ..i18n import _
from ..programs import Program, free_port, run
from ..udp import MAX_DATAGRAM, LossyUDPServer
from . import fail, preview, stops_cleanly
from .scripts import _keyboard, _last_error, _readable

__all__ = ["udp_server_script", "udp_client_script", "udp_scripts_together"]

HOST = "127.0.0.1"
_PINGS = ("echo", "drop", "echo", "late", "drop", "echo")  # 3 of 6 lost: 50 %
_PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*%")


def _echo(sock: socket.socket, port: int, data: bytes, wait: float = 1.0) -> bytes | None:
    sock.sendto(data, (HOST, port))
    sock.settimeout(wait)
    try:
        return sock.recvfrom(MAX_DATAGRAM + 1)[0]
    except OSError:
        return None


def _start(path, port: int) -> Program:
    """The student's server, once it echoes (a datagram every 0.1 s until one comes back, at most 5 s)."""
    server = Program(path, HOST, port, name=f"check-{path.name}").start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _attempt in range(50):
            if server.returncode is not None:
                fail(_("{command} ended at once: {error}").format(command=f"`python {path.name} {HOST} {port}`",
                                                                   error=_last_error(server)))
            if _echo(probe, port, b"probe", 0.1) == b"probe":
                return server
    server.stop()
    fail(_("{command} did not echo a datagram within 5 s: take the host and the port from the command line "
           "(sys.argv[1], int(sys.argv[2])), bind, and sendto each datagram back to its sender").format(
        command=f"`python {path.name} {HOST} {port}`"))


@stops_cleanly
def udp_server_script(path) -> None:
    """``udp_server.py HOST PORT`` echoes each datagram to its own sender, whatever its size, until stopped."""
    path = _readable(path)
    port = free_port(HOST, "udp")
    server = _start(path, port)
    a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    try:
        big = ("ї" * 4500).encode()
        for sock, data in ((a, "перший".encode()), (b, "другий".encode()), (a, b""), (b, big)):
            got = _echo(sock, port, data)
            other = b if sock is a else a
            other.settimeout(0.1)
            with contextlib.suppress(OSError):
                if got != data and other.recvfrom(MAX_DATAGRAM + 1)[0] == data:
                    fail(_("{name} sent the echo of a client's {sent} to the other client: reply to each datagram's "
                           "own sender (data, address = sock.recvfrom(65535); sock.sendto(data, address))").format(
                        name=path.name, sent=preview(data)))
            if got != data:
                if server.returncode is not None:
                    fail(_("{name} ended after a datagram of {size}: {error}; echo datagrams until it is "
                           "stopped").format(name=path.name, size=preview(data), error=_last_error(server)))
                fail(_("{name} got {sent} from a client and sent back {got}: reply to each datagram's own sender "
                       "(sendto(data, address)), with recvfrom(65535)").format(
                    name=path.name, sent=preview(data), got=preview(got) if got is not None else _("nothing")))
        time.sleep(0.1)
        if server.returncode is not None:
            fail(_("{name} ended by itself: a server runs until it is stopped (Ctrl+C)").format(name=path.name))
    finally:
        a.close()
        b.close()
        server.stop()
    print("✔ " + _("{name} echoes each datagram to its own sender, the empty one and a 9,000-byte one too").format(
        name=path.name))


def _reported_loss(transcript) -> float | None:
    lines = [text for _t, kind, text in transcript.lines if kind == "out" and text.strip()]
    found = _PERCENT.findall(lines[-1]) if lines else []
    return float(found[-1].replace(",", ".")) if found else None


@stops_cleanly
def udp_client_script(path) -> None:
    """``udp_client.py HOST PORT COUNT``: COUNT pings, 1 s timeout each, the loss last, in per cent."""
    path = _readable(path)
    with LossyUDPServer(delay=0.02, hold=1.25, fates=_PINGS, name="check-udp-client") as server:
        transcript = run(path, *server.address, len(_PINGS), timeout=15)
        pings = [e for e in server.events if e.kind == "recv"]
    if _keyboard(transcript):
        fail(_("{name} waited for the keyboard (input()), where nobody types: take the count from the command "
               "line (int(sys.argv[3]))").format(name=path.name))
    if transcript.returncode not in (0, None) and not pings:
        fail(_("{name} ended with exit status {status} before it sent a ping: {error}").format(
            name=path.name, status=transcript.returncode, error=_last_error(transcript)))
    if len(pings) != len(_PINGS):
        fail(_("`python {name} HOST PORT {count}` sent {sent} pings: send COUNT pings, one after another, each "
               "waiting at most 1 s for its reply").format(name=path.name, count=len(_PINGS), sent=len(pings)))
    if transcript.returncode != 0:
        fail(_("{name} ended with exit status {status}: {error}").format(
            name=path.name, status=transcript.returncode, error=_last_error(transcript)))
    loss = _reported_loss(transcript)
    if loss is None:
        fail(_("{name}'s last line gives no loss: end with a line such as '6 sent, 3 received, 50% lost'").format(
            name=path.name))
    if abs(loss - 50) > 0.5:
        fail(_("3 of {count} pings were lost (one of them answered after the timeout), and {name} says {loss:g}%: "
               "count a ping as lost when its own reply does not come within 1 s, and skip the replies to other "
               "pings").format(count=len(_PINGS), name=path.name, loss=loss))
    print("✔ " + _("{name} pings, times out the lost ones and reports 50% loss").format(name=path.name))


@stops_cleanly
def udp_scripts_together(server_path, client_path) -> None:
    """The student's client against the student's server: nothing is lost on loopback."""
    server_path, client_path = _readable(server_path), _readable(client_path)
    port = free_port(HOST, "udp")
    server = _start(server_path, port)
    try:
        transcript = run(client_path, HOST, port, 4, timeout=10)
    finally:
        server.stop()
    loss = _reported_loss(transcript)
    if transcript.returncode != 0 or loss is None or loss > 0.5:
        fail(_("{client} against {server} printed {printed} (exit status {status}): on loopback no ping is "
               "lost").format(client=client_path.name, server=server_path.name, printed=preview(transcript.text()),
                              status=transcript.returncode))
    print("✔ " + _("{client} and {server} work together").format(client=client_path.name, server=server_path.name))

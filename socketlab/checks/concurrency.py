"""The checks of notebook 04: a thread-per-client server and an asyncio echo handler.

Each check is built to fail the common wrong answers every time:

- a client that stays silent comes first, so serving clients one after another
  makes the others wait, and returning before it is served shows at once;
- a client that crashes comes second: a thread without ``except OSError`` dies
  of it (its error is caught here, never printed);
- the asyncio handler runs beside a ticker that notices when the event loop
  stops (``time.sleep``, a blocking socket call), and a large message is sent
  to a client that does not read for a while: without ``await writer.drain()``
  the server's buffer grows to the whole message.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

from ..i18n import N_, _
from . import CLOSED, GONE, fail, hint, preview, raised, ready_to_check, send_and_reset, stops_cleanly, student_server
from .harness import HandlerHost
from .echo import _large_exchange

__all__ = ["thread_per_client", "asyncio_handler"]

HINT_THREADS = N_("start a thread for each client (threading.Thread(target=…, args=(conn,)).start()) and go "
                   "straight back to accept")  # _(HINT_THREADS) where used


def _exchange(address, text: str, *, wait: float = 0.0, timeout: float = 3.0) -> tuple[str, str, float]:
    """One client: connect, wait ``wait`` s, send ``text``, half-close, read to the end.

    Returns ``(reply, how it ended, seconds from connect to the end)``; "end", "no end" or "error".
    """
    started = time.monotonic()
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except OSError:
        return "", "error", time.monotonic() - started
    if wait:
        time.sleep(wait)
    reply, how, _seconds = _talk(sock, text)
    return reply, how, time.monotonic() - started


def _talk(sock: socket.socket, text: str) -> tuple[str, str, float]:
    """On a connected client: send ``text``, half-close, read to the end; then close. ``(reply, how it
    ended, seconds from the send to the end)``."""
    started = time.monotonic()
    reply = bytearray()
    with sock:
        try:
            sock.sendall(text.encode())
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                reply += chunk
        except TimeoutError:
            return reply.decode(errors="replace"), "no end", time.monotonic() - started
        except OSError:
            return reply.decode(errors="replace"), "error", time.monotonic() - started
    return reply.decode(errors="replace"), "end", time.monotonic() - started


@contextlib.contextmanager
def _thread_errors():
    """Collect what the student's own threads die of (instead of a traceback printed on stderr)."""
    errors: list[tuple[str, BaseException]] = []
    previous = threading.excepthook

    def hook(args) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        errors.append((getattr(args.thread, "name", "?"), args.exc_value))

    threading.excepthook = hook
    try:
        yield errors
    finally:
        threading.excepthook = previous


HINT_OWN_CONN = N_("your threads share one conn: give each thread its own connection "
                   "(threading.Thread(target=…, args=(conn,))), not a global")  # _(HINT_OWN_CONN) where used
CRASHED = b"half a messa"  # what the crashing client sent before it vanished


@stops_cleanly
def thread_per_client(serve_concurrently, count: int = 4) -> None:
    """Exercise 7: a silent client first, a crashing one next; the others are served at once; then it returns."""
    assert count >= 3
    ready_to_check(serve_concurrently)
    slow: list = []
    texts = {i: f"клієнт {i}" for i in range(3, count + 1)}
    others = ["повільний", CRASHED.decode(), *texts.values()]
    with _thread_errors() as died, student_server(lambda listener: serve_concurrently(listener, count),
                                                 name="serve_concurrently", timeout=10, vanishing=True) as session:
        first = threading.Thread(target=lambda: slow.append(_exchange(session.address, "повільний", wait=0.8)),
                                 daemon=True)
        first.start()
        time.sleep(0.05)  # client 1 is connected (and silent) before the others come
        send_and_reset(session.address, CRASHED)  # client 2 crashes
        # The quick clients all connect before any of them speaks: threads that share one global conn
        # then all talk to the last client, every time (not only when a race goes that way).
        connected = time.monotonic()
        quick = {i: socket.create_connection(session.address, timeout=3) for i in texts}
        deadline = connected + 0.4
        while session.accepts < count and time.monotonic() < deadline and not session.done.is_set():
            time.sleep(0.01)
        accepted_all = session.accepts >= count
        # (how long each waited counts from its connect: a server that serves one client at a time
        # leaves them waiting for the silent one)
        results = {i: (*_talk(sock, texts[i])[:2], time.monotonic() - connected) for i, sock in quick.items()}
        time.sleep(0.1)
        returned_early = session.done.is_set()
        first.join(5)
        session.done.wait(3)
        if session.failure is None:
            for i, (reply, how, seconds) in results.items():
                if reply == texts[i] and how == "end" and seconds < 0.5:
                    continue
                if any(text in reply for text in others if text != texts[i]):
                    fail(_("client {i} sent {sent} and got back {reply}, another client's bytes: {hint}").format(
                        i=i, sent=repr(texts[i]), reply=repr(reply), hint=_(HINT_OWN_CONN)))
                if died:
                    break  # what the thread died of says more
                if accepted_all and not reply:  # every client was taken at once, and this one never served
                    fail(_("your server accepted client {i}, but nothing ever read what it sent: {hint}").format(
                        i=i, hint=_(HINT_OWN_CONN)))
                if seconds >= 0.5 or how != "end":
                    fail(_("client {i} waited {seconds:.1f} s (got {reply}) while client 1 was connected and "
                           "silent: the clients were served one after another: {hint}; join them only "
                           "after the loop").format(i=i, seconds=seconds, reply=repr(reply), hint=_(HINT_THREADS)))
                fail(_("client {i} sent {sent} and got back {reply}: echo each client until its "
                       "recv returns b'', with sendall").format(i=i, sent=repr(texts[i]), reply=repr(reply)))
    if died:
        name, exc = died[0]
        code = getattr(exc, "errno", None)
        why = _(HINT_OWN_CONN) if code in CLOSED else \
            _("a client that crashes raises an OSError: catch it in the thread (try: … except OSError: pass) so one "
              "bad client harms nobody") if code in GONE or isinstance(exc, TimeoutError) else hint(exc)
        raise raised(_("a thread of your serve_concurrently ({name})").format(name=name), exc, why) from None
    if returned_early:
        fail(_("your serve_concurrently returned while client 1 was still connected: wait for every thread "
               "before returning (for t in threads: t.join(10))"))
    if not slow or slow[0][:2] != ("повільний", "end"):
        fail(_("client 1 waited 0.8 s, then sent 'повільний' and got back {reply}: "
               "give each connection a timeout of a few seconds (conn.settimeout(5)), not less").format(
            reply=repr(slow[0][0] if slow else '')))
    print("✔ " + _("your server serves {count} clients side by side, survives a crashed one, and waits for them "
                   "all").format(count=count))


# ---- exercise 8: an asyncio handler ---------------------------------------------------------------


_HOARDED = 2_500_000  # bytes a server may take in from a client that reads nothing (draining: about 1.2 MB)


_FIRST = "перший шматок\n".encode()


def _answers_at_once(address, piece: bytes, wait: float = 1.0) -> bool:
    """Does the echo of ``piece`` come back while the client waits, before it closes its side?"""
    with contextlib.suppress(OSError), socket.create_connection(address, timeout=wait) as sock:
        sock.sendall(piece)
        return bool(sock.recv(65536))
    return False


def _is_coroutine_function(function) -> bool:
    return getattr(function, "is_async", None) is True or asyncio.iscoroutinefunction(function)


@stops_cleanly
async def asyncio_handler(handle_echo, *, large: int = 4_000_000) -> None:
    """Exercise 8: clients side by side in one loop that never stops; drained writes; every client closed."""
    ready_to_check(handle_echo)
    if not _is_coroutine_function(handle_echo):
        fail(_("handle_echo must be a coroutine: write it as async def handle_echo(reader, writer)"))
    big, how, answered = b"", "skipped", True
    absorbed: list[int] = []  # what the server took in while its client read nothing: seen on the wire
    # A handler judged from another process is served by its own kernel's loop.
    host = await (handle_echo.host() if hasattr(handle_echo, "host") else HandlerHost.start(handle_echo))
    address = host.address
    try:
        slow = asyncio.create_task(asyncio.to_thread(_exchange, address, "повільний", wait=0.5))
        await asyncio.sleep(0.05)
        quick = await asyncio.gather(*(asyncio.to_thread(_exchange, address, f"асинхронно {i}", timeout=2)
                                       for i in (2, 3, 4)))
        first = await slow
        answered = await asyncio.to_thread(_answers_at_once, address, _FIRST)
        errors, lag, _buffered = await host.status()
        data = "ї".encode() * (large // 2)
        if lag <= 0.15 and not errors and answered and all(run[1] == "end" for run in (first, *quick)):
            # (a loop that stops, or a client never closed, would only take long over a large message)
            big, how = await asyncio.to_thread(_large_exchange, address, data, pause=0.7, timeout=5.0, wait_out=True,
                                               absorbed=absorbed)
    finally:
        errors, _lag, buffered = await host.stop()
    if errors:
        raise raised("handle_echo", errors[0], hint(errors[0])) from None
    if lag > 0.15:
        fail(_("handle_echo stopped the event loop for {seconds:.2f} s, and every other client with it: nothing in "
               "a coroutine may block: await asyncio.sleep(…), await reader.read(…), never time.sleep or a socket "
               "call").format(seconds=lag))
    for (reply, ended, seconds), i in zip([first, *quick], (1, 2, 3, 4)):
        sent = "повільний" if i == 1 else f"асинхронно {i}"
        if ended == "no end" and reply == sent:
            fail(_("client {i} got back {reply} but the connection never ended: close the writer when read "
                   "returns b'' (writer.close(); await writer.wait_closed())").format(i=i, reply=repr(reply)))
        if reply != sent:
            fail(_("client {i} sent {sent} and got back {reply}: read with await reader.read(4096) in a loop "
                   "until it returns b'', writing each piece back").format(i=i, sent=repr(sent), reply=repr(reply)))
        if i > 1 and seconds > 0.3:
            fail(_("client {i} waited {seconds:.1f} s while client 1 was silent: do not wait for one client "
                   "in a way that stops the loop").format(i=i, seconds=seconds))
    if not answered:
        fail(_("a client sent {piece} and waited, and handle_echo sent nothing back until the client closed: "
               "reader.read() with no size waits for the whole stream; read pieces (await reader.read(4096)) "
               "and write each back as it comes").format(piece=repr(_FIRST.decode())))
    # The kernel's count of what it buffered (a graded kernel's own word) only names the cause; what
    # fails the check is what this side saw: a server that took in far more than the buffers hold.
    if buffered > 1_000_000 or (absorbed and absorbed[0] >= min(len(data), _HOARDED)):
        fail(_("a client sent {sent} MB and read nothing for 0.7 s; your server buffered "
               "{buffered:.1f} MB for it: await writer.drain() after each write, so a client that "
               "does not read makes the handler wait instead of the server hoard memory").format(
            sent=large // 1_000_000, buffered=max(buffered, absorbed[0] if absorbed else 0) / 1e6))
    if big == data and how == "no end":
        fail(_("the large message came back but the connection never ended: close the writer"))
    if big != data:
        fail(_("sent {data}, got back {reply}: read in a loop until b'' and write every piece back").format(
            data=preview(data), reply=preview(big)))
    print("✔ " + _("your handler serves clients side by side, never stops the loop, drains and closes"))

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
from . import fail, no_shortcuts, preview, raised, send_and_reset, student_server
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
        with socket.create_connection(address, timeout=timeout) as sock:
            if wait:
                time.sleep(wait)
            sock.sendall(text.encode())
            sock.shutdown(socket.SHUT_WR)
            reply = bytearray()
            try:
                while chunk := sock.recv(65536):
                    reply += chunk
            except TimeoutError:
                return reply.decode(errors="replace"), "no end", time.monotonic() - started
    except OSError:
        return "", "error", time.monotonic() - started
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


def thread_per_client(serve_concurrently, count: int = 4) -> None:
    """Exercise 7: a silent client first, a crashing one next; the others are served at once; then it returns."""
    assert count >= 3
    no_shortcuts(serve_concurrently)
    slow: list = []
    with _thread_errors() as died, student_server(lambda listener: serve_concurrently(listener, count),
                                                 name="serve_concurrently", timeout=10) as session:
        first = threading.Thread(target=lambda: slow.append(_exchange(session.address, "повільний", wait=0.8)),
                                 daemon=True)
        first.start()
        time.sleep(0.05)  # client 1 is connected (and silent) before the others come
        send_and_reset(session.address, b"half a messa")  # client 2 crashes
        quick = [_exchange(session.address, f"клієнт {i}", timeout=3) for i in range(3, count + 1)]
        time.sleep(0.1)
        returned_early = session.done.is_set()
        first.join(5)
        session.done.wait(3)
        if session.failure is None:
            for (reply, how, seconds), i in zip(quick, range(3, count + 1)):
                if reply == f"клієнт {i}" and how == "end" and seconds < 0.5:
                    continue
                if died:
                    break  # what the thread died of says more
                if seconds >= 0.5 or how != "end":
                    fail(_("client {i} waited {seconds:.1f} s (got {reply}) while client 1 was connected and "
                           "silent: the clients were served one after another: {hint}; join them only "
                           "after the loop").format(i=i, seconds=seconds, reply=repr(reply), hint=_(HINT_THREADS)))
                fail(_("client {i} sent {sent} and got back {reply}: echo each client until its "
                       "recv returns b'', with sendall").format(i=i, sent=repr(f"клієнт {i}"), reply=repr(reply)))
    if died:
        name, exc = died[0]
        raise raised(_("a thread of your serve_concurrently ({name})").format(name=name), exc,
                     _("a client that crashes raises an OSError: catch it in the thread (try: … except OSError: "
                       "pass) so one bad client harms nobody")) from None
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


def _is_coroutine_function(function) -> bool:
    return getattr(function, "is_async", None) is True or asyncio.iscoroutinefunction(function)


async def asyncio_handler(handle_echo, *, large: int = 4_000_000) -> None:
    """Exercise 8: clients side by side in one loop that never stops; drained writes; every client closed."""
    no_shortcuts(handle_echo)
    if not _is_coroutine_function(handle_echo):
        fail(_("handle_echo must be a coroutine: write it as async def handle_echo(reader, writer)"))
    big, how = b"", "skipped"
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
        errors, lag, _buffered = await host.status()
        data = "ї".encode() * (large // 2)
        if lag <= 0.15 and not errors and all(run[1] == "end" for run in (first, *quick)):
            # (a loop that stops, or a client never closed, would only take long over a large message)
            big, how = await asyncio.to_thread(_large_exchange, address, data, pause=0.7, timeout=5.0, wait_out=True,
                                               absorbed=absorbed)
    finally:
        errors, _lag, buffered = await host.stop()
    if errors:
        raise raised("handle_echo", errors[0], "") from None
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

"""``socketlab …`` and ``python -m socketlab …``: a thin layer over the Python API.

Each command only parses options and calls the functions the notebooks call.
Servers bind 127.0.0.1 unless told otherwise; ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import queue
import signal
import socket
import sys

from .echo import DEFAULT_ECHO_PORT, EchoServer, echo
from .server import Server, format_event

__all__ = ["main"]


def serve_until_interrupted(server: Server) -> int:
    """Run ``server``, writing one stderr line per event, until Ctrl-C or it stops by itself."""
    events: queue.Queue = queue.Queue()
    server.subscribe(events.put)  # the server thread only hands events over; we print
    server.start()
    host, port = server.address
    print(f"{server.role} listening on {host}:{port} (Ctrl-C to stop)", flush=True)

    def show(event) -> None:
        print(format_event(event, server.role), file=sys.stderr, flush=True)

    try:
        while server.running:
            try:
                show(events.get(timeout=0.2))
            except queue.Empty:
                pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        while not events.empty():  # what happened while stopping, down to "stop"
            show(events.get_nowait())
    return 0


def network_error(exc: OSError, host: str, port: int) -> str:
    """One line a person can act on, instead of a traceback."""
    where = f"{host}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to {where}: connection refused (is the server running?)"
    if isinstance(exc, TimeoutError):
        return f"no answer from {where}: {exc}" if str(exc) else f"no answer from {where} in time"
    if isinstance(exc, socket.gaierror):
        return f"cannot connect to {where}: unknown host"
    return f"connection to {where} failed: {exc.strerror or exc}"


def cmd_echo_server(args) -> int:
    server = EchoServer(
        args.host, args.port, idle_timeout=args.idle_timeout, max_clients=1 if args.once else None
    )
    return serve_until_interrupted(server)


def cmd_echo(args) -> int:
    try:
        reply = echo(" ".join(args.message), (args.host, args.port), timeout=args.timeout)
    except (OSError, EOFError) as exc:
        return fail(args, network_error(exc, args.host, args.port) if isinstance(exc, OSError) else str(exc))
    print(reply)
    return 0


def fail(args, message: str) -> int:
    print(f"socketlab {args.command}: {message}", file=sys.stderr)
    return 1


def port_number(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def positive_seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socketlab", description="TCP socket course tools.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def address_options(p, port: int, what: str) -> None:
        p.add_argument("--host", default="127.0.0.1", help=f"{what} (default: %(default)s)")
        p.add_argument("--port", type=port_number, default=port, help="TCP port (default: %(default)s)")

    p = commands.add_parser("echo-server", help="run an echo server (tasks 1 and 2)")
    address_options(p, DEFAULT_ECHO_PORT, "address to listen on; 0 picks a free port")
    p.add_argument("--once", action="store_true", help="serve one client, then exit (task 1)")
    p.add_argument("--idle-timeout", type=positive_seconds, default=30.0,
                   help="drop a client silent for this many seconds (default: %(default)s)")
    p.set_defaults(run=cmd_echo_server)

    p = commands.add_parser("echo", help="send a message to an echo server and print the reply")
    address_options(p, DEFAULT_ECHO_PORT, "server address")
    p.add_argument("--timeout", type=positive_seconds, default=5.0, help="seconds (default: %(default)s)")
    p.add_argument("message", nargs="+", metavar="MESSAGE", help="words to send, joined by spaces")
    p.set_defaults(run=cmd_echo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Ctrl-C and `kill` both stop a server cleanly with exit status 0, even when the
    # shell started us in the background with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return args.run(args)
    except OSError as exc:  # e.g. the port is taken: say so in one line
        return fail(args, exc.strerror or str(exc))

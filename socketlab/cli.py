"""``socketlab …`` and ``python -m socketlab …``: a thin layer over the Python API.

Each command only parses options and calls the functions the notebooks call.
Servers bind 127.0.0.1 unless told otherwise; ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import queue
import signal
import socket
import sys

from .concurrency import FILE_SERVER_KINDS, SERVER_KINDS
from .echo import DEFAULT_ECHO_PORT, ReplyTooLong, echo
from .files import DEFAULT_FILE_PORT, FileClient, TransferError
from .i18n import _, language_from_environment, ngettext, retold, use_language
from .protocol import LocalProtocolError, ProtocolError, name_problem
from .server import Server, format_event
from .streams import LineTooLong
from .udp import DEFAULT_UDP_PORT, LossyUDPServer, ping, ping_report

__all__ = ["main"]


def serve_until_interrupted(server: Server) -> int:
    """Run ``server``, writing one stderr line per event, until Ctrl-C or it stops by itself."""
    events: queue.Queue = queue.Queue()
    server.subscribe(events.put)  # the server thread only hands events over; we print

    def show(event) -> None:
        print(format_event(event, server.role), file=sys.stderr, flush=True)

    try:  # Ctrl-C may come at any moment, even before the first line is out
        server.start()
        host, port = server.address
        print(_("{role} listening on {host}:{port} (Ctrl-C to stop)").format(role=server.role, host=host, port=port),
              flush=True)
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


def network_error(exc: OSError | EOFError, host: str, port: int) -> str:
    """One line a person can act on, instead of a traceback."""
    where = f"{host}:{port}"
    if isinstance(exc, EOFError):  # the stream ended early: the message says how many bytes came
        return str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return _("cannot connect to {address}: connection refused (is the server running?)").format(address=where)
    if isinstance(exc, TimeoutError):
        if str(exc):
            return _("no answer from {address}: {error}").format(address=where, error=exc)
        return _("no answer from {address} in time").format(address=where)
    if isinstance(exc, socket.gaierror):
        return _("cannot connect to {address}: unknown host").format(address=where)
    return _("connection to {address} failed: {error}").format(address=where, error=exc.strerror or exc)


def warn_if_reachable(args) -> None:
    """One line on stderr when a server listens where other machines can reach it."""
    host = args.host.strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False  # a host name: it may be any interface
    if not loopback:
        print(f"socketlab {args.command}: " + _("warning: listening on {host}: other machines on the network "
                                                "can connect to this server (--host 127.0.0.1 keeps it to this "
                                                "one)").format(host=args.host), file=sys.stderr, flush=True)


def server_options(args) -> dict:
    options = {"idle_timeout": args.idle_timeout}
    if args.deadline is not None:
        options["deadline"] = args.deadline
    return options


def cmd_echo_server(args) -> int:
    if args.once and args.kind != "sequential":
        return fail(args, _("--once is for the sequential server (task 1)"))
    options = server_options(args)
    if args.once:
        options["max_clients"] = 1
    try:
        server = SERVER_KINDS[args.kind](args.host, args.port, **options)
    except ValueError as exc:  # e.g. --deadline for a kind that has none
        return fail(args, str(exc))
    warn_if_reachable(args)
    return serve_until_interrupted(server)


def cmd_echo(args) -> int:
    try:
        reply = echo(" ".join(args.message), (args.host, args.port), timeout=args.timeout)
    except ReplyTooLong as exc:
        return fail(args, f"{args.host}:{args.port}: {exc}")
    except (OSError, EOFError) as exc:
        return fail(args, network_error(exc, args.host, args.port))
    print(reply)
    return 0


def cmd_udp_server(args) -> int:
    try:
        server = LossyUDPServer(args.host, args.port, drop=args.drop, duplicate=args.duplicate, delay=args.delay,
                                reorder=args.reorder, seed=args.seed)
    except ValueError as exc:
        return fail(args, str(exc))
    warn_if_reachable(args)
    return serve_until_interrupted(server)


def cmd_ping(args) -> int:
    if args.count < 1:
        return fail(args, _("--count must be at least 1"))
    try:
        results = ping((args.host, args.port), args.count, timeout=args.timeout)
    except OSError as exc:
        return fail(args, network_error(exc, args.host, args.port))
    lines, summary = ping_report(results, args.timeout)
    print("\n".join([*lines, summary]))
    return 0


def cmd_file_server(args) -> int:
    try:
        server = FILE_SERVER_KINDS[args.kind](args.dir, args.host, args.port, max_size=args.max_size,
                                              **server_options(args))
    except ValueError as exc:
        return fail(args, str(exc))
    warn_if_reachable(args)
    print(_("saving uploads in {folder}").format(folder=server.folder), flush=True)
    return serve_until_interrupted(server)


def cmd_send_file(args) -> int:
    if args.name is not None and len(args.paths) > 1:
        return fail(args, _("--name can only be given with a single PATH"))
    for path in args.paths:  # every problem we can see here, before connecting
        if not os.path.isfile(path):
            return fail(args, _("no such file: {path}").format(path=path))
        problem = name_problem(args.name if args.name is not None else os.path.basename(path))
        if problem:
            return fail(args, _("{path}: cannot be sent under that name: {problem}").format(path=path,
                                                                                          problem=retold(problem)))
    try:
        with FileClient((args.host, args.port), timeout=args.timeout) as client:
            for path in args.paths:  # one connection, one header per file
                with progress_bar(os.path.basename(path)) as progress:
                    result = client.send(path, name=args.name, progress=progress)
                print(_("{path} -> saved as {name}: {size} bytes in {seconds:.2f} s ({rate:.1f} MB/s), "
                        "sha256 {sha256} matches").format(path=path, name=repr(result.saved_name), size=result.size,
                                                          seconds=result.seconds, rate=result.rate / 1e6,
                                                          sha256=result.sha256))
    except (TransferError, LocalProtocolError) as exc:
        return fail(args, _("{path}: refused: {error}").format(path=path, error=exc))
    except (ProtocolError, LineTooLong) as exc:  # the peer is not a file server, or a broken one
        return fail(args, _("{address} does not speak the file protocol: {error}").format(
            address=f"{args.host}:{args.port}", error=exc))
    except (OSError, EOFError) as exc:
        return fail(args, network_error(exc, args.host, args.port))
    return 0


class progress_bar:
    """A tqdm bar on stderr when it is a terminal; nothing otherwise (logs, CI, pipes)."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def __enter__(self):
        return self.update if sys.stderr.isatty() else None

    def update(self, sent: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.label, unit="B", unit_scale=True, unit_divisor=1024, leave=False)
        self.bar.update(sent - self.bar.n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_course(args) -> int:
    from .course import CourseMissing, copy_course

    def student_copy(path) -> bytes:  # a checkout holds the instructor's notebooks, answers included
        import nbformat

        from .instructor.release import release_notebook

        return nbformat.writes(release_notebook(nbformat.read(path, as_version=4))).encode() + b"\n"

    try:
        report = copy_course(args.dest, args.lang, student_copy=student_copy)
    except CourseMissing as exc:
        return fail(args, str(exc))
    print("\n".join(_course_copied(report)))
    return 1 if report.kept else 0


def _course_copied(report) -> list[str]:
    """What ``socketlab course`` did, in the student's language (course.py speaks none: setup.py loads it by path)."""
    copied, unchanged = len(report.copied), len(report.unchanged)
    lines = [ngettext("copied {n} file into {dest}", "copied {n} files into {dest}", copied).format(
        n=copied, dest=report.dest)]
    if unchanged:
        lines.append(ngettext("{n} file was there already, unchanged", "{n} files were there already, unchanged",
                              unchanged).format(n=unchanged))
    lines += [_("kept your changed {name}: not overwritten (rename or delete it to get the course's copy)").format(
        name=name) for name in report.kept]
    notebooks = sorted(f for f in [*report.copied, *report.unchanged, *report.kept] if f.endswith(".ipynb"))
    if notebooks:
        lines.append(_("open it with: {command}").format(command=f"jupyter lab {report.dest / notebooks[0]}"))
    return lines


def cmd_report(args) -> int:
    from .report import ReportError, build_report, write_pdf, write_report

    missing = [n for n in args.notebooks if not os.path.isfile(n)]
    if missing:
        return fail(args, _("no such notebook: {path}").format(path=missing[0]))
    try:
        html = write_report(build_report(args.notebooks, student=args.student, group=args.group, lab=args.lab,
                                         execute=args.execute), args.out)
        print(_("report: {path}").format(path=html))
        if args.pdf:
            print(_("report: {path}").format(path=write_pdf(html, html.with_suffix(".pdf"))))
    except ReportError as exc:
        return fail(args, str(exc))
    return 0


def fail(args, message: str) -> int:
    print(f"socketlab {args.command}: {message}", file=sys.stderr)
    return 1


def port_number(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(_("{port} is not a port number (0 to 65535)").format(port=port))
    return port


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):  # nan and inf would drop, or never drop, every client
        raise argparse.ArgumentTypeError(_("{text} is not a positive, finite number of seconds").format(
            text=repr(text)))
    return value


def byte_size(text: str) -> int:
    """``1G``, ``512M``, ``100K`` or plain bytes (powers of 1024)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = text.rstrip("KMGTkmgtBb"), text[len(text.rstrip("KMGTkmgtBb")):].upper().rstrip("B")
    if not number.isdigit() or unit not in units:
        raise argparse.ArgumentTypeError(_("{text} is not a size such as 1G, 512M, 100K or 1000").format(
            text=repr(text)))
    return int(number) * units[unit]


def timeout_options(p) -> None:
    p.add_argument("--idle-timeout", type=positive_seconds, default=30.0,
                   help="drop a client silent for this many seconds (default: %(default)s)")
    p.add_argument("--deadline", type=positive_seconds, default=None, metavar="SECONDS",
                   help="drop a client whose connection has lasted this long, so that one client "
                   "cannot hold a sequential server forever (default: 30 for the sequential server)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="socketlab", description="TCP socket course tools.")
    parser.add_argument("--lang", dest="ui_lang", metavar="LANG",
                        help="language of the messages: en or uk (default: from LANGUAGE, LC_ALL, LC_MESSAGES "
                        "or LANG, else en); `course --lang` chooses the notebooks' edition")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def address_options(p, port: int, what: str) -> None:
        p.add_argument("--host", default="127.0.0.1", help=f"{what} (default: %(default)s)")
        p.add_argument("--port", type=port_number, default=port, help="TCP port (default: %(default)s)")

    p = commands.add_parser("echo-server", help="run an echo server (tasks 1 and 2)")
    address_options(p, DEFAULT_ECHO_PORT, "address to listen on; 0 picks a free port")
    p.add_argument("--once", action="store_true", help="serve one client, then exit (task 1)")
    p.add_argument("--kind", choices=list(SERVER_KINDS), default="sequential",
                   help="one client at a time (task 2), or many at once (default: %(default)s)")
    timeout_options(p)
    p.set_defaults(run=cmd_echo_server)

    p = commands.add_parser("echo", help="send a message to an echo server and print the reply")
    address_options(p, DEFAULT_ECHO_PORT, "server address")
    p.add_argument("--timeout", type=positive_seconds, default=5.0,
                   help="seconds for the whole exchange (default: %(default)s)")
    p.add_argument("message", nargs="+", metavar="MESSAGE", help="words to send, joined by spaces")
    p.set_defaults(run=cmd_echo)

    p = commands.add_parser("udp-server", help="run a UDP echo server that loses datagrams on purpose (notebook 05)")
    address_options(p, DEFAULT_UDP_PORT, "address to listen on; 0 picks a free port")
    for name, what in (("drop", "lost"), ("duplicate", "echoed twice"), ("reorder", "echoed late")):
        p.add_argument(f"--{name}", type=float, default=0.0, help=f"fraction of datagrams {what} (default: 0)")
    p.add_argument("--delay", type=float, default=0.0, help="longest extra wait of an echo, in seconds (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same fates (default: 0)")
    p.set_defaults(run=cmd_udp_server)

    p = commands.add_parser("ping", help="ping a UDP echo server: round trips and loss (notebook 05)")
    address_options(p, DEFAULT_UDP_PORT, "server address")
    p.add_argument("--count", type=int, default=10, help="pings to send (default: %(default)s)")
    p.add_argument("--timeout", type=positive_seconds, default=1.0, help="seconds to wait for each (default: 1)")
    p.set_defaults(run=cmd_ping)

    p = commands.add_parser("file-server", help="receive files and save them (task 3)")
    address_options(p, DEFAULT_FILE_PORT, "address to listen on; 0 picks a free port")
    p.add_argument("--dir", default="uploads", help="folder to save files in, created if missing (default: %(default)s)")
    p.add_argument("--max-size", type=byte_size, default="1G", help="largest file accepted (default: %(default)s)")
    p.add_argument("--kind", choices=list(FILE_SERVER_KINDS), default="sequential",
                   help="one client at a time (task 3), or many at once (default: %(default)s)")
    timeout_options(p)
    p.set_defaults(run=cmd_file_server)

    p = commands.add_parser("send-file", help="send files to a file server (task 3a)")
    address_options(p, DEFAULT_FILE_PORT, "server address")
    p.add_argument("--name", help="save under this name instead of the file's own (one PATH only)")
    p.add_argument("--timeout", type=positive_seconds, default=30.0, help="seconds (default: %(default)s)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files to send")
    p.set_defaults(run=cmd_send_file)

    p = commands.add_parser("course", help="copy the course's notebooks and data into DEST (never overwrites)")
    p.add_argument("dest", metavar="DEST", help="folder to copy them into, created if missing")
    p.add_argument("--lang", choices=["en", "uk"], default="en",
                   help="which edition: en, or uk for the Ukrainian one (default: %(default)s)")
    p.set_defaults(run=cmd_course)

    p = commands.add_parser("report", help="build the lab report from your notebooks (HTML, or PDF with --pdf)")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="your notebooks, run and saved")
    p.add_argument("--student", required=True, help="your name, as on the report")
    p.add_argument("--group", required=True, help="your group, e.g. КУІБ-22-1")
    p.add_argument("--lab", type=int, default=4, metavar="N",  # report.LAB (not imported here: it loads nbformat)
                   help="the lab's number, as on the title (default: %(default)s)")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default: %(default)s)")
    p.add_argument("--pdf", action="store_true", help="also print it to a PDF next to it (needs Chromium)")
    p.add_argument("--execute", action="store_true", help="run the notebooks first instead of using saved outputs")
    p.set_defaults(run=cmd_report)

    # The instructor's commands (release, grade) live with the instructor's tools.
    from .instructor.commands import add_commands

    add_commands(commands)
    return parser


def choose_language(argv: list[str]) -> str:
    """The messages' language: ``socketlab --lang uk …`` (before the command), else the environment's."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):  # the options before the command
        if argv[i] == "--lang" and i + 1 < len(argv):
            return use_language(argv[i + 1])
        if argv[i].startswith("--lang="):
            return use_language(argv[i].split("=", 1)[1])
        i += 1
    return use_language(language_from_environment())


def main(argv: list[str] | None = None) -> int:
    choose_language(sys.argv[1:] if argv is None else argv)  # before parsing: its errors are messages too
    args = build_parser().parse_args(argv)
    # Ctrl-C and `kill` both stop a server cleanly with exit status 0, even when the
    # shell started us in the background with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return args.run(args)
    except OSError as exc:  # e.g. the port is taken: say so in one line
        return fail(args, exc.strerror or str(exc))
    except KeyboardInterrupt:  # a client stopped halfway
        print(file=sys.stderr)
        return fail(args, _("interrupted"))

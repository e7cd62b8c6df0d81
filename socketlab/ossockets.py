"""The operating system's own view of TCP sockets: what ``ss -tan``, ``netstat -an`` or
``Get-NetTCPConnection`` show, for the ports a lesson uses.

``tcp_sockets(ports)`` lists them with psutil, which works on Linux, macOS and
Windows. macOS shows other users' sockets only to root: there the list falls
back to the sockets of this process and the programs it started.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import psutil

from .i18n import _

__all__ = ["SocketRow", "tcp_sockets", "SocketList", "TERMINAL_COMMANDS"]

# The same view from a terminal, on each system.
TERMINAL_COMMANDS = {
    "Linux": "ss -tan",
    "macOS": "netstat -an -p tcp",
    "Windows (cmd)": "netstat -an -p tcp",
    "Windows (PowerShell)": "Get-NetTCPConnection",
}


@dataclass(frozen=True)
class SocketRow:
    state: str    # LISTEN, ESTABLISHED, TIME_WAIT, CLOSE_WAIT, …
    local: str    # "127.0.0.1:65432"
    remote: str   # "" for a listening socket
    pid: int | None
    program: str


def _address(addr) -> str:
    return f"{addr.ip}:{addr.port}" if addr else ""


def _program(pid: int | None) -> str:
    if not pid:
        return ""  # TIME_WAIT belongs to no process: the system keeps it
    try:
        process = psutil.Process(pid)
        script = next((a for a in process.cmdline()[1:] if a.endswith(".py")), "")
        return f"{process.name()} {script} (pid {pid})".replace("  ", " ")
    except (psutil.Error, OSError):
        return f"pid {pid}"


def _connections():
    try:
        return psutil.net_connections("tcp")
    except psutil.AccessDenied:  # macOS without root: this process and its children
        me = psutil.Process()
        found = []
        for process in [me, *me.children(recursive=True)]:
            try:
                found += [c._replace(pid=process.pid) if hasattr(c, "_replace") else c
                          for c in process.net_connections("tcp")]
            except (psutil.Error, AttributeError):
                continue
        return found


_ORDER = {"LISTEN": 0, "ESTABLISHED": 1, "CLOSE_WAIT": 2, "FIN_WAIT1": 3, "FIN_WAIT2": 4, "TIME_WAIT": 5}


def tcp_sockets(ports) -> list[SocketRow]:
    """Every TCP socket whose local or remote port is one of ``ports``."""
    ports = set(ports)
    rows = []
    for c in _connections():
        if (c.laddr and c.laddr.port in ports) or (c.raddr and c.raddr.port in ports):
            rows.append(SocketRow(c.status, _address(c.laddr), _address(c.raddr), c.pid, _program(c.pid)))
    return sorted(set(rows), key=lambda r: (_ORDER.get(r.state, 9), r.local, r.remote))


class SocketList:
    """``tcp_sockets(ports)`` as a table in a notebook (and as text)."""

    def __init__(self, ports, *, limit: int = 12):
        self.ports = sorted(set(ports))
        found = tcp_sockets(self.ports)
        self.rows, self.more = found[:limit], len(found[limit:])

    def __str__(self) -> str:
        state, local, remote, program = _columns()
        lines = [f"{state:12} {local:22} {remote:22} {program}"]
        lines += [f"{r.state:12} {r.local:22} {r.remote or '-':22} {r.program or '-'}" for r in self.rows]
        return "\n".join(lines + ([_more(self.more)] if self.more else []))

    def _repr_html_(self) -> str:
        cells = "".join(f"<tr><td><b>{html.escape(r.state)}</b></td><td>{html.escape(r.local)}</td>"
                        f"<td>{html.escape(r.remote or '—')}</td><td>{html.escape(r.program or '—')}</td></tr>"
                        for r in self.rows)
        if self.more:
            cells += f"<tr><td colspan=4>{html.escape(_more(self.more))}</td></tr>"
        none = _("no TCP socket on port {ports}").format(ports=", ".join(map(str, self.ports)))
        empty = "" if self.rows else f"<tr><td colspan=4>{html.escape(none)}</td></tr>"
        heads = "".join(f"<th>{html.escape(h)}</th>" for h in _columns(long=True))
        return f"<table><tr>{heads}</tr>{cells}{empty}</table>"


def _columns(long: bool = False) -> tuple[str, str, str, str]:
    """The table's column names (the operating system's state names, LISTEN…, stay as ss and netstat print them)."""
    if long:
        return _("state"), _("local address"), _("remote address"), _("program")
    return _("state"), _("local"), _("remote"), _("program")


def _more(n: int) -> str:
    return _("… and {n} more").format(n=n)

"""socketlab: the helper package of a hands-on course on TCP sockets in Python."""

from .echo import EchoClient, EchoServer, echo
from .files import FileClient, FileServer, SendResult, TransferError, send_file
from .i18n import use_language
from .protocol import LocalProtocolError, ProtocolError, RemoteProtocolError
from .server import Event, Server, format_event, running_servers, stop_all
from .streams import IncompleteRead, LineTooLong, recv_exactly, recv_line, recv_to_end

__all__ = [
    "AsyncioEchoServer",
    "EchoClient",
    "EchoServer",
    "Event",
    "FileClient",
    "FileServer",
    "IncompleteRead",
    "LineTooLong",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "SelectorEchoServer",
    "SendResult",
    "Server",
    "echo",
    "format_event",
    "recv_exactly",
    "recv_line",
    "recv_to_end",
    "running_servers",
    "send_file",
    "stop_all",
    "ThreadingEchoServer",
    "TransferError",
    "use_language",
]


_LAZY = {"AsyncioEchoServer", "SelectorEchoServer", "ThreadingEchoServer"}


def __getattr__(name):
    # The concurrent servers import asyncio, a good part of the start-up time of every
    # `socketlab` command: they are loaded on first use instead.
    if name in _LAZY:
        from . import concurrency

        return getattr(concurrency, name)
    raise AttributeError(f"module 'socketlab' has no attribute {name!r}")

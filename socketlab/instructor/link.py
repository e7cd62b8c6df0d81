"""The line between the judge (the grader's pytest process) and the agent (the student's kernel).

One ``AF_UNIX`` stream per check cell. Each message is a 4-byte length and a
JSON object; sockets travel beside it as file descriptors (``SCM_RIGHTS``), so
the student's code works on the very connection the judge's client holds.

Values cross as JSON with a few tagged forms: bytes, tuples, paths, sockets
(an index into the message's descriptors), exceptions (their type, arguments,
errno and the student's own frames, as text) and anything else as an opaque
stand-in that keeps its type's name and ``repr``. Nothing received is ever
unpickled or evaluated: the agent's side is the student's process.
"""

from __future__ import annotations

import array
import base64
import builtins
import json
import os
import socket
import struct
from pathlib import PurePath

__all__ = ["Link", "encode", "decode", "encode_error", "decode_error", "Opaque", "RemoteError", "MAX_MESSAGE"]

MAX_MESSAGE = 64 * 2**20  # a 3 MB echo, base64'd, fits many times over
_MAX_FDS = 8


class Link:
    """Framed JSON messages, with descriptors, over a connected ``AF_UNIX`` stream socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, message: dict, fds: list[int] = ()) -> None:
        data = json.dumps(message).encode()  # ASCII: a lone surrogate a student returns still crosses
        frame = struct.pack("!I", len(data)) + data
        sent = socket.send_fds(self.sock, [frame[:4]], list(fds)) if fds else 0
        self.sock.sendall(frame[sent:])

    def receive(self) -> tuple[dict, list[int]]:
        """The next message and the descriptors that came with it; ``EOFError`` at the end."""
        fds = array.array("i")
        head = b""
        while len(head) < 4:
            data, ancillary, _flags, _addr = self.sock.recvmsg(4 - len(head), socket.CMSG_LEN(_MAX_FDS * fds.itemsize))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
            if not data:
                raise EOFError("the other side closed the link")
            head += data
        (size,) = struct.unpack("!I", head)
        if size > MAX_MESSAGE:
            for fd in fds:
                os.close(fd)
            raise ValueError(f"a message of {size} bytes is too large")
        body = bytearray()
        while len(body) < size:
            chunk = self.sock.recv(min(size - len(body), 1 << 20))
            if not chunk:
                raise EOFError("the other side closed the link mid-message")
            body += chunk
        message = json.loads(body)
        if not isinstance(message, dict):
            raise ValueError("a message is not an object")
        return message, list(fds)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Opaque:
    """A value of a type that cannot cross: its type's name and its ``repr`` do."""

    def __init__(self, type_name: str, text: str):
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:
        return self.text


class RemoteError(Exception):
    """An exception of a type that is not a built-in one (a student's own class, say)."""


def encode(value, fds: list[int]):
    """``value`` as JSON; the descriptors of its sockets are appended to ``fds``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, fds) for v in value]}
    if isinstance(value, list):
        return [encode(v, fds) for v in value]
    if isinstance(value, PurePath):
        return {"$path": str(value)}
    if isinstance(value, socket.socket):
        fds.append(value.fileno())
        return {"$socket": len(fds) - 1, "timeout": value.gettimeout(),
                **{k: getattr(value, k) for k in ("conn_timeout", "send_buffer") if hasattr(value, k)}}
    return {"$opaque": type(value).__name__[:100], "repr": _short_repr(value)}


def decode(value, fds: list[int], make_socket=None):
    """The inverse of :func:`encode`; ``make_socket(fd, spec)`` builds a socket from a descriptor."""
    if isinstance(value, list):
        return [decode(v, fds, make_socket) for v in value]
    if not isinstance(value, dict):
        return value
    if "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    if "$tuple" in value:
        return tuple(decode(v, fds, make_socket) for v in value["$tuple"])
    if "$path" in value:
        from pathlib import Path

        return Path(str(value["$path"]))
    if "$socket" in value and make_socket is not None:
        return make_socket(fds[int(value["$socket"])], value)
    return Opaque(str(value.get("$opaque", "object")), str(value.get("repr", "")))


def _short_repr(value, limit: int = 300) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "…"


def encode_error(exc: BaseException, frames: str = "") -> dict:
    args = []
    for arg in exc.args[:6]:
        try:
            args.append(encode(arg, []))
        except Exception:
            args.append(_short_repr(arg))
    try:
        text = str(exc)[:2000]
    except Exception:  # a student's __str__ that raises
        text = ""
    bases = [c.__name__ for c in type(exc).__mro__ if getattr(builtins, c.__name__, None) is c]
    return {"type": type(exc).__name__[:100], "builtin": bases[0] if bases else "Exception", "args": args, "errno": exc.errno if isinstance(getattr(exc, "errno", None), int) else None,
            "text": text, "frames": frames[:4000]}


def decode_error(spec: dict) -> BaseException:
    """An exception like the one raised in the kernel, with its place among the built-in ones: a student's
    ``class BadFileName(ValueError)`` comes back as a class of that name that is a ``ValueError``."""
    name = str(spec.get("type", "Exception"))[:100]
    base = getattr(builtins, str(spec.get("builtin", name)), None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = RemoteError
    cls = base if base.__name__ == name else _subclass(name, base)
    args = decode(spec.get("args", []), [])
    try:
        exc = cls(*args)
    except Exception:
        exc = cls(str(spec.get("text", "")))
    if spec.get("errno") is not None and isinstance(exc, OSError) and exc.errno is None:
        exc.errno = spec["errno"]
    if cls is not base:
        exc.text = str(spec.get("text", ""))  # as the kernel's str() gave it (its class's __str__ shows it)
    exc.type_name = name
    exc.remote_frames = str(spec.get("frames", ""))
    return exc


def _subclass(name: str, base: type) -> type:
    """A class named as the student's, under the built-in it derives from; its text is the kernel's."""
    if not name.isidentifier():
        name = "RemoteError"
    return type(name, (base,), {"__str__": lambda self: getattr(self, "text", None) or base.__str__(self),
                                "__module__": "student"})

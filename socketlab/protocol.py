"""The file-transfer protocol, version 1: bytes in, values out; no sockets here.

One TCP connection, a text header, a raw body::

    client: FILE <size> <name>\\n        (UTF-8, at most 1024 bytes with the \\n)
    server: READY\\n                     or  ERROR <code> <message>\\n  and close
    client: <exactly size bytes>
    server: OK <size> <sha256-hex> <saved-name>\\n   or  ERROR <code> <message>\\n

After a reply the client may send another header on the same connection, or close.
The full description for users is ``docs/protocol.md``.

Errors come in two kinds (as in h11): :class:`LocalProtocolError` when *we*
were asked to build something invalid, :class:`RemoteProtocolError` when the
*peer* sent something invalid.  Both carry one of :data:`ERROR_CODES`.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "MAX_HEADER", "MAX_NAME_BYTES", "MAX_SIZE", "ERROR_CODES", "ProtocolError", "LocalProtocolError",
    "RemoteProtocolError", "FileHeader", "Ready", "Ok", "ErrorReply", "name_problem",
    "check_name", "numbered_name", "build_header", "parse_header", "build_ready", "build_ok",
    "build_error", "parse_reply",
]

MAX_HEADER = 1024  # bytes, including the final b"\n"
MAX_NAME_BYTES = 255  # what most file systems allow for one name
MAX_SIZE = 10**20 - 1  # 20 decimal digits
ERROR_CODES = ("bad-header", "bad-name", "too-large", "incomplete", "timeout", "io-error")

# "0", or digits without a leading zero; int() would also take "+5", " 5", "1_000" and "٥".
_SIZE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_DECIMAL = re.compile(r"[0-9]{1,20}", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Names Windows keeps for devices, with or without an extension (COM¹… count too).
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                    *(f"{p}{i}" for p in ("COM", "LPT") for i in (*"0123456789", "¹", "²", "³"))}


def N_(message: str) -> str:
    """Marks a message for the catalog; this layer imports nothing of the package, so the layers above
    translate it (:func:`socketlab.i18n.retold`)."""
    return message


class Reason(str):
    """A reason in English that keeps its template and values, so a layer speaking the student's
    language can say it again: ``_(reason.template).format(**reason.values)``."""

    def __new__(cls, template: str, **values):
        reason = super().__new__(cls, template.format(**values))
        reason.template, reason.values = template, values
        return reason


class ProtocolError(Exception):
    """A message that breaks protocol version 1; ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str):
        assert code in ERROR_CODES, code
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class LocalProtocolError(ProtocolError, ValueError):
    """We were asked to send something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


@dataclass(frozen=True)
class FileHeader:
    size: int
    name: str


@dataclass(frozen=True)
class Ready:
    pass


@dataclass(frozen=True)
class Ok:
    size: int
    sha256: str
    saved_name: str


@dataclass(frozen=True)
class ErrorReply:
    code: str
    message: str


# ---- names ------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a saved file's name, or None if it can.

    A name is one path component that every system the course runs on can
    hold: not empty, not ``.`` or ``..``, no ``/``, ``\\``, NUL, control or
    invisible format characters (bidi overrides, zero-width characters, a BOM),
    no leading or trailing space, no trailing dot, not a Windows device name
    (``CON``, ``NUL.txt``, ``COM1``…), at most 255 bytes in UTF-8.
    """
    if not name:
        return Reason(N_("the name is empty"))
    if not name.strip():
        return Reason(N_("the name is only spaces"))
    if name in (".", ".."):
        return Reason(N_("{name} is not a file name"), name=repr(name))
    for ch in name:
        if ch in "/\\":
            return Reason(N_("the name contains {char}: only a plain file name is allowed, no folders"), char=repr(ch))
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Zl", "Zp"):  # controls, line breaks
            return Reason(N_("the name contains the control character {char}"), char=repr(ch))
        if category == "Cf":  # invisible: U+202E makes "cod.exe" look like "exe.doc"
            return Reason(N_("the name contains the invisible character {char}"),
                          char=f"U+{ord(ch):04X} ({unicodedata.name(ch, '?')})")
    if name != name.strip(" "):
        return Reason(N_("the name starts or ends with a space"))
    if name.endswith("."):
        return Reason(N_("the name ends with a dot (Windows would drop it)"))
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return Reason(N_("the name is longer than {n} bytes in UTF-8"), n=MAX_NAME_BYTES)
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        return Reason(N_("{name} is a device name on Windows"), name=repr(name))
    return None


def check_name(name: str, *, error=LocalProtocolError) -> str:
    """Return ``name`` if it is a valid file name, else raise ``error("bad-name", why)``."""
    problem = name_problem(name)
    if problem:
        raise error("bad-name", problem)
    return name


def numbered_name(name: str, n: int) -> str:
    """The n-th alternative for a taken name: ``report.txt`` -> ``report (1).txt``.

    The stem is shortened when needed so that the result, extension kept, still
    fits in :data:`MAX_NAME_BYTES`.
    """
    if n == 0:
        return name
    stem, ext = os.path.splitext(name)
    suffix = f" ({n}){ext}"
    if len(suffix.encode("utf-8")) > MAX_NAME_BYTES // 2:  # an "extension" that is most of the name
        stem, suffix = name, f" ({n})"
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    while len(stem.encode("utf-8", "surrogatepass")) > room:
        stem = stem[:-1]
    return stem.rstrip(" .") + suffix


# ---- client -> server -----------------------------------------------------------


def build_header(size: int, name: str) -> bytes:
    """``FILE <size> <name>\\n``; raises :class:`LocalProtocolError` for a bad size, or a name that would
    break the line. Whether a name is safe to save is the server's to judge (:func:`check_name`; the
    course's client asks it too, before connecting): this half of the protocol is all a client needs."""
    if not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        raise LocalProtocolError("bad-header", Reason(N_("size must be a whole number from 0 to {limit}, got {size}"),
                                                     limit=MAX_SIZE, size=repr(size)))
    if not isinstance(name, str) or not name or "\n" in name or "\r" in name:
        raise LocalProtocolError("bad-name", Reason(N_("a name must be one line of text, got {name}"),
                                                   name=_clip(repr(name))))
    try:
        data = f"FILE {size} {name}\n".encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not text
        raise LocalProtocolError("bad-name", Reason(N_("a name must be text that UTF-8 can encode"))) from None
    if len(data) > MAX_HEADER:
        raise LocalProtocolError("bad-name", Reason(N_("the header would be longer than {n} bytes"), n=MAX_HEADER))
    return data


def parse_header(line: bytes, *, max_size: int | None = None) -> FileHeader:
    """Parse one header line (with its ``\\n``) or raise :class:`RemoteProtocolError`."""
    if len(line) > MAX_HEADER:
        raise RemoteProtocolError("bad-header", Reason(N_("the header is longer than {n} bytes"), n=MAX_HEADER))
    if not line.endswith(b"\n"):
        raise RemoteProtocolError("bad-header", Reason(N_("the header must end with a newline")))
    # A line ending of "\r\n" (from telnet-like clients) is a line ending, not part of the name.
    body = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("bad-header", Reason(N_("the header is not valid UTF-8"))) from None
    parts = text.split(" ", 2)
    if len(parts) != 3 or parts[0] != "FILE":
        raise RemoteProtocolError("bad-header", Reason(N_("expected 'FILE <size> <name>', got {text}"),
                                                       text=repr(_clip(text))))
    _, size_text, name = parts
    if not _SIZE.fullmatch(size_text):
        raise RemoteProtocolError("bad-header", Reason(N_("the size must be decimal digits with no sign, spaces or "
                                                          "leading zero, got {size}"), size=repr(_clip(size_text))))
    if len(size_text) > len(str(MAX_SIZE)):
        raise RemoteProtocolError("too-large", Reason(N_("a size of {digits} digits is over the protocol's limit of "
                                                         "{limit}"), digits=len(size_text), limit=MAX_SIZE))
    size = int(size_text)
    check_name(name, error=RemoteProtocolError)
    if max_size is not None and size > max_size:
        raise RemoteProtocolError("too-large", Reason(N_("{size} bytes is over this server's limit of {limit}"),
                                                      size=size, limit=max_size))
    return FileHeader(size, name)


# ---- server -> client -----------------------------------------------------------


def build_ready() -> bytes:
    return b"READY\n"


def build_ok(size: int, sha256: str, saved_name: str) -> bytes:
    return f"OK {size} {sha256} {saved_name}\n".encode("utf-8")


def build_error(code: str, message: str) -> bytes:
    if code not in ERROR_CODES:
        raise LocalProtocolError("bad-header", f"unknown error code {code!r}")
    one_line = " ".join(message.split())  # the reply is one line whatever the message holds
    return f"ERROR {code} {one_line}\n".encode("utf-8")


def parse_reply(line: bytes) -> Ready | Ok | ErrorReply:
    """Parse one reply line from the server or raise :class:`RemoteProtocolError`."""
    if not line.endswith(b"\n"):
        raise RemoteProtocolError("bad-header", "the reply must end with a newline")
    try:
        text = line[:-1].decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("bad-header", "the reply is not valid UTF-8") from None
    if text == "READY":
        return Ready()
    kind, _, rest = text.partition(" ")
    if kind == "ERROR":
        code, _, message = rest.partition(" ")
        if code in ERROR_CODES:
            return ErrorReply(code, message)
    elif kind == "OK":
        parts = rest.split(" ", 2)
        if len(parts) == 3 and _DECIMAL.fullmatch(parts[0]) and _SHA256.fullmatch(parts[1]) and parts[2]:
            return Ok(int(parts[0]), parts[1], parts[2])
    raise RemoteProtocolError("bad-header", f"unexpected reply {_clip(text)!r}")


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width] + "…"

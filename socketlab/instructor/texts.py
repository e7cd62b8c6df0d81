"""Text the grader writes, made so that writing it can never fail and showing it can never lie.

What reaches the gradebook, the pages, Moodle's files and the terminal comes from
students: folder and file names (from a zip made on Windows, in a code page the
system cannot decode), the text of an exception (with a lone surrogate), names
with newlines, terminal escapes or a right-to-left override. :func:`visible`
turns any of it into text that every UTF-8 writer takes and every reader sees as
it is: an undecodable byte as ``\\xd2``, a lone surrogate as ``\\udcff``, a control
or invisible format character as its escape.
"""

from __future__ import annotations

import hashlib
import unicodedata

__all__ = ["visible", "student_folder"]

_HIDDEN = {"Cc", "Cf", "Zl", "Zp"}  # control, format (bidi overrides, zero widths), line and paragraph separators


def visible(text: str, keep: str = "") -> str:
    """``text`` with what could fail a writer or mislead a reader escaped; the characters in ``keep`` stay."""
    if text.isprintable() or all(c in keep or c.isprintable() for c in text):
        return text  # the usual case, at once
    out = []
    for c in text:
        code = ord(c)
        if 0xDC80 <= code <= 0xDCFF:  # a byte os.listdir could not decode (surrogateescape): the byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif c in keep or unicodedata.category(c) not in _HIDDEN:
            out.append(c)
        else:
            out.append(c.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def student_folder(student: str) -> str:
    """A student's key as one safe folder name, a different one for every key.

    Where making it safe changed the key (a ``/``, a trailing dot or space, a leading ``=``), or a system
    that ignores case could take it for another (``A-honest``, ``a-honest``), a short hash of the key
    itself follows: two students never share a folder, on any system.
    """
    safe = "".join(c if c.isalnum() or c in " ._-" else "_" for c in student).strip(" .") or "student"
    if safe == student and student == student.lower():
        return safe
    return f"{safe[:80]}-{hashlib.sha256(student.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"

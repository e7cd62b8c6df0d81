"""The language of what the package says to a student: English, or Ukrainian after ``use_language("uk")``.

Messages are marked with ``_()`` (``ngettext()`` where a number decides the
form, ``N_()`` for a module-level constant translated where it is used) and
looked up in a standard gettext catalog, ``locale/<lang>/LC_MESSAGES/socketlab.mo``.
Messages with values use named placeholders, filled in after the lookup::

    _("sent {sent}, got back {got}: {hint}").format(sent=..., got=..., hint=...)

The ``.po`` files are the source; ``.mo`` files are compiled from them: into
the wheel at build time (setup.py), and in a source tree (an editable install)
by ``make translations`` or here at first use, whenever the ``.mo`` is missing
or older than its ``.po``.  The compiler below uses the standard library only,
so neither a build nor a student's install needs Babel; Babel extracts the
messages (``make translations``) and checks the catalogs (tests/test_i18n.py).

The language is the process's: a notebook calls ``socketlab.use_language("uk")``
in its first cell; the command line takes ``--lang`` or the environment
(``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``).  English is the default,
and a language with no catalog falls back to English without an error.

This module imports nothing of the package, so setup.py can load it by path.
"""

from __future__ import annotations

import ast
import array
import gettext
import io
import os
import re
import struct
from pathlib import Path

__all__ = ["use_language", "language", "translated", "retold", "language_from_environment", "available_languages",
           "_", "ngettext", "N_", "compile_po", "compile_catalogs"]

DOMAIN = "socketlab"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT = "en"

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = DEFAULT


def _(message: str) -> str:
    """``message`` in the current language (itself in English, or when it has no translation)."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a message for the number ``n`` (Ukrainian has three: 1 клієнт, 2 клієнти, 5 клієнтів)."""
    return _translation.ngettext(singular, plural, n)


def retold(message: str) -> str:
    """A message made in English by a layer that speaks no other language (a ``protocol.Reason``,
    which keeps its template and values), in the current language; any other text as it is."""
    template = getattr(message, "template", None)
    if template is None:
        return message
    return _(template).format(**message.values)


def translated(message: str, lang: str) -> str:
    """``message`` in ``lang``, whatever the process speaks (a released notebook speaks its edition's)."""
    for candidate in _candidates(lang):
        found = _load(candidate)
        if found is not None:
            return found.gettext(message)
    return message


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now: ``_(CONSTANT)`` translates it later."""
    return message


def language() -> str:
    """The language in use: ``"en"``, or one with a catalog such as ``"uk"``."""
    return _language


def available_languages() -> list[str]:
    """The languages with a catalog, and English."""
    found = {DEFAULT}
    if LOCALE_DIR.is_dir():
        for entry in LOCALE_DIR.iterdir():
            messages = entry / "LC_MESSAGES"
            if (messages / f"{DOMAIN}.mo").is_file() or (messages / f"{DOMAIN}.po").is_file():
                found.add(entry.name)
    return sorted(found)


def _candidates(lang: str) -> list[str]:
    """``uk_UA.UTF-8`` → ``["uk_UA", "uk"]``; ``uk-ua`` → ``["uk_UA", "uk"]``."""
    code = lang.strip().split(".")[0].split("@")[0].replace("-", "_")
    if not re.fullmatch(r"[A-Za-z]{2,3}(_[A-Za-z0-9]{2,3})?", code):  # a language code, never a path
        return []
    base, _sep, region = code.partition("_")
    base = base.lower()
    return [f"{base}_{region.upper()}", base] if region else [base]


def _load(lang: str) -> gettext.NullTranslations | None:
    """The catalog of ``lang`` (e.g. ``uk``), compiled from its .po if the .mo is missing or stale."""
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    try:
        if po.is_file() and (not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime):
            data = compile_po(po.read_text(encoding="utf-8"))
            _write_atomically(mo, data)  # for the next start; the catalog works without it
            return gettext.GNUTranslations(io.BytesIO(data))
        if mo.is_file():
            with open(mo, "rb") as f:
                return gettext.GNUTranslations(f)
    except (OSError, ValueError, SyntaxError):  # a broken catalog: English rather than an error
        return None
    return None


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:  # a read-only install: compiled in memory each time instead
        try:
            tmp.unlink()
        except OSError:
            pass


def use_language(lang: str | None = "en") -> str:
    """Speak ``lang`` (``"uk"``, ``"uk_UA.UTF-8"``, ``"en"``…) from now on in this process; returns it.

    A language without a catalog means English, with no error.
    """
    global _translation, _language
    for candidate in _candidates(lang or ""):
        if candidate == DEFAULT or candidate.startswith(DEFAULT + "_"):
            break
        catalog = _load(candidate)
        if catalog is not None:
            _translation, _language = catalog, candidate.split("_")[0]
            return _language
    _translation, _language = gettext.NullTranslations(), DEFAULT
    return _language


def language_from_environment(environ=None) -> str:
    """The language the environment asks for, as gettext reads it: the first of
    ``LANGUAGE`` (a colon-separated list), ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set;
    within ``LANGUAGE``, the first entry with a catalog.  ``C`` and ``POSIX`` are English."""
    environ = os.environ if environ is None else environ
    known = set(available_languages())
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable, "")
        if not value:
            continue
        for entry in value.split(":"):
            if entry in ("C", "POSIX") or entry.startswith("C."):
                return DEFAULT
            names = _candidates(entry)
            if any(n in known for n in names):
                return names[-1] if names[-1] in known else names[0]
        return DEFAULT
    return DEFAULT


# ---- .po → .mo, with the standard library only (after CPython's Tools/i18n/msgfmt.py) ----------------


def read_po(text: str) -> dict[str, str]:
    """The translated messages of a .po file, as gettext keys them in a .mo.

    Plural forms are keyed ``msgid\\0msgid_plural`` with their forms joined by NUL;
    a context is ``msgctxt\\x04msgid``.  Fuzzy, obsolete and untranslated
    entries are left out, as msgfmt does; the header (``msgid ""``) is kept.
    """
    messages: dict[str, str] = {}
    entry: dict[str, str] = {}
    field = ""
    fuzzy = False

    def finish() -> None:
        nonlocal entry, fuzzy
        if "msgid" in entry:
            key = entry["msgid"]
            if "msgid_plural" in entry:
                key += "\0" + entry["msgid_plural"]
                forms = [entry[k] for k in sorted((k for k in entry if k.startswith("msgstr[")),
                                                  key=lambda k: int(k[7:-1]))]
                value = "\0".join(forms)
                translated = all(forms)
            else:
                value = entry.get("msgstr", "")
                translated = bool(value)
            if "msgctxt" in entry:
                key = entry["msgctxt"] + "\x04" + key
            if translated and (not fuzzy or key == ""):
                messages[key] = value
        entry, fuzzy = {}, False

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if field and not line.startswith("#~"):  # a comment starts the next entry
                finish()
                field = ""
            if line.startswith("#,") and "fuzzy" in [f.strip() for f in line[2:].split(",")]:
                fuzzy = True
            continue
        keyword, _sep, rest = line.partition(" ")
        if keyword.startswith('"'):  # a continuation of the field before
            if not field:
                raise ValueError(f"line {number} of the .po: a string outside an entry")
            entry[field] += _unquote(line, number)
            continue
        if field and (keyword == "msgctxt" or (keyword == "msgid" and field != "msgctxt")):
            finish()
        if keyword not in ("msgctxt", "msgid", "msgid_plural", "msgstr") and not keyword.startswith("msgstr["):
            raise ValueError(f"line {number} of the .po: unknown keyword {keyword!r}")
        field = keyword
        entry[field] = _unquote(rest.strip(), number)
    finish()
    return messages


def _unquote(literal: str, number: int) -> str:
    if not (len(literal) >= 2 and literal[0] == literal[-1] == '"'):
        raise ValueError(f"line {number} of the .po: expected a quoted string, got {literal!r}")
    return ast.literal_eval(literal)


def compile_po(text: str) -> bytes:
    """The .mo file (GNU gettext's binary format) of a .po file's text."""
    messages = read_po(text)
    keys = sorted(messages)  # the format wants the original strings sorted
    ids = strs = b""
    offsets = []
    for key in keys:
        k, v = key.encode("utf-8"), messages[key].encode("utf-8")
        offsets.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    start_ids = 7 * 4 + 16 * len(keys)  # the header, then the two tables of (length, offset)
    start_strs = start_ids + len(ids)
    table = []
    for id_offset, id_length, str_offset, str_length in offsets:
        table += [id_length, start_ids + id_offset]
    for id_offset, id_length, str_offset, str_length in offsets:
        table += [str_length, start_strs + str_offset]
    header = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    return header + array.array("i", table).tobytes() + ids + strs


def compile_catalogs(locale_dir: Path | str = LOCALE_DIR, *, remove_po: bool = False) -> list[Path]:
    """Compile every ``<lang>/LC_MESSAGES/*.po`` under ``locale_dir`` into its ``.mo``; returns the .mo files.

    ``remove_po`` drops each .po once compiled (a wheel carries the .mo files only).
    """
    written = []
    for po in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        data = compile_po(po.read_text(encoding="utf-8"))
        gettext.GNUTranslations(io.BytesIO(data))  # refuse to write what gettext could not read
        mo.write_bytes(data)
        written.append(mo)
        if remove_po:
            po.unlink()
    return written


if __name__ == "__main__":  # python socketlab/i18n.py: compile the catalogs of the source tree
    for path in compile_catalogs():
        print(path)

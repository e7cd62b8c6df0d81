"""Submissions in as they come: a folder or a zip, in Moodle's "Download all submissions" layout or plain.

Two layouts are understood, also mixed:

- plain: ``SUBMISSIONS/<student>/01_echo.ipynb``;
- Moodle's download: ``Surname Name_12345_assignsubmission_file_/`` (the participant
  id is 12345; Moodle 4.1 and later drop the last ``_``; ``onlinetext`` folders hold
  typed text, no notebook), or with "download submissions in folders" off, files
  named ``Surname Name_12345_assignsubmission_file_01_echo.ipynb`` side by side.

In a student's folder the notebooks may be renamed (``01_echo (1).ipynb``), inside a
zip (``lab4.zip``), or in a folder inside that zip: a notebook counts for
``01_echo.ipynb`` when its name starts with ``01_`` and ends with ``.ipynb``. If
several do, the newest is graded and the others are named in the notes.

Zips are never trusted: :func:`safe_extract` refuses, before writing anything, an
archive with more than ``MAX_ENTRIES`` entries or ``MAX_TOTAL`` bytes unpacked
(``MAX_STUDENT_TOTAL`` for a zip a student handed in), packed more than ``MAX_RATIO``
times in all, or with an entry that is absolute, climbs out with ``..``, is a link or
a device, is encrypted, or is packed more than ``MAX_RATIO`` times; it writes each file itself (never
``extractall``) with ``O_EXCL | O_NOFOLLOW`` inside a folder it has just made, and
stops the moment the bytes read exceed what the archive declared. A zip inside a
zip is opened (one level); a zip inside that one is not.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .texts import visible

__all__ = ["Submission", "HostileArchive", "collect", "safe_extract", "MAX_ENTRIES", "MAX_TOTAL", "MAX_RATIO",
           "MAX_STUDENT_TOTAL"]

MAX_ENTRIES = 10_000
MAX_TOTAL = 1 * 2**30         # bytes unpacked, for one archive
MAX_ENTRY = 64 * 2**20        # bytes unpacked, for one file of it
MAX_RATIO = 100               # unpacked / packed: for an entry over 1 MiB, and for a whole archive over 1 MiB
MAX_STUDENT_TOTAL = 256 * 2**20  # bytes unpacked, for a zip a student handed in (notebooks and their files)
_MOODLE_FOLDER = re.compile(r"^(?P<name>.*?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[A-Za-z0-9]+)_?$")
_MOODLE_FILE = re.compile(r"^(?P<name>.*?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[A-Za-z0-9]+)_(?P<file>.+)$")
_MAX_DEPTH = 6                # folders searched below a student's folder


class HostileArchive(Exception):
    """A zip we will not unpack: the message says which entry and why."""


@dataclass
class Submission:
    """One student's hand-in: who, and the file chosen for each notebook of the course."""

    key: str                     # unique in the class: the folder name, or "Surname Name_12345"
    name: str = ""               # the full name, as the LMS gave it
    participant: str = ""        # Moodle's participant id ("" outside Moodle)
    notebooks: dict[str, Path] = field(default_factory=dict)  # course notebook name -> file to grade
    notes: list[str] = field(default_factory=list)            # what could not be matched, and choices made
    folder: str = ""             # the LMS folder name feedback goes back under ("" if none)


# ---- zips ---------------------------------------------------------------------------------------


def _entry_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:  # no UTF-8 flag: many tools write UTF-8 anyway
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _parts(name: str) -> list[str]:
    """The path components of an entry, or HostileArchive if it could land outside the folder."""
    if "\x00" in name:
        raise HostileArchive(f"entry {name!r} has a NUL byte in its name")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        raise HostileArchive(f"entry {name!r} is an absolute path")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise HostileArchive(f"entry {name!r} climbs out of the folder with '..'")
    if any(len(p.encode("utf-8")) > 255 for p in parts):
        raise HostileArchive(f"entry {name[:80]!r}… has a name longer than 255 bytes")
    return parts


def _check(zf: zipfile.ZipFile, limit: int = MAX_TOTAL) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise HostileArchive(f"it has {len(infos)} entries, more than {MAX_ENTRIES}")
    total, packed = sum(i.file_size for i in infos), sum(i.compress_size for i in infos)
    if total > limit:
        raise HostileArchive(f"it unpacks to {total} bytes, more than {limit}")
    # By the whole, too: many entries just under 1 MiB each make a bomb no single entry shows.
    if total > 2**20 and total > MAX_RATIO * max(packed, 1):
        raise HostileArchive(f"it is packed {total // max(packed, 1)} times in all (a zip bomb?): at most {MAX_RATIO}")
    entries = []
    for info in infos:
        name = _entry_name(info)
        parts = _parts(name)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise HostileArchive(f"entry {name!r} is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise HostileArchive(f"entry {name!r} is not a file or a folder")
        if info.flag_bits & 0x1:
            raise HostileArchive(f"entry {name!r} is encrypted")
        if info.file_size > MAX_ENTRY:
            raise HostileArchive(f"entry {name!r} unpacks to {info.file_size} bytes, more than {MAX_ENTRY}")
        if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise HostileArchive(f"entry {name!r} is packed {info.file_size // max(info.compress_size, 1)} times "
                                 f"(a zip bomb?): at most {MAX_RATIO}")
        if parts:
            entries.append((info, parts))
    return entries


def safe_extract(archive: Path, dest: Path, limit: int = MAX_TOTAL) -> list[Path]:
    """Unpack ``archive`` into the new folder ``dest`` (which must not exist); the files written.

    Refuses with :class:`HostileArchive` (and leaves no ``dest``) if any entry is hostile, or the
    whole would unpack to more than ``limit`` bytes or more than ``MAX_RATIO`` times its packed size.
    """
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise HostileArchive(f"it is not a zip file we can read ({exc})") from None
    with zf:
        entries = _check(zf, limit)
        dest.mkdir(parents=False)
        root = dest.resolve()
        written: list[Path] = []
        budget = limit
        try:
            for info, parts in entries:
                target = root.joinpath(*parts)
                if not target.is_relative_to(root):  # cannot happen after _parts; be sure
                    raise HostileArchive(f"entry {info.filename!r} leaves the folder")
                if info.is_dir():
                    _mkdirs(root, parts)
                    continue
                _mkdirs(root, parts[:-1])
                budget = _write(zf, info, target, budget)
                os.utime(target, (_mtime(info),) * 2)
                written.append(target)
        except HostileArchive:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise HostileArchive(f"it could not be unpacked: {exc}") from None
    return written


def _mkdirs(root: Path, parts: list[str]) -> None:
    here = root
    for part in parts:
        here = here / part
        try:
            os.mkdir(here, 0o700)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(here).st_mode):
                raise HostileArchive(f"{'/'.join(parts)!r} is both a file and a folder in the zip") from None


def _write(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise HostileArchive(f"entry {info.filename!r} appears twice") from None
    size = 0
    with zf.open(info) as src, open(fd, "wb") as out:
        while block := src.read(2**16):
            size += len(block)
            budget -= len(block)
            if size > info.file_size or budget < 0:  # the archive lied about its sizes
                raise HostileArchive(f"entry {info.filename!r} unpacks to more than it declares")
            out.write(block)
    return budget


def _mtime(info: zipfile.ZipInfo) -> float:
    import time

    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return 0.0


# ---- finding the notebooks ------------------------------------------------------------------------


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _files(folder: Path, depth: int = 0) -> list[Path]:
    """Every entry under ``folder`` that is not a folder, hidden and macOS litter left out.

    Symbolic links are listed, never followed: a link named like a notebook is chosen like one
    and then refused by the grader's reading (``invalid``), as any file that is not a regular one.
    """
    found = []
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return found
    for name in entries:
        if name.startswith(".") or name == "__MACOSX":
            continue
        path = folder / name
        if _is_dir(path):
            if depth < _MAX_DEPTH:
                found += _files(path, depth + 1)
        elif os.path.lexists(path):
            found.append(path)
    return found


def _prefix(notebook: str) -> str:
    match = re.match(r"^(\d+)_", notebook)
    return match.group(1) + "_" if match else notebook.removesuffix(".ipynb")


def _choose(submission: Submission, files: list[tuple[str, Path]], names: list[str]) -> None:
    """Pick the file for each course notebook among ``(shown name, path)``; note the rest."""
    used = set()
    for notebook in names:
        prefix = _prefix(notebook)
        matches = [(shown, path) for shown, path in files
                   if Path(shown).name.startswith(prefix) and Path(shown).name.endswith(".ipynb")]
        if not matches:
            submission.notes.append(f"{notebook}: no notebook named {prefix}….ipynb was handed in")
            continue
        matches.sort(key=lambda m: (os.lstat(m[1]).st_mtime, Path(m[0]).name == notebook, m[0]), reverse=True)
        submission.notebooks[notebook] = matches[0][1]
        used.update(path for _, path in matches)
        if len(matches) > 1:
            others = ", ".join(shown for shown, _ in matches[1:])
            submission.notes.append(f"{notebook}: graded {matches[0][0]} (the newest); not graded: {others}")
    for shown, path in files:
        if path not in used and shown.endswith(".ipynb"):
            submission.notes.append(f"not matched to any notebook of the course: {shown}")


def _gather(submission: Submission, roots: list[Path], work: Path) -> list[tuple[str, Path]]:
    """``(shown name, path)`` of every file the student handed in; their zips unpacked into ``work``.

    A student's zip is opened (whether the class came as a folder or in Moodle's zip); a zip
    inside it is not.
    """
    files: list[tuple[str, Path]] = []
    for root in roots:
        candidates = _files(root) if _is_dir(root) else [root]
        for path in candidates:
            shown = path.name if not _is_dir(root) else str(path.relative_to(root))
            if path.suffix.lower() != ".zip":
                files.append((shown, path))
                continue
            if not _is_file(path):
                submission.notes.append(f"{shown}: not a regular file, not opened")
                continue
            target = work / f"{len(list(work.iterdir())) if work.exists() else 0}"
            work.mkdir(parents=True, exist_ok=True)
            try:
                unpacked = safe_extract(path, target, MAX_STUDENT_TOTAL)
            except HostileArchive as exc:
                submission.notes.append(f"{shown}: refused: {exc}")
                continue
            for inner in unpacked:
                inner_shown = f"{shown}/{inner.relative_to(target)}"
                if inner.suffix.lower() == ".zip":
                    submission.notes.append(f"{inner_shown}: a zip inside a zip is not opened")
                else:
                    files.append((inner_shown, inner))
    return files


def _unprefixed(shown: str) -> str:
    """A name from Moodle's flat layout without its ``Surname Name_12345_assignsubmission_file_``."""
    first, sep, rest = shown.partition("/")
    match = _MOODLE_FILE.match(first)
    return (match["file"] if match else first) + sep + rest


def _unique(key: str, taken) -> str:
    """``key``, or ``key (2)``… if another folder already shows as ``key`` (each folder is one student)."""
    n, unique = 1, key
    while unique in taken:
        n += 1
        unique = f"{key} ({n})"
    return unique


def collect(submissions, names: list[str], work) -> list[Submission]:
    """The class in ``submissions`` (a folder or a zip); ``names``: the course's notebooks.

    Anything unpacked goes under ``work`` (a folder of the grader's that must not exist yet);
    a hostile top-level zip raises :class:`HostileArchive`.
    """
    submissions, work = Path(submissions), Path(work)
    work.mkdir(parents=True)
    if _is_file(submissions):
        safe_extract(submissions, work / "download")
        submissions = work / "download"
        entries = [e for e in os.listdir(submissions) if not e.startswith(".") and e != "__MACOSX"]
        if len(entries) == 1 and _is_dir(submissions / entries[0]) and any(
                _MOODLE_FOLDER.match(e) or _MOODLE_FILE.match(e) for e in os.listdir(submissions / entries[0])):
            submissions = submissions / entries[0]  # the download was zipped in a folder of its own
    elif not _is_dir(submissions):
        raise FileNotFoundError(f"no such folder or zip: {submissions}")
    groups: dict[str, tuple[Submission, list[Path]]] = {}
    for raw in sorted(os.listdir(submissions)):
        if raw.startswith(".") or raw == "__MACOSX":
            continue
        path = submissions / raw
        # A name as it can be shown and written: a byte the system could not decode (a zip made on
        # Windows) as \xd2, a control or invisible character as its escape (socketlab.instructor.texts).
        entry = visible(raw)
        folder, flat = _MOODLE_FOLDER.match(entry), _MOODLE_FILE.match(entry)
        if _is_dir(path) and folder:
            name, pid = folder["name"].strip(), folder["id"]
        elif _is_file(path) and flat and not folder:
            name, pid = flat["name"].strip(), flat["id"]
        elif _is_dir(path):
            key = _unique(entry, groups)
            groups[key] = (Submission(key=key, name=key), [path])
            continue
        else:
            continue  # a stray file at the top: not a student's
        key = f"{name}_{pid}"
        sub, roots = groups.setdefault(key, (Submission(key=key, name=name, participant=pid,
                                                        folder=f"{name}_{pid}_assignsubmission_file_"), []))
        roots.append(path)
    found = []
    for key, (sub, roots) in sorted(groups.items()):
        files = _gather(sub, roots, work / "students" / f"{len(found)}")
        files = [(_unprefixed(shown), path) for shown, path in files]
        _choose(sub, files, names)
        found.append(sub)
    return found

"""``socketlab course DEST``: copy the course's notebooks and data out of the package.

An installed socketlab (a wheel, Binder, ``pip install``) carries the notebooks of
``notebooks/`` inside it, under ``socketlab/_course/``: ``setup.py`` copies them there
when the package is built, so ``notebooks/`` stays their only source.  An editable
install from a checkout has no copy and reads ``notebooks/`` itself.

A file already in DEST is never overwritten: one identical to the course's is left as
it is, one that differs (a student's work) is kept and named in the report.
This module uses the standard library only: ``setup.py`` loads it to pick the files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LANGUAGES", "CourseMissing", "CopyReport", "course_files", "course_source", "copy_course"]

PACKAGED = Path(__file__).resolve().with_name("_course")  # in a built package
CHECKOUT = Path(__file__).resolve().parent.parent / "notebooks"  # an editable install

LANGUAGES = {"en": "", "uk": "uk"}  # --lang -> the edition's folder inside notebooks/

# Never part of a course copy: what running the notebooks leaves behind.
EXCLUDE_PARTS = {".ipynb_checkpoints", "__pycache__", "uploads"}


class CourseMissing(Exception):
    """The course (or the asked-for edition of it) is not in this installation."""


@dataclass
class CopyReport:
    dest: Path
    copied: list[str] = field(default_factory=list)  # new in DEST
    unchanged: list[str] = field(default_factory=list)  # already there, identical
    kept: list[str] = field(default_factory=list)  # already there and changed: left alone


def is_course_file(rel: str) -> bool:
    """Whether ``rel`` (a POSIX path inside notebooks/) belongs to the course.

    The notebooks of the top folder and of each edition's folder, and everything
    in their ``data/`` folders.
    """
    parts = rel.split("/")
    if EXCLUDE_PARTS & set(parts):
        return False
    if parts[0] in LANGUAGES.values() and parts[0] and len(parts) > 1:
        parts = parts[1:]
    return (len(parts) == 1 and parts[0].endswith(".ipynb")) or (len(parts) > 1 and parts[0] == "data")


def course_files(root: Path) -> list[str]:
    """The course's files under ``root`` (a ``notebooks/`` folder), as sorted POSIX paths."""
    return sorted(rel for path in root.rglob("*")
                  if path.is_file() and not path.is_symlink()
                  and is_course_file(rel := path.relative_to(root).as_posix()))


def course_source() -> Path:
    """Where this installation keeps the course: the packaged copy, else the checkout's notebooks/."""
    for root in (PACKAGED, CHECKOUT):
        if root.is_dir() and any(root.glob("*.ipynb")):
            return root
    raise CourseMissing(f"this installation of socketlab has no course notebooks (looked in {PACKAGED} "
                        f"and {CHECKOUT}); reinstall it with pip from the course's repository")


def edition_files(root: Path, lang: str) -> dict[str, str]:
    """``{path in DEST: path under root}`` for one edition.

    English: the notebooks and data/ of the top folder.  Ukrainian: the notebooks of
    uk/, with uk/data/ if it has one, else the shared data/ (the paths in the
    notebooks are the same in both editions).
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: choose one of {', '.join(LANGUAGES)}")
    files = course_files(root)
    sub = LANGUAGES[lang]
    if not sub:
        return {f: f for f in files if not f.startswith("uk/")}
    mine = {f[len(sub) + 1:]: f for f in files if f.startswith(sub + "/")}
    if not any(f.endswith(".ipynb") for f in mine):
        raise CourseMissing(f"the Ukrainian edition (notebooks/{sub}/) is not in this version of the course "
                            "yet; `socketlab course DEST` copies the English one, whose notebooks quote "
                            "every task in Ukrainian too")
    if not any(f.startswith("data/") for f in mine):
        mine.update({f: f for f in files if f.startswith("data/")})
    return dict(sorted(mine.items()))


def copy_course(dest, lang: str = "en", *, student_copy=None) -> CopyReport:
    """Copy one edition of the course into ``dest`` (created if missing); never overwrites.

    A packaged course holds student copies already. The checkout's notebooks are the
    instructor's, with the answers: ``student_copy(path) -> bytes`` turns each into a
    student copy (the command line passes the instructor's release).
    """
    root = course_source()
    plan = edition_files(root, lang)
    report = CopyReport(Path(dest))
    for target, source in plan.items():
        src, dst = root / source, report.dest / target
        data = student_copy(src) if student_copy and root == CHECKOUT and src.suffix == ".ipynb" else src.read_bytes()
        if dst.exists() or dst.is_symlink():
            if dst.is_file() and not dst.is_symlink() and dst.read_bytes() == data:
                report.unchanged.append(target)
            else:
                report.kept.append(target)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(dst, "xb") as fout:  # "x": never over a file made meanwhile
            fout.write(data)
        report.copied.append(target)
    return report

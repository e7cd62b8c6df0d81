"""Submissions as Moodle's "Download all submissions" makes them, and zips that must be refused."""

import io
import os
import stat
import time
import zipfile
from pathlib import Path

import pytest

from socketlab.instructor import intake
from socketlab.instructor.intake import HostileArchive, collect, safe_extract

NAMES = ["01_echo.ipynb", "02_many_clients.ipynb", "03_file_transfer.ipynb"]
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def zip_bytes(entries, *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``(name, bytes, date_time)`` entries, flagged UTF-8 as Moodle writes them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data, when in entries:
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return buf.getvalue()


OLD, NEW = (2026, 11, 20, 10, 0, 0), (2026, 11, 28, 18, 30, 0)


def moodle_download(path: Path) -> Path:
    """The zip of an assignment with 'download submissions in folders' on (Moodle 3.1 and later)."""
    lab4 = zip_bytes([("lab4/02_many_clients.ipynb", NB, NEW), ("lab4/03_file_transfer.ipynb", NB, NEW),
                      ("__MACOSX/lab4/._02_many_clients.ipynb", b"junk", NEW)])
    path.write_bytes(zip_bytes([
        ("Шевченко Тарас_12345_assignsubmission_file_/01_echo (1).ipynb", NB, NEW),
        ("Шевченко Тарас_12345_assignsubmission_file_/01_echo.ipynb", NB, OLD),
        ("Шевченко Тарас_12345_assignsubmission_file_/lab4.zip", lab4, NEW),
        ("Шевченко Тарас_12345_assignsubmission_onlinetext_/onlinetext.html", b"<p>done</p>", NEW),
        ("Ivanenko Olena_12346_assignsubmission_file_/01_echo.ipynb", NB, NEW),
        ("Ivanenko Olena_12346_assignsubmission_file_/notes.ipynb", NB, NEW),
        ("Petrenko Ivan_12347_assignsubmission_onlinetext_/onlinetext.html", b"<p>no files</p>", NEW),
        ("Kovalenko Anna_12348_assignsubmission_file/02_many_clients.ipynb", NB, NEW),  # Moodle 4.1: no last _
    ]))
    return path


def test_moodle_download_in_folders(tmp_path):
    found = {s.participant: s for s in collect(moodle_download(tmp_path / "download.zip"), NAMES, tmp_path / "work")}
    assert set(found) == {"12345", "12346", "12347", "12348"}
    taras = found["12345"]
    assert taras.name == "Шевченко Тарас" and taras.key == "Шевченко Тарас_12345"
    assert taras.folder == "Шевченко Тарас_12345_assignsubmission_file_"
    assert taras.notebooks["01_echo.ipynb"].name == "01_echo (1).ipynb"  # the newest of the two
    assert taras.notebooks["02_many_clients.ipynb"].name == "02_many_clients.ipynb"
    assert "lab4" in str(taras.notebooks["03_file_transfer.ipynb"])
    assert any("01_echo (1).ipynb (the newest)" in n and "01_echo.ipynb" in n for n in taras.notes)
    olena = found["12346"]
    assert set(olena.notebooks) == {"01_echo.ipynb"}
    assert any("notes.ipynb" in n for n in olena.notes)
    assert any(n.startswith("02_many_clients.ipynb:") for n in olena.notes)
    assert found["12347"].notebooks == {} and len(found["12347"].notes) == 3
    assert set(found["12348"].notebooks) == {"02_many_clients.ipynb"}
    for sub in found.values():  # everything unpacked stays in the work folder
        assert all(p.resolve().is_relative_to((tmp_path / "work").resolve()) for p in sub.notebooks.values())


def test_moodle_download_without_folders_and_an_unzipped_download(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "Шевченко Тарас_12345_assignsubmission_file_01_echo.ipynb").write_bytes(NB)
    (flat / "Шевченко Тарас_12345_assignsubmission_file_lab.zip").write_bytes(
        zip_bytes([("02_many_clients.ipynb", NB, NEW)]))
    (flat / "stray.txt").write_text("not a student")
    (flat / "plain-student").mkdir()
    (flat / "plain-student" / "03_file_transfer.ipynb").write_bytes(NB)
    found = {s.key: s for s in collect(flat, NAMES, tmp_path / "work")}
    assert set(found) == {"Шевченко Тарас_12345", "plain-student"}
    assert set(found["Шевченко Тарас_12345"].notebooks) == {"01_echo.ipynb", "02_many_clients.ipynb"}
    assert found["plain-student"].participant == "" and found["plain-student"].name == "plain-student"


def test_symlinks_in_a_folder_are_not_followed(tmp_path):
    subs = tmp_path / "subs"
    (subs / "student").mkdir(parents=True)
    (subs / "student" / "01_echo.ipynb").symlink_to("/etc/passwd")
    (subs / "linked").symlink_to(tmp_path)
    (subs / "student" / "lab.zip").symlink_to(tmp_path / "elsewhere.zip")
    found = collect(subs, NAMES, tmp_path / "work")
    assert [s.key for s in found] == ["student"]  # the linked folder is no student
    # the link is chosen as it is, for the grader's reading to refuse it (invalid); the linked zip is not opened
    assert found[0].notebooks == {"01_echo.ipynb": subs / "student" / "01_echo.ipynb"}
    assert any("lab.zip: not a regular file" in n for n in found[0].notes)


def link_entry(name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def hostile(kind: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if kind == "dotdot":
            zf.writestr("ok/01_echo.ipynb", NB)
            zf.writestr("ok/../../escaped.txt", b"x")
        elif kind == "absolute":
            zf.writestr("/tmp/socketlab-absolute.txt", b"x")
        elif kind == "backslash":
            zf.writestr("..\\..\\escaped.txt", b"x")
        elif kind == "drive":
            zf.writestr("C:/escaped.txt", b"x")
        elif kind == "symlink":
            zf.writestr(*link_entry("student/01_echo.ipynb", "/etc/passwd"))
        elif kind == "bomb":
            zf.writestr("student/01_echo.ipynb", b"\0" * (20 * 2**20))
        elif kind == "many-small-bombs":  # every entry under 1 MiB, the whole packed 900 times
            for i in range(200):
                zf.writestr(f"student/part{i}.txt", b"\0" * (2**20 - 1))
        elif kind == "entries":
            for i in range(intake.MAX_ENTRIES + 1):
                zf.writestr(f"f{i}", b"")
        elif kind == "twice":
            zf.writestr("a/01_echo.ipynb", NB)
            zf.writestr("a/01_echo.ipynb", NB)
    return buf.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("kind", ["dotdot", "absolute", "backslash", "drive", "symlink", "bomb", "many-small-bombs",
                                  "entries", "twice"])
def test_a_hostile_zip_is_refused_and_writes_nothing_outside(tmp_path, kind):
    archive = tmp_path / "download.zip"
    archive.write_bytes(hostile(kind))
    before = sorted(p for p in tmp_path.parent.rglob("*") if not p.is_relative_to(tmp_path))
    with pytest.raises(HostileArchive) as refused:
        collect(archive, NAMES, tmp_path / "work" / "w")
    assert str(refused.value)  # says why
    assert sorted(p for p in tmp_path.parent.rglob("*") if not p.is_relative_to(tmp_path)) == before
    assert not (tmp_path / "work" / "w" / "download").exists()
    assert not Path("/tmp/socketlab-absolute.txt").exists()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sizes_that_lie_are_caught_while_unpacking(tmp_path, monkeypatch):
    archive = tmp_path / "liar.zip"
    archive.write_bytes(zip_bytes([("01_echo.ipynb", b"x" * 5000, NEW)]))
    real_check = intake._check

    def lying(zf, *limit):  # as if the central directory said 10 bytes
        entries = real_check(zf, *limit)
        for info, _ in entries:
            info.file_size = 10
        return entries

    monkeypatch.setattr(intake, "_check", lying)
    with pytest.raises(HostileArchive, match="more than it declares|could not be unpacked"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_hostile_zip_inside_a_submission_costs_only_that_student(tmp_path):
    subs = tmp_path / "subs"
    for student in ("bad", "good"):
        (subs / student).mkdir(parents=True)
    (subs / "bad" / "lab.zip").write_bytes(hostile("dotdot"))
    (subs / "good" / "lab.zip").write_bytes(zip_bytes([("lab/01_echo.ipynb", NB, NEW),
                                                       ("lab/inner.zip", zip_bytes([("02_x.ipynb", NB, NEW)]), NEW)]))
    found = {s.key: s for s in collect(subs, NAMES, tmp_path / "work")}
    assert found["bad"].notebooks == {} and any("refused" in n and ".." in n for n in found["bad"].notes)
    assert set(found["good"].notebooks) == {"01_echo.ipynb"}
    assert any("zip inside a zip" in n for n in found["good"].notes)  # one level of zips, no more
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_not_a_zip_is_refused(tmp_path):
    (tmp_path / "fake.zip").write_text("hello")
    with pytest.raises(HostileArchive, match="not a zip"):
        collect(tmp_path / "fake.zip", NAMES, tmp_path / "work")


def test_a_students_zip_bomb_of_small_entries_is_refused_whole_and_costs_only_that_student(tmp_path):
    subs = tmp_path / "subs"
    for student in ("bomber", "good"):
        (subs / student).mkdir(parents=True)
    (subs / "bomber" / "lab4.zip").write_bytes(hostile("many-small-bombs"))
    (subs / "good" / "01_echo.ipynb").write_bytes(NB)
    found = {s.key: s for s in collect(subs, NAMES, tmp_path / "work")}
    assert any("packed" in n and "times in all" in n for n in found["bomber"].notes), found["bomber"].notes
    assert set(found["good"].notebooks) == {"01_echo.ipynb"}
    written = sum(f.stat().st_size for f in (tmp_path / "work").rglob("*") if f.is_file())
    assert written < 2**20  # nothing of the 200 MiB was written


def test_a_students_zip_is_held_to_a_smaller_whole_than_the_download(tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # stored: no ratio to catch, only the size
        for i in range(5):
            zf.writestr(f"f{i}.bin", os.urandom(60 * 2**20))
    with pytest.raises(HostileArchive, match="more than"):
        safe_extract(archive, tmp_path / "out", intake.MAX_STUDENT_TOTAL)
    assert not (tmp_path / "out").exists()

"""``socketlab course DEST``: copying the course out, never over a student's work."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from socketlab import course
from socketlab.cli import main


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    """A small course in place of the installed one: two notebooks, data, and leftovers."""
    root = tmp_path / "notebooks"
    (root / "data").mkdir(parents=True)
    nbformat.write(new_notebook(), root / "01_echo.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("print(1)")]), root / "02_many_clients.ipynb")
    (root / "data" / "звіт.txt").write_bytes("Звіт\n".encode("cp1251"))
    for leftover in ("uploads/ok.txt", ".ipynb_checkpoints/01_echo-checkpoint.ipynb", "notes.md"):
        (root / leftover).parent.mkdir(parents=True, exist_ok=True)
        (root / leftover).write_text("not part of the course")
    monkeypatch.setattr(course, "PACKAGED", tmp_path / "not-built")
    monkeypatch.setattr(course, "CHECKOUT", root)
    return root


def test_the_course_is_the_notebooks_and_their_data_only(notebooks):
    assert course.course_files(notebooks) == ["01_echo.ipynb", "02_many_clients.ipynb", "data/звіт.txt"]


def test_the_packaged_copy_comes_first(notebooks, tmp_path, monkeypatch):
    assert course.course_source() == notebooks
    packaged = tmp_path / "_course"
    packaged.mkdir()
    (packaged / "01_echo.ipynb").write_text("{}")
    monkeypatch.setattr(course, "PACKAGED", packaged)
    assert course.course_source() == packaged


def test_course_copies_the_notebooks_and_data(notebooks, tmp_path, capsys):
    dest = tmp_path / "my course"
    assert main(["course", str(dest)]) == 0
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == \
        ["01_echo.ipynb", "02_many_clients.ipynb", "data/звіт.txt"]
    assert (dest / "data" / "звіт.txt").read_bytes() == "Звіт\n".encode("cp1251")  # byte for byte
    out = capsys.readouterr().out
    assert "copied 3 files" in out and f"jupyter lab {dest / '01_echo.ipynb'}" in out


def test_course_never_overwrites_a_students_changed_file(notebooks, tmp_path, capsys):
    dest = tmp_path / "my-course"
    main(["course", str(dest)])
    (dest / "01_echo.ipynb").write_text("my answers", encoding="utf-8")
    (dest / "data" / "звіт.txt").unlink()
    capsys.readouterr()
    assert main(["course", str(dest)]) == 1  # says so in its status too
    out = capsys.readouterr().out
    assert (dest / "01_echo.ipynb").read_text(encoding="utf-8") == "my answers"
    assert "kept your changed 01_echo.ipynb: not overwritten" in out
    assert "copied 1 file into" in out and "1 file was there already, unchanged" in out
    assert (dest / "data" / "звіт.txt").exists()  # what was missing came back


def test_course_in_ukrainian_takes_notebooks_uk(notebooks, tmp_path, capsys):
    assert main(["course", str(tmp_path / "uk"), "--lang", "uk"]) == 1
    err = capsys.readouterr().err
    assert "the Ukrainian edition (notebooks/uk/) is not in this version of the course yet" in err
    assert not (tmp_path / "uk").exists()
    (notebooks / "uk").mkdir()
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Луна")]), notebooks / "uk" / "01_echo.ipynb")
    assert main(["course", str(tmp_path / "uk"), "--lang", "uk"]) == 0
    dest = tmp_path / "uk"
    assert "# Луна" in (dest / "01_echo.ipynb").read_text(encoding="utf-8")
    assert (dest / "data" / "звіт.txt").exists()  # the shared data/, until uk/ has its own
    assert not (dest / "02_many_clients.ipynb").exists()  # the English edition stays out
    assert main(["course", str(tmp_path / "en")]) == 0
    assert not (tmp_path / "en" / "uk").exists()


def test_an_installation_without_the_course_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(course, "PACKAGED", tmp_path / "a")
    monkeypatch.setattr(course, "CHECKOUT", tmp_path / "b")
    assert main(["course", str(tmp_path / "dest")]) == 1
    assert "has no course notebooks" in capsys.readouterr().err


def test_a_checkout_copies_student_copies_without_answers(notebooks, tmp_path):
    answer = new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n",
                           metadata={"tags": ["solution"]})
    check = new_code_cell("assert f() == 42\n### BEGIN HIDDEN TESTS\nassert f() > 0\n### END HIDDEN TESTS\n",
                          metadata={"tags": ["check"], "points": 1})
    nbformat.write(new_notebook(cells=[answer, check]), notebooks / "01_echo.ipynb")
    assert main(["course", str(tmp_path / "mine")]) == 0
    text = (tmp_path / "mine" / "01_echo.ipynb").read_text(encoding="utf-8")
    assert "return 42" not in text and "HIDDEN" not in text and "NotImplementedError" in text

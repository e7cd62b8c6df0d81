"""The lab report, built from notebooks run as a student runs them."""

import shutil
from pathlib import Path

import pytest

from socketlab.report import ReportError, build_report, write_report

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    for name in ("01_echo.ipynb", "02_many_clients.ipynb"):
        shutil.copy(NOTEBOOKS / name, folder)
    shutil.copytree(NOTEBOOKS / "data", folder / "data")
    nb = build_report([folder / "01_echo.ipynb", folder / "02_many_clients.ipynb"],
                      student="Шевченко <b>Тарас</b>", group="КУІБ-22-1", execute=True, date="01.12.2026")
    html = write_report(nb, folder / "report.html").read_text(encoding="utf-8")
    return folder, html


def test_the_report_has_every_task_program_and_transcript(report):
    folder, html = report
    assert "Звіт з лабораторної роботи" in html and "КУІБ-22-1" in html and "01.12.2026" in html
    for task in ("Завдання 1.", "Завдання 2."):
        assert task in html
    for program in ("server.py", "client.py", "server2.py"):
        assert f"Програма <code>{program}</code>" in html
    assert "terminal 1: the server" in html and "server: connection from" in html and "client: got back" in html
    assert "### BEGIN SOLUTION" not in html
    assert html.count("<img") >= 2  # the notebooks' pictures


def test_a_name_is_text_not_markup(report):
    _, html = report
    assert "<b>Тарас</b>" not in html


def test_notebooks_never_run_are_refused_with_a_hint(tmp_path):
    shutil.copy(NOTEBOOKS / "01_echo.ipynb", tmp_path)
    with pytest.raises(ReportError, match="--execute"):
        build_report([tmp_path / "01_echo.ipynb"], student="S", group="G")


@pytest.mark.parametrize("edition", [NOTEBOOKS, NOTEBOOKS / "uk"], ids=["en", "uk"])
def test_each_task_statement_is_found_in_either_edition(edition):
    import nbformat

    from socketlab.report import _task_statement

    for number, name in (("1", "01_echo"), ("2", "02_many_clients"), ("3", "03_file_transfer")):
        statement = _task_statement(nbformat.read(edition / f"{name}.ipynb", as_version=4))
        assert statement.startswith(f"> **Завдання {number}.**"), (name, statement[:80])


def test_the_report_command_says_in_one_line_what_to_do(tmp_path, capsys):
    from socketlab.cli import main

    shutil.copy(NOTEBOOKS / "01_echo.ipynb", tmp_path)
    assert main(["report", str(tmp_path / "01_echo.ipynb"), "--student", "S", "--group", "G",
                 "--out", str(tmp_path / "report.html")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("socketlab report:") and "--execute" in err and "\n" not in err
    assert not (tmp_path / "report.html").exists()


def test_without_chromium_pdf_says_to_print_from_the_browser(report, monkeypatch):
    import socketlab.report as module

    folder, _ = report
    monkeypatch.setattr(module, "chromium", lambda: None)
    with pytest.raises(ReportError, match="print it to PDF"):
        module.write_pdf(folder / "report.html", folder / "report.pdf")
    assert not (folder / "report.pdf").exists()


@pytest.mark.browser
def test_the_pdf_holds_every_task_and_program(report):
    from socketlab.report import chromium, write_pdf

    if chromium() is None:
        pytest.skip("no Chromium here: the PDF is printed by Chromium")
    pytest.importorskip("playwright", reason="the PDF is printed through Playwright")
    folder, _ = report
    pdf = write_pdf(folder / "report.html", folder / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    if shutil.which("pdftotext"):
        import subprocess

        text = subprocess.run(["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True, text=True,
                              timeout=60).stdout
        for word in ("Завдання 1.", "Завдання 2.", "server.py", "client.py", "server2.py"):
            assert word in text, word

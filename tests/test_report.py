"""The lab report, built from notebooks run as a student runs them, laid out as the original report."""

import html as htmllib
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from socketlab.report import WORDS, ReportError, _sample, _statements, build_report, write_report

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LAB_NOTEBOOKS = ("01_echo.ipynb", "02_many_clients.ipynb", "03_file_transfer.ipynb")
TASKS = ("1", "1a", "2", "3", "3a")
# Each task's statement in the original report's words, and the program it shows.
STATEMENTS = {
    "1": "Розробити echo-сервер з використанням python socket API, який приймає з'єднання від клієнта та повертає "
         "клієнту отримані дані. Приклад реалізації сервера",
    "1a": "Розробити echo-клієнт з використанням python socket API, який встановлює з'єднання з сервером, надсилає "
          "строкові дані та отримує відповідь. Приклад реалізації клієнта",
    "2": "Модифікувати TCP-сервер з п.1, щоб він працював постійно та обробляв запити від багатьох клієнтів "
         "послідовно. Для тестування сервера. запустити декілька разів клієнт з пункту 1-а.",
    "3": "Розробити TCP-сервер з використанням python socket API, який приймає текстовий файл від клієнта та "
         "зберігає його локально на стороні сервера.",
    "3a": "Розробити TCP-клієнт, який відправляє будь-який текстовий файл на сервер.",
}
PROGRAMS = {"1": "server.py", "1a": "client.py", "2": "server2.py", "3": "server3.py", "3a": "client3.py"}
MINE_1A = "Розроблено echo-клієнт, який надсилає рядок серверу й друкує його відповідь."
MINE_2 = "Сервер обслуговує клієнтів по черзі й не зупиняється."


def fill(path: Path, task: str, text: str, keep_placeholder: bool = False) -> None:
    """Write the student's own words into the notebook's report cell for ``task``."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("socketlab", {}).get("report") == task)
    cell.source = f"{cell.source}\n\n{text}" if keep_placeholder else text
    nbformat.write(nb, path)


def text_of(fragment: str) -> str:
    """What a reader sees of some HTML: its text, whitespace collapsed."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", fragment)).replace("¶", "").split())


def sections(html: str) -> dict[str, str]:
    """The report's HTML after each task heading (``<h2>``), up to the next, by the heading's text."""
    parts = re.split(r"<h2[^>]*>(.*?)</h2>", html, flags=re.S)
    return {text_of(parts[i]): parts[i + 1] for i in range(1, len(parts), 2)}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The Ukrainian edition's three lab notebooks, run here, two of their report cells filled in."""
    folder = tmp_path_factory.mktemp("student")
    for name in LAB_NOTEBOOKS:
        shutil.copy(NOTEBOOKS / "uk" / name, folder)
    shutil.copytree(NOTEBOOKS / "uk" / "data", folder / "data")
    fill(folder / "01_echo.ipynb", "1a", MINE_1A)  # the placeholder replaced
    fill(folder / "02_many_clients.ipynb", "2", MINE_2, keep_placeholder=True)  # written under it
    nb = build_report([folder / name for name in LAB_NOTEBOOKS],
                      student="Шевченко <b>Тарас</b>", group="КУІБ-22-1", execute=True, date="01.12.2026")
    html = write_report(nb, folder / "report.html").read_text(encoding="utf-8")
    return folder, html


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    """The English edition's notebook 01, reported through the command line with --execute and --lab 5."""
    from socketlab.cli import main

    folder = tmp_path_factory.mktemp("english")
    shutil.copy(NOTEBOOKS / "01_echo.ipynb", folder)
    assert main(["report", str(folder / "01_echo.ipynb"), "--student", "S", "--group", "G", "--lab", "5",
                 "--execute", "--out", str(folder / "report.html")]) == 0
    return (folder / "report.html").read_text(encoding="utf-8")


def test_the_title_carries_the_labs_number_and_title(report, english):
    _, html = report
    title = text_of(re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)[1])
    assert title == "Звіт з лабораторної роботи №4 «Використання Socket API для мережевих додатків»"
    assert "КУІБ-22-1" in html and "01.12.2026" in html
    assert text_of(re.search(r"<h1[^>]*>(.*?)</h1>", english, re.S)[1]) == \
        "Lab report No. 5 “Using the Socket API for network applications”"


def test_every_task_in_the_labs_order_with_its_statement_program_and_transcript(report):
    _, html = report
    found = sections(html)
    assert list(found) == [f"Завдання {task}" for task in TASKS]
    for task in TASKS:
        section = found[f"Завдання {task}"]
        assert STATEMENTS[task] in text_of(section), task
        shown = re.findall(r"Програма <code>(.*?)</code>", section)
        assert shown == [PROGRAMS[task]], (task, shown)
        assert "Результати виконання" in section and "sl-terminals" in section, task
    assert "термінал 1: сервер" in html and "сервер: з'єднання з" in html and "клієнт: отримано назад" in html
    assert "### BEGIN SOLUTION" not in html
    assert html.count("<img") >= 3  # the notebooks' pictures


def test_the_students_own_words_land_and_the_course_prose_never_does(report):
    folder, html = report
    found = {heading: text_of(section) for heading, section in sections(html).items()}
    assert MINE_1A in found["Завдання 1a"] and MINE_2 in found["Завдання 2"]
    for task in ("1", "3", "3a"):  # not filled in: an empty place, and nothing of the placeholder
        assert "celltag_summary-empty" in sections(html)[f"Завдання {task}"], task
    page = text_of(html)
    assert "Для звіту" not in page and "замініть цей рядок" not in page
    # No paragraph the course wrote (the lab's quoted words and the report cells aside) is in the report,
    # the sample file sent aside (it says some of what the course says).
    sample = " ".join((folder / "data" / "lab_report_uk.txt").read_text(encoding="utf-8").split())
    assert sample in page
    page = page.replace(sample, "")
    for name in LAB_NOTEBOOKS:
        for cell in nbformat.read(NOTEBOOKS / "uk" / name, as_version=4).cells:
            if cell.cell_type != "markdown" or "report-summary" in cell.metadata.get("tags", []):
                continue
            for paragraph in re.split(r"\n\s*\n", cell.source):
                words = " ".join(re.sub(r"[*`#>]|\]\([^)]*\)|[\[\]<]", " ", paragraph).split())
                if len(words) > 40 and not paragraph.startswith((">", "```")):
                    assert words[:40] not in page, f"{name}, cell {cell.id}: {words[:40]}"
    assert "Так завдання сформульовано" not in page


def test_the_file_clients_task_shows_the_sample_it_sent(report):
    folder, html = report
    section = sections(html)["Завдання 3a"]
    assert "Зразок файлу <code>data/lab_report_uk.txt</code>" in section
    sample = (folder / "data" / "lab_report_uk.txt").read_text(encoding="utf-8")
    for line in filter(None, sample.splitlines()):
        assert htmllib.escape(line, quote=False) in section or line in htmllib.unescape(section), line
    assert "показано перші" not in section  # short enough to show whole
    assert "Зразок файлу" not in sections(html)["Завдання 3"]


def test_a_long_sample_is_clipped_with_a_note(tmp_path):
    (tmp_path / "long.txt").write_bytes("".join(f"рядок {i}\n" for i in range(500)).encode("cp1251"))
    shown = _sample(tmp_path, "long.txt", WORDS["uk"])
    assert "рядок 0" in shown and "рядок 39" in shown and "рядок 40" not in shown  # cp1251 read as such
    assert re.search(r"\(показано перші \d+ з \d+ символів\)$", shown)
    assert _sample(tmp_path, "no such file.txt", WORDS["uk"]) is None


def test_the_page_is_in_the_editions_language(report, english):
    _, html = report
    assert re.search(r'<html lang="uk"', html)
    assert re.search(r'<html lang="en"', english)
    assert [heading for heading in sections(english)] == ["Task 1", "Task 1a"]
    assert "Program <code>server.py</code>" in english and "Results of the run" in english
    assert "Develop an echo client with the Python socket API" in english  # the translation under the quote
    assert '<div lang="uk">' in english  # the lab's own words, read as Ukrainian
    assert "For the report" not in english and "celltag_summary-empty" in english


def test_headings_stay_with_what_follows_them_in_print(report):
    _, html = report
    style = html[html.index("@media print"):]
    style = style[:style.index("</style>")]
    assert re.search(r"h2[^{}]*\{[^}]*break-after:\s*avoid", style)
    assert re.search(r"celltag_heading[^{}]*\{[^}]*break-after:\s*avoid", style)  # a heading alone in its cell
    assert re.search(r"pre[^{}]*\{[^}]*break-inside:\s*avoid", style)


def test_a_name_is_text_not_markup(report):
    _, html = report
    assert "<b>Тарас</b>" not in html


def test_notebooks_never_run_are_refused_with_a_hint(tmp_path):
    shutil.copy(NOTEBOOKS / "01_echo.ipynb", tmp_path)
    with pytest.raises(ReportError, match="--execute"):
        build_report([tmp_path / "01_echo.ipynb"], student="S", group="G")


@pytest.mark.parametrize("edition", [NOTEBOOKS, NOTEBOOKS / "uk"], ids=["en", "uk"])
def test_each_task_statement_is_found_in_either_edition(edition):
    found = {}
    for name in LAB_NOTEBOOKS:
        found.update(_statements(nbformat.read(edition / name, as_version=4)))
    assert list(found) == list(TASKS)
    for task, (words, translation) in found.items():
        assert words.startswith(STATEMENTS[task]), (task, words)
        assert bool(translation) == (edition == NOTEBOOKS), (task, translation)


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
def test_the_pdf_holds_every_task_and_no_page_ends_in_a_heading(report):
    from socketlab.report import chromium, write_pdf

    if chromium() is None:
        pytest.skip("no Chromium here: the PDF is printed by Chromium")
    pytest.importorskip("playwright", reason="the PDF is printed through Playwright")
    if not shutil.which("pdftotext"):
        pytest.skip("no pdftotext here (poppler-utils): the PDF's pages cannot be read")
    folder, html = report
    pdf = write_pdf(folder / "report.html", folder / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    text = subprocess.run(["pdftotext", "-layout", str(folder / "report.pdf"), "-"], capture_output=True,
                          text=True, timeout=60).stdout
    for word in [f"Завдання {task}" for task in TASKS] + list(PROGRAMS.values()):
        assert word in text, word
    headings = [text_of(h) for h in re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", html, re.S)]
    pages = [page for page in text.split("\f") if page.strip()]
    assert len(pages) > 3
    for number, page in enumerate(pages, 1):
        last = " ".join(page.strip().splitlines()[-1].split())
        assert not any(heading.endswith(last) for heading in headings), f"page {number} ends in a heading: {last}"

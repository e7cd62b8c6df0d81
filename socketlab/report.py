"""The lab report ("Звіт з лабораторної роботи"), built from the student's own notebooks.

``socketlab report 01_echo.ipynb 02_many_clients.ipynb 03_file_transfer.ipynb
--student "Прізвище Ім'я" --group "КУІБ-22-1" --out report.html`` makes one page
with what the original lab asks to hand in:

- a title block (the lab's title, the student, the group, the date);
- for each task, its statement, quoted from the notebook;
- the student's program for it (``lab/server.py``…, as the notebook wrote it);
- the transcripts of its run (the "two terminals" cells' output);
- the pictures the notebook drew.

The notebooks are read as the student saved them, after running them; with
``--execute`` they are run first. The page is made by nbconvert with the
template in ``socketlab/templates/report``; ``--pdf`` prints it with Chromium
where one is installed.
"""

from __future__ import annotations

import datetime
import re
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

__all__ = ["build_report", "write_report", "write_pdf", "ReportError"]

TITLE = "Використання Socket API для мережевих додатків"
TEMPLATES = Path(__file__).parent / "templates"
_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n", re.M)  # the exercise's frame, not the code
_WRITEFILE = re.compile(r"^%%writefile\s+(?:-a\s+)?(\S+)\s*\n", re.M)


class ReportError(Exception):
    """The report cannot be made as asked: the message says what to do."""


_TASK_HEADINGS = ("## The task\n", "## Завдання\n")  # the English and the Ukrainian edition


def _task_statement(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith(_TASK_HEADINGS):
            return cell.source.split("\n", 1)[1].strip()
    return ""


def _program(cell, folder: Path) -> tuple[str, str] | None:
    """``(file name, its code)`` for a ``%%writefile`` cell: the file as saved, else the cell's text."""
    match = _WRITEFILE.match(cell.source)
    if not match:
        return None
    path = folder / match.group(1)
    code = path.read_text(encoding="utf-8") if path.is_file() else cell.source[match.end():]
    return Path(match.group(1)).name, _MARKERS.sub("", code)


def _outputs_of(cell, kinds: tuple[str, ...]) -> list:
    return [o for o in cell.get("outputs", []) if o.get("output_type") in ("display_data", "execute_result", "stream")
            and (o.get("output_type") == "stream" or any(k in o.get("data", {}) for k in kinds))]


def _run(path: Path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def build_report(paths, *, student: str, group: str, execute: bool = False, date: str | None = None):
    """The report as a notebook (cells tagged ``remove_input`` show only their output)."""
    report = new_notebook(metadata={"title": f"Звіт з лабораторної роботи: {TITLE}"})
    report.cells.append(new_markdown_cell(
        f"# Звіт з лабораторної роботи\n\n## «{TITLE}»\n\n"
        f"| | |\n|---|---|\n| Виконав(ла) | {_escape(student)} |\n| Група | {_escape(group)} |\n"
        f"| Дата | {date or datetime.date.today().strftime('%d.%m.%Y')} |\n"))
    for path in map(Path, paths):
        nb = _run(path) if execute else nbformat.read(path, as_version=4)
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), path.stem)
        report.cells.append(new_markdown_cell(f"## {title}\n\n{_task_statement(nb)}"))
        programs = [p for p in (_program(c, path.parent) for c in nb.cells if c.cell_type == "code") if p]
        for name, code in programs:
            report.cells.append(new_markdown_cell(f"### Програма `{name}`"))
            report.cells.append(new_code_cell(code, metadata={"tags": ["program"]}))
        runs = [c for c in nb.cells if c.cell_type == "code" and "two_terminals(" in c.source]
        pictures = [c for c in nb.cells if c.cell_type == "code"
                    and re.search(r"\b(sequence_diagram|timelines?|comparison)\(", c.source)]
        if (runs or pictures) and not any(c.get("outputs") for c in runs + pictures):
            raise ReportError(f"{path.name} has no outputs: run it (Run → Run All Cells, then save), "
                              "or pass --execute")
        for cell in runs:
            report.cells.append(new_markdown_cell("### Результати виконання (два термінали)"))
            report.cells.append(_output_cell(_outputs_of(cell, ("text/html", "text/plain"))))
        for cell in pictures:
            images = _outputs_of(cell, ("image/png",))
            if images:
                report.cells.append(_output_cell([o for o in images if o.get("output_type") != "stream"]))
    return report


def _output_cell(outputs):
    cell = new_code_cell("", metadata={"tags": ["remove_input"]})
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _escape(text: str) -> str:
    """A name in a Markdown table: no markup of its own."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|])", r"\\\1", text)


def write_report(report, out: Path) -> Path:
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="report", extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove_input"}, enabled=True), True)
    body, _ = exporter.from_notebook_node(report)
    out = Path(out)
    out.write_text(body, encoding="utf-8")
    return out


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome", "msedge"):
        if found := shutil.which(name):
            return found
    return None


def write_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print the HTML report to PDF with Chromium (through Playwright)."""
    browser = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ReportError("PDF needs Playwright (pip install playwright) and Chromium: "
                          "open the HTML report in a browser and print it to PDF instead") from None
    if browser is None:
        raise ReportError("PDF needs Chromium, and none is installed: open the HTML report in a browser "
                          "and print it to PDF instead")
    with sync_playwright() as p:
        page = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu"]).new_page()
        page.goto(Path(html_path).resolve().as_uri())
        page.pdf(path=str(pdf_path), format="A4", print_background=True,
                 margin={"top": "15mm", "bottom": "15mm", "left": "15mm", "right": "15mm"})
    return Path(pdf_path)

"""The lab report ("Звіт з лабораторної роботи №4"), built from the student's own notebooks.

``socketlab report 01_echo.ipynb 02_many_clients.ipynb 03_file_transfer.ipynb
--student "Прізвище Ім'я" --group "КУІБ-22-1" --out report.html`` makes one page
laid out as the original lab report:

- a title with the lab's number (``--lab``, 4 by default) and title, the student, the group, the date;
- each task in the lab's order (1, 1a, 2, 3, 3a) under a heading of its own, with its statement in
  the lab's own words (the ``>`` lines of the notebook's "## Завдання" / "## The task" cell; the
  English edition adds its translation);
- the student's own sentence or two about it (see below);
- the student's program for it (``lab/server.py`` for 1, ``client.py`` for 1a, ``server2.py`` for 2,
  ``server3.py`` for 3, ``client3.py`` for 3a), as the notebook wrote it; a student who passes the
  notebooks beyond the lab too gets their tasks after these (``udp_server.py`` 5, ``udp_client.py``
  5a, ``framed_server.py`` 6, ``framed_client.py`` 6a);
- the transcript of its run (a "two terminals" cell's output: one run of a server and a client
  belongs to both their tasks) and the notebook's pictures; the run of a client that sends a file
  (3a) also shows that file, its text clipped to a page's worth.

The student's sentence: each task has a markdown cell tagged ``report-summary`` whose metadata names
the task, ``{"socketlab": {"report": "1a"}}``. The course ships it holding one placeholder line
("*For the report: replace this line…*" / "*Для звіту: замініть цей рядок…*"); the report takes the
cell's text without that line, so a cell left as shipped gives an empty box. Nothing else the
notebooks say in their own prose goes into the report.

The page's language (``<html lang>`` and the report's own headings) is the notebooks' edition, told
by their task heading (the refusals below are in the process's language, as the package's other
messages). The notebooks are read as the student saved them, after running them; with
``--execute`` they are run first. The page is made by nbconvert with the template in
``socketlab/templates/report``; ``--pdf`` prints it with Chromium where one is installed.
"""

from __future__ import annotations

import ast
import datetime
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .i18n import _

__all__ = ["build_report", "write_report", "write_pdf", "ReportError", "LAB", "SUMMARY_TAG"]

LAB = 4  # the lab's number, as the original report has it
SUMMARY_TAG = "report-summary"
TEMPLATES = Path(__file__).parent / "templates"
_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n", re.M)  # the exercise's frame, not the code
_WRITEFILE = re.compile(r"^%%writefile\s+(?:-a\s+)?(\S+)\s*\n", re.M)
_PLACEHOLDER = re.compile(r"^\W*(for the report: replace this line|для звіту: замініть цей рядок)", re.I)
_LABEL = re.compile(r"^\*\*(?:Завдання |Task )?(\d+[a-z]?)\.\*\*\s*")  # **Завдання 1.**, **Task 1.**, **1a.**
_TASK_OF = {"server.py": "1", "client.py": "1a", "server2.py": "2", "server3.py": "3", "client3.py": "3a",
            "udp_server.py": "5", "udp_client.py": "5a", "framed_server.py": "6", "framed_client.py": "6a"}
_SAMPLE_CHARS, _SAMPLE_LINES = 2000, 40  # enough to see what was sent, little enough for one page
_EDITIONS = {"## Завдання": "uk", "## The task": "en"}  # a notebook's task heading tells its edition
WORDS = {  # the report's own words, in each edition's language
    "uk": {"title": "Звіт з лабораторної роботи №{lab}", "lab": "Використання Socket API для мережевих додатків",
           "quoted": "«{}»", "student": "Виконав(ла)", "group": "Група", "date": "Дата",
           "tasks": "Створити клієнт та сервер з використанням Socket API згідно із завданнями:",
           "task": "Завдання {id}", "program": "Програма", "run": "Результати виконання",
           "sample": "Зразок файлу", "clipped": "(показано перші {shown} з {total} символів)"},
    "en": {"title": "Lab report No. {lab}", "lab": "Using the Socket API for network applications",
           "quoted": "“{}”", "student": "Student", "group": "Group", "date": "Date",
           "tasks": "Create a client and a server with the Socket API, as the tasks ask:",
           "task": "Task {id}", "program": "Program", "run": "Results of the run",
           "sample": "Sample file", "clipped": "(the first {shown} of {total} characters)"},
}


class ReportError(Exception):
    """The report cannot be made as asked: the message says what to do."""


@dataclass(eq=False)  # told apart by identity: one run is added once to each of its tasks
class _Task:
    id: str
    statement: str = ""
    translation: str = ""
    summary: str = ""
    programs: list = field(default_factory=list)  # (file name, code)
    runs: list = field(default_factory=list)  # each run's outputs
    pictures: list = field(default_factory=list)  # each picture cell's outputs
    samples: list = field(default_factory=list)  # each file a run sent, as Markdown


def _task_cell(nb):
    """The notebook's task cell and its edition, or ``(None, None)``."""
    for cell in nb.cells:
        heading = cell.source.lstrip().split("\n", 1)[0].strip() if cell.cell_type == "markdown" else ""
        if heading in _EDITIONS:
            return cell, _EDITIONS[heading]
    return None, None


def _statements(nb) -> dict[str, tuple[str, str]]:
    """``{task id: (the lab's words, the English translation or "")}``, from the task cell.

    The lab's words are the quoted (``>``) paragraphs that start with a task's label; a translation is
    an unquoted paragraph that does. Every other paragraph of the cell is the course's, not the lab's."""
    cell, _edition = _task_cell(nb)
    paragraphs, current = [], None
    for line in (cell.source.strip().split("\n", 1)[1] if cell else "").splitlines():
        quoted = line.startswith(">")
        text = (line[1:] if quoted else line).strip()
        if not text:
            current = None
        elif current is not None and current[0] == quoted:
            current[1].append(text)
        else:
            current = (quoted, [text])
            paragraphs.append(current)
    found: dict[str, list[str]] = {}
    for quoted, lines in paragraphs:
        text = " ".join(lines)
        if match := _LABEL.match(text):
            found.setdefault(match[1], ["", ""])[0 if quoted else 1] = text[match.end():]
    return {task: (words[0], words[1]) for task, words in found.items()}


def _summaries(nb) -> dict[str, str]:
    """The student's own words per task: each ``report-summary`` cell without its placeholder line."""
    return {cell.metadata.get("socketlab", {}).get("report"):
            "\n".join(line for line in cell.source.splitlines() if not _PLACEHOLDER.match(line)).strip()
            for cell in nb.cells if SUMMARY_TAG in cell.metadata.get("tags", [])}


def _program(cell, folder: Path) -> tuple[str, str] | None:
    """``(file name, its code)`` for a ``%%writefile`` cell: the file as saved, else the cell's text."""
    match = _WRITEFILE.match(cell.source)
    if not match:
        return None
    path = folder / match.group(1)
    code = path.read_text(encoding="utf-8") if path.is_file() else cell.source[match.end():]
    return Path(match.group(1)).name, _MARKERS.sub("", code)


def _terminals_call(cell) -> list | None:
    """The arguments of the cell's ``two_terminals(server, client, *client_args)`` call, strings or None."""
    if cell.cell_type != "code" or "two_terminals(" not in cell.source:
        return None
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "two_terminals":
            return [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
    return []


def _sample(folder: Path, name: str, words: dict) -> str | None:
    """A file a client's run sent, as Markdown: its name, then its text, clipped with a note if long."""
    path = folder / name
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1251", errors="replace")  # the course's other encoding of a text file
    shown = "\n".join(text.splitlines()[:_SAMPLE_LINES])[:_SAMPLE_CHARS]
    fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`+", shown))])  # longer than any run inside
    note = "" if len(shown) >= len(text.rstrip("\n")) else \
        "\n\n" + words["clipped"].format(shown=len(shown), total=len(text))
    return f"### {words['sample']} `{name}`\n\n{fence}text\n{shown}\n{fence}{note}"


def _outputs_of(cell, kinds: tuple[str, ...]) -> list:
    return [o for o in cell.get("outputs", []) if o.get("output_type") in ("display_data", "execute_result", "stream")
            and (o.get("output_type") == "stream" or any(k in o.get("data", {}) for k in kinds))]


def _run(path: Path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _read_tasks(nb, path: Path, tasks: dict[str, _Task], words: dict) -> None:
    """Add to ``tasks`` what the notebook holds for each task it states."""
    statements = _statements(nb)
    if not statements:
        raise ReportError(_("{name} states no task of the lab (it has no '## Завдання' or '## The task' cell): "
                            "pass the course's notebooks 01-03").format(name=path.name))
    own = {task: tasks.setdefault(task, _Task(task, *lab_words)) for task, lab_words in statements.items()}
    first = own[next(iter(statements))]  # what belongs to no task in particular goes with the notebook's first

    def task_of(script) -> _Task | None:
        return own.get(_TASK_OF.get(Path(script or "").name))

    runs = [(cell, args) for cell in nb.cells if (args := _terminals_call(cell)) is not None]
    pictures = [c for c in nb.cells if c.cell_type == "code"
                and re.search(r"\b(sequence_diagram|timelines?|comparison|pings|buffers)\(", c.source)]
    if (runs or pictures) and not any(c.get("outputs") for c in [cell for cell, _args in runs] + pictures):
        raise ReportError(_("{name} has no outputs: run it (Run → Run All Cells, then save), "
                            "or pass --execute").format(name=path.name))
    for task, text in _summaries(nb).items():
        if task in own and text:
            own[task].summary = text
    for cell in nb.cells:
        if cell.cell_type == "code" and (program := _program(cell, path.parent)):
            (task_of(program[0]) or first).programs.append(program)
    for cell, args in runs:
        server, client, sent = [*args, None, None, None][:3]
        outputs = _outputs_of(cell, ("text/html", "text/plain"))
        for task in dict.fromkeys(t for t in (task_of(server), task_of(client)) if t) or [first]:
            if outputs:
                task.runs.append(outputs)  # one run of a server and its client shows under both their tasks
        if sent and (sample := _sample(path.parent, sent, words)):
            (task_of(client) or first).samples.append(sample)
    for cell in pictures:
        if images := [o for o in _outputs_of(cell, ("image/png",)) if o.get("output_type") != "stream"]:
            first.pictures.append(images)


def build_report(paths, *, student: str, group: str, lab: int = LAB, execute: bool = False,
                 date: str | None = None):
    """The report as a notebook (cells tagged ``remove_input`` show only their output)."""
    notebooks = [(path, _run(path) if execute else nbformat.read(path, as_version=4)) for path in map(Path, paths)]
    lang = next((edition for _, nb in notebooks if (edition := _task_cell(nb)[1])), "uk")
    words = WORDS[lang]
    tasks: dict[str, _Task] = {}
    for path, nb in notebooks:
        _read_tasks(nb, path, tasks, words)
    title = words["title"].format(lab=lab)
    report = new_notebook(metadata={"title": f"{title}: {words['lab']}", "socketlab": {"lang": lang}})
    report.cells.append(new_markdown_cell(
        f"# {title} {words['quoted'].format(words['lab'])}\n\n"
        f"| | |\n|---|---|\n| {words['student']} | {_escape(student)} |\n| {words['group']} | {_escape(group)} |\n"
        f"| {words['date']} | {date or datetime.date.today().strftime('%d.%m.%Y')} |\n\n{words['tasks']}"))
    for task in sorted(tasks.values(), key=lambda t: (int(re.match(r"\d+", t.id)[0]), t.id)):  # 1, 1a, 2, 3, 3a
        report.cells.extend(_task_cells(task, words, lang))
    return report


def _task_cells(task: _Task, words: dict, lang: str) -> list:
    quote = f"> {task.statement}"
    if lang != "uk":  # the lab's words are Ukrainian: a screen reader reads them so
        quote = f'<div lang="uk">\n\n{quote}\n\n</div>'
    translation = f"\n\n{task.translation}" if task.translation else ""
    cells = [new_markdown_cell(f"## {words['task'].format(id=task.id)}\n\n{quote}{translation}"),
             # an empty box where the student has not written their own words yet
             new_markdown_cell(task.summary, metadata={"tags": ["summary" if task.summary else "summary-empty"]})]
    for name, code in task.programs:
        cells += [_heading(f"{words['program']} `{name}`"), new_code_cell(code, metadata={"tags": ["program"]})]
    cells += [new_markdown_cell(sample, metadata={"tags": ["sample"]}) for sample in task.samples]
    for outputs in task.runs:
        cells += [_heading(words["run"]), _output_cell(outputs, "transcript")]
    cells += [_output_cell(images, "picture") for images in task.pictures]
    return cells


def _heading(text: str):
    """A heading alone in its cell: the print style keeps it on the page of what follows."""
    return new_markdown_cell(f"### {text}", metadata={"tags": ["heading"]})


def _output_cell(outputs, tag: str):
    cell = new_code_cell("", metadata={"tags": ["remove_input", tag]})
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _escape(text: str) -> str:
    """A name in a Markdown table: no markup of its own."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|])", r"\\\1", text)


def write_report(report, out: Path) -> Path:
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="report", extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input_prompt=True, exclude_output_prompt=True,
                            language_code=report.metadata.get("socketlab", {}).get("lang", "uk"))
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"remove_input"}, enabled=True), True)
    body, _resources = exporter.from_notebook_node(report)
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
        raise ReportError(_("PDF needs Playwright (pip install playwright) and Chromium: "
                            "open the HTML report in a browser and print it to PDF instead")) from None
    if browser is None:
        raise ReportError(_("PDF needs Chromium, and none is installed: open the HTML report in a browser "
                            "and print it to PDF instead"))
    with sync_playwright() as p:
        page = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu"]).new_page()
        page.goto(Path(html_path).resolve().as_uri())
        page.pdf(path=str(pdf_path), format="A4", print_background=True,
                 margin={"top": "15mm", "bottom": "15mm", "left": "15mm", "right": "15mm"})
    return Path(pdf_path)

"""Feedback a student can read: one HTML page per student and notebook, made with nbconvert.

The page is the instructor's notebook as graded for that student: the lesson's
text, the student's own cells and every check, each with the outputs it showed
in the graded run (sent back over the verdict pipe, see
:mod:`socketlab.instructor.verdicts`; never read from a file the run wrote).
Below each check: its verdict, its points and, if it failed, its visible message.
Hidden tests are named ("hidden tests failed (not shown)") and never shown: their
cells are not on the page at all, and they run after every cell that is. The
lesson's own cells are shown without their outputs: graded, the course's servers
and panels they start are not there (see :mod:`socketlab.studentside`).

Everything from a run is escaped: outputs are only stream text, plain text and PNG
pictures (no HTML, SVG or scripts, which nbconvert would pass through), and the
verdicts are written by the page's own template with Jinja's ``e`` filter.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .gradebook import CheckResult
from .release import tags
from .texts import student_folder

__all__ = ["page_notebook", "write_page", "student_folder"]

_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
# The code a page shows, per cell and in all: rendering (highlighting) costs time in proportion, and a page
# must cost the grader little whatever a submission holds (a cell of 3 MiB took 17 s to render).
CELL_CODE_CHARS = 32 * 2**10
PAGE_CODE_CHARS = 256 * 2**10
_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block extra_css %}
<style>
.socketlab-head { padding: 1em 2em; border-bottom: 1px solid #ccc; font-family: sans-serif; }
.socketlab-verdict { margin: 0.2em 0 1.2em 6.5em; padding: 0.5em 1em; border-left: 6px solid #b00;
  background: #fbeaea; font-family: sans-serif; white-space: pre-wrap; }
.socketlab-verdict.passed { border-color: #080; background: #eaf6ea; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{%- set p = nb.metadata.socketlab_page -%}
<div class="socketlab-head">
<h1>{{ p.notebook | e }}: {{ p.points | e }} of {{ p.max_points | e }} points</h1>
<p>Feedback for {{ p.student | e }}.{% if p.status %} {{ p.status | e }}{% endif %}</p>
<ul>{% for c in p.checks %}<li>{{ '✔' if c.status == 'passed' else '✘' }} {{ c.check | e }}: {{ c.points | e }}/{{ c.max_points | e }}{% if c.why %}: {{ c.why | e }}{% endif %}</li>{% endfor %}</ul>
{% if p.note %}<p>Note: {{ p.note | e }}</p>{% endif %}
</div>
{%- endblock body_header -%}
{% block any_cell %}
{{ super() }}
{%- set v = cell.metadata.socketlab_verdict -%}
{%- if v -%}
<div class="socketlab-verdict {{ 'passed' if v.status == 'passed' else 'failed' }}">{{ '✔' if v.status == 'passed' else '✘' }} <b>{{ v.check | e }}</b>: {{ v.points | e }}/{{ v.max_points | e }} ({{ v.status | e }}){% if v.why %}
{{ v.why | e }}{% endif %}</div>
{%- endif -%}
{% endblock any_cell %}
"""


def _bounded(text: str, budget: list[int]) -> str:
    """A cell's code as the page shows it: at most CELL_CODE_CHARS, and what is left of the page's budget."""
    room = min(CELL_CODE_CHARS, budget[0])
    budget[0] -= min(len(text), room)
    if len(text) <= room:
        return text
    return text[:room] + f"\n# … {len(text) - room} more characters of this cell are not shown here"


def _why(r: CheckResult) -> str:
    if r.status == "passed":
        return ""
    return "hidden tests failed (they are not shown)" if r.hidden else (r.message or r.status)


def _outputs(record: dict | None) -> list:
    """A record's outputs, checked again field by field before they go on a page."""
    kept = []
    for o in (record or {}).get("outputs", []) if isinstance((record or {}).get("outputs"), list) else []:
        if not isinstance(o, dict):
            continue
        kind = o.get("output_type")
        if kind == "stream" and isinstance(o.get("text"), str):
            kept.append(nbformat.v4.new_output("stream", name="stderr" if o.get("name") == "stderr" else "stdout",
                                               text=o["text"]))
        elif kind == "error" and isinstance(o.get("traceback"), list):
            kept.append(nbformat.v4.new_output("error", ename=str(o.get("ename", "")),
                                               evalue=str(o.get("evalue", "")),
                                               traceback=[str(t) for t in o["traceback"]]))
        elif kind == "display_data" and isinstance(o.get("data"), dict):
            data = {}
            if isinstance(o["data"].get("text/plain"), str):
                data["text/plain"] = o["data"]["text/plain"]
            png = o["data"].get("image/png")
            if isinstance(png, str) and _BASE64.match(png):
                data["image/png"] = png
            if data:
                kept.append(nbformat.v4.new_output("display_data", data=data))
    return kept


def page_notebook(source_nb, run: dict, results: list[CheckResult], student: str):
    """The notebook a page is made from; ``run``: ``{"graded", "records"}`` or {} if nothing ran."""
    graded, records = run.get("graded"), run.get("records", {})
    by_check = {r.check: r for r in results}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": dict(source_nb.metadata.get("kernelspec", {}))})
    first = results[0] if results else None
    nb.metadata["socketlab_page"] = {
        "notebook": first.notebook if first else "", "student": (first.name if first else "") or student,
        "points": sum(r.points for r in results), "max_points": sum(r.max_points for r in results),
        "status": "" if graded else f"Not run: {first.message}" if first else "",
        "note": first.note if first else "",
        "checks": [{"check": r.check, "status": r.status, "points": r.points, "max_points": r.max_points,
                    "why": _why(r)} for r in results]}
    if graded is None:
        return nb
    shown = {}
    for cell_number, (role, origin) in enumerate(zip(graded.roles, graded.origins)):
        if role in ("solution", "check", "code"):  # never "hidden"
            shown.setdefault(origin, []).append(cell_number)
    visible_of = {c.visible_cell: c for c in graded.checks}
    budget = [PAGE_CODE_CHARS]
    for origin, cell in enumerate(source_nb.cells):
        if cell.cell_type == "markdown" and "demo" not in tags(cell):
            nb.cells.append(nbformat.v4.new_markdown_cell(cell.source))
        for number in shown.get(origin, []):
            text = graded.plans.get(number, {}).get("source", graded.nb.cells[number].source)
            code = nbformat.v4.new_code_cell(_bounded(text, budget))
            code.outputs = _outputs(records.get(number)) if graded.roles[number] != "code" else []
            check = visible_of.get(number)
            if check is not None and check.name in by_check:
                r = by_check[check.name]
                code.metadata["socketlab_verdict"] = {"check": r.check, "status": r.status, "points": r.points,
                                                      "max_points": r.max_points, "why": _why(r)}
            nb.cells.append(code)
    return nb


def write_page(source_nb, run: dict, results: list[CheckResult], student: str, folder) -> Path:
    """Write ``folder/<student>/<notebook>.html``; returns its path."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = page_notebook(source_nb, run, results, student)
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"socketlab_page.html.j2": _TEMPLATE})])
    exporter.template_file = "socketlab_page.html.j2"
    body, _ = exporter.from_notebook_node(nb)
    here = Path(folder) / student_folder(student)
    here.mkdir(parents=True, exist_ok=True)
    path = here / (results[0].notebook.removesuffix(".ipynb") + ".html" if results else "notebook.html")
    path.write_text(body, encoding="utf-8", errors="backslashreplace")
    return path

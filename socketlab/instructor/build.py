"""The notebook the grader runs for one student: the instructor's, with the student's answers.

Only the student's ``solution`` cells are taken (matched by cell id, else by
the order of the cells tagged ``solution``); checks, hidden tests and points
always come from the instructor's notebook, and nbval markers in student code
are removed. Cells tagged ``demo`` are left out.

Where the grader can judge (:mod:`socketlab.instructor.judge`: a system that
passes sockets between processes), a check cell's code is not given to the
kernel at all. The cell runs the kernel's agent, and its *plan* (the check's
code, the imports it needs, the answers it calls) is kept in
:attr:`GradedNotebook.plans`, which the grader hands to the judge alone: no file
the kernel can read holds it.

Hidden tests run last, after every other cell: nothing a student's code learns
while one runs can reach a cell whose outputs go on the student's page.
"""

from __future__ import annotations

import ast
import re
import socket
from dataclasses import dataclass, field, replace

import nbformat

from .release import edition_language, hidden_tests as hidden_tests_of, strip_hidden_tests, strip_solutions, tags

__all__ = ["GradedCheck", "GradedNotebook", "build_graded_notebook", "sanitize_student_code", "defined_functions",
           "edition_language", "JUDGED"]

# Judged outside the kernel where sockets can be handed from process to process (not on Windows).
JUDGED = hasattr(socket, "send_fds")

# Comments that change how nbval treats a cell ("# NBVAL_SKIP", …): never taken from a student.
_NBVAL_MARKER = re.compile(r"^[ \t]*#+[ \t]*(NBVAL_|PYTEST_VALIDATE_)\w*[ \t]*$", re.M)


def sanitize_student_code(source: str) -> str:
    """A student's code without the nbval comments that would skip or excuse it."""
    return _NBVAL_MARKER.sub("", source)


def defined_functions(source: str) -> dict[str, bool]:
    """The functions a cell defines at top level: ``{name: is_async}`` ({} if it does not parse)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return {}
    return {n.name: isinstance(n, ast.AsyncFunctionDef) for n in body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _names_used(source: str) -> set[str]:
    try:
        return {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    except SyntaxError:
        return set()


@dataclass(frozen=True)
class GradedCheck:
    """One check of a graded notebook and where its cells ended up (nbval's "Cell N" numbers)."""

    name: str
    points: int
    visible_cell: int
    hidden_cell: int | None  # the hidden tests run as a cell of their own, at the end: named, never shown


@dataclass
class GradedNotebook:
    nb: object
    checks: list[GradedCheck]
    # (instructor's solution cell, the student's source for it or None)
    solutions: list[tuple[object, str | None]] = field(default_factory=list)
    # for each cell of ``nb``: what it is ("solution", "check", "hidden", "code") and the index of
    # the instructor's cell it came from: what a feedback page may show (never "hidden")
    roles: list[str] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)
    # the judge's plan for each judged cell, by cell number: for the judge alone
    plans: dict[int, dict] = field(default_factory=dict)


def _imports(source: str) -> list[str]:
    """The cell's top-level import statements, as source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]


def _awaits(source: str) -> bool:
    """Whether the cell awaits at its top level (IPython runs such a cell in its event loop)."""
    def outside_functions(node):
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                yield child
                yield from outside_functions(child)
    try:
        return any(isinstance(n, ast.Await) for n in outside_functions(ast.parse(source)))
    except SyntaxError:
        return False


def _judged_cell(source: str, preamble: list[str], answers: set[str], *, hidden: bool = False):
    """A check cell for the judge: the kernel runs its imports and the agent; the plan is the judge's."""
    asynchronous = _awaits(source)
    call = ("await _socketlab_agent.serve_async(globals())" if asynchronous
            else "_socketlab_agent.serve(globals())")
    cell = nbformat.v4.new_code_cell("\n".join([*_imports(source), "import socketlab.instructor.agent as _socketlab_agent",
                                                call]))
    used = _names_used(source)
    needed = [line for line in dict.fromkeys(preamble) if _bound_by(line) & used]
    plan = {"preamble": "\n".join(needed), "source": source, "answers": sorted(used & answers), "hidden": hidden}
    return cell, plan


def _bound_by(statement: str) -> set[str]:
    """The names an import statement binds."""
    node = ast.parse(statement).body[0]
    return {a.asname or a.name.split(".")[0] for a in node.names}


def build_graded_notebook(source, student_cells: list[dict] | None = None, *,
                          judged: bool = JUDGED) -> GradedNotebook:
    """The notebook to run for one student; ``student_cells`` are their code cells (``id``, ``tags``, ``source``)."""
    student_cells = student_cells or []
    by_id = {c["id"]: c for c in student_cells if c.get("id")}
    in_order = [c for c in student_cells if "solution" in c.get("tags", ())]
    solutions_seen = 0
    cells: list = []
    graded = GradedNotebook(nbformat.v4.new_notebook(metadata=nbformat.from_dict(source.metadata)), [])
    answers: set[str] = set()  # every function the notebook's solution cells define
    imports: list[str] = []  # the instructor's imports so far: what a check's plan starts with
    hidden_tests: list[tuple[int, str, list[str], int]] = []  # (check, source, its imports, origin): run last

    def add(text: str, role: str, origin: int, *, check: bool = False, preamble=(), hidden: bool = False) -> int:
        if check and judged:
            cell, plan = _judged_cell(text, list(preamble), answers, hidden=hidden)
            graded.plans[len(cells)] = plan
        else:
            cell = nbformat.v4.new_code_cell(text)
        cells.append(cell)
        graded.roles.append(role)
        graded.origins.append(origin)
        return len(cells) - 1  # nbval numbers code cells from 0

    for cell in source.cells:
        answers.update(defined_functions(cell.source) if "solution" in tags(cell) else {})
    for origin, cell in enumerate(source.cells):
        if cell.cell_type != "code" or "demo" in tags(cell):
            continue
        if "solution" in tags(cell):
            mine = by_id.get(cell.get("id"))
            if mine is None and solutions_seen < len(in_order):
                mine = in_order[solutions_seen]  # ids lost (an old or rebuilt notebook): go by order
            solutions_seen += 1
            student_source = sanitize_student_code(mine["source"]) if mine is not None else None
            graded.solutions.append((cell, student_source))
            add(student_source if student_source is not None else strip_solutions(cell.source), "solution", origin)
        elif "check" in tags(cell):
            imports.extend(_imports(cell.source))
            visible = add(strip_hidden_tests(cell.source), "check", origin, check=True, preamble=imports)
            hidden = hidden_tests_of(cell.source)
            if hidden:
                hidden_tests.append((len(graded.checks), hidden, list(imports), origin))
            name = cell.metadata.get("name", cell.get("id", f"check {len(graded.checks) + 1}"))
            graded.checks.append(GradedCheck(str(name), int(cell.metadata.get("points", 1)), visible, None))
        else:
            imports.extend(_imports(cell.source))
            add(cell.source, "code", origin)
    for number, text, preamble, origin in hidden_tests:
        hidden = add(text, "hidden", origin, check=True, preamble=preamble, hidden=True)
        graded.checks[number] = replace(graded.checks[number], hidden_cell=hidden)
    language = edition_language(source)  # the judge speaks the edition's language
    for plan in graded.plans.values():
        plan["language"] = language
    graded.nb.metadata.pop("widgets", None)
    graded.nb.cells = cells
    return graded

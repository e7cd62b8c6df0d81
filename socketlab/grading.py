"""Instructor tools: make the student copies of the notebooks.

The notebooks in the repository are the instructor's copies.  Exercise cells
(tagged ``solution``) hold the answer between ``### BEGIN SOLUTION`` and
``### END SOLUTION``; check cells (tagged ``check``) hold the tests, with
their ``points`` in the cell metadata.
"""

from __future__ import annotations

import re

import nbformat

__all__ = ["STUB", "strip_solutions", "release_notebook", "check_cells"]

STUB = 'raise NotImplementedError("your code here")'
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.M | re.S)


def strip_solutions(source: str) -> str:
    """Replace every solution region with a stub, indented like the region."""
    return _SOLUTION.sub(lambda m: f"{m.group(1)}{STUB}{m.group(2)}", source)


def check_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "check" in c.metadata.get("tags", [])]


def release_notebook(nb):
    """A student copy: solutions replaced by stubs, outputs cleared."""
    nb = nbformat.from_dict(nb)  # a deep copy
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "solution" in cell.metadata.get("tags", []):
            cell.source = strip_solutions(cell.source)
        cell.outputs = []
        cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb

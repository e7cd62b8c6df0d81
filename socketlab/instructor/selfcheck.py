"""``socketlab check``: a student runs their own notebook exactly as the grader will.

The same build (:mod:`.build`) and the same run (in the bubblewrap sandbox where there
is one, with the package's student side, else a plain process), with the visible checks only: the student's copy has no
hidden tests, and when the instructor's notebooks are given (``--source``) their
hidden tests are stripped first. Points are printed per check.

For GitHub Classroom, :func:`socketlab.instructor.release.classroom_workflow` is the
``.github/workflows/classroom.yml`` that ``socketlab release`` puts in the student copies: on every push it installs the
package, runs ``socketlab check`` on every notebook once (``--json``), then reports each
check as a test of its own with its points (``--from``), so Classroom shows points per
check. It names checks and points only: hidden tests never enter the student's repository.
These points are the student's own check, run on a machine the student controls (they can
edit the workflow); the grade is the instructor's ``socketlab grade``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from ..i18n import N_, _, ngettext, use_language
from .build import edition_language
from .gradebook import CheckResult, Options, grade_notebook, read_submission
from .release import RESULTS_FILE, WORKFLOW_PATH, release_notebook

__all__ = ["check", "format_results", "sandbox_line", "total_line", "WORKFLOW_PATH", "RESULTS_FILE"]



def check(path, source=None, options: Options = Options()) -> list[CheckResult]:
    """Grade one notebook of one's own: its visible checks, as the grader runs them."""
    path = Path(path)
    if source is not None:
        base = nbformat.read(Path(source) / path.name, as_version=4)
    else:
        read_submission(path)  # the same reading as the grader's: a regular, bounded, valid notebook
        base = nbformat.read(path, as_version=4)
    base = release_notebook(base)  # visible checks only
    use_language(edition_language(base))  # what is printed of it, in its edition's language
    data = path.resolve().parent / "data"
    return grade_notebook("you", path.name, base, path, data if data.is_dir() else None, options)


# The checks' names, as the notebooks' metadata holds them (the gradebook's columns, one in both
# editions), marked here so a student's summary shows them in the edition's language.
CHECK_NAMES = [N_("echo server: short, empty and large messages"), N_("echo server: a message arriving in pieces"),
               N_("echo client: gets back exactly what it sent"), N_("programs: server.py and client.py"),
               N_("sequential server: three clients in a row"),
               N_("sequential server: survives a crashed and a silent client"),
               N_("program: server2.py serves clients for ever"), N_("recv_exactly: pieces, and not a byte past n"),
               N_("recv_exactly: the stream ends early"), N_("file server: byte for byte, never overwriting"),
               N_("file server: hostile names and truncated uploads"),
               N_("file client: any text file, byte for byte"), N_("file client: reports a refusal"),
               N_("programs: server3.py and client3.py"),
               N_("thread per client: a slow or crashing client holds up nobody"),
               N_("asyncio handler: side by side, drained, closed"),
               N_("UDP echo server: each datagram to its own sender"),
               N_("pinger: timeouts, and each reply matched to its ping"),
               N_("request: a doubling wait, and only its own reply"), N_("programs: udp_server.py and udp_client.py"),
               N_("send_msg: a 4-byte big-endian length, then every byte"), N_("recv_msg: any pieces, the limit, the end"),
               N_("exchange: large messages both ways, no deadlock"),
               N_("programs: framed_server.py and framed_client.py")]

# What a result that is not the judge's own word says, in the student's language.
_STATUS = {"timeout": N_("the time limit ran out"), "skipped": N_("not run: an earlier cell hung or the kernel died"),
           "not run": N_("not run: the notebook stopped before this check"), "missing": N_("the notebook is missing"),
           "invalid": N_("the notebook could not be read")}


def format_results(results: list[CheckResult]) -> str:
    """The points per check, in the current language (the edition's: see :func:`check`)."""
    lines = []
    for r in results:
        mark = "✔" if r.status == "passed" else "✘"
        why = r.message if r.status in ("passed", "failed", "error") else _(_STATUS.get(r.status, r.status))
        lines.append(f"{mark} {r.points}/{r.max_points}  {_(r.check)}" + (f"\n      {why}" if why else ""))
    points, most = sum(r.points for r in results), sum(r.max_points for r in results)
    lines.append(ngettext("{points}/{most} point", "{points}/{most} points", most).format(points=points, most=most))
    return "\n".join(lines)


def sandbox_line(why_not: str | None) -> str:
    return _("sandbox: bwrap, as in grading") if why_not is None else _(
        "sandbox: none ({why}): a plain process").format(why=why_not)


def total_line(results: list[CheckResult]) -> str:
    points, most = sum(r.points for r in results), sum(r.max_points for r in results)
    return ngettext("total: {points}/{most} point", "total: {points}/{most} points", most).format(
        points=points, most=most)


def to_json(results: list[CheckResult]) -> list[dict]:
    return [{"notebook": r.notebook, "check": r.check, "points": r.points, "max_points": r.max_points,
             "status": r.status, "message": r.message} for r in results]


def picked(results_file, which: str) -> dict | None:
    """The result of ``NOTEBOOK#N`` (the N-th check, from 1) in a ``--json`` file, or None."""
    notebook, _, number = which.rpartition("#")
    try:
        rows = [r for r in json.loads(Path(results_file).read_text(encoding="utf-8")) if r["notebook"] == notebook]
        return rows[int(number) - 1]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None

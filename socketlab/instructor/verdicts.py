"""A pytest plugin, loaded in the grader's pytest: what each notebook cell really did.

nbval judges a cell by the error output the kernel shows. A kernel whose
student silenced ``showtraceback`` shows none, and nbval calls the cell
passed. This plugin records, for every cell nbval runs:

- nbval's own outcome (passed, failed, skipped) and its message;
- the status of the kernel's *execute reply* (``ok``, ``error``, ``aborted``);
- the errors the kernel showed (name, value, traceback);
- what the cell showed (its outputs), for the student's feedback page only and
  bounded: text and PNG pictures, never HTML or scripts, at most
  ``CELL_OUTPUT_BYTES`` per cell and ``RUN_OUTPUT_BYTES`` for the whole run, so
  that a cell that prints without end can never push the verdicts of the
  cells after it past what the grader reads.

Where the grader judges (see :mod:`socketlab.instructor.judge`), a check cell's
record also holds the judge's verdict on it (``judged``), and that verdict is
the one that counts. The judge's plans come on the descriptor named by
``SOCKETLAB_PLANS_FD``, read once at the start and closed.

Each record is one JSON line on the file descriptor named by
``SOCKETLAB_VERDICT_FD``: a pipe to the grader that the kernel never inherits
(it is started with ``close_fds``) and cannot open through ``/proc`` (pytest
made itself non-dumpable, see :mod:`socketlab.instructor.inside`). Nothing the
run writes into its folder is read back. The grader decides (see
:mod:`socketlab.instructor.gradebook`). Only on Windows, where no descriptor
reaches a child and there is no sandbox either, do the records go to the file
named by ``SOCKETLAB_VERDICT_FILE`` instead: grading there is for trusted code.
"""

from __future__ import annotations

import json
import os

import pytest

from .build import JUDGED

_channel = None
_judge = None
_plans: dict[int, dict] = {}  # the judge's plan for each judged cell, by number
CELL_OUTPUT_BYTES = 64 * 2**10
RUN_OUTPUT_BYTES = 4 * 2**20
_TEXT_LIMIT = 16 * 2**10
_PNG_LIMIT = 48 * 2**10
_budget = [RUN_OUTPUT_BYTES]


def _text(value) -> str:
    text = "".join(value) if isinstance(value, list) else str(value)
    return text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT] + "\n… (cut here: the output was longer)"


def _kept(output: dict) -> dict | None:
    """One output as a page may show it: stream text, plain text, a PNG; nothing else."""
    kind = output.get("output_type")
    if kind == "stream":
        return {"output_type": "stream", "name": "stderr" if output.get("name") == "stderr" else "stdout",
                "text": _text(output.get("text", ""))}
    if kind == "error":
        return {"output_type": "error", "ename": _text(output.get("ename", "")),
                "evalue": _text(output.get("evalue", "")),
                "traceback": [_text(line) for line in list(output.get("traceback", []))[-60:]]}
    if kind in ("display_data", "execute_result"):
        data = output.get("data") or {}
        kept = {}
        png = data.get("image/png")
        if isinstance(png, str) and len(png) <= _PNG_LIMIT:
            kept["image/png"] = png
        if "text/plain" in data:
            kept["text/plain"] = _text(data["text/plain"])
        return {"output_type": "display_data", "metadata": {}, "data": kept} if kept else None
    return None


def outputs_of(raw) -> list[dict]:
    """A cell's outputs, bounded per cell and for the whole run."""
    kept, size = [], 0
    for output in raw or []:
        one = _kept(dict(output)) if isinstance(output, dict) else None
        if one is None:
            continue
        cost = len(json.dumps(one))
        if size + cost > min(CELL_OUTPUT_BYTES, _budget[0]):
            kept.append({"output_type": "stream", "name": "stderr",
                         "text": "… (more output here was left out of this page)\n"})
            break
        kept.append(one)
        size += cost
    _budget[0] -= size
    return kept


def pytest_configure(config) -> None:
    global _channel, _judge
    fd = os.environ.pop("SOCKETLAB_VERDICT_FD", None)
    path = os.environ.pop("SOCKETLAB_VERDICT_FILE", None)  # where no descriptor can be passed (Windows)
    if fd is not None:
        _channel = os.fdopen(int(fd), "w", encoding="utf-8", buffering=1)
        os.set_inheritable(int(fd), False)
    elif path is not None:
        _channel = open(path, "x", encoding="utf-8", buffering=1)
    plans = os.environ.pop("SOCKETLAB_PLANS_FD", None)
    if plans is not None:  # read, then closed: no process this one starts ever holds it
        with os.fdopen(int(plans), "rb") as f:
            _plans.update({int(k): v for k, v in json.loads(f.read() or b"{}").items()})
    if _channel is not None and JUDGED:
        from .judge import Judge

        _judge = Judge()  # before any kernel starts: each inherits where to find it


def pytest_unconfigure(config) -> None:
    if _judge is not None:
        _judge.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    kernel = getattr(getattr(item, "parent", None), "kernel", None)
    item._replies = replies = []
    if kernel is None:
        yield
        return
    if _judge is not None and hasattr(item, "cell_num"):
        _judge.begin(_plans.get(item.cell_num), _kernel_pid(kernel))
    get_message = kernel.get_message

    def recording(stream, timeout=None):
        msg = get_message(stream, timeout=timeout)
        if stream == "shell" and msg.get("msg_type") == "execute_reply":
            replies.append(msg["content"].get("status"))
        return msg

    kernel.get_message = recording
    try:
        yield
    finally:
        kernel.get_message = get_message
        if _judge is not None and hasattr(item, "cell_num"):
            item._judged = _judge.finish()


def _kernel_pid(kernel) -> int | None:
    """The process of the kernel nbval started: the only peer the judge takes an agent from."""
    manager = getattr(kernel, "km", None)
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or _channel is None or not hasattr(item, "cell_num"):
        return
    report = outcome.get_result()
    errors = [{"ename": str(o.get("ename", "")), "evalue": str(o.get("evalue", "")),
               "traceback": [str(line) for line in o.get("traceback", [])][-60:]}
              for o in getattr(item, "test_outputs", None) or [] if o.get("output_type") == "error"]
    replies = getattr(item, "_replies", [])
    record = {"cell": item.cell_num, "outcome": report.outcome, "reply": replies[-1] if replies else None,
              "errors": errors, "message": str(report.longrepr)[-4000:] if report.failed else "",
              "outputs": outputs_of(getattr(item, "test_outputs", None))}
    if getattr(item, "_judged", None) is not None:
        record["judged"] = item._judged
    _channel.write(json.dumps(record) + "\n")


def pytest_runtest_logreport(report) -> None:
    # nbval skips every cell after one that hung or killed the kernel: record those too.
    if _channel is None or report.when != "setup" or not report.skipped:
        return
    name = report.nodeid.rsplit("::", 1)[-1]
    if name.startswith("Cell "):
        _channel.write(json.dumps({"cell": int(name[5:]), "outcome": "skipped", "reply": None, "errors": [],
                                   "message": str(report.longrepr)[-1000:]}) + "\n")

"""A pytest plugin, loaded in the grader's pytest: what each notebook cell really did.

nbval judges a cell by the error output the kernel shows. A kernel whose
student silenced ``showtraceback`` shows none, and nbval calls the cell
passed. This plugin records, for every cell nbval runs:

- nbval's own outcome (passed, failed, skipped) and its message;
- the status of the kernel's *execute reply* (``ok``, ``error``, ``aborted``);
- the errors the kernel showed (name, value, traceback).

Each record is one JSON line on the file descriptor named by
``SOCKETLAB_VERDICT_FD``: a pipe to the grader that the kernel never inherits
(it is started with ``close_fds``) and cannot open through ``/proc`` (pytest
made itself non-dumpable, see :mod:`socketlab.instructor.inside`). Nothing the
run writes into its folder is read back. The grader decides (see
:mod:`socketlab.instructor.gradebook`).
"""

from __future__ import annotations

import json
import os

import pytest

_channel = None


def pytest_configure(config) -> None:
    global _channel
    fd = os.environ.pop("SOCKETLAB_VERDICT_FD", None)
    if fd is not None:
        _channel = os.fdopen(int(fd), "w", encoding="utf-8", buffering=1)
        os.set_inheritable(int(fd), False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    kernel = getattr(getattr(item, "parent", None), "kernel", None)
    item._replies = replies = []
    if kernel is None:
        yield
        return
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
              "errors": errors, "message": str(report.longrepr)[-4000:] if report.failed else ""}
    _channel.write(json.dumps(record) + "\n")


def pytest_runtest_logreport(report) -> None:
    # nbval skips every cell after one that hung or killed the kernel: record those too.
    if _channel is None or report.when != "setup" or not report.skipped:
        return
    name = report.nodeid.rsplit("::", 1)[-1]
    if name.startswith("Cell "):
        _channel.write(json.dumps({"cell": int(name[5:]), "outcome": "skipped", "reply": None, "errors": [],
                                   "message": str(report.longrepr)[-1000:]}) + "\n")

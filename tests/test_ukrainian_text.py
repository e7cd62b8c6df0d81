"""The Ukrainian edition shows no English a student would read: in what its notebooks print and draw
in text, in its panels, and in the command line's summaries.

English is recognised by the course's own English: the words of the messages in the catalog
(``socketlab.pot``'s msgids) that their Ukrainian translations do not keep. So a word
counts when the package could have said it in Ukrainian; names it keeps in both languages
(``recv``, ``sendall``, ``READY``, file names, Python's exception names) do not. What the
student's own programs print through Python (a traceback) is Python's, and is left out.
"""

import ast
import html.parser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from babel.messages.pofile import read_po
from nbclient import NotebookClient

from conftest import stray_values

ROOT = Path(__file__).resolve().parent.parent
UKRAINIAN = ROOT / "notebooks" / "uk"
CATALOG = ROOT / "socketlab" / "locale" / "uk" / "LC_MESSAGES" / "socketlab.po"
# 04 measures servers under load for most of a minute: a slow family (nbval still runs it)
# Each is a whole run of a notebook, which nbval runs too: the first in make test, the rest in the slow family.
EDITION = [p if p.name.startswith("01_") else pytest.param(p, marks=pytest.mark.slow)
           for p in sorted(UKRAINIAN.glob("*.ipynb"))]
# Python's and IPython's own words: a traceback a program printed, %%writefile's "Overwriting lab/server.py"
_PYTHON_OWN = re.compile(r"^(\[[\d:.]+\] )?(Traceback \(most recent call last\):|  File \".*|    .*|\w+(Error|Exception|"
                         r"Interrupt|Exit)\b.*)$|^(Writing|Overwriting) \S+$", re.M)


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"\{[^}]*\}", " ", text))}


def english_words() -> set[str]:
    with open(CATALOG, "rb") as f:
        catalog = read_po(f)
    english, kept = set(), set()
    for message in catalog:
        if not message.id:
            continue
        for text in (message.id if isinstance(message.id, tuple) else (message.id,)):
            english |= _words(text)
        for text in (message.string if isinstance(message.string, tuple) else (message.string,)):
            kept |= _words(text or "")
    return english - kept


ENGLISH = english_words()
WIDGET = "application/vnd.jupyter.widget-view+json"


class _Text(html.parser.HTMLParser):
    """The text of some HTML, with the alt, title and aria-label a screen reader reads."""

    def __init__(self):
        super().__init__()
        self.parts, self._hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("style", "script")
        self.parts += [v for k, v in attrs if k in ("alt", "title", "aria-label", "placeholder") and v]

    def handle_endtag(self, tag):
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def _text(value: str) -> str:
    if "<" not in value:
        return value
    parser = _Text()
    parser.feed(value)
    return " ".join(parser.parts)


def english_in(text: str, names: frozenset = frozenset()) -> list[str]:
    """The English words of ``text``: plain words only (``serve_one_client``, ``server.py``, ``READY`` are names,
    and so are ``names``: the words of the notebook's own code, such as the server kinds ``"sequential"``…)."""
    text = _PYTHON_OWN.sub("", text)
    return [token for token, keyword in re.findall(r"([A-Za-z_][\w./'-]*)(=?)", text)  # (a keyword= is a name)
            if re.fullmatch(r"[A-Za-z]+", token) and not keyword and not token.isupper() and token.lower() in ENGLISH
            and token.lower() not in names]


def labels(nb) -> frozenset:
    """The one-word strings of the notebook's code (``"sequential"``, a server kind the code names its panel
    by): names the student's own code would use, in either edition."""
    found = set()
    for cell in nb.cells:
        try:
            tree = ast.parse(cell.source) if cell.cell_type == "code" else None
        except SyntaxError:  # a %%writefile cell: its program's strings are its own output's
            continue
        found |= {n.value.lower() for n in ast.walk(tree or ast.Module(body=[], type_ignores=[]))
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.fullmatch(r"[A-Za-z]+", n.value)}
    return frozenset(found)


def shown(nb):
    """(where, text) for every output and every widget's visible string."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                yield cell.id, out.text
            elif out.output_type == "error":
                yield cell.id, out.evalue
            elif "text/html" in out.get("data", {}):
                yield cell.id, _text(out.data["text/html"])
            elif "text/plain" in out.get("data", {}) and WIDGET not in out.data:  # (a widget shows itself)
                yield cell.id, out.data["text/plain"]
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model in widgets.get("state", {}).values():
        for key in ("description", "placeholder", "tooltip", "value", "button_text"):
            value = model.get("state", {}).get(key)
            if isinstance(value, str) and value:
                yield f"{model.get('model_name')}.{key}", _text(value)


def test_the_detector_finds_english_and_spares_names():
    assert english_in("✘ the server closed the connection without a reply")
    assert english_in("   0.004s echo-server #1 accept from 127.0.0.1:5000") == ["from"]
    assert english_in("сервер закрив з'єднання: recv, sendall, READY, server.py, serve_one_client") == []
    assert english_in("Overwriting lab/server.py\n") == []
    assert english_in('Traceback (most recent call last):\n  File "x.py", line 3\nConnectionRefusedError: [Errno 111] '
                      'Connection refused') == []


@pytest.mark.parametrize("path", EDITION, ids=lambda p: p.name)
def test_the_ukrainian_notebooks_show_no_english(path, tmp_path):
    shutil.copytree(UKRAINIAN, tmp_path / "uk", ignore=shutil.ignore_patterns("uploads", "demo-uploads"))
    nb = nbformat.read(tmp_path / "uk" / path.name, as_version=4)
    NotebookClient(nb, timeout=90, kernel_name="python3", allow_errors=True, store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path / "uk")}}).execute()
    found = [(where, words[:8], text[:160]) for where, text in shown(nb) if (words := english_in(text, labels(nb)))]
    assert found == [], "English in the Ukrainian edition:\n" + "\n".join(map(str, found))
    assert stray_values(nb) == [], "a cell ends on a value it does not mean to show"



def test_the_command_line_speaks_the_locale(tmp_path):
    """``socketlab check`` on a released Ukrainian notebook, ``report`` refusing one never run, and
    ``course`` copying the course out, with LANG=uk_UA.UTF-8 and no --lang."""
    env = {**os.environ, "LANG": "uk_UA.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}
    cli = [sys.executable, "-m", "socketlab"]
    subprocess.run(cli + ["release", str(UKRAINIAN), str(tmp_path / "out"), "--no-workflow"], env=env,
                   check=True, capture_output=True, timeout=60)
    said = []
    for args in (["check", "01_echo.ipynb"], ["report", "01_echo.ipynb", "--student", "Шевченко Тарас",
                                              "--group", "КУІБ-22-1"], ["course", str(tmp_path / "course")]):
        done = subprocess.run(cli + args, env=env, cwd=tmp_path / "out", capture_output=True, text=True,
                              timeout=240)
        said.append(done.stdout + done.stderr)
    assert "NotImplementedError" in said[0] and "ваш код тут" in said[0], said[0]
    assert "скопійовано" in said[2], said[2]
    for text in said:
        assert english_in(text) == [], text

"""The package as a student's code finds it while graded: what an exercise allows, and nothing of the answer key.

Wherever a student's code runs while it is graded (the kernel, the lab's
programs, anything they start), this tree stands where the package is: the
sandbox mounts it over the package's folder (:mod:`socketlab.instructor.sandbox`),
and the notebook's own program checks put it first on the programs' path, so
that a program behaves there as it will when graded.

Its modules have the package's names, so a lesson's ``import socketlab`` and
``from socketlab.widgets import EchoPanel`` still work; but only these are real:

- of :mod:`socketlab.streams`, ``recv_line`` (and the errors it raises), and of
  :mod:`socketlab.protocol`, the client's half (building the header, parsing the
  replies): what notebook 03 lets an answer use; not the server's judgement of a
  name (``check_name``, ``parse_header``), which its exercises ask for;
- the kernel's side of a judged check: :mod:`socketlab.checks.harness`, the
  agent and its link (:mod:`socketlab.instructor.agent`, ``.link``);
- the language of the messages (:mod:`socketlab.i18n` and its catalogs), so a
  lesson's ``socketlab.use_language("uk")`` works and a stand-in speaks Ukrainian;
- this module, for the stand-ins.

Every other name is a stand-in that says, when it is used, that the course's
servers and clients stay with the grader. Nothing else of the package, and no
check, is in the tree: what is not there cannot be imported, run with
``-m socketlab`` or opened by its path.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["NotHereWhileGraded", "stand_in", "build", "cached_build", "program_env", "is_real"]

# Copied as they are (paths inside the package).
REAL = ("i18n.py", "studentside.py", "checks/harness.py", "instructor/agent.py", "instructor/link.py")
# What the package's own __init__ gives of the real modules (a lesson's first cell: socketlab.use_language("uk")).
_INIT = "from socketlab.i18n import language, use_language\n\n"
# Of these modules, only the named functions and classes (with what they need at module level).
PARTS = {"streams.py": ("recv_line",),
         # the client's half: 03's my_send_file may use it; receive_file and safe_name judge names themselves
         "protocol.py": ("build_header", "parse_reply", "Ready", "Ok", "ErrorReply", "FileHeader", "ProtocolError",
                         "LocalProtocolError", "RemoteProtocolError", "build_ready", "build_ok", "build_error")}
_STAND_IN = "from socketlab.studentside import stand_in\n\n__getattr__ = stand_in(__name__)\n"
_MAIN = ('import sys\n\nsys.exit("python -m socketlab: the course\'s servers and clients are not here while '
         'grading; write your own with the socket module")\n')


class NotHereWhileGraded(RuntimeError):
    """The course's own code was used where a student's code is graded."""


class _StandIn:
    """What ``socketlab.EchoServer`` is while graded: usable as a name, failing when used."""

    def __init__(self, dotted: str):
        self._dotted = dotted

    def _refuse(self, *args, **kwargs):
        from .i18n import _

        raise NotHereWhileGraded(_("{name} is the course's code, which is not here while grading: write it "
                                   "yourself with the socket module").format(name=self._dotted))

    __call__ = __iter__ = __enter__ = __bool__ = __len__ = __mro_entries__ = __await__ = _refuse

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StandIn(f"{self._dotted}.{name}")

    def __repr__(self) -> str:
        return f"<{self._dotted}: not here while grading>"


def _module_name(relative: str) -> str:
    return "socketlab." + relative.removesuffix(".py").replace("/", ".")


_REAL_MODULES = {_module_name(r) for r in (*REAL, *PARTS)}


def stand_in(module: str):
    """A module's ``__getattr__``: a real submodule is imported, any other name is a stand-in."""

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if f"{module}.{name}" in _REAL_MODULES:  # from socketlab import protocol
            return importlib.import_module(f"{module}.{name}")
        return _StandIn(f"{module}.{name}")

    return __getattr__


def _part_of(source: str, wanted: tuple[str, ...]) -> str:
    """A module's imports, constants and the definitions ``wanted`` needs, then the stand-ins for the rest."""
    tree = ast.parse(source)
    defined = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    keep, todo = set(), list(wanted)
    while todo:
        name = todo.pop()
        if name in keep or name not in defined:
            continue
        keep.add(name)
        todo += [n.id for n in ast.walk(defined[name]) if isinstance(n, ast.Name)]
    body = [n for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom)) or (isinstance(n, ast.Assign) and not any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets))
            or getattr(n, "name", None) in keep]
    docstring = ast.get_docstring(tree)
    text = (f'"""{docstring}"""\n\n' if docstring else "") + "\n\n\n".join(ast.unparse(n) for n in body)
    return f"{text}\n\n__all__ = {sorted(wanted)!r}\n{_STAND_IN}"


@functools.cache
def _real_names() -> frozenset[str]:
    """The dotted names that are real in the tree: its real modules, and what it keeps of the others."""
    names = set(_REAL_MODULES) - {_module_name(r) for r in PARTS}
    for relative, wanted in PARTS.items():
        kept = ast.parse(_part_of((_package() / relative).read_text(encoding="utf-8"), wanted))
        module = _module_name(relative)
        names |= {f"{module}.{n.name}" for n in kept.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return frozenset(names)


def is_real(dotted: str) -> bool:
    """Whether ``socketlab.streams.recv_line`` (say) is the real thing in the tree, not a stand-in."""
    return any(dotted == name or dotted.startswith(name + ".") for name in _real_names())


def _package() -> Path:
    return Path(__file__).resolve().parent


def build(dest: Path) -> Path:
    """Write the student-side tree into ``dest`` (a new folder); returns ``dest / "socketlab"``."""
    package = _package()
    root = Path(dest) / "socketlab"
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if "__pycache__" in relative:
            continue
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative in REAL:
            shutil.copyfile(path, target)
        elif relative in PARTS:
            target.write_text(_part_of(path.read_text(encoding="utf-8"), PARTS[relative]), encoding="utf-8")
        elif relative == "__main__.py":
            target.write_text(_MAIN, encoding="utf-8")
        elif not relative.startswith("instructor/"):  # of the grader's own tools, only the agent's two
            target.write_text((_INIT if relative == "__init__.py" else "") + _STAND_IN, encoding="utf-8")
    (root / "instructor" / "__init__.py").write_text(_STAND_IN, encoding="utf-8")
    from .i18n import compile_catalogs

    shutil.copytree(package / "locale", root / "locale", ignore=shutil.ignore_patterns("*.pot", "*.mo"))
    compile_catalogs(root / "locale")  # (a wheel's have no .po: its .mo files are copied below)
    for mo in package.glob("locale/*/LC_MESSAGES/*.mo"):
        if not (root / mo.relative_to(package)).exists():
            shutil.copyfile(mo, root / mo.relative_to(package))
    return root


@functools.cache
def _package_digest() -> str:
    """A hash of the package's code and catalogs, read once per process: the tree's name."""
    package = _package()
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *package.glob("locale/*/LC_MESSAGES/*.po")]):
        if "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cached_build() -> Path:
    """The student-side tree for this version of the package, built once in the temporary folder.

    Returns the folder to put on ``sys.path``. Its name holds a hash of the package's code, so
    one tree serves every run of the same version and a changed package gets a new one.
    """
    folder = Path(tempfile.gettempdir()) / f"socketlab-studentside-{_package_digest()}"
    if not (folder / "socketlab" / "__init__.py").is_file():
        fresh = Path(tempfile.mkdtemp(prefix=".socketlab-studentside-", dir=folder.parent))
        os.chmod(fresh, 0o755)  # a graded run's own user reads it
        build(fresh)
        try:
            os.rename(fresh, folder)  # at once, or not: another process may have made it meanwhile
        except OSError:
            shutil.rmtree(fresh, ignore_errors=True)
    return folder


# True in a graded run's judge, where the file system holds this tree in the package's place already.
MOUNTED = False


def program_env() -> dict[str, str]:
    """What a lab program's environment needs so that it finds the package as it will when graded."""
    if MOUNTED:
        return {}
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join([str(cached_build()), *([path] if path else [])])}

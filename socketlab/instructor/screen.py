"""Read a student's solution cells before anything runs: tampering and shortcuts, from the syntax tree.

This runs in the grader's own process, not in the student's kernel, so no
code of the student's can change what it finds.

*Tampering* is code that reaches the machinery a verdict rests on instead of
answering the exercise: the IPython shell (``get_ipython``, ``showtraceback``,
input and AST transformers), tracing and exception hooks, the interpreter's
internals (``builtins``, ``sys.modules``, frames, ``__globals__``…), dynamic
code (``eval``, ``exec``, ``__import__``, ``getattr`` with a computed name),
and rebinding a name the notebook's checks rely on (``socketlab``,
``AssertionError``…) or an attribute of something the student did not make
(``socket.socket.recv = …``). None of it is needed by any exercise. A notebook
with such code is graded ``tampered`` and shown to the instructor.

*Shortcuts* are an answer built on the course's own servers and clients (see
:mod:`socketlab.shortcuts`): the checks that rely on that answer fail, with a
message telling the student to write it with the socket module.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from .. import shortcuts
from .build import GradedNotebook, defined_functions
from .release import tags

__all__ = ["Finding", "tampering", "shortcuts_used", "screen"]

_FORBIDDEN_NAMES = {"get_ipython", "__import__", "eval", "exec", "compile", "globals", "vars", "locals",
                    "breakpoint", "setattr", "delattr", "__builtins__", "exit", "quit", "In", "Out"}
_FORBIDDEN_MODULES = {"builtins", "importlib", "ctypes", "gc", "inspect", "IPython", "ipykernel", "jupyter_client",
                      "zmq", "pytest", "_pytest", "nbval", "traitlets", "sitecustomize", "imp", "pdb", "bdb",
                      "code", "codeop", "marshal", "types", "dis", "tracemalloc", "faulthandler", "atexit",
                      "_thread", "cffi", "sysconfig", "site", "pickle", "operator"}
_FORBIDDEN_ATTRIBUTES = {"showtraceback", "_showtraceback", "showsyntaxerror", "set_custom_exc", "CustomTB",
                         "custom_exceptions", "input_transformers_cleanup", "input_transformers_post",
                         "input_transformer_manager", "ast_transformers", "run_cell", "run_cell_async",
                         "run_code", "kernel", "shell", "comm", "session", "iopub_socket", "displayhook",
                         "excepthook", "unraisablehook", "settrace", "setprofile", "modules", "meta_path",
                         "path_hooks", "path_importer_cache", "_getframe", "addaudithook", "monitoring",
                         "breakpointhook", "set_asyncgen_hooks", "setrecursionlimit", "_current_frames",
                         # copy one object's attributes onto another; hooks into every task of a loop
                         "update_wrapper", "wraps", "singledispatch", "singledispatchmethod", "set_task_factory",
                         "set_exception_handler",
                         "set_event_loop_policy", "set_event_loop"}
_FRAME_ATTRIBUTE = re.compile(r"^(f|tb|gi|cr|ag)_(frame|back|globals|locals|code|lineno|trace|next|builtins|await)$")
# What the exercises' answers may import: sockets and what serves them, nothing that runs code
# from strings or sets attributes by name (timeit, runpy, unittest.mock, operator…).
# (Not logging: its dictConfig calls what a string names; not string: Formatter.get_field reaches
# past the dot; not typing: get_type_hints evaluates strings; not dataclasses or codecs: they
# register or set what others use.)
_MODULES_ALLOWED = {"socket", "socketserver", "select", "selectors", "asyncio", "threading", "queue", "concurrent",
                    "time", "datetime", "os", "sys", "pathlib", "io", "errno", "struct", "json", "hashlib", "hmac",
                    "base64", "binascii", "zlib", "re", "textwrap", "unicodedata", "math", "random", "secrets",
                    "statistics", "collections", "itertools", "functools", "contextlib", "enum", "array", "__future__",
                    "argparse", "shutil", "tempfile", "uuid", "ipaddress", "traceback", "warnings", "glob",
                    "fnmatch", "stat", "socketlab"}
# Attributes honest code sets on objects it did not define the class of (a thread's daemon flag).
_STORES_ALLOWED = {"daemon", "name"}
# Methods that change a container in place: on what a module holds, they change the module.
_MUTATORS = {"append", "extend", "insert", "update", "setdefault", "clear", "pop", "popitem", "remove", "add",
             "discard", "sort", "reverse"}
_DUNDER = re.compile(r"^__\w+__$")
# The special methods a class of the student's may define; not __new__, __init_subclass__… which
# could make "a new instance" anything at all.
_DUNDER_METHODS_ALLOWED = {"__init__", "__enter__", "__exit__", "__aenter__", "__aexit__", "__repr__", "__str__",
                           "__call__", "__iter__", "__next__", "__len__", "__eq__", "__hash__", "__lt__"}
_LAB_FILE = re.compile(r"^(-a\s+)?lab/[\w.-]+$")  # what %%writefile may write: the lab's programs
_REFLECTION = {"getattr", "hasattr"}  # fine when called with a plain name, which the rules below check
_DUNDERS_ALLOWED = {"__name__", "__init__", "__doc__", "__enter__", "__exit__", "__aenter__", "__aexit__"}
_BUILTINS = set(dir(builtins))


@dataclass(frozen=True)
class Finding:
    cell: str   # the solution cell's id
    line: int
    what: str

    def __str__(self) -> str:
        return f"cell {self.cell}, line {self.line}: {self.what}"


def _python(source: str) -> str:
    """The cell as the kernel runs it: IPython's magics turned into Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _is_writefile(node: ast.Call) -> bool:
    """``%%writefile path``, as IPython turns it into Python: the one magic a solution may use."""
    f = node.func
    return (isinstance(f, ast.Attribute) and f.attr == "run_cell_magic" and isinstance(f.value, ast.Call)
            and isinstance(f.value.func, ast.Name) and f.value.func.id == "get_ipython"
            and bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "writefile")


def tampering(source: str, protected: set[str]) -> list[tuple[int, str]]:
    """``(line, what)`` for every construct that tampers; ``protected``: the names the checks rely on."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return []  # it fails by itself, visibly: nothing to fear
    made = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    made |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arg) for a in [n]}
    made |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    top_level = _top_level_stores(tree)
    imported = set()
    writefile = {id(n.func.value.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and _is_writefile(n)}
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    own_stores = _own_stores(tree)
    own_methods = {n.name: {m.name for m in n.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
                   for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    found = []

    def flag(node, what: str) -> None:
        found.append((getattr(node, "lineno", 0), what))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                top = module.split(".")[0]
                if top in _FORBIDDEN_MODULES:
                    flag(node, f"imports {module}")
                elif isinstance(node, ast.ImportFrom) and node.level:
                    flag(node, "imports from a file of its own")
                elif top not in _MODULES_ALLOWED:
                    # timeit, runpy, unittest.mock… run or patch code the screen never reads,
                    # and so would a module the student wrote with %%writefile
                    flag(node, f"imports {module}, which no exercise needs")
            if isinstance(node, ast.ImportFrom):  # from functools import update_wrapper
                for a in node.names:
                    if a.name in _FORBIDDEN_ATTRIBUTES:
                        flag(node, f"imports {a.name}")
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
            for a in node.names:
                bound_name = (a.asname or a.name).split(".")[0]
                same = isinstance(node, ast.Import) and a.asname in (None, a.name)
                if id(node) in top_level and bound_name in protected and not same:
                    flag(node, f"rebinds {bound_name}, which the checks rely on")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and id(node) in top_level:
            if node.name in protected or node.name in _BUILTINS:
                flag(node, f"rebinds {node.name}, which the checks rely on")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _DUNDER.match(node.value) \
                and node.value != "__main__":  # if __name__ == "__main__": is a script's own
            flag(node, f"names {node.value} in a string")  # getattr's or methodcaller's way past the dot
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id in _REFLECTION and id(node) not in called:
                flag(node, f"passes {node.id} around")  # map(getattr, …), reduce(getattr, …)
            elif isinstance(node.ctx, ast.Load) and id(node) not in writefile and (
                    node.id in _FORBIDDEN_NAMES or (node.id.startswith("_") and node.id not in made | {"__name__"})):
                flag(node, f"uses {node.id}")
            elif id(node) in top_level and (node.id in _BUILTINS or node.id in protected):
                flag(node, f"rebinds {node.id}, which the checks rely on")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.attr in own_methods.get(node.value.id, ()):
            flag(node, f"uses {node.value.id}.{node.attr} through its class, where self could be anything")
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if attr in _FORBIDDEN_ATTRIBUTES and not (attr == "run_cell_magic"):
                flag(node, f"uses .{attr}")
            elif _FRAME_ATTRIBUTE.match(attr) or (attr.startswith("__") and attr not in _DUNDERS_ALLOWED):
                flag(node, f"uses .{attr}")
            if isinstance(node.ctx, (ast.Store, ast.Del)) and attr not in _STORES_ALLOWED:
                if id(node) not in own_stores:
                    flag(node, f"changes .{attr} of something it did not make")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run_cell_magic":
            if not _is_writefile(node):
                flag(node, "runs a cell magic other than %%writefile")
            elif not _LAB_FILE.match(str(getattr(node.args[1], "value", "")) if len(node.args) > 1 else ""):
                flag(node, "writes a file outside lab/")
            elif len(node.args) > 2 and isinstance(node.args[2], ast.Constant) and isinstance(node.args[2].value, str):
                # the lab's program is code too, run by the grader: the same rules (sys.path, __import__, …)
                where = str(node.args[1].value).split()[-1]
                found += [(node.lineno + line, f"{where}: {what}") for line, what in tampering(node.args[2].value, set())]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str) and not name.value.startswith("_")
                    and name.value not in _FORBIDDEN_ATTRIBUTES):
                flag(node, "uses getattr with a computed or private name")
        elif isinstance(node, ast.Subscript) \
                and isinstance(node.ctx, (ast.Store, ast.Del)) and _root(node) in protected | imported:
            flag(node, f"changes an item of {_root(node)}, which it did not make")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS \
                and isinstance(node.func.value, (ast.Attribute, ast.Subscript)) \
                and _root(node.func.value) in protected | imported:
            flag(node, f"changes what {_root(node.func.value)} holds (.{node.func.attr})")
        elif isinstance(node, (ast.MatchAs, ast.MatchStar, ast.MatchMapping, ast.ExceptHandler)):
            name = node.rest if isinstance(node, ast.MatchMapping) else node.name
            if name in protected or name in _BUILTINS:
                flag(node, f"rebinds {name}, which the checks rely on")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                if name in protected or name in _BUILTINS:
                    flag(node, f"rebinds {name}, which the checks rely on")
    return sorted(set(found))


def _root(node) -> str | None:
    """The name an attribute or item chain starts from (``a`` of ``a.b[0].c``), or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _bindings(tree: ast.AST) -> dict[str, list[ast.AST]]:
    """Every place a name is bound: ``{name: [the node that binds it, …]}``."""
    found: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names = [node.id]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, (ast.MatchAs, ast.MatchStar, ast.ExceptHandler)):
            names = [node.name]
        elif isinstance(node, ast.MatchMapping):
            names = [node.rest]
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names = node.names
        for name in names:
            if name:
                found.setdefault(name, []).append(node)
    return found


def _plain_class(node: ast.ClassDef) -> bool:
    """A class whose instances are what they seem: no decorator, metaclass or constructor of its own."""
    dunders = {m.name for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
               and _DUNDER.match(m.name)}
    return not node.decorator_list and not node.keywords and dunders <= _DUNDER_METHODS_ALLOWED \
        and all(isinstance(b, (ast.Name, ast.Attribute)) for b in node.bases)


def _own_stores(tree: ast.Module) -> set[int]:
    """The attribute stores a cell may make (node ids): ``self.x = …`` in its own classes' methods, and
    ``h.x = …`` where ``h`` is only ever bound to a new instance of one of its own classes. Only one
    level deep: ``self.a.b = …`` could reach anything ``self.a`` was set to."""
    bindings = _bindings(tree)
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and _plain_class(n)
               and len(bindings.get(n.name, [])) == 1}
    instance_of_own = {id(t) for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                       and isinstance(n.value.func, ast.Name) and n.value.func.id in classes
                       for t in n.targets if isinstance(t, ast.Name)}
    instances = {name for name, where in bindings.items() if all(id(w) in instance_of_own for w in where)}
    allowed = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in classes):
        for method in cls.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or not method.args.args:
                continue
            me = method.args.args[0]
            if any(w is not me for w in _bindings(method).get(me.arg, [])):
                continue  # self rebound somewhere in the method: it could be anything
            allowed |= {id(n) for n in ast.walk(method) if isinstance(n, ast.Attribute)
                        and isinstance(n.ctx, (ast.Store, ast.Del))
                        and isinstance(n.value, ast.Name) and n.value.id == me.arg}
    return allowed | {id(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                      and isinstance(n.ctx, (ast.Store, ast.Del))
                      and isinstance(n.value, ast.Name) and n.value.id in instances}


def _top_level_stores(tree: ast.Module) -> set[int]:
    """The ids of the Name nodes a cell binds at its top level (not inside its functions and classes)."""
    stores: set[int] = set()

    def visit(node) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                if not isinstance(child, ast.Lambda):
                    stores.add(id(child))
                continue
            if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                stores.add(id(child))
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                stores.add(id(child))
            visit(child)

    visit(tree)
    return stores


def _bound_at_top(source: str) -> set[str]:
    """The names the instructor's solution cell binds at its top level (its answers, functions or not)."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} if target is not None else set()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def shortcuts_used(source: str, bound: dict[str, str], allowed: frozenset[str]) -> list[str]:
    try:
        return shortcuts.in_source(_python(source), bound, allowed)
    except SyntaxError:
        return []


def screen(graded: GradedNotebook, source_nb) -> tuple[list[Finding], dict[str, list[str]]]:
    """``(tampering findings, {answer function: course names it uses})`` for a built notebook."""
    others = [c.source for c in source_nb.cells if c.cell_type == "code" and "solution" not in tags(c)]
    bound: dict[str, str] = {}
    protected: set[str] = set()
    for text in others:
        try:
            tree = ast.parse(_python(text))
        except SyntaxError:
            continue
        bound.update(shortcuts.imported_names(_python(text)))
        bound.update(shortcuts.derived_names(_python(text), bound))  # the notebook's own servers, panels, …
        protected |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        protected |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                      if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    findings, used = [], {}
    for cell, student_source in graded.solutions:
        if student_source is None:
            continue
        answers = defined_functions(cell.source)
        mine = protected - set(answers) - _bound_at_top(cell.source)  # what the exercise itself asks to define
        findings += [Finding(str(cell.get("id", "?")), line, what) for line, what in tampering(student_source, mine)]
        allowed = frozenset().union(*(shortcuts.ALLOWED.get(n, frozenset()) for n in answers))
        names = shortcuts_used(student_source, bound, allowed)
        for answer in answers:
            if names:
                used[answer] = names
    return findings, used

"""Which answers are shortcuts: an exercise solved by calling the course's own servers and clients.

The package's ``EchoServer``, ``echo``, ``recv_exactly``, ``FileServer``,
``send_file``… are the answer key. An exercise asks for the same thing written
with the ``socket`` module, so a solution may use only what its exercise
allows (:data:`ALLOWED`: in 03 ``recv_line``, and for the client the
protocol's message builders).

Two views of the same rule:

- :func:`in_function` looks at a live function in the kernel, the names its code
  reaches at run time (aliases and closures included): what a check cell
  calls before it runs a student's function;
- :func:`in_source` reads a solution cell's syntax tree: what the grader uses,
  outside the student's kernel.
"""

from __future__ import annotations

import ast
import builtins
import dis
import types

__all__ = ["ALLOWED", "FIX", "in_function", "in_source"]

# What each exercise may take from socketlab, by the name of the function it asks for.
ALLOWED: dict[str, frozenset[str]] = {
    # The server parses the header and judges its name itself (safe_name): the protocol's
    # parser would refuse hostile names for it, and that is the lesson.
    "receive_file": frozenset({"socketlab.streams.recv_line"}),
    "my_send_file": frozenset({"socketlab.protocol", "socketlab.streams.recv_line"}),
}
# Methods of the reference servers, reached through any object.
REFERENCE_METHODS = frozenset({"handle_connection", "process_connection", "_serve_client", "serve_forever",
                               "recv_exactly", "recv_to_end", "send_file", "exchange"})
FIX = "write it yourself with the socket module"


def _allowed(dotted: str, allowed: frozenset[str]) -> bool:
    return any(dotted == a or dotted.startswith(a + ".") for a in allowed)


def _dotted(obj) -> str | None:
    """``socketlab.echo.EchoServer`` for an object of the package, else None."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    else:
        module = getattr(obj, "__module__", None)
        if not isinstance(module, str):
            module = getattr(type(obj), "__module__", "")
            obj = type(obj)
        name = f"{module}.{getattr(obj, '__qualname__', '')}".rstrip(".")
    return name if name == "socketlab" or name.startswith("socketlab.") else None


def in_function(function, allowed: frozenset[str] | None = None) -> list[str]:
    """The course's names that ``function`` (and the functions of the notebook it calls) would use."""
    extra = allowed or frozenset()
    found: list[str] = []
    seen: set[int] = set()

    def visit(fn) -> None:
        if remote(fn):
            found.extend(fn.shortcuts_used())
            return
        fn = getattr(fn, "__func__", fn)  # a bound method
        code = getattr(fn, "__code__", None)
        if code is None or id(code) in seen:
            return
        seen.add(id(code))
        allowed = extra | ALLOWED.get(getattr(fn, "__name__", ""), frozenset())
        scope = getattr(fn, "__globals__", {})
        closure = dict(zip(code.co_freevars, (c.cell_contents for c in fn.__closure__ or () if _filled(c))))
        for code_object in _codes(code):
            module = None  # the course's module the previous instruction loaded, for "socketlab.echo"
            for op in dis.get_instructions(code_object):
                name = op.argval
                if op.opname in ("LOAD_ATTR", "LOAD_METHOD") and module is not None and found:
                    found[-1] = f"{found[-1]}.{name}"
                    module = None
                    continue
                module = None
                if op.opname in ("LOAD_ATTR", "LOAD_METHOD") and name in REFERENCE_METHODS:
                    found.append(f".{name}()")
                if op.opname == "IMPORT_NAME" and name.startswith("socketlab") and not _allowed(name, allowed):
                    found.append(name)  # an import inside the function
                if op.opname not in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"):
                    continue
                obj = closure.get(name, scope.get(name, getattr(builtins, name, None)))
                if remote(obj):
                    visit(obj)
                    continue
                dotted = _dotted(obj) if obj is not None else None
                if dotted and not _allowed(dotted, allowed):
                    found.append(dotted)
                    module = obj if isinstance(obj, types.ModuleType) else None
                elif isinstance(obj, (types.FunctionType, types.MethodType)) and dotted is None:
                    visit(obj)  # a helper the student wrote: what does it use?

    visit(function)
    return sorted(set(found))


def remote(obj) -> bool:
    """A student's function that lives in another process (the grader's judge calls it there): it answers
    for itself, from there."""
    return callable(getattr(type(obj), "shortcuts_used", None))


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def in_source(source: str, bound: dict[str, str], allowed: frozenset[str]) -> list[str]:
    """The course's names a cell's code uses: imports, names the notebook bound to them, methods.

    ``bound`` maps the names earlier (instructor's) cells imported from socketlab to
    their dotted names, e.g. ``{"socketlab": "socketlab", "recv_line": "socketlab.streams.recv_line"}``.
    """
    tree = ast.parse(source)
    mine = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    mine |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    mine |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}  # a parameter named like a course object
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "socketlab" and not _allowed(a.name, allowed)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "socketlab":
            found += [f"{node.module}.{a.name}" for a in node.names if not _allowed(f"{node.module}.{a.name}", allowed)]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in bound and node.id not in mine:
            if not _allowed(bound[node.id], allowed):
                found.append(bound[node.id])
        elif isinstance(node, ast.Attribute) and node.attr in REFERENCE_METHODS:
            found.append(f".{node.attr}()")
    return sorted(set(found))


def derived_names(source: str, bound: dict[str, str]) -> dict[str, str]:
    """The names a cell binds to the course's own objects: ``server = EchoServer()``, ``kinds = [EchoServer]``,
    ``with EchoServer() as server``, ``for server in kinds`` bind ``server`` to ``socketlab.echo.EchoServer``.

    Only objects count (an alias, an instance of a class, a container of them), not what a course
    function returns (``port = free_port()`` is a number).
    """
    known = dict(bound)

    def course_object(node) -> str | None:
        """The dotted name of the course's object an expression gives, or None."""
        if isinstance(node, ast.Name):
            return known.get(node.id)
        if isinstance(node, ast.Attribute):
            base = course_object(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, (ast.Subscript, ast.Starred)):
            return course_object(node.value)
        if isinstance(node, ast.Call):
            made = course_object(node.func)
            # An instance of a class, what a method of an object gives (``EchoServer().start()``), a
            # container walked: an object of the course's. What a module's function returns is data.
            return made if made and _is_class(made) else None
        if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
            items = node.values if isinstance(node, ast.Dict) else node.elts
            return next(filter(None, map(course_object, items)), None)
        return None

    pairs = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            pairs += [(target, node.value) for target in node.targets]
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            pairs.append((node.target, node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            pairs.append((node.target, node.iter))
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            pairs.append((node.optional_vars, node.context_expr))
    found: dict[str, str] = {}
    changed = True
    while changed:  # until nothing new: ``kinds = [EchoServer]`` then ``for kind in kinds``
        changed = False
        for target, value in pairs:
            dotted = course_object(value)
            for name in (n.id for n in ast.walk(target) if isinstance(n, ast.Name)) if dotted else ():
                if name not in known:
                    known[name] = found[name] = dotted
                    changed = True
    return found


def _is_class(dotted: str) -> bool:
    """``socketlab.echo.EchoServer`` (or anything reached through it), not ``socketlab.programs.free_port``."""
    return any(part[:1].isupper() for part in dotted.split("."))


def imported_names(source: str) -> dict[str, str]:
    """The names a cell binds by importing from socketlab: ``{"protocol": "socketlab.protocol", …}``."""
    names = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "socketlab":
                    names[a.asname or a.name.split(".")[0]] = a.name if a.asname else "socketlab"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "socketlab":
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names

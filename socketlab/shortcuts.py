"""Which of the course's own names a student's function would use that are not there when it is graded.

While graded, the package a student's code finds is its student side
(:mod:`socketlab.studentside`): ``EchoServer``, ``echo``, ``recv_exactly``,
``FileServer``… are stand-ins there, so an answer built on them fails. In the
student's own notebook they are real, and such an answer would pass its check;
the check then says so (see :func:`socketlab.checks.no_shortcuts`), so that the
grade comes as no surprise. This is advice, never a verdict: the grade comes from
what the answer does, where the course's code is not.

:func:`in_function` reads a live function as it will run: the names its code
loads, resolved in its own globals and closure (aliases included), and the
functions of the notebook it calls, however deep.
"""

from __future__ import annotations

import builtins
import dis
import sys
import types

from .studentside import is_real

__all__ = ["in_function"]


def _dotted(obj) -> str | None:
    """``socketlab.echo.EchoServer`` for an object of the package, else None."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    else:
        if not isinstance(getattr(obj, "__qualname__", None), str):
            obj = type(obj)  # an instance: its class says whose it is
        name = f"{getattr(obj, '__module__', '')}.{obj.__qualname__}"
    return name if name == "socketlab" or name.startswith("socketlab.") else None


def in_function(function) -> list[str]:
    """The course's names that ``function`` (and the functions of the notebook it calls) would use,
    of those that are stand-ins when graded."""
    found: list[str] = []
    seen: set[int] = set()

    def visit(fn) -> None:
        fn = getattr(fn, "__func__", fn)  # a bound method
        code = getattr(fn, "__code__", None)
        if code is None or id(code) in seen:
            return
        seen.add(id(code))
        scope = getattr(fn, "__globals__", {})
        closure = dict(zip(code.co_freevars, (c.cell_contents for c in fn.__closure__ or () if _filled(c))))
        for code_object in _codes(code):
            local: dict[str, object] = {}  # what an import inside the function bound: name -> object
            module = None  # the course's module the previous instruction loaded: socketlab, then .echo…
            imported = None  # what the previous instruction imported, for the STORE or IMPORT_FROM after it
            from_list = None  # the constant before an IMPORT_NAME: the names a from-import takes
            for op in dis.get_instructions(code_object):
                name = op.argval
                if op.opname in ("LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM") and (module or imported) is not None:
                    taken = _take(getattr(module or imported, name, None), found)
                    # an IMPORT_FROM's module stays below it on the stack: what it took is for the STORE after
                    module, imported = (None, taken) if op.opname == "IMPORT_FROM" else (taken, None)
                    continue
                if op.opname in ("STORE_FAST", "STORE_NAME", "STORE_DEREF") and imported is not None:
                    local[name], imported = imported, None
                    continue
                module = imported = None
                if op.opname == "IMPORT_NAME" and str(name).split(".")[0] == "socketlab":
                    # ``from socketlab.x import y`` gives socketlab.x; ``import socketlab.x`` the package
                    imported = sys.modules.get(str(name) if from_list else "socketlab")
                    continue
                if op.opname == "LOAD_CONST":
                    from_list = name
                if op.opname == "LOAD_FAST" and name in local:
                    obj = local[name]
                elif op.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"):
                    obj = closure.get(name, scope.get(name, getattr(builtins, name, None)))
                else:
                    continue
                if isinstance(obj, types.ModuleType) and _dotted(obj):
                    module = obj  # what is taken from it decides
                elif _take(obj, found) is None and isinstance(obj, (types.FunctionType, types.MethodType)):
                    visit(obj)  # a helper the student wrote: what does it use?

    visit(function)
    return sorted(set(found))


def _take(obj, found: list[str]):
    """``obj`` if it is a module, else note it if it is the course's and a stand-in when graded."""
    dotted = _dotted(obj) if obj is not None else None
    if dotted and not isinstance(obj, types.ModuleType) and not is_real(dotted):
        found.append(dotted)
    return obj if isinstance(obj, types.ModuleType) else None


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

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
            module = None  # the course's module the previous instruction loaded: socketlab, then .echo…
            for op in dis.get_instructions(code_object):
                name = op.argval
                if op.opname in ("LOAD_ATTR", "LOAD_METHOD") and module is not None:
                    obj, module = getattr(module, name, None), None
                    dotted = _dotted(obj) if obj is not None else None
                    if isinstance(obj, types.ModuleType):
                        module = obj  # socketlab.streams: what is taken from it decides
                    elif dotted and not is_real(dotted):
                        found.append(dotted)
                    continue
                module = None
                if op.opname == "IMPORT_NAME" and str(name).startswith("socketlab.") and not is_real(name):
                    found.append(name)  # an import inside the function
                if op.opname not in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"):
                    continue
                obj = closure.get(name, scope.get(name, getattr(builtins, name, None)))
                dotted = _dotted(obj) if obj is not None else None
                if dotted and isinstance(obj, types.ModuleType):
                    module = obj
                elif dotted and not is_real(dotted):
                    found.append(dotted)
                elif isinstance(obj, (types.FunctionType, types.MethodType)) and dotted is None:
                    visit(obj)  # a helper the student wrote: what does it use?

    visit(function)
    return sorted(set(found))


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

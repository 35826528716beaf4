"""Characterization tests from the calls the project makes (``calls``): each observed call is
asserted to return what it returns today (``record``), as approval tests do. They say so in
their docstring: a failure means the behaviour changed, which may be intended."""

from __future__ import annotations

import ast
import builtins
import textwrap
from pathlib import Path

from . import calls, record
from .locate import Target, is_builtin_exception, snake
from .signature import invocation
from .writer import Test


def pinned_tests(target: Target, project: Path, python: str, import_root: Path,
                 read: bool = False) -> tuple[list[Test], str | None]:
    """A test asserting today's values of the project's literal calls of the target (its
    reads on instances built with literal arguments, for a property: ``read``), or why there is
    none."""
    found = calls.observed(target, project, read)
    if not found:
        return [], ("the project never reads it on an instance built with literal arguments"
                    if read else "the project never calls it with literal arguments")
    top = target.qualname.split(".")[0]
    built = sorted({u.rsplit(".", 1)[-1] for c in found for u in c.uses} - {top})
    expressions = [_callee(target, call) if read else
                   invocation(target, _callee(target, call), call.args) for call in found]
    prelude = f"import asyncio\nfrom {target.module} import {', '.join([top, *built])}"
    values = record.record([(e, c.raises) for e, c in zip(expressions, found, strict=True)],
                           prelude, python, import_root)
    # None from a body that returns no value says nothing: such a call is there for what it
    # changes (a setter of global state, which would leak into the other tests).
    procedure = not any(isinstance(n, ast.Return) and n.value is not None
                        for n in ast.walk(target.function))
    kept = [(e, v, c) for e, v, c in zip(expressions, values, found, strict=True)
            if v is not None and not (procedure and v == ("value", "None"))
            and (v[0] != "raises" or _exception(target, v[1]))]
    if not kept:
        return [], ("the project's literal calls of it raise, return None or vary between "
                    "runs")
    target.imports.add(top)
    target.imports.update(u.rsplit(".", 1)[-1] for _, _, c in kept for u in c.uses)
    name = f"test_{snake(target.qualname)}_pins_observed_calls"
    where = ", ".join(dict.fromkeys(_short(c.where, project) for _, _, c in kept))
    uses = "reads" if read else "calls"
    doc = textwrap.wrap(f"Characterization: pins what {target.qualname} returns today for the "
                        f"{uses} the project makes ({where}). A failure means its behaviour "
                        "changed, which may be intended.", 92)
    lines = [f"def {name}():", f'    """{doc[0]}', *(f"    {x}" for x in doc[1:]), '    """']
    lines += [_assertion(target, e, v) for e, v, _ in kept]
    return [Test(name, "\n".join(lines) + "\n", "pinned")], None


def _callee(target: Target, call: calls.Call) -> str:
    """The call of the target on a fresh instance built as the project built it, or by name."""
    if not call.owner:
        return target.qualname
    assert target.owner is not None
    return f"{target.owner.name}({call.owner_args}).{target.function.name}"


def _wrapped(expression: str) -> str:
    """``expression`` parenthesised when ``assert e == v`` would read it otherwise."""
    node = ast.parse(expression, mode="eval").body
    return expression if isinstance(node, ast.Call | ast.Name | ast.Attribute) else (
        f"({expression})")


def _exception(target: Target, qualified: str) -> str:
    """How the test names the exception ``module.qualname`` raised: a builtin by its name, one
    of the module's by its name (imported), else "" (no test)."""
    module, _, name = qualified.rpartition(".")
    if module == "builtins" and is_builtin_exception(name):
        return name
    if "." not in name and name in target.module_names:
        return name
    return ""


def _assertion(target: Target, expression: str, value: tuple[str, str]) -> str:
    kind, text = value
    if kind == "raises":
        name = _exception(target, text)
        if name not in dir(builtins):
            target.imports.add(name)
        return f"    with pytest.raises({name}):\n        {expression}"
    if kind == "repr":
        return f"    assert repr({expression}) == {text!r}"
    return f"    assert {_wrapped(expression)} {'is' if text in ('None', 'True', 'False') else '=='} {text}"


def _short(where: str, project: Path) -> str:
    path, _, line = where.rpartition(":")
    try:
        return f"{Path(path).relative_to(project)}:{line}"
    except ValueError:
        return where

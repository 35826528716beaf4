"""Tests from the signature and the guard clauses: each guard that raises becomes a
``pytest.raises(E, match=message)`` case, called with arguments under which it holds and every
guard before it does not; and how calls and result checks are spelled."""

from __future__ import annotations

import ast
import re
from typing import Any

from . import guards as guard_clauses
from .locate import UNKNOWN, Param, Reach, Target, exception_name, snake
from .writer import Test


def raises_tests(target: Target, reach: Reach) -> tuple[list[Test], str | None]:
    """A test per guard clause that raises, or why there is none."""
    guards = guard_clauses.guards_of(target.function, target.params)
    if not any(g.exception for g in guards):
        return [], "no guard clause raises at the top of its body"
    for param in target.params:
        param.candidates = guard_clauses.candidates(param, guards)
    required = [p for p in target.params if not p.has_default]
    if any(not p.candidates for p in required):
        return [], "its guards' parameters have no type or default to sample"
    tests: list[Test] = []
    valid = guard_clauses.search(target.params, required, guards, None)
    for index, guard in enumerate(guards):
        if guard.exception is None:
            continue
        names = guard_clauses.names_in(guard.test) & {p.name for p in target.params}
        varied = [p for p in target.params if p.name in names]
        base = valid or {p.name: (p.candidates[0] if p.candidates else p.default)
                         for p in target.params}
        env = guard_clauses.search(target.params, varied, guards[:index], guard, base)
        if env is None:
            continue
        args = arguments(target.params, env)
        match = f", match={_pattern(guard.message)}" if guard.message else ""
        exception = exception_name(target, guard.exception)
        name = (f"test_{snake(target.qualname)}_raises_{snake(guard.exception)}"
                f"{_suffix(tests, guard.exception)}")
        tests.append(Test(name, f"def {name}():\n"
                                f"    with pytest.raises({exception}{match}):\n"
                                f"        {invocation(target, reach.call, args)}\n", "raises"))
    return tests, None if tests else "no arguments were found that make its guards raise"


def arguments(params: list[Param], env: dict[str, Any]) -> str:
    """The argument list for ``env``: positional in order, keywords where a default is skipped
    or the parameter is keyword-only; defaults left out."""
    parts = []
    positional = True
    for param in params:
        value = env.get(param.name, UNKNOWN)
        if param.has_default and (value is UNKNOWN or (
                type(value) is type(param.default) and value == param.default)):
            positional = False
            continue
        if param.keyword_only or not positional:
            parts.append(f"{param.name}={value!r}")
        else:
            parts.append(repr(value))
    return ", ".join(parts)


def invocation(target: Target, call: str, args: str) -> str:
    """The call expression, run to its end: awaited for coroutines, listed for generators."""
    expression = f"{call}({args})"
    if isinstance(target.function, ast.AsyncFunctionDef):
        return f"asyncio.run({expression})"
    if generator(target.function):
        return f"list({expression})"
    return expression


def generator(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether ``function`` is a generator (a ``yield`` of its own, not of a nested def)."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                          | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return False


def return_check(target: Target) -> tuple[str, str] | None:
    """A test-name word and an assert on ``result`` for the return annotation (or the type the
    docstring states), when it names plain types."""
    annotation = target.function.returns or target.documented_return
    if annotation is None or generator(target.function):
        return None
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return "none", "assert result is None"
    types = _runtime_types(target, annotation)
    if not types:
        return None
    if types == ["float"]:
        types = ["int", "float"]  # an int is a float to typing
    word = "_or_".join(t.rsplit(".", 1)[-1].lower() for t in types if t != "type(None)")
    spelled = types[0] if len(types) == 1 else f"({', '.join(types)})"
    return word or "none", f"assert isinstance(result, {spelled})"


def _runtime_types(target: Target, annotation: ast.expr) -> list[str] | None:
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return ["type(None)"]
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        left = _runtime_types(target, annotation.left)
        right = _runtime_types(target, annotation.right)
        return None if left is None or right is None else left + right
    if isinstance(annotation, ast.Subscript):
        outer = annotation.value
        if isinstance(outer, ast.Name) and outer.id == "Optional":
            inner = _runtime_types(target, annotation.slice)
            return None if inner is None else inner + ["type(None)"]
        if isinstance(outer, ast.Name) and outer.id in ("list", "dict", "set", "tuple",
                                                        "frozenset"):
            return [outer.id]
        return None
    if isinstance(annotation, ast.Name):
        if annotation.id in ("int", "float", "str", "bool", "bytes", "list", "dict", "set",
                             "tuple", "frozenset", "complex"):
            return [annotation.id]
        if annotation.id in _classes(target) and annotation.id not in _TYPING_ALIASES:
            target.imports.add(annotation.id)
            return [annotation.id]
    return None


def _classes(target: Target) -> set[str]:
    """The module's names that may be classes: those it defines with ``class`` or imports
    (not its assignments, which are TypeVars and aliases that isinstance cannot take)."""
    assigned = {n.id for node in target.tree.body if isinstance(node, ast.Assign | ast.AnnAssign)
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                for n in ast.walk(t) if isinstance(n, ast.Name)}
    return target.module_names - assigned


_TYPING_ALIASES = frozenset({"Any", "Optional", "Union", "List", "Dict", "Iterable", "Iterator",
                             "Sequence", "Mapping", "Callable", "Tuple", "Set", "TypeVar",
                             "Self", "T", "Generator", "Type"})


def _pattern(message: str) -> str:
    """``message`` as a Python literal of a regex that matches it (pytest.raises(match=...))."""
    escaped = re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", message)
    if "\\" in escaped and "'" not in escaped and "\n" not in escaped:
        return f"r'{escaped}'"
    return repr(escaped)


def _suffix(tests: list[Test], exception: str) -> str:
    count = sum(1 for t in tests if f"_raises_{snake(exception)}" in t.name)
    return f"_{count + 1}" if count else ""

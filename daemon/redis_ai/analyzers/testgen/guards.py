"""Guard clauses (``if <condition>: raise E(...)`` at the top of a body) and the arguments that
make each of them hold, found by evaluating the conditions on candidate values.

Only literal values are ever evaluated, by a small evaluator for the shapes guards take
(comparisons, ``len``, ``isinstance``, ``not``/``and``/``or``); where it cannot decide, the
answer is UNKNOWN and no test is written for that case rather than one that might be wrong.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import _pysource
from .locate import UNKNOWN, Param, literal

_MAX_COMBINATIONS = 400
SAMPLES: dict[str, list[Any]] = {
    "int": [1, 2, 0, 10, -1, 100],
    "float": [1.5, 0.5, 2.0, 0.0, -1.5],
    "bool": [True, False],
    "str": ["abc", "a", "", "hello world"],
    "bytes": [b"abc", b""],
    "complex": [1j],
    "dict": [{"a": 1}, {}],
    "set": [{1, 2}, set()],
    "frozenset": [frozenset({1, 2})],
    "tuple": [(1, 2), ()],
    "None": [None],
}
"""Values tried for parameters of these types, the most ordinary first."""
_SEQUENCES = frozenset({"list", "List", "Sequence", "Iterable", "Collection", "MutableSequence"})
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Is: operator.is_,
    ast.IsNot: operator.is_not, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv, ast.Div: operator.truediv,
}


@dataclass
class Guard:
    """One guard clause: its condition, the exception it raises (None: it returns early) and
    the constant message of that exception, if any."""

    test: ast.expr
    exception: str | None
    message: str | None


def guards_of(function: ast.FunctionDef | ast.AsyncFunctionDef,
              parameters: list[Param]) -> list[Guard]:
    """The guard clauses at the top of the function body, in order: ``if test: raise E(...)``,
    with ``elif`` chains unrolled. An ``if`` that does not raise (an early return, say) is kept
    with no exception: code after it runs only when its test is false. Scanning stops at the
    first statement that calls anything or rebinds a parameter, since what follows depends on
    what it did."""
    params = {p.name for p in parameters}
    guards: list[Guard] = []
    for stmt in function.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the docstring
        if isinstance(stmt, ast.Assert):
            continue  # checked on the arguments of the result test instead
        if not isinstance(stmt, ast.If):
            if _harmless(stmt, params):
                continue
            return guards
        chain = stmt
        while True:
            raised = _raised(chain.body)
            if raised is None and (calls(chain.body) or _bound_in(chain.body) & params):
                return guards
            guards.append(Guard(chain.test, *(raised or (None, None))))
            if len(chain.orelse) == 1 and isinstance(chain.orelse[0], ast.If):
                chain = chain.orelse[0]
                continue
            if chain.orelse:
                return guards
            break
    return guards


def _harmless(stmt: ast.stmt, params: set[str]) -> bool:
    """Whether ``stmt`` can neither raise nor change a parameter: a nested def without calls in
    its decorators and defaults, or an assignment without calls to names that are not
    parameters."""
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        evaluated: list[ast.AST] = [*stmt.decorator_list, *stmt.args.defaults,
                                    *(d for d in stmt.args.kw_defaults if d is not None)]
        return stmt.name not in params and not any(
            isinstance(n, ast.Call) for e in evaluated for n in ast.walk(e))
    if isinstance(stmt, ast.Assign | ast.AnnAssign | ast.Pass):
        return not calls([stmt]) and not _bound_in([stmt]) & params and not any(
            isinstance(n, ast.Subscript | ast.Attribute | ast.BinOp) for n in ast.walk(stmt))
    return False


def calls(body: list[ast.stmt]) -> bool:
    return any(isinstance(n, ast.Call) for s in body for n in ast.walk(s))


def _bound_in(body: list[ast.stmt]) -> set[str]:
    return {n.id for s in body for n in ast.walk(s) if isinstance(n, ast.Name)
            and not isinstance(n.ctx, ast.Load)}


def _raised(body: list[ast.stmt]) -> tuple[str, str | None] | None:
    """The exception a guard body ends by raising, and its constant message if it has one."""
    if not body or not isinstance(body[-1], ast.Raise) or body[-1].exc is None:
        return None
    if calls(body[:-1]):
        return None
    exc = body[-1].exc
    message = None
    if isinstance(exc, ast.Call):
        if (len(exc.args) == 1 and isinstance(exc.args[0], ast.Constant)
                and isinstance(exc.args[0].value, str)):
            message = exc.args[0].value
        exc = exc.func
    chain = _pysource.attribute_chain(exc)
    return (".".join(chain), message) if chain else None


def names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def body_asserts_unknown(function: ast.FunctionDef | ast.AsyncFunctionDef,
                         env: dict[str, Any]) -> bool:
    """Whether a top-level ``assert`` of the body might fail on ``env``."""
    for stmt in function.body:
        if isinstance(stmt, ast.Assert) and evaluate(stmt.test, env) is not True:
            return True
    return False


# --- Candidate values ---------------------------------------------------------------------------


def candidates(param: Param, guards: list[Guard]) -> list[Any]:
    """Values worth trying for ``param``: samples of its annotated type, its default, and the
    values on either side of every constant a guard compares it with."""
    typed = typed_samples(param.annotation)
    found: list[Any] = []
    if param.has_default and param.default is not UNKNOWN:
        found.append(param.default)
    found.extend(typed or [])
    for guard in guards:
        found.extend(_boundary_values(guard.test, param.name, param.annotation))
    unique: list[Any] = []
    for value in found:
        if not any(type(value) is type(u) and value == u for u in unique):
            unique.append(value)
    if typed is None and not param.has_default:
        return []  # without a type or a default, boundary values alone are guesses
    return unique


def typed_samples(annotation: ast.expr | None) -> list[Any] | None:
    if annotation is None:
        return None
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return [None]
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            return typed_samples(ast.parse(annotation.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        left, right = typed_samples(annotation.left), typed_samples(annotation.right)
        return None if left is None or right is None else left + right
    if isinstance(annotation, ast.Name | ast.Attribute):
        name = annotation.id if isinstance(annotation, ast.Name) else annotation.attr
        if name in _SEQUENCES:
            return [[1, 2, 3], []]
        return list(SAMPLES[name]) if name in SAMPLES else None
    if isinstance(annotation, ast.Subscript):
        return _subscript_samples(annotation)
    return None


def _subscript_samples(annotation: ast.Subscript) -> list[Any] | None:
    """Samples for ``X[...]`` annotations: Optional, Union and the collections."""
    outer = annotation.value
    name = outer.id if isinstance(outer, ast.Name) else getattr(outer, "attr", "")
    inner = annotation.slice
    if name == "Optional":
        found = typed_samples(inner)
        return None if found is None else found + [None]
    if name == "Union" and isinstance(inner, ast.Tuple):
        parts = [typed_samples(e) for e in inner.elts]
        if any(p is None for p in parts):
            return None
        return [v for part in parts for v in part]  # type: ignore[union-attr]
    if name in _SEQUENCES or name in ("set", "frozenset", "tuple", "dict"):
        element = typed_samples(inner if not isinstance(inner, ast.Tuple) else None)
        if name == "dict" or element is None:
            # Elements of unknown type: only the empty collection is surely of the type.
            return [SAMPLES[name][-1]] if name in SAMPLES else [[]]
        items = [e for e in element if e is not None][:3]
        if name in _SEQUENCES:
            return [items, []]
        if name == "tuple":
            return [tuple(items), ()]
        try:
            return [set(items), set()] if name == "set" else [frozenset(items)]
        except TypeError:
            return None
    return None


def _boundary_values(test: ast.expr, name: str, annotation: ast.expr | None) -> list[Any]:
    values: list[Any] = []
    strings = typed_samples(annotation) == SAMPLES["str"]
    for node in ast.walk(test):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for left, right in itertools.pairwise(operands):
                for mine, other in ((left, right), (right, left)):
                    values.extend(_around(mine, other, name, strings))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
            node.func.id == "isinstance" and node.args and isinstance(node.args[0], ast.Name)
            and node.args[0].id == name
        ):
            values.extend([None, "x", 1, 1.5, [1]])
        elif _truth_test_of(node, name):
            values.extend([None, 0, "", []])
    if isinstance(test, ast.Name) and test.id == name:
        values.extend([None, 0, "", []])
    return values


def _truth_test_of(node: ast.AST, name: str) -> bool:
    """Whether ``node`` tests the truth of the bare parameter ``name`` (``not x``, ``x or y``)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return isinstance(node.operand, ast.Name) and node.operand.id == name
    if isinstance(node, ast.BoolOp):
        return any(isinstance(v, ast.Name) and v.id == name for v in node.values)
    return False


def _around(mine: ast.expr, other: ast.expr, name: str, strings: bool) -> list[Any]:
    constant = literal(other)
    if constant is UNKNOWN:
        return []
    if isinstance(mine, ast.Name) and mine.id == name:
        if isinstance(constant, bool) or constant is None:
            return [constant]
        if isinstance(constant, int | float):
            step = 1 if isinstance(constant, int) else 0.5
            return [constant - step, constant, constant + step]
        if isinstance(constant, str):
            return [constant, constant + "x", ""]
        if isinstance(constant, tuple | list | set | frozenset):
            members = list(constant)
            numbers = [m for m in members if isinstance(m, int | float)
                       and not isinstance(m, bool)]
            outside: list[Any] = ["unexpected"] if not numbers else [max(numbers) + 1]
            return members + outside
    if (isinstance(mine, ast.Call) and isinstance(mine.func, ast.Name) and mine.func.id == "len"
            and len(mine.args) == 1 and isinstance(mine.args[0], ast.Name)
            and mine.args[0].id == name and isinstance(constant, int)
            and not isinstance(constant, bool)):
        sizes = [n for n in (constant - 1, constant, constant + 1) if 0 <= n <= 64]
        return [("a" * n) if strings else list(range(1, n + 1)) for n in sizes]
    return []


def search(params: list[Param], varied: list[Param], must_fail: list[Guard],
            must_hold: Guard | None, base: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Values for the parameters under which every guard in ``must_fail`` is false and
    ``must_hold`` (if any) true, trying candidates for the ``varied`` parameters only."""
    env = dict(base) if base is not None else {
        p.name: p.default if p.has_default else UNKNOWN for p in params}
    choices = [p.candidates or [env.get(p.name, UNKNOWN)] for p in varied]
    for values in itertools.islice(itertools.product(*choices), _MAX_COMBINATIONS):
        trial = dict(env)
        trial.update(zip([p.name for p in varied], values, strict=True))
        if any(evaluate(g.test, trial) is not False for g in must_fail):
            continue
        if must_hold is not None and evaluate(must_hold.test, trial) is not True:
            continue
        return trial
    return None


def evaluate(node: ast.expr, env: dict[str, Any]) -> Any:
    """The value of a guard expression over literal values; UNKNOWN when it is anything more."""
    try:
        return _value(node, env)
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return UNKNOWN


def _value(node: ast.expr, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env.get(node.id, UNKNOWN)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = [_value(e, env) for e in node.elts]
        if any(i is UNKNOWN for i in items):
            return UNKNOWN
        return set(items) if isinstance(node, ast.Set) else tuple(items)
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, env)
        if operand is UNKNOWN:
            return UNKNOWN
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else UNKNOWN
    if isinstance(node, ast.BoolOp):
        return _bool_op(node, env)
    if isinstance(node, ast.Compare):
        return _compare(node, env)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _value(node.left, env), _value(node.right, env)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool)
                      for v in (left, right))
        return _ARITHMETIC[type(node.op)](left, right) if numbers else UNKNOWN
    if isinstance(node, ast.Call):
        return _builtin_call(node, env)
    return UNKNOWN


def _bool_op(node: ast.BoolOp, env: dict[str, Any]) -> Any:
    # Python's own short-circuit: an unknown operand only matters if it is reached.
    is_and = isinstance(node.op, ast.And)
    for operand in node.values:
        value = _value(operand, env)
        if value is UNKNOWN:
            return UNKNOWN
        if bool(value) != is_and:
            return value
    return value


def _compare(node: ast.Compare, env: dict[str, Any]) -> Any:
    left = _value(node.left, env)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _value(comparator, env)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True


def _builtin_call(node: ast.Call, env: dict[str, Any]) -> Any:
    if not isinstance(node.func, ast.Name) or node.keywords:
        return UNKNOWN
    args = [_value(a, env) for a in node.args]
    if node.func.id == "len" and len(args) == 1 and args[0] is not UNKNOWN:
        return len(args[0])
    if node.func.id != "isinstance" or len(node.args) != 2 or args[0] is UNKNOWN:
        return UNKNOWN
    kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
    types = []
    for kind in kinds:
        value = getattr(builtins, kind.id, None) if isinstance(kind, ast.Name) else None
        if not isinstance(value, type):
            return UNKNOWN
        types.append(value)
    return isinstance(args[0], tuple(types))



"""Test generation: a pytest module for the Python function at the cursor, offered on
``execute_code`` and ``request`` events (or when an event names this analyzer).

The tests are derived from what the source says, never from running it:

* docstring examples (doctest ``>>>`` lines) become statements and asserts;
* guard clauses (``if <condition>: raise E(...)`` at the top of the body) become ``pytest.raises``
  cases, with arguments found by evaluating the condition on candidate values;
* the signature (type hints, defaults) gives arguments that pass every guard, and the return
  annotation what to assert about the result.

Only literal values are ever evaluated, by a small evaluator for the shapes guards take
(comparisons, ``len``, ``isinstance``, ``not``/``and``/``or``); where it cannot decide, no test is
written for that case rather than one that might be wrong. The module imports the real function
from the file's import path, so running it tests the real code.
"""

from __future__ import annotations

import ast
import builtins
import doctest
import itertools
import keyword
import logging
import operator
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _pysource
from .base import Analyzer, Event, Item

log = logging.getLogger(__name__)

_UNKNOWN = object()
"""What the guard evaluator returns (and the value of a parameter) when it cannot tell."""

_MAX_COMBINATIONS = 400
_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
_SAMPLES: dict[str, list[Any]] = {
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
_PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod", "cache", "lru_cache"})
_IO_NAMES = frozenset({
    "open", "input", "exit", "quit", "os", "shutil", "subprocess", "sys", "socket", "urllib",
    "http", "requests", "pathlib", "Path", "tempfile", "signal", "time", "asyncio", "threading",
    "multiprocessing", "webbrowser", "smtplib", "ftplib",
})
_IO_METHODS = frozenset({
    "write", "write_text", "write_bytes", "unlink", "remove", "rmdir", "mkdir", "makedirs",
    "rename", "send", "sendall", "connect", "kill", "terminate", "touch", "rmtree", "system",
    "popen", "chmod", "chown", "truncate", "flush", "read", "readline", "readlines", "recv",
})
_PRINTING = frozenset({"print", "pprint", "pp"})
_ATOMS = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.Constant, ast.List, ast.Tuple,
          ast.Dict, ast.Set, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
          ast.JoinedStr)
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


class TestGeneration(Analyzer):
    """A pytest module for the function at the cursor."""

    __test__ = False  # a class named Test* is not a test class to pytest
    name = "test_generation"
    kind = "tests"
    languages = frozenset({"python"})

    def wants(self, event: Event) -> bool:
        """Only on execute_code and request events, or when the event names this analyzer."""
        if not super().wants(event):
            return False
        return event.get("analyzers") is not None or event.get("intent") in (
            "execute_code", "request")

    def analyze(self, event: Event) -> list[Item] | None:
        """One ``{title, text, path, line}`` item with the generated module (``line``: the
        buffer line of the function's ``def``), or [] when there is no importable function at
        the cursor."""
        if not self.wants(event):
            return None
        try:
            item = generate(event)
        except Exception:  # an analyzer must survive any text; the failure is logged, not sent
            log.exception("test_generation failed on %s", event.get("file"))
            return []
        return [item] if item else []


# --- Where the code lives -----------------------------------------------------------------------


def module_of(path: str) -> tuple[Path, str] | None:
    """The folder to put on sys.path and the dotted module name that imports ``path``: the
    nearest folder up from the file that is not a package (has no __init__.py)."""
    file = Path(path)
    if file.suffix != ".py":
        return None
    parts = [] if file.stem == "__init__" else [file.stem]
    folder = file.parent
    while (folder / "__init__.py").exists() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    if not parts or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        return None
    return folder, ".".join(parts)


def project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` with a project marker (pyproject.toml, .git, ...);
    ``start`` itself when there is none."""
    for folder in [start, *start.parents]:
        if any((folder / marker).exists() for marker in _PROJECT_MARKERS):
            return folder
    return start


# --- What the function says about itself --------------------------------------------------------


@dataclass
class _Param:
    name: str
    keyword_only: bool
    annotation: ast.expr | None
    default: Any = _UNKNOWN
    has_default: bool = False
    candidates: list[Any] = field(default_factory=list)


@dataclass
class _Guard:
    test: ast.expr
    exception: str | None
    message: str | None


@dataclass
class _Target:
    """The function under test and everything the generated module needs to reach it."""

    function: ast.FunctionDef | ast.AsyncFunctionDef
    owner: ast.ClassDef | None
    qualname: str
    module: str
    module_names: set[str]
    params: list[_Param]
    imports: set[str] = field(default_factory=set)
    uses_pytest: bool = False
    uses_asyncio: bool = False
    imports_module: bool = False
    example_names: set[str] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)


def generate(event: Event) -> Item | None:
    """The generated test module for the function at the cursor of ``event``, if any."""
    located = module_of(event.get("file") or "")
    if located is None:
        return None
    import_root, module = located
    source = _pysource.source_of(event)
    if source.tree is None:
        return None
    line = event["line"] - event.get("first_line", 1) + 1 - source.offset
    found = _importable_function(source.tree, line)
    if found is None:
        return None
    function, owner, qualname = found
    if owner is not None and function.name.startswith("__") and not function.name.endswith("__"):
        return None  # name-mangled: not reachable by its name
    target = _Target(function, owner, qualname, module, _module_names(source.tree),
                     _params(function, owner))
    tests = _doctest_tests(target) + _signature_tests(target)
    if not tests:
        return None
    root = project_root(import_root)
    tests_dir = root / "tests"
    short = module.rsplit(".", 1)[-1]
    text = _module_text(target, tests, os.path.relpath(import_root, tests_dir))
    if _pysource._parse(text)[0] is None:
        log.error("test_generation wrote a module that does not parse for %s", qualname)
        return None
    # The marker goes on the `def` line (not the cursor's, nor a decorator's).
    return {"title": f"pytest tests for {module}.{qualname}", "text": text,
            "path": str(tests_dir / f"test_{short}.py"),
            "line": source.buffer_line(function.lineno)}


def _importable_function(
    tree: ast.Module, line: int
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None, str] | None:
    """The function at ``line`` if it can be imported: module level, or a method of a class
    at module level (nested classes included); the nearest such one around ``line``."""
    body: list[ast.stmt] = tree.body
    owners: list[ast.ClassDef] = []
    while True:
        for node in body:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            if start <= line <= (node.end_lineno or node.lineno):
                break
        else:
            return None
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            qualname = ".".join([o.name for o in owners] + [node.name])
            return node, owners[-1] if owners else None, qualname
        if not isinstance(node, ast.ClassDef):
            return None
        owners.append(node)
        body = node.body


def _module_names(tree: ast.Module) -> set[str]:
    """Names bound at module level (importable from the module)."""
    names: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If) and _type_checking(node.test):
            stack.extend(node.orelse)  # what only type checkers import is not there to import
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for name in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, name, []))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)
    return names


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _params(function: ast.FunctionDef | ast.AsyncFunctionDef,
            owner: ast.ClassDef | None) -> list[_Param]:
    args = function.args
    positional = args.posonlyargs + args.args
    if owner is not None and not _decorated(function, "staticmethod") and positional:
        positional = positional[1:]  # self or cls
    params = [_Param(a.arg, False, a.annotation) for a in positional]
    params += [_Param(a.arg, True, a.annotation) for a in args.kwonlyargs]
    defaults = [None] * max(len(positional) - len(args.defaults), 0) + list(args.defaults)
    for param, default in zip(params, defaults + list(args.kw_defaults), strict=False):
        if default is not None:
            param.has_default = True
            param.default = _literal(default)
    return params


def _decorated(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    return any(isinstance(d, ast.Name) and d.id == name for d in function.decorator_list)


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNKNOWN


# --- Docstring examples -------------------------------------------------------------------------


def _doctest_tests(target: _Target) -> list[str]:
    docstring = ast.get_docstring(target.function, clean=True)
    if not docstring or ">>>" not in docstring:
        return []
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError:
        return []
    examples = [e for e in examples if not e.options.get(doctest.SKIP)]
    checked = [i for i, e in enumerate(examples) if e.want.strip() or e.exc_msg is not None]
    if not checked:
        return []  # examples that check nothing are illustrations (a server loop, say)
    lines: list[str] = []
    capsys = False
    for example in examples[:checked[-1] + 1]:
        statement = _example_lines(target, example)
        if statement is None:
            return []  # later examples may need what this one would have set up
        body, uses_capsys = statement
        capsys |= uses_capsys
        lines.extend(body)
    if not lines or target.unresolved:
        return []  # names the examples take from elsewhere (doctest globs, say)
    name = _snake(target.qualname)
    signature = "capsys" if capsys else ""
    return [f"def test_{name}_docstring_examples({signature}):\n" + "".join(
        f"    {line}\n" for line in lines)]


def _example_lines(target: _Target, example: doctest.Example) -> tuple[list[str], bool] | None:
    """The test lines for one doctest example and whether they read captured output."""
    code = example.source.rstrip("\n")
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    _import_used(target, tree)
    want = example.want.replace("<BLANKLINE>", "")
    if example.exc_msg is not None:
        exception = _exception_name(target, want.strip().splitlines()[-1].split(":")[0])
        target.uses_pytest = True
        return [f"with pytest.raises({exception}):"] + [f"    {x}" for x in code.split("\n")], False
    if not want.strip() or example.options:
        return code.split("\n"), False
    expression = tree.body[0] if len(tree.body) == 1 else None
    printed = (isinstance(expression, ast.Expr) and isinstance(expression.value, ast.Call)
               and _printing(expression.value.func))
    if isinstance(expression, ast.Expr) and not printed:
        code = ast.get_source_segment(code, expression.value) or code  # without its comment
    if isinstance(expression, ast.Expr) and not printed and "\n" not in want.rstrip("\n"):
        if not isinstance(expression.value, _ATOMS):
            code = f"({code})"  # `a == b` must not chain with the assert's own `==`
        return [_expected(code, want.rstrip("\n"))], False
    if isinstance(expression, ast.Expr) and not printed:
        # Output over several lines: what doctest compares, printed text then the repr.
        return [f"result = {code}", 'shown = "" if result is None else repr(result) + "\\n"',
                f"assert capsys.readouterr().out + shown == {want!r}"], True
    return code.split("\n") + [f"assert capsys.readouterr().out == {want!r}"], True


def _printing(func: ast.expr) -> bool:
    """Whether a call of ``func`` prints its result (print, pprint.pprint, pp) instead."""
    if isinstance(func, ast.Attribute):
        return func.attr in _PRINTING and isinstance(func.value, ast.Name) and (
            func.value.id == "pprint")
    return isinstance(func, ast.Name) and func.id in _PRINTING


def _expected(code: str, want: str) -> str:
    """``assert <code> == <want>`` when ``want`` is a literal that reads back as written, else
    a comparison of reprs, which is what the doctest itself checks."""
    if "\n" in code:
        code = f"({code})"
    try:
        value = ast.literal_eval(want)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return f"assert repr({code}) == {want!r}"
    if repr(value) != want.strip():
        return f"assert repr({code}) == {want!r}"
    if value is None or isinstance(value, bool):
        return f"assert {code} is {want.strip()}"
    return f"assert {code} == {want.strip()}"


def _import_used(target: _Target, tree: ast.AST) -> None:
    """Import from the module every module-level name the code uses and does not bind (in
    this example or an earlier one: an example's own imports count)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            target.example_names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            target.example_names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            target.example_names.add(node.name)
    short = target.module.rsplit(".", 1)[-1]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or node.id in target.example_names:
            continue
        if node.id in target.module_names:
            target.imports.add(node.id)
        elif node.id == short:
            target.imports_module = True  # examples written as a user of the module
        elif not hasattr(builtins, node.id):
            target.unresolved.add(node.id)


def _exception_name(target: _Target, name: str) -> str:
    """How the generated module refers to exception ``name`` (as raised or printed)."""
    name = name.strip()
    short = name.rsplit(".", 1)[-1]
    root = name.split(".")[0]
    if _is_builtin_exception(short) and ("." not in name or root == "builtins"):
        return short
    if root in target.module_names:
        target.imports.add(root)
        return name
    if short in target.module_names:
        target.imports.add(short)
        return short
    return "Exception"


def _is_builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


# --- Signature and guards -----------------------------------------------------------------------


def _signature_tests(target: _Target) -> list[str]:
    if not _plain_decorators(target.function):
        return []  # a property, a wrapper: calling the name may not call this body
    call = _call_prefix(target)
    if call is None:
        return []
    guards = _guards(target)
    for param in target.params:
        param.candidates = _candidates(param, guards)
    required = [p for p in target.params if not p.has_default]
    if any(not p.candidates for p in required):
        return []  # an argument of unknown type: no call can be written
    tests: list[str] = []
    valid = _search(target.params, required, guards, None)
    for index, guard in enumerate(guards):
        if guard.exception is None:
            continue
        names = _names(guard.test) & {p.name for p in target.params}
        varied = [p for p in target.params if p.name in names]
        base = valid or {p.name: (p.candidates[0] if p.candidates else p.default)
                         for p in target.params}
        env = _search(target.params, varied, guards[:index], guard, base)
        if env is None:
            continue
        target.uses_pytest = True
        args = _arguments(target.params, env)
        match = f", match={_pattern(guard.message)}" if guard.message else ""
        exception = _exception_name(target, guard.exception)
        tests.append(
            f"def test_{_snake(target.qualname)}_raises_{_snake(guard.exception)}"
            f"{_suffix(tests, guard.exception)}():\n"
            f"    with pytest.raises({exception}{match}):\n"
            f"        {_invocation(target, call, args)}\n")
    # The body runs to the end for the result: only for functions of numbers (sample strings
    # and collections rarely have the content a function expects, methods depend on their
    # instance's state) that do no visible I/O.
    if (valid is not None and not call.endswith(f"().{target.function.name}")
            and required and all(_numeric(p.annotation) for p in required)
            and _io_free(target.function) and not _body_asserts_unknown(target, valid)):
        result = _result_test(target, call, _arguments(target.params, valid))
        if result is not None:
            tests.insert(0, result)
    return tests


def _numeric(annotation: ast.expr | None) -> bool:
    """Whether ``annotation`` names only numbers (bool included), or None."""
    samples = _typed_samples(annotation)
    return samples is not None and all(isinstance(v, int | float | complex) or v is None
                                       for v in samples)


def _plain_decorators(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether every decorator keeps the call going straight to the body."""
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call):
            decorator = decorator.func
        name = decorator.attr if isinstance(decorator, ast.Attribute) else getattr(
            decorator, "id", "")
        if name not in _PLAIN_DECORATORS:
            return False
    return True


def _io_free(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the body calls nothing that reads or changes the world outside the process's
    memory (files, processes, the network, the terminal) as far as can be seen."""
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _IO_METHODS:
            return False
        while isinstance(func, ast.Attribute):
            func = func.value
        if isinstance(func, ast.Name) and func.id in _IO_NAMES:
            return False
    return True


def _pattern(message: str) -> str:
    """``message`` as a Python literal of a regex that matches it (pytest.raises(match=...))."""
    escaped = re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", message)
    if "\\" in escaped and "'" not in escaped and "\n" not in escaped:
        return f"r'{escaped}'"
    return repr(escaped)


def _suffix(tests: list[str], exception: str) -> str:
    count = sum(1 for t in tests if f"_raises_{_snake(exception)}" in t.split("(")[0])
    return f"_{count + 1}" if count else ""


def _call_prefix(target: _Target) -> str | None:
    """How the function is reached: ``f``, ``Cls.f`` or ``Cls().f``; None if no instance can be
    made (a constructor that needs arguments, or unknown base classes)."""
    function, owner = target.function, target.owner
    top = target.qualname.split(".")[0]
    if owner is None or _decorated(function, "staticmethod") or _decorated(function,
                                                                           "classmethod"):
        target.imports.add(top)
        return target.qualname
    if owner.bases or owner.keywords or any(
        not (isinstance(d, ast.Name) and d.id == "dataclass") for d in owner.decorator_list
    ):
        return None
    for node in owner.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            args = node.args
            if len(args.args) - 1 > len(args.defaults) or any(d is None
                                                              for d in args.kw_defaults):
                return None
            if _calls(node.body):
                return None  # building the instance would run code (I/O, say) of its own
        if (owner.decorator_list and isinstance(node, ast.AnnAssign) and node.value is None
                and isinstance(node.target, ast.Name)):
            return None  # a dataclass field without a default is a required argument
    owner_path, _, method = target.qualname.rpartition(".")
    target.imports.add(top)
    return f"{owner_path}().{method}"


def _guards(target: _Target) -> list[_Guard]:
    """The guard clauses at the top of the function body, in order: ``if test: raise E(...)``,
    with ``elif`` chains unrolled. An ``if`` that does not raise (an early return, say) is kept
    with no exception: code after it runs only when its test is false. Scanning stops at the
    first statement that calls anything or rebinds a parameter, since what follows depends on
    what it did."""
    params = {p.name for p in target.params}
    guards: list[_Guard] = []
    for stmt in target.function.body:
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
            if raised is None and (_calls(chain.body) or _bound_in(chain.body) & params):
                return guards
            guards.append(_Guard(chain.test, *(raised or (None, None))))
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
        return not _calls([stmt]) and not _bound_in([stmt]) & params and not any(
            isinstance(n, ast.Subscript | ast.Attribute | ast.BinOp) for n in ast.walk(stmt))
    return False


def _calls(body: list[ast.stmt]) -> bool:
    return any(isinstance(n, ast.Call) for s in body for n in ast.walk(s))


def _bound_in(body: list[ast.stmt]) -> set[str]:
    return {n.id for s in body for n in ast.walk(s) if isinstance(n, ast.Name)
            and not isinstance(n.ctx, ast.Load)}


def _raised(body: list[ast.stmt]) -> tuple[str, str | None] | None:
    """The exception a guard body ends by raising, and its constant message if it has one."""
    if not body or not isinstance(body[-1], ast.Raise) or body[-1].exc is None:
        return None
    if _calls(body[:-1]):
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


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _body_asserts_unknown(target: _Target, env: dict[str, Any]) -> bool:
    """Whether a top-level ``assert`` of the body might fail on ``env``."""
    for stmt in target.function.body:
        if isinstance(stmt, ast.Assert) and _evaluate(stmt.test, env) is not True:
            return True
    return False


# --- Candidate values ---------------------------------------------------------------------------


def _candidates(param: _Param, guards: list[_Guard]) -> list[Any]:
    """Values worth trying for ``param``: samples of its annotated type, its default, and the
    values on either side of every constant a guard compares it with."""
    typed = _typed_samples(param.annotation)
    found: list[Any] = []
    if param.has_default and param.default is not _UNKNOWN:
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


def _typed_samples(annotation: ast.expr | None) -> list[Any] | None:
    if annotation is None:
        return None
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return [None]
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            return _typed_samples(ast.parse(annotation.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        left, right = _typed_samples(annotation.left), _typed_samples(annotation.right)
        return None if left is None or right is None else left + right
    if isinstance(annotation, ast.Name | ast.Attribute):
        name = annotation.id if isinstance(annotation, ast.Name) else annotation.attr
        if name in _SEQUENCES:
            return [[1, 2, 3], []]
        return list(_SAMPLES[name]) if name in _SAMPLES else None
    if isinstance(annotation, ast.Subscript):
        return _subscript_samples(annotation)
    return None


def _subscript_samples(annotation: ast.Subscript) -> list[Any] | None:
    """Samples for ``X[...]`` annotations: Optional, Union and the collections."""
    outer = annotation.value
    name = outer.id if isinstance(outer, ast.Name) else getattr(outer, "attr", "")
    inner = annotation.slice
    if name == "Optional":
        found = _typed_samples(inner)
        return None if found is None else found + [None]
    if name == "Union" and isinstance(inner, ast.Tuple):
        parts = [_typed_samples(e) for e in inner.elts]
        if any(p is None for p in parts):
            return None
        return [v for part in parts for v in part]  # type: ignore[union-attr]
    if name in _SEQUENCES or name in ("set", "frozenset", "tuple", "dict"):
        element = _typed_samples(inner if not isinstance(inner, ast.Tuple) else None)
        if name == "dict" or element is None:
            return list(_SAMPLES.get(name, [[1, 2, 3], []]))
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
    strings = _typed_samples(annotation) == _SAMPLES["str"]
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
    constant = _literal(other)
    if constant is _UNKNOWN:
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


def _search(params: list[_Param], varied: list[_Param], must_fail: list[_Guard],
            must_hold: _Guard | None, base: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Values for the parameters under which every guard in ``must_fail`` is false and
    ``must_hold`` (if any) true, trying candidates for the ``varied`` parameters only."""
    env = dict(base) if base is not None else {
        p.name: p.default if p.has_default else _UNKNOWN for p in params}
    choices = [p.candidates or [env.get(p.name, _UNKNOWN)] for p in varied]
    for values in itertools.islice(itertools.product(*choices), _MAX_COMBINATIONS):
        trial = dict(env)
        trial.update(zip([p.name for p in varied], values, strict=True))
        if any(_evaluate(g.test, trial) is not False for g in must_fail):
            continue
        if must_hold is not None and _evaluate(must_hold.test, trial) is not True:
            continue
        return trial
    return None


def _evaluate(node: ast.expr, env: dict[str, Any]) -> Any:
    """The value of a guard expression over literal values; _UNKNOWN when it is anything more."""
    try:
        return _value(node, env)
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return _UNKNOWN


def _value(node: ast.expr, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env.get(node.id, _UNKNOWN)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = [_value(e, env) for e in node.elts]
        if any(i is _UNKNOWN for i in items):
            return _UNKNOWN
        return set(items) if isinstance(node, ast.Set) else tuple(items)
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, env)
        if operand is _UNKNOWN:
            return _UNKNOWN
        if isinstance(node.op, ast.Not):
            return not operand
        return -operand if isinstance(node.op, ast.USub) else _UNKNOWN
    if isinstance(node, ast.BoolOp):
        return _bool_op(node, env)
    if isinstance(node, ast.Compare):
        return _compare(node, env)
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _value(node.left, env), _value(node.right, env)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool)
                      for v in (left, right))
        return _ARITHMETIC[type(node.op)](left, right) if numbers else _UNKNOWN
    if isinstance(node, ast.Call):
        return _builtin_call(node, env)
    return _UNKNOWN


def _bool_op(node: ast.BoolOp, env: dict[str, Any]) -> Any:
    # Python's own short-circuit: an unknown operand only matters if it is reached.
    is_and = isinstance(node.op, ast.And)
    for operand in node.values:
        value = _value(operand, env)
        if value is _UNKNOWN:
            return _UNKNOWN
        if bool(value) != is_and:
            return value
    return value


def _compare(node: ast.Compare, env: dict[str, Any]) -> Any:
    left = _value(node.left, env)
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        right = _value(comparator, env)
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN
        if not _COMPARE[type(op)](left, right):
            return False
        left = right
    return True


def _builtin_call(node: ast.Call, env: dict[str, Any]) -> Any:
    if not isinstance(node.func, ast.Name) or node.keywords:
        return _UNKNOWN
    args = [_value(a, env) for a in node.args]
    if node.func.id == "len" and len(args) == 1 and args[0] is not _UNKNOWN:
        return len(args[0])
    if node.func.id != "isinstance" or len(node.args) != 2 or args[0] is _UNKNOWN:
        return _UNKNOWN
    kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
    types = []
    for kind in kinds:
        value = getattr(builtins, kind.id, None) if isinstance(kind, ast.Name) else None
        if not isinstance(value, type):
            return _UNKNOWN
        types.append(value)
    return isinstance(args[0], tuple(types))


# --- Writing the module -------------------------------------------------------------------------


def _arguments(params: list[_Param], env: dict[str, Any]) -> str:
    """The argument list for ``env``: positional in order, keywords where a default is skipped
    or the parameter is keyword-only; defaults left out."""
    parts = []
    positional = True
    for param in params:
        value = env.get(param.name, _UNKNOWN)
        if param.has_default and (value is _UNKNOWN or (
                type(value) is type(param.default) and value == param.default)):
            positional = False
            continue
        if param.keyword_only or not positional:
            parts.append(f"{param.name}={value!r}")
        else:
            parts.append(repr(value))
    return ", ".join(parts)


def _invocation(target: _Target, call: str, args: str) -> str:
    expression = f"{call}({args})"
    if isinstance(target.function, ast.AsyncFunctionDef):
        target.uses_asyncio = True
        return f"asyncio.run({expression})"
    if _generator(target.function):
        return f"list({expression})"
    return expression


def _generator(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                          | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _result_test(target: _Target, call: str, args: str) -> str | None:
    """A test of what the function returns for ``args``, if its annotation says something."""
    check = None if _generator(target.function) else _return_check(target)
    if check is None:
        return None
    name = _snake(target.qualname)
    invocation = _invocation(target, call, args)
    return f"def test_{name}_returns_{check[0]}():\n    result = {invocation}\n    {check[1]}\n"


def _return_check(target: _Target) -> tuple[str, str] | None:
    """A test-name word and an assert for the return annotation, when it names plain types."""
    annotation = target.function.returns
    if annotation is None:
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


def _runtime_types(target: _Target, annotation: ast.expr) -> list[str] | None:
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
        if annotation.id in target.module_names:
            target.imports.add(annotation.id)
            return [annotation.id]
    return None


def _module_text(target: _Target, tests: list[str], root: str) -> str:
    names = sorted(target.imports)
    header = [f'"""Tests for `{target.module}.{target.qualname}`.', "",
              "Generated by redis-ai from its signature, docstring and guard clauses.", '"""', ""]
    stdlib = ["import sys"]
    if target.uses_asyncio:
        stdlib.insert(0, "import asyncio")
    header += stdlib + ["from pathlib import Path", ""]
    if target.uses_pytest:
        header += ["import pytest", ""]
    header += [
        "# The folder the module imports from, so the tests run against the code beside them.",
        f"sys.path.insert(0, str(Path(__file__).resolve().parent.joinpath({root!r}).resolve()))",
    ]
    imports = []
    if target.imports_module:
        package, _, short = target.module.rpartition(".")
        imports.append(f"from {package} import {short}" if package else f"import {short}")
    if names:
        imports.append(f"from {target.module} import {', '.join(names)}")
    if imports:
        header += [""] + [f"{line}  # noqa: E402" for line in imports]
    return "\n".join(header) + "\n\n\n" + "\n\n".join(tests)


def _snake(name: str) -> str:
    name = name.replace(".", "_")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


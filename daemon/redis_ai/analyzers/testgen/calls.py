"""Calls the project itself makes to the function under test with literal arguments only
(``f(1, "a")`` in its tests or its code, ``Cls("x").m(2)``, ``c = Cls("x"); c.m(2)``), found with
ast across the project's files; each file's calls are read once per (mtime, size).

They are the arguments characterization tests (``pinned``) call the function with: the values
it returns for them today are recorded (``record``) and asserted, so the tests pin current
behaviour, as approval tests do."""

from __future__ import annotations

import ast
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from .locate import Target, module_of

MAX_FILES = 3000
"""The most files read for one project (a larger tree is read up to this many)."""
READ_BUDGET_S = 2.0
"""The longest one request spends reading files not read before (a large project is read over
several requests, each file once)."""
MAX_CALLS = 6
"""The most observed calls a function's test pins."""
_MAX_REPR = 200
_SKIPPED = frozenset({".venv", "venv", ".env", "env", "node_modules", "site-packages", "build",
                      "dist", "__pycache__", ".git", ".tox", ".nox", ".eggs"})


@dataclass(frozen=True)
class Call:
    """One call with literal arguments: the dotted name called (imports resolved: ``pkg.mod.f``,
    or the name as written when the file does not import it), its arguments as source, and for
    a method called on a fresh instance, the class's dotted name and its constructor's
    arguments; ``where`` is ``path:line``."""

    name: str
    args: str
    where: str
    owner: str = ""
    owner_args: str = ""
    raises: bool = False
    """The call is inside a ``with pytest.raises(...)`` block: the project expects it to raise."""
    read: bool = False
    """Not a call: an attribute read on the instance (a property), ``args`` empty."""
    uses: tuple[str, ...] = ()
    """The dotted names of the calls among the arguments (``URL`` in ``f(URL("x"))``)."""


_FILES: OrderedDict[tuple[str, int, int], dict[str, list[Call]]] = OrderedDict()
_FILES_MAX = 20000
_lock = threading.Lock()


def observed(target: Target, project: Path, reads: bool = False) -> list[Call]:
    """The calls of the project that reach the target, by import (``from pkg.mod import f``,
    ``import pkg.mod as m; m.f``, the package's re-exports) or in the module itself; at most
    MAX_CALLS, distinct, from the tests first; ``reads``: the reads of a property instead.
    Files not read before are read for READ_BUDGET_S at most (one at least)."""
    function = target.function.name
    wanted = _names(target)
    found: dict[tuple[str, str], Call] = {}
    deadline = time.monotonic() + READ_BUDGET_S
    read = 0
    for path in _files(project):
        if not _cached(path):
            if read and time.monotonic() > deadline:
                continue  # read on a later request: the cache keeps what this one read
            read += 1
        for call in _calls_of(path).get(function, ()):
            if call.read == reads and _matches(call, target, wanted):
                found.setdefault((call.owner_args, call.args), call)
    ordered = sorted(found.values(), key=lambda c: ("test" not in c.where, c.where))
    return ordered[:MAX_CALLS]


def _names(target: Target) -> set[str]:
    """The dotted names the target is reached by: ``pkg.mod.f`` and its package re-exports
    (``pkg.f``), or for a method, those of its class."""
    parts = target.module.split(".")
    top = target.qualname.split(".")[0]
    return {".".join(parts[:i] + [top]) for i in range(1, len(parts) + 1)}


def _matches(call: Call, target: Target, wanted: set[str]) -> bool:
    if not all(u.rsplit(".", 1)[-1] in target.module_names for u in call.uses):
        return False  # an argument built by a name the test could not import from the module
    if not target.is_method:
        return call.name in {f"{w}{target.qualname[len(target.qualname.split('.')[0]):]}"
                             for w in wanted} and not call.owner
    if target.owner is None or "." in target.qualname.rsplit(".", 1)[0]:
        return False  # nested classes: the instance is not built by a plain name
    return call.owner in wanted and call.name == target.function.name


def _files(project: Path) -> list[Path]:
    found: list[Path] = []
    for folder, subfolders, names in os.walk(project):
        subfolders[:] = sorted(d for d in subfolders if d not in _SKIPPED
                               and not d.startswith("."))
        found += [Path(folder) / n for n in sorted(names) if n.endswith(".py")]
        if len(found) >= MAX_FILES:
            break
    # The tests first: they call the code with literals most, and are read first on a budget.
    return sorted(found[:MAX_FILES], key=lambda p: not any(
        "test" in part for part in p.relative_to(project).parts))


def _key(path: Path) -> tuple[str, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return str(path), stat.st_mtime_ns, stat.st_size


def _cached(path: Path) -> bool:
    key = _key(path)
    with _lock:
        return key is not None and key in _FILES


def _calls_of(path: Path) -> dict[str, list[Call]]:
    """The literal-argument calls of ``path`` by the last part of the name called, from the
    cache while the file is unchanged."""
    key = _key(path)
    if key is None:
        return {}
    with _lock:
        known = _FILES.get(key)
    if known is not None:
        return known
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="surrogateescape"))
    except (SyntaxError, ValueError, OSError, RecursionError):
        tree = ast.Module(body=[], type_ignores=[])
    located = module_of(str(path))
    own = located[1] if located else ""
    package = own if path.stem == "__init__" else own.rpartition(".")[0]
    calls: dict[str, list[Call]] = {}
    for call in _scan(tree, str(path), own, package):
        calls.setdefault(call.name.rsplit(".", 1)[-1], []).append(call)
    with _lock:
        _FILES[key] = calls
        while len(_FILES) > _FILES_MAX:
            _FILES.popitem(last=False)
    return calls


def _scan(tree: ast.Module, where: str, own_module: str, package: str) -> list[Call]:
    """Every call of ``tree`` whose arguments are all literals, its name resolved through the
    file's imports; ``own_module``: the module the file is (its plain names are its own),
    ``package``: the one its relative imports start from."""
    aliases = _aliases(tree, package)
    calls: list[Call] = []
    scopes: list[ast.AST] = [tree] + [n for n in ast.walk(tree)
                                      if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    module_constants = _constants(tree)
    for scope in scopes:
        built = _instances(scope, aliases, own_module)
        nodes = _own_nodes(scope)
        constants = {**module_constants, **_constants(scope)} if scope is not tree else (
            module_constants)
        if scope is not tree:
            for name in _bound(scope, nodes) - set(_constants(scope)):
                constants.pop(name, None)  # a parameter or a local: not the module's constant
        rows = [{**constants, **row} for row in _parametrized(scope)]
        expected = {id(c) for n in nodes if isinstance(n, ast.With) and any(
            _raises(item.context_expr) for item in n.items)
            for s in n.body for c in ast.walk(s)}
        called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
        for node in nodes:
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                    and id(node) not in called):
                for env in rows:
                    read = _read(node, env, built, aliases, own_module, where)
                    if read is not None:
                        calls.append(replace(read, raises=id(node) in expected))
            if isinstance(node, ast.Call):
                for env in rows:
                    call = _call(node, env, built, aliases, own_module, where)
                    if call is not None:
                        calls.append(replace(call, raises=id(node) in expected))
    return calls


def _read(node: ast.Attribute, env: dict[str, str], built: dict[str, tuple[str, str, tuple[str, ...]]],
          aliases: dict[str, str], own_module: str, where: str) -> Call | None:
    """``Cls(1).name`` or ``c.name`` (``c = Cls(1)``) as a read of an instance's attribute."""
    line = f"{where}:{node.lineno}"
    value = node.value
    if isinstance(value, ast.Name) and value.id in built:
        owner, owner_args, uses = built[value.id]
        return Call(node.attr, "", line, owner, owner_args, read=True, uses=uses)
    if isinstance(value, ast.Call):
        found: list[str] = []
        args = _literal_args(value, env, (aliases, own_module), found)
        called = _resolve(value.func, aliases, own_module)
        if called and args is not None:
            return Call(node.attr, "", line, called, args, read=True, uses=tuple(found))
    return None


def _call(node: ast.Call, env: dict[str, str], built: dict[str, tuple[str, str, tuple[str, ...]]],
          aliases: dict[str, str], own_module: str, where: str) -> Call | None:
    """``node`` as a Call when its arguments are literals (or parameters ``env`` gives)."""
    uses: list[str] = []
    args = _literal_args(node, env, (aliases, own_module), uses)
    if args is None:
        return None
    func = node.func
    line = f"{where}:{node.lineno}"
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
        inner = func.value
        owner_args = _literal_args(inner, env, (aliases, own_module), uses)
        owner = _resolve(inner.func, aliases, own_module)
        if owner and owner_args is not None:
            return Call(func.attr, args, line, owner, owner_args, uses=tuple(uses))
        return None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (
            func.value.id in built):
        owner, owner_args, more = built[func.value.id]
        return Call(func.attr, args, line, owner, owner_args, uses=tuple(uses) + more)
    name = _resolve(func, aliases, own_module)
    return Call(name, args, line, uses=tuple(uses)) if name else None


_MAX_ROWS = 8


def _parametrized(scope: ast.AST) -> list[dict[str, str]]:
    """The argument rows of a test's ``@pytest.mark.parametrize("a, b", [(1, 2), ...])`` (each
    a name -> literal source), or one empty row: calls that use the names are read once per
    row, with the row's values as literals."""
    rows: list[dict[str, str]] = [{}]
    for decorator in getattr(scope, "decorator_list", []):
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "parametrize" and len(decorator.args) >= 2):
            continue
        names_node, values_node = decorator.args[:2]
        try:
            names = ast.literal_eval(names_node)
            values = ast.literal_eval(values_node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        if not isinstance(names, list | tuple) or not isinstance(values, list | tuple):
            continue
        found = []
        for value in list(values)[:_MAX_ROWS]:
            row = value if len(names) > 1 else (value,)
            if not isinstance(row, list | tuple) or len(row) != len(names):
                break
            texts = [_source(v) for v in row]
            if None in texts:
                break
            found.append(dict(zip(names, texts, strict=True)))
        else:
            rows = [{**old, **new} for old in rows for new in found][:_MAX_ROWS] or rows
    return rows


def _raises(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
        node.func.attr == "raises")


def _own_nodes(scope: ast.AST) -> list[ast.AST]:
    """The nodes of ``scope`` outside its nested functions (each is a scope of its own)."""
    found: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))
    return found


_IMMUTABLE = (str, bytes, int, float, complex, bool, type(None))


def _constants(scope: ast.AST) -> dict[str, str]:
    """Names bound once in ``scope`` (``url = "https://a/"``), by a plain assignment, to an
    immutable literal: name -> its source. Mutable ones (a list that is appended to) are left
    out."""
    nodes = _own_nodes(scope)
    stores: dict[str, int] = {}
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            stores[node.id] = stores.get(node.id, 0) + 1
    found: dict[str, str] = {}
    for node in nodes:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and stores.get(node.targets[0].id) == 1):
            continue
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        text = _source(value) if _immutable(value) else None
        if text is not None:
            found[node.targets[0].id] = text
    return found


def _immutable(value: object) -> bool:
    if isinstance(value, tuple | frozenset):
        return all(_immutable(v) for v in value)
    return isinstance(value, _IMMUTABLE)


def _bound(scope: ast.AST, nodes: list[ast.AST]) -> set[str]:
    """The names ``scope`` binds itself: its parameters and every name it stores to."""
    names = {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
        args = scope.args
        names |= {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                                  *([args.vararg] if args.vararg else []),
                                  *([args.kwarg] if args.kwarg else [])]}
    return names


def _instances(scope: ast.AST, aliases: dict[str, str],
               own_module: str) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """Names bound once in ``scope``, to a call with literal arguments: name -> (the dotted
    name called, its arguments, the names its arguments build)."""
    bound: dict[str, tuple[str, str, tuple[str, ...]] | None] = {}
    for node in _own_nodes(scope):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For) else [])
        for target in targets:
            for name in (n.id for n in ast.walk(target) if isinstance(n, ast.Name)):
                value = getattr(node, "value", None)
                single = isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(
                    target, ast.Name) and isinstance(value, ast.Call)
                if name in bound or not single:
                    bound[name] = None  # bound twice, or not to a call: unknown
                    continue
                assert isinstance(value, ast.Call)
                uses: list[str] = []
                args = _literal_args(value, None, (aliases, own_module), uses)
                called = _resolve(value.func, aliases, own_module)
                bound[name] = (called, args, tuple(uses)) if args is not None and called else None
    return {k: v for k, v in bound.items() if v is not None}


Names = tuple[dict[str, str], str]
"""A file's imports (``_aliases``) and the module it is: what a name called there stands for."""


def _literal_args(call: ast.Call, env: dict[str, str] | None = None,
                  names: Names | None = None, uses: list[str] | None = None) -> str | None:
    """The call's arguments as normalised source when every one is a literal (or a name
    ``env`` gives the literal of), else None. With ``names``, an argument may also be a call
    of an imported name with such arguments (``URL("https://a/")``), written by the name's last
    part; the dotted names are added to ``uses``."""
    env = env or {}
    parts = []
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            return None
        value = _argument(arg, env, names, uses)
        if value is None:
            return None
        parts.append(value)
    for keyword in call.keywords:
        if keyword.arg is None:
            return None
        value = _argument(keyword.value, env, names, uses)
        if value is None:
            return None
        parts.append(f"{keyword.arg}={value}")
    text = ", ".join(parts)
    return text if len(text) <= _MAX_REPR else None


def _argument(node: ast.expr, env: dict[str, str], names: Names | None,
              uses: list[str] | None) -> str | None:
    if isinstance(node, ast.Name):
        return env.get(node.id)
    if isinstance(node, ast.Call) and names is not None and uses is not None:
        dotted = _resolve(node.func, *names)
        inner = _literal_args(node, env, names, uses) if dotted else None
        if inner is None:
            return None
        uses.append(dotted)
        return f"{dotted.rsplit('.', 1)[-1]}({inner})"
    return _literal(node)


def _literal(node: ast.expr) -> str | None:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return _source(value)


def _source(value: object) -> str | None:
    """``value``'s repr when it reads back as the same value."""
    text = repr(value)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return text if same else None


def _aliases(tree: ast.Module, package: str) -> dict[str, str]:
    """What the file's imported names stand for: ``m`` -> ``pkg.mod``, ``f`` -> ``pkg.mod.f``."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = alias.name
                else:
                    found[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts) or not package:
                    continue
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found[alias.asname or alias.name] = f"{base}.{alias.name}"
    return found


def _resolve(func: ast.expr, aliases: dict[str, str], own_module: str) -> str:
    """The dotted name a call's function stands for, or "" when it is not a plain name chain
    or its first name is not imported (nor the module's own)."""
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return ""
    first = aliases.get(func.id) or (f"{own_module}.{func.id}" if own_module else "")
    return ".".join([first, *parts[::-1]]) if first else ""

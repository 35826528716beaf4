"""The performance hints ruff has no stable rule for, and the checks that make ruff's
comprehension hints safe to follow.

Hand-written hints, each kept because it was right on the real code of the benchmark
(docs/hints-review.md):

- ``RAI001``: ``x in L`` in a loop where ``L`` is a local list (quadratic); not when the code
  shows its items are unhashable or they are whatever a caller passes, when ``L`` is rebuilt
  in the innermost loop around the test (each list is tested once), when it is used by
  position (a set has none), or when it is a few items the code fixes (``_set_unfit``,
  ``_callers_items``, ``_bounded``);
- ``RAI004``: ``len(list(d.keys()))`` and the like, where the count is known without the copy;
- ``RAI005``: ``x in list(d.keys())`` in a loop.

``PERF401`` candidates (an empty list then a loop that only appends) carry the comprehension
that replaces both; they are used for a loop ruff itself flags, and for one that unpacks
(``for k, v in pairs``, which ruff's rule passes over, rightly or not), when
``comprehension_safe`` passes.
"""

from __future__ import annotations

import ast
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from . import _pysource
from .base import Item

_COMPREHENSIONS = ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
_FUNCTIONS = ast.FunctionDef | ast.AsyncFunctionDef
_LOOPS = ast.For | ast.AsyncFor | ast.While
_UNHASHABLE_CALLS = frozenset({"list", "dict", "set", "bytearray", "defaultdict", "OrderedDict",
                               "Counter", "deque", "List", "Dict", "Set"})
"""Builders (and annotations) of values that cannot go into a set."""
_HASHABLE_TYPES = frozenset({"str", "int", "bytes", "float", "bool", "complex", "tuple",
                             "frozenset", "Path"})
_POSITIONAL_METHODS = frozenset({"index", "pop", "insert", "sort", "reverse"})
_SAFE_CONTEXTS = frozenset({"open"})
"""Context managers that never swallow an exception (so a loop inside them may become a
comprehension: if it raises, the half-built list is never seen)."""


class _Scope:
    """What the bindings of one function (or the module, or a class body) tell about its names.

    Worked out on first use: only the hints about loops ask, and most functions have none.
    """

    def __init__(self, node: ast.AST, kind: str) -> None:
        self.node = node
        self.kind = kind  # "function", "module" or "class"
        self._bindings: defaultdict[str, set[str]] = defaultdict(set)
        self._grown: set[str] = set()
        # Nothing is learnt about a class body's names: the hints there assume nothing of them.
        self._known = kind == "class"

    @property
    def bindings(self) -> dict[str, set[str]]:
        """For each name bound here, the kinds of value it is bound to."""
        if not self._known:
            self._learn()
        return self._bindings

    @property
    def grown(self) -> set[str]:
        """Names here that are appended, extended, inserted into or ``+=``-ed."""
        if not self._known:
            self._learn()
        return self._grown

    def growing_list(self, name: str) -> bool:
        """Whether ``name`` is always a list here, and one that can grow (not a fixed display)."""
        kinds = self.bindings.get(name)
        if not kinds or not kinds <= {"list", "const_list", "aug"}:
            return False
        return "list" in kinds or ("const_list" in kinds and name in self.grown)

    def _learn(self) -> None:
        self._known = True
        node, bind, grown = self.node, self._bindings, self._grown
        if isinstance(node, _FUNCTIONS):
            args = node.args
            for arg in args.posonlyargs + args.args + args.kwonlyargs:
                bind[arg.arg].add(_annotation_kind(arg.annotation))
            for star in (args.vararg, args.kwarg):
                if star is not None:
                    bind[star.arg].add("other")
        stack: list[ast.AST] = list(getattr(node, "body", []))
        while stack:
            stack.extend(_bind(stack.pop(), bind, grown))


def _bind(node: ast.AST, bind: defaultdict[str, set[str]], grown: set[str]) -> list[ast.AST]:
    """Record what ``node`` binds in ``bind`` (and grows in ``grown``); return the children still
    to look at."""
    if type(node) is ast.Name:  # the commonest nodes by far: settle them first
        if type(node.ctx) is not ast.Load:
            bind[node.id].add("other")
        return []
    if type(node) is ast.Attribute:
        return [] if type(node.value) is ast.Constant else [node.value]
    if type(node) is ast.Call:
        func = node.func
        if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.attr in ("append", "extend", "insert")):
            grown.add(func.value.id)
        return _children(node, _CONSTANT)
    return _bind_other(node, bind, grown)


def _bind_other(node: ast.AST, bind: defaultdict[str, set[str]], grown: set[str]) -> list[ast.AST]:
    if isinstance(node, _FUNCTIONS | ast.ClassDef):
        bind[node.name].add("other")
        return list(node.decorator_list)
    if isinstance(node, ast.Lambda | _COMPREHENSIONS):
        for sub in ast.walk(node):  # their own scopes, except for what := binds
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                bind[sub.target.id].add("other")
        return []
    if isinstance(node, ast.Assign):
        rest: list[ast.AST] = [node.value]
        for target in node.targets:
            if isinstance(target, ast.Name):
                bind[target.id].add(_value_kind(node.value))
            else:
                rest.append(target)
        return rest
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        annotated = _annotation_kind(node.annotation)
        if annotated == "other" and node.value is not None:
            annotated = _value_kind(node.value)
        bind[node.target.id].add(annotated)
        return [node.value] if node.value is not None else []
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        bind[node.target.id].add("aug" if isinstance(node.op, ast.Add) else "other")
        grown.add(node.target.id)
        return [node.value]
    for name, how in _bound_names(node):
        bind[name].add(how)
    return _children(node, _CONSTANT)


_NOT_NODES = frozenset({"ctx", "op", "ops", "id", "attr", "arg", "type_comment", "is_async",
                        "conversion", "level", "module"})
"""Fields that hold no node, or only inert ones: contexts and operators bind nothing and hold
nothing that does."""
_CONSTANT = frozenset({ast.Constant})
_LEAF_TYPES = frozenset({ast.Name, ast.Constant, ast.alias})
"""Nodes no hint is about, with nothing inside that one could be about."""
_FIELDS: dict[type, tuple[str, ...]] = {}
_PLAIN = frozenset(
    kind for kind in vars(ast).values()
    if isinstance(kind, type) and issubclass(kind, ast.AST)
    and not issubclass(kind, _FUNCTIONS | ast.ClassDef | ast.Lambda | ast.For | ast.AsyncFor
                       | ast.While | _COMPREHENSIONS | ast.Compare | ast.Call)
    and not {"body", "orelse", "finalbody"} & set(kind._fields)
)
"""Nodes that ``_Finder`` only looks into: no hint is about them, and they hold no statements."""


def _children(node: ast.AST, skip: frozenset[type]) -> list[ast.AST]:
    """The child nodes of ``node`` as ``ast.iter_child_nodes`` orders them, less the inert ones
    and those whose type is in ``skip`` (faster than filtering ``ast.iter_child_nodes``)."""
    kind = type(node)
    fields = _FIELDS.get(kind)
    if fields is None:
        fields = _FIELDS[kind] = tuple(f for f in kind._fields if f not in _NOT_NODES)
    found: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            found += [v for v in value if isinstance(v, ast.AST) and type(v) not in skip]
        elif isinstance(value, ast.AST) and type(value) not in skip:
            found.append(value)
    return found


def _bound_names(node: ast.AST) -> list[tuple[str, str]]:
    """The names any other statement or expression binds, and as what."""
    if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
        return [(node.id, "other")]
    if isinstance(node, ast.Import):
        return [(a.asname or a.name.split(".")[0], "module") for a in node.names]
    if isinstance(node, ast.ImportFrom):
        return [(a.asname or a.name, "other") for a in node.names]
    if isinstance(node, ast.Global | ast.Nonlocal):
        return [(name, "other") for name in node.names]
    if isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
        return [(node.name, "other")]
    if isinstance(node, ast.MatchMapping) and node.rest:
        return [(node.rest, "other")]
    if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
        return [(node.target.id, "other")]
    return []


def _value_kind(value: ast.expr) -> str:
    if isinstance(value, ast.ListComp):
        return "list"
    if isinstance(value, ast.List):
        return "const_list" if all(isinstance(e, ast.Constant) for e in value.elts) else "list"
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Name) and func.id == "list" and not value.keywords:
            return "list"
    return "other"


def _annotation_kind(annotation: ast.expr | None) -> str:
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    if isinstance(annotation, ast.Attribute) and annotation.attr == "List":
        return "list"
    if isinstance(annotation, ast.Name) and annotation.id in ("list", "List"):
        return "list"
    return "other"


_HINTS: weakref.WeakKeyDictionary[ast.AST, tuple[int, Any]] = weakref.WeakKeyDictionary()
_STORED: weakref.WeakKeyDictionary[ast.AST, tuple[int, Any]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget the remembered hints (benchmarks measure the cold case with it)."""
    with _cache_lock:
        _HINTS.clear()
        _STORED.clear()


def _cached(cache: weakref.WeakKeyDictionary[ast.AST, tuple[int, Any]], node: ast.AST,
            context: int, compute: Callable[[Any], Any]) -> Any:
    """``compute(node)``, remembered for ``node`` as long as ``context`` stays the same."""
    with _cache_lock:
        known = cache.get(node)
    if known is not None and known[0] == context:
        return known[1]
    value = compute(node)
    with _cache_lock:
        cache[node] = (context, value)
    return value


def _stored_names(node: ast.AST) -> frozenset[str]:
    names: set[str] = set()
    nodes = [node]
    for sub in nodes:  # grows as it is read: every node of the statement, in no useful order
        if type(sub) is ast.Name:
            if type(sub.ctx) is not ast.Load:
                names.add(sub.id)
        else:
            nodes.extend(_children(sub, _CONSTANT))
    return frozenset(names)


def _between(first: ast.AST, last: ast.AST) -> ast.expr:
    """A node-like span from the start of ``first`` to the end of ``last``."""
    return ast.expr(lineno=first.lineno, col_offset=first.col_offset,  # type: ignore[attr-defined]
                    end_lineno=last.end_lineno,  # type: ignore[attr-defined]
                    end_col_offset=last.end_col_offset)  # type: ignore[attr-defined]


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


# --- Whether a list could be a set ----------------------------------------------------------


def _set_unfit(scope: _Scope, name: str, loops: tuple[ast.AST, ...]) -> bool:
    """Whether a set could not stand in for the list ``name`` of ``scope`` in membership tests
    made inside ``loops``: its items are unhashable, it is rebuilt in the innermost loop (each
    list tested once), or it is used by position."""
    if loops and _rebinds(loops[-1], name):
        return True
    node = scope.node
    if isinstance(node, _FUNCTIONS):
        args = node.args
        if any(arg.arg == name and _unhashable_annotation(arg.annotation)
               for arg in args.posonlyargs + args.args + args.kwonlyargs):
            return True
    lists = {n for n, kinds in scope.bindings.items() if kinds & {"list", "const_list"}}
    return any(_unfit_use(sub, name, lists) for sub in ast.walk(node))


def _unfit_use(node: ast.AST, name: str, lists: set[str]) -> bool:
    """Whether ``node`` uses the list ``name`` by position or shows an unhashable item of it
    (``lists``: the names bound to lists in the scope)."""
    if isinstance(node, ast.Subscript):
        return _is_name(node.value, name)  # indexed or sliced: the order matters
    if isinstance(node, ast.Call):
        func, args = node.func, node.args
        if isinstance(func, ast.Name):
            return func.id == "reversed" and bool(args) and _is_name(args[0], name)
        if not (isinstance(func, ast.Attribute) and _is_name(func.value, name)):
            return False
        return func.attr in _POSITIONAL_METHODS or bool(args) and (
            func.attr in ("append", "insert") and _unhashable(args[-1], lists)
            or func.attr == "extend" and _unhashable_items(args[0], lists))
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if not any(_is_name(t, name) for t in targets):
            return False
        return (node.value is not None and _unhashable_items(node.value, lists)) or (
            isinstance(node, ast.AnnAssign) and _unhashable_annotation(node.annotation))
    if isinstance(node, ast.ExceptHandler) and _catches_type_error(node.type):
        # Items kept in a list because putting them in a set raised TypeError.
        return any(_is_name(n, name) for stmt in node.body for n in ast.walk(stmt))
    return False


def _bounded(scope: ast.AST, name: str) -> bool:
    """Whether the list ``name`` only ever is a display grown outside loops: its size is fixed
    by the code (a few constants), and scanning it costs no more than hashing."""
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_name(t, name) for t in targets) and not isinstance(node.value, ast.List):
                return False
        elif isinstance(node, _LOOPS | _COMPREHENSIONS) and any(
                _grows(sub, name) for sub in ast.walk(node)):
            return False
    if isinstance(scope, _FUNCTIONS):
        args = scope.args
        return all(arg.arg != name for arg in args.posonlyargs + args.args + args.kwonlyargs)
    return True


def _grows(node: ast.AST, name: str) -> bool:
    if isinstance(node, ast.AugAssign):
        return _is_name(node.target, name)
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and _is_name(node.func.value, name) and node.func.attr in ("append", "extend",
                                                                       "insert"))


def _callers_items(scope: ast.AST, item: ast.expr, loops: tuple[ast.AST, ...]) -> bool:
    """Whether the tested ``item`` is an item of a parameter whose annotation does not show
    hashable items (``def uniq(L): for x in L: if x not in r``): whatever the callers pass,
    maybe unhashable, which a set would refuse. An item the loop uses as the parameter's key
    (``d[x]``) is hashable: a dict's key, or a sequence's int index."""
    if not (isinstance(item, ast.Name) and isinstance(scope, _FUNCTIONS)):
        return False
    loop = next((lp for lp in loops if isinstance(lp, ast.For | ast.AsyncFor)
                 and _is_name(lp.target, item.id)), None)
    if loop is None or not isinstance(loop.iter, ast.Name):
        return False
    source = loop.iter.id
    if any(isinstance(n, ast.Subscript) and _is_name(n.value, source) and _is_name(n.slice, item.id)
           for stmt in loop.body for n in ast.walk(stmt)):
        return False
    args = scope.args
    for arg in args.posonlyargs + args.args + args.kwonlyargs:
        if arg.arg == source:
            return not _hashable_annotation(arg.annotation)
    return False


def _hashable_annotation(annotation: ast.expr | None) -> bool:
    """``list[str]``, ``Iterable[int]``...: an annotation whose items are of a hashable type."""
    if not isinstance(annotation, ast.Subscript):
        return False
    item = annotation.slice
    if isinstance(item, ast.Subscript):
        item = item.value
    return isinstance(item, ast.Name) and item.id in _HASHABLE_TYPES


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _rebinds(loop: ast.AST, name: str) -> bool:
    """Whether ``loop`` (re)binds ``name`` to a new list on each of its iterations."""
    if not isinstance(loop, _LOOPS):
        return False
    for stmt in loop.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assign) and any(_is_name(t, name) for t in node.targets):
                return True
            if isinstance(node, ast.AnnAssign) and _is_name(node.target, name):
                return True
    return False


def _unhashable(node: ast.expr, lists: set[str]) -> bool:
    """Whether the code shows that ``node``'s value cannot go into a set."""
    if isinstance(node, ast.Name):
        return node.id in lists
    if isinstance(node, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        called = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else "")
        return called in _UNHASHABLE_CALLS
    return False


def _unhashable_items(node: ast.expr, lists: set[str]) -> bool:
    """Whether the collection ``node`` shows an item that cannot go into a set."""
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return any(_unhashable(e, lists) for e in node.elts)
    if isinstance(node, ast.ListComp | ast.GeneratorExp | ast.SetComp):
        return _unhashable(node.elt, lists)
    return False


def _unhashable_annotation(annotation: ast.expr | None) -> bool:
    """``list[list[int]]``, ``List[dict]``...: an annotation whose item type is unhashable."""
    if not isinstance(annotation, ast.Subscript):
        return False
    item = annotation.slice
    if isinstance(item, ast.Subscript):
        item = item.value
    if isinstance(item, ast.Attribute):
        return item.attr in _UNHASHABLE_CALLS
    return isinstance(item, ast.Name) and item.id in _UNHASHABLE_CALLS


def _catches_type_error(kind: ast.expr | None) -> bool:
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any(isinstance(k, ast.Name) and k.id == "TypeError" for k in kinds)


# --- Whether a loop may become a comprehension ----------------------------------------------


def comprehension_safe(tree: ast.Module, line: int) -> ast.For | ast.AsyncFor | None:
    """The loop holding line ``line`` if replacing it by a comprehension keeps the meaning, else
    None. Refused: a loop inside a ``try`` with handlers or ``finally``, or inside a ``with``
    whose manager may swallow an exception (a comprehension interrupted half way binds no list,
    where the loop left a partial one that the code after the handler sees); a loop body that
    leaves early (``break``, ``continue``, ``return``, ``yield``); a loop variable read after the
    loop (a comprehension does not bind it); a loop in a class body (a comprehension there does
    not see the class's names)."""
    path = path_to(tree, line)
    loops = [i for i, node in enumerate(path) if isinstance(node, ast.For | ast.AsyncFor)]
    if not loops:
        return None
    at = loops[-1]
    loop = path[at]
    assert isinstance(loop, ast.For | ast.AsyncFor)
    for outer in reversed(path[:at]):
        if isinstance(outer, ast.ClassDef):
            return None  # a comprehension in a class body cannot see the class's names
        if isinstance(outer, _FUNCTIONS):
            break
        if isinstance(outer, ast.Try | ast.TryStar) and (outer.handlers or outer.finalbody):
            return None
        if isinstance(outer, ast.With | ast.AsyncWith) and not all(
                _safe_context(item.context_expr) for item in outer.items):
            return None
    for stmt in loop.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Break | ast.Continue | ast.Return | ast.Yield
                          | ast.YieldFrom):
                return None
    targets = _names(loop.target)
    scope = next((n for n in reversed(path[:at]) if isinstance(n, _FUNCTIONS)), tree)
    after = loop.end_lineno or loop.lineno
    if any(isinstance(n, ast.Name) and n.id in targets and n.lineno > after
           for n in ast.walk(scope)):
        return None
    return loop


def _safe_context(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else "")
    return name in _SAFE_CONTEXTS


def path_to(tree: ast.Module, line: int) -> list[ast.AST]:
    """The statements from the module down to the innermost one spanning ``line``."""
    path: list[ast.AST] = []
    nodes: list[ast.AST] = list(tree.body)
    while nodes:
        inside = [n for n in nodes if isinstance(n, ast.stmt | ast.ExceptHandler)
                  and n.lineno <= line <= (n.end_lineno or n.lineno)]
        if not inside:
            break
        node = inside[0]
        path.append(node)
        nodes = [c for field in ("body", "handlers", "orelse", "finalbody", "cases")
                 for c in getattr(node, field, [])]
        nodes = [b for c in nodes for b in ([c] if not isinstance(c, ast.match_case) else c.body)]
    return path


# --- The hints ------------------------------------------------------------------------------


class Finder:
    """Walks one tree and collects hints; ``shadowed`` names are builtins the code rebinds."""

    def __init__(self, source: _pysource.Source) -> None:
        self.source = source
        self.hints: list[Item] = []
        self.shadowed: set[str] = set()
        self._seen: set[tuple[int, str, str]] = set()

    def run(self, tree: ast.Module) -> None:
        """Collect the hints of every statement of ``tree``.

        The hints of a top-level statement depend on it, on what the module binds, and on where
        the text sits in the buffer; they are cached on the statement's node, which the parse
        cache hands out again as long as its text is unchanged.
        """
        module = _Scope(tree, "module")
        self.shadowed = set(module.bindings)
        for stmt in tree.body:
            self.shadowed |= _cached(_STORED, stmt, 0, _stored_names)
        context = hash((
            frozenset(self.shadowed),
            frozenset((name, frozenset(kinds)) for name, kinds in module.bindings.items()),
            frozenset(module.grown), self.source.offset, self.source.first_line,
        ))
        for stmt in tree.body:
            for hint in _cached(_HINTS, stmt, context, lambda s: self._statement(s, module)):
                self.hints.append(dict(hint))
        # Consecutive top-level statements belong to different cache entries.
        self._manual_comprehension(tree.body, module)

    def _statement(self, stmt: ast.stmt, module: _Scope) -> list[Item]:
        found, self.hints = self.hints, []
        stack: list[tuple[ast.AST, _Scope, tuple[ast.AST, ...]]] = [(stmt, module, ())]
        while stack:
            node, scope, loops = stack.pop()
            if type(node) in _PLAIN:
                stack.extend([(child, scope, loops) for child in _children(node, _LEAF_TYPES)])
            else:
                stack.extend(self._visit(node, scope, loops))
        mine, self.hints = self.hints, found
        return mine

    def _builtin(self, node: ast.expr, *names: str) -> bool:
        return isinstance(node, ast.Name) and node.id in names and node.id not in self.shadowed

    def _add(self, node: ast.AST, code: str, message: str, rewrite: str | None = None,
             **extra: Any) -> None:
        item: Item = dict(_pysource.span(self.source, node))
        key = (item["line"], item["col"], code)
        if key in self._seen:
            return
        self._seen.add(key)
        item.update(message=message, code=code, **extra)
        if rewrite is not None and self._fits(node, rewrite):
            item["rewrite"] = rewrite
        self.hints.append(item)

    def _fits(self, node: ast.AST, rewrite: str) -> bool:
        """Whether ``rewrite`` parses where it would go (statements keep their indentation)."""
        lineno, col = node.lineno, node.col_offset  # type: ignore[attr-defined]
        indent = self.source.line_text(lineno).encode("utf-8")[:col].decode("utf-8", "ignore")
        if indent and not indent.strip() and "\n" in rewrite:
            rewrite = "if 1:\n" + indent + rewrite
        return _pysource._parse(rewrite)[0] is not None

    def _visit(
        self, node: ast.AST, scope: _Scope, loops: tuple[ast.AST, ...]
    ) -> Iterator[tuple[ast.AST, _Scope, tuple[ast.AST, ...]]]:
        if isinstance(node, _FUNCTIONS):
            inner = _Scope(node, "function")
            self._manual_comprehension(node.body, inner)
            yield from ((d, scope, loops) for d in node.decorator_list)
            yield from ((s, inner, ()) for s in node.body)
            return
        if isinstance(node, ast.ClassDef):
            inner = _Scope(node, "class")
            yield from ((d, scope, loops) for d in node.decorator_list + node.bases)
            yield from ((s, inner, ()) for s in node.body)
            return
        if isinstance(node, ast.Lambda):
            return
        for name in ("body", "orelse", "finalbody"):
            statements = getattr(node, name, None)
            if isinstance(statements, list) and statements and isinstance(statements[0], ast.stmt):
                self._manual_comprehension(statements, scope)
        if isinstance(node, ast.For | ast.AsyncFor):
            yield (node.iter, scope, loops)
            yield from ((s, scope, loops + (node,)) for s in node.body)
            yield from ((s, scope, loops) for s in node.orelse)
            return
        if isinstance(node, ast.While):
            yield from ((s, scope, loops + (node,)) for s in [node.test, *node.body])
            yield from ((s, scope, loops) for s in node.orelse)
            return
        if isinstance(node, _COMPREHENSIONS):
            first, *rest = node.generators
            yield (first.iter, scope, loops)
            inner_loops = loops + (node,)
            parts: list[ast.AST] = [*first.ifs]
            for generator in rest:
                parts.extend([generator.iter, *generator.ifs])
            parts.extend([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt])
            yield from ((p, scope, inner_loops) for p in parts)
            return
        if isinstance(node, ast.Compare) and loops:
            self._membership(node, scope, loops)
        elif isinstance(node, ast.Call):
            self._call(node)
        yield from ((child, scope, loops) for child in _children(node, _LEAF_TYPES))

    # Membership tests in loops -------------------------------------------------------------

    def _membership(self, node: ast.Compare, scope: _Scope, loops: tuple[ast.AST, ...]) -> None:
        for op, right in zip(node.ops, node.comparators, strict=True):
            if not isinstance(op, ast.In | ast.NotIn):
                continue
            if (isinstance(right, ast.Name) and scope.growing_list(right.id)
                    and not _set_unfit(scope, right.id, loops)
                    and not _bounded(scope.node, right.id)
                    and not _callers_items(scope.node, node.left, loops)):
                self._add(node, "RAI001",
                          f"`{right.id}` is a list: every `in` test scans it, once per iteration"
                          " (quadratic); keep a set for membership tests")
            elif (isinstance(right, ast.Call) and self._builtin(right.func, "list", "tuple")
                  and len(right.args) == 1 and not right.keywords):
                base = _dict_base(right.args[0])
                if isinstance(base, ast.Name | ast.Attribute):
                    self._add(right, "RAI005",
                              f"`{self.source.segment(right)}` copies every key for one"
                              " membership test; test the mapping itself",
                              self.source.segment(base))

    # Calls ----------------------------------------------------------------------------------

    def _call(self, node: ast.Call) -> None:
        func, args = node.func, node.args
        if (self._builtin(func, "len") and len(args) == 1 and not node.keywords
              and isinstance(args[0], ast.Call) and self._builtin(args[0].func, "list", "tuple")
              and len(args[0].args) == 1 and not args[0].keywords):
            self._count(node, args[0].args[0])

    def _count(self, node: ast.Call, inner: ast.expr) -> None:
        base = _dict_base(inner)
        if base is not None:
            rewrite = f"len({self.source.segment(base)})"
        elif isinstance(inner, ast.List | ast.Tuple | ast.Set | ast.Dict) or (
            isinstance(inner, ast.Call) and self._builtin(inner.func, "range")
        ):
            rewrite = f"len({self.source.segment(inner)})"
        else:
            return  # an iterator: counting it without a list is no faster
        self._add(node, "RAI004", f"`{self.source.segment(node)}` copies a collection only to"
                  " count it; its length is known", rewrite)

    # Statement sequences ----------------------------------------------------------------------

    def _manual_comprehension(self, statements: list[ast.stmt], scope: _Scope) -> None:
        if scope.kind == "class":
            return  # a comprehension in a class body cannot see the class's names
        for init, loop in zip(statements, statements[1:], strict=False):
            if not (isinstance(init, ast.Assign) and len(init.targets) == 1
                    and isinstance(init.targets[0], ast.Name) and isinstance(init.value, ast.List)
                    and not init.value.elts and isinstance(loop, ast.For) and not loop.orelse
                    and len(loop.body) == 1):
                continue
            name = init.targets[0].id
            stmt, test = loop.body[0], None
            if isinstance(stmt, ast.If) and not stmt.orelse and len(stmt.body) == 1:
                test = stmt.test
                stmt = stmt.body[0]
            if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
                continue
            call = stmt.value
            if not (isinstance(call.func, ast.Attribute) and call.func.attr == "append"
                    and isinstance(call.func.value, ast.Name) and call.func.value.id == name
                    and len(call.args) == 1 and not call.keywords
                    and not isinstance(call.args[0], ast.Starred)):
                continue
            parts: list[ast.AST] = [loop.iter, loop.target, call.args[0]]
            if test is not None:
                parts.append(test)
            if any(name in _names(p) for p in parts) or any(
                isinstance(n, ast.Yield | ast.YieldFrom | ast.Await | ast.NamedExpr)
                for p in parts for n in ast.walk(p)
            ):
                continue
            self._add(_between(init, loop), "PERF401", "", self._comprehension(init, loop,
                      call.args[0], test), loop_line=self.source.buffer_line(loop.lineno),
                      unpacks=isinstance(loop.target, ast.Tuple))

    def _comprehension(self, init: ast.Assign, loop: ast.For, item: ast.expr,
                       test: ast.expr | None) -> str | None:
        first, last = loop.lineno, loop.end_lineno or loop.lineno
        if any("#" in self.source.line_text(n) for n in range(first, last + 1)):
            return None  # a rewrite would drop the loop's comments
        seg = self.source.segment
        iterable = seg(loop.iter)
        if isinstance(loop.iter, ast.IfExp | ast.Lambda) or (
            isinstance(loop.iter, ast.Tuple) and not iterable.startswith("(")
        ):
            iterable = f"({iterable})"
        condition = ""
        if test is not None:
            condition = seg(test)
            if isinstance(test, ast.IfExp | ast.Lambda):
                condition = f"({condition})"
            condition = f" if {condition}"
        name = init.targets[0].id  # type: ignore[attr-defined]
        if (test is None and isinstance(item, ast.Name) and isinstance(loop.target, ast.Name)
                and item.id == loop.target.id):
            return f"{name} = list({iterable})"  # a copy (ruff's PERF402)
        return f"{name} = [{seg(item)} for {seg(loop.target)} in {iterable}{condition}]"


def _dict_base(node: ast.expr) -> ast.expr | None:
    """``d`` for ``d.keys()`` (which iterates and counts like ``d``), else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "keys" and not node.args and not node.keywords):
        return node.func.value
    return None

"""Performance hints for Python, each with the span it applies to and, where the fix is a local
edit, the text that replaces that span (``rewrite``).

Every hint is about code that is measurably slower than its rewrite on CPython 3.11, and is only
given when the analyzer can see that the rewrite keeps the meaning: the names involved are known
lists or strings of the same function, the loop does not mutate what it iterates, and so on.
Where that cannot be seen, nothing is said. (Binding ``out.append`` to a local before a loop is
*not* suggested: on 3.11 it is slower than the specialised method call; module attributes are.)
"""

from __future__ import annotations

import ast
import keyword
import logging
import re
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from . import _pysource
from .base import Analyzer, Event, Item

log = logging.getLogger(__name__)

COMPLEXITY_THRESHOLD = 10
"""Cyclomatic complexity above which the function at the cursor gets a C901 hint (mccabe's
customary limit)."""

_COMPREHENSIONS = ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
_FUNCTIONS = ast.FunctionDef | ast.AsyncFunctionDef
_READ_ONLY_METHODS = frozenset({
    "get", "keys", "values", "items", "copy", "count", "index", "startswith", "endswith",
    "format", "lower", "upper", "strip", "split", "find",
})
_READ_ONLY_BUILTINS = frozenset({
    "len", "isinstance", "print", "repr", "str", "bool", "id", "hash", "type", "format", "min",
    "max", "sum", "any", "all", "sorted", "int", "float", "enumerate", "zip",
})
_HASHABLE_CONSTANTS = (str, bytes, int, float, complex, bool, type(None))
_COMPUTE_MODULES = frozenset({
    "math", "cmath", "operator", "random", "bisect", "heapq", "unicodedata", "struct", "colorsys",
})
_COMPUTE_FUNCTIONS = frozenset({
    f"{module}.{name}" for module in ("os.path", "posixpath")
    for name in ("join", "split", "splitext", "basename", "dirname", "normpath", "normcase",
                 "isabs", "commonprefix")
})
"""Small computational functions (and the modules made of them): in a tight loop their lookup
is a real share of the cost of the call. Calls that do I/O or much work dwarf a lookup."""
_TIGHT_LOOP = 5
"""A loop with at most this many statements in its body is tight."""
_CHEAP_BUILTINS = frozenset({
    "abs", "min", "max", "len", "int", "float", "round", "divmod", "pow", "range", "enumerate",
    "zip", "isinstance", "bool", "complex", "sum",
})
_CHEAP_METHODS = frozenset({"append", "extend", "pop"})


class PerformanceOptimization(Analyzer):
    """Concrete performance hints for Python code, plus the complexity of the function at point."""

    name = "performance_optimization"
    kind = "hints"
    languages = frozenset({"python"})

    def analyze(self, event: Event) -> list[Item] | None:
        """Hints for the text of ``event`` (a window is cut to whole statements first)."""
        try:
            source = _pysource.source_of(event)
            if source.tree is None:
                return []
            finder = _Finder(source)
            finder.run(source.tree)
            cursor = event["line"] - event.get("first_line", 1) + 1 - source.offset
            complexity = _complexity_hint(source, source.tree, cursor)
            hints = finder.hints + ([complexity] if complexity else [])
            return sorted(hints, key=lambda h: (h["line"], h["col"], h["code"]))
        except Exception:  # an analyzer must survive any text; the failure is logged, not sent
            log.exception("performance_optimization failed on %s", event.get("file"))
            return []


# --- What names hold ----------------------------------------------------------------------------


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

    def string(self, name: str) -> bool:
        """Whether ``name`` is always bound to a string here."""
        kinds = self.bindings.get(name)
        if not kinds:
            return False
        return kinds <= {"str", "aug"} and "str" in kinds

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
                       | ast.While | _COMPREHENSIONS | ast.Compare | ast.AugAssign | ast.Assign
                       | ast.Call | ast.Subscript)
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


def _imported_modules(tree: ast.Module) -> list[tuple[str, str]]:
    """(bound name, module) for each module-level ``import`` (``import os.path`` binds os)."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found.append((alias.asname, alias.name))
                else:
                    root = alias.name.split(".")[0]
                    found.append((root, root))
    return found


def _value_kind(value: ast.expr) -> str:
    if isinstance(value, ast.ListComp):
        return "list"
    if isinstance(value, ast.List):
        return "const_list" if all(isinstance(e, ast.Constant) for e in value.elts) else "list"
    if isinstance(value, ast.JoinedStr):
        return "str"
    if isinstance(value, ast.Constant):
        return "str" if isinstance(value.value, str) else "other"
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Name) and func.id in ("list", "str") and not value.keywords:
            return func.id
        if (isinstance(func, ast.Attribute) and func.attr in ("join", "format")
                and isinstance(func.value, ast.Constant) and isinstance(func.value.value, str)):
            return "str"
    if (isinstance(value, ast.BinOp) and isinstance(value.op, ast.Mod)
            and isinstance(value.left, ast.Constant) and isinstance(value.left.value, str)):
        return "str"
    return "other"


def _annotation_kind(annotation: ast.expr | None) -> str:
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    if isinstance(annotation, ast.Attribute) and annotation.attr == "List":
        return "list"
    if isinstance(annotation, ast.Name):
        if annotation.id in ("list", "List"):
            return "list"
        if annotation.id == "str":
            return "str"
    return "other"


# --- The hints ----------------------------------------------------------------------------------


def _between(first: ast.AST, last: ast.AST) -> ast.expr:
    """A node-like span from the start of ``first`` to the end of ``last``."""
    return ast.expr(lineno=first.lineno, col_offset=first.col_offset,  # type: ignore[attr-defined]
                    end_lineno=last.end_lineno,  # type: ignore[attr-defined]
                    end_col_offset=last.end_col_offset)  # type: ignore[attr-defined]


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}




def _only_read(names: set[str], statements: list[ast.stmt]) -> bool:
    """Whether ``statements`` leave the objects reached through ``names`` alone: they (or their
    attributes) are indexed, compared, have read-only methods called or are passed to read-only
    builtins, and nothing else; any other use might change them."""
    parents: dict[int, ast.AST] = {}
    for stmt in statements:
        for node in ast.walk(stmt):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
    for stmt in statements:
        for name in ast.walk(stmt):
            if isinstance(name, ast.Name) and name.id in names and not _read_use(name, parents):
                return False
    return True


def _read_use(name: ast.Name, parents: dict[int, ast.AST]) -> bool:
    node: ast.expr = name
    parent = parents.get(id(node))
    while isinstance(parent, ast.Attribute) and parent.value is node:
        node, parent = parent, parents.get(id(parent))
    if not isinstance(getattr(node, "ctx", None), ast.Load):
        return False
    if isinstance(parent, ast.Subscript) and parent.value is node:
        return isinstance(parent.ctx, ast.Load)
    if isinstance(parent, ast.Call):
        if parent.func is node:
            return isinstance(node, ast.Attribute) and node.attr in _READ_ONLY_METHODS
        return isinstance(parent.func, ast.Name) and parent.func.id in _READ_ONLY_BUILTINS
    return isinstance(parent, ast.Compare | ast.BoolOp | ast.UnaryOp | ast.If | ast.IfExp
                      | ast.Expr | ast.FormattedValue | ast.BinOp)


class _Finder:
    """Walks one tree and collects hints; ``shadowed`` names are builtins the code rebinds."""

    def __init__(self, source: _pysource.Source) -> None:
        self.source = source
        self.hints: list[Item] = []
        self.shadowed: set[str] = set()
        self.modules: dict[str, str] = {}
        self._seen: set[tuple[int, str, str]] = set()
        # Hints given once per loop or function, at the first place they apply.
        self._first: dict[tuple[int, str, str], tuple[ast.AST, str]] = {}

    def run(self, tree: ast.Module) -> None:
        """Collect the hints of every statement of ``tree``.

        The hints of a top-level statement depend on it, on what the module imports and binds,
        and on where the text sits in the buffer; they are cached on the statement's node,
        which the parse cache hands out again as long as its text is unchanged.
        """
        module = _Scope(tree, "module")
        self.modules = {
            bound: real for bound, real in _imported_modules(tree)
            if module.bindings.get(bound) == {"module"}
        }
        self.shadowed = set(module.bindings)
        for stmt in tree.body:
            self.shadowed |= _cached(_STORED, stmt, 0, _stored_names)
        context = hash((
            frozenset(self.modules.items()), frozenset(self.shadowed),
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
        for (_, code, _), (node, message) in self._first.items():
            self._add(node, code, message)
        self._first.clear()
        mine, self.hints = self.hints, found
        return mine

    def _once(self, scope_node: ast.AST, code: str, name: str, node: ast.AST,
              message: str) -> None:
        key = (id(scope_node), code, name)
        known = self._first.get(key)
        position = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
        if known is None or position < (known[0].lineno, known[0].col_offset):  # type: ignore[attr-defined]
            self._first[key] = (node, message)

    def _builtin(self, node: ast.expr, *names: str) -> bool:
        return isinstance(node, ast.Name) and node.id in names and node.id not in self.shadowed

    def _add(self, node: ast.AST, code: str, message: str, rewrite: str | None = None) -> None:
        item: Item = dict(_pysource.span(self.source, node))
        key = (item["line"], item["col"], code)
        if key in self._seen:
            return
        self._seen.add(key)
        item.update(message=message, code=code)
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
            self._loop_hints(node, scope)
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
            self._membership(node, scope)
        elif isinstance(node, ast.AugAssign | ast.Assign) and loops:
            self._concatenation(node, scope, loops)
        elif isinstance(node, ast.Call):
            self._call(node, scope, loops)
        elif isinstance(node, ast.Subscript):
            self._first_item(node)
        yield from ((child, scope, loops) for child in _children(node, _LEAF_TYPES))

    # Membership tests in loops -------------------------------------------------------------

    def _membership(self, node: ast.Compare, scope: _Scope) -> None:
        for op, right in zip(node.ops, node.comparators, strict=True):
            if not isinstance(op, ast.In | ast.NotIn):
                continue
            if isinstance(right, ast.Name) and scope.growing_list(right.id):
                self._add(node, "RAI001",
                          f"`{right.id}` is a list: every `in` test scans it, once per iteration"
                          " (quadratic); keep a set for membership tests")
            elif (isinstance(right, ast.List | ast.Tuple) and len(right.elts) >= 3
                  and all(isinstance(e, ast.Constant) and isinstance(e.value, _HASHABLE_CONSTANTS)
                          for e in right.elts)):
                elements = ", ".join(self.source.segment(e) for e in right.elts)
                self._add(right, "PLR6201",
                          "membership test against a literal sequence in a loop compares item by"
                          " item; a set literal hashes once", f"{{{elements}}}")
            elif (isinstance(right, ast.Call) and self._builtin(right.func, "list", "tuple")
                  and len(right.args) == 1 and not right.keywords):
                target = _dict_base(right.args[0]) or right.args[0]
                if isinstance(target, ast.Name | ast.Attribute):
                    self._add(right, "RAI005",
                              f"`{self.source.segment(right)}` copies the whole collection for one"
                              " membership test; test the collection itself",
                              self.source.segment(target))

    # String building in loops ------------------------------------------------------------

    def _concatenation(self, node: ast.AugAssign | ast.Assign, scope: _Scope,
                       loops: tuple[ast.AST, ...]) -> None:
        if isinstance(node, ast.AugAssign):
            if not (isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name)):
                return
            name = node.target.id
        else:
            value = node.value
            if not (len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add)
                    and isinstance(value.left, ast.Name)
                    and value.left.id == node.targets[0].id):
                return
            name = node.targets[0].id
        if not scope.string(name) or any(
            isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                              for t in n.targets)
            and n is not node for n in ast.walk(loops[-1])
        ):
            return  # reset within the loop: each string stays the size of one iteration's
        self._once(loops[0], "RAI002", name, node,
                   f"the string `{name}` is built by `+=` in a loop: each step can copy all of it"
                   " (quadratic); append the parts to a list and `''.join()` them once")

    # Calls ----------------------------------------------------------------------------------

    def _call(self, node: ast.Call, scope: _Scope, loops: tuple[ast.AST, ...]) -> None:
        func, args = node.func, node.args
        if (self._builtin(func, "sum", "any", "all", "min", "max") and args
                and isinstance(args[0], ast.ListComp)):
            comp = args[0]
            inner = self.source.segment(comp)[1:-1]
            alone = len(args) == 1 and not node.keywords
            name = func.id  # type: ignore[attr-defined]
            why = ("stops at the first decisive item, but the list comprehension computes"
                   " them all first" if name in ("any", "all")
                   else "needs one item at a time, but gets a whole list built first")
            self._add(node, "C419", f"`{name}()` {why}; pass a generator expression",
                      self.source.segment(node, [(comp, inner if alone else f"({inner})")]))
        elif (self._builtin(func, "len") and len(args) == 1 and not node.keywords
              and isinstance(args[0], ast.Call) and self._builtin(args[0].func, "list", "tuple")
              and len(args[0].args) == 1 and not args[0].keywords):
            self._count(node, args[0].args[0])
        elif loops and scope.kind == "function":
            self._module_lookup(node, scope, loops[-1])

    def _count(self, node: ast.Call, inner: ast.expr) -> None:
        base = _dict_base(inner)
        rewrite = None
        if base is not None:
            rewrite = f"len({self.source.segment(base)})"
        elif isinstance(inner, ast.GeneratorExp | ast.ListComp):
            tail = self.source.segment(inner, [(inner.elt, "1")])
            rewrite = f"sum({tail[1:-1]})"
        elif isinstance(inner, ast.List | ast.Tuple | ast.Set | ast.Dict | ast.Constant) or (
            isinstance(inner, ast.Call) and self._builtin(inner.func, "range")
        ):
            rewrite = f"len({self.source.segment(inner)})"
        hint = ("; count with `sum(1 for _ in x)`, or `len(x)` if it is a collection"
                if rewrite is None else "")
        self._add(node, "RAI004", f"`{self.source.segment(node)}` builds a list only to count it"
                  + hint, rewrite)

    def _module_lookup(self, node: ast.Call, scope: _Scope, loop: ast.AST) -> None:
        chain = _pysource.attribute_chain(node.func) if isinstance(node.func, ast.Attribute) else None
        if chain is None or chain[0] not in self.modules or chain[0] in scope.bindings:
            return
        real = ".".join([self.modules[chain[0]], *chain[1:-1]])
        if real not in _COMPUTE_MODULES and f"{real}.{chain[-1]}" not in _COMPUTE_FUNCTIONS:
            return
        if not self._compute_loop(loop, scope):
            return
        dotted = ".".join(chain)
        self._once(scope.node, "RAI003", dotted, node.func,
                   f"`{dotted}` is looked up (a global and {len(chain) - 1} attribute"
                   f"{'s' if len(chain) > 2 else ''}) on every iteration; bind it to a local"
                   f" before the loop: `{chain[-1]} = {dotted}`")

    def _compute_loop(self, loop: ast.AST, scope: _Scope) -> bool:
        """Whether ``loop`` is a tight loop of computation: few statements, and no calls but to
        cheap builtins, container methods and small computational functions. (In any other
        loop a call that does real work or I/O dwarfs a lookup.)"""
        if isinstance(loop, ast.For | ast.AsyncFor | ast.While):
            parts: list[ast.AST] = list(loop.body)
            if isinstance(loop, ast.While):
                parts.append(loop.test)
            if sum(1 for p in parts for n in ast.walk(p) if isinstance(n, ast.stmt)) > _TIGHT_LOOP:
                return False
        elif isinstance(loop, _COMPREHENSIONS):
            parts = [i for g in loop.generators for i in g.ifs]
            parts += [loop.key, loop.value] if isinstance(loop, ast.DictComp) else [loop.elt]
        else:
            return False
        for part in parts:
            for node in ast.walk(part):
                if isinstance(node, ast.Call) and not self._cheap_call(node, scope):
                    return False
        return True

    def _cheap_call(self, node: ast.Call, scope: _Scope) -> bool:
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in _CHEAP_BUILTINS and func.id not in self.shadowed
        chain = _pysource.attribute_chain(func)
        if chain is not None and chain[0] in self.modules:
            real = ".".join([self.modules[chain[0]], *chain[1:-1]])
            return real in _COMPUTE_MODULES or f"{real}.{chain[-1]}" in _COMPUTE_FUNCTIONS
        # A method name alone says little (TarFile.add is not set.add): only a known list's.
        return (isinstance(func, ast.Attribute) and func.attr in _CHEAP_METHODS
                and isinstance(func.value, ast.Name)
                and scope.bindings.get(func.value.id, {"other"}) <= {"list", "const_list", "aug"})

    # Indexing -------------------------------------------------------------------------------

    def _first_item(self, node: ast.Subscript) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        index = node.slice
        first = isinstance(index, ast.Constant) and index.value == 0 and type(index.value) is int
        last = (isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub)
                and isinstance(index.operand, ast.Constant) and index.operand.value == 1
                and type(index.operand.value) is int)
        value = node.value
        if not isinstance(value, ast.Call | ast.ListComp):
            return
        if first and isinstance(value, ast.ListComp) and len(value.generators) == 1:
            self._add(node, "RUF015", "the list comprehension computes every item to use the"
                      " first; `next()` on a generator stops there (raises StopIteration, not"
                      " IndexError, when there is none)",
                      f"next({self.source.segment(value)[1:-1]})")
        if not isinstance(value, ast.Call) or value.args and isinstance(value.args[0], ast.Starred):
            return
        if (first and self._builtin(value.func, "list") and len(value.args) == 1
                and not value.keywords):
            self._add(node, "RUF015", "`list()` copies every item to use the first; `next(iter())`"
                      " stops there (raises StopIteration, not IndexError, when there is none)",
                      f"next(iter({self.source.segment(value.args[0])}))")
        elif (first or last) and self._builtin(value.func, "sorted") and len(value.args) == 1:
            self._sorted_end(node, value, first)

    def _sorted_end(self, node: ast.Subscript, call: ast.Call, first: bool) -> None:
        key = None
        reverse = False
        for keyword_ in call.keywords:
            if keyword_.arg == "key":
                key = keyword_.value
            elif (keyword_.arg == "reverse" and isinstance(keyword_.value, ast.Constant)
                  and isinstance(keyword_.value.value, bool)):
                reverse = keyword_.value.value
            else:
                return
        # sorted() is stable, so [0] is the first of the least items, as min() returns; [-1] is
        # the last of the greatest, which max() matches only when equal items are identical.
        if first and not reverse:
            name = "min"
        elif first and reverse:
            name = "max"
        elif key is None:
            name = "min" if reverse else "max"
        else:
            return
        args = [self.source.segment(call.args[0])]
        if key is not None:
            args.append(f"key={self.source.segment(key)}")
        self._add(node, "FURB192", f"sorting all items (n log n) to take one end; `{name}()` finds"
                  " it in one pass", f"{name}({', '.join(args)})")

    # Loops ------------------------------------------------------------------------------------

    def _loop_hints(self, node: ast.For | ast.AsyncFor, scope: _Scope) -> None:
        iterable = node.iter
        if (isinstance(iterable, ast.Call) and self._builtin(iterable.func, "list", "tuple")
                and len(iterable.args) == 1 and not iterable.keywords):
            self._copied_iterable(node, iterable, iterable.args[0])
        elif (isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute)
              and iterable.func.attr == "items" and not iterable.args
              and isinstance(node.target, ast.Tuple) and len(node.target.elts) == 2
              and all(isinstance(e, ast.Name) for e in node.target.elts)):
            self._half_items(node, iterable)
        elif isinstance(node, ast.For):
            self._range_len(node, scope)

    def _copied_iterable(self, node: ast.For | ast.AsyncFor, call: ast.Call, arg: ast.expr) -> None:
        fresh = isinstance(arg, ast.Call) and self._builtin(arg.func, "sorted", "range")
        base = _dict_base(arg)
        if not fresh and not isinstance(base or arg, ast.Name | ast.Attribute | ast.Subscript):
            return
        names = _names(arg)
        if not fresh and (names & _names(node.target) or not _only_read(names, node.body)):
            return  # the loop may change what it iterates: the copy is needed
        replacement = self.source.segment(base if base is not None else arg)
        self._add(call, "PERF101", f"`{self.source.segment(call)}` copies the items before the"
                  " loop, which reads them once and leaves them alone; iterate directly",
                  replacement)

    def _half_items(self, node: ast.For | ast.AsyncFor, call: ast.Call) -> None:
        key, value = node.target.elts  # type: ignore[attr-defined]
        base = self.source.segment(call.func.value)  # type: ignore[attr-defined]
        if value.id == "_" and key.id != "_":
            rewrite = f"{key.id} in {base}"
            what = "keys"
        elif key.id == "_" and value.id != "_":
            rewrite = f"{value.id} in {base}.values()"
            what = "values"
        else:
            return
        self._add(_between(node.target, call), "PERF102",
                  f"`.items()` builds pairs only to use the {what}; iterate the {what}", rewrite)

    def _range_len(self, node: ast.For, scope: _Scope) -> None:
        target, iterable = node.target, node.iter
        if not (isinstance(target, ast.Name) and isinstance(iterable, ast.Call)
                and self._builtin(iterable.func, "range") and len(iterable.args) == 1
                and not iterable.keywords and isinstance(iterable.args[0], ast.Call)
                and self._builtin(iterable.args[0].func, "len")
                and len(iterable.args[0].args) == 1):
            return
        seq = iterable.args[0].args[0]
        chain = _pysource.attribute_chain(seq)
        if chain is None:
            return
        index, shape = target.id, ast.dump(seq)
        reads: list[ast.Subscript] = []
        for stmt in node.body:
            for sub in ast.walk(stmt):
                if isinstance(sub, ast.Lambda | _FUNCTIONS | ast.ClassDef):
                    if index in _names(sub):
                        return  # closures see the index later; item would differ
                elif (isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Name)
                      and sub.slice.id == index and ast.dump(sub.value) == shape):
                    if not isinstance(sub.ctx, ast.Load):
                        return  # writes x[i]: reads after it must see the new value
                    reads.append(sub)
                elif isinstance(sub, ast.Name) and sub.id == index and not isinstance(
                        sub.ctx, ast.Load):
                    return
        if not reads:
            return
        if not _only_read({chain[0]}, node.body):
            return  # the loop may change the sequence, whose length range(len()) fixed up front
        index_used = sum(1 for n in ast.walk(scope.node)
                         if isinstance(n, ast.Name) and n.id == index) > len(reads) + 1
        item = _fresh_name(chain[-1], _names(scope.node) | set(scope.bindings))
        replacements: list[tuple[ast.AST, str]] = [(r, item) for r in reads]
        seq_text = self.source.segment(seq)
        if index_used:
            replacements += [(target, f"{index}, {item}"), (iterable, f"enumerate({seq_text})")]
            how = f"`for {index}, {item} in enumerate({seq_text})`"
        else:
            replacements += [(target, item), (iterable, seq_text)]
            how = f"`for {item} in {seq_text}`"
        self._add(node, "PLC0200", f"`range(len({seq_text}))` indexes `{seq_text}` on every"
                  f" iteration; iterate it: {how}", self.source.segment(node, replacements))

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
            targets = _names(loop.target)
            after = loop.end_lineno or loop.lineno
            if any(isinstance(n, ast.Name) and n.id in targets and n.lineno > after
                   for n in ast.walk(scope.node)):
                continue  # the loop variable is read after the loop; a comprehension hides it
            self._add(_between(init, loop), "PERF401",
                      f"`{name}` is built by `append` in a loop; a list comprehension does the"
                      " same faster", self._comprehension(init, loop, call.args[0], test))

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
        return f"{name} = [{seg(item)} for {seg(loop.target)} in {iterable}{condition}]"


def _dict_base(node: ast.expr) -> ast.expr | None:
    """``d`` for ``d.keys()`` (which iterates and counts like ``d``), else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "keys" and not node.args and not node.keywords):
        return node.func.value
    return None


def _fresh_name(collection: str, taken: set[str]) -> str:
    """A name for one item of ``collection``: its singular when that reads well and is free."""
    if collection.endswith("ies") and len(collection) > 3:
        single = collection[:-3] + "y"
    elif collection.endswith(("sses", "xes", "ches", "shes")):
        single = collection[:-2]
    elif collection.endswith("s") and not collection.endswith("ss") and len(collection) > 1:
        single = collection[:-1]
    else:
        single = "item"
    for name in (single, "item", "item_"):
        if name.isidentifier() and not keyword.iskeyword(name) and name not in taken:
            return name
    return f"item_{len(taken)}"


# --- Complexity ---------------------------------------------------------------------------------


def complexity(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """McCabe cyclomatic complexity, counted as ruff's C901 counts it (so the numbers agree)."""
    return _decisions(function.body) + 1


def _decisions(statements: list[ast.stmt]) -> int:
    total = 0
    for stmt in statements:
        if isinstance(stmt, ast.If):
            total += 1 + _decisions(stmt.body)
            orelse = stmt.orelse
            while len(orelse) == 1 and isinstance(orelse[0], ast.If):  # elif
                total += 1 + _decisions(orelse[0].body)
                orelse = orelse[0].orelse
            total += _decisions(orelse)
        elif isinstance(stmt, ast.For | ast.AsyncFor | ast.While):
            total += 1 + _decisions(stmt.body) + _decisions(stmt.orelse)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            total += _decisions(stmt.body)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                total += 1 + _decisions(case.body)
            if stmt.cases and _irrefutable(stmt.cases[-1]):
                total -= 1
        elif isinstance(stmt, ast.Try | ast.TryStar):
            total += _decisions(stmt.body) + _decisions(stmt.orelse) + _decisions(stmt.finalbody)
            total += 1 if stmt.orelse else 0
            total += sum(1 + _decisions(h.body) for h in stmt.handlers)
        elif isinstance(stmt, _FUNCTIONS):
            total += 1 + _decisions(stmt.body)
        elif isinstance(stmt, ast.ClassDef):
            total += _decisions(stmt.body)
    return total


def _irrefutable(case: ast.match_case) -> bool:
    pattern = case.pattern
    while isinstance(pattern, ast.MatchAs) and pattern.pattern is not None:
        pattern = pattern.pattern
    return case.guard is None and isinstance(pattern, ast.MatchAs)


def _complexity_hint(source: _pysource.Source, tree: ast.Module, line: int) -> Item | None:
    function = _pysource.enclosing_function(tree, line)
    if function is None:
        return None
    number = complexity(function)
    if number <= COMPLEXITY_THRESHOLD:
        return None
    text = source.line_text(function.lineno)
    found = re.search(rf"\bdef\s+({re.escape(function.name)})\b", text)
    if found is None:
        return None
    buffer_line = source.buffer_line(function.lineno)
    return {"line": buffer_line, "col": found.start(1), "end_line": buffer_line,
            "end_col": found.end(1), "code": "C901",
            "message": f"`{function.name}` has cyclomatic complexity {number} (more than"
                       f" {COMPLEXITY_THRESHOLD}); split it into smaller functions"}

"""How a generated test reaches the function: by name, through its class, or on an instance
that a factory in the module builds, from the class's own docstring example or from its
``__init__`` signature (the first sample arguments that pass the ``__init__``'s guards)."""

from __future__ import annotations

import ast
import builtins
import doctest

from . import guards as guard_clauses
from .locate import UNKNOWN, Param, Reach, Target, params_of, snake
from .signature import arguments
from .world import io_free

_PLAIN_BASES = frozenset({"object"})
_PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod", "cache", "lru_cache"})
_VALUE_BUILTINS = frozenset({"list", "dict", "set", "tuple", "str", "int", "float", "range",
                             "frozenset", "bytes"})


def reach(target: Target) -> tuple[Reach | None, str | None]:
    """How the tests call the function, or why they cannot."""
    top = target.qualname.split(".")[0]
    target.imports.add(top)
    if not target.is_method:
        return Reach(target.qualname), None
    owner = target.owner
    assert owner is not None
    if any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _decorator_name(d) == "abstractmethod" for d in node.decorator_list)
           for node in owner.body):
        return None, f"{owner.name} is abstract: no instance of it can be built"
    built = _from_docstring(target, owner) or _from_init(target, owner)
    if isinstance(built, str) and built.startswith("!"):
        return None, built[1:]
    if built is None:
        return None, f"no way to build a {owner.name} was found (its __init__ is unknown)"
    owner_path, _, method = target.qualname.rpartition(".")
    built = owner_path + built[len(owner.name):]  # a nested class by its path
    name = f"new_{snake(owner.name)}"
    factory = (f"def {name}():\n    \"\"\"A {owner.name} for the tests to call.\"\"\"\n"
               f"    return {built}\n")
    return Reach(f"{name}().{method}", factory), None


def _from_docstring(target: Target, owner: ast.ClassDef) -> str | None:
    """``Cls(...)`` as the class's docstring example builds it, if its names are known."""
    docstring = ast.get_docstring(owner, clean=True)
    if not docstring or ">>>" not in docstring:
        return None
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError:
        return None
    for example in examples:
        try:
            tree = ast.parse(example.source)
        except SyntaxError:
            continue
        for node in tree.body:
            value = node.value if isinstance(node, ast.Assign | ast.Expr) else None
            if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                    and value.func.id == owner.name):
                used = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
                if used <= target.module_names | {owner.name} | _safe_builtins(used):
                    target.imports.update(used & target.module_names)
                    return ast.unparse(value)
    return None


def _safe_builtins(names: set[str]) -> set[str]:
    """The builtins among ``names`` that build plain values."""
    return {n for n in names if n in _VALUE_BUILTINS and hasattr(builtins, n)}


class Built:
    """An argument that is an instance built by its own constructor call: its repr is the
    call, so it is written into the argument list as it is."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return self.source


def _from_init(target: Target, owner: ast.ClassDef, depth: int = 0) -> str | None:
    """``Cls(args)`` from the ``__init__`` of the class (or of a base class in the module):
    sample arguments for its required parameters that pass its guards, and for a parameter
    typed with another class of the module, an instance of it built the same way (two levels
    deep). "!reason" when the class cannot be built that way."""
    init, dataclass_fields = _init_of(target, owner)
    if init is None and dataclass_fields is None:
        return None
    if init is not None:
        if not io_free(init):
            return f"!building a {owner.name} does I/O"
        params = params_of(init, method=True)
        guards = guard_clauses.guards_of(init, params)
    else:
        params = dataclass_fields or []
        guards = []
    classes = {n.name: n for n in target.tree.body if isinstance(n, ast.ClassDef)}
    for param in params:
        param.candidates = guard_clauses.candidates(param, guards)
        kind = _class_name(param.annotation)
        if not param.candidates and not param.has_default and kind in classes and depth < 2:
            inner = _from_init(target, classes[kind], depth + 1)
            if inner is not None and not inner.startswith("!"):
                param.candidates = [Built(inner)]
    required = [p for p in params if not p.has_default]
    if any(not p.candidates for p in required):
        missing = ", ".join(p.name for p in required if not p.candidates)
        return f"!no sample values for {owner.name}'s arguments ({missing}: no type or default)"
    env = guard_clauses.search(params, required, guards, None)
    if env is None:
        return f"!no sample arguments pass {owner.name}.__init__'s guards"
    target.imports.add(owner.name)
    return f"{owner.name}({arguments(params, env)})"


def _init_of(target: Target, owner: ast.ClassDef
             ) -> tuple[ast.FunctionDef | None, list[Param] | None]:
    """The ``__init__`` the class runs (its own, or a module base class's), or its dataclass
    fields; (None, None) when a base outside the module decides."""
    classes = {n.name: n for n in ast.walk(target.tree) if isinstance(n, ast.ClassDef)}
    seen: set[str] = set()
    current: ast.ClassDef | None = owner
    while current is not None and current.name not in seen:
        seen.add(current.name)
        for node in current.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                return node, None
        if any(_decorator_name(d) in ("dataclass", "define", "frozen", "attrs")
               for d in current.decorator_list):
            return None, _fields(current)
        bases = [b.id if isinstance(b, ast.Name) else "?" for b in current.bases]
        if not bases or set(bases) <= _PLAIN_BASES:
            return None, []  # object's __init__: no arguments
        if len(bases) != 1 or bases[0] not in classes:
            return None, None
        current = classes[bases[0]]
    return None, None


def _class_name(annotation: ast.expr | None) -> str:
    """The class an annotation names (``Command``, ``"Command"``, ``Optional[Command]``)."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return ""
    if isinstance(annotation, ast.Subscript) and getattr(annotation.value, "id", "") == (
            "Optional"):
        annotation = annotation.slice
    return annotation.id if isinstance(annotation, ast.Name) else ""


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _fields(owner: ast.ClassDef) -> list[Param]:
    """A dataclass's fields as parameters (annotated assignments; ClassVar left out)."""
    found = []
    for node in owner.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if "ClassVar" in ast.unparse(node.annotation):
                continue
            param = Param(node.target.id, False, node.annotation)
            if node.value is not None:
                param.has_default = True
                param.default = UNKNOWN
            found.append(param)
    return found


def call_kind(target: Target) -> tuple[str | None, str | None]:
    """How the name runs this body: ``call`` (no decorator but staticmethod, classmethod,
    cache and lru_cache), ``attribute`` (a property's getter), or None and why not (any other
    decorator may call something else)."""
    names = [_decorator_name(d) for d in target.function.decorator_list]
    if target.is_method and names and set(names) <= {"property", "cached_property"}:
        return "attribute", None
    others = [n for n in names if n not in _PLAIN_DECORATORS]
    if not others:
        return "call", None
    if "overload" in others:
        return None, "an @overload signature (its implementation is the def to test)"
    if "setter" in others or "deleter" in others:
        return None, "a property's setter or deleter"
    return None, f"a decorator (@{others[0]}) may call something else than its body"

"""Where the function under test lives: the module that imports it, the project around it, the
function at the cursor and what its signature says."""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNKNOWN = object()
"""What the guard evaluator returns (and the value of a parameter) when it cannot tell."""

_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")

Function = ast.FunctionDef | ast.AsyncFunctionDef


def module_of(path: str) -> tuple[Path, str] | None:
    """The folder to put on sys.path and the dotted module name that imports ``path``: the
    nearest folder up from the file that is not a package (has no __init__.py, and is no
    namespace package inside one, such as flask/sansio)."""
    file = Path(path)
    if file.suffix != ".py":
        return None
    parts = [] if file.stem == "__init__" else [file.stem]
    folder = file.parent
    while folder.parent != folder and ((folder / "__init__.py").exists()
                                       or (folder.parent / "__init__.py").exists()):
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


@dataclass
class Param:
    """One parameter the caller passes (``self`` and ``cls`` left out)."""

    name: str
    keyword_only: bool
    annotation: ast.expr | None
    default: Any = UNKNOWN
    has_default: bool = False
    candidates: list[Any] = field(default_factory=list)


@dataclass
class Target:
    """The function under test and everything the generated module needs to reach it."""

    function: Function
    owner: ast.ClassDef | None
    qualname: str
    module: str
    module_names: set[str]
    params: list[Param]
    tree: ast.Module
    imports: set[str] = field(default_factory=set)
    imports_module: bool = False
    example_names: set[str] = field(default_factory=set)
    unresolved: set[str] = field(default_factory=set)
    documented_return: ast.expr | None = None
    """The return type the docstring states, when the def has no annotation (doctypes)."""

    @property
    def is_method(self) -> bool:
        """Whether the function is called on an instance (not a static or class method)."""
        return self.owner is not None and not (
            decorated(self.function, "staticmethod") or decorated(self.function, "classmethod"))


@dataclass
class Reach:
    """``call`` is what the tests call (``f``, ``Cls.f``, ``new_cls().f``); ``factory`` the
    module-level function that builds the instance, if one is needed."""

    call: str
    factory: str | None = None


def function_at(tree: ast.Module, line: int) -> tuple[Function, list[ast.ClassDef]] | None:
    """The function at ``line`` that can be imported, with the classes it is in: a module-level
    function or a method of a module-level class (nested classes included), the one around
    ``line`` (a nested function's importable parent)."""
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
            return node, owners
        if not isinstance(node, ast.ClassDef):
            return None
        owners.append(node)
        body = node.body


_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+\w")
_CLASS = re.compile(r"^(\s*)class\s+(\w+)")


def cut_function(lines: list[str], line: int) -> tuple[ast.Module, int, list[str]] | None:
    """The def around line ``line`` (1-based) of ``lines`` when it is not among the complete
    statements of a window (the window cut the class it is in): the def's lines, dedented and
    parsed alone, the line of ``lines`` its first line came from, and the names of the classes
    it is in, found by their indentation. None when there is no such def."""
    if not 1 <= line <= len(lines):
        return None
    at = line - 1
    cursor_indent = _indent(lines, at)
    start = None
    for i in range(at, -1, -1):
        found = _DEF.match(lines[i])
        if found and (i == at or len(found.group(1)) < cursor_indent):
            start = i
            break
    if start is None:
        return None
    indent = len(_DEF.match(lines[start]).group(1))  # type: ignore[union-attr]
    while start > 0 and lines[start - 1].strip().startswith("@"):
        start -= 1
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines, end) > indent):
        end += 1
    if end == len(lines):
        return None  # the window may end inside the def
    owners: list[str] = []
    level = indent
    for i in range(start - 1, -1, -1):
        found = _CLASS.match(lines[i])
        if found and len(found.group(1)) < level:
            owners.insert(0, found.group(2))
            level = len(found.group(1))
        elif lines[i].strip() and _indent(lines, i) < level and not found:
            return None  # inside something that is not a class: not importable
        if level == 0:
            break
    if level:
        return None
    text = "\n".join(x[indent:] if x.strip() else "" for x in lines[start:end])
    try:
        return ast.parse(text), start, owners
    except SyntaxError:
        return None


def _indent(lines: list[str], at: int) -> int:
    text = lines[at]
    return len(text) - len(text.lstrip()) if text.strip() else 1 << 30


def module_names(tree: ast.Module) -> set[str]:
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


def params_of(function: Function, method: bool) -> list[Param]:
    """The parameters a caller passes, with their literal defaults; ``method``: the first
    positional one is ``self`` or ``cls``."""
    args = function.args
    positional = args.posonlyargs + args.args
    if method and positional:
        positional = positional[1:]
    params = [Param(a.arg, False, a.annotation) for a in positional]
    params += [Param(a.arg, True, a.annotation) for a in args.kwonlyargs]
    defaults = [None] * max(len(positional) - len(args.defaults), 0) + list(args.defaults)
    for param, default in zip(params, defaults + list(args.kw_defaults), strict=False):
        if default is not None:
            param.has_default = True
            param.default = literal(default)
    return params


def decorated(function: Function, name: str) -> bool:
    """Whether ``function`` has the plain decorator ``name`` (``@staticmethod``, say)."""
    return any(isinstance(d, ast.Name) and d.id == name for d in function.decorator_list)


def literal(node: ast.expr) -> Any:
    """The value of a literal expression; UNKNOWN for anything else."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return UNKNOWN


def exception_name(target: Target, name: str) -> str:
    """How the generated module refers to exception ``name`` (as raised or printed)."""
    name = name.strip()
    short = name.rsplit(".", 1)[-1]
    root = name.split(".")[0]
    if is_builtin_exception(short) and ("." not in name or root == "builtins"):
        return short
    if root in target.module_names:
        target.imports.add(root)
        return name
    if short in target.module_names:
        target.imports.add(short)
        return short
    return "Exception"


def is_builtin_exception(name: str) -> bool:
    """Whether ``name`` is a builtin exception class."""
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def snake(name: str) -> str:
    """``Stack.pushAll`` as ``stack_push_all``, for test names."""
    name = name.replace(".", "_")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()

"""The types a docstring gives parameters that have no annotation, and the return type when the
def has none: Sphinx (``:param int x:``, ``:type x: int``, ``:rtype: str``), Google (``Args:``
with ``x (int): ...``, ``Returns:`` with ``str: ...``) and numpydoc (``Parameters`` /
``Returns`` sections with ``x : int``). Only types made of builtins are taken (``int``,
``str or None``, ``list of str``, ``dict``): a class name in prose may be any class."""

from __future__ import annotations

import ast
import re

from .locate import Target

_BUILTIN = frozenset({"int", "float", "str", "bytes", "bool", "list", "dict", "tuple", "set",
                      "frozenset", "complex", "None", "bytearray"})
_SPHINX_PARAM = re.compile(r"^\s*:param\s+([^:]+?)\s+(\w+)\s*:", re.MULTILINE)
_SPHINX_TYPE = re.compile(r"^\s*:type\s+(\w+)\s*:\s*(.+)$", re.MULTILINE)
_SPHINX_RTYPE = re.compile(r"^\s*:rtype:\s*(.+)$", re.MULTILINE)
_GOOGLE_PARAM = re.compile(r"^\s*\*{0,2}(\w+)\s*\(([^)]+)\)\s*:")
_NUMPY_PARAM = re.compile(r"^(\w+)\s+:\s+(.+)$")
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Returns|Return|Yields|Raises|"
                      r"Examples?|Notes?|See Also|Attributes|Keyword Args|Other Parameters)"
                      r"\s*:?\s*$")
_ALIASES = {"string": "str", "integer": "int", "boolean": "bool", "dictionary": "dict",
            "NoneType": "None", "none": "None", "basestring": "str", "unicode": "str"}


def annotate(target: Target) -> None:
    """Give the target's unannotated parameters (and its return, if unannotated) the types its
    docstring states, when they are builtins."""
    docstring = ast.get_docstring(target.function, clean=True)
    if not docstring:
        return
    params, returns = documented(docstring)
    for param in target.params:
        if param.annotation is None and param.name in params:
            param.annotation = params[param.name]
    if target.function.returns is None:
        target.documented_return = returns  # the tree is shared with other analyzers: not set


def documented(docstring: str) -> tuple[dict[str, ast.expr], ast.expr | None]:
    """Parameter name -> type, and the return type, as the docstring states them."""
    texts: dict[str, str] = {}
    returned: str | None = None
    for kind, name in _SPHINX_PARAM.findall(docstring):
        texts[name] = kind
    for name, kind in _SPHINX_TYPE.findall(docstring):
        texts[name] = kind
    if match := _SPHINX_RTYPE.search(docstring):
        returned = match.group(1)
    lines = docstring.splitlines()
    section = ""
    for index, line in enumerate(lines):
        heading = _SECTION.match(line)
        underlined = index + 1 < len(lines) and set(lines[index + 1].strip()) == {"-"}
        if heading and (line.rstrip().endswith(":") or underlined):
            section = heading.group(1)
            continue
        if section in ("Args", "Arguments", "Parameters", "Params", "Keyword Args",
                       "Other Parameters"):
            google = _GOOGLE_PARAM.match(line)
            numpy = _NUMPY_PARAM.match(line)
            if google:
                texts.setdefault(google.group(1), google.group(2))
            elif numpy:
                texts.setdefault(numpy.group(1), numpy.group(2))
        elif section in ("Returns", "Return") and returned is None and line.strip():
            stripped = line.strip()
            google_return = re.match(r"^([\w\[\], |]+?)\s*:\s", stripped + " ")
            if set(stripped) == {"-"}:
                continue
            returned = google_return.group(1) if google_return else stripped
            section = "done"
    params = {n: e for n, t in texts.items() if (e := parse(t)) is not None}
    return params, parse(returned) if returned else None


def parse(text: str) -> ast.expr | None:
    """``str or None`` as ``str | None``, ``list of str`` as ``list[str]``; None unless every
    name is a builtin type."""
    text = re.sub(r":\w+:`~?([\w.]+)`", r"\1", text).replace("`", "").strip().rstrip(".")
    text = re.split(r",\s*(?:optional|default\b|defaults\b)", text)[0]
    text = re.sub(r"\boptional\b", "", text).strip(" ,")
    for word, name in _ALIASES.items():
        text = re.sub(rf"\b{word}\b", name, text)
    text = re.sub(r"\b(list|set|tuple|frozenset) of (\w+)s?\b", r"\1[\2]", text)
    text = re.sub(r"\s+or\s+|\s*,\s*", " | ", text)
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    names = [n for n in ast.walk(node) if isinstance(n, ast.Name)]
    allowed = (ast.Name, ast.BinOp, ast.BitOr, ast.Subscript, ast.Load, ast.Tuple, ast.Constant)
    if not names or any(n.id not in _BUILTIN for n in names) or not all(
            isinstance(n, allowed) for n in ast.walk(node)):
        return None
    if any(isinstance(n, ast.Constant) and n.value is not None for n in ast.walk(node)):
        return None
    return _none_as_constant(node)


def _none_as_constant(node: ast.expr) -> ast.expr:
    """``None`` read as a name becomes the constant the annotation code expects."""
    class Replace(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.AST:
            return ast.Constant(None) if name.id == "None" else name
    return Replace().visit(node)

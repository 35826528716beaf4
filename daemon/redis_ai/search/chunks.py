"""Split a source file into chunks, the units that search finds: a function, a class, a method,
or a window of lines.

Python is split with ``ast``: every function and class, every method (named ``Class.method``),
nested ones too (``outer.inner``, ``Outer.Inner.method``), and the module-level code between
them in windows. A class's own chunk holds its header, docstring and attributes, up to its
first method or nested class; a function's chunk holds its nested definitions as well. Other languages
(and Python that does not parse) are cut into windows of about ``WINDOW`` lines, each cut made
at a blank line where there is one, so that a window tends to hold whole definitions.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

WINDOW = 40
"""Target length of a window chunk, in lines."""

MAX_CHUNK_CHARS = 16_000
"""A chunk's stored text is cut here: enough to embed a long function by its start."""

_DEFINITION = re.compile(
    r"^\s*(?:export\s+|pub(?:\(\w+\))?\s+|local\s+|static\s+|async\s+)*"
    r"(?:def|function|fn|func|class|struct|enum|trait|impl|interface|module|defun|defmacro"
    r"|defvar|defcustom|defconst|cl-defun|cl-defmethod)\s+\(?([\w.:$<>*-]+)")


@dataclass
class Chunk:
    """A span of one file: 1-based inclusive lines, a name to show, and the text to embed."""

    file: str
    start_line: int
    end_line: int
    name: str
    kind: str  # "function", "class", "method", "module" or "window"
    language: str
    text: str


def embed_text(chunk: Chunk) -> str:
    """What the encoder reads of a chunk: what a person would, its qualified name (a method's
    class is not in its text) and then its code, signature and docstring first."""
    return f"{chunk.name}\n{chunk.text}"


def chunk_file(file: str, text: str, language: str, *, strip_docstrings: bool = False) -> list[Chunk]:
    """The chunks of one file's ``text``; Python by definitions, other languages by windows.

    ``strip_docstrings`` leaves functions' and methods' docstrings out of their text (the
    benchmark's queries are those docstrings, so the answer must not contain them).

    >>> [c.name for c in chunk_file("m.py", "def f():\\n    return 1\\n", "python")]
    ['f']
    """
    if language == "python":
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            pass
        else:
            return _python_chunks(file, text.splitlines(), tree, strip_docstrings)
    return window_chunks(file, text.splitlines(), language, 1, len(text.splitlines()))


def _python_chunks(file: str, lines: list[str], tree: ast.Module, strip: bool) -> list[Chunk]:
    chunks: list[Chunk] = []
    loose_from = 1  # first line of module-level code not yet in a chunk
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        start, end = _span(node)
        if start > loose_from:
            chunks += window_chunks(file, lines, "python", loose_from, start - 1, name="<module>",
                                    kind="module")
        loose_from = end + 1
        if isinstance(node, ast.ClassDef):
            chunks += _class_chunks(file, lines, node, node.name, strip)
        else:
            chunks += _function_chunks(file, lines, node, node.name, "function", strip)
    if loose_from <= len(lines):
        chunks += window_chunks(file, lines, "python", loose_from, len(lines), name="<module>",
                                kind="module")
    return chunks


_Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _class_chunks(file: str, lines: list[str], node: ast.ClassDef, name: str,
                  strip: bool) -> list[Chunk]:
    """The class's own chunk (up to its first method or nested class), then each method and
    nested class, named by their qualified names (``Outer.Inner.method``)."""
    inner = [n for n in node.body if isinstance(n, _Definition)]
    start, end = _span(node)
    head_end = _span(inner[0])[0] - 1 if inner else end
    chunks = [_chunk(file, lines, start, head_end, name, "class")]
    for member in inner:
        if isinstance(member, ast.ClassDef):
            chunks += _class_chunks(file, lines, member, f"{name}.{member.name}", strip)
        else:
            chunks += _function_chunks(file, lines, member, f"{name}.{member.name}", "method",
                                       strip)
    return chunks


def _function_chunks(file: str, lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef,
                     name: str, kind: str, strip: bool) -> list[Chunk]:
    """The function's chunk, then its nested functions and classes as chunks of their own
    (``outer.inner``): a helper defined inside is found by what it does, not only by its
    outer function."""
    chunks = [_node_chunk(file, lines, node, name, kind, strip)]
    for inner in _nested(node):
        if isinstance(inner, ast.ClassDef):
            chunks += _class_chunks(file, lines, inner, f"{name}.{inner.name}", strip)
        else:
            chunks += _function_chunks(file, lines, inner, f"{name}.{inner.name}", "function",
                                       strip)
    return chunks


def _nested(node: ast.AST) -> list[_Definition]:
    """Definitions inside ``node``'s body (under if, for, with, try too), not inside them."""
    found: list[_Definition] = []
    stack = list(reversed(list(ast.iter_child_nodes(node))))
    while stack:
        child = stack.pop()
        if isinstance(child, _Definition):
            found.append(child)
        elif isinstance(child, ast.stmt):
            stack.extend(reversed(list(ast.iter_child_nodes(child))))
    return found


def _node_chunk(file: str, lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef,
                name: str, kind: str, strip: bool) -> Chunk:
    start, end = _span(node)
    chunk = _chunk(file, lines, start, end, name, kind)
    doc = node.body[0] if node.body else None
    if strip and ast.get_docstring(node) is not None and doc is not None and doc.end_lineno:
        # Lines of the docstring, relative to the chunk; a one-line body keeps its def line.
        first, last = doc.lineno - start, doc.end_lineno - start
        kept = lines[start - 1:end]
        if first > 0:
            chunk.text = "\n".join(kept[:first] + kept[last + 1:])[:MAX_CHUNK_CHARS]
    return chunk


def _span(node: ast.stmt) -> tuple[int, int]:
    """First and last line of a definition, decorators included."""
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno, *(d.lineno for d in decorators)])
    return start, node.end_lineno or node.lineno


def _chunk(file: str, lines: list[str], start: int, end: int, name: str, kind: str,
           language: str = "python") -> Chunk:
    return Chunk(file, start, end, name, kind, language,
                 "\n".join(lines[start - 1:end])[:MAX_CHUNK_CHARS])


def window_chunks(file: str, lines: list[str], language: str, first: int, last: int, *,
                  name: str = "", kind: str = "window") -> list[Chunk]:
    """Chunks of about WINDOW lines covering lines ``first``..``last`` (1-based, inclusive).

    A window ends before the blank line nearest to WINDOW lines in (between half and one and a
    half WINDOW lines), else at WINDOW lines; a rest of up to one and a half WINDOW is one window. Blank-only windows are dropped. A window without ``name`` is named after
    the first definition it holds, else ``<file stem>:<line>``.
    """
    chunks: list[Chunk] = []
    start = first
    while start <= last:
        while start <= last and not lines[start - 1].strip():
            start += 1
        if start > last:
            break
        end = min(last, start + WINDOW - 1)
        if last - start + 1 > WINDOW * 3 // 2:
            blanks = [i for i in range(start + WINDOW // 2, min(last, start + WINDOW * 3 // 2) + 1)
                      if not lines[i - 1].strip()]
            if blanks:
                end = min(blanks, key=lambda b: abs(b - start - WINDOW)) - 1
        else:
            end = last
        while end > start and not lines[end - 1].strip():
            end -= 1
        chunks.append(_chunk(file, lines, start, end, name or _window_name(file, lines, start, end),
                             kind, language))
        start = end + 1
    return chunks


def _window_name(file: str, lines: list[str], start: int, end: int) -> str:
    for line in lines[start - 1:end]:
        match = _DEFINITION.match(line)
        if match:
            return match.group(1)
    stem = file.rsplit("/", 1)[-1]
    return f"{stem}:{start}"

"""Python source as the Python analyzers see it: lines, windows cut to whole statements, positions,
and a parse cache shared by every analyzer in the process.

An event's ``text`` is either the whole buffer or a window of it. A window may start and end in the
middle of a statement, so it is cut down to complete top-level statements (``Source.offset`` says
how many lines were dropped from its top) before anything judges it.

Parsing is the largest fixed cost of every Python analyzer, and consecutive events of one buffer
differ in a line or two, so the text is parsed in top-level chunks that are cached by their text
and position: a keystroke re-parses one chunk, not the file.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

FILENAME = "<redis-ai>"

_CONTINUATION = re.compile(r"(else|elif|except|finally)\b|[)\]}]")
"""Column-0 lines that continue the statement above them rather than start one."""

_CACHE_LINES = 12_000
"""Source lines whose chunk trees are kept: a few files, with the recent versions of the chunks
being edited. Bounded by lines, not entries, since one chunk can be a 600-line class, and every
tree kept is work for each full garbage collection."""
_cache: OrderedDict[tuple[int, str], ast.Module | None] = OrderedDict()
_cached_lines = 0
_SOURCES = 8
_sources: OrderedDict[tuple[str, bool, int], Source] = OrderedDict()
_lock = threading.Lock()


@dataclass
class Source:
    """Python text ready for analysis: its lines, its tree (or why it has none), its place."""

    lines: list[str]
    tree: ast.Module | None
    error: SyntaxError | None
    offset: int
    """Lines of the event's text dropped above ``lines`` (0 for whole buffers)."""
    first_line: int
    """Buffer line of the event's first text line."""
    _line_starts: list[int] | None = field(default=None, repr=False)
    _text: str | None = field(default=None, repr=False)

    def buffer_line(self, lineno: int) -> int:
        """Buffer line (1-based) of line ``lineno`` (1-based) of ``lines``."""
        return lineno + self.offset + self.first_line - 1

    def char_col(self, lineno: int, byte_col: int) -> int:
        """Character column of ``byte_col`` (a UTF-8 offset, as ast reports) on line ``lineno``."""
        if not 1 <= lineno <= len(self.lines):
            return max(byte_col, 0)
        line = self.lines[lineno - 1]
        if line.isascii():
            return byte_col
        return len(line.encode("utf-8", "surrogatepass")[:byte_col].decode("utf-8", "ignore"))

    def line_text(self, lineno: int) -> str:
        """Text of line ``lineno`` (1-based) of ``lines``; "" past either end."""
        return self.lines[lineno - 1] if 1 <= lineno <= len(self.lines) else ""

    def index(self, lineno: int, byte_col: int) -> int:
        """Index into ``text`` of a position as ast reports it (line, UTF-8 column)."""
        if self._line_starts is None:
            starts, at = [], 0
            for line in self.lines:
                starts.append(at)
                at += len(line) + 1
            self._line_starts = starts
        lineno = min(max(lineno, 1), len(self.lines))
        return self._line_starts[lineno - 1] + self.char_col(lineno, byte_col)

    @property
    def text(self) -> str:
        """The analysed lines as one string."""
        if self._text is None:
            self._text = "\n".join(self.lines)
        return self._text

    def segment(self, node: ast.AST, replacements: Sequence[tuple[ast.AST, str]] = ()) -> str:
        """The exact source of ``node``, with the given sub-nodes' source replaced."""
        start = self.index(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.index(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        parts, at = [], start
        ordered = sorted(replacements, key=lambda r: self.index(r[0].lineno, r[0].col_offset))  # type: ignore[attr-defined]
        for sub, new in ordered:
            sub_start = self.index(sub.lineno, sub.col_offset)  # type: ignore[attr-defined]
            parts.append(self.text[at:sub_start])
            parts.append(new)
            at = self.index(sub.end_lineno, sub.end_col_offset)  # type: ignore[attr-defined]
        parts.append(self.text[at:end])
        return "".join(parts)


def split_lines(text: str) -> list[str]:
    """Lines as Python's tokenizer counts them (\\r\\n, \\r and \\n end a line; nothing else)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def chunk_starts(lines: list[str]) -> list[int]:
    """Indexes of the lines that start a top-level statement: column 0, outside any string or
    bracket, not a continuation (else, except, a closing bracket, a comment), not right after a
    decorator or a backslash continuation.

    The scan knows strings, comments and brackets well enough for chunking; where it is wrong,
    a chunk fails to parse and the caller parses the whole text instead.
    """
    starts = []
    after_decorator = False
    continued = False  # the line above ends with a backslash
    depth = 0
    quote = ""  # the triple quote of the string the line above ends inside, if any
    for i, line in enumerate(lines):
        if quote:
            end = _string_end(line, 0, quote)
            if end >= 0:
                quote, depth = _scan(line, end, depth)
            continue
        if depth <= 0 and not continued and line and line[0] not in " \t\f#":
            depth = 0
            if after_decorator:  # the decorated statement belongs to its decorators' chunk
                after_decorator = line[0] == "@"
            else:
                after_decorator = line[0] == "@"
                if after_decorator or not _CONTINUATION.match(line):
                    starts.append(i)
        quote, depth = _scan(line, 0, depth)
        continued = line.endswith("\\")
    return starts


_TOKEN = re.compile(r'''#|'{3}|"{3}|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"''')


def _scan(line: str, pos: int, depth: int) -> tuple[str, int]:
    """Follow ``line`` from ``pos``: the triple quote it ends inside ("" if none) and the bracket
    depth after it."""
    if "'" not in line and '"' not in line and "#" not in line:
        return "", depth + _brackets(line, pos, len(line))
    while True:
        found = _TOKEN.search(line, pos)
        if found is None:
            return "", depth + _brackets(line, pos, len(line))
        depth += _brackets(line, pos, found.start())
        token = found.group()
        if token == "#":
            return "", depth
        if len(token) == 3 and token[0] == token[1] == token[2]:
            end = _string_end(line, found.end(), token)
            if end < 0:
                return token, depth
            pos = end
        else:
            pos = found.end()


def _brackets(line: str, start: int, end: int) -> int:
    part = line[start:end]
    return (part.count("(") + part.count("[") + part.count("{")
            - part.count(")") - part.count("]") - part.count("}"))


def _string_end(line: str, pos: int, quote: str) -> int:
    """Index just past the unescaped ``quote`` that closes a string on ``line``, or -1."""
    while True:
        at = line.find(quote, pos)
        if at < 0:
            return -1
        backslashes = 0
        while at - backslashes - 1 >= pos and line[at - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return at + 3
        pos = at + 1


def source_of(event: dict[str, Any]) -> Source:
    """The Python source of ``event``: the whole text, or a window cut to whole statements.

    A window keeps the top-level statements that begin after its first line and end before the
    start of its last statement, which may be cut; what is left can be judged on its own.
    Every Python analyzer asks for the source of the same event: it is made once.
    """
    key = (event["text"], bool(event.get("whole")), event.get("first_line", 1))
    with _lock:
        known = _sources.get(key)
    if known is not None:
        return known
    source = _source_of(event)
    with _lock:
        _sources[key] = source
        if len(_sources) > _SOURCES:
            _sources.popitem(last=False)
    return source


def _source_of(event: dict[str, Any]) -> Source:
    lines = split_lines(event["text"])
    first_line = event.get("first_line", 1)
    if event.get("whole"):
        tree, error = parse_lines(lines, 0)
        return Source(lines, tree, error, 0, first_line)
    starts = chunk_starts(lines)
    if first_line > 1 or not starts or starts[0] != 0:
        starts = [s for s in starts if s > 0]
    if len(starts) < 2:
        return Source([], ast.Module(body=[], type_ignores=[]), None, 0, first_line)
    kept = lines[starts[0]:starts[-1]]
    tree, error = parse_lines(kept, 0)
    return Source(kept, tree, error, starts[0], first_line)


def parse_lines(lines: list[str], base: int) -> tuple[ast.Module | None, SyntaxError | None]:
    """Parse ``lines`` (line numbers start at ``base + 1``), reusing cached top-level chunks."""
    starts = chunk_starts(lines)
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    body: list[ast.stmt] = []
    bounds = starts[1:] + [len(lines)]
    for start, end in zip(starts, bounds, strict=True):
        chunk = _parse_chunk(base + start, "\n".join(lines[start:end]))
        if chunk is None:
            # A chunk that does not parse alone may still parse in context (a string or bracket
            # spanning a column-0 line), and a real error needs its exact position: parse it all.
            return _parse_whole(lines, base)
        body.extend(chunk.body)
    return ast.Module(body=body, type_ignores=[]), None


def clear_cache() -> None:
    """Forget every cached chunk (benchmarks measure the cold case with it)."""
    global _cached_lines
    with _lock:
        _cache.clear()
        _cached_lines = 0
        _sources.clear()


def _parse_chunk(start: int, text: str) -> ast.Module | None:
    key = (start, text)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    tree, _ = _parse("\n" * start + text)
    global _cached_lines
    with _lock:
        if key not in _cache:
            _cache[key] = tree
            _cached_lines += text.count("\n") + 1
        while _cached_lines > _CACHE_LINES and len(_cache) > 1:
            (_, old), _ = _cache.popitem(last=False)
            _cached_lines -= old.count("\n") + 1
    return tree


def _parse_whole(lines: list[str], base: int) -> tuple[ast.Module | None, SyntaxError | None]:
    return _parse("\n" * base + "\n".join(lines))


def _parse(text: str) -> tuple[ast.Module | None, SyntaxError | None]:
    # The parser warns about invalid escape sequences; the warning is code_analysis' business
    # to report, not the daemon's stderr's, and tests turn warnings into errors.
    with _lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(text, FILENAME), None
        except SyntaxError as exc:
            return None, exc
        except (ValueError, MemoryError, RecursionError) as exc:
            return None, SyntaxError(str(exc))


def enclosing_function(
    tree: ast.Module, lineno: int
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The innermost function whose definition (decorators included) spans line ``lineno``."""
    found = None
    nodes: list[ast.AST] = list(tree.body)
    while nodes:
        node = nodes.pop()
        start = getattr(node, "lineno", None)
        if start is None:  # match_case, arguments: no position of their own
            nodes.extend(ast.iter_child_nodes(node))
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([start] + [d.lineno for d in node.decorator_list])
        end = getattr(node, "end_lineno", None) or start
        if not start <= lineno <= end:
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found = node
        nodes.extend(ast.iter_child_nodes(node))
    return found


def span(source: Source, node: ast.AST) -> dict[str, int]:
    """The buffer span of ``node``: {line, col, end_line, end_col} in buffer lines and characters."""
    lineno = node.lineno  # type: ignore[attr-defined]
    end_lineno = getattr(node, "end_lineno", None) or lineno
    col = node.col_offset  # type: ignore[attr-defined]
    end_col = getattr(node, "end_col_offset", None)
    if end_col is None:
        end_col = col
    return {
        "line": source.buffer_line(lineno),
        "col": source.char_col(lineno, col),
        "end_line": source.buffer_line(end_lineno),
        "end_col": source.char_col(end_lineno, end_col),
    }


def attribute_chain(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything that is not a plain attribute chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]

"""Diagnostics while a Python buffer does not parse: the last good ones outside the statement being
typed, and one syntax error at that statement.

ruff reports only syntax errors for a text that does not parse, and a half-typed statement is
the normal state of a buffer while someone types. Without this every diagnostic would vanish at
the first ``(`` and come back at the ``)`` (flicker), and the error itself is often reported far
below the edit (an unclosed ``(`` at a ``]`` 200 lines on). So the last text of each buffer that
parsed is remembered with its diagnostics; a broken text is compared with it line by line, the
edited statement is the innermost statement of the good text that holds the changed lines, and:

- the good diagnostics outside that statement are kept, moved by the lines added or removed;
- the syntax error is put at the innermost bracket left open in the edited lines, else at ruff's
  first syntax error inside the edited statement, else at the first edited line.
"""

from __future__ import annotations

import ast
import io
import threading
import tokenize
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from . import _pysource

_BUFFERS = 64
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}


@dataclass
class Good:
    """The last text of a buffer that parsed, and its diagnostics (fixes included)."""

    tick: int
    lines: list[str]
    items: list[dict[str, Any]]


@dataclass
class Edit:
    """Where a broken text differs from the last good one (1-based lines, ends inclusive)."""

    first: int
    """First changed line, the same in both texts."""
    old_last: int
    """Last changed line of the good text (first - 1 when lines were only inserted)."""
    new_last: int
    """Last changed line of the broken text (first - 1 when lines were only deleted)."""
    stmt_first: int
    """First line of the edited statement (the same in both texts: it is above the change)."""
    stmt_old_last: int
    """Last line of the edited statement in the good text."""

    @property
    def delta(self) -> int:
        """Lines added (negative: removed) by the edit."""
        return self.new_last - self.old_last

    def stmt_new_last(self) -> int:
        """Last line of the edited statement in the broken text."""
        return max(self.stmt_old_last + self.delta, self.new_last)


class LastGood:
    """The last good state of each buffer, bounded (least recently used buffers go first)."""

    def __init__(self) -> None:
        self._buffers: OrderedDict[tuple[Any, ...], Good] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Good | None:
        """The last good state of buffer ``key``, if one is known."""
        with self._lock:
            return self._buffers.get(key)

    def remember(self, key: tuple[Any, ...], tick: int, lines: list[str],
                 items: list[dict[str, Any]]) -> None:
        """Record a text that parsed, unless a newer one is already known (events may be
        delivered again, out of order)."""
        with self._lock:
            known = self._buffers.get(key)
            if known is not None and known.tick > tick:
                return
            self._buffers[key] = Good(tick, lines, items)
            self._buffers.move_to_end(key)
            while len(self._buffers) > _BUFFERS:
                self._buffers.popitem(last=False)

    def clear(self) -> None:
        """Forget every buffer."""
        with self._lock:
            self._buffers.clear()


def find_edit(old: list[str], new: list[str], cursor: int) -> Edit:
    """The changed lines between ``old`` and ``new`` and the statement of ``old`` that holds
    them. ``cursor`` (a line of ``new``) is taken as the edit when the texts are the same."""
    edit = changed_lines(old, new, cursor)
    if edit.old_last < edit.first:  # only insertions: the new lines are the statement typed
        return edit
    start, end = _statement_around(old, edit.first, edit.old_last)
    return Edit(edit.first, edit.old_last, edit.new_last, min(start, edit.first),
                max(end, edit.old_last))


def changed_lines(old: list[str], new: list[str], cursor: int) -> Edit:
    """The changed lines between ``old`` and ``new``, taken as the edited statement (for a
    language without a parser here: shell); ``cursor`` as in ``find_edit``."""
    prefix = 0
    limit = min(len(old), len(new))
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]):
        suffix += 1
    first, old_last, new_last = prefix + 1, len(old) - suffix, len(new) - suffix
    if prefix == len(old) == len(new):
        first = old_last = new_last = min(max(cursor, 1), len(new))
    return Edit(first, old_last, new_last, first, old_last)


def _statement_around(lines: list[str], first: int, last: int) -> tuple[int, int]:
    """Lines of the innermost statement that holds lines ``first``..``last`` (decorators
    included); the top-level statements they touch when the parser of this Python cannot read
    the text (newer grammar)."""
    tree, _ = _pysource.parse_lines(lines, 0)
    if tree is None:
        return _top_level_around(lines, first, last)
    found = (first, last)
    body: list[ast.stmt] = tree.body
    while True:
        inner = None
        for node in body:
            start, end = _stmt_lines(node)
            if start <= first and last <= end:
                inner = node
                found = (start, end)
                break
        if inner is None:
            return found
        body = [child for field in ("body", "orelse", "finalbody", "handlers", "cases")
                for child in getattr(inner, field, []) or []]
        body = [s for child in body for s in ([child] if isinstance(child, ast.stmt)
                                              else [child, *getattr(child, "body", [])])]


def _stmt_lines(node: Any) -> tuple[int, int]:
    start = node.lineno if hasattr(node, "lineno") else node.pattern.lineno
    for decorator in getattr(node, "decorator_list", []):
        start = min(start, decorator.lineno)
    end = getattr(node, "end_lineno", None)
    if end is None:  # a match case: up to its last statement
        end = _stmt_lines(node.body[-1])[1]
    return start, end


def _top_level_around(lines: list[str], first: int, last: int) -> tuple[int, int]:
    starts = [s + 1 for s in _pysource.chunk_starts(lines)] + [len(lines) + 1]
    begin = max([s for s in starts if s <= first], default=1)
    end = min([s for s in starts if s > last], default=len(lines) + 1) - 1
    return begin, end


def kept_items(good: Good, edit: Edit) -> list[dict[str, Any]]:
    """The good diagnostics outside the edited statement, at their lines in the broken text.

    Their fixes are left out: they were checked against the good text, not this one.
    """
    kept = []
    for item in good.items:
        if item["end_line"] < edit.stmt_first:
            moved = dict(item)
        elif item["line"] > edit.stmt_old_last:
            moved = dict(item, line=item["line"] + edit.delta,
                         end_line=item["end_line"] + edit.delta)
        else:
            continue
        moved.pop("fix", None)
        kept.append(moved)
    return kept


def open_bracket(lines: list[str], first: int, last: int) -> tuple[int, int, str] | None:
    """The innermost bracket left open at the end of lines ``first``..``last`` (1-based), as
    (line, character column, bracket); strings and comments are read by Python's tokenizer."""
    segment = "\n".join(lines[first - 1:last]) + "\n"
    stack: list[tuple[int, int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(segment).readline):
            if token.type != tokenize.OP:
                continue
            if token.string in _OPENERS:
                stack.append((token.start[0] + first - 1, token.start[1], token.string))
            elif token.string in _CLOSERS:
                if stack and _OPENERS[stack[-1][2]] == token.string:
                    stack.pop()
                else:
                    return None  # a stray closer: the bracket is not what is wrong
    except (tokenize.TokenError, SyntaxError):
        pass  # the end of the segment inside a bracket or a string: what is open so far counts
    return stack[-1] if stack else None

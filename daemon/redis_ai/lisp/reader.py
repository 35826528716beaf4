"""Reading s-expressions from text and printing values back as text that reads the same.

The syntax: integers (``42``, ``-7``), floats (``1.5``, ``-2e3``, ``1.0e+INF``), strings with
the escapes ``\\n \\t \\r \\\\ \\"``, symbols, ``'x`` for ``(quote x)``, lists ``(a b c)`` and
pairs ``(a . b)``, ``nil`` or ``()`` for the empty list, and ``;`` comments to the end of the
line. Errors name the line and column (1-based line, 0-based column, as in the protocol).

Both the reader and the printer keep their own stack instead of recursing, so a deeply nested
form is an error (or printed) rather than a Python RecursionError.
"""

from __future__ import annotations

import math
from typing import Any

from .data import NIL, Cons, LispError, Nil, Symbol, from_list

QUOTE = Symbol.of("quote")
MAX_NESTING = 1000
"""Deepest list nesting the reader accepts."""
INT_LIMIT = (1 << 63) - 1
"""Integers are 64-bit: beyond this, reading or arithmetic is an error (no bignum bombs)."""

_DELIMITERS = frozenset(" \t\r\n\f\v()';\"")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_SPECIAL_FLOATS = {"1.0e+INF": math.inf, "-1.0e+INF": -math.inf, "0.0e+NaN": math.nan}


def position(text: str, index: int) -> tuple[int, int]:
    """The (line, column) of ``index`` in ``text``: line 1-based, column 0-based."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1)


def _error(text: str, index: int, message: str) -> LispError:
    line, col = position(text, index)
    return LispError(f"line {line}, col {col}: {message}", kind="read")


class _Frame:
    __slots__ = ("items", "start", "quotes", "tail", "dot")

    def __init__(self, start: int, quotes: int) -> None:
        self.items: list[Any] = []
        self.start = start
        self.quotes = quotes
        self.tail: Any = None
        self.dot = False  # a "." was read; the next datum is the tail


def parse_number(token: str) -> int | float | None:
    """The number ``token`` spells, or None (never makes a symbol)."""
    if token in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[token]
    body = token[1:] if token[:1] in ("+", "-") else token
    if body.isascii() and body.isdigit():
        if len(body.lstrip("0")) > 19:
            # Past 64 bits whatever it is: int() of thousands of digits is slow and then
            # refused by Python; every caller refuses a value past INT_LIMIT anyway.
            return -(INT_LIMIT + 1) if token[0] == "-" else INT_LIMIT + 1
        return int(token)
    if any(c.isdigit() for c in token) and all(c in _NUMBER_CHARS for c in token):
        try:
            return float(token)
        except ValueError:
            return None
    return None


def _atom(token: str) -> Any:
    number = parse_number(token)
    if number is not None:
        return number
    if token == "nil":
        return NIL
    return Symbol.of(token)


def _string(text: str, i: int) -> tuple[str, int]:
    """The string literal starting at the quote at ``i``, and the index after it."""
    out: list[str] = []
    j = i + 1
    n = len(text)
    while True:
        k = j
        while k < n and text[k] != '"' and text[k] != "\\":
            k += 1
        out.append(text[j:k])
        if k >= n:
            raise _error(text, i, "unterminated string")
        if text[k] == '"':
            return "".join(out), k + 1
        if k + 1 >= n:
            raise _error(text, i, "unterminated string")
        esc = _ESCAPES.get(text[k + 1])
        if esc is None:
            raise _error(text, k, f"unknown escape \\{text[k + 1]}")
        out.append(esc)
        j = k + 2


def read_spans(text: str) -> list[tuple[Any, int, int]]:
    """Every top-level form of ``text`` with its start and end index.

    >>> read_spans("(a 'b) 7 ; done")
    [((a 'b), 0, 6), (7, 7, 8)]
    """
    return _Reader(text).run()


class _Reader:
    """One pass over the text with an explicit stack of the lists being read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.forms: list[tuple[Any, int, int]] = []
        self.stack: list[_Frame] = []
        self.quotes = 0  # quotes read that wait for their datum
        self.quote_at = 0
        self.start = 0  # where the current top-level form began

    def run(self) -> list[tuple[Any, int, int]]:
        text, i, n = self.text, 0, len(self.text)
        while i < n:
            c = text[i]
            if c in " \t\r\n\f\v":
                i += 1
            elif c == ";":
                nl = text.find("\n", i)
                i = n if nl < 0 else nl + 1
            else:
                if not self.stack and self.quotes == 0:
                    self.start = i
                i = self.datum(c, i)
        if self.quotes:
            raise _error(text, self.quote_at, "quote with nothing after it")
        if self.stack:
            raise _error(text, self.stack[-1].start, "unclosed '('")
        return self.forms

    def datum(self, c: str, i: int) -> int:
        """Read what starts with ``c`` at ``i``; return the index after it."""
        text = self.text
        if c == "'":
            if self.quotes == 0:
                self.quote_at = i
            self.quotes += 1
            return i + 1
        if c == "(":
            if len(self.stack) >= MAX_NESTING:
                raise _error(text, i, f"lists nested deeper than {MAX_NESTING}")
            self.stack.append(_Frame(i, self.quotes))
            self.quotes = 0
            return i + 1
        if c == ")":
            return self.close(i)
        if c == '"':
            value, end = _string(text, i)
            self.finish(value, i, end)
            return end
        j = i
        while j < len(text) and text[j] not in _DELIMITERS:
            j += 1
        self.token(text[i:j], i, j)
        return j

    def close(self, i: int) -> int:
        text = self.text
        if self.quotes:
            raise _error(text, self.quote_at, "quote with nothing after it")
        if not self.stack:
            raise _error(text, i, "unexpected ')'")
        frame = self.stack.pop()
        if frame.dot and frame.tail is None:
            raise _error(text, i, "nothing after '.'")
        value = from_list(frame.items, NIL if frame.tail is None else frame.tail)
        self.quotes = frame.quotes
        self.finish(value, frame.start, i + 1)
        return i + 1

    def token(self, token: str, i: int, j: int) -> None:
        if token == ".":
            top = self.stack[-1] if self.stack else None
            if top is None or self.quotes or not top.items or top.dot:
                raise _error(self.text, i, "misplaced '.'")
            top.dot = True
            return
        if token.startswith(("`", ",", "#")):
            raise _error(self.text, i, f"unsupported syntax {token[0]!r}")
        value = _atom(token)
        if type(value) is int and not -INT_LIMIT <= value <= INT_LIMIT:
            raise _error(self.text, i, "integer out of the 64-bit range")
        self.finish(value, i, j)

    def finish(self, value: Any, begin: int, end: int) -> None:
        """A datum is complete: wrap it in the quotes before it and put it in its place."""
        for _ in range(self.quotes):
            value = Cons(QUOTE, Cons(value, NIL))
        self.quotes = 0
        if not self.stack:
            self.forms.append((value, self.start, end))
            return
        frame = self.stack[-1]
        if not frame.dot:
            frame.items.append(value)
        elif frame.tail is None:
            frame.tail = value
        else:
            raise _error(self.text, begin, "more than one datum after '.'")


def read_all(text: str) -> list[Any]:
    """Every top-level form of ``text``."""
    return [form for form, _, _ in read_spans(text)]


def read(text: str) -> Any:
    """The one form in ``text`` (an error if there are none or several)."""
    forms = read_all(text)
    if len(forms) != 1:
        raise LispError(f"expected one form, found {len(forms)}", kind="read")
    return forms[0]


def split_forms(text: str) -> list[str]:
    """The source text of each top-level form, with the comments before it (and the comments
    after the last form kept with that form), so that storing them loses nothing.

    >>> split_forms(";; one\\n(define x 1)\\n\\n(define y 2) ; two\\n")
    [';; one\\n(define x 1)', '(define y 2) ; two']
    """
    spans = read_spans(text)
    out = []
    prev = 0
    for k, (_, _, end) in enumerate(spans):
        stop = len(text) if k == len(spans) - 1 else end
        out.append(text[prev:stop].strip())
        prev = end
    return out


def _float(x: float) -> str:
    if math.isnan(x):
        return "0.0e+NaN"
    if math.isinf(x):
        return "1.0e+INF" if x > 0 else "-1.0e+INF"
    return repr(x)


def _escape(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace(
        "\t", "\\t").replace("\r", "\\r") + '"'


def _atom_text(value: Any, readable: bool) -> str:
    kind = type(value)
    if kind is str:
        return _escape(value) if readable else value
    if kind is int or kind is Symbol:
        return str(value)
    if kind is float:
        return _float(value)
    if kind is Nil:
        return "nil"
    return str(value)  # closures and builtins print as #<...>


def to_string(value: Any, readable: bool = True, limit: int = 0) -> str:
    """``value`` as text; with ``readable`` strings are quoted so the text reads back the same.
    ``limit`` > 0 cuts the text after that many characters (with ``...``).

    >>> to_string(read('(a "b\\\\n" 1.5 (c . d) \\'e)'))
    '(a "b\\\\n" 1.5 (c . d) \\'e)'
    """
    out: list[str] = []
    size = 0
    todo: list[Any] = [value]
    while todo:
        if limit and size > limit:
            return "".join(out)[:limit] + "..."
        item = todo.pop()
        if type(item) is _Text:
            out.append(item.text)
            size += len(item.text)
            continue
        if type(item) is not Cons:
            text = _atom_text(item, readable)
            out.append(text)
            size += len(text)
            continue
        if item.car is QUOTE and type(item.cdr) is Cons and item.cdr.cdr is NIL:
            out.append("'")
            todo.append(item.cdr.car)
            continue
        parts: list[Any] = [_OPEN]
        cell: Any = item
        while type(cell) is Cons:
            if len(parts) > 1:
                parts.append(_SPACE)
            parts.append(cell.car)
            cell = cell.cdr
        if cell is not NIL:
            parts += [_DOT, cell]
        parts.append(_CLOSE)
        todo.extend(reversed(parts))
    return "".join(out)


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_OPEN, _CLOSE, _SPACE, _DOT = _Text("("), _Text(")"), _Text(" "), _Text(" . ")

"""The edits that follow an edit: pure functions from (the line before, the text after) to edits.

``follow_ups(before_line, text, row)`` is given one changed line (``row``, 0-based, the same line
count before and after) and recognises, in this order:

- a **rename at a binding site** (a ``def``/``class`` name, a parameter, an assignment or loop
  target, an import): one identifier token replaced by another; the other occurrences of the old
  name in its scope get the same replacement;
- a **parameter added to a def** (one plain name, no default): the calls in the text with one
  positional argument too few get the parameter's name inserted as a placeholder;
- a **change on one of several similar lines** (the same token shape: same operators and
  keywords, names/numbers/strings where the line has them): the same token change on the
  siblings in its block whose tokens at that place are exactly the old ones;
- a **rename at one use**, when no sibling takes the change: the other occurrences.

Lines are cut into tokens by a small regex tokenizer (names, numbers, strings, comments,
one-character operators); the whole text never is, because that is what an event cannot afford
on a 3,000-line module. The other places of a name are found by a word scan of its scope, minus
what a :class:`Mask` (the strings and comments of the text, one regex scan, reusable for a text
that differs on one line) covers, so strings and comments are never touched and identifiers are
never split. Python keywords are never renamed. Everything is deterministic: the same input
gives the same edits.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import keyword
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

MAX_ITEMS = 100
"""More follow-ups than this are not offered (a rename of a very common name)."""

SIBLING_REACH = 30
"""How many lines each way the block of similar lines is searched."""

_TOKEN = re.compile(
    r"""(?P<comment>\#[^\n]*)
      | (?P<string>[rRbBuUfF]{0,2}(?:'''(?:\\[\s\S]|[^\\])*?(?:'''|\Z)|\"\"\"(?:\\[\s\S]|[^\\])*?(?:\"\"\"|\Z)
                                 |'(?:\\.|[^\\'\n])*(?:'|$)|"(?:\\.|[^\\"\n])*(?:"|$)))
      | (?P<name>[^\W\d]\w*)
      | (?P<number>\d[\w.]*)
      | (?P<op>[^\s\w])""",
    re.VERBOSE | re.MULTILINE,
)
# The strings and comments of _TOKEN without the string prefixes: a pattern that starts with
# one of three characters lets the regex engine skip to them, which makes the scan ~10x faster
# than tokenizing. A prefix is a name just before a quote (see _names).
_STRINGS = re.compile(
    r"""\#[^\n]*
      | '''(?:\\[\s\S]|[^\\])*?(?:'''|\Z) | \"\"\"(?:\\[\s\S]|[^\\])*?(?:\"\"\"|\Z)
      | '(?:\\.|[^\\'\n])*(?:'|$) | "(?:\\.|[^\\"\n])*(?:"|$)""",
    re.VERBOSE | re.MULTILINE,
)
_PREFIX = re.compile(r"[rRbBuUfF]{1,2}")
_WORD_CHAR = re.compile(r"\w")
_DEF = re.compile(r"(?:async\s+)?def\b")
_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
_BINDERS = frozenset({"def", "class", "for", "import", "as", "global", "nonlocal", "lambda"})


@dataclass(frozen=True, slots=True)
class Token:
    """One token: kind (comment, string, name, keyword, number, op), text, character offsets."""

    kind: str
    text: str
    start: int
    end: int

    @property
    def shape(self) -> str:
        """What similar lines share: an operator or keyword itself, else only the kind."""
        return self.kind if self.kind in ("name", "number", "string") else self.text


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace [start, end) of the text (character offsets) by ``text``; ``title`` says why."""

    start: int
    end: int
    text: str
    title: str


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` (comments and strings included, as single tokens)."""
    return list(_tokens(text, 0))


def _tokens(text: str, pos: int) -> Iterator[Token]:
    """The tokens of ``text`` from offset ``pos`` (a token boundary), as they are needed."""
    for m in _TOKEN.finditer(text, pos):
        kind = m.lastgroup or "op"
        word = m.group()
        if kind == "name" and word in _KEYWORDS:
            kind = "keyword"
        yield Token(kind, word, m.start(), m.end())


def _code(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.kind != "comment"]


def _single_change(a: list[Token], b: list[Token]) -> tuple[int, int, int, int] | None:
    """The one differing run of tokens between ``a`` and ``b`` (i1, i2, j1, j2), or None."""
    changes = [op for op in difflib.SequenceMatcher(
        None, [t.text for t in a], [t.text for t in b], autojunk=False).get_opcodes()
        if op[0] != "equal"]
    if len(changes) != 1:
        return None
    _, i1, i2, j1, j2 = changes[0]
    return i1, i2, j1, j2


class Mask:
    """Where the strings and comments of a text are (sorted, disjoint character spans)."""

    def __init__(self, starts: list[int], ends: list[int]) -> None:
        self.starts = starts
        self.ends = ends

    @classmethod
    def of(cls, text: str) -> Mask:
        """The mask of ``text``, from one regex scan."""
        spans = [m.span() for m in _STRINGS.finditer(text)]
        return cls([a for a, _ in spans], [b for _, b in spans])

    def covers(self, offset: int) -> int | None:
        """The start of the string or comment holding ``offset``, or None when it is code."""
        k = bisect.bisect_right(self.starts, offset) - 1
        return self.starts[k] if k >= 0 and offset < self.ends[k] else None

    def spliced(self, lo: int, hi: int, line: str) -> Mask | None:
        """The mask of this text once [lo, hi), one whole line, is replaced by ``line``; None
        when a string may cross that line's ends (then it must be scanned again)."""
        if "'''" in line or '"""' in line:
            return None
        k = bisect.bisect_right(self.starts, lo - 1)
        if k and self.ends[k - 1] > lo - 1:
            return None  # a string runs into the line (or over the newline before it)
        m = bisect.bisect_left(self.starts, hi)
        if m and self.ends[m - 1] > hi:
            return None  # ... or out of it
        inner = Mask.of(line)
        delta = len(line) - (hi - lo)
        return Mask(self.starts[:k] + [lo + a for a in inner.starts] + [a + delta for a in self.starts[m:]],
                    self.ends[:k] + [lo + b for b in inner.ends] + [b + delta for b in self.ends[m:]])


class Buffer:
    """The text after the edit, with line arithmetic and its :class:`Mask` made when needed."""

    def __init__(self, text: str, lines: list[str] | None = None,
                 mask: Callable[[], Mask | None] | None = None) -> None:
        self.text = text
        self.lines = text.split("\n") if lines is None else lines
        self.starts = list(itertools.accumulate((len(line) + 1 for line in self.lines[:-1]), initial=0))
        self._make_mask = mask

    @cached_property
    def mask(self) -> Mask:
        """The strings and comments of the text (from the caller's cache when it has one)."""
        made = self._make_mask() if self._make_mask is not None else None
        return made if made is not None else Mask.of(self.text)

    def row_of(self, offset: int) -> int:
        """0-based line of a character offset."""
        return bisect.bisect_right(self.starts, offset) - 1

    def offset(self, row: int, col: int) -> int:
        """Character offset of (0-based row, col)."""
        return self.starts[row] + col

    def line_tokens(self, row: int) -> list[Token]:
        """The tokens on line ``row``, with offsets relative to the line."""
        return _code(tokenize(self.lines[row]))

    def indent(self, row: int) -> int:
        line = self.lines[row]
        return len(line) - len(line.lstrip())

    def def_block(self, row: int) -> tuple[int, int] | None:
        """(first, last) rows of the innermost ``def`` holding ``row`` (or starting on it)."""
        bound = self.indent(row) + 1
        for r in range(row, -1, -1):
            stripped = self.lines[r].lstrip()
            if not stripped:
                continue
            ind = self.indent(r)
            if ind < bound and _DEF.match(stripped):
                return r, self.block_end(r)
            bound = min(bound, ind)
            if bound == 0:
                return None
        return None

    def block_end(self, row: int) -> int:
        """Last row of the block opened by line ``row`` (by indentation)."""
        ind = self.indent(row)
        last = row
        for r in range(row + 1, len(self.lines)):
            stripped = self.lines[r].strip()
            if not stripped:
                continue
            if self.indent(r) < ind or self.indent(r) == ind and stripped[0] not in ")]}":
                break  # (a bracket at the opening line's indent closes a multi-line header)
            last = r
        return last


def _binding(tokens: list[Token], j: int) -> str:
    """How token ``j`` of a line is bound there: def, class, param, assign, other, or ''."""
    prev = tokens[j - 1].text if j else ""
    nxt = tokens[j + 1].text if j + 1 < len(tokens) else ""
    if prev in ("def", "class"):
        return prev
    if tokens and tokens[0].text in ("def", "async") and _in_params(tokens, j):
        return "param"
    if prev in _BINDERS:
        return "other"
    if nxt == "=" and (j + 2 >= len(tokens) or tokens[j + 2].text != "=") and (
            j == 0 or prev == ","):
        return "assign"
    return ""


def _in_params(tokens: list[Token], j: int) -> bool:
    """Whether token ``j`` of a def line is a parameter name (depth 1, not a default)."""
    depth, expect_name = 0, False
    for k, t in enumerate(tokens):
        if t.text in "([{":
            depth += 1
            if depth == 1 and t.text == "(":
                expect_name = True
                continue
        elif t.text in ")]}":
            depth -= 1
            if depth == 0:
                return False  # the parameters end here: `-> tuple[a, b]` holds none
        elif depth == 1 and t.text == ",":
            expect_name = True
            continue
        if k == j:
            return depth == 1 and expect_name
        if depth == 1 and t.kind == "name" or t.text in ("*", "**"):
            expect_name = expect_name and t.text in ("*", "**")
    return False


def _names(buf: Buffer, name: str, lo: int, hi: int) -> Iterator[int]:
    """Where the name token ``name`` starts in code between offsets ``lo`` and ``hi``."""
    text = buf.text
    prefix = _PREFIX.fullmatch(name) is not None
    for m in re.finditer(re.escape(name) + r"(?!\w)", text[lo:hi]):
        at = lo + m.start()
        if at and _WORD_CHAR.match(text, at - 1) or buf.mask.covers(at) is not None:
            continue
        if prefix and text[at + len(name):at + len(name) + 1] in ("'", '"'):
            continue  # ``f"..."``: the name is a string's prefix
        yield at


def _before(buf: Buffer, at: int) -> int:
    """The offset of the last character of the code token before offset ``at``, or -1."""
    text = buf.text
    k = at - 1
    while k >= 0:
        if text[k].isspace():
            k -= 1
            continue
        comment = buf.mask.covers(k)
        if comment is None or text[comment] != "#":
            return k
        k = comment - 1
    return k


def _occurrences(buf: Buffer, name: str, rows: tuple[int, int], attribute: bool | None) -> list[Token]:
    """Tokens ``name`` in rows[0]..rows[1]; attribute: only ``.name`` (True), never (False), any (None)."""
    lo = buf.starts[rows[0]]
    hi = buf.starts[rows[1] + 1] if rows[1] + 1 < len(buf.starts) else len(buf.text)
    out = []
    for at in _names(buf, name, lo, hi):
        k = _before(buf, at)
        dotted = k >= 0 and buf.text[k] == "."
        if attribute is None or dotted == attribute:
            out.append(Token("name", name, at, at + len(name)))
    return out


def _bound_in(buf: Buffer, name: str, block: tuple[int, int]) -> bool:
    """Whether the def opening ``block`` makes ``name`` local: a parameter, or bound in its body
    (assigned, a loop target, a def or class, ``as``, imported) and not declared global."""
    first = buf.line_tokens(block[0])
    if any(t.text == name and _in_params(first, j) for j, t in enumerate(first)):
        return True
    if block[1] == block[0]:
        return False
    end = buf.starts[block[1] + 1] if block[1] + 1 < len(buf.starts) else len(buf.text)
    body = buf.text[buf.starts[block[0] + 1]:end]
    n = re.escape(name)
    binds = re.compile(rf"\s*(?:(?:for\s+)?{n}\s*(?:=[^=]|\bin\b)|(?:async\s+)?(?:def|class)\s+{n}\b"
                       rf"|(?:from\s.*)?import\s.*\b{n}\b|.*\bas\s+{n}\b)")
    declared = re.compile(rf"\s*(?:global|nonlocal)\s.*\b{n}\b")
    bound = False
    # Only the lines that hold the name can bind it: a word scan finds them, the patterns
    # (slow on a whole body) run on those alone.
    for m in re.finditer(rf"(?<!\w){n}(?!\w)", body):
        end = body.find("\n", m.end())
        line = body[body.rfind("\n", 0, m.start()) + 1:end if end >= 0 else len(body)]
        if declared.match(line):
            return False
        bound = bound or binds.match(line) is not None
    return bound


def _enclosing_defs(buf: Buffer, row: int) -> Iterator[int]:
    """The first rows of the defs that hold line ``row``, innermost first (not one starting
    on it)."""
    bound = buf.indent(row)
    for r in range(row - 1, -1, -1):
        if bound == 0:
            return
        stripped = buf.lines[r].lstrip()
        if not stripped or buf.indent(r) >= bound or stripped[0] in ")]}":
            continue  # (a bracket closing a multi-line def header is no block of its own)
        bound = buf.indent(r)
        if _DEF.match(stripped):
            yield r


def _refers_to_global(buf: Buffer, at: int, shadows: dict[int, bool], name: str) -> bool:
    """Whether the name token at offset ``at`` can be the module-level ``name``: not in an
    import (which names another module's), not a def or class nested in a class or a
    function, not inside a def where ``name`` is local (``shadows``: block start -> bound)."""
    row = buf.row_of(at)
    stripped = buf.lines[row].lstrip()
    if stripped.startswith(("import ", "from ")):
        return False
    if _DEF.match(stripped):
        tokens = buf.line_tokens(row)
        col = at - buf.starts[row]
        if any(t.start == col and _in_params(tokens, j) for j, t in enumerate(tokens)):
            return False  # a parameter of that def
    if buf.indent(row) == 0:
        return True
    k = _before(buf, at)
    if k >= 0 and _WORD_CHAR.match(buf.text, k) and re.search(r"(?<!\w)(?:def|class)$", buf.text[max(0, k - 5):k + 1]):
        return False
    for start in _enclosing_defs(buf, row):
        if start not in shadows:
            shadows[start] = _bound_in(buf, name, (start, buf.block_end(start)))
        if shadows[start]:
            return False
    return True


def rename_edits(buf: Buffer, row: int, tokens: list[Token], j: int, old: str) -> list[Edit]:
    """The same rename of ``old`` to token ``j`` of line ``row`` at the other places in scope."""
    new = tokens[j].text
    binding = _binding(tokens, j)
    everywhere = (0, len(buf.lines) - 1)
    method = binding == "def" and buf.indent(row) > 0
    scope: tuple[int, int] = everywhere
    attribute: bool | None = False
    if method or (j and tokens[j - 1].text == "."):
        attribute = True
    elif binding == "param":
        scope = (row, buf.block_end(row))
    elif binding not in ("def", "class") and buf.indent(row) > 0:
        block = buf.def_block(row)
        if block is not None and _bound_in(buf, old, block):
            scope = block
    title = f"rename {old} -> {new}"
    found = _occurrences(buf, old, scope, attribute)
    if scope == everywhere and attribute is False:
        shadows: dict[int, bool] = {}
        found = [t for t in found if _refers_to_global(buf, t.start, shadows, old)]
    return [Edit(t.start, t.end, new, title) for t in found]


def _split_params(tokens: list[Token]) -> list[list[Token]] | None:
    """The parameters of a one-line def header, as token lists; None if it is not one."""
    try:
        open_at = next(k for k, t in enumerate(tokens) if t.text == "(")
    except StopIteration:
        return None
    params: list[list[Token]] = [[]]
    depth = 0
    for t in tokens[open_at + 1:]:
        if t.text in "([{":
            depth += 1
        elif t.text in ")]}":
            if depth == 0:
                return [p for p in params if p] if params[-1] or len(params) == 1 else None
            depth -= 1
        elif t.text == "," and depth == 0:
            params.append([])
            continue
        params[-1].append(t)
    return None


def _call_args(buf: Buffer, at: int) -> tuple[list[list[Token]], Token, Token] | None:
    """The arguments of the call whose name ends at offset ``at``, its ``)`` and the token
    before that; None if ``(`` does not follow or the call is unclosed."""
    tokens = (t for t in _tokens(buf.text, at) if t.kind != "comment")
    last = next(tokens, None)
    if last is None or last.text != "(":
        return None
    args: list[list[Token]] = [[]]
    depth = 0
    for t in tokens:
        if t.text in "([{":
            depth += 1
        elif t.text in ")]}":
            if depth == 0:
                return [a for a in args if a], t, last
            depth -= 1
        elif t.text == "," and depth == 0:
            args.append([])
            last = t
            continue
        args[-1].append(t)
        last = t
    return None


def param_edits(buf: Buffer, before: list[Token], after: list[Token]) -> list[Edit]:
    """Placeholders at the calls of a def that just got one more plain parameter."""
    if not after or after[0].text not in ("def", "async"):
        return []
    old_params, new_params = _split_params(before), _split_params(after)
    if old_params is None or new_params is None or len(new_params) != len(old_params) + 1:
        return []
    old_texts = [[t.text for t in p] for p in old_params]
    new_texts = [[t.text for t in p] for p in new_params]
    added = next((i for i in range(len(new_texts))
                  if new_texts[:i] + new_texts[i + 1:] == old_texts), None)
    if added is None:
        return []
    param = new_texts[added]
    if param[0] in ("*", "**", "/") or "=" in param or any(
            p[0] in ("*", "**", "/") for p in new_texts[:added]):
        return []  # keyword-only, variadic or defaulted: the calls stay valid
    name = param[0]
    def_name = next((after[k + 1].text for k in range(len(after) - 1) if after[k].text == "def"), "")
    if not def_name:
        return []
    first = [p[0] for p in new_texts]
    method = bool(first) and first[0] in ("self", "cls")
    skip = 1 if method else 0
    position, positional = added - skip, len(old_params) - skip
    if position < 0:
        return []
    edits = []
    for start in _names(buf, def_name, 0, len(buf.text)):
        k = _before(buf, start)
        if k >= 2 and buf.text[k - 2:k + 1] == "def" and not (k > 2 and _WORD_CHAR.match(buf.text, k - 3)):
            continue
        if (k >= 0 and buf.text[k] == ".") != bool(method):
            continue
        parsed = _call_args(buf, start + len(def_name))
        if parsed is None:
            continue
        args, close, last = parsed
        if len(args) != positional or any(
                a[0].text in ("*", "**") or (len(a) > 1 and a[1].text == "=") for a in args):
            continue
        if position == len(args):
            at = close.start
            if last.text == ",":
                continue
            text = f", {name}" if args else name
        else:
            at = args[position][0].start
            text = f"{name}, "
        edits.append(Edit(at, at, text, f"add argument {name} to {def_name}()"))
    return edits


def sibling_edits(buf: Buffer, row: int, before: list[Token], after: list[Token],
                  change: tuple[int, int, int, int]) -> list[Edit]:
    """The same token change on the lines of ``row``'s block that have its token shape."""
    i1, i2, j1, j2 = change
    shape = [t.shape for t in before]
    old = [t.text for t in before[i1:i2]]
    line = buf.lines[row]
    new_start = after[j1 - 1].end if j1 else (after[0].start if after else 0)
    new_end = after[j2].start if j2 < len(after) else len(line)
    new_text = line[new_start:new_end]
    if i1 == i2 and (i1 == 0 or i1 == len(before)):
        return []  # an insertion at either end of the line has no anchor on both sides
    ind = buf.indent(row)
    # What is called or dereferenced is the structure the lines share: `x = f(1)` and
    # `y = f(2)` are siblings, `z = g(1)` is not.
    heads = [k for k, t in enumerate(before) if t.kind == "name" and not i1 <= k < i2 and (
        (k + 1 < len(before) and before[k + 1].text in "(.") or (k and before[k - 1].text == "."))]
    edits = []
    for step in (-1, 1):
        r = row + step
        while 0 <= r < len(buf.lines) and abs(r - row) <= SIBLING_REACH:
            text = buf.lines[r]
            if not text.strip() or buf.indent(r) != ind:
                break
            toks = buf.line_tokens(r)
            if ([t.shape for t in toks] == shape and [t.text for t in toks[i1:i2]] == old
                    and all(toks[k].text == before[k].text for k in heads)):
                start = toks[i1 - 1].end if i1 else toks[0].start
                end = toks[i2].start if i2 < len(toks) else len(text)
                edit = _trimmed(buf.starts[r] + start, text[start:end], new_text,
                                f"same change as line {row + 1}")
                if edit is not None:
                    edits.append(edit)
            r += step
    return edits


def _trimmed(start: int, old: str, new: str, title: str) -> Edit | None:
    """The edit replacing ``old`` (at ``start``) by ``new`` without their common ends; None if
    they are equal."""
    if old == new:
        return None
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return Edit(start + head, start + len(old) - tail, new[head:len(new) - tail], title)


def follow_ups(before_line: str, text: str | Buffer, row: int) -> tuple[list[Edit], str | None]:
    """The edits that follow changing line ``row`` from ``before_line`` to its line in ``text``.

    Returns the edits (in text order) and, for a rename, the old name (else None). ``text``
    may be a :class:`Buffer` whose lines and mask the caller already has.

    >>> edits, old = follow_ups("def foo(a):", "def bar(a):\\n    return 1\\nfoo(2)\\n", 0)
    >>> [(e.start, e.text) for e in edits], old
    ([(25, 'bar')], 'foo')
    """
    buf = text if isinstance(text, Buffer) else Buffer(text)
    if row >= len(buf.lines):
        return [], None
    before = _code(tokenize(before_line))
    after = buf.line_tokens(row)
    change = _single_change(before, after)
    if change is None:
        return [], None
    i1, i2, j1, j2 = change

    def absolute(edits: list[Edit]) -> list[Edit]:
        return sorted(edits, key=lambda e: e.start)[:MAX_ITEMS]

    renamed = (i2 - i1 == 1 and j2 - j1 == 1 and before[i1].kind == "name"
               and after[j1].kind == "name")
    if renamed and _binding(after, j1):
        old = before[i1].text
        return absolute(rename_edits(buf, row, after, j1, old)), old
    added = param_edits(buf, before, after)
    if added:
        return absolute(added), None
    siblings = sibling_edits(buf, row, before, after, change)
    if siblings:
        return absolute(siblings), None
    if renamed:
        old = before[i1].text
        return absolute(rename_edits(buf, row, after, j1, old)), old
    return [], None

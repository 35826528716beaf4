"""ruff's safe fixes as edits of the buffer, each checked by running ruff on the fixed text.

A fix is offered only when the text it gives parses and has no diagnostic that the text before
it did not have. All the safe fixes of a text are applied together and checked in one run; when
that run finds a problem (or two fixes overlap), each fix is checked alone when there are at
most ``_SINGLE``, and none is offered otherwise (a run per fix would cost too much per keystroke).

That run waits for the text's own diagnostics, which say what the fixes are. While typing, the
fixes are mostly those of the buffer's previous text at lines moved by the edit, so
``guess`` rebuilds the fixed text from them and ``code_analysis`` starts its run beside the
text's own; it is used only when the fixed text turns out to be that very string.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from . import _last_good

_SINGLE = 2
SYNTAX = "invalid-syntax"

Check = Callable[[str], list[dict[str, Any]]]
"""ruff on a text read as the buffer's file: its JSON diagnostics."""


def safe(diagnostic: dict[str, Any]) -> bool:
    """Whether ruff marks the diagnostic's fix safe (unsafe and display-only ones are not
    offered)."""
    fix = diagnostic.get("fix")
    return bool(fix and fix.get("applicability") == "safe" and fix.get("edits"))


def checked(text: str, found: list[dict[str, Any]], check: Check) -> set[int]:
    """Indexes into ``found`` (ruff's diagnostics of ``text``) of the safe fixes whose result
    ruff accepts."""
    fixable = [i for i, d in enumerate(found) if safe(d)]
    if not fixable:
        return set()
    starts = None if _overlap([found[i] for i in fixable]) else _line_starts(text)
    if starts is not None and _accepted(text, found, fixable, starts, check):
        return set(fixable)
    if len(fixable) > _SINGLE:
        return set()  # each alone would cost a ruff run apiece: none is offered this time
    starts = starts or _line_starts(text)
    return {i for i in fixable if _accepted(text, found, [i], starts, check)}


def all_edits(found: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The edits ``checked`` applies together first: every safe fix's, or None when there is
    none or two overlap (that run is not made)."""
    fixable = [d for d in found if safe(d)]
    if not fixable or _overlap(fixable):
        return None
    return [e for d in fixable for e in d["fix"]["edits"]]


def guess(old: list[str], edits: list[dict[str, Any]], new: list[str], text: str,
          cursor: int) -> str | None:
    """``text`` (whose lines are ``new``) with ``edits`` (``all_edits`` of the text whose lines
    were ``old``) applied, moved by the lines the edit added or removed; None when the changed
    lines touch an edit (its fix has likely changed)."""
    change = _last_good.changed_lines(old, new, cursor)
    moved = []
    for e in edits:
        first, last = e["location"]["row"], e["end_location"]["row"]
        if last < change.first:
            moved.append(e)
        elif first > change.old_last:
            moved.append({**e, "location": {**e["location"], "row": first + change.delta},
                          "end_location": {**e["end_location"], "row": last + change.delta}})
        else:
            return None
    return apply(text, moved)


def _accepted(text: str, found: list[dict[str, Any]], indexes: list[int], starts: list[int],
              check: Check) -> bool:
    fixed = apply(text, [e for i in indexes for e in found[i]["fix"]["edits"]], starts)
    after = check(fixed)
    if any(d["code"] == SYNTAX for d in after):
        return False
    allowed = Counter(d["code"] for d in found)
    allowed.subtract(found[i]["code"] for i in indexes)
    # A fix may clear more than its own diagnostic (removing the last use of an import), never
    # add one.
    return not Counter(d["code"] for d in after) - +allowed


def _line_starts(text: str) -> list[int]:
    starts, at = [0], 0
    while True:
        at = text.find("\n", at) + 1
        if at == 0:
            return starts
        starts.append(at)


def _offset(starts: list[int], location: dict[str, int], length: int) -> int:
    row = min(max(location["row"], 1), len(starts))
    return min(starts[row - 1] + location["column"] - 1, length)


def _overlap(diagnostics: list[dict[str, Any]]) -> bool:
    """Whether any two edits of the diagnostics' fixes touch the same text (two insertions at
    one place count: their order would matter). Positions are compared as (row, column), which
    orders them as their offsets do, so no offsets are needed until a fix is applied."""
    ranges = sorted(((e["location"]["row"], e["location"]["column"]),
                     (e["end_location"]["row"], e["end_location"]["column"]))
                    for d in diagnostics for e in d["fix"]["edits"])
    end = (-1, -1)
    for start, stop in ranges:
        if start < end:
            return True
        end = max(stop, (start[0], start[1] + 1))
    return False


def apply(text: str, edits: list[dict[str, Any]], starts: list[int] | None = None) -> str:
    """``text`` with ruff's edits (rows and 1-based character columns) applied; edits must not
    overlap."""
    starts = starts if starts is not None else _line_starts(text)
    spans = sorted(((_offset(starts, e["location"], len(text)),
                     _offset(starts, e["end_location"], len(text)), e.get("content") or "")
                    for e in edits), reverse=True)
    for start, end, content in spans:
        text = text[:start] + content + text[end:]
    return text


def as_buffer_edits(diagnostic: dict[str, Any], first_line: int) -> dict[str, Any]:
    """The ``fix`` field of a diagnostic item: its title and its edits as buffer ranges
    (1-based lines, 0-based character columns, end exclusive) and replacement texts."""
    fix = diagnostic["fix"]
    return {
        "title": fix.get("message") or diagnostic.get("message", ""),
        "edits": [{"line": e["location"]["row"] + first_line - 1,
                   "col": e["location"]["column"] - 1,
                   "end_line": e["end_location"]["row"] + first_line - 1,
                   "end_col": e["end_location"]["column"] - 1,
                   "text": e.get("content") or ""} for e in fix["edits"]],
    }

"""Performance hints for Python: ruff's performance rules on the user's own configuration
(``_perf_ruff``), and the few hand-written hints ruff has no stable rule for (``_perf_finder``).

A hint is given only where following it is right, and a ``rewrite`` only where it is provably
the same code: ruff's fixes that ruff itself marks safe (as one rewrite of the span from their
first edit to their last), and the comprehension (or ``list()``) that replaces an append loop,
when ``_perf_finder.comprehension_safe`` shows that nothing (a ``try``, a ``with`` that may
swallow an exception, an early exit, the loop variable read afterwards) can tell them apart.
ruff's own comprehension hints are dropped where it shows they are not, and so are the few
ruff hints that are wrong on code of a known shape (``_own_mapping``, ``_same_end``). Test code
gets no hints. Complexity (``C901``) is ruff's, with the user's ``max-complexity``, for the
function at the cursor only.
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import PurePath
from typing import Any

from . import _perf_finder, _perf_ruff, _pysource
from .base import Analyzer, Event, Item

log = logging.getLogger(__name__)

_COMPREHENSIONS = frozenset({"PERF401", "PERF402", "PERF403"})
"""ruff's rules that turn an append loop into one expression (a comprehension, ``list()``)."""
_COMPREHENSION = "Use a list comprehension to create a transformed list"
"""ruff's own message for PERF401."""
_EXTEND = "Use `list.extend` to create a transformed list"
"""ruff's PERF401 on a list that had items before the loop: ``extend()`` of a generator (what
ruff's preview fix writes) is slower than the loop on CPython 3.11 (docs/hints-review.md)."""
_TEST_FILE = re.compile(r"test_.*\.py|.*_test\.py|conftest\.py")
_TEST_FOLDERS = frozenset({"test", "tests"})


def clear_cache() -> None:
    """Forget remembered hints and ruff runs (benchmarks measure the cold case with it)."""
    _perf_finder.clear_cache()
    _perf_ruff.clear_cache()


class PerformanceOptimization(Analyzer):
    """Performance hints for Python code, plus the complexity of the function at the cursor."""

    name = "performance_optimization"
    kind = "hints"
    languages = frozenset({"python"})

    def analyze(self, event: Event) -> list[Item] | None:
        """Hints for the text of ``event`` (a window is cut to whole statements first)."""
        try:
            return hints(event)
        except Exception:  # an analyzer must survive any text; the failure is logged, not sent
            log.exception("performance_optimization failed on %s", event.get("file"))
            return []


def hints(event: Event) -> list[Item]:
    """The hints of ``event``, sorted by position (see the module's docstring)."""
    filename = event.get("file", "")
    if is_test_file(filename):
        return []
    source = _pysource.source_of(event)
    if source.tree is None:
        return []
    top = source.buffer_line(1)
    # Blank lines above a window: ruff's rows are then buffer lines.
    found = _perf_ruff.check("\n" * (top - 1) + source.text, filename)
    finder = _perf_finder.Finder(source)
    finder.run(source.tree)
    candidates = {h.pop("loop_line"): h for h in finder.hints if h["code"] == "PERF401"}
    items = [h for h in finder.hints if h["code"] != "PERF401"]
    cursor = event["line"] - top + 1
    for diagnostic in found:
        item = _from_ruff(diagnostic, source, top, candidates, cursor)
        if item is not None:
            items.append(item)
    if "PERF401" in _perf_ruff.rules_for(filename)[0]:
        items += _unpacking_loops(source, top, candidates)
    return sorted(items, key=lambda h: (h["line"], h["col"], h["code"]))


def is_test_file(filename: str) -> bool:
    """Whether ``filename`` is test code (``test_*.py``, ``*_test.py``, ``conftest.py``, or a
    file right in a ``tests`` folder; a data folder under it, ``tests/samples``, is not): it runs
    once per test run and is read for what it checks, so speed hints there are noise."""
    path = PurePath(filename)
    return bool(_TEST_FILE.fullmatch(path.name)) or path.parent.name.lower() in _TEST_FOLDERS


def _from_ruff(diagnostic: dict[str, Any], source: _pysource.Source, top: int,
               candidates: dict[int, Item], cursor: int) -> Item | None:
    """The hint for one of ruff's findings, or None where it is not given."""
    assert source.tree is not None
    code, message = diagnostic["code"], diagnostic["message"]
    start, end = diagnostic["location"], diagnostic["end_location"]
    item: Item = {"line": start["row"], "col": start["column"] - 1,
                  "end_line": end["row"], "end_col": end["column"] - 1,
                  "message": message, "code": code}
    if code == "C901":
        function = _pysource.enclosing_function(source.tree, cursor)
        if function is None or source.buffer_line(function.lineno) != start["row"]:
            return None
        return item
    if code in _COMPREHENSIONS:
        loop = _perf_finder.comprehension_safe(source.tree, start["row"] - top + 1)
        if loop is None:
            return None
        candidate = candidates.pop(source.buffer_line(loop.lineno), None)
        if code in ("PERF401", "PERF402") and candidate is not None:
            candidate.pop("unpacks", None)
            return {**candidate, "message": message, "code": code}
        return None if message == _EXTEND else item
    if code == "PERF102" and _own_mapping(source.tree, start["row"] - top + 1):
        return None
    if code in ("RUF015", "FURB192") and _catches_index_error(source.tree,
                                                              start["row"] - top + 1):
        return None  # next() raises StopIteration, min() and max() ValueError
    if code == "FURB192" and not _same_end(_text(source, top, (start["row"], start["column"] - 1),
                                                 (end["row"], end["column"] - 1))):
        return None
    fix = diagnostic.get("fix")
    if fix and fix.get("applicability") == "safe" and fix.get("edits"):
        item.update(_fix_as_rewrite(source, top, fix["edits"]))
    return item


def _unpacking_loops(source: _pysource.Source, top: int,
                     candidates: dict[int, Item]) -> list[Item]:
    """PERF401 for the append loops that unpack their items, which ruff's rule passes over
    (each of them was right on the benchmark's projects, docs/hints-review.md)."""
    assert source.tree is not None
    found = []
    for loop_line, candidate in candidates.items():
        if (candidate.pop("unpacks", False)
                and _perf_finder.comprehension_safe(source.tree, loop_line - top + 1)):
            found.append({**candidate, "message": _COMPREHENSION})
    return found


def _catches_index_error(tree: Any, line: int) -> bool:
    """Whether line ``line`` is in the body of a ``try`` that catches IndexError: there
    ``next(iter(x))`` (or ``min(x)``) would raise past the handler that ``list(x)[0]`` (or
    ``sorted(x)[0]``) reached."""
    for node in _perf_finder.path_to(tree, line):
        if not isinstance(node, ast.Try | ast.TryStar):
            continue
        last = node.body[-1]
        if node.body[0].lineno <= line <= (last.end_lineno or last.lineno) and any(
                _names_error(h.type, ("IndexError", "LookupError")) for h in node.handlers):
            return True
    return False


def _names_error(kind: Any, names: tuple[str, ...]) -> bool:
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any(isinstance(k, ast.Name) and k.id in names for k in kinds)


def _own_mapping(tree: Any, line: int) -> bool:
    """Whether the loop at ``line`` iterates ``self.items()``, or is inside a ``keys`` or
    ``values`` method: there ``keys()``/``values()`` are the class's own, maybe made of
    ``items()`` (werkzeug's ``MultiDict.values`` is that loop: the hint would recurse)."""
    path = _perf_finder.path_to(tree, line)
    function = next((n for n in reversed(path) if isinstance(n, ast.FunctionDef)), None)
    if function is not None and function.name in ("keys", "values", "iterkeys", "itervalues"):
        return True
    loop = path[-1] if path else None
    return (isinstance(loop, ast.For | ast.AsyncFor) and isinstance(loop.iter, ast.Call)
            and isinstance(loop.iter.func, ast.Attribute)
            and isinstance(loop.iter.func.value, ast.Name)
            and loop.iter.func.value.id in ("self", "cls"))


def _same_end(expression: str) -> bool:
    """Whether ``min()``/``max()`` return the item that ``sorted(...)[0]`` / ``[-1]`` does.

    sorted() is stable, also with ``reverse=True``: ``[0]`` is the first of the items that sort
    first, as ``min()`` / ``max()`` return, but ``[-1]`` is the last of those that sort last,
    where they return the first; with a ``key`` (``key=len``: the last longest word, not the
    first) those are different items."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return False
    if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call)):
        return False
    index = node.slice
    last = isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub)
    return not last or all(k.arg != "key" for k in node.value.keywords)


def _fix_as_rewrite(source: _pysource.Source, top: int,
                    edits: list[dict[str, Any]]) -> dict[str, Any]:
    """ruff's edits as one rewrite of the span from the first edit's start to the last's end."""
    def at(point: dict[str, int]) -> tuple[int, int]:
        return point["row"], point["column"] - 1

    ordered = sorted(edits, key=lambda e: at(e["location"]))
    first, last = at(ordered[0]["location"]), max(at(e["end_location"]) for e in ordered)
    parts, here = [], first
    for edit in ordered:
        parts += [_text(source, top, here, at(edit["location"])), edit.get("content") or ""]
        here = at(edit["end_location"])
    parts.append(_text(source, top, here, last))
    return {"line": first[0], "col": first[1], "end_line": last[0], "end_col": last[1],
            "rewrite": "".join(parts)}


def _text(source: _pysource.Source, top: int, start: tuple[int, int],
          end: tuple[int, int]) -> str:
    """The text between two (buffer line, character column) points."""
    lines = source.lines[start[0] - top:end[0] - top + 1]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][start[1]:end[1]]
    return "\n".join([lines[0][start[1]:], *lines[1:-1], lines[-1][:end[1]]])

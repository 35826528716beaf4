"""Diagnostics: ruff's findings for Python, syntax errors of JSON, TOML and Emacs Lisp, each at
its exact position.

Python is checked by ruff (``ruff_engine``) with the user's own configuration, so what the editor
shows is what ``ruff check`` on the file says. Two things are added around it:

- while a whole buffer does not parse (a statement half typed), the last good diagnostics stay
  outside the edited statement and one syntax error is shown at it (``_last_good``); the full
  error set returns when the text parses, or on any event that is not an edit (a save, a
  request, a cursor move after a pause);
- a window of a buffer (``whole`` false) is cut to complete top-level statements and checked at
  its buffer lines (the lines above it are blank), so every line number, in messages too, is a
  buffer line; what needs the whole module (undefined names, unused module-level imports, import
  order, ``__all__``...) is not judged from it, and neither are syntax errors (it may begin
  inside a string).

Each diagnostic with a safe ruff fix carries it as buffer edits, checked first (``_fixes``); the
check of a buffer's likely fixed text starts beside the check of its text (``_fixes.guess``).
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import threading
import tomllib
from collections import OrderedDict
from typing import Any

from . import _fixes, _last_good, _pysource, ruff_engine
from .base import Analyzer, Event, Item

log = logging.getLogger(__name__)

# Codes of problems that fail when the code runs (the rest are warnings). ruff itself calls
# every finding an error.
_ERRORS = frozenset({"F404", "F406", "F407", "F621", "F622", "F633", "F701", "F702", "F704",
                     "F706", "F707", "F722", "F821", "F822", "F823", "F831", "E999"})
_ERROR_PREFIXES = ("E9", "PLE")

# What a window cannot judge: it needs the module around it (names defined or used elsewhere,
# the module's docstring, its imports as a block, its first or last lines).
_WINDOW_NEVER = frozenset({"F821", "F822", "F405", "F404", "E402", "RUF100", "W292", "W391",
                           "D100", "D104", "PLC0414"})
_WINDOW_NEVER_PREFIXES = ("I", "CPY", "INP", "EXE", "FA", "TC", "E30", "UP009", "UP025")
# ... and these only inside a function, whose whole scope a window of whole statements holds.
_WINDOW_IN_FUNCTION = frozenset({"F401", "F811", "F402"})

# JSON files that editors and tools read with comments and trailing commas allowed (JSONC).
_JSONC_NAMES = frozenset({"tsconfig.json", "jsconfig.json", "devcontainer.json",
                          ".devcontainer.json", "settings.json", "launch.json", "tasks.json",
                          "extensions.json", "keybindings.json", ".eslintrc.json",
                          ".babelrc", "api-extractor.json"})


_FIX_BUFFERS = 64
_last_fixes: OrderedDict[tuple[Any, ...], tuple[list[str], list[dict[str, Any]]]] = OrderedDict()
"""Per buffer: the lines of its last text with fixes and those fixes' edits (``_fixes.guess``)."""
_fix_lock = threading.Lock()


def clear_cache() -> None:
    """Forget remembered ruff runs and fixes (benchmarks measure the cold case with it)."""
    with _fix_lock:
        _last_fixes.clear()
    ruff_engine.clear_cache()


class CodeAnalysis(Analyzer):
    """ruff's diagnostics (Python); syntax errors (JSON, TOML, Emacs Lisp)."""

    name = "code_analysis"
    kind = "diagnostics"
    languages = frozenset({"python", "json", "toml", "elisp"})

    def __init__(self, redis: Any = None) -> None:
        super().__init__(redis)
        self.last_good = _last_good.LastGood()

    def analyze(self, event: Event) -> list[Item] | None:
        """Diagnostics for ``event``; None where the last judgement should stand (a window of
        a language only judged whole, a window that does not parse)."""
        language = event.get("language", "")
        try:
            if language == "python":
                return self.python(event)
            if not event.get("whole"):
                return None
            if language == "json":
                return json_diagnostics(event)
            if language == "toml":
                return toml_diagnostics(event)
            if language == "elisp":
                return elisp_diagnostics(event)
        except Exception:  # an analyzer must survive any text; the failure is logged, not sent
            log.exception("code_analysis failed on %s", event.get("file") or event.get("buffer"))
        return []

    def python(self, event: Event) -> list[Item] | None:
        """ruff's diagnostics of a Python event, as described in the module's docstring."""
        if not event.get("whole"):
            return window_diagnostics(event)
        text, filename = event["text"], event.get("file", "")
        first_line = event.get("first_line", 1)
        key = (event.get("client"), event.get("buffer"), filename)
        lines = _pysource.split_lines(text)
        _check_fixes_ahead(key, lines, text, event.get("line", 1))
        found = ruff_engine.check(text, filename)
        syntax = [d for d in found if d["code"] == _fixes.SYNTAX]
        if not syntax:
            fixes = _fixes.checked(text, found, lambda fixed: ruff_engine.check(fixed, filename))
            _remember_fixes(key, lines, found if fixes else [])
            items = [_item(d, first_line, i in fixes) for i, d in enumerate(found)]
            items.sort(key=_order)
            self.last_good.remember(key, event.get("tick", 0), lines, items)
            return [dict(d) for d in items]
        # A statement half typed stays so for a few keystrokes: no fixed text is guessed (and
        # checked for nothing) until the buffer parses again.
        _remember_fixes(key, lines, [])
        good = self.last_good.get(key)
        if event.get("intent", "edit") != "edit" or good is None or first_line != 1:
            return sorted((_item(d, first_line, False) for d in found), key=_order)
        edit = _last_good.find_edit(good.lines, lines, event.get("line", 1))
        items = _last_good.kept_items(good, edit)
        items.append(_syntax_at_edit(lines, edit, syntax))
        items.sort(key=_order)
        return items


def _check_fixes_ahead(key: tuple[Any, ...], lines: list[str], text: str, cursor: int) -> None:
    """Start ruff on the likely fixed text of this buffer (its previous text's fixes moved to
    this one, ``_fixes.guess``) beside the run on the text itself."""
    with _fix_lock:
        last = _last_fixes.get(key)
    if last is not None and last[0] != lines:
        guessed = _fixes.guess(last[0], last[1], lines, text, cursor)
        if guessed is not None:
            ruff_engine.check_ahead(guessed, key[2])


def _remember_fixes(key: tuple[Any, ...], lines: list[str], found: list[dict[str, Any]]) -> None:
    """Keep the fixes checked together for a buffer's text, for ``_check_fixes_ahead``."""
    edits = _fixes.all_edits(found)
    with _fix_lock:
        if edits is None:
            _last_fixes.pop(key, None)
            return
        _last_fixes[key] = (lines, edits)
        _last_fixes.move_to_end(key)
        while len(_last_fixes) > _FIX_BUFFERS:
            _last_fixes.popitem(last=False)


def _order(item: Item) -> tuple[int, int, str]:
    return item["line"], item["col"], item["code"]


def _item(diagnostic: dict[str, Any], first_line: int, with_fix: bool) -> Item:
    """A diagnostic item from one of ruff's JSON diagnostics (rows and 1-based columns)."""
    code = diagnostic["code"] or _fixes.SYNTAX
    start, end = diagnostic["location"], diagnostic["end_location"]
    message = diagnostic["message"]
    if code == _fixes.SYNTAX:
        code, message = "E999", f"SyntaxError: {message}"
    item: Item = {
        "line": start["row"] + first_line - 1, "col": start["column"] - 1,
        "end_line": end["row"] + first_line - 1, "end_col": end["column"] - 1,
        "severity": "error" if code in _ERRORS or code.startswith(_ERROR_PREFIXES) else "warning",
        "message": message, "code": code, "source": "ruff",
    }
    if with_fix:
        item["fix"] = _fixes.as_buffer_edits(diagnostic, first_line)
    return item


def _syntax_at_edit(lines: list[str], edit: _last_good.Edit,
                    syntax: list[dict[str, Any]]) -> Item:
    """The one syntax error shown while typing: at the bracket the edit left open, else at
    ruff's first error inside the edited statement, else at the first edited line."""
    stmt_last = edit.stmt_new_last()
    opened = _last_good.open_bracket(lines, edit.stmt_first, max(edit.new_last, edit.first))
    if opened is not None:
        line, col, bracket = opened
        return {"line": line, "col": col, "end_line": line, "end_col": col + 1,
                "severity": "error", "message": f"SyntaxError: '{bracket}' was never closed",
                "code": "E999", "source": "ruff"}
    for diagnostic in syntax:
        if edit.stmt_first <= diagnostic["location"]["row"] <= stmt_last:
            return _item(diagnostic, 1, False)
    line = min(edit.first, len(lines))
    text = lines[line - 1] if lines else ""
    col = len(text) - len(text.lstrip())
    return {"line": line, "col": col, "end_line": line, "end_col": max(len(text), col + 1),
            "severity": "error", "message": f"SyntaxError: {syntax[0]['message']}",
            "code": "E999", "source": "ruff"}


def window_diagnostics(event: Event) -> list[Item] | None:
    """ruff's diagnostics of a window's complete top-level statements, at buffer lines, less
    what a window cannot judge; None when they do not parse (the last judgement stands)."""
    source = _pysource.source_of(event)
    if not source.lines:
        return []
    top = source.buffer_line(1)
    # Blank lines above the statements: ruff then counts buffer lines, in its messages too.
    found = ruff_engine.check("\n" * (top - 1) + source.text, event.get("file", ""))
    if any(d["code"] == _fixes.SYNTAX for d in found):
        return None
    functions = [] if source.tree is None else [
        (source.buffer_line(start), source.buffer_line(end))
        for start, end in _function_lines(source.tree)]
    items = []
    for diagnostic in found:
        code = diagnostic["code"] or ""
        if code in _WINDOW_NEVER or code.startswith(_WINDOW_NEVER_PREFIXES):
            continue
        row = diagnostic["location"]["row"]
        if code in _WINDOW_IN_FUNCTION and not any(a < row <= b for a, b in functions):
            continue  # a def's own line belongs to the scope around it
        if row < top:
            continue
        items.append(_item(diagnostic, 1, False))
    return sorted(items, key=_order)


def _function_lines(tree: ast.Module) -> list[tuple[int, int]]:
    return [(node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]


# --- JSON, TOML, Emacs Lisp ---------------------------------------------------------------------


def _diagnostic(event: Event, line: int, col: int, message: str, source: str,
                text: str) -> Item:
    lines = _pysource.split_lines(text)
    line = min(max(line, 1), len(lines))
    length = len(lines[line - 1])
    col = min(max(col, 0), length)
    return {
        "line": line + event.get("first_line", 1) - 1, "col": col,
        "end_line": line + event.get("first_line", 1) - 1, "end_col": min(col + 1, length),
        "severity": "error", "message": message, "code": "syntax", "source": source,
    }


def json_diagnostics(event: Event) -> list[Item]:
    """The first syntax error of a whole JSON buffer (JSONC files and comments are let be)."""
    text = event["text"]
    if not text.strip() or os.path.basename(event.get("file", "")) in _JSONC_NAMES:
        return []
    if os.sep + ".vscode" + os.sep in event.get("file", ""):
        return []
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        if text.startswith(("//", "/*"), exc.pos):
            return []  # a comment: the file is JSON with comments, which json cannot judge
        return [_diagnostic(event, exc.lineno, exc.colno - 1, exc.msg, "json", text)]
    except (ValueError, RecursionError) as exc:
        return [_diagnostic(event, 1, 0, str(exc), "json", text)]
    return []


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")


def toml_diagnostics(event: Event) -> list[Item]:
    """The first syntax error of a whole TOML buffer."""
    text = event["text"]
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        if at:
            line, col = int(at.group(1)), int(at.group(2)) - 1
            message = message[:at.start()]
        else:
            lines = _pysource.split_lines(text)
            line, col = len(lines), len(lines[-1])
            message = _TOML_END.sub("", message)
        return [_diagnostic(event, line, col, message, "tomllib", text)]
    except RecursionError as exc:
        return [_diagnostic(event, 1, 0, str(exc), "tomllib", text)]
    return []


_DELIMITERS = frozenset(" \t\n\r\f()[]'`,#\"")
_CLOSING = {")": "(", "]": "["}


def elisp_diagnostics(event: Event) -> list[Item]:
    """Unbalanced parentheses and brackets of a whole Emacs Lisp buffer, and unterminated strings.

    Strings, comments, character literals (?\\( and ?() and backslash escapes are skipped the
    way the Lisp reader skips them.
    """
    text = event["text"]
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == ";":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c == '"':
            start = i
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            if i >= n:
                return [_elisp_item(event, text, start, "unterminated string")]
        elif c == "\\":
            i += 1
        elif c == "?" and (i == 0 or text[i - 1] in _DELIMITERS):
            i += 1 if i + 1 < n and text[i + 1] == "\\" else 2
            continue
        elif c in "([":
            stack.append((c, i))
        elif c in ")]":
            if not stack:
                return [_elisp_item(event, text, i, f"unmatched '{c}'")]
            opener, at = stack.pop()
            if opener != _CLOSING[c]:
                return [_elisp_item(event, text, i, f"'{c}' closes the '{opener}' opened here"
                                    f" on line {text.count(chr(10), 0, at) + 1}")]
        i += 1
    if stack:
        # The outermost open form is the one a reader reports, and the one to fix.
        opener, at = stack[0]
        return [_elisp_item(event, text, at, f"'{opener}' is never closed")]
    return []


def _elisp_item(event: Event, text: str, pos: int, message: str) -> Item:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1)
    return _diagnostic(event, line, col, message, "elisp", text)

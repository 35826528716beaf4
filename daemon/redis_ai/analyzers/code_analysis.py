"""Diagnostics: syntax errors and pyflakes-level problems of Python, syntax errors of JSON, TOML
and Emacs Lisp, each at its exact position.

Precision comes first: a diagnostic that is wrong is worse than none. So a window of a buffer
(``whole`` false) is judged only on what a window can show: it is cut to complete top-level
statements, syntax errors are not reported (the window may begin inside a string), and of the
pyflakes messages only those that depend on nothing outside the statement or function they are
in are kept (no undefined names, no unused module-level imports).
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

from pyflakes import checker

from . import _pysource
from .base import Analyzer, Event, Item

log = logging.getLogger(__name__)

# pyflakes message class -> (code, severity). Codes are ruff's (and flake8's) for the same check.
_CODES: dict[str, tuple[str, str]] = {
    "UnusedImport": ("F401", "warning"),
    "ImportShadowedByLoopVar": ("F402", "warning"),
    "ImportStarUsed": ("F403", "warning"),
    "LateFutureImport": ("F404", "error"),
    "ImportStarUsage": ("F405", "warning"),
    "ImportStarNotPermitted": ("F406", "error"),
    "FutureFeatureNotDefined": ("F407", "error"),
    "PercentFormatInvalidFormat": ("F501", "warning"),
    "PercentFormatExpectedMapping": ("F502", "warning"),
    "PercentFormatExpectedSequence": ("F503", "warning"),
    "PercentFormatExtraNamedArguments": ("F504", "warning"),
    "PercentFormatMissingArgument": ("F505", "warning"),
    "PercentFormatMixedPositionalAndNamed": ("F506", "warning"),
    "PercentFormatPositionalCountMismatch": ("F507", "warning"),
    "PercentFormatStarRequiresSequence": ("F508", "warning"),
    "PercentFormatUnsupportedFormatCharacter": ("F509", "warning"),
    "StringDotFormatInvalidFormat": ("F521", "warning"),
    "StringDotFormatExtraNamedArguments": ("F522", "warning"),
    "StringDotFormatExtraPositionalArguments": ("F523", "warning"),
    "StringDotFormatMissingArgument": ("F524", "warning"),
    "StringDotFormatMixingAutomatic": ("F525", "warning"),
    "FStringMissingPlaceholders": ("F541", "warning"),
    "TStringMissingPlaceholders": ("F541", "warning"),
    "MultiValueRepeatedKeyLiteral": ("F601", "warning"),
    "MultiValueRepeatedKeyVariable": ("F602", "warning"),
    "TooManyExpressionsInStarredAssignment": ("F621", "error"),
    "TwoStarredExpressions": ("F622", "error"),
    "AssertTuple": ("F631", "warning"),
    "IsLiteral": ("F632", "warning"),
    "InvalidPrintSyntax": ("F633", "error"),
    "IfTuple": ("F634", "warning"),
    "BreakOutsideLoop": ("F701", "error"),
    "ContinueOutsideLoop": ("F702", "error"),
    "YieldOutsideFunction": ("F704", "error"),
    "ReturnOutsideFunction": ("F706", "error"),
    "DefaultExceptNotLast": ("F707", "error"),
    "DoctestSyntaxError": ("F721", "warning"),
    "ForwardAnnotationSyntaxError": ("F722", "error"),
    "RedefinedWhileUnused": ("F811", "warning"),
    "UndefinedName": ("F821", "error"),
    "UndefinedExport": ("F822", "error"),
    "UndefinedLocal": ("F823", "error"),
    "UnusedIndirectAssignment": ("F824", "warning"),
    "DuplicateArgument": ("F831", "error"),
    "UnusedVariable": ("F841", "warning"),
    "UnusedAnnotation": ("F842", "warning"),
    "RaiseNotImplemented": ("F901", "warning"),
}

# Messages a window can judge: they concern one statement, or one function scope, all of which a
# window cut to complete top-level statements holds (F823 needs both bindings, so it is only
# raised when both are there).
_WINDOW_SAFE = frozenset({
    "ImportStarUsed", "ImportStarNotPermitted", "FutureFeatureNotDefined",
    "PercentFormatInvalidFormat", "PercentFormatExpectedMapping", "PercentFormatExpectedSequence",
    "PercentFormatExtraNamedArguments", "PercentFormatMissingArgument",
    "PercentFormatMixedPositionalAndNamed", "PercentFormatPositionalCountMismatch",
    "PercentFormatStarRequiresSequence", "PercentFormatUnsupportedFormatCharacter",
    "StringDotFormatInvalidFormat", "StringDotFormatExtraNamedArguments",
    "StringDotFormatExtraPositionalArguments", "StringDotFormatMissingArgument",
    "StringDotFormatMixingAutomatic", "FStringMissingPlaceholders", "TStringMissingPlaceholders",
    "MultiValueRepeatedKeyLiteral", "MultiValueRepeatedKeyVariable",
    "TooManyExpressionsInStarredAssignment", "TwoStarredExpressions", "AssertTuple", "IsLiteral",
    "InvalidPrintSyntax", "IfTuple", "BreakOutsideLoop", "ContinueOutsideLoop",
    "YieldOutsideFunction", "ReturnOutsideFunction", "DefaultExceptNotLast",
    "ForwardAnnotationSyntaxError", "UndefinedLocal", "UnusedIndirectAssignment",
    "DuplicateArgument", "UnusedVariable", "UnusedAnnotation", "RaiseNotImplemented",
})
# ... and these only inside a function, whose whole scope the window then holds.
_WINDOW_SAFE_IN_FUNCTION = frozenset({"UnusedImport", "RedefinedWhileUnused",
                                      "ImportShadowedByLoopVar"})

_PEP_695 = re.compile(r"\s*(type\s+\w+\s*(\[.*\])?\s*=|(async\s+)?def\s+\w+\s*\[|class\s+\w+\s*\[)")
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.I)

# JSON files that editors and tools read with comments and trailing commas allowed (JSONC).
_JSONC_NAMES = frozenset({"tsconfig.json", "jsconfig.json", "devcontainer.json",
                          ".devcontainer.json", "settings.json", "launch.json", "tasks.json",
                          "extensions.json", "keybindings.json", ".eslintrc.json",
                          ".babelrc", "api-extractor.json"})


_RESULTS = 8
_results: OrderedDict[tuple[str, bool, int, str, str], list[Item] | None] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget the remembered results (benchmarks measure the cold case with it)."""
    with _lock:
        _results.clear()


class CodeAnalysis(Analyzer):
    """Syntax errors and pyflakes problems (Python); syntax errors (JSON, TOML, Emacs Lisp)."""

    name = "code_analysis"
    kind = "diagnostics"
    languages = frozenset({"python", "json", "toml", "elisp"})

    def analyze(self, event: Event) -> list[Item] | None:
        """Diagnostics for ``event``; None for a window of a language only judged whole.

        Events that repeat a text (cursor moves, a save) are answered from the last results.
        """
        key = (event["text"], bool(event.get("whole")), event.get("first_line", 1),
               event.get("file", ""), event.get("language", ""))
        with _lock:
            cached = key in _results
            known = _results.get(key)
        if cached:
            return None if known is None else [dict(d) for d in known]
        items = self._analyze(event)
        with _lock:
            _results[key] = items
            if len(_results) > _RESULTS:
                _results.popitem(last=False)
        return None if items is None else [dict(d) for d in items]

    def _analyze(self, event: Event) -> list[Item] | None:
        language = event.get("language", "")
        try:
            if language == "python":
                return python_diagnostics(event)
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


# --- Python -----------------------------------------------------------------------------------


class _Checker(checker.Checker):
    """pyflakes' checker, keeping the node each message is about (for its exact span)."""

    def __init__(self, tree: ast.Module, filename: str) -> None:
        self.nodes: list[Any] = []
        super().__init__(tree, filename=filename, withDoctest=False)

    def report(self, messageClass: Any, *args: Any, **kwargs: Any) -> None:
        super().report(messageClass, *args, **kwargs)
        self.nodes.append(args[0])

    def release(self) -> None:
        """Break the reference cycles between scopes, bindings and the checker, so that its
        memory is freed now rather than by a full garbage collection, which the trees kept in
        the parse cache make slow (a latency spike on a later keystroke)."""
        for scope in self.deadScopes:
            for binding in scope.values():
                binding.used = False
            scope.clear()
        self.__dict__.clear()


def python_diagnostics(event: Event) -> list[Item]:
    """Syntax errors (whole buffers only) and pyflakes messages of a Python event."""
    source = _pysource.source_of(event)
    whole = bool(event.get("whole"))
    if source.tree is None:
        if not whole or source.error is None or _newer_grammar(source, source.error):
            return []
        return [_syntax_error(source, source.error)]
    filename = event.get("file") or "<buffer>"
    checker = _Checker(source.tree, filename)
    found = list(zip(checker.messages, checker.nodes, strict=True))
    checker.release()
    functions = [] if whole else _function_lines(source.tree)
    init_file = os.path.basename(filename) == "__init__.py"
    items = []
    for message, node in found:
        kind = type(message).__name__
        code, severity = _CODES.get(kind, (kind, "warning"))
        if init_file and code == "F401":
            continue  # imports in a package's __init__ are its interface, not waste
        if not whole and kind not in _WINDOW_SAFE and not (
            kind in _WINDOW_SAFE_IN_FUNCTION and _inside(functions, message.lineno)
        ):
            continue
        item = _message_span(source, message, node)
        if _suppressed(source.line_text(message.lineno), code):
            continue
        item.update(severity=severity, message=message.message % message.message_args,
                    code=code, source="pyflakes")
        items.append(item)
    items.sort(key=lambda d: (d["line"], d["col"], d["code"]))
    return items


def _newer_grammar(source: _pysource.Source, error: SyntaxError) -> bool:
    """Whether the error is at a statement that newer Pythons accept (type aliases and generic
    functions and classes of 3.12): the file may well target one, so it is not called wrong."""
    line = source.line_text(error.lineno or 0)
    return bool(_PEP_695.match(line))


def _syntax_error(source: _pysource.Source, error: SyntaxError) -> Item:
    lines = source.lines
    if error.lineno is None:  # null bytes and the like: no position from the parser
        text = "\n".join(lines)
        at = text.find("\x00")
        lineno = text.count("\n", 0, at) + 1 if at >= 0 else 1
        col = at - (text.rfind("\n", 0, at) + 1) if at >= 0 else 0
        end_lineno, end_col = lineno, col + 1
    else:
        lineno = min(max(error.lineno, 1), len(lines))
        line = source.line_text(lineno)
        col = min(max((error.offset or 1) - 1, 0), len(line))
        end_lineno = error.end_lineno or lineno
        end_offset = error.end_offset or 0
        if end_lineno > lineno and end_lineno <= len(lines) and end_offset >= 1:
            end_col = min(end_offset - 1, len(source.line_text(end_lineno)))
        else:
            end_lineno = lineno
            end_col = end_offset - 1 if end_offset - 1 > col else col + 1
            end_col = min(end_col, len(line))
    name = type(error).__name__
    return {
        "line": source.buffer_line(lineno), "col": col,
        "end_line": source.buffer_line(end_lineno), "end_col": end_col,
        "severity": "error", "message": f"{name}: {error.msg or error}", "code": "E999",
        "source": "python",
    }


def _message_span(source: _pysource.Source, message: Any, node: Any) -> Item:
    """The span of the name a message is about, where one can be found; else the node's."""
    name = message.message_args[0] if message.message_args else None
    kind = type(message).__name__
    if isinstance(node, ast.Import | ast.ImportFrom) and isinstance(name, str):
        alias = _alias_of(node, name, by_statement=kind == "UnusedImport")
        if alias is not None:
            return _pysource.span(source, alias)
    if isinstance(node, ast.Name | ast.alias):
        return _pysource.span(source, node)
    if kind == "UndefinedExport" and isinstance(node, ast.AST):
        for child in ast.walk(node):
            if isinstance(child, ast.Constant) and child.value == name:
                return _pysource.span(source, child)
    if isinstance(name, str) and isinstance(
        node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ExceptHandler
    ):
        found = _name_on_line(source, node.lineno, node.col_offset, name)
        if found is not None:
            return found
    if hasattr(node, "lineno"):
        return _pysource.span(source, node)
    line, col = source.buffer_line(message.lineno), source.char_col(message.lineno, message.col)
    return {"line": line, "col": col, "end_line": line, "end_col": col}


def _alias_of(node: ast.Import | ast.ImportFrom, name: str, by_statement: bool) -> ast.alias | None:
    """The alias of an import that pyflakes names ``name``: its import statement form for F401
    ('os.path', 'a.b as c'), the bound name otherwise."""
    module = ""
    if isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
    for alias in node.names:
        bound = alias.asname or alias.name
        if isinstance(node, ast.Import):
            full = alias.name
            if alias.asname is None:
                bound = alias.name.split(".")[0]
        else:
            full = module + alias.name if module.endswith(".") else f"{module}.{alias.name}"
        as_clause = f" as {bound}" if full.split(".")[-1] != bound and alias.asname else ""
        if (full + as_clause if by_statement else bound) == name:
            return alias
    return None


def _name_on_line(source: _pysource.Source, lineno: int, byte_col: int, name: str) -> Item | None:
    line = source.line_text(lineno)
    col = source.char_col(lineno, byte_col)
    found = re.compile(rf"\b{re.escape(name)}\b").search(line, col)
    if found is None:
        return None
    buffer_line = source.buffer_line(lineno)
    return {"line": buffer_line, "col": found.start(), "end_line": buffer_line,
            "end_col": found.end()}


def _function_lines(tree: ast.Module) -> list[tuple[int, int]]:
    return [(node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]


def _inside(functions: list[tuple[int, int]], lineno: int) -> bool:
    # A def's own line belongs to the scope around it (its name and decorators are bound there).
    return any(start < lineno <= end for start, end in functions)


def _suppressed(line: str, code: str) -> bool:
    """Whether ``line`` carries a ``# noqa`` comment that covers ``code``."""
    if "noqa" not in line.lower():
        return False
    found = _NOQA.search(line)
    if found is None:
        return False
    codes = found.group("codes")
    return codes is None or code.upper() in re.split(r"[,\s]+", codes.upper())


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

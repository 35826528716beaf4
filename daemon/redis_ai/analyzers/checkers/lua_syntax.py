"""Lua: the syntax error of a whole buffer, from Lua's own parser (``luac -p``) through lupa.

lupa's wheels carry the reference Lua interpreters and LuaJIT, so no Lua has to be installed.
The text is compiled, never run. A buffer is an error only when neither Lua 5.4 nor LuaJIT 2.1
(Neovim's, LÖVE's and OpenResty's Lua) can compile it, so what either dialect accepts is let be
(5.4's ``//`` and ``<const>``, LuaJIT's ``1ULL``); the message is Lua 5.4's.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from ..base import Event, Item
from ._items import Missing, item, lines_of

_DIALECTS = ("lua54", "luajit21")
_CHUNK = "=buffer"  # error messages then begin "buffer:LINE:"
_MESSAGE = re.compile(r"^buffer:(\d+): (.*)$", re.DOTALL)
_NEAR = re.compile(r" near (?:'(.*)'|(<eof>))$", re.DOTALL)
_AT_LINE = re.compile(r" at line (\d+)$")  # "break outside loop at line 3", said at a later line

_lock = threading.Lock()
_runtimes: list[tuple[Any, type[Exception]]] = []


def _compilers() -> list[tuple[Any, type[Exception]]]:
    """(Lua state, its syntax error) per dialect, made on the first Lua buffer (a state is not
    for two threads at once, hence the lock around their use)."""
    if not _runtimes:
        try:
            import importlib
            modules = [importlib.import_module(f"lupa.{name}") for name in _DIALECTS]
        except ImportError as exc:
            raise Missing("Lua files get no diagnostics: lupa is not installed "
                          "(pip install lupa)") from exc
        _runtimes.extend((m.LuaRuntime(register_eval=False, register_builtins=False),
                          m.LuaSyntaxError) for m in modules)
    return _runtimes


def check(event: Event) -> list[Item] | None:
    """The syntax error of a whole Lua buffer, at its line and the token it names; None for a
    window, which may begin inside a function or a long string."""
    if not event.get("whole"):
        return None
    text = event["text"]
    if text.startswith("\x1b"):
        return []  # precompiled bytecode, which Lua would load unchecked: not source to judge
    with _lock:
        errors = []
        for runtime, syntax_error in _compilers():
            try:
                runtime.compile(text, _CHUNK, "t")
                return []
            except syntax_error as exc:
                errors.append(str(exc))
    return [_item(event, errors[0])]


def _item(event: Event, error: str) -> Item:
    """The diagnostic of one of Lua's messages, ``buffer:LINE: what near 'TOKEN'``: at that
    token on that line (its last occurrence), at the end of the text for ``<eof>``, else at the first word of the line
    the message names, or of the line it was raised at."""
    found = _MESSAGE.match(error)
    if not found:
        return item(event, 1, 0, error, "lua")
    line, message = int(found.group(1)), found.group(2)
    at_line = _AT_LINE.search(message)
    if at_line:
        line = int(at_line.group(1))
    lines = lines_of(event["text"])
    text = lines[min(line, len(lines)) - 1]
    near = _NEAR.search(message)
    if near and near.group(2):
        return item(event, len(lines) + 1, 0, message, "lua")
    if near and near.group(1) is not None:
        # Lua names the token, not its column: the last one on the line is the likelier (what
        # is typed last breaks the parse), as in "x = = 1".
        col = text.rfind(near.group(1))
        if col >= 0:
            return item(event, line, col, message, "lua", end_line=line,
                        end_col=col + max(len(near.group(1)), 1))
    return item(event, line, len(text) - len(text.lstrip()), message, "lua")


def version() -> str | None:
    """The Lua versions that judge Lua buffers, or None when lupa is not installed."""
    try:
        import lupa
    except ImportError:
        return None
    return f"Lua 5.4 and LuaJIT 2.1 (lupa {lupa.__version__})"

"""Fill-in-the-middle prompts for local servers: a token estimate, a cap that keeps the lines
nearest the cursor, and the retrieved chunks packed into what the cap leaves.

Local servers (llama.cpp, Ollama) run with a context window counted in tokens (``--ctx-size``,
``num_ctx``), and a prompt longer than it is cut by the server where it likes, or refused. So
for them the model's ``max_context`` is a budget of estimated tokens for everything sent:
the code before and after the cursor and the retrieved chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from .base import Request

_PIECE = re.compile(r"[A-Za-z0-9_]+|\s+|[^\sA-Za-z0-9_]")

WINDOW_SHARE = 0.75
"""With retrieved chunks, the code around the cursor keeps at least this share of the budget:
it predicts the completion better than any chunk from elsewhere."""

PREFIX_SHARE = 0.75
"""Of the window's budget, the share for the code before the cursor (the rest is after it;
either side's unused share goes to the other)."""

COMMENT = {
    "python": "#", "ruby": "#", "shell": "#", "bash": "#", "sh": "#", "perl": "#", "r": "#",
    "yaml": "#", "toml": "#", "make": "#", "elixir": "#", "julia": "#", "nim": "#",
    "lua": "--", "sql": "--", "haskell": "--", "ada": "--",
    "lisp": ";;", "emacs-lisp": ";;", "elisp": ";;", "scheme": ";;", "clojure": ";;",
    "fennel": ";;", "racket": ";;", "vim": '"', "erlang": "%", "tex": "%", "latex": "%",
}
"""Line comment marker by language; C-like ``//`` for the others."""


def estimate_tokens(text: str) -> int:
    """Estimated BPE tokens of ``text``, leaning high so the server's window is never passed:
    a word or a run of blanks costs one token per 4 characters, any other character one."""
    count = 0
    for match in _PIECE.finditer(text):
        piece = match.group()
        if piece[0] == "_" or piece[0].isalnum() or piece[0].isspace():
            count += (len(piece) + 3) // 4
        else:
            count += 1
    return count


def _fit(costs: list[int], budget: int) -> tuple[int, int]:
    """How many of ``costs``, taken in order, fit in ``budget`` (at least one), and their sum."""
    taken, used = 0, 0
    for cost in costs:
        if taken and used + cost > budget:
            break
        taken, used = taken + 1, used + cost
    return taken, used


def cap_tokens(prefix: str, suffix: str, budget: int) -> tuple[str, str]:
    """``prefix`` and ``suffix`` cut at line boundaries to ``budget`` estimated tokens in all,
    keeping the lines nearest the cursor (its own line always stays whole)."""
    before = prefix.split("\n")
    after = suffix.split("\n")
    before_costs = [estimate_tokens(line) + 1 for line in reversed(before)]
    after_costs = [estimate_tokens(line) + 1 for line in after]
    n_before, used_before = _fit(before_costs, int(budget * PREFIX_SHARE))
    n_after, used_after = _fit(after_costs, budget - used_before)
    n_before, _ = _fit(before_costs, budget - used_after)
    return "\n".join(before[len(before) - n_before:]), "\n".join(after[:n_after])


def pack(extra: list[tuple[str, str]], budget: int,
         cost: Callable[[str, str], int]) -> list[tuple[str, str]]:
    """The chunks of ``extra``, best first, whose ``cost(name, text)`` fits in ``budget``;
    a chunk too large for what is left is skipped and a smaller later one may still fit."""
    out: list[tuple[str, str]] = []
    left = budget
    for name, text in extra:
        need = cost(name, text)
        if need <= left:
            out.append((name, text))
            left -= need
    return out


def fit(request: Request, budget: int, cost: Callable[[str, str], int]) -> Request:
    """``request`` with its window and retrieved chunks cut to ``budget`` estimated tokens.

    The window keeps at least WINDOW_SHARE of the budget (all it needs when it needs less),
    the chunks that fit go into the rest, and the window gets back what they leave unused.
    """
    whole = estimate_tokens(request.prefix) + estimate_tokens(request.suffix)
    extra = pack(request.extra, budget - min(whole, int(budget * WINDOW_SHARE)), cost)
    window = budget - sum(cost(name, text) for name, text in extra)
    prefix, suffix = cap_tokens(request.prefix, request.suffix, window)
    return replace(request, prefix=prefix, suffix=suffix, extra=extra)


def comment_marker(language: str) -> str:
    """The line comment marker of ``language`` (``//`` when unknown)."""
    return COMMENT.get(language.lower(), "//")


def preamble_block(name: str, text: str, language: str) -> str:
    """One retrieved chunk as comment lines above the code, for servers without a field for it."""
    mark = comment_marker(language)
    lines = [f"{mark} Path: {name}"] + [f"{mark} {line}".rstrip() for line in text.rstrip("\n").split("\n")]
    return "\n".join(lines) + "\n"


def preamble(extra: list[tuple[str, str]], language: str) -> str:
    """Every retrieved chunk as comments, each block followed by a blank line."""
    return "".join(preamble_block(name, text, language) + "\n" for name, text in extra)

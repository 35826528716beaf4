"""Retrieved context for completion: the chunks of the code index nearest to the code at point.

The query is the few lines around the cursor; chunks of the current file that overlap the
window the editor sent are left out (the model sees that code already), and the others go to
the provider as (file name, text) pairs, best first, for it to pack within its context cap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ... import keys
from ..registry import Model

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

K = 4
"""Chunks asked for; the provider keeps those that fit its cap."""

QUERY_LINES_BEFORE = 8
QUERY_LINES_AFTER = 2
"""Lines around the cursor that make the query."""

MAX_QUERY = 1000
"""Longest query, in characters (the end nearest the cursor is kept)."""

PROVIDERS = frozenset({"llamacpp", "ollama"})
"""Providers whose prompt carries retrieved chunks."""


def wanted(models: Iterable[Model]) -> bool:
    """Whether any of ``models`` would use retrieved chunks (else the search is not worth it)."""
    return any(model.provider in PROVIDERS for model in models)


def query_text(before: str, after: str) -> str:
    """The code around the cursor that chunks are matched against."""
    head = "\n".join(before.split("\n")[-QUERY_LINES_BEFORE:])
    tail = "\n".join(after.split("\n")[:QUERY_LINES_AFTER])
    return (head + tail)[-MAX_QUERY:]


def retrieve(redis: Redis, event: dict[str, Any], before: str, after: str,
             k: int = K) -> list[tuple[str, str]]:
    """The ``k`` chunks nearest to the code at the cursor of ``event``, outside its window."""
    from ...search.index import shared  # the index imports the registry: load it when used

    query = query_text(before, after)
    if not query.strip():
        return []
    index = shared(redis)
    try:
        if index.count() == 0:
            return []
        hits = index.search(query, k + 4)
    except Exception:  # a broken index must not cost the user the completion itself
        log.warning("completion: retrieval failed", exc_info=True)
        return []
    own = os.path.realpath(event["file"]) if event.get("file") else ""
    first = int(event.get("first_line", 1))
    last = first + str(event.get("text", "")).count("\n")
    kept = [hit for hit in hits
            if not (hit.file == own and hit.line <= last and hit.end_line >= first)][:k]
    if not kept:
        return []
    pipe = redis.pipeline(transaction=False)
    for hit in kept:
        pipe.hget(keys.code_chunk(hit.id), "text")
    texts = pipe.execute()
    out = []
    for hit, text in zip(kept, texts, strict=True):
        if text:
            body = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
            out.append((display_name(hit.file, own), body))
    return out


def display_name(path: str, own: str) -> str:
    """``path`` relative to the folder it shares with the current file, when they share one."""
    if own:
        try:
            common = os.path.commonpath([path, os.path.dirname(own)])
        except ValueError:
            common = ""
        if common and common != os.path.sep:
            return os.path.relpath(path, common)
    return path

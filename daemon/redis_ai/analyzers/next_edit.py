"""Next-edit suggestions: after one edit, the edits that follow from it elsewhere in the buffer.

Events carry the buffer's text, not what changed, so the analyzer keeps each buffer's previous
text in Redis (``keys.next_edit_state``: bounded, with a TTL), where every worker process of the
group sees it. What it compares is the text before the current *edit* against the text now: an
edit is the run of events that change one and the same line (typing ``bar`` over ``foo`` sends
``fo``, ``b``, ``ba``, ``bar``...), so ``foo -> bar`` is recognised, not ``ba -> bar``. An edit
on another line (accepting a suggestion, say) starts the next one, whose follow-ups are what is
still left to do. _edit_patterns.py recognises the patterns; this module holds the state and
shapes the items.
"""

from __future__ import annotations

import bisect
import re
from typing import TYPE_CHECKING, Any

import msgpack

from .. import keys
from ._edit_patterns import follow_ups
from .base import Analyzer, Event, Item

if TYPE_CHECKING:
    from redis import Redis

STATE_TTL_MS = 15 * 60 * 1000
"""How long a buffer's previous text is kept after its last event."""

MAX_STATE_CHARS = 256 * 1024
"""Buffers sent with more text than this are not followed (the state would be too big)."""

MAX_INDEX_CHUNKS = 5000
"""The project lookup of a renamed name reads at most this many indexed chunks."""

MAX_FILES = 50
"""A rename lists at most this many other project files that mention the old name."""

_WORD = re.compile(r"[^\W\d]\w*")


class NextEdit(Analyzer):
    """Suggests the follow-ups of a rename, an added parameter or a change to similar lines."""

    name = "next_edit"
    kind = "next_edit"
    languages = frozenset({"python"})

    def __init__(self, redis: Redis | None = None) -> None:
        super().__init__(redis)
        self._generation: bytes | str | None = None
        self._mentions: dict[str, set[str]] = {}

    def wants(self, event: Event) -> bool:
        """Edits; opens, which start a buffer's state afresh; cursor moves, which start it when
        there is none (Emacs sends no open: the text before the first edit must be known)."""
        return super().wants(event) and event.get("intent", "edit") in ("edit", "open", "cursor")

    def analyze(self, event: Event) -> list[Item] | None:
        """The follow-ups of the edit under way; None when nothing changed since the last event."""
        redis = self.redis
        if redis is None:
            return None
        key = keys.next_edit_state(str(event.get("client", "")), str(event["buffer"]))
        text, tick, first = event["text"], event["tick"], event.get("first_line", 1)
        if len(text) > MAX_STATE_CHARS:
            redis.delete(key)
            return None
        raw = redis.get(key)
        state: dict[str, Any] | None = msgpack.unpackb(raw) if raw else None
        if state is not None and tick < state["tick"]:
            return None  # another worker already took a newer event of this buffer
        if state is None or event.get("intent") == "open" or state["first"] != first:
            self._store(key, {"tick": tick, "first": first, "base": text, "prev": text, "row": -1})
            return None
        if text == state["prev"]:
            return None
        row, base = _advance(state, text)
        items = self._items(event, base, row) if row >= 0 else []
        self._store(key, {"tick": tick, "first": first, "base": base, "prev": text, "row": row,
                          "offered": bool(items)})
        # An empty result clears what the editor shows; when it shows nothing, say nothing.
        return items if items or state.get("offered") else None

    def _items(self, event: Event, base: str, row: int) -> list[Item]:
        """The follow-ups of changing line ``row`` of ``base`` into the event's text."""
        text, first = event["text"], event.get("first_line", 1)
        edits, old = follow_ups(base.split("\n")[row], text, row)
        if not edits:
            return []
        files = self._project_files(old, event.get("file", "")) if old else []
        # Line starts only: tokenizing the text again would double the cost.
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        items = []
        for edit in edits:
            r1 = bisect.bisect_right(starts, edit.start) - 1
            r2 = bisect.bisect_right(starts, edit.end) - 1
            item: Item = {
                "line": r1 + first, "col": edit.start - starts[r1],
                "end_line": r2 + first, "end_col": edit.end - starts[r2],
                "text": edit.text, "title": edit.title,
            }
            if old:
                item["files"] = files
            items.append(item)
        return items

    def _store(self, key: str, state: dict[str, Any]) -> None:
        assert self.redis is not None
        self.redis.set(key, msgpack.packb(state), px=STATE_TTL_MS)

    def _project_files(self, name: str, own: str) -> list[str]:
        """The other indexed files whose chunks mention ``name`` (the code index, read only)."""
        redis = self.redis
        assert redis is not None
        generation = redis.get(keys.CODE_GENERATION)
        if generation is None:
            return []
        if generation != self._generation:
            self._mentions = _mentions(redis)
            self._generation = generation
        return sorted(self._mentions.get(name, set()) - {own})[:MAX_FILES]


def _advance(state: dict[str, Any], text: str) -> tuple[int, str]:
    """(the row the edit under way changes or -1, the text before that edit) after ``text``."""
    prev, base = state["prev"].split("\n"), state["base"]
    new = text.split("\n")
    row = _changed_row(prev, new)
    if row is None:
        return -1, text
    if row == state["row"] and len(base.split("\n")) == len(new):
        return row, base
    return row, state["prev"]


def _changed_row(a: list[str], b: list[str]) -> int | None:
    """The one row where ``a`` and ``b`` differ when they have the same length, else None."""
    if len(a) != len(b):
        return None
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return diff[0] if len(diff) == 1 else None


def _mentions(redis: Redis) -> dict[str, set[str]]:
    """Word -> the files whose indexed chunks hold it, over at most MAX_INDEX_CHUNKS chunks."""
    ids = sorted(redis.smembers(keys.CODE_CHUNKS))[:MAX_INDEX_CHUNKS]
    pipe = redis.pipeline(transaction=False)
    for cid in ids:
        pipe.hmget(keys.code_chunk(cid.decode() if isinstance(cid, bytes) else cid), "file", "text")
    mentions: dict[str, set[str]] = {}
    for file, text in pipe.execute():
        if file is None or text is None:
            continue
        path = file.decode("utf-8", "surrogateescape")
        for word in set(_WORD.findall(text.decode("utf-8", "replace"))):
            mentions.setdefault(word, set()).add(path)
    return mentions

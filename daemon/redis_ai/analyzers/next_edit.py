"""Next-edit suggestions: after one edit, the edits that follow from it elsewhere in the buffer.

Events carry the buffer's text, not what changed, so the analyzer keeps each buffer's state in
Redis (``keys.next_edit_state``: bounded, with a TTL), where every worker process of the group
sees it. What it compares is the text before the current *edit* (the base) against the text
now: an edit is the run of events that change one and the same line (typing ``bar`` over
``foo`` sends ``fo``, ``b``, ``ba``, ``bar``...), so ``foo -> bar`` is recognised, not
``ba -> bar``. An edit on another line (accepting a suggestion, say) starts the next one, whose
follow-ups are what is still left to do. _edit_patterns.py recognises the patterns; this module
holds the state and shapes the items.

The latest text is always the base with at most the edit's line changed, so the state is that
line and the base; the base (the only big part) is written only when an edit starts, and each
process keeps the last bases it saw, with their lines and strings-and-comments mask, under the
base's hash: while one edit goes on, an event reads and writes a few hundred bytes. A process
that has not seen the base (another worker took the previous events) reads it from Redis.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack
from redis.exceptions import ResponseError

from .. import keys
from ._edit_patterns import Buffer, Mask, follow_ups
from .base import Analyzer, Event, Item

if TYPE_CHECKING:
    from redis import Redis

STATE_TTL_MS = 15 * 60 * 1000
"""How long a buffer's state is kept after its last event."""

MAX_STATE_CHARS = 256 * 1024
"""Buffers sent with more text than this are not followed (the state would be too big)."""

MAX_INDEX_CHUNKS = 5000
"""The project lookup of a renamed name reads at most this many indexed chunks."""

MAX_FILES = 50
"""A rename lists at most this many other project files that mention the old name."""

CACHED_BASES = 32
"""How many buffers' bases a process keeps (least recently used first out)."""

_WORD = re.compile(r"[^\W\d]\w*")


@dataclass(slots=True)
class _Base:
    """A buffer's text before the edit under way, as this process last saw it."""

    id: str
    text: str
    lines: list[str]
    mask: Mask | None = None

    @classmethod
    def of(cls, text: str, lines: list[str] | None = None) -> _Base:
        return cls(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest(),
                   text, text.split("\n") if lines is None else lines)

    def offset(self, row: int) -> int:
        """Character offset of the start of line ``row``."""
        return sum(len(line) + 1 for line in self.lines[:row])

    def masked(self) -> Mask:
        """The strings and comments of the base, scanned once."""
        if self.mask is None:
            self.mask = Mask.of(self.text)
        return self.mask

    def with_line(self, row: int, line: str) -> _Base:
        """This base with line ``row`` replaced (the mask carried over when there is one)."""
        lines = self.lines[:row] + [line] + self.lines[row + 1:]
        new = _Base.of("\n".join(lines), lines)
        if self.mask is not None:
            lo = self.offset(row)
            new.mask = self.mask.spliced(lo, lo + len(self.lines[row]), line)
        return new


class NextEdit(Analyzer):
    """Suggests the follow-ups of a rename, an added parameter or a change to similar lines."""

    name = "next_edit"
    kind = "next_edit"
    languages = frozenset({"python"})

    def __init__(self, redis: Redis | None = None) -> None:
        super().__init__(redis)
        self._generation: bytes | str | None = None
        self._mentions: dict[str, set[str]] = {}
        self._bases: OrderedDict[str, _Base] = OrderedDict()

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
            self._bases.pop(key, None)
            return None
        try:
            raw = redis.hget(key, "state")
        except ResponseError:  # the string an older version kept there
            redis.delete(key)
            raw = None
        state: dict[str, Any] | None = msgpack.unpackb(raw) if raw else None
        if state is not None and tick < state["tick"]:
            return None  # another worker already took a newer event of this buffer
        base = None
        if state is not None and event.get("intent") != "open" and state["first"] == first:
            base = self._base(key, state["base"])
        if base is None or state is None:
            self._store(key, _Base.of(text), {"tick": tick, "first": first, "row": -1, "line": ""},
                        new_base=True)
            return None
        lines = text.split("\n")
        row, new_base = _advance(base, state["row"], state["line"], text, lines)
        if row is None:
            return None  # the same text as the last event
        if new_base is not None:
            base = new_base
        items = self._items(event, base, lines, row) if row >= 0 else []
        self._store(key, base, {"tick": tick, "first": first, "row": row,
                                "line": lines[row] if row >= 0 else "", "offered": bool(items)},
                    new_base=new_base is not None)
        # An empty result clears what the editor shows; when it shows nothing, say nothing.
        return items if items or state.get("offered") else None

    def _base(self, key: str, base_id: str) -> _Base | None:
        """The base ``base_id`` of ``key``: this process's copy, else Redis's; None if gone."""
        cached = self._bases.get(key)
        if cached is not None and cached.id == base_id:
            self._bases.move_to_end(key)
            return cached
        assert self.redis is not None
        raw = self.redis.hget(key, "base")
        if raw is None:
            return None
        stored_id, text = msgpack.unpackb(raw)
        if stored_id != base_id:
            return None  # two workers raced on this buffer: start again from this event
        return self._remember(key, _Base(stored_id, text, text.split("\n")))

    def _remember(self, key: str, base: _Base) -> _Base:
        self._bases[key] = base
        self._bases.move_to_end(key)
        while len(self._bases) > CACHED_BASES:
            self._bases.popitem(last=False)
        return base

    def _items(self, event: Event, base: _Base, lines: list[str], row: int) -> list[Item]:
        """The follow-ups of changing line ``row`` of ``base`` into the event's ``lines``."""
        text, first = event["text"], event.get("first_line", 1)

        def mask() -> Mask | None:
            lo = buf.starts[row]  # the lines above ``row`` are the base's
            return base.masked().spliced(lo, lo + len(base.lines[row]), lines[row])

        buf = Buffer(text, lines, mask)
        edits, old = follow_ups(base.lines[row], buf, row)
        if not edits:
            return []
        files = self._project_files(old, event.get("file", "")) if old else []
        items = []
        for edit in edits:
            r1, r2 = buf.row_of(edit.start), buf.row_of(edit.end)
            item: Item = {
                "line": r1 + first, "col": edit.start - buf.starts[r1],
                "end_line": r2 + first, "end_col": edit.end - buf.starts[r2],
                "text": edit.text, "title": edit.title,
            }
            if old:
                item["files"] = files
            items.append(item)
        return items

    def _store(self, key: str, base: _Base, state: dict[str, Any], new_base: bool) -> None:
        """Write the state (and the base when it is new) in one transaction, refresh the TTL."""
        assert self.redis is not None
        fields: dict[str, bytes] = {"state": msgpack.packb({**state, "base": base.id})}
        if new_base:
            fields["base"] = msgpack.packb((base.id, base.text))
            self._remember(key, base)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.pexpire(key, STATE_TTL_MS)
        pipe.execute()

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


def _advance(base: _Base, row: int, line: str, text: str,
             new: list[str]) -> tuple[int | None, _Base | None]:
    """(the row the edit under way changes, -1 if none, None if nothing changed; the new base
    when one starts) after ``text`` (its lines ``new``), the last text being ``base`` with line
    ``row`` (-1: none) set to ``line``."""
    old = base.lines
    if len(old) != len(new):
        return -1, _Base.of(text, new)
    diff = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b and i != row]
    if row >= 0 and new[row] != line:
        diff.append(row)
    if not diff:
        return None, None
    if len(diff) > 1:
        return -1, _Base.of(text, new)
    if diff[0] == row:
        return row, None
    return diff[0], base.with_line(row, line) if row >= 0 else None


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

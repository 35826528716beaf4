"""Whole lines of the learned files, kept in Redis for completing a line from what is typed.

A line is kept stripped of its indentation. Three kinds of keys, all under the n-gram model's
hash tag, so one MULTI/EXEC learns a file's n-grams and lines together:

* ``keys.ngram_after(language, hash(context))``: a sorted set of the lines that followed one
  (non-blank) line at one change of indentation, scored by how often; and the same for the
  longer context of the two lines before;
* ``keys.ngram_line_counts(language)``: a hash of line -> occurrences;
* ``keys.ngram_lines(language)``: the same lines in a sorted set all scored 0, so the lines
  starting with a typed prefix are one ZRANGEBYLEX.

Counts are applied as differences (old text -> new text) like the n-grams', so the tables
always equal the files as they are now.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from .. import keys
from ..store.scripts import queue_eval

if TYPE_CHECKING:
    from redis import Redis

MAX_LINE_CHARS = 200
"""Longer lines (data, long strings) are never proposed whole, so they are not kept."""
AFTER_TOP = 300
"""How many of the most frequent followers of a line are read at each lookup."""
PREFIX_TOP = 48
"""Lines starting with the typed prefix read from the whole project; when more distinct lines
start with it, the project-wide table says too little to be used."""


def strip(line: str) -> str:
    """A line as the tables keep it: no indentation, no trailing blanks."""
    return line.strip()


def line_hash(line: str) -> str:
    """Short hash of a stripped line, naming the set of lines that followed it."""
    return hashlib.blake2b(line.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def indent(line: str) -> int:
    """Width of a line's indentation, in characters."""
    return len(line) - len(line.lstrip(" \t"))


def context(prev: str, shift: int) -> str:
    """What a line is looked up by: the previous non-blank line (stripped) and the change of
    indentation from it, which says much of what can come (a body, a dedent, a sibling)."""
    return f"{shift:+d}\x1f{prev}"


def pairs(text: str) -> list[tuple[str, str, str]]:
    """(context, longer context, line) for every non-blank line of ``text``, the line stripped;
    the longer context also holds the line before the previous one. Before the first line
    there are empty lines."""
    out = []
    prev2, prev, width = "", "", 0
    for raw in text.split("\n"):
        line = strip(raw)
        if line:
            here = indent(raw)
            out.append((context(prev, here - width), context2(prev2, prev, here - width), line))
            prev2, prev, width = prev, line, here
    return out


def context2(prev2: str, prev: str, shift: int) -> str:
    """``context`` with the line before the previous one too: sharper, seen less often."""
    return f"{shift:+d}\x1f{prev2}\x1e{prev}"


def last(text: str) -> tuple[str, str, int]:
    """The last two non-blank lines of ``text`` (stripped, the last one second) and the last
    one's indentation; '' and 0 for lines that are not there."""
    found: list[tuple[str, int]] = []
    end = len(text)
    while end > 0 and len(found) < 2:
        start = text.rfind("\n", 0, end) + 1
        raw = text[start:end]
        if raw.strip():
            found.append((strip(raw), indent(raw)))
        end = start - 1
    found += [("", 0)] * (2 - len(found))
    return found[1][0], found[0][0], found[0][1]


@dataclass
class LineCounts:
    """The line tables' counts for one text."""

    after: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(hash of the line's context, line) -> occurrences."""
    lines: Counter[str] = field(default_factory=Counter)


def count(text: str) -> LineCounts:
    """The counts learning ``text`` adds to the line tables."""
    counts = LineCounts()
    for ctx, ctx2, line in pairs(text):
        if len(line) <= MAX_LINE_CHARS:
            counts.after[(line_hash(ctx), line)] += 1
            counts.after[(line_hash(ctx2), line)] += 1
            counts.lines[line] += 1
    return counts


# A count that reaches zero removes the line from the lex index too: it occurs nowhere now.
_APPLY_LINES = """
for i = 1, #ARGV, 2 do
  local delta = tonumber(ARGV[i + 1])
  local n = redis.call('HINCRBY', KEYS[1], ARGV[i], delta)
  if n <= 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
  elseif n == delta then
    redis.call('ZADD', KEYS[2], 0, ARGV[i])
  end
end
return #ARGV / 2
"""
_BATCH = 4000


def apply(pipe: Any, language: str, new: LineCounts, old: LineCounts,
          apply_counts: Any) -> None:
    """Queue on ``pipe`` the changes from ``old`` to ``new``; ``apply_counts(pipe, key_of,
    new, old)`` is the n-gram model's sorted-set updater, reused for the followers' sets."""
    apply_counts(pipe, lambda h: keys.ngram_after(language, h), new.after, old.after)
    args: list[str | int] = []
    names = [keys.ngram_line_counts(language), keys.ngram_lines(language)]
    for line in new.lines.keys() | old.lines.keys():
        delta = new.lines.get(line, 0) - old.lines.get(line, 0)
        if delta:
            args += (line, delta)
            if len(args) == 2 * _BATCH:
                queue_eval(pipe, _APPLY_LINES, names, args)
                args = []
    if args:
        queue_eval(pipe, _APPLY_LINES, names, args)


@dataclass
class Found:
    """What the tables know of the lines that could complete a typed prefix."""

    after: dict[str, float]
    """Lines seen in the same context that start with the prefix -> count."""
    after2: dict[str, float]
    """The same in the longer context."""
    anywhere: dict[str, float]
    """Lines anywhere that start with the prefix -> count (empty when too many do)."""
    distinct: int
    """How many distinct learned lines start with the prefix."""


# One round trip: the previous line's followers that start with the prefix, and the lines of
# the whole project that do, with their counts, unless too many do.
_LOOKUP = """
local prefix = ARGV[1]
local n = #prefix
local function followers(key)
  local out = {}
  local top = redis.call('ZREVRANGE', key, 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
  for i = 1, #top, 2 do
    if string.sub(top[i], 1, n) == prefix then
      out[#out + 1] = top[i]
      out[#out + 1] = top[i + 1]
    end
  end
  return out
end
local after = followers(KEYS[1])
local after2 = followers(KEYS[4])
local anywhere = {}
local distinct = 0
if n > 0 then
  distinct = redis.call('ZLEXCOUNT', KEYS[2], '[' .. prefix, '[' .. prefix .. '\\255')
  if distinct <= tonumber(ARGV[3]) then
    local found = redis.call('ZRANGEBYLEX', KEYS[2], '[' .. prefix, '[' .. prefix .. '\\255')
    if #found > 0 then
      local counts = redis.call('HMGET', KEYS[3], unpack(found))
      for i = 1, #found do
        anywhere[#anywhere + 1] = found[i]
        anywhere[#anywhere + 1] = counts[i] or '0'
      end
    end
  end
end
return {after, anywhere, distinct, after2}
"""


def lookup(redis: Redis, language: str, ctx: str, ctx2: str, prefix: str) -> Found:
    """The learned lines in contexts ``ctx`` and ``ctx2`` and anywhere that start with
    ``prefix``."""
    names = [keys.ngram_after(language, line_hash(ctx)), keys.ngram_lines(language),
             keys.ngram_line_counts(language), keys.ngram_after(language, line_hash(ctx2))]
    args: list[str | int] = [prefix, AFTER_TOP, PREFIX_TOP]
    try:
        reply = redis.evalsha(_LOOKUP_SHA, 4, *names, *args)
    except NoScriptError:
        reply = redis.eval(_LOOKUP, 4, *names, *args)
    after, anywhere, distinct, after2 = reply
    return Found(_pairs(after), _pairs(after2), _pairs(anywhere), int(distinct))


_LOOKUP_SHA = hashlib.sha1(_LOOKUP.encode()).hexdigest()


def _pairs(flat: list[Any]) -> dict[str, float]:
    return {_text(flat[i]): float(flat[i + 1]) for i in range(0, len(flat), 2)}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

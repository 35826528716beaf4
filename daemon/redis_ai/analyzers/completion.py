"""Ghost-text completion at the cursor: the routed LLM when one is configured, else the offline
model learned from the user's own files (models/offline.py: whole lines and n-grams), which
needs no network and offers only what it is likely to get exactly right.

Whole-buffer ``open`` and ``save`` events teach the n-gram model the file as it is now. Typing
(``edit``) and ``request`` events ask for a completion. An LLM request is cancelled as soon as
a newer event for the same client and buffer appears in the event stream (whichever worker
process reads it), and when every LLM fails the n-gram model answers instead.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import msgpack

from .. import analytics, keys
from ..models import ngram, offline, registry, routing
from ..models.providers import Cancel, Cancelled, Request, retrieval
from ..models.providers.base import Superseder, clean_completion
from .base import Analyzer, Event, Item

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

LOCAL_MODEL = registry.Model(
    id="ngram", kind="local", provider="ngram", capabilities=["completion"], timeout_ms=50,
)
"""The n-gram completer's entry in the model registry, where its latency is measured too."""

CLOSERS = frozenset(")]}'\"`:;, \t")
"""Text after the cursor made only of these (an electric pair's closer, say) still gets a
completion; anything else means the cursor is inside a line and ghost text would cover it."""

MAX_LINES = 8
"""An LLM's completion is cut after this many lines, or at its first blank line."""

OFFER_TTL_MS = 60_000
"""How long the last offer to a buffer is kept for type-through."""

WATCH_INTERVAL_S = 0.1
"""How often an LLM request checks the event stream for a newer event of its buffer."""


class Completion(Analyzer):
    """Completes the current line (LLM: the line or block) at the cursor of edit events."""

    name = "completion"
    kind = "completion"

    def __init__(self, redis: Redis | None = None) -> None:
        super().__init__(redis)
        self._superseder = Superseder()
        self._registered = False

    def wants(self, event: Event) -> bool:
        """Typing, explicit requests, and whole-buffer opens and saves (to learn from)."""
        if not super().wants(event) or not event.get("language"):
            return False
        intent = event.get("intent", "edit")
        return intent in ("edit", "request") or (intent in ("open", "save") and bool(event.get("whole")))

    def analyze(self, event: Event) -> list[Item] | None:
        """Learn from opens and saves (publishing nothing); complete at the cursor otherwise."""
        redis = self.redis
        if redis is None:
            return None
        language = event["language"]
        if event.get("intent") in ("open", "save"):
            if event.get("file") and len(event["text"]) <= ngram.MAX_FILE_BYTES:
                # The same file learned by `redis-ai learn` is known by its resolved path.
                path = os.path.realpath(event["file"])
                ngram.learn_text(redis, language, path, event["text"])
            return None
        split = cursor_split(event)
        if split is None:
            return None
        before, after = split
        rest = after.split("\n", 1)[0]
        offer_key = keys.completion_offer(str(event.get("client", "")), str(event["buffer"]))
        head = before[before.rfind("\n") + 1:]
        if not set(rest) <= CLOSERS:
            redis.delete(offer_key)
            return []
        text = typed_through(redis.get(offer_key), event["line"], head)
        if text is None:
            text = self._from_llm(redis, event, before, after)
            if text is None:
                return None
            if not text:
                text = self._from_ngram(redis, language, before)
        closer = rest.strip()
        if closer and closer in text:
            # Ghost text sits before the closer already in the buffer: show up to it.
            text = text[: text.index(closer)]
        if not text.strip():
            redis.delete(offer_key)
            return []
        offer = {"line": event["line"], "head": head, "text": text}
        redis.set(offer_key, msgpack.packb(offer), px=OFFER_TTL_MS)
        return [{"text": text, "line": event["line"], "col": event["col"]}]

    def _from_ngram(self, redis: Redis, language: str, before: str) -> str:
        if not self._registered:
            registry.ensure(redis, LOCAL_MODEL)
            self._registered = True
        started = time.perf_counter()
        text = offline.complete(redis, language, before)
        elapsed = (time.perf_counter() - started) * 1000
        pipe = redis.pipeline(transaction=False)
        registry.record(pipe, LOCAL_MODEL.id, True, elapsed)
        analytics.record_model_call(pipe, LOCAL_MODEL.id, elapsed, True, time.time())
        pipe.execute()
        return text

    def _from_llm(self, redis: Redis, event: Event, before: str, after: str) -> str | None:
        """The LLM's completion; '' when there is none (no model, all failed); None if superseded."""
        models = routing.ranked(redis, "completion", cooling=False)
        if not models:
            # No LLM, or only ones that keep failing: do not make every keystroke wait on them.
            return ""
        if newer_event(redis, event)[0]:
            return None
        # The nearest chunks of the code index, for the models whose prompt carries them.
        extra = retrieval.retrieve(redis, event, before, after) if retrieval.wanted(models) else []
        key = (str(event.get("client", "")), str(event["buffer"]))
        cancel = self._superseder.begin(key)
        watch = StreamWatch(redis, event, cancel)
        request = Request(prefix=before, suffix=after, language=event["language"],
                          path=event.get("file", ""), extra=extra, stop=_enough, cancel=cancel)
        try:
            routed = routing.route(redis, "completion", request)
        except Cancelled:
            return None
        except routing.NoModel as exc:
            log.info("completion: %s; answering from the n-gram model (%s)", exc, exc.errors)
            return ""
        finally:
            watch.stop()
            self._superseder.end(key, cancel)
        return _trim(clean_completion(routed.reply.text, before))


def typed_through(stored: Any, line: int, head: str) -> str | None:
    """The rest of the last offer when the user has typed its start since, else None.

    ``head`` is the cursor's line up to the cursor. Both editors keep ghost text while the
    user types what it shows, but redraw from the daemon's answer to the newer edit: the
    answer must then be the rest of the same offer, not a new guess or nothing.
    """
    if not isinstance(stored, bytes):
        return None
    try:
        offer = msgpack.unpackb(stored)
        old_head, text = str(offer["head"]), str(offer["text"])
        same_line = offer["line"] == line
    except (ValueError, KeyError, TypeError):
        return None
    typed = head[len(old_head):]
    if same_line and head.startswith(old_head) and typed and len(typed) < len(text) \
            and text.startswith(typed):
        return text[len(typed):]
    return None


def cursor_split(event: Event) -> tuple[str, str] | None:
    """The event's text before and after the cursor, or None if the cursor is outside it."""
    lines = event["text"].split("\n")
    row = event["line"] - event.get("first_line", 1)
    if not 0 <= row < len(lines):
        return None
    line = lines[row]
    col = min(event["col"], len(line))
    before = "\n".join([*lines[:row], line[:col]])
    after = "\n".join([line[col:], *lines[row + 1:]])
    return before, after


def _enough(text: str) -> bool:
    body = text.lstrip("\n")
    return "\n\n" in body or body.count("\n") >= MAX_LINES


def _trim(text: str) -> str:
    body = text.split("\n\n", 1)[0]
    return "\n".join(body.split("\n")[:MAX_LINES]).rstrip()


def _is_newer(mine: Event, other: dict[Any, Any]) -> bool:
    def field(name: str) -> Any:
        value = other.get(name, other.get(name.encode()))
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    return (field("client") == mine.get("client", "") and field("buffer") == mine["buffer"]
            and (field("tick") or 0) >= mine["tick"])


def newer_event(redis: Any, event: Event, after: str = "", page: int = 500) -> tuple[bool, str]:
    """Whether the stream holds an event for the same client and buffer later than ``event``.

    Reads the entries after ``after`` (default: from the event's own entry, whose later events
    count too) and returns the id of the last entry read, so a caller that polls reads each
    entry once. Entries hold arrays of events (ingest/writer.py); event ids are ``entry#index``.
    """
    # An event on shard i > 0 has the id ``entry#index@i``; the same client and buffer always map
    # to the same shard (ingest/writer.py), so a newer event is on that shard's stream.
    base, _, shard = (event.get("id") or "").partition("@")
    stream = keys.events(int(shard)) if shard.isdigit() else keys.EVENTS
    own_entry, _, own_index = base.partition("#")
    start = after or own_entry
    if not start:
        return False, ""
    inclusive = not after
    while True:
        entries = redis.xrange(stream, start if inclusive else f"({start}", "+", count=page)
        inclusive = False
        for entry_id, fields in entries:
            start = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            raw = fields.get(b"e") or fields.get("e")
            try:
                others = msgpack.unpackb(raw) if isinstance(raw, bytes) else None
            except ValueError:
                continue
            skip = int(own_index or 0) if start == own_entry else -1
            for index, other in enumerate(others if isinstance(others, list) else []):
                if index > skip and isinstance(other, dict) and _is_newer(event, other):
                    return True, start
        if len(entries) < page:
            return False, start


class StreamWatch:
    """Cancels a request when a newer event for its buffer reaches the stream.

    Worker processes share nothing but Redis, and the newer event may go to another consumer
    of the group, so the stream itself is what says a request is superseded.
    """

    def __init__(self, redis: Any, event: Event, cancel: Cancel) -> None:
        self.redis = redis
        self.event = event
        self.cancel = cancel
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if event.get("id"):
            self._thread = threading.Thread(target=self._run, name="completion-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        seen = ""
        while not self._done.wait(WATCH_INTERVAL_S):
            try:
                found, seen = newer_event(self.redis, self.event, seen)
                if found:
                    self.cancel.cancel()
                    return
            except Exception:  # a Redis hiccup must not kill the request it watches
                log.debug("completion: stream watch failed", exc_info=True)

    def stop(self) -> None:
        """End the watch (the request finished)."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(1.0)

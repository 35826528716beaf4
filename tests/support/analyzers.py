"""Analyzers that exist only for tests: they publish known results through the real path
(stream, consumer group, pub/sub), so editor rendering and accepting can be tested for real."""

from __future__ import annotations

import os
import time

from redis_ai.analyzers.base import Analyzer, Event, Item

COMPLETION = "alpha beta gamma\ndelta epsilon"


class FixedCompletion(Analyzer):
    """Offers COMPLETION (or $REDIS_AI_TEST_COMPLETION) at the cursor of every Python event."""

    name = "fixed_completion"
    kind = "completion"
    languages = frozenset({"python"})

    def analyze(self, event: Event) -> list[Item] | None:
        text = os.environ.get("REDIS_AI_TEST_COMPLETION", COMPLETION)
        return [{"text": text, "line": event["line"], "col": event["col"]}]


class Slow(Analyzer):
    """Takes 300 ms per event, to make results arrive after newer edits (stale-drop tests)."""

    name = "slow"
    kind = "hints"

    def analyze(self, event: Event) -> list[Item] | None:
        time.sleep(0.3)
        return [{"line": event["line"], "col": 0, "end_line": event["line"], "end_col": 1,
                 "message": f"slow hint for tick {event['tick']}", "code": "SLOW"}]


class Poison(Analyzer):
    """Raises on events whose text contains POISON: they must end in the dead-letter stream."""

    name = "poison"
    kind = "diagnostics"

    def analyze(self, event: Event) -> list[Item] | None:
        if "POISON" in event["text"]:
            raise RuntimeError("poisoned event")
        return []


class Counting(Analyzer):
    """Counts how often each event is processed (HINCRBY by stream id), a millisecond each."""

    name = "counting"
    kind = "hints"
    KEY = "redis-ai:test:processed"

    def analyze(self, event: Event) -> list[Item] | None:
        assert self.redis is not None
        time.sleep(0.001)
        self.redis.hincrby(self.KEY, event["id"], 1)
        return None

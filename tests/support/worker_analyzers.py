"""Analyzers for the worker fault tests: they count what they analyse, so a test can tell an
event analysed twice from one analysed once, and one ends its runner thread."""

from __future__ import annotations

import os
import time

from redis_ai.analyzers.base import Analyzer, Event, Item


class SlowTally(Analyzer):
    """Counts each analysis by event id (HINCRBY), taking $REDIS_AI_TEST_DELAY_MS (25) each."""

    name = "slow_tally"
    kind = "hints"
    KEY = "redis-ai:test:tally"

    def analyze(self, event: Event) -> list[Item] | None:
        assert self.redis is not None
        time.sleep(int(os.environ.get("REDIS_AI_TEST_DELAY_MS", "25")) / 1000)
        self.redis.hincrby(self.KEY, event["id"], 1)
        return None


class Exits(Analyzer):
    """Calls sys.exit on the first event, which ends the runner thread that called it."""

    name = "exits"
    kind = "hints"

    def analyze(self, event: Event) -> list[Item] | None:
        raise SystemExit(3)

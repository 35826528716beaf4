"""The analyzers that run the stored Lisp programs: ``lisp`` (diagnostics) and ``lisp_hints``.

A result carries one kind, and each editor keeps one result per analyzer and kind, so the
programs are split by the ``kind`` in their metadata between two analyzers (two consumer
groups) that share this code. Each runs, for every event, every program of its kind that
defines ``analyze`` and applies to the event's language, and returns the union of their items.

Programs change while the daemon runs: the analyzer reads the version counter (one GET) on the
first event of every batch the runner reads from the stream, and at most every ``CHECK_S`` in
between, and reloads every program when it moved. Nothing else is read per event. The check per
batch is what makes a define count at once: an event written after a define is read after it,
so it never meets the programs from before (a timer alone would let an edit that follows a
define within ``CHECK_S`` be analysed by the old programs, with nothing to correct it later).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

import redis as redis_errors

from ..analyzers.base import Analyzer, Event, Item
from . import store
from .data import LispError
from .eval import FUEL
from .program import Program, compile_library, error_item, run_program

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

CHECK_S = 0.1
"""How often, at most, the version counter is read within one batch, or by a caller that
analyses events itself (the MCP server, the benchmarks) rather than through a runner."""
EVENT_FUEL = 1_000_000
"""Steps all the programs together may take on one event (each also has its own FUEL): past
it the remaining programs are skipped, each with an error item, so a slow set of programs
delays an event by about a second at most."""


class LispDiagnostics(Analyzer):
    """Runs the stored programs of kind ``diagnostics``."""

    name = "lisp"
    kind = "diagnostics"
    check_s: ClassVar[float] = CHECK_S

    def __init__(self, redis: Redis | None = None) -> None:
        super().__init__(redis)
        self.version = -1
        self.programs: list[Program] = []
        self.had_programs = False
        self._next_check = 0.0

    def batch_read(self) -> None:
        """The batch just read may hold events written after a define: the next event reads the
        version counter whatever ``check_s`` says."""
        self._next_check = 0.0

    def refresh(self) -> None:
        """Reload the programs if their version moved (read on a new batch, else at most every
        ``check_s``)."""
        now = time.monotonic()
        if self.redis is None or now < self._next_check:
            return
        self._next_check = now + self.check_s
        try:
            if store.version(self.redis) == self.version:
                return
            version, library = store.library(self.redis)
        except redis_errors.RedisError as exc:
            log.warning("%s: cannot read the stored programs (%s); keeping the loaded ones",
                        self.name, exc)
            return
        programs = [p for p in compile_library(library) if p.kind == self.kind]
        self.version, self.programs = version, programs
        self.had_programs = self.had_programs or bool(programs)
        log.info("%s: loaded programs version %d: %s", self.name, version,
                 ", ".join(p.name + (" (broken)" if p.error else "") for p in programs) or "none")

    def analyze(self, event: Event) -> list[Item] | None:
        """The union of the items of every program that applies; None until a program of this
        kind has existed (so an unused analyzer publishes nothing), [] after one was removed."""
        self.refresh()
        if not self.programs:
            return [] if self.had_programs else None
        language = event.get("language", "")
        cache: dict[str, Any] = {}
        items: list[Item] = []
        for program in self.programs:
            if not program.applies_to(language):
                continue
            left = EVENT_FUEL - cache.get("steps", 0)
            if left <= 0:
                items.append(error_item(LispError(
                    f"skipped: the programs before it spent this event's {EVENT_FUEL} steps",
                    kind="fuel", program=program.name), self.kind, program.name, event))
                continue
            items += run_program(program, event, cache, fuel=min(FUEL, left))
        return items


class LispHints(LispDiagnostics):
    """Runs the stored programs of kind ``hints``."""

    name = "lisp_hints"
    kind = "hints"

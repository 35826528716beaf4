"""The consumer-group runner: feeds one analyzer from the event stream with at-least-once delivery.

Lifecycle: ``ensure_group`` -> loop { reclaim idle entries of dead consumers; XREADGROUP new
entries; analyze; PUBLISH result then XACK, in one pipeline } -> ``stop`` finishes the batch in hand.

Each stream entry holds a msgpack array of one or more events (ingest/writer.py). An entry is
acknowledged only after the results of all its events are published, so a worker that dies
mid-batch leaves its entries pending; another consumer claims them once they have been idle for
``claim_idle_ms``. Events that keep failing (an analyzer that raises on them, or that crashes
the process) move to the dead-letter stream after ``max_deliveries`` deliveries.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import msgpack
import msgspec
import redis

from .. import analytics, keys
from ..analyzers.base import Analyzer
from ..schema import result

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes] | None]

decode_entry = msgspec.msgpack.decode
"""An entry's ``e`` -> its events as plain maps (msgspec decodes twice as fast as msgpack)."""


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class GroupRunner:
    """Runs ``analyzer`` as consumer ``consumer`` of the group named after it."""

    def __init__(
        self,
        client: redis.Redis,
        analyzer: Analyzer,
        consumer: str,
        *,
        batch: int = 32,
        block_ms: int = 500,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 3,
    ) -> None:
        self.client = client
        self.analyzer = analyzer
        self.group = keys.group(analyzer.name)
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.processed = 0
        self.failed = 0
        self.dead = 0
        self._stop = threading.Event()
        self._next_claim = 0.0
        # Where a re-created group starts: after the newest entry this runner has seen, so
        # events appended between the loss of the group and its re-creation are not skipped.
        self._last_id = f"{int(time.time() * 1000)}-0"

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_group(self, start: str = "$") -> None:
        """Create the group (and the stream) if missing; new groups start at new events."""
        try:
            self.client.xgroup_create(keys.EVENTS, self.group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self) -> None:
        """Loop until ``stop``; survives Redis restarts and a deleted stream or group."""
        backoff = 0.05
        while not self._stop.is_set():
            try:
                self.step()
                backoff = 0.05
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    log.warning("%s: group or stream vanished; recreating it", self.group)
                    self._retry(lambda: self.ensure_group(self._last_id))
                else:
                    log.exception("%s: unexpected reply", self.group)
                    self._stop.wait(backoff)
            except redis.RedisError as exc:
                log.warning("%s: redis unavailable (%s); retrying", self.group, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def stop(self) -> None:
        """Ask the loop to end after the batch in hand (whose entries are then acknowledged)."""
        self._stop.set()

    def _retry(self, fn: Any) -> None:
        try:
            fn()
        except redis.RedisError:
            self._stop.wait(0.2)

    # -- one iteration ---------------------------------------------------------------------
    def step(self) -> int:
        """Reclaim stale entries when due, then read and process one batch of new ones."""
        done = 0
        now = time.monotonic()
        if now >= self._next_claim:
            self._next_claim = now + max(self.claim_idle_ms / 2000, 0.05)
            done += self.reclaim()
        reply: Any = self.client.xreadgroup(
            self.group, self.consumer, {keys.EVENTS: ">"}, count=self.batch, block=self.block_ms
        )
        if reply:
            done += self.process(reply[0][1])
        return done

    def reclaim(self) -> int:
        """Take over entries idle past ``claim_idle_ms``; dead-letter those delivered too often.

        An entry delivered ``max_deliveries - 1`` times gets a last try in which each failing
        event goes to the dead-letter stream on its own and the entry is acknowledged. One
        delivered ``max_deliveries`` times or more crashed its worker even on that last try:
        it goes to the dead-letter stream whole, without running again.
        """
        pending: Any = self.client.xpending_range(
            keys.EVENTS, self.group, min="-", max="+", count=self.batch, idle=self.claim_idle_ms
        )
        retry: list[Any] = []
        last: list[Any] = []
        done = 0
        for p in pending:
            deliveries = p["times_delivered"]
            if deliveries >= self.max_deliveries:
                self._dead_letter(p["message_id"], deliveries, "delivery limit reached")
                done += 1
            elif deliveries == self.max_deliveries - 1:
                last.append(p["message_id"])
            else:
                retry.append(p["message_id"])
        for ids, last_try in ((retry, False), (last, True)):
            if ids:
                claimed: Any = self.client.xclaim(
                    keys.EVENTS, self.group, self.consumer, self.claim_idle_ms, ids)
                if len(claimed) < len(ids):
                    self._count_trimmed(set(ids) - {entry_id for entry_id, _ in claimed})
                done += self.process(claimed, last_try=last_try)
        return done

    def _count_trimmed(self, missing: set[bytes]) -> None:
        """Count pending entries that the stream's trimming removed before they were analyzed.

        XCLAIM leaves out an entry that another consumer took first, and (Redis >= 7) one that
        no longer exists, which it also drops from the pending list: those are lost events,
        so they are counted (``trimmed:<analyzer>``) and logged rather than vanishing quietly.
        """
        pipe = self.client.pipeline(transaction=False)
        for entry_id in missing:
            pipe.xrange(keys.EVENTS, entry_id, entry_id)
        gone = sum(1 for found in pipe.execute() if not found)
        if gone:
            log.warning("%s: %d pending entries were trimmed before they were analyzed; "
                        "raise --stream-max-mb or add workers", self.group, gone)
            self.client.hincrby(keys.COUNTERS, f"trimmed:{self.analyzer.name}", gone)

    def process(self, entries: list[Entry], last_try: bool = False) -> int:
        """Analyze the events of ``entries``, publish each result, then acknowledge the entries,
        all in one round trip. Returns the number of entries acknowledged."""
        if not entries:
            return 0
        self._last_id = max(self._last_id, entries[-1][0].decode(), key=_id_key)
        pipe = self.client.pipeline(transaction=False)
        acks: list[bytes] = []
        samples: list[tuple[float, bool]] = []
        for entry_id, fields in entries:
            if not fields or b"e" not in fields:
                acks.append(entry_id)  # deleted while pending (Redis < 7 still returns those)
                continue
            try:
                events = decode_entry(fields[b"e"])
                if not isinstance(events, list):
                    raise ValueError("not an array of events")
            except Exception as exc:  # noqa: BLE001 - msgpack raises several unrelated types
                self._dead_letter(entry_id, 1, f"undecodable entry: {exc}", fields[b"e"])
                continue
            failed = self._analyze(entry_id.decode(), events, pipe, samples)
            if failed and not last_try:
                continue  # left pending: reclaim retries it
            for event, why in failed:
                self._dead_letter(entry_id, self.max_deliveries, why, msgpack.packb([event]), pipe)
            acks.append(entry_id)
        analytics.record_analyses(pipe, self.analyzer.name, samples, time.time())
        if acks:
            pipe.xack(keys.EVENTS, self.group, *acks)
        pipe.execute()
        self.processed += len(acks)
        return len(acks)

    def _analyze(
        self, entry_id: str, events: list[Any], pipe: Any, samples: list[tuple[float, bool]],
    ) -> list[tuple[Any, str]]:
        """Run the analyzer on each event of one entry, queueing results; return the failures."""
        failed = []
        for index, event in enumerate(events):
            if not isinstance(event, dict) or not self.analyzer.wants(event):
                continue
            event_id = f"{entry_id}#{index}"
            event["id"] = event_id
            started = time.perf_counter()
            try:
                items = self.analyzer.analyze(event)
            except Exception as exc:
                log.exception("%s failed on %s", self.group, event_id)
                self.failed += 1
                samples.append(((time.perf_counter() - started) * 1000, False))
                failed.append((event, f"{type(exc).__name__}: {exc}"))
                continue
            elapsed = (time.perf_counter() - started) * 1000
            samples.append((elapsed, True))
            if items is not None:
                res = result(event, event_id, self.analyzer.name, self.analyzer.kind, items, elapsed)
                pipe.publish(keys.results_channel(event.get("client", "")), msgpack.packb(res))
        return failed

    def _dead_letter(
        self, entry_id: bytes | str, deliveries: int, why: str,
        events: bytes | None = None, pipe: Any = None,
    ) -> None:
        """Copy events (default: the whole entry) to the dead-letter stream and ack the entry."""
        if events is None:
            found: Any = self.client.xrange(keys.EVENTS, entry_id, entry_id)
            events = found[0][1].get(b"e", b"") if found else b""
        own = pipe is None
        if own:
            pipe = self.client.pipeline(transaction=False)
        pipe.xadd(keys.DEAD_LETTERS, {
            "e": events, "group": self.group, "id": entry_id, "deliveries": deliveries,
            "error": why,
        }, maxlen=10_000, approximate=True)
        pipe.hincrby(keys.COUNTERS, "dead", 1)
        if own:
            pipe.xack(keys.EVENTS, self.group, entry_id)
            pipe.execute()
        self.dead += 1
        log.warning("%s: %r moved to the dead-letter stream (%s)", self.group, entry_id, why)

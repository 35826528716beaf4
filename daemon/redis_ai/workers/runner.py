"""The consumer-group runner: feeds one analyzer from the event stream with at-least-once delivery.

Lifecycle: ``ensure_group`` -> loop { reclaim idle entries of dead consumers and remove those
consumers; XREADGROUP new entries; analyze; PUBLISH results then XACK, in one pipeline } ->
``stop`` finishes the batch in hand.

Each stream entry holds a msgpack array of one or more events (ingest/writer.py). An entry is
acknowledged only after the results of all its events are published, so a worker that dies
mid-batch leaves its entries pending; another consumer claims them once they have been idle for
``claim_idle_ms``. While a batch is analysed, a Keeper (keeper.py) keeps its entries from
looking idle, so a slow batch is never taken from a live worker.

A delivery can end in two ways that count differently. The analyzer raised on an event of the
entry: a failure, counted in ``keys.failures(group)``; after ``max_deliveries`` failures each
failing event goes to the dead-letter stream on its own and the entry is acknowledged. Or the
consumer went away (killed, crashed, lost): not the event's fault, so it is not counted, except
that an entry abandoned ``max_crashes`` times is taken to be what kills its workers and is
dead-lettered whole.

The events may be sharded over several streams (``keys.events(shard)``, docs/cluster.md): a
runner serves one shard, and a process runs one runner per shard and analyzer. On a Redis
Cluster results go out by SPUBLISH, to the shard of their channel, where the daemon that owns
the client listens (results/router.py); PUBLISH would reach every node of the cluster.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import msgpack
import msgspec
import redis

from .. import analytics, keys
from ..analyzers.base import Analyzer
from ..schema import result
from ..store.connection import is_cluster
from .keeper import Keeper
from .liveness import remove_dead_consumers

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes] | None]

decode_entry = msgspec.msgpack.decode
"""An entry's ``e`` -> its events as plain maps (msgspec decodes twice as fast as msgpack)."""

FLUSH_S = 0.1
"""A batch still running after this long sends the results and acks it has so far."""

MAX_CRASHES = 5
"""Abandoned deliveries after which an entry is dead-lettered as one that kills its workers.
An entry is retried alone once abandoned, so a crash that has nothing to do with it would have
to strike during its own few milliseconds four more times to reach this."""


LATEST_KINDS = frozenset({"diagnostics", "hints"})
"""Result kinds kept per file for the MCP server (docs/mcp.md) besides being published."""

LATEST_TTL_S = 86_400


def _note_latest(out: _Outbox, file: str, analyzer: str, payload: bytes) -> None:
    """Keep ``payload`` as the file's latest result of ``analyzer`` and announce the change:
    queued on the batch's pipeline, so it costs no round trip."""
    key = keys.latest_results(file)
    out.pipe.hset(key, analyzer, payload)
    out.pipe.expire(key, LATEST_TTL_S)
    out.broadcast(keys.DIAGNOSTICS_CHANGES, file)


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
        max_crashes: int = MAX_CRASHES,
        shard: int = 0,
    ) -> None:
        self.client = client
        self.analyzer = analyzer
        self.group = keys.group(analyzer.name)
        self.shard = shard
        self.stream = keys.events(shard)
        self.failures_key = keys.failures(self.group, shard)
        self.consumer = consumer
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.max_crashes = max_crashes
        self.processed = 0
        self.failed = 0
        self.dead = 0
        self.died: BaseException | None = None
        self.keeper = Keeper(client, self.group, consumer, claim_idle_ms=claim_idle_ms,
                             stall_ms=10 * claim_idle_ms, stream=self.stream)
        self._stop = threading.Event()
        self._next_claim = 0.0
        # Where a re-created group starts: after the newest entry this runner has seen, so
        # events appended between the loss of the group and its re-creation are not skipped.
        self._last_id = f"{int(time.time() * 1000)}-0"

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_group(self, start: str = "$") -> None:
        """Create the group (and the stream) if missing; new groups start at new events."""
        try:
            self.client.xgroup_create(self.stream, self.group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self) -> None:
        """Loop until ``stop``; survives Redis restarts, a deleted stream or group, and its own
        bugs (logged, then the loop starts again). Anything else that ends the thread (an
        analyzer calling sys.exit) is logged and kept in ``died`` for the process to act on."""
        self.keeper.start()
        try:
            self._loop()
        except BaseException as exc:
            self.died = exc
            log.critical("%s: the runner stopped: %r", self.group, exc, exc_info=True)
            raise
        finally:
            self.keeper.stop()

    def _loop(self) -> None:
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
            except Exception:
                # The batch in hand stays pending and is claimed again once idle.
                log.exception("%s: the runner failed; starting it again", self.group)
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
            self.group, self.consumer, {self.stream: ">"}, count=self.batch, block=self.block_ms
        )
        if reply:
            done += self.process(reply[0][1])
        return done

    def reclaim(self) -> int:
        """Take over entries idle past ``claim_idle_ms``, one at a time, least abandoned first.

        An entry's deliveries ended either in an analyzer failure (counted in
        ``keys.failures``) or in its consumer's death; only failures lead to the dead-letter
        stream at ``max_deliveries``. An entry abandoned ``max_crashes`` times is taken to kill
        the workers that run it and goes there whole, without running again. Claiming one
        entry at a time keeps such an entry from raising the counts of the others.
        """
        pending: Any = self.client.xpending_range(
            self.stream, self.group, min="-", max="+", count=self.batch, idle=self.claim_idle_ms
        )
        if not pending:
            remove_dead_consumers(self.client, self.group, self.consumer, self.claim_idle_ms,
                                  self.stream)
            return 0
        ids = [p["message_id"] for p in pending]
        counts: Any = self.client.hmget(self.failures_key, ids)
        queue = []
        done = 0
        for p, count in zip(pending, counts, strict=True):
            failures = int(count or 0)
            abandoned = p["times_delivered"] - failures
            if abandoned >= self.max_crashes:
                self._dead_letter(p["message_id"], p["times_delivered"],
                                  f"its worker died {abandoned} times while analysing it")
                done += 1
            else:
                queue.append((abandoned, _id_key(p["message_id"].decode()), p, failures))
        for _, _, p, failures in sorted(queue, key=lambda q: q[:2]):
            entry_id = p["message_id"]
            claimed: Any = self.client.xclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms, [entry_id])
            if not claimed:
                self._count_trimmed({entry_id})
                continue
            done += self.process(claimed, {entry_id: (p["times_delivered"] + 1, failures)})
        return done

    def _count_trimmed(self, missing: set[bytes]) -> None:
        """Count pending entries that the stream's trimming removed before they were analyzed.

        XCLAIM leaves out an entry that another consumer took first, and (Redis >= 7) one that
        no longer exists, which it also drops from the pending list: those are lost events,
        so they are counted (``trimmed:<analyzer>``) and logged rather than vanishing quietly.
        """
        pipe = self.client.pipeline(transaction=False)
        for entry_id in missing:
            pipe.xrange(self.stream, entry_id, entry_id)
        gone = [entry_id for entry_id, found in zip(missing, pipe.execute(), strict=True)
                if not found]
        if gone:
            log.warning("%s: %d pending entries were trimmed before they were analyzed; "
                        "raise --stream-max-mb or add workers", self.group, len(gone))
            pipe.hincrby(keys.COUNTERS, f"trimmed:{self.analyzer.name}", len(gone))
            pipe.hdel(self.failures_key, *gone)
            pipe.execute()

    def process(self, entries: list[Entry],
                history: Mapping[bytes, tuple[int, int]] | None = None) -> int:
        """Analyze the events of ``entries``, publish each result, then acknowledge the entries.

        ``history`` gives, for entries delivered before, (deliveries including this one,
        analyzer failures so far); new entries have (1, 0). Results and acks go in one round
        trip, or one per ``FLUSH_S`` of a long batch so that early results are not held back.
        Returns the number of entries acknowledged.
        """
        if not entries:
            return 0
        self._last_id = max(self._last_id, entries[-1][0].decode(), key=_id_key)
        ids = [entry_id for entry_id, _ in entries]
        self.analyzer.batch_read()
        self.keeper.hold(ids)
        try:
            return self._process(entries, history or {})
        finally:
            self.keeper.release(ids)

    def _process(self, entries: list[Entry], history: Mapping[bytes, tuple[int, int]]) -> int:
        out = _Outbox(self.client, self.stream, self.failures_key)
        acked = 0
        for entry_id, fields in entries:
            deliveries, failures = history.get(entry_id, (1, 0))
            if not fields or b"e" not in fields:
                out.ack(entry_id, failures)  # deleted while pending (Redis < 7 still returns those)
                continue
            try:
                events = decode_entry(fields[b"e"])
                if not isinstance(events, list):
                    raise ValueError("not an array of events")
            except Exception as exc:  # noqa: BLE001 - msgpack raises several unrelated types
                self._dead_letter(entry_id, deliveries, f"undecodable entry: {exc}",
                                  fields[b"e"], out.pipe)
                out.ack(entry_id, failures)
                continue
            failed = self._analyze(entry_id.decode(), events, out)
            if failed:
                failures += 1
                if failures < self.max_deliveries:
                    out.pipe.hincrby(self.failures_key, entry_id, 1)
                    continue  # left pending: reclaim retries it once it is idle
                for event, why in failed:
                    self._dead_letter(entry_id, deliveries, why, msgpack.packb([event]),
                                      out.pipe, failures)
            out.ack(entry_id, failures)
            if out.due():
                acked += self._flush(out)
        acked += self._flush(out)
        return acked

    def _flush(self, out: _Outbox) -> int:
        """Send what ``out`` holds: results, analytics, then the acks."""
        analytics.record_analyses(out.pipe, self.analyzer.name, out.samples, time.time())
        acks = out.send(self.group)
        self.keeper.release(acks)
        self.processed += len(acks)
        return len(acks)

    def _analyze(self, entry_id: str, events: list[Any], out: _Outbox) -> list[tuple[Any, str]]:
        """Run the analyzer on each event of one entry, queueing results; return the failures."""
        failed = []
        for index, event in enumerate(events):
            if not isinstance(event, dict):
                continue
            self.keeper.progress()
            # Entry ids repeat across shards: an event of shard i > 0 says which it is from.
            event_id = f"{entry_id}#{index}@{self.shard}" if self.shard else f"{entry_id}#{index}"
            started = time.perf_counter()
            try:
                if not self.analyzer.wants(event):
                    continue
                event["id"] = event_id
                items = self.analyzer.analyze(event)
                elapsed = (time.perf_counter() - started) * 1000
                payload = None if items is None else msgpack.packb(result(
                    event, event_id, self.analyzer.name, self.analyzer.kind, items, elapsed))
            except Exception as exc:
                log.exception("%s failed on %s", self.group, event_id)
                self.failed += 1
                out.samples.append(((time.perf_counter() - started) * 1000, False))
                failed.append((event, f"{type(exc).__name__}: {exc}"))
                continue
            out.samples.append((elapsed, True))
            if payload is not None:
                out.publish(keys.results_channel(event.get("client", "")), payload)
                if self.analyzer.kind in LATEST_KINDS and event.get("file"):
                    _note_latest(out, event["file"], self.analyzer.name, payload)
        return failed

    def _dead_letter(
        self, entry_id: bytes | str, deliveries: int, why: str,
        events: bytes | None = None, pipe: Any = None, failures: int = 0,
    ) -> None:
        """Copy events (default: the whole entry) to the dead-letter stream; without ``pipe``
        also acknowledge the entry (with one, the caller does)."""
        if events is None:
            found: Any = self.client.xrange(self.stream, entry_id, entry_id)
            events = found[0][1].get(b"e", b"") if found else b""
        own = pipe is None
        if own:
            pipe = self.client.pipeline(transaction=False)
        pipe.xadd(keys.DEAD_LETTERS, {
            "e": events, "group": self.group, "id": entry_id, "deliveries": deliveries,
            "failures": failures, "error": why, "stream": self.stream,
        }, maxlen=10_000, approximate=True)
        pipe.hincrby(keys.COUNTERS, "dead", 1)
        if own:
            pipe.xack(self.stream, self.group, entry_id)
            pipe.hdel(self.failures_key, entry_id)
            pipe.execute()
        self.dead += 1
        log.warning("%s: %r moved to the dead-letter stream (%s)", self.group, entry_id, why)


class _Outbox:
    """What one slice of a batch sends in one round trip: results, failure counts, acks."""

    def __init__(self, client: redis.Redis, stream: str, failures_key: str) -> None:
        self.client = client
        self.stream = stream
        self.failures_key = failures_key
        self.sharded = is_cluster(client)
        self._open()

    def _open(self) -> None:
        self.pipe: Any = self.client.pipeline(transaction=False)
        self.acks: list[bytes] = []
        self.cleared: list[bytes] = []
        self.samples: list[tuple[float, bool]] = []
        self.broadcasts: dict[tuple[str, str], None] = {}
        self.opened = time.monotonic()

    def ack(self, entry_id: bytes, failures: int) -> None:
        self.acks.append(entry_id)
        if failures:
            self.cleared.append(entry_id)

    def publish(self, channel: str, payload: bytes) -> None:
        """Queue one result: SPUBLISH on a cluster (redis-py refuses PUBLISH in its pipelines,
        and a shard channel reaches only the node of its slot), PUBLISH elsewhere."""
        if self.sharded:
            self.pipe.spublish(channel, payload)
        else:
            self.pipe.publish(channel, payload)

    def broadcast(self, channel: str, message: str) -> None:
        """Queue a message for a channel that listeners anywhere may subscribe to: PUBLISH in
        the pipeline on plain Redis; on a cluster (whose pipelines refuse PUBLISH) once per
        slice after it, since a cluster's PUBLISH reaches every node anyway."""
        if self.sharded:
            self.broadcasts.setdefault((channel, message))
        else:
            self.pipe.publish(channel, message)

    def due(self) -> bool:
        """Whether this slice has been open for ``FLUSH_S``."""
        return time.monotonic() - self.opened >= FLUSH_S

    def send(self, group: str) -> list[bytes]:
        """Execute and start a new slice; returns the entries acknowledged."""
        if self.acks:
            self.pipe.xack(self.stream, group, *self.acks)
        if self.cleared:
            self.pipe.hdel(self.failures_key, *self.cleared)
        self.pipe.execute()
        for channel, message in self.broadcasts:
            self.client.publish(channel, message)
        acks = self.acks
        self._open()
        return acks

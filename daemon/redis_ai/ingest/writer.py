"""Appending events to the stream: a bounded buffer drained in batches by one thread.

Editors never wait on Redis: ``submit`` only appends to memory. The writer thread takes whatever
has accumulated and appends it as ONE stream entry holding a msgpack array of events (at most
``per_entry``). Typing produces a few events a second, so entries then hold one event and nothing
waits; a burst fills entries with many, and the per-entry costs of Redis and of the consumer
groups (XADD, XREADGROUP parsing, XACK) are paid once per entry instead of once per event.
That is what carries the ingest rate past what per-event commands reach from Python.

The stream is trimmed (approximate MAXLEN, so Redis trims whole radix-tree nodes cheaply) to
a memory budget rather than a fixed entry count: an entry can hold one 200-byte event or 128
events of a megabyte each. Each XADD passes ``max_bytes`` divided by the recent mean entry size
as its MAXLEN, kept between ``min_entries`` and ``max_entries``.

While Redis is down the buffer holds up to ``capacity`` events; beyond that the oldest are
dropped and counted, never silently lost.

With ``shards`` > 1 (a Redis Cluster, docs/cluster.md) each event goes to the stream
``keys.events(shard_of(client, buffer))``: one buffer's events stay in one stream, in order,
while the buffers spread over the shards and so over the cluster's masters. Each shard is
trimmed to its share of the budget. One pipeline carries them all; redis-py splits it per node.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable

import redis

from .. import keys
from ..schema import StreamEvent, encode_events

log = logging.getLogger(__name__)


def shard_of(client: str, buffer: str, shards: int) -> int:
    """The shard of one client's buffer: stable across processes and restarts (CRC-32, not
    Python's salted hash), so every daemon and worker agrees."""
    if shards <= 1:
        return 0
    return zlib.crc32(f"{client}\0{buffer}".encode("utf-8", "surrogatepass")) % shards


def shards(client: redis.Redis, masters: int = 1) -> int:
    """How many shards the event stream has (``keys.EVENT_SHARDS``), settling it if unset.

    Unset on a cluster (``masters`` > 1), the first daemon or worker to ask sets it, with SET NX
    so that all agree, to one shard per master; on plain Redis it stays unset and means 1, and
    the key names are those of a single stream. Set it by hand before the first start to choose
    another number (docs/cluster.md); changing it later moves buffers to other shards.
    """
    value = client.get(keys.EVENT_SHARDS)
    if value is None and masters > 1:
        client.set(keys.EVENT_SHARDS, masters, nx=True)
        value = client.get(keys.EVENT_SHARDS)
    return max(int(value or 1), 1)


class EventWriter:
    """Buffers events in memory and appends them to ``keys.EVENTS`` in batches."""

    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        *,
        max_bytes: int = 128 << 20,
        max_entries: int = 20_000,
        min_entries: int = 64,
        capacity: int = 50_000,
        per_entry: int = 128,
        entries_per_flush: int = 8,
        on_state: Callable[[bool], None] | None = None,
        shards: int = 1,
    ) -> None:
        self._connect = connect
        self.shards = max(shards, 1)
        self.max_bytes = max_bytes // self.shards
        self.max_entries = max_entries
        self.min_entries = min_entries
        self.maxlen = max_entries  # the MAXLEN of the next XADD; follows the entry size
        self._mean_entry = 0.0
        self.capacity = capacity
        self.per_entry = per_entry
        self.batch = per_entry * entries_per_flush
        self._on_state = on_state
        self._buffer: deque[StreamEvent] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self.written = 0
        self.dropped = 0
        self._dropped_counted = 0  # of ``dropped``, how many the counters hash has heard of
        self.redis_up = True
        self._write_lock = threading.Lock()
        self._client = connect()
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, event: StreamEvent) -> None:
        """Queue ``event`` for the stream; never blocks on Redis."""
        self.submit_many([event])

    def submit_many(self, events: list[StreamEvent], wait: float = 1.0) -> None:
        """Queue several events with one lock round (a connection's whole read at once).

        While Redis is up and the buffer is full, the caller waits up to ``wait`` seconds for
        the writer to make room: a burst slows the sending connection down instead of losing
        events. While Redis is down nothing would make room, so the oldest events are dropped.
        """
        with self._cond:
            deadline = time.monotonic() + wait
            while (self.redis_up and len(self._buffer) + len(events) > self.capacity
                   and not self._stopping):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            self._buffer.extend(events)
            over = len(self._buffer) - self.capacity
            for _ in range(max(over, 0)):
                self._buffer.popleft()
            self.dropped += max(over, 0)
            inline = self.redis_up and not self._stopping
            if not inline:
                self._cond.notify_all()
        if inline and self._write_lock.acquire(blocking=False):
            # Write from the caller's thread when nobody else is writing: handing each batch
            # to the writer thread costs more CPU under the GIL than the write itself.
            try:
                written = self._write(self._take(block=False))
            finally:
                self._write_lock.release()
            if written and not self._buffer:
                return
        if inline:
            # Someone else is writing, more is left, or Redis just failed: the writer thread
            # takes it from here (and alone retries while Redis is down).
            with self._cond:
                self._cond.notify_all()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is buffered (while Redis answers), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self, block: bool = True) -> list[StreamEvent]:
        with self._cond:
            while block and not self._buffer and not self._stopping:
                self._cond.wait()
            n = min(len(self._buffer), self.batch)
            taken = [self._buffer.popleft() for _ in range(n)]
            self._cond.notify_all()  # room for a connection waiting in submit_many
            return taken

    def _give_back(self, batch: list[StreamEvent]) -> None:
        with self._cond:
            self._buffer.extendleft(reversed(batch))
            while len(self._buffer) > self.capacity:
                self._buffer.popleft()
                self.dropped += 1

    def _run(self) -> None:
        backoff = 0.05
        while True:
            with self._cond:
                while not self._buffer and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._buffer:
                    return
            with self._write_lock:
                ok = self._write(self._take(block=False))
            if ok:
                backoff = 0.05
                continue
            if self._stopping:
                return
            time.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    def _write(self, batch: list[StreamEvent]) -> bool:
        """Append ``batch`` as entries of at most ``per_entry`` events; False if Redis failed."""
        if not batch:
            return True
        pipe = self._client.pipeline(transaction=False)
        kept: list[StreamEvent] = []
        for shard, chunk in self._chunks(batch):
            try:
                data = encode_events(chunk)
            except Exception:  # noqa: BLE001 - never expected (validation comes first), never fatal
                chunk = self._encodable(chunk)
                if not chunk:
                    continue
                data = encode_events(chunk)
            kept += chunk
            pipe.xadd(keys.events(shard), {"n": len(chunk), "e": data},
                      maxlen=self._trim_to(len(data)), approximate=True)
        pipe.hincrby(keys.COUNTERS, "accepted", len(kept))
        dropped = self.dropped - self._dropped_counted
        if dropped:
            pipe.hincrby(keys.COUNTERS, "dropped", dropped)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            self._give_back(kept)
            self._set_state(False, exc)
            return False
        self.written += len(kept)
        self._dropped_counted += dropped
        self._set_state(True)
        return True

    def _chunks(self, batch: list[StreamEvent]) -> list[tuple[int, list[StreamEvent]]]:
        """``batch`` as (shard, at most ``per_entry`` events) in arrival order per shard."""
        if self.shards == 1:
            return [(0, batch[i:i + self.per_entry]) for i in range(0, len(batch), self.per_entry)]
        by_shard: dict[int, list[StreamEvent]] = {}
        for event in batch:
            by_shard.setdefault(shard_of(event.client, event.buffer, self.shards), []).append(event)
        return [(shard, events[i:i + self.per_entry]) for shard, events in by_shard.items()
                for i in range(0, len(events), self.per_entry)]

    def _encodable(self, chunk: list[StreamEvent]) -> list[StreamEvent]:
        """The events of ``chunk`` that encode; the others are dropped, counted and logged.

        Validation should make this unreachable; it is here so that one event it let through
        by mistake costs that event, never the writer thread and with it all ingest."""
        kept = []
        for event in chunk:
            try:
                encode_events([event])
            except Exception as exc:  # noqa: BLE001
                log.error("dropped an event that cannot be encoded: %s", exc)
                with self._cond:
                    self.dropped += 1
            else:
                kept.append(event)
        return kept

    def _trim_to(self, size: int) -> int:
        """The MAXLEN that keeps the stream near ``max_bytes``, given an entry of ``size``."""
        mean = self._mean_entry = (self._mean_entry * 0.9 + size * 0.1) if self._mean_entry else size
        self.maxlen = int(min(max(self.max_bytes / (mean + 64), self.min_entries),
                              self.max_entries))
        return self.maxlen

    def _set_state(self, up: bool, exc: Exception | None = None) -> None:
        if up == self.redis_up:
            return
        self.redis_up = up
        if up:
            log.info("redis is back; the writer resumed")
        else:
            log.warning("redis unavailable, buffering events: %s", exc)
        if self._on_state:
            self._on_state(up)

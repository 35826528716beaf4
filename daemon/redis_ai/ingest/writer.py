"""Appending events to the stream: a bounded buffer drained in batches by one thread.

Editors never wait on Redis: ``submit`` only appends to memory. The writer thread sends whatever
has accumulated (up to ``batch`` events) in one EVALSHA of a script that XADDs each event with
approximate MAXLEN trimming, so one round trip carries hundreds of events. While Redis is down
the buffer holds up to ``capacity`` events; beyond that the oldest are dropped and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgpack
import redis

from .. import keys

log = logging.getLogger(__name__)

# One script call appends a whole batch. KEYS: stream, counters. ARGV: maxlen, events...
_APPEND = """
local n = #ARGV - 1
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
end
redis.call('HINCRBY', KEYS[2], 'accepted', n)
return n
"""


class EventWriter:
    """Buffers events in memory and appends them to ``keys.EVENTS`` in batches."""

    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        *,
        maxlen: int = 100_000,
        capacity: int = 50_000,
        batch: int = 500,
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        self._connect = connect
        self.maxlen = maxlen
        self.capacity = capacity
        self.batch = batch
        self._on_state = on_state
        self._buffer: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self.written = 0
        self.dropped = 0
        self.redis_up = True
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for the stream; never blocks on Redis."""
        with self._cond:
            if len(self._buffer) >= self.capacity:
                self._buffer.popleft()
                self.dropped += 1
            self._buffer.append(event)
            self._cond.notify()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is buffered (while Redis answers), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def _take(self) -> list[dict[str, Any]]:
        with self._cond:
            while not self._buffer and not self._stopping:
                self._cond.wait()
            n = min(len(self._buffer), self.batch)
            return [self._buffer.popleft() for _ in range(n)]

    def _give_back(self, batch: list[dict[str, Any]]) -> None:
        with self._cond:
            self._buffer.extendleft(reversed(batch))
            while len(self._buffer) > self.capacity:
                self._buffer.popleft()
                self.dropped += 1

    def _run(self) -> None:
        client = self._connect()
        append = client.register_script(_APPEND)
        backoff = 0.05
        while True:
            batch = self._take()
            if not batch:
                return  # stopping and drained
            packed = [msgpack.packb(e) for e in batch]
            try:
                append(keys=[keys.EVENTS, keys.COUNTERS], args=[self.maxlen, *packed])
            except redis.RedisError as exc:
                self._give_back(batch)
                self._set_state(False, exc)
                if self._stopping:
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            self.written += len(batch)
            self._set_state(True)

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

"""Keeps the entries of the batch in hand fresh, so that no live peer takes them over.

Lifecycle: ``start`` -> { ``hold(ids)`` ... ``progress()`` ... ``release(ids)`` }* -> ``stop``.

Consumers take over entries that have been idle for ``claim_idle_ms``. A batch can take longer
than that (32 entries of up to 128 events with a 40 ms analyzer take minutes), so while a batch
is analysed this thread re-claims its entries for their own consumer every quarter of
``claim_idle_ms`` with ``XCLAIM ... JUSTID``, which resets their idle time without counting a
delivery. A script does it, and only for entries the consumer still owns: an entry another
consumer has meanwhile taken is left to it rather than fought over.

A runner stuck in one event (a hung analyzer) should not hold its entries for ever: once no
event has started for ``stall_ms`` the keeper stops, the entries go idle and a peer takes them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import redis

from .. import keys

log = logging.getLogger(__name__)

# KEYS[1] the stream; ARGV[1] the group, ARGV[2] the consumer, ARGV[3..] entry ids.
# XCLAIM's options follow the ids, hence JUSTID appended to the list of ids.
_TOUCH_OWN = """
local mine = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then mine[#mine + 1] = ARGV[i] end
end
if #mine == 0 then return 0 end
local n = #mine
mine[n + 1] = 'JUSTID'
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(mine))
return n
"""


class Keeper:
    """Extends the claim of consumer ``consumer`` of ``group`` on the entries it holds."""

    def __init__(self, client: redis.Redis, group: str, consumer: str, *,
                 claim_idle_ms: int, stall_ms: int, stream: str | None = None) -> None:
        self.client = client
        self.stream = stream or keys.EVENTS
        self.group = group
        self.consumer = consumer
        self.interval = max(claim_idle_ms / 4000, 0.005)
        self.stall = stall_ms / 1000
        self._held: set[bytes] = set()
        self._lock = threading.Lock()
        self._progress = time.monotonic()
        self._stop = threading.Event()
        self._touch = client.register_script(_TOUCH_OWN)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start extending (without it ``hold`` only records, as when a test drives a runner)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"keeper-{self.group}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread; the entries still held go idle and can be taken over."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def hold(self, ids: Iterable[bytes]) -> None:
        """Start keeping ``ids`` (a batch just read or claimed)."""
        with self._lock:
            self._held.update(ids)
        self.progress()

    def release(self, ids: Iterable[bytes]) -> None:
        """Stop keeping ``ids`` (acknowledged, or left pending for a retry)."""
        with self._lock:
            self._held.difference_update(ids)

    def progress(self) -> None:
        """Note that the runner is still moving (it started an event)."""
        self._progress = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self._held)
            if not ids or time.monotonic() - self._progress > self.stall:
                continue
            try:
                self._touch(keys=[self.stream], args=[self.group, self.consumer, *ids])
            except redis.RedisError as exc:
                log.debug("%s: could not extend %d entries: %s", self.group, len(ids), exc)

"""Results back: one pub/sub subscription per daemon, routed to the editor connection they are for.

Workers anywhere publish each result on its client's channel (keys.results_channel). The router
pattern-subscribes to all of them, drops results for a buffer state older than the newest event
the client has sent for that buffer (its change tick), and hands the rest to the session.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import msgpack
import redis

from .. import keys

log = logging.getLogger(__name__)


class Recipient(Protocol):
    def push(self, message: dict[str, Any]) -> None: ...


class ResultRouter:
    """Routes published results to the sessions in ``sessions`` (client id -> session)."""

    def __init__(self, connect: Callable[[], redis.Redis], sessions: dict[str, Recipient]) -> None:
        self._connect = connect
        self.sessions = sessions
        self._latest: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renew = threading.Event()
        self._pubsub: Any = None
        self.delivered = 0
        self.stale = 0
        self.orphaned = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="result-router", daemon=True)

    def start(self, timeout: float = 5.0) -> None:
        self._thread.start()
        self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._close_pubsub()
        self._thread.join(2)

    def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail any way
                pass

    def resubscribe(self, timeout: float = 2.0) -> None:
        """Subscribe anew and wait for it (Redis came back: a restarted server forgot us).

        Results published before the new subscription are lost (pub/sub keeps nothing), so
        the daemon calls this before it tells editors that Redis is up again.
        """
        self._ready.clear()
        self._renew.set()
        self._ready.wait(timeout)

    def note_event(self, client: str, buffer: str, tick: int) -> None:
        """Remember the newest tick a client has sent for a buffer (called for every event)."""
        key = (client, buffer)
        with self._lock:
            if tick >= self._latest.get(key, -1):
                self._latest[key] = tick

    def forget(self, client: str) -> None:
        with self._lock:
            for key in [k for k in self._latest if k[0] == client]:
                del self._latest[key]

    def route(self, data: bytes) -> None:
        res = msgpack.unpackb(data)
        session = self.sessions.get(res.get("client", ""))
        if session is None:
            self.orphaned += 1
            return
        with self._lock:
            latest = self._latest.get((res["client"], res.get("buffer", "")), -1)
        if res.get("tick", 0) < latest:
            self.stale += 1
            return
        self.delivered += 1
        session.push(res)

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                self._pubsub = self._connect().pubsub(ignore_subscribe_messages=True)
                self._pubsub.psubscribe(keys.results_channel("*"))
                self._ready.set()
                backoff = 0.05
                self._renew.clear()
                while not self._stop.is_set() and not self._renew.is_set():
                    msg = self._pubsub.get_message(timeout=0.5)
                    if msg and msg["type"] == "pmessage":
                        try:
                            self.route(msg["data"])
                        except (ValueError, KeyError, TypeError) as exc:
                            log.warning("ignoring a malformed result: %s", exc)
                self._close_pubsub()
            except Exception as exc:  # noqa: BLE001
                # Besides RedisError, redis-py's pubsub can raise TypeError/AttributeError from a
                # half-closed socket after the server restarts; the router must outlive them all.
                if self._stop.is_set():
                    return
                log.warning("result subscription lost (%r); resubscribing", exc)
                self._close_pubsub()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

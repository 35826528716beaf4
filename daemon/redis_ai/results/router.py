"""Results back: a daemon listens on the result channels of its own clients only, and routes what
arrives to the editor connection it is for.

Workers anywhere publish each result on its client's channel (keys.results_channel). The router
SUBSCRIBEs to a client's channel when the client attaches (before its hello is answered, so the
results of its first event cannot be missed) and UNSUBSCRIBEs when it leaves: on a shared Redis
no daemon receives another user's results, and an ACL user needs only its namespace's channels.
It drops results for a buffer state older than the newest event the client has sent for that
buffer (its change tick), and hands the rest to the session.

One thread owns the pub/sub connection (redis-py's PubSub is not safe to drive from two
threads). Besides the clients' channels it listens on a control channel of its own: that keeps
the connection subscribed while no client is attached, so a refused ACL shows at start-up, and
an attach wakes the thread by publishing there.

On a Redis Cluster the same happens with shard channels (SSUBSCRIBE, SPUBLISH): a result then
travels only to the master of its channel's slot, where redis-py's cluster pub/sub holds one
connection, instead of to every node as PUBLISH would. A failover breaks that connection; the
router subscribes anew on the new master, like after a restart.
"""

from __future__ import annotations

import logging
import os
import secrets
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import msgpack
import redis

from .. import keys
from ..store.connection import is_cluster

log = logging.getLogger(__name__)

DENIED_BACKOFF_MAX = 30.0
"""Seconds between attempts, at most, while Redis refuses the subscription (an ACL to fix)."""


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
        self._sharded = False  # set per connection: shard channels on a cluster
        self._waker: redis.Redis | None = None
        # Client ids ("c-<hex>") never contain this name, so no client's channel is the control one.
        self._control = keys.results_channel(f"router-{os.getpid()}-{secrets.token_hex(4)}")
        # channel -> set once Redis confirmed the subscription; written by callers under
        # _subs_lock, applied to the connection by the router's thread.
        self._wanted: dict[str, threading.Event] = {}
        self._subs_lock = threading.Lock()
        self.delivered = 0
        self.stale = 0
        self.orphaned = 0
        self.denied: str | None = None
        """Why Redis refuses the subscription (an ACL without the namespace's channels), or None."""
        self._ready = threading.Event()
        self._settled = threading.Event()  # ready, or refused: start-up need not wait longer
        self._thread = threading.Thread(target=self._run, name="result-router", daemon=True)

    @property
    def ready(self) -> bool:
        """Whether results can arrive: the router is subscribed and Redis allowed it."""
        return self._ready.is_set()

    def start(self, timeout: float = 5.0) -> None:
        self._thread.start()
        self._settled.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._close_pubsub()
        self._thread.join(2)
        if self._waker is not None:
            self._waker.close()

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
        self._settled.clear()
        self._renew.set()
        self._settled.wait(timeout)

    def subscribe(self, client: str, timeout: float = 2.0) -> bool:
        """Listen on ``client``'s channel; True once Redis has confirmed it, within ``timeout``.

        False when Redis is down or refuses (the router keeps the wish and subscribes when it
        can); the daemon attaches the client anyway.
        """
        channel = keys.results_channel(client)
        with self._subs_lock:
            confirmed = self._wanted.setdefault(channel, threading.Event())
        if confirmed.is_set():
            return True
        if self.denied:
            return False  # known refused: do not hold the editor's hello up
        self._wake()
        return confirmed.wait(timeout)

    def forget(self, client: str) -> None:
        """The client left: stop listening on its channel and drop its buffers' ticks."""
        with self._subs_lock:
            self._wanted.pop(keys.results_channel(client), None)
        self._wake()
        with self._lock:
            for key in [k for k in self._latest if k[0] == client]:
                del self._latest[key]

    def _wake(self) -> None:
        """Make the router's thread look at the wanted channels now, not at its next timeout."""
        try:
            if self._waker is None:
                self._waker = self._connect()
            if is_cluster(self._waker):
                self._waker.spublish(self._control, b"")
            else:
                self._waker.publish(self._control, b"")
        except redis.RedisError:
            pass  # Redis is down: the router subscribes to every wanted channel when it is back

    def note_event(self, client: str, buffer: str, tick: int) -> None:
        """Remember the newest tick a client has sent for a buffer (called for every event)."""
        key = (client, buffer)
        with self._lock:
            if tick >= self._latest.get(key, -1):
                self._latest[key] = tick

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

    # -- the router's thread -----------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                self._listen()
                backoff = 0.05
            except redis.exceptions.NoPermissionError as exc:
                if self._stop.is_set():
                    return
                backoff = self._refused(exc, backoff)
            except Exception as exc:  # noqa: BLE001
                # Besides RedisError, redis-py's pubsub can raise TypeError/AttributeError from a
                # half-closed socket after the server restarts; the router must outlive them all.
                if self._stop.is_set():
                    return
                log.warning("result subscription lost (%r); resubscribing", exc)
                self._close_pubsub()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def _listen(self) -> None:
        """One connection's life: subscribe, then route messages until stopped or renewed."""
        self._renew.clear()
        with self._subs_lock:
            for event in self._wanted.values():
                event.clear()  # confirmed on the old connection, not yet on this one
        client = self._connect()
        self._sharded = is_cluster(client)
        pubsub = self._pubsub = client.pubsub()
        self._subscribe(pubsub, [self._control])
        sent: set[str] = set()  # client channels SUBSCRIBE was sent for on this connection
        confirmed: set[str] = set()
        while not self._stop.is_set() and not self._renew.is_set():
            self._apply(pubsub, sent, confirmed)
            msg = (self._sharded_message(pubsub, 0.5) if self._sharded
                   else pubsub.get_message(timeout=0.5))
            if msg:
                self._handle(msg, confirmed)
        self._close_pubsub()

    def _handle(self, msg: dict[str, Any], confirmed: set[str]) -> None:
        kind, channel = msg["type"], msg["channel"]
        if self._sharded and kind[:1] == "s":
            kind = kind[1:]  # smessage, ssubscribe, sunsubscribe
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        if kind == "message" and channel != self._control:
            try:
                self.route(msg["data"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring a malformed result: %s", exc)
        elif kind == "subscribe" and channel == self._control:
            if self.denied:
                log.info("redis now allows the result subscription")
            self.denied = None
            self._ready.set()
            self._settled.set()
        elif kind == "subscribe":
            confirmed.add(channel)
            with self._subs_lock:
                waiting = self._wanted.get(channel)
            if waiting is not None:
                waiting.set()
        elif kind == "unsubscribe":
            confirmed.discard(channel)

    def _apply(self, pubsub: Any, sent: set[str], confirmed: set[str]) -> None:
        """Bring the connection's subscriptions in line with the wanted channels."""
        with self._subs_lock:
            wanted = dict(self._wanted)
        for channel, event in wanted.items():
            if channel in confirmed:
                event.set()  # wanted again before its unsubscribe was ever sent
        new = [c for c in wanted if c not in sent]
        gone = [c for c in sent if c not in wanted]
        if new:
            self._subscribe(pubsub, new)
            sent.update(new)
        if gone:
            if self._sharded:
                pubsub.sunsubscribe(*gone)
            else:
                pubsub.unsubscribe(*gone)
            sent.difference_update(gone)

    @staticmethod
    def _sharded_message(pubsub: Any, timeout: float) -> Any:
        """The next shard-channel message from any node, waiting up to ``timeout`` for one.

        redis-py's get_sharded_message waits ``timeout`` on each node in turn, which would hold
        a result on one node back while it waits on another: wait on all the sockets at once.
        """
        msg = pubsub.get_sharded_message(timeout=0)
        if msg is not None:
            return msg
        socks = [p.connection._sock for p in list(pubsub.node_pubsub_mapping.values())
                 if p.connection is not None and p.connection._sock is not None]
        if socks:
            select.select(socks, [], [], timeout)
        else:
            time.sleep(timeout)
        return pubsub.get_sharded_message(timeout=0)

    def _subscribe(self, pubsub: Any, channels: list[str]) -> None:
        if self._sharded:
            pubsub.ssubscribe(*channels)
        else:
            pubsub.subscribe(*channels)

    def _refused(self, exc: Exception, backoff: float) -> float:
        """Redis's ACL refuses the channels: not ready, one clear log line, a growing pause."""
        self._ready.clear()
        if self.denied != str(exc):
            log.error("redis refused the result subscription (%s): editors get no results until "
                      "the daemon's ACL user may use the channels %s:* (docs/shared-redis.md); "
                      "retrying every %.0f s at most", exc, keys.PREFIX, DENIED_BACKOFF_MAX)
        self.denied = str(exc)
        self._settled.set()
        self._close_pubsub()
        self._stop.wait(max(backoff, 1.0))
        return min(max(backoff, 1.0) * 2, DENIED_BACKOFF_MAX)

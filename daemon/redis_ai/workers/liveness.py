"""Live workers and daemons: a set of ids, each kept alive by a hash with a short TTL.

A process that stops heartbeating (crash, SIGKILL, lost network) drops out when its hash expires,
within ``TTL`` seconds; readers prune the set of ids whose hash is gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from .. import keys

TTL = 6
INTERVAL = 2.0


def _keys(kind: str) -> tuple[str, Callable[[str], str]]:
    """The set of live ``kind`` ids and the key of one's hash, read when called (the namespace
    is chosen at start-up, after this module is imported)."""
    return {"worker": (keys.WORKERS, keys.worker), "daemon": (keys.DAEMONS, keys.daemon)}[kind]


class Heartbeat:
    """Registers ``ident`` as a live ``kind`` ("worker" or "daemon") until ``stop``."""

    def __init__(self, client: redis.Redis, kind: str, ident: str, info: Mapping[str, Any]) -> None:
        self.client = client
        self.set_key, key_of = _keys(kind)
        self.key = key_of(ident)
        self.ident = ident
        self.info = {k: str(v) for k, v in info.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{kind}", daemon=True)

    def start(self) -> None:
        self._beat()
        self._thread.start()

    def _beat(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.sadd(self.set_key, self.ident)
        fields: dict[Any, Any] = {**self.info, "heartbeat": str(time.time())}
        pipe.hset(self.key, mapping=fields)
        pipe.expire(self.key, TTL)
        pipe.execute()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            try:
                self._beat()
            except redis.RedisError:
                pass  # Redis is down; the daemon reports that, and the next beat re-registers us

    def stop(self) -> None:
        self._stop.set()
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.srem(self.set_key, self.ident)
            pipe.delete(self.key)
            pipe.execute()
        except redis.RedisError:
            pass


def alive(client: redis.Redis, kind: str) -> dict[str, dict[str, str]]:
    """The live ``kind`` processes and what they registered; prunes the ones that expired."""
    set_key, key_of = _keys(kind)
    found: dict[str, dict[str, str]] = {}
    for raw in client.smembers(set_key):
        ident = raw.decode() if isinstance(raw, bytes) else str(raw)
        data: dict[Any, Any] = client.hgetall(key_of(ident))
        if not data:
            client.srem(set_key, ident)
            continue
        found[ident] = {k.decode(): v.decode() for k, v in data.items()}
    return found

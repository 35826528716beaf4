"""Live workers and daemons: a set of ids, each kept alive by a hash with a short TTL.

A process that stops heartbeating (crash, SIGKILL, lost network) drops out when its hash expires,
within ``TTL`` seconds; readers prune the set of ids whose hash is gone. The consumers such a
process leaves in the consumer groups are removed once their pending entries are taken over
(``remove_dead_consumers``).
"""

from __future__ import annotations

import os
import secrets
import socket
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
    return {"worker": (keys.WORKERS, keys.worker), "daemon": (keys.DAEMONS, keys.daemon),
            "mcp": (keys.MCP_SERVERS, keys.mcp_server)}[kind]


# KEYS[1] the stream; ARGV[1] the group, ARGV[2] the consumer. Deleting a consumer drops its
# pending entries, so the check that it has none and the deletion must be one step.
_DELETE_IF_NOTHING_PENDING = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def new_ident() -> str:
    """A process id unique across machines and containers: ``<host>:<pid>:<random>``.

    Host name and pid alone repeat: containers on one host often share a host name and all run
    their process as pid 1, and two workers with one id would be one consumer.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Heartbeat:
    """Registers ``ident`` as a live ``kind`` ("worker", "daemon" or "mcp") until ``stop``."""

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


def remove_dead_consumers(client: redis.Redis, group: str, own: str, idle_ms: int,
                          stream: str | None = None) -> list[str]:
    """Delete the consumers of ``group`` whose process is gone and that hold no entries.

    A consumer is named ``<process id>:<group>``; it is gone when neither a live worker nor a
    live daemon has that id and it has been idle ``idle_ms``. One that still has pending entries
    is kept until they are claimed. Deleting a consumer that was alive after all costs nothing:
    its next read creates it again. ``stream`` is the shard's stream (default: shard 0).
    Returns the names deleted.
    """
    stream = stream or keys.EVENTS
    removed = []
    delete = client.register_script(_DELETE_IF_NOTHING_PENDING)
    suffix = f":{group}"
    for consumer in client.xinfo_consumers(stream, group):
        name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
        if name == own or consumer["pending"] or consumer["idle"] < idle_ms:
            continue
        ident = name[: -len(suffix)] if name.endswith(suffix) else name
        if client.exists(keys.worker(ident), keys.daemon(ident)):
            continue
        if delete(keys=[stream], args=[group, name]):
            removed.append(name)
    return removed

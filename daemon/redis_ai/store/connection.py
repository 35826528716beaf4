"""Connecting to Redis and finding out what the server can do."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import redis

from .. import keys
from ..config import ENV_REDIS_URL, Discovery
from ..errors import DaemonNotFound


def connect(url: str | None = None, **kwargs: Any) -> redis.Redis:
    """A client for ``url``, else $REDIS_AI_REDIS_URL, else the running daemon's Redis.

    RESP2 is pinned: redis-py 8 speaks RESP3 by default, which changes the shape of replies
    (FT.SEARCH, XINFO) between server versions.
    """
    url = url or os.environ.get(ENV_REDIS_URL)
    if not url:
        try:
            url = Discovery.read().redis_url
        except DaemonNotFound as exc:
            raise DaemonNotFound(f"{exc}; start one with 'redis-ai daemon' or pass --redis-url") from None
    kwargs.setdefault("protocol", 2)
    kwargs.setdefault("socket_connect_timeout", 2)
    return redis.Redis.from_url(url, **kwargs)


@dataclass(frozen=True)
class Capabilities:
    version: str
    search: bool
    json: bool
    vectorset: bool
    cluster: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def capabilities(client: redis.Redis) -> Capabilities:
    """Detect the server version and the search / JSON modules and core vector sets."""
    info = client.info("server")
    modules = set()
    try:
        for entry in client.execute_command("MODULE", "LIST"):
            if isinstance(entry, dict):
                name = entry.get(b"name") or entry.get("name")
            else:
                name = dict(zip(entry[::2], entry[1::2], strict=False)).get(b"name")
            if isinstance(name, bytes):
                name = name.decode()
            modules.add(str(name).lower())
    except redis.ResponseError:
        pass
    try:
        # VCARD of a key that does not exist answers 0 where vector sets exist, an error elsewhere.
        client.execute_command("VCARD", keys.PROBE)
        vectorset = True
    except redis.ResponseError:
        vectorset = False
    return Capabilities(
        version=str(info.get("redis_version", "?")),
        search="search" in modules or "ft" in modules,
        json="rejson" in modules or "json" in modules,
        vectorset=vectorset,
        cluster=str(info.get("redis_mode", "")) == "cluster",
    )

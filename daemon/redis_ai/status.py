"""What ``redis-ai status`` shows: the stream, its consumer groups, dead letters, live processes."""

from __future__ import annotations

from typing import Any

import redis

from . import keys
from .ingest.writer import shards
from .store.connection import redact_url, server_info
from .workers.liveness import alive


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _stream(client: redis.Redis, shard: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One shard's stream and its consumer groups (each group map names its shard)."""
    key = keys.events(shard)
    stream: dict[str, Any] = {"key": key, "length": 0, "last_id": None}
    groups: list[dict[str, Any]] = []
    try:
        info = client.xinfo_stream(key)
        stream.update(length=info["length"], last_id=_text(info.get("last-generated-id")))
        for g in client.xinfo_groups(key):
            name = _text(g["name"])
            consumers = [
                {"name": _text(c["name"]), "pending": c["pending"], "idle_ms": c["idle"]}
                for c in client.xinfo_consumers(key, name)
            ]
            groups.append({
                "name": name, "shard": shard, "pending": g["pending"], "lag": g.get("lag"),
                "last_delivered": _text(g["last-delivered-id"]), "consumers": consumers,
            })
    except redis.ResponseError:
        pass  # no stream yet
    return stream, groups


def collect(client: redis.Redis) -> dict[str, Any]:
    """Everything about the keyspace a user debugging a stuck pipeline wants, in one map.

    ``stream`` is shard 0 (the only one on plain Redis); ``shards`` lists every shard and
    ``groups`` the consumer groups of all of them (docs/cluster.md)."""
    streams = []
    groups: list[dict[str, Any]] = []
    for shard in range(shards(client)):
        stream, found = _stream(client, shard)
        streams.append(stream)
        groups += found
    counters = {_text(k): int(v) for k, v in client.hgetall(keys.COUNTERS).items()}
    daemons = alive(client, "daemon")
    for info in daemons.values():
        if "redis" in info:  # already redacted by today's daemons; older ones stored it whole
            info["redis"] = redact_url(info["redis"])
    return {
        "redis": {"up": True, "version": server_info(client)["version"]},
        "namespace": keys.PREFIX,
        "stream": streams[0],
        "shards": streams,
        "groups": groups,
        "dead_letters": {"key": keys.DEAD_LETTERS, "length": client.xlen(keys.DEAD_LETTERS)},
        "counters": counters,
        "workers": alive(client, "worker"),
        "daemons": daemons,
        "mcp_servers": alive(client, "mcp"),
    }


def render(data: dict[str, Any]) -> str:
    """A terminal rendering of ``collect``'s map."""
    lines = []
    d = data.get("daemon")
    if d:
        lines.append(f"daemon   {d['id']}  v{d['version']}  clients={d['clients']}  "
                     f"buffered={d['buffered']} dropped={d['dropped']}  redis={d['redis_url']}")
    r = data["redis"]
    if not r.get("up"):
        lines.append("redis    DOWN")
        return "\n".join(lines)
    lines.append(f"redis    {r['version']}  namespace={data.get('namespace')}")
    for s in data.get("shards") or [data["stream"]]:
        lines.append(f"stream   {s['key']}  length={s['length']}  last={s['last_id']}")
    for g in data["groups"]:
        where = f"[{g['shard']}]" if len(data.get("shards") or ()) > 1 else ""
        lines.append(f"  group  {g['name'] + where:<26} pending={g['pending']:<6} lag={g['lag']}  "
                     f"consumers={len(g['consumers'])}")
        for c in g["consumers"]:
            lines.append(f"           {c['name']:<40} pending={c['pending']} idle={c['idle_ms']}ms")
    lines.append(f"dead     {data['dead_letters']['key']}  length={data['dead_letters']['length']}")
    if data["counters"]:
        lines.append("counters " + "  ".join(f"{k}={v}" for k, v in sorted(data["counters"].items())))
    for kind, label in (("daemons", "daemons"), ("workers", "workers"), ("mcp_servers", "mcp")):
        if kind not in data:
            continue  # a map from an older daemon
        lines.append(f"{label:<8} {len(data[kind])} alive")
        for ident, info in sorted(data[kind].items()):
            extra = info.get("group") or info.get("analyzers") or info.get("transport", "")
            lines.append(f"           {ident}  {extra}")
    return "\n".join(lines)

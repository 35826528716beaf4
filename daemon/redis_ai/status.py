"""What ``redis-ai status`` shows: the stream, its consumer groups, dead letters, live processes."""

from __future__ import annotations

from typing import Any

import redis

from . import keys
from .store.connection import redact_url, server_info
from .workers.liveness import alive


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def collect(client: redis.Redis) -> dict[str, Any]:
    """Everything about the keyspace a user debugging a stuck pipeline wants, in one map."""
    stream: dict[str, Any] = {"key": keys.EVENTS, "length": 0, "last_id": None}
    groups: list[dict[str, Any]] = []
    try:
        info = client.xinfo_stream(keys.EVENTS)
        stream.update(length=info["length"], last_id=_text(info.get("last-generated-id")))
        for g in client.xinfo_groups(keys.EVENTS):
            name = _text(g["name"])
            consumers = [
                {"name": _text(c["name"]), "pending": c["pending"], "idle_ms": c["idle"]}
                for c in client.xinfo_consumers(keys.EVENTS, name)
            ]
            groups.append({
                "name": name, "pending": g["pending"], "lag": g.get("lag"),
                "last_delivered": _text(g["last-delivered-id"]), "consumers": consumers,
            })
    except redis.ResponseError:
        pass  # no stream yet
    counters = {_text(k): int(v) for k, v in client.hgetall(keys.COUNTERS).items()}
    daemons = alive(client, "daemon")
    for info in daemons.values():
        if "redis" in info:  # already redacted by today's daemons; older ones stored it whole
            info["redis"] = redact_url(info["redis"])
    return {
        "redis": {"up": True, "version": server_info(client)["version"]},
        "namespace": keys.PREFIX,
        "stream": stream,
        "groups": groups,
        "dead_letters": {"key": keys.DEAD_LETTERS, "length": client.xlen(keys.DEAD_LETTERS)},
        "counters": counters,
        "workers": alive(client, "worker"),
        "daemons": daemons,
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
    s = data["stream"]
    lines.append(f"redis    {r['version']}  namespace={data.get('namespace')}")
    lines.append(f"stream   {s['key']}  length={s['length']}  last={s['last_id']}")
    for g in data["groups"]:
        lines.append(f"  group  {g['name']:<26} pending={g['pending']:<6} lag={g['lag']}  "
                     f"consumers={len(g['consumers'])}")
        for c in g["consumers"]:
            lines.append(f"           {c['name']:<40} pending={c['pending']} idle={c['idle_ms']}ms")
    lines.append(f"dead     {data['dead_letters']['key']}  length={data['dead_letters']['length']}")
    if data["counters"]:
        lines.append("counters " + "  ".join(f"{k}={v}" for k, v in sorted(data["counters"].items())))
    for kind in ("daemons", "workers"):
        lines.append(f"{kind:<8} {len(data[kind])} alive")
        for ident, info in sorted(data[kind].items()):
            extra = info.get("group") or info.get("analyzers", "")
            lines.append(f"           {ident}  {extra}")
    return "\n".join(lines)

"""Connecting to Redis, finding out what the server can do, and showing its URL safely."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.cluster import ClusterNode, RedisCluster

from .. import keys
from ..config import ENV_REDIS_URL, Discovery
from ..errors import DaemonNotFound


def connect(url: str | None = None, **kwargs: Any) -> redis.Redis:
    """A client for ``url``, else $REDIS_AI_REDIS_URL, else the running daemon's Redis.

    RESP2 is pinned: redis-py 8 speaks RESP3 by default, which changes the shape of replies
    (FT.SEARCH, XINFO) between server versions.

    A TCP URL may name any node of a Redis Cluster: the server is asked (HELLO's ``mode``) and a
    cluster gets redis-py's ``RedisCluster``, which routes each command to the master of its
    slot. ``?cluster=yes`` skips the question, ``?cluster=no`` forces a plain client
    (docs/cluster.md). The cluster client has the plain client's command methods, so callers
    keep one type; ``is_cluster`` tells them apart where they must differ.
    """
    url = url or os.environ.get(ENV_REDIS_URL)
    if not url:
        try:
            url = Discovery.read().redis_url
        except DaemonNotFound as exc:
            raise DaemonNotFound(f"{exc}; start one with 'redis-ai daemon' or pass --redis-url") from None
    kwargs.setdefault("protocol", 2)
    kwargs.setdefault("socket_connect_timeout", 2)
    _check_tls_files(url)
    url, wanted = _cluster_option(url)
    if wanted is None:
        wanted = _detect_cluster(url, kwargs)
    if not wanted:
        return redis.Redis.from_url(url, **kwargs)
    kwargs.pop("health_check_interval", None)  # per-node pools; a dead node is found by use
    known = [ClusterNode(host, port) for host, port in _KNOWN_NODES.get(url, ())]
    client = RedisCluster.from_url(url, startup_nodes=known, **kwargs)
    # A later connect() must still find the cluster when the URL's own node is the one that died.
    _KNOWN_NODES[url] = [(n.host, n.port) for n in client.get_nodes()]
    return cast(redis.Redis, client)


_KNOWN_NODES: dict[str, list[tuple[str, int]]] = {}
"""URL -> every node a cluster client made from it has seen, so reconnects survive its death."""

_MODES: dict[str, bool] = {}


def is_cluster(client: Any) -> bool:
    """Whether ``client`` (from ``connect``) talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)


def _cluster_option(url: str) -> tuple[str, bool | None]:
    """``url`` without its ``cluster=`` parameter, and what that parameter asked for."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    found = [v for k, v in query if k == "cluster"]
    if not found:
        return url, None
    rest = urlencode([(k, v) for k, v in query if k != "cluster"])
    value = found[-1].lower()
    if value not in ("yes", "no", "1", "0", "true", "false"):
        raise ValueError(f"cluster={found[-1]}: use cluster=yes or cluster=no")
    return urlunsplit(parts._replace(query=rest)), value in ("yes", "1", "true")


def _detect_cluster(url: str, kwargs: dict[str, Any]) -> bool:
    """Ask the server (once per URL and process) whether it runs in cluster mode."""
    if urlsplit(url).scheme not in ("redis", "rediss"):
        return False  # a unix socket is one server
    if url not in _MODES:
        probe = redis.Redis.from_url(url, **kwargs)
        try:
            _MODES[url] = server_info(probe)["mode"] == "cluster"
        except redis.ConnectionError as exc:
            raise _explain(probe, exc) from exc
        finally:
            probe.close()
    return _MODES[url]


_TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


def _check_tls_files(url: str) -> None:
    """Name the unreadable certificate file (redis-py says only "No such file or directory")."""
    parts = urlsplit(url)
    if parts.scheme != "rediss":
        return
    for name, path in parse_qsl(parts.query):
        if name in _TLS_FILES and not os.access(path, os.R_OK):
            raise redis.ConnectionError(f"TLS to {parts.hostname}:{parts.port or 6379}: cannot "
                                        f"read {name}={path}")


def _explain(client: redis.Redis, exc: redis.ConnectionError) -> redis.ConnectionError:
    """A connection error that says what to check when it is TLS that failed."""
    text = str(exc)
    if "SSL" not in text and "_ssl.c" not in text:
        return exc
    pool = getattr(client, "connection_pool", None)  # a cluster client has one per node
    where = pool.connection_kwargs if pool is not None else {}
    hint = ("check ssl_ca_certs: it must be the CA that signed the server's certificate, whose "
            "name or IP must be the URL's host" if "CERTIFICATE_VERIFY_FAILED" in text else
            "the server may want a client certificate: ssl_certfile and ssl_keyfile")
    return redis.ConnectionError(f"TLS to {where.get('host')}:{where.get('port')} failed: {text} "
                                 f"({hint}; docs/shared-redis.md)")


# Query parameters that redis-py passes on as connection options and that carry a secret.
_SECRET_PARAM = re.compile(r"pass|secret|token|credential", re.IGNORECASE)
HIDDEN = "***"


def redact_url(url: str) -> str:
    """``url`` with its secrets replaced by ``***``: the one form of a Redis URL that may be shown
    or stored anywhere (logs, doctor, status, the heartbeat hash in Redis).

    The password of ``user:password@`` goes (the user name stays: it names the ACL user, which a
    bug report needs); a user-info part without a colon (``redis://TOKEN@host``) goes whole,
    since services hand out bare tokens there; so do query parameters such as ``password=`` or
    ``ssl_password=``. Paths (``ssl_ca_certs=``, a unix socket) stay.

    Example: ``redact_url("rediss://ann:s3cret@h:6380/0?password=x")`` is
    ``"rediss://ann:***@h:6380/0?password=***"``.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.partition(':')[0]}:{HIDDEN}"  # cannot tell the secret from the rest
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{HIDDEN}@{hostport}" if colon else f"{HIDDEN}@{hostport}"
    query = "&".join(
        f"{name}={HIDDEN}" if _SECRET_PARAM.search(name) else f"{name}{eq}{value}"
        for name, eq, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    # Spelled out rather than urlunsplit, which turns unix:///path into unix:/path.
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
            + (f"#{parts.fragment}" if parts.fragment else ""))


@dataclass(frozen=True)
class Capabilities:
    version: str
    search: bool
    json: bool
    vectorset: bool
    cluster: bool
    masters: int = 1
    replicas: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(reply: Any) -> dict[str, Any]:
    if isinstance(reply, dict):
        return {_text(k): v for k, v in reply.items()}
    return {_text(k): v for k, v in zip(reply[::2], reply[1::2], strict=False)}


def _hello(client: redis.Redis) -> dict[str, Any]:
    # HELLO without a version answers in the connection's own protocol; "HELLO 2" would switch a
    # RESP3 client's connection to RESP2 behind redis-py's back (its parser then misreads replies).
    hello = _pairs(client.execute_command("HELLO"))
    return {
        "version": _text(hello.get("version", "?")),
        "mode": _text(hello.get("mode", "")),
        "role": _text(hello.get("role", "")),
        "modules": sorted(_text(_pairs(m).get("name", "")).lower() for m in hello.get("modules") or []),
    }


def node_clients(client: Any) -> list[tuple[str, str, redis.Redis]]:
    """(``host:port``, "master" or "replica", a plain client) for each node of a cluster client,
    or the one server of a plain client (named by its URL's host, role "master")."""
    if not is_cluster(client):
        where = client.connection_pool.connection_kwargs
        name = where.get("path") or f"{where.get('host')}:{where.get('port')}"
        return [(str(name), "master", client)]
    return [(node.name, "master" if node.server_type == "primary" else "replica",
             client.get_redis_connection(node)) for node in client.get_nodes()]


def server_info(client: redis.Redis) -> dict[str, Any]:
    """The server's version, mode (standalone or cluster) and module names, from HELLO.

    HELLO is a connection command that every ACL user may run, where INFO and MODULE LIST are
    @dangerous: a least-privilege user (docs/shared-redis.md) needs neither. A cluster client
    asks every node (HELLO has no key to route by): the lowest version, the modules every node
    has, and ``nodes``, what each said.
    """
    nodes = []
    for name, role, node in node_clients(client):
        nodes.append({"node": name, "role": role, **_hello(node)})
    versions = sorted((n["version"] for n in nodes), key=_version_key)
    modules = set.intersection(*(set(n["modules"]) for n in nodes))
    return {
        "version": versions[0],
        "mode": "cluster" if is_cluster(client) else nodes[0]["mode"],
        "modules": sorted(modules),
        "nodes": nodes,
    }


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def _has_command(client: redis.Redis, *command: str) -> bool:
    """Whether the server knows ``command``: only "unknown command" says no. Any other refusal
    (MOVED for a key of another node, WRONGTYPE) comes after the server looked the command up."""
    try:
        client.execute_command(*command)
    except redis.ResponseError as exc:
        return "unknown command" not in str(exc).lower()
    return True


def capabilities(client: redis.Redis) -> Capabilities:
    """Detect the server version and the search / JSON modules and core vector sets.

    On a cluster every master is asked, and a feature counts only when all of them have it.
    """
    try:
        info = server_info(client)  # the first command a daemon or doctor sends
    except redis.ConnectionError as exc:
        raise _explain(client, exc) from exc
    modules = set(info["modules"])
    # VCARD of a key that does not exist answers 0 where vector sets exist, an error elsewhere.
    masters = [node for _, role, node in node_clients(client) if role == "master"]
    vectorset = all(_has_command(node, "VCARD", keys.PROBE) for node in masters)
    return Capabilities(
        version=info["version"],
        search="search" in modules or "ft" in modules,
        json="rejson" in modules or "json" in modules,
        vectorset=vectorset,
        cluster=info["mode"] == "cluster",
        masters=len(masters),
        replicas=len(info["nodes"]) - len(masters),
    )

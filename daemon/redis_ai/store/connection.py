"""Connecting to Redis, finding out what the server can do, and showing its URL safely."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
    _check_tls_files(url)
    return redis.Redis.from_url(url, **kwargs)


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
    where = client.connection_pool.connection_kwargs
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(reply: Any) -> dict[str, Any]:
    if isinstance(reply, dict):
        return {_text(k): v for k, v in reply.items()}
    return {_text(k): v for k, v in zip(reply[::2], reply[1::2], strict=False)}


def server_info(client: redis.Redis) -> dict[str, Any]:
    """The server's version, mode (standalone or cluster) and module names, from HELLO.

    HELLO is a connection command that every ACL user may run, where INFO and MODULE LIST are
    @dangerous: a least-privilege user (docs/shared-redis.md) needs neither.
    """
    # HELLO without a version answers in the connection's own protocol; "HELLO 2" would switch a
    # RESP3 client's connection to RESP2 behind redis-py's back (its parser then misreads replies).
    hello = _pairs(client.execute_command("HELLO"))
    return {
        "version": _text(hello.get("version", "?")),
        "mode": _text(hello.get("mode", "")),
        "modules": sorted(_text(_pairs(m).get("name", "")).lower() for m in hello.get("modules") or []),
    }


def capabilities(client: redis.Redis) -> Capabilities:
    """Detect the server version and the search / JSON modules and core vector sets."""
    try:
        info = server_info(client)  # the first command a daemon or doctor sends
    except redis.ConnectionError as exc:
        raise _explain(client, exc) from exc
    modules = set(info["modules"])
    try:
        # VCARD of a key that does not exist answers 0 where vector sets exist, an error elsewhere.
        client.execute_command("VCARD", keys.PROBE)
        vectorset = True
    except redis.ResponseError:
        vectorset = False
    return Capabilities(
        version=info["version"],
        search="search" in modules or "ft" in modules,
        json="rejson" in modules or "json" in modules,
        vectorset=vectorset,
        cluster=info["mode"] == "cluster",
    )

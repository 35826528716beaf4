"""The MCP server: a few tools, each file's diagnostics as a resource, and change notifications.

Built on the SDK's low-level ``Server``, which serves both protocol eras: the 2026-07-28
per-request envelope, where an agent opens a ``subscriptions/listen`` stream naming the
resources it follows, and the initialize handshake (2024-11-05 to 2025-11-25), where it calls
``resources/subscribe``. Either way a change reaches it as ``notifications/resources/updated``.

Changes come from Redis: every runner that publishes a diagnostics or hints result for a file
also writes it to the file's latest-results hash and publishes the path on
``keys.DIAGNOSTICS_CHANGES`` (workers/runner.py), so results of any daemon or worker on the
namespace reach every agent. The server reads the hash only for files someone follows, and
notifies only when the items differ from what it last saw.

Tool calls run in a worker thread: they call blocking Redis and analyzers, and the event loop
must keep serving notifications meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import anyio
import anyio.to_thread
import mcp_types as types
import msgpack
import redis
import redis.asyncio
from mcp.server import Server, ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourceUpdated

from .. import __version__, keys
from .tools import ToolError, Tools

log = logging.getLogger(__name__)

MAX_LISTED_RESOURCES = 200

INSTRUCTIONS = (
    "redis-ai sees what the user edits in Emacs or Neovim. Its diagnostics are those the "
    "editors show (ruff, checkers, performance hints, the user's Lisp analyzers). Files and "
    "1-based lines are named as FILE:LINE:COL. Follow a file's diagnostics by subscribing to "
    "redis-ai://diagnostics/ABSOLUTE-PATH."
)

_FILE = {"type": "string", "description": "absolute path of the file"}
_TOOLS: list[tuple[str, str, dict[str, Any], list[str], Callable[[Tools, dict[str, Any]], str]]] = [
    ("diagnostics",
     "Current diagnostics and hints of a file: those the editors last received for it, or, for "
     "a file no editor has sent, computed now from the file on disk. One FILE:LINE:COL line "
     "each, errors first.",
     {"file": _FILE}, ["file"], Tools.diagnostics),
    ("search_code",
     "Semantic code search over the indexed projects: the functions and classes nearest in "
     "meaning to a plain-words query, as FILE:START-END NAME.",
     {"query": {"type": "string", "description": "what the code does, in plain words"},
      "k": {"type": "integer", "minimum": 1, "maximum": 50, "description": "hits (default 10)"},
      "root": {"type": "string", "description": "absolute folder to search under (optional)"}},
     ["query"], Tools.search),
    ("generated_tests",
     "A pytest module generated for one function of a Python file (from its doctests, types "
     "and guards), with the path it would be saved at. Nothing is written.",
     {"file": _FILE, "function": {"type": "string", "description": "name, or Class.method"}},
     ["file", "function"], Tools.tests),
    ("recent_edits",
     "What the user did lately in a file: its latest editor events (intent, position, tick), "
     "newest first, and a diff of its text across them.",
     {"file": _FILE, "limit": {"type": "integer", "minimum": 1, "maximum": 200,
                               "description": "events (default 20)"}},
     ["file"], Tools.edits),
    ("lisp_programs",
     "The user's Lisp analyzers stored in Redis: every program (name, version, kind, "
     "languages, description), or with name the source of one.",
     {"name": {"type": "string", "description": "a program's name, to show its source"}},
     [], Tools.lisp_programs),
    ("lisp_run",
     "Run a stored Lisp analyzer on a file (or on text) in the editors' sandbox; its items as "
     "FILE:LINE:COL lines.",
     {"name": {"type": "string"}, "file": _FILE,
      "text": {"type": "string", "description": "text to analyze instead of the file's"}},
     ["name"], Tools.lisp_run),
]
_DEFINE = (
    "lisp_define",
    "Store a Lisp analyzer (checked as the editors' define is: it must read, its requires "
    "exist); it then runs on the user's next edit. docs/lisp.md describes the language.",
    {"name": {"type": "string"}, "source": {"type": "string"},
     "description": {"type": "string"},
     "kind": {"type": "string", "enum": ["diagnostics", "hints"]},
     "languages": {"type": "array", "items": {"type": "string"}}},
    ["name", "source"], Tools.lisp_define,
)


def resource_uri(path: str) -> str:
    """The diagnostics resource of the file ``path``: ``redis-ai://diagnostics`` followed by
    the absolute path, percent-encoded (the same for every namespace: a server serves one)."""
    return "redis-ai://diagnostics" + quote(path)


def resource_path(uri: str) -> str | None:
    """The file a diagnostics resource names, or None for another URI."""
    prefix = resource_uri("")
    if not uri.startswith(prefix + "/"):
        return None
    return unquote(uri[len(prefix):])


class Followers:
    """Who follows which resource: handshake-era sessions by URI, and a count per URI of the
    2026-07-28 listen streams that name it (those are fed through the SDK's bus)."""

    def __init__(self) -> None:
        self.sessions: dict[str, set[ServerSession]] = {}
        self.listening: Counter[str] = Counter()
        self.bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self.bus)
        self._seen: dict[str, str] = {}

    def wanted(self, uri: str) -> bool:
        return bool(self.sessions.get(uri)) or self.listening[uri] > 0

    async def listen(self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams
                     ) -> types.SubscriptionsListenResult:
        """Serve a listen stream, counting the URIs it follows while it is open."""
        uris = list(params.notifications.resource_subscriptions or ())
        self.listening.update(uris)
        try:
            return await self._listen(ctx, params)
        finally:
            self.listening.subtract(uris)

    def changed(self, uri: str, digest: str) -> bool:
        """Whether ``digest`` differs from the one last seen for ``uri`` (and remember it)."""
        if self._seen.get(uri) == digest:
            return False
        self._seen[uri] = digest
        return True

    async def notify(self, uri: str) -> None:
        await self.bus.publish(ResourceUpdated(uri=uri))
        for session in list(self.sessions.get(uri, ())):
            try:
                await session.send_resource_updated(uri)
            except Exception:  # noqa: BLE001 - closed or broken streams raise several types
                self.sessions[uri].discard(session)  # the agent went away without unsubscribing


def digest(results: dict[str, dict[str, Any]]) -> str:
    """A fingerprint of the items of a file's results, whatever their ticks and ids."""
    items = {name: res.get("items") for name, res in sorted(results.items())}
    return hashlib.sha1(msgpack.packb(items, default=str)).hexdigest()


def build(tools: Tools, followers: Followers) -> Server[Any]:
    """The low-level MCP server answering from ``tools`` and notifying ``followers``."""
    table = {name: (description, props, required, fn)
             for name, description, props, required, fn in
             [*_TOOLS, *([_DEFINE] if tools.allow_define else [])]}

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=name, description=description,
                       input_schema={"type": "object", "properties": props, "required": required,
                                     "additionalProperties": False})
            for name, (description, props, required, _) in table.items()])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await _call(table, tools, params)

    async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        paths = await anyio.to_thread.run_sync(_latest_paths, tools.client)
        return types.ListResourcesResult(resources=[
            types.Resource(name=f"diagnostics of {path}", uri=resource_uri(path),
                           mime_type="text/plain") for path in paths])

    async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[types.ResourceTemplate(
            name="diagnostics", uri_template=resource_uri("") + "{+path}", mime_type="text/plain",
            description="diagnostics and hints of a file (absolute path); subscribe to follow")])

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        path = resource_path(uri)
        if path is None:
            raise ValueError(f"unknown resource {uri}; diagnostics are {resource_uri('/ABSOLUTE-PATH')}")
        try:
            text = await anyio.to_thread.run_sync(tools.diagnostics, {"file": path})
        except ToolError as exc:
            text = f"{path}: {exc}"
        return types.ReadResourceResult(contents=[
            types.TextResourceContents(uri=uri, mime_type="text/plain", text=text)])

    async def subscribe(ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
                        ) -> types.EmptyResult:
        followers.sessions.setdefault(str(params.uri), set()).add(ctx.session)
        return types.EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
                          ) -> types.EmptyResult:
        followers.sessions.get(str(params.uri), set()).discard(ctx.session)
        return types.EmptyResult()

    return Server(
        "redis-ai", version=__version__, instructions=INSTRUCTIONS,
        on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
        on_list_resource_templates=list_templates, on_read_resource=read_resource,
        on_subscribe_resource=subscribe, on_unsubscribe_resource=unsubscribe,
        on_subscriptions_listen=followers.listen,
    )


async def _call(table: dict[str, Any], tools: Tools, params: types.CallToolRequestParams
                ) -> types.CallToolResult:
    """Check a call's arguments, run its tool in a worker thread, shape its answer or error."""
    entry = table.get(params.name)
    if entry is None and params.name == _DEFINE[0]:
        return _error("defining programs is off: start `redis-ai mcp --allow-define`")
    if entry is None:
        return _error(f"no tool {params.name!r}; tools: {', '.join(table)}")
    _, props, required, fn = entry
    args = dict(params.arguments or {})
    misfit = _misfit(args, props, required)
    if misfit:
        return _error(misfit)
    try:
        text = await anyio.to_thread.run_sync(fn, tools, args)
    except ToolError as exc:
        return _error(str(exc))
    except redis.RedisError as exc:
        return _error(f"Redis is not reachable: {exc}")
    except Exception as exc:  # noqa: BLE001 - a bug of ours: the agent is told, we go on
        log.exception("tool %s failed", params.name)
        return _error(f"internal error in {params.name} ({type(exc).__name__}: {exc}); "
                      "the server's log has the details")
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


def _misfit(args: dict[str, Any], props: dict[str, Any], required: list[str]) -> str:
    """What is wrong with the names of a call's arguments ("" if nothing)."""
    missing = [r for r in required if r not in args]
    unknown = [a for a in args if a not in props]
    return "; ".join(([f"missing argument(s): {', '.join(missing)}"] if missing else [])
                     + ([f"unknown argument(s): {', '.join(unknown)}"] if unknown else []))


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _latest_paths(client: redis.Redis) -> list[str]:
    """Files with latest results, at most MAX_LISTED_RESOURCES of them."""
    prefix = keys.latest_results("")
    paths = []
    # A namespace holds no glob characters (keys.use_namespace); a path may, but is not in it.
    for key in client.scan_iter(match=prefix + "*", count=500):
        paths.append((key.decode() if isinstance(key, bytes) else key)[len(prefix):])
        if len(paths) >= MAX_LISTED_RESOURCES:
            break
    return sorted(paths)


async def watch_changes(redis_url: str, tools: Tools, followers: Followers,
                        ready: anyio.Event | None = None) -> None:
    """Turn ``keys.DIAGNOSTICS_CHANGES`` messages into notifications until cancelled;
    reconnects with backoff while Redis is away. (Channels have no slot: on a cluster the
    node the URL names carries them, as for the editors' results.)"""
    from ..store.connection import _cluster_option

    url, _ = _cluster_option(redis_url)
    backoff = 0.1
    while True:
        client = redis.asyncio.Redis.from_url(url, protocol=2, socket_connect_timeout=2)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(keys.DIAGNOSTICS_CHANGES)
                if ready is not None:
                    ready.set()
                backoff = 0.1
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    try:
                        await _on_change(message["data"], tools, followers)
                    except redis.RedisError:
                        raise
                    except Exception:  # noqa: BLE001 - one bad result must not stop the others
                        log.exception("could not forward the change of %r", message["data"])
        except (redis.RedisError, OSError) as exc:
            log.warning("change subscription lost (%s); retrying", exc)
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        finally:
            await client.aclose()


async def _on_change(data: bytes, tools: Tools, followers: Followers) -> None:
    path = data.decode("utf-8", "surrogateescape")
    uri = resource_uri(path)
    if not followers.wanted(uri):
        return
    results = await anyio.to_thread.run_sync(tools.latest, path)
    if followers.changed(uri, digest(results)):
        await followers.notify(uri)

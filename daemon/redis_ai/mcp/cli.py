"""``redis-ai mcp``: run the MCP server over stdio (the default) or streamable HTTP."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from .. import __version__

DEFAULT_PORT = 7878


def register(sub: Any) -> None:
    """Add the ``mcp`` subcommand (without importing the SDK: every command builds the parser)."""
    p = sub.add_parser("mcp", help="serve coding agents over the Model Context Protocol (docs/mcp.md)")
    p.add_argument("--redis-url", default=None, help="Redis to use (default: the running daemon's)")
    p.add_argument("--namespace", default=argparse.SUPPRESS, metavar="NS",
                   help="prefix of every key and channel (default: the running daemon's)")
    p.add_argument("--http", action="store_true",
                   help="streamable HTTP on 127.0.0.1 instead of stdio (token in RUNTIME/mcp.json)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"HTTP port (default {DEFAULT_PORT}; 0 for any free one)")
    p.add_argument("--allow-define", action="store_true",
                   help="offer the lisp_define tool, which lets the agent store analyzers")
    p.add_argument("--show-token", action="store_true",
                   help="print the HTTP bearer token (made if there is none) and exit")
    p.set_defaults(func=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    import anyio

    from ..store.connection import connect
    from ..workers.liveness import Heartbeat, new_ident
    from . import http
    from .server import Followers, build, watch_changes
    from .tools import Tools

    if args.show_token:
        print(http.token())
        return 0
    url = _url(args.redis_url)
    client = connect(url, socket_timeout=30)
    tools = Tools(client, allow_define=args.allow_define)
    followers = Followers()
    server = build(tools, followers)
    sock = http.listen(args.port) if args.http else None
    where = f"http://{http.HOST}:{sock.getsockname()[1]}{http.PATH}" if sock else "stdio"
    heartbeat = Heartbeat(client, "mcp", new_ident(), {
        "pid": os.getpid(), "version": __version__, "transport": where,
        "define": int(args.allow_define)})
    heartbeat.start()

    async def stop_on_signal(scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                scope.cancel()  # then the heartbeat and mcp.json go, below
                return

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch_changes, url, tools, followers)
            tasks.start_soon(stop_on_signal, tasks.cancel_scope)
            if sock is not None:
                secret = http.token()
                http.Discovery(pid=os.getpid(), url=where, token=secret).write()
                print(f"redis-ai mcp ready on {where} (token in {http.Discovery.path()})",
                      file=sys.stderr, flush=True)
                await http.serve(server, sock, secret)
            else:
                from mcp.server.stdio import stdio_server

                async with stdio_server() as (read, write):
                    await server.run(read, write, server.create_initialization_options())
            tasks.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        heartbeat.stop()
        http.remove_discovery(os.getpid())
    return 0


def _url(given: str | None) -> str:
    """The Redis URL ``connect`` used: given, else $REDIS_AI_REDIS_URL, else the daemon's."""
    from ..config import ENV_REDIS_URL, Discovery

    return given or os.environ.get(ENV_REDIS_URL) or Discovery.read().redis_url

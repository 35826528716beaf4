"""``redis-ai mcp``: the engine's diagnostics, search, tests, edits and Lisp analyzers offered to
coding agents over the Model Context Protocol (docs/mcp.md).

Layers: ``tools.py`` answers each tool from Redis (plain functions, no MCP in them);
``server.py`` is the MCP server (tools, diagnostics resources, change notifications fed by Redis
pub/sub); ``http.py`` serves it over streamable HTTP on loopback behind a bearer token;
``cli.py`` is the subcommand.
"""

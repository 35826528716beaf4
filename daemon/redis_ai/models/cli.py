"""``redis-ai models list|add|remove|show`` and ``redis-ai learn PATH...``.

``register(subparsers)`` adds both commands to the ``redis-ai`` parser; each sets ``func`` to a
handler that takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..progress import Bars
from ..progress import add_argument as add_progress_argument
from ..store.connection import connect
from . import ngram, registry


def register(subparsers: Any) -> None:
    """Add the ``models`` and ``learn`` commands to the ``redis-ai`` subparsers."""
    p = subparsers.add_parser("models", help="the model registry: list, add, remove, show")
    msub = p.add_subparsers(dest="models_command", required=True)

    q = msub.add_parser("list", help="every model with its measured latency and success rate")
    _common(q)
    q.set_defaults(func=cmd_list)

    q = msub.add_parser("show", help="every field of one model")
    _common(q)
    q.add_argument("id")
    q.set_defaults(func=cmd_show)

    q = msub.add_parser("remove", help="delete a model")
    _common(q)
    q.add_argument("id")
    q.set_defaults(func=cmd_remove)

    q = msub.add_parser(
        "add", help="add or replace a model",
        description="Add an LLM. The API key is read from the environment at call time: "
        "$OPENAI_API_KEY / $ANTHROPIC_API_KEY, or the variable named by --api-key-env.",
    )
    _common(q)
    defaults = registry.Model(id="x")
    q.add_argument("id", help="the model's id in redis-ai")
    q.add_argument("--provider", choices=sorted(registry.PROVIDERS - {"ngram"}), default="openai")
    q.add_argument("--endpoint", default="", help="base URL (default: the provider's public API); "
                   "Ollama: http://localhost:11434, llama.cpp: http://localhost:8080")
    q.add_argument("--model", required=True, help="the provider's model name")
    q.add_argument("--capability", action="append", dest="capabilities",
                   help="capability it offers; repeatable (default: completion)")
    q.add_argument("--api", choices=sorted(registry.APIS), default=defaults.api,
                   help="OpenAI-compatible: chat (/v1/chat/completions) or completions (/v1/completions)")
    q.add_argument("--api-key-env", default="", help="environment variable holding the API key")
    q.add_argument("--timeout-ms", type=int, default=defaults.timeout_ms)
    q.add_argument("--max-context", type=int, default=defaults.max_context,
                   help="characters of code sent around the cursor")
    q.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    q.add_argument("--cost-in", type=float, default=0.0, help="cost per million input tokens")
    q.add_argument("--cost-out", type=float, default=0.0, help="cost per million output tokens")
    q.add_argument("--disabled", action="store_true", help="register it but do not route to it")
    q.set_defaults(func=cmd_add)

    p = subparsers.add_parser("learn", help="teach the offline completion model a project's files")
    _common(p)
    p.add_argument("paths", nargs="+", help="files or folders (searched recursively)")
    p.add_argument("--watch", action="store_true", help="keep learning files as they change")
    add_progress_argument(p)
    p.set_defaults(func=cmd_learn)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default=None,
                   help="Redis to use (default: $REDIS_AI_REDIS_URL, else the running daemon's)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _out(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registry as a table (or JSON)."""
    models = registry.list_all(connect(args.redis_url))
    rows = [("id", "kind", "provider", "model", "capabilities", "latency_ms", "success", "calls", "score")]
    for m in models:
        rows.append((
            m["id"], m.get("kind", ""), m.get("provider", ""), m.get("model", ""),
            ",".join(m["capabilities"]) + ("" if m["enabled"] else " (disabled)"),
            _fmt(m.get("latency_ms")), _fmt(m.get("success_rate")), str(m.get("calls", 0)),
            _fmt(m["rank_score"]),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    _out(args, models, table if models else "no models registered (redis-ai models add -h)")
    return 0


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def cmd_show(args: argparse.Namespace) -> int:
    """Print every field of one model."""
    found = registry.show(connect(args.redis_url), args.id)
    if found is None:
        print(f"redis-ai: no model {args.id!r}", file=sys.stderr)
        return 1
    _out(args, found, "\n".join(f"{k:<22} {v}" for k, v in sorted(found.items())))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Delete one model."""
    if not registry.remove(connect(args.redis_url), args.id):
        print(f"redis-ai: no model {args.id!r}", file=sys.stderr)
        return 1
    _out(args, {"removed": args.id}, f"removed {args.id}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Validate and store a model definition."""
    model = registry.Model(
        id=args.id, kind="llm", provider=args.provider, endpoint=args.endpoint, model=args.model,
        capabilities=args.capabilities or ["completion"], api=args.api, api_key_env=args.api_key_env,
        timeout_ms=args.timeout_ms, max_context=args.max_context, max_tokens=args.max_tokens,
        cost_in=args.cost_in, cost_out=args.cost_out, enabled=not args.disabled,
    )
    try:
        model.validate()
    except registry.RegistryError as exc:
        print(f"redis-ai: {exc}", file=sys.stderr)
        return 2
    client = connect(args.redis_url)
    registry.add(client, model)
    note = "" if model.api_key() or not model.key_env else f" (note: ${model.key_env} is not set here)"
    _out(args, registry.show(client, model.id), f"added {model.id}{note}")
    return 0


def cmd_learn(args: argparse.Namespace) -> int:
    """Learn the given paths; with --watch keep following their changes until interrupted."""
    client = connect(args.redis_url)
    with Bars(args.progress) as bars:
        summary = ngram.learn(client, args.paths, progress=bars).as_dict()
    _out(args, summary, (f"{summary['seen']:,} files seen: {summary['new']:,} new, "
                         f"{summary['changed']:,} changed, {summary['unchanged']:,} unchanged, "
                         f"{summary['forgotten']:,} forgotten, {summary['skipped']:,} skipped; "
                         f"{summary['ngrams']:,} n-gram counts written in {summary['seconds']:.2f} s"))
    sys.stdout.flush()  # before --watch blocks: a pipe's reader sees the summary now
    if args.watch:
        from .watcher import Watcher

        watcher = Watcher(client, args.paths)
        watcher.start()
        try:
            watcher.join()
        finally:
            watcher.stop()
    return 0

"""Benchmarks behind ``redis-ai bench NAME``: each module has ``add_arguments(parser)`` and
``run(args) -> dict`` (the figures, printed as JSON with --json)."""

from __future__ import annotations

BENCHES: dict[str, str] = {
    "ingest": "redis_ai.bench.ingest",
    "roundtrip": "redis_ai.bench.roundtrip",
    "completion": "redis_ai.bench.completion",
    "nvim": "redis_ai.bench.nvim",
    "emacs": "redis_ai.bench.emacs",
    "analyzers": "redis_ai.bench.analyzers",
    "diagnostics": "redis_ai.bench.diagnostics",
    "hints": "redis_ai.bench.hints",
    "lisp": "redis_ai.bench.lisp",
    "search": "redis_ai.bench.search",
    "testgen": "redis_ai.bench.testgen",
    "nextedit": "redis_ai.bench.nextedit",
}

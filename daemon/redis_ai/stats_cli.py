"""``redis-ai stats``: the analytics summary as terminal tables with sparklines, or as JSON."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import redis

from . import analytics
from .config import ENV_REDIS_URL, Discovery

SPARKS = "▁▂▃▄▅▆▇█"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stats`` command to the ``redis-ai`` parser; it runs ``run(args)``."""
    parser = subparsers.add_parser(
        "stats", help="latency, throughput, errors and acceptance per analyzer and model",
        description="Show what every analyzer and model did over the last --window seconds.")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--window", type=float, default=3600.0, metavar="SECONDS",
                        help="how far back to look (default 3600)")
    parser.add_argument("--buckets", type=int, default=30, help="sparkline width (default 30)")
    parser.add_argument("--redis-url", help="Redis to read (default: the running daemon's)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the summary of ``args.window`` seconds to ``out`` (stdout); return the exit code."""
    out = out or sys.stdout
    if args.window <= 0 or args.buckets <= 0:
        print("redis-ai stats: --window and --buckets must be positive", file=sys.stderr)
        return 2
    client = _connect(args.redis_url)
    try:
        data = analytics.summary(client, window_s=args.window, buckets=args.buckets)
    finally:
        client.close()
    if args.json:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    else:
        out.write(render(data))
    return 0


def _connect(url: str | None) -> redis.Redis:
    # Stand-in for the daemon's own lookup: --redis-url, else $REDIS_AI_REDIS_URL, else the
    # redis_url in the running daemon's discovery file.
    url = url or os.environ.get(ENV_REDIS_URL) or Discovery.read().redis_url
    return redis.Redis.from_url(url)


def render(data: dict[str, Any]) -> str:
    """The summary as text: one table for analyzers, one for models, sparklines per row."""
    span = _duration(data["window_s"])
    lines = [f"redis-ai stats: last {span}, sparklines in {data['buckets']} buckets of "
             f"{_duration(data['bucket_s'])}", ""]
    if not data["analyzers"] and not data["models"]:
        lines.append("no measurements in this window")
    if data["analyzers"]:
        header = ["analyzer", *_CALL_HEADER, "accepted", "partial", "dismissed", "accept%",
                  "calls", "p50 latency"]
        rows = [[name, *_call_cells(row), str(row["accepted"]), str(row["accepted_partial"]),
                 str(row["dismissed"]), _pct(row["acceptance_rate"]), *_sparks(row)]
                for name, row in sorted(data["analyzers"].items())]
        lines += _table(header, rows) + [""]
    if data["models"]:
        header = ["model", *_CALL_HEADER, "calls", "p50 latency"]
        rows = [[name, *_call_cells(row), *_sparks(row)]
                for name, row in sorted(data["models"].items())]
        lines += _table(header, rows) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


_CALL_HEADER = ["count", "/min", "p50 ms", "p99 ms", "mean ms", "errors", "err%"]


def _call_cells(row: dict[str, Any]) -> list[str]:
    lat = row["latency_ms"]
    return [str(row["count"]), f"{row['throughput_per_min']:.1f}", _ms(lat["p50"]),
            _ms(lat["p99"]), _ms(lat["mean"]), str(row["errors"]), _pct(row["error_rate"])]


def _sparks(row: dict[str, Any]) -> list[str]:
    return [sparkline(row["series"]["count"]), sparkline(row["series"]["latency_p50_ms"])]


def sparkline(values: Sequence[float | None]) -> str:
    """One block character per value, scaled from 0 to the largest; a space where there is none.

    >>> sparkline([0, 1, 2, None, 8])
    '▁▁▂ █'
    """
    top = max((v for v in values if v is not None), default=0)
    if top <= 0:
        return "".join(" " if v is None else SPARKS[0] for v in values)
    return "".join(" " if v is None else SPARKS[max(0, math.ceil(v / top * 8) - 1)]
                   for v in values)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    # The name and the sparklines read left to right; numbers line up on the right.
    text_cols = {0, len(header) - 2, len(header) - 1}

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in text_cols else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}" if x >= 100 else f"{x:.2f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"

"""``redis-ai stats``: the analytics summary as terminal tables with sparklines, or as JSON."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import analytics
from .store.connection import connect

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
    client = connect(args.redis_url)
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


def render(data: dict[str, Any]) -> str:
    """The summary as text: per analyzer and per model, a table of figures, then sparklines."""
    lines = [f"redis-ai stats: last {_duration(data['window_s'])}, sparklines in "
             f"{data['buckets']} buckets of {_duration(data['bucket_s'])}", ""]
    if not data["analyzers"] and not data["models"]:
        lines.append("no measurements in this window")
    analyzers = sorted(data["analyzers"].items())
    if analyzers:
        header = ["analyzer", *_CALL_HEADER, *_FEEDBACK_HEADER]
        rows = [[name, *_call_cells(row), *_feedback_cells(row)] for name, row in analyzers]
        lines += _table(header, rows)
        if any(_unknown_rate(row) for _, row in analyzers):
            lines.append("(accept% unknown: the editor did not report which suggestions it showed;"
                         " update its plugin)")
        lines += [""] + _trends("analyzer", analyzers) + [""]
    models = sorted(data["models"].items())
    if models:
        rows = [[name, *_call_cells(row)] for name, row in models]
        lines += _table(["model", *_CALL_HEADER], rows) + [""] + _trends("model", models) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


_CALL_HEADER = ["count", "/min", "p50 ms", "p99 ms", "mean ms", "errors", "err%"]
_FEEDBACK_HEADER = ["shown", "accept", "partial", "dismiss", "ignored", "accept%"]


def _feedback_cells(row: dict[str, Any]) -> list[str]:
    if _unknown_rate(row):
        ignored, rate = "?", "unknown"
    else:
        ignored = "-" if row["ignored"] is None else str(row["ignored"])
        rate = _pct(row["acceptance_rate"])
    return [str(row["shown"]), str(row["accepted"]), str(row["accepted_partial"]),
            str(row["dismissed"]), ignored, rate]


def _unknown_rate(row: dict[str, Any]) -> bool:
    """Feedback arrived but none said what was shown: an old editor, whose rate cannot be had."""
    return row["shown"] == 0 and row["accepted"] + row["accepted_partial"] + row["dismissed"] > 0


def _trends(kind: str, rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    # Beside the figures, two series of 30 characters each would make the table too wide.
    return _table([kind, "calls", "p50 latency"], [
        [name, sparkline(row["series"]["count"]), sparkline(row["series"]["latency_p50_ms"])]
        for name, row in rows], text={0, 1, 2})


def _call_cells(row: dict[str, Any]) -> list[str]:
    lat = row["latency_ms"]
    return [str(row["count"]), f"{row['throughput_per_min']:.1f}", _ms(lat["p50"]),
            _ms(lat["p99"]), _ms(lat["mean"]), str(row["errors"]), _pct(row["error_rate"])]


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


def _table(header: list[str], rows: list[list[str]], text: set[int] | None = None) -> list[str]:
    """Columns in ``text`` (default: the first) are left-aligned; figures are right-aligned."""
    text = text or {0}
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in text else c.rjust(w)
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

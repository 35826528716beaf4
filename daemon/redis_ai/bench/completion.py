"""Offline completion on real projects, against a lookup-table baseline in the same run.

The projects are pinned sdists from PyPI (bench/diagnostics.py fetches and caches them). Each
project's .py files are split in halves by a hash of their path inside the project; the model
is learned with ``ngram.learn`` (what ``redis-ai learn`` runs) on one half, and the other half's
non-blank lines are completed as if typed top to bottom: the text before the cursor is the
file's earlier lines plus the cursor's line up to

* its indentation ("start": the whole line is expected), or
* a point drawn at random inside the line's text ("mid": the rest of the line is expected).

A completion is exact when it equals the expected text. For each position the figures are the
exact rate (exact / cases), the offered rate and exact-when-offered, for what ships
(``models.offline``), for the lookup baseline and for the n-gram model alone, all in this run.
"prose" counts the cases whose cursor is inside a string or comment (as ``models.point`` sees
it). The baseline is a table of the training lines keyed by (previous non-blank line, typed
prefix), plus the current file's earlier lines: it offers the rest of the most frequent line
after the same previous line that starts with what is typed.

``--calibrate`` measures on the training half only, split again in two, and prints the
thresholds that give the most exact offers while staying right at least CALIBRATE_PRECISION
of the time: this is how ``offline.THRESHOLDS`` were chosen.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ..models import ngram, offline, point
from ..store.embedded import EmbeddedRedis
from ._harness import machine, percentile
from .diagnostics import _CACHE, _sources

PROJECTS = ("requests==2.32.3", "flask==3.0.3", "click==8.1.7", "attrs==24.2.0")
"""Pinned, from those bench diagnostics already fetches."""
CALIBRATE_PRECISION = {False: 0.55, True: 0.7}
"""Exact-when-offered the calibration asks for, above the 50 % target for a margin; more inside
strings and comments (prose), where a wrong ghost text is most distracting."""
POSITIONS = ("start", "mid")
SYSTEMS = ("shipped", "baseline", "ngram")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the projects, the cache, how many cases, calibration."""
    parser.add_argument("--projects", default=",".join(PROJECTS),
                        help="comma-separated pinned sdists (name==version)")
    parser.add_argument("--cache", default=str(_CACHE), help="folder for the sdists")
    parser.add_argument("--max-cases", type=int, default=800,
                        help="cases per position and project, spread evenly (default 800)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--calibrate", action="store_true",
                        help="measure on the training halves only and print the thresholds")


def _half(path: Path, root: Path, salt: str = "") -> int:
    digest = hashlib.blake2b((salt + path.relative_to(root).as_posix()).encode(), digest_size=4)
    return digest.digest()[0] & 1


Case = tuple[str, str, str, bool, str]
"""(text before the cursor, expected completion, position, in prose, file)."""


def _cases(files: list[Path], max_cases: int, rng: random.Random) -> list[Case]:
    out: dict[str, list[Case]] = {p: [] for p in POSITIONS}
    for path in files:
        text = ngram.normalize(path.read_text(encoding="utf-8", errors="replace"))
        offset = 0
        for line in text.split("\n"):
            body = line.lstrip(" \t")
            if body:
                head = text[:offset] + line[: len(line) - len(body)]
                out["start"].append((head, body, "start", False, str(path)))
                if len(body) >= 2:
                    cut = rng.randrange(1, len(body))
                    out["mid"].append((head + body[:cut], body[cut:], "mid", False, str(path)))
            offset += len(line) + 1
    cases = []
    for position in POSITIONS:
        found = out[position]
        step = max(1, len(found) // max_cases)
        cases += found[::step][:max_cases]
    return [(b, e, pos, point.in_prose(b, "python"), f) for b, e, pos, _, f in cases]


def _plain_pairs(text: str) -> list[tuple[str, str]]:
    """(previous non-blank line, line), both stripped, for the baseline's table."""
    out, prev = [], ""
    for raw in text.split("\n"):
        line = raw.strip()
        if line:
            out.append((prev, line))
            prev = line
    return out


class Baseline:
    """The lookup table: training lines by (previous line, typed prefix), plus the file's own
    earlier lines, the most frequent line that starts with the prefix winning."""

    def __init__(self, files: list[Path]) -> None:
        self.table: dict[str, Counter[str]] = {}
        for path in files:
            text = ngram.normalize(path.read_text(encoding="utf-8", errors="replace"))
            for prev, line in _plain_pairs(text):
                self.table.setdefault(prev, Counter())[line] += 1

    def complete(self, before: str) -> str:
        """The rest of the line the table proposes, or ''."""
        cut = before.rfind("\n")
        typed = before[cut + 1:].lstrip(" \t")
        earlier = _plain_pairs(before[:cut]) if cut >= 0 else []
        prev = earlier[-1][1] if earlier else ""
        counts = Counter(self.table.get(prev, Counter()))
        counts.update(line for p, line in earlier if p == prev)
        for line, _ in counts.most_common():
            if line.startswith(typed) and len(line) > len(typed):
                return line[len(typed):]
        return ""


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fetch the projects, then measure each (or calibrate on their training halves)."""
    projects = [p for p in args.projects.split(",") if p]
    with tempfile.TemporaryDirectory(prefix="rai-bench-") as tmp:
        server = EmbeddedRedis(Path(tmp), Path(tmp), persistent=False)
        server.start()
        try:
            import redis

            client = redis.Redis(unix_socket_path=str(server.socket), protocol=2)
            figures: dict[str, Any] = {
                "bench": "completion", "calibrate": bool(args.calibrate),
                "engine": client.info("server")["redis_version"], "projects": projects}
            per: dict[str, Any] = {}
            pooled: list[dict[str, Any]] = []
            for spec in projects:
                files = _sources(Path(args.cache), (spec,))
                root = Path(args.cache) / spec.replace("==", "-")
                train = [p for p in files if _half(p, root) == 0]
                test = [p for p in files if _half(p, root) == 1]
                if args.calibrate:
                    test = [p for p in train if _half(p, root, "calibrate") == 1]
                    train = [p for p in train if _half(p, root, "calibrate") == 0]
                client.flushdb()
                results, info = _measure(client, train, test, args)
                pooled += results
                per[spec] = {**info, **_table(results)}
            figures["all"] = _table(pooled)
            figures.update(per)
            latencies = sorted(r["ms"] for r in pooled)
            whole = sorted(ms for info in per.values() for ms in info.pop("analyzer_ms"))
            figures["latency_ms"] = {
                "model": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
                "analyzer": {"p50": percentile(whole, 50), "p99": percentile(whole, 99)}}
            if args.calibrate:
                figures["thresholds"] = _calibrate(pooled)
            figures["machine"] = machine()
            return figures
        finally:
            server.stop()


def _measure(client: Any, train: list[Path], test: list[Path],
             args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    started = time.monotonic()
    ngram.learn(client, train)
    info = {"train_files": len(train), "heldout_files": len(test),
            "learn_s": round(time.monotonic() - started, 2),
            "redis_mb": round(client.info("memory")["used_memory"] / 2**20, 1)}
    baseline = Baseline(train)
    completer = ngram.Completer(client, "python", next_line=False)
    results = []
    cases = _cases(test, args.max_cases, random.Random(args.seed))
    info["analyzer_ms"] = _analyzer_ms(client, cases[:: max(1, len(cases) // 200)])
    for before, expected, position, prose, _ in cases:
        t0 = time.perf_counter()
        offer = offline.best(client, "python", before, completer)
        ms = (time.perf_counter() - t0) * 1000
        plain = completer.complete(before).text
        results.append({
            "position": position, "prose": prose, "expected": expected, "ms": ms,
            "shipped": offer.text if offer.offered else "", "confidence": offer.confidence,
            "candidate": offer.text, "baseline": baseline.complete(before), "ngram": plain})
    return results, info


def _analyzer_ms(client: Any, cases: list[Case]) -> list[float]:
    """The whole analyzer per edit event (cursor split, type-through check, model, registry
    update) on a 300-line window, as the consumer-group runner calls it."""
    from ..analyzers.completion import Completion

    analyzer = Completion(client)
    out = []
    for i, (before, *_) in enumerate(cases):
        window = before.split("\n")[-300:]
        event = {"v": 1, "editor": "bench", "client": "c-bench", "buffer": str(i),
                 "file": "/bench.py", "language": "python", "line": len(window),
                 "col": len(window[-1]), "tick": 1, "text": "\n".join(window), "first_line": 1,
                 "intent": "edit", "whole": False}
        t0 = time.perf_counter()
        analyzer.analyze(event)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _table(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Exact, offered and exact-when-offered per position (and in prose), per system."""
    out: dict[str, Any] = {}
    for position in POSITIONS:
        for prose in (None, True):
            rows = [r for r in results if r["position"] == position
                    and (prose is None or r["prose"])]
            name = position + (" prose" if prose else "")
            out[name] = {"cases": len(rows)}
            for system in SYSTEMS:
                offered = [r for r in rows if r[system]]
                exact = sum(r[system] == r["expected"] for r in offered)
                n = max(1, len(rows))
                out[name][f"{system} exact %"] = round(100 * exact / n, 1)
                out[name][f"{system} offered %"] = round(100 * len(offered) / n, 1)
                out[name][f"{system} exact when offered %"] = round(
                    100 * exact / max(1, len(offered)), 1)
    return out


def _calibrate(results: list[dict[str, Any]]) -> dict[str, float]:
    """Per position: the lowest threshold whose offers are right often enough; inside strings
    and comments never lower than outside them (few cases there: stay on the safe side)."""
    chosen = {}
    for position in POSITIONS:
        for prose in (False, True):
            rows = sorted((r for r in results if r["position"] == position
                           and r["prose"] == prose and r["candidate"]),
                          key=lambda r: -r["confidence"])
            best_at, best_exact, exact = 1.01, 0, 0
            for i, r in enumerate(rows, 1):
                exact += r["candidate"] == r["expected"]
                if exact / i >= CALIBRATE_PRECISION[prose] and exact > best_exact:
                    best_at, best_exact = r["confidence"], exact
            # Rounded down, so the threshold still admits the case that set it.
            chosen[f"{position}{' prose' if prose else ''}"] = math.floor(best_at * 1000) / 1000
        chosen[f"{position} prose"] = max(chosen[position], chosen[f"{position} prose"])
    return chosen

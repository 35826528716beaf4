"""Offline completion quality and latency: learn a real project, complete lines of held-out files.

Every HELDOUT-th source file (in sorted order) is kept out of training. For each non-blank line
of a held-out file the completer gets the text up to the line's indentation (what an editor
shows after auto-indent) and must produce the whole line ("line"); the text up to the end of
the previous line, and must produce the line break, indentation and line ("next"); and the text
up to half of the line's tokens, and must produce the rest ("mid"). Last, each held-out file is
learned without a few of its sampled lines, as if saved before they were written, and those
lines are completed again from their indentation ("new_line": a new line in a file the model
knows, the everyday case). A completion is exact when it equals the expected text.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..models import ngram
from ..store.embedded import EmbeddedRedis
from ._harness import percentile

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the corpus, the split, the model order and threshold, how many lines to try."""
    parser.add_argument("--root", default=str(STDLIB), help="folder holding the packages")
    parser.add_argument("--packages", default="json,email,asyncio",
                        help="comma-separated folders under --root to learn (default json,email,asyncio)")
    parser.add_argument("--heldout", type=int, default=5, help="hold out every Nth file (default 5)")
    parser.add_argument("--max-lines", type=int, default=1500,
                        help="held-out lines to complete, spread evenly (default 1500)")
    parser.add_argument("--order", type=int, default=ngram.ORDER, help="n-gram order")
    parser.add_argument("--min-score", type=float, default=ngram.MIN_SCORE,
                        help="lowest backed-off probability a proposed token may have")
    parser.add_argument("--local-order", type=int, default=ngram.LOCAL_ORDER,
                        help="n-gram order used on the text before the cursor (0: none)")


def _split(root: Path, packages: list[str], heldout: int) -> tuple[list[Path], list[Path]]:
    files = sorted(p for pkg in packages for p, _ in ngram.source_files([root / pkg]))
    test = [p for i, p in enumerate(files) if i % heldout == heldout - 1]
    train = [p for p in files if p not in test]
    return train, test


Case = tuple[str, str, str]
"""(text before the cursor, expected completion, mode)."""


def _sample(test: list[Path], max_lines: int) -> list[tuple[Path, int, str, str]]:
    """(file, line index, text before the line, line) for ``max_lines`` non-blank lines."""
    lines: list[tuple[Path, int, str, str]] = []
    for path in test:
        text = ngram.normalize(path.read_text(encoding="utf-8", errors="replace"))
        offset = 0
        for i, line in enumerate(text.split("\n")):
            if line.strip():
                lines.append((path, i, text[:offset], line))
            offset += len(line) + 1
    step = max(1, len(lines) // max_lines)
    return lines[::step][:max_lines]


def _cases(sample: list[tuple[Path, int, str, str]]) -> list[Case]:
    """The line, next and mid cases of every sampled line."""
    cases = []
    for _, _, before, line in sample:
        indent = line[: len(line) - len(line.lstrip())]
        cases.append((before + indent, line[len(indent):], "line"))
        end = len(before.rstrip("\n"))
        if before[:end].strip():
            cases.append((before[:end], before[end:] + line, "next"))
        tokens = ngram.tokenize(line[len(indent):])
        if len(tokens) >= 2:
            cut = len("".join(tokens[: len(tokens) // 2]))
            body = line[len(indent):]
            cases.append((before + indent + body[:cut], body[cut:], "mid"))
    return cases


def _new_lines(client: Any, completer: ngram.Completer,
               sample: list[tuple[Path, int, str, str]]) -> list[tuple[str, str]]:
    """(completion, expected) for sampled lines written into a file the model knows.

    Each held-out file is learned without a few of its sampled lines (at most one line in 20),
    as if saved before they were written, and those lines are completed from their
    indentation; then the next few, relearning only the difference each time.
    """
    by_file: dict[Path, list[tuple[int, str, str]]] = {}
    for path, index, before, line in sample:
        by_file.setdefault(path, []).append((index, before, line))
    out = []
    for path, lines_of in by_file.items():
        lines = ngram.normalize(path.read_text(encoding="utf-8", errors="replace")).split("\n")
        groups = -(-len(lines_of) * 20 // len(lines))
        for g in range(groups):
            chosen = lines_of[g::groups]
            dropped = {index for index, _, _ in chosen}
            saved = "\n".join(line for i, line in enumerate(lines) if i not in dropped)
            ngram.learn_text(client, "python", str(path), saved)
            for _, before, line in chosen:
                indent = line[: len(line) - len(line.lstrip())]
                out.append((completer.complete(before + indent).text, line[len(indent):]))
    return out


def _score(s: dict[str, int], text: str, expected: str) -> None:
    s["cases"] += 1
    if text:
        s["offered"] += 1
        s["exact"] += text == expected
        s["prefix"] += expected.startswith(text)
        s["first"] += ngram.tokenize(text)[:1] == ngram.tokenize(expected)[:1]




def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, complete every case, and return the shares and latencies."""
    root = Path(args.root)
    train, test = _split(root, [p for p in args.packages.split(",") if p], args.heldout)
    if not train or not test:
        raise SystemExit(f"no Python files to split under {root} for {args.packages}")
    with tempfile.TemporaryDirectory(prefix="rai-bench-") as tmp:
        server = EmbeddedRedis(Path(tmp), Path(tmp), persistent=False)
        server.start()
        try:
            return _measure(server, args, train, test)
        finally:
            server.stop()


def _measure(server: EmbeddedRedis, args: argparse.Namespace, train: list[Path],
             test: list[Path]) -> dict[str, Any]:
    import redis

    client = redis.Redis(unix_socket_path=str(server.socket), protocol=2)
    started = time.monotonic()
    report = ngram.learn(client, train, order=args.order)
    learn_s = time.monotonic() - started
    train_tokens = sum(len(ngram.tokenize(p.read_text(encoding="utf-8", errors="replace")))
                       for p in train)
    completer = ngram.Completer(client, "python", order=args.order, min_score=args.min_score,
                                local_order=args.local_order,
                                local_weight=ngram.LOCAL_WEIGHT if args.local_order else 0.0)
    stats = {mode: {"cases": 0, "exact": 0, "offered": 0, "prefix": 0, "first": 0}
             for mode in ("line", "next", "mid", "new_line")}
    latencies: list[float] = []
    sample = _sample(test, args.max_lines)
    cases = _cases(sample)
    for before, expected, mode in cases:
        t0 = time.perf_counter()
        guess = completer.complete(before)
        latencies.append((time.perf_counter() - t0) * 1000)
        _score(stats[mode], guess.text, expected)
    latencies.sort()
    analyzer_ms = _analyzer_latencies(client, cases[:: max(1, len(cases) // 300)])
    keys_count, memory = client.dbsize(), client.info("memory")["used_memory"]
    for text, expected in _new_lines(client, completer, sample):
        _score(stats["new_line"], text, expected)
    figures: dict[str, Any] = {
        "engine": server.binary.rsplit("/", 1)[-1] + " " + client.info("server")["redis_version"],
        "train_files": len(train),
        "train_tokens": train_tokens,
        "heldout_files": len(test),
        "learn_s": round(learn_s, 2),
        "learn_tokens_per_s": round(train_tokens / learn_s) if learn_s else 0,
        "keys": keys_count,
        "redis_memory_mb": round(memory / 2**20, 1),
        "order": args.order,
        "min_score": args.min_score,
        "local_order": args.local_order,
    }
    for mode, s in stats.items():
        n = max(1, s["cases"])
        figures[f"{mode}_cases"] = s["cases"]
        figures[f"{mode}_exact_share"] = round(s["exact"] / n, 4)
        figures[f"{mode}_offered_share"] = round(s["offered"] / n, 4)
        figures[f"{mode}_precision"] = round(s["exact"] / max(1, s["offered"]), 4)
        figures[f"{mode}_prefix_precision"] = round(s["prefix"] / max(1, s["offered"]), 4)
        figures[f"{mode}_first_token_share"] = round(s["first"] / n, 4)
    figures["latency_ms_p50"] = percentile(latencies, 50)
    figures["latency_ms_p99"] = percentile(latencies, 99)
    figures["analyzer_ms_p50"] = percentile(analyzer_ms, 50)
    figures["analyzer_ms_p99"] = percentile(analyzer_ms, 99)
    figures["learned_files"] = len(report.learned)
    return figures


def _analyzer_latencies(client: Any, cases: list[Case]) -> list[float]:
    """The whole analyzer per edit event (routing check, cursor split, n-gram, registry update)
    on a 300-line window, as the consumer-group runner calls it."""
    from ..analyzers.completion import Completion

    analyzer = Completion(client)
    out = []
    for before, _, _ in cases:
        lines = before.split("\n")
        window = lines[-300:]
        event = {"v": 1, "editor": "bench", "client": "c-bench", "buffer": "1", "file": "/bench.py",
                 "language": "python", "line": len(lines), "col": len(window[-1]), "tick": 1,
                 "text": "\n".join(window), "first_line": len(lines) - len(window) + 1,
                 "intent": "edit", "whole": False}
        t0 = time.perf_counter()
        analyzer.analyze(event)
        out.append((time.perf_counter() - t0) * 1000)
    return sorted(out)

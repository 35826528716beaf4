"""performance_optimization on real projects, every hint judged by reading it.

The sdists are bench diagnostics' pinned projects and seven more (``PROJECTS``), fetched once
into ``--cache`` by its downloader. Every .py file is analysed as a whole buffer, each with its
project's own ruff configuration; every hint is written to ``--out`` (JSON lines: where, code,
message, rewrite and the lines around it), to be read.

The judgements are the table of the "After" section of ``--review`` (docs/hints-review.md):
one row per hint, ``useful``, ``pointless`` or ``wrong`` (``wrong, breaks code`` when following
it changes what the code does). A hint with no row is counted as ``unjudged`` and listed, so a
change that makes new hints shows up here until someone reads them. Figures: the counts,
``precision`` = useful / judged (target at least 0.95) and hints that break code (target 0);
and every rewrite applied alone to its file, which must still parse.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from pathlib import Path
from typing import Any

from ..analyzers import performance
from ..analyzers.performance import PerformanceOptimization
from ..schema import validate_event
from . import diagnostics
from ._harness import machine

PROJECTS = (*diagnostics.PROJECTS, "more-itertools==10.5.0", "jinja2==3.1.4", "werkzeug==3.0.6",
            "boltons==24.0.0", "docutils==0.21.2", "pygments==2.18.0", "sqlparse==0.5.1")
TARGET_PRECISION = 0.95
_ROOT = Path(__file__).resolve().parents[3]
_ROW = re.compile(r"^\|\s*\d+\s*\|\s*`?([^|`]+\.py):(\d+)`?\s*\|\s*`?(\w+)`?\s*\|.*\|\s*"
                  r"(useful|pointless|wrong(?:, breaks code)?)\s*\|[^|]*\|\s*$")
_CONTEXT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the sdist cache, where the hints go, the judgements."""
    parser.add_argument("--cache", default=str(_ROOT / ".bench" / "sdists"),
                        help="folder for the sdists")
    parser.add_argument("--out", default=str(_ROOT / ".bench" / "hints.jsonl"),
                        help="every hint, one JSON object a line, with its context")
    parser.add_argument("--review", default=str(_ROOT / "docs" / "hints-review.md"),
                        help="the judged hints (the table of its 'After' section)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Hint every file, write the hints, count them against the judgements."""
    cache = Path(args.cache)
    files = diagnostics._sources(cache, PROJECTS)
    performance.clear_cache()
    hints = [hint for path in files for hint in _hints(path, cache)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for hint in hints:
            f.write(json.dumps(hint, ensure_ascii=False) + "\n")
    verdicts = judgements(Path(args.review))
    counts = {"useful": 0, "pointless": 0, "wrong": 0}
    breaking, unjudged = 0, []
    for hint in hints:
        verdict = verdicts.get((hint["file"], hint["line"], hint["code"]))
        if verdict is None:
            unjudged.append(f"{hint['file']}:{hint['line']} {hint['code']}")
            continue
        counts[verdict.split(",")[0]] += 1
        breaking += "breaks" in verdict
    judged = sum(counts.values())
    return {
        "bench": "hints", "projects": list(PROJECTS), "files": len(files),
        "lines": sum(p.read_bytes().count(b"\n") for p in files),
        "test_files_skipped": sum(performance.is_test_file(str(p)) for p in files),
        "hints": len(hints), "by_code": _by_code(hints),
        "with_rewrite": sum("rewrite" in h for h in hints),
        "rewrites_that_do_not_parse": _broken_rewrites(hints, cache),
        "judged": judged, **counts, "breaks_code": breaking,
        "precision": round(counts["useful"] / judged, 3) if judged else None,
        "target_precision": TARGET_PRECISION, "unjudged": unjudged, "out": str(out),
        "machine": machine(),
    }


def _hints(path: Path, cache: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    event = validate_event({"v": 1, "editor": "bench", "buffer": str(path), "line": 1, "col": 0,
                            "tick": 1, "text": text, "whole": True, "file": str(path)})
    lines = text.split("\n")
    found = []
    for hint in PerformanceOptimization().analyze(event) or []:
        first = max(0, hint["line"] - 1 - _CONTEXT)
        found.append({"file": path.relative_to(cache).as_posix(), **hint,
                      "context": lines[first:hint["end_line"] + _CONTEXT]})
    return found


def judgements(review: Path) -> dict[tuple[str, int, str], str]:
    """(file, line, code) -> verdict, from the table of the "After" section of ``review``."""
    verdicts: dict[tuple[str, int, str], str] = {}
    section = ""
    text = review.read_text(encoding="utf-8") if review.is_file() else ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip().lower()
        elif section.startswith("after") and (row := _ROW.match(line)):
            verdicts[(row.group(1).strip(), int(row.group(2)), row.group(3))] = row.group(4)
    return verdicts


def _by_code(hints: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for hint in hints:
        counts[hint["code"]] = counts.get(hint["code"], 0) + 1
    return dict(sorted(counts.items()))


def _broken_rewrites(hints: list[dict[str, Any]], cache: Path) -> int:
    """Rewrites after which their file no longer parses (each applied alone)."""
    broken = 0
    for hint in hints:
        if "rewrite" not in hint:
            continue
        lines = (cache / hint["file"]).read_text(encoding="utf-8").split("\n")
        start, end = hint["line"] - 1, hint["end_line"] - 1
        text = "\n".join([*lines[:start], lines[start][:hint["col"]] + hint["rewrite"]
                          + lines[end][hint["end_col"]:], *lines[end + 1:]])
        try:
            ast.parse(text)
        except SyntaxError:
            broken += 1
    return broken

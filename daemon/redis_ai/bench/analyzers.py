"""Analyzer latency on a real-size Python file (1,000+ lines), as a whole-buffer event.

Each analyzer is timed in three ways, ``--runs`` times each:

* ``repeat``: the same event again and again (a cursor move: the caches answer);
* ``typing``: each run one character is typed on a different line of the file (the case that
  matters while editing: only the edited top-level statement is parsed again);
* ``cold``: every cache is emptied before each run (a file just opened).

The target for code_analysis and performance_optimization is under 20 ms p50 (``typing``).
test_generation is timed on its own sample (doctests, guard clauses), at its first function past
the middle of the file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ..analyzers import Analyzer, _pysource, code_analysis, load, performance
from ..schema import validate_event
from ._harness import machine, percentile

ANALYZERS = ("code_analysis", "performance_optimization", "test_generation")
TARGET_P50_MS = 20.0
_SAMPLE = Path(__file__).resolve().parents[3] / "tests" / "samples" / "configparser_py311.py"
_TESTGEN = Path(__file__).resolve().parents[3] / "tests" / "samples" / "testgen" / "shapes" / (
    "geometry.py")
_STDLIB = (Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
           / "configparser.py")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the file, how many runs per mode, which analyzers."""
    default = _SAMPLE if _SAMPLE.exists() else _STDLIB
    parser.add_argument("--file", default=str(default),
                        help="Python file to analyse (default: the 1,382-line configparser sample)")
    parser.add_argument("--runs", type=int, default=50, help="runs per analyzer and mode")
    parser.add_argument("--analyzers", default=",".join(ANALYZERS),
                        help="comma-separated analyzer names")
    parser.add_argument("--testgen-file", default=str(_TESTGEN if _TESTGEN.exists() else default),
                        help="file for test_generation (default: the sample with doctests and"
                             " guard clauses)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Time each analyzer on the file; p50/p99 in milliseconds per mode."""
    path = Path(args.file)
    testgen = Path(args.testgen_file)
    figures: dict[str, Any] = {}
    for name in args.analyzers.split(","):
        target = testgen if name == "test_generation" else path
        figures[name] = _time(load(name), target, args.runs)
        figures[name]["file"] = str(target)
    return {
        "bench": "analyzers", "file": str(path),
        "lines": len(path.read_text(encoding="utf-8").splitlines()), "runs": args.runs,
        "target_p50_ms": TARGET_P50_MS, "analyzers": figures,
        "meets_target": {name: figures[name]["typing"]["p50_ms"] < TARGET_P50_MS
                         for name in figures if name != "test_generation"},
        "machine": machine(),
    }


def _time(analyzer: Analyzer, path: Path, runs: int) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    # The cursor in the body of the first top-level function past the middle of the file, else
    # of the first one (test_generation works on the function at the cursor).
    defs = [i for i, line in enumerate(lines) if line.startswith(("def ", "async def "))]
    later = [i for i in defs if i >= len(lines) // 2]
    cursor = (later or defs or [0])[0] + 2
    modes: dict[str, Any] = {}
    for mode in ("repeat", "typing", "cold"):
        times = []
        items = None
        for i in range(runs):
            event = validate_event({
                "v": 1, "editor": "bench", "buffer": "b", "line": cursor, "col": 4,
                "tick": i, "text": _typed(lines, i) if mode == "typing" else text,
                "whole": True, "file": str(path.resolve()), "intent": "execute_code",
            })
            if mode == "cold":
                _pysource.clear_cache()
                code_analysis.clear_cache()
                performance.clear_cache()
            start = time.perf_counter()
            items = analyzer.analyze(event)
            times.append((time.perf_counter() - start) * 1000)
        modes[mode] = {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99),
                       "items": len(items or [])}
    return modes


def _typed(lines: list[str], i: int) -> str:
    """The file with one character typed at the end of a code line that changes with ``i``,
    inside a comment so the file stays valid and the analyzers do their full work."""
    at = (i * 97) % len(lines)
    while not lines[at].strip() or lines[at].rstrip().endswith("\\"):
        at = (at + 1) % len(lines)
    edited = list(lines)
    edited[at] = f"{lines[at]}  # {'x' * (i % 7 + 1)}"
    return "\n".join(edited)

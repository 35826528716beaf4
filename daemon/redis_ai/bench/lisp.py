"""The stored-program Lisp: interpreter speed and time per event of the example programs.

* ``steps_per_s``: evaluation steps per second of a tail-recursive arithmetic loop (one step is
  one trip round the evaluator's loop; the fuel of a run counts the same steps);
* ``programs``: for each example program of ``examples/lisp``, milliseconds per event (p50,
  p99) on a whole-buffer event of ``--lines`` lines of a real Python file, with the steps used;
* ``analyzers``: the ``lisp`` and ``lisp_hints`` analyzers on the same event, all examples
  stored in a private Redis (this includes their version check, one GET per 100 ms when called directly, as here);
* ``reload_ms``: reading and loading every stored program, as an analyzer does when the
  version moves.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..lisp import store
from ..lisp.analyzer import LispDiagnostics, LispHints
from ..lisp.builtins import global_env
from ..lisp.eval import Run, call, evaluate
from ..lisp.program import compile_library, run_program
from ..lisp.reader import read, split_forms
from ._harness import PrivateRedis, machine, percentile

_ROOT = Path(__file__).resolve().parents[3]
_SAMPLE = _ROOT / "tests" / "samples" / "configparser_py311.py"
EXAMPLES = _ROOT / "examples" / "lisp"
KINDS = {"text-helpers": "diagnostics", "long-lines": "diagnostics", "todo-comments": "hints",
         "print-left": "hints"}
LOOP = "(let loop ((i 0) (acc 0)) (if (< i {n}) (loop (+ i 1) (+ acc i)) acc))"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the file, its length, runs per program, the loop's length."""
    parser.add_argument("--file", default=str(_SAMPLE), help="Python file (default: the sample)")
    parser.add_argument("--lines", type=int, default=1000, help="lines of it to use (default 1000)")
    parser.add_argument("--runs", type=int, default=50, help="events per program (default 50)")
    parser.add_argument("--loop", type=int, default=200_000,
                        help="iterations of the steps/s loop (default 200000)")


def _event(text: str) -> dict[str, Any]:
    return {"v": 1, "editor": "bench", "buffer": "b", "file": "/tmp/bench.py",
            "language": "python", "line": 1, "col": 0, "tick": 1, "text": text,
            "first_line": 1, "whole": True}


def _steps_per_s(n: int) -> dict[str, Any]:
    run = Run(fuel=10**9)
    started = time.perf_counter()
    evaluate(read(LOOP.format(n=n)), global_env(), run)
    elapsed = time.perf_counter() - started
    return {"iterations": n, "steps": run.steps, "seconds": round(elapsed, 3),
            "steps_per_s": round(run.steps / elapsed)}


def _time_programs(library: dict[str, Any], event: dict[str, Any], runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for program in compile_library(library):
        samples = []
        items: list[Any] = []
        for _ in range(runs):
            started = time.perf_counter()
            items = run_program(program, event, {})
            samples.append((time.perf_counter() - started) * 1000)
        steps = Run(program=program.name, event=event)
        call(program.analyze, [], steps)
        out[program.name] = {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99),
                             "items": len(items), "steps": steps.steps}
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure; figures in milliseconds unless named otherwise."""
    lines = Path(args.file).read_text(encoding="utf-8").split("\n")[:args.lines]
    event = _event("\n".join(lines))
    library = {name: (split_forms((EXAMPLES / f"{name}.lisp").read_text()),
                      {"kind": kind}) for name, kind in KINDS.items()}
    figures: dict[str, Any] = {"bench": "lisp", "file": args.file, "lines": len(lines),
                               "runs": args.runs, "machine": machine()}
    figures["steps_per_s"] = _steps_per_s(args.loop)
    figures["programs"] = _time_programs(library, event, args.runs)

    # Always a private Redis: the examples must not replace a user's programs of the same name.
    redis = PrivateRedis()
    try:
        client = redis.client()
        for name, kind in KINDS.items():
            store.define(client, name, (EXAMPLES / f"{name}.lisp").read_text(), kind=kind)
        started = time.perf_counter()
        compile_library(store.library(client)[1])
        figures["reload_ms"] = round((time.perf_counter() - started) * 1000, 3)
        analyzers: dict[str, Any] = {}
        for analyzer in (LispDiagnostics(client), LispHints(client)):
            samples = []
            for _ in range(args.runs):
                started = time.perf_counter()
                analyzer.analyze(dict(event))
                samples.append((time.perf_counter() - started) * 1000)
            analyzers[analyzer.name] = {"p50_ms": percentile(samples, 50),
                                        "p99_ms": percentile(samples, 99)}
        figures["analyzers"] = analyzers
        client.close()
    finally:
        redis.close()
    return figures

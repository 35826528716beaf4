"""Figures of ``redis-ai evolve`` on request files (examples/lisp/evolve/*.json): for each, the
generations it took, the held-out precision and recall of what went live, the time and tokens.

    python -m redis_ai.lisp.evolve_bench --offline examples/lisp/evolve/*.json
    python -m redis_ai.lisp.evolve_bench --redis-url URL [--model ID] examples/lisp/evolve/*.json

A request file is ``{"request", "kind"?, "examples": [{text, flag, file?, lines?}...]}``; the
programs of ``--library`` (default examples/lisp/*.lisp) are what candidates may require.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .evolve import Author, Budget, Task, evolve, make_task
from .gates import Example, judge
from .reader import split_forms


def load_request(path: Path, library: dict[str, list[str]]) -> Task:
    """The task of one request file (its name is the file's stem)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    examples = [Example.from_dict(e) for e in data["examples"]]
    return make_task(path.stem, data["request"], examples, library,
                     kind=data.get("kind", "diagnostics"))


def load_library(folder: Path) -> dict[str, list[str]]:
    """Every ``*.lisp`` of ``folder`` as a program named after the file."""
    return {p.stem: split_forms(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.lisp"))}


def bench(tasks: list[Task], make_author: Callable[[Task], Author],
          budget: Budget | None = None) -> list[dict[str, Any]]:
    """One row of figures per task."""
    rows = []
    for task in tasks:
        started = time.monotonic()
        result = evolve(task, make_author(task), budget or Budget())
        seconds = time.monotonic() - started
        row: dict[str, Any] = {"request": task.name, "train": len(task.train),
                               "held_out": len(task.held_out), "live": result.winner is not None,
                               "generations": len(result.candidates), "tokens": result.tokens,
                               "seconds": round(seconds, 3)}
        if result.winner is not None:
            held = judge(task.name, result.winner.source, task.held_out, task.library)
            row.update(precision=round(held.precision, 3), recall=round(held.recall, 3),
                       winner_generation=result.winner.generation)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the figures as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--model", default="")
    parser.add_argument("--generations", type=int, default=5)
    parser.add_argument("--library", type=Path,
                        default=Path(__file__).resolve().parents[3] / "examples" / "lisp")
    args = parser.parse_args(argv)
    library = load_library(args.library)
    tasks = [load_request(p, library) for p in args.files]
    if args.offline:
        from .variants import VariantAuthor

        rows = bench(tasks, lambda t: VariantAuthor(), Budget(args.generations))
    else:
        from ..store.connection import connect
        from .author import ModelAuthor

        client = connect(args.redis_url)
        rows = bench(tasks, lambda t: ModelAuthor(client, model_id=args.model),
                     Budget(args.generations))
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``redis-ai evolve NAME "REQUEST"``: have a model (or, with ``--offline``, the search over
program variants) write an analyzer, gate it on examples and publish the winner as a new
version with its lineage (docs/lisp.md, "Evolving programs")."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..models.routing import NoModel
from ..schema import language_of
from ..store.connection import connect
from . import lineage, replay, store
from .author import ModelAuthor
from .data import LispError
from .evolve import Author, Budget, evolve, make_task
from .gates import MIN_PRECISION, MIN_RECALL, Example
from .variants import VariantAuthor


def register(subparsers: Any) -> None:
    """Add the ``evolve`` command to the ``redis-ai`` subparsers."""
    p = subparsers.add_parser(
        "evolve", help="have a model write (or improve) a Lisp analyzer from a request",
        description="Write an analyzer from a request in plain words and examples; it goes "
        "live only if it passes held-out examples (docs/lisp.md, 'Evolving programs').")
    p.add_argument("--redis-url", default=None)
    p.add_argument("name", help="the program to write (an existing one is improved)")
    p.add_argument("request", help="what it should flag, in plain words")
    p.add_argument("--examples", action="append", default=[], metavar="FILE",
                   help="JSON list (or JSON lines) of {text, flag, file?, lines?, split?}")
    p.add_argument("--flag", action="append", default=[], metavar="FILE",
                   help="a file that must be flagged")
    p.add_argument("--ok", action="append", default=[], metavar="FILE",
                   help="a file that must not be flagged")
    p.add_argument("--flag-event", action="append", default=[], metavar="RECORDING:K[,K...]",
                   help="recorded events (redis-ai lisp record; K as redis-ai replay numbers "
                   "them) that must be flagged")
    p.add_argument("--ok-event", action="append", default=[], metavar="RECORDING:K[,K...]",
                   help="recorded events that must not be flagged")
    p.add_argument("--flag-text", action="append", default=[], metavar="TEXT")
    p.add_argument("--ok-text", action="append", default=[], metavar="TEXT")
    p.add_argument("--offline", action="store_true",
                   help="search program variants instead of asking a model")
    p.add_argument("--model", default="", help="this registry model only (capability lisp)")
    p.add_argument("--generations", type=int, default=5)
    p.add_argument("--tokens", type=int, default=60_000, help="token budget of the run")
    p.add_argument("--min-precision", type=float, default=MIN_PRECISION)
    p.add_argument("--min-recall", type=float, default=MIN_RECALL)
    p.add_argument("--kind", choices=["diagnostics", "hints"], default="diagnostics")
    p.add_argument("--languages", default="")
    p.add_argument("--replay", default="", metavar="RECORDING",
                   help="diff the winner against the live version on a recording "
                   "(redis-ai lisp record) before publishing; the counts go in its lineage")
    p.add_argument("--dry-run", action="store_true", help="do not publish the winner")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evolve)


def load_examples(args: argparse.Namespace) -> list[Example]:
    """Every example given on the command line."""
    out: list[Example] = []
    for path in args.examples:
        text = Path(path).read_text(encoding="utf-8")
        rows = json.loads(text) if text.lstrip().startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
        out += [Example.from_dict(row) for row in rows]
    for flag, files in ((True, args.flag), (False, args.ok)):
        out += [Example(Path(f).read_text(encoding="utf-8"), flag, file=f) for f in files]
    for flag, texts in ((True, args.flag_text), (False, args.ok_text)):
        out += [Example(t.replace("\\n", "\n"), flag) for t in texts]
    for flag, specs in ((True, args.flag_event), (False, args.ok_event)):
        for spec in specs:
            out += recorded(spec, flag)
    return out


def recorded(spec: str, flag: bool) -> list[Example]:
    """Examples from the events ``RECORDING:K,K`` of a recording (numbered from 0)."""
    path, _, which = spec.rpartition(":")
    wanted = {int(k) for k in which.split(",") if k.strip()}
    events = list(replay.read(Path(path)))
    missing = sorted(k for k in wanted if not 0 <= k < len(events))
    if missing:
        raise SystemExit(f"redis-ai evolve: {path} has {len(events)} events, no {missing}")
    out = []
    for k in sorted(wanted):
        event = events[k]
        file = str(event.get("file") or "example")
        language = str(event.get("language") or "") or language_of(str(event.get("mode") or ""), file)
        out.append(Example(str(event.get("text", "")), flag, file=file, language=language,
                           name=f"{path}:{k}"))
    return out


def cmd_evolve(args: argparse.Namespace) -> int:
    examples = load_examples(args)
    if not any(e.flag for e in examples) or all(e.flag for e in examples):
        print("redis-ai evolve: give examples that must be flagged and examples that must "
              "not", file=sys.stderr)
        return 2
    client = connect(args.redis_url)
    try:
        _, programs = store.library(client)
        library = {n: forms for n, (forms, _) in programs.items() if n != args.name}
        parent = programs.get(args.name)
        task = make_task(args.name, args.request, examples, library, kind=args.kind,
                         parent="\n\n".join(parent[0]) if parent else "",
                         parent_version=int(parent[1].get("version", 0)) if parent else 0)
        author: Author = VariantAuthor() if args.offline else ModelAuthor(client, model_id=args.model)
        budget = Budget(args.generations, args.tokens, args.min_precision, args.min_recall)
        try:
            result = evolve(task, author, budget)
        except NoModel as exc:
            print(f"redis-ai evolve: {exc}", file=sys.stderr)
            return 1
        who = "offline" if args.offline else "model"
        run = lineage.record(client, args.name, result, who)
        meta = None
        regression = None
        if result.winner is not None and args.replay:
            regression = _regression(client, args.name, result.winner.source, programs,
                                     Path(args.replay))
        if result.winner is not None and not args.dry_run:
            languages = [x for x in args.languages.split(",") if x] or None
            try:
                meta = lineage.publish(client, task, result, run, who, languages=languages,
                                       extra={"replay": regression} if regression else None)
            except LispError as exc:
                print(f"redis-ai evolve: not published: {exc}", file=sys.stderr)
                return 1
    finally:
        client.close()
    report = {"name": args.name, "run": run, "live": meta is not None,
              "version": int(meta["version"]) if meta else None, "reason": result.reason,
              "train_examples": len(task.train), "held_out_examples": len(task.held_out),
              "tokens": result.tokens, "cost": result.cost,
              "seconds": round(result.seconds, 3), "replay": regression,
              "candidates": [{k: v for k, v in c.to_dict().items() if k != "source"}
                             for c in result.candidates]}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for c in result.candidates:
            held = c.held_out or {}
            print(f"gen {c.generation} ({c.model}): train P={c.train['precision']} "
                  f"R={c.train['recall']} errors={c.train['errors']}"
                  + (f" {c.train['refused']}" if c.train["refused"] else "")
                  + (f"; held-out P={held['precision']} R={held['recall']}" if held else "")
                  + (" -> live" if c.live else ""))
        if regression:
            print(f"replay of {regression['events']} events: {regression['changed']} differ, "
                  f"{regression['only_a']} items only from the winner, {regression['only_b']} "
                  "only from the live version")
        if meta:
            print(f"{args.name} version {meta['version']} is live ({result.tokens} tokens, "
                  f"{result.seconds:.1f} s)")
        else:
            print(f"nothing went live ({result.reason} spent)" if result.winner is None
                  else "winner not published (--dry-run)")
    return 0 if meta or (args.dry_run and result.winner) else 1


def _regression(client: Any, name: str, source: str, programs: Any, recording: Path) -> dict[str, Any]:
    """The winner against the live version (if any) on ``recording``."""
    library = {n: v for n, v in programs.items() if n != name}
    winner = replay.source_side(name, source, library, "winner")
    live = replay.program_side(client, name) if name in programs else None
    if live is not None:
        live.label = "live"
    return replay.diff(replay.read(recording), winner, live).to_dict()

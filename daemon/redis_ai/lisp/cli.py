"""``redis-ai lisp define|list|show|remove|run|lineage|rollback|reference|eval``: manage and try
the stored Lisp programs.

``register(subparsers)`` adds the ``lisp`` command (and ``evolve``, evolve_cli.py); each subcommand sets ``func`` to a handler
that takes the parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..schema import language_of
from ..store.connection import connect
from . import evolve_cli, lineage, replay, store
from .data import LispError
from .program import Program, compile_library, evaluate_text, run_program
from .reader import to_string
from .reference import reference


def register(subparsers: Any) -> None:
    """Add the ``lisp`` command to the ``redis-ai`` subparsers."""
    p = subparsers.add_parser("lisp", help="stored Lisp programs: user-defined analyzers",
                              description="Define, inspect and try the Lisp programs the "
                              "lisp and lisp_hints analyzers run (docs/lisp.md).")
    sub = p.add_subparsers(dest="lisp_command", required=True)

    q = sub.add_parser("define", help="store (or replace) a program after checking it")
    _common(q)
    q.add_argument("name")
    q.add_argument("file", help="source file, or - for standard input")
    q.add_argument("--description", default="")
    q.add_argument("--languages", default="", help="comma-separated (default: every language)")
    q.add_argument("--kind", choices=["diagnostics", "hints"], default="diagnostics",
                   help="what its items are (default diagnostics)")
    q.set_defaults(func=cmd_define)

    q = sub.add_parser("list", help="every stored program")
    _common(q)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_list)

    q = sub.add_parser("show", help="print a program's forms")
    _common(q)
    q.add_argument("name")
    q.set_defaults(func=cmd_show)

    q = sub.add_parser("remove", help="delete a program")
    _common(q)
    q.add_argument("name")
    q.set_defaults(func=cmd_remove)

    q = sub.add_parser("run", help="run a program's analyze on a file, as the daemon would")
    _common(q)
    q.add_argument("name")
    q.add_argument("--file", required=True, help="the file to analyze (the whole of it)")
    q.add_argument("--line", type=int, default=1, help="cursor line (default 1)")
    q.add_argument("--json", action="store_true", help="print the items as JSON")
    q.set_defaults(func=cmd_run)

    q = sub.add_parser("lineage", help="a program's versions as a tree, with how each was made")
    _common(q)
    q.add_argument("name")
    q.add_argument("--candidates", action="store_true",
                   help="also every candidate evolve tried, with its scores")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_lineage)

    q = sub.add_parser("rollback", help="make an older version live again (as a new version)")
    _common(q)
    q.add_argument("name")
    q.add_argument("version", nargs="?", type=int, default=0,
                   help="default: the live version's parent")
    q.add_argument("--if-dismissed-more", action="store_true",
                   help="only if users dismiss the live version more than its parent")
    q.set_defaults(func=cmd_rollback)

    q = sub.add_parser("record", help="copy events from the event stream to a file, to replay")
    _common(q)
    q.add_argument("file", help="JSON-lines file (appended to)")
    q.add_argument("--count", type=int, default=replay.MAX_EVENTS, help="most events to write")
    q.add_argument("--max-bytes", type=int, default=replay.MAX_BYTES)
    q.add_argument("--follow", type=float, default=0.0, metavar="SECONDS",
                   help="then keep recording new events for this long")
    q.set_defaults(func=cmd_record)

    q = sub.add_parser("reference", help="print the language reference (what evolve sends)")
    q.set_defaults(func=cmd_reference)

    q = sub.add_parser("eval", help="evaluate an expression and print its value")
    q.add_argument("--redis-url", default=None,
                   help="Redis holding the programs that require loads (only if it is used)")
    q.add_argument("expr")
    q.set_defaults(func=cmd_eval)
    evolve_cli.register(subparsers)

    q = subparsers.add_parser(
        "replay", help="run a recording through an analyzer or program version, and diff",
        description="Run recorded events (redis-ai lisp record) through an analyzer or a "
        "stored program's version and compare with another (docs/lisp.md, 'Replay').")
    _common(q)
    q.add_argument("recording")
    which = q.add_mutually_exclusive_group(required=True)
    which.add_argument("--analyzer", help="an analyzer by name (as --analyzers names it)")
    which.add_argument("--program", help="NAME (live) or NAME@VERSION")
    other = q.add_mutually_exclusive_group()
    other.add_argument("--against", help="a program version to compare with: NAME[@VERSION]")
    other.add_argument("--against-analyzer", help="an analyzer to compare with")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_replay)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--redis-url", default=None,
                   help="Redis to use (default: $REDIS_AI_REDIS_URL, else the running daemon's)")


def _fail(message: str) -> int:
    print(f"redis-ai lisp: {message}", file=sys.stderr)
    return 1


def cmd_define(args: argparse.Namespace) -> int:
    source = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    client = connect(args.redis_url)
    try:
        meta = store.define(client, args.name, source, description=args.description,
                            languages=args.languages.split(","), kind=args.kind)
    except LispError as exc:
        return _fail(f"{args.name} not defined: {exc}")
    finally:
        client.close()
    note = "" if meta["analyze"] == "1" else " (no analyze: a helper for other programs)"
    print(f"defined {args.name} version {meta['version']}: {meta['forms']} forms, "
          f"{meta['kind']}{note}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    client = connect(args.redis_url)
    try:
        _, programs = store.library(client)
    finally:
        client.close()
    rows = [{"name": name, **meta} for name, (_, meta) in programs.items()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no programs; define one with 'redis-ai lisp define NAME FILE'")
    for row in rows:
        updated = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(row.get("updated", 0))))
        # A helper's kind and languages matter only once it is an analyzer.
        role = row.get("kind", "") if row.get("analyze") == "1" else "helper"
        print(f"{row['name']:<24} v{row.get('version', '?'):<4} {role:<12} "
              f"{row.get('languages') or 'all':<16} {updated}  {row.get('description', '')}"
              .rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    client = connect(args.redis_url)
    try:
        found = store.get(client, args.name)
    finally:
        client.close()
    if found is None:
        return _fail(f"no program named {args.name}")
    print("\n\n".join(found[0]))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    client = connect(args.redis_url)
    try:
        _, programs = store.library(client)
        if not store.remove(client, args.name):
            return _fail(f"no program named {args.name}")
    finally:
        client.close()
    users = store.dependents(programs, args.name)
    if users:
        print(f"warning: {', '.join(users)} require {args.name} and will fail to load",
              file=sys.stderr)
    print(f"removed {args.name}")
    return 0


def file_event(path: Path, line: int) -> dict[str, Any]:
    """The event an editor would send for the whole of ``path`` with the cursor on ``line``."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return {"v": 1, "editor": "cli", "buffer": str(path), "file": str(path.resolve()),
            "language": language_of("", str(path)), "line": line, "col": 0, "tick": 1,
            "text": text, "first_line": 1, "whole": True, "intent": "request"}


def cmd_run(args: argparse.Namespace) -> int:
    client = connect(args.redis_url)
    try:
        _, programs = store.library(client)
    finally:
        client.close()
    if args.name not in programs:
        return _fail(f"no program named {args.name}")
    loaded = [p for p in compile_library(programs)
              if p.name == args.name]
    if not loaded:
        return _fail(f"{args.name} defines no analyze function")
    program: Program = loaded[0]
    event = file_event(Path(args.file), args.line)
    started = time.perf_counter()
    items = run_program(program, event, {})
    elapsed = (time.perf_counter() - started) * 1000
    if args.json:
        print(json.dumps({"program": args.name, "kind": program.kind, "items": items,
                          "elapsed_ms": round(elapsed, 3)}, indent=2))
    else:
        for item in items:
            severity = item.get("severity", "hint")
            print(f"{args.file}:{item['line']}:{item['col']}: {severity}: {item['message']} "
                  f"[{item['code']}]")
        print(f"{len(items)} {program.kind} from {args.name} in {elapsed:.1f} ms",
              file=sys.stderr)
    return 1 if program.error is not None or any(
        str(i.get("code", "")).startswith("lisp-") for i in items) else 0


def cmd_eval(args: argparse.Namespace) -> int:
    def sources(name: str) -> list[str] | None:
        client = connect(args.redis_url)
        try:
            found = store.get(client, name)
        finally:
            client.close()
        return found[0] if found else None

    try:
        print(to_string(evaluate_text(args.expr, sources)))
    except LispError as exc:
        return _fail(str(exc))
    return 0



def cmd_lineage(args: argparse.Namespace) -> int:
    client = connect(args.redis_url)
    try:
        rows = lineage.tree(client, args.name)
        tried = lineage.candidates(client, args.name) if args.candidates else []
    finally:
        client.close()
    if not rows:
        return _fail(f"no kept versions of {args.name}")
    if args.json:
        print(json.dumps({"versions": rows, "candidates": tried}, indent=2))
        return 0
    print(lineage.render(args.name, rows))
    for c in tried:
        held = c.get("held_out") or {}
        print(f"  run {c['run']} gen {c['generation']} ({c['model']}): train "
              f"P={c['train']['precision']} R={c['train']['recall']}"
              + (f" held-out P={held['precision']} R={held['recall']}" if held else "")
              + (" live" if c["live"] else "") + (f" {c['train']['refused']}"
                                                 if c["train"]["refused"] else ""))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    client = connect(args.redis_url)
    try:
        if args.if_dismissed_more:
            worse, why = lineage.worse_than_parent(client, args.name)
            print(f"{why}: {'rolling back' if worse else 'kept'}")
            if not worse:
                return 0
        meta = lineage.rollback(client, args.name, args.version)
    except LispError as exc:
        return _fail(str(exc))
    finally:
        client.close()
    print(f"{args.name} version {meta['version']} is live (the forms of an older version)")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    print(reference())
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    client = connect(args.redis_url)
    try:
        n = replay.record(client, Path(args.file), args.count, args.max_bytes, args.follow)
    finally:
        client.close()
    print(f"recorded {n} events to {args.file}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    client = connect(args.redis_url)
    try:
        a = (replay.analyzer_side(client, args.analyzer) if args.analyzer
             else replay.program_side(client, args.program))
        b = (replay.analyzer_side(client, args.against_analyzer) if args.against_analyzer
             else replay.program_side(client, args.against) if args.against else None)
        result = replay.diff(replay.read(Path(args.recording)), a, b).to_dict()
    except (LispError, ValueError) as exc:
        return _fail(str(exc))
    finally:
        client.close()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    against = f" against {b.label}" if b is not None else ""
    print(f"{result['events']} events through {a.label}{against}: {result['changed']} differ, "
          f"{result['only_a']} items only from {a.label}"
          + (f", {result['only_b']} only from {b.label}, {result['same']} the same"
             if b is not None else ""))
    for ex in result["examples"]:
        print(f"  event {ex['event']} {ex['file']}: " + "; ".join(
            f"{label}: {', '.join(f'line {line}' for line, _ in items) or 'none'}"
            for label, items in ex.items() if label not in ("event", "file")))
    return 0

"""``redis-ai bench nextedit``: next-edit suggestions on renames scripted in real projects.

For each top-level function or class of the pinned projects' modules (bench diagnostics'
sdists) that the module uses elsewhere, the def's name is renamed by typing, one event per key
(delete the old name from its end, type the new one), through the next_edit analyzer with its
state in a private Redis. The follow-ups it suggests after the last key are compared with the
places Python itself says the module refers to that global: every ``ast.Name`` of it outside
the functions where ``symtable`` says the name is local. Reported: the share of those places
suggested (recall), the share of suggestions that are not one of them (wrong), each sorted by
cause, and the analyzer's latency per event.
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import symtable
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ..analyzers.next_edit import NextEdit
from ._harness import PrivateRedis, machine, percentile
from .diagnostics import _CACHE, PROJECTS, _sources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the sdist cache, how many renames, the seed that picks them."""
    parser.add_argument("--cache", default=str(_CACHE), help="folder for the sdists")
    parser.add_argument("--renames", type=int, default=300, help="renames to script")
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Script the renames, replay them through the analyzer, count and time."""
    cases = _cases(_sources(Path(args.cache)))
    random.Random(args.seed).shuffle(cases)
    cases = cases[:args.renames]
    server = PrivateRedis()
    try:
        analyzer = NextEdit(server.client())
        truth_total = correct = wrong = 0
        exact = 0
        times: list[float] = []
        wrong_causes: Counter[str] = Counter()
        missed_causes: Counter[str] = Counter()
        for n, (_path, text, name, row, col, truth) in enumerate(cases):
            suggested = _replay(analyzer, f"b{n}", text, name, row, col, times)
            truth_total += len(truth)
            correct += len(suggested & truth)
            wrong += len(suggested - truth)
            exact += suggested == truth
            lines = text.split("\n")
            wrong_causes.update(_wrong_cause(lines, name, at) for at in suggested - truth)
            missed_causes.update(_missed_cause(lines, at) for at in truth - suggested)
    finally:
        server.close()
    return {
        "projects": list(PROJECTS), "renames": len(cases), "follow_ups": truth_total,
        "suggested_correctly": round(correct / max(truth_total, 1), 4),
        "wrong_share_of_suggestions": round(wrong / max(correct + wrong, 1), 4),
        "renames_fully_right": round(exact / max(len(cases), 1), 4),
        "wrong_by_cause": dict(wrong_causes.most_common()),
        "missed_by_cause": dict(missed_causes.most_common()),
        "events": len(times), "p50_ms": round(percentile(times, 50), 3),
        "p99_ms": round(percentile(times, 99), 3), "machine": machine(),
    }


def _replay(analyzer: NextEdit, buffer: str, text: str, name: str, row: int, col: int,
            times: list[float]) -> set[tuple[int, int]]:
    """Type ``renamed_<name>`` over the def's name; the (line, col) of the last suggestions."""
    lines = text.split("\n")
    head, tail = lines[row][:col], lines[row][col + len(name):]
    new = f"renamed_{name}"
    typed = [name[:k] for k in range(len(name) - 1, -1, -1)] + [new[:k] for k in range(1, len(new) + 1)]
    analyzer.analyze(_event(buffer, text, 0, "open"))
    items: list[dict[str, Any]] | None = None
    for tick, word in enumerate(typed, 1):
        lines[row] = head + word + tail
        start = time.perf_counter()
        answer = analyzer.analyze(_event(buffer, "\n".join(lines), tick))
        times.append((time.perf_counter() - start) * 1000)
        if answer is not None:
            items = answer
    return {(i["line"], i["col"]) for i in items or [] if i["text"] == new}


def _wrong_cause(lines: list[str], name: str, at: tuple[int, int]) -> str:
    """Why a suggestion is not a reference: the ones seen so far are all the name of another
    module-level def or class of the same name (``@overload`` stubs, a class defined again),
    which ``ast.Name`` does not count but a rename must change too."""
    line = lines[at[0] - 1]
    if re.match(rf"(async\s+)?(def|class)\s+{re.escape(name)}\b", line):
        return "another module-level def or class of the name"
    return "other"


def _missed_cause(lines: list[str], at: tuple[int, int]) -> str:
    """Why a reference was not suggested: inside an f-string's braces (strings are never
    edited), or something else."""
    if re.search(r"(?<!\w)[rRbB]?[fF][rR]?['\"]", lines[at[0] - 1][:at[1]]):
        return "inside an f-string"
    return "other"


def _event(buffer: str, text: str, tick: int, intent: str = "edit") -> dict[str, Any]:
    return {"v": 1, "editor": "bench", "buffer": buffer, "client": "bench", "line": 1, "col": 0,
            "tick": tick, "text": text, "intent": intent, "language": "python", "whole": True}


def _cases(files: list[Path]) -> list[tuple[Path, str, str, int, int, set[tuple[int, int]]]]:
    """(file, text, name, def row, name col, the places that refer to it) per usable global."""
    out = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
            table = symtable.symtable(text, str(path), "exec")
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        if len(text) > 256 * 1024:
            continue
        lines = text.split("\n")
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            truth = _references(tree, table, node.name, lines)
            if not truth:
                continue
            row = node.lineno - 1
            col = lines[row].find(node.name, lines[row].find("def " if not isinstance(
                node, ast.ClassDef) else "class "))
            out.append((path, text, node.name, row, col, truth))
    return out


def _references(tree: ast.Module, table: symtable.SymbolTable, name: str,
                lines: list[str]) -> set[tuple[int, int]]:
    """(line, character col) of every Name ``name`` that refers to the module's global."""
    shadowed: list[tuple[int, int]] = []

    def visit(t: symtable.SymbolTable) -> None:
        for child in t.get_children():
            if child.get_type() == "function":
                try:
                    sym = child.lookup(name)
                except KeyError:
                    sym = None
                if sym is not None and (sym.is_local() or sym.is_parameter()) and not sym.is_global():
                    shadowed.append((child.get_lineno(), child.get_id()))
            visit(child)

    visit(table)
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and any(
                line == node.lineno for line, _ in shadowed):
            spans.append((node.lineno, getattr(node, "end_lineno", node.lineno) or node.lineno))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and not any(
                a <= node.lineno <= b for a, b in spans):
            line = lines[node.lineno - 1]
            col = len(line.encode("utf-8")[:node.col_offset].decode("utf-8", "replace"))
            out.add((node.lineno, col))
    return out

"""code_analysis against ``ruff check`` on real projects' source distributions from PyPI.

The sdists (``PROJECTS``, pinned) are fetched once with ``pip download --no-deps --no-binary
:all:`` into ``--cache`` (``.bench/sdists``, never committed) and unpacked there; each keeps its
own ruff configuration, which both sides read. Figures:

* ``agreement``: on every .py file, code_analysis' diagnostics (code and span) against ``ruff
  check FILE`` run by hand in the file's folder; the target is identical findings on every file;
* ``latency``: p50/p99 on click's core.py (3,000 lines), ``cold`` (every cache emptied and no
  ruff process started ahead: one ruff process and the fix check) and ``typing`` (one character
  typed in a comment per run, runs ``KEYSTROKE_GAP_S`` apart as the editors send them; and
  ``typing_back_to_back``, no gap), process cost included;
  and, to show why a process per check was chosen, the same typing runs as pull-diagnostics round
  trips to a long-lived ``ruff server``;
* ``flicker``: files cut mid-line at random points (what is left of a half-typed line), checked
  after their good state: the share of good diagnostics outside the edited statement that differ
  (target 0), where the syntax error is put, and where ruff alone puts it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from ..analyzers import _last_good, _pysource, code_analysis, ruff_engine
from ..analyzers.code_analysis import CodeAnalysis
from ..schema import validate_event
from ._harness import machine, percentile

PROJECTS = ("requests==2.32.3", "flask==3.0.3", "click==8.1.7", "attrs==24.2.0",
            "rich==13.9.4", "httpx==0.27.2")
TARGET_P50_MS = 10.0
KEYSTROKE_GAP_S = 0.075
"""Time between typing events: the editors send one once typing pauses this long (Neovim's
``debounce_ms`` 75, Emacs' ``redis-ai-debounce`` 0.1 s), so no two arrive closer. It is when the next ``ruff check``
process starts (``_ruff_processes``); ``typing_back_to_back`` measures without it."""
LATENCY_FILE = "click-8.1.7/src/click/core.py"
"""A real module of 3,000 lines with its project's ruff configuration."""
_CACHE = Path(__file__).resolve().parents[3] / ".bench" / "sdists"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the cache folder, how many runs and cuts."""
    parser.add_argument("--cache", default=str(_CACHE), help="folder for the sdists")
    parser.add_argument("--runs", type=int, default=50, help="runs per latency mode")
    parser.add_argument("--cuts", type=int, default=300, help="files cut mid-line for flicker")
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fetch the projects if needed, then measure agreement, latency and flicker."""
    files = _sources(Path(args.cache))
    largest = next(p for p in files if p.as_posix().endswith(LATENCY_FILE))
    return {
        "bench": "diagnostics", "projects": list(PROJECTS), "files": len(files),
        "lines": sum(p.read_bytes().count(b"\n") for p in files),
        "agreement": _agreement(files),
        "latency": {"file": str(largest), "lines": largest.read_bytes().count(b"\n"),
                    **_latency(largest, args.runs), "target_p50_ms": TARGET_P50_MS},
        "flicker": _flicker(files, args.cuts, random.Random(args.seed)),
        "ruff": subprocess.run([ruff_engine.binary(), "--version"],
                               capture_output=True, text=True, check=False).stdout.strip(),
        "machine": machine(),
    }


def _sources(cache: Path, projects: tuple[str, ...] = PROJECTS) -> list[Path]:
    """The .py files of ``projects`` (pinned specs), downloaded and unpacked into ``cache``
    once (bench hints reuses it with one project more)."""
    cache.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for spec in projects:
        name, version = spec.split("==")
        folder = cache / f"{name}-{version}"
        if not folder.is_dir():
            found = sorted(cache.glob(f"{name}-{version}.tar.gz"))
            if not found:
                subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                                "--no-binary", ":all:", spec, "-d", str(cache)], check=True)
                found = sorted(cache.glob(f"{name}-{version}.tar.gz"))
            with tarfile.open(found[0]) as archive:
                archive.extractall(cache, filter="data")
        files += sorted(folder.rglob("*.py"))
    return files


def _event(path: Path, text: str, tick: int, intent: str = "edit", line: int = 1) -> dict:
    return validate_event({"v": 1, "editor": "bench", "buffer": str(path), "line": line,
                           "col": 0, "tick": tick, "text": text, "whole": True,
                           "file": str(path), "intent": intent})


def _spans(items: list[dict[str, Any]]) -> list[tuple]:
    return sorted((d["code"], d["line"], d["col"], d["end_line"], d["end_col"]) for d in items)


def _by_hand(path: Path) -> list[tuple]:
    argv = [ruff_engine.binary(), "check", "--no-cache", "--no-fix", "--force-exclude",
            "--output-format", "json", "--exit-zero", path.name]
    if ruff_engine.config_for(str(path)) is None:  # what code_analysis adds, said by hand
        argv[2:2] = ruff_engine.default_options()
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=path.parent)
    found = json.loads(out.stdout or "[]")
    return sorted(("E999" if d["code"] in (None, "invalid-syntax") else d["code"],
                   d["location"]["row"], d["location"]["column"] - 1, d["end_location"]["row"],
                   d["end_location"]["column"] - 1) for d in found)


def _agreement(files: list[Path]) -> dict[str, Any]:
    analyzer = CodeAnalysis()
    same, ours_total, theirs_total, differing = 0, 0, 0, []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        ours = _spans(analyzer.analyze(_event(path, text, 1)) or [])
        theirs = _by_hand(path)
        ours_total += len(ours)
        theirs_total += len(theirs)
        if ours == theirs:
            same += 1
        else:
            differing.append(str(path))
    return {"identical_files": same, "files": len(files), "diagnostics_ours": ours_total,
            "diagnostics_ruff": theirs_total, "differing": differing[:10]}


def _latency(path: Path, runs: int) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    figures: dict[str, Any] = {}
    analyzer = CodeAnalysis()
    for mode in ("cold", "typing", "typing_back_to_back"):
        times = []
        for i in range(runs):
            edited = list(lines)
            if mode != "cold":
                at = (i * 97) % len(lines)
                edited[at] = f"{lines[at]}  # {'x' * (i % 7 + 1)}"
                if lines[at].rstrip().endswith("\\") or '"""' in lines[at] or "'''" in lines[at]:
                    edited = list(lines)
            else:
                code_analysis.clear_cache()
                _pysource.clear_cache()
            event = _event(path, "\n".join(edited), i)
            start = time.perf_counter()
            analyzer.analyze(event)
            times.append((time.perf_counter() - start) * 1000)
            if mode == "typing":
                time.sleep(KEYSTROKE_GAP_S)
        figures[mode] = {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99)}
    figures["ruff_server_typing"] = _server(path, lines, runs)
    return figures


def _server(path: Path, lines: list[str], runs: int) -> dict[str, Any]:
    """Pull diagnostics from a long-lived ``ruff server`` (LSP over stdio) after each change."""
    proc = subprocess.Popen([ruff_engine.binary(), "server"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=path.parent)
    ids = iter(range(1, 1 << 30))

    def send(message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert proc.stdin is not None
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        proc.stdin.flush()

    def request(method: str, params: dict[str, Any]) -> dict[str, Any]:
        number = next(ids)
        send({"id": number, "method": method, "params": params})
        assert proc.stdout is not None
        while True:
            length = 0
            while (header := proc.stdout.readline()) not in (b"\r\n", b""):
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            message = json.loads(proc.stdout.read(length))
            if "method" in message and "id" in message:
                send({"id": message["id"], "result": None})
            elif message.get("id") == number:
                return message

    try:
        root = path.parent.as_uri()
        request("initialize", {"processId": os.getpid(), "rootUri": root,
                               "workspaceFolders": [{"uri": root, "name": "bench"}],
                               "capabilities": {"general": {"positionEncodings": ["utf-32"]}}})
        send({"method": "initialized", "params": {}})
        uri = path.as_uri()
        send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "python", "version": 0, "text": "\n".join(lines)}}})
        times = []
        for i in range(runs):
            edited = list(lines)
            at = (i * 97) % len(lines)
            edited[at] = f"{lines[at]}  # {'x' * (i % 7 + 1)}"
            start = time.perf_counter()
            send({"method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": i + 1},
                "contentChanges": [{"text": "\n".join(edited)}]}})
            request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
            times.append((time.perf_counter() - start) * 1000)
        return {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99)}
    finally:
        proc.kill()
        proc.wait()


def _flicker(files: list[Path], cuts: int, rng: random.Random) -> dict[str, Any]:
    kept = changed = done = at_statement = ruff_below = ruff_far = tick = 0
    analyzer = CodeAnalysis()
    candidates = [p for p in files if p.stat().st_size > 2000]
    while done < cuts and candidates:
        path = rng.choice(candidates)
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        lines = text.split("\n")
        code_lines = [i for i, line in enumerate(lines) if len(line.strip()) > 8
                      and not line.lstrip().startswith("#")]
        tick += 2  # one buffer per file, its ticks increasing as in an editor
        good = analyzer.analyze(_event(path, text, tick))
        if not code_lines or good is None or any(d["code"] == "E999" for d in good):
            continue
        at = rng.choice(code_lines)
        line = lines[at]
        indent = len(line) - len(line.lstrip())
        lines[at] = line[:rng.randrange(indent + 1, len(line))]
        broken = "\n".join(lines)
        items = analyzer.analyze(_event(path, broken, tick + 1, line=at + 1)) or []
        alone = [d for d in ruff_engine.check(broken, str(path)) if d["code"] == "invalid-syntax"]
        if not alone:
            continue  # still parses: not a half-typed statement
        done += 1
        first, last = _last_good._statement_around(text.split("\n"), at + 1, at + 1)
        outside = [d for d in good if d["end_line"] < first or d["line"] > last]
        shown = {(d["code"], d["line"], d["col"], d["message"]) for d in items}
        kept += len(outside)
        changed += sum((d["code"], d["line"], d["col"], d["message"]) not in shown
                       for d in outside)
        errors = [d for d in items if d["code"] == "E999"]
        at_statement += bool(errors) and first <= errors[0]["line"] <= last
        row = alone[0]["location"]["row"]
        ruff_below += row > at + 1
        ruff_far += row > at + 21
    return {"cuts": done, "good_outside": kept, "differing_outside": changed,
            "differing_share": round(changed / kept, 4) if kept else 0.0,
            "error_in_edited_statement_share": round(at_statement / done, 4) if done else 0.0,
            "ruff_alone_below_edited_line_share": round(ruff_below / done, 4) if done else 0.0,
            "ruff_alone_20_lines_below": ruff_far}

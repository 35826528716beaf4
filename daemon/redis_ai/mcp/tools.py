"""What each MCP tool answers, computed from Redis and the analyzers; no MCP types in here.

Every answer is plain text an agent reads cheaply: one line per finding, ``FILE:LINE:COL:``
with 1-based lines and columns, as compilers and the editors' lists print them. A request that
cannot be answered raises ToolError with a message that says what to change.
"""

from __future__ import annotations

import ast
import difflib
import os
import threading
import time
from typing import Any

import msgpack
import redis

from .. import analyzers, keys
from ..analyzers.base import Analyzer
from ..errors import BadEvent
from ..lisp import service
from ..schema import MAX_TEXT, language_of

ON_DEMAND = ("code_analysis", "checkers", "performance_optimization", "lisp", "lisp_hints")
"""The diagnostics and hints analyzers run in-process for a file no editor has sent."""

EDITS_SCANNED = 2000
"""Newest stream entries read when looking for a file's recent edits."""

MAX_LISTED = 200
"""Most diagnostics or edits listed in one answer (the rest are counted)."""


class ToolError(Exception):
    """A tool call that cannot be answered; the message tells the agent what to change."""


class Tools:
    """The tools' shared state: the Redis client and the analyzers loaded on first use."""

    def __init__(self, client: redis.Redis, *, allow_define: bool = False) -> None:
        self.client = client
        self.allow_define = allow_define
        self._analyzers: list[Analyzer] | None = None
        self._tests: Analyzer | None = None
        # Tool calls run in worker threads; analyzers keep state (the last good parse, loaded
        # programs) and were written for one runner thread each.
        self._lock = threading.Lock()

    # -- diagnostics -----------------------------------------------------------------------
    def latest(self, path: str) -> dict[str, dict[str, Any]]:
        """The latest diagnostics and hints results the editors received for ``path``, by analyzer."""
        found: dict[Any, Any] = self.client.hgetall(keys.latest_results(path))
        results = {}
        for analyzer, payload in found.items():
            try:
                results[analyzer.decode()] = msgpack.unpackb(payload, raw=False)
            except (ValueError, msgpack.ExtraData):
                continue  # a field written by hand: not a result
        return results

    def diagnostics(self, args: dict[str, Any]) -> str:
        """The ``diagnostics`` tool: the editors' latest results for a file, else computed now."""
        path = _path(args, "file")
        results = self.latest(path)
        if results:
            newest = max(r.get("received", 0) for r in results.values()) / 1000
            origin = (f"as the editors last received them ({_ago(newest)}, buffer tick "
                      f"{max(r.get('tick', 0) for r in results.values())})")
        else:
            results = self.compute(path, _read(path))
            origin = "computed now from the file on disk (no editor has sent it)"
        return render_results(path, results, origin)

    def compute(self, path: str, text: str) -> dict[str, dict[str, Any]]:
        """Run the diagnostics and hints analyzers on ``text`` in this process, as a worker
        would on an editor's event for the whole buffer."""
        event = _event(path, text, line=1)
        results = {}
        with self._lock:
            for analyzer in self._loaded():
                if not analyzer.wants(event):
                    continue
                items = analyzer.analyze(dict(event))
                if items is not None:
                    results[analyzer.name] = {"kind": analyzer.kind, "items": items}
        return results

    def _loaded(self) -> list[Analyzer]:
        if self._analyzers is None:
            self._analyzers = [analyzers.load(name, self.client) for name in ON_DEMAND]
        return self._analyzers

    # -- search ----------------------------------------------------------------------------
    def search(self, args: dict[str, Any]) -> str:
        """The ``search_code`` tool: the indexed functions nearest in meaning to a query."""
        from ..search.service import search_request  # numpy and the index: loaded when asked

        params = {"query": args.get("query"), "k": args.get("k", 10)}
        if args.get("root") is not None:
            params["root"] = args["root"]
        reply = _protocol(search_request, self.client, params)
        if not reply["chunks"]:
            return "nothing is indexed yet: run `redis-ai index FOLDER` first"
        lines = [f"{len(reply['hits'])} of {reply['chunks']} indexed chunks ({reply['backend']}):"]
        for hit in reply["hits"]:
            lines.append(f"{hit['file']}:{hit['line']}-{hit['end_line']}: {hit['name']} "
                         f"(score {hit['score']})")
        return "\n".join(lines)

    # -- generated tests -------------------------------------------------------------------
    def tests(self, args: dict[str, Any]) -> str:
        """The ``generated_tests`` tool: what test generation offers for a function, as an
        editor's request gets it (the tests run before they are offered)."""
        path = _path(args, "file")
        function = args.get("function")
        if not isinstance(function, str) or not function:
            raise ToolError("function must name a function of the file (`name` or `Class.method`)")
        text = _read(path)
        event = _event(path, text, line=_def_line(text, function, path))
        with self._lock:
            if self._tests is None:
                self._tests = analyzers.load("test_generation", self.client)
            items = self._tests.analyze(event) or []
        parts = []
        for item in items:
            status = f" [{item['status']}]" if item.get("status") else ""
            where = f", to save as {item['path']}" if item.get("path") else ""
            parts.append(f"{item.get('title', '')}{status} (for {path}:{item.get('line', 1)}"
                         f"{where}):\n\n{item.get('text', '')}")
        return "\n\n".join(parts) or f"no tests for {function}"

    # -- recent edits ----------------------------------------------------------------------
    def edits(self, args: dict[str, Any]) -> str:
        """The ``recent_edits`` tool: a file's latest events from the stream, newest first,
        and a diff of its text between the oldest and newest of them."""
        path = _path(args, "file")
        limit = args.get("limit", 20)
        if type(limit) is not int or not 1 <= limit <= MAX_LISTED:
            raise ToolError(f"limit must be an integer from 1 to {MAX_LISTED}")
        found = sorted(self._events_of(path, limit), key=lambda e: -e.get("received", 0))
        found = found[:limit]
        if not found:
            return f"no recent edits of {path} in the last {EDITS_SCANNED} stream entries"
        lines = [f"{len(found)} latest events of {path}, newest first:"]
        for e in found:
            what = e.get("command") or e.get("keys") or ""
            lines.append(f"{_clock(e.get('received', 0) / 1000)} {e.get('intent', 'edit')} at "
                         f"{path}:{e.get('line')}:{e.get('col', 0) + 1} ({e.get('editor', '')}, "
                         f"tick {e.get('tick')}{', ' + what if what else ''})")
        diff = _diff(found[-1], found[0], path)
        if diff:
            lines += ["", "change of the text over these events:", diff]
        return "\n".join(lines)

    def _events_of(self, path: str, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` events of ``path`` in each shard of the stream."""
        names = {path, os.path.realpath(path)}
        found: list[dict[str, Any]] = []
        for shard in range(int(self.client.get(keys.EVENT_SHARDS) or 1)):
            mine = []
            entries: Any = self.client.xrevrange(keys.events(shard), count=EDITS_SCANNED)
            for _, fields in entries:
                try:
                    events = msgpack.unpackb(fields[b"e"], raw=False)
                except (KeyError, ValueError, msgpack.ExtraData):
                    continue
                mine += [e for e in reversed(events) if isinstance(e, dict) and e.get("file") in names]
                if len(mine) >= limit:
                    break
            found += mine
        return found

    # -- Lisp analyzers --------------------------------------------------------------------
    def lisp_programs(self, args: dict[str, Any]) -> str:
        """The ``lisp_programs`` tool: every stored program, or one program's source."""
        name = args.get("name")
        if name is not None:
            return _protocol(service.show_request, self.client, {"name": name})["source"]
        programs = _protocol(service.list_request, self.client, {})["programs"]
        if not programs:
            return "no Lisp programs are stored (see lisp_define, docs/lisp.md)"
        return "\n".join(
            f"{p['name']} v{p['version']} {p['kind']}"
            f"{'' if p['analyzer'] else ' (helper)'}"
            f"{' for ' + ','.join(p['languages']) if p['languages'] else ''}"
            f"{': ' + p['description'] if p['description'] else ''}" for p in programs)

    def lisp_run(self, args: dict[str, Any]) -> str:
        """The ``lisp_run`` tool: a stored program's ``analyze`` on a file (or given text), in
        the editors' sandbox."""
        params: dict[str, Any] = {"name": args.get("name")}
        path = _path(args, "file") if "file" in args else ""
        text = args.get("text")
        if text is None:
            if not path:
                raise ToolError("give file (a path to read) or text")
            text = _read(path)
        params.update(text=text, file=path)
        reply = _protocol(service.run_request, self.client, params)
        label = path or "text"
        lines = [f"{len(reply['items'])} items in {reply['steps']} steps"]
        lines += [_item_line(label, item, args.get("name", "")) for item in reply["items"]]
        if reply.get("error"):
            lines.append(f"error: {reply['error']}")
        return "\n".join(lines)

    def lisp_define(self, args: dict[str, Any]) -> str:
        """The ``lisp_define`` tool: store a program, checked as an editor's define is."""
        if not self.allow_define:
            raise ToolError("defining programs is off: start `redis-ai mcp --allow-define`")
        params: dict[str, Any] = {k: args[k] for k in ("name", "source", "description", "kind",
                                                       "languages") if k in args}
        reply = _protocol(service.define_request, self.client, params)
        return (f"{reply['name']} defined: version {reply['version']}, {reply['forms']} forms, "
                f"{reply['kind']}, {'runs on edits' if reply['analyzer'] else 'a helper'}")


# -- rendering ---------------------------------------------------------------------------
def render_results(path: str, results: dict[str, dict[str, Any]], origin: str) -> str:
    """Diagnostics and hints of ``path`` as lines, errors first."""
    rows = [(analyzer, item) for analyzer, res in sorted(results.items())
            for item in res.get("items", []) if isinstance(item, dict)]
    rows.sort(key=lambda r: (r[1].get("severity") != "error", r[1].get("line", 0), r[1].get("col", 0)))
    head = f"{path}: {len(rows)} diagnostics and hints, {origin}"
    lines = [head] + [_item_line(path, item, analyzer) for analyzer, item in rows[:MAX_LISTED]]
    if len(rows) > MAX_LISTED:
        lines.append(f"... and {len(rows) - MAX_LISTED} more")
    return "\n".join(lines)


def _item_line(path: str, item: dict[str, Any], analyzer: str) -> str:
    severity = item.get("severity", "hint")
    code = f" {item['code']}" if item.get("code") else ""
    extra = " (a fix is offered)" if item.get("fix") else ""
    if item.get("rewrite") is not None:
        extra = f" (rewrite: {item['rewrite']!r})"
    return (f"{path}:{item.get('line', 1)}:{item.get('col', 0) + 1}: {severity}{code}: "
            f"{item.get('message', '')}{extra} [{item.get('source') or analyzer}]")


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch)) if epoch else "--:--:--"


def _ago(epoch: float) -> str:
    seconds = max(0.0, time.time() - epoch)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _diff(old: dict[str, Any], new: dict[str, Any], path: str) -> str:
    """A unified diff between two events' texts when both hold the same lines of the buffer."""
    if old is new or old.get("first_line", 1) != new.get("first_line", 1):
        return ""
    before = str(old.get("text", "")).splitlines(keepends=True)
    after = str(new.get("text", "")).splitlines(keepends=True)
    start = new.get("first_line", 1) - 1
    diff = list(difflib.unified_diff(before, after, f"{path} (tick {old.get('tick')})",
                                     f"{path} (tick {new.get('tick')})", n=1))
    if start:
        diff.insert(0, f"(lines counted from {start + 1})\n")
    return "".join(diff[:MAX_LISTED]).rstrip("\n")


# -- arguments ---------------------------------------------------------------------------
def _path(args: dict[str, Any], field: str) -> str:
    value = args.get(field)
    if not isinstance(value, str) or not value:
        raise ToolError(f"{field} must be a file path (absolute, as the editors name files)")
    if not os.path.isabs(value):
        raise ToolError(f"{field} must be an absolute path, not {value!r}")
    return os.path.normpath(value)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_TEXT + 1)
    except UnicodeDecodeError:
        raise ToolError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise ToolError(f"cannot read {path}: {exc.strerror}") from None
    if len(text.encode()) > MAX_TEXT:
        raise ToolError(f"{path} is larger than {MAX_TEXT} bytes")
    return text


def _event(path: str, text: str, *, line: int) -> dict[str, Any]:
    """An event for the whole of ``text``, as an editor sends for a request."""
    return {"v": 1, "editor": "mcp", "buffer": path, "file": path, "mode": "",
            "language": language_of("", path), "line": line, "col": 0, "tick": 0,
            "text": text, "first_line": 1, "whole": True, "intent": "request",
            "keys": "", "command": "", "client": "", "received": time.time() * 1000}


def _def_line(text: str, function: str, path: str) -> int:
    """The line of the ``def`` of ``function`` (``name`` or ``Class.method``) in ``text``."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ToolError(f"{path} does not parse: line {exc.lineno}: {exc.msg}") from None
    owner, _, name = function.rpartition(".")
    scopes: list[Any] = [tree]
    if owner:
        scopes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == owner]
    for scope in scopes:
        for node in scope.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return node.lineno
    raise ToolError(f"no function {function} at the top level of {path}"
                    f"{'' if owner else ' (a method is Class.method)'}")


def _protocol(handler: Any, client: redis.Redis, params: dict[str, Any]) -> Any:
    """Call an editor protocol handler; its BadEvent becomes the tool's error."""
    try:
        return handler(client, params)
    except BadEvent as exc:
        raise ToolError(exc.message) from None

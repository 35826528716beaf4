"""Stored programs as the analyzer runs them: loading (with ``require``), running ``analyze`` on
an event, and turning what it returns into the protocol's items.

Loading a program evaluates its top-level forms in a fresh environment on the builtins; then
that environment is frozen, so a program keeps no state from one event to the next.
``(require 'other)`` loads ``other`` the same way (once per library) and copies its bindings,
all but ``analyze``, into the requiring program's environment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .builtins import global_env
from .data import NIL, Cons, LispError, Symbol
from .eval import Env, Run, Value, call, evaluate
from .reader import read, to_string

log = logging.getLogger(__name__)

ANALYZE = Symbol.of("analyze")
LOAD_FUEL = 200_000
"""Steps loading a program (with what it requires) may take."""
MAX_ITEMS = 1000
"""Most items one program may return for one event."""
MAX_FIELDS = 32
"""Pairs of an item's alist that are read."""
MAX_REWRITES = 1 << 20
"""Most characters of hint rewrites in one program's result (the size of a text window)."""
KINDS = ("diagnostics", "hints")

Sources = Callable[[str], list[str] | None]
"""Name -> the program's forms as source text, or None when there is no such program."""


class Loader:
    """Loads programs from ``sources``, each at most once; detects require cycles."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.loaded: dict[str, Env] = {}
        self.loading: list[str] = []
        self.parsed: dict[str, list[Any]] = {}

    def forms(self, name: str) -> list[Any]:
        """The program's forms, read once (errors name the form's index)."""
        if name not in self.parsed:
            texts = self.sources(name)
            if texts is None:
                raise LispError(f"no program named {name}")
            out = []
            for k, text in enumerate(texts, 1):
                try:
                    out.append(read(text))
                except LispError as exc:
                    raise LispError(f"form {k}: {exc.message}", kind="read") from None
            self.parsed[name] = out
        return self.parsed[name]

    def load(self, name: str, run: Run | None = None) -> Env:
        """The frozen global environment of program ``name``, loading it if need be."""
        if name in self.loaded:
            return self.loaded[name]
        if name in self.loading:
            chain = " -> ".join([*self.loading[self.loading.index(name):], name])
            raise LispError(f"require cycle: {chain}")
        run = run or Run(fuel=LOAD_FUEL)
        saved = run.globals, run.program, run.require
        env = global_env()
        run.globals, run.program, run.require = env, name, self.require
        self.loading.append(name)
        try:
            for form in self.forms(name):
                evaluate(form, env, run)
        except LispError as exc:
            if exc.program is None:
                exc.program = name
            raise
        finally:
            self.loading.pop()
            run.globals, run.program, run.require = saved
        env.frozen = True
        self.loaded[name] = env
        return env

    def require(self, name: str, run: Run) -> None:
        """Load ``name`` and copy its definitions (but ``analyze``) into the running program."""
        env = self.load(name, run)
        target = run.globals
        if target is None:
            raise LispError("require: no program is being loaded")
        for sym, value in env.vars.items():
            if sym is not ANALYZE:
                target.define(sym, value)


@dataclass
class Program:
    """One stored program as the analyzer holds it: loaded, or the error that stopped it."""

    name: str
    kind: str = "diagnostics"
    languages: frozenset[str] = frozenset()  # empty: every language
    version: int = 0
    analyze: Value = None
    error: LispError | None = None
    logged: set[str] = field(default_factory=set)

    def applies_to(self, language: str) -> bool:
        return not self.languages or language in self.languages


def parse_meta(meta: Mapping[str, str]) -> tuple[str, frozenset[str], int]:
    """(kind, languages, version) from a program's metadata hash."""
    kind = meta.get("kind", "diagnostics")
    languages = frozenset(x for x in meta.get("languages", "").split(",") if x)
    try:
        version = int(meta.get("version", "0"))
    except ValueError:
        version = 0
    return (kind if kind in KINDS else "diagnostics"), languages, version


def compile_library(programs: Mapping[str, tuple[list[str], Mapping[str, str]]]) -> list[Program]:
    """Load every program that defines ``analyze``; a program that fails to load is kept with
    its error (it yields an error item), and the others load regardless."""
    loader = Loader(lambda name: programs[name][0] if name in programs else None)
    out = []
    for name in sorted(programs):
        kind, languages, version = parse_meta(programs[name][1])
        program = Program(name, kind, languages, version)
        try:
            env = loader.load(name)
        except LispError as exc:
            program.error = exc
            out.append(program)
            continue
        program.analyze = env.vars.get(ANALYZE)
        if program.analyze is not None:
            out.append(program)
    return out


def run_program(program: Program, event: dict[str, Any], cache: dict[str, Any],
                fuel: int | None = None, quiet: bool = False) -> list[dict[str, Any]]:
    """The items ``program`` gives for ``event``; a failure becomes one error item (and a log
    line, once per program version and kind of failure). Never raises. The steps it took are
    added to ``cache["steps"]`` (the analyzer's budget per event), and a failure's text is kept
    in ``cache["errors"][NAME]`` (for ``lisp_run``). ``quiet`` logs nothing (the gates judge
    candidates that are expected to fail)."""
    run = Run(program=program.name, event=event, cache=cache)
    if fuel is not None:
        run.fuel = fuel
    try:
        if program.error is not None:
            raise program.error
        try:
            value = call(program.analyze, [], run)
            return to_items(value, program.kind, program.name)
        except LispError as exc:
            exc.program = exc.program or program.name
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in a builtin must not stop the worker
            log.exception("lisp program %s hit an internal error", program.name)
            raise LispError(f"internal error: {type(exc).__name__}: {exc}",
                            program=program.name) from None
    except LispError as exc:
        cache.setdefault("errors", {})[program.name] = str(exc)
        key = f"{exc.kind}:{exc.message}"
        if not quiet and key not in program.logged and len(program.logged) < 100:
            program.logged.add(key)
            log.warning("lisp program %s (version %d) failed: %s", program.name,
                        program.version, exc)
        return [error_item(exc, program.kind, program.name, event)]
    finally:
        cache["steps"] = cache.get("steps", 0) + min(run.steps, run.fuel)


def error_item(exc: LispError, kind: str, name: str, event: dict[str, Any]) -> dict[str, Any]:
    """The item that reports a failed program where the user is looking (the cursor's line)."""
    line = event.get("line", 1)
    item = {"line": line, "col": 0, "end_line": line, "end_col": 0,
            "message": f"lisp program {name} failed: {exc}"[:2000], "code": f"lisp-{exc.kind}"}
    if kind == "diagnostics":
        item.update(severity="error", source=f"lisp:{name}")
    return item


def _plain(value: Value) -> Any:
    if type(value) in (int, float, str):
        return value
    if type(value) is Symbol:
        return value.name
    return None


def _is_item(value: Value) -> bool:
    return type(value) is Cons and type(value.car) is Cons and type(value.car.car) is Symbol


def to_items(value: Value, kind: str, name: str) -> list[dict[str, Any]]:
    """Items in the protocol's shape for ``kind`` from what ``analyze`` returned: nil, one item
    or a list of items, each an alist such as ``(diagnostic ...)`` and ``(hint ...)`` build."""
    if value is NIL:
        return []
    values: list[Value] = [value]
    if not _is_item(value) and type(value) is Cons:
        values = []
        for v in value:
            if len(values) == MAX_ITEMS:
                raise LispError(f"analyze returned more than {MAX_ITEMS} items", kind="size")
            values.append(v)
    items = [_item(v, kind, name) for v in values]
    if sum(len(item.get("rewrite", "")) for item in items) > MAX_REWRITES:
        raise LispError(f"the rewrites of the items hold more than {MAX_REWRITES} characters",
                        kind="size")
    return items


def _fields(value: Value) -> dict[str, Any]:
    """An item alist's fields: the first of each key, among its first MAX_FIELDS pairs (items
    may share one long list: reading it whole for each would multiply the work)."""
    fields: dict[str, Any] = {}
    for k, pair in enumerate(value):
        if k == MAX_FIELDS:
            break
        if type(pair) is Cons and type(pair.car) is Symbol:
            fields.setdefault(pair.car.name, _plain(pair.cdr))
    return fields


def _item(value: Value, kind: str, name: str) -> dict[str, Any]:
    if not _is_item(value):
        raise LispError(f"analyze returned {to_string(value, limit=80)}, which is not an item "
                        "(an alist as built by diagnostic or hint)")
    fields = _fields(value)
    line, message = fields.get("line"), fields.get("message")
    if type(line) is not int or line < 1 or type(message) is not str:
        raise LispError(f"item {to_string(value, limit=80)} needs a line (an integer >= 1) and a message")
    col = fields.get("col") if type(fields.get("col")) is int else 0
    end_line = fields.get("end_line") if type(fields.get("end_line")) is int else line
    end_col = fields.get("end_col") if type(fields.get("end_col")) is int else col
    code = fields["code"][:200] if type(fields.get("code")) is str else "lisp"
    item: dict[str, Any] = {"line": line, "col": col, "end_line": end_line, "end_col": end_col,
                            "message": message[:2000], "code": code}
    if kind == "diagnostics":
        severity = fields.get("severity")
        item["severity"] = severity if severity in ("error", "warning", "info", "hint") else (
            "hint" if "severity" not in fields else "warning")
        item["source"] = f"lisp:{name}"
    elif type(fields.get("rewrite")) is str:
        item["rewrite"] = fields["rewrite"]
    return item


def evaluate_text(text: str, sources: Sources | None = None, **limits: Any) -> Value:
    """Evaluate every form of ``text`` in a fresh environment (``redis-ai lisp eval``); return
    the last value. ``sources`` lets ``require`` find stored programs."""
    from .reader import read_all

    env = global_env()
    run = Run(**limits)
    run.globals = env
    loader = Loader(sources or (lambda name: None))
    run.require = loader.require
    value: Value = NIL
    for form in read_all(text):
        value = evaluate(form, env, run)
    return value


__all__ = ["Loader", "Program", "compile_library", "evaluate_text", "run_program",
           "to_items"]

"""The protocol's ``lisp_*`` methods: check an editor's params, call the store, shape the reply.

Editors define, list, show, remove and try the stored programs through these (docs/protocol.md,
"Lisp programs"), as ``redis-ai lisp`` does from the shell. A program the store refuses is a
``bad_value`` error whose message, for a reader error, reads ``NAME not defined: line L, col C:
WHAT`` (line 1-based, column 0-based, in the source sent), so an editor can put the cursor there.

``lisp_evolve`` (``redis-ai evolve`` from an editor) takes seconds, so by default it answers at
once with a job id and runs on a thread of its own, pushing ``lisp_evolve`` messages to the
connection that asked; with ``wait`` it answers when done instead (for a connection of its own).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from ..errors import BadEvent
from ..models.routing import NoModel
from ..schema import MAX_TEXT, language_of
from . import lineage, store
from .author import ModelAuthor
from .data import LispError
from .evolve import Attempt, Author, Budget, Draft, Result, Task, evolve, make_task
from .gates import MIN_PRECISION, MIN_RECALL, Example
from .program import KINDS, compile_library, run_program
from .variants import VariantAuthor

log = logging.getLogger(__name__)

MAX_SOURCE = 1 << 20
"""Longest program source accepted, in characters."""
MAX_DESCRIPTION = 1000
MAX_LANGUAGES = 64


def _params(method: str, params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise BadEvent("bad_type", f"{method} takes a map")
    return params


def _string(params: dict[str, Any], field: str, limit: int, default: str | None = None) -> str:
    value = params.get(field, default)
    if not isinstance(value, str):
        raise BadEvent("bad_type", f"{field} must be a string")
    if len(value) > limit:
        raise BadEvent("bad_value", f"{field} holds more than {limit} characters")
    return value


def _name(params: dict[str, Any]) -> str:
    name = _string(params, "name", 64)
    try:
        return store.check_name(name)
    except LispError as exc:
        raise BadEvent("bad_value", exc.message) from None


def _bool(meta: dict[str, str], field: str) -> bool:
    return meta.get(field) == "1"


def _list(text: str) -> list[str]:
    return [x for x in text.split(",") if x]


def define_request(client: redis.Redis, params: Any) -> dict[str, Any]:
    """Answer ``{"name", "source", "description"?, "languages"?, "kind"?}`` with
    ``{"name", "version", "forms", "kind", "analyzer"}``. A field left out keeps the stored
    program's value (a new program: no description, every language, ``diagnostics``)."""
    params = _params("lisp_define", params)
    name = _name(params)
    source = _string(params, "source", MAX_SOURCE)
    found = store.get(client, name)
    old = found[1] if found else {}
    description = _string(params, "description", MAX_DESCRIPTION, old.get("description", ""))
    kind = params.get("kind", old.get("kind", "diagnostics"))
    if kind not in KINDS:
        raise BadEvent("bad_value", f"kind must be one of {', '.join(KINDS)}")
    languages = params.get("languages", _list(old.get("languages", "")))
    if (not isinstance(languages, list) or len(languages) > MAX_LANGUAGES
            or not all(isinstance(x, str) and len(x) <= 64 for x in languages)):
        raise BadEvent("bad_type", f"languages must be a list of at most {MAX_LANGUAGES} strings")
    try:
        meta = store.define(client, name, source, description=description,
                            languages=languages, kind=kind)
    except LispError as exc:
        # A reader error's message starts with its position; the others name the program.
        raise BadEvent("bad_value", f"{name} not defined: "
                       f"{exc.message if exc.kind == 'read' else exc}") from None
    return {"name": name, "version": int(meta["version"]), "forms": int(meta["forms"]),
            "kind": meta["kind"], "analyzer": _bool(meta, "analyze")}


def list_request(client: redis.Redis, params: Any) -> dict[str, Any]:
    """Answer ``{}`` with ``{"programs": [...]}``, one map per stored program, by name."""
    _params("lisp_list", params)
    _, programs = store.library(client)
    rows = []
    for name, (_, meta) in programs.items():
        try:
            version, updated = int(meta.get("version", "0")), float(meta.get("updated", "0"))
        except ValueError:  # a hash changed by hand (docs/lisp.md allows LSET and INCR)
            version, updated = 0, 0.0
        rows.append({"name": name, "version": version, "kind": meta.get("kind", "diagnostics"),
                     "analyzer": _bool(meta, "analyze"),
                     "languages": _list(meta.get("languages", "")),
                     "description": meta.get("description", ""),
                     "requires": _list(meta.get("requires", "")), "updated": updated})
    return {"programs": rows}


def show_request(client: redis.Redis, params: Any) -> dict[str, Any]:
    """Answer ``{"name"}`` with ``{"name", "source"}``: the forms joined by blank lines."""
    name = _name(_params("lisp_show", params))
    found = store.get(client, name)
    if found is None:
        raise BadEvent("bad_value", f"no program named {name}")
    return {"name": name, "source": "\n\n".join(found[0]) + "\n"}


def remove_request(client: redis.Redis, params: Any) -> dict[str, Any]:
    """Answer ``{"name"}`` with ``{"removed", "required_by"}``. The store allows removing a
    helper others require (they report ``no program named`` until it is back), so this does
    too and names them."""
    name = _name(_params("lisp_remove", params))
    _, programs = store.library(client)
    removed = store.remove(client, name)
    return {"removed": removed, "required_by": store.dependents(programs, name) if removed else []}


def run_request(client: redis.Redis, params: Any) -> dict[str, Any]:
    """Answer ``{"name", "text", "file"?, "language"?, "line"?}`` with ``{"items", "steps",
    "error"?}``: the stored program's ``analyze`` on the whole of ``text``, as the analyzer
    would run it (a failure is also its error item)."""
    params = _params("lisp_run", params)
    name = _name(params)
    text = _string(params, "text", MAX_TEXT)
    file = _string(params, "file", 4096, "")
    given = _string(params, "language", 64, "")
    # An editor may name its mode or filetype (as events do); the file's extension is the last
    # resort.
    language = (language_of(given, "") or given) if given else language_of("", file)
    line = params.get("line", 1)
    if type(line) is not int or line < 1:
        raise BadEvent("bad_value", "line must be an integer >= 1")
    _, programs = store.library(client)
    if name not in programs:
        raise BadEvent("bad_value", f"no program named {name}")
    loaded = [p for p in compile_library(programs) if p.name == name]
    if not loaded:
        raise BadEvent("bad_value", f"{name} defines no analyze function: it is a helper")
    event = {"v": 1, "editor": "lisp_run", "buffer": file or name, "file": file,
             "language": language, "line": line, "col": 0, "tick": 1, "text": text,
             "first_line": 1, "whole": True, "intent": "request"}
    cache: dict[str, Any] = {}
    items = run_program(loaded[0], event, cache)
    reply: dict[str, Any] = {"items": items, "steps": cache.get("steps", 0)}
    error = cache.get("errors", {}).get(name)
    if error is not None:
        reply["error"] = error
    return reply


# -- lisp_evolve ------------------------------------------------------------------------------

MAX_REQUEST = 4000
MAX_EXAMPLES = 200
MAX_EXAMPLES_TEXT = 4 << 20
"""Characters of example text one request may hold in all (a msgpack frame is at most 4 MiB)."""
MAX_GENERATIONS = 20
MAX_TOKENS = 1_000_000
MAX_JOBS = 2
"""Evolutions running at once, daemon-wide: each keeps a core busy (the offline search) or
waits on a model; a third is refused with ``busy`` rather than queued behind them."""
_jobs = threading.BoundedSemaphore(MAX_JOBS)


@dataclass
class EvolveOrder:
    """A checked ``lisp_evolve`` request."""

    name: str
    request: str
    examples: list[Example]
    offline: bool = False
    model: str = ""
    budget: Budget = field(default_factory=Budget)
    kind: str = ""
    languages: list[str] | None = None
    dry_run: bool = False
    wait: bool = False


def _flag(params: dict[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name, default)
    if type(value) is not bool:
        raise BadEvent("bad_type", f"{name} must be true or false")
    return value


def _int(params: dict[str, Any], name: str, default: int, top: int) -> int:
    value = params.get(name, default)
    if type(value) is not int:
        raise BadEvent("bad_type", f"{name} must be an integer")
    if not 1 <= value <= top:
        raise BadEvent("bad_value", f"{name} must be from 1 to {top}")
    return value


def _share(params: dict[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    if type(value) not in (int, float):
        raise BadEvent("bad_type", f"{name} must be a number")
    if not 0.0 <= value <= 1.0:
        raise BadEvent("bad_value", f"{name} must be from 0 to 1")
    return float(value)


def _example(k: int, row: Any) -> Example:
    where = f"examples[{k}]"
    if not isinstance(row, dict):
        raise BadEvent("bad_type", f"{where} must be a map {{text, flag, language?, file?}}")
    if "text" not in row or "flag" not in row:
        raise BadEvent("missing_field", f"{where} needs text and flag")
    text = _string(row, "text", MAX_TEXT)
    if type(row["flag"]) is not bool:
        raise BadEvent("bad_type", f"{where}.flag must be true or false")
    file = _string(row, "file", 4096, "") or "example"
    given = _string(row, "language", 64, "")
    lines = row.get("lines")
    if lines is not None and (not isinstance(lines, list) or len(lines) > 10_000 or not all(
            type(n) is int and n >= 1 for n in lines)):
        raise BadEvent("bad_type", f"{where}.lines must be a list of line numbers (1-based)")
    split = _string(row, "split", 16, "")
    if split not in ("", "train", "held_out"):
        raise BadEvent("bad_value", f"{where}.split must be train or held_out")
    # As lisp_run does: a language, a major mode or a filetype; else the file's extension.
    language = (language_of(given, "") or given) if given else language_of("", file)
    return Example(text, row["flag"], file=file, language=language, lines=lines or None,
                   split=split, name=where)


def evolve_order(params: Any) -> EvolveOrder:
    """Check ``lisp_evolve``'s params (docs/protocol.md): a ``bad_type``, ``bad_value`` or
    ``missing_field`` error names the first field that does not fit."""
    params = _params("lisp_evolve", params)
    name = _name(params)
    request = _string(params, "request", MAX_REQUEST)
    if not request.strip():
        raise BadEvent("bad_value", "request must say what to flag, in plain words")
    rows = params.get("examples")
    if not isinstance(rows, list):
        raise BadEvent("bad_type", "examples must be a list of {text, flag, language?, file?}")
    if len(rows) > MAX_EXAMPLES:
        raise BadEvent("bad_value", f"at most {MAX_EXAMPLES} examples")
    examples = [_example(k, row) for k, row in enumerate(rows)]
    if sum(len(e.text) for e in examples) > MAX_EXAMPLES_TEXT:
        raise BadEvent("bad_value", f"the examples hold more than {MAX_EXAMPLES_TEXT} characters")
    if not any(e.flag for e in examples) or all(e.flag for e in examples):
        raise BadEvent("bad_value", "give examples that must be flagged and examples that "
                       "must not")
    kind = params.get("kind", "")
    if kind not in ("", *KINDS):
        raise BadEvent("bad_value", f"kind must be one of {', '.join(KINDS)}")
    languages = params.get("languages")
    if languages is not None and (not isinstance(languages, list) or len(languages) > MAX_LANGUAGES
                                  or not all(isinstance(x, str) and len(x) <= 64 for x in languages)):
        raise BadEvent("bad_type", f"languages must be a list of at most {MAX_LANGUAGES} strings")
    budget = Budget(_int(params, "generations", 5, MAX_GENERATIONS),
                    _int(params, "tokens", 60_000, MAX_TOKENS),
                    _share(params, "min_precision", MIN_PRECISION),
                    _share(params, "min_recall", MIN_RECALL))
    return EvolveOrder(name, request, examples, offline=_flag(params, "offline"),
                       model=_string(params, "model", 128, ""), budget=budget, kind=kind,
                       languages=languages, dry_run=_flag(params, "dry_run"),
                       wait=_flag(params, "wait"))


class _Reporting:
    """An author that says which generation it is writing before it writes it."""

    def __init__(self, author: Author, progress: Callable[[int], None]) -> None:
        self.author, self.progress = author, progress

    def write(self, task: Task, history: list[Attempt]) -> Draft:
        self.progress(len(history) + 1)
        return self.author.write(task, history)


def _why(result: Result) -> str:
    """Why nothing went live, in a sentence (with what the gates said of the last candidate)."""
    spent = {"tokens": "the token budget", "generations": "every generation"}
    last = result.candidates[-1].note.splitlines()[0] if result.candidates else ""
    return (f"no candidate passed the gates ({spent.get(result.reason, result.reason)} spent)"
            + (f"; the last one: {last}" if last else ""))


def _lineage_line(client: redis.Redis, name: str, version: int) -> str:
    """The line of ``redis-ai lisp lineage NAME`` for ``version``."""
    rows = [r for r in lineage.tree(client, name) if r["version"] == version]
    return lineage.render(name, [{**r, "depth": 0} for r in rows]).split("\n")[-1].strip() if rows else ""


def evolve_run(client: redis.Redis, order: EvolveOrder,
               progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run ``order`` as ``redis-ai evolve`` does and return the outcome (docs/protocol.md):
    whether the winner went live, its version, every candidate's scores, and why not."""
    _, programs = store.library(client)
    library = {n: forms for n, (forms, _) in programs.items() if n != order.name}
    parent = programs.get(order.name)
    kind = order.kind or (parent[1].get("kind", "diagnostics") if parent else "diagnostics")
    task = make_task(order.name, order.request, order.examples, library, kind=kind,
                     parent="\n\n".join(parent[0]) if parent else "",
                     parent_version=int(parent[1].get("version", 0)) if parent else 0)
    author: Author = VariantAuthor() if order.offline else ModelAuthor(client, model_id=order.model)
    who = "offline" if order.offline else "model"
    outcome: dict[str, Any] = {"name": order.name, "live": False, "version": None,
                               "train_examples": len(task.train),
                               "held_out_examples": len(task.held_out), "author": who}
    try:
        result = evolve(task, _Reporting(author, progress) if progress else author, order.budget)
    except NoModel as exc:
        return {**outcome, "reason": "no_model", "why": str(exc), "generations": 0,
                "candidates": [], "tokens": 0, "cost": 0.0, "seconds": 0.0, "winner": None}
    run = lineage.record(client, order.name, result, who)
    outcome.update(reason=result.reason, run=run, generations=len(result.candidates),
                   tokens=result.tokens, cost=result.cost, seconds=round(result.seconds, 3),
                   candidates=[{k: v for k, v in c.to_dict().items() if k != "source"}
                               for c in result.candidates])
    winner = result.winner
    outcome["winner"] = None if winner is None else {
        "generation": winner.generation, "model": winner.model, "train": winner.train,
        "held_out": winner.held_out, "source": winner.source}
    if winner is None:
        return {**outcome, "why": _why(result)}
    if order.dry_run:
        return {**outcome, "why": "dry_run: the winner was not published"}
    try:
        meta = lineage.publish(client, task, result, run, who, languages=order.languages)
    except LispError as exc:
        return {**outcome, "why": f"not published: {exc}"}
    version = int(meta["version"])
    return {**outcome, "live": True, "version": version, "why": "",
            "lineage": _lineage_line(client, order.name, version)}


def evolve_request(client: redis.Redis, params: Any,
                   push: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Answer ``lisp_evolve``: with ``wait``, the outcome once done (the caller's thread runs
    it); otherwise ``{job, name}`` at once, the job running on a thread of its own and pushing
    ``{type: "lisp_evolve", job, name, state: "progress" | "done" | "failed", ...}``."""
    order = evolve_order(params)
    if not _jobs.acquire(blocking=False):
        raise BadEvent("busy", f"{MAX_JOBS} evolutions are running; try again when one is done")
    if order.wait:
        try:
            return evolve_run(client, order)
        finally:
            _jobs.release()
    job = "e-" + secrets.token_hex(6)
    head = {"type": "lisp_evolve", "job": job, "name": order.name}
    threading.Thread(target=_job, args=(client, order, head, push), name=f"lisp-evolve-{job}",
                     daemon=True).start()
    return {"job": job, "name": order.name}


def _job(client: redis.Redis, order: EvolveOrder, head: dict[str, Any],
         push: Callable[[dict[str, Any]], None]) -> None:
    try:
        outcome = evolve_run(client, order, lambda n: push(
            {**head, "state": "progress", "generation": n, "generations": order.budget.generations}))
        push({**head, "state": "done", **outcome})
    except (redis.RedisError, OSError) as exc:
        push({**head, "state": "failed", "message": f"redis failed: {exc}"})
    except Exception as exc:  # a bug: the editor must still hear that the job ended
        log.exception("lisp_evolve %s failed", head["job"])
        push({**head, "state": "failed", "message": f"evolve failed inside the daemon: {exc}"})
    finally:
        _jobs.release()

"""The protocol's ``lisp_*`` methods: check an editor's params, call the store, shape the reply.

Editors define, list, show, remove and try the stored programs through these (docs/protocol.md,
"Lisp programs"), as ``redis-ai lisp`` does from the shell. A program the store refuses is a
``bad_value`` error whose message, for a reader error, reads ``NAME not defined: line L, col C:
WHAT`` (line 1-based, column 0-based, in the source sent), so an editor can put the cursor there.
"""

from __future__ import annotations

from typing import Any

import redis

from ..errors import BadEvent
from ..schema import MAX_TEXT, language_of
from . import store
from .data import LispError
from .program import KINDS, compile_library, run_program

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

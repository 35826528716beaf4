"""Programs in Redis: one list per program (one element per top-level form, as source text), a
set of names, a metadata hash per program, a hash of its kept versions (with their lineage:
lineage.py), a version counter and a change channel.

Every change is one MULTI/EXEC that also bumps ``keys.LISP_VERSION`` and publishes on
``keys.LISP_CHANGES`` (on a Redis Cluster right after the EXEC), so a reader that sees the new
version sees the whole change.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import redis

from .. import keys
from ..store.connection import is_cluster
from .data import Cons, LispError, Symbol
from .program import KINDS, Loader
from .reader import read, split_forms

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
REQUIRE = Symbol.of("require")
MAX_VERSIONS = 100
"""Versions kept per program (the oldest are dropped)."""
QUOTE = Symbol.of("quote")

Library = dict[str, tuple[list[str], dict[str, str]]]
"""Name -> (forms as source text, metadata) for every stored program."""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def check_name(name: str) -> str:
    """``name`` if it is a valid program name (letters, digits, ``_.-``; at most 64)."""
    if not NAME.fullmatch(name):
        raise LispError(f"bad program name {name!r}: use letters, digits, '_', '.', '-' "
                        "(at most 64, starting with a letter or digit)")
    return name


def requires(forms: Iterable[Any]) -> list[str]:
    """The names a program requires at top level: ``(require 'name)``."""
    out = []
    for form in forms:
        if type(form) is Cons and form.car is REQUIRE and type(form.cdr) is Cons:
            arg = form.cdr.car
            if type(arg) is Cons and arg.car is QUOTE and type(arg.cdr) is Cons:
                arg = arg.cdr.car
            if type(arg) is Symbol:
                out.append(arg.name)
            elif type(arg) is str:
                out.append(arg)
    return out


def library(client: redis.Redis) -> tuple[int, Library]:
    """The version and every stored program, read consistently (retried if a change landed
    between the two reads)."""
    for _ in range(5):
        pipe = client.pipeline(transaction=True)
        pipe.get(keys.LISP_VERSION)
        pipe.smembers(keys.LISP_PROGRAMS)
        version_raw, raw_names = pipe.execute()
        names = sorted(_text(n) for n in raw_names)
        pipe = client.pipeline(transaction=True)
        pipe.get(keys.LISP_VERSION)
        for name in names:
            pipe.lrange(keys.lisp_program(name), 0, -1)
            pipe.hgetall(keys.lisp_meta(name))
        reply = pipe.execute()
        if reply[0] != version_raw:
            continue
        programs: Library = {}
        for k, name in enumerate(names):
            forms, meta = reply[1 + 2 * k], reply[2 + 2 * k]
            programs[name] = ([_text(f) for f in forms], _fields(meta))
        return int(version_raw or 0), programs
    raise LispError("the stored programs kept changing while being read")


def version(client: redis.Redis) -> int:
    """The change counter (0 before any program was defined)."""
    return int(client.get(keys.LISP_VERSION) or 0)


def get(client: redis.Redis, name: str) -> tuple[list[str], dict[str, str]] | None:
    """A program's forms and metadata, or None."""
    pipe = client.pipeline(transaction=True)
    pipe.lrange(keys.lisp_program(name), 0, -1)
    pipe.hgetall(keys.lisp_meta(name))
    pipe.sismember(keys.LISP_PROGRAMS, name)
    forms, meta, member = pipe.execute()
    if not member:
        return None
    return [_text(f) for f in forms], _fields(meta)


def _fields(reply: Any) -> dict[str, str]:
    """An HGETALL reply from a MULTI as text: redis-py's cluster transactions hand it back
    unparsed, as a flat list of fields and values, where a plain client gives a dict."""
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    return {_text(a): _text(b) for a, b in pairs}


def define(client: redis.Redis, name: str, source: str, *, description: str = "",
           languages: Iterable[str] = (), kind: str = "diagnostics",
           lineage: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Validate and store program ``name`` as its next version; return its metadata.

    The version is also kept in ``keys.lisp_versions`` with ``lineage`` (who wrote it, from
    which parent, with what scores: lineage.py), so it can be shown and rolled back to.

    Refused (LispError) when a form does not read (the error names its line and column), a
    required program is missing or requires this one back, or loading the program fails.
    """
    check_name(name)
    if kind not in KINDS:
        raise LispError(f"kind must be one of {', '.join(KINDS)}")
    texts = split_forms(source)
    if not texts:
        raise LispError("the program has no forms")
    forms = [read(t) for t in texts]
    _, stored = library(client)
    stored[name] = (texts, {})
    missing = [r for r in requires(forms) if r not in stored]
    if missing:
        raise LispError(f"{name} requires {', '.join(missing)}, which "
                        f"{'is' if len(missing) == 1 else 'are'} not defined")
    env = Loader(lambda n: stored[n][0] if n in stored else None).load(name)
    langs = sorted({lang.strip() for lang in languages if lang.strip()})
    meta = {"description": description, "kind": kind, "languages": ",".join(langs),
            "updated": f"{time.time():.3f}", "forms": str(len(texts)),
            "requires": ",".join(requires(forms)),
            "analyze": "1" if Symbol.of("analyze") in env.vars else "0"}
    snapshot: dict[str, Any] = {"forms": texts}
    with client.pipeline(transaction=True) as pipe:
        while True:
            # WATCH the hash so that the version written with the snapshot is the one the
            # program gets: two defines at once retry instead of sharing a number.
            try:
                pipe.watch(keys.lisp_meta(name))
                previous = int(pipe.hget(keys.lisp_meta(name), "version") or 0)
                meta["version"] = str(previous + 1)
                snapshot["meta"] = meta
                snapshot["at"] = time.time()  # unrounded: feedback is attributed by it
                # A version written by hand descends from the one it replaces.
                snapshot["lineage"] = dict(lineage) if lineage is not None else {"parent": previous}
                pipe.multi()
                pipe.delete(keys.lisp_program(name))
                pipe.rpush(keys.lisp_program(name), *texts)
                pipe.hset(keys.lisp_meta(name), mapping=cast(Any, meta))
                pipe.hset(keys.lisp_versions(name), meta["version"], json.dumps(snapshot))
                pipe.sadd(keys.LISP_PROGRAMS, name)
                pipe.incr(keys.LISP_VERSION)
                _announce(client, pipe, f"define {name}")
                break
            except redis.WatchError:
                continue
    _trim_versions(client, name)
    return meta


def _trim_versions(client: redis.Redis, name: str) -> None:
    """Keep the newest MAX_VERSIONS versions of a program."""
    if client.hlen(keys.lisp_versions(name)) <= MAX_VERSIONS:
        return
    kept = sorted(int(v) for v in client.hkeys(keys.lisp_versions(name)))
    client.hdel(keys.lisp_versions(name), *[str(v) for v in kept[:-MAX_VERSIONS]])


def versions(client: redis.Redis, name: str) -> dict[int, dict[str, Any]]:
    """Every kept version of program ``name``: version -> {forms, meta, lineage}."""
    raw = client.hgetall(keys.lisp_versions(name))
    return {int(_text(k)): json.loads(_text(v)) for k, v in raw.items()}


def remove(client: redis.Redis, name: str) -> bool:
    """Delete program ``name``; False if there was none (and nothing changes)."""
    if not client.sismember(keys.LISP_PROGRAMS, name):
        return False
    pipe = client.pipeline(transaction=True)
    pipe.srem(keys.LISP_PROGRAMS, name)
    pipe.delete(keys.lisp_program(name), keys.lisp_meta(name), keys.lisp_versions(name),
                keys.lisp_candidates(name))
    pipe.incr(keys.LISP_VERSION)
    return bool(_announce(client, pipe, f"remove {name}")[0])


def _announce(client: redis.Redis, pipe: Any, message: str) -> list[Any]:
    """Execute the change queued in ``pipe`` and publish ``message`` on ``keys.LISP_CHANGES``.

    On plain Redis the PUBLISH is part of the MULTI; redis-py's cluster pipeline refuses
    PUBLISH, so on a cluster it follows the EXEC (a reader woken by it still sees the change).
    """
    if is_cluster(client):
        replies = pipe.execute()
        client.publish(keys.LISP_CHANGES, message)
        return cast(list[Any], replies)
    pipe.publish(keys.LISP_CHANGES, message)
    return cast(list[Any], pipe.execute())


def dependents(programs: Library, name: str) -> list[str]:
    """The programs that require ``name``."""
    return sorted(n for n, (_, meta) in programs.items()
                  if name in meta.get("requires", "").split(","))

"""Recording the event stream and replaying it through analyzers or program versions.

``record`` copies events from the stream (every shard) to a JSON-lines file, bounded by a
count and a size; nothing is recorded unless asked for. ``replay`` runs a recording through a
*side*: an analyzer by name (``--analyzer completion``) or a stored program's version
(``print-left@3``, or ``print-left`` for the live one, run in the sandbox as the daemon would),
and ``diff`` compares two sides event by event: the regression check of a new generation
against the live one, and a tool for any analyzer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import redis

from .. import analyzers, keys
from . import store
from .data import LispError
from .program import Program, compile_library, run_program

MAX_EVENTS = 1000
"""Events a recording holds by default."""
MAX_BYTES = 64 << 20
"""Bytes a recording may grow to by default."""


def _shards(client: redis.Redis) -> list[str]:
    count = int(client.get(keys.EVENT_SHARDS) or 1)
    return [keys.events(i) for i in range(count)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _events(fields: Any) -> list[dict[str, Any]]:
    try:
        events = msgpack.unpackb(fields.get(b"e", b"\x90"), raw=False)
    except Exception:  # noqa: BLE001 - a bad entry is skipped, as the dead-letter path does
        return []
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def record(client: redis.Redis, path: Path, count: int = MAX_EVENTS, max_bytes: int = MAX_BYTES,
           follow_s: float = 0.0) -> int:
    """Append up to ``count`` events (at most ``max_bytes``) to ``path``: those in the stream
    now, oldest first, then, for ``follow_s`` seconds, new ones as they come. Returns how many
    were written."""
    written = size = 0
    with path.open("a", encoding="utf-8") as out:
        def write(event: dict[str, Any]) -> bool:
            nonlocal written, size
            line = json.dumps(event, ensure_ascii=False) + "\n"
            if written >= count or size + len(line) > max_bytes:
                return False
            out.write(line)
            written, size = written + 1, size + len(line)
            return True

        last: dict[str, str] = {}
        for stream in _shards(client):
            last[stream] = "0-0"
            entries: Any = client.xrange(stream, "-", "+")
            for entry_id, fields in entries:
                last[stream] = _text(entry_id)
                if not all(write(e) for e in _events(fields)):
                    return written
        deadline = time.monotonic() + follow_s
        while follow_s and time.monotonic() < deadline:
            block = max(1, int((deadline - time.monotonic()) * 1000))
            streams: Any = dict(last)
            reply: Any = client.xread(streams, block=block, count=100)
            for name, new in reply or []:
                for entry_id, fields in new:
                    last[_text(name)] = _text(entry_id)
                    if not all(write(e) for e in _events(fields)):
                        return written
    return written


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The events of a recording."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


@dataclass
class Side:
    """What a recording is replayed through: an analyzer, or a program version."""

    label: str
    program: Program | None = None
    analyzer: analyzers.Analyzer | None = None

    def items(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The items for one event (a failed program run is its error item)."""
        if self.program is not None:
            if not self.program.applies_to(str(event.get("language", ""))):
                return []
            return run_program(self.program, event, {}, quiet=True)
        assert self.analyzer is not None
        return list(self.analyzer.analyze(event) or [])


def program_side(client: redis.Redis, spec: str) -> Side:
    """``NAME`` (the live version) or ``NAME@VERSION`` (a kept one) as a side; what it
    requires comes from the stored programs as they are now."""
    name, _, version = spec.partition("@")
    _, library = store.library(client)
    if version:
        kept = store.versions(client, name)
        if int(version) not in kept:
            raise LispError(f"{name} has no kept version {version}")
        snap = kept[int(version)]
        library[name] = (snap["forms"], snap.get("meta", {}))
    if name not in library:
        raise LispError(f"no program named {name}")
    found = [p for p in compile_library(library) if p.name == name]
    if not found:
        raise LispError(f"{name} defines no analyze function")
    return Side(spec, program=found[0])


def source_side(name: str, source: str, library: dict[str, tuple[list[str], dict[str, str]]],
                label: str) -> Side:
    """An unpublished candidate's ``source`` as a side (evolve's regression check)."""
    from .reader import split_forms

    programs = {**library, name: (split_forms(source), {})}
    found = [p for p in compile_library(programs) if p.name == name]
    if not found:
        raise LispError(f"{name} defines no analyze function")
    return Side(label, program=found[0])


def analyzer_side(client: redis.Redis, name: str) -> Side:
    """The analyzer ``name`` (as ``redis-ai daemon --analyzers`` names it) as a side."""
    return Side(name, analyzer=analyzers.load(name, client))


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item.get("line"), item.get("col"), item.get("code"), item.get("message"))


@dataclass
class Diff:
    """How two sides differ over a recording."""

    events: int = 0
    changed: int = 0
    only_a: int = 0
    only_b: int = 0
    same: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The figures, and up to 20 events that differ."""
        return {"events": self.events, "changed": self.changed, "only_a": self.only_a,
                "only_b": self.only_b, "same": self.same, "examples": self.examples}


def diff(events: Iterator[dict[str, Any]], a: Side, b: Side | None = None) -> Diff:
    """Run every event through ``a`` (and ``b``) and count the items each gives that the
    other does not; with no ``b``, every item of ``a`` counts as ``only_a``."""
    out = Diff()
    for k, event in enumerate(events):
        out.events += 1
        mine = {_key(i): i for i in a.items(event)}
        theirs = {_key(i): i for i in b.items(event)} if b is not None else {}
        added = [mine[x] for x in mine if x not in theirs]
        removed = [theirs[x] for x in theirs if x not in mine]
        out.only_a += len(added)
        out.only_b += len(removed)
        out.same += len(mine) - len(added)
        if added or removed:
            out.changed += 1
            if len(out.examples) < 20:
                out.examples.append({"event": k, "file": event.get("file", ""),
                                     a.label: [(i["line"], i["message"]) for i in added],
                                     **({b.label: [(i["line"], i["message"]) for i in removed]}
                                        if b is not None else {})})
    return out


__all__ = ["Diff", "Side", "analyzer_side", "diff", "program_side", "read", "record",
           "source_side"]

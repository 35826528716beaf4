"""Programs' versions and where they came from: publishing an evolved winner, recording the
candidates, the lineage tree, and rolling back.

Every define keeps a snapshot of the version (store.define, ``keys.lisp_versions``); one
published by ``redis-ai evolve`` carries its lineage: generation, parent version, request,
model, scores on the training and held-out examples, tokens and cost. A rollback is a new
version whose forms are an older one's, so the history only grows.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

from .. import analytics, keys
from . import store
from .data import LispError
from .evolve import Result, Task

MAX_CANDIDATES = 500
"""Candidates kept per program (the oldest are dropped)."""
MIN_OUTCOMES = 5
"""Accepts and dismisses a version needs before its dismiss rate is compared."""


def subject(name: str) -> str:
    """The feedback subject of program ``name``: its items' ``source``, ``lisp:NAME``."""
    return f"lisp:{name}"


def live_version(client: redis.Redis, name: str) -> int:
    """The version the analyzers run (0 when there is no such program)."""
    found = store.get(client, name)
    return int(found[1].get("version", "0") or 0) if found else 0


def record(client: redis.Redis, name: str, result: Result, author: str) -> str:
    """Keep every candidate of ``result`` with its scores; return the run's id."""
    run = uuid.uuid4().hex[:12]
    now = time.time()
    rows = [json.dumps({"run": run, "at": round(now, 3), "author": author, **c.to_dict()})
            for c in result.candidates]
    if rows:
        pipe = client.pipeline(transaction=True)
        pipe.lpush(keys.lisp_candidates(name), *rows)
        pipe.ltrim(keys.lisp_candidates(name), 0, MAX_CANDIDATES - 1)
        pipe.execute()
    return run


def candidates(client: redis.Redis, name: str, run: str = "") -> list[dict[str, Any]]:
    """The recorded candidates of ``name`` (of one run if given), oldest first."""
    rows = [json.loads(r) for r in client.lrange(keys.lisp_candidates(name), 0, -1)]
    return [r for r in reversed(rows) if not run or r["run"] == run]


def publish(client: redis.Redis, task: Task, result: Result, run: str, author: str, *,
            description: str = "", languages: list[str] | None = None,
            extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Store ``result``'s winner as the next version of ``task.name`` with its lineage (and
    ``extra`` fields, such as the replay's counts)."""
    winner = result.winner
    if winner is None:
        raise LispError("nothing passed the gates: no version to publish")
    parent = live_version(client, task.name)
    kept = store.versions(client, task.name)
    parent_gen = int(kept.get(parent, {}).get("lineage", {}).get("generation", 0)) if parent else 0
    old = kept.get(parent, {}).get("meta", {})
    lineage = {"generation": parent_gen + 1, "parent": parent, "request": task.request,
               "author": author, "model": winner.model, "run": run,
               "candidate": winner.generation, "train": winner.train,
               "held_out": winner.held_out, "tokens": result.tokens,
               "cost": round(result.cost, 6), "seconds": round(result.seconds, 3),
               **(extra or {})}
    langs = languages if languages is not None else [
        x for x in old.get("languages", "").split(",") if x]
    return store.define(client, task.name, winner.source, kind=task.kind, lineage=lineage,
                        description=description or old.get("description", "") or task.request,
                        languages=langs)


def rollback(client: redis.Redis, name: str, version: int = 0) -> dict[str, str]:
    """Make ``version`` (default: the live version's parent, else the one before it) live
    again, as a new version."""
    kept = store.versions(client, name)
    live = live_version(client, name)
    if not live:
        raise LispError(f"no program named {name}")
    if not version:
        version = int(kept.get(live, {}).get("lineage", {}).get("parent", 0) or 0) or max(
            (v for v in kept if v < live), default=0)
    if version not in kept:
        raise LispError(f"{name} has no kept version {version} (kept: "
                        f"{', '.join(map(str, sorted(kept))) or 'none'})")
    if version == live:
        raise LispError(f"version {version} of {name} is already live")
    target = kept[version]
    meta = target.get("meta", {})
    lineage = {**target.get("lineage", {}), "rollback_of": live, "restores": version,
               "parent": version}
    return store.define(client, name, "\n\n".join(target["forms"]), lineage=lineage,
                        description=meta.get("description", ""), kind=meta.get("kind", "diagnostics"),
                        languages=[x for x in meta.get("languages", "").split(",") if x])


def usage(client: redis.Redis, name: str) -> dict[int, dict[str, Any]]:
    """Feedback per version: each feedback sample of subject ``lisp:NAME`` (redis-ai stats'
    samples) counts for the version that was live when it was recorded (the newest version
    defined before it). ``dismiss_rate`` is dismissed over accepted + dismissed."""
    kept = store.versions(client, name)
    starts = sorted((float(snap.get("at") or snap.get("meta", {}).get("updated", 0) or 0), v)
                    for v, snap in kept.items())
    out: dict[int, dict[str, Any]] = {
        v: {a: 0 for a in analytics.FEEDBACK_ACTIONS} for v in kept}
    samples: Any = client.zrange(keys.stat(analytics.FEEDBACK, subject(name)), 0, -1,
                                 withscores=True)
    for member, at in samples:
        action = (member.decode() if isinstance(member, bytes) else str(member)).rsplit(":", 1)[-1]
        live = [v for start, v in starts if start <= at]
        if live and action in analytics.FEEDBACK_ACTIONS:
            out[live[-1]][action] += 1
    for counts in out.values():
        acted = counts["accepted"] + counts["accepted_partial"] + counts["dismissed"]
        counts["dismiss_rate"] = round(counts["dismissed"] / acted, 4) if acted else None
        counts["outcomes"] = acted
    return out


def worse_than_parent(client: redis.Redis, name: str) -> tuple[bool, str]:
    """Whether users dismiss the live version's items more than its parent's (both with at
    least MIN_OUTCOMES outcomes), and why or why not."""
    live = live_version(client, name)
    snap = store.versions(client, name).get(live)
    if snap is None:
        return False, f"{name} has no kept live version"
    parent = int(snap.get("lineage", {}).get("parent", 0) or 0) or live - 1
    counts = usage(client, name)
    mine, theirs = counts.get(live), counts.get(parent)
    if theirs is None or mine is None:
        return False, f"v{live} has no kept parent to compare with"
    for v, c in ((live, mine), (parent, theirs)):
        if c["outcomes"] < MIN_OUTCOMES:
            return False, f"v{v} has {c['outcomes']} accepts and dismisses (needs {MIN_OUTCOMES})"
    worse = mine["dismiss_rate"] > theirs["dismiss_rate"]
    return worse, (f"v{live} dismissed {mine['dismiss_rate']:.0%}, its parent v{parent} "
                   f"{theirs['dismiss_rate']:.0%}")


def tree(client: redis.Redis, name: str) -> list[dict[str, Any]]:
    """Every kept version as ``{version, parent, live, depth, lineage, requires}``, in tree
    order (each version under its parent)."""
    kept = store.versions(client, name)
    live = live_version(client, name)
    used = usage(client, name)
    children: dict[int, list[int]] = {}
    for v, snap in kept.items():
        parent = int(snap.get("lineage", {}).get("parent", 0) or 0)
        children.setdefault(parent if parent in kept else 0, []).append(v)
    out: list[dict[str, Any]] = []
    todo = [(v, 0) for v in sorted(children.get(0, []), reverse=True)]
    while todo:
        v, depth = todo.pop()
        snap = kept[v]
        out.append({"version": v, "parent": int(snap.get("lineage", {}).get("parent", 0) or 0),
                    "live": v == live, "depth": depth, "lineage": snap.get("lineage", {}),
                    "requires": [r for r in snap.get("meta", {}).get("requires", "").split(",") if r],
                    "feedback": used.get(v, {})})
        todo += [(c, depth + 1) for c in sorted(children.get(v, []), reverse=True)]
    return out


def render(name: str, rows: list[dict[str, Any]]) -> str:
    """``tree`` as text, one version a line."""
    lines = [name]
    for row in rows:
        lin = row["lineage"]
        if "restores" in lin:
            how = f"rollback of v{lin['rollback_of']} to v{lin['restores']}"
        elif lin.get("author"):
            held = lin.get("held_out") or {}
            how = (f"gen {lin.get('generation')} by {lin.get('model')} ({lin.get('author')}), "
                   f"held-out P={held.get('precision')} R={held.get('recall')}, "
                   f"{lin.get('tokens', 0)} tokens: {lin.get('request', '')[:60]}")
        else:
            how = "written by hand"
        needs = f" requires {','.join(row['requires'])}" if row["requires"] else ""
        mark = " (live)" if row["live"] else ""
        fb = row.get("feedback") or {}
        use = (f" [{fb['accepted'] + fb['accepted_partial']} accepted, {fb['dismissed']} "
               f"dismissed]" if fb.get("outcomes") else "")
        lines.append(f"{'  ' * (row['depth'] + 1)}v{row['version']}{mark}: {how}{needs}{use}")
    return "\n".join(lines)


__all__ = ["candidates", "live_version", "publish", "record", "render", "rollback", "subject",
           "tree", "usage", "worse_than_parent"]

"""Per analyzer and per model measurements, kept in Redis sorted sets scored by time.

Writers only queue commands: the consumer-group runner, the daemon and the model router call
``record_*`` with the pipeline they already send, so a measurement costs no round trip of its own.
``summary`` reads a time window back and turns it into counts, rates, percentiles and series.

Layout (docs/analytics.md): ``keys.stat(metric, subject)`` for metric in METRICS, one member per
sample, score = time.time() of the sample; ``keys.STAT_SUBJECTS`` names every subject. Each
subject has a hash tag of its own, so on a Redis Cluster the subjects spread over the masters;
nothing here sends a command with keys of two subjects (``summary``'s pipeline is split per node).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from typing import Any

from redis import Redis
from redis.asyncio.client import Pipeline as AsyncPipeline
from redis.client import Pipeline
from redis.cluster import ClusterPipeline, RedisCluster

from . import keys

RETENTION_S = 24 * 3600
"""Samples older than this are trimmed away."""

MAX_SAMPLES = 20_000
"""Cap per sorted set (about 2.7 MB each), so a busy subject cannot grow without bound."""

TRIM_INTERVAL_S = 1.0
"""Each process trims a given set at most this often: trimming stays off the per-event cost."""

ANALYSIS = "analysis"
MODEL = "model"
FEEDBACK = "feedback"
METRICS = (ANALYSIS, MODEL, FEEDBACK)

FEEDBACK_ACTIONS = ("shown", "accepted", "accepted_partial", "dismissed")
"""The ``action`` values of the protocol's ``feedback`` method (``shown``: drawn in the editor)."""

BURST_SAMPLES = 32
"""Most latency samples kept from one batch of analyzed events (record_analyses)."""

Target = Redis | Pipeline | AsyncPipeline | RedisCluster
"""Where commands go: a pipeline (queued, the caller executes) or a client (sent at once)."""

# Keyed by (metric, subject), not by key name: key names change with the namespace
# (keys.use_namespace), and a cache of them would outlive a switch.
_last_trim: dict[tuple[str, str], float] = {}
_seq = itertools.count()
_tag = ""


def _new_tag() -> None:
    # Members must be unique across every process that writes, including forked workers, which
    # would otherwise inherit the parent's tag and counter and overwrite its samples.
    global _tag, _seq
    _tag = os.urandom(4).hex()
    _seq = itertools.count()


_new_tag()
os.register_at_fork(after_in_child=_new_tag)


def record_analysis(pipe: Target, analyzer: str, elapsed_ms: float, ok: bool, now: float) -> None:
    """Record one event analyzed by ``analyzer``: its latency and whether it raised.

    Queues a ZADD on ``pipe`` (plus SADD and three trimming commands once a second per process
    and subject) and does not execute it. ``pipe`` may be a sync or asyncio pipeline, or a sync client.

        pipe = redis.pipeline(transaction=False)
        pipe.publish(channel, payload)
        analytics.record_analysis(pipe, "code_analysis", 3.2, True, time.time())
        pipe.execute()
    """
    _record(pipe, ANALYSIS, analyzer, [f"{elapsed_ms:.3f}:{int(ok)}"], now)


def record_analyses(
    pipe: Target, analyzer: str, samples: list[tuple[float, bool]], now: float
) -> None:
    """Record a batch of analyzed events, ``(elapsed_ms, ok)`` each, in one ZADD.

    The consumer-group runner uses this once per batch. A burst batch (more than BURST_SAMPLES
    successes) keeps every failure but only an evenly spread BURST_SAMPLES of its successes,
    each weighted by how many it stands for: counts and rates stay exact, latency percentiles
    become estimates, and a burst of 100,000 events a second no longer costs Redis 100,000
    sorted-set insertions.
    """
    if not samples:
        return
    values = [f"{ms:.3f}:0" for ms, ok in samples if not ok]
    good = [ms for ms, ok in samples if ok]
    if len(good) <= BURST_SAMPLES:
        values += [f"{ms:.3f}:1" for ms in good]
    else:
        step = len(good) / BURST_SAMPLES
        marks = [round(i * step) for i in range(BURST_SAMPLES + 1)]
        values += [f"{good[a]:.3f}:1:{b - a}" for a, b in zip(marks, marks[1:], strict=False)]
    _record(pipe, ANALYSIS, analyzer, values, now)


def record_model_call(pipe: Target, model_id: str, elapsed_ms: float, ok: bool, now: float) -> None:
    """Record one call to model ``model_id`` (failures and timeouts with ok=False)."""
    _record(pipe, MODEL, model_id, [f"{elapsed_ms:.3f}:{int(ok)}"], now)


def record_feedback(pipe: Target, analyzer: str, action: str, now: float) -> None:
    """Record that a suggestion of ``analyzer`` was shown, accepted, partly accepted or dismissed.

    ``action`` is one of FEEDBACK_ACTIONS; anything else is a ValueError (the caller validates
    editor input before this, so this is a programming error).
    """
    if action not in FEEDBACK_ACTIONS:
        raise ValueError(f"unknown feedback action {action!r}")
    _record(pipe, FEEDBACK, analyzer, [action], now)


def _record(target: Target, metric: str, subject: str, values: list[str], now: float) -> None:
    if isinstance(target, (Pipeline, AsyncPipeline, ClusterPipeline)):
        pipe = target
    elif isinstance(target, (Redis, RedisCluster)):
        pipe = target.pipeline(transaction=False)
    else:
        # An asyncio client would hand back an execute() coroutine nobody awaits: samples lost.
        raise TypeError(f"record into a pipeline or a sync client, not {type(target).__name__}")
    key = keys.stat(metric, subject)
    pipe.zadd(key, {f"{_tag}.{next(_seq)}:{value}": now for value in values})
    if now - _last_trim.get((metric, subject), -math.inf) >= TRIM_INTERVAL_S:
        _last_trim[metric, subject] = now
        # Only here, not per sample: on a cluster the per-event writes then touch only the
        # subject's own slot, and the one shared set hears from each writer once a second.
        pipe.sadd(keys.STAT_SUBJECTS, subject)
        pipe.zremrangebyscore(key, "-inf", f"({now - RETENTION_S}")
        pipe.zremrangebyrank(key, 0, -MAX_SAMPLES - 1)
        pipe.expire(key, RETENTION_S)
    if pipe is not target:
        pipe.execute()


def summary(
    redis: Redis, window_s: float = 3600, buckets: int = 30, now: float | None = None
) -> dict[str, Any]:
    """Measurements of the last ``window_s`` seconds, per analyzer and per model.

    Returns ``{"window_s", "buckets", "bucket_s", "now", "analyzers": {name: row},
    "models": {name: row}}``; each row is described in docs/analytics.md. Subjects with no sample
    in the window are left out; subjects whose sets have all expired are forgotten.

        analytics.summary(redis.Redis.from_url(url), window_s=600)["analyzers"]["code_analysis"]
    """
    now = time.time() if now is None else now
    start = now - window_s
    subjects = sorted(_text(s) for s in redis.smembers(keys.STAT_SUBJECTS))
    pipe = redis.pipeline(transaction=False)
    for subject in subjects:
        for metric in METRICS:
            key = keys.stat(metric, subject)
            pipe.zrangebyscore(key, start, now, withscores=True)
            pipe.zrange(key, 0, 0, withscores=True)
            pipe.zcard(key)
    replies = iter(pipe.execute())
    out: dict[str, Any] = {"window_s": window_s, "buckets": buckets,
                           "bucket_s": window_s / buckets, "now": now,
                           "analyzers": {}, "models": {}}
    gone = []
    for subject in subjects:
        read = {metric: (next(replies), next(replies), next(replies)) for metric in METRICS}
        if not any(card for _, _, card in read.values()):
            gone.append(subject)
            continue
        if read[MODEL][0]:
            out["models"][subject] = _calls(read[MODEL], start, now, buckets)
        feedback = _feedback(read[FEEDBACK][0])
        if read[ANALYSIS][0] or any(feedback.values()):
            row = _calls(read[ANALYSIS], start, now, buckets)
            row.update(_acceptance(feedback))
            out["analyzers"][subject] = row
    if gone:
        redis.srem(keys.STAT_SUBJECTS, *gone)
    return out


def _covered(window_s: float, now: float, oldest: list[Any], card: int) -> float:
    # A set cut down to MAX_SAMPLES no longer reaches back over the whole window: rates must be
    # taken over the span it still covers, or a busy subject would look idle.
    if card >= MAX_SAMPLES and oldest:
        return max(min(window_s, now - float(oldest[0][1])), 1e-3)
    return window_s


def _calls(read: tuple[Any, Any, int], start: float, now: float, buckets: int) -> dict[str, Any]:
    samples, oldest, card = read
    covered = _covered(now - start, now, oldest, card)
    width = (now - start) / buckets
    weighted: list[tuple[float, int]] = []
    errors = 0
    per_bucket: list[list[tuple[float, int]]] = [[] for _ in range(buckets)]
    for member, score in samples:
        # <tag>.<seq>:<ms>:<ok>[:<weight>]; a weight > 1 stands for that many events of a burst.
        _, elapsed, ok, *rest = _text(member).split(":")
        sample = (float(elapsed), int(rest[0]) if rest else 1)
        weighted.append(sample)
        errors += sample[1] if ok == "0" else 0
        per_bucket[min(int((float(score) - start) / width), buckets - 1)].append(sample)
    count = sum(w for _, w in weighted)
    weighted.sort()
    return {
        "count": count,
        "throughput_per_min": _round(count / covered * 60),
        "covered_s": _round(covered),
        "latency_ms": {
            "p50": _percentile(weighted, 50),
            "p99": _percentile(weighted, 99),
            "mean": _round(sum(ms * w for ms, w in weighted) / count) if count else None,
            "max": weighted[-1][0] if count else None,
        },
        "errors": errors,
        "error_rate": _round(errors / count) if count else None,
        "series": {
            "count": [sum(w for _, w in b) for b in per_bucket],
            "latency_p50_ms": [_percentile(sorted(b), 50) for b in per_bucket],
        },
    }


def _feedback(samples: list[Any]) -> dict[str, int]:
    counts = dict.fromkeys(FEEDBACK_ACTIONS, 0)
    for member, _ in samples:
        action = _text(member).split(":", 1)[1]
        if action in counts:
            counts[action] += 1
    return counts


def _acceptance(feedback: dict[str, int]) -> dict[str, Any]:
    """The feedback counts, ``ignored`` and ``acceptance_rate``, both against what was shown.

    Editors that predate ``shown`` report only what the user did, which says nothing of the
    suggestions nobody acted on: with no ``shown`` the rate and ``ignored`` are unknown (None).
    """
    shown = feedback["shown"]
    kept = feedback["accepted"] + feedback["accepted_partial"]
    acted = kept + feedback["dismissed"]
    # A suggestion shown just before the window and accepted inside it can make acted > shown.
    known = shown > 0
    return {**feedback, "ignored": max(shown - acted, 0) if known else None,
            "acceptance_rate": _round(min(kept / shown, 1.0)) if known else None}


def _percentile(ordered: list[tuple[float, int]], p: float) -> float | None:
    """Nearest-rank percentile of (value, weight) pairs sorted by value: an actual sample, the
    smallest with p % of the total weight at or below it."""
    if not ordered:
        return None
    rank = max(math.ceil(p / 100 * sum(w for _, w in ordered)), 1)
    seen = 0
    for value, weight in ordered:
        seen += weight
        if seen >= rank:
            return value
    return ordered[-1][0]


def _round(x: float) -> float:
    return round(x, 3)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""Analytics against a real Redis 7.0: known samples in, known counts and percentiles out."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import redis
import redis.asyncio

from redis_ai import analytics, keys, stats_cli
from redis_ai.analyzers.base import Analyzer, Event, Item
from redis_ai.workers.runner import GroupRunner

T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def redis_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("redis")
    sock = folder / "redis.sock"
    proc = subprocess.Popen(
        ["/usr/bin/redis-server", "--port", "0", "--unixsocket", str(sock),
         "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert proc.poll() is None, "redis-server exited"
        assert time.monotonic() < deadline, "redis-server did not open its socket"
        time.sleep(0.01)
    yield sock
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(redis_socket: Path, request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    client = redis.Redis(unix_socket_path=str(redis_socket), protocol=request.param)
    client.flushall()
    analytics._last_trim.clear()
    yield client
    client.close()


def test_known_samples_give_known_summary(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=False)
    # 100 events over the last 10 minutes, latencies 1..100 ms, every 20th one failed.
    for i in range(1, 101):
        analytics.record_analysis(pipe, "code_analysis", float(i), i % 20 != 0, T0 - 600 + i * 5.9)
    pipe.execute()

    got = analytics.summary(r, window_s=600, buckets=10, now=T0)
    row = got["analyzers"]["code_analysis"]
    assert got["models"] == {}
    assert row["count"] == 100
    assert row["throughput_per_min"] == 10.0
    assert row["latency_ms"] == {"p50": 50.0, "p99": 99.0, "mean": 50.5, "max": 100.0}
    assert (row["errors"], row["error_rate"]) == (5, 0.05)
    assert (row["accepted"], row["dismissed"], row["acceptance_rate"]) == (0, 0, None)
    # Bucket k spans [T0-600+60k, T0-600+60(k+1)); sample i sits at 5.9*i seconds in.
    expected = [[i for i in range(1, 101) if int(i * 5.9 // 60) == k] for k in range(10)]
    assert row["series"]["count"] == [len(b) for b in expected]
    assert row["series"]["latency_p50_ms"] == [float(b[(len(b) + 1) // 2 - 1]) for b in expected]


def test_window_excludes_older_samples_and_models_are_separate(r: redis.Redis) -> None:
    analytics.record_model_call(r, "ollama:qwen", 900.0, False, T0 - 120)
    analytics.record_model_call(r, "ollama:qwen", 300.0, True, T0 - 30)
    analytics.record_model_call(r, "ollama:qwen", 100.0, True, T0 - 20)

    got = analytics.summary(r, window_s=60, buckets=6, now=T0)
    assert got["analyzers"] == {}
    row = got["models"]["ollama:qwen"]
    assert (row["count"], row["errors"], row["latency_ms"]["p50"]) == (2, 0, 100.0)
    assert row["series"]["count"] == [0, 0, 0, 1, 1, 0]
    assert row["series"]["latency_p50_ms"] == [None, None, None, 300.0, 100.0, None]
    assert analytics.summary(r, window_s=600, now=T0)["models"]["ollama:qwen"]["errors"] == 1


def test_feedback_counts_and_acceptance_rate(r: redis.Redis) -> None:
    # 20 suggestions drawn; the user took 3 whole and 1 in part, dismissed 4, ignored the rest.
    for action in ["shown"] * 20 + ["accepted"] * 3 + ["accepted_partial"] + ["dismissed"] * 4:
        analytics.record_feedback(r, "completion", action, T0 - 10)
    with pytest.raises(ValueError):
        analytics.record_feedback(r, "completion", "ignored", T0)

    row = analytics.summary(r, window_s=60, now=T0)["analyzers"]["completion"]
    assert (row["shown"], row["accepted"], row["accepted_partial"], row["dismissed"],
            row["ignored"]) == (20, 3, 1, 4, 12)
    assert row["acceptance_rate"] == 0.2  # accepted / shown, not accepted / acted on (0.5)
    assert row["count"] == 0 and row["latency_ms"]["p50"] is None


def test_acceptance_is_unknown_without_shown_feedback(r: redis.Redis) -> None:
    # An editor that predates "shown" reports only what the user acted on.
    for action in ["accepted"] * 3 + ["dismissed"]:
        analytics.record_feedback(r, "completion", action, T0 - 10)
    row = analytics.summary(r, window_s=60, now=T0)["analyzers"]["completion"]
    assert (row["shown"], row["accepted"], row["ignored"], row["acceptance_rate"]) == (
        0, 3, None, None)
    text = stats_cli.render(analytics.summary(r, window_s=60, now=T0))
    figures = next(line for line in text.splitlines() if line.startswith("completion")).split()
    # shown, accept, partial, dismiss, ignored, accept%
    assert figures[-6:] == ["0", "3", "0", "1", "?", "unknown"]
    assert "accept% unknown" in text


def test_asyncio_pipelines_take_samples_and_asyncio_clients_are_refused(
    r: redis.Redis, redis_socket: Path
) -> None:
    async def record() -> None:
        client = redis.asyncio.Redis(unix_socket_path=str(redis_socket))
        pipe = client.pipeline(transaction=False)
        analytics.record_feedback(pipe, "completion", "dismissed", T0)
        await pipe.execute()
        with pytest.raises(TypeError):
            analytics.record_feedback(client, "completion", "dismissed", T0)
        await client.aclose()

    asyncio.run(record())
    assert analytics.summary(r, now=T0)["analyzers"]["completion"]["dismissed"] == 1


def test_identical_samples_are_all_kept_even_from_a_forked_child(
    r: redis.Redis, redis_socket: Path
) -> None:
    analytics.record_analysis(r, "a", 1.0, True, T0)
    analytics.record_analysis(r, "a", 1.0, True, T0)
    pid = os.fork()
    if pid == 0:
        # The child starts from the parent's counter: only a fresh tag keeps its members apart.
        child = redis.Redis(unix_socket_path=str(redis_socket))
        analytics.record_analysis(child, "a", 1.0, True, T0)
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    analytics.record_analysis(r, "a", 1.0, True, T0)
    assert r.zcard(keys.stat(analytics.ANALYSIS, "a")) == 4


def test_retention_drops_old_samples_and_caps_the_count(
    r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = keys.stat(analytics.ANALYSIS, "a")
    analytics.record_analysis(r, "a", 1.0, True, T0)
    analytics.record_analysis(r, "a", 2.0, True, T0 + analytics.RETENTION_S - 1)
    analytics.record_analysis(r, "a", 3.0, True, T0 + analytics.RETENTION_S + 1)
    assert r.zrange(key, 0, -1, withscores=True)[0][1] == T0 + analytics.RETENTION_S - 1
    assert r.zcard(key) == 2
    assert 0 < r.ttl(key) <= analytics.RETENTION_S

    monkeypatch.setattr(analytics, "MAX_SAMPLES", 5)
    start = T0 + 2 * analytics.RETENTION_S
    for i in range(10):
        analytics.record_analysis(r, "b", 1.0, True, start + i * 10)
    assert r.zcard(keys.stat(analytics.ANALYSIS, "b")) == 5
    # The five left reach back 40 s: the rate is taken over that span, not over the hour asked.
    row = analytics.summary(r, window_s=3600, now=start + 90)["analyzers"]["b"]
    assert (row["count"], row["covered_s"], row["throughput_per_min"]) == (5, 40.0, 7.5)


def test_trimming_is_queued_at_most_once_per_interval(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=False)
    analytics.record_analysis(pipe, "a", 1.0, True, T0)
    with_trim = len(pipe.command_stack)
    analytics.record_analysis(pipe, "a", 1.0, True, T0 + 0.5)
    analytics.record_analysis(pipe, "a", 1.0, True, T0 + 0.9)
    assert len(pipe.command_stack) == with_trim + 2  # a ZADD each: no SADD between trims
    analytics.record_analysis(pipe, "a", 1.0, True, T0 + 1.0)
    assert len(pipe.command_stack) == 2 * with_trim + 2
    pipe.execute()


def test_subjects_whose_sets_expired_are_forgotten(r: redis.Redis) -> None:
    analytics.record_analysis(r, "old", 1.0, True, T0)
    analytics.record_analysis(r, "new", 1.0, True, T0)
    r.delete(keys.stat(analytics.ANALYSIS, "old"))
    assert set(analytics.summary(r, now=T0)["analyzers"]) == {"new"}
    assert r.smembers(keys.STAT_SUBJECTS) == {b"new"}


class Picky(Analyzer):
    """Raises on events whose text says so, and is quiet otherwise."""

    name = "picky"

    def analyze(self, event: Event) -> list[Item] | None:
        if event["text"] == "raise":
            raise RuntimeError("picky")
        return []


def test_the_consumer_group_runner_records_every_event(redis_socket: Path) -> None:
    # RESP2, as the daemon's own connect() pins it: the runner reads replies in that shape.
    r = redis.Redis(unix_socket_path=str(redis_socket), protocol=2)
    r.flushall()
    runner = GroupRunner(r, Picky(), "c1", block_ms=10)
    runner.ensure_group()
    for i, text in enumerate(["x = 1", "raise", "y = 2"]):
        event = {"buffer": 1, "tick": i, "line": 1, "col": 0, "language": "python", "text": text}
        r.xadd(keys.EVENTS, {"n": 1, "e": msgpack.packb([event])})
    assert runner.step() == 2

    row = analytics.summary(r, window_s=60)["analyzers"]["picky"]
    assert (row["count"], row["errors"]) == (3, 1)
    r.close()


def _stats(redis_socket: Path, *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="redis-ai")
    stats_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["stats", "--redis-url", f"unix://{redis_socket}", *argv])
    out = io.StringIO()
    assert args.func(args, out) == 0
    return out.getvalue()


def test_stats_command_prints_json_and_tables(r: redis.Redis, redis_socket: Path) -> None:
    now = time.time()
    for i in range(20):
        analytics.record_analysis(r, "code_analysis", 2.0 + i, i != 7, now - 590 + i * 30)
    for action in ["shown"] * 4 + ["accepted", "dismissed"]:
        analytics.record_feedback(r, "code_analysis", action, now - 5)
    analytics.record_model_call(r, "anthropic:haiku", 420.0, True, now - 5)

    data = json.loads(_stats(redis_socket, "--json", "--window", "600"))
    row = data["analyzers"]["code_analysis"]
    assert (data["window_s"], row["count"], row["errors"], row["acceptance_rate"]) == (
        600, 20, 1, 0.25)
    assert (row["shown"], row["accepted"], row["dismissed"], row["ignored"]) == (4, 1, 1, 2)
    assert data["models"]["anthropic:haiku"]["latency_ms"]["p99"] == 420.0

    text = _stats(redis_socket, "--window", "600", "--buckets", "20")
    assert text.startswith("redis-ai stats: last 10 min, sparklines in 20 buckets of 30 s\n")
    lines = text.splitlines()
    figures, trends = (line.split() for line in lines if line.startswith("code_analysis"))
    # count, /min, p50, p99, mean, errors, err%, shown, accept, partial, dismiss, ignored, accept%
    assert figures[1:] == ["20", "2.0", "11.00", "21.00", "11.50", "1", "5.0%",
                           "4", "1", "0", "1", "2", "25.0%"]
    assert "accept% unknown" not in text
    calls_spark, latency_spark = trends[1:]
    assert calls_spark == "█" * 20
    assert latency_spark[0] == "▁" and latency_spark[-1] == "█" and len(latency_spark) == 20
    model = next(line for line in lines if line.startswith("anthropic:haiku"))
    assert model.split()[1:] == ["1", "0.1", "420.0", "420.0", "420.0", "0", "0.0%"]


def test_stats_command_on_empty_redis(r: redis.Redis, redis_socket: Path) -> None:
    assert "no measurements in this window" in _stats(redis_socket)
    assert json.loads(_stats(redis_socket, "--json"))["analyzers"] == {}


def test_sparkline_scales_from_zero_to_the_largest() -> None:
    assert stats_cli.sparkline([0, 1, 2, None, 8]) == "▁▁▂ █"
    assert stats_cli.sparkline([None, 0]) == " ▁"


def test_a_burst_batch_keeps_counts_exact_and_samples_few(redis_client):
    """record_analyses of a big batch: every failure kept, successes thinned and weighted."""
    now = 1_900_000_000.0
    samples = [(float(i % 100), True) for i in range(1000)] + [(5.0, False)] * 3
    pipe = redis_client.pipeline(transaction=False)
    analytics.record_analyses(pipe, "bursty", samples, now)
    pipe.execute()
    assert redis_client.zcard(keys.stat("analysis", "bursty")) == analytics.BURST_SAMPLES + 3
    row = analytics.summary(redis_client, window_s=60, now=now + 1)["analyzers"]["bursty"]
    assert row["count"] == 1003 and row["errors"] == 3
    assert 40 <= row["latency_ms"]["p50"] <= 60  # an estimate of the true median, 49.5
    assert sum(row["series"]["count"]) == 1003

"""The consumer-group runner against a real Redis: at-least-once delivery, crash takeover,
dead letters, self-healing when the group or stream disappears, graceful stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import msgpack
import pytest

from redis_ai import keys
from redis_ai.schema import validate_event
from redis_ai.workers.runner import GroupRunner
from tests.conftest import ROOT
from tests.support.analyzers import Counting, FixedCompletion, Poison
from tests.support.clients import event


def add_events(redis, n: int, **fields) -> list[str]:
    """Append ``n`` validated events as the daemon's writer would."""
    client = fields.pop("client", "c-000000")
    pipe = redis.pipeline(transaction=False)
    for i in range(n):
        ev = validate_event(event(tick=i, **fields))
        ev["client"] = client
        pipe.xadd(keys.EVENTS, {"n": 1, "e": msgpack.packb([ev])})
    return [f"{i.decode()}#0" for i in pipe.execute()]


def wait_for(pred, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def group_info(client, name: str) -> dict:
    if not client.exists(keys.EVENTS):
        return {}
    for g in client.xinfo_groups(keys.EVENTS):
        if g["name"].decode() == name:
            return g
    return {}


def start_runner(client, analyzer, **kw) -> tuple[GroupRunner, threading.Thread]:
    runner = GroupRunner(client, analyzer, f"test:{analyzer.name}", **kw)
    runner.ensure_group()
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return runner, thread


def test_results_are_published_before_the_ack(redis_client):
    runner, thread = start_runner(redis_client, FixedCompletion())
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.results_channel("c-abc"))
    add_events(redis_client, 3, client="c-abc")
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        msg = pubsub.get_message(timeout=0.5)
        if msg:
            got.append(msgpack.unpackb(msg["data"]))
    runner.stop()
    thread.join(5)
    pubsub.close()
    assert [r["tick"] for r in got] == [0, 1, 2]
    assert all(r["client"] == "c-abc" and r["kind"] == "completion" for r in got)
    assert group_info(redis_client, "fixed_completion")["pending"] == 0


def test_killed_worker_loses_nothing(redis_client, redis_server):
    """SIGKILL a worker process mid-batch: another takes over; duplicates <= the batch in flight."""
    batch = 50
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "redis_ai", "worker", "--redis-url", redis_server.url,
            "--group", "tests.support.analyzers:Counting", "--batch", str(batch),
            "--claim-idle-ms", "300"]
    first = subprocess.Popen(argv, env=env, cwd=ROOT)
    try:
        wait_for(lambda: group_info(redis_client, "counting"), what="the group")
    except AssertionError:
        first.kill()
        raise
    ids = add_events(redis_client, 1500)
    wait_for(lambda: redis_client.hlen(Counting.KEY) >= 300, what="some progress")
    first.send_signal(signal.SIGKILL)
    first.wait()
    pending_at_kill = group_info(redis_client, "counting")["pending"]
    second = subprocess.Popen(argv, env=env, cwd=ROOT)
    try:
        wait_for(lambda: redis_client.hlen(Counting.KEY) == len(ids)
                 and group_info(redis_client, "counting")["pending"] == 0, what="everything acked")
    finally:
        second.terminate()
        second.wait(10)
    counts = {k.decode(): int(v) for k, v in redis_client.hgetall(Counting.KEY).items()}
    assert set(counts) == set(ids)
    twice = sum(1 for c in counts.values() if c > 1)
    assert twice <= batch
    assert pending_at_kill <= batch
    assert second.returncode == 0  # SIGTERM is a graceful stop


def test_poison_event_ends_in_dead_letters(redis_client):
    runner, thread = start_runner(redis_client, Poison(), claim_idle_ms=100, max_deliveries=3)
    ids = add_events(redis_client, 3)
    [poison] = add_events(redis_client, 1, text="POISON here")
    wait_for(lambda: redis_client.xlen(keys.DEAD_LETTERS) == 1, what="the dead letter")
    wait_for(lambda: group_info(redis_client, "poison")["pending"] == 0, what="no pending")
    runner.stop()
    thread.join(5)
    [(_, fields)] = redis_client.xrange(keys.DEAD_LETTERS)
    assert fields[b"id"].decode() == poison.partition("#")[0]
    assert fields[b"group"] == b"poison"
    assert int(fields[b"deliveries"]) == 3
    [dead] = msgpack.unpackb(fields[b"e"])
    assert dead["text"] == "POISON here" and b"RuntimeError" in fields[b"error"]
    assert runner.failed == 3 and len(ids) == 3
    assert int(redis_client.hget(keys.COUNTERS, "dead")) == 1


def test_group_and_stream_deleted_under_the_runner_heal(redis_client):
    runner, thread = start_runner(redis_client, FixedCompletion(), block_ms=100)
    add_events(redis_client, 2)
    wait_for(lambda: runner.processed >= 2, what="first events")
    redis_client.delete(keys.EVENTS)  # drops the stream and its groups: NOGROUP follows
    time.sleep(0.3)
    wait_for(lambda: add_events(redis_client, 1) and runner.processed >= 3, timeout=10,
             what="processing after the group was recreated")
    runner.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_stop_finishes_the_batch_in_hand(redis_client):
    runner = GroupRunner(redis_client, Counting(redis_client), "test:counting", batch=200)
    runner.ensure_group()
    add_events(redis_client, 200)  # all there before the first read: one batch of 200
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    wait_for(lambda: redis_client.hlen(Counting.KEY) > 0, what="processing to start")
    runner.stop()
    thread.join(10)
    assert redis_client.hlen(Counting.KEY) == 200
    assert group_info(redis_client, "counting")["pending"] == 0


@pytest.mark.parametrize("bad", [b"\xc1 not msgpack", b""])
def test_undecodable_entries_are_dead_lettered_not_retried(redis_client, bad):
    runner, thread = start_runner(redis_client, FixedCompletion())
    redis_client.xadd(keys.EVENTS, {"n": 1, "e": bad} if bad else {"other": "field"})
    add_events(redis_client, 1)
    wait_for(lambda: runner.processed >= 1 + (not bad), what="processing")
    runner.stop()
    thread.join(5)
    assert redis_client.xlen(keys.DEAD_LETTERS) == (1 if bad else 0)
    assert group_info(redis_client, "fixed_completion")["pending"] == 0


def test_pending_entries_trimmed_away_are_counted_not_silently_lost(redis_client):
    runner = GroupRunner(redis_client, FixedCompletion(), "test:late", claim_idle_ms=0)
    runner.ensure_group("0")
    add_events(redis_client, 3)
    # A consumer that read them and died, and then the memory budget trimmed them away.
    redis_client.xreadgroup(runner.group, "dead-consumer", {keys.EVENTS: ">"}, count=10)
    redis_client.xtrim(keys.EVENTS, maxlen=0)
    runner.reclaim()
    assert int(redis_client.hget(keys.COUNTERS, "trimmed:fixed_completion")) == 3
    assert group_info(redis_client, "fixed_completion")["pending"] == 0

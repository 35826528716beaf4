"""Workers that die, stall or share a name, against a real Redis and real ``redis-ai worker``
processes: healthy events never reach the dead letters, a live worker's batch is never taken,
ids are unique, dead consumers leave the groups, a dead runner thread fails the process."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import pytest

from redis_ai import keys
from redis_ai.schema import validate_event
from redis_ai.workers import liveness
from redis_ai.workers.liveness import Heartbeat, new_ident, remove_dead_consumers
from redis_ai.workers.runner import GroupRunner
from tests.conftest import ROOT
from tests.support.analyzers import Counting, Poison
from tests.support.clients import event
from tests.support.worker_analyzers import SlowTally
from tests.test_runner import group_info, wait_for


def add_entries(redis, entries: int, per_entry: int) -> list[str]:
    """Append ``entries`` stream entries of ``per_entry`` events each, as a burst would."""
    pipe = redis.pipeline(transaction=False)
    for i in range(entries):
        batch = []
        for j in range(per_entry):
            ev = validate_event(event(tick=i * per_entry + j))
            ev["client"] = "c-000000"
            batch.append(ev)
        pipe.xadd(keys.EVENTS, {"n": per_entry, "e": msgpack.packb(batch)})
    return [f"{entry_id.decode()}#{j}" for entry_id in pipe.execute() for j in range(per_entry)]


class Workers:
    """``redis-ai worker`` processes for one group, each logging to a file of its own."""

    def __init__(self, redis_url: str, spec: str, folder: Path, *args: str,
                 env: dict[str, str] | None = None) -> None:
        self.argv = [sys.executable, "-m", "redis_ai", "worker", "--redis-url", redis_url,
                     "--group", spec, *args]
        self.env = {**os.environ, "PYTHONPATH": f"{ROOT / 'daemon'}{os.pathsep}{ROOT}", **(env or {})}
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.folder / f"worker-{len(self.procs)}.log", "wb") as log:
            proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        for proc in self.live():
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(redis_server, tmp_path):
    made: list[Workers] = []

    def make(spec: str, *args: str, env: dict[str, str] | None = None) -> Workers:
        made.append(Workers(redis_server.url, spec, tmp_path, *args, env=env))
        return made[-1]

    yield make
    for w in made:
        w.stop()


def all_done(redis, group: str) -> bool:
    """Whether ``group`` has read the whole stream and holds nothing pending."""
    info = group_info(redis, group)
    [(last, _)] = redis.xrevrange(keys.EVENTS, count=1)
    return info["pending"] == 0 and info["last-delivered-id"] == last


def consumer_of(redis, pid: int, group: str) -> str | None:
    """The consumer name of the worker process ``pid``, from its heartbeat."""
    for ident, info in liveness.alive(redis, "worker").items():
        if info.get("pid") == str(pid):
            return f"{ident}:{group}"
    return None


def kill_run(redis, pool: Workers, kills: int, entries: int, per_entry: int) -> dict[str, int]:
    """Stream ``entries`` burst entries to two workers of ``Counting`` and SIGKILL ``kills``
    times the worker holding the most-delivered pending entries, starting a new one each time;
    returns the figures once every entry is acknowledged."""
    pool.start()
    pool.start()
    wait_for(lambda: group_info(redis, "counting"), what="the group")
    ids: list[str] = []
    feeder = threading.Thread(target=lambda: [
        (ids.extend(add_entries(redis, 5, per_entry)), time.sleep(0.05))
        for _ in range(entries // 5)])
    feeder.start()
    rng = random.Random(9)
    killed = most_delivered = 0
    while killed < kills:
        time.sleep(rng.uniform(0.05, 0.2))
        held = {}
        for proc in pool.live():
            name = consumer_of(redis, proc.pid, "counting")
            pending = name and redis.xpending_range(keys.EVENTS, "counting", "-", "+", 100, name)
            if pending:
                held[proc] = max(p["times_delivered"] for p in pending)
        if not held:
            continue
        victim = max(held, key=lambda p: held[p])
        most_delivered = max(most_delivered, held[victim])
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed += 1
        pool.start()
    feeder.join()
    wait_for(lambda: all_done(redis, "counting"), timeout=60 + kills,
             what="every entry delivered and acknowledged")
    counts = {k.decode(): int(v) for k, v in redis.hgetall(Counting.KEY).items()}
    return {"kills": killed, "events": len(ids), "analysed": len(set(counts) & set(ids)),
            "lost": len(set(ids) - set(counts)),
            "analysed_twice": sum(1 for c in counts.values() if c > 1),
            "dead_letters": redis.xlen(keys.DEAD_LETTERS),
            "most_deliveries_at_a_kill": most_delivered}


def test_killed_workers_send_no_healthy_event_to_the_dead_letters(redis_client, workers):
    """SIGKILL workers again and again, each time one that holds the most-delivered entries,
    while events stream in: none of them reaches the dead letters and none is lost."""
    pool = workers("tests.support.analyzers:Counting", "--batch", "8", "--claim-idle-ms", "300")
    figures = kill_run(redis_client, pool, kills=10, entries=250, per_entry=8)
    print(figures)
    assert figures["dead_letters"] == 0
    assert figures["lost"] == 0 and figures["analysed"] == figures["events"] == 2000
    assert not redis_client.hlen(keys.failures("counting"))


def test_a_live_workers_batch_is_never_taken_over(redis_client, workers):
    """Batches of 16 events at 25 ms each last 400 ms, longer than --claim-idle-ms 150: the
    other live worker must still never analyse the same event."""
    pool = workers("tests.support.worker_analyzers:SlowTally", "--batch", "4",
                   "--claim-idle-ms", "150")
    pool.start()
    pool.start()
    wait_for(lambda: group_info(redis_client, "slow_tally"), what="the group")
    ids = add_entries(redis_client, 40, 4)
    wait_for(lambda: redis_client.hlen(SlowTally.KEY) == len(ids)
             and group_info(redis_client, "slow_tally")["pending"] == 0,
             timeout=30, what="every event analysed")
    counts = {k.decode(): int(v) for k, v in redis_client.hgetall(SlowTally.KEY).items()}
    assert set(counts) == set(ids)
    assert [i for i, c in counts.items() if c > 1] == []
    assert len(redis_client.xinfo_consumers(keys.EVENTS, "slow_tally")) == 2  # both worked


def test_a_genuinely_failing_analyzer_still_reaches_the_dead_letters(redis_client):
    runner = GroupRunner(redis_client, Poison(), "test:poison", claim_idle_ms=50, block_ms=10)
    runner.ensure_group()
    [poison] = add_entries_with_text(redis_client, "POISON here")
    for _ in range(100):
        runner.step()
        if redis_client.xlen(keys.DEAD_LETTERS):
            break
        time.sleep(0.03)
    [(_, fields)] = redis_client.xrange(keys.DEAD_LETTERS)
    assert fields[b"id"].decode() == poison.partition("#")[0]
    assert int(fields[b"failures"]) == 3
    assert group_info(redis_client, "poison")["pending"] == 0
    assert not redis_client.hlen(keys.failures("poison"))


def add_entries_with_text(redis, text: str) -> list[str]:
    ev = validate_event(event(tick=1, text=text))
    ev["client"] = "c-000000"
    return [f"{redis.xadd(keys.EVENTS, {'n': 1, 'e': msgpack.packb([ev])}).decode()}#0"]


def abandon(redis, group: str, entry_id: bytes, times: int) -> None:
    """Deliver ``entry_id`` ``times`` more times to consumers that then die without a word."""
    for n in range(times):
        time.sleep(0.06)  # idle past the runner's claim_idle_ms
        redis.xclaim(keys.EVENTS, group, f"gone-{n}:{group}", 50, [entry_id])


def test_deliveries_ended_by_dead_consumers_do_not_dead_letter(redis_client):
    """An entry whose consumers died twice, under --max-deliveries 2, is analysed, not dropped."""
    runner = GroupRunner(redis_client, Counting(redis_client), "live:counting",
                         claim_idle_ms=50, max_deliveries=2)
    runner.ensure_group("0")
    ids = add_entries(redis_client, 1, 3)
    redis_client.xreadgroup("counting", "gone-first:counting", {keys.EVENTS: ">"})
    entry_id = ids[0].partition("#")[0].encode()
    abandon(redis_client, "counting", entry_id, 2)
    time.sleep(0.06)
    runner.reclaim()
    assert redis_client.xlen(keys.DEAD_LETTERS) == 0
    assert sorted(k.decode() for k in redis_client.hkeys(Counting.KEY)) == sorted(ids)
    assert group_info(redis_client, "counting")["pending"] == 0


def test_an_entry_that_kills_every_worker_is_dead_lettered_alone(redis_client):
    """The safety bound: abandoned max_crashes times, the entry goes whole; its neighbour,
    abandoned once with it, is analysed."""
    runner = GroupRunner(redis_client, Counting(redis_client), "live:counting",
                         claim_idle_ms=50, max_crashes=3)
    runner.ensure_group("0")
    killer, neighbour = add_entries(redis_client, 2, 1)
    redis_client.xreadgroup("counting", "gone-first:counting", {keys.EVENTS: ">"})
    abandon(redis_client, "counting", killer.partition("#")[0].encode(), 2)
    time.sleep(0.06)
    runner.reclaim()
    [(_, fields)] = redis_client.xrange(keys.DEAD_LETTERS)
    assert fields[b"id"].decode() == killer.partition("#")[0]
    assert b"died 3 times" in fields[b"error"]
    assert [k.decode() for k in redis_client.hkeys(Counting.KEY)] == [neighbour]
    assert group_info(redis_client, "counting")["pending"] == 0


def test_ids_differ_for_one_host_name_and_pid(monkeypatch):
    """Two containers on one host name, both running their worker as pid 1."""
    monkeypatch.setattr(liveness.socket, "gethostname", lambda: "box")
    monkeypatch.setattr(liveness.os, "getpid", lambda: 1)
    first, second = new_ident(), new_ident()
    assert first != second
    assert first.startswith("box:1:") and second.startswith("box:1:")


def test_workers_with_one_host_name_and_pid_are_two_consumers(redis_client, workers):
    """The same, with real worker processes, each pid 1 of its own pid namespace."""
    if os.geteuid() != 0 or subprocess.run(["unshare", "--pid", "--fork", "true"],
                                           capture_output=True).returncode:
        pytest.skip("needs unshare --pid (root)")
    pool = workers("tests.support.analyzers:Counting")
    pool.argv = ["unshare", "--pid", "--fork", "--kill-child", *pool.argv]
    pool.start()
    pool.start()
    found = wait_for(lambda: len(w := liveness.alive(redis_client, "worker")) == 2 and w,
                     what="two live workers")
    assert {info["pid"] for info in found.values()} == {"1"}
    # A consumer appears with its first entry (Redis 7.0 does not make one for an empty read).
    wait_for(lambda: add_entries(redis_client, 1, 1)
             and len(redis_client.xinfo_consumers(keys.EVENTS, "counting")) == 2,
             what="two consumers")
    for proc in pool.procs:
        proc.kill()  # unshare does not pass SIGTERM on; --kill-child ends the worker with it
        proc.wait()


def test_dead_consumers_leave_the_group_once_their_entries_are_taken(redis_client):
    runner = GroupRunner(redis_client, Counting(redis_client), "live-1:counting",
                         claim_idle_ms=50)
    runner.ensure_group("0")
    ids = add_entries(redis_client, 3, 1)
    redis_client.xreadgroup("counting", "dead-1:counting", {keys.EVENTS: ">"}, count=2)
    # A live worker with nothing pending and idle for long stays.
    beat = Heartbeat(redis_client, "worker", "idle-1", {"pid": 0})
    beat.start()
    try:
        redis_client.xreadgroup("counting", "idle-1:counting", {keys.EVENTS: ">"}, count=1)
        redis_client.xack(keys.EVENTS, "counting", ids[2].partition("#")[0])
        time.sleep(0.06)
        runner.reclaim()  # takes dead-1's two entries
        assert redis_client.hlen(Counting.KEY) == 2
        time.sleep(0.06)
        runner.reclaim()  # nothing left to take: dead-1 goes
        names = {c["name"].decode() for c in redis_client.xinfo_consumers(keys.EVENTS, "counting")}
        assert names == {"live-1:counting", "idle-1:counting"}
    finally:
        beat.stop()
    time.sleep(0.06)
    assert remove_dead_consumers(redis_client, "counting", "live-1:counting", 50) == [
        "idle-1:counting"]


def test_a_consumer_with_pending_entries_is_never_removed(redis_client):
    redis_client.xgroup_create(keys.EVENTS, "counting", id="0", mkstream=True)
    add_entries(redis_client, 1, 1)
    redis_client.xreadgroup("counting", "dead-1:counting", {keys.EVENTS: ">"})
    time.sleep(0.06)
    assert remove_dead_consumers(redis_client, "counting", "live-1:counting", 50) == []
    assert group_info(redis_client, "counting")["pending"] == 1


def test_a_worker_whose_runner_thread_dies_exits_non_zero(redis_client, workers):
    pool = workers("tests.support.worker_analyzers:Exits")
    proc = pool.start()
    wait_for(lambda: group_info(redis_client, "exits"), what="the group")
    add_entries(redis_client, 1, 1)
    assert proc.wait(20) == 1


def test_a_runner_stuck_in_one_event_lets_its_entries_go(redis_client, monkeypatch):
    """The keeper stops extending after 10 x claim_idle_ms without a new event, so a peer
    takes the entry of a runner stuck in its analyzer (here 800 ms against a limit of 500)."""
    monkeypatch.setenv("REDIS_AI_TEST_DELAY_MS", "800")
    stuck = GroupRunner(redis_client, SlowTally(redis_client), "stuck:slow_tally",
                        claim_idle_ms=50, block_ms=20)
    stuck.ensure_group()
    [event_id] = add_entries(redis_client, 1, 1)
    stuck_thread = threading.Thread(target=stuck.run, daemon=True)
    stuck_thread.start()
    wait_for(lambda: group_info(redis_client, "slow_tally")["pending"], what="the stuck read")
    peer = GroupRunner(redis_client, SlowTally(redis_client), "peer:slow_tally",
                       claim_idle_ms=50, block_ms=20)
    peer_thread = threading.Thread(target=peer.run, daemon=True)
    peer_thread.start()
    wait_for(lambda: redis_client.hget(SlowTally.KEY, event_id) == b"2", what="the peer's try")
    for runner, thread in ((stuck, stuck_thread), (peer, peer_thread)):
        runner.stop()
        thread.join(5)

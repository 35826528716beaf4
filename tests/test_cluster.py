"""redis-ai on a real Redis Cluster: 3 masters and 3 replicas of Debian's redis-server 7.0 on
loopback ports (tests/support/cluster.py), shared by this module's tests.

The core path runs on it: event in -> result out through a real daemon, a worker process on
every shard, takeover of a dead consumer's entries, dead letters; status and doctor see it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis

from redis_ai import analytics, keys
from redis_ai.cli import main as cli_main
from redis_ai.ingest.writer import shard_of
from redis_ai.lisp import store as lisp_store
from redis_ai.models import ngram
from redis_ai.schema import validate_event
from redis_ai.store.connection import capabilities, connect, is_cluster, server_info
from redis_ai.workers import liveness
from redis_ai.workers.runner import GroupRunner
from tests.conftest import DaemonProc
from tests.support.analyzers import Counting, Poison
from tests.support.clients import RPCClient, event
from tests.support.cluster import LocalCluster, Ticks
from tests.test_worker_faults import Workers

pytestmark = pytest.mark.skipif(not shutil.which("redis-cli"), reason="needs Debian's redis-cli")


@pytest.fixture(scope="module")
def cluster():
    folder = Path(tempfile.mkdtemp(prefix="rai-cl-"))
    made = LocalCluster(folder)
    try:
        made.start()
        yield made
    finally:
        made.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def rc(cluster):
    """A cluster client; every master flushed first."""
    cluster.flush()
    client = connect(cluster.url)
    yield client
    client.close()


@pytest.fixture
def daemons(cluster, rc):
    started: list[DaemonProc] = []

    def make(analyzers: list[str], extra_args: list[str] | None = None) -> DaemonProc:
        folder = Path(tempfile.mkdtemp(prefix="rai-"))
        folder.chmod(0o700)
        proc = DaemonProc(cluster.url, analyzers, folder, extra_args=extra_args)
        proc.start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()
        print(proc.log.read_text()[-3000:])  # shown when the test failed
        shutil.rmtree(proc.runtime_dir, ignore_errors=True)


def wait_for(pred, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def is_result(analyzer: str, **match: object):
    return lambda p: p["type"] == "result" and p["analyzer"] == analyzer and all(
        p.get(k) == v for k, v in match.items())


def test_connect_finds_the_cluster_and_asks_every_node(cluster, rc):
    assert is_cluster(rc)
    caps = capabilities(rc)  # VCARD is unknown to 7.0: a "no", not a crash
    assert (caps.cluster, caps.masters, caps.replicas, caps.vectorset) == (True, 3, 3, False)
    asked = {n["node"] for n in server_info(rc)["nodes"]}
    assert asked == {f"127.0.0.1:{p}" for p in cluster.ports}
    assert not is_cluster(connect(f"{cluster.url}?cluster=no"))


def test_event_in_result_out_through_a_daemon_on_every_shard(daemons, rc):
    daemon = daemons(["code_analysis", "tests.support.analyzers:FixedCompletion"])
    assert int(rc.get(keys.EVENT_SHARDS)) == 3  # one shard per master
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        hello = client.hello()
        assert hello["redis"]["cluster"] is True
        assert client.wait(lambda p: p["type"] == "status")["redis"] == "up"
        buffers = [str(b) for b in range(12)]
        assert len({shard_of(hello["client"], b, 3) for b in buffers}) == 3
        for tick, buffer in enumerate(buffers, 1):
            client.notify("event", event(text="def f(:\n    return 1\n", buffer=buffer, tick=tick))
        for tick, buffer in enumerate(buffers, 1):
            res = client.wait(is_result("code_analysis", buffer=buffer), timeout=15)
            assert res["tick"] == tick and res["items"]
            client.wait(is_result("fixed_completion", buffer=buffer), timeout=15)
    finally:
        client.close()
    # Every shard got its buffers' events, on its own master.
    counts = [sum(int(f[b"n"]) for _, f in rc.xrange(keys.events(s))) for s in range(3)]
    assert all(counts) and sum(counts) == len(buffers)
    assert len({rc.keyslot(keys.events(s)) for s in range(3)}) == 3


def add_events(rc, n: int, shard: int = 0, **fields: Any) -> list[str]:
    ids = []
    for i in range(n):
        ev = validate_event(event(tick=i, **fields))
        ev["client"] = "c-cluster"
        entry = rc.xadd(keys.events(shard), {"n": 1, "e": msgpack.packb([ev])})
        ids.append(f"{entry.decode()}#0")
    return ids


def run_in_thread(runner: GroupRunner) -> threading.Thread:
    runner.ensure_group()
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


def test_a_dead_consumers_entries_are_taken_over_on_another_shard(rc):
    counting = Counting(rc)
    shard = 2
    GroupRunner(rc, counting, "gone:counting", shard=shard).ensure_group()
    ids = add_events(rc, 5, shard=shard)
    # A consumer that read the entries and died holding them.
    rc.xreadgroup("counting", "gone:counting", {keys.events(shard): ">"}, count=10)
    runner = GroupRunner(rc, counting, "live:counting", shard=shard, claim_idle_ms=200)
    thread = run_in_thread(runner)
    try:
        wait_for(lambda: rc.hlen(Counting.KEY) == 5, what="the dead consumer's entries analysed")
        wait_for(lambda: not rc.xpending(keys.events(shard), "counting")["pending"],
                 what="nothing pending")
    finally:
        runner.stop()
        thread.join(5)
    assert {k.decode() for k in rc.hkeys(Counting.KEY)} == {f"{i}@{shard}" for i in ids}


def test_a_poison_event_reaches_the_dead_letters(rc):
    shard = 1
    runner = GroupRunner(rc, Poison(), "test:poison", shard=shard, claim_idle_ms=100,
                         max_deliveries=2)
    thread = run_in_thread(runner)
    try:
        add_events(rc, 2, shard=shard)
        [poison] = add_events(rc, 1, shard=shard, text="POISON here")
        wait_for(lambda: rc.xlen(keys.DEAD_LETTERS) == 1, what="the dead letter")
        wait_for(lambda: not rc.xpending(keys.events(shard), "poison")["pending"],
                 what="nothing pending")
    finally:
        runner.stop()
        thread.join(5)
    [(_, fields)] = rc.xrange(keys.DEAD_LETTERS)
    assert fields[b"id"].decode() == poison.partition("#")[0]
    assert fields[b"stream"].decode() == keys.events(shard)
    assert int(fields[b"deliveries"]) == 2 and int(rc.hget(keys.COUNTERS, "dead")) == 1
    assert not rc.exists(keys.failures("poison", shard))


def test_a_worker_process_serves_every_shard(daemons, rc, tmp_path):
    daemon = daemons(["code_analysis"], ["--no-workers"])
    pool = Workers(daemon.redis_url, "tests.support.analyzers:Counting", tmp_path)
    pool.start()
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        wait_for(lambda: all(rc.exists(keys.events(s)) for s in range(3)), what="the groups")
        for buffer in range(9):
            client.notify("event", event(buffer=str(buffer), tick=buffer))
        wait_for(lambda: rc.hlen(Counting.KEY) == 9, what="9 events counted")
    finally:
        client.close()
        pool.stop()
    status = __import__("redis_ai.status", fromlist=["collect"]).collect(rc)
    assert [s["key"] for s in status["shards"]] == [keys.events(s) for s in range(3)]
    assert {(g["name"], g["shard"]) for g in status["groups"]} == {("counting", s) for s in range(3)}
    assert all(s["length"] for s in status["shards"])


def test_a_master_dies_while_events_flow_and_nothing_is_lost(cluster, daemons, rc, tmp_path):
    daemon = daemons(["tests.support.cluster:Ticks"], ["--claim-idle-ms", "1000"])
    pool = Workers(daemon.redis_url, "tests.support.cluster:Ticks", tmp_path,
                   "--claim-idle-ms", "1000")
    pool.start()
    client = RPCClient(daemon.discovery["rpc_socket"])
    sent: list[str] = []
    victim = 0
    try:
        client.hello()
        wait_for(lambda: liveness.alive(rc, "worker"), what="the worker")

        def send() -> None:
            for tick in range(300):
                buffer = str(tick % 9)
                client.notify("event", event(buffer=buffer, tick=tick))
                sent.append(f"{buffer}:{tick}")
                time.sleep(0.01)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(1.0)
        # A master that serves a shard, but neither the URL's node nor the analyzer's own set.
        spare = {cluster.master_of(Ticks.KEY), cluster.ports[0]}
        victim = next(p for p in cluster.master_ports() if p not in spare)
        cluster.kill(victim)
        sender.join()
        cluster.wait_ok()
        wait_for(lambda: rc.scard(Ticks.KEY) >= len(sent), timeout=40,
                 what="every event sent analysed after the failover")
    finally:
        client.close()
        pool.stop()
        if victim:
            cluster.start_node(victim)  # back as a replica of its promoted one
            cluster.wait_ok(replicas=True)
    assert {m.decode() for m in rc.smembers(Ticks.KEY)} == set(sent)
    assert victim not in cluster.master_ports()
    assert pool.live() == [] and daemon.proc is not None and daemon.proc.poll() is None


def test_doctor_says_it_is_a_cluster_and_which_nodes_it_asked(cluster, rc):
    from redis_ai.doctor import diagnose, render
    report = diagnose(cluster.url)
    assert report["redis"]["cluster"] and report["redis"]["masters"] == 3
    assert report["redis"]["replicas"] == 3 and len(report["redis"]["asked"]) == 6
    line = next(x for x in render(report).splitlines() if x.startswith("redis cluster:"))
    assert "3 masters, 3 replicas" in line and f"127.0.0.1:{cluster.ports[0]}" in line


def test_learn_and_forget_reach_the_languages_on_every_master(cluster, rc, tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    files = {"a.py": "def add(a, b):\n    return a + b\n\n\ndef twice(x):\n    return add(x, x)\n",
             "b.el": "(defun add (a b)\n  (+ a b))\n",
             "c.c": "int add(int a, int b) {\n  return a + b;\n}\n"}
    for name, text in files.items():
        (project / name).write_text(text)
    languages = ("python", "elisp", "c")
    assert len({cluster.master_of(keys.ngram_files(lang)) for lang in languages}) == 3
    learn = ["learn", str(project), "--json", "--redis-url", cluster.url]
    assert cli_main(learn) == 0
    assert json.loads(capsys.readouterr().out)["new"] == 3
    after_def = keys.ngram("python", ngram._hash(["def"]))
    assert rc.zscore(after_def, " add") == 1 and rc.zscore(after_def, " twice") == 1
    assert all(rc.hlen(keys.ngram_files(lang)) == 1 for lang in languages)
    # Relearning a changed file applies the difference inside its language's transaction.
    (project / "a.py").write_text(files["a.py"].replace("twice", "double"))
    assert cli_main(learn) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == 1
    assert rc.zscore(after_def, " twice") is None and rc.zscore(after_def, " double") == 1
    # With every file gone only SCAN names the learned languages: it must ask each master.
    for name in files:
        (project / name).unlink()
    assert cli_main(learn) == 0
    assert json.loads(capsys.readouterr().out)["forgotten"] == 3
    assert not any(rc.hlen(keys.ngram_files(lang)) for lang in languages)
    assert rc.zscore(after_def, " add") is None


def test_lisp_define_and_remove_announce_their_change(cluster, rc, tmp_path, capsys):
    source = tmp_path / "quiet.lisp"
    source.write_text("(define (analyze) nil)\n")
    # PUBLISH reaches every node of a cluster: a listener on the last one (a replica) hears it.
    listener = redis.Redis(port=cluster.ports[-1]).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(keys.LISP_CHANGES)
    url = ["--redis-url", cluster.url]
    try:
        assert cli_main(["lisp", "define", "quiet", str(source), "--kind", "hints", *url]) == 0
        assert "defined quiet version 1" in capsys.readouterr().out
        assert wait_for(lambda: listener.get_message(timeout=0.2),
                        what="the define message")["data"] == b"define quiet"
        found = lisp_store.get(rc, "quiet")
        assert found is not None and found[1]["kind"] == "hints" and lisp_store.version(rc) == 1
        assert cli_main(["lisp", "list", "--json", *url]) == 0
        [row] = json.loads(capsys.readouterr().out)
        assert (row["name"], row["version"], row["analyze"]) == ("quiet", "1", "1")
        assert cli_main(["lisp", "remove", "quiet", *url]) == 0
        assert wait_for(lambda: listener.get_message(timeout=0.2),
                        what="the remove message")["data"] == b"remove quiet"
        assert lisp_store.get(rc, "quiet") is None and lisp_store.version(rc) == 2
    finally:
        listener.close()


def test_stats_spread_over_the_masters_and_are_all_read(cluster, rc, capsys):
    subjects = {"a": 1, "b": 2, "d": 3}  # analyzers whose tags land on three masters
    assert len({cluster.master_of(keys.stat(analytics.ANALYSIS, s)) for s in subjects}) == 3
    analytics._last_trim.clear()
    now = time.time()
    pipe = rc.pipeline(transaction=False)
    for subject, events in subjects.items():
        for _ in range(events):
            analytics.record_analysis(pipe, subject, 2.0, True, now)
    analytics.record_model_call(pipe, "model-a", 30.0, False, now)
    pipe.execute()
    analytics.record_feedback(rc, "a", "shown", now)
    analytics.record_feedback(rc, "a", "accepted", now)
    assert cli_main(["stats", "--json", "--redis-url", cluster.url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {s: row["count"] for s, row in data["analyzers"].items()} == subjects
    assert data["analyzers"]["a"]["acceptance_rate"] == 1.0
    assert data["models"]["model-a"]["errors"] == 1
    assert cli_main(["stats", "--redis-url", cluster.url]) == 0
    table = capsys.readouterr().out
    assert all(f"\n{s} " in table for s in subjects) and "model-a" in table


def test_index_and_search_on_a_cluster_use_the_scan_backend(cluster, rc, tmp_path, capsys):
    project = tmp_path / "project"
    shutil.copytree(Path(__file__).parent / "samples" / "search", project)
    url = ["--redis-url", cluster.url]
    assert cli_main(["index", str(project), "--json", *url]) == 0  # the encoder's vectors too
    report = json.loads(capsys.readouterr().out)
    assert report["indexed"] == 6 and report["backend"] == "scan" and report["pending"] == 0
    assert cli_main(["search", "hash a password with salt", "--json", "-k", "2", *url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hits"][0]["name"] == "hash_password" and data["backend"] == "scan"

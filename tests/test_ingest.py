"""Events into Redis: batching and trimming, surviving a Redis outage, the embedded default."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path

import msgpack
import pytest
import redis

from redis_ai import keys
from redis_ai.ingest.writer import EventWriter
from redis_ai.schema import stream_event
from tests.conftest import DaemonProc, start_redis
from tests.support.clients import RPCClient, event
from tests.test_runner import wait_for


def test_writer_batches_trims_and_counts(redis_client):
    writer = EventWriter(lambda: redis_client, max_entries=100, per_entry=10)
    writer.submit_many([stream_event(event(tick=i)) for i in range(5000)])
    writer.start()  # everything is buffered: the writer has to split it into entries
    writer.stop()
    assert writer.written == 5000 and writer.dropped == 0
    assert int(redis_client.hget(keys.COUNTERS, "accepted")) == 5000
    entries = redis_client.xrange(keys.EVENTS)
    assert 100 <= len(entries) < 500  # approximate MAXLEN keeps memory bounded
    ticks = [ev["tick"] for _, f in entries for ev in msgpack.unpackb(f[b"e"])]
    assert all(int(f[b"n"]) == 10 for _, f in entries)
    assert ticks == list(range(5000 - len(ticks), 5000))  # the newest kept, in order


def test_the_stream_is_trimmed_to_its_memory_budget_whatever_the_event_size(redis_client):
    big = "x" * 10_000
    writer = EventWriter(lambda: redis_client, max_bytes=1 << 20, min_entries=2, per_entry=10)
    writer.submit_many([stream_event(event(tick=i, text=big)) for i in range(400)])
    writer.start()
    writer.stop()
    assert writer.written == 400
    entries = redis_client.xrange(keys.EVENTS)
    kept = sum(len(f[b"e"]) for _, f in entries)
    # About 100 KiB per entry: the budget holds ten. (Entries this large sit one to a stream
    # node, so approximate trimming is exact here.)
    assert 9 <= len(entries) <= 11 and kept <= 1.1 * (1 << 20)
    assert [ev["tick"] for ev in msgpack.unpackb(entries[-1][1][b"e"])][-1] == 399


def test_an_event_that_cannot_be_encoded_costs_itself_not_the_writer(redis_client):
    writer = EventWriter(lambda: redis_client, per_entry=10)
    writer.start()
    bad = stream_event(event(tick=1))
    bad.text = "lone \udcff surrogate"  # what validation exists to refuse
    writer.submit_many([stream_event(event(tick=0)), bad, stream_event(event(tick=2))])
    wait_for(lambda: writer.written == 2, what="the good events")
    writer.submit(stream_event(event(tick=3)))
    wait_for(lambda: writer.written == 3, what="the writer to go on")
    writer.stop()
    assert writer.dropped == 1
    ticks = [ev["tick"] for _, f in redis_client.xrange(keys.EVENTS)
             for ev in msgpack.unpackb(f[b"e"])]
    assert ticks == [0, 2, 3]
    assert int(redis_client.hget(keys.COUNTERS, "dropped")) == 1


def test_a_quiet_editor_gets_one_event_per_entry(redis_client):
    writer = EventWriter(lambda: redis_client)
    writer.start()
    for tick in range(3):
        writer.submit(stream_event(event(tick=tick)))
        wait_for(lambda t=tick: writer.written == t + 1, what="the write")
    writer.stop()
    assert [int(f[b"n"]) for _, f in redis_client.xrange(keys.EVENTS)] == [1, 1, 1]


def test_writer_buffers_while_redis_is_down_and_counts_what_it_drops(tmp_path):
    server = start_redis(os.environ.get("REDIS_AI_TEST_REDIS", "8"), tmp_path)
    try:
        _buffer_through_an_outage(server)
    finally:
        server.stop()


def _buffer_through_an_outage(server) -> None:
    states: list[bool] = []
    writer = EventWriter(server.client, capacity=100, on_state=states.append)
    writer.start()
    writer.submit(stream_event(event(tick=0)))
    wait_for(lambda: writer.written == 1, what="the first write")
    server.proc.kill()
    server.proc.wait()
    for i in range(1, 151):
        writer.submit(stream_event(event(tick=i)))
    wait_for(lambda: states == [False], what="the writer to notice")
    assert writer.buffered + writer.dropped == 150
    assert writer.dropped >= 50
    server.start()
    wait_for(lambda: writer.buffered == 0, what="the buffer to drain")
    writer.stop()
    assert states == [False, True]
    # The first event died with the server's memory (no persistence); the rest were kept for it.
    kept = sum(int(f[b"n"]) for _, f in server.client().xrange(keys.EVENTS))
    assert kept == 150 - writer.dropped
    # ... and the drops are on record in Redis, not only in the daemon's memory.
    assert int(server.client().hget(keys.COUNTERS, "dropped")) == writer.dropped


def test_daemon_survives_redis_restart_and_tells_the_editor(tmp_path):
    server = start_redis(os.environ.get("REDIS_AI_TEST_REDIS", "8"), tmp_path)
    folder = Path(tempfile.mkdtemp(prefix="rai-"))
    daemon = DaemonProc(server.url, ["tests.support.analyzers:FixedCompletion"], folder)
    daemon.start()
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        assert client.wait(lambda p: p["type"] == "status")["redis"] == "up"
        server.proc.kill()
        server.proc.wait()
        assert client.wait(lambda p: p["type"] == "status", timeout=10)["redis"] == "down"
        for tick in range(1, 4):
            client.notify("event", event(tick=tick))
        server.start()
        assert client.wait(lambda p: p["type"] == "status", timeout=10)["redis"] == "up"
        # The buffered events reach the stream; the group is re-created (NOGROUP) on the empty
        # server, so new events are analysed again.
        wait_for(lambda: sum(int(f[b"n"]) for _, f in server.client().xrange(keys.EVENTS)) >= 3,
                 what="the buffered events")
        client.notify("event", event(tick=10))
        assert client.wait(lambda p: p["type"] == "result" and p["tick"] == 10, timeout=10)
    finally:
        client.close()
        daemon.stop()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.environ.get("REDIS_AI_TEST_REDIS") == "7", reason="embedded is Redis 8")
def test_embedded_redis_is_private_persistent_and_restarted():
    folder = Path(tempfile.mkdtemp(prefix="rai-"))
    folder.chmod(0o700)
    daemon = DaemonProc("", ["tests.support.analyzers:FixedCompletion"], folder)
    try:
        _start_embedded(daemon)
        found = daemon.discovery
        assert found["embedded"] and found["redis_url"].startswith("unix://")
        sock = Path(found["redis_url"][len("unix://"):])
        assert stat.S_IMODE(sock.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "daemon.json").stat().st_mode) == 0o600
        client = redis.Redis.from_url(found["redis_url"])
        assert client.config_get("port")["port"] == "0"  # no TCP listener
        client.hset(keys.model("kept"), "kind", "llm")
        client.close()

        daemon.stop()  # SIGTERM: the daemon stops its Redis, which flushes its append-only file
        assert not (folder / "daemon.json").exists()
        _start_embedded(daemon)
        client = redis.Redis.from_url(daemon.discovery["redis_url"])
        assert client.hget(keys.model("kept"), "kind") == b"llm"

        # Kill the embedded server: the daemon restarts it and editors are told.
        rpc = RPCClient(daemon.discovery["rpc_socket"])
        rpc.hello()
        rpc.wait(lambda p: p["type"] == "status")
        pid = int(client.info("server")["process_id"])
        client.close()
        os.kill(pid, signal.SIGKILL)
        assert rpc.wait(lambda p: p["type"] == "status", timeout=10)["redis"] == "down"
        assert rpc.wait(lambda p: p["type"] == "status", timeout=15)["redis"] == "up"
        rpc.notify("event", event(tick=3))
        assert rpc.wait(lambda p: p["type"] == "result" and p["tick"] == 3, timeout=10)
        rpc.close()
    finally:
        daemon.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _start_embedded(daemon: DaemonProc) -> None:
    """Start ``redis-ai daemon`` with no --redis-url: the embedded default."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    (daemon.runtime_dir / "daemon.json").unlink(missing_ok=True)
    argv = [sys.executable, "-m", "redis_ai", "daemon", "--analyzers", ",".join(daemon.analyzers)]
    with open(daemon.log, "ab") as log:
        daemon.proc = subprocess.Popen(argv, env=daemon.env, stdout=log, stderr=log, cwd=ROOT)
    wait_for(lambda: (daemon.runtime_dir / "daemon.json").exists()
             and daemon.discovery["pid"] == daemon.proc.pid, what="the embedded daemon")
    time.sleep(0.05)


def test_an_event_whose_write_failed_is_retried_without_another_event(tmp_path):
    """The failed write was the caller's own: the idle writer thread must still be woken."""
    server = start_redis(os.environ.get("REDIS_AI_TEST_REDIS", "8"), tmp_path)
    try:
        writer = EventWriter(server.client)
        writer.start()
        writer.submit(stream_event(event(tick=1)))
        wait_for(lambda: writer.written == 1, what="the first write")
        server.proc.kill()
        server.proc.wait()
        writer.submit(stream_event(event(tick=2)))  # fails in this thread; nothing follows
        server.start()
        wait_for(lambda: writer.written == 2, timeout=10, what="the retry")
        writer.stop()
        [(_, fields)] = server.client().xrange(keys.EVENTS)
        assert [e["tick"] for e in msgpack.unpackb(fields[b"e"])] == [2]
    finally:
        server.stop()

"""Ingest throughput: events/s through the daemon's validation, the stream XADD and a consumer
group's XREADGROUP + XACK, beside redis-benchmark's raw XADD rate on the same server.

With --cluster: the same on a local Redis Cluster the bench starts (bench/cluster.py), with the
event stream in 1 and in 3 shards, beside redis-benchmark --cluster on that cluster."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack
import redis

from .. import keys
from ..analyzers.base import Analyzer, Event, Item
from ..store.connection import connect
from ._harness import DaemonProcess, PrivateRedis, machine
from .cluster import LocalCluster

GROUP = "bench_null"


class Null(Analyzer):
    """Accepts every event and publishes nothing: the runner's own cost, nothing else."""

    name = GROUP
    kind = "hints"

    def analyze(self, event: Event) -> list[Item] | None:
        return None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=200_000, help="events to send (default 200000)")
    p.add_argument("--clients", type=int, default=2, help="editor connections sending (default 2)")
    p.add_argument("--text-bytes", type=int, default=1024, help="size of each event's text window")
    p.add_argument("--workers", type=int, default=1, help="worker processes in the group")
    p.add_argument("--redis-url", default=None, help="an existing Redis (default: a private one)")
    p.add_argument("--cluster", action="store_true",
                   help="on a local 3-master/3-replica Redis Cluster it starts (Debian's 7.0): "
                        "1 and 3 shards, beside redis-benchmark --cluster")


def _event(i: int, text: str) -> dict[str, Any]:
    return {"v": 1, "editor": "bench", "buffer": str(i % 7), "file": "/src/app/module.py",
            "mode": "python-mode", "line": 40 + i % 50, "col": i % 30, "keys": "a",
            "command": "self-insert-command", "tick": i, "text": text, "first_line": 20,
            "intent": "edit", "ts": 1.7e12}


def _send(path: str, start: int, count: int, text_bytes: int, go: Any) -> None:
    """One editor connection: hello, then ``count`` event notifications as fast as it can."""
    text = ("    total = compute(item, factor) + offset\n" * (text_bytes // 43 + 1))[:text_bytes]
    # Pre-packed so the sender costs little CPU; past 20,000 events the same blocks repeat
    # (with repeated ticks, which ingest does not care about) to keep memory bounded.

    def block(first: int, n: int) -> bytes:
        return b"".join(msgpack.packb([2, "event", [_event(first + j, text)]]) for j in range(n))

    blocks = [block(start + i, 500) for i in range(0, min(count, 20_000) - 499, 500)]
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    sock.sendall(msgpack.packb([0, 1, "hello", [{"protocol": 1, "editor": "bench"}]]))
    go.wait()
    for sent in range(0, count, 500):
        if count - sent < 500:
            sock.sendall(block(start + sent, count - sent))
        else:
            sock.sendall(blocks[(sent // 500) % len(blocks)])
    # Keep the connection open until the daemon has read everything (it acks nothing).
    time.sleep(0.5)
    sock.close()


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _redis_benchmark(sock: str | None, url: str, text_bytes: int) -> dict[str, Any]:
    tool = shutil.which("redis-benchmark")
    if not tool or not sock:
        return {"skipped": "redis-benchmark not installed" if not tool else "needs a unix socket"}
    payload = "x" * (text_bytes + 200)
    rates = {}
    for label, extra in (("c50", []), ("c50_P16", ["-P", "16"])):
        out = subprocess.run(
            [tool, "-s", sock, "-n", "200000", "-c", "50", *extra, "-q",
             "XADD", "bench:xadd", "MAXLEN", "~", "100000", "*", "e", payload],
            capture_output=True, text=True, timeout=120).stdout
        found = re.findall(r"([\d.]+) requests per second", out)
        rates[label] = float(found[-1]) if found else None
    return {"xadd_per_s": rates}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Ingest on a private Redis (or --redis-url), or with --cluster on a local Redis Cluster."""
    if args.cluster:
        return _run_cluster(args)
    server = PrivateRedis(args.redis_url)
    client = server.client()
    try:
        client.delete(keys.EVENTS, keys.COUNTERS, "bench:xadd")
        baseline = _redis_benchmark(server.socket, server.url, args.text_bytes)
        client.delete("bench:xadd")
        redis_pids = [int(client.info("server")["process_id"])]
        figures = _measure(client, server.url, args, 1, redis_pids)
    finally:
        server.close()
    return {**figures, "redis_benchmark": baseline, "machine": machine()}


def _run_cluster(args: argparse.Namespace) -> dict[str, Any]:
    """1 and 3 shards of the event stream on a local 3-master/3-replica cluster, beside
    redis-benchmark --cluster's XADD on the same cluster."""
    if args.redis_url:
        raise SystemExit("--cluster starts its own cluster: leave out --redis-url")
    folder = Path(tempfile.mkdtemp(prefix="rai-bench-cl-"))
    made = LocalCluster(folder)
    try:
        made.start()
        client = connect(made.url)
        masters = made.master_ports()
        pids = [made.procs[p].pid for p in masters]
        runs = {}
        for shards in (1, 3):
            made.flush()
            client.set(keys.EVENT_SHARDS, shards)  # before the daemon: it keeps what it finds
            runs[f"{shards}_shard{'s' if shards > 1 else ''}"] = _measure(
                client, made.url, args, shards, pids)
        made.flush()
        baseline = _redis_benchmark_cluster(made.ports[0], args.text_bytes)
        client.close()
    finally:
        made.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return {"cluster": {"masters": len(masters), "replicas": made.count - len(masters),
                        "server": "Debian redis-server 7.0, loopback TCP"},
            "events": args.events, "clients": args.clients, "workers": args.workers,
            "text_bytes": args.text_bytes,
            "runs": {name: {k: v for k, v in run.items() if k not in _SHARED}
                     for name, run in runs.items()},
            "redis_benchmark": baseline, "machine": machine()}


_SHARED = ("events", "clients", "workers", "text_bytes")


def _measure(client: redis.Redis, url: str, args: argparse.Namespace, shards: int,
             redis_pids: list[int]) -> dict[str, Any]:
    """Events sent by ``args.clients`` editor connections through a daemon into ``shards``
    streams, read and acknowledged by ``args.workers`` worker processes."""
    daemon = DaemonProcess(url, ["--no-workers"])
    streams = [keys.events(s) for s in range(shards)]
    for stream in streams:
        client.xgroup_create(stream, GROUP, id="$", mkstream=True)
    worker_argv = [sys.executable, "-m", "redis_ai", "worker", "--redis-url", url,
                   "--group", f"{__name__}:Null"]
    workers = [subprocess.Popen(worker_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ}) for _ in range(args.workers)]
    ctx = mp.get_context("fork")
    go = ctx.Event()
    share = args.events // args.clients
    senders = [ctx.Process(target=_send, args=(daemon.discovery["rpc_socket"], i * share, share,
                                               args.text_bytes, go)) for i in range(args.clients)]
    total = share * args.clients
    try:
        for s in senders:
            s.start()
        time.sleep(1.0)  # let the senders pre-pack their frames and say hello
        pids = {"daemon": [daemon.proc.pid], "workers": [w.pid for w in workers],
                "redis": redis_pids}
        cpu0 = {k: sum(_cpu_s(p) for p in v) for k, v in pids.items()}
        started = time.perf_counter()
        go.set()
        accepted_at = acked_at = None
        deadline = started + 300
        while time.perf_counter() < deadline:
            accepted = int(client.hget(keys.COUNTERS, "accepted") or 0)
            if accepted_at is None and accepted >= total:
                accepted_at = time.perf_counter()
            if accepted_at and all(_drained(client, stream) for stream in streams):
                acked_at = time.perf_counter()
                break
            time.sleep(0.005)
        lengths = [client.xlen(stream) for stream in streams]
        stream_mb = sum(client.memory_usage(st, samples=0) or 0 for st in streams) / (1 << 20)
        cpu = {k: sum(_cpu_s(p) for p in v) - cpu0[k] for k, v in pids.items()}
    finally:
        for s in senders:
            s.join(5)
        for w in workers:
            w.terminate()
            w.wait(10)
        daemon.stop()
    if acked_at is None or accepted_at is None:
        raise RuntimeError("the pipeline did not finish within 300 s")
    return {
        "events": total,
        "clients": args.clients,
        "workers": args.workers,
        "text_bytes": args.text_bytes,
        "shards": shards,
        "ingest_events_per_s": round(total / (accepted_at - started)),
        "end_to_end_events_per_s": round(total / (acked_at - started)),
        "end_to_end_s": round(acked_at - started, 3),
        "stream_entries_after_trim": sum(lengths),
        "stream_mb_after_trim": round(stream_mb, 1),
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_us_per_event": {k: round(v / total * 1e6, 2) for k, v in cpu.items()},
    }


def _drained(client: redis.Redis, stream: str) -> bool:
    """Whether the bench group has read and acknowledged everything in ``stream``."""
    group = next((g for g in client.xinfo_groups(stream) if _text(g["name"]) == GROUP), None)
    return group is not None and group["pending"] == 0 and group.get("lag") == 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _redis_benchmark_cluster(port: int, text_bytes: int) -> dict[str, Any]:
    """redis-benchmark --cluster's XADD rate over every master (``{tag}`` puts one stream on
    each), with 50 clients, plain and with 16 commands pipelined per client."""
    tool = shutil.which("redis-benchmark")
    if not tool:
        return {"skipped": "redis-benchmark not installed"}
    payload = "x" * (text_bytes + 200)
    rates = {}
    for label, extra in (("c50", []), ("c50_P16", ["-P", "16"])):
        out = subprocess.run(
            [tool, "--cluster", "-h", "127.0.0.1", "-p", str(port), "-n", "200000", "-c", "50",
             *extra, "-q", "XADD", "bench:{tag}:xadd", "MAXLEN", "~", "100000", "*", "e", payload],
            capture_output=True, text=True, timeout=120).stdout
        found = re.findall(r"([\d.]+) requests per second", out)
        rates[label] = float(found[-1]) if found else None
    return {"xadd_per_s": rates}

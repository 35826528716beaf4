"""Ingest throughput: events/s through the daemon's validation, the stream XADD and a consumer
group's XREADGROUP + XACK, beside redis-benchmark's raw XADD rate on the same server."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import msgpack

from .. import keys
from ..analyzers.base import Analyzer, Event, Item
from ._harness import DaemonProcess, PrivateRedis, machine

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
    server = PrivateRedis(args.redis_url)
    client = server.client()
    client.delete(keys.EVENTS, keys.COUNTERS, "bench:xadd")
    baseline = _redis_benchmark(server.socket, server.url, args.text_bytes)
    client.delete("bench:xadd")
    daemon = DaemonProcess(server.url, ["--no-workers"])
    worker_argv = [sys.executable, "-m", "redis_ai", "worker", "--redis-url", server.url,
                   "--group", f"{__name__}:Null"]
    client.xgroup_create(keys.EVENTS, GROUP, id="$", mkstream=True)
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
        redis_pid = int(client.info("server")["process_id"])
        pids = {"daemon": [daemon.proc.pid], "workers": [w.pid for w in workers],
                "redis": [redis_pid]}
        cpu0 = {k: sum(_cpu_s(p) for p in v) for k, v in pids.items()}
        started = time.perf_counter()
        go.set()
        accepted_at = acked_at = None
        deadline = started + 300
        while time.perf_counter() < deadline:
            accepted = int(client.hget(keys.COUNTERS, "accepted") or 0)
            if accepted_at is None and accepted >= total:
                accepted_at = time.perf_counter()
            group = next((g for g in client.xinfo_groups(keys.EVENTS)
                          if g["name"].decode() == GROUP), None)
            if accepted_at and group and group["pending"] == 0 and group.get("lag") == 0:
                acked_at = time.perf_counter()
                break
            time.sleep(0.005)
        stream_len = client.xlen(keys.EVENTS)
        stream_mb = (client.memory_usage(keys.EVENTS, samples=0) or 0) / (1 << 20)
        cpu = {k: sum(_cpu_s(p) for p in v) - cpu0[k] for k, v in pids.items()}
    finally:
        for s in senders:
            s.join(5)
        for w in workers:
            w.terminate()
            w.wait(10)
        daemon.stop()
        server.close()
    if acked_at is None or accepted_at is None:
        raise RuntimeError("the pipeline did not finish within 300 s")
    return {
        "events": total,
        "clients": args.clients,
        "workers": args.workers,
        "text_bytes": args.text_bytes,
        "ingest_events_per_s": round(total / (accepted_at - started)),
        "end_to_end_events_per_s": round(total / (acked_at - started)),
        "end_to_end_s": round(acked_at - started, 3),
        "stream_entries_after_trim": stream_len,
        "stream_mb_after_trim": round(stream_mb, 1),
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_us_per_event": {k: round(v / total * 1e6, 2) for k, v in cpu.items()},
        "redis_benchmark": baseline,
        "machine": machine(),
    }

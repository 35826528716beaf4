"""Round trip: an event sent by a client over the daemon's msgpack-RPC socket to each result
received by that client, p50/p99, with the analyzer's own time reported apart."""

from __future__ import annotations

import argparse
import socket
import time
from typing import Any

import msgpack

from ..analyzers.base import Analyzer, Event, Item
from ._harness import DaemonProcess, PrivateRedis, machine, percentile

SOURCE = "import os\n\n\ndef area(r):\n    return 3.14159 * r * r\n\n\nprint(area(2), undefined_name)\n"


class Echo(Analyzer):
    """Answers every event at once with a completion: the pipeline's cost and nothing else."""

    name = "echo"
    kind = "completion"

    def analyze(self, event: Event) -> list[Item] | None:
        return [{"text": "x", "line": event["line"], "col": event["col"]}]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", type=int, default=500, help="events sent, one at a time (default 500)")
    p.add_argument("--gap-ms", type=float, default=2.0, help="pause between events (default 2)")
    p.add_argument("--analyzers", default=f"{__name__}:Echo,code_analysis",
                   help="analyzers the daemon runs (default: echo and code_analysis)")
    p.add_argument("--redis-url", default=None, help="an existing Redis (default: a private one)")


class _Client:
    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.sock.sendall(msgpack.packb([0, 1, "hello", [{"protocol": 1, "editor": "bench"}]]))

    def pushes(self, timeout: float) -> list[dict[str, Any]]:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
        except TimeoutError:
            return []
        self.unpacker.feed(data)
        return [m[2][1][0] for m in self.unpacker if m[0] == 2 and m[1] == "nvim_exec_lua"]


def run(args: argparse.Namespace) -> dict[str, Any]:
    server = PrivateRedis(args.redis_url)
    names = args.analyzers.split(",")
    daemon = DaemonProcess(server.url, ["--analyzers", args.analyzers])
    client = _Client(daemon.discovery["rpc_socket"])
    expected = len(names)
    totals: dict[str, list[float]] = {}
    own: dict[str, list[float]] = {}
    lost = 0
    try:
        time.sleep(0.3)
        client.pushes(0.2)
        for tick in range(1, args.events + 1):
            event = {"v": 1, "editor": "bench", "buffer": "1", "file": "/tmp/bench.py",
                     "mode": "python", "line": 8, "col": 10, "tick": tick,
                     # A new text each time, as typing makes: analyzers' caches do not answer.
                     "text": f"{SOURCE}# edit {tick}\n",
                     "whole": True}
            frame = msgpack.packb([2, "event", [event]])
            sent = time.perf_counter()
            client.sock.sendall(frame)
            got = 0
            deadline = sent + 2.0
            while got < expected and time.perf_counter() < deadline:
                for push in client.pushes(max(deadline - time.perf_counter(), 0.001)):
                    if push.get("type") == "result" and push.get("tick") == tick:
                        ms = (time.perf_counter() - sent) * 1000
                        totals.setdefault(push["analyzer"], []).append(ms)
                        own.setdefault(push["analyzer"], []).append(push["elapsed_ms"])
                        got += 1
            lost += expected - got
            time.sleep(args.gap_ms / 1000)
    finally:
        client.sock.close()
        daemon.stop()
        server.close()
    figures: dict[str, Any] = {"events": args.events, "transport": "msgpack-rpc", "lost": lost}
    for name, values in sorted(totals.items()):
        pipeline = [t - a for t, a in zip(values, own[name], strict=True)]
        figures[name] = {
            "round_trip_ms": {"p50": percentile(values, 50), "p99": percentile(values, 99)},
            "analyzer_ms": {"p50": percentile(own[name], 50), "p99": percentile(own[name], 99)},
            "pipeline_ms": {"p50": percentile(pipeline, 50), "p99": percentile(pipeline, 99)},
        }
    figures["machine"] = machine()
    return figures

"""``redis-ai worker``: consumer-group runners in a process of their own, on this machine or another."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence

from .. import __version__, analyzers
from ..store.connection import connect
from .liveness import Heartbeat
from .runner import GroupRunner

log = logging.getLogger(__name__)


def run_workers(
    redis_url: str | None,
    specs: Sequence[str],
    *,
    batch: int = 64,
    claim_idle_ms: int = 30_000,
    max_deliveries: int = 3,
) -> None:
    """Run one runner per analyzer spec until SIGTERM/SIGINT, then finish the batches in hand."""
    ident = f"{socket.gethostname()}:{os.getpid()}"
    runners = []
    for spec in specs:
        analyzer = analyzers.load(spec, connect(redis_url))
        runner = GroupRunner(
            connect(redis_url, socket_timeout=10), analyzer, f"{ident}:{analyzer.name}",
            batch=batch, claim_idle_ms=claim_idle_ms, max_deliveries=max_deliveries,
        )
        runner.ensure_group()
        runners.append(runner)
    beat = Heartbeat(connect(redis_url), "worker", ident, {
        "pid": os.getpid(), "version": __version__, "group": ",".join(r.group for r in runners),
    })
    beat.start()
    threads = [threading.Thread(target=r.run, name=r.group) for r in runners]
    # Signal handlers only set a flag: one that took a lock could run while this thread holds it.
    asked: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: asked.append(signum))
    for t in threads:
        t.start()
    log.info("worker %s running %s", ident, ", ".join(r.group for r in runners))
    while any(t.is_alive() for t in threads):
        if asked:
            for runner in runners:
                runner.stop()
        time.sleep(0.2)
    beat.stop()

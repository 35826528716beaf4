"""``redis-ai worker``: consumer-group runners in a process of their own, on this machine or another."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Sequence

from .. import __version__, analyzers
from ..ingest.writer import shards
from ..store.connection import capabilities, connect
from .liveness import Heartbeat, new_ident
from .runner import GroupRunner

log = logging.getLogger(__name__)


def run_workers(
    redis_url: str | None,
    specs: Sequence[str],
    *,
    batch: int = 64,
    claim_idle_ms: int = 30_000,
    max_deliveries: int = 3,
) -> int:
    """Run one runner per analyzer spec until SIGTERM/SIGINT, then finish the batches in hand.

    Returns the exit status: 0 after a signal, 1 when a runner thread died, so that whatever
    supervises the worker (systemd, a container runtime) sees the failure and starts it again.
    """
    ident = new_ident()
    runners = []
    client = connect(redis_url)
    count = shards(client, capabilities(client).masters)  # the daemons' count (docs/cluster.md)
    for spec in specs:
        analyzer = analyzers.load(spec, connect(redis_url))
        for shard in range(count):
            runner = GroupRunner(
                connect(redis_url, socket_timeout=10), analyzer, f"{ident}:{analyzer.name}",
                batch=batch, claim_idle_ms=claim_idle_ms, max_deliveries=max_deliveries,
                shard=shard,
            )
            runner.ensure_group()
            runners.append(runner)
    groups = ",".join(dict.fromkeys(r.group for r in runners))
    beat = Heartbeat(client, "worker", ident, {
        "pid": os.getpid(), "version": __version__, "group": groups, "shards": count,
    })
    beat.start()
    threads = [threading.Thread(target=r.run, name=f"{r.group}-{r.shard}") for r in runners]
    # Signal handlers only set a flag: one that took a lock could run while this thread holds it.
    asked: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: asked.append(signum))
    for t in threads:
        t.start()
    log.info("worker %s running %s on %d shard(s)", ident, groups, count)
    while any(t.is_alive() for t in threads):
        if asked or not all(t.is_alive() for t in threads):
            for runner in runners:
                runner.stop()
        time.sleep(0.2)
    beat.stop()
    died = [r.group for r in runners if r.died is not None]
    if died or not asked:
        log.error("worker %s: the runner of %s died", ident, ", ".join(died) or "every group")
        return 1
    return 0

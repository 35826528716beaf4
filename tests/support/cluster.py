"""A real local Redis Cluster for tests: 3 masters and 3 replicas of Debian's redis-server 7.0 on
loopback ports (redis_ai.bench.cluster, shared with ``redis-ai bench ingest --cluster``), torn
down with the fixture.

Starting one takes a couple of seconds (docs/cluster.md), so the tests share one per module.
"""

from __future__ import annotations

from redis_ai.analyzers.base import Analyzer, Event, Item
from redis_ai.bench.cluster import LocalCluster

__all__ = ["LocalCluster", "Ticks"]


class Ticks(Analyzer):
    """Records each event it sees as ``<buffer>:<tick>`` in a set: what arrived, by content."""

    name = "ticks"
    kind = "hints"
    KEY = "redis-ai:test:{ticks}"

    def analyze(self, event: Event) -> list[Item] | None:
        assert self.redis is not None
        self.redis.sadd(self.KEY, f"{event['buffer']}:{event['tick']}")
        return None

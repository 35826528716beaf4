"""The daemon: wires Redis, the event writer, the analyzers' runners, the result router and
the two editor endpoints together, and keeps them running while Redis comes and goes.

Lifecycle: ``start()`` (Redis up -> writer -> router -> runners -> endpoints -> daemon.json)
-> ``serve_forever()`` until SIGTERM/SIGINT -> ``stop()`` in the reverse order.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis

from . import __version__, analytics, analyzers, keys
from .config import Discovery, data_dir, remove_discovery, runtime_dir
from .endpoints.epc import EPCServer
from .endpoints.rpc import RPCServer
from .endpoints.session import PROTOCOL, Session
from .errors import DaemonNotFound, DaemonRunning
from .ingest.writer import EventWriter, shards
from .results.router import ResultRouter
from .schema import MAX_TEXT
from .status import collect
from .store.connection import Capabilities, capabilities, connect, redact_url
from .store.embedded import EmbeddedRedis
from .workers.liveness import Heartbeat, new_ident
from .workers.runner import GroupRunner

log = logging.getLogger(__name__)


class Daemon:
    """One redis-ai daemon process. See the module docstring for its lifecycle."""

    def __init__(
        self,
        redis_url: str | None = None,
        analyzer_names: Sequence[str] = analyzers.DEFAULT,
        *,
        run_workers: bool = True,
        persistent: bool = True,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 3,
        stream_max_mb: int = 128,
    ) -> None:
        self.redis_url = redis_url
        self.analyzer_names = list(analyzer_names)
        self.run_workers = run_workers
        self.persistent = persistent
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.stream_max_mb = stream_max_mb
        self.id = new_ident()  # <host>:<pid>:<random>: containers share hosts and pids
        self.token = secrets.token_hex(16)
        self.sessions: dict[str, Session] = {}
        self.embedded: EmbeddedRedis | None = None
        self.caps: Capabilities | None = None
        self.runners: list[GroupRunner] = []
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._redis_up = True
        self.started = time.time()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        run = runtime_dir()
        try:
            running = Discovery.read()
        except DaemonNotFound:
            pass  # the usual case; a stale daemon.json of a dead daemon is simply replaced
        else:
            raise DaemonRunning(f"a daemon already runs in {run} (pid {running.pid}); "
                                "stop it first, or set REDIS_AI_RUNTIME_DIR for another one")
        if self.redis_url is None:
            self.embedded = EmbeddedRedis(run, data_dir(), persistent=self.persistent)
            self.embedded.start()
            self.redis_url = self.embedded.url
        self.client = self._connect()
        self.caps = capabilities(self.client)
        self.client.hset(keys.META, mapping={"schema": 1, "version": __version__})
        self.shards = shards(self.client, self.caps.masters)  # 1 on plain Redis (docs/cluster.md)

        self.writer = EventWriter(self._connect, max_bytes=self.stream_max_mb << 20,
                                  on_state=self._on_redis, shards=self.shards)
        self.writer.start()
        self.router = ResultRouter(self._connect, self.sessions)  # type: ignore[arg-type]
        self.router.start()
        if self.run_workers:
            self._start_runners()
        self.heartbeat = Heartbeat(self.client, "daemon", self.id, {
            "pid": os.getpid(), "version": __version__, "redis": redact_url(self.redis_url),
            "analyzers": ",".join(self.analyzer_names) if self.run_workers else "",
        })
        self.heartbeat.start()

        self.rpc = RPCServer(run / "daemon.sock", self)
        self.epc = EPCServer(self)
        for name, server in (("rpc", self.rpc), ("epc", self.epc)):
            self._spawn(name, server.serve_forever)
        self._spawn("health", self._watch_redis)
        Discovery(
            pid=os.getpid(), version=__version__, protocol=PROTOCOL, rpc_socket=str(self.rpc.path),
            epc_port=self.epc.port, token=self.token, redis_url=self.redis_url,
            embedded=self.embedded is not None, started=self.started, namespace=keys.PREFIX,
        ).write()
        # Events are short-lived dicts made by the thousand under load; the default collector
        # thresholds rescan every long-lived object (modules, analyzers) that often. Freeze
        # what start-up built and collect young objects less eagerly.
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        log.info("redis-ai %s ready: redis %s at %s, namespace %s, epc port %d, rpc %s",
                 __version__, self.caps.version, redact_url(self.redis_url), keys.PREFIX,
                 self.epc.port, self.rpc.path)

    def _start_runners(self) -> None:
        for name in self.analyzer_names:
            analyzer = analyzers.load(name, self._connect())
            for shard in range(self.shards):  # one runner per shard of the event stream
                runner = GroupRunner(
                    self._connect(), analyzer, f"{self.id}:{analyzer.name}",
                    claim_idle_ms=self.claim_idle_ms, max_deliveries=self.max_deliveries,
                    shard=shard,
                )
                runner.ensure_group()
                self.runners.append(runner)
                self._spawn(f"runner-{analyzer.name}-{shard}", runner.run)

    def serve_forever(self) -> None:
        """Block until SIGTERM or SIGINT, then stop."""
        # The handler only sets a flag: a handler that set a threading.Event could run while
        # this thread holds that Event's lock inside wait(), and deadlock the daemon for good.
        asked: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: asked.append(signum))
        while not asked and not self._stopped.is_set():
            time.sleep(0.2)
        self.stop()

    def stop(self) -> None:
        """Stop accepting, finish in-flight work, flush buffered events, stop Redis if ours."""
        self._stopped.set()
        for server in (self.rpc, self.epc):
            server.shutdown()
            server.server_close()
        for session in list(self.sessions.values()):
            session.close()
        for runner in self.runners:
            runner.stop()
        for thread in self._threads:
            thread.join(3)
        self.writer.stop()
        self.router.stop()
        self.heartbeat.stop()
        remove_discovery(os.getpid())
        if self.embedded is not None:
            self.embedded.stop()
        self.rpc.path.unlink(missing_ok=True)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _connect(self) -> redis.Redis:
        return connect(self.redis_url, socket_timeout=10, health_check_interval=5)

    # -- Redis health ----------------------------------------------------------------------
    def _watch_redis(self) -> None:
        """Ping every second; restart the embedded Redis if it died; tell editors on changes."""
        backoff = 0.1
        while not self._stopped.wait(backoff if not self._redis_up else 1.0):
            try:
                self.client.ping()
                self._on_redis(True)
                backoff = 0.1
            except redis.RedisError:
                self._on_redis(False)
                if self.embedded is not None and not self.embedded.alive():
                    log.warning("the embedded redis died; restarting it")
                    try:
                        self.embedded.start()
                    except (RuntimeError, OSError) as exc:
                        log.error("could not restart the embedded redis: %s", exc)
                backoff = min(backoff * 2, 1.0)

    def _on_redis(self, up: bool) -> None:
        if up == self._redis_up:
            return
        self._redis_up = up
        if up:
            self.router.resubscribe()
        push = self.status_push()
        for session in list(self.sessions.values()):
            session.push(push)

    # -- what sessions ask of the daemon ---------------------------------------------------
    def attach(self, session: Session) -> None:
        assert session.client is not None
        old = self.sessions.get(session.client)
        self.sessions[session.client] = session
        self.router.subscribe(session.client)  # before hello is answered: no result is missed
        if old is not None and old is not session:
            old.client = None  # a reconnect took the id over; the old connection is stale
            old.close()

    def detach(self, session: Session) -> None:
        if session.client and self.sessions.get(session.client) is session:
            del self.sessions[session.client]
            self.router.forget(session.client)

    def hello_info(self, client: str) -> dict[str, Any]:
        caps = self.caps.as_dict() if self.caps else {}
        return {
            "client": client, "daemon_version": __version__, "protocol": PROTOCOL,
            "redis": {**caps, "embedded": self.embedded is not None},
            "analyzers": list(dict.fromkeys(r.analyzer.name for r in self.runners)),
            "limits": {"max_text": MAX_TEXT},
        }

    def status_push(self) -> dict[str, Any]:
        up = self._redis_up
        denied = self.router.denied
        return {
            "type": "status", "redis": "up" if up else "down",
            "buffered": self.writer.buffered, "dropped": self.writer.dropped,
            "message": ("redis is unavailable; events are buffered" if not up
                        else f"not ready: redis refuses the result channels ({denied})" if denied
                        else "ready"),
        }

    def status(self, connection: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = (
            collect(self.client) if self._redis_up else {"redis": {"up": False}})
        data["daemon"] = {
            "id": self.id, "version": __version__, "redis_url": redact_url(self.redis_url or ""),
            "namespace": keys.PREFIX, "results_refused": self.router.denied,
            "embedded": self.embedded is not None, "clients": len(self.sessions),
            "buffered": self.writer.buffered, "dropped": self.writer.dropped,
            "written": self.writer.written, "stale_results": self.router.stale,
            "delivered_results": self.router.delivered,
            "orphaned_results": self.router.orphaned, "uptime_s": round(time.time() - self.started, 1),
        }
        if connection is not None:
            data["connection"] = connection
        return data

    def record_feedback(self, analyzer: str, action: str) -> None:
        try:
            analytics.record_feedback(self.client, analyzer, action, time.time())
        except redis.RedisError as exc:
            log.warning("feedback not recorded: %s", exc)


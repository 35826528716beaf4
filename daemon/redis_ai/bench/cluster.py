"""A local Redis Cluster of Debian's redis-server 7.0 on loopback ports: ``masters`` masters with
one replica each, made with ``redis-cli --cluster create`` (a couple of seconds).

``redis-ai bench ingest --cluster`` measures on one, and tests/test_cluster.py shares one per
module. Lifecycle: ``LocalCluster(folder)`` -> ``start()`` (every node, then create, then wait
until each master has its replica) -> ``url`` -> ``stop()``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.cluster import RedisCluster

DEBIAN_REDIS = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"


def _free_port_base(count: int) -> int:
    """A port P such that P..P+count-1 and their cluster bus ports (+10000) look free."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count + 10000 > 65535:
            continue
        ports = [*range(base, base + count), *range(base + 10000, base + 10000 + count)]
        if all(_free(p) for p in ports):
            return base
    raise RuntimeError("no run of free loopback ports for a cluster")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalCluster:
    """``masters`` masters with one replica each, in ``folder``; ``url`` names the first node."""

    def __init__(self, folder: Path, masters: int = 3) -> None:
        self.folder = folder
        self.count = masters * 2
        self.masters = masters
        self.base = _free_port_base(self.count)
        self.ports = list(range(self.base, self.base + self.count))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The first node's URL: redis-ai finds the rest from it."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    def start_node(self, port: int) -> None:
        """Start (or restart, keeping its nodes file) the server on ``port``."""
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        argv = [DEBIAN_REDIS, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "1000",
                "--save", "", "--appendonly", "no", "--dir", str(folder),
                "--logfile", str(folder / "redis.log")]
        self.procs[port] = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.01)
        raise RuntimeError(f"redis on port {port} did not start")

    def start(self) -> None:
        """Start every node, make the cluster, and wait until each master has its replica."""
        if not shutil.which(DEBIAN_REDIS) or not shutil.which(REDIS_CLI):
            raise RuntimeError("Debian's redis-server and redis-cli are needed for a cluster")
        for port in self.ports:
            self.start_node(port)
        subprocess.run([REDIS_CLI, "--cluster", "create",
                        *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", "1", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_ok(replicas=True)

    def wait_ok(self, timeout: float = 20.0, replicas: bool = False) -> None:
        """Until every live node says cluster_state:ok (and, with ``replicas``, every master
        has its replica attached)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (all(self._ok(p) for p, proc in self.procs.items() if proc.poll() is None)
                    and (not replicas or self._replicated())):
                return
            time.sleep(0.05)
        raise RuntimeError("the cluster did not become ok")

    def _ok(self, port: int) -> bool:
        try:
            info = redis.Redis(port=port, socket_timeout=1).cluster("info")
        except redis.RedisError:
            return False
        return info.get("cluster_state") == "ok"

    def _replicated(self) -> bool:
        try:
            slots = redis.Redis(port=self.ports[0], socket_timeout=1).execute_command("CLUSTER SLOTS")
        except redis.RedisError:
            return False
        return len(slots) == self.masters and all(len(s) >= 4 for s in slots)

    def client(self) -> RedisCluster:
        """A cluster client (RESP2), as ``connect`` would make."""
        return RedisCluster(host="127.0.0.1", port=self.ports[0], protocol=2)

    def flush(self) -> None:
        """Empty every master (replicas follow)."""
        for port in self.master_ports():
            redis.Redis(port=port).flushall()
        for port in self.master_ports():
            redis.Redis(port=port).execute_command("WAIT", 1, 1000)

    def master_ports(self) -> list[int]:
        """The ports of the live masters, as the first live node sees them."""
        for port, proc in self.procs.items():
            if proc.poll() is not None:
                continue
            try:
                nodes = redis.Redis(port=port, socket_timeout=1).execute_command("CLUSTER NODES")
            except redis.RedisError:
                continue
            found = [int(addr.rsplit(":", 1)[1]) for addr, node in nodes.items()
                     if "master" in node["flags"] and "fail" not in node["flags"] and node["slots"]]
            return sorted(found)
        return []

    def master_of(self, key: str) -> int:
        """The port of the master that serves ``key``'s slot."""
        node = redis.Redis(port=self.master_ports()[0])
        slot = node.cluster("keyslot", key)
        for start, end, master, *_ in node.execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise RuntimeError(f"no master serves {key}")

    def kill(self, port: int) -> None:
        """SIGKILL the server on ``port`` (a master dies; its replica is promoted)."""
        proc = self.procs[port]
        proc.kill()
        proc.wait(5)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 5 s)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

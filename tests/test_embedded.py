"""The embedded Redis: one server per data folder, none outliving its daemon, data kept.

Real ``redis-ai daemon`` processes with no --redis-url, each in its own XDG_RUNTIME_DIR and
XDG_DATA_HOME, killed with SIGKILL; servers are found the way an operator would, by the
working folder of every redis-server in /proc.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from redis_ai.store.embedded import EmbeddedRedis
from tests.conftest import ROOT, VENV_BIN
from tests.test_runner import wait_for

pytestmark = pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs Linux /proc")


def servers_in(folder: Path) -> list[int]:
    """Live redis-server processes whose working folder (their --dir) is ``folder``."""
    target = os.path.realpath(folder)
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc.name.isdigit() and (proc / "comm").read_text().strip() == "redis-server"
                    and os.readlink(proc / "cwd") == target and _state(int(proc.name)) != "Z"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "gone"


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def running(pid: int) -> bool:
    return _state(pid) not in ("gone", "Z")


class EmbeddedDaemon:
    """``redis-ai daemon`` on its embedded Redis, with its own runtime and data folders."""

    def __init__(self, base: Path, data_home: Path | None = None) -> None:
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("REDIS_AI_RUNTIME_DIR", "REDIS_AI_DATA_DIR", "REDIS_AI_REDIS_URL")}
        self.env.update({
            "XDG_RUNTIME_DIR": str(base / "run"), "XDG_DATA_HOME": str(data_home or base / "data"),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        })
        (base / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runtime = base / "run" / "redis-ai"
        self.data = Path(self.env["XDG_DATA_HOME"]) / "redis-ai"
        self.log = base / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "redis_ai", "daemon", "--no-workers"],
                env=self.env, stdout=log, stderr=log, cwd=ROOT)
        return self.proc

    def start(self) -> redis.Redis:
        """Start and wait until daemon.json names this process; a client to its Redis."""
        proc = self.spawn()

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"daemon exited: {self.log.read_text()[-2000:]}")
            try:
                return json.loads((self.runtime / "daemon.json").read_text())["pid"] == proc.pid
            except (OSError, ValueError, KeyError):
                return False

        wait_for(ready, timeout=20, what="the daemon")
        return redis.Redis(unix_socket_path=str(self.runtime / "redis.sock"))

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def base() -> Iterator[Path]:
    # Short: unix socket paths are limited to 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="rai-emb-"))
    folder.chmod(0o700)
    yield folder
    for data in folder.glob("**/data/redis-ai"):
        for pid in servers_in(data):
            os.kill(pid, signal.SIGKILL)  # only if a test failed: never leave a server behind
    shutil.rmtree(folder, ignore_errors=True)


def test_kill_9_twenty_times_never_two_servers_and_data_intact(base: Path) -> None:
    daemon = EmbeddedDaemon(base)
    restarts: list[float] = []
    most_servers = 0
    old_server = None
    try:
        for i in range(20):
            began = time.perf_counter()
            client = daemon.start()
            restarts.append(time.perf_counter() - began)
            servers = servers_in(daemon.data)
            most_servers = max(most_servers, len(servers))
            assert len(servers) == 1, f"restart {i}: servers {servers} on one data folder"
            assert daemon.proc is not None and _ppid(servers[0]) == daemon.proc.pid
            assert old_server is None or not running(old_server), f"restart {i}: the orphan lives"
            # Everything written before every earlier kill -9 is still there.
            assert [int(v) for v in client.lrange("log", 0, -1)] == list(range(i))
            assert client.mget([f"k{j}" for j in range(i)]) == [f"v{j}".encode() for j in range(i)]
            client.rpush("log", i)
            client.set(f"k{i}", f"v{i}")
            client.close()
            old_server = servers[0]
            daemon.kill()  # SIGKILL, then restart at once: the old server may still be exiting
        client = daemon.start()
        intact = client.llen("log")
        assert intact == 20 and len(servers_in(daemon.data)) == 1
        client.close()
    finally:
        daemon.stop()
    assert servers_in(daemon.data) == []
    # Every server shut down cleanly, each kill -9 included, and never found its file cut short.
    redis_log = (daemon.runtime / "redis.log").read_text()
    assert redis_log.count("ready to exit") == 21 and "truncated" not in redis_log
    reaped = daemon.log.read_text().count("left running on")
    print(f"\nkill -9 loop: {len(restarts)} restarts, at most {most_servers} server(s) at once, "
          f"{intact}/20 keys intact, {reaped} old server(s) still exiting when the next daemon "
          f"started, restart (start to ready) median {statistics.median(restarts):.2f} s, "
          f"max {max(restarts):.2f} s")


def test_the_server_dies_with_its_daemon_and_its_restarted_one_too(base: Path) -> None:
    daemon = EmbeddedDaemon(base)
    try:
        client = daemon.start()
        client.set("kept", "yes")
        first = int(client.info("server")["process_id"])
        # The health watch restarts a server that died, from its own thread.
        os.kill(first, signal.SIGKILL)
        [second] = wait_for(lambda: [p for p in servers_in(daemon.data) if p != first],
                            timeout=15, what="the restarted server")
        daemon.kill()
        wait_for(lambda: not running(second), timeout=10, what="the server to die with its daemon")
        assert not (daemon.runtime / "redis.sock").exists()  # a clean shutdown removes it
        assert "ready to exit" in (daemon.runtime / "redis.log").read_text()
        client = daemon.start()
        assert client.get("kept") == b"yes"
        client.close()
    finally:
        daemon.stop()


def test_a_server_outlives_the_short_lived_thread_that_started_it(tmp_path: Path) -> None:
    """The death signal is tied to the forking thread: start() from a thread that then ends."""
    server = EmbeddedRedis(tmp_path, tmp_path, persistent=False)
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    assert server.proc is not None
    wait_for(lambda: not Path(f"/proc/self/task/{starter.native_id}").exists(), timeout=5,
             what="the starter thread to be gone")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            server.proc.wait(1)
        assert server.alive()
    finally:
        server.stop()


def test_an_orphan_left_by_an_older_daemon_is_shut_down_cleanly(base: Path) -> None:
    daemon = EmbeddedDaemon(base)
    daemon.runtime.mkdir(mode=0o700, parents=True)
    daemon.data.mkdir(mode=0o700, parents=True)
    # What an older daemon left after kill -9: its server, no lock, no death signal.
    orphan = subprocess.Popen(EmbeddedRedis(daemon.runtime, daemon.data).argv(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        old = redis.Redis(unix_socket_path=str(daemon.runtime / "redis.sock"))
        wait_for(lambda: _pings(old), timeout=10, what="the orphan")
        old.set("from-the-orphan", "kept")
        old.close()
        client = daemon.start()
        assert orphan.wait(10) == 0  # SIGTERM: a clean shutdown, the append-only file flushed
        assert servers_in(daemon.data) == [int(client.info("server")["process_id"])]
        assert client.get("from-the-orphan") == b"kept"
        client.close()
    finally:
        daemon.stop()
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_a_second_daemon_on_the_same_data_folder_is_refused(base: Path) -> None:
    first = EmbeddedDaemon(base / "a")
    second = EmbeddedDaemon(base / "b", data_home=base / "a" / "data")
    try:
        client = first.start()
        client.set("first", "1")
        assert second.spawn().wait(20) == 1
        message = second.log.read_text()
        assert f"the data folder {first.data} is in use" in message
        assert f"pid {first.proc.pid}" in message  # type: ignore[union-attr]
        assert servers_in(first.data) == [int(client.info("server")["process_id"])]
        assert not (second.runtime / "redis.sock").exists()
        assert client.get("first") == b"1"  # the first daemon's server is untouched
        client.close()
    finally:
        second.stop()
        first.stop()


def test_a_socket_a_live_server_listens_on_is_not_taken_over(base: Path) -> None:
    daemon = EmbeddedDaemon(base)
    daemon.runtime.mkdir(mode=0o700, parents=True)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    sock = daemon.runtime / "redis.sock"
    foreign = subprocess.Popen(
        [EmbeddedRedis(base, base).binary, "--port", "0", "--unixsocket", str(sock),
         "--save", "", "--appendonly", "no", "--dir", str(elsewhere)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(unix_socket_path=str(sock))
        wait_for(lambda: _pings(client), timeout=10, what="the foreign server")
        assert daemon.spawn().wait(20) == 1
        assert f"a live process listens on {sock}" in daemon.log.read_text()
        assert client.ping() and servers_in(daemon.data) == []
        client.close()
    finally:
        daemon.stop()
        foreign.terminate()
        foreign.wait(5)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False

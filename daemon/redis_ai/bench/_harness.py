"""What the benchmarks share: a private Redis, a daemon subprocess, percentiles."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from ..store.embedded import EmbeddedRedis


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (a real sample, not an interpolation)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1
    return round(ordered[rank], 3)


class PrivateRedis:
    """An ephemeral embedded Redis in a temp folder, or an existing one given by URL."""

    def __init__(self, url: str | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rai-bench-"))
        self.server: EmbeddedRedis | None = None
        if url is None:
            self.server = EmbeddedRedis(self.folder, self.folder, persistent=False)
            self.server.start()
            url = self.server.url
        self.url = url

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, protocol=2)

    @property
    def socket(self) -> str | None:
        return str(self.server.socket) if self.server else None

    def close(self) -> None:
        if self.server:
            self.server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class DaemonProcess:
    """``redis-ai daemon`` in a subprocess with its own runtime folder."""

    def __init__(self, redis_url: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.runtime = Path(tempfile.mkdtemp(prefix="rai-"))
        self.env = {**os.environ, "REDIS_AI_RUNTIME_DIR": str(self.runtime), **(env or {})}
        argv = [sys.executable, "-m", "redis_ai", "daemon", "--redis-url", redis_url, *args]
        self.log = open(self.runtime / "daemon.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.discovery = json.loads((self.runtime / "daemon.json").read_text())
                if self.discovery["pid"] == self.proc.pid:
                    return
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError((self.runtime / "daemon.log").read_text()[-2000:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.runtime, ignore_errors=True)

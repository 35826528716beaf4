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


def render(figures: dict[str, Any]) -> str:
    """A benchmark's figures as aligned plain-text tables, for a reader (``--json`` is for tools).

    The top-level figures make the first table. Each group of figures (a dict) makes a table
    titled by its name: one row per figure, or, when its members are groups of figures
    themselves, one row per member and a column per figure in them. Deeper groups are split
    into tables titled by their path.

    >>> print(render({"lost": 0, "echo": {"round_trip_ms": {"p50": 1.2, "p99": 2.3}}}))
    lost  0
    <BLANKLINE>
    echo           p50  p99
    round_trip_ms  1.2  2.3
    """
    plain = [[str(k), _cell(v)] for k, v in figures.items() if not isinstance(v, dict)]
    tables = [_aligned(plain)] if plain else []
    for name, group in figures.items():
        if isinstance(group, dict):
            tables += _group(str(name), group)
    return "\n\n".join(tables)


def _group(title: str, group: dict[str, Any]) -> list[str]:
    plain = [[str(k), _cell(v)] for k, v in group.items() if not isinstance(v, dict)]
    nested = {str(k): v for k, v in group.items() if isinstance(v, dict)}
    if not nested:
        return [_aligned([[title, ""], *plain])]
    if all(not isinstance(x, dict) for v in nested.values() for x in v.values()):
        columns = list(dict.fromkeys(c for v in nested.values() for c in v))
        rows = [[k, *(_cell(v[c]) if c in v else "-" for c in columns)] for k, v in nested.items()]
        # The group's own figures go under its table, in the same block.
        grid = _aligned([[title, *columns], *rows], numbers_right=True)
        return [grid + ("\n" + _aligned(plain) if plain else "")]
    out = [_aligned([[title, ""], *plain])] if plain else []
    for name, inner in nested.items():
        out += _group(f"{title} / {name}", inner)
    return out


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return "-" if value is None else str(value)


def _aligned(rows: list[list[str]], *, numbers_right: bool = False) -> str:
    """Columns padded to their widest cell; numbers right-aligned in a grid of them."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.rjust(w) if numbers_right and i and _numeric(c) else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()

"""ruff as a library of diagnostics: one ``ruff check`` process per text, fed on stdin.

``ruff check --stdin-filename FILE -`` reads the configuration that ``ruff check FILE`` would
read (the nearest ``.ruff.toml``, ``ruff.toml`` or ``pyproject.toml`` with a ``[tool.ruff]``
table, from the file's folder upward, then the user's own ``~/.config/ruff``), so rules, line
length, target version, per-file ignores and ``# noqa`` are the user's. Only where ruff would
find no configuration at all does the daemon pass its own default set (``DEFAULT_SELECT``).

Why a process per check and not a long-lived ``ruff server``: measured in docs/benchmarks.md
(``redis-ai bench diagnostics``), a process costs 6-11 ms p50 on 1,400-3,000-line files, the
server's pull-diagnostics round trip 5-15 ms (slower once it serialises many diagnostics); and
only the process is ``ruff check`` itself: the server resolves settings per workspace folder
(which would have to be invented for every file) and does not say which fixes are safe. The
processes are started before their text comes (``_ruff_processes``), which takes their start
and the reading of the settings, about half of their time, off the check.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import tomllib
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
from ruff.__main__ import find_ruff_bin

from . import _ruff_processes

DEFAULT_SELECT = ("F", "E9", "PLE")
"""Rules used when no configuration is found: pyflakes (each finding is a real unused or
undefined name, a broken format string...), syntax and I/O errors, and pylint's errors (each one
fails at run time). Style and opinion are left to projects that ask for them."""
DEFAULT_PER_FILE_IGNORES = '{"__init__.py" = ["F401"]}'
"""A package's ``__init__`` imports are its interface, not waste."""

CONFIG_NAMES = (".ruff.toml", "ruff.toml", "pyproject.toml")
"""In ruff's order of preference within one folder."""

_RUNS = 16
_runs: OrderedDict[tuple[str, str, str], list[dict[str, Any]]] = OrderedDict()
_tomls: dict[tuple[str, float], bool] = {}
_ahead: dict[tuple[str, str, str], Future[list[dict[str, Any]]]] = {}
_lock = threading.Lock()
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ruff-ahead")
_BIN = find_ruff_bin()


def clear_cache() -> None:
    """Forget remembered runs and end the processes started ahead (benchmarks measure the
    cold case with it)."""
    with _lock:
        _runs.clear()
        _ahead.clear()  # runs under way finish and are remembered; none is waited for
    _ruff_processes.close()


def config_for(path: str) -> str | None:
    """The configuration file ``ruff check path`` reads, or None when it would use defaults."""
    if path:
        folder = Path(path).parent
        for directory in (folder, *folder.parents):
            found = _config_in(directory)
            if found is not None:
                return found
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return _config_in(Path(home) / "ruff")


def _config_in(directory: Path) -> str | None:
    for name in CONFIG_NAMES:
        candidate = directory / name
        try:
            mtime = candidate.stat().st_mtime
        except OSError:
            continue
        if name != "pyproject.toml" or _has_ruff_table(str(candidate), mtime):
            return str(candidate)
    return None


def _has_ruff_table(path: str, mtime: float) -> bool:
    """Whether a pyproject.toml configures ruff (one without [tool.ruff] is passed over)."""
    key = (path, mtime)
    if key not in _tomls:
        try:
            with open(path, "rb") as f:
                _tomls[key] = "ruff" in tomllib.load(f).get("tool", {})
        except (OSError, tomllib.TOMLDecodeError):
            _tomls[key] = False
    return _tomls[key]


def _config_key(config: str | None) -> str:
    """A key that changes when the configuration file does (its path and mtime)."""
    if config is None:
        return ""
    try:
        return f"{config}:{os.stat(config).st_mtime_ns}"
    except OSError:
        return config


def check(text: str, filename: str) -> list[dict[str, Any]]:
    """ruff's diagnostics (its JSON output) for ``text`` read as the file ``filename``.

    ``filename`` "" (a buffer without a file) is checked with the default set alone. Runs are
    remembered by text, file and configuration, so events that repeat a text cost nothing; a
    text given to ``check_ahead`` is waited for, not run again.
    """
    config = config_for(filename) if filename else None
    key = (text, filename, _config_key(config))
    with _lock:
        known = _runs.get(key)
        if known is not None:
            _runs.move_to_end(key)
            return known
        ahead = _ahead.get(key)
    # Not started yet (behind another in the background thread): run here instead of queueing.
    if ahead is not None and not ahead.cancel():
        try:
            return ahead.result()
        except Exception:  # ruff failed there: run again here, where the failure is raised
            pass
    found = run(text, filename, defaults=config is None, stamp=key[2])
    _remember(key, found)
    return found


def check_ahead(text: str, filename: str) -> None:
    """Start ``check(text, filename)`` in a background thread, for a text that will likely be
    asked for soon (a guess at the fixed text: ``code_analysis``); nothing is returned."""
    config = config_for(filename) if filename else None
    key = (text, filename, _config_key(config))
    with _lock:
        if key in _runs or key in _ahead:
            return
        future = _background.submit(run, text, filename, config is None, (), key[2])
        _ahead[key] = future
    future.add_done_callback(functools.partial(_landed, key))


def _landed(key: tuple[str, str, str], future: Future[list[dict[str, Any]]]) -> None:
    with _lock:
        _ahead.pop(key, None)
    if not future.cancelled() and future.exception() is None:
        _remember(key, future.result())


def _remember(key: tuple[str, str, str], found: list[dict[str, Any]]) -> None:
    with _lock:
        _runs[key] = found
        _runs.move_to_end(key)
        while len(_runs) > _RUNS:
            _runs.popitem(last=False)


def default_options() -> list[str]:
    """The options that give ruff the daemon's default set (for files without configuration)."""
    return ["--config", f"lint.select = {json.dumps(list(DEFAULT_SELECT))}",
            "--config", f"lint.per-file-ignores = {DEFAULT_PER_FILE_IGNORES}"]


def binary() -> str:
    """The ruff executable of the installed ruff wheel."""
    return _BIN


def command(filename: str, defaults: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """The ``ruff check`` command line for a text read as ``filename`` (what the benchmark runs
    by hand too); ``extra`` options go before the file (performance hints add their rules)."""
    # --no-fix: a project with `fix = true` would have the fixed text printed instead.
    argv = [_BIN, "check", "--no-cache", "--no-fix", "--quiet", "--force-exclude",
            "--output-format", "json", "--exit-zero"]
    if not filename:
        argv.append("--isolated")
    if defaults or not filename:
        argv += default_options()
    return [*argv, *extra, "--stdin-filename", filename or "buffer.py", "-"]


def run(text: str, filename: str, defaults: bool, extra: tuple[str, ...] = (),
        stamp: str | None = None) -> list[dict[str, Any]]:
    """One ``ruff check`` process on ``text``; raises RuntimeError when ruff fails.

    The process was started before (``_ruff_processes``); ``stamp`` is ``_config_key`` of the
    configuration it must have read (found here when not given).
    """
    cwd = str(Path(filename).parent) if filename and Path(filename).parent.is_dir() else "/"
    if stamp is None:
        stamp = _config_key(config_for(filename)) if filename else ""
    status, out, err = _ruff_processes.run(command(filename, defaults, extra), cwd, stamp,
                                           text.encode("utf-8", "surrogatepass"), timeout=30)
    if status != 0:
        raise RuntimeError(f"ruff failed ({status}): {err.decode('utf-8', 'replace')[-500:]}")
    found: list[dict[str, Any]] = msgspec.json.decode(out or b"[]")
    return found

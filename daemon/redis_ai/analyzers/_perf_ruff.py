"""ruff's performance rules as hints, on the user's own configuration.

The hint rules (``HINT_RULES``) are added to the configuration ``ruff check FILE`` reads
(``ruff_engine.config_for``), so per-file ignores, ``# noqa``, the target version and
``mccabe.max-complexity`` are the user's. Two kinds of rule are left out for a file:

- those the user's configuration already enables: code_analysis shows them as diagnostics, and
  a hint would say the same thing twice;
- those it ignores (``ignore`` / ``extend-ignore``, by prefix): ruff lets a more specific
  selection (``PERF401``) win over an ignored prefix (``PERF``), so they are dropped here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import tomllib
from collections import OrderedDict
from pathlib import Path
from typing import Any

from . import ruff_engine

HINT_RULES = ("PERF101", "PERF102", "PERF401", "PERF402", "PERF403", "RUF015", "FURB192",
              "FURB129", "PLR1733", "PLR1736", "C901")
"""ruff's stable rules about code that does more work than it needs (copies, lookups, lists
built to be scanned once), and ``C901``, the complexity of the function at the cursor. Left out:
``PERF203`` (try in a loop costs nothing since 3.11), ``C419`` (``any``/``all``/``sum`` of a
generator are 10-30 % slower than of a list comprehension on CPython 3.11 unless an early item
decides), preview rules, and style."""

_RUNS = 16
_runs: OrderedDict[tuple[str, str, str], list[dict[str, Any]]] = OrderedDict()
_enabled: dict[str, frozenset[str]] = {}
_ignored: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()
_CODE = re.compile(r"\(([A-Z]+[0-9]+)\),?$")


def clear_cache() -> None:
    """Forget remembered runs and configurations."""
    with _lock:
        _runs.clear()
        _enabled.clear()
        _ignored.clear()


def rules_for(filename: str) -> tuple[tuple[str, ...], str | None]:
    """The hint rules for ``filename`` and the configuration file they are read with."""
    config = ruff_engine.config_for(filename) if filename else None
    if config is None:
        return HINT_RULES, None
    taken = enabled(config, filename)
    ignores = ignored(config)
    return tuple(rule for rule in HINT_RULES
                 if rule not in taken and not rule.startswith(ignores)), config


def check(text: str, filename: str) -> list[dict[str, Any]]:
    """ruff's findings of the hint rules for ``text`` read as ``filename`` (JSON diagnostics)."""
    rules, config = rules_for(filename)
    if not rules:
        return []
    key = (text, filename, f"{_config_key(config)}|{','.join(rules)}")
    with _lock:
        known = _runs.get(key)
        if known is not None:
            _runs.move_to_end(key)
            return known
    # Without a configuration the command carries the daemon's default set as a --config
    # override, which --select (a later layer) replaces; with one, the rules extend the user's.
    extra = (("--select", ",".join(rules)) if config is None
             else ("--config", f"lint.extend-select = {json.dumps(list(rules))}"))
    found = [d for d in ruff_engine.run(text, filename, config is None, extra)
             if d["code"] in rules]
    with _lock:
        _runs[key] = found
        while len(_runs) > _RUNS:
            _runs.popitem(last=False)
    return found


def enabled(config: str, filename: str) -> frozenset[str]:
    """The rules the configuration ``config`` enables, as ``ruff check --show-settings`` says.

    It needs a file on disk: ``filename`` when it exists, else nothing is known (an unsaved
    buffer may then get a hint that repeats a diagnostic)."""
    key = _config_key(config)
    with _lock:
        known = _enabled.get(key)
    if known is not None:
        return known
    if not os.path.isfile(filename):
        return frozenset()
    done = subprocess.run([ruff_engine.binary(), "check", "--show-settings", filename],
                          capture_output=True, text=True, check=False, timeout=30,
                          cwd=os.path.dirname(filename))
    codes: set[str] = set()
    inside = False
    for line in done.stdout.splitlines():
        if line.startswith("linter.rules.enabled"):
            inside = True
        elif inside and line.startswith("]"):
            break
        elif inside and (found := _CODE.search(line.strip())):
            codes.add(found.group(1))
    result = frozenset(codes)
    with _lock:
        _enabled[key] = result
    return result


def ignored(config: str) -> tuple[str, ...]:
    """The rule prefixes ``config`` ignores (``ignore``, ``extend-ignore``, through ``extend``);
    ``ALL`` is every rule."""
    key = _config_key(config)
    with _lock:
        known = _ignored.get(key)
    if known is not None:
        return known
    prefixes: list[str] = []
    seen: set[str] = set()
    path: str | None = config
    while path and path not in seen and len(seen) < 8:
        seen.add(path)
        table = _ruff_table(path)
        lint = table.get("lint", {}) if isinstance(table.get("lint"), dict) else {}
        for where in (table, lint):
            for name in ("ignore", "extend-ignore"):
                value = where.get(name, [])
                if isinstance(value, list):
                    prefixes += [str(v) for v in value]
        extend = table.get("extend")
        path = str(Path(path).parent / os.path.expanduser(extend)) if isinstance(extend, str) \
            else None
    result = tuple("" if p == "ALL" else p for p in prefixes)
    with _lock:
        _ignored[key] = result
    return result


def _ruff_table(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    if os.path.basename(path) == "pyproject.toml":
        data = data.get("tool", {}).get("ruff", {})
    return data if isinstance(data, dict) else {}


_config_key = ruff_engine._config_key  # the same key as code_analysis' runs

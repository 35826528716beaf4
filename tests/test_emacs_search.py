"""Semantic code search from Emacs: tests/emacs/redis-ai-search-test.el in a real batch Emacs,
against a real daemon on a real Redis, the sample folder indexed by the real ``redis-ai index``
(when the ERT test asks for it, so that it first sees an empty index).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.test_emacs import EMACS, ROOT, daemon_actions, load_path, run_ert

# A small project: a few files whose functions say in plain words what they do, so a query in
# other words can only find them by meaning. Tests look lines up in the files, never hard-code
# them.
SAMPLES = {
    "net/retry.py": '''\
"""Network helpers: connections that survive a flaky server."""

import socket
import time


def connect_with_retry(host, port, attempts=5, delay=0.1):
    """Open a TCP connection to the server, retrying with exponential backoff.

    Each failed attempt waits twice as long as the previous one before the next retry.
    """
    for attempt in range(attempts):
        try:
            return socket.create_connection((host, port), timeout=2)
        except OSError:
            time.sleep(delay * 2 ** attempt)
    raise ConnectionError(f"no connection to {host}:{port} after {attempts} retries")


def close_quietly(connection):
    """Close a socket connection, ignoring the errors of a connection already gone."""
    try:
        connection.close()
    except OSError:
        pass
''',
    "config/settings.py": '''\
"""User preferences, kept on disk as JSON."""

import json
import os


def load_settings(path):
    """Read the settings file at path and return the options it holds as a dict.

    A missing settings file gives the default options.
    """
    if not os.path.exists(path):
        return {"theme": "dark", "font_size": 12}
    with open(path, encoding="utf-8") as options_file:
        return json.load(options_file)


def save_settings(path, options):
    """Store the options at path, as indented JSON."""
    with open(path, "w", encoding="utf-8") as options_file:
        json.dump(options, options_file, indent=2)
''',
    "text/words.py": '''\
"""Text statistics."""

from collections import Counter


def count_words(text):
    """Count how often each word occurs in the text, ignoring case."""
    return Counter(word.lower() for word in text.split())


def longest_word(text):
    """Return the longest word of the text."""
    return max(text.split(), key=len)
''',
    "shapes/area.py": '''\
"""Geometry of simple shapes."""

import math


def circle_area(radius):
    """Area of a circle of the given radius."""
    return math.pi * radius * radius


def rectangle_area(width, height):
    """Area of a rectangle of the given width and height."""
    return width * height
''',
}


def write_samples(folder: Path) -> Path:
    """Write the sample project under ``folder``; return its resolved path."""
    for name, text in SAMPLES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder.resolve()


def index(daemon: Any, folder: Path) -> None:
    """Index ``folder`` with the real ``redis-ai index``, into the daemon's Redis."""
    subprocess.run([sys.executable, "-m", "redis_ai", "index", "--redis-url", daemon.redis_url,
                    str(folder)], env=daemon.env, check=True, capture_output=True, timeout=60)


def test_ert_without_daemon(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REDIS_AI_RUNTIME_DIR": str(tmp_path)}
    run_ert(["redis-ai-search-test"], '"^redis-ai-search-unit-"', env)


def test_ert_search_with_daemon(daemon: Any, tmp_path: Path) -> None:
    samples = write_samples(tmp_path / "project")
    actions = {**daemon_actions(daemon), "index": lambda: index(daemon, samples)}
    env = {**daemon.env, "REDIS_AI_TEST_SAMPLES": str(samples)}
    run_ert(["redis-ai-search-test"], "(tag daemon)", env, actions)


def test_ert_search_prompt(daemon: Any, tmp_path: Path) -> None:
    samples = write_samples(tmp_path / "project")
    index(daemon, samples)
    env = {**daemon.env, "REDIS_AI_TEST_SAMPLES": str(samples)}
    assert EMACS is not None
    # Batch Emacs reads what the minibuffer asks from its standard input: one query a line.
    proc = subprocess.run(
        [EMACS, "-Q", "--batch", *load_path(), "--eval", "(setq backtrace-on-error-noninteractive nil)",
         "-l", "redis-ai-search-test", "--eval", "(ert-run-tests-batch-and-exit '(tag prompt))"],
        input=b"retry the connection with backoff\nread the settings file\n", env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    output = proc.stdout.decode(errors="replace")
    print(output)
    assert proc.returncode == 0 and " 0 unexpected" in output, output

"""Keeps the n-gram model in step with files changed outside the editor (git checkout, other
tools): watchdog reports changes, and a file is relearned once it has been quiet for DEBOUNCE_S.

Lifecycle: ``Watcher(redis, paths)`` -> ``start()`` -> relearning in a background thread ->
``stop()``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from ..schema import language_of
from . import ngram

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.5
"""Editors save in several writes (temp file, rename): wait until a file is quiet."""


class Watcher(FileSystemEventHandler):
    """Relearns (or forgets) source files under ``paths`` as they change on disk."""

    def __init__(self, redis: Redis, paths: list[str], debounce: float = DEBOUNCE_S) -> None:
        self.redis = redis
        self.roots = [Path(p).expanduser().resolve() for p in paths]
        self.debounce = debounce
        self.learned = 0
        self._pending: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer: Any = Observer()
        self._thread = threading.Thread(target=self._run, name="ngram-watcher", daemon=True)

    def start(self) -> None:
        """Begin watching every root recursively."""
        for root in self.roots:
            self._observer.schedule(self, str(root if root.is_dir() else root.parent), recursive=True)
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; changes not yet relearned are dropped (the next learn catches them)."""
        self._stop.set()
        self._observer.stop()
        self._observer.join(5)
        self._thread.join(5)

    def join(self) -> None:
        """Block until ``stop`` is called from another thread (or Ctrl-C)."""
        while not self._stop.wait(1.0):
            pass

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Queue the paths an event touched (both ends of a move)."""
        if event.is_directory:
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(raw) if raw else ""
            if path and self._wanted(path):
                with self._lock:
                    self._pending[path] = time.monotonic()

    def _wanted(self, path: str) -> bool:
        parts = Path(path).parts
        if any(p in ngram.SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
            return False
        return bool(language_of("", path)) and any(path.startswith(str(r)) for r in self.roots)

    def _run(self) -> None:
        while not self._stop.wait(min(0.2, self.debounce)):
            now = time.monotonic()
            with self._lock:
                due = [p for p, t in self._pending.items() if now - t >= self.debounce]
                for p in due:
                    del self._pending[p]
            for path in due:
                try:
                    self._relearn(path)
                except Exception:  # one unreadable file must not stop the watcher
                    log.warning("could not relearn %s", path, exc_info=True)

    def _relearn(self, path: str) -> None:
        language = language_of("", path)
        if not os.path.exists(path):
            ngram.forget(self.redis, language, path)
            return
        if os.path.getsize(path) > ngram.MAX_FILE_BYTES:
            return
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        if ngram.learn_text(self.redis, language, path, text):
            self.learned += 1

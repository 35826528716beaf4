"""Logging what clients get wrong: one line per fault, and only so many lines a minute.

A client that sends garbage, or hangs up in the middle of a reply, is answered (or dropped) by
the endpoint; the log only needs to say that it happened. A traceback per malformed frame, as
socketserver and ``log.exception`` write, let one fuzzing client fill the log with thousands of
identical tracebacks. Errors inside the daemon's own handlers go through here too: a line with
the exception and the innermost frame where it was raised is enough to find the bug, and a
client that can trigger one on purpose must not be able to flood the log with it.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

LINES_PER_WINDOW = 20
"""Fault lines written per WINDOW_S; the rest are counted and reported with the next line."""

WINDOW_S = 60.0


class FaultLog:
    """A rate-limited logger of client faults and handler errors; thread-safe.

        faults = FaultLog(logging.getLogger(__name__))
        faults.warning("bad EPC frame from %s: %s", peer, exc)
    """

    def __init__(self, logger: logging.Logger, lines: int = LINES_PER_WINDOW,
                 window_s: float = WINDOW_S) -> None:
        self.logger = logger
        self.lines = lines
        self.window_s = window_s
        self.suppressed = 0
        self._lock = threading.Lock()
        self._window_start = -window_s
        self._written = 0

    def warning(self, message: str, *args: object) -> None:
        """A client's fault: one line at WARNING, unless this window's lines are spent."""
        self._log(logging.WARNING, message, args)

    def error(self, message: str, exc: BaseException) -> None:
        """An exception in a handler: one line naming it and where it was raised, at ERROR."""
        where = ""
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            where = f" at {last.filename}:{last.lineno} in {last.name}"
        self._log(logging.ERROR, "%s: %s: %s%s", (message, type(exc).__name__, exc, where))

    def _log(self, level: int, message: str, args: tuple[object, ...]) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._window_start >= self.window_s:
                self._window_start, self._written = now, 0
            if self._written >= self.lines:
                self.suppressed += 1
                return
            self._written += 1
            suppressed, self.suppressed = self.suppressed, 0
        if suppressed:
            message += f" ({suppressed} similar lines suppressed before this one)"
        self.logger.log(level, message, *args)

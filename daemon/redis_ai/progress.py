"""Progress of the long commands (``redis-ai index``, ``redis-ai learn``) on standard error.

The work itself (search/corpus.py, models/ngram.py) reports through a ``Progress`` callback,
``progress(phase, done, total)``, and knows nothing of terminals. ``Bars`` is the callback the
commands pass: tqdm draws one bar per phase, on standard error and only when it is a terminal
(or when ``--progress`` asks), so pipes, scripts and ``--json`` output stay clean.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

Progress = Callable[[str, int, "int | None"], None]
"""``progress(phase, done, total)``: ``done`` of ``total`` steps of ``phase`` are done
(``total`` None when unknown). Phases are short phrases ending in their unit ("files")."""


def add_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--progress`` / ``--no-progress`` (default: only when stderr is a terminal)."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress on stderr (default: only when it is a terminal)")


class Bars:
    """A ``Progress`` that draws a tqdm bar per phase; a context manager that closes the last.

    >>> with Bars(args.progress) as bars:  # doctest: +SKIP
    ...     index_paths(index, paths, progress=bars)
    """

    def __init__(self, wanted: bool | None = None, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = wanted if wanted is not None else self.stream.isatty()
        self._bar: Any = None
        self._phase = ""

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if phase != self._phase or self._bar is None:
            from tqdm import tqdm  # only a command that draws pays for the import

            self.close()
            self._phase = phase
            self._bar = tqdm(desc=phase, total=total, unit=" " + phase.split()[-1],
                             file=self.stream, leave=False, dynamic_ncols=True)
        if total != self._bar.total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Take the current bar off the screen."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def quiet(phase: str, done: int, total: int | None) -> None:
    """The ``Progress`` of a caller that wants none."""

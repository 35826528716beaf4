"""What an analyzer is: a name, the kind of result it produces, and a pure function of an event.

Analyzers know nothing of Redis or editors: the consumer-group runner (workers/runner.py) reads
events, calls ``analyze`` and publishes what it returns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from redis import Redis

Event = dict[str, Any]
"""A validated event (schema.validate_event) plus ``client`` and ``received`` set by the daemon."""

Item = dict[str, Any]
"""One diagnostic, completion, hint or generated test; shapes in docs/protocol.md."""


class Analyzer(ABC):
    """Base class; subclasses set ``name`` and ``kind`` and implement ``analyze``.

    ``name`` is also the consumer group name, the analytics subject and the ``analyzer`` field
    of every result, so it is one identifier everywhere.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "diagnostics"  # one of schema.RESULT_KINDS
    languages: ClassVar[frozenset[str] | None] = None  # None: every language

    def __init__(self, redis: Redis | None = None) -> None:
        # Analyzers that learn or route (completion, LLM-backed ones) keep state in Redis;
        # pure ones ignore it.
        self.redis = redis

    def wants(self, event: Event) -> bool:
        """Whether this analyzer has anything to say about ``event``; cheap, called first."""
        names = event.get("analyzers")
        if names is not None and self.name not in names:
            return False
        return self.languages is None or event.get("language", "") in self.languages

    def batch_read(self) -> None:  # noqa: B027 - an optional hook; most analyzers cache nothing
        """Called by the runner each time it has read entries, before it analyses them.

        Every change made in Redis before those entries were written is visible now, so an
        analyzer that caches what it reads from Redis marks it due for a re-check here: an event
        is then never analysed with state older than itself (the lisp analyzers do this).
        """

    @abstractmethod
    def analyze(self, event: Event) -> list[Item] | None:
        """Return the items for ``event``; [] clears earlier ones; None publishes nothing."""

    def close(self) -> None:  # noqa: B027 - an optional hook; most analyzers hold nothing
        """Release whatever the analyzer holds (connections, models)."""

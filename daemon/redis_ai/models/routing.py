"""Routing: send a request for a capability to the best available model, falling back in order.

Models are ranked by ``registry.rank_score`` (success rate over latency, both measured live);
a model whose last calls failed several times in a row is tried after the others until its
cool-down passes. Every call's outcome is folded back into the model's hash, so the ranking
follows what the models actually do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import analytics
from . import registry
from .providers import Cancelled, ProviderError, Reply, Request, make

if TYPE_CHECKING:
    from redis import Redis

COOL_DOWN_S = 30.0
"""How long a model that failed COOL_DOWN_AFTER times in a row is ranked after healthy ones."""
COOL_DOWN_AFTER = 3

IMPLIED = {"completion": ("fim", "complete")}
"""Capabilities that offer another: a model that fills in the middle (``fim``) or continues
code (``complete``) answers completion requests."""


class NoModel(Exception):
    """No model could answer: none is configured for the capability, or every one failed."""

    def __init__(self, message: str, errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass
class Routed:
    """The reply and which model gave it, plus the models that failed before it."""

    model_id: str
    reply: Reply
    failed: list[tuple[str, str]] = field(default_factory=list)


def ranked(redis: Redis, capability: str, kind: str = "llm",
           cooling: bool = True) -> list[registry.Model]:
    """Enabled, available models of ``kind`` offering ``capability``, best first.

    Models cooling down after repeated failures come last, or not at all with cooling=False.
    """
    now = time.time()
    scored = []
    offering: dict[str, tuple[registry.Model, dict[str, str]]] = {}
    for cap in (capability, *IMPLIED.get(capability, ())):
        for model, data in registry.for_capability(redis, cap):
            offering.setdefault(model.id, (model, data))
    for model, data in offering.values():
        if not model.enabled or model.kind != kind:
            continue
        try:
            if not make(model).available():
                continue
        except ProviderError:
            continue
        is_cooling = (
            int(data.get("consecutive_failures", 0) or 0) >= COOL_DOWN_AFTER
            and now - float(data.get("last_error_at", 0) or 0) < COOL_DOWN_S
        )
        if is_cooling and not cooling:
            continue
        scored.append((is_cooling, -registry.rank_score(data, now), model.id, model))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored]


def route(redis: Redis, capability: str, request: Request) -> Routed:
    """Ask the best model for ``capability``; on failure or timeout ask the next one.

    Raises Cancelled when ``request.cancel`` fires (nothing is recorded against the model: a
    superseded request says nothing about it) and NoModel when every model failed.
    """
    models = ranked(redis, capability)
    if not models:
        raise NoModel(f"no available model offers {capability!r}")
    failed: list[tuple[str, str]] = []
    for model in models:
        if request.cancel.cancelled:
            raise Cancelled("superseded")
        start = time.monotonic()
        try:
            reply = make(model).complete(request)
        except Cancelled:
            raise
        except ProviderError as exc:
            elapsed = (time.monotonic() - start) * 1000
            _record(redis, model.id, False, elapsed, error=str(exc))
            failed.append((model.id, str(exc)))
            continue
        _record(redis, model.id, True, reply.elapsed_ms, tokens_in=reply.tokens_in,
                tokens_out=reply.tokens_out)
        return Routed(model.id, reply, failed)
    raise NoModel(f"every model for {capability!r} failed", failed)


def _record(redis: Redis, model_id: str, ok: bool, elapsed_ms: float, **extra: Any) -> None:
    """Update the model's hash and its analytics series in one round trip."""
    pipe = redis.pipeline(transaction=False)
    registry.record(pipe, model_id, ok, elapsed_ms, **extra)
    analytics.record_model_call(pipe, model_id, elapsed_ms, ok, time.time())
    pipe.execute()

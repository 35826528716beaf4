"""The model registry: one Redis hash per model plus a set per capability.

A model is anything that can answer a capability such as ``completion``: an LLM behind an HTTP
endpoint (kind ``llm``) or a local analyzer such as the n-gram completer (kind ``local``). The
hash holds what the user configured (provider, endpoint, capabilities, limits, costs) and what
routing measured (last response time, success rate, performance score). API keys are never
stored: a model names the environment variable that holds its key in ``api_key_env``.

    redis-ai:{models}:all             set of model ids
    redis-ai:{models}:model:<id>      hash, the fields of Model plus the measured ones
    redis-ai:{models}:cap:<cap>       set of ids of the models that offer <cap>
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .. import keys

if TYPE_CHECKING:
    from redis import Redis
    from redis.client import Pipeline

KINDS = frozenset({"llm", "local"})
PROVIDERS = frozenset({"openai", "anthropic", "llamacpp", "ollama", "ngram"})
APIS = frozenset({"chat", "completions"})

DEFAULT_ENDPOINTS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "llamacpp": "http://127.0.0.1:8080",
    "ollama": "http://127.0.0.1:11434",
}
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
                   "llamacpp": "LLAMA_API_KEY"}

FAILURE_MEMORY_S = 300.0
"""Time constant with which a failure fades from the success rate used for ranking, so a model
that failed once is tried again later instead of being ranked last forever."""

EWMA_ALPHA = 0.2
"""Weight of the newest call in the running latency and success rate."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$")


class RegistryError(ValueError):
    """A model definition that cannot be stored (bad id, unknown provider, a key in place of
    the name of the variable that holds it)."""


@dataclass
class Model:
    """What the user configures for one model; routing adds the measured fields in Redis."""

    id: str
    kind: str = "llm"
    provider: str = "openai"
    endpoint: str = ""
    model: str = ""
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    api: str = "chat"
    api_key_env: str = ""
    timeout_ms: int = 5000
    max_context: int = 6000
    max_tokens: int = 128
    cost_in: float = 0.0
    cost_out: float = 0.0
    enabled: bool = True

    def validate(self) -> None:
        """Raise RegistryError unless the definition is complete and consistent."""
        if not _ID.match(self.id):
            raise RegistryError(f"model id {self.id!r} must be 1-128 of [A-Za-z0-9._:@/+-]")
        if self.kind not in KINDS:
            raise RegistryError(f"kind must be one of {sorted(KINDS)}, not {self.kind!r}")
        if self.provider not in PROVIDERS:
            raise RegistryError(f"provider must be one of {sorted(PROVIDERS)}, not {self.provider!r}")
        if self.api not in APIS:
            raise RegistryError(f"api must be one of {sorted(APIS)}, not {self.api!r}")
        if self.kind == "llm" and not self.model:
            raise RegistryError("an llm needs the provider's model name (model=...)")
        if not self.capabilities or not all(re.match(r"^[a-z_]+$", c) for c in self.capabilities):
            raise RegistryError("capabilities must be a non-empty list of lower_case names")
        if self.api_key_env and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.api_key_env):
            raise RegistryError("api_key_env must name an environment variable, not hold a key")
        if self.timeout_ms <= 0 or self.max_context <= 0 or self.max_tokens <= 0:
            raise RegistryError("timeout_ms, max_context and max_tokens must be positive")

    @property
    def base_url(self) -> str:
        """The endpoint, or the provider's public one when none is configured."""
        return (self.endpoint or DEFAULT_ENDPOINTS.get(self.provider, "")).rstrip("/")

    @property
    def key_env(self) -> str:
        """Name of the environment variable holding this model's API key ('' for none)."""
        return self.api_key_env or DEFAULT_KEY_ENV.get(self.provider, "")

    def api_key(self) -> str:
        """The API key from the environment, '' when unset. Never store or log the result."""
        return os.environ.get(self.key_env, "") if self.key_env else ""

    def to_hash(self) -> dict[str, str]:
        """The configured fields as a Redis hash mapping."""
        out: dict[str, str] = {}
        for name, value in asdict(self).items():
            if isinstance(value, list):
                out[name] = ",".join(value)
            elif isinstance(value, bool):
                out[name] = "1" if value else "0"
            else:
                out[name] = str(value)
        return out

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> Model:
        """Rebuild a Model from its hash; measured and unknown fields are ignored."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            if f.name == "capabilities":
                kwargs[f.name] = [c for c in raw.split(",") if c]
            elif f.name == "enabled":
                kwargs[f.name] = raw not in ("0", "false", "")
            elif f.type in ("int", int):
                kwargs[f.name] = int(float(raw))
            elif f.type in ("float", float):
                kwargs[f.name] = float(raw)
            else:
                kwargs[f.name] = raw
        return cls(**kwargs)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _mapping(raw: Any) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in (raw or {}).items()}


def add(redis: Redis, model: Model) -> None:
    """Store ``model`` (replacing a model with the same id) and index its capabilities.

    >>> add(r, Model(id="qwen", provider="openai", endpoint="http://localhost:11434",
    ...              model="qwen2.5-coder:1.5b", api="completions"))  # doctest: +SKIP
    """
    model.validate()
    old = get(redis, model.id)
    pipe = redis.pipeline(transaction=True)
    if old is not None:
        for cap in set(old.capabilities) - set(model.capabilities):
            pipe.srem(keys.capability(cap), model.id)
    mapping: dict[Any, Any] = dict(model.to_hash())
    pipe.hset(keys.model(model.id), mapping=mapping)
    pipe.hsetnx(keys.model(model.id), "added", f"{time.time():.3f}")
    pipe.sadd(keys.MODELS, model.id)
    for cap in model.capabilities:
        pipe.sadd(keys.capability(cap), model.id)
    pipe.execute()


def remove(redis: Redis, model_id: str) -> bool:
    """Delete a model and its capability entries; False if there was no such model."""
    old = get(redis, model_id)
    if old is None:
        return False
    pipe = redis.pipeline(transaction=True)
    for cap in old.capabilities:
        pipe.srem(keys.capability(cap), model_id)
    pipe.srem(keys.MODELS, model_id)
    pipe.delete(keys.model(model_id))
    pipe.execute()
    return True


def get(redis: Redis, model_id: str) -> Model | None:
    """The configured model ``model_id``, or None."""
    data = _mapping(redis.hgetall(keys.model(model_id)))
    return Model.from_hash(data) if data.get("id") else None


def show(redis: Redis, model_id: str) -> dict[str, Any] | None:
    """Every field of the model's hash (configured and measured), with numbers as numbers."""
    data = _mapping(redis.hgetall(keys.model(model_id)))
    if not data.get("id"):
        return None
    out: dict[str, Any] = {}
    for name, raw in data.items():
        out[name] = _number(raw) if name in _NUMERIC else raw
    out["capabilities"] = [c for c in data.get("capabilities", "").split(",") if c]
    out["enabled"] = data.get("enabled", "1") not in ("0", "false", "")
    out["rank_score"] = round(rank_score(data, time.time()), 4)
    return out


def list_ids(redis: Redis) -> list[str]:
    """Every registered model id, sorted."""
    return sorted(_text(m) for m in redis.smembers(keys.MODELS))


def list_all(redis: Redis) -> list[dict[str, Any]]:
    """``show`` for every registered model."""
    found = (show(redis, model_id) for model_id in list_ids(redis))
    return [m for m in found if m is not None]


def for_capability(redis: Redis, cap: str) -> list[tuple[Model, dict[str, str]]]:
    """The models offering ``cap``, each with its raw hash (for the measured fields)."""
    ids = sorted(_text(m) for m in redis.smembers(keys.capability(cap)))
    if not ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for model_id in ids:
        pipe.hgetall(keys.model(model_id))
    out = []
    for raw in pipe.execute():
        data = _mapping(raw)
        if data.get("id"):
            out.append((Model.from_hash(data), data))
    return out


def ensure(redis: Redis, model: Model) -> None:
    """Register ``model`` unless a model with that id exists (keeps the user's edits)."""
    if not redis.exists(keys.model(model.id)):
        add(redis, model)


_NUMERIC = frozenset({
    "timeout_ms", "max_context", "max_tokens", "cost_in", "cost_out", "calls", "failures",
    "consecutive_failures", "last_response_ms", "latency_ms", "success_rate", "score", "updated",
    "added", "last_error_at", "tokens_in", "tokens_out",
})


def _number(raw: str) -> float | int | str:
    try:
        value = float(raw)
    except ValueError:
        return raw
    return int(value) if value.is_integer() and "." not in raw else value


# Measured fields are updated in one script so concurrent workers never lose a sample.
_RECORD = """
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return 0 end
local ok, ms, now, alpha = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HINCRBY', k, 'calls', 1)
local rate = tonumber(redis.call('HGET', k, 'success_rate') or '1')
local lat = tonumber(redis.call('HGET', k, 'latency_ms') or '-1')
if ok == 1 then
  rate = rate + alpha * (1 - rate)
  if lat < 0 then lat = ms else lat = lat + alpha * (ms - lat) end
  redis.call('HSET', k, 'last_response_ms', ARGV[2], 'latency_ms', tostring(lat),
             'consecutive_failures', '0')
  if tonumber(ARGV[6]) > 0 or tonumber(ARGV[7]) > 0 then
    redis.call('HINCRBY', k, 'tokens_in', ARGV[6])
    redis.call('HINCRBY', k, 'tokens_out', ARGV[7])
  end
else
  rate = rate * (1 - alpha)
  redis.call('HINCRBY', k, 'failures', 1)
  redis.call('HINCRBY', k, 'consecutive_failures', 1)
  redis.call('HSET', k, 'last_error', ARGV[5], 'last_error_at', ARGV[3])
end
if lat < 0 then lat = 0 end
local score = rate / (1 + lat / 1000)
redis.call('HSET', k, 'success_rate', tostring(rate), 'score', tostring(score), 'updated', ARGV[3])
return 1
"""


def record(
    redis: Redis | Pipeline,
    model_id: str,
    ok: bool,
    elapsed_ms: float,
    error: str = "",
    tokens_in: int = 0,
    tokens_out: int = 0,
) -> None:
    """Fold one call's outcome into the model's success rate, latency and performance score.

    Latency is only learned from successful calls: a refused connection fails fast and must
    not make a model look quick. ``redis`` may be a pipeline (the caller executes it).
    """
    redis.eval(
        _RECORD, 1, keys.model(model_id), int(ok), f"{elapsed_ms:.3f}", f"{time.time():.3f}",
        EWMA_ALPHA, error[:300], int(tokens_in), int(tokens_out),
    )


def rank_score(data: dict[str, str], now: float) -> float:
    """The score routing ranks by: success rate (with old failures faded) over latency.

    A model with no measurements scores 1.0, above every measured one, so it gets tried and
    measured.
    """
    rate = float(data.get("success_rate", 1.0))
    lat = max(0.0, float(data.get("latency_ms", 0.0)))
    age = now - float(data.get("updated", now))
    rate = 1.0 - (1.0 - rate) * math.exp(-max(0.0, age) / FAILURE_MEMORY_S)
    return rate / (1.0 + lat / 1000.0)

"""A registry model as the author of candidate programs (capability ``lisp``).

The conversation is the request, the language's reference (reference.py), the programs the
candidate may ``require``, the training examples, then each earlier candidate and what the
gates found wrong with it. It is sent through the existing providers (OpenAI-compatible chat or
completions, Anthropic Messages), whose ``build`` is overridden only to put this conversation
in place of a completion prompt; streaming, deadlines, keys and errors are theirs. Models are
tried best first, as routing ranks them, and each call's outcome is recorded on the model.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .. import analytics
from ..models import registry, routing
from ..models.providers import ProviderError, Request
from ..models.providers.anthropic import Anthropic
from ..models.providers.base import Provider
from ..models.providers.openai import OpenAI
from ..models.routing import NoModel
from .evolve import Attempt, Draft, Task
from .reference import reference

if TYPE_CHECKING:
    from redis import Redis

CAPABILITY = "lisp"
MAX_TOKENS = 1500
"""Tokens a model may write per candidate (a model's own max_tokens is for completions)."""
LIBRARY_CHARS = 6000
"""Most characters of the stored programs shown to the model."""

SYSTEM = ("You write analyzers in a small sandboxed Lisp for a code editor. Reply with one "
          "complete program in a single ```lisp block and nothing else. Use only the forms "
          "and builtins of the reference below: anything else does not exist, and a program "
          "that reaches for files, processes, the network or Python is refused.\n\n")


def _show(examples: list[Any]) -> str:
    out = []
    for k, ex in enumerate(examples, 1):
        verdict = (f"MUST be flagged{f' on lines {ex.lines}' if ex.lines else ''}"
                   if ex.flag else "must NOT be flagged")
        out.append(f"Example {k} ({ex.file}): {verdict}\n```\n{ex.text}\n```")
    return "\n\n".join(out)


def conversation(task: Task, history: list[Attempt]) -> tuple[str, list[dict[str, str]]]:
    """(system prompt, messages) for the next candidate."""
    library = "\n\n".join(f";; program {name}\n" + "\n".join(forms)
                          for name, forms in sorted(task.library.items()))[:LIBRARY_CHARS]
    parts = [f"Write the program {task.name} ({task.kind}): {task.request}"]
    if task.parent:
        parts.append(f"It improves the live version {task.parent_version}:\n```lisp\n"
                     f"{task.parent}\n```")
    if library:
        parts.append("Stored programs it may (require 'NAME) to reuse their definitions:\n"
                     f"```lisp\n{library}\n```")
    parts.append("Examples:\n\n" + _show(task.train))
    messages = [{"role": "user", "content": "\n\n".join(parts)}]
    for attempt in history:
        messages.append({"role": "assistant", "content": f"```lisp\n{attempt.source}\n```"})
        messages.append({"role": "user", "content": f"{attempt.note}\n\nWrite the whole "
                                                    "corrected program."})
    return SYSTEM + reference(), messages


class _Conversing:
    """Mixin: replace the completion prompt of a provider's body by a conversation."""

    system: str
    messages: list[dict[str, str]]

    def converse(self, body: dict[str, Any]) -> dict[str, Any]:
        body["temperature"] = 0.2
        if "prompt" in body:  # an OpenAI-style completions endpoint: one flat prompt
            body.pop("suffix", None)
            body.pop("stop", None)  # a program has blank lines: the completion stop would cut it
            turns = [f"{m['role'].upper()}:\n{m['content']}" for m in self.messages]
            body["prompt"] = f"{self.system}\n\n" + "\n\n".join(turns) + "\n\nASSISTANT:\n"
        elif "system" in body:
            body["system"], body["messages"] = self.system, self.messages
        else:
            body["messages"] = [{"role": "system", "content": self.system}, *self.messages]
        return body


class LispOpenAI(_Conversing, OpenAI):
    """An OpenAI-compatible model asked for a program."""

    def build(self, request: Request) -> tuple[str, dict[str, str], dict[str, Any]]:
        url, headers, body = super().build(request)
        return url, headers, self.converse(body)


class LispAnthropic(_Conversing, Anthropic):
    """An Anthropic model asked for a program."""

    def build(self, request: Request) -> tuple[str, dict[str, str], dict[str, Any]]:
        url, headers, body = super().build(request)
        return url, headers, self.converse(body)


def provider(model: registry.Model, system: str, messages: list[dict[str, str]]) -> Provider:
    """The provider that sends ``messages`` to ``model``."""
    cls: type[LispOpenAI] | type[LispAnthropic] = (
        LispAnthropic if model.provider == "anthropic" else LispOpenAI)
    if model.provider not in ("openai", "anthropic"):
        raise ProviderError(f"provider {model.provider!r} cannot write programs", kind="config")
    out = cls(model)
    out.system, out.messages = system, messages
    return out


class ModelAuthor:
    """Asks the best available model with the capability ``lisp``; falls back to the next."""

    def __init__(self, redis: Redis, max_tokens: int = MAX_TOKENS, model_id: str = "") -> None:
        self.redis = redis
        self.max_tokens = max_tokens
        self.model_id = model_id

    def models(self) -> list[registry.Model]:
        """The models to try, best first (only ``model_id`` when one was named)."""
        found = routing.ranked(self.redis, CAPABILITY)
        if self.model_id:
            found = [m for m in found if m.id == self.model_id]
        if not found:
            raise NoModel(f"no available model offers {CAPABILITY!r} (add one with "
                          f"'redis-ai models add ID --model NAME --capability {CAPABILITY}')")
        return found

    def write(self, task: Task, history: list[Attempt]) -> Draft:
        """One candidate from the first model that answers."""
        system, messages = conversation(task, history)
        failed: list[tuple[str, str]] = []
        for model in self.models():
            start = time.monotonic()
            try:
                reply = provider(model, system, messages).complete(
                    Request(prefix="", max_tokens=self.max_tokens))
            except ProviderError as exc:
                self._record(model.id, False, (time.monotonic() - start) * 1000, error=str(exc))
                failed.append((model.id, str(exc)))
                continue
            self._record(model.id, True, reply.elapsed_ms, tokens_in=reply.tokens_in,
                         tokens_out=reply.tokens_out)
            cost = (reply.tokens_in * model.cost_in + reply.tokens_out * model.cost_out) / 1e6
            return Draft(reply.text, model.id, reply.tokens_in, reply.tokens_out, cost)
        raise NoModel(f"every model for {CAPABILITY!r} failed", failed)

    def _record(self, model_id: str, ok: bool, elapsed_ms: float, **extra: Any) -> None:
        pipe = self.redis.pipeline(transaction=False)
        registry.record(pipe, model_id, ok, elapsed_ms, **extra)
        analytics.record_model_call(pipe, model_id, elapsed_ms, ok, time.time())
        pipe.execute()


__all__ = ["CAPABILITY", "LispAnthropic", "LispOpenAI", "ModelAuthor", "conversation",
           "provider"]

"""Ollama's native ``POST /api/generate``, streamed as newline-delimited JSON.

A model with the ``fim`` capability gets ``prompt`` (the code before the cursor) and ``suffix``
(the code after it), which Ollama lays out with the FIM tokens of the model's template; the
template must then apply, so ``raw`` stays false. A model without it gets ``raw: true`` and the
code before the cursor to continue. Retrieved chunks go in front of the prompt as comments
(the API has no field for them). ``options.num_predict`` bounds the answer. Each line of the
stream is ``{"response": piece, "done": false}``; the last has ``done: true`` and the token
counts ``prompt_eval_count`` and ``eval_count``; errors are ``{"error": "..."}``.
See docs/api.md in ollama/ollama.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from . import fim
from .base import HTTPStream, Provider, ProviderError, Reply, Request


class Ollama(Provider):
    """A model served by Ollama; FIM with ``suffix`` when it has the ``fim`` capability."""

    @property
    def fim(self) -> bool:
        """Whether the model fills in the middle (its template has a suffix)."""
        return "fim" in self.model.capabilities

    def cap(self, request: Request) -> Request:
        """Window and commented chunks within ``max_context`` estimated tokens."""
        def cost(name: str, text: str) -> int:
            return fim.estimate_tokens(fim.preamble_block(name, text, request.language)) + 1
        return fim.fit(request, self.model.max_context, cost)

    def build(self, request: Request) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The streamed generate request."""
        body: dict[str, Any] = {
            "model": self.model.model,
            "prompt": fim.preamble(request.extra, request.language) + request.prefix,
            "stream": True,
            "raw": not self.fim,
            "options": {"num_predict": request.max_tokens or self.model.max_tokens,
                        "temperature": 0.2},
        }
        if self.fim:
            body["suffix"] = request.suffix
        base = self.model.base_url
        base = base[:-3] if base.endswith("/v1") else base
        return base + "/api/generate", {"Accept": "application/x-ndjson"}, body

    def parse(self, stream: HTTPStream, reply: Reply) -> Iterator[str]:
        """``response`` pieces until ``done``; one JSON object when the server did not stream."""
        for line in stream.lines():
            if not line.strip():
                continue
            try:
                chunk = json.loads(line)
            except ValueError:
                raise ProviderError(f"bad stream line: {line[:120]!r}", kind="protocol") from None
            if not isinstance(chunk, dict):
                raise ProviderError(f"bad stream line: {line[:120]!r}", kind="protocol")
            if "error" in chunk:
                raise ProviderError(f"stream error: {chunk['error']}"[:400], kind="stream")
            if chunk.get("response"):
                yield str(chunk["response"])
            if chunk.get("done"):
                reply.tokens_in = int(chunk.get("prompt_eval_count") or 0)
                reply.tokens_out = int(chunk.get("eval_count") or 0)
                reply.model = str(chunk.get("model") or reply.model)
                return
        raise ProviderError("stream ended before done: true", kind="protocol")

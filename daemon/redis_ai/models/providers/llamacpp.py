"""llama.cpp's server (``llama-server``): ``POST /infill`` for fill-in-the-middle, else the
OpenAI-compatible ``POST /v1/completions``, both streamed as server-sent events.

``/infill`` takes ``input_prefix`` and ``input_suffix`` and the retrieved chunks as
``input_extra`` (``[{"filename", "text"}]``), which the server lays out with the model's own
FIM and file-separator tokens; it streams ``data: {"content": ..., "stop": false}`` events,
the last with ``"stop": true`` and the token counts. Both requests send ``cache_prompt: true``
so the server reuses the KV cache of the prompt it saw at the previous keystroke and evaluates
only what changed. See tools/server/README.md in ggml-org/llama.cpp.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from . import fim
from .base import HTTPStream, Provider, ProviderError, Reply, Request, sse_events

SEPARATOR_TOKENS = 2
"""Tokens the server adds around each ``input_extra`` chunk (file separator, line break)."""


class LlamaCpp(Provider):
    """A model served by llama-server; FIM through /infill when it has the ``fim`` capability."""

    @property
    def fim(self) -> bool:
        """Whether the model fills in the middle (it has FIM tokens): /infill, else /v1/completions."""
        return "fim" in self.model.capabilities

    def cap(self, request: Request) -> Request:
        """Window and chunks within ``max_context`` estimated tokens."""
        if self.fim:
            def cost(name: str, text: str) -> int:
                return fim.estimate_tokens(name) + fim.estimate_tokens(text) + SEPARATOR_TOKENS
        else:
            def cost(name: str, text: str) -> int:
                return fim.estimate_tokens(fim.preamble_block(name, text, request.language)) + 1
        return fim.fit(request, self.model.max_context, cost)

    def build(self, request: Request) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The streamed /infill (FIM) or /v1/completions request."""
        headers = {"Accept": "text/event-stream"}
        key = self.model.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        n_predict = request.max_tokens or self.model.max_tokens
        if self.fim:
            body: dict[str, Any] = {
                "input_prefix": request.prefix,
                "input_suffix": request.suffix,
                "input_extra": [{"filename": name, "text": text} for name, text in request.extra],
                "prompt": "",
                "n_predict": n_predict,
                "temperature": 0.2,
                "stream": True,
                "cache_prompt": True,
            }
            return self._root() + "/infill", headers, body
        body = {
            "model": self.model.model,
            "prompt": fim.preamble(request.extra, request.language) + request.prefix,
            "max_tokens": n_predict,
            "temperature": 0.2,
            "stream": True,
            "cache_prompt": True,
        }
        return self.url("/v1/completions"), headers, body

    def _root(self) -> str:
        # /infill lives at the server's root, also when the endpoint was given as .../v1.
        base = self.model.base_url
        return base[:-3] if base.endswith("/v1") else base

    def parse(self, stream: HTTPStream, reply: Reply) -> Iterator[str]:
        """Text from /infill's ``content`` or /v1/completions' ``choices[].text``."""
        datas: Iterator[str]
        if stream.response_headers.get("content-type", "").startswith("text/event-stream"):
            datas = (data for _, data in sse_events(stream.lines()))
        else:
            datas = iter([stream.read_all().decode("utf-8", "replace")])  # "stream" ignored
        for data in datas:
            if data == "[DONE]":
                return
            chunk = _json(data)
            if "error" in chunk:
                err = chunk["error"]
                message = err.get("message", "") if isinstance(err, dict) else str(err)
                raise ProviderError(f"stream error: {message}"[:400], kind="stream")
            if "choices" in chunk:
                usage = chunk.get("usage")
                if isinstance(usage, dict):
                    reply.tokens_in = int(usage.get("prompt_tokens") or 0)
                    reply.tokens_out = int(usage.get("completion_tokens") or 0)
                for choice in chunk["choices"] or ():
                    if choice.get("text"):
                        yield str(choice["text"])
                continue
            if chunk.get("content"):
                yield str(chunk["content"])
            if chunk.get("stop"):
                reply.tokens_in = int(chunk.get("tokens_evaluated") or 0)
                reply.tokens_out = int(chunk.get("tokens_predicted") or 0)
                reply.model = str(chunk.get("model") or reply.model)
                return
        if self.fim:
            raise ProviderError("stream ended before the event with stop: true", kind="protocol")


def _json(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError:
        raise ProviderError(f"bad stream event: {data[:120]!r}", kind="protocol") from None
    if not isinstance(chunk, dict):
        raise ProviderError(f"bad stream event: {data[:120]!r}", kind="protocol")
    return chunk

"""OpenAI-compatible endpoints: /v1/chat/completions and /v1/completions, streamed as SSE.

The same wire format is spoken by Ollama (``http://localhost:11434``), llama.cpp's server and
vLLM, so one provider covers them; a model without a key in the environment is called without
an Authorization header, which is what those local servers expect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .base import (
    SYSTEM_PROMPT,
    HTTPStream,
    Provider,
    ProviderError,
    Reply,
    Request,
    chat_prompt,
    sse_events,
)


class OpenAI(Provider):
    """A model behind an OpenAI-compatible API; ``model.api`` picks chat or completions."""

    def build(self, request: Request) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The streamed chat or completions request for ``request``."""
        headers = {"Accept": "text/event-stream"}
        key = self.model.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body: dict[str, Any] = {
            "model": self.model.model,
            "max_tokens": request.max_tokens or self.model.max_tokens,
            "temperature": 0.2,
            "stream": True,
        }
        if self.model.api == "completions":
            body["prompt"] = request.prefix
            if request.suffix:
                body["suffix"] = request.suffix
            body["stop"] = ["\n\n\n"]
            return self.url("/v1/completions"), headers, body
        body["messages"] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": chat_prompt(request)},
        ]
        body["stream_options"] = {"include_usage": True}
        return self.url("/v1/chat/completions"), headers, body

    def parse(self, stream: HTTPStream, reply: Reply) -> Iterator[str]:
        """Text deltas from ``data:`` lines until ``[DONE]``; an error event raises."""
        for name, data in _events(stream):
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except ValueError:
                raise ProviderError(f"bad stream chunk: {data[:120]!r}", kind="protocol") from None
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk or name == "error":
                err = chunk.get("error", chunk)
                message = err.get("message", "") if isinstance(err, dict) else str(err)
                raise ProviderError(f"stream error: {message}"[:400], kind="stream")
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                reply.tokens_in = int(usage.get("prompt_tokens") or 0)
                reply.tokens_out = int(usage.get("completion_tokens") or 0)
            if chunk.get("model"):
                reply.model = str(chunk["model"])
            for choice in chunk.get("choices") or ():
                piece = choice.get("text")
                if piece is None:
                    piece = (choice.get("delta") or {}).get("content")
                if piece:
                    yield piece


def _events(stream: HTTPStream) -> Iterator[tuple[str, str]]:
    if not stream.response_headers.get("content-type", "").startswith("text/event-stream"):
        # Servers that ignore "stream": answer with one JSON document instead.
        yield "", _as_chunk(stream.read_all())
        return
    yield from sse_events(stream.lines())


def _as_chunk(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ProviderError(f"bad response body: {body[:120]!r}", kind="protocol") from None
    for choice in doc.get("choices") or ():
        message = choice.get("message")
        if isinstance(message, dict):
            choice["delta"] = {"content": message.get("content") or ""}
    return json.dumps(doc)

"""Anthropic's Messages API (POST /v1/messages) with streamed server-sent events.

The stream is a sequence of named events: message_start (input token count),
content_block_start, content_block_delta (text_delta pieces), content_block_stop,
message_delta (output token count, stop reason), message_stop, with ping and error events
possible at any point.
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

API_VERSION = "2023-06-01"


class Anthropic(Provider):
    """A Claude model; the key comes from $ANTHROPIC_API_KEY or the model's api_key_env."""

    def available(self) -> bool:
        """The API refuses every request without a key, so a model without one is skipped."""
        return bool(self.model.api_key())

    def build(self, request: Request) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The streamed Messages request for ``request``."""
        key = self.model.api_key()
        if not key:
            raise ProviderError(f"no API key: set ${self.model.key_env}", kind="config")
        headers = {
            "x-api-key": key,
            "anthropic-version": API_VERSION,
            "Accept": "text/event-stream",
        }
        body = {
            "model": self.model.model,
            "max_tokens": request.max_tokens or self.model.max_tokens,
            "temperature": 0.2,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": chat_prompt(request)}],
            "stream": True,
        }
        return self.url("/v1/messages"), headers, body

    def parse(self, stream: HTTPStream, reply: Reply) -> Iterator[str]:
        """Text from content_block_delta events until message_stop; an error event raises."""
        for name, data in sse_events(stream.lines()):
            try:
                event = json.loads(data)
            except ValueError:
                raise ProviderError(f"bad stream event: {data[:120]!r}", kind="protocol") from None
            kind = event.get("type", name) if isinstance(event, dict) else name
            if kind == "content_block_delta":
                delta = event.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield delta["text"]
            elif kind == "message_start":
                message = event.get("message") or {}
                reply.model = str(message.get("model") or reply.model)
                reply.tokens_in = int((message.get("usage") or {}).get("input_tokens") or 0)
            elif kind == "message_delta":
                reply.tokens_out = int((event.get("usage") or {}).get("output_tokens") or 0)
            elif kind == "message_stop":
                return
            elif kind == "error":
                err = event.get("error") or {}
                raise ProviderError(
                    f"stream error {err.get('type', '')}: {err.get('message', '')}"[:400],
                    kind=str(err.get("type") or "stream"),
                )
        raise ProviderError("stream ended before message_stop", kind="protocol")

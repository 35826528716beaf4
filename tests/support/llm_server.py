"""A local HTTP server that speaks the real wire formats of the LLM providers redis-ai calls.

OpenAI-compatible ``/v1/chat/completions`` and ``/v1/completions`` and Anthropic's
``/v1/messages``, streamed as server-sent events over chunked HTTP/1.1 the way those services
send them, plus their JSON error bodies, slow starts and stalls mid-stream. Each path (so each
registered model, by giving models different endpoint prefixes) gets its own Behaviour.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Behaviour:
    """How the server answers one path."""

    pieces: list[str] = field(default_factory=lambda: ["hello", " world"])
    status: int = 200
    error: dict[str, Any] | None = None
    """JSON body sent with a status >= 400."""
    delay: float = 0.0
    """Seconds to wait before sending the status line."""
    stall_after: int | None = None
    """Stop sending (but keep the connection open) after this many pieces."""
    stream_error: dict[str, Any] | None = None
    """An error event sent after the pieces (Anthropic ``event: error``, OpenAI ``data: {error}``)."""
    model: str = "served-model"
    answers: list[list[str]] | None = None
    """Scripted answers: the pieces of the first request, of the second, ... (the last one
    repeats); None sends ``pieces`` every time."""


@dataclass
class Seen:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class LLMServer:
    """Start with ``start()``; ``url(prefix)`` is an endpoint; ``stop()`` ends every stall."""

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.seen: list[Seen] = []
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.turns: dict[str, int] = {}
        """Requests answered per path (for scripted answers)."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                behaviour = outer.behaviours.get(self.path, Behaviour())
                if behaviour.answers:
                    with outer.lock:
                        turn = outer.turns.get(self.path, 0)
                        outer.turns[self.path] = turn + 1
                    pieces = behaviour.answers[min(turn, len(behaviour.answers) - 1)]
                    behaviour = replace(behaviour, pieces=pieces)
                try:
                    outer._answer(self, behaviour)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> LLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, prefix: str = "") -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{prefix}"

    def on(self, path: str, behaviour: Behaviour) -> None:
        self.behaviours[path] = behaviour

    # -- answering -----------------------------------------------------------------------------
    def _answer(self, h: BaseHTTPRequestHandler, b: Behaviour) -> None:
        if b.delay and self.closing.wait(b.delay):
            return
        if b.status >= 400:
            data = json.dumps(b.error or {}).encode()
            h.send_response(b.status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        if h.path.endswith("/v1/messages"):
            events = self._anthropic(b)
        else:
            events = self._openai(b, chat=h.path.endswith("/chat/completions"))
        for i, event in enumerate(events):
            if b.stall_after is not None and i >= b.stall_after + _preamble(h.path):
                self.closing.wait(30)
                return
            _chunk(h, event)
        _chunk(h, "")

    def _openai(self, b: Behaviour, chat: bool) -> list[str]:
        out = []
        if chat:
            first = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": b.model,
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                  "logprobs": None, "finish_reason": None}]}
            out.append(_data(first))
        for piece in b.pieces:
            if chat:
                chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": b.model,
                         "choices": [{"index": 0, "delta": {"content": piece}, "logprobs": None,
                                      "finish_reason": None}]}
            else:
                chunk = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": b.model,
                         "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": None}]}
            out.append(_data(chunk))
        if b.stream_error:
            out.append(_data({"error": b.stream_error}))
        last: dict[str, Any] = {"id": "x", "object": "chat.completion.chunk" if chat else "text_completion",
                                "created": 1, "model": b.model, "choices": [],
                                "usage": {"prompt_tokens": 11, "completion_tokens": len(b.pieces),
                                          "total_tokens": 11 + len(b.pieces)}}
        out.append(_data(last))
        out.append("data: [DONE]\n\n")
        return out

    def _anthropic(self, b: Behaviour) -> list[str]:
        out = [
            _event("message_start", {"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": b.model,
                "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 25, "output_tokens": 1}}}),
            _event("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}}),
            _event("ping", {"type": "ping"}),
        ]
        for piece in b.pieces:
            out.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                      "delta": {"type": "text_delta", "text": piece}}))
        if b.stream_error:
            out.append(_event("error", {"type": "error", "error": b.stream_error}))
            return out
        out += [
            _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _event("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                     "usage": {"output_tokens": len(b.pieces)}}),
            _event("message_stop", {"type": "message_stop"}),
        ]
        return out


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or cancel close the connection mid-answer: that is the point.
        pass


def _preamble(path: str) -> int:
    """Events sent before the first text piece."""
    if path.endswith("/v1/messages"):
        return 3
    return 1 if path.endswith("/chat/completions") else 0


def _data(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def _event(name: str, obj: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(obj)}\n\n"


def _chunk(h: BaseHTTPRequestHandler, text: str) -> None:
    data = text.encode()
    h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    h.wfile.flush()

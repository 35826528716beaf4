"""A local server speaking the fill-in-the-middle wire formats of llama.cpp and Ollama.

llama.cpp's server (tools/server/README.md in ggml-org/llama.cpp):

- ``POST /infill``: ``input_prefix``, ``input_suffix``, ``input_extra`` (``[{"filename",
  "text"}]``), ``prompt``, and the /completion options (``n_predict``, ``cache_prompt``,
  ``stream``...); streamed as ``data: {"content", "stop": false, ...}`` server-sent events, the
  last one ``"stop": true`` with ``tokens_evaluated``, ``tokens_predicted``, ``stop_type`` and
  ``timings``; errors ``{"error": {"code", "message", "type"}}``.
- ``POST /v1/completions``: OpenAI's text_completion chunks, ending with ``data: [DONE]``.

Ollama (docs/api.md in ollama/ollama): ``POST /api/generate`` with ``model``, ``prompt``,
``suffix``, ``raw``, ``options``, ``stream``; newline-delimited JSON objects
``{"model", "created_at", "response", "done": false}``, the last ``done: true`` with
``done_reason``, ``prompt_eval_count`` and ``eval_count``; one JSON object with
``stream: false``; errors ``{"error": "..."}``.

Every request is recorded (``seen``); a client that hangs up while its answer stalls is
recorded in ``disconnects`` (the path of the request), which is how a test sees a cancelled
request reach the server.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .llm_server import Seen


@dataclass
class Answer:
    """How the server answers one path."""

    pieces: list[str] = field(default_factory=lambda: ["pass"])
    status: int = 200
    error: Any = None
    """JSON body sent with a status >= 400."""
    stall_after: int | None = None
    """Stop sending after this many pieces and wait for the client to hang up."""
    stall_turns: set[int] | None = None
    """The requests (0 = the first) that stall; None: every one."""
    whole: bool = False
    """Ollama: answer with one JSON object, as with ``stream: false`` (a server that ignores it)."""
    answers: list[list[str]] | None = None
    """Pieces of the first request, the second... (the last repeats); None: ``pieces``."""


class FIMServer:
    """``start()``; ``url()`` is the endpoint; ``on(path, Answer)``; ``stop()``."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self.seen: list[Seen] = []
        self.disconnects: list[str] = []
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.turns: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer.lock:
                    outer.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()},
                                           body))
                    turn = outer.turns.get(self.path, 0)
                    outer.turns[self.path] = turn + 1
                answer = outer.answers.get(self.path, Answer())
                pieces = answer.pieces
                if answer.answers:
                    pieces = answer.answers[min(turn, len(answer.answers) - 1)]
                try:
                    stall = answer.stall_turns is None or turn in answer.stall_turns
                    outer._answer(self, answer, pieces, body, stall)
                except (BrokenPipeError, ConnectionResetError):
                    outer._hung_up(self.path)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> FIMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, prefix: str = "") -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{prefix}"

    def on(self, path: str, answer: Answer) -> None:
        self.answers[path] = answer

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """The bodies of the requests to ``path``, in order."""
        with self.lock:
            return [seen.body for seen in self.seen if seen.path == path]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Poll ``predicate()`` until true or ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.01)
        return bool(predicate())

    # -- answering -----------------------------------------------------------------------------
    def _hung_up(self, path: str) -> None:
        with self.lock:
            self.disconnects.append(path)

    def _answer(self, h: BaseHTTPRequestHandler, a: Answer, pieces: list[str],
                body: dict[str, Any], stall: bool) -> None:
        problem = _invalid(h.path, body)
        status, error = (400, problem) if problem is not None else (a.status, a.error)
        if status >= 400:
            data = json.dumps(error or {}).encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        ollama = h.path.endswith("/api/generate")
        if ollama:
            events = _ollama(pieces, body)
        elif h.path.endswith("/infill"):
            events = _infill(pieces, body)
        else:
            events = _completions(pieces)
        if ollama and (body.get("stream") is False or a.whole):
            whole = {**json.loads(events[-1]), "response": "".join(pieces)}
            data = json.dumps(whole).encode()
            h.send_response(200)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/x-ndjson" if ollama else "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i, event in enumerate(events):
            if stall and a.stall_after is not None and i >= a.stall_after:
                self._stall(h)
                return
            _chunk(h, event)
        _chunk(h, "")

    def _stall(self, h: BaseHTTPRequestHandler) -> None:
        """Send nothing more; record the client hanging up (EOF on its socket) if it does."""
        sock: socket.socket = h.connection
        while not self.closing.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        self._hung_up(h.path)
                        return
                except OSError:
                    self._hung_up(h.path)
                    return


def _invalid(path: str, body: dict[str, Any]) -> Any:
    """The error body the real server sends for a malformed request, or None."""
    if path.endswith("/api/generate"):
        if not body.get("model"):
            return {"error": "model is required"}
        if body.get("raw") and (body.get("template") or body.get("system") or body.get("context")):
            return {"error": "raw mode does not support template, system, or context"}
        return None
    if path.endswith("/infill"):
        extra = body.get("input_extra", [])
        ok = isinstance(extra, list) and all(
            isinstance(c, dict) and isinstance(c.get("text"), str)
            and isinstance(c.get("filename", ""), str) for c in extra)
        if not ok:
            return {"error": {"code": 400, "type": "invalid_request_error",
                              "message": "\"input_extra\" must be an array of {\"filename\": string, "
                                         "\"text\": string}"}}
    return None


def _infill(pieces: list[str], body: dict[str, Any]) -> list[str]:
    prompt_tokens = sum(len(str(body.get(k, "")).split()) for k in ("input_prefix", "input_suffix"))
    out = [_data({"index": 0, "content": piece, "tokens": [], "stop": False, "id_slot": 0,
                  "tokens_predicted": i + 1, "tokens_evaluated": prompt_tokens})
           for i, piece in enumerate(pieces)]
    out.append(_data({"index": 0, "content": "", "tokens": [], "id_slot": 0, "stop": True,
                      "model": "qwen2.5-coder-1.5b-q8_0.gguf", "tokens_predicted": len(pieces),
                      "tokens_evaluated": prompt_tokens, "tokens_cached": 0, "truncated": False,
                      "stop_type": "eos", "stopping_word": "",
                      "timings": {"prompt_n": prompt_tokens, "predicted_n": len(pieces)}}))
    return out


def _completions(pieces: list[str]) -> list[str]:
    out = [_data({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "local",
                  "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": None}]})
           for piece in pieces]
    out.append(_data({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "local",
                      "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 9, "completion_tokens": len(pieces),
                                "total_tokens": 9 + len(pieces)}}))
    out.append("data: [DONE]\n\n")
    return out


def _ollama(pieces: list[str], body: dict[str, Any]) -> list[str]:
    model = body.get("model", "")
    out = [json.dumps({"model": model, "created_at": "2024-07-22T20:47:51.147561Z",
                       "response": piece, "done": False}) + "\n" for piece in pieces]
    out.append(json.dumps({"model": model, "created_at": "2024-07-22T20:47:51.147561Z",
                           "response": "", "done": True, "done_reason": "stop",
                           "total_duration": 1162761250, "load_duration": 6683708,
                           "prompt_eval_count": 17, "prompt_eval_duration": 201222000,
                           "eval_count": len(pieces), "eval_duration": 953997000}) + "\n")
    return out


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that are cancelled close the connection mid-answer: that is the point.
        pass


def _data(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def _chunk(h: BaseHTTPRequestHandler, text: str) -> None:
    data = text.encode()
    h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    h.wfile.flush()

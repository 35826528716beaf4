"""What every LLM provider shares: the request, cancellation, HTTP with deadlines, SSE parsing.

Exceptions:

    ProviderError        the call failed; routing falls back to the next model
     +-- ProviderTimeout the deadline passed before the answer was complete
    Cancelled            a newer request superseded this one; routing stops, nothing is recorded
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn
from urllib.parse import urlsplit

from ..registry import Model

USER_AGENT = "redis-ai/0.1"


class ProviderError(Exception):
    """A provider call failed; ``status`` is the HTTP status (0 when no response came)."""

    def __init__(self, message: str, status: int = 0, kind: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


class ProviderTimeout(ProviderError):
    """The model's ``timeout_ms`` passed before its answer was complete."""


class Cancelled(Exception):
    """The request was cancelled, normally because a newer one for the same buffer began."""


class Cancel:
    """A cancellation flag that can also interrupt a blocked socket read.

    Providers register a callback that shuts their socket down, so ``cancel()`` from another
    thread ends a request that is waiting on a slow server at once.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel`` was called."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Mark cancelled and run the registered callbacks (once)."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` on cancel (now if already cancelled); returns an unregister function."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if cancelled meanwhile."""
        return self._event.wait(timeout)


class Superseder:
    """Per-process registry of in-flight requests: a new one for a key cancels the older one.

    The key is (client, buffer): a completion asked for at an older cursor position is of no
    use once the user typed on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[tuple[str, str], Cancel] = {}

    def begin(self, key: tuple[str, str]) -> Cancel:
        """A fresh Cancel for ``key``; the previous request under ``key`` is cancelled."""
        token = Cancel()
        with self._lock:
            older = self._live.get(key)
            self._live[key] = token
        if older is not None:
            older.cancel()
        return token

    def end(self, key: tuple[str, str], token: Cancel) -> None:
        """Forget ``token`` if it is still the newest request for ``key``."""
        with self._lock:
            if self._live.get(key) is token:
                del self._live[key]


@dataclass
class Request:
    """A completion request: the code around the cursor, already capped to the context size."""

    prefix: str
    suffix: str = ""
    language: str = ""
    path: str = ""
    max_tokens: int = 0
    extra: list[tuple[str, str]] = field(default_factory=list)
    """Retrieved context, (file name, text) pairs, best first; providers that use it pack what
    fits their context cap (fim.pack)."""
    stop: Callable[[str], bool] | None = None
    """Called with the text so far after every piece; True ends the stream early."""
    cancel: Cancel = field(default_factory=Cancel)


@dataclass
class Reply:
    """What a provider answered."""

    text: str
    model: str
    elapsed_ms: float
    first_token_ms: float
    tokens_in: int = 0
    tokens_out: int = 0
    stopped_early: bool = False


SYSTEM_PROMPT = (
    "You are a code completion engine inside a text editor. The user's file is shown with the "
    "marker <CURSOR> where the cursor is. Reply with exactly the text to insert at the cursor: "
    "the rest of the current line, or the rest of the block when the line opens one. No "
    "explanations, no Markdown fences, do not repeat text that is already before the cursor."
)


def cap_context(prefix: str, suffix: str, max_chars: int) -> tuple[str, str]:
    """Trim ``prefix`` from its start and ``suffix`` from its end to ``max_chars`` in all.

    Three quarters of the budget go to the prefix, which predicts the completion best; cuts
    fall on line boundaries so the model never sees half a line at the edges.
    """
    if len(prefix) + len(suffix) <= max_chars:
        return prefix, suffix
    suffix_budget = min(len(suffix), max_chars // 4)
    prefix_budget = max_chars - suffix_budget
    if len(prefix) < prefix_budget:
        suffix_budget = max_chars - len(prefix)
        prefix_budget = len(prefix)
    if len(prefix) > prefix_budget:
        cut = prefix[len(prefix) - prefix_budget:]
        nl = cut.find("\n")
        prefix = cut[nl + 1:] if 0 <= nl < len(cut) - 1 else cut
    if len(suffix) > suffix_budget:
        cut = suffix[:suffix_budget]
        nl = cut.rfind("\n")
        suffix = cut[:nl + 1] if nl > 0 else cut
    return prefix, suffix


def chat_prompt(request: Request) -> str:
    """The user message of chat-style APIs: the file with a <CURSOR> marker."""
    where = f"File: {request.path}" if request.path else "File"
    if request.language:
        where += f" ({request.language})"
    return f"{where}\n<file>\n{request.prefix}<CURSOR>{request.suffix}\n</file>"


def clean_completion(text: str, prefix: str) -> str:
    """Strip what chat models add around an insertion: fences and a repeated line start."""
    stripped = text.strip("\n")
    if stripped.startswith("```"):
        lines = stripped.split("\n")[1:]
        if lines and lines[-1].strip().startswith("```"):
            lines = lines[:-1]
        text = "\n".join(lines)
    line_start = prefix[prefix.rfind("\n") + 1:]
    if line_start and text.startswith(line_start):
        text = text[len(line_start):]
    return text.rstrip()


class HTTPStream:
    """One POST whose response is read line by line under a deadline and a Cancel.

    The deadline is enforced by setting the socket timeout to the time left before every read;
    cancellation shuts the socket down from whichever thread calls ``Cancel.cancel``.
    """

    def __init__(self, url: str, headers: dict[str, str], body: dict[str, Any],
                 deadline: float, cancel: Cancel) -> None:
        self.url = url
        self.headers = headers
        self.body = json.dumps(body).encode("utf-8")
        self.deadline = deadline
        self.cancel = cancel
        self.status = 0
        self.response_headers: dict[str, str] = {}
        self._conn: http.client.HTTPConnection | None = None
        self._response: http.client.HTTPResponse | None = None
        self._unregister: Callable[[], None] | None = None

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProviderTimeout("timed out", kind="timeout")
        return left

    def _interrupt(self) -> None:
        # Runs on the cancelling thread while the request's thread may be closing the socket.
        sock = self._conn.sock if self._conn is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def open(self) -> None:
        """Connect, send the request and read the status line and headers."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderError(f"bad endpoint URL {self.url!r}", kind="config")
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn = cls(parts.hostname, parts.port, timeout=self._remaining())
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **self.headers}
        self._unregister = self.cancel.on_cancel(self._interrupt)
        try:
            self._check_cancel()
            self._conn.request("POST", path, body=self.body, headers=headers)
            self._set_timeout()
            self._response = self._conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self._raise_io(exc)
        self.status = self._response.status
        self.response_headers = {k.lower(): v for k, v in self._response.getheaders()}

    def _set_timeout(self) -> None:
        if self._conn is not None and self._conn.sock is not None:
            self._conn.sock.settimeout(self._remaining())

    def _check_cancel(self) -> None:
        if self.cancel.cancelled:
            raise Cancelled("superseded")

    def _raise_io(self, exc: BaseException) -> NoReturn:
        self._check_cancel()
        if isinstance(exc, TimeoutError | socket.timeout) or time.monotonic() >= self.deadline:
            raise ProviderTimeout("timed out", kind="timeout") from None
        raise ProviderError(f"connection failed: {type(exc).__name__}: {exc}", kind="connection") from None

    def read_all(self) -> bytes:
        """The whole remaining body (error responses, non-streamed replies)."""
        assert self._response is not None
        try:
            self._set_timeout()
            return self._response.read(1 << 20)
        except (OSError, http.client.HTTPException) as exc:
            self._raise_io(exc)

    def lines(self) -> Iterator[str]:
        """The body's lines, decoded, without line ends."""
        assert self._response is not None
        while True:
            try:
                self._set_timeout()
                raw = self._response.readline(1 << 20)
            except (OSError, http.client.HTTPException) as exc:
                self._raise_io(exc)
            self._check_cancel()
            if not raw:
                return
            yield raw.decode("utf-8", "replace").rstrip("\r\n")

    def close(self) -> None:
        """Release the connection (also on early stop or cancellation)."""
        if self._unregister is not None:
            self._unregister()
        if self._conn is not None:
            self._conn.close()


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """Server-sent events as (event name, data) pairs; the name is '' when none was given."""
    name = ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        label, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if label == "event":
            name = value
        elif label == "data":
            data.append(value)
    if data:
        yield name, "\n".join(data)


def error_message(body: bytes, status: int) -> tuple[str, str]:
    """(kind, message) from a provider's JSON error body, or the raw start of the body."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "http", f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"
    err = doc.get("error", doc) if isinstance(doc, dict) else doc
    if isinstance(err, dict):
        kind = str(err.get("type") or err.get("code") or "http")
        return kind, f"HTTP {status} {kind}: {err.get('message', '')}"[:400]
    return "http", f"HTTP {status}: {err}"[:400]


class Provider(ABC):
    """Base of the HTTP providers: subclasses build the request and parse the stream."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def available(self) -> bool:
        """Whether the model can be called at all (e.g. its API key is set)."""
        return True

    def complete(self, request: Request) -> Reply:
        """Stream a completion for ``request`` and return it once complete (or stopped).

        The context is capped first (``cap``).
        """
        start = time.monotonic()
        request = self.cap(request)
        deadline = start + self.model.timeout_ms / 1000.0
        url, headers, body = self.build(request)
        stream = HTTPStream(url, headers, body, deadline, request.cancel)
        try:
            stream.open()
            if stream.status >= 400:
                kind, message = error_message(stream.read_all(), stream.status)
                raise ProviderError(message, status=stream.status, kind=kind)
            reply = Reply("", self.model.model, 0.0, 0.0)
            pieces: list[str] = []
            for piece in self.parse(stream, reply):
                if not pieces:
                    reply.first_token_ms = (time.monotonic() - start) * 1000
                pieces.append(piece)
                if request.stop is not None and request.stop("".join(pieces)):
                    reply.stopped_early = True
                    break
        except ProviderError as exc:
            key = self.model.api_key()
            if key and key in str(exc):
                # Error messages end up in logs and in the model's hash: never with the key.
                redacted = str(exc).replace(key, "[redacted]")
                raise type(exc)(redacted, status=exc.status, kind=exc.kind) from None
            raise
        finally:
            stream.close()
        reply.text = "".join(pieces)
        reply.elapsed_ms = (time.monotonic() - start) * 1000
        return reply

    def cap(self, request: Request) -> Request:
        """``request`` cut to the model's context cap: ``max_context`` characters by default."""
        prefix, suffix = cap_context(request.prefix, request.suffix, self.model.max_context)
        return replace(request, prefix=prefix, suffix=suffix)

    @abstractmethod
    def build(self, request: Request) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(url, headers, JSON body) of the HTTP request."""

    @abstractmethod
    def parse(self, stream: HTTPStream, reply: Reply) -> Iterator[str]:
        """The text pieces of a streamed response; fills token counts into ``reply``."""

    def url(self, path: str) -> str:
        """``path`` (starting with /v1/) under the model's endpoint, which may end in /v1."""
        base = self.model.base_url
        if base.endswith("/v1") and path.startswith("/v1/"):
            path = path[3:]
        return base + path

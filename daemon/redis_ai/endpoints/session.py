"""One editor connection, whatever its transport: the protocol's methods and the outbox.

Transports (epc.py, rpc.py) decode frames and call ``Session.handle(method, params)``; pushes go
through a bounded outbox drained by the session's own thread, so an editor that stops reading
can never block the result router or any other client.
"""

from __future__ import annotations

import logging
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import analytics
from ..errors import BadEvent
from ..lisp import service
from ..schema import MAX_FIELD, StreamEvent, stream_event
from . import handshake

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger(__name__)

PROTOCOL = 1
OUTBOX = 256
_CLIENT_ID = re.compile(r"^c-[0-9a-f]{6,32}$")
_FEEDBACK = frozenset(analytics.FEEDBACK_ACTIONS)
_LISP_METHODS = frozenset({"lisp_define", "lisp_list", "lisp_show", "lisp_remove", "lisp_run"})


class Session:
    """The state of one connection: who it is, and the pushes waiting to be written to it."""

    def __init__(
        self, daemon: Daemon, transport: str, write: Callable[[dict[str, Any]], None],
        *, require_token: bool,
    ) -> None:
        self.daemon = daemon
        self.transport = transport
        self.require_token = require_token
        self.client: str | None = None
        self.editor = ""
        self.events = 0
        self.dropped_pushes = 0
        self._write = write
        self._closed = False
        self._nonces: tuple[str, str] | None = None  # (the editor's, ours) of the last challenge
        self._pending: list[StreamEvent] = []
        self._outbox: queue.Queue[dict[str, Any] | None] = queue.Queue(OUTBOX)
        self._sender = threading.Thread(target=self._drain, name=f"{transport}-push", daemon=True)
        self._sender.start()

    # -- editor -> daemon ------------------------------------------------------------------
    def handle(self, method: str, params: Any) -> Any:
        """Run one protocol method; raises BadEvent with a protocol error code when unfit."""
        if method == "challenge":
            return self.challenge(params)
        if method == "hello":
            return self.hello(params)
        if self.client is None:
            code = "unauthorized" if self.require_token else "hello_first"
            raise BadEvent(code, f"call 'hello' before {method!r}")
        if method == "event":
            return self.event(params)
        if method == "feedback":
            return self.feedback(params)
        if method == "status":
            return self.daemon.status(connection=self.describe())
        if method == "search":
            return self.search(params)
        if method in _LISP_METHODS:
            return self.lisp(method, params)
        if method == "lisp_evolve":
            # Seconds of work: a job of its own pushing to this session, unless asked to wait.
            return service.evolve_request(self.daemon.client, params, self._job_push)
        if method == "bye":
            self.close()
            return {}
        raise BadEvent("unknown_method", f"no method {method!r}")

    def challenge(self, params: Any) -> dict[str, str]:
        """Prove to the editor that we hold the token, before it says anything (handshake.py)."""
        nonce = params.get("nonce") if isinstance(params, dict) else None
        if not isinstance(nonce, str) or not handshake.NONCE.match(nonce):
            raise BadEvent("bad_value", "challenge takes {nonce: 32 to 128 lowercase hex digits}")
        self._nonces = (nonce, handshake.new_nonce())
        return {"nonce": self._nonces[1],
                "proof": handshake.proof(self.daemon.token, "daemon", *self._nonces)}

    def hello(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise BadEvent("bad_type", "hello takes a map")
        if self.require_token:
            self._authenticate(params)
        protocol = params.get("protocol", PROTOCOL)
        if protocol != PROTOCOL:
            raise BadEvent("bad_version", f"protocol {protocol!r} is not supported (want {PROTOCOL})")
        wanted = params.get("client")
        if self.client is None:
            self.client = wanted if isinstance(wanted, str) and _CLIENT_ID.match(wanted) else (
                "c-" + secrets.token_hex(6))
            self.daemon.attach(self)
        editor = params.get("editor")
        self.editor = editor if isinstance(editor, str) else ""
        self.push(self.daemon.status_push())
        return self.daemon.hello_info(self.client)

    def _authenticate(self, params: dict[str, Any]) -> None:
        """Take the proof answering our ``challenge`` (each nonce serves once), or the token."""
        nonces, self._nonces = self._nonces, None
        if "proof" in params:
            if nonces is None:
                raise BadEvent("unauthorized", "a proof needs a 'challenge' first")
            client, ours = nonces
            if not handshake.valid(handshake.proof(self.daemon.token, "client", ours, client),
                                   params["proof"]):
                raise BadEvent("unauthorized", "wrong proof (see daemon.json)")
            return
        # The raw token, for scripts; an editor must not send it to a port it has not checked.
        if not handshake.valid(self.daemon.token, params.get("token")):
            raise BadEvent("unauthorized", "missing or wrong token (see daemon.json)")

    def event(self, params: Any) -> dict[str, Any]:
        """Validate an event map; it reaches the writer at the next ``flush``."""
        self._pending.append(stream_event(params))
        return {}

    def valid_event(self, event: StreamEvent) -> None:
        """Take an event the transport's fast path already validated (schema.decode_event)."""
        self._pending.append(event)

    def flush(self) -> None:
        """Hand the events of one read to the writer together (one lock round, one wake-up)."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        now = time.time() * 1000
        client = self.client
        assert client is not None
        latest: dict[str, int] = {}
        for event in pending:
            event.client = client
            event.received = now
            latest[event.buffer] = event.tick
        for buffer, tick in latest.items():
            self.daemon.router.note_event(client, buffer, tick)
        self.daemon.writer.submit_many(pending)
        self.events += len(pending)

    def feedback(self, params: Any) -> dict[str, Any]:
        """Record what the user did with a suggestion: shown, accepted (partly) or dismissed.

        Every field is type-checked before it is used, as events are: a list or map where a
        string belongs is ``bad_type``, never a failure inside the daemon.
        """
        if type(params) is not dict:
            raise BadEvent("bad_type", f"feedback takes a map, not {type(params).__name__}")
        for name in ("action", "analyzer", "suggestion"):
            value = params.get(name)
            if value is None:
                if name != "suggestion":
                    raise BadEvent("missing_field", f"feedback field {name!r} is required")
                continue
            if type(value) is not str:
                raise BadEvent("bad_type", f"feedback field {name!r} must be a string")
            if len(value) > MAX_FIELD:
                raise BadEvent("too_large", f"feedback field {name!r} is larger than {MAX_FIELD}")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:  # lone surrogates: invalid UTF-8 from the decoder
                    raise BadEvent("bad_utf8", f"feedback field {name!r} is not valid UTF-8") from None
        action, analyzer = params["action"], params["analyzer"]
        if action not in _FEEDBACK:
            raise BadEvent("bad_value", f"action must be one of {sorted(_FEEDBACK)}")
        if not analyzer or len(analyzer) > 128:
            raise BadEvent("bad_value", "analyzer must name the analyzer that made the suggestion")
        self.daemon.record_feedback(analyzer, action)
        return {}

    def search(self, params: Any) -> dict[str, Any]:
        """Find the indexed code nearest in meaning to a query (docs/search.md)."""
        # Imported here: numpy and the index load on the first search, not at every start-up.
        from ..search.service import search_request

        return search_request(self.daemon.client, params)

    def lisp(self, method: str, params: Any) -> dict[str, Any]:
        """Define, list, show, remove or try a stored Lisp program (docs/lisp.md)."""
        handler = {"lisp_define": service.define_request, "lisp_list": service.list_request,
                   "lisp_show": service.show_request, "lisp_remove": service.remove_request,
                   "lisp_run": service.run_request}[method]
        return handler(self.daemon.client, params)

    def _job_push(self, message: dict[str, Any]) -> None:
        """Push what a job (``lisp_evolve``) reports, unless the editor has hung up since."""
        if not self._closed:
            self.push(message)

    def describe(self) -> dict[str, Any]:
        return {"client": self.client, "transport": self.transport, "editor": self.editor,
                "events": self.events, "dropped_pushes": self.dropped_pushes}

    # -- daemon -> editor ------------------------------------------------------------------
    def push(self, message: dict[str, Any]) -> None:
        """Queue a push; if the editor is not reading, the oldest waiting push is dropped."""
        while True:
            try:
                self._outbox.put_nowait(message)
                return
            except queue.Full:
                try:
                    self._outbox.get_nowait()
                    self.dropped_pushes += 1
                except queue.Empty:
                    pass

    def _drain(self) -> None:
        while True:
            try:
                message = self._outbox.get(timeout=1.0)
            except queue.Empty:
                if self._closed:
                    return
                continue
            if message is None:
                return
            try:
                self._write(message)
            except (OSError, ValueError) as exc:
                log.info("%s client %s gone: %s", self.transport, self.client, exc)
                return
            except Exception:
                log.exception("could not push to %s client %s", self.transport, self.client)

    def close(self) -> None:
        """Detach from the daemon, write what is queued (an error may explain the hang-up), stop."""
        if self._closed:
            return
        self._closed = True
        if self.client is not None:
            self.daemon.detach(self)
        try:
            self._outbox.put_nowait(None)
        except queue.Full:
            pass  # the editor is not reading; the sender sees _closed after its current write
        if threading.current_thread() is not self._sender:
            self._sender.join(1.0)

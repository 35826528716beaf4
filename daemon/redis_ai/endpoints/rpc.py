"""The msgpack-RPC endpoint on a unix socket, for Neovim (``sockconnect(..., {rpc = true})``).

Framing: a stream of msgpack arrays. Requests [0, msgid, method, [params]] are answered with
[1, msgid, error, result]; notifications [2, method, [params]] are not. Pushes to Neovim are
notifications of ``nvim_exec_lua`` running the plugin's fixed ``on_push`` with the push as data.
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from ..errors import BadEvent
from ..schema import decode_event
from . import allocator
from .faults import FaultLog
from .session import Session

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger(__name__)
faults = FaultLog(log)

PUSH_LUA = "return require('redis_ai.rpc').on_push(...)"
MAX_FRAME = 4 << 20  # a 1 MiB text window, escaped, fits several times over
# How every event notification [2, "event", [event]] starts: fixarray(3), 2, fixstr "event",
# fixarray(1). The event map follows.
_EVENT_HEAD = msgpack.packb([2, "event", [None]])[:-1]
# Requests that read Redis and whose order relative to events does not matter.
# Bad frames one read may hold before the connection is closed (well under the outbox's 256
# pushes, so the error that explains the hang-up is not itself dropped).
MAX_REFUSED = 64
_SLOW_REQUESTS = frozenset({"status", "search", "lisp_define", "lisp_list", "lisp_show",
                            "lisp_remove", "lisp_run", "lisp_evolve"})


class _Connection(socketserver.BaseRequestHandler):
    server: RPCServer
    request: socket.socket

    def setup(self) -> None:
        self._lock = threading.Lock()
        self._replies: list[list[Any]] = []
        self._deferred: list[list[Any]] = []
        self._refused = 0
        self.session = Session(self.server.daemon, "msgpack-rpc", self._write, require_token=False)

    def _write(self, push: dict[str, Any]) -> None:
        self._send([2, "nvim_exec_lua", [PUSH_LUA, [push]]])

    def _send(self, message: list[Any]) -> None:
        data = msgpack.packb(message, unicode_errors="surrogateescape")
        with self._lock:
            self.request.sendall(data)

    def handle(self) -> None:
        # The scanner only finds where each frame ends (``skip`` builds no objects); the frames
        # themselves are decoded from ``buffer``: event notifications by schema.decode_event
        # straight into checked StreamEvents, anything else by msgpack into plain objects.
        scanner = msgpack.Unpacker(raw=True, max_buffer_size=MAX_FRAME)
        buffer = bytearray()
        base = 0  # the stream offset of buffer[0]
        while True:
            try:
                data = self.request.recv(1 << 18)
            except OSError:
                return
            if not data:
                return
            with self.server.turn:
                try:
                    scanner.feed(data)
                    buffer += data
                    start = 0  # where the next frame starts in buffer: the last one's end
                    self._refused = 0  # frames of this read answered with an error
                    with memoryview(buffer) as view:
                        while True:
                            try:
                                scanner.skip()
                            except msgpack.OutOfData:
                                break  # (and tell() is then somewhere inside the partial frame)
                            end = scanner.tell() - base
                            self._frame(buffer, view, start, end)
                            if self._refused > MAX_REFUSED:
                                # A flood of bad frames would hold the turn, and so every
                                # other client, for as long as it takes to answer each one.
                                raise ValueError(f"more than {MAX_REFUSED} bad frames in one read")
                            start = end
                    done = start
                    del buffer[:done]
                    base += done
                    if len(buffer) > MAX_FRAME:
                        # Checked here, not left to the scanner: a frame of nested containers
                        # can keep the scanner busy without its buffer limit ever tripping.
                        raise ValueError(f"a frame larger than {MAX_FRAME >> 20} MiB")
                except Exception as exc:  # msgpack raises several unrelated types on garbage
                    # A byte stream that is not msgpack cannot be resynchronised: say why, hang up
                    # (after handing on the valid events that came before the fault).
                    self.session.flush()
                    self._reply_error(
                        None, BadEvent("bad_frame", f"not a msgpack-RPC stream: {exc}"))
                    faults.warning("msgpack-RPC client %s sent a bad stream, closed: %s",
                                   self.session.client, str(exc)[:200])
                    return
                self.session.flush()
            # Slow requests run after the turn, so one client's status or search (milliseconds
            # of Redis calls) never holds up the others' events.
            deferred, self._deferred = self._deferred, []
            for message in deferred:
                self.dispatch(message)
            # Replies are written after the turn: a client that does not read them may block
            # its own thread, never the others'.
            replies, self._replies = self._replies, []
            try:
                for reply in replies:
                    self._send(reply)
            except OSError:
                return  # the client hung up without reading its replies: nobody to tell

    def _frame(self, buffer: bytearray, view: memoryview, start: int, end: int) -> None:
        """Decode and dispatch the complete msgpack value at buffer[start:end]."""
        if buffer.startswith(_EVENT_HEAD, start) and self.session.client is not None:
            # The hot path: an event notification, validated while it is decoded.
            event = decode_event(view[start + 9:end])
            if event is not None:
                self.session.valid_event(event)
                return
        # Any other message, and events the fast path refused (the slow path names the fault).
        try:
            message = msgpack.unpackb(
                view[start:end], raw=False, unicode_errors="surrogateescape", strict_map_key=False)
        except Exception as exc:  # e.g. a map keyed by arrays: well-formed, but no Python dict
            # The frame's end is known, so only this frame is lost, not the connection.
            self._reply_error(None, BadEvent("bad_frame", f"undecodable msgpack value: {exc}"))
            return
        if (type(message) is list and len(message) == 4 and type(message[2]) is str
                and message[2] in _SLOW_REQUESTS):
            self._deferred.append(message)
            return
        self.dispatch(message)

    def dispatch(self, message: Any) -> None:
        if (type(message) is list and len(message) == 3 and message[1] == "event"
                and message[0] == 2 and self.session.client is not None):
            # An event the fast path refused: validate_event names what is wrong with it.
            try:
                self.session.event(message[2][0] if message[2] else None)
            except BadEvent as exc:
                self._reply_error(None, exc, "event")
            except (TypeError, IndexError, KeyError):
                self._reply_error(None, BadEvent("bad_frame", "malformed event notification"),
                                  "event")
            return
        if not isinstance(message, list) or not message or message[0] not in (0, 1, 2):
            self._reply_error(None, BadEvent("bad_frame", "expected a msgpack-RPC array"))
            return
        kind = message[0]
        if kind == 1:
            return  # replies to our notifications do not exist; Neovim sends none
        if kind == 0 and len(message) == 4 and isinstance(message[2], str):
            msgid, method, params = message[1], message[2], message[3]
        elif kind == 2 and len(message) == 3 and isinstance(message[1], str):
            msgid, method, params = None, message[1], message[2]
        else:
            self._reply_error(None, BadEvent("bad_frame", "malformed msgpack-RPC message"))
            return
        if method == "nvim_error_event":
            faults.warning("neovim reported an error running a push: %.500r", params)
            return
        arg = params[0] if isinstance(params, list) and params else {}
        try:
            result = self.session.handle(method, arg)
        except BadEvent as exc:
            self._reply_error(msgid, exc, method)
            return
        except Exception as exc:
            faults.error(f"{method} failed", exc)
            self._reply_error(msgid, BadEvent("internal", f"{method} failed inside the daemon"), method)
            return
        if msgid is not None:
            self._replies.append([1, msgid, None, result])

    def _reply_error(self, msgid: Any, exc: BadEvent, method: str | None = None) -> None:
        self._refused += 1
        if msgid is not None:
            self._replies.append([1, msgid, {"code": exc.code, "message": exc.message}, None])
        else:
            self.session.push(exc.as_push(method))

    def finish(self) -> None:
        self.session.close()


class RPCServer(socketserver.ThreadingUnixStreamServer):
    """Serves Neovim clients on ``path`` (inside the 0700 runtime folder)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, path: Path, daemon: Daemon) -> None:
        allocator.return_large_blocks()  # frames of up to 4 MiB must not stay resident
        self.daemon = daemon
        # Connections take turns at decoding and writing a read's worth of events: two threads
        # doing that CPU-bound work at once pay for fighting over the GIL, per event.
        self.turn = threading.Lock()
        self.path = path
        if path.exists():
            path.unlink()
        old = os.umask(0o077)
        try:
            super().__init__(str(path), _Connection)
        finally:
            os.umask(old)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver's default prints a traceback per failed connection.
        faults.error("a msgpack-RPC connection failed", sys.exc_info()[1] or RuntimeError())

"""The EPC endpoint on loopback TCP, for Emacs (epc.el), built on the ``epc`` package.

Each method takes and returns one JSON string (docs/protocol.md). The first call must be
``hello`` with the token from daemon.json. Pushes are EPC calls of the Emacs-side method ``push``.

Three things from measurements on this machine shape the handler: requests are handled in the
connection's own thread in arrival order (the per-message threads of ThreadingEPCHandler reorder
them, and we never call back into Emacs synchronously, which is what they exist for); TCP_NODELAY
is set and TCP_QUICKACK re-armed after every read, or Nagle on one side and delayed ACKs on the
other stall each exchange by 40-90 ms; writes from the push thread and the reader thread are
serialised by a lock so frames never interleave.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

from epc.handler import BaseRemoteError, EPCClosed, EPCHandler
from epc.server import ThreadingEPCServer

from ..errors import BadEvent
from . import allocator
from .faults import FaultLog
from .session import Session

if TYPE_CHECKING:
    from ..daemon import Daemon

log = logging.getLogger(__name__)
faults = FaultLog(log)
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class _Connection(EPCHandler):
    server: EPCServer

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._lock = threading.Lock()
        self.session = Session(self.server.daemon, "epc", self._write, require_token=True)

    def _rfile_read_safely(self, size: int) -> bytes:
        data: bytes = super()._rfile_read_safely(size)
        if _QUICKACK is not None:
            try:
                self.request.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass
        return data

    def _send(self, *args: Any) -> None:
        with self._lock:
            super()._send(*args)

    def _write(self, push: dict[str, Any]) -> None:
        try:
            self.call("push", [json.dumps(push, ensure_ascii=False)])
        except EPCClosed:
            # The epc package's word for a closed connection: the session's "client gone".
            raise ConnectionError("connection closed") from None

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            return  # the client hung up (maybe while a reply was written): nobody to tell
        except (ValueError, StopIteration, RuntimeError) as exc:
            # A length header that is not hex leaves no way to find the next frame: say why, hang up.
            faults.warning("EPC client %s sent an unreadable frame, closed: %s",
                           self.session.client, str(exc)[:200])
            try:
                self._send("epc-error", [], f"bad_frame: unreadable EPC frame ({exc})")
            except Exception:
                pass

    def handle_error(self, err: Exception) -> bool:
        """The epc package's hook for a frame it could not read or run: one line, no traceback.

        Returns True when nothing is to be sent back (as the package does: replies to calls
        of ours that we did not make, and a closed connection); otherwise the caller answers
        the frame with ``epc-error``.
        """
        if isinstance(err, EPCClosed):
            return True
        faults.warning("EPC client %s sent a bad frame: %.200r", self.session.client, err)
        return isinstance(err, BaseRemoteError)

    def _handle_call(self, uid: Any, meth: Any, args: Any) -> list[Any]:
        name = meth.value() if hasattr(meth, "value") else str(meth)
        try:
            if type(args) is not list or len(args) != 1 or type(args[0]) is not str:
                raise BadEvent("bad_frame", "each method takes one JSON string")
            try:
                params = json.loads(args[0])
            except ValueError as exc:
                raise BadEvent("bad_frame", f"argument is not JSON: {exc}") from None
            result = self.session.handle(name, params)
            self.session.flush()
        except BadEvent as exc:
            self.session.push(exc.as_push(name))
            return ["return-error", uid, f"{exc.code}: {exc.message}"]
        except Exception as exc:
            faults.error(f"{name} failed", exc)
            return ["return-error", uid, f"internal: {name} failed inside the daemon"]
        return ["return", uid, json.dumps(result, ensure_ascii=False)]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.session.close()


class EPCServer(ThreadingEPCServer):
    """Serves Emacs clients on 127.0.0.1 and an ephemeral port."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, daemon: Daemon, host: str = "127.0.0.1", port: int = 0) -> None:
        allocator.return_large_blocks()  # large frames must not stay resident once read
        self.daemon = daemon
        super().__init__((host, port))
        self.RequestHandlerClass = _Connection

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The package's default logs a traceback per failed connection.
        faults.error("an EPC connection failed", sys.exc_info()[1] or RuntimeError())

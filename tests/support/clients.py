"""Real protocol clients for tests: msgpack-RPC over the unix socket (as Neovim speaks it) and
EPC over TCP (with the epc package's client, as epc.el speaks it)."""

from __future__ import annotations

import json
import queue
import socket
import time
from collections.abc import Callable
from typing import Any

import msgpack
from epc.client import EPCClient

Push = dict[str, Any]


def event(**fields: Any) -> dict[str, Any]:
    """A valid Python event, overridable field by field."""
    base = {"v": 1, "editor": "test", "buffer": "1", "file": "/tmp/sample.py", "mode": "python",
            "line": 1, "col": 0, "tick": 1, "text": "x = 1\n", "whole": True}
    base.update(fields)
    return base


class RPCClient:
    """msgpack-RPC client; collects the daemon's nvim_exec_lua pushes."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.sock.settimeout(0.2)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.pushes: list[Push] = []
        self.replies: dict[int, list[Any]] = {}
        self.closed = False
        self._msgid = 0

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def notify(self, method: str, params: Any) -> None:
        self.sock.sendall(msgpack.packb([2, method, [params]], unicode_errors="surrogateescape"))

    def request(self, method: str, params: Any, timeout: float = 5.0) -> list[Any]:
        self._msgid += 1
        msgid = self._msgid
        self.sock.sendall(msgpack.packb([0, msgid, method, [params]]))
        deadline = time.monotonic() + timeout
        while msgid not in self.replies:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply to {method}")
            self.poll()
        return self.replies.pop(msgid)

    def hello(self) -> dict[str, Any]:
        err, result = self.request("hello", {"protocol": 1, "editor": "test"})
        assert err is None, err
        return result

    def poll(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except TimeoutError:
            return
        except ConnectionResetError:
            data = b""  # the daemon hung up with our bytes unread: closed, as with EOF
        if not data:
            self.closed = True
            time.sleep(0.05)
            return
        self.unpacker.feed(data)
        for msg in self.unpacker:
            if msg[0] == 1:
                self.replies[msg[1]] = [msg[2], msg[3]]
            elif msg[0] == 2 and msg[1] == "nvim_exec_lua":
                self.pushes.append(msg[2][1][0])

    def wait(self, pred: Callable[[Push], bool], timeout: float = 5.0) -> Push:
        """The first push (received so far or within ``timeout``) that satisfies ``pred``."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for push in self.pushes[seen:]:
                if pred(push):
                    self.pushes.remove(push)
                    return push
            seen = 0
            if time.monotonic() > deadline or self.closed:
                raise TimeoutError(f"no matching push; got {self.pushes}")
            self.poll()

    def close(self) -> None:
        self.sock.close()


class EPCTestClient:
    """EPC client: methods take and return JSON strings; pushes arrive as calls of ``push``."""

    def __init__(self, port: int) -> None:
        self.client = EPCClient(("127.0.0.1", port))
        self.pushes: queue.Queue[Push] = queue.Queue()
        self.client.register_function(self._push, "push")
        self.kept: list[Push] = []

    def _push(self, payload: str) -> bool:
        self.pushes.put(json.loads(payload))
        return True

    def call(self, method: str, params: Any, timeout: float = 5.0) -> Any:
        return json.loads(self.client.call_sync(method, [json.dumps(params)], timeout=timeout))

    def hello(self, token: str) -> dict[str, Any]:
        return self.call("hello", {"protocol": 1, "editor": "test", "token": token})

    def wait(self, pred: Callable[[Push], bool], timeout: float = 5.0) -> Push:
        for push in list(self.kept):
            if pred(push):
                self.kept.remove(push)
                return push
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching push; kept {self.kept}")
            try:
                push = self.pushes.get(timeout=left)
            except queue.Empty:
                continue
            if pred(push):
                return push
            self.kept.append(push)

    def close(self) -> None:
        # In this order neither of the epc package's threads dies with an exception or waits:
        # shutting the read side makes its reader thread see end-of-file and end the handler's
        # loop, whose finish() can still flush on the open write side.
        sock = self.client.socket
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        reader = getattr(self.client.handler, "_recv_iter", None)
        if reader is not None:
            reader.thread.join(2)
        self.client.close()
        self.client.handler_thread.join(2)
        sock.close()

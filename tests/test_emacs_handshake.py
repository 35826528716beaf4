"""The EPC handshake (docs/protocol.md, "Handshake"): Emacs gives neither its token nor any code
to a server that has not proven it holds the token of the 0600 discovery file.

A real batch Emacs against a real daemon; the impostor is a real listener on the daemon's freed
loopback port, as any local user could start, that answers like a daemon and keeps every byte.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from redis_ai.endpoints import handshake
from tests.support.clients import EPCTestClient
from tests.test_emacs import EMACS, run_emacs, run_ert

pytestmark = pytest.mark.skipif(EMACS is None, reason="emacs is not installed")


class Impostor:
    """A stranger's EPC server on a freed port: answers each call with a made-up nonce and proof
    (also fit to pass for a hello reply) and records everything it receives."""

    def __init__(self, port: int) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen()
        self.received = bytearray()
        self.connections = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffered = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    self.received += data
                buffered += data
                while len(buffered) >= 6 and len(buffered) >= 6 + int(buffered[:6], 16):
                    size = int(buffered[:6], 16)
                    frame, buffered = buffered[6:6 + size], buffered[6 + size:]
                    call = re.match(rb"\(call (\d+) ", frame)
                    if call:
                        answer = json.dumps({"nonce": secrets.token_hex(16),
                                             "proof": secrets.token_hex(32),
                                             "client": "c-0123456789ab"})
                        quoted = answer.replace("\\", "\\\\").replace('"', '\\"')
                        body = b"(return " + call.group(1) + b' "' + quoted.encode() + b'")'
                        conn.sendall(b"%06x" % len(body) + body)

    def stop(self) -> None:
        self.server.close()


def _rewrite_pid(runtime: Path, pid: int) -> None:
    path = runtime / "daemon.json"
    data = json.loads(path.read_text())
    data["pid"] = pid
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.chmod(0o600)
    os.replace(tmp, path)


def test_emacs_hmac_is_python_hmac() -> None:
    cases = [("key", "The quick brown fox jumps over the lazy dog"), ("", ""),
             ("k" * 64, "block-sized key"), ("k" * 100, "a key longer than a block"),
             (secrets.token_hex(16), "daemon:" + secrets.token_hex(16) + ":" + secrets.token_hex(16)),
             ("clé", "naïve ☃")]
    forms = " ".join(f"(princ (redis-ai-hmac-sha256 {json.dumps(k)} {json.dumps(m)})) (terpri)"
                     for k, m in cases)
    rc, output = run_emacs(["-l", "redis-ai-connection", "--eval", f"(progn {forms})"],
                           env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    assert rc == 0, output
    got = [line for line in output.splitlines() if re.fullmatch(r"[0-9a-f]{64}", line)]
    assert got == [hmac.new(k.encode(), m.encode(), hashlib.sha256).hexdigest() for k, m in cases]


def test_daemon_proves_itself_and_takes_a_proof_once(daemon: Any) -> None:
    token, port = daemon.discovery["token"], daemon.discovery["epc_port"]
    ours = secrets.token_hex(16)
    client = EPCTestClient(port)
    try:
        with pytest.raises(Exception, match="unauthorized"):
            client.call("hello", {"protocol": 1, "proof": "0" * 64})  # no challenge yet
        answer = client.call("challenge", {"nonce": ours})
        assert answer["proof"] == handshake.proof(token, "daemon", ours, answer["nonce"])
        assert token not in json.dumps(answer)
        with pytest.raises(Exception, match="unauthorized: wrong proof"):
            client.call("hello", {"protocol": 1, "proof": handshake.proof(
                "not-the-token", "client", answer["nonce"], ours)})
        # The nonce was spent by the wrong proof: the right one for it no longer works.
        with pytest.raises(Exception, match="unauthorized"):
            client.call("hello", {"protocol": 1, "proof": handshake.proof(
                token, "client", answer["nonce"], ours)})
        with pytest.raises(Exception, match="bad_value"):
            client.call("challenge", {"nonce": "short"})
        answer = client.call("challenge", {"nonce": ours})
        # The daemon's own proof, sent back, is not a client's proof.
        with pytest.raises(Exception, match="unauthorized"):
            client.call("hello", {"protocol": 1, "proof": answer["proof"]})
        answer = client.call("challenge", {"nonce": ours})
        hello = client.call("hello", {"protocol": 1, "editor": "test", "proof": handshake.proof(
            token, "client", answer["nonce"], ours)})
        assert hello["client"].startswith("c-")
    finally:
        client.close()


def test_impostor_on_the_freed_port_gets_no_token_and_no_code(daemon: Any) -> None:
    impostors: list[Impostor] = []
    old = daemon.discovery

    def impostor() -> None:
        daemon.kill()  # SIGKILL: the discovery file stays, naming the freed port
        impostors.append(Impostor(old["epc_port"]))
        _rewrite_pid(daemon.runtime_dir, os.getpid())  # the dead daemon's pid, reused

    def restore() -> None:
        impostors[0].stop()
        daemon.start()

    try:
        run_ert(["redis-ai-handshake-test"], "(tag impostor)", daemon.env,
                {"impostor": impostor, "daemon": restore})
    finally:
        for one in impostors:
            one.stop()
    received = bytes(impostors[0].received)
    assert impostors[0].connections >= 2 and b"challenge" in received
    assert old["token"].encode() not in received and daemon.discovery["token"].encode() not in received
    assert b"SECRET" not in received and b"hello" not in received and b"event" not in received


def test_stale_discovery_file_is_not_connected_to(daemon: Any) -> None:
    impostors: list[Impostor] = []

    def stale() -> None:
        port = daemon.discovery["epc_port"]
        daemon.kill()
        impostors.append(Impostor(port))

    def restore() -> None:
        impostors[0].stop()
        daemon.start()

    try:
        run_ert(["redis-ai-handshake-test"], "(tag stale)", daemon.env,
                {"stale": stale, "daemon": restore})
    finally:
        for one in impostors:
            one.stop()
    assert impostors[0].connections == 0

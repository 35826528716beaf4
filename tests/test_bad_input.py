"""Bad input through a real daemon: feedback fields of the wrong type, and what the log says
about malformed frames on both endpoints."""

from __future__ import annotations

import random
import socket

import pytest

from redis_ai import keys
from redis_ai.endpoints import faults
from tests.support import fuzz
from tests.support.clients import EPCTestClient, RPCClient

ODD_FEEDBACK = [
    ({"action": ["accepted"], "analyzer": "fixed_completion"}, "bad_type"),
    ({"action": {"accepted": 1}, "analyzer": "fixed_completion"}, "bad_type"),
    ({"action": "accepted", "analyzer": ["fixed_completion"]}, "bad_type"),
    ({"action": "accepted", "analyzer": {"a": 1}}, "bad_type"),
    ({"action": "accepted", "analyzer": "fixed_completion", "suggestion": [1, 2]}, "bad_type"),
    ({"action": "shown", "analyzer": "fixed_completion", "suggestion": {"id": "x"}}, "bad_type"),
    ({"action": 3, "analyzer": "fixed_completion"}, "bad_type"),
    ([], "bad_type"),
    ("accepted", "bad_type"),
    ({"analyzer": "fixed_completion"}, "missing_field"),
    ({"action": "accepted"}, "missing_field"),
    ({"action": "maybe", "analyzer": "fixed_completion"}, "bad_value"),
    ({"action": "accepted", "analyzer": ""}, "bad_value"),
    ({"action": "accepted", "analyzer": "x" * 200}, "bad_value"),
    ({"action": "accepted", "analyzer": "a\udcff"}, "bad_utf8"),
    ({"action": "accepted", "analyzer": "a", "suggestion": "s" * 5000}, "too_large"),
]


def test_odd_feedback_is_named_over_msgpack_rpc(daemon):
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        for msgid, (params, code) in enumerate(ODD_FEEDBACK, 100):
            # Packed by hand: invalid UTF-8 (a lone surrogate here) must reach the daemon as such.
            client.send_raw(fuzz.rpc_request(msgid, "feedback", params))
            while msgid not in client.replies:
                client.poll()
            err, _ = client.replies.pop(msgid)
            assert err is not None and err["code"] == code, (params, err)
    finally:
        client.close()


def test_odd_feedback_is_named_over_epc_and_shown_is_recorded(daemon):
    client = EPCTestClient(daemon.discovery["epc_port"])
    try:
        client.hello(daemon.discovery["token"])
        for params, code in ODD_FEEDBACK:
            if code == "bad_utf8":
                continue  # JSON from Emacs is always valid UTF-8 once it reaches the daemon
            with pytest.raises(Exception) as failure:
                client.call("feedback", params)
            assert str(failure.value).startswith(f"{code}:"), (params, failure.value)
        assert client.call("feedback", {"action": "shown", "analyzer": "fixed_completion",
                                        "suggestion": "1-0/fixed_completion"}) == {}
    finally:
        client.close()
    members = daemon.redis.zrange(keys.stat("feedback", "fixed_completion"), 0, -1)
    assert [m.split(b":", 1)[1] for m in members] == [b"shown"]


def test_malformed_frames_log_one_line_each_and_no_traceback(daemon):
    discovery = daemon.discovery
    rng = random.Random(7)
    hello_rpc = fuzz.rpc_request(1, "hello", {"protocol": 1})
    hello_epc = fuzz.epc_call(1, "hello", {"protocol": 1, "token": discovery["token"]})
    for i in range(60):
        # Each one hangs up without reading: the daemon's answer meets a closed socket.
        fuzz.send(socket.AF_UNIX, discovery["rpc_socket"],
                  hello_rpc + fuzz.rpc_request(2, "feedback", [i]) + b"\xc1", read=i % 2 == 0)
        fuzz.send(socket.AF_INET, ("127.0.0.1", discovery["epc_port"]),
                  hello_epc + fuzz.epc_garbage(rng), read=i % 2 == 0)
        fuzz.send(socket.AF_INET, ("127.0.0.1", discovery["epc_port"]),
                  fuzz.epc_frame(b"(call 1 hello 5)"), read=False)
    client = RPCClient(discovery["rpc_socket"])
    try:
        client.hello()
        assert client.request("status", {})[0] is None  # the daemon still answers
    finally:
        client.close()
    log = daemon.log.read_text()
    assert "Traceback" not in log
    assert "internal" not in log
    # Rate-limited: the endpoints' fault lines are bounded per window, whatever the clients do.
    endpoint_lines = [line for line in log.splitlines() if "redis_ai.endpoints.epc" in line
                      or "redis_ai.endpoints.rpc" in line]
    assert len(endpoint_lines) <= 2 * faults.LINES_PER_WINDOW


def test_fault_log_writes_a_bounded_number_of_lines(caplog):
    import logging

    log = faults.FaultLog(logging.getLogger("test.faults"), lines=3, window_s=3600)
    with caplog.at_level(logging.WARNING, logger="test.faults"):
        for i in range(10):
            log.warning("bad frame %d", i)
        try:
            raise ValueError("boom")
        except ValueError as exc:
            log.error("feedback failed", exc)
    assert [r.getMessage() for r in caplog.records] == [
        "bad frame 0", "bad frame 1", "bad frame 2"]
    assert log.suppressed == 8

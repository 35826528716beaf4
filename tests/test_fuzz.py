"""Fuzzing a real daemon over both transports: odd requests by the thousand (hypothesis) never
fail inside the daemon, and malformed frames by the hundred leave its memory where it was."""

from __future__ import annotations

import json
import random
import socket
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import fuzz
from tests.support.clients import EPCTestClient, RPCClient, event

METHODS = ["hello", "event", "feedback", "status", "search", "lisp_define", "lisp_list",
           "lisp_show", "lisp_remove", "lisp_run", "challenge", "bye", "nope", ""]
FIELDS = ["action", "analyzer", "suggestion", "v", "editor", "buffer", "line", "col", "tick",
          "text", "query", "k", "root", "name", "source", "languages", "kind", "protocol",
          "client", "nonce", "token"]

_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
            | st.floats(allow_nan=False) | st.text(max_size=20)
            | st.sampled_from(["shown", "accepted", "dismissed", "fixed_completion", "", "a\udcff"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner,
                                         max_size=4), max_leaves=12)
# Maps with the protocol's field names reach past the first type check of every method.
_params = (_values | st.dictionaries(st.sampled_from(FIELDS), _values, max_size=6)
           | st.fixed_dictionaries({}, optional={name: _values for name in FIELDS[:3]}))
_requests = st.lists(st.tuples(st.sampled_from(METHODS) | st.text(max_size=8), _params),
                     min_size=8, max_size=40)


def _json_safe(value: object) -> bool:
    try:
        json.dumps(value).encode()
    except (TypeError, ValueError, UnicodeEncodeError):
        return False
    return True


def test_odd_requests_never_fail_inside_the_daemon(daemon):
    """Thousands of odd requests over msgpack-RPC and EPC: every answer is a named error or a
    result, never ``internal``; the daemon stays up and another client is served throughout."""
    discovery = daemon.discovery
    bystander = RPCClient(discovery["rpc_socket"])
    bystander.hello()
    rpc = RPCClient(discovery["rpc_socket"])
    rpc.hello()
    epc = EPCTestClient(discovery["epc_port"])
    epc.hello(discovery["token"])
    sent = {"rpc": 0, "epc": 0}
    msgids = iter(range(1000, 10**9))

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests=_requests)
    def rpc_batch(requests: list[tuple[str, object]]) -> None:
        # A batch in one write, then every reply: under the 64 refused frames a read may hold.
        ids = []
        data = b""
        for method, params in requests:
            ids.append(next(msgids))
            data += fuzz.rpc_request(ids[-1], method, params)
        rpc.send_raw(data)
        deadline = time.monotonic() + 10
        while not all(i in rpc.replies for i in ids):
            assert time.monotonic() < deadline and not rpc.closed, "the daemon stopped answering"
            rpc.poll()
        for (method, params), i in zip(requests, ids, strict=True):
            err, _ = rpc.replies.pop(i)
            assert err is None or err["code"] != "internal", (method, params, err)
        sent["rpc"] += len(requests)

    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(method=st.sampled_from(METHODS), params=_params)
    def epc_call(method: str, params: object) -> None:
        if method == "bye" or not _json_safe(params):
            return
        try:
            epc.call(method, params)
        except Exception as exc:  # the epc package raises ReturnError for a return-error
            assert not str(exc).startswith("internal"), (method, params, exc)
        sent["epc"] += 1

    rpc_batch()
    epc_call()
    assert sent["rpc"] >= 2000 and sent["epc"] >= 200, sent

    # The bystander was not disturbed: its event is analyzed and answered as usual.
    bystander.notify("event", event(text="def f():\n    return 1\n", tick=9))
    assert bystander.wait(lambda p: p.get("type") == "result", timeout=10)
    for client in (rpc, bystander, epc):
        client.close()
    assert daemon.proc.poll() is None
    log = daemon.log.read_text()
    assert "Traceback" not in log and " failed: " not in log, log[-3000:]


def _flood(discovery: dict, connections: int, seed: int) -> None:
    """``connections`` fuzzing connections over both endpoints, from four threads at once."""
    def work(i: int) -> None:
        rng = random.Random(seed + i)
        for n in range(connections // 4):
            read = rng.random() < 0.5
            if n % 2:
                fuzz.send(socket.AF_UNIX, discovery["rpc_socket"], fuzz.rpc_garbage(rng), read)
            else:
                fuzz.send(socket.AF_INET, ("127.0.0.1", discovery["epc_port"]),
                          fuzz.epc_garbage(rng), read)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _settled_rss(pid: int) -> int:
    # Connection threads end shortly after their sockets close; let them.
    time.sleep(1.0)
    return fuzz.rss_kib(pid)


RSS_GROWTH_BOUND_KIB = 24 << 10
"""How much a fuzzed daemon may grow and keep; the unbounded allocator kept 40 MB and more."""


def test_memory_returns_after_malformed_frames_on_both_endpoints(daemon):
    discovery = daemon.discovery
    client = RPCClient(discovery["rpc_socket"])
    client.hello()
    # Warm up: the first connections import and cache what every later one uses.
    _flood(discovery, 16, seed=1)
    before = _settled_rss(daemon.pid)
    _flood(discovery, 240, seed=2)
    after = _settled_rss(daemon.pid)
    print(f"daemon RSS before {before >> 10} MiB, after 240 fuzz connections {after >> 10} MiB")
    assert after - before < RSS_GROWTH_BOUND_KIB, (before, after)
    # Still serving, on a connection opened before the flood.
    assert client.request("status", {})[0] is None
    client.close()

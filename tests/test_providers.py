"""LLM providers and routing against a local server speaking OpenAI's and Anthropic's wire formats."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from redis_ai import keys
from redis_ai.models import registry, routing
from redis_ai.models.providers import (
    Cancel,
    Cancelled,
    ProviderError,
    ProviderTimeout,
    Request,
    make,
)
from redis_ai.models.providers.base import Superseder, cap_context, clean_completion
from redis_ai.models.registry import Model
from tests.support.llm_server import Behaviour, LLMServer

SECRET = "sk-test-7f3a9c1e-never-stored"


@pytest.fixture
def server() -> Iterator[LLMServer]:
    srv = LLMServer().start()
    yield srv
    srv.stop()


def openai_model(server: LLMServer, prefix: str = "", **kw: object) -> Model:
    fields: dict = {"id": f"oa{prefix.replace('/', '-')}", "provider": "openai",
                    "endpoint": server.url(prefix), "model": "gpt-test", "api_key_env": "RAI_TEST_OPENAI_KEY"}
    fields.update(kw)
    return Model(**fields)


def anthropic_model(server: LLMServer, **kw: object) -> Model:
    fields: dict = {"id": "claude", "provider": "anthropic", "endpoint": server.url(),
                    "model": "claude-test", "api_key_env": "RAI_TEST_ANTHROPIC_KEY"}
    fields.update(kw)
    return Model(**fields)


# -- OpenAI-compatible -------------------------------------------------------------------------


def test_openai_chat_streams_text_and_sends_key_from_env(server, monkeypatch):
    monkeypatch.setenv("RAI_TEST_OPENAI_KEY", SECRET)
    server.on("/v1/chat/completions", Behaviour(pieces=["return", " x", " + 1"]))
    reply = make(openai_model(server)).complete(Request(prefix="def f(x):\n    ", suffix="\n", language="python"))
    assert reply.text == "return x + 1"
    assert (reply.tokens_in, reply.tokens_out) == (11, 3)
    seen = server.seen[0]
    assert seen.headers["authorization"] == f"Bearer {SECRET}"
    assert seen.body["stream"] is True and seen.body["model"] == "gpt-test"
    user = seen.body["messages"][-1]["content"]
    assert "def f(x):\n    <CURSOR>\n" in user


def test_openai_completions_endpoint_with_v1_base_and_no_key(server, monkeypatch):
    # Ollama and llama.cpp are configured with a base URL that already ends in /v1 and no key.
    monkeypatch.delenv("RAI_TEST_OPENAI_KEY", raising=False)
    server.on("/v1/completions", Behaviour(pieces=["ad(fp)"]))
    model = openai_model(server, "/v1", api="completions")
    reply = make(model).complete(Request(prefix="json.lo", suffix=")\n"))
    assert reply.text == "ad(fp)"
    seen = server.seen[0]
    assert seen.path == "/v1/completions"
    assert "authorization" not in seen.headers
    assert seen.body["prompt"] == "json.lo" and seen.body["suffix"] == ")\n"


def test_openai_error_body_becomes_provider_error(server):
    server.on("/v1/chat/completions", Behaviour(status=401, error={"error": {
        "message": "Incorrect API key provided", "type": "invalid_request_error",
        "param": None, "code": "invalid_api_key"}}))
    with pytest.raises(ProviderError) as err:
        make(openai_model(server)).complete(Request(prefix="x = "))
    assert err.value.status == 401
    assert "Incorrect API key provided" in str(err.value)
    assert err.value.kind == "invalid_request_error"


def test_openai_error_inside_the_stream(server):
    server.on("/v1/chat/completions", Behaviour(pieces=["a"], stream_error={"message": "overloaded", "type": "server_error"}))
    with pytest.raises(ProviderError, match="overloaded"):
        make(openai_model(server)).complete(Request(prefix="x = "))


# -- Anthropic ----------------------------------------------------------------------------------


def test_anthropic_messages_stream(server, monkeypatch):
    monkeypatch.setenv("RAI_TEST_ANTHROPIC_KEY", SECRET)
    server.on("/v1/messages", Behaviour(pieces=["items", ":\n", "        total += item"]))
    reply = make(anthropic_model(server)).complete(Request(prefix="for item in ", language="python"))
    assert reply.text == "items:\n        total += item"
    assert (reply.tokens_in, reply.tokens_out) == (25, 3)
    seen = server.seen[0]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == SECRET
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.body["stream"] is True and seen.body["max_tokens"] == 128
    assert seen.body["messages"][0]["role"] == "user" and "system" in seen.body


def test_anthropic_error_event_and_error_status(server, monkeypatch):
    monkeypatch.setenv("RAI_TEST_ANTHROPIC_KEY", SECRET)
    server.on("/v1/messages", Behaviour(pieces=["par"], stream_error={"type": "overloaded_error", "message": "Overloaded"}))
    with pytest.raises(ProviderError, match="Overloaded") as err:
        make(anthropic_model(server)).complete(Request(prefix="x"))
    assert err.value.kind == "overloaded_error"
    server.on("/v1/messages", Behaviour(status=529, error={"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}))
    with pytest.raises(ProviderError) as err:
        make(anthropic_model(server)).complete(Request(prefix="x"))
    assert err.value.status == 529


def test_anthropic_without_key_is_unavailable(server, monkeypatch):
    monkeypatch.delenv("RAI_TEST_ANTHROPIC_KEY", raising=False)
    assert not make(anthropic_model(server)).available()
    with pytest.raises(ProviderError, match="RAI_TEST_ANTHROPIC_KEY"):
        make(anthropic_model(server)).complete(Request(prefix="x"))
    assert server.seen == []


# -- timeouts, cancellation, early stop, context cap ---------------------------------------------


def test_slow_start_times_out(server):
    server.on("/v1/chat/completions", Behaviour(delay=5))
    with pytest.raises(ProviderTimeout):
        make(openai_model(server, timeout_ms=200)).complete(Request(prefix="x"))


def test_stall_mid_stream_times_out(server):
    server.on("/v1/chat/completions", Behaviour(pieces=["a", "b", "c"], stall_after=1))
    with pytest.raises(ProviderTimeout):
        make(openai_model(server, timeout_ms=300)).complete(Request(prefix="x"))


def test_cancel_interrupts_a_stalled_stream(server):
    server.on("/v1/chat/completions", Behaviour(pieces=["a", "b"], stall_after=1))
    request = Request(prefix="x")
    seen_first = threading.Event()
    request.stop = lambda text: seen_first.set() or False
    threading.Thread(target=lambda: seen_first.wait(5) and request.cancel.cancel()).start()
    with pytest.raises(Cancelled):
        make(openai_model(server, timeout_ms=10_000)).complete(request)


def test_superseder_cancels_the_older_request():
    sup = Superseder()
    first = sup.begin(("c-1", "a.py"))
    other = sup.begin(("c-1", "b.py"))
    second = sup.begin(("c-1", "a.py"))
    assert first.cancelled and not second.cancelled and not other.cancelled
    sup.end(("c-1", "a.py"), first)  # a late end of the old request must not drop the new one
    third = sup.begin(("c-1", "a.py"))
    assert second.cancelled and not third.cancelled


def test_stop_predicate_ends_stream_early(server):
    server.on("/v1/chat/completions", Behaviour(pieces=["one\n", "\n", "three", "four"]))
    reply = make(openai_model(server)).complete(Request(prefix="x", stop=lambda t: "\n\n" in t))
    assert reply.stopped_early and reply.text == "one\n\n"


def test_context_is_capped_at_line_boundaries(server):
    server.on("/v1/completions", Behaviour(pieces=["ok"]))
    prefix = "".join(f"line_{i} = {i}\n" for i in range(2000))
    suffix = "".join(f"after_{i} = {i}\n" for i in range(2000))
    make(openai_model(server, api="completions", max_context=1000)).complete(Request(prefix=prefix, suffix=suffix))
    body = server.seen[0].body
    assert len(body["prompt"]) + len(body["suffix"]) <= 1000
    assert prefix.endswith(body["prompt"]) and body["prompt"].startswith("line_")
    assert suffix.startswith(body["suffix"]) and body["suffix"].endswith("\n")


def test_cap_context_keeps_short_text_and_clean_strips_fences():
    assert cap_context("ab\ncd", "ef", 100) == ("ab\ncd", "ef")
    assert clean_completion("```python\nreturn x\n```", "def f(x):\n    ") == "return x"
    assert clean_completion("    return x", "def f(x):\n    ") == "return x"


# -- routing -------------------------------------------------------------------------------------


def test_route_falls_back_down_the_ranking_and_learns(server, redis_client: redis.Redis, monkeypatch):
    monkeypatch.setenv("RAI_TEST_OPENAI_KEY", SECRET)
    server.on("/a/v1/chat/completions", Behaviour(status=500, error={"error": {"message": "boom", "type": "server_error"}}))
    server.on("/b/v1/chat/completions", Behaviour(delay=5))
    server.on("/c/v1/chat/completions", Behaviour(pieces=["fine"]))
    for prefix in ("/a", "/b", "/c"):
        registry.add(redis_client, openai_model(server, prefix, timeout_ms=300))
    routed = routing.route(redis_client, "completion", Request(prefix="x"))
    assert routed.model_id == "oa-c" and routed.reply.text == "fine"
    assert [m for m, _ in routed.failed] == ["oa-a", "oa-b"]
    assert "boom" in routed.failed[0][1] and "timed out" in routed.failed[1][1]
    a, c = registry.show(redis_client, "oa-a"), registry.show(redis_client, "oa-c")
    assert a["failures"] == 1 and a["success_rate"] < 1 and "boom" in a["last_error"]
    assert c["calls"] == 1 and c["last_response_ms"] > 0 and c["success_rate"] == 1
    # Every call is also an analytics sample (redis-ai stats), failures included.
    assert [redis_client.zcard(keys.stat("model", m)) for m in ("oa-a", "oa-b", "oa-c")] == [1, 1, 1]
    # The model that answered now ranks first; the failed ones after it.
    assert [m.id for m in routing.ranked(redis_client, "completion")][0] == "oa-c"


def test_route_cancelled_records_nothing_and_no_model_raises(server, redis_client):
    server.on("/v1/chat/completions", Behaviour(pieces=["x"]))
    registry.add(redis_client, openai_model(server))
    request = Request(prefix="x", cancel=Cancel())
    request.cancel.cancel()
    with pytest.raises(Cancelled):
        routing.route(redis_client, "completion", request)
    assert "calls" not in registry.show(redis_client, "oa")
    with pytest.raises(routing.NoModel):
        routing.route(redis_client, "tests", Request(prefix="x"))


def test_cooling_model_is_tried_last(server, redis_client):
    server.on("/a/v1/chat/completions", Behaviour(status=503, error={"error": {"message": "down"}}))
    server.on("/b/v1/chat/completions", Behaviour(pieces=["ok"]))
    registry.add(redis_client, openai_model(server, "/a"))
    registry.add(redis_client, openai_model(server, "/b", timeout_ms=4000))
    for _ in range(routing.COOL_DOWN_AFTER):
        registry.record(redis_client, "oa-a", False, 5.0, "down")
    registry.record(redis_client, "oa-b", True, 3000.0)
    # b is slow (3 s) but a has failed repeatedly and is cooling down.
    assert [m.id for m in routing.ranked(redis_client, "completion")] == ["oa-b", "oa-a"]


def test_api_key_never_reaches_redis(server, redis_client, monkeypatch):
    monkeypatch.setenv("RAI_TEST_OPENAI_KEY", SECRET)
    # A server that echoes the key it got in its error message: the key must not be kept.
    server.on("/v1/chat/completions", Behaviour(status=401, error={"error": {"message": f"bad key {SECRET}"}}))
    registry.add(redis_client, openai_model(server))
    with pytest.raises(routing.NoModel):
        routing.route(redis_client, "completion", Request(prefix="x"))
    for key in redis_client.scan_iter("*"):
        kind = redis_client.type(key)
        if kind == b"hash":
            stored = redis_client.hgetall(key)
        elif kind == b"zset":
            stored = redis_client.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            stored = redis_client.smembers(key)
        else:
            stored = redis_client.dump(key)
        assert SECRET.encode() not in repr(stored).encode()
    assert "bad key [redacted]" in registry.show(redis_client, "oa")["last_error"]

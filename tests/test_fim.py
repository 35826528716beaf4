"""Fill-in-the-middle with local servers: llama.cpp's /infill and /v1/completions, Ollama's
/api/generate, retrieved chunks from the code index within the context cap, and superseded
requests cancelled, against a local server speaking each wire format and a real daemon."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from redis_ai.models import registry, routing
from redis_ai.models.providers import Request, make
from redis_ai.models.providers import fim as fim_module
from redis_ai.models.providers.fim import cap_tokens, estimate_tokens, preamble_block
from redis_ai.models.providers.retrieval import retrieve
from redis_ai.models.registry import Model
from redis_ai.search.corpus import index_paths
from redis_ai.search.index import CodeIndex
from tests.support.clients import RPCClient
from tests.support.fim_server import Answer, FIMServer

SAMPLE = Path(__file__).parent / "samples" / "search"

CLIENT = '''import redis

from .connection import RedisLink


def open_link(url):
    """Connect to Redis, retrying while the server is down."""
    link = RedisLink(url, attempts=3)
    client = link.connect_with_retry'''
"""A new file being typed: the cursor is at the end, where connection.py's method is relevant."""


@pytest.fixture
def server() -> Iterator[FIMServer]:
    srv = FIMServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def project(tmp_path: Path, redis_client) -> Path:
    """The search sample project, indexed with the learned embedder."""
    target = tmp_path / "project"
    shutil.copytree(SAMPLE, target)
    target = target.resolve()
    index_paths(CodeIndex(redis_client), [target], kind="learned")
    return target


def llamacpp(server: FIMServer, caps: list[str], **kw: object) -> Model:
    fields: dict = {"id": "llama", "provider": "llamacpp", "endpoint": server.url(),
                    "model": "qwen2.5-coder", "capabilities": caps, "api_key_env": "RAI_TEST_LLAMA_KEY"}
    return Model(**{**fields, **kw})


def ollama(server: FIMServer, caps: list[str], **kw: object) -> Model:
    fields: dict = {"id": "ollama", "provider": "ollama", "endpoint": server.url(),
                    "model": "qwen2.5-coder:1.5b", "capabilities": caps}
    return Model(**{**fields, **kw})


def at_end(text: str, **kw: object) -> dict:
    lines = text.split("\n")
    base = {"v": 1, "editor": "neovim", "buffer": "7", "language": "python",
            "line": len(lines), "col": len(lines[-1]), "tick": 5, "text": text,
            "first_line": 1, "intent": "edit", "whole": False}
    base.update(kw)
    return base


# -- the wire formats ------------------------------------------------------------------------


def test_llamacpp_infill_sends_prefix_suffix_extra_and_cache_prompt(server, monkeypatch):
    monkeypatch.delenv("RAI_TEST_LLAMA_KEY", raising=False)
    server.on("/infill", Answer(pieces=["client", "()"]))
    extra = [("app/connection.py", "def connect_with_retry(self):\n    pass\n")]
    reply = make(llamacpp(server, ["completion", "fim"], max_tokens=64)).complete(
        Request(prefix="x = link.", suffix="\nprint(x)\n", language="python", extra=extra))
    assert reply.text == "client()"
    assert (reply.tokens_in, reply.tokens_out) == (4, 2)  # from the last event (stop: true)
    seen = server.seen[0]
    assert seen.path == "/infill" and "authorization" not in seen.headers
    assert seen.body == {
        "input_prefix": "x = link.", "input_suffix": "\nprint(x)\n",
        "input_extra": [{"filename": "app/connection.py",
                         "text": "def connect_with_retry(self):\n    pass\n"}],
        "prompt": "", "n_predict": 64, "temperature": 0.2, "stream": True, "cache_prompt": True,
    }


def test_llamacpp_without_fim_continues_through_v1_completions(server, monkeypatch):
    monkeypatch.setenv("RAI_TEST_LLAMA_KEY", "local-key")
    server.on("/v1/completions", Answer(pieces=["()", "\n"]))
    # An endpoint given with /v1 (as for the openai provider) works for both paths.
    model = llamacpp(server, ["complete"], endpoint=server.url("/v1"))
    extra = [("util.py", "def helper():\n    return 1")]
    reply = make(model).complete(Request(prefix="y = helper", suffix=")\n", language="python",
                                         extra=extra))
    assert reply.text == "()\n" and (reply.tokens_in, reply.tokens_out) == (9, 2)
    seen = server.seen[0]
    assert seen.path == "/v1/completions" and seen.headers["authorization"] == "Bearer local-key"
    assert seen.body["cache_prompt"] is True and seen.body["stream"] is True
    assert "suffix" not in seen.body  # no FIM tokens: the model only continues
    assert seen.body["prompt"] == ("# Path: util.py\n# def helper():\n#     return 1\n\ny = helper")
    # FIM through /infill at the server's root, not under /v1.
    server.on("/infill", Answer(pieces=["()"]))
    make(llamacpp(server, ["fim"], endpoint=server.url("/v1"))).complete(Request(prefix="f", suffix=""))
    assert server.seen[-1].path == "/infill"


def test_llamacpp_error_body_is_a_provider_error(server):
    server.on("/infill", Answer(status=503, error={"error": {
        "code": 503, "message": "Loading model", "type": "unavailable_error"}}))
    with pytest.raises(Exception) as info:
        make(llamacpp(server, ["fim"])).complete(Request(prefix="a", suffix="b"))
    assert "Loading model" in str(info.value) and getattr(info.value, "status", 0) == 503


def test_ollama_generate_fim_with_suffix_and_raw_continuation(server):
    server.on("/api/generate", Answer(pieces=["re", "turn b"]))
    extra = [("m.py", "def gcd(a, b):\n    return a")]
    reply = make(ollama(server, ["completion", "fim"], max_tokens=40)).complete(
        Request(prefix="def compute_gcd(a, b):\n    ", suffix="\n\nprint(1)\n", language="python",
                extra=extra))
    assert reply.text == "return b" and (reply.tokens_in, reply.tokens_out) == (17, 2)
    body = server.seen[0].body
    assert server.seen[0].path == "/api/generate"
    assert body == {
        "model": "qwen2.5-coder:1.5b", "stream": True, "raw": False,
        "prompt": "# Path: m.py\n# def gcd(a, b):\n#     return a\n\ndef compute_gcd(a, b):\n    ",
        "suffix": "\n\nprint(1)\n", "options": {"num_predict": 40, "temperature": 0.2},
    }
    # Without FIM: raw, no suffix, the model continues the prompt as it is.
    make(ollama(server, ["complete"])).complete(Request(prefix="import o", suffix="\n", language="lua"))
    body = server.seen[1].body
    assert body["raw"] is True and "suffix" not in body and body["prompt"] == "import o"
    # A server that answers with one object (stream: false) is read as well.
    server.on("/api/generate", Answer(pieces=["s", "ys"], whole=True))
    assert make(ollama(server, ["fim"])).complete(Request(prefix="import o", suffix="")).text == "sys"


def test_ollama_error_line_is_a_provider_error(server):
    server.on("/api/generate", Answer(status=404, error={"error": "model 'nope' not found"}))
    with pytest.raises(Exception) as info:
        make(ollama(server, ["fim"])).complete(Request(prefix="a", suffix="b"))
    assert "model 'nope' not found" in str(info.value)


# -- the context cap -------------------------------------------------------------------------


def test_cap_keeps_the_nearest_lines_and_packs_chunks_within_the_budget(server):
    prefix = "\n".join(f"value_{i} = compute(value_{i - 1}, {i})" for i in range(1, 400)) + "\nresult = "
    suffix = "\n".join(f"print(value_{i})" for i in range(1, 300))
    small = ("a.py", "def compute(a, b):\n    return a + b")
    huge = ("b.py", "\n".join(f"x_{i} = {i}" for i in range(2000)))
    other = ("c.py", "def show(v):\n    print(v)")
    budget = 600
    server.on("/infill", Answer(pieces=["1"]))
    make(llamacpp(server, ["fim"], max_context=budget)).complete(
        Request(prefix=prefix, suffix=suffix, extra=[small, huge, other]))
    body = server.seen[0].body
    sent_prefix, sent_suffix = body["input_prefix"], body["input_suffix"]
    # The nearest lines: the end of the prefix, the start of the suffix, whole lines only.
    assert prefix.endswith("\n" + sent_prefix) and sent_prefix.endswith("\nresult = ")
    assert suffix.startswith(sent_suffix + "\n") and sent_suffix.startswith("print(value_1)")
    # The chunk too large for what is left is skipped; the others fit, best first.
    assert [c["filename"] for c in body["input_extra"]] == ["a.py", "c.py"]
    used = estimate_tokens(sent_prefix) + estimate_tokens(sent_suffix) + sum(
        estimate_tokens(c["filename"]) + estimate_tokens(c["text"]) + 2 for c in body["input_extra"])
    assert budget * 0.9 <= used <= budget
    # Ollama's commented preamble counts against the same cap.
    server.on("/api/generate", Answer(pieces=["1"]))
    make(ollama(server, ["fim"], max_context=budget)).complete(
        Request(prefix=prefix, suffix=suffix, extra=[small, huge, other], language="python"))
    body = server.seen[1].body
    assert "# Path: a.py" in body["prompt"] and "# Path: b.py" not in body["prompt"]
    assert estimate_tokens(body["prompt"]) + estimate_tokens(body["suffix"]) <= budget + 2


def test_cap_tokens_shares_the_budget_and_lends_what_one_side_leaves():
    prefix = "\n".join(f"line_{i} = {i}" for i in range(100))
    p, s = cap_tokens(prefix, "tail()\n", 200)
    assert s == "tail()\n" and prefix.endswith(p) and estimate_tokens(p) + estimate_tokens(s) <= 200
    assert estimate_tokens(p) > 150  # the suffix's unused share went to the prefix
    assert preamble_block("x.lua", "local a = 1", "lua") == "-- Path: x.lua\n-- local a = 1\n"
    assert fim_module.comment_marker("rust") == "//"


def test_a_fim_only_model_answers_completion(redis_client, server):
    registry.add(redis_client, ollama(server, ["fim"]))
    assert [m.id for m in routing.ranked(redis_client, "completion")] == ["ollama"]


# -- retrieval and the daemon ----------------------------------------------------------------


def test_retrieval_finds_related_chunks_and_leaves_out_the_own_window(project, redis_client):
    new_file = project / "app" / "client.py"
    before, after = CLIENT, ""
    got = retrieve(redis_client, at_end(CLIENT, file=str(new_file)), before, after)
    assert got and ("connection.py", ) == (got[0][0],)
    assert "def connect_with_retry(self):" in got[0][1]
    # Editing connection.py itself, whole: its chunks are in the window already.
    own = project / "app" / "connection.py"
    text = own.read_text()
    mine = retrieve(redis_client, at_end(text, file=str(own)), text, "")
    assert mine and all(name != "connection.py" for name, _ in mine)


@pytest.mark.parametrize("provider", ["llamacpp", "ollama"])
def test_fim_completion_through_a_real_daemon(provider, make_daemon, project, redis_client, server):
    path = "/infill" if provider == "llamacpp" else "/api/generate"
    server.on(path, Answer(pieces=["()", "\n    return client\n"]))
    factory = llamacpp if provider == "llamacpp" else ollama
    registry.add(redis_client, factory(server, ["completion", "fim"], max_context=1500))
    daemon = make_daemon(["completion"])
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        new_file = project / "app" / "client.py"
        after = "\n\n\nLINK = None\n"
        client.notify("event", {**at_end(CLIENT, file=str(new_file), tick=7), "text": CLIENT + after})
        push = client.wait(lambda p: p["type"] == "result" and p["analyzer"] == "completion",
                           timeout=15)
        assert push["tick"] == 7
        lines = CLIENT.split("\n")
        assert push["items"] == [{"text": "()\n    return client", "line": len(lines),
                                  "col": len(lines[-1])}]
        body = server.bodies(path)[0]
        if provider == "llamacpp":
            assert body["input_prefix"] == CLIENT and body["input_suffix"] == after
            assert body["cache_prompt"] is True
            names = [chunk["filename"] for chunk in body["input_extra"]]
            texts = [chunk["text"] for chunk in body["input_extra"]]
            used = sum(estimate_tokens(n) + estimate_tokens(t) + 2 for n, t in zip(names, texts, strict=True))
            used += estimate_tokens(body["input_prefix"]) + estimate_tokens(body["input_suffix"])
        else:
            assert body["prompt"].endswith("\n\n" + CLIENT) and body["suffix"] == after
            assert body["raw"] is False
            names = [line[len("# Path: "):] for line in body["prompt"].split("\n")
                     if line.startswith("# Path: ")]
            texts = [body["prompt"]]
            used = estimate_tokens(body["prompt"]) + estimate_tokens(body["suffix"])
        assert "connection.py" in names
        assert any("connect_with_retry" in text for text in texts)
        assert used <= 1500 + 2
    finally:
        client.close()


def test_a_superseded_request_is_cancelled_and_never_published(make_daemon, project, redis_client,
                                                                server):
    # The first request stalls after one piece; the second (the newer edit) is answered.
    server.on("/infill", Answer(answers=[["(old"], [")"]], stall_after=1, stall_turns={0}))
    registry.add(redis_client, llamacpp(server, ["fim"], timeout_ms=20_000))
    daemon = make_daemon(["completion"])
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        new_file = str(project / "app" / "client.py")
        client.notify("event", at_end(CLIENT, file=new_file, tick=7))
        assert server.wait_for(lambda: len(server.bodies("/infill")) == 1)
        client.notify("event", at_end(CLIENT + "(", file=new_file, tick=8))
        # The server sees the first request's connection closed: it stops generating.
        assert server.wait_for(lambda: server.disconnects == ["/infill"])
        push = client.wait(lambda p: p["type"] == "result" and p["analyzer"] == "completion",
                           timeout=15)
        assert push["tick"] == 8 and push["items"][0]["text"] == ")"
        assert server.bodies("/infill")[1]["input_prefix"].endswith("connect_with_retry(")
        # Nothing for the superseded edit, then or later.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            client.poll()
        assert not [p for p in client.pushes if p.get("analyzer") == "completion"]
        shown = registry.show(redis_client, "llama")
        assert (shown["calls"], shown.get("failures", 0)) == (1, 0)  # not held against the model
    finally:
        client.close()

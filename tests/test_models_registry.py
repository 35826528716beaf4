"""The model registry in a real Redis, and the ``redis-ai models`` commands."""

from __future__ import annotations

import argparse
import json
import time

import pytest
import redis

from redis_ai import keys
from redis_ai.models import cli, registry
from redis_ai.models.registry import Model, RegistryError


def qwen(**kw: object) -> Model:
    fields: dict = {"id": "qwen", "provider": "openai", "endpoint": "http://localhost:11434",
                    "model": "qwen2.5-coder:1.5b", "api": "completions"}
    fields.update(kw)
    return Model(**fields)


def test_add_indexes_capabilities_and_reads_back(redis_client: redis.Redis):
    registry.add(redis_client, qwen(capabilities=["completion", "tests"], cost_in=0.5))
    assert redis_client.smembers(keys.MODELS) == {b"qwen"}
    assert redis_client.smembers(keys.capability("completion")) == {b"qwen"}
    assert redis_client.smembers(keys.capability("tests")) == {b"qwen"}
    model = registry.get(redis_client, "qwen")
    assert model == qwen(capabilities=["completion", "tests"], cost_in=0.5)
    shown = registry.show(redis_client, "qwen")
    assert shown["cost_in"] == 0.5 and shown["timeout_ms"] == 5000 and shown["enabled"] is True
    assert shown["capabilities"] == ["completion", "tests"] and shown["rank_score"] == 1.0


def test_replacing_a_model_moves_its_capabilities(redis_client):
    registry.add(redis_client, qwen(capabilities=["completion", "tests"]))
    registry.record(redis_client, "qwen", True, 120.0)
    registry.add(redis_client, qwen(capabilities=["tests"], model="other"))
    assert redis_client.smembers(keys.capability("completion")) == set()
    assert redis_client.smembers(keys.capability("tests")) == {b"qwen"}
    shown = registry.show(redis_client, "qwen")
    assert shown["model"] == "other" and shown["calls"] == 1  # measurements survive an edit


def test_remove_clears_every_index(redis_client):
    registry.add(redis_client, qwen())
    registry.add(redis_client, qwen(id="other"))
    assert registry.remove(redis_client, "qwen")
    assert not registry.remove(redis_client, "qwen")
    assert registry.list_ids(redis_client) == ["other"]
    assert redis_client.smembers(keys.capability("completion")) == {b"other"}
    assert not redis_client.exists(keys.model("qwen"))


@pytest.mark.parametrize("bad", [
    {"id": "has space"}, {"provider": "cohere"}, {"kind": "oracle"}, {"model": ""},
    {"capabilities": []}, {"api_key_env": "sk-abc123!"}, {"timeout_ms": 0}, {"api": "responses"},
])
def test_invalid_definitions_are_refused(redis_client, bad):
    with pytest.raises(RegistryError):
        registry.add(redis_client, qwen(**bad))
    assert redis_client.dbsize() == 0


def test_record_moves_latency_and_success_rate(redis_client):
    registry.add(redis_client, qwen())
    registry.record(redis_client, "qwen", True, 100.0, tokens_in=10, tokens_out=4)
    registry.record(redis_client, "qwen", True, 200.0)
    registry.record(redis_client, "qwen", False, 5.0, error="HTTP 500 boom")
    shown = registry.show(redis_client, "qwen")
    assert shown["calls"] == 3 and shown["failures"] == 1 and shown["consecutive_failures"] == 1
    assert shown["last_response_ms"] == 200.0
    assert shown["latency_ms"] == pytest.approx(100 + 0.2 * (200 - 100))  # failures do not count
    assert shown["success_rate"] == pytest.approx(0.8)
    assert shown["score"] == pytest.approx(0.8 / 1.12)
    assert shown["last_error"] == "HTTP 500 boom" and shown["tokens_in"] == 10
    registry.record(redis_client, "nobody", True, 1.0)  # a removed model is not recreated
    assert not redis_client.exists(keys.model("nobody"))


def test_rank_score_forgets_old_failures():
    now = time.time()
    fresh = {"success_rate": "0.5", "latency_ms": "0", "updated": str(now)}
    old = {"success_rate": "0.5", "latency_ms": "0", "updated": str(now - 3 * registry.FAILURE_MEMORY_S)}
    assert registry.rank_score(fresh, now) == pytest.approx(0.5)
    assert 0.97 < registry.rank_score(old, now) < 1.0
    assert registry.rank_score({}, now) == 1.0
    fast = {"success_rate": "1", "latency_ms": "200", "updated": str(now)}
    slow = {"success_rate": "1", "latency_ms": "2000", "updated": str(now)}
    assert registry.rank_score(fast, now) > registry.rank_score(slow, now)


def test_key_comes_only_from_the_environment(monkeypatch):
    model = qwen(provider="anthropic", api="chat", api_key_env="MY_CLAUDE_KEY")
    monkeypatch.delenv("MY_CLAUDE_KEY", raising=False)
    assert model.api_key() == ""
    monkeypatch.setenv("MY_CLAUDE_KEY", "sk-ant-xyz")
    assert model.api_key() == "sk-ant-xyz"
    assert "sk-ant-xyz" not in json.dumps(model.to_hash())
    assert qwen(provider="anthropic").key_env == "ANTHROPIC_API_KEY"
    assert Model(id="o", model="gpt").base_url == "https://api.openai.com"


def run_cli(redis_server, argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="redis-ai")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*argv[:2], "--redis-url", redis_server.url, *argv[2:]])
    status = args.func(args)
    out = capsys.readouterr()
    return status, out.out, out.err


def test_models_commands(redis_server, redis_client, capsys):
    status, out, _ = run_cli(redis_server, ["models", "add", "qwen", "--model", "qwen2.5-coder:1.5b",
                                            "--endpoint", "http://localhost:11434", "--api", "completions",
                                            "--capability", "completion", "--json"], capsys)
    assert status == 0 and json.loads(out)["model"] == "qwen2.5-coder:1.5b"
    run_cli(redis_server, ["models", "add", "claude", "--provider", "anthropic", "--model", "claude-x",
                           "--api-key-env", "RAI_NOT_SET_KEY"], capsys)
    status, out, _ = run_cli(redis_server, ["models", "list", "--json"], capsys)
    assert [m["id"] for m in json.loads(out)] == ["claude", "qwen"]
    status, out, _ = run_cli(redis_server, ["models", "list"], capsys)
    assert out.splitlines()[0].split()[:3] == ["id", "kind", "provider"]
    assert "qwen2.5-coder:1.5b" in out
    status, out, _ = run_cli(redis_server, ["models", "show", "claude", "--json"], capsys)
    assert json.loads(out)["api_key_env"] == "RAI_NOT_SET_KEY"
    status, out, _ = run_cli(redis_server, ["models", "remove", "claude"], capsys)
    assert status == 0 and registry.list_ids(redis_client) == ["qwen"]
    status, _, err = run_cli(redis_server, ["models", "show", "claude"], capsys)
    assert status == 1 and "no model" in err
    status, _, err = run_cli(redis_server, ["models", "add", "bad id", "--model", "m"], capsys)
    assert status == 2 and registry.list_ids(redis_client) == ["qwen"]

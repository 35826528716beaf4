"""Several users on one Redis: namespaces, least-privilege ACL users (the rules documented in
docs/shared-redis.md, read from it), and daemons that receive only their own clients' results."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from redis_ai import cli as redis_ai_cli
from redis_ai import keys
from tests.conftest import (
    DEBIAN_REDIS,
    DEFAULT_TEST_ANALYZERS,
    ROOT,
    DaemonProc,
    RedisServer,
    _server_kind,
    start_redis,
)
from tests.support.clients import RPCClient, event

DOC = ROOT / "docs" / "shared-redis.md"


def documented_rules(with_search: bool) -> list[str]:
    """The ACL rules of docs/shared-redis.md for the user alice in team-a, as SETUSER arguments."""
    lines = re.findall(r"^ACL SETUSER alice (.+)$", DOC.read_text(), re.MULTILINE)
    assert len(lines) == 2, "docs/shared-redis.md must hold the two ACL SETUSER alice lines"
    rules = lines[0].split() + (lines[1].split() if with_search else [])
    return rules


def rules_for(user: str, namespace: str, password: str, with_search: bool) -> list[str]:
    swap = {">PASSWORD": f">{password}", "~team-a:*": f"~{namespace}:*", "&team-a:*": f"&{namespace}:*"}
    return [user, *(swap.get(r, r) for r in documented_rules(with_search))]


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., DaemonProc]]:
    """Factory of daemons on any URL, each in its own runtime folder; all stopped at the end."""
    started: list[DaemonProc] = []

    def start(url: str, namespace: str | None = None) -> DaemonProc:
        folder = Path(tempfile.mkdtemp(prefix="rai-"))
        folder.chmod(0o700)
        args = ["--namespace", namespace] if namespace else []
        proc = DaemonProc(url, DEFAULT_TEST_ANALYZERS, folder, extra_args=args)
        started.append(proc)
        proc.start()
        return proc

    yield start
    for proc in started:
        proc.stop()
        shutil.rmtree(proc.runtime_dir, ignore_errors=True)


@pytest.fixture
def own_redis(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A Redis of the kind given by the test's parameter (default: REDIS_AI_TEST_REDIS)."""
    folder = Path(tempfile.mkdtemp(prefix="rai-acl-"))
    server = start_redis(getattr(request, "param", _server_kind()), folder)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def has_search(server: RedisServer) -> bool:
    return server.argv[0] != DEBIAN_REDIS


def connect_editor(daemon: DaemonProc) -> tuple[RPCClient, str]:
    client = RPCClient(daemon.discovery["rpc_socket"])
    return client, client.hello()["client"]


def results_of(client: RPCClient, count: int) -> list[dict[str, Any]]:
    return [client.wait(lambda p: p.get("type") == "result") for _ in range(count)]


def daemon_status(client: RPCClient) -> dict[str, Any]:
    err, reply = client.request("status", {})
    assert err is None, err
    return reply


@pytest.mark.parametrize("own_redis", ["8", "7"], indirect=True)
def test_two_acl_users_in_two_namespaces_see_only_their_own(own_redis, start_daemon, monkeypatch,
                                                              capsys):
    admin = own_redis.client()
    search = has_search(own_redis)
    admin.execute_command("ACL", "SETUSER", *rules_for("alice", "team-a", "pw-a", search))
    admin.execute_command("ACL", "SETUSER", *rules_for("bob", "team-b", "pw-b", search))
    admin.execute_command("ACL", "LOG", "RESET")
    socket = own_redis.socket
    daemon_a = start_daemon(f"unix://alice:pw-a@{socket}", "team-a")
    daemon_b = start_daemon(f"unix://bob:pw-b@{socket}", "team-b")
    editor_a, id_a = connect_editor(daemon_a)
    editor_b, id_b = connect_editor(daemon_b)
    try:
        for tick in (1, 2, 3):
            editor_a.notify("event", event(buffer=str(tick), text=f"a = {tick}\n"))
            editor_b.notify("event", event(buffer=str(tick), text=f"b = {tick}\n"))
        got_a, got_b = results_of(editor_a, 6), results_of(editor_b, 6)
        assert {r["client"] for r in got_a} == {id_a} and {r["client"] for r in got_b} == {id_b}
        time.sleep(0.3)  # anything misrouted would have arrived by now
        for editor in (editor_a, editor_b):
            editor.poll()
        assert not [p for p in editor_a.pushes if p.get("type") == "result"]
        assert not [p for p in editor_b.pushes if p.get("type") == "result"]
        status_a, status_b = daemon_status(editor_a), daemon_status(editor_b)
    finally:
        editor_a.close()
        editor_b.close()
    # The daemons received nothing for clients that are not theirs.
    assert status_a["daemon"]["orphaned_results"] == 0 == status_b["daemon"]["orphaned_results"]
    assert status_a["daemon"]["namespace"] == "team-a" and status_a["stream"]["key"] == "team-a:{events}:stream"
    assert status_a["daemon"]["results_refused"] is None
    assert admin.execute_command("PUBSUB", "NUMPAT") == 0  # nobody pattern-subscribes

    # Every key either daemon wrote lies in its own namespace.
    names = {k.decode() for k in admin.scan_iter()}
    assert names and {n.split(":", 1)[0] for n in names} == {"team-a", "team-b"}

    assert admin.execute_command("ACL", "LOG") == []  # the daemons were refused nothing

    # alice can touch nothing of bob's: no key, no channel, not his search index.
    alice = redis.Redis(unix_socket_path=str(socket), username="alice", password="pw-a", protocol=2)
    refused = {
        "XRANGE stream": lambda: alice.xrange("team-b:{events}:stream"),
        "HGETALL daemon": lambda: alice.hgetall(f"team-b:{{live}}:daemon:{next(iter(admin.smembers('team-b:{live}:daemons'))).decode()}"),
        "SMEMBERS daemons": lambda: alice.smembers("team-b:{live}:daemons"),
        "SET": lambda: alice.set("team-b:meta", "x"),
        "PUBLISH": lambda: alice.publish(f"team-b:results:{id_b}", b"x"),
        "EVAL on bob's key": lambda: alice.eval("return redis.call('GET', KEYS[1])", 1, "team-b:meta"),
        "FLUSHALL": lambda: alice.flushall(),
        "FUNCTION FLUSH": lambda: alice.execute_command("FUNCTION", "FLUSH"),
    }
    if search:
        refused["FT.SEARCH bob's index"] = lambda: alice.execute_command("FT.SEARCH", "team-b:{code}:idx", "*")
    for what, attempt in refused.items():
        try:
            attempt()
        except redis.exceptions.NoPermissionError:
            continue
        pytest.fail(f"alice could {what} of team-b")
    pubsub = alice.pubsub()
    pubsub.subscribe(f"team-b:results:{id_b}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        pubsub.get_message(timeout=1)
    pubsub.close()

    # The commands run as alice (in this process: a subprocess each costs a second); Redis
    # refused none of what they asked.
    admin.execute_command("ACL", "LOG", "RESET")
    monkeypatch.setenv("REDIS_AI_RUNTIME_DIR", str(daemon_a.runtime_dir))
    monkeypatch.delenv("REDIS_AI_REDIS_URL", raising=False)
    try:
        for args in (["status", "--json"], ["doctor", "--json"], ["lisp", "list"], ["models", "list"],
                     ["stats", "--json"], ["learn", "daemon/redis_ai/results"],
                     ["index", "daemon/redis_ai/results"], ["search", "subscribe to a channel"]):
            assert redis_ai_cli.main(args) == 0, args
            assert keys.EVENTS == "team-a:{events}:stream"  # taken from the running daemon
    finally:
        keys.use_namespace(keys.DEFAULT_NAMESPACE)
    assert json.loads(capsys.readouterr().out.partition("\n}\n")[0] + "}")["namespace"] == "team-a"
    denied = admin.execute_command("ACL", "LOG")
    assert denied == [], denied
    alice.close()


def test_daemons_in_one_namespace_receive_only_their_own_clients_results(redis_server, redis_client,
                                                                        start_daemon):
    daemon_a, daemon_b = start_daemon(redis_server.url), start_daemon(redis_server.url)
    editor_a, id_a = connect_editor(daemon_a)
    editor_b, id_b = connect_editor(daemon_b)
    try:
        assert redis_client.execute_command("PUBSUB", "NUMSUB", f"redis-ai:results:{id_b}")[1] == 1
        for tick in (1, 2, 3):
            editor_b.notify("event", event(buffer=str(tick)))
        results_of(editor_b, 6)
        editor_a.notify("event", event())
        results_of(editor_a, 2)  # after B's: had daemon A listened on B's channel, it has heard
        assert daemon_status(editor_a)["daemon"]["orphaned_results"] == 0
        editor_b.close()
        # B's channel is dropped when B leaves (its daemon unsubscribes).
        deadline = time.monotonic() + 5
        while redis_client.execute_command("PUBSUB", "NUMSUB", f"redis-ai:results:{id_b}")[1]:
            assert time.monotonic() < deadline, "daemon B kept listening for a client that left"
            time.sleep(0.02)
    finally:
        editor_a.close()
        editor_b.close()


def test_a_user_without_the_channels_is_told_not_ready_once_and_retried_slowly(own_redis,
                                                                              start_daemon):
    admin = own_redis.client()
    rules = rules_for("carol", "team-c", "pw-c", has_search(own_redis))
    admin.execute_command("ACL", "SETUSER", *[r for r in rules if not r.startswith("&")])
    daemon = start_daemon(f"unix://carol:pw-c@{own_redis.socket}", "team-c")
    editor, _ = connect_editor(daemon)
    try:
        status = editor.wait(lambda p: p.get("type") == "status")
        assert status["message"].startswith("not ready: redis refuses the result channels")
        time.sleep(2.5)
        assert daemon_status(editor)["daemon"]["results_refused"]
    finally:
        editor.close()
    log = daemon.log.read_text()
    assert log.count("redis refused the result subscription") == 1, log
    assert "resubscribing" not in log
    # Attempts in ~3 s: at start, after 1 s and after 2 s more (a tight loop made ~50).
    entries = [dict(zip(e[::2], e[1::2], strict=True)) for e in admin.execute_command("ACL", "LOG")]
    assert {e[b"reason"] for e in entries} == {b"channel"}
    assert sum(int(e[b"count"]) for e in entries) <= 8, entries


def test_a_namespace_with_glob_or_hash_tag_characters_is_refused(capsys):
    for bad in ("team*", "a{b}", "", "x" * 65, ".hidden"):
        assert redis_ai_cli.main(["--namespace", bad, "status"]) == 2, bad
        assert "namespace" in capsys.readouterr().err


def _strings_in(value: Any, depth: int = 0) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif depth < 3 and isinstance(value, (tuple, list, set, frozenset)):
        for item in value:
            yield from _strings_in(item, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in (*value.keys(), *value.values()):
            yield from _strings_in(item, depth + 1)


def test_no_module_keeps_a_key_of_the_default_namespace_after_the_switch():
    """Modules read keys.NAME when they run; one that copied a key at import (a module constant,
    a default argument, a class attribute) would keep using redis-ai:* in another namespace."""
    import importlib
    import inspect
    import pkgutil

    import redis_ai

    modules = [importlib.import_module(m.name) for m in pkgutil.walk_packages(redis_ai.__path__, "redis_ai.")
               if ".bench" not in m.name and m.name != "redis_ai.__main__"]
    keys.use_namespace("ns-probe")
    try:
        stale = []
        for module in modules:
            if module is keys:
                continue
            for name, value in vars(module).items():
                found = list(_strings_in(value))
                if inspect.isfunction(value):
                    found += [*_strings_in(value.__defaults__ or ()), *_strings_in(value.__kwdefaults__ or {})]
                elif inspect.isclass(value) and value.__module__ == module.__name__:
                    found += [s for v in vars(value).values() for s in _strings_in(v)]
                # A key name has no spaces; "redis-ai: some message" is a message, not a key.
                stale += [f"{module.__name__}.{name}: {s}" for s in found
                          if s.startswith("redis-ai:") and " " not in s]
    finally:
        keys.use_namespace(keys.DEFAULT_NAMESPACE)
    assert not stale

"""The offline n-gram completion model and the completion analyzer, against a real Redis."""

from __future__ import annotations

import argparse
import shutil
import threading
import time
from pathlib import Path

import msgpack
import pytest
import redis

from redis_ai import keys
from redis_ai.analyzers import load
from redis_ai.analyzers.completion import Completion, cursor_split, newer_event
from redis_ai.models import cli, lines, ngram, offline, point, registry
from redis_ai.models.registry import Model
from redis_ai.models.watcher import Watcher
from tests.support.clients import RPCClient
from tests.support.llm_server import Behaviour, LLMServer

STDLIB_JSON = Path(shutil.__file__).parent / "json"

CONFIG = '''"""Reading and writing the settings file."""

import json
from pathlib import Path


def load_config(path):
    with open(path, encoding="utf-8") as fp:
        return json.load(fp)


def load_defaults(path):
    with open(path, encoding="utf-8") as fp:
        return json.load(fp)


def save_config(path, config):
    with open(path, "w", encoding="utf-8") as fp:
        json.dump(config, fp, indent=2)
'''

USERS = '''import json


class Users:
    def __init__(self, path):
        self.path = path
        self.users = {}

    def read(self):
        with open(self.path, encoding="utf-8") as fp:
            return json.load(fp)

    def write(self, users):
        with open(self.path, "w", encoding="utf-8") as fp:
            json.dump(users, fp, indent=2)
'''

HELD_OUT = '''import json


def read_items(path):
    with open(path, encoding'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "config.py").write_text(CONFIG)
    (root / "pkg" / "users.py").write_text(USERS)
    (root / ".venv").mkdir()
    (root / ".venv" / "ignored.py").write_text("import nothing_to_learn\n")
    (root / "notes.txt").write_text("not code\n")
    return root


def ngram_state(client: redis.Redis) -> dict[bytes, object]:
    """Every n-gram and line-table key and its content, to compare two models."""
    state: dict[bytes, object] = {}
    for pattern in (keys.ngram("python", "*"), keys.ngram_after("python", "*"),
                    keys.ngram_lines("python")):
        for key in client.scan_iter(match=pattern):
            state[key] = sorted(client.zrange(key, 0, -1, withscores=True))
    state[b"counts"] = client.hgetall(keys.ngram_line_counts("python"))
    return state


def test_tokenize_keeps_spacing_and_indentation():
    code = 'def f(x, y=2):\n\n    return x ** y  # power\n'
    tokens = ngram.tokenize(code)
    assert tokens[:8] == ["def", " f", "(", "x", ",", " y", "=", "2"]
    assert "\n\n    " in tokens and " **" in tokens and "  # power" in tokens
    assert "".join(tokens) == code
    long_doc = '    """' + "word " * 30 + '"""'
    assert ngram.tokenize(long_doc) == ["    \0S"]
    # The model sees indentation changes, so a method body and a function body look alike.
    method = ngram.model_tokens("class A:\n    def f(self):\n        return 1\n", "python")
    function = ngram.model_tokens("def f(self):\n    return 1\n", "python")
    assert method[-8:-1] == function[-8:-1] == ["(", "self", ")", ":", "\n+4", "return", " 1"]


def test_learn_skips_unchanged_and_relearns_exactly(project, redis_client, redis_server):
    report = ngram.learn(redis_client, [project])
    assert sorted(Path(p).name for p in report.learned) == ["config.py", "users.py"]
    assert ngram.learn(redis_client, [project]).unchanged == 2
    config = project / "pkg" / "config.py"
    config.write_text(CONFIG.replace("indent=2", "indent=4, sort_keys=True"))
    assert [Path(p).name for p in ngram.learn(redis_client, [project]).learned] == ["config.py"]
    # The model after an edit equals a model learned from scratch from the files as they are.
    fresh = redis.Redis(unix_socket_path=str(redis_server.socket), db=1)
    fresh.flushdb()
    ngram.learn(fresh, [project])
    assert ngram_state(redis_client) == ngram_state(fresh)
    fresh.flushdb()
    fresh.close()
    config.unlink()
    assert [Path(p).name for p in ngram.learn(redis_client, [project]).forgotten] == ["config.py"]
    ngram.forget(redis_client, "python", str(project / "pkg" / "users.py"))
    assert redis_client.dbsize() == 0  # every count went back to zero and was removed


def test_learns_real_stdlib_files(tmp_path, redis_client):
    for name in ("__init__.py", "decoder.py", "encoder.py"):
        shutil.copy(STDLIB_JSON / name, tmp_path / name)
    report = ngram.learn(redis_client, [tmp_path])
    assert len(report.learned) == 3
    files = redis_client.hgetall(keys.ngram_files("python"))
    assert {Path(p.decode()).name for p in files} == {"__init__.py", "decoder.py", "encoder.py"}
    completer = ngram.Completer(redis_client, "python")
    # Both decoder.py and encoder.py define this idiom; the file being written has not.
    guess = completer.complete("import re\n\ntry:\n    from _json import scanstring as c_scanstring\nexcept ")
    assert guess.text == "ImportError:"


def test_completes_held_out_line(project, redis_client):
    ngram.learn(redis_client, [project])
    completer = ngram.Completer(redis_client, "python")
    assert completer.complete(HELD_OUT).text == '="utf-8") as fp:'
    assert completer.complete(HELD_OUT + '="utf-8") as fp:\n        ').text == "return json.load(fp)"
    # A finished line: the ghost text is the line break, the indentation and the next line.
    assert completer.complete(HELD_OUT + '="utf-8") as fp:').text == "\n        return json.load(fp)"
    # An unfinished word is completed from where it stops.
    assert completer.complete(HELD_OUT + '="utf-8") as fp:\n        ret').text == "urn json.load(fp)"
    # Nothing learned for another language: no guess rather than a wrong one.
    assert ngram.Completer(redis_client, "lua").complete("local x = ").text == ""


def event(text: str, line: int, col: int, **kw: object) -> dict:
    base = {"v": 1, "editor": "neovim", "client": "c-1", "buffer": "3", "file": "/w/items.py",
            "language": "python", "line": line, "col": col, "tick": 5, "text": text,
            "first_line": 1, "intent": "edit", "whole": False}
    base.update(kw)
    return base


def at_end(text: str, **kw: object) -> dict:
    lines = text.split("\n")
    return event(text, len(lines), len(lines[-1]), **kw)


def test_analyzer_learns_on_save_and_completes_at_cursor(project, redis_client):
    analyzer = load("completion", redis_client)
    assert isinstance(analyzer, Completion)
    for path in (project / "pkg").glob("*.py"):
        saved = event(path.read_text(), 1, 0, intent="save", whole=True, file=str(path))
        assert analyzer.wants(saved) and analyzer.analyze(saved) is None
    assert redis_client.hlen(keys.ngram_files("python")) == 2
    typing = at_end(HELD_OUT)
    assert analyzer.wants(typing)
    items = analyzer.analyze(typing)
    assert items == [{"text": '="utf-8") as fp:', "line": 5, "col": 28}]
    assert registry.show(redis_client, "ngram")["calls"] == 1
    # A window that starts later in the buffer: line numbers are buffer lines.
    window = "\n".join(HELD_OUT.split("\n")[3:])
    items = analyzer.analyze(event(window, 5, 28, first_line=4))
    assert items and items[0]["text"] == '="utf-8") as fp:'


def test_analyzer_stays_quiet_inside_a_line_and_when_unsure(project, redis_client):
    ngram.learn(redis_client, [project])
    analyzer = Completion(redis_client)
    mid_line = HELD_OUT + "=ENCODING) as fp:"
    assert analyzer.analyze(event(mid_line, 5, 28)) == []
    # Only closers after the cursor (an electric pair): completion without repeating them.
    with_closer = "import json\n\ndef load(path):\n    with open(path)"
    items = analyzer.analyze(event(with_closer, 4, len("    with open(path")))
    assert items == [{"text": ', encoding="utf-8"', "line": 4, "col": 18}]
    assert analyzer.analyze(at_end("zzz = qqq @ ")) == []  # never seen: no guess
    assert not analyzer.wants(at_end("x", intent="cursor"))
    assert not analyzer.wants(at_end("x", intent="save"))  # not the whole buffer: nothing to learn
    assert cursor_split(event("ab\ncd", 7, 0)) is None


def test_analyzer_asks_llm_then_falls_back_to_ngram(project, redis_client):
    ngram.learn(redis_client, [project])
    server = LLMServer().start()
    try:
        registry.add(redis_client, Model(id="local-llm", provider="openai", endpoint=server.url(),
                                         model="coder", timeout_ms=2000))
        server.on("/v1/chat/completions", Behaviour(pieces=['="utf-8") as fp:\n', "        return [json.loads(line) for line in fp]\n", "\n", "def other():"]))
        items = Completion(redis_client).analyze(at_end(HELD_OUT))
        assert items[0]["text"] == '="utf-8") as fp:\n        return [json.loads(line) for line in fp]'
        assert "<CURSOR>" in server.seen[-1].body["messages"][-1]["content"]
        server.on("/v1/chat/completions", Behaviour(status=500, error={"error": {"message": "boom"}}))
        items = Completion(redis_client).analyze(at_end(HELD_OUT))
        assert items[0]["text"] == '="utf-8") as fp:'
        assert registry.show(redis_client, "local-llm")["failures"] == 1
        # After repeated failures the LLM cools down: the n-gram model answers without asking it.
        for _ in range(2):
            Completion(redis_client).analyze(at_end(HELD_OUT))
        asked = len(server.seen)
        items = Completion(redis_client).analyze(at_end(HELD_OUT))
        assert items[0]["text"] == '="utf-8") as fp:' and len(server.seen) == asked
    finally:
        server.stop()


def append(redis_client, event) -> str:
    """Append a one-event entry as the daemon's writer does; return the event's id."""
    return redis_client.xadd(keys.EVENTS, {"n": 1, "e": msgpack.packb([event])}).decode() + "#0"


def test_superseded_llm_request_publishes_nothing(project, redis_client):
    server = LLMServer().start()
    try:
        registry.add(redis_client, Model(id="slow-llm", provider="openai", endpoint=server.url(),
                                         model="coder", timeout_ms=20_000))
        server.on("/v1/chat/completions", Behaviour(pieces=["a", "b"], stall_after=1))
        first = at_end(HELD_OUT)
        first["id"] = append(redis_client, first)
        outcome: list[object] = []
        worker = threading.Thread(target=lambda: outcome.append(Completion(redis_client).analyze(first)))
        worker.start()
        deadline = time.monotonic() + 5
        while not server.seen and time.monotonic() < deadline:
            time.sleep(0.01)
        newer = at_end(HELD_OUT + "=", tick=6)
        append(redis_client, newer)
        worker.join(10)
        assert outcome == [None]
        assert "calls" not in registry.show(redis_client, "slow-llm")  # not held against the model
        # Once a newer event is in the stream, the older one does not even ask.
        seen = len(server.seen)
        assert Completion(redis_client).analyze(first) is None and len(server.seen) == seen
    finally:
        server.stop()


def test_learn_command_and_watcher(project, redis_server, redis_client, capsys):
    parser = argparse.ArgumentParser(prog="redis-ai")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["learn", str(project), "--redis-url", redis_server.url, "--json"])
    assert args.func(args) == 0
    assert '"learned": 2' in capsys.readouterr().out
    watcher = Watcher(redis_client, [str(project)], debounce=0.05)
    watcher.start()
    try:
        new = project / "pkg" / "items.py"
        new.write_text(HELD_OUT + '="utf-8") as fp:\n        return json.load(fp)\n')
        deadline = time.monotonic() + 10
        while not redis_client.hexists(keys.ngram_files("python"), str(new)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert redis_client.hexists(keys.ngram_files("python"), str(new))
        new.unlink()
        while redis_client.hexists(keys.ngram_files("python"), str(new)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not redis_client.hexists(keys.ngram_files("python"), str(new))
    finally:
        watcher.stop()


def test_newer_event_looks_only_at_the_same_client_and_buffer(redis_client):
    mine = at_end("x = 1")
    mine["id"] = append(redis_client, mine)
    for other in (at_end("x = 12", buffer="4"), at_end("x = 12", client="c-2"), at_end("x", tick=4)):
        append(redis_client, other)
    found, last = newer_event(redis_client, mine, page=2)
    assert not found and last > mine["id"]
    append(redis_client, at_end("x = 12", tick=6))
    assert newer_event(redis_client, mine, last)[0]


def test_newer_event_reads_the_shard_the_event_came_from(redis_client):
    """On a sharded stream (docs/cluster.md) an event's id ends in ``@<shard>``."""
    shard = keys.events(2)
    mine = at_end("x = 1")
    mine["id"] = redis_client.xadd(shard, {"n": 1, "e": msgpack.packb([mine])}).decode() + "#0@2"
    append(redis_client, at_end("x = 12", tick=6))  # shard 0: not where this buffer's events go
    assert not newer_event(redis_client, mine)[0]
    redis_client.xadd(shard, {"n": 1, "e": msgpack.packb([at_end("x = 12", tick=6)])})
    assert newer_event(redis_client, mine)[0]


def test_through_a_real_daemon(make_daemon, project, redis_client, tmp_path):
    """Editor -> daemon -> stream -> completion group -> pub/sub -> editor, with real processes."""
    daemon = make_daemon(["completion"])
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        for tick, path in enumerate(sorted((project / "pkg").glob("*.py")), 1):
            client.notify("event", {**at_end(path.read_text(), tick=tick, file=str(path)),
                                    "intent": "save", "whole": True, "buffer": path.name})
        items_py = tmp_path / "items.py"
        client.notify("event", {**at_end(HELD_OUT, tick=7, file=str(items_py)), "buffer": "items"})
        push = client.wait(lambda p: p["type"] == "result" and p["analyzer"] == "completion", timeout=10)
        assert push["kind"] == "completion" and push["tick"] == 7
        assert push["items"] == [{"text": '="utf-8") as fp:', "line": 5, "col": 28}]
        assert redis_client.hlen(keys.ngram_files("python")) == 2
        # Typing what the ghost text shows: the answer is the rest of it.
        client.notify("event", {**at_end(HELD_OUT + '="utf', tick=8, file=str(items_py)),
                                "buffer": "items"})
        push = client.wait(lambda p: p["type"] == "result" and p["analyzer"] == "completion"
                           and p["tick"] == 8, timeout=10)
        assert push["items"] == [{"text": '-8") as fp:', "line": 5, "col": 33}]
    finally:
        client.close()


def test_offline_completes_whole_lines_from_project_and_buffer(project, redis_client):
    ngram.learn(redis_client, [project])
    # Mid-line: the rest of a line the project has, after the same previous line.
    assert offline.complete(redis_client, "python", HELD_OUT) == '="utf-8") as fp:'
    # Line start: the line that followed this one at this indentation (twice in config.py).
    start = HELD_OUT + '="utf-8") as fp:\n        '
    assert offline.complete(redis_client, "python", start) == "return json.load(fp)"
    # A finished line gets no guess of the next one: that is where most wrong guesses were.
    assert offline.complete(redis_client, "python", HELD_OUT + '="utf-8") as fp:') == ""
    # A name only the buffer has, from a line earlier in it.
    buffer = ("import json\n\n\ndef read_items(path):\n    return load_items_from(path, strict=True)\n"
              "\n\ndef read_more(path):\n    return load_items_")
    assert offline.complete(redis_client, "python", buffer) == "from(path, strict=True)"
    offer = offline.best(redis_client, "python", buffer)
    assert offer.source == "anywhere" and offer.position == "mid" and not offer.prose


def test_offline_says_nothing_inside_comments_and_strings(project, redis_client):
    ngram.learn(redis_client, [project])
    code = "import json\n\n\ndef read_items(self):\n    "
    typed = "with open(self.path, encoding"  # once in users.py: fair evidence, not strong
    in_code = offline.best(redis_client, "python", code + typed)
    assert in_code.offered and in_code.text == '="utf-8") as fp:' and not in_code.prose
    for prose in (f"x = 1  # {typed}", f'note = "{typed}', f'"""Read.\n\n    {typed}'):
        offer = offline.best(redis_client, "python", code + prose)
        assert offer.prose and not offer.offered, prose
        assert offline.complete(redis_client, "python", code + prose) == ""


def test_point_finds_prose_and_cuts_at_unopened_closers():
    assert point.in_prose("x = 1  # a comment", "python")
    assert point.in_prose("x = 'it", "python") and point.in_prose('"""doc\nmore', "python")
    assert not point.in_prose('x = "a" + f("b")', "python")
    assert not point.in_prose('"""doc"""\nx = ', "python")
    assert not point.in_prose('x = "a\\\\"', "python")  # an escaped backslash, then the quote
    assert point.in_prose('x = "a\\"', "python")  # an escaped quote: still inside
    assert point.in_prose("local s = 1 -- note", "lua") and not point.in_prose("x = 1 # no", "lua")
    assert point.balanced_cut("f(a, b", ", c))") == ", c)"
    assert point.balanced_cut("x = [", "1, 2]\ny = 3") == "1, 2]"


def test_files_learned_before_the_line_tables_get_their_lines_once(project, redis_client, redis_server):
    ngram.learn(redis_client, [project])
    fresh = ngram_state(redis_client)
    # As a previous version left it: the same n-grams, no line tables, no mark on the hash.
    files = keys.ngram_files("python")
    for path, digest in redis_client.hgetall(files).items():
        redis_client.hset(files, path, digest.decode().removesuffix(ngram.LINES_MARK))
    for key in [*redis_client.scan_iter(match=keys.ngram_after("python", "*")),
                keys.ngram_lines("python"), keys.ngram_line_counts("python")]:
        redis_client.delete(key)
    assert len(ngram.learn(redis_client, [project]).learned) == 2
    assert ngram_state(redis_client) == fresh
    assert ngram.learn(redis_client, [project]).unchanged == 2


def test_line_tables_count_lines_after_their_context():
    counts = lines.count("a = 1\nif a:\n    b = 2\n\nif a:\n    b = 2\nc = 3\n")
    assert counts.lines == {"a = 1": 1, "if a:": 2, "b = 2": 2, "c = 3": 1}
    assert counts.after[(lines.line_hash(lines.context("if a:", 4)), "b = 2")] == 2
    assert counts.after[(lines.line_hash(lines.context("b = 2", -4)), "c = 3")] == 1
    assert lines.last("x\n  y\n\n") == ("x", "y", 2)


def test_ghost_text_stays_while_the_user_types_it(project, redis_client):
    ngram.learn(redis_client, [project])
    analyzer = Completion(redis_client)
    items = analyzer.analyze(at_end(HELD_OUT))
    assert items == [{"text": '="utf-8") as fp:', "line": 5, "col": 28}]
    # The model forgets everything: what the user types through still comes from the offer.
    for key in redis_client.scan_iter(match=keys.ngram("python", "*").replace(":next:*", ":*")):
        redis_client.delete(key)
    assert analyzer.analyze(at_end(HELD_OUT + "=u", tick=6)) == []  # not what was shown
    analyzer.analyze(at_end(HELD_OUT))  # nothing learned: no offer, so nothing to type through
    ngram.learn(redis_client, [project])
    analyzer.analyze(at_end(HELD_OUT))
    for key in redis_client.scan_iter(match=keys.ngram("python", "*").replace(":next:*", ":*")):
        redis_client.delete(key)
    items = analyzer.analyze(at_end(HELD_OUT + '="', tick=7))
    assert items == [{"text": 'utf-8") as fp:', "line": 5, "col": 30}]
    items = analyzer.analyze(at_end(HELD_OUT + '="utf', tick=8))
    assert items == [{"text": '-8") as fp:', "line": 5, "col": 33}]
    # Another buffer, or typing something else, is not typing through.
    assert analyzer.analyze(at_end(HELD_OUT + '="utf-', buffer="4")) == []
    assert analyzer.analyze(at_end(HELD_OUT + '="utfx', tick=9)) == []
    assert analyzer.analyze(at_end(HELD_OUT + '="utf-', tick=10)) == []

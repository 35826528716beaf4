"""``redis-ai evolve``: the reference, the gates, the model path against a local server speaking
OpenAI's and Anthropic's wire formats with scripted answers, lineage and rollback in Redis,
and the offline search over program variants."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from redis_ai import keys
from redis_ai.lisp import lineage, store
from redis_ai.lisp.author import ModelAuthor
from redis_ai.lisp.builtins import BUILTINS
from redis_ai.lisp.data import SPECIAL_NAMES, LispError
from redis_ai.lisp.evolve import Budget, Task, evolve, extract
from redis_ai.lisp.gates import Example, judge, passes, split
from redis_ai.lisp.reference import BUILTIN_DOCS, SPECIAL_DOCS, reference
from redis_ai.lisp.variants import VariantAuthor
from redis_ai.models import registry
from redis_ai.models.registry import Model
from tests.conftest import ROOT
from tests.support.llm_server import Behaviour, LLMServer

# -- The request used throughout: print() calls left in library code --------------------------

REQUEST = "flag print() calls left in library code"

TRAIN = [
    Example("def f(x):\n    print(x)\n    return x\n", True, "lib/a.py", lines=[2]),
    Example("class A:\n    def run(self):\n        print('running')\n", True, "lib/b.py",
            lines=[3]),
    Example("x = compute()\nprint(x, file=sys.stderr)\n", True, "lib/c.py", lines=[2]),
    Example("def f(x):\n    logger.info(x)\n    return x\n", False, "lib/d.py"),
    Example("# print(x) was here\nvalue = 1\n", False, "lib/e.py"),
    Example("def test_f():\n    print(f(1))\n", False, "tests/test_a.py"),
]
HELD_OUT = [
    Example("def g():\n    if ok:\n        print ('done')\n", True, "lib/g.py", lines=[3]),
    Example("def h():\n    print(h)\n", True, "pkg/h.py", lines=[2]),
    Example("def show():\n    return 'no print here'\n", False, "lib/s.py"),
    Example("def test_g():\n    print(g())\n", False, "tests/test_g.py"),
]

GOOD = """\
(define (library-file-p)
  (not (string-contains (or (event-get 'file) "") "test")))

(define (print-call-p text)
  (let ((code (string-trim text)))
    (or (string-prefix-p "print(" code) (string-prefix-p "print (" code))))

(define (analyze)
  (when (library-file-p)
    (map (lambda (entry) (diagnostic (car entry) 0 "print() left in library code" 'warning "print-left"))
         (filter (lambda (entry) (print-call-p (cdr entry))) (buffer-lines-with "print")))))
"""
BROKEN = "(define (analyze)\n  (map (lambda (e) (diagnostic (car e) 0 \"x)) (buffer-lines)))\n"
LOOPS = "(define (analyze)\n  (let loop ((i 0)) (loop (+ i 1))))\n"
# Right on the training texts only: it knows their exact lines.
OVERFIT = """\
(define seen '("print(x)" "print('running')" "print(x, file=sys.stderr)"))

(define (analyze)
  (map (lambda (entry) (diagnostic (car entry) 0 "print" 'warning "p"))
       (filter (lambda (entry) (member (string-trim (cdr entry)) seen)) (buffer-lines))))
"""
HOST = "(define (analyze)\n  (shell-command-to-string \"cat /etc/passwd\"))\n"


def task(name: str = "print-left") -> Task:
    return Task(name, REQUEST, TRAIN, HELD_OUT)


def fenced(source: str) -> list[str]:
    """A model's answer: some words, then the program in a fence, streamed in pieces."""
    text = f"Here is the program:\n```lisp\n{source}```\n"
    return [text[i:i + 40] for i in range(0, len(text), 40)]


# -- (1) The reference ------------------------------------------------------------------------

def test_reference_names_every_builtin_and_special_form_with_its_arity():
    assert set(BUILTIN_DOCS) == set(BUILTINS)
    assert set(SPECIAL_DOCS) == set(SPECIAL_NAMES)
    text = reference()
    listed = set(re.findall(r"^- \(([^\s)]+)", text, re.M))
    assert set(BUILTINS) <= listed and set(SPECIAL_NAMES) <= listed
    assert "(buffer-lines-with NEEDLE...)" in text and "[1+ args]" in text
    assert "(substring S FROM [TO])" in text and "[2-3 args]" in text


def test_docs_lisp_md_mentions_every_builtin():
    doc = (ROOT / "docs" / "lisp.md").read_text()
    words = set(re.findall(r"[^\s`(),/]+", doc)) | {"/", "/="}
    assert set(BUILTINS) - words == set()


# -- (2) The gates ----------------------------------------------------------------------------

def test_gates_score_a_candidate_on_every_example():
    score = judge("print-left", GOOD, TRAIN + HELD_OUT)
    assert score.perfect and score.precision == 1.0 and score.recall == 1.0
    over = judge("p", OVERFIT, TRAIN)
    assert over.perfect
    held = judge("p", OVERFIT, HELD_OUT)
    assert held.count("miss") == 2 and not passes(held)
    loops = judge("p", LOOPS, TRAIN[:1])
    assert loops.outcomes[0].verdict == "error" and loops.outcomes[0].error_kind == "fuel"


@pytest.mark.parametrize("source, reason", [
    (HOST, "uses shell-command-to-string, which is outside the language"),
    ("(define (analyze) (os.system \"ls\"))", "uses os.system"),
    ("(define (analyze) (__import__ \"os\"))", "uses __import__"),
    ("import os\nos.system(ls)\n", "uses import"),
    (BROKEN, "reader error: line 2"),
    ("(define x 1)", "defines no (analyze)"),
])
def test_gates_refuse_host_access_and_non_programs_before_running(source, reason):
    score = judge("p", source, TRAIN)
    assert reason in score.refused and not score.outcomes


def test_split_is_stable_and_keeps_each_class_on_both_sides():
    examples = [Example(f"print({i})", True) for i in range(6)] + [
        Example(f"log({i})", False) for i in range(6)]
    train, held = split(examples)
    assert (len(train), len(held)) == (8, 4)
    assert sum(e.flag for e in held) == 2
    assert split(list(reversed(examples)))[1] == held


def test_extract_takes_the_fenced_program():
    assert extract("Sure.\n```lisp\n(define x 1)\n```\nDone") == "(define x 1)"
    assert extract("(define x 1)") == "(define x 1)"


# -- (3) The model path: OpenAI and Anthropic wire formats, scripted answers --------------------

@pytest.fixture
def server() -> Iterator[LLMServer]:
    srv = LLMServer().start()
    yield srv
    srv.stop()


def add_model(client, server: LLMServer, provider: str, monkeypatch) -> str:
    if provider == "anthropic":
        monkeypatch.setenv("RAI_TEST_ANTHROPIC_KEY", "sk-ant-test")
        model = Model(id="claude-lisp", provider="anthropic", endpoint=server.url("/a"),
                      model="claude-test", api_key_env="RAI_TEST_ANTHROPIC_KEY",
                      capabilities=["lisp"], timeout_ms=10_000, cost_in=3.0, cost_out=15.0)
        path = "/a/v1/messages"
    else:
        model = Model(id="gpt-lisp", provider="openai", endpoint=server.url("/o"),
                      model="gpt-test", capabilities=["lisp"], timeout_ms=10_000)
        path = "/o/v1/chat/completions"
    registry.add(client, model)
    return path


def script(server: LLMServer, path: str, *sources: str) -> None:
    server.on(path, Behaviour(answers=[fenced(s) for s in sources]))


PROVIDERS = ["openai", "anthropic"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_model_writes_a_good_program_that_goes_live_with_its_lineage(
        redis_client, server, provider, monkeypatch):
    path = add_model(redis_client, server, provider, monkeypatch)
    script(server, path, GOOD)
    t = task()
    result = evolve(t, ModelAuthor(redis_client), Budget(generations=3))
    assert result.winner is not None and result.winner.generation == 1
    assert result.winner.held_out["precision"] == 1.0 and result.winner.held_out["recall"] == 1.0
    body = server.seen[0].body
    prompt = json.dumps(body)
    # The reference, the request and the training examples reach the model; held-out ones never.
    assert "buffer-lines-with NEEDLE" in prompt and REQUEST in prompt
    assert "print('running')" in prompt and "print ('done')" not in prompt
    if provider == "anthropic":
        assert "redis-ai Lisp" in body["system"] and body["messages"][0]["role"] == "user"
    else:
        assert body["messages"][0]["role"] == "system"
    run = lineage.record(redis_client, "print-left", result, "model")
    meta = lineage.publish(redis_client, t, result, run, "model")
    assert meta["version"] == "1"
    snap = store.versions(redis_client, "print-left")[1]
    lin = snap["lineage"]
    assert lin["generation"] == 1 and lin["parent"] == 0 and lin["request"] == REQUEST
    assert lin["model"] == ("claude-lisp" if provider == "anthropic" else "gpt-lisp")
    assert lin["train"]["precision"] == 1.0 and lin["held_out"]["recall"] == 1.0
    assert lin["tokens"] > 0
    if provider == "anthropic":
        assert lin["cost"] > 0
    assert registry.show(redis_client, lin["model"])["calls"] == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_broken_program_is_fixed_on_the_second_try(redis_client, server, provider, monkeypatch):
    path = add_model(redis_client, server, provider, monkeypatch)
    script(server, path, BROKEN, GOOD)
    result = evolve(task(), ModelAuthor(redis_client), Budget(generations=3))
    assert [c.live for c in result.candidates] == [False, True]
    assert "reader error" in result.candidates[0].train["refused"]
    second = json.dumps(server.seen[1].body["messages"])
    assert "reader error: line 2" in second and "Write the whole corrected program" in second


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_program_that_loops_forever_runs_out_of_fuel_and_never_goes_live(
        redis_client, server, provider, monkeypatch):
    path = add_model(redis_client, server, provider, monkeypatch)
    script(server, path, LOOPS)
    result = evolve(task(), ModelAuthor(redis_client), Budget(generations=2, fuel=20_000))
    assert result.winner is None and result.reason == "generations"
    assert all(c.train["errors"] == len(TRAIN) for c in result.candidates)
    assert "failed (fuel): " in result.candidates[0].note and "out of fuel" in result.candidates[0].note


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_overfit_program_passes_training_fails_held_out_and_is_not_live(
        redis_client, server, provider, monkeypatch):
    path = add_model(redis_client, server, provider, monkeypatch)
    script(server, path, OVERFIT)
    result = evolve(task(), ModelAuthor(redis_client), Budget(generations=2))
    assert result.winner is None
    first = result.candidates[0]
    assert first.train["precision"] == 1.0 and first.train["recall"] == 1.0
    assert first.held_out["recall"] == 0.0 and not first.live
    # The note says it overfit without showing the held-out examples.
    second = json.dumps(server.seen[1].body)
    assert "make it general" in second and "print ('done')" not in second


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_program_that_reaches_for_the_host_is_refused(redis_client, server, provider, monkeypatch):
    path = add_model(redis_client, server, provider, monkeypatch)
    script(server, path, HOST)
    result = evolve(task(), ModelAuthor(redis_client), Budget(generations=1))
    assert result.winner is None
    assert "refused: it uses shell-command-to-string" in result.candidates[0].train["refused"]


def test_an_openai_completions_endpoint_gets_the_conversation_as_one_prompt(redis_client, server):
    registry.add(redis_client, Model(id="local-lisp", provider="openai", endpoint=server.url("/c/v1"),
                                     model="qwen-test", api="completions", capabilities=["lisp"],
                                     timeout_ms=10_000))
    script(server, "/c/v1/completions", BROKEN, GOOD)
    result = evolve(task(), ModelAuthor(redis_client), Budget(generations=2))
    assert result.winner is not None and result.winner.generation == 2
    body = server.seen[1].body
    assert "suffix" not in body and "stop" not in body
    assert body["prompt"].startswith("You write analyzers") and body["prompt"].endswith("ASSISTANT:\n")
    assert "USER:\n" in body["prompt"] and "reader error: line 2" in body["prompt"]


def test_the_token_budget_stops_the_loop(redis_client, server, monkeypatch):
    path = add_model(redis_client, server, "openai", monkeypatch)
    script(server, path, OVERFIT)
    result = evolve(task(), ModelAuthor(redis_client), Budget(generations=10, tokens=20))
    assert result.reason == "tokens" and len(result.candidates) < 10


# -- (4) Lineage and rollback -----------------------------------------------------------------

def cli(*args: str, url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redis_ai", *args, "--redis-url", url],
                          capture_output=True, text=True, input=stdin, timeout=60)


def test_versions_are_kept_shown_as_a_tree_and_rolled_back(redis_server, redis_client, server,
                                                           monkeypatch, tmp_path):
    url = redis_server.url
    assert cli("lisp", "define", "print-left", "-", url=url, stdin=OVERFIT).returncode == 0
    path = add_model(redis_client, server, "openai", monkeypatch)
    script(server, path, GOOD)
    examples = tmp_path / "ex.json"
    examples.write_text(json.dumps([{**e.to_dict(), "split": "train"} for e in TRAIN]
                                   + [{**e.to_dict(), "split": "held_out"} for e in HELD_OUT]))
    out = cli("evolve", "print-left", REQUEST, "--examples", str(examples), url=url)
    assert out.returncode == 0, out.stderr
    assert "print-left version 2 is live" in out.stdout
    # The model was shown the live version it improves.
    assert "improves the live version 1" in json.dumps(server.seen[0].body)
    assert store.get(redis_client, "print-left")[0] == store.versions(redis_client, "print-left")[2]["forms"]
    shown = cli("lisp", "lineage", "print-left", url=url)
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert lines[1].strip() == "v1: written by hand"
    assert lines[2].startswith("    v2 (live): gen 1 by gpt-lisp (model), held-out P=1.0 R=1.0")
    back = cli("lisp", "rollback", "print-left", url=url)
    assert back.returncode == 0, back.stderr
    assert store.get(redis_client, "print-left")[0] == store.versions(redis_client, "print-left")[1]["forms"]
    tree = lineage.tree(redis_client, "print-left")
    assert [(r["version"], r["parent"], r["live"]) for r in tree] == [
        (1, 0, False), (2, 1, False), (3, 1, True)]
    assert lineage.rollback(redis_client, "print-left", 2)["version"] == "4"
    with pytest.raises(LispError, match="no kept version 9"):
        lineage.rollback(redis_client, "print-left", 9)
    assert [c["live"] for c in lineage.candidates(redis_client, "print-left")] == [True]
    assert redis_client.llen(keys.lisp_candidates("print-left")) == 1


def test_evolve_publishes_nothing_when_nothing_passes(redis_server, redis_client, server,
                                                     monkeypatch, tmp_path):
    path = add_model(redis_client, server, "anthropic", monkeypatch)
    script(server, path, OVERFIT)
    examples = tmp_path / "ex.json"
    examples.write_text(json.dumps([{**e.to_dict(), "split": "train"} for e in TRAIN]
                                   + [{**e.to_dict(), "split": "held_out"} for e in HELD_OUT]))
    out = cli("evolve", "print-left", REQUEST, "--examples", str(examples), "--generations", "2",
              url=redis_server.url)
    assert out.returncode == 1 and "nothing went live" in out.stdout
    assert store.get(redis_client, "print-left") is None
    assert redis_client.llen(keys.lisp_candidates("print-left")) == 2


# -- (5) The offline search -------------------------------------------------------------------

def test_offline_search_finds_a_program_that_passes_held_out():
    result = evolve(task(), VariantAuthor(), Budget(generations=5))
    assert result.winner is not None, [c.to_dict() for c in result.candidates]
    assert result.winner.held_out["precision"] == 1.0
    assert result.tokens == 0 and result.winner.model == "offline-search"
    assert judge("print-left", result.winner.source, TRAIN).perfect


def test_offline_search_reuses_a_stored_helper_through_require():
    # Only the user's predicate says what "shouting" is; no literal of the examples does.
    helper = ["(define (shouty-p text) (and (string= text (upcase text)) (/= (length text) 0)))",
              "(define width 40)"]
    examples = [Example("x = 1\nHELLO WORLD", True, lines=[2]), Example("STOP NOW", True, lines=[1]),
                Example("GO AWAY\nok", True, lines=[1]),
                Example("hello world", False), Example("Stop now", False), Example("go", False)]
    held = [Example("WAIT HERE", True, lines=[1]), Example("wait here", False)]
    t = Task("shout", "flag lines in capitals", examples, held, {"helpers": helper})
    result = evolve(t, VariantAuthor(), Budget(generations=3))
    assert result.winner is not None and result.winner.held_out["recall"] == 1.0
    assert "(require 'helpers)" in result.winner.source
    assert "(shouty-p text)" in result.winner.source


def test_offline_search_moves_a_length_threshold_to_the_examples_edge():
    examples = [Example("x = 1\n" + "y" * 60, True, lines=[2]), Example("z" * 70, True, lines=[1]),
                Example("a" * 50, False), Example("short = 2", False)]
    t = Task("long", "flag long lines", examples, [Example("w" * 55, True, lines=[1]),
                                                   Example("ok = 1", False)],
             {"style": ["(define max-columns 100)"]})
    result = evolve(t, VariantAuthor(), Budget(generations=3))
    assert result.winner is not None and "(> (length text) 50)" in result.winner.source
    assert judge("long", result.winner.source, t.held_out, t.library).perfect


# -- (6) The five request files (examples/lisp/evolve/): the figures of docs/lisp.md ------------

REQUESTS = sorted((ROOT / "examples" / "lisp" / "evolve").glob("*.json"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_five_requests_go_live_through_the_scripted_model(redis_client, server, provider,
                                                          monkeypatch):
    from redis_ai.lisp.evolve_bench import bench, load_library, load_request

    path = add_model(redis_client, server, provider, monkeypatch)
    library = load_library(ROOT / "examples" / "lisp")
    tasks = [load_request(p, library) for p in REQUESTS]
    assert len(tasks) == 5

    def author(task: Task) -> ModelAuthor:
        answers = json.loads((ROOT / "examples" / "lisp" / "evolve" / f"{task.name}.json")
                             .read_text())["scripted"]
        server.turns.clear()
        script(server, path, *answers)
        return ModelAuthor(redis_client)

    rows = bench(tasks, author)
    print(json.dumps(rows, indent=1))
    assert all(r["live"] and r["precision"] == 1.0 and r["recall"] == 1.0 for r in rows), rows
    assert [r["generations"] for r in rows] == [1, 1, 2, 2, 2]


def test_five_requests_offline():
    from redis_ai.lisp.evolve_bench import bench, load_library, load_request

    library = load_library(ROOT / "examples" / "lisp")
    rows = bench([load_request(p, library) for p in REQUESTS], lambda t: VariantAuthor())
    print(json.dumps(rows, indent=1))
    assert all(r["live"] and r["precision"] == 1.0 for r in rows), rows


# -- Recording and replay ----------------------------------------------------------------------

def test_events_recorded_from_a_daemon_replay_through_versions_and_analyzers(
        make_daemon, redis_server, redis_client, server, monkeypatch, tmp_path):
    from tests.support.clients import RPCClient, event

    daemon = make_daemon(analyzers=["lisp"])
    rpc = RPCClient(daemon.discovery["rpc_socket"])
    texts = ["def f(x):\n    print(x)\n", "# print(x)\nvalue = 1\n", "x = 1\n",
             "def g():\n    print ('done')\n"]
    try:
        rpc.hello()
        for tick, text in enumerate(texts, 1):
            rpc.notify("event", event(text=text, tick=tick, buffer=f"b{tick}",
                                      file=f"/src/lib/m{tick}.py"))
        rpc.notify("event", event(text="def test_f():\n    print(1)\n", tick=9, buffer="t",
                                  file="/src/tests/test_m.py"))
        deadline = time.monotonic() + 10
        while redis_client.hget(keys.COUNTERS, "accepted") != b"5" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        rpc.close()
    url = redis_server.url
    recording = tmp_path / "events.jsonl"
    out = cli("lisp", "record", str(recording), url=url)
    assert out.returncode == 0 and "recorded 5 events" in out.stdout, out.stderr
    assert cli("lisp", "record", str(tmp_path / "two.jsonl"), "--count", "2",
               url=url).stdout.startswith("recorded 2 events")

    # Examples picked from the recording: the two library calls must be flagged, the rest not.
    picked = json.loads(cli("evolve", "picked", REQUEST, "--flag-event", f"{recording}:0,3",
                            "--ok-event", f"{recording}:1,2,4", "--offline", "--dry-run",
                            "--json", url=url).stdout)
    assert picked["train_examples"] + picked["held_out_examples"] == 5
    assert picked["candidates"][0]["model"] == "offline-search"

    # v1 flags every line holding "print"; v2 (GOOD) only library calls.
    naive = ("(define (analyze) (map (lambda (e) (diagnostic (car e) 0 \"print\" 'warning \"p\"))"
             " (buffer-lines-with \"print\")))")
    store.define(redis_client, "print-left", naive)
    store.define(redis_client, "print-left", GOOD)
    shown = json.loads(cli("replay", str(recording), "--program", "print-left@1", "--against",
                           "print-left", "--json", url=url).stdout)
    # The comment and the test file were flagged by v1 only; the two real calls by both.
    assert (shown["events"], shown["changed"], shown["only_a"], shown["only_b"]) == (5, 4, 4, 2)
    text = cli("replay", str(recording), "--analyzer", "lisp", "--against", "print-left",
               url=url).stdout
    assert text.startswith("5 events through lisp against print-left: ")

    # evolve --replay: the winner against the live version, counted in its lineage.
    path = add_model(redis_client, server, "openai", monkeypatch)
    script(server, path, GOOD.replace("print() left", "print() call left"))
    examples = tmp_path / "ex.json"
    examples.write_text(json.dumps([{**e.to_dict(), "split": "train"} for e in TRAIN]
                                   + [{**e.to_dict(), "split": "held_out"} for e in HELD_OUT]))
    out = cli("evolve", "print-left", REQUEST, "--examples", str(examples), "--replay",
              str(recording), url=url)
    assert out.returncode == 0, out.stderr
    assert "replay of 5 events: 2 differ, 2 items only from the winner, 2 only from the live" in out.stdout
    replayed = store.versions(redis_client, "print-left")[3]["lineage"]["replay"]
    assert (replayed["changed"], replayed["only_a"], replayed["only_b"]) == (2, 2, 2)


# -- Selection by use ---------------------------------------------------------------------------

def test_feedback_counts_per_version_and_a_more_dismissed_version_rolls_back(
        make_daemon, redis_server, redis_client):
    from redis_ai import analytics
    from tests.support.clients import RPCClient

    daemon = make_daemon(analyzers=["lisp"])
    rpc = RPCClient(daemon.discovery["rpc_socket"])
    samples = keys.stat(analytics.FEEDBACK, "lisp:print-left")

    def feedback(accepted: int, dismissed: int) -> None:
        before = redis_client.zcard(samples)
        for action in ["accepted"] * accepted + ["dismissed"] * dismissed:
            rpc.notify("feedback", {"analyzer": "lisp:print-left", "action": action})
        deadline = time.monotonic() + 10
        while redis_client.zcard(samples) < before + accepted + dismissed:
            assert time.monotonic() < deadline
            time.sleep(0.02)

    try:
        rpc.hello()
        store.define(redis_client, "print-left", GOOD)
        feedback(accepted=5, dismissed=1)
        store.define(redis_client, "print-left", OVERFIT)
        keep = cli("lisp", "rollback", "print-left", "--if-dismissed-more", url=redis_server.url)
        assert "v2 has 0 accepts and dismisses (needs 5): kept" in keep.stdout
        feedback(accepted=1, dismissed=5)
    finally:
        rpc.close()
    used = lineage.usage(redis_client, "print-left")
    assert (used[1]["accepted"], used[1]["dismissed"]) == (5, 1)
    assert (used[2]["accepted"], used[2]["dismissed"], used[2]["dismiss_rate"]) == (1, 5, 0.8333)
    out = cli("lisp", "rollback", "print-left", "--if-dismissed-more", url=redis_server.url)
    assert out.returncode == 0, out.stderr
    assert "v2 dismissed 83%, its parent v1 17%: rolling back" in out.stdout
    assert store.get(redis_client, "print-left")[0] == store.versions(redis_client, "print-left")[1]["forms"]
    shown = cli("lisp", "lineage", "print-left", url=redis_server.url).stdout
    assert "v2: written by hand [1 accepted, 5 dismissed]" in shown

"""The protocol's lisp_* methods (define, list, show, remove, run) through a real daemon, over
msgpack-RPC (as Neovim speaks it) and EPC (as Emacs does), with the daemon's real ``lisp`` and
``lisp_hints`` analyzers picking up what an editor defines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from redis_ai.lisp import store
from redis_ai.lisp.reader import position
from tests.support.clients import EPCTestClient, RPCClient, event

HELPER = """\
;; kind: helpers have none
(define (shout text) (concat (upcase text) "!"))
"""
SHOUT = """\
;; Says {word} on the cursor's line.
(require 'helpers)

(define (analyze)
  (hint (event-get 'line) (shout "{word}") "shout"))
"""
BROKEN = """\
(require 'helpers)
(define (analyze)
  (hint 1 "never closed))
"""


class Failed(Exception):
    """The daemon answered a request with an error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Editor:
    """One connection, over either transport: requests, events and the pushes they bring."""

    def __init__(self, daemon: Any, transport: str) -> None:
        self.transport = transport
        self.tick = 0
        if transport == "rpc":
            self.rpc = RPCClient(daemon.discovery["rpc_socket"])
            self.rpc.hello()
        else:
            self.epc = EPCTestClient(daemon.discovery["epc_port"])
            self.epc.hello(daemon.discovery["token"])

    def call(self, method: str, params: Any) -> Any:
        if self.transport == "rpc":
            err, result = self.rpc.request(method, params)
            if err is not None:
                raise Failed(err["code"], err["message"])
            return result
        try:
            return self.epc.call(method, params)
        except Exception as exc:  # the epc package raises its own types; the text is "code: message"
            text = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
            code, _, message = text.partition(": ")
            raise Failed(code, message) from None

    def hints_for(self, text: str) -> list[str]:
        """Send an event for ``text`` (cursor on line 2); the messages of lisp_hints' result."""
        self.tick += 1
        ev = event(text=text, tick=self.tick, line=2)
        tick = self.tick

        def wanted(p: dict[str, Any]) -> bool:
            return p["type"] == "result" and p["analyzer"] == "lisp_hints" and p["tick"] == tick

        if self.transport == "rpc":
            self.rpc.notify("event", ev)
            push = self.rpc.wait(wanted)
        else:
            self.epc.call("event", ev)
            push = self.epc.wait(wanted)
        return [(i["line"], i["message"]) for i in push["items"]]

    def close(self) -> None:
        (self.rpc if self.transport == "rpc" else self.epc).close()


@pytest.fixture(params=["rpc", "epc"])
def editor(request: Any, make_daemon: Any, redis_client: Any) -> Iterator[Editor]:
    daemon = make_daemon(analyzers=["lisp", "lisp_hints"])
    client = Editor(daemon, request.param)
    yield client
    client.close()


def refused(call: Callable[[], Any], code: str = "bad_value") -> str:
    with pytest.raises(Failed) as info:
        call()
    assert info.value.code == code, info.value
    return info.value.message


def test_define_run_redefine_and_refuse(editor: Editor, redis_client: Any) -> None:
    call = editor.call
    assert call("lisp_list", {}) == {"programs": []}

    helper = call("lisp_define", {"name": "helpers", "source": HELPER})
    assert helper == {"name": "helpers", "version": 1, "forms": 1, "kind": "diagnostics",
                      "analyzer": False}
    shout = call("lisp_define", {"name": "shout", "source": SHOUT.format(word="first"),
                                 "kind": "hints", "languages": ["python"],
                                 "description": "says a word"})
    assert shout == {"name": "shout", "version": 1, "forms": 2, "kind": "hints", "analyzer": True}
    # The daemon's lisp_hints analyzer runs it on the next event (within its 100 ms check).
    time.sleep(0.15)
    assert editor.hints_for("x = 1\ny = 2\n") == [(2, "FIRST!")]

    # Redefined without kind, languages or description: those stay as they were.
    again = call("lisp_define", {"name": "shout", "source": SHOUT.format(word="second")})
    assert (again["version"], again["kind"]) == (2, "hints")
    time.sleep(0.15)
    assert editor.hints_for("x = 1\ny = 2\n") == [(2, "SECOND!")]

    # A reader error names its line and column in the source sent; nothing is stored, and the
    # old version keeps running.
    line, col = position(BROKEN, BROKEN.index('"never'))
    message = refused(lambda: call("lisp_define", {"name": "shout", "source": BROKEN}))
    assert message == f"shout not defined: line {line}, col {col}: unterminated string"
    assert (line, col) == (3, 10)
    assert store.get(redis_client, "shout")[1]["version"] == "2"
    time.sleep(0.15)
    assert editor.hints_for("a\nb\n") == [(2, "SECOND!")]

    # The store's other refusals, and params that do not fit.
    assert refused(lambda: call("lisp_define", {"name": "lost", "source": "(require 'nope)"})) == (
        "lost not defined: lost requires nope, which is not defined")
    call("lisp_define", {"name": "ring-a", "source": "(define a 1)"})
    call("lisp_define", {"name": "ring-b", "source": "(require 'ring-a)"})
    assert "require cycle: ring-a -> ring-b -> ring-a" in refused(
        lambda: call("lisp_define", {"name": "ring-a", "source": "(require 'ring-b)"}))
    assert "unbound" in refused(lambda: call("lisp_define", {"name": "x", "source": "(f 1)"}))
    assert "bad program name" in refused(lambda: call("lisp_define", {"name": "../x", "source": "1"}))
    assert "kind must be one of" in refused(
        lambda: call("lisp_define", {"name": "x", "source": "1", "kind": "ghost"}))
    refused(lambda: call("lisp_define", {"name": "x", "source": 1}), "bad_type")
    refused(lambda: call("lisp_define", {"name": "x", "source": "1", "languages": "py"}),
            "bad_type")
    refused(lambda: call("lisp_define", ["x"]), "bad_type")


def test_list_show_run_and_remove(editor: Editor, redis_client: Any) -> None:
    call = editor.call
    call("lisp_define", {"name": "helpers", "source": HELPER})
    call("lisp_define", {"name": "shout", "source": SHOUT.format(word="hey"), "kind": "hints",
                         "languages": ["python", "lua"], "description": "says hey"})
    before = time.time()
    programs = call("lisp_list", {})["programs"]
    assert [p["name"] for p in programs] == ["helpers", "shout"]
    row = programs[1]
    assert {k: v for k, v in row.items() if k != "updated"} == {
        "name": "shout", "version": 1, "kind": "hints", "analyzer": True,
        "languages": ["lua", "python"], "description": "says hey", "requires": ["helpers"]}
    assert before - 60 < row["updated"] <= before + 0.001  # stored to the millisecond
    assert programs[0]["analyzer"] is False and programs[0]["requires"] == []

    # show gives text that defines the same forms again.
    source = call("lisp_show", {"name": "shout"})
    assert source["name"] == "shout" and source["source"].startswith(";; Says hey")
    forms = store.get(redis_client, "shout")[0]
    call("lisp_define", {"name": "shout", "source": source["source"]})
    assert store.get(redis_client, "shout")[0] == forms
    assert refused(lambda: call("lisp_show", {"name": "nothing"})) == "no program named nothing"

    # run: the stored program on a text, as the analyzer would (cursor line given).
    ran = call("lisp_run", {"name": "shout", "text": "a\nb\nc\n", "file": "/tmp/t.py", "line": 3})
    assert [(i["line"], i["message"], i["code"]) for i in ran["items"]] == [(3, "HEY!", "shout")]
    assert ran["steps"] > 0 and "error" not in ran
    call("lisp_define", {"name": "fails", "source": "(define (analyze) (car 5))"})
    ran = call("lisp_run", {"name": "fails", "text": "x\n"})
    assert ran["error"].startswith("fails: car") and ran["items"][0]["code"] == "lisp-error"
    assert "is a helper" in refused(lambda: call("lisp_run", {"name": "helpers", "text": ""}))
    assert refused(lambda: call("lisp_run", {"name": "nothing", "text": ""})) == (
        "no program named nothing")
    refused(lambda: call("lisp_run", {"name": "shout", "text": "", "line": 0}))

    # Removing a helper others require is allowed (as from the shell): the reply names them.
    assert call("lisp_remove", {"name": "helpers"}) == {"removed": True, "required_by": ["shout"]}
    assert call("lisp_remove", {"name": "helpers"}) == {"removed": False, "required_by": []}
    ran = call("lisp_run", {"name": "shout", "text": "a\n"})
    assert "no program named helpers" in ran["error"]
    assert [p["name"] for p in call("lisp_list", {})["programs"]] == ["fails", "shout"]


def test_methods_need_hello(make_daemon: Any, redis_client: Any) -> None:
    daemon = make_daemon(analyzers=["lisp"])
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        err, _ = client.request("lisp_list", {})
        assert err["code"] == "hello_first"
    finally:
        client.close()


# -- lisp_evolve ------------------------------------------------------------------------------

# Regions an editor would send: no marked lines, the buffer's file and its language.
EVOLVE_EXAMPLES = [
    {"text": "def f(x):\n    print(x)\n    return x\n", "flag": True, "file": "/src/lib/a.py"},
    {"text": "class A:\n    def run(self):\n        print('running')\n", "flag": True,
     "file": "/src/lib/b.py"},
    {"text": "x = compute()\nprint(x, file=sys.stderr)\n", "flag": True, "language": "python"},
    {"text": "def g():\n    print ('done')\n", "flag": True, "language": "python-mode"},
    {"text": "def f(x):\n    logger.info(x)\n    return x\n", "flag": False,
     "file": "/src/lib/d.py"},
    {"text": "def show():\n    return 'no print here'\n", "flag": False, "language": "python"},
    {"text": "value = 1\n", "flag": False, "language": "python"},
    {"text": "def h():\n    log(h)\n", "flag": False, "file": "/src/lib/h.py"},
]


def evolve_params(**extra: Any) -> dict[str, Any]:
    return {"name": "print-left", "request": "flag print() calls left in library code",
            "examples": EVOLVE_EXAMPLES, "offline": True, "kind": "hints", **extra}


def pushed(editor: Editor, job: str, state: str) -> dict[str, Any]:
    def wanted(p: dict[str, Any]) -> bool:
        return p["type"] == "lisp_evolve" and p["job"] == job and p["state"] == state

    source = editor.rpc if editor.transport == "rpc" else editor.epc
    return source.wait(wanted, timeout=30)


def test_evolve_answers_with_a_job_and_pushes_its_outcome(editor: Editor, redis_client: Any) -> None:
    answer = editor.call("lisp_evolve", evolve_params())
    job = answer["job"]
    assert answer == {"job": job, "name": "print-left"} and job.startswith("e-")
    # The connection stays free while the job runs: other requests are answered.
    assert editor.call("lisp_list", {}) == {"programs": []}
    progress = pushed(editor, job, "progress")
    assert (progress["generation"], progress["generations"]) == (1, 5)
    done = pushed(editor, job, "done")
    assert done["live"] is True and done["version"] == 1 and done["why"] == ""
    assert done["author"] == "offline" and done["generations"] >= 1
    assert done["winner"]["held_out"]["precision"] == 1.0
    assert done["candidates"][-1]["live"] is True and "source" not in done["candidates"][-1]
    assert done["lineage"].startswith("v1 (live): gen 1 by offline-search (offline)")
    meta = store.get(redis_client, "print-left")[1]
    assert (meta["version"], meta["kind"]) == ("1", "hints")
    # The winner runs in the daemon's lisp_hints analyzer like any program.
    time.sleep(0.15)
    assert [line for line, _ in editor.hints_for("x = 1\nprint(x)\n")] == [2]


def test_evolve_with_wait_answers_when_done_and_says_why_nothing_went_live(
    editor: Editor, redis_client: Any
) -> None:
    # One generation, and examples no literal test separates: nothing passes, nothing stored.
    same = [{"text": "x = 1\n", "flag": True}, {"text": "x = 1\n", "flag": False},
            {"text": "y = 2\n", "flag": True}, {"text": "y = 2\n", "flag": False}]
    outcome = editor.call("lisp_evolve", evolve_params(examples=same, generations=1, wait=True))
    assert outcome["live"] is False and outcome["version"] is None
    assert outcome["reason"] == "generations" and outcome["generations"] == 1
    assert outcome["why"].startswith("no candidate passed the gates (every generation spent)")
    assert store.get(redis_client, "print-left") is None
    # Without a model for the capability the outcome says so (no error: the request was fine).
    outcome = editor.call("lisp_evolve", evolve_params(offline=False, wait=True))
    assert (outcome["live"], outcome["reason"]) == (False, "no_model")
    assert "no available model offers 'lisp'" in outcome["why"]


BAD_EVOLVE = [
    (["x"], "bad_type", "lisp_evolve takes a map"),
    ({"request": "r", "examples": []}, "bad_type", "name must be a string"),
    (evolve_params(name="../x"), "bad_value", "bad program name"),
    (evolve_params(request=7), "bad_type", "request must be a string"),
    (evolve_params(request="  "), "bad_value", "request must say what to flag"),
    (evolve_params(examples="x"), "bad_type", "examples must be a list"),
    (evolve_params(examples=[1]), "bad_type", "examples[0] must be a map"),
    (evolve_params(examples=[{"text": "x"}]), "missing_field", "examples[0] needs text and flag"),
    (evolve_params(examples=[{"text": ["x"], "flag": True}]), "bad_type", "text must be a string"),
    (evolve_params(examples=[{"text": "x", "flag": "yes"}]), "bad_type",
     "examples[0].flag must be true or false"),
    (evolve_params(examples=[{"text": "x", "flag": True, "language": 3}]), "bad_type",
     "language must be a string"),
    (evolve_params(examples=[{"text": "x", "flag": True, "lines": [0]}]), "bad_type",
     "examples[0].lines must be a list of line numbers"),
    (evolve_params(examples=[{"text": "x", "flag": True, "split": "all"}]), "bad_value",
     "examples[0].split must be train or held_out"),
    (evolve_params(examples=EVOLVE_EXAMPLES[:4]), "bad_value",
     "give examples that must be flagged and examples that must not"),
    (evolve_params(examples=[{"text": "x", "flag": True}] * 201), "bad_value", "at most 200"),
    (evolve_params(offline="yes"), "bad_type", "offline must be true or false"),
    (evolve_params(model=["m"]), "bad_type", "model must be a string"),
    (evolve_params(generations=0), "bad_value", "generations must be from 1 to 20"),
    (evolve_params(generations=2.5), "bad_type", "generations must be an integer"),
    (evolve_params(tokens=True), "bad_type", "tokens must be an integer"),
    (evolve_params(min_recall=2), "bad_value", "min_recall must be from 0 to 1"),
    (evolve_params(min_precision="1"), "bad_type", "min_precision must be a number"),
    (evolve_params(kind="ghost"), "bad_value", "kind must be one of"),
    (evolve_params(languages="python"), "bad_type", "languages must be a list"),
    (evolve_params(wait=1), "bad_type", "wait must be true or false"),
]


def test_evolve_refuses_params_that_do_not_fit(editor: Editor, redis_client: Any) -> None:
    for params, code, says in BAD_EVOLVE:
        message = refused(lambda p=params: editor.call("lisp_evolve", p), code)
        assert says in message, (params, message)
    assert store.get(redis_client, "print-left") is None
    assert redis_client.llen("redis-ai:{lisp}:candidates:print-left") == 0

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

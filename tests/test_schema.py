"""The event schema: what is accepted, how it is normalised, and the error for each misfit."""

from __future__ import annotations

import random
from typing import Any

import msgpack
import pytest
from msgspec import UNSET

from redis_ai.errors import BadEvent
from redis_ai.schema import (
    MAX_FIELD,
    MAX_TEXT,
    decode_event,
    language_of,
    result,
    validate_event,
)
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
    ({"analyzers": ["code_analysis", "\udcff"]}, "bad_utf8"),
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
    # The fast path refuses it too, leaving the explanation to validate_event.
    assert decode_event(msgpack.packb(ev, unicode_errors="surrogateescape")) is None


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


# -- the fast path (decode_event) against the reference (validate_event) ----------------------

def _fast(ev: dict[str, Any]) -> dict[str, Any] | None:
    """decode_event's verdict on ``ev``, as the map validate_event would have returned."""
    decoded = decode_event(msgpack.packb(ev, unicode_errors="surrogateescape"))
    if decoded is None:
        return None
    out = {f: getattr(decoded, f) for f in decoded.__struct_fields__
           if f not in ("client", "received") and getattr(decoded, f) is not UNSET}
    if "region" in out:
        out["region"] = list(out["region"])
    return out


def _slow(ev: dict[str, Any]) -> dict[str, Any] | None:
    raw = msgpack.unpackb(msgpack.packb(ev, unicode_errors="surrogateescape"), raw=False,
                          unicode_errors="surrogateescape")
    try:
        return validate_event(raw)
    except BadEvent:
        return None


_VALUES = [None, 0, 1, 2, -1, 3.5, True, False, "", "x", "python-mode", "lua", "/a/b.el", "é" * 3,
           "bad \udcc3", "é" * (MAX_FIELD // 4), "é" * (MAX_FIELD // 4 + 1), "f" * (MAX_FIELD + 1),
           [], [1, 2], [0, 2], [1], ["code_analysis"], ["x" * 128], [1, "a"], {"a": 1},
           "edit", "save", "execute_code", "explode", 1 << 40]


def test_the_fast_path_accepts_only_what_validation_accepts_and_agrees_on_it():
    rng = random.Random(1234)
    names = ["v", "editor", "buffer", "file", "mode", "language", "line", "col", "tick", "text",
             "first_line", "keys", "command", "intent", "whole", "region", "analyzers", "ts",
             "unknown"]
    fast_count = 0
    for _ in range(4000):
        ev = event(mode=rng.choice(["python", "lua", "", "python-mode"]), keys="C-c C-c",
                   command="self-insert-command", ts=1.7e12, first_line=3)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            name = rng.choice(names)
            if rng.random() < 0.15:
                ev.pop(name, None)
            else:
                ev[name] = rng.choice(_VALUES)
        fast, slow = _fast(ev), _slow(ev)
        if fast is not None:
            fast_count += 1
            assert fast == slow, ev
    # The generator must exercise both verdicts, or this test proves nothing.
    assert 1000 < fast_count < 3900


@pytest.mark.parametrize("ev", [
    event(),
    # What the Neovim plugin sends (lua/redis_ai/capture.lua), and a request with a region.
    {"v": 1, "editor": "nvim", "buffer": "3", "file": "/src/a.py", "mode": "python", "line": 12,
     "col": 4, "tick": 88, "text": "def f():\n    return 1\n", "first_line": 1, "keys": "i",
     "command": "insert", "intent": "edit", "whole": False, "ts": 1764000000123},
    event(intent="request", region=[3, 9], analyzers=["test_generation"], whole=True),
])
def test_editor_events_take_the_fast_path(ev):
    assert _fast(ev) is not None and _fast(ev) == _slow(ev)

"""The versioned event and result schemas (docs/protocol.md) and their validation.

Validation runs on every event the editors send, so it has two paths that accept the same events:

- ``decode_event``, the fast path: msgspec decodes an event's msgpack bytes straight into a
  ``StreamEvent`` and checks every type and bound in C while it does (about 0.8 µs per event).
  It is deliberately stricter than the protocol (shorter strings, no explicit nils), so whatever
  it accepts ``validate_event`` accepts too, with the same result (tests/test_schema.py checks
  this on generated events). When it refuses, it returns None and the caller takes the slow path.
- ``validate_event``, the reference: a flat sequence of checks on a decoded map that says exactly
  what is wrong (the protocol's named errors). It also serves EPC, whose events come as JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .errors import BadEvent

VERSION = 1

Intent = Literal["edit", "save", "execute_code", "request", "cursor", "open"]
INTENTS = frozenset(get_args(Intent))
RESULT_KINDS = frozenset({"diagnostics", "completion", "hints", "tests", "next_edit"})

MAX_TEXT = 1 << 20
"""Largest ``text`` window accepted, in UTF-8 bytes (1 MiB)."""

MAX_FIELD = 4096
"""Largest value accepted for any other string field, in characters."""

# Field names by type. Types are checked with ``type(x) is T``: decoded msgpack and JSON never
# produce subclasses, and it keeps True out of the integers without a second test.
_INTS = ("v", "line", "col", "tick", "first_line")
_STRS = ("editor", "buffer", "file", "mode", "language", "keys", "command", "text", "intent")
_REQUIRED = frozenset({"v", "editor", "buffer", "line", "col", "tick", "text"})
_NAMES = {int: "an integer", str: "a string", bool: "a boolean", list: "a list"}

_EXTENSIONS = {
    ".py": "python", ".pyi": "python", ".el": "elisp", ".lua": "lua", ".js": "javascript",
    ".ts": "typescript", ".rs": "rust", ".go": "go", ".c": "c", ".h": "c", ".json": "json",
    ".toml": "toml", ".sh": "sh", ".rb": "ruby", ".java": "java",
}
_MODES = {
    "python-mode": "python", "python-ts-mode": "python", "python": "python",
    "emacs-lisp-mode": "elisp", "lisp-interaction-mode": "elisp", "lua-mode": "lua", "lua": "lua",
    "js-mode": "javascript", "javascript": "javascript", "json-mode": "json", "json": "json",
    "sh-mode": "sh", "sh": "sh", "bash": "sh", "toml": "toml", "rust": "rust", "go": "go",
    "bash-ts-mode": "sh", "lua-ts-mode": "lua", "yaml-mode": "yaml", "yaml-ts-mode": "yaml",
    "yaml": "yaml",  # by mode only: a .yaml name would make the n-gram model learn data files
}


def language_of(mode: str, file: str) -> str:
    """Normalise an Emacs major mode or a Neovim filetype (or else the file name) to a language."""
    lang = _MODES.get(mode)
    if lang:
        return lang
    dot = file.rfind(".")
    if dot >= 0:
        return _EXTENSIONS.get(file[dot:].lower(), "")
    return ""


# The fast path's bounds, in characters, are a quarter of the byte limits: a string of N
# characters is at most 4N bytes of UTF-8, so nothing the fast path accepts breaks a byte limit.
_Short = Annotated[str, Meta(max_length=MAX_FIELD // 4)]
_Text = Annotated[str, Meta(max_length=MAX_TEXT // 4)]
_Line = Annotated[int, Meta(ge=1)]
_Count = Annotated[int, Meta(ge=0)]


class StreamEvent(msgspec.Struct, gc=False):
    """A valid event as it is written to the stream: the editor's fields with their defaults,
    plus ``client`` and ``received`` that the daemon stamps. Optional fields the editor left
    out stay out (UNSET), exactly as ``validate_event`` leaves them out of its map."""

    v: Literal[1]
    editor: _Short
    buffer: _Short
    line: _Line
    col: _Count
    tick: _Count
    text: _Text
    first_line: _Line = 1
    file: _Short = ""
    mode: _Short = ""
    language: _Short = ""
    keys: _Short = ""
    command: _Short = ""
    intent: Intent = "edit"
    whole: bool = False
    region: tuple[_Line, _Line] | UnsetType = UNSET
    analyzers: list[Annotated[str, Meta(max_length=127)]] | UnsetType = UNSET
    ts: int | float | UnsetType = UNSET
    client: str = ""
    received: float = 0.0


_decoder = msgspec.msgpack.Decoder(StreamEvent)
encode_events = msgspec.msgpack.Encoder().encode
"""Encode a list of StreamEvents (or event maps) as one msgpack array: a stream entry's ``e``."""


def decode_event(data: bytes | memoryview) -> StreamEvent | None:
    """The fast path: one msgpack-encoded event map -> a StreamEvent, or None if the fast path
    cannot vouch for it (then ``validate_event`` on the decoded map decides, and explains)."""
    try:
        event = _decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None  # (msgspec raises the last for a string that is not UTF-8)
    if not event.language:
        event.language = language_of(event.mode, event.file)
    return event


def stream_event(raw: Any) -> StreamEvent:
    """Validate an event map (the slow path) and return it as a StreamEvent."""
    return StreamEvent(**validate_event(raw))


def validate_event(raw: Any) -> dict[str, Any]:
    """Check an event map from an editor and return a normalised copy; raise BadEvent if unfit.

    >>> validate_event({"v": 1, "editor": "emacs", "buffer": "a.py", "line": 1, "col": 0,
    ...                 "tick": 3, "text": "x = 1\\n"})["intent"]
    'edit'
    """
    if type(raw) is not dict:
        raise BadEvent("bad_type", f"an event must be a map, not {type(raw).__name__}")
    get = raw.get
    event: dict[str, Any] = {}
    for name in _INTS:
        value = get(name)
        if type(value) is not int:
            _misfit(name, value, int)
            continue
        event[name] = value
    for name in _STRS:
        value = get(name)
        if type(value) is not str:
            _misfit(name, value, str)
            continue
        if len(value) > MAX_FIELD or not value.isascii():
            _check_text(name, value)  # short ASCII fits every limit: the common case skips this
        event[name] = value
    for name, kind in (("whole", bool), ("region", list), ("analyzers", list)):
        value = get(name)
        if value is not None:
            if type(value) is not kind:
                _misfit(name, value, kind)
            event[name] = value
    ts = get("ts")
    if ts is not None:
        if type(ts) not in (int, float):
            raise BadEvent("bad_type", "event field 'ts' must be a number")
        event["ts"] = ts
    _check_values(event)
    return event


def _misfit(name: str, value: Any, kind: type) -> None:
    """Raise for a missing required field or a value of the wrong type; accept a missing option."""
    if value is None:
        if name in _REQUIRED:
            raise BadEvent("missing_field", f"event field {name!r} is required")
        return
    raise BadEvent("bad_type", f"event field {name!r} must be {_NAMES[kind]}")


def _check_values(event: dict[str, Any]) -> None:
    """Ranges and enumerations, and the defaults of optional fields."""
    if event["v"] != VERSION:
        raise BadEvent("bad_version", f"event version {event['v']} is not supported (want {VERSION})")
    if event["line"] < 1 or event["col"] < 0 or event["tick"] < 0:
        raise BadEvent("bad_value", "line must be >= 1, col and tick >= 0")
    if event.setdefault("first_line", 1) < 1:
        raise BadEvent("bad_value", "first_line must be >= 1")
    intent = event.setdefault("intent", "edit")
    if intent not in INTENTS:
        raise BadEvent("bad_value", f"intent {intent!r} is not one of {sorted(INTENTS)}")
    region = event.get("region")
    if region is not None and (
        len(region) != 2 or not all(type(x) is int and x >= 1 for x in region)
    ):
        raise BadEvent("bad_value", "region must be [start_line, end_line], 1-based")
    names = event.get("analyzers")
    if names is not None:
        if not all(type(x) is str and len(x) < 128 for x in names):
            raise BadEvent("bad_value", "analyzers must be a list of analyzer names")
        for name in names:
            if not name.isascii():
                _check_text("analyzers", name)
    event.setdefault("whole", False)
    for name in ("file", "mode", "keys", "command"):
        event.setdefault(name, "")
    if not event.get("language"):
        event["language"] = language_of(event["mode"], event["file"])


def _check_text(name: str, value: str) -> None:
    limit = MAX_TEXT if name == "text" else MAX_FIELD
    if value.isascii():
        # The common case, answered without encoding: one byte per character, no surrogates.
        if len(value) > limit:
            raise BadEvent("too_large", f"event field {name!r} is larger than {limit} bytes")
        return
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        # The msgpack decoder maps invalid UTF-8 to lone surrogates (surrogateescape).
        raise BadEvent("bad_utf8", f"event field {name!r} is not valid UTF-8") from None
    if size > limit:
        raise BadEvent("too_large", f"event field {name!r} is larger than {limit} bytes")


def result(
    event: dict[str, Any],
    event_id: str,
    analyzer: str,
    kind: str,
    items: list[dict[str, Any]],
    elapsed_ms: float,
) -> dict[str, Any]:
    """Build the result map that is published for ``event`` (see docs/protocol.md)."""
    return {
        "type": "result",
        "id": f"{event_id}/{analyzer}",
        "event": event_id,
        "client": event.get("client", ""),
        "buffer": event["buffer"],
        "file": event.get("file", ""),
        "tick": event["tick"],
        "line": event["line"],
        "col": event["col"],
        "analyzer": analyzer,
        "kind": kind,
        "items": items,
        "elapsed_ms": round(elapsed_ms, 3),
        "received": event.get("received", 0),
    }

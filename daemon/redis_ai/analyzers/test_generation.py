"""Test generation: a pytest module for the Python function at the cursor, offered on
``execute_code`` and ``request`` events (or when an event names this analyzer).

The tests come from what the source says (docstring examples, guard clauses, type hints) and are
run, on the explicit intents only, before they are offered; the work is in ``testgen``.
"""

from __future__ import annotations

import logging

from .base import Analyzer, Event, Item
from .testgen import generate, module_of, project_root

log = logging.getLogger(__name__)

VERIFY_INTENTS = ("execute_code", "request")
"""The intents whose tests are run before they are offered: the user asked and waits, and the
run (a pytest process, up to runner.TIMEOUT_S) only delays this analyzer's own answer."""


class TestGeneration(Analyzer):
    """A pytest module for the function at the cursor."""

    __test__ = False  # a class named Test* is not a test class to pytest
    name = "test_generation"
    kind = "tests"
    languages = frozenset({"python"})

    def wants(self, event: Event) -> bool:
        """Only on execute_code and request events, or when the event names this analyzer."""
        if not super().wants(event):
            return False
        return event.get("analyzers") is not None or event.get("intent") in VERIFY_INTENTS

    def analyze(self, event: Event) -> list[Item] | None:
        """``{title, text, path, line, status}`` items (``line``: the buffer line of the
        function's ``def``): the tests that pass, a possible bug, or why there are none."""
        if not self.wants(event):
            return None
        try:
            return generate(event, verify=event.get("intent") in VERIFY_INTENTS)
        except Exception:  # an analyzer must survive any text; the failure is logged, not sent
            log.exception("test_generation failed on %s", event.get("file"))
            return []


__all__ = ["TestGeneration", "module_of", "project_root"]

"""The analyzers, by name. Adding one is a module here and a line in BUILTIN (docs/analyzers.md).

A name may also be ``package.module:ClassName`` to load an analyzer from outside this package,
which is how users (and the tests) add their own without editing redis-ai.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .base import Analyzer

if TYPE_CHECKING:
    from redis import Redis

BUILTIN: dict[str, str] = {
    "checkers": "redis_ai.analyzers.checkers:Checkers",
    "code_analysis": "redis_ai.analyzers.code_analysis:CodeAnalysis",
    "code_index": "redis_ai.search.analyzer:CodeIndexer",
    "completion": "redis_ai.analyzers.completion:Completion",
    "lisp": "redis_ai.lisp.analyzer:LispDiagnostics",
    "lisp_hints": "redis_ai.lisp.analyzer:LispHints",
    "next_edit": "redis_ai.analyzers.next_edit:NextEdit",
    "performance_optimization": "redis_ai.analyzers.performance:PerformanceOptimization",
    "test_generation": "redis_ai.analyzers.test_generation:TestGeneration",
}

DEFAULT: tuple[str, ...] = (
    "code_analysis", "completion", "performance_optimization", "test_generation",
    "code_index", "lisp", "lisp_hints", "checkers", "next_edit",
)
"""Analyzers the daemon runs when none are named. code_index, the two Lisp ones and checkers
cost nearly nothing until there is something for them (a saved file; a stored program; a shell,
YAML or Lua buffer), and with them in the default set search stays fresh, a program defined
while the daemon runs takes effect and other languages get their diagnostics."""


def load(spec: str, redis: Redis | None = None) -> Analyzer:
    """Instantiate the analyzer named ``spec`` (a BUILTIN name or ``module:Class``)."""
    target = BUILTIN.get(spec, spec)
    module_name, sep, attr = target.partition(":")
    if not sep:
        raise ValueError(f"unknown analyzer {spec!r}; known: {', '.join(sorted(BUILTIN))}")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
        raise ValueError(f"{target} is not an Analyzer subclass")
    return cls(redis)


__all__ = ["BUILTIN", "DEFAULT", "Analyzer", "load"]

"""A small sandboxed Lisp whose programs are stored as data in Redis lists (docs/lisp.md).

Users define analyzers in it (``redis-ai lisp define``) that build on one another with
``require`` and change while the daemon runs: the ``lisp`` and ``lisp_hints`` analyzers reload
the stored programs whenever their version counter moves.

Layers: ``data`` (values) -> ``reader`` (text <-> data) -> ``eval`` (the interpreter) ->
``builtins`` (primitives) -> ``program`` (load, require, run, items) -> ``store`` (Redis) ->
``analyzer`` (consumer groups) and ``cli``. ``redis-ai evolve`` writes programs on top of
these: ``reference`` (what a model is told) -> ``gates`` (sandbox runs, scores) -> ``evolve``
(the loop) with ``author`` (a registry model) or ``variants`` (the offline search) ->
``lineage`` (versions, rollback, feedback per version) and ``replay`` (recordings, diffs).
"""

from __future__ import annotations

from .data import LispError
from .program import evaluate_text
from .reader import read, read_all, to_string

__all__ = ["LispError", "evaluate_text", "read", "read_all", "to_string"]

"""Queueing Lua scripts on pipelines that may be a Redis Cluster's."""

from __future__ import annotations

from typing import Any


def queue_eval(pipe: Any, script: str, names: list[str], args: list[Any]) -> None:
    """Queue ``EVAL script`` with keys ``names`` and arguments ``args`` on ``pipe``, a plain or a
    cluster pipeline (transaction or not).

    redis-py's cluster pipeline replaces ``eval`` by a method that refuses, but it routes a raw
    EVAL by its keys like any keyed command. On a cluster the keys of one call must share a
    slot (one hash tag), as for any script; on plain Redis this is what ``pipe.eval`` sends.
    """
    pipe.execute_command("EVAL", script, len(names), *names, *args)

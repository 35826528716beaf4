"""Stored Lisp programs from Emacs: tests/emacs/redis-ai-lisp-test.el in a real batch Emacs,
against a real daemon running the real ``lisp`` and ``lisp_hints`` analyzers on a real Redis.
A program defined from one buffer flags what is typed in another; redefined, its new message
shows; broken, it is refused with its place and the stored version keeps running. One evolved
offline from regions marked as examples goes live and flags the buffer it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis_ai.lisp import store
from tests.test_emacs import daemon_actions, run_ert


def test_ert_without_daemon(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REDIS_AI_RUNTIME_DIR": str(tmp_path)}
    run_ert(["redis-ai-lisp-test"], '"^redis-ai-lisp-unit-"', env)


def test_ert_lisp_with_daemon(make_daemon: Any, redis_client: Any) -> None:
    daemon = make_daemon(analyzers=["lisp", "lisp_hints"])
    run_ert(["redis-ai-lisp-test"], "(tag daemon)", daemon.env, daemon_actions(daemon))
    # What Emacs did is what Redis holds: the program removed, the refused one never stored.
    assert store.get(redis_client, "shout-lines") is None
    assert store.get(redis_client, "region-test") is None
    # Two defines and one remove, then the evolved program: live with its lineage.
    assert store.version(redis_client) == 4
    versions = store.versions(redis_client, "print-left")
    assert versions[1]["lineage"]["author"] == "offline"
    assert versions[1]["lineage"]["request"] == "flag print() calls left in code"

"""Next-edit suggestions in Emacs: tests/emacs/redis-ai-next-edit-test.el in a real batch Emacs,
typing through the command loop, against a real daemon running the next_edit analyzer."""

from __future__ import annotations

from typing import Any

from tests.test_emacs import daemon_actions, run_ert


def test_ert_next_edit_with_daemon(make_daemon: Any) -> None:
    daemon = make_daemon(analyzers=["next_edit"])
    run_ert(["redis-ai-next-edit-test"], "(tag daemon)", daemon.env, daemon_actions(daemon))

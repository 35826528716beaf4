"""Fixes from Emacs: tests/emacs/redis-ai-fix-test.el in a real batch Emacs, against a real
daemon running the real code_analysis analyzer (ruff) on a real Redis. What `redis-ai-fix` and
`redis-ai-fix-all` make of a buffer is compared with ``ruff check --fix-only`` run by hand on the
same text, with the daemon's own options for a buffer without a file; a single undo restores the
buffer, and a fix computed before an edit is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from redis_ai.analyzers import ruff_engine
from tests.test_emacs import daemon_actions, run_ert

RUFF_FIX = [ruff_engine.binary(), "check", "--isolated", "--no-cache", *ruff_engine.default_options(),
            "--fix-only", "--exit-zero", "--quiet", "--stdin-filename", "buffer.py", "-"]
"""ruff by hand as the daemon runs it on a buffer without a file, fixing instead of reporting."""


def test_ert_without_daemon(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REDIS_AI_RUNTIME_DIR": str(tmp_path)}
    run_ert(["redis-ai-fix-test"], '"^redis-ai-fix-unit-"', env)


def test_ert_fixes_with_daemon(make_daemon: Any) -> None:
    daemon = make_daemon(analyzers=["code_analysis"])
    env = {**daemon.env, "REDIS_AI_TEST_RUFF_FIX": json.dumps(RUFF_FIX)}
    run_ert(["redis-ai-fix-test"], "(tag daemon)", env, daemon_actions(daemon))

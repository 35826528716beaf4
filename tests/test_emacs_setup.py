"""The README's Emacs set-up as a user has it: its snippet, loaded as written in ``emacs -Q`` on
Debian's Emacs 28 (no built-in use-package, Debian's elpa not on the load path), turns the mode on
in Python buffers and gives the Lisp commands in a .lisp buffer, against a real daemon.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from redis_ai.lisp import store
from tests.test_emacs import EMACS, ERT, ROOT

pytestmark = pytest.mark.skipif(EMACS is None, reason="emacs is not installed")


def readme_snippet() -> str:
    """The first elisp block of the README's Emacs section, with this checkout's path put in."""
    section = (ROOT / "README.md").read_text().split("## Emacs", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```elisp\n(.*?)```", section, re.S)
    assert block, "no elisp snippet in the README's Emacs section"
    return block.group(1).replace("~/src/redis-ai", str(ROOT))


def test_readme_snippet_under_emacs_q(make_daemon: Any, redis_client: Any, tmp_path: Path) -> None:
    daemon = make_daemon(analyzers=["lisp"])
    init = tmp_path / "init.el"
    init.write_text(readme_snippet())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "REDIS_AI_RUNTIME_DIR": daemon.env["REDIS_AI_RUNTIME_DIR"]}
    assert EMACS is not None
    proc = subprocess.run(
        [EMACS, "-Q", "--batch", "-l", str(init), "-l", str(ERT / "redis-ai-setup-test.el"),
         "--eval", "(ert-run-tests-batch-and-exit '(tag setup))"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stderr
    assert " 0 unexpected" in proc.stderr
    assert store.get(redis_client, "setup-shout") is not None

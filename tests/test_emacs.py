"""The Emacs plugin: ERT suites in a real batch Emacs (Debian's emacs with elpa-epc), against a
real daemon on a real Redis. Keys are typed through Emacs's command loop (see
tests/emacs/redis-ai-test-helpers.el). When a test needs the daemon restarted or paused, Emacs
writes a request file in $REDIS_AI_TEST_CONTROL and keeps running until we answer it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from redis_ai import analytics, keys

ROOT = Path(__file__).resolve().parent.parent
ELISP = ROOT / "emacs"
ERT = ROOT / "tests" / "emacs"
ELPA = Path("/usr/share/emacs/site-lisp/elpa")
EMACS = shutil.which("emacs")
DEPENDENCIES = ("epc", "deferred", "ctable", "concurrent")
DEFAULT_ANALYZERS = ["code_analysis", "tests.support.analyzers:FixedCompletion"]
SLOW_ANALYZERS = ["tests.support.analyzers:Slow", "tests.support.analyzers:FixedCompletion"]

pytestmark = pytest.mark.skipif(EMACS is None, reason="emacs is not installed")


def load_path() -> list[str]:
    """-L arguments for the plugin, the ERT helpers and epc.el with its dependencies."""
    dirs = [ELISP, ERT]
    for name in DEPENDENCIES:
        found = sorted(ELPA.glob(f"{name}-*"))
        if not found:
            pytest.skip(f"{name}.el is not installed (apt install elpa-epc)")
        dirs.append(found[-1])
    args: list[str] = []
    for folder in dirs:
        args += ["-L", str(folder)]
    return args


def run_emacs(args: list[str], env: dict[str, str], actions: dict[str, Callable[[], Any]] | None = None,
              timeout: float = 120) -> tuple[int, str]:
    """Run batch Emacs with ARGS; serve its requests to act on the daemon; return (rc, output)."""
    control = Path(tempfile.mkdtemp(prefix="rai-emacs-"))
    env = {**env, "REDIS_AI_TEST_CONTROL": str(control)}
    assert EMACS is not None
    proc = subprocess.Popen([EMACS, "-Q", "--batch", *load_path(), *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, b"")),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    served = 0
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                reader.join(5)
                pytest.fail(f"emacs did not finish in {timeout} s:\n{b''.join(output).decode(errors='replace')}")
            request = control / f"request-{served + 1}"
            if request.exists():
                action = request.read_text().strip()
                assert actions and action in actions, f"unexpected request {action!r}"
                actions[action]()
                served += 1
                (control / f"done-{served}").write_text(action)
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)
        proc.stdout.close()  # type: ignore[union-attr]
        shutil.rmtree(control, ignore_errors=True)
    return proc.returncode, b"".join(output).decode(errors="replace")


def run_ert(files: list[str], selector: str, env: dict[str, str],
            actions: dict[str, Callable[[], Any]] | None = None) -> str:
    """Run the ERT tests of FILES matching SELECTOR; fail with Emacs's output unless all pass."""
    args = ["--eval", "(setq backtrace-on-error-noninteractive nil)"]
    for name in files:
        args += ["-l", name]
    args += ["--eval", f"(ert-run-tests-batch-and-exit '{selector})"]
    rc, output = run_emacs(args, env, actions)
    print(output)
    assert rc == 0, f"ERT failed (rc {rc}):\n{output}"
    assert "unexpected" in output and " 0 unexpected" in output, output
    return output


def daemon_actions(daemon: Any) -> dict[str, Callable[[], Any]]:
    return {"kill": daemon.kill, "start": daemon.start, "restart": daemon.restart,
            "pause": daemon.pause, "resume": daemon.resume}


def test_byte_compiles_without_warnings_and_is_checkdoc_clean(tmp_path: Path) -> None:
    for source in ELISP.glob("*.el"):
        shutil.copy(source, tmp_path)
    script = f"""
(progn
  (setq byte-compile-error-on-warn t)
  (add-to-list 'load-path "{tmp_path}")
  (require 'checkdoc)
  (setq checkdoc-spellcheck-documentation-flag nil)
  (let ((ok t))
    (dolist (file (directory-files "{tmp_path}" t "\\\\.el\\\\'"))
      (unless (byte-compile-file file) (setq ok nil))
      (with-current-buffer (find-file-noselect file)
        (let ((checkdoc-diagnostic-buffer "*checkdoc*"))
          (checkdoc-current-buffer t))))
    (with-current-buffer (get-buffer-create "*checkdoc*")
      (goto-char (point-min))
      (when (re-search-forward "^[^ \\n]+\\\\.el:[0-9]+: " nil t)
        (setq ok nil)
        (princ (buffer-string))))
    (kill-emacs (if ok 0 1))))
"""
    rc, output = run_emacs(["--eval", script], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    print(output)
    assert rc == 0, output
    assert sorted(p.name for p in tmp_path.glob("*.elc")) == sorted(
        p.with_suffix(".elc").name for p in ELISP.glob("*.el"))


def test_installs_with_package_install_file(tmp_path: Path) -> None:
    script = f"""
(progn
  (require 'package)
  ;; Debian's site-start adds its elpa folder, where elpa-epc lives; -Q skips site-start.
  (setq package-user-dir "{tmp_path / 'elpa'}"
        package-directory-list (list "{ELPA}")
        package-archives nil)
  (package-initialize)
  (package-install-file "{ELISP}/")
  (unless (package-installed-p 'redis-ai) (kill-emacs 2))
  (unless (and (fboundp 'global-redis-ai-mode) (fboundp 'redis-ai-start-daemon)
               (not (featurep 'redis-ai)))
    (kill-emacs 3))
  (require 'redis-ai)
  (unless (string-prefix-p (expand-file-name package-user-dir)
                           (locate-library "redis-ai-connection"))
    (kill-emacs 4))
  (kill-emacs 0))
"""
    rc, output = run_emacs(["--eval", script], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert rc == 0, output


def test_ert_without_daemon(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "REDIS_AI_RUNTIME_DIR": str(tmp_path)}
    run_ert(["redis-ai-unit-test"], '"^redis-ai-unit-"', env)


def test_ert_with_daemon(daemon: Any) -> None:
    run_ert(["redis-ai-daemon-test"], "(tag daemon)", daemon.env, daemon_actions(daemon))
    # Drawing, accepting and dismissing reached the daemon as feedback for the analyzer that
    # offered.
    members = daemon.redis.zrange(keys.stat(analytics.FEEDBACK, "fixed_completion"), 0, -1)
    actions = {m.decode().rsplit(":", 1)[1] for m in members}
    assert actions == {"shown", "accepted", "accepted_partial", "dismissed"}


def test_ert_daemon_started_from_emacs(redis_client: Any, redis_server: Any) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="rai-"))
    runtime.chmod(0o700)
    command = [sys.executable, "-m", "redis_ai", "daemon", "--redis-url", redis_server.url,
               "--analyzers", ",".join(DEFAULT_ANALYZERS)]
    env = {**os.environ, "REDIS_AI_RUNTIME_DIR": str(runtime),
           "REDIS_AI_DATA_DIR": str(runtime / "data"),
           "PYTHONPATH": str(ROOT), "REDIS_AI_TEST_DAEMON_COMMAND": shlex.join(command)}
    try:
        run_ert(["redis-ai-daemon-test"], "(tag start)", env)
    finally:
        discovery = runtime / "daemon.json"
        if discovery.exists():
            os.kill(json.loads(discovery.read_text())["pid"], signal.SIGKILL)
        shutil.rmtree(runtime, ignore_errors=True)


def test_ert_daemon_started_from_the_checkout_without_path(redis_server: Any) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="rai-"))
    runtime.chmod(0o700)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(runtime), "REDIS_AI_RUNTIME_DIR": str(runtime),
           "REDIS_AI_DATA_DIR": str(runtime / "data"), "REDIS_AI_REDIS_URL": redis_server.url}
    try:
        run_ert(["redis-ai-daemon-test"], "(tag start-checkout)", env)
    finally:
        discovery = runtime / "daemon.json"
        if discovery.exists():
            os.kill(json.loads(discovery.read_text())["pid"], signal.SIGKILL)
        shutil.rmtree(runtime, ignore_errors=True)


def test_ert_real_analyzers(make_daemon: Any) -> None:
    daemon = make_daemon(analyzers=["code_analysis", "performance_optimization", "test_generation"])
    run_ert(["redis-ai-daemon-test"], "(tag analyzers)", daemon.env, daemon_actions(daemon))


def test_ert_stale_results(make_daemon: Any) -> None:
    daemon = make_daemon(analyzers=SLOW_ANALYZERS)
    run_ert(["redis-ai-daemon-test"], "(tag slow)", daemon.env, daemon_actions(daemon))

"""Running a generated module before it is offered: pytest in a subprocess, with a timeout, in the
user's environment when one is found (a virtualenv in the project root that has pytest, and
hypothesis when the module uses it), else the daemon's own interpreter."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .writer import NO_NETWORK

TIMEOUT_S = 30.0
"""The longest a verification runs; past it the module is offered unverified."""
_VENVS = (".venv", "venv", ".env", "env")
PYTEST_OPTIONS = ("-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                  "-W", "default::DeprecationWarning", "-W", "default::PendingDeprecationWarning")
"""pytest 9 fails a test on a DeprecationWarning; a docstring example that warns (a function
on its way out) still does what it shows, as under ``python -m doctest``."""
_HYPOTHESIS_LIMITS = ("FailedHealthCheck", "Unsatisfiable", "hypothesis.errors.InvalidArgument",
                      "ResolutionFailed")


@dataclass
class Outcome:
    """What running the module said: the tests that passed, those that failed (with pytest's
    message), those that needed the network, or why nothing could be said."""

    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    offline: list[str] = field(default_factory=list)
    unusable: dict[str, str] = field(default_factory=dict)
    """Tests hypothesis could not run (too few inputs pass the function's own refusals): a
    limit of the generated test, not a finding."""
    error: str | None = None
    python: str = ""


def interpreter(project: Path, modules: tuple[str, ...]) -> str:
    """The Python of the project's virtualenv if it can import ``modules``, else the
    daemon's."""
    for name in _VENVS:
        python = project / name / "bin" / "python"
        if python.exists() and _imports(str(python), modules):
            return str(python)
    return sys.executable


@lru_cache(maxsize=64)
def _imports(python: str, modules: tuple[str, ...]) -> bool:
    try:
        return subprocess.run([python, "-c", f"import {', '.join(modules)}"],
                              capture_output=True, timeout=15, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def run(text: str, python: str, own: Path | None = None, timeout: float = TIMEOUT_S,
        on_instance: bool = False) -> Outcome:
    """Run module ``text`` with pytest under ``python``; each test's outcome. ``own``: the
    import root of the code under test (a failure raised outside it is no finding);
    ``on_instance``: the tests call a method on a freshly built instance."""
    with tempfile.TemporaryDirectory(prefix="redis-ai-testgen-") as folder:
        module = Path(folder) / "test_generated.py"
        module.write_text(text, encoding="utf-8")
        report = Path(folder) / "report.xml"
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        argv = [python, "-m", "pytest", *PYTEST_OPTIONS, f"--junit-xml={report}",
                f"--rootdir={folder}", str(module)]
        try:
            proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
        except OSError as exc:
            return Outcome(error=f"pytest could not start ({exc})", python=python)
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the tests' own children too
            proc.communicate()
            return Outcome(error=f"the tests ran longer than {timeout:g} s", python=python)
        return _read(report, output, python, own, on_instance)


def _read(report: Path, output: str, python: str, own: Path | None,
          on_instance: bool) -> Outcome:
    outcome = Outcome(python=python)
    if not report.exists():
        last = output.strip().splitlines()[-1:] or ["no output"]
        outcome.error = f"pytest gave no report ({last[0]})"
        return outcome
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name") or ""
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if case.find("skipped") is not None:
            continue
        if problem is None:
            outcome.passed.append(name.split("[")[0])
            continue
        message = (problem.get("message") or "") + "\n" + (problem.text or "")
        if not name.startswith("test_") or case.get("classname", "") == "":
            outcome.error = "the module did not import: " + _last_line(message)
        else:
            verdict, detail = classify(message, own, on_instance)
            if verdict == "offline":
                outcome.offline.append(name)
            elif verdict == "unusable":
                outcome.unusable[name] = detail
            else:
                outcome.failed[name] = message.strip()
    return outcome


_FRAME = re.compile(r"^(/[^:\n]+\.py):\d+: (\w+)", re.MULTILINE)


def classify(message: str, own: Path | None, on_instance: bool = False) -> tuple[str, str]:
    """What a failing test's report says, with a one-line detail:

    * ``offline``: it needed the network;
    * ``unusable``: hypothesis could not draw enough inputs; or the error came from outside
      the code under test and the test module (a state or context the test does not build,
      such as Flask's application context); or a method on a fresh instance raised (``pop``
      of an empty stack: a precondition on the state, which the test does not know);
    * ``failed``: a possible bug: an assert of the test failed (a wrong type, a property that
      does not hold, a doctest's output, an exception that was not raised), or a function
      raised an undeclared exception for arguments of its annotated types."""
    if NO_NETWORK in message:
        return "offline", NO_NETWORK
    if any(word in message for word in _HYPOTHESIS_LIMITS):
        return "unusable", _last_line(message)
    frames = _FRAME.findall(message)
    if frames and own is not None:
        path, error = frames[-1]
        in_test = Path(path).name.startswith("test_")
        if not in_test and not Path(path).is_relative_to(own):
            return "unusable", f"{error} raised in {Path(path).name}, outside the code under test"
        if not in_test and on_instance:
            return "unusable", f"{error}: the method refuses a fresh instance's state"
    return "failed", _last_line(message)


def _last_line(message: str) -> str:
    lines = [x.strip() for x in message.strip().splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("E ")]
    return (errors[-1][1:].strip() if errors else lines[-1] if lines else "")[:300]

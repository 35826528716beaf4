"""test_generation over real packages: how many public functions and methods get a test module,
how many of those modules pass against the code, what they check, and how long generating takes.

The packages (``PROJECTS``: bench diagnostics' pinned sdists and more-itertools) are fetched once
into ``--cache`` and unpacked there; their tests run in a virtualenv of their own
(``--cache``/testgen-env, made once with the pinned packages, their dependencies, pytest and
hypothesis: the "user's environment"), importing each package from its unpacked source, as the
generated modules do. Figures:

* ``functions``: public functions and methods (names without a leading underscore, in classes
  whose names have none, outside tests/docs/examples folders);
* ``with_module``: those for which test_generation writes a module (target >= 80 %);
* ``passing``: of those, the modules that run and pass (target >= 90 %): no test fails and one
  passes at least, once the tests that could not run are set aside as the analyzer does
  (needing the network, a state the test does not build, inputs hypothesis cannot draw);
  ``every_test_passes`` counts those with none set aside; ``failing`` (a test fails: what the
  analyzer offers as a possible bug), ``not_importing``, ``nothing_usable``;
* ``checks_value``: modules with a test that checks a value or a property (an example, a
  doctest, a raised exception with its message, a round trip, idempotence, a pinned value),
  not only a type;
* ``pinned``: modules with a passing characterization test of the project's own literal calls
  (``pinned_varied``: a pinned value that differed when the module ran, set aside);
* ``generation_ms``: p50/p99 of writing one module (no run of the tests, but the recording of
  the project's calls, a subprocess, where there are some), ``verification_ms`` p50/p99 of
  running one module as the analyzer does (a pytest process each), on ``--verify-sample``.
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from ..analyzers import testgen
from ..analyzers.testgen import runner
from ..schema import validate_event
from ._harness import machine, percentile
from .diagnostics import _CACHE, _sources
from .diagnostics import PROJECTS as DIAGNOSTICS_PROJECTS

PROJECTS = (*DIAGNOSTICS_PROJECTS, "more-itertools==10.5.0")
_SKIPPED_FOLDERS = frozenset({"tests", "test", "testing", "docs", "doc", "examples", "scripts",
                              "benchmarks", "tasks", "bin"})
_VALUE_KINDS = frozenset({"example", "doctest", "raises", "property", "pinned"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the cache folder, the projects, the verification sample, the seed."""
    parser.add_argument("--cache", default=str(_CACHE), help="folder for the sdists")
    parser.add_argument("--projects", default=",".join(PROJECTS),
                        help="comma-separated pinned specs (name==version)")
    parser.add_argument("--verify-sample", type=int, default=20,
                        help="modules verified one by one, as the analyzer does, for its timing")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds for each project's pytest run")
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Generate a module for every public function of every project, run them, count."""
    cache = Path(args.cache)
    projects = tuple(args.projects.split(","))
    files = _sources(cache, projects)
    python = _environment(cache, projects)
    per_project: dict[str, Any] = {}
    generation: list[float] = []
    written: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    for spec in projects:
        name, version = spec.split("==")
        folder = cache / f"{name}-{version}"
        mine = [f for f in files if folder in f.parents and _counted(f, folder)]
        found = _generate(mine, folder, spec, generation, python)
        outcome = _run_all(found, cache / "testgen" / name, python, args.timeout)
        per_project[spec] = outcome["figures"]
        totals.update(outcome["figures"])
        written += outcome["modules"]
    rng = random.Random(args.seed)
    with_module = [m for m in written if m["module"]]
    sample = rng.sample(with_module, min(30, len(with_module)))
    verification = _verification_times(written, python, args.verify_sample, rng)
    functions = totals["functions"]
    modules = totals["with_module"]
    return {
        "bench": "testgen", "projects": list(projects), "python": python,
        "functions": functions, "with_module": modules,
        "with_module_share": _share(modules, functions),
        "passing": totals["passing"], "passing_share": _share(totals["passing"], modules),
        "failing": totals["failing"], "not_importing": totals["not_importing"],
        "nothing_usable": totals["nothing_usable"],
        "every_test_passes": totals["every_test_passes"],
        "offered_share_of_functions": _share(totals["offered"], functions),
        "checks_value": totals["checks_value"],
        "checks_value_share": _share(totals["checks_value"], modules),
        "pinned": totals["pinned"], "pinned_varied": totals["pinned_varied"],
        "per_project": per_project,
        "reasons_without_module": _reasons(written),
        "failures": [{"function": m["function"], "failed": m["failed"]}
                     for m in written if m["failed"]],
        "sample": [{"function": m["function"], "kinds": m["kinds"], "tests": m["tests"],
                    "outcome": m["outcome"], "file": m.get("file")} for m in sample],
        "generation_ms": {"p50": percentile(generation, 50), "p99": percentile(generation, 99),
                          "runs": len(generation)},
        "verification_ms": verification,
        "machine": machine(),
    }


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _counted(path: Path, folder: Path) -> bool:
    parts = path.relative_to(folder).parts
    return not (set(parts[:-1]) & _SKIPPED_FOLDERS) and parts[-1] not in (
        "setup.py", "noxfile.py", "conftest.py") and not parts[-1].startswith("test_")


def _environment(cache: Path, projects: tuple[str, ...]) -> str:
    """The Python of a virtualenv with the projects installed (made once)."""
    env = cache / "testgen-env"
    python = env / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *projects, "pytest",
                        "hypothesis"], check=True)
    return str(python)


def _public(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """The public functions and methods: (qualified name, node)."""
    found = []
    stack: list[tuple[str, ast.stmt]] = [("", node) for node in tree.body]
    while stack:
        prefix, node = stack.pop(0)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not (
                node.name.startswith("_")):
            found.append((prefix + node.name, node))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            stack.extend((f"{prefix}{node.name}.", child) for child in node.body)
    return found


def _generate(files: list[Path], folder: Path, spec: str, times: list[float],
              python: str) -> list[dict[str, Any]]:
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        located = testgen.module_of(str(path))
        if located is None:
            continue
        for qualname, node in _public(tree):
            event = validate_event({"v": 1, "editor": "bench", "buffer": str(path),
                                    "line": node.body[0].lineno, "col": 8, "tick": 1,
                                    "text": text, "whole": True, "file": str(path),
                                    "intent": "edit", "analyzers": ["test_generation"]})
            start = time.perf_counter()
            items = testgen.generate(event, record=True, python=python)
            times.append((time.perf_counter() - start) * 1000)
            item = items[0]
            record: dict[str, Any] = {
                "function": f"{located[1]}.{qualname}", "project": spec,
                "module": item["status"] != "none", "reason": item["title"], "failed": [],
                "kinds": [], "tests": [], "outcome": "none", "import_root": str(located[0]),
                "method": "\ndef new_" in item["text"]}
            if record["module"]:
                record["text"] = item["text"].replace(
                    repr(_relative_root(item["text"])), repr(str(located[0])), 1)
                record["tests"], record["kinds"] = _tests_of(item["text"])
            found.append(record)
    return found


def _relative_root(text: str) -> str:
    marker = "joinpath("
    start = text.index(marker) + len(marker)
    return ast.literal_eval(text[start:text.index(")", start)])


def _tests_of(text: str) -> tuple[list[str], list[str]]:
    """The test names of a generated module and the kind of check of each."""
    names, kinds = [], []
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            names.append(node.name)
            source = ast.unparse(node)
            if "_pins_observed_calls" in node.name:
                kinds.append("pinned")
            elif "run_examples(" in source:
                kinds.append("doctest")
            elif "_docstring_examples" in node.name:
                kinds.append("example")
            elif "pytest.raises" in source:
                kinds.append("raises")
            elif any(w in node.name for w in ("_round_trip", "_is_idempotent", "_returns_its_")):
                kinds.append("property")
            else:
                kinds.append("returns")
    return names, kinds


def _run_all(records: list[dict[str, Any]], folder: Path, python: str,
             timeout: float) -> dict[str, Any]:
    """Write the modules of one project into ``folder`` and run them in one pytest process."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("test_*.py"):
        old.unlink()
    by_file: dict[str, dict[str, Any]] = {}
    root = Path(records[0]["import_root"]) if records else None
    for index, record in enumerate(r for r in records if r["module"]):
        name = f"test_{index:04d}"
        (folder / f"{name}.py").write_text(record["text"], encoding="utf-8")
        record["file"] = str(folder / f"{name}.py")
        by_file[name] = record
    report = folder / "report.xml"
    report.unlink(missing_ok=True)
    subprocess.run([python, "-m", "pytest", *runner.PYTEST_OPTIONS,
                    "--continue-on-collection-errors", f"--junit-xml={report}",
                    f"--rootdir={folder}", str(folder)],
                   cwd=folder, capture_output=True, text=True, timeout=timeout, check=False)
    results: dict[str, dict[str, str]] = {name: {} for name in by_file}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            module = (case.get("classname") or "").split(".")[0]
            if module not in results:
                continue
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if case.find("skipped") is not None:
                state = "skipped"
            elif problem is None:
                state = "passed"
            else:
                message = (problem.get("message") or "") + "\n" + (problem.text or "")
                verdict, detail = runner.classify(message, root, by_file[module]["method"])
                state = f"failed:{detail}" if verdict == "failed" else verdict
                if state.startswith("failed") and "_pins_observed_calls" in (
                        case.get("name") or ""):
                    state = "varies"  # set aside as the analyzer does: not the value just seen
            results[module][(case.get("name") or "").split("[")[0]] = state
    figures: Counter[str] = Counter(functions=len(records),
                                    with_module=sum(r["module"] for r in records))
    for name, record in by_file.items():
        states = results[name]
        failed = {t: s for t, s in states.items() if s.startswith("failed")}
        record["failed"] = [f"{t}: {s[7:]}" for t, s in failed.items()]
        passed = [t for t, s in states.items() if s == "passed"]
        if not states:
            record["outcome"] = "not_importing"
        elif failed:
            record["outcome"] = "failing"
        elif passed:
            record["outcome"] = "passing"
        else:
            record["outcome"] = "nothing_usable"  # every test needed a state or the network
        figures[record["outcome"]] += 1
        figures["every_test_passes"] += bool(states) and len(passed) == len(states)
        figures["pinned_varied"] += "varies" in states.values()
        figures["pinned"] += any(k == "pinned" and states.get(t) == "passed"
                                 for t, k in zip(record["tests"], record["kinds"], strict=True))
        figures["offered"] += bool(passed)
        checked = {k for t, k in zip(record["tests"], record["kinds"], strict=True)
                   if states.get(t) == "passed"}
        figures["checks_value"] += bool(checked & _VALUE_KINDS)
    return {"figures": dict(figures), "modules": records}


def _verification_times(records: list[dict[str, Any]], python: str, count: int,
                        rng: random.Random) -> dict[str, Any]:
    chosen = rng.sample([r for r in records if r["module"]],
                        min(count, sum(r["module"] for r in records)))
    times = []
    for record in chosen:
        start = time.perf_counter()
        runner.run(record["text"], python, Path(record["import_root"]),
                   on_instance=record["method"])
        times.append((time.perf_counter() - start) * 1000)
    return {"p50": percentile(times, 50), "p99": percentile(times, 99), "runs": len(times)}


def _reasons(records: list[dict[str, Any]]) -> dict[str, int]:
    """Why functions got no module, by the reasons given (a function may give several: one
    for each kind of test), most common first."""
    counts: Counter[str] = Counter()
    for record in records:
        if not record["module"]:
            reason = record["reason"].removeprefix("no tests: ").replace(
                record["function"], "it")
            if reason.startswith("nothing to test"):
                reason = reason.split(": ", 1)[1]
            for part in reason.split("; "):
                counts[re.sub(r"\(.*", "", part).strip()[:90]] += 1
    return dict(counts.most_common(20))

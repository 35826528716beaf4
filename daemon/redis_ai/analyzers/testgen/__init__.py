"""Test generation for the Python function at the cursor: find it, write tests, run them.

    locate     the function at the cursor, the module that imports it, the project around it
    doctests   its docstring examples (asserts, or doctest itself for printed output)
    doctypes   the types its docstring gives unannotated parameters (Sphinx, Google, numpydoc)
    calls      the project's own calls of it with literal arguments (its tests, its code)
    record     what those calls return today, run in a sandboxed subprocess
    pinned     characterization tests asserting those values
    signature  its guard clauses as pytest.raises cases (guards: the arguments that trip them)
    fixtures   how a test reaches it: by name, or on an instance its class's example or
               __init__ signature builds
    properties hypothesis properties its types and name make honest
    world      what it does outside memory (files, the network): what is not to be called
    writer     the module: imports from the project's root, a sandbox without network
    runner     pytest in a subprocess, in the user's environment, with a timeout

The result is one item per outcome: the tests that pass, the tests that fail on the current code
(offered as a possible bug, not as tests), or, when nothing can be written, why.
"""

from __future__ import annotations

import ast
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _pysource
from . import doctests, doctypes, fixtures, pinned, properties, runner, signature
from .locate import Target, cut_function, function_at, module_names, module_of, params_of
from .locate import project_root as project_root
from .world import io_free, network_functions
from .writer import Test, module_text

Item = dict[str, Any]

_VERIFIED: OrderedDict[tuple[str, str, int], runner.Outcome] = OrderedDict()
"""Outcomes by (module text, interpreter, the code's mtime): a second request for the same
function on unchanged code is not run again."""
_VERIFIED_MAX = 64
_lock = threading.Lock()


def generate(event: dict[str, Any], verify: bool = False, record: bool | None = None,
             python: str | None = None) -> list[Item]:
    """The items for the function at the cursor of ``event``: its tests (run first when
    ``verify``), the failing ones as a possible bug, or one item saying why there are none.
    ``record`` (``verify`` unless given): the project's literal calls of the function are run
    to pin what they return; ``python``: the interpreter for that (the project's, found as the
    runner finds it, unless given)."""
    cursor = event["line"]
    path = event.get("file") or ""
    if not path:
        return [_none(cursor, "", "the buffer has no file, so there is no module to import")]
    located = module_of(path)
    if located is None:
        return [_none(cursor, "", f"{Path(path).name} cannot be imported (not a .py file, or "
                                  "its name or a package's is not an identifier)")]
    import_root, module = located
    tests_dir = project_root(import_root) / "tests"
    suggested = str(tests_dir / f"test_{module.rsplit('.', 1)[-1]}.py")
    source = _pysource.source_of(event)
    if source.tree is None:
        error = source.error
        where = f" (line {source.buffer_line(error.lineno or 1)}: {error.msg})" if error else ""
        return [_none(cursor, suggested, f"the buffer does not parse{where}")]
    found = _function(event, source)
    if isinstance(found, str):
        return [_none(cursor, suggested, found)]
    target, def_line = found
    title = f"{module}.{target.qualname}"
    name = target.function.name
    if target.owner is not None and name.startswith("__") and not name.endswith("__"):
        return [_none(def_line, suggested, f"{title} is name-mangled: no test can call it")]
    if target.qualname in network_functions(target.tree):
        return [_none(def_line, suggested, f"{title} reaches the network, which generated tests "
                                           "never do")]
    pin = None
    if verify if record is None else record:
        project = project_root(import_root)
        pin = Pinning(project, python or runner.interpreter(project, ("pytest",)), import_root)
    tests, reasons, factory = _tests(target, pin)
    if not tests:
        return [_none(def_line, suggested, f"nothing to test in {title}: " + "; ".join(reasons))]
    relative = os.path.relpath(import_root, tests_dir)

    def render(chosen: list[Test], root: str, note: str = "") -> str:
        used = factory is not None and any(factory.split("(")[0][4:] + "()" in t.code
                                           for t in chosen)
        return module_text(module, target.qualname, root, target.imports, chosen,
                           factory if used else None, note, target.imports_module)

    text = render(tests, relative)
    if _pysource._parse(text)[0] is None:
        return [_none(def_line, suggested, "the generated module does not parse (a bug of "
                                           "redis-ai's)")]
    if not verify:
        return [_item(f"pytest tests for {title} (not run)", text, suggested, def_line,
                      "unverified")]
    outcome = _verify(render(tests, str(import_root)), import_root, path, target.is_method)
    return _judged(outcome, tests, render, relative, title, suggested, def_line)


def _function(event: dict[str, Any], source: _pysource.Source) -> tuple[Target, int] | str:
    """The target at the cursor and its def's buffer line, or why there is none."""
    assert source.tree is not None
    located = module_of(event["file"])
    assert located is not None
    module = located[1]
    line = event["line"] - event.get("first_line", 1) + 1 - source.offset
    found = function_at(source.tree, line)
    tree = source.tree
    if found is not None:
        function, owners = found
        def_line = source.buffer_line(function.lineno)
    elif not event.get("whole") and (saved := _saved_copy(event)) is not None:
        return _function(saved, _pysource.source_of(saved))
    else:
        # A window may have cut the class around the cursor: the def alone, by indentation.
        lines = _pysource.split_lines(event["text"])
        at = event["line"] - event.get("first_line", 1) + 1
        cut = cut_function(lines, at)
        if cut is None or not isinstance(cut[0].body[0], ast.FunctionDef | ast.AsyncFunctionDef):
            inner = _pysource.enclosing_function(source.tree, line)
            if inner is not None:
                return (f"{inner.name} is defined inside a statement (an if, a with, a try) "
                        "that a test cannot import it from")
            return f"no function here: line {event['line']} is outside every def"
        piece, start, names = cut
        function = piece.body[0]  # type: ignore[assignment]
        # Classes known by name only: no __init__ to build them from.
        owners = [ast.ClassDef(name=n, bases=[ast.Name("?")], keywords=[], body=[],
                               decorator_list=[]) for n in names]
        def_line = event.get("first_line", 1) + start + function.lineno - 1
        tree = ast.Module(body=[*source.tree.body], type_ignores=[])
    owner = owners[-1] if owners else None
    qualname = ".".join([o.name for o in owners] + [function.name])
    target = Target(function, owner, qualname, module, module_names(tree), [], tree)
    target.params = params_of(function, target.is_method)
    doctypes.annotate(target)
    return target, def_line


def _saved_copy(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event as a whole buffer read from the saved file, when the window's text matches
    the file's at the same lines (the tests import the saved file anyway)."""
    try:
        saved = Path(event["file"]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    window = _pysource.split_lines(event["text"])
    first = event.get("first_line", 1)
    lines = _pysource.split_lines(saved)
    if lines[first - 1:first - 1 + len(window)] != window:
        return None
    return {**event, "text": saved, "first_line": 1, "whole": True}


@dataclass
class Pinning:
    """What recording the project's calls needs: the project, the Python to run them with
    and the import root."""

    project: Path
    python: str
    import_root: Path


def _tests(target: Target, pin: Pinning | None = None
           ) -> tuple[list[Test], list[str], str | None]:
    """Every test that can be written, the reasons for the kinds that could not, and the
    instance factory; ``pin``: also the characterization tests of the project's calls."""
    reasons: list[str] = []
    tests, why = doctests.doctest_tests(target)
    if why:
        reasons.append(why)
    factory = None
    kind, why = fixtures.call_kind(target)
    if kind is None:
        reasons.append(why or "it cannot be called")
        return tests, reasons, factory
    if pin is not None:
        if io_free(target.function, streams=True):
            found, why = pinned.pinned_tests(target, pin.project, pin.python, pin.import_root,
                                             read=kind == "attribute")
        else:
            found, why = [], "its body does I/O: the project's calls of it are not run"
        tests += found
        if why:
            reasons.append(why)
    reach, why = fixtures.reach(target)
    if reach is None:
        reasons.append(why or "it cannot be called")
        return tests, reasons, factory
    factory = reach.factory
    if kind == "attribute":
        read, why = properties.attribute_tests(target, reach)
        return tests + read, reasons + ([why] if why else []), factory
    raised, why = signature.raises_tests(target, reach)
    tests += raised
    if why:
        reasons.append(why)
    if not io_free(target.function):
        reasons.append("its body does I/O (files, processes, the terminal): not run on drawn "
                       "values")
        return tests, reasons, factory
    others = {n.name: n for n in target.tree.body
              if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    drawn, why = properties.property_tests(target, reach, others)
    tests += drawn
    if why:
        reasons.append(why)
    return tests, reasons, factory


def _verify(text: str, import_root: Path, path: str, on_instance: bool) -> runner.Outcome:
    """The outcome of running ``text``, from the cache when the code has not changed since."""
    modules = ("pytest", "hypothesis") if "@given(" in text else ("pytest",)
    python = runner.interpreter(project_root(import_root), modules)
    try:
        stamp = Path(path).stat().st_mtime_ns
    except OSError:
        stamp = 0
    key = (hashlib.sha1(text.encode()).hexdigest(), python, stamp)
    with _lock:
        known = _VERIFIED.get(key)
    if known is not None:
        return known
    outcome = runner.run(text, python, import_root, on_instance=on_instance)
    with _lock:
        _VERIFIED[key] = outcome
        while len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)
    return outcome


def _judged(outcome: runner.Outcome, tests: list[Test], render: Any, relative: str,
            title: str, suggested: str, def_line: int) -> list[Item]:
    if outcome.error is not None:
        text = render(tests, relative, f"Not run: {outcome.error}.")
        return [_item(f"pytest tests for {title} (not run: {outcome.error})", text, suggested,
                      def_line, "unverified")]
    items = []
    passed = [t for t in tests if t.name in outcome.passed]
    # A pinned value that differs from the one just recorded is a value that varies between
    # runs (a clock, a hash seed): not a finding, and not a test to keep.
    failed = [t for t in tests if t.name in outcome.failed and t.kind != "pinned"]
    if passed:
        kinds = ", ".join(sorted({t.kind for t in passed}))  # what they check: "returns" alone
        items.append(_item(f"pytest tests for {title} ({len(passed)} pass: {kinds})",
                           render(passed, relative), suggested, def_line, "passed"))
    if failed:
        note = "\n".join(f"{t.name} fails on the current code:\n"
                         + _indent(outcome.failed[t.name]) for t in failed)
        names = ", ".join(t.name for t in failed)
        items.append(_item(f"possible bug in {title}: {names} fails", render(
            failed, relative, "Possible bug, not offered as tests: " + note), suggested,
            def_line, "possible_bug"))
    if not items:
        why = ("every test needed the network" if outcome.offline else
               "no test could run: " + sorted(set(outcome.unusable.values()))[0]
               if outcome.unusable else "pytest ran none of the tests")
        return [_none(def_line, suggested, f"nothing to test in {title}: {why}")]
    return items


def _indent(message: str, limit: int = 1500) -> str:
    text = message if len(message) <= limit else message[:limit] + " ..."
    return "\n".join("    " + line for line in text.splitlines())


def _item(title: str, text: str, path: str, line: int, status: str) -> Item:
    return {"title": title, "text": text, "path": path, "line": line, "status": status}


def _none(line: int, path: str, reason: str) -> Item:
    """The answer when no test is offered: the reason, as the title and as the text."""
    return _item(f"no tests: {reason}", f"# redis-ai wrote no tests: {reason}.\n", path, line,
                 "none")


__all__ = ["generate", "module_of", "project_root"]

"""test_generation: the generated pytest modules run (in a subprocess, with pytest) against a
real sample package, pass against it, and fail against a broken copy of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from redis_ai.analyzers import load
from redis_ai.analyzers.test_generation import TestGeneration, module_of
from redis_ai.schema import validate_event

SAMPLE = Path(__file__).resolve().parent / "samples" / "testgen" / "shapes"

# Function -> the tests its module must hold.
EXPECTED = {
    "triangle_area": {"test_triangle_area_docstring_examples",
                      "test_triangle_area_returns_int_or_float",
                      "test_triangle_area_raises_value_error",
                      "test_triangle_area_raises_geometry_error"},
    "clamp": {"test_clamp_returns_int", "test_clamp_raises_value_error"},
    "label": {"test_label_raises_value_error", "test_label_raises_type_error"},
    "push": {"test_stack_push_raises_type_error"},
    "pop": {"test_stack_pop_docstring_examples"},
    "fetch": {"test_fetch_returns_list", "test_fetch_raises_value_error"},
    "count_up": {"test_count_up_raises_overflow_error"},
    "scaled": {"test_scaled_docstring_examples", "test_scaled_raises_value_error"},
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A src-layout project holding a copy of the sample package."""
    root = tmp_path / "proj"
    shutil.copytree(SAMPLE, root / "src" / "shapes")
    (root / "pyproject.toml").write_text('[project]\nname = "shapes"\nversion = "0"\n')
    return root


def event(path: Path, line: int, intent: str = "execute_code", **fields) -> dict:
    return validate_event({"v": 1, "editor": "emacs", "buffer": path.name, "line": line,
                           "col": 4, "tick": 1, "text": path.read_text(), "whole": True,
                           "file": str(path), "intent": intent, **fields})


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().split("\n"), 1) if text in line)


def generate(project: Path, function: str) -> dict:
    module = project / "src" / "shapes" / "geometry.py"
    line = line_of(module, f"def {function}(") + 1
    items = TestGeneration().analyze(event(module, line))
    assert items and len(items) == 1, function
    return items[0]


def run_pytest(folder: Path) -> dict[str, str]:
    """Run pytest on ``folder`` in a fresh interpreter; test name -> outcome."""
    report = folder.parent / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junit-xml={report}", str(folder)], cwd=folder.parent,
                   capture_output=True, text=True, timeout=120, check=False)
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[case.get("name")] = "failed" if failed else "passed"
    return outcomes


def write_all(project: Path) -> Path:
    tests = project / "tests"
    tests.mkdir()
    for function in EXPECTED:
        item = generate(project, function)
        (tests / f"test_geometry_{function}.py").write_text(item["text"])
    return tests


def test_registered_by_name():
    assert isinstance(load("test_generation"), TestGeneration)


def test_generated_modules_pass_against_the_real_code(project):
    item = generate(project, "triangle_area")
    assert item["path"] == str(project / "tests" / "test_geometry.py")
    assert item["title"] == "pytest tests for shapes.geometry.triangle_area"
    assert "from shapes.geometry import GeometryError, triangle_area" in item["text"]
    outcomes = run_pytest(write_all(project))
    expected = set().union(*EXPECTED.values())
    assert set(outcomes) == expected
    assert set(outcomes.values()) == {"passed"}


def test_generated_modules_fail_against_broken_code(project):
    tests = write_all(project)
    module = project / "src" / "shapes" / "geometry.py"
    source = module.read_text()
    for old, new in [
        ('if a <= 0 or b <= 0 or c <= 0:', 'if a < 0 or b < 0 or c < 0:'),  # lets 0 through
        ('return max(low, min(value, high))', 'return str(value)'),  # wrong type
        ('if len(name) > 20:', 'if len(name) > 30:'),  # guard moved
        ('return [times(v) for v in values]', 'return [v for v in values]'),  # wrong result
    ]:
        assert old in source
        source = source.replace(old, new)
    module.write_text(source)
    outcomes = run_pytest(tests)
    failed = {name for name, outcome in outcomes.items() if outcome == "failed"}
    assert failed == {"test_triangle_area_raises_value_error", "test_clamp_returns_int",
                      "test_label_raises_type_error", "test_scaled_docstring_examples"}


def test_doctest_lines_become_asserts(project):
    text = generate(project, "scaled")["text"]
    assert "    assert scaled([1, 2]) == [2, 4]\n" in text
    assert "def test_scaled_docstring_examples(capsys):" in text
    assert "assert capsys.readouterr().out == '9\\n'" in text
    text = generate(project, "triangle_area")["text"]
    assert "with pytest.raises(GeometryError):\n        triangle_area(1, 1, 3)" in text
    assert "with pytest.raises(ValueError, match='sides must be positive'):" in text


def test_only_on_execute_code_request_or_when_named(project):
    module = project / "src" / "shapes" / "geometry.py"
    line = line_of(module, "def clamp(") + 1
    analyzer = TestGeneration()
    assert not analyzer.wants(event(module, line, intent="edit"))
    assert analyzer.analyze(event(module, line, intent="edit")) is None
    assert analyzer.wants(event(module, line, intent="request"))
    named = event(module, line, intent="edit", analyzers=["test_generation"])
    assert analyzer.wants(named) and analyzer.analyze(named)
    assert not analyzer.wants(event(module, line, analyzers=["code_analysis"]))


def test_nothing_without_a_function_or_an_importable_file(project, tmp_path):
    module = project / "src" / "shapes" / "geometry.py"
    analyzer = TestGeneration()
    assert analyzer.analyze(event(module, line_of(module, "import math"))) == []
    script = tmp_path / "my-script.py"
    script.write_text("def f(x: int) -> int:\n    return x\n")
    assert analyzer.analyze(event(script, 2)) == []
    broken = tmp_path / "broken.py"
    broken.write_text("def f(x: int) -> int:\n    return (x\n")
    assert analyzer.analyze(event(broken, 2)) == []
    no_file = validate_event({"v": 1, "editor": "emacs", "buffer": "*scratch*", "line": 1,
                              "col": 0, "tick": 1, "text": "def f():\n    return 1\n",
                              "whole": True, "intent": "request", "language": "python"})
    assert analyzer.analyze(no_file) == []


def test_constructor_with_arguments_gets_no_call_tests(project):
    module = project / "src" / "shapes" / "geometry.py"
    line = line_of(module, "def interior_angle(") + 1
    assert TestGeneration().analyze(event(module, line)) == []


def test_nested_function_tests_its_importable_parent(project):
    module = project / "src" / "shapes" / "geometry.py"
    line = line_of(module, "return v * factor")
    items = TestGeneration().analyze(event(module, line))
    assert items[0]["title"] == "pytest tests for shapes.geometry.scaled"


def test_window_of_the_buffer(project):
    module = project / "src" / "shapes" / "geometry.py"
    lines = module.read_text().split("\n")
    first = line_of(module, "class GeometryError") - 1
    text = "\n".join(lines[first - 1:first + 40])
    line = line_of(module, "def clamp(") + 1
    found = TestGeneration().analyze(validate_event({
        "v": 1, "editor": "neovim", "buffer": "4", "line": line, "col": 4, "tick": 9,
        "text": text, "first_line": first, "whole": False, "file": str(module),
        "intent": "execute_code"}))
    assert found[0]["title"] == "pytest tests for shapes.geometry.clamp"
    assert "def test_clamp_raises_value_error():" in found[0]["text"]


def test_module_names(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    assert module_of(str(tmp_path / "pkg" / "sub" / "mod.py")) == (tmp_path, "pkg.sub.mod")
    assert module_of(str(tmp_path / "pkg" / "__init__.py")) == (tmp_path, "pkg")
    assert module_of(str(tmp_path / "tool.py")) == (tmp_path, "tool")
    assert module_of(str(tmp_path / "class.py")) is None
    assert module_of(str(tmp_path / "notes.txt")) is None


def test_survives_any_text(tmp_path):
    path = tmp_path / "mod.py"
    for text in ["", "\x00", "def f(:\n", "def f(x=1/0, *a, **k):\n    '''>>> f(\n'''\n",
                 "def f(x: 'list[', y: int = []) -> 'x':\n    if x < y < 3 or not x: raise E\n"]:
        path.write_text(text)
        items = TestGeneration().analyze(event(path, 2))
        assert isinstance(items, list)


def test_the_item_names_the_def_line_not_the_cursor(project, tmp_path):
    # The editors draw the test marker on `line`: the function's `def`, in buffer lines, also
    # when the event holds only a window of the buffer and the function has a decorator.
    module = project / "src" / "shapes" / "geometry.py"
    cursor = line_of(module, "return max(low, min(value, high))")
    [whole] = TestGeneration().analyze(event(module, cursor))
    assert whole["line"] == line_of(module, "def clamp(") != cursor
    lines = module.read_text().split("\n")
    first = line_of(module, "class GeometryError") - 1
    [window] = TestGeneration().analyze(validate_event({
        "v": 1, "editor": "neovim", "buffer": "4", "line": cursor, "col": 4, "tick": 9,
        "text": "\n".join(lines[first - 1:first + 40]), "first_line": first, "whole": False,
        "file": str(module), "intent": "request"}))
    assert window["line"] == whole["line"]
    decorated = tmp_path / "tool.py"
    decorated.write_text("from functools import cache\n\n\n@cache\ndef half(n: int) -> int:\n"
                         "    if n < 0:\n        raise ValueError('negative')\n"
                         "    return n // 2\n")
    [item] = TestGeneration().analyze(event(decorated, 8))
    assert item["line"] == 5

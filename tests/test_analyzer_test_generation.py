"""test_generation: the generated pytest modules run (in a subprocess, with pytest) against a
real sample package, pass against it, fail against a broken copy of it, and are run by the
analyzer itself before they are offered (failing ones as a possible bug)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from redis_ai.analyzers import load
from redis_ai.analyzers.test_generation import TestGeneration, module_of
from redis_ai.analyzers.testgen import runner
from redis_ai.schema import validate_event

SAMPLE = Path(__file__).resolve().parent / "samples" / "testgen" / "shapes"

# Function -> the tests its module must hold.
EXPECTED = {
    "triangle_area": {"test_triangle_area_docstring_examples",
                      "test_triangle_area_returns_int_or_float",
                      "test_triangle_area_raises_value_error",
                      "test_triangle_area_raises_geometry_error"},
    "clamp": {"test_clamp_returns_int", "test_clamp_raises_value_error"},
    "label": {"test_label_raises_value_error", "test_label_raises_type_error",
              "test_label_returns_str"},
    "push": {"test_stack_push_raises_type_error", "test_stack_push_returns_none"},
    "pop": {"test_stack_pop_docstring_examples", "test_stack_pop_returns_int"},
    "fetch": {"test_fetch_returns_list", "test_fetch_raises_value_error"},
    "count_up": {"test_count_up_raises_overflow_error"},
    "scaled": {"test_scaled_docstring_examples", "test_scaled_raises_value_error",
               "test_scaled_returns_list"},
    "interior_angle": {"test_polygon_interior_angle_returns_int_or_float"},
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


def generate(project: Path, function: str, module: str = "geometry",
             intent: str = "edit") -> list[dict]:
    """The items for ``function``; unverified unless ``intent`` is request or execute_code."""
    path = project / "src" / "shapes" / f"{module}.py"
    line = line_of(path, f"def {function}(") + 1
    items = TestGeneration().analyze(event(path, line, intent, analyzers=["test_generation"]))
    assert items, function
    return items


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
        [item] = generate(project, function)
        assert item["status"] == "unverified"
        (tests / f"test_geometry_{function}.py").write_text(item["text"])
    return tests


def test_registered_by_name():
    assert isinstance(load("test_generation"), TestGeneration)


def test_generated_modules_pass_against_the_real_code(project):
    [item] = generate(project, "triangle_area")
    assert item["path"] == str(project / "tests" / "test_geometry.py")
    assert item["title"] == "pytest tests for shapes.geometry.triangle_area (not run)"
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


def test_doctests_become_asserts_or_run_by_doctest(project):
    [item] = generate(project, "triangle_area")
    assert "    assert triangle_area(3, 4, 5) == 6.0\n" in item["text"]
    assert "with pytest.raises(GeometryError):\n        triangle_area(1, 1, 3)" in item["text"]
    assert "with pytest.raises(ValueError, match='sides must be positive'):" in item["text"]
    # Printed output is doctest's to compare: the docstring runs under doctest itself.
    [item] = generate(project, "scaled")
    assert "run_examples(r'''>>> scaled([1, 2])\n[2, 4]\n>>> print(*scaled([3], factor=3))\n9'''" \
        in item["text"]


def test_lambdas_and_printed_output_are_kept_and_checked(project):
    # The two doctest misses: an example with a lambda (dropped before), and
    # more_itertools.consumer's, whose printed line was asserted as a return value.
    [lam] = generate(project, "apply_all", "text", intent="request")
    assert lam["status"] == "passed", lam
    assert lam["title"] == "pytest tests for shapes.text.apply_all (1 pass: example)"
    assert "assert apply_all([lambda x: x + 1, lambda x: x * 2], 3) == 8" in lam["text"]
    [printed] = generate(project, "consumer", "text", intent="request")
    assert printed["status"] == "passed", printed
    assert "run_examples(" in printed["text"] and ">>> t.send('red')" in printed["text"]
    # The doctest in the module really checks the printed line.
    module = project / "src" / "shapes" / "text.py"
    module.write_text(module.read_text().replace("        next(gen)\n", ""))
    tests = project / "tests"
    tests.mkdir()
    (tests / "test_consumer.py").write_text(printed["text"])
    assert run_pytest(tests) == {"test_consumer_docstring_examples": "failed"}


def test_a_failing_property_is_offered_as_a_possible_bug(project):
    items = generate(project, "squash_slashes", "text", intent="request")
    by_status = {item["status"]: item for item in items}
    assert set(by_status) == {"passed", "possible_bug"}
    bug = by_status["possible_bug"]
    assert bug["title"] == ("possible bug in shapes.text.squash_slashes: "
                            "test_squash_slashes_is_idempotent fails")
    assert "def test_squash_slashes_is_idempotent(path):" in bug["text"]
    assert "def test_squash_slashes_is_idempotent" not in by_status["passed"]["text"]
    assert "def test_squash_slashes_returns_str" in by_status["passed"]["text"]


def test_round_trip_from_either_side(project):
    for function, intent in (("encode", "request"), ("decode", "edit")):
        [item] = generate(project, function, "text", intent=intent)
        assert item["status"] == ("passed" if intent == "request" else "unverified"), item
        assert "assert decode(encode(value)) == value" in item["text"]
        assert "@given(value=st.one_of(st.text(max_size=20), " in item["text"]


def test_methods_get_an_instance_from_the_init_signature(project):
    [item] = generate(project, "greet_many", "text", intent="request")
    assert item["title"] == ("pytest tests for shapes.text.Greeter.greet_many "
                             "(2 pass: raises, returns)")
    assert "def new_greeter():" in item["text"]
    assert "    return Greeter('abc')" in item["text"]
    assert "new_greeter().greet_many(-1)" in item["text"]
    [item] = generate(project, "interior_angle")
    assert "return Polygon(1)" in item["text"]  # run by test_generated_modules_pass_...
    [item] = generate(project, "describe", "text")
    assert "Shape is abstract: no instance of it can be built" in item["title"]


def test_the_network_is_never_reached(project):
    [direct] = generate(project, "reachable", "text", intent="request")
    assert direct["status"] == "none"
    assert direct["title"] == ("no tests: shapes.text.reachable reaches the network, which "
                               "generated tests never do")
    # Hidden from the source: the sandbox refuses it, and the test is not called a bug.
    [hidden] = generate(project, "lookup", "text", intent="request")
    assert hidden["status"] == "none"
    assert hidden["title"] == ("no tests: nothing to test in shapes.text.lookup: every test "
                               "needed the network")


def test_why_nothing_was_written(project):
    # The editor bug: the cursor in a function with nothing to test was answered
    # "no function here". Now the answer says why, on the function's def line.
    path = project / "src" / "shapes" / "text.py"
    [item] = TestGeneration().analyze(event(path, line_of(path, "return words.upper()")))
    assert item["status"] == "none" and item["line"] == line_of(path, "def shout(")
    assert item["title"].startswith("no tests: nothing to test in shapes.text.shout: its "
                                    "docstring has no examples")
    [outside] = TestGeneration().analyze(event(path, line_of(path, "import socket")))
    assert outside["title"] == (f"no tests: no function here: line {line_of(path, 'import socket')}"
                                " is outside every def")


def test_only_on_execute_code_request_or_when_named(project):
    module = project / "src" / "shapes" / "geometry.py"
    line = line_of(module, "def clamp(") + 1
    analyzer = TestGeneration()
    assert not analyzer.wants(event(module, line, intent="edit"))
    assert analyzer.analyze(event(module, line, intent="edit")) is None
    assert analyzer.wants(event(module, line, intent="request"))
    named = event(module, line, intent="edit", analyzers=["test_generation"])
    assert analyzer.wants(named)
    assert [i["status"] for i in analyzer.analyze(named)] == ["unverified"]  # not run
    assert not analyzer.wants(event(module, line, analyzers=["code_analysis"]))


def test_nothing_without_an_importable_file(project, tmp_path):
    analyzer = TestGeneration()
    script = tmp_path / "my-script.py"
    script.write_text("def f(x: int) -> int:\n    return x\n")
    [item] = analyzer.analyze(event(script, 2))
    assert item["status"] == "none" and "my-script.py cannot be imported" in item["title"]
    broken = tmp_path / "broken.py"
    broken.write_text("def f(x: int) -> int:\n    return (x\n")
    [item] = analyzer.analyze(event(broken, 2))
    assert item["title"].startswith("no tests: the buffer does not parse (line 2")
    no_file = validate_event({"v": 1, "editor": "emacs", "buffer": "*scratch*", "line": 1,
                              "col": 0, "tick": 1, "text": "def f():\n    return 1\n",
                              "whole": True, "intent": "request", "language": "python"})
    [item] = analyzer.analyze(no_file)
    assert item["title"] == "no tests: the buffer has no file, so there is no module to import"


def test_nested_function_tests_its_importable_parent(project):
    module = project / "src" / "shapes" / "geometry.py"
    line = line_of(module, "return v * factor")
    [item] = TestGeneration().analyze(event(module, line, "edit", analyzers=["test_generation"]))
    assert item["title"] == "pytest tests for shapes.geometry.scaled (not run)"


def window_event(module: Path, first: int, last: int, cursor: int) -> dict:
    lines = module.read_text().split("\n")
    return validate_event({
        "v": 1, "editor": "neovim", "buffer": "4", "line": cursor, "col": 4, "tick": 9,
        "text": "\n".join(lines[first - 1:last]), "first_line": first, "whole": False,
        "file": str(module), "intent": "edit", "analyzers": ["test_generation"]})


def test_window_of_the_buffer(project):
    module = project / "src" / "shapes" / "geometry.py"
    first = line_of(module, "class GeometryError") - 1
    [found] = TestGeneration().analyze(window_event(module, first, first + 40,
                                                    line_of(module, "def clamp(") + 1))
    assert found["title"] == "pytest tests for shapes.geometry.clamp (not run)"
    assert "def test_clamp_raises_value_error():" in found["text"]


def test_a_window_that_cuts_the_class_still_finds_the_method(project):
    # A large buffer is sent as a window around the cursor; when the window cuts the class,
    # the class is no complete statement of it, which answered "no function here".
    module = project / "src" / "shapes" / "geometry.py"
    first = line_of(module, "class Stack:")
    last = line_of(module, "def pop(") + 2  # into pop's docstring
    cursor = line_of(module, 'raise TypeError("no None")')
    # The saved file has the window's lines: the method is read from it, class and all.
    [found] = TestGeneration().analyze(window_event(module, first, last, cursor))
    assert found["line"] == line_of(module, "def push(")
    assert found["title"] == "pytest tests for shapes.geometry.Stack.push (not run)"
    # Unsaved changes: the def alone, found by its indentation, under a class known by name.
    event = window_event(module, first, last, cursor)
    module.write_text(module.read_text().replace("class Stack:", "class Stack:  # edited"))
    [found] = TestGeneration().analyze(event)
    assert found["line"] == line_of(module, "def push(")
    assert found["title"].startswith("no tests: nothing to test in shapes.geometry.Stack.push")
    assert "no way to build a Stack was found (its __init__ is unknown)" in found["title"]


def test_module_names(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub" / "__init__.py").write_text("")
    assert module_of(str(tmp_path / "pkg" / "sub" / "mod.py")) == (tmp_path, "pkg.sub.mod")
    (tmp_path / "pkg" / "sansio").mkdir()  # a namespace package inside a package
    assert module_of(str(tmp_path / "pkg" / "sansio" / "app.py")) == (tmp_path, "pkg.sansio.app")
    assert module_of(str(tmp_path / "pkg" / "__init__.py")) == (tmp_path, "pkg")
    assert module_of(str(tmp_path / "tool.py")) == (tmp_path, "tool")
    assert module_of(str(tmp_path / "class.py")) is None
    assert module_of(str(tmp_path / "notes.txt")) is None


def test_the_users_environment_when_it_has_pytest(tmp_path):
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    python = venv / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    assert runner.interpreter(tmp_path, ("pytest", "hypothesis")) == str(python)
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")  # no site: no pytest
    runner._imports.cache_clear()
    assert runner.interpreter(tmp_path, ("pytest",)) == sys.executable


def test_verification_is_bounded(tmp_path):
    slow = "import time\n\n\ndef test_slow():\n    time.sleep(30)\n"
    outcome = runner.run(slow, sys.executable, timeout=2)
    assert outcome.error == "the tests ran longer than 2 s"
    broken = "import not_saved_yet\n\n\ndef test_it():\n    pass\n"
    outcome = runner.run(broken, sys.executable)
    assert outcome.error == ("the module did not import: ModuleNotFoundError: No module named "
                             "'not_saved_yet'")


def test_survives_any_text(tmp_path):
    path = tmp_path / "mod.py"
    for text in ["", "\x00", "def f(:\n", "def f(x=1/0, *a, **k):\n    '''>>> f(\n'''\n",
                 "def f(x: 'list[', y: int = []) -> 'x':\n    if x < y < 3 or not x: raise E\n",
                 "class A:\n    def f(self, x: 'int') -> 'A':\n        '''>>> 1\n        1\n'''\n"]:
        path.write_text(text)
        items = TestGeneration().analyze(event(path, 2, "edit", analyzers=["test_generation"]))
        assert isinstance(items, list) and all(isinstance(i["title"], str) for i in items)


def test_the_item_names_the_def_line_not_the_cursor(project, tmp_path):
    # The editors draw the test marker on `line`: the function's `def`, in buffer lines, also
    # when the event holds only a window of the buffer and the function has a decorator.
    module = project / "src" / "shapes" / "geometry.py"
    cursor = line_of(module, "return max(low, min(value, high))")
    [whole] = TestGeneration().analyze(event(module, cursor, "edit",
                                             analyzers=["test_generation"]))
    assert whole["line"] == line_of(module, "def clamp(") != cursor
    first = line_of(module, "class GeometryError") - 1
    [window] = TestGeneration().analyze(window_event(module, first, first + 40, cursor))
    assert window["line"] == whole["line"]
    decorated = tmp_path / "tool.py"
    decorated.write_text("from functools import cache\n\n\n@cache\ndef half(n: int) -> int:\n"
                         "    if n < 0:\n        raise ValueError('negative')\n"
                         "    return n // 2\n")
    [item] = TestGeneration().analyze(event(decorated, 8, "edit",
                                            analyzers=["test_generation"]))
    assert item["line"] == 5



SLUGS = Path(__file__).resolve().parent / "samples" / "testgen" / "slugs"


@pytest.fixture
def slugs(tmp_path: Path) -> Path:
    """A project with the unannotated sample package and its own tests, which call it."""
    root = tmp_path / "slugs_proj"
    shutil.copytree(SLUGS, root / "slugs")
    (root / "tests").mkdir()
    shutil.copy(SLUGS.parent / "slugs_uses.py", root / "tests" / "test_text.py")
    (root / "pyproject.toml").write_text('[project]\nname = "slugs"\nversion = "0"\n')
    return root


def slugs_items(root: Path, function: str, intent: str = "request") -> list[dict]:
    path = root / "slugs" / "text.py"
    line = line_of(path, f"def {function}(") + 1
    return TestGeneration().analyze(event(path, line, intent, analyzers=["test_generation"]))


def test_the_projects_own_calls_are_pinned_and_run(slugs):
    [item] = slugs_items(slugs, "slugify")
    assert item["status"] == "passed", item
    assert item["title"] == "pytest tests for slugs.text.slugify (1 pass: pinned)"
    text = item["text"]
    assert "Characterization: pins what slugify returns today" in text
    assert "tests/test_text.py:11" in text
    assert "    assert slugify('Hello World') == 'hello-world'\n" in text
    assert "    assert slugify('A b', sep='_') == 'a_b'\n" in text
    # The pinned test, kept, fails once slugify's behaviour changes.
    (slugs / "tests" / "test_text.py").unlink()
    (slugs / "tests" / "test_slugify.py").write_text(text)
    assert run_pytest(slugs / "tests") == {"test_slugify_pins_observed_calls": "passed"}
    module = slugs / "slugs" / "text.py"
    module.write_text(module.read_text().replace("text.lower().split()", "text.split()"))
    assert run_pytest(slugs / "tests") == {"test_slugify_pins_observed_calls": "failed"}


def test_parametrized_rows_expected_raises_and_built_instances_are_pinned(slugs):
    [size] = slugs_items(slugs, "parse_size")
    assert size["status"] == "passed", size
    assert "    assert parse_size('10k') == 10240\n" in size["text"]
    assert "    assert parse_size('3') == 3\n" in size["text"]
    assert "    with pytest.raises(ValueError):\n        parse_size('abc')\n" in size["text"]
    [add] = slugs_items(slugs, "add")
    assert add["status"] == "passed", add
    assert "    assert Counter(3).add(2) == 5\n" in add["text"]
    [doubled] = slugs_items(slugs, "doubled")
    assert doubled["status"] == "passed", doubled
    assert "    assert Counter(4).doubled == 8\n" in doubled["text"]


def test_none_is_pinned_only_where_the_body_returns_values(slugs):
    [first] = slugs_items(slugs, "first_word")
    assert "    assert first_word('') is None\n" in first["text"]
    assert "    assert first_word('a b') == 'a'\n" in first["text"]
    [setter] = slugs_items(slugs, "set_mode")  # a setter of global state: not pinned
    assert setter["status"] == "none", setter
    assert "calls of it raise, return None or vary" in setter["title"]


def test_stream_writes_are_run_and_described_objects_not_pinned(slugs):
    [boxed] = slugs_items(slugs, "boxed")  # writes to an io.StringIO: run in the sandbox
    assert "    assert boxed('a') == '[a]'\n" in boxed["text"]
    [wrap] = slugs_items(slugs, "wrap")  # returns <Box 'a'>: a description, not a value
    assert wrap["status"] == "none", wrap


def test_arguments_built_by_the_modules_classes_are_pinned(slugs):
    [item] = slugs_items(slugs, "hashtag")
    assert item["status"] == "passed", item
    assert "from slugs.text import Tag, hashtag" in item["text"]
    assert "    assert hashtag(Tag('news')) == '#news'\n" in item["text"]


def test_reading_the_project_is_bounded_per_request(slugs, monkeypatch):
    from redis_ai.analyzers.testgen import calls

    def read() -> list[str]:
        return [k[0] for k in list(calls._FILES) if k[0].startswith(str(slugs))]

    monkeypatch.setattr(calls, "READ_BUDGET_S", 0.0)
    [item] = slugs_items(slugs, "slugify")  # one new file per request: the tests come first
    assert read() == [str(slugs / "tests" / "test_text.py")]
    assert "pins_observed_calls" in item["text"]
    slugs_items(slugs, "slugify")
    assert len(read()) == 2


def test_a_parameter_given_back_is_checked_by_identity(slugs):
    [item] = slugs_items(slugs, "checked")
    assert item["status"] == "passed", item
    assert "def test_checked_returns_its_name(name):" in item["text"]
    assert "    assert result is name\n" in item["text"]
    [rebinds] = slugs_items(slugs, "trimmed")  # rebinds name: not the object given
    assert "returns_its_name" not in rebinds["text"]
    # An undeclared refusal (IndexError on "") is a rejected input there, not a possible bug.
    [refuses] = slugs_items(slugs, "unpadded")
    assert refuses["status"] == "passed", refuses
    assert "def test_unpadded_returns_its_text(text):" in refuses["text"]


def test_no_code_runs_for_unverified_events(slugs):
    [item] = slugs_items(slugs, "slugify", intent="edit")
    assert item["status"] == "none", item
    assert "pins_observed_calls" not in item["text"]


def test_docstring_types_become_strategies(slugs):
    [sphinx] = slugs_items(slugs, "repeat")
    assert sphinx["status"] == "passed", sphinx
    assert "@given(word=st.text(max_size=20), times=st.integers(" in sphinx["text"]
    assert "assert isinstance(result, str)" in sphinx["text"]
    [google] = slugs_items(slugs, "total")
    assert google["status"] == "passed", google
    assert "@given(values=st.lists(st.integers(" in google["text"]
    assert "assert isinstance(result, int)" in google["text"]

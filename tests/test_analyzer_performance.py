"""performance_optimization on real code with known answers: each hint where it belongs, none on
code that is fine, rewrites that keep behaviour, complexity numbers that agree with ruff."""

from __future__ import annotations

import ast
import copy
import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from redis_ai.analyzers import load
from redis_ai.analyzers.performance import COMPLEXITY_THRESHOLD, PerformanceOptimization, complexity
from redis_ai.schema import validate_event

SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLE = SAMPLES / "perf_sample.py"
BIG = SAMPLES / "configparser_py311.py"
RUFF = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "ruff"

# (code, line, col, end_line, end_col, rewrite) for perf_sample.py, cursor outside any function.
EXPECTED = [
    ("RAI001", 12, 11, 12, 31, None),
    ("RAI002", 20, 8, 20, 32, None),
    ("RAI003", 27, 17, 27, 26, None),
    ("PERF401", 32, 4, 34, 50, 'found = [os.path.join("orders", name) for name in names]'),
    ("RAI003", 34, 21, 34, 33, None),
    ("PERF401", 39, 4, 41, 36, "result = [value * value for value in values]"),
    ("PERF401", 46, 4, 49, 32, "result = [value for value in values if value % 2 == 0]"),
    ("C419", 54, 12, 54, 40, "sum(v * v for v in values)"),
    ("C419", 55, 14, 55, 42, "any(v > 3 for v in values)"),
    ("RAI004", 56, 12, 56, 35, "len(stock)"),
    ("RUF015", 57, 16, 57, 30, "next(iter(stock))"),
    ("FURB192", 58, 13, 58, 30, "min(values)"),
    ("FURB192", 59, 14, 59, 32, "max(values)"),
    ("PERF101", 62, 15, 62, 33, "stock"),
    ("PLR6201", 67, 17, 67, 42, '{"a", "e", "i", "o", "u"}'),
    ("PLC0200", 74, 4, 75, 30, "for value in values:\n        total += value * 2"),
    ("PERF401", 80, 4, 82, 34, "out = [(i, values[i]) for i in range(len(values))]"),
    ("PLC0200", 81, 4, 82, 34,
     "for i, value in enumerate(values):\n        out.append((i, value))"),
]

# Inputs each sample function is run on to check that rewrites keep its results.
CALLS = {
    "unique_customers": [(["a", "b", "a", "c", "b"],)],
    "invoice_text": [([1, "x", 2.5],)],
    "distances": [([(3, 4), (1, 1)],)],
    "paths": [(["a.txt", "b"],)],
    "squares": [([1, 2, 3],), ([],)],
    "even_values": [([1, 2, 3, 4],)],
    "summary": [({"apple": 1, "kiwi": 2, "ab": 3}, [3, -5, 2, 2, -1])],
    "weighted": [([1, 2, 3],)],
    "numbered": [(["x", "y"],)],
    "doubled_in_place": [([1, 2],)],
    "drained": [({"a": 1, "b": 2},)],
    "fine": [([1, 2], {9: "x"})],
    "complex_rules": [({"a": 1, "b": 2}, ["a", "b", "c", "x"])],
}


def run(text: str, line: int = 1, whole: bool = True, first_line: int = 1) -> list[dict]:
    event = validate_event({"v": 1, "editor": "neovim", "buffer": "3", "line": line, "col": 0,
                            "tick": 1, "text": text, "whole": whole, "first_line": first_line,
                            "file": "/work/x/orders.py"})
    analyzer = PerformanceOptimization()
    assert analyzer.wants(event)
    return analyzer.analyze(event)


def found(hints: list[dict]) -> list[tuple]:
    return [(h["code"], h["line"], h["col"], h["end_line"], h["end_col"], h.get("rewrite"))
            for h in hints]


def test_registered_by_name():
    assert isinstance(load("performance_optimization"), PerformanceOptimization)


def test_sample_hints_are_the_known_ones():
    hints = run(SAMPLE.read_text())
    assert found(hints) == EXPECTED
    messages = {h["code"]: h["message"] for h in hints}
    assert "`seen` is a list" in messages["RAI001"]
    assert "bind it to a local before the loop" in messages["RAI003"]


def test_nothing_on_functions_that_are_fine():
    tree = ast.parse(SAMPLE.read_text())
    fine = {n.name: (n.lineno, n.end_lineno) for n in tree.body if isinstance(n, ast.FunctionDef)}
    hints = run(SAMPLE.read_text())
    for name in ("fine", "doubled_in_place", "drained", "complex_rules"):
        first, last = fine[name]
        assert [h for h in hints if first <= h["line"] <= last] == [], name


def test_real_module_of_1000_lines_has_no_false_hints():
    assert run(BIG.read_text()) == []


def apply(text: str, hints: list[dict]) -> str:
    """``text`` with every rewrite that does not overlap another applied, last first."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    spans = []
    for hint in hints:
        if "rewrite" in hint:
            start = starts[hint["line"] - 1] + hint["col"]
            end = starts[hint["end_line"] - 1] + hint["end_col"]
            spans.append((start, end, hint["rewrite"]))
    applied: list[tuple[int, int, str]] = []
    for start, end, rewrite in sorted(spans, reverse=True):
        if all(end <= s or start >= e for s, e, _ in applied):
            applied.append((start, end, rewrite))
            text = text[:start] + rewrite + text[end:]
    assert len(applied) >= 10
    return text


def results(text: str) -> dict:
    namespace: dict = {}
    exec(compile(text, str(SAMPLE), "exec"), namespace)  # the sample is ours: running it is the test
    return {name: [namespace[name](*copy.deepcopy(args)) for args in calls]
            for name, calls in CALLS.items()}


def test_rewrites_keep_results():
    text = SAMPLE.read_text()
    rewritten = apply(text, run(text))
    assert rewritten != text
    assert results(rewritten) == results(text)
    # What is left after the rewrites: the hints without one, and those an overlap held back.
    left = {h["code"] for h in run(rewritten)}
    assert left <= {"RAI001", "RAI002", "RAI003", "PLC0200", "PERF401"}


def test_window_hints_are_in_buffer_lines():
    lines = SAMPLE.read_text().split("\n")
    first, last = 50, 90  # from inside `even_values` to inside `doubled_in_place`
    hints = run("\n".join(lines[first - 1:last]), whole=False, first_line=first)
    # Only whole statements are judged: summary, weighted, numbered (even_values and
    # doubled_in_place are cut).
    assert found(hints) == [e for e in EXPECTED if 52 <= e[1] <= 83]


def test_complexity_at_the_cursor():
    text = SAMPLE.read_text()
    line = text.split("\n").index("def complex_rules(order, rules):") + 1
    hints = [h for h in run(text, line=line + 5) if h["code"] == "C901"]
    assert [(h["line"], h["col"], h["end_col"]) for h in hints] == [(line, 4, 17)]
    assert "complexity 11" in hints[0]["message"]
    assert str(COMPLEXITY_THRESHOLD) in hints[0]["message"]
    squares = text.split("\n").index("def squares(values):") + 1
    assert not [h for h in run(text, line=squares + 1) if h["code"] == "C901"]


@pytest.mark.skipif(not RUFF.exists(), reason="ruff (a dev dependency) is not installed")
def test_complexity_numbers_agree_with_ruff():
    for path in (BIG, SAMPLE):
        out = subprocess.run([str(RUFF), "check", "--isolated", "--select", "C901", "--config",
                              "lint.mccabe.max-complexity = 0", "--output-format", "json",
                              str(path)], capture_output=True, text=True, check=False).stdout
        theirs = {d["location"]["row"]: int(re.search(r"\((\d+) > 0\)", d["message"]).group(1))
                  for d in json.loads(out)}
        tree = ast.parse(path.read_text())
        ours = {n.lineno: complexity(n) for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        assert ours == theirs, path


def test_complexity_of_match_and_try():
    text = (
        "def f(x):\n"
        "    match x:\n"
        "        case 1:\n"
        "            return 1\n"
        "        case [a, b] if a:\n"
        "            return 2\n"
        "        case _:\n"
        "            return 3\n"
        "    try:\n"
        "        pass\n"
        "    except* ValueError:\n"
        "        pass\n"
        "    else:\n"
        "        pass\n"
    )
    function = ast.parse(text).body[0]
    assert complexity(function) == 1 + 2 + 1 + 1


def test_survives_any_text():
    rng = random.Random(3)
    texts = ["", "\x00", "(" * 5000, "x = " + " + ".join(["a"] * 3000), "def f(:\n" * 500,
             bytes(rng.randrange(256) for _ in range(4000)).decode("latin-1")]
    for text in texts:
        for whole in (True, False):
            assert isinstance(run(text, whole=whole), list)


def test_hints_follow_edits_of_a_cached_file():
    text = SAMPLE.read_text()
    before = found(run(text))
    # A line added at the top moves every hint down one line.
    assert found(run("# orders\n" + text)) == [
        (code, line + 1, col, end_line + 1, end_col, rewrite)
        for code, line, col, end_line, end_col, rewrite in before]
    # Fixing one function removes its hint and leaves the others.
    fixed = text.replace("    seen = []\n", "    seen = set()\n").replace(
        "seen.append(customer)", "seen.add(customer)")
    assert found(run(fixed)) == [h for h in before if h[0] != "RAI001"]
    # What the module imports changes what a statement elsewhere means.
    renamed = text.replace("import math\n", "import math as m\nmath = None\n")
    assert "RAI003" not in {h[0] for h in found(run(renamed)) if h[1] == 28}
    assert found(run(text)) == before

"""performance_optimization on real code with known answers: ruff's performance rules on the
user's configuration, each hint where it belongs, none where following it would be wrong (the
shapes of the wrong hints found on real projects, docs/hints-review.md), rewrites that keep
behaviour, complexity from ruff at the cursor."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from redis_ai.analyzers import load
from redis_ai.analyzers.performance import PerformanceOptimization, clear_cache, is_test_file
from redis_ai.schema import validate_event

SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLE = SAMPLES / "perf_sample.py"
BIG = SAMPLES / "configparser_py311.py"
TEXT = SAMPLE.read_text()
LINES = TEXT.split("\n")

# (code, line, col, end_line, end_col, rewrite) for perf_sample.py, cursor outside any function.
EXPECTED = [
    ("RAI001", 13, 11, 13, 31, None),
    ("PERF401", 33, 4, 35, 50, 'found = [os.path.join("orders", name) for name in names]'),
    ("PERF401", 40, 4, 42, 36, "result = [value * value for value in values]"),
    ("PERF401", 47, 4, 50, 32, "result = [value for value in values if value % 2 == 0]"),
    ("RAI004", 57, 12, 57, 35, "len(stock)"),
    ("RUF015", 58, 16, 58, 30, None),
    ("FURB192", 59, 13, 59, 30, None),
    ("FURB192", 60, 14, 60, 32, None),
    ("PERF401", 81, 4, 83, 34, "out = [(i, values[i]) for i in range(len(values))]"),
    ("PERF401", 223, 4, 226, 43, "found = [known.index(name) for name in wanted if name in known]"),
    ("PERF401", 258, 4, 260, 41, "kept = [next(iterator, None) for _ in range(k)]"),
    ("RAI001", 270, 15, 270, 31, None),
    ("PERF102", 278, 20, 278, 31, None),
    ("PERF402", 284, 4, 286, 26, "names = list(stock)"),
    ("PERF401", 292, 4, 294, 39, 'lines = [f"{key}: {value}" for key, value in headers]'),
    ("RAI001", 323, 11, 323, 37, None),
    # ruff's safe fixes, as one rewrite of the span from their first edit to their last:
    ("PERF101", 332, 16, 332, 27, "names"),
    ("PLR1733", 334, 8, 335, 27, "key, count in stock.items():\n        total += count"),
    ("PLR1736", 336, 8, 337, 26, "i, value in enumerate(values):\n        total += value"),
    ("FURB129", 344, 21, 344, 33, ""),
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
    "reservoir": [([1, 2], 5), ([1, 2, 3], 2)],
    "tokens": [(["1", "2", "x", "4"],)],
    "positions": [(["A", "b"], ["a", "c", "b"])],
    "first_items": [([1, 2], 3)],
    "unique_per_group": [([[1, 1, 2], [3, 3]],)],
    "total_stock": [({"a": 1, "b": 2},)],
    "copied": [({"a": 1, "b": 2},)],
    "header_lines": [([("a", 1), ("b", 2)],)],
    "lookups": [({"a": 1, "b": 2}, [3, 4])],
    "line_lengths": [(str(SAMPLE),)],
    "first_or_none": [({},), ({"a": 1},)],
}


def run(text: str, line: int = 1, whole: bool = True, first_line: int = 1,
        file: str = "/work/x/orders.py") -> list[dict]:
    event = validate_event({"v": 1, "editor": "neovim", "buffer": "3", "line": line, "col": 0,
                            "tick": 1, "text": text, "whole": whole, "first_line": first_line,
                            "file": file})
    analyzer = PerformanceOptimization()
    assert analyzer.wants(event)
    return analyzer.analyze(event)


def found(hints: list[dict]) -> list[tuple]:
    return [(h["code"], h["line"], h["col"], h["end_line"], h["end_col"], h.get("rewrite"))
            for h in hints]


def in_function(hints: list[dict], name: str) -> list[dict]:
    start = next(i for i, line in enumerate(LINES, 1)
                 if line.lstrip().startswith((f"def {name}(", f"class {name}")))
    indent = len(LINES[start - 1]) - len(LINES[start - 1].lstrip())
    end = next((i for i, line in enumerate(LINES[start:], start + 1)
                if line.strip() and len(line) - len(line.lstrip()) <= indent), len(LINES))
    return [h for h in hints if start <= h["line"] < end]


def test_registered_by_name():
    assert isinstance(load("performance_optimization"), PerformanceOptimization)


def test_sample_hints_are_the_known_ones():
    hints = run(TEXT)
    assert found(hints) == EXPECTED
    messages = {h["code"]: h["message"] for h in reversed(hints)}
    assert "`seen` is a list" in messages["RAI001"]
    assert "list comprehension" in messages["PERF401"]  # ruff's own message


def test_nothing_on_functions_that_are_fine():
    hints = run(TEXT)
    for name in ("invoice_text", "distances", "weighted", "doubled_in_place", "drained", "fine",
                 "complex_rules"):
        assert in_function(hints, name) == [], name


@pytest.mark.parametrize("name", [
    "reservoir",        # PERF401 inside `with suppress(StopIteration):` (UnboundLocalError)
    "tokens",           # the same inside try/except: the handler sees the partial list
    "unique_pairs",     # "keep a set" for list items
    "unique_everseen",  # ... for what a set refused with TypeError
    "groups_found",     # ... for items annotated as lists
    "admins",           # ... for a list rebuilt every iteration and tested once
    "fill_gaps",        # ... for a list indexed by position
    "Pairs",            # PERF102 in the class's own values(): would recurse
    "labelled",         # PERF401's extend(): slower than the loop
    "uniq",             # "keep a set" for whatever items the callers pass
    "first_named",      # ... for a list of a few constants
    "Rates",            # PERF401 in a class body: the comprehension cannot see `base`
    "first_or_none",    # RUF015 under `except IndexError:`: StopIteration is not caught
    "lowest_or_none",   # FURB192 there: min() raises ValueError
])
def test_no_hint_where_following_it_is_wrong(name):
    hints = run(TEXT)
    assert in_function(hints, name) == [], name


def test_ruff_passes_over_unpacking_loops_the_analyzer_does_not():
    [hint] = in_function(run(TEXT), "header_lines")
    assert hint["message"] == "Use a list comprehension to create a transformed list"


def test_positional_use_refuses_keep_a_set():
    assert [h["code"] for h in in_function(run(TEXT), "positions")] == ["PERF401"]


def test_furb192_with_a_key_and_the_last_item_is_not_max():
    # sorted(values, key=abs)[-1] is the LAST of the greatest; max() returns the first.
    line = LINES.index("    longest = sorted(values, key=abs)[-1]") + 1
    assert [h for h in run(TEXT) if h["line"] == line] == []
    values = [3, -5, 2, 5]
    assert sorted(values, key=abs)[-1] != max(values, key=abs)


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
    assert len(applied) == len(spans) == 13
    return text


def results(text: str) -> dict:
    namespace: dict = {}
    exec(compile(text, str(SAMPLE), "exec"), namespace)  # the sample is ours: running it is the test
    return {name: [namespace[name](*copy.deepcopy(args)) for args in calls]
            for name, calls in CALLS.items()}


def test_rewrites_keep_results():
    rewritten = apply(TEXT, run(TEXT))
    assert rewritten != TEXT
    assert results(rewritten) == results(TEXT)
    assert {h["code"] for h in run(rewritten)} <= {"RAI001", "RUF015", "FURB192", "PERF102"}
    assert "total += count + count" in rewritten and "for line in f:" in rewritten


def test_the_wrong_rewrite_would_have_broken_the_code():
    # What the old analyzer offered for `reservoir`: a normal return became UnboundLocalError.
    broken = TEXT.replace("        kept = []\n        for _ in range(k):\n"
                          "            kept.append(next(iterator))\n",
                          "        kept = [next(iterator) for _ in range(k)]\n")
    assert broken != TEXT
    namespace: dict = {}
    exec(compile(broken, str(SAMPLE), "exec"), namespace)
    with pytest.raises(UnboundLocalError):
        namespace["reservoir"]([1, 2], 5)


def test_window_hints_are_in_buffer_lines():
    first, last = 50, 90  # from inside `even_values` to inside `doubled_in_place`
    hints = run("\n".join(LINES[first - 1:last]), whole=False, first_line=first)
    # Only whole statements are judged: summary, weighted, numbered.
    assert found(hints) == [e for e in EXPECTED if 52 <= e[1] <= 83]


def test_complexity_at_the_cursor_is_ruffs():
    line = LINES.index("def complex_rules(order, rules):") + 1
    hints = [h for h in run(TEXT, line=line + 5) if h["code"] == "C901"]
    assert [(h["line"], h["col"], h["end_col"]) for h in hints] == [(line, 4, 17)]
    assert hints[0]["message"] == "`complex_rules` is too complex (11 > 10)"
    squares = LINES.index("def squares(values):") + 1
    assert not [h for h in run(TEXT, line=squares + 1) if h["code"] == "C901"]


def project(tmp_path: Path, ruff_toml: str) -> str:
    """The sample as a file of a project configured by ``ruff_toml``."""
    (tmp_path / "ruff.toml").write_text(ruff_toml)
    path = tmp_path / "orders.py"
    path.write_text(TEXT)
    clear_cache()
    return str(path)


def test_the_users_max_complexity(tmp_path):
    line = LINES.index("def complex_rules(order, rules):") + 1
    path = project(tmp_path, '[lint.mccabe]\nmax-complexity = 12\n')
    assert not [h for h in run(TEXT, line=line + 5, file=path) if h["code"] == "C901"]
    path = project(tmp_path, '[lint.mccabe]\nmax-complexity = 5\n')
    [hint] = [h for h in run(TEXT, line=line + 5, file=path) if h["code"] == "C901"]
    assert hint["message"] == "`complex_rules` is too complex (11 > 5)"


def test_rules_the_user_selects_are_their_diagnostics_not_hints(tmp_path):
    # code_analysis shows them (the user's ruff); a hint would say it twice.
    path = project(tmp_path, 'lint.select = ["F", "PERF", "C901"]\n')
    codes = {h["code"] for h in run(TEXT, file=path)}
    assert not codes & {"PERF401", "PERF102", "C901"}
    assert {"RAI001", "RUF015", "FURB192"} <= codes


def test_rules_the_user_ignores_are_not_hinted(tmp_path):
    # ruff would let the hint set's PERF401 win over an ignored PERF: the analyzer does not.
    path = project(tmp_path, 'lint.select = ["F"]\nlint.ignore = ["PERF", "FURB1"]\n')
    codes = {h["code"] for h in run(TEXT, file=path)}
    assert not codes & {"PERF401", "PERF102", "FURB192"}
    assert "RUF015" in codes
    path = project(tmp_path, 'lint.select = ["F"]\n[lint.per-file-ignores]\n"orders.py" = ["RUF"]\n')
    assert "RUF015" not in {h["code"] for h in run(TEXT, file=path)}
    noqa = TEXT.replace("first_key = list(stock)[0]", "first_key = list(stock)[0]  # noqa: RUF015")
    assert "RUF015" not in {h["code"] for h in run(noqa, file=path)}


def test_no_hints_in_test_code():
    for name in ("/p/tests/test_orders.py", "/p/src/orders_test.py", "/p/conftest.py",
                 "/p/tests/helpers.py"):
        assert is_test_file(name) and run(TEXT, file=name) == [], name
    assert not is_test_file("/home/tests/p/src/orders.py")
    assert not is_test_file("/p/tests/samples/orders.py")


def test_survives_any_text():
    rng = random.Random(3)
    texts = ["", "\x00", "(" * 5000, "x = " + " + ".join(["a"] * 3000), "def f(:\n" * 500,
             bytes(rng.randrange(256) for _ in range(4000)).decode("latin-1")]
    for text in texts:
        for whole in (True, False):
            assert isinstance(run(text, whole=whole), list)


def test_hints_follow_edits_of_a_cached_file():
    before = found(run(TEXT))
    # A line added at the top moves every hint down one line.
    assert found(run("# orders\n" + TEXT)) == [
        (code, line + 1, col, end_line + 1, end_col, rewrite)
        for code, line, col, end_line, end_col, rewrite in before]
    # Fixing one function removes its hint and leaves the others.
    fixed = TEXT.replace("    seen = []\n    for customer", "    seen = set()\n    for customer"
                         ).replace("seen.append(customer)", "seen.add(customer)")
    assert found(run(fixed)) == [h for h in before if h[:2] != ("RAI001", 13)]
    assert found(run(TEXT)) == before


def test_bench_hints_reads_the_judged_table_and_writes_each_hint_with_its_context(tmp_path):
    from redis_ai.bench import hints as bench

    verdicts = bench.judgements(Path(__file__).resolve().parents[1] / "docs" / "hints-review.md")
    assert len(verdicts) == 28  # the After table only, one row per hint
    assert set(verdicts.values()) <= {"useful", "pointless", "wrong", "wrong, breaks code"}
    project = tmp_path / "orders-1.0" / "orders.py"
    project.parent.mkdir()
    project.write_text(TEXT)
    found = bench._hints(project, tmp_path)
    assert [(h["file"], h["code"], h["line"]) for h in found][:2] == [
        ("orders-1.0/orders.py", "RAI001", 13), ("orders-1.0/orders.py", "PERF401", 33)]
    assert "seen = []" in "\n".join(found[0]["context"])
    assert bench._broken_rewrites(found, tmp_path) == 0

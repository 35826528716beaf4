"""code_analysis on real code with known answers: exact positions and codes, silence on clean
code and on windows that cannot be judged, and survival on any text."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from redis_ai.analyzers import load
from redis_ai.analyzers.code_analysis import CodeAnalysis
from redis_ai.schema import validate_event

SAMPLES = Path(__file__).resolve().parent / "samples"
FLAKES = SAMPLES / "flakes_sample.py"
BIG = SAMPLES / "configparser_py311.py"
ELISP = sorted(Path("/usr/share/emacs/site-lisp/elpa").glob("*/*.el"))  # epc, deferred, ...

# The flakes sample's problems: (code, line, col, end_col), columns 0-based characters.
FLAKES_EXPECTED = [
    ("F401", 3, 7, 9),
    ("F401", 6, 24, 35),
    ("F841", 13, 4, 9),
    ("F541", 21, 10, 20),
    ("F632", 26, 7, 29),
    ("F821", 28, 27, 41),
    ("F811", 31, 4, 9),
    ("F841", 39, 33, 38),
    ("F507", 43, 15, 44),
    ("F821", 47, 29, 40),  # after "dépôt": columns count characters, not UTF-8 bytes
]


def run(text: str, whole: bool = True, first_line: int = 1, file: str = "/work/x/mod.py",
        **fields) -> list[dict]:
    event = validate_event({"v": 1, "editor": "emacs", "buffer": "b", "line": first_line,
                            "col": 0, "tick": 1, "text": text, "whole": whole,
                            "first_line": first_line, "file": file, **fields})
    analyzer = CodeAnalysis()
    assert analyzer.wants(event)
    return analyzer.analyze(event)


def found(items: list[dict]) -> list[tuple]:
    return [(d["code"], d["line"], d["col"], d["end_col"]) for d in items]


def test_registered_by_name():
    analyzer = load("code_analysis")
    assert isinstance(analyzer, CodeAnalysis)
    assert analyzer.kind == "diagnostics"


def test_sample_problems_at_exact_positions():
    items = run(FLAKES.read_text())
    assert found(items) == FLAKES_EXPECTED
    by_code = {d["code"]: d for d in items}
    assert by_code["F821"]["severity"] == "error"
    assert by_code["F401"]["severity"] == "warning"
    assert items[0]["message"] == "`os` imported but unused"  # ruff's words
    assert all(d["end_line"] == d["line"] and d["source"] == "ruff" for d in items)


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(__file__).parents[1] / ".venv/bin"))
                    is None, reason="ruff (a dev dependency) is not installed")
def test_positions_agree_with_ruff():
    ruff = Path(__file__).parents[1] / ".venv/bin/ruff"
    out = subprocess.run([str(ruff), "check", "--isolated", "--select", "F", "--output-format",
                          "json", str(FLAKES)], capture_output=True, text=True, check=False)
    theirs = sorted((d["code"], d["location"]["row"], d["location"]["column"] - 1,
                     d["end_location"]["column"] - 1) for d in json.loads(out.stdout))
    assert sorted(FLAKES_EXPECTED) == theirs


def test_real_module_of_1000_lines_is_clean():
    text = BIG.read_text()
    assert text.count("\n") > 1000
    # Outside any project: the default rule set, on which this module is clean.
    assert run(text, file="/work/x/configparser.py") == []


def test_syntax_error_in_a_big_file_is_found_where_it_is():
    lines = BIG.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("    def sections(self)"))
    lines[at] = lines[at].replace("(self)", "(self")
    # A file opened broken (no earlier good state): ruff's own errors, where ruff puts them
    # (it reads the docstring below as a parameter, and stops at the end of its line).
    items = run("\n".join(lines))
    assert [(d["code"], d["line"], d["col"], d["severity"]) for d in items] == [
        ("E999", at + 2, len(lines[at + 1]), "error")]
    assert items[0]["message"].startswith("SyntaxError:")


def test_undefined_name_in_a_big_file():
    lines = BIG.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if "return list(self._sections.keys())" in line)
    lines[at] = lines[at].replace("list(", "lst(")
    items = run("\n".join(lines))
    assert found(items) == [("F821", at + 1, lines[at].index("lst("), lines[at].index("lst(") + 3)]


def test_syntax_errors_report_their_position():
    # ruff's positions and its full error set (these texts have no earlier good state).
    assert found(run("x = 'é' + (\n")) == [("E999", 2, 0, 0)]
    items = run("def f(:\n    pass\n")
    assert found(items) == [("E999", 1, 6, 7), ("E999", 1, 7, 0)]  # the second ends on line 2
    items = run("if x:\npass\n")
    assert items[0]["code"] == "E999" and items[0]["line"] == 2
    assert items[0]["message"] == "SyntaxError: Expected an indented block after `if` statement"
    assert found(run("a = 1\nb = '''never closed\nc = 2\n"))[0][:2] == ("E999", 2)


def test_buffer_lines_for_a_whole_buffer_sent_from_line_one_only():
    items = run("import os\n", first_line=1)
    assert items[0]["line"] == 1


def test_noqa_comments_are_respected():
    text = "import os  # noqa\nimport re  # noqa: F401\nimport json  # noqa: E501\n"
    assert found(run(text)) == [("F401", 3, 7, 11)]


def test_package_init_imports_are_its_interface(tmp_path):
    assert run("from .core import thing\n", file=str(tmp_path / "pkg" / "__init__.py")) == []
    assert [d["code"] for d in run("from .core import thing\n")] == ["F401"]


def test_undefined_export_points_at_the_name():
    assert found(run("__all__ = ['a', 'b']\na = 1\n")) == [("F822", 1, 16, 19)]


# --- Windows --------------------------------------------------------------------------------------


def window(path: Path, first: int, last: int) -> tuple[str, int]:
    lines = path.read_text().split("\n")
    return "\n".join(lines[first - 1:last]), first


def test_window_reports_only_what_a_window_can_judge():
    text, first = window(FLAKES, 9, 46)
    items = run(text, whole=False, first_line=first)
    # Unused imports, undefined names and module-level redefinitions need the whole file;
    # the last statement (main) may be cut, so its undefined name is not judged either.
    assert found(items) == [("F841", 13, 4, 9), ("F541", 21, 10, 20), ("F632", 26, 7, 29),
                            ("F841", 39, 33, 38), ("F507", 43, 15, 44)]


def test_window_that_starts_inside_a_docstring_says_nothing():
    lines = BIG.read_text().split("\n")
    # Line 3 is inside the module docstring, whose text sits at column 0: what is left does not
    # parse, and None publishes nothing (the editor keeps what it showed).
    assert run("\n".join(lines[2:140]), whole=False, first_line=3) is None


def test_windows_of_a_clean_file_never_report_anything():
    lines = BIG.read_text().split("\n")
    rng = random.Random(5)
    for _ in range(60):
        first = rng.randrange(1, len(lines) - 10)
        last = min(len(lines), first + rng.randrange(5, 300))
        text = "\n".join(lines[first - 1:last])
        assert run(text, whole=False, first_line=first) in ([], None), (first, last)


def test_windows_cut_mid_statement_never_report_syntax_errors():
    lines = FLAKES.read_text().split("\n")
    for first in range(1, len(lines)):
        for last in range(first, len(lines), 7):
            text = "\n".join(lines[first - 1:last])
            items = run(text, whole=False, first_line=first)
            assert not [d for d in items if d["code"] == "E999"], (first, last)
            assert {d["code"] for d in items} <= {"F841", "F541", "F632", "F507"}


def test_window_of_unused_import_inside_a_function():
    text = "x = 1\n\ndef f():\n    import os\n    return 1\n\ny = 2\n"
    assert found(run(text, whole=False, first_line=20)) == [("F401", 23, 11, 13)]


# --- Other languages ------------------------------------------------------------------------------


def test_json_syntax_error_position():
    text = '{\n  "name": "redis-ai",\n  "tags": ["a", "b",],\n}\n'
    items = run(text, file="/p/package.json", language="json")
    assert [(d["line"], d["col"], d["source"]) for d in items] == [(3, 20, "json")]
    assert run('{"a": [1, 2]}\n', file="/p/a.json", language="json") == []


def test_json_with_comments_is_left_alone():
    text = '{\n  // the compiler options\n  "strict": true\n}\n'
    assert run(text, file="/p/tsconfig.json", language="json") == []
    assert run(text, file="/p/other.json", language="json") == []


def test_toml_syntax_error_position():
    text = '[project]\nname = "x"\nversion = = "1"\n'
    items = run(text, file="/p/pyproject.toml", language="toml")
    assert [(d["line"], d["col"], d["source"]) for d in items] == [(3, 10, "tomllib")]


def test_real_toml_is_clean():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert run(text, file="/p/pyproject.toml", language="toml") == []


def test_elisp_paren_balance():
    text = '(defun f ()\n  (message "(")\n  (list ?\\( ?) [1 2)))\n'
    items = run(text, file="/p/a.el", language="elisp")
    assert [(d["line"], d["col"]) for d in items] == [(3, 19)]
    assert "closes the '['" in items[0]["message"]
    items = run("(defun f ()\n  (foo))\n(bar ; )\n", file="/p/a.el", language="elisp")
    assert [(d["line"], d["col"], d["message"]) for d in items] == [(3, 0, "'(' is never closed")]
    items = run("(foo))\n", file="/p/a.el", language="elisp")
    assert [(d["line"], d["col"], d["message"]) for d in items] == [(1, 5, "unmatched ')'")]


@pytest.mark.skipif(not ELISP, reason="elpa-epc is not installed")
def test_real_elisp_is_balanced():
    for path in ELISP:
        text = path.read_text()
        assert run(text, file=str(path), language="elisp") == [], path
        if "(provide " not in text:
            continue
        # ... and a deleted paren in it is found.
        cut = text.index(")", text.rindex("(provide "))
        items = run(text[:cut] + text[cut + 1:], file=str(path), language="elisp")
        assert [d["message"] for d in items] == ["'(' is never closed"], path


def test_windows_of_other_languages_are_not_judged():
    assert run('{"a": ', whole=False, file="/p/a.json", language="json") is None


# --- Any text -------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["python", "json", "toml", "elisp"])
def test_survives_any_text(language):
    rng = random.Random(7)
    texts = [
        "", "\x00\x01\x02", "\ufeff\u2028x = 1\r\ny = 2\rz = 3", "(" * 5000, "[" * 100000,
        "def f(:\n" * 1000, "x = '\\d'\n", bytes(rng.randrange(256) for _ in range(4000)).decode(
            "latin-1"), "é" * 200000,
    ]
    for text in texts:
        for whole in (True, False):
            items = run(text, whole=whole, language=language)
            assert items is None or isinstance(items, list)


def test_diagnostics_follow_edits_of_a_cached_file():
    text = FLAKES.read_text()
    assert found(run(text)) == FLAKES_EXPECTED
    moved = [(code, line + 2, col, end) for code, line, col, end in FLAKES_EXPECTED]
    assert found(run("# a\n# b\n" + text)) == moved
    used = text.replace("    print(sys.argv,", "    print(os.sep, sys.argv,")
    assert found(run(used)) == [e for e in FLAKES_EXPECTED if e[:2] not in (("F401", 3),
                                                                            ("F821", 47))] + [
        ("F821", 47, 37, 48)]
    assert found(run(text)) == FLAKES_EXPECTED


def test_parse_cache_stays_bounded_while_typing():
    from redis_ai.analyzers import _pysource

    lines = BIG.read_text().split("\n")
    inside_class = next(i for i, line in enumerate(lines) if "def read_string(" in line) + 1
    for i in range(40):  # each keystroke changes a 600-line class: a new tree for it
        lines[inside_class] += "x" if i % 2 else " "
        run("\n".join(lines))
    assert _pysource._cached_lines <= _pysource._CACHE_LINES
    assert sum(text.count("\n") + 1 for _, text in _pysource._cache) == _pysource._cached_lines


def test_the_documented_example_analyzer_works(tmp_path, monkeypatch):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "analyzers.md").read_text()
    source = doc.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "todo_notes.py").write_text(source.replace("from .base import",
                                                          "from redis_ai.analyzers.base import"))
    monkeypatch.syspath_prepend(str(tmp_path))
    analyzer = load("todo_notes:TodoNotes")
    event = validate_event({"v": 1, "editor": "emacs", "buffer": "b", "line": 1, "col": 0,
                            "tick": 1, "text": "x = 1\n# TODO: more\n", "first_line": 10})
    assert analyzer.wants(event)
    assert analyzer.analyze(event) == [{"line": 11, "col": 2, "end_line": 11, "end_col": 6,
                                        "message": "a TODO is left here", "code": "TODO"}]


def test_newer_grammar_is_not_called_a_syntax_error():
    # Python 3.12 type aliases and generics: the daemon's 3.11 parser cannot read them, but the
    # file may target 3.12, so nothing is reported (rather than a wrong E999).
    for text in ["type Point = tuple[float, float]\n", "def first[T](xs: list[T]) -> T:\n"
                 "    return xs[0]\n", "class Box[T]:\n    pass\n"]:
        assert run(text) == []
    assert [d["code"] for d in run("typo Point = 1\n")] == ["E999"]

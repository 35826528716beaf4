"""code_analysis on real code with known answers: exact positions and codes, silence on clean
code and on windows that cannot be judged, and survival on any text."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from redis_ai.analyzers import _ruff_processes, code_analysis, load, ruff_engine
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


# --- ruff: the user's configuration, windows, typing, fixes ----------------------------------------

RUFF = Path(__file__).parents[1] / ".venv/bin/ruff"


def ruff_by_hand(path: Path) -> list[tuple]:
    """``ruff check`` run by hand on a file on disk: (code, line, col, end_line, end_col)."""
    out = subprocess.run([str(RUFF), "check", "--no-cache", "--output-format", "json", str(path)],
                         capture_output=True, text=True, check=False, cwd=path.parent)
    return sorted((d["code"], d["location"]["row"], d["location"]["column"] - 1,
                   d["end_location"]["row"], d["end_location"]["column"] - 1)
                  for d in json.loads(out.stdout))


def spans(items: list[dict]) -> list[tuple]:
    return sorted((d["code"], d["line"], d["col"], d["end_line"], d["end_col"]) for d in items)


PROJECT_TEXT = (
    "import os\n"
    "import re  # noqa: F401\n"
    "\n"
    "NAME = 'a line that is longer than forty characters, surely'\n"
    "print('{}'.format(NAME))\n"
)


def test_the_projects_own_configuration_is_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\n\n[tool.ruff]\nline-length = 40\ntarget-version = "py311"\n'
        '[tool.ruff.lint]\nselect = ["F401", "E501", "UP032"]\n'
        '[tool.ruff.lint.per-file-ignores]\n"legacy.py" = ["F401"]\n')
    pkg = tmp_path / "src" / "pkg"
    pkg.mkdir(parents=True)
    module, legacy = pkg / "mod.py", pkg / "legacy.py"
    for path in (module, legacy):
        path.write_text(PROJECT_TEXT)
    items = run(PROJECT_TEXT, file=str(module))
    # The project's rules (E501 at 40, UP032), its noqa; not the default set.
    assert [(d["code"], d["line"]) for d in items] == [("F401", 1), ("E501", 4), ("UP032", 5)]
    assert spans(items) == ruff_by_hand(module)
    # Its per-file ignores.
    assert [d["code"] for d in run(PROJECT_TEXT, file=str(legacy))] == ["E501", "UP032"]
    assert spans(run(PROJECT_TEXT, file=str(legacy))) == ruff_by_hand(legacy)
    # A ruff.toml nearer the file wins, as with ruff check.
    (pkg / "ruff.toml").write_text('line-length = 100\n[lint]\nselect = ["F"]\n')
    assert [d["code"] for d in run(PROJECT_TEXT, file=str(module))] == ["F401"]
    assert spans(run(PROJECT_TEXT, file=str(module))) == ruff_by_hand(module)


def test_a_pyproject_without_ruff_table_leaves_the_default_set(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\n')
    path = tmp_path / "mod.py"
    text = "import os\nx = 1 if True else 2  # E501 and UP are not in the default set" + "x" * 80
    assert [d["code"] for d in run(text + "\n", file=str(path))] == ["F401"]


def test_window_messages_and_positions_are_buffer_lines():
    body = "def f():\n    import os\n    import os\n    return os\n"
    text = "x = 1\n\n" + body + "\nundefined_here(x)\n\ny = 2\n"
    items = run(text, whole=False, first_line=501)
    # The window starts at buffer line 501; the function's lines are 503-506.
    assert [(d["code"], d["line"], d["col"]) for d in items] == [("F811", 505, 11)]
    assert "from line 504" in items[0]["message"]
    # ... and a whole buffer of the same text, for comparison, says line 4 / line 5.
    whole = [d for d in run(text) if d["code"] == "F811"]
    assert (whole[0]["line"], "from line 4" in whole[0]["message"]) == (5, True)


def test_window_never_judges_module_level_names():
    # `helper` and `re` may be defined or used above or below the window.
    text = "x = 1\n\nimport re\n\ndef f():\n    return helper()\n\n__all__ = ['f', 'g']\n\ny = 2\n"
    assert run(text, whole=False, first_line=40) == []
    assert {d["code"] for d in run(text)} == {"F401", "F821", "F822"}


GOOD = (
    "import os\n"                      # 1  F401
    "\n"
    "\n"
    "def first(items):\n"              # 4
    "    total = 0\n"                  # 5  F841
    "    return [i for i in items]\n"
    "\n"
    "\n"
    "def second(values):\n"            # 9
    "    return sorted(values)\n"      # 10
    "\n"
    "\n"
    "def third():\n"                   # 13
    "    unused = 1\n"                 # 14 F841
    "    return f'{undefined_name}'\n"  # 15 F821
)


def event_of(text: str, tick: int, intent: str = "edit", line: int = 1) -> dict:
    return validate_event({"v": 1, "editor": "emacs", "buffer": "b", "line": line, "col": 0,
                           "tick": tick, "text": text, "whole": True, "file": "/work/x/t.py",
                           "intent": intent})


def lines_with(text: str, at: int, new_lines: list[str], replace: int = 1) -> str:
    lines = text.split("\n")
    lines[at - 1:at - 1 + replace] = new_lines
    return "\n".join(lines)


def test_a_half_typed_statement_keeps_the_other_diagnostics():
    analyzer = CodeAnalysis()
    good = analyzer.analyze(event_of(GOOD, 1))
    assert [(d["code"], d["line"]) for d in good] == [("F401", 1), ("F841", 5), ("F841", 14),
                                                       ("F821", 15)]
    # A new line typed in second(), its call left open: the error is at the '(' that is open,
    # the other diagnostics stay where they are (those below move down a line).
    broken = lines_with(GOOD, 10, ["    print(values", "    return sorted(values)"])
    items = analyzer.analyze(event_of(broken, 2, line=10))
    assert [(d["code"], d["line"]) for d in items] == [("F401", 1), ("F841", 5), ("E999", 10),
                                                        ("F841", 15), ("F821", 16)]
    error = next(d for d in items if d["code"] == "E999")
    assert (error["col"], error["message"]) == (9, "SyntaxError: '(' was never closed")
    # ruff's own error set, at its own position, is what a save shows.
    saved = analyzer.analyze(event_of(broken, 3, intent="save", line=10))
    assert [(d["code"], d["line"], d["col"], d["message"]) for d in saved] == [
        ("E999", 10, 16, "SyntaxError: Expected `)`, found newline")]
    # Closed again: the full set, from ruff.
    fixed = lines_with(GOOD, 10, ["    print(values)", "    return sorted(values)"])
    assert [(d["code"], d["line"]) for d in analyzer.analyze(event_of(fixed, 4))] == [
        ("F401", 1), ("F841", 5), ("F841", 15), ("F821", 16)]


def test_typing_inside_a_statement_drops_only_that_statements_diagnostics():
    analyzer = CodeAnalysis()
    analyzer.analyze(event_of(GOOD, 1))
    # `unused = 1` becomes `unused = (1 +`: its own F841 goes, the rest stays, with the error
    # at the bracket it opened.
    broken = lines_with(GOOD, 14, ["    unused = (1 +"])
    items = analyzer.analyze(event_of(broken, 2, line=14))
    assert [(d["code"], d["line"], d["col"]) for d in items] == [
        ("F401", 1, 7), ("F841", 5, 4), ("E999", 14, 13), ("F821", 15, 14)]
    # ruff alone reports it on the line below, where `return` is.
    assert analyzer.analyze(event_of(broken, 2, intent="cursor", line=14))[0]["line"] == 15
    # An older event delivered again does not become the last good state.
    analyzer.analyze(event_of(GOOD.replace("import os\n", "import os, re\n"), 0))
    again = analyzer.analyze(event_of(broken, 3, line=14))
    assert [d["code"] for d in again] == ["F401", "F841", "E999", "F821"]


def test_safe_fixes_are_offered_as_buffer_edits_that_ruff_accepts():
    text = "import os\nimport sys\n\nprint(f'plain', sys.argv)\n\n\ndef f():\n    x = 1\n"
    items = run(text)
    by_code = {d["code"]: d for d in items}
    assert set(by_code) == {"F401", "F541", "F841"}
    assert "fix" not in by_code["F841"]  # ruff's fix for it is unsafe: not offered
    for code in ("F401", "F541"):
        fix = by_code[code]["fix"]
        assert fix["title"] and fix["edits"]
        lines = text.split("\n")
        for e in sorted(fix["edits"], key=lambda e: (e["line"], e["col"]), reverse=True):
            start = sum(len(line) + 1 for line in lines[:e["line"] - 1]) + e["col"]
            end = sum(len(line) + 1 for line in lines[:e["end_line"] - 1]) + e["end_col"]
            joined = "\n".join(lines)
            lines = (joined[:start] + e["text"] + joined[end:]).split("\n")
        after = run("\n".join(lines))
        assert code not in {d["code"] for d in after}
        assert {d["code"] for d in after} == set(by_code) - {code}
    assert by_code["F541"]["fix"]["edits"] == [
        {"line": 4, "col": 6, "end_line": 4, "end_col": 14, "text": "'plain'"}]


def _one_waiting() -> list:
    """The processes started ahead once exactly one waits (the starter thread is quick). The
    texts checked have no fix, so each check is one run and one process is started after it."""
    deadline = time.monotonic() + 10
    while _ruff_processes.waiting() != 1:
        assert time.monotonic() < deadline, "no ruff process was started ahead"
        time.sleep(0.01)
    return [one for ones in _ruff_processes._pool.values() for one in ones]


def test_a_process_started_ahead_is_not_used_once_the_configuration_changed(tmp_path):
    config, path = tmp_path / "ruff.toml", tmp_path / "mod.py"
    config.write_text('[lint]\nselect = ["F821"]\n')
    text = "print(undefined)\nX = '" + "x" * 120 + "'\n"
    ruff_engine.clear_cache()
    assert [d["code"] for d in run(text, file=str(path))] == ["F821"]
    _one_waiting()  # it has read select = F821
    config.write_text('line-length = 40\n[lint]\nselect = ["E501"]\n')
    os.utime(config, ns=(1_000_000_000, 1_000_000_000))  # surely another mtime
    assert [d["code"] for d in run(text + "\n", file=str(path))] == ["E501"]
    ruff_engine.clear_cache()


def test_a_process_killed_while_it_waited_is_replaced(tmp_path):
    path = tmp_path / "mod.py"
    ruff_engine.clear_cache()
    assert [d["code"] for d in run("print(undefined)\n", file=str(path))] == ["F821"]
    for one in _one_waiting():
        one.proc.kill()
    assert [d["code"] for d in run("print(undefined_too)\n", file=str(path))] == ["F821"]
    ruff_engine.clear_cache()


def test_emptying_the_caches_ends_the_processes_started_ahead(tmp_path):
    ruff_engine.clear_cache()
    run("print(undefined)\n", file=str(tmp_path / "mod.py"))
    started = _one_waiting()
    ruff_engine.clear_cache()
    assert _ruff_processes.waiting() == 0
    assert all(one.proc.returncode is not None for one in started)


FIXABLE = "import os\n\nprint(f'plain')\n\n\ndef f():\n    return 1\n"


def test_the_likely_fixed_text_is_checked_beside_the_text(monkeypatch):
    code_analysis.clear_cache()
    analyzer = CodeAnalysis()

    def analyze(text: str, tick: int, line: int) -> list[dict]:
        return analyzer.analyze(validate_event({
            "v": 1, "editor": "emacs", "buffer": "fixes", "line": line, "col": 0, "tick": tick,
            "text": text, "whole": True, "file": "/work/x/fixes.py"}))

    ahead, runs = [], []
    real_ahead, real_run = ruff_engine.check_ahead, ruff_engine.run
    monkeypatch.setattr(ruff_engine, "check_ahead",
                        lambda text, file: (ahead.append(text), real_ahead(text, file)))
    monkeypatch.setattr(ruff_engine, "run",
                        lambda text, *args, **kw: (runs.append(text), real_run(text, *args, **kw))[1])
    first = analyze(FIXABLE, 1, 1)
    assert sorted(d["code"] for d in first if "fix" in d) == ["F401", "F541"]
    assert ahead == [] and len(runs) == 2  # the text, then its fixed text
    # Typed below the fixes: their fixed text is guessed and checked beside the text's own,
    # and that run is the fix check (no third run).
    typed = FIXABLE.replace("return 1", "return 12")
    runs.clear()
    second = analyze(typed, 2, 7)
    assert ahead == [typed.replace("import os\n", "").replace("f'plain'", "'plain'")]
    assert sorted(runs) == sorted([typed, ahead[0]])
    code_analysis.clear_cache()
    assert second == run(typed, file="/work/x/fixes.py")  # what a fresh analyzer says
    # A guess that misses (a new fix appeared) is not used: the fixed text is checked anyway.
    analyze(typed, 3, 7)
    grown = typed.replace("def f():", "print(f'more')\n\n\ndef f():")
    third = analyze(grown, 4, 5)
    assert sorted(d["code"] for d in third if "fix" in d) == ["F401", "F541", "F541"]
    code_analysis.clear_cache()
    assert third == run(grown, file="/work/x/fixes.py")
    # An edit of a fix's own lines makes no guess.
    ahead.clear()
    analyze(grown.replace("import os", "import os, re"), 5, 1)
    assert ahead == []
    # Nor does a text after one that did not parse (a statement half typed).
    analyze(grown, 6, 1)
    analyze(grown.replace("return 12", "return (12"), 7, 9)
    analyze(grown.replace("return 12", "return (12 +"), 8, 9)
    assert ahead == [grown.replace("return 12", "return (12").replace("import os\n", "")
                     .replace("f'plain'", "'plain'").replace("f'more'", "'more'")]


def test_a_forked_child_lets_go_of_the_waiting_processes_stdin(tmp_path):
    ruff_engine.clear_cache()
    run("print(undefined)\n", file=str(tmp_path / "mod.py"))
    [waiting] = _one_waiting()
    pid = os.fork()
    if pid == 0:  # the child: the pipe must be closed here, or ruff would never see its end
        try:
            os.fstat(waiting.stdin)
        except OSError:
            os._exit(0 if _ruff_processes.waiting() == 0 else 2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _ruff_processes.waiting() == 1  # the parent's is untouched
    ruff_engine.clear_cache()


def test_a_check_does_not_queue_behind_a_background_run(tmp_path):
    release, finished = threading.Event(), threading.Event()

    def busy() -> None:  # the background thread busy with an earlier guess
        release.wait(10)
        finished.set()

    path = str(tmp_path / "mod.py")
    ruff_engine._background.submit(busy)
    try:
        ruff_engine.check_ahead("print(undefined)\n", path)  # queued behind it
        assert [d["code"] for d in ruff_engine.check("print(undefined)\n", path)] == ["F821"]
        assert not finished.is_set()  # answered by a run of its own, not after the queue
    finally:
        release.set()
    ruff_engine.clear_cache()

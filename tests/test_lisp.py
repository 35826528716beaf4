"""The stored-program Lisp: reader, evaluator, sandbox limits, programs kept as Redis lists, the
CLI, and the lisp analyzers in a real daemon picking up programs defined while it runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import msgpack
import pytest

from redis_ai import keys
from redis_ai.lisp import analyzer as lisp_analyzer
from redis_ai.lisp import store
from redis_ai.lisp.analyzer import LispDiagnostics, LispHints
from redis_ai.lisp.data import LispError
from redis_ai.lisp.program import Loader, compile_library, evaluate_text, run_program
from redis_ai.lisp.reader import read, read_all, split_forms, to_string
from redis_ai.workers.runner import GroupRunner
from tests.conftest import ROOT
from tests.support.clients import RPCClient, event
from tests.test_runner import add_events

EXAMPLES = ROOT / "examples" / "lisp"


def ev(text: str, **limits: object) -> str:
    """The printed value of the last form of ``text``."""
    return to_string(evaluate_text(text, **limits))


def lisp_error(text: str, **limits: object) -> LispError:
    with pytest.raises(LispError) as info:
        evaluate_text(text, **limits)
    return info.value


# -- Reader and printer -----------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "42", "-7", "1.5", "-2e-05", "1.0e+INF", "-1.0e+INF", "\"a \\\"quoted\\\" \\\\ line\\n\\ttab\"",
    "sym", "with-dash?", "nil", "(a b (c d) \"e\" 1 2.5)", "'x", "'(1 '2)", "(a . b)",
    "(1 2 . 3)", "((lambda (x) (* x x)) 3)",
])
def test_printer_round_trips(source):
    value = read(source)
    text = to_string(value)
    assert text == source
    assert to_string(read(text)) == text


def test_reader_reads_comments_quotes_and_spans():
    forms = read_all("; head\n(define x 1) ; tail\n'(a \"b;c\")\n")
    assert [to_string(f) for f in forms] == ["(define x 1)", "'(a \"b;c\")"]
    assert to_string(read("()")) == "nil" and to_string(read("(quote x)")) == "'x"
    assert split_forms(";; about x\n(define x 1)\n\n\n(define y\n  2) ; last\n") == [
        ";; about x\n(define x 1)", "(define y\n  2) ; last"]


@pytest.mark.parametrize("source, message", [
    ("(a\n  (b c)", "line 1, col 0: unclosed '('"),
    ("(a))", "line 1, col 3: unexpected ')'"),
    ("(x \"abc", "line 1, col 3: unterminated string"),
    ("\n  \"\\q\"", "line 2, col 3: unknown escape \\q"),
    ("(a 'b ')", "line 1, col 6: quote with nothing after it"),
    ("(a . b c)", "line 1, col 7: more than one datum after '.'"),
    ("(. a)", "line 1, col 1: misplaced '.'"),
    ("`(a ,b)", "line 1, col 0: unsupported syntax '`'"),
    ("123456789012345678901", "line 1, col 0: integer out of the 64-bit range"),
])
def test_reader_errors_name_line_and_column(source, message):
    with pytest.raises(LispError) as info:
        read_all(source)
    assert str(info.value) == message and info.value.kind == "read"


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(LispError, match="nested deeper than 1000"):
        read("(" * 5000 + ")" * 5000)
    nested = evaluate_text("(let loop ((i 0) (x nil)) (if (< i 20000) (loop (+ i 1) (list x)) x))",
                           fuel=10**6)
    assert to_string(nested).startswith("((((") and len(to_string(nested)) == 40003


# -- Evaluator --------------------------------------------------------------------------------

@pytest.mark.parametrize("source, value", [
    ("(+ 1 2 (* 3 4))", "15"), ("(- 10)", "-10"), ("(/ 7 2)", "3"), ("(/ -7 2)", "-3"),
    ("(/ 7.0 2)", "3.5"), ("(mod -7 3)", "2"), ("(< 1 2 3)", "t"), ("(< 1 3 2)", "nil"),
    ("(if nil 1 2 3)", "3"), ("(if 0 'zero-is-true 'no)", "zero-is-true"),
    ("(if \"\" 'empty-string-is-true 'no)", "empty-string-is-true"),
    ("(if '() 'yes 'empty-list-is-false)", "empty-list-is-false"),
    ("(cond ((= 1 2) 'a) ((assoc 'b '((a . 1) (b . 2))) ) (t 'c))", "(b . 2)"),
    ("(cond (nil 1) (else 2))", "2"), ("(and 1 2 3)", "3"), ("(and)", "t"),
    ("(or nil nil)", "nil"), ("(or nil 7)", "7"), ("(when t 1 2)", "2"), ("(unless t 1)", "nil"),
    ("(let ((x 1) (y 2)) (let* ((x 10) (z (+ x y))) z))", "12"),
    ("(let (a (b 2)) (list a b))", "(nil 2)"),
    ("(define (f a &optional b &rest c) (list a b c)) (list (f 1) (f 1 2 3 4))",
     "((1 nil nil) (1 2 (3 4)))"),
    ("(defun sq (x) (* x x)) (map sq '(1 2 3))", "(1 4 9)"),
    ("(define (make-counter) (let ((n 0)) (lambda () (set! n (+ n 1)) n)))"
     "(define c (make-counter)) (c) (c) (c)", "3"),
    ("(define (adder n) (lambda (x) (+ x n))) (list ((adder 1) 10) ((adder 5) 10))", "(11 15)"),
    ("(filter (lambda (x) (> x 1)) '(1 2 3))", "(2 3)"),
    ("(reduce + 0 '(1 2 3 4))", "10"), ("(append '(1) '(2 3) nil '(4))", "(1 2 3 4)"),
    ("(reverse '(1 2 3))", "(3 2 1)"), ("(nth 1 '(a b c))", "b"), ("(length \"abc\")", "3"),
    ("(sort '(3 1 2) <)", "(1 2 3)"), ("(apply + '(1 2 3))", "6"),
    ("(concat \"a\" \"b\")", "\"ab\""), ("(substring \"hello\" 1 -1)", "\"ell\""),
    ("(string-contains \"hello\" \"ll\")", "2"), ("(string-contains \"hello\" \"z\")", "nil"),
    ("(string-prefix-p \"he\" \"hello\")", "t"), ("(string-suffix-p \"lo\" \"hello\")", "t"),
    ("(split-string \" a  b \")", "(\"a\" \"b\")"), ("(split-string \"a,b,,c\" \",\")",
                                                     "(\"a\" \"b\" \"\" \"c\")"),
    ("(string-join '(\"a\" \"b\") \", \")", "\"a, b\""), ("(upcase \"ab\")", "\"AB\""),
    ("(string-trim \"  x \")", "\"x\""), ("(number-to-string 1.5)", "\"1.5\""),
    ("(string-to-number \"42\")", "42"), ("(string-to-number \"4x\")", "nil"),
    ("(format \"%s is %d, %S %%\" 'x 42 \"q\")", "\"x is 42, \\\"q\\\" %\""),
    ("(format \"%d %d\" 2.7 (/ 1.0 0))", "\"2 1.0e+INF\""),
    ("(equal '(1 (2 \"x\")) (list 1 (list 2 \"x\")))", "t"), ("(eq 'a 'a)", "t"),
])
def test_evaluator_semantics(source, value):
    assert ev(source) == value


def test_tail_calls_run_in_constant_stack():
    loop = "(define (count n acc) (if (= n 0) acc (count (- n 1) (+ acc 1)))) (count 100000 0)"
    assert ev(loop, fuel=10**7) == "100000"
    named = "(let loop ((i 0)) (cond ((>= i 100000) i) (t (loop (+ i 1)))))"
    assert ev(named, fuel=10**7) == "100000"
    mutual = ("(define (even n) (if (= n 0) t (odd (- n 1))))"
              "(define (odd n) (if (= n 0) nil (even (- n 1)))) (even 100001)")
    assert ev(mutual, fuel=10**7) == "nil"


def test_errors_carry_the_form():
    exc = lisp_error("(define (f x) (+ x (car x))) (f 5)")
    assert exc.message == "car: expected a list, got 5" and exc.form == "(car x)"
    assert lisp_error("(f 1)").message == "unbound symbol f"
    assert "takes 1 arguments, given 2" in lisp_error("((lambda (x) x) 1 2)").message
    assert "reserved" in lisp_error("(define if 1)").message
    assert ev("(define (car x) 'mine) (car '(1))") == "mine"  # a program's own copy
    assert lisp_error("(error \"bad %d\" 7)").message == "bad 7"


# -- Sandbox ----------------------------------------------------------------------------------

def test_infinite_loop_ends_on_fuel_in_bounded_time():
    started = time.monotonic()
    exc = lisp_error("(let loop () (loop))")
    assert exc.kind == "fuel" and "200000 steps" in exc.message
    assert time.monotonic() - started < 10
    # Work inside builtins is paid for too: a loop over big strings runs out as well.
    exc = lisp_error("(define s (concat \"x\" (substring (format \"%S\" (number-sequence 1 9000)) 0)))"
                     "(let loop ((i 0)) (loop (+ i (length (split-string s \" \")))))")
    assert exc.kind == "fuel"
    for loop in ("(equal big big)", "(member 20000 big)", "(sort big <)",
                 "(string= text text)", "(string-prefix-p text text)"):
        started = time.monotonic()
        exc = lisp_error("(define big (number-sequence 1 20000))"
                         "(define text (format \"%S\" big))"
                         f"(let loop () {loop} (loop))")
        assert exc.kind == "fuel" and time.monotonic() - started < 10


def test_scanning_builtins_pay_for_the_text_they_scan():
    # One 1 MiB line (minified code): a loop of buffer-lines-with over it runs out of fuel as
    # soon as any other loop, not after many minutes of scanning for one step a call.
    event = {"text": "x" * (1 << 20), "first_line": 1}
    needles = " ".join(['"zq"'] * 63)
    started = time.monotonic()
    exc = lisp_error(f"(let loop () (buffer-lines-with {needles}) (loop))", event=event, cache={})
    assert exc.kind == "fuel" and time.monotonic() - started < 10


def test_huge_integer_literals_are_reader_errors():
    for literal in ("1" * 5000, "-" + "9" * 30, "000" + "1" * 25):
        assert "64-bit" in lisp_error(literal).message
    assert ev("0000000000000000000000042") == "42"


def test_shared_structure_cannot_multiply_work():
    # c is 1,000 references to b, itself 1,000 references to a list of 1,000: a billion
    # elements to walk or print, built in a few thousand steps.
    shared = ("(define a (number-sequence 1 1000)) (define b (map (lambda (x) a) a))"
              "(define c (map (lambda (x) b) b))")
    for work in ("(equal c (map (lambda (x) b) b))", "(format \"%s\" c)", "(format \"%S\" c)",
                 "(error \"%s\" c)"):
        started = time.monotonic()
        assert lisp_error(f"{shared} {work}").kind in ("fuel", "size")
        assert time.monotonic() - started < 10


def test_deep_recursion_ends_on_depth():
    exc = lisp_error("(define (f n) (+ 1 (f n))) (f 0)")
    assert exc.kind == "depth" and exc.form == "(f n)"
    exc = lisp_error("(define (g n) (map g (list n))) (g 0)")
    assert exc.kind == "depth"


@pytest.mark.parametrize("bomb", [
    "(define (b s) (b (concat s s))) (b \"xxxxxxxxxxxxxxxx\")",
    "(define (b s) (b (format \"%s%s\" s s))) (b \"xxxxxxxxxxxxxxxx\")",
    "(define (b s) (b (string-join (list s s s s)))) (b \"xxxxxxxxxxxxxxxx\")",
    "(number-sequence 1 100000000)",
    "(define (b n) (b (* n n))) (b 3)",
])
def test_string_list_and_number_bombs_end_on_size(bomb):
    assert lisp_error(bomb, fuel=10**7).kind == "size"


def test_symbols_are_not_made_from_data_and_huge_windows_are_refused():
    from redis_ai.lisp.data import Symbol

    ev("(map string-to-number (split-string \"\"))")
    before = len(Symbol._table)
    assert ev("(map string-to-number (split-string \"zq1 zq2 zq3 7\"))") == "(nil nil nil 7)"
    assert len(Symbol._table) == before  # a long-running worker's symbol table cannot grow
    [program] = compile_library({"p": (["(define (analyze) (length (buffer-lines)) nil)"], {})})
    [item] = run_program(program, event(text="\n" * 300_000), {})
    assert item["code"] == "lisp-size" and "300001 lines is over the limit" in item["message"]
    [program] = compile_library({"q": (["(define (analyze) (list (number-sequence 1 5000)))"], {})})
    [item] = run_program(program, event(), {})
    assert "which is not an item" in item["message"] and len(item["message"]) < 300


def test_results_are_bounded():
    def run(body: str) -> list[dict]:
        [program] = compile_library({"p": ([f"(define (analyze) {body})"], {"kind": "hints"})})
        return run_program(program, event(), {})

    [item] = run("(map (lambda (i) (hint 1 \"m\")) (number-sequence 0 1000))")
    assert item["code"] == "lisp-size" and "more than 1000 items" in item["message"]
    [item] = run("(let ((r (format \"%S\" (number-sequence 1 500))))"
                 " (map (lambda (i) (list (cons 'line 1) (cons 'message \"m\") (cons 'rewrite r)))"
                 " (number-sequence 1 1000)))")
    assert item["code"] == "lisp-size" and "rewrites" in item["message"]
    # A thousand items sharing one long alist tail: only the head of each is read.
    items = run("(let ((tail (number-sequence 1 150000)))"
                " (map (lambda (i) (cons (cons 'line i) (cons (cons 'message \"m\") tail)))"
                " (number-sequence 1 1000)))")
    assert len(items) == 1000 and items[-1]["line"] == 1000


@pytest.mark.parametrize("name", ["__import__", "open", "eval", "exec", "getattr", "os",
                                  "system", "print", "load", "read-file", "current-time"])
def test_the_host_is_out_of_reach(name):
    assert lisp_error(f"({name} \"x\")").message == f"unbound symbol {name}"


def test_loaded_programs_keep_no_state_between_events():
    forms = ["(define n 0)", "(define (analyze) (set! n (+ n 1)) nil)"]
    [program] = compile_library({"p": (forms, {})})
    [item] = run_program(program, event(), {})
    assert item["code"] == "lisp-error" and "read-only" in item["message"]


# -- Programs: require, items ------------------------------------------------------------------

def test_require_loads_definitions_and_detects_cycles():
    sources = {
        "base": ["(define (double x) (* 2 x))", "(define (analyze) nil)"],
        "top": ["(require 'base)",
                "(define (analyze) (list (diagnostic 1 0 (format \"%d\" (double 21)))))"],
        "a": ["(require 'b)"], "b": ["(require 'c)"], "c": ["(require 'a)"],
        "lost": ["(require 'nowhere)"],
    }
    assert to_string(evaluate_text("(require 'top) (double 21)", sources.get)) == "42"
    # A required program's analyze stays its own: requiring it does not run it twice.
    with pytest.raises(LispError, match="unbound symbol analyze"):
        evaluate_text("(require 'base) (analyze)", sources.get)
    programs = {p.name: p for p in compile_library({n: (f, {}) for n, f in sources.items()})}
    assert run_program(programs["base"], event(), {}) == []
    [item] = run_program(programs["top"], event(text="x\n"), {})
    assert item == {"line": 1, "col": 0, "end_line": 1, "end_col": 1, "severity": "warning",
                    "message": "42", "code": "lisp", "source": "lisp:top"}
    late = compile_library({"late": (["(define (analyze) (require 'base))"], {})})[0]
    assert "only while a program loads" in run_program(late, event(), {})[0]["message"]
    assert str(programs["a"].error) == "c: require cycle: a -> b -> c -> a in (require 'a)"
    assert "no program named nowhere" in str(programs["lost"].error)
    with pytest.raises(LispError, match="require cycle: b -> c -> a -> b"):
        Loader(sources.get).load("b")


def test_items_take_the_shape_of_the_program_kind():
    text = "a\n    b = 1\nlonger line\n"
    sources = {"p": ["(define (analyze) (list (hint 2 \"h\" \"H1\") (diagnostic 3 2 \"d\" 'error)"
                     " '((line . 1) (message . \"own\") (rewrite . \"z\"))))"]}
    hints = compile_library({"p": (sources["p"], {"kind": "hints"})})[0]
    assert run_program(hints, event(text=text, first_line=1), {}) == [
        {"line": 2, "col": 4, "end_line": 2, "end_col": 9, "message": "h", "code": "H1"},
        {"line": 3, "col": 2, "end_line": 3, "end_col": 11, "message": "d", "code": "lisp"},
        {"line": 1, "col": 0, "end_line": 1, "end_col": 0, "message": "own", "code": "lisp",
         "rewrite": "z"}]
    diags = compile_library({"p": (sources["p"], {"kind": "diagnostics"})})[0]
    assert [(i["severity"], i["source"]) for i in run_program(diags, event(text=text), {})] == [
        ("hint", "lisp:p"), ("error", "lisp:p"), ("hint", "lisp:p")]
    # buffer-lines numbers the lines of a window from its first_line.
    window = compile_library({"w": (["(define (analyze) (map (lambda (e) (hint (car e) (cdr e)))"
                                     " (buffer-lines)))"], {"kind": "hints"})})[0]
    got = run_program(window, event(text="x\ny", first_line=40, whole=False), {})
    assert [(i["line"], i["message"]) for i in got] == [(40, "x"), (41, "y")]
    some = compile_library({"s": (["(define (analyze) (map (lambda (e) (hint (car e) (cdr e)))"
                                   " (buffer-lines-with \"b\" \"c\")))"], {"kind": "hints"})})[0]
    got = run_program(some, event(text="a\nb\nc\nabc\nd", first_line=7, whole=False), {})
    assert [(i["line"], i["message"]) for i in got] == [(8, "b"), (9, "c"), (10, "abc")]


# -- Programs stored in Redis -----------------------------------------------------------------

def test_programs_are_stored_as_redis_lists(redis_client):
    helpers = (EXAMPLES / "text-helpers.lisp").read_text()
    meta = store.define(redis_client, "text-helpers", helpers, description="helpers")
    assert meta["analyze"] == "0" and meta["version"] == "1"
    stored = [f.decode() for f in redis_client.lrange(keys.lisp_program("text-helpers"), 0, -1)]
    assert stored == split_forms(helpers) and len(stored) == 6
    assert all(len(read_all(form)) == 1 for form in stored)
    assert stored[0].startswith(";;; text-helpers") and stored[0].endswith("(car entry))")
    assert redis_client.smembers(keys.LISP_PROGRAMS) == {b"text-helpers"}

    pubsub = redis_client.pubsub()
    pubsub.subscribe(keys.LISP_CHANGES)
    pubsub.get_message(timeout=1)
    source = (EXAMPLES / "long-lines.lisp").read_text()
    meta = store.define(redis_client, "long-lines", source, languages=["python", "lua"])
    assert meta["requires"] == "text-helpers" and meta["languages"] == "lua,python"
    assert store.version(redis_client) == 2
    message = pubsub.get_message(timeout=1)
    assert message and message["data"] == b"define long-lines"
    assert store.define(redis_client, "long-lines", source)["version"] == "2"
    hash_ = redis_client.hgetall(keys.lisp_meta("long-lines"))
    assert hash_[b"version"] == b"2" and hash_[b"languages"] == b"" and hash_[b"kind"] == b"diagnostics"

    assert store.remove(redis_client, "long-lines") and not store.remove(redis_client, "long-lines")
    assert not redis_client.exists(keys.lisp_program("long-lines"), keys.lisp_meta("long-lines"))
    assert store.version(redis_client) == 4
    pubsub.close()


@pytest.mark.parametrize("source, message", [
    ("(define (analyze)\n  (list (hint 1 \"x\"))", "line 1, col 0: unclosed '('"),
    ("(define x \"abc)\n", "line 1, col 10: unterminated string"),
    ("(require 'absent)\n(define (analyze) nil)", "requires absent, which is not defined"),
    ("(require 'me)", "require cycle: me -> me"),
    ("(define x (car 5))", "car: expected a list, got 5"),
    ("", "the program has no forms"),
])
def test_define_refuses_broken_programs(redis_client, source, message):
    with pytest.raises(LispError) as info:
        store.define(redis_client, "me", source)
    assert message in str(info.value)
    assert not redis_client.exists(keys.lisp_program("me")) and store.version(redis_client) == 0


def cli(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "redis_ai", "lisp", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, input=stdin)


def test_cli_defines_lists_shows_runs_and_removes(redis_server, redis_client, tmp_path):
    import os

    env = {**os.environ, "REDIS_AI_REDIS_URL": redis_server.url}
    out = cli("define", "long-lines", str(EXAMPLES / "long-lines.lisp"), env=env)
    assert out.returncode == 1 and "requires text-helpers, which is not defined" in out.stderr
    out = cli("define", "text-helpers", "-", env=env,
              stdin=(EXAMPLES / "text-helpers.lisp").read_text())
    assert out.returncode == 0 and "(no analyze: a helper" in out.stdout, out.stderr
    assert cli("define", "long-lines", str(EXAMPLES / "long-lines.lisp"), "--kind", "diagnostics",
               "--description", "lines over 100", env=env).returncode == 0
    broken = tmp_path / "broken.lisp"
    broken.write_text("(define (analyze)\n  (list \"x))\n")
    out = cli("define", "broken", str(broken), env=env)
    assert out.returncode == 1 and "line 2, col 8: unterminated string" in out.stderr

    listed = json.loads(cli("list", "--json", env=env).stdout)
    assert [(p["name"], p["analyze"]) for p in listed] == [("long-lines", "1"), ("text-helpers", "0")]
    assert "lines over 100" in cli("list", env=env).stdout
    shown = cli("show", "long-lines", env=env).stdout
    assert [to_string(f) for f in read_all(shown)] == [
        to_string(f) for f in read_all((EXAMPLES / "long-lines.lisp").read_text())]
    assert shown.startswith(";;; long-lines: a warning")

    sample = tmp_path / "sample.py"
    sample.write_text("x = 1\n" + "y = '" + "z" * 120 + "'\n")
    out = cli("run", "long-lines", "--file", str(sample), "--json", env=env)
    assert out.returncode == 0, out.stderr
    [item] = json.loads(out.stdout)["items"]
    assert (item["line"], item["col"], item["end_col"], item["code"]) == (2, 100, 126, "long-line")
    assert item["message"] == "line is 126 characters long (more than 100)"
    assert "sample.py:2:100: warning: line is 126" in cli("run", "long-lines", "--file",
                                                           str(sample), env=env).stdout

    assert cli("eval", "(require 'text-helpers) (indentation \"    x\")", env=env).stdout == "4\n"
    out = cli("eval", "(let loop () (loop))", env=env)
    assert out.returncode == 1 and "out of fuel" in out.stderr
    out = cli("remove", "text-helpers", env=env)
    assert out.returncode == 0 and "long-lines require text-helpers" in out.stderr
    out = cli("run", "long-lines", "--file", str(sample), "--json", env=env)
    assert out.returncode == 1
    assert "no program named text-helpers" in json.loads(out.stdout)["items"][0]["message"]


def test_example_programs_find_what_they_say(redis_client):
    for name in ("text-helpers", "long-lines", "todo-comments", "print-left"):
        kind = "diagnostics" if name == "long-lines" else "hints"
        store.define(redis_client, name, (EXAMPLES / f"{name}.lisp").read_text(), kind=kind)
    text = ("import os  # TODO: drop this\n"
            "def f():\n"
            "    print('debug')\n"
            "    return 1  # the word TODO outside a comment marker is in a comment here\n"
            "s = 'TODO in a string'\n"
            "    # FIXME later\n")
    programs = {p.name: p for p in compile_library(store.library(redis_client)[1])}
    assert set(programs) == {"long-lines", "todo-comments", "print-left"}
    todo = run_program(programs["todo-comments"], event(text=text), {})
    assert [(i["line"], i["message"]) for i in todo] == [
        (1, "TODO: # TODO: drop this"),
        (4, "TODO: # the word TODO outside a comment marker is in a comment here"),
        (6, "FIXME: # FIXME later")]
    [left] = run_program(programs["print-left"], event(text=text), {})
    assert (left["line"], left["col"], left["end_col"], left["code"]) == (3, 4, 18, "print-left")
    assert run_program(programs["long-lines"], event(text=text), {}) == []


# -- The analyzers, in-process and in a real daemon --------------------------------------------

def test_analyzer_reloads_when_the_version_moves(redis_client):
    analyzer = LispHints(redis_client)
    analyzer.check_s = 0.0
    assert analyzer.analyze(event()) is None  # no program of its kind: publishes nothing
    store.define(redis_client, "one", "(define (analyze) (list (hint 1 \"one\")))", kind="hints")
    store.define(redis_client, "diag", "(define (analyze) (list (hint 1 \"diag\")))")
    store.define(redis_client, "lua-only", "(define (analyze) (list (hint 1 \"lua\")))",
                 kind="hints", languages=["lua"])
    assert [i["message"] for i in analyzer.analyze(event()) or []] == ["one"]
    assert [i["message"] for i in analyzer.analyze(event(language="lua")) or []] == ["lua", "one"]
    assert [i["message"] for i in LispDiagnostics(redis_client).analyze(event()) or []] == ["diag"]
    store.remove(redis_client, "one")
    store.remove(redis_client, "lua-only")
    assert analyzer.analyze(event()) == []  # cleared once programs existed


def test_an_event_read_after_a_define_meets_the_new_program(redis_client):
    """However long the analyzer's timer, an event the runner reads after a define is analysed
    by the new programs: the runner has the analyzer re-check the version per batch."""
    analyzer = LispDiagnostics(redis_client)
    analyzer.check_s = 3600.0  # the timer alone would keep version 0 for the whole test
    runner = GroupRunner(redis_client, analyzer, "test:lisp", block_ms=100)
    runner.ensure_group()
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.results_channel("c-lisp"))
    try:
        add_events(redis_client, 1, client="c-lisp")
        assert runner.step() == 1  # version 0 loaded: no program yet, nothing published
        store.define(redis_client, "one", "(define (analyze) (list (hint 1 \"one\")))")
        add_events(redis_client, 1, client="c-lisp")
        assert runner.step() == 1
        # get_message answers None for the (ignored) subscribe confirmation too.
        deadline = time.monotonic() + 5
        message = None
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1)
        assert message is not None, "the event after the define published nothing"
        assert [i["message"] for i in msgpack.unpackb(message["data"])["items"]] == ["one"]
    finally:
        pubsub.close()


def test_one_event_has_a_budget_for_all_programs(redis_client, monkeypatch):
    monkeypatch.setattr(lisp_analyzer, "EVENT_FUEL", 300_000)
    for name in ("a-spin", "b-spin", "c-late"):
        store.define(redis_client, name, "(define (analyze) (let loop () (loop)))")
    items = LispDiagnostics(redis_client).analyze(event()) or []
    assert [(i["source"], i["code"]) for i in items] == [
        ("lisp:a-spin", "lisp-fuel"), ("lisp:b-spin", "lisp-fuel"), ("lisp:c-late", "lisp-fuel")]
    assert "200000 steps" in items[0]["message"] and "100000 steps" in items[1]["message"]
    assert "skipped: the programs before it spent this event's 300000 steps" in items[2]["message"]


def is_result(analyzer: str, tick: int):
    return lambda p: p["type"] == "result" and p["analyzer"] == analyzer and p["tick"] == tick


def test_daemon_runs_programs_defined_and_changed_while_it_runs(make_daemon, redis_client):
    daemon = make_daemon(analyzers=["lisp", "lisp_hints"])
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        store.define(redis_client, "text-helpers", (EXAMPLES / "text-helpers.lisp").read_text())
        store.define(redis_client, "long-lines", (EXAMPLES / "long-lines.lisp").read_text(),
                     languages=["python"])
        store.define(redis_client, "shout", "(define (analyze) (list (hint 1 \"first\")))",
                     kind="hints")
        text = "x = 1\n" + "#" * 130 + "\n"
        client.notify("event", event(text=text, tick=1))
        res = client.wait(is_result("lisp", 1))
        assert res["kind"] == "diagnostics"
        assert [(i["line"], i["code"], i["source"]) for i in res["items"]] == [
            (2, "long-line", "lisp:long-lines")]
        hints = client.wait(is_result("lisp_hints", 1))
        assert hints["kind"] == "hints" and [i["message"] for i in hints["items"]] == ["first"]

        # Redefined while the daemon runs: the next event gets the new program's items.
        store.define(redis_client, "shout", "(define (analyze) (list (hint 1 \"second\")))",
                     kind="hints")
        client.notify("event", event(text=text, tick=2))
        assert [i["message"] for i in client.wait(is_result("lisp_hints", 2))["items"]] == ["second"]

        # A program that loops forever costs one error item; the others still answer.
        store.define(redis_client, "spin", "(define (analyze) (let loop () (loop)))")
        client.notify("event", event(text=text, tick=3))
        items = client.wait(is_result("lisp", 3), timeout=10)["items"]
        assert [(i["code"], i["source"]) for i in items] == [
            ("long-line", "lisp:long-lines"), ("lisp-fuel", "lisp:spin")]
        assert "lisp program spin failed: spin: out of fuel" in items[1]["message"]
        assert items[1]["severity"] == "error"

        # Removing the helper breaks its user at load time: an error item, not a dead worker.
        store.remove(redis_client, "text-helpers")
        store.remove(redis_client, "spin")
        client.notify("event", event(text=text, tick=4))
        [item] = client.wait(is_result("lisp", 4))["items"]
        assert item["code"] == "lisp-error" and "no program named text-helpers" in item["message"]
    finally:
        client.close()
    assert "lisp program spin (version 1) failed" in daemon.log.read_text()

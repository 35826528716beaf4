"""Next-edit suggestions: the patterns on text pairs, the analyzer's per-buffer state in a real
Redis across typed edit sequences, and a real daemon's push."""

from __future__ import annotations

import textwrap
from typing import Any

import msgpack

from redis_ai import keys
from redis_ai.analyzers import load
from redis_ai.analyzers._edit_patterns import Mask, follow_ups
from redis_ai.analyzers.next_edit import NextEdit
from redis_ai.search.index import shared
from tests.support.clients import RPCClient

SOURCE = textwrap.dedent('''\
    """Parsing the settings: parse_line is the unit of work."""

    import os


    def parse_line(line, sep):
        # parse_line splits one line
        key, _, value = line.partition(sep)
        return key.strip(), value.strip()


    def parse_all(lines):
        parse = dict(parse_line(line, "=") for line in lines)
        return parse, os.sep


    class Reader:
        def read(self, path):
            with open(path) as fp:
                return self.read_lines(fp)

        def read_lines(self, fp):
            return [parse_line(line, ":") for line in fp]


    print(parse_line("a=b", "="), Reader().read_lines([]), "parse_line")
''')


def applied(text: str, edits: list[Any]) -> str:
    """``text`` with every edit applied (from the last)."""
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:e.start] + e.text + text[e.end:]
    return text


def changed(text: str, old: str, new: str) -> tuple[str, str, int]:
    """(the old line, the new text, the row) after replacing the first ``old`` by ``new``."""
    at = text.index(old)
    row = text.count("\n", 0, at)
    return text.split("\n")[row], text.replace(old, new, 1), row


def test_rename_at_the_def_renames_code_uses_only():
    before, after, row = changed(SOURCE, "def parse_line(", "def split_line(")
    edits, old = follow_ups(before, after, row)
    assert old == "parse_line"
    assert {e.title for e in edits} == {"rename parse_line -> split_line"}
    # Every use in code (three calls), none in the docstring, the comment or the string.
    assert applied(after, edits) == SOURCE.replace("parse_line(", "split_line(").replace(
        '"a=b", "="), Reader().read_lines([]), "split_line"',
        '"a=b", "="), Reader().read_lines([]), "parse_line"')


def test_rename_never_touches_a_longer_identifier_or_an_attribute():
    text = "def get(x):\n    return x\n\nget(1)\nforget = get_all = obj.get\n"
    before, after, row = changed(text, "def get(", "def fetch(")
    edits, _ = follow_ups(before, after, row)
    assert applied(after, edits) == "def fetch(x):\n    return x\n\nfetch(1)\nforget = get_all = obj.get\n"


def test_method_rename_follows_attribute_calls():
    before, after, row = changed(SOURCE, "def read_lines(", "def read_all(")
    edits, old = follow_ups(before, after, row)
    assert old == "read_lines"
    assert [after[e.start:e.end] for e in edits] == ["read_lines", "read_lines"]
    assert "self.read_all(fp)" in applied(after, edits)
    assert "Reader().read_all([])" in applied(after, edits)


def test_parameter_rename_stays_in_its_function():
    before, after, row = changed(SOURCE, "def parse_line(line, sep)", "def parse_line(text, sep)")
    edits, old = follow_ups(before, after, row)
    assert old == "line"
    result = applied(after, edits)
    assert "key, _, value = text.partition(sep)" in result
    assert "for line in lines" in result  # another function's `line` is another variable


def test_parameter_added_to_a_def_fills_its_calls():
    before, after, row = changed(SOURCE, "def parse_line(line, sep)", "def parse_line(line, sep, strip)")
    edits, old = follow_ups(before, after, row)
    assert old is None
    assert {e.title for e in edits} == {"add argument strip to parse_line()"}
    result = applied(after, edits)
    assert 'parse_line(line, "=", strip)' in result and 'parse_line(line, ":", strip)' in result
    assert 'parse_line("a=b", "=", strip)' in result
    # A defaulted parameter leaves every call valid: nothing to suggest.
    before, after, row = changed(SOURCE, "def parse_line(line, sep)", "def parse_line(line, sep=None)")
    assert follow_ups(before, after, row) == ([], None)


def test_parameter_inserted_in_front_goes_in_front():
    text = "def area(w):\n    return w\n\narea(3)\narea(w=3)\n"
    before, after, row = changed(text, "def area(w)", "def area(h, w)")
    edits, _ = follow_ups(before, after, row)
    assert applied(after, edits) == "def area(h, w):\n    return w\n\narea(h, 3)\narea(w=3)\n"


def test_change_on_one_of_similar_lines_goes_to_its_siblings_only():
    text = textwrap.dedent('''\
        def setup(app):
            app.add("a", handler_a)
            app.add("bb", handler_b)
            app.add("c", handler_c)
            app.remove("d", handler_d)
            other.add("e", handler_e)

        app.add("far", handler_f)
    ''')
    before, after, row = changed(text, 'app.add("a", handler_a)', 'app.add("a", handler_a, lazy=True)')
    edits, old = follow_ups(before, after, row)
    assert old is None
    assert [e.title for e in edits] == ["same change as line 2"] * 2
    result = applied(after, edits)
    assert 'app.add("bb", handler_b, lazy=True)' in result and 'app.add("c", handler_c, lazy=True)' in result
    assert 'app.remove("d", handler_d)\n' in result and 'other.add("e", handler_e)\n' in result
    assert 'app.add("far", handler_f)\n' in result  # another block


def test_unrelated_edit_suggests_nothing():
    text = "x = 1\ny = 2\n\ndef f():\n    return x\n"
    before, after, row = changed(text, "return x", "return x + y")
    assert follow_ups(before, after, row) == ([], None)


def test_rename_finds_code_uses_only_without_a_tokenized_buffer():
    text = textwrap.dedent("""\
        def f(x):
            return x


        y = f(1) + len(f"{x}")  # f(2)
        z = obj.f + obj.  f + (obj.  # a comment between
                               f)
        w = '''
        f(3)
        '''; f(4)
        v = [f
             (5)]
    """)
    before, after, row = changed(text, "def f(", "def g(")
    edits, old = follow_ups(before, after, row)
    assert old == "f"
    # Not the f-string's prefix, the comment, the attributes (even across a comment) or the
    # triple-quoted string; the call split over two lines is.
    assert applied(after, edits) == text.replace("def f(", "def g(").replace("y = f(1)", "y = g(1)") \
        .replace("; f(4)", "; g(4)").replace("[f\n", "[g\n")


def test_rename_of_a_global_leaves_the_functions_where_the_name_is_local():
    text = textwrap.dedent("""\
        from other import C as D


        class C:
            def C(self):
                return C


        def uses():
            return C()


        def assigns():
            C = make()
            return C


        def takes(a, C):
            return C


        def loops(items):
            for C in items:
                print(C)


        def defines():
            class C:
                pass
            return C


        def declares():
            global C
            C = 1
    """)
    before, after, row = changed(text, "class C:", "class K:")
    edits, _ = follow_ups(before, after, row)
    # The import names other's C, the method is an attribute; the locals are other variables.
    assert sorted(after.count("\n", 0, e.start) + 1 for e in edits) == [6, 10, 34, 35]


def test_return_annotation_of_a_def_holds_no_parameter():
    text = "class Item:\n    pass\n\n\ndef items(n) -> tuple[int, Item]:\n    return n, Item()\n"
    before, after, row = changed(text, "class Item:", "class Entry:")
    edits, _ = follow_ups(before, after, row)
    assert applied(after, edits) == text.replace("Item", "Entry")


def test_multi_line_def_header_still_opens_its_body():
    text = textwrap.dedent("""\
        class Sub:
            pass


        def make(
            a,
        ):
            class Sub:
                pass
            return Sub(a)
    """)
    before, after, row = changed(text, "class Sub:", "class Base:")
    assert follow_ups(before, after, row) == ([], "Sub")  # make's Sub is its own


def test_backslash_newline_in_a_triple_quoted_string_keeps_it_one_string():
    text = 'def run():\n    pass\n\n\nSCRIPT = """\\\nrun "$@"\n"""\nrun()\n'
    before, after, row = changed(text, "def run(", "def start(")
    edits, _ = follow_ups(before, after, row)
    assert applied(after, edits) == text.replace("def run(", "def start(").replace("\nrun()", "\nstart()")


def test_mask_spliced_for_one_line_is_the_mask_scanned_afresh():
    source = SOURCE + 'DOC = """\nparse_line(1)  # not code\n"""\n'
    lines = source.split("\n")
    base = Mask.of(source)
    replacements = ["", "x = 1", "# parse_line", 's = "a#b" + \'c\'', 'open = "unclosed', "'''", 'x = """doc"""']
    spliced = 0
    for row, line in enumerate(lines):
        lo = sum(len(x) + 1 for x in lines[:row])
        for new in [line, line + " # tail", *replacements]:
            text = "\n".join(lines[:row] + [new] + lines[row + 1:])
            mask = base.spliced(lo, lo + len(line), new)
            if mask is not None:
                spliced += 1
                fresh = Mask.of(text)
                assert (mask.starts, mask.ends) == (fresh.starts, fresh.ends), (row, new)
    assert spliced > len(lines) * 5  # most lines are spliced; triple quotes are scanned again
    inside = lines.index("parse_line(1)  # not code")
    lo = source.index(lines[inside])
    assert base.spliced(lo, lo + len(lines[inside]), "x = 1") is None  # a string holds the line


def event(text: str, tick: int, intent: str = "edit", **extra: Any) -> dict[str, Any]:
    return {"v": 1, "editor": "test", "buffer": "b1", "client": "c-1", "line": 1, "col": 0,
            "tick": tick, "text": text, "intent": intent, "language": "python", "whole": True,
            **extra}


def typed(analyzer: NextEdit, start: str, old: str, new: str, tick: int) -> tuple[list[Any] | None, str, int]:
    """Type ``new`` over the first ``old`` of ``start`` as an editor sends it: one event per
    key (delete the old name from its end, then type the new one). Returns the last answer."""
    at = start.index(old)
    text = start
    answer = None
    for n in range(len(old) - 1, -1, -1):
        text = start[:at] + old[:n] + start[at + len(old):]
        tick += 1
        answer = analyzer.analyze(event(text, tick))
    for n in range(1, len(new) + 1):
        text = start[:at] + new[:n] + start[at + len(old):]
        tick += 1
        answer = analyzer.analyze(event(text, tick))
    return answer, text, tick


def apply_items(text: str, items: list[dict[str, Any]]) -> str:
    lines = text.split("\n")
    for item in sorted(items, key=lambda i: (i["line"], i["col"]), reverse=True):
        assert item["line"] == item["end_line"]
        row = lines[item["line"] - 1]
        lines[item["line"] - 1] = row[:item["col"]] + item["text"] + row[item["end_col"]:]
    return "\n".join(lines)


def test_analyzer_follows_a_typed_rename_then_an_accepted_one(redis_client):
    analyzer = load("next_edit", redis_client)
    assert isinstance(analyzer, NextEdit)
    assert analyzer.wants(event(SOURCE, 1, "open")) and not analyzer.wants(event(SOURCE, 1, "save"))
    assert analyzer.analyze(event(SOURCE, 1, "open")) is None
    items, text, tick = typed(analyzer, SOURCE, "parse_line(line, sep)", "split_line(line, sep)", 1)
    # Typed key by key, the edit is still parse_line -> split_line, not split_lin -> split_line.
    assert items is not None and len(items) == 3
    assert {i["title"] for i in items} == {"rename parse_line -> split_line"}
    assert items[0] == {"line": 13, "col": 17, "end_line": 13, "end_col": 27, "text": "split_line",
                        "title": "rename parse_line -> split_line", "files": []}
    # The editor takes the first suggestion: the next event's follow-ups are the two left.
    text = apply_items(text, items[:1])
    rest = analyzer.analyze(event(text, tick + 1))
    assert rest == items[1:]
    # State lives in Redis, bounded by a TTL, and a stale tick changes nothing.
    key = keys.next_edit_state("c-1", "b1")
    assert 0 < redis_client.pttl(key) <= 15 * 60 * 1000
    assert analyzer.analyze(event(SOURCE, 2)) is None
    # Another process (a second worker) continues from the same state.
    final = apply_items(text, rest or [])
    assert NextEdit(redis_client).analyze(event(final, tick + 2)) == []
    assert "parse_line(" not in final.replace('"parse_line"', "")


def test_analyzer_writes_the_text_to_redis_only_when_an_edit_starts(redis_client):
    analyzer = NextEdit(redis_client)
    analyzer.analyze(event(SOURCE, 1, "open"))
    key = keys.next_edit_state("c-1", "b1")
    stored = redis_client.hget(key, "base")
    items, text, tick = typed(analyzer, SOURCE, "parse_line(line, sep)", "split_line(line, sep)", 1)
    assert items is not None and len(items) == 3
    # Twenty keys later the base is the one written at the open and the state holds one line.
    assert redis_client.hget(key, "base") == stored
    assert len(redis_client.hget(key, "state")) < 200
    # An edit on another line starts the next edit: the base is the text before it.
    text = apply_items(text, items[:1])
    assert analyzer.analyze(event(text, tick + 1)) == items[1:]
    assert msgpack.unpackb(redis_client.hget(key, "base"))[1] == SOURCE.replace(
        "def parse_line(", "def split_line(")


def test_analyzer_on_two_workers_taking_turns_suggests_what_one_does(redis_client):
    one = NextEdit(redis_client)
    one.analyze(event(SOURCE, 1, "open"))
    alone, _, _ = typed(one, SOURCE, "parse_line(line, sep)", "split_line(line, sep)", 1)
    redis_client.flushall()
    workers = [NextEdit(redis_client), NextEdit(redis_client)]
    turn = iter(range(1000))

    class Alternating:
        def analyze(self, e: dict[str, Any]) -> list[Any] | None:
            return workers[next(turn) % 2].analyze(e)

    Alternating().analyze(event(SOURCE, 1, "open"))
    both, _, _ = typed(Alternating(), SOURCE, "parse_line(line, sep)", "split_line(line, sep)", 1)  # type: ignore[arg-type]
    assert both == alone and alone is not None and len(alone) == 3


def test_analyzer_starts_again_when_the_base_in_redis_is_not_the_states(redis_client):
    key = keys.next_edit_state("c-1", "b1")
    NextEdit(redis_client).analyze(event(SOURCE, 1, "open"))
    # Another worker's write won the race for the base, not for the state.
    redis_client.hset(key, "base", msgpack.packb(("other", "def parse_line(line, sep):\n")))
    renamed = SOURCE.replace("def parse_line(", "def split_line(")
    assert NextEdit(redis_client).analyze(event(renamed, 2)) is None
    assert msgpack.unpackb(redis_client.hget(key, "base"))[1] == renamed


def test_analyzer_replaces_the_state_an_older_version_kept(redis_client):
    key = keys.next_edit_state("c-1", "b1")
    redis_client.set(key, msgpack.packb({"tick": 1, "first": 1, "base": SOURCE, "prev": SOURCE, "row": -1}))
    analyzer = NextEdit(redis_client)
    assert analyzer.analyze(event(SOURCE, 2)) is None
    items = analyzer.analyze(event(SOURCE.replace("def parse_line(", "def split_line("), 3))
    assert items is not None and len(items) == 3


def test_analyzer_lists_indexed_project_files_that_mention_the_old_name(redis_client, tmp_path):
    other = tmp_path / "cli.py"
    other.write_text("from settings import parse_line\n\nparse_line('x', ':')\n")
    unrelated = tmp_path / "misc.py"
    unrelated.write_text("def nothing():\n    return 1\n")
    index = shared(redis_client)
    for path in (other, unrelated):
        index.index_text(str(path), path.read_text(), "python")
    analyzer = NextEdit(redis_client)
    analyzer.analyze(event(SOURCE, 1, "open", file=str(tmp_path / "settings.py")))
    renamed = SOURCE.replace("def parse_line(", "def split_line(")
    items = analyzer.analyze(event(renamed, 2, file=str(tmp_path / "settings.py")))
    assert items and all(i["files"] == [str(other)] for i in items)


def test_daemon_pushes_next_edit_results(make_daemon):
    daemon = make_daemon(analyzers=["next_edit"])
    client = RPCClient(daemon.discovery["rpc_socket"])
    try:
        client.hello()
        base = {"v": 1, "editor": "test", "buffer": "7", "line": 1, "col": 0, "file": "/tmp/s.py",
                "whole": True}
        client.notify("event", {**base, "tick": 1, "text": SOURCE, "intent": "open"})
        renamed = SOURCE.replace("def parse_line(", "def split_line(")
        client.notify("event", {**base, "tick": 2, "text": renamed})
        push = client.wait(lambda p: p["type"] == "result" and p["analyzer"] == "next_edit", timeout=10)
        assert push["kind"] == "next_edit" and push["tick"] == 2
        assert [(i["line"], i["text"]) for i in push["items"]] == [
            (13, "split_line"), (23, "split_line"), (26, "split_line")]
    finally:
        client.close()

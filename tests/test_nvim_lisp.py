"""Stored Lisp programs from Neovim (0.7.2 and 0.11): `:RedisAI lisp define|list|show|run|remove`
in a real child Neovim against a real daemon running the real ``lisp_hints`` analyzer on a real
Redis. A program defined from one buffer hints at what is typed in another; redefined, its new
message shows; broken, it is refused with its place (the cursor goes there) and the stored
version keeps running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis_ai.lisp import store
from redis_ai.lisp.reader import position
from tests.test_nvim import nvim_bin, start_nvim, wait_for
from tests.test_nvim_search import RECORD_NOTIFY, notes

# Fixtures of test_nvim.py (both Neovims), taken by name.
__all__ = ["nvim_bin", "start_nvim"]


def program(message: str) -> list[str]:
    return [";; kind: hints",
            ";; description: lines that shout",
            "(define (analyze)",
            f'  (map (lambda (entry) (hint (car entry) "{message}" "shout"))',
            '       (buffer-lines-with "SHOUT")))']


# Unreadable: the string after the non-ASCII name is never closed (columns count characters).
BROKEN = ['(define (analyze) (hint 1 "né" "x")) ; fine so far', '(define é "open', "(more)"]

HINTS = """(function()
  local h = require('redis_ai.ui').results(0).hints.lisp_hints
  if not h then return nil end
  local out = {}
  for _, item in ipairs(h.items) do out[#out + 1] = {item.line, item.message} end
  return out
end)()"""


def hints_are(nvim: Any, expected: list[list[Any]]) -> None:
    wait_for(nvim, f"vim.deep_equal({HINTS}, {lua_pairs(expected)})")


def lua_pairs(pairs: list[list[Any]]) -> str:
    return "{" + ", ".join(f"{{{line}, '{message}'}}" for line, message in pairs) + "}"


def note_with(nvim: Any, text: str) -> str:
    wait_for(nvim, "#_G.notes > 0 and _G.notes[#_G.notes][1]:find(" + repr(text) + ", 1, true)")
    return notes(nvim)[-1]


def test_define_redefine_refuse_list_show_run_remove(
    start_nvim: Any, make_daemon: Any, redis_client: Any, tmp_path: Path
) -> None:
    daemon = make_daemon(analyzers=["lisp", "lisp_hints"])
    source, code = tmp_path / "shout.lisp", tmp_path / "code.py"
    source.write_text("\n".join(program("first message")) + "\n")
    code.write_text("x = 1\n")
    nvim = start_nvim(daemon.runtime_dir, {})
    nvim.exec_lua(RECORD_NOTIFY)
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")

    # Define from the program's buffer: named after its file, kind from its header.
    nvim.command(f"edit {source}")
    nvim.command("RedisAI lisp define")
    assert note_with(nvim, "defined") == "redis-ai: defined shout version 1: 1 forms, hints"
    # Typing in another buffer: the program's hint appears.
    nvim.command(f"edit {code}")
    nvim.input("GoSHOUT = 2<Esc>")
    hints_are(nvim, [[2, "first message"]])

    # Redefined: the next keystroke brings the new message.
    nvim.command(f"buffer {source}")
    nvim.current.buffer[:] = program("second message")
    nvim.command("RedisAI lisp define")
    note_with(nvim, "defined shout version 2")
    nvim.command(f"buffer {code}")
    nvim.input("oSHOUT<Esc>")
    hints_are(nvim, [[2, "second message"], [3, "second message"]])

    # Broken: refused with its place, the cursor goes there, the stored version keeps running.
    nvim.command(f"buffer {source}")
    nvim.current.buffer[:] = BROKEN
    nvim.current.window.cursor = (1, 0)
    nvim.command("RedisAI lisp define")
    text = "\n".join(BROKEN) + "\n"
    line, col = position(text, text.index('"open'))
    assert note_with(nvim, "not defined") == (
        f"redis-ai: shout not defined: line {line}, col {col}: unterminated string")
    assert tuple(nvim.current.window.cursor) == (line, len(BROKEN[line - 1][:col].encode()))
    assert store.get(redis_client, "shout")[1]["version"] == "2"
    nvim.command(f"buffer {code}")
    nvim.input("oSHOUT<Esc>")
    hints_are(nvim, [[2, "second message"], [3, "second message"], [4, "second message"]])

    # Run it on the current buffer: its items in the quickfix list.
    nvim.command("RedisAI lisp run shout")
    wait_for(nvim, "vim.fn.getqflist({title = 1}).title == 'redis-ai lisp run: shout'")
    qf = nvim.eval("getqflist()")
    assert [(i["lnum"], i["col"], i["text"]) for i in qf] == [
        (n, 1, "second message [shout]") for n in (2, 3, 4)]
    gave = note_with(nvim, "gave")
    assert gave.startswith("redis-ai: shout gave 3 items in ") and gave.endswith(" steps")
    nvim.command("cclose")

    # The list, in a scratch buffer: <CR> on a program opens its source (filetype lisp).
    nvim.command("RedisAI lisp list")
    wait_for(nvim, "vim.api.nvim_buf_get_name(0) == 'redis-ai://lisp'")
    rows = nvim.current.buffer[:]
    assert rows[0].split()[:3] == ["NAME", "VER", "KIND"]
    assert rows[1].split()[:4] == ["shout", "2", "hints", "all"]
    assert rows[1].endswith("lines that shout")
    nvim.current.window.cursor = (2, 0)
    nvim.input("<CR>")
    wait_for(nvim, "vim.bo.filetype == 'lisp'")
    assert nvim.current.buffer[:] == program("second message")
    assert nvim.eval("b:redis_ai_lisp_name") == "shout"

    # Completion knows the subcommands, then the names seen.
    nvim.input(":RedisAI lisp sh<Tab>")
    assert nvim.eval("getcmdline()") == "RedisAI lisp show"
    nvim.input("<C-u><Esc>")
    nvim.input(":RedisAI lisp remove sh<Tab>")
    assert nvim.eval("getcmdline()") == "RedisAI lisp remove shout"
    nvim.input("<C-u><Esc>")

    # Removed: the hints go on the next keystroke.
    nvim.command("RedisAI lisp remove shout")
    assert note_with(nvim, "removed") == "redis-ai: removed shout"
    assert store.get(redis_client, "shout") is None
    nvim.command(f"buffer {code}")
    nvim.input("ox<Esc>")
    hints_are(nvim, [])


def test_lisp_without_a_daemon(start_nvim: Any, tmp_path: Path) -> None:
    nvim = start_nvim(tmp_path, {})
    nvim.exec_lua(RECORD_NOTIFY)
    nvim.command("RedisAI lisp list")
    assert notes(nvim) == ["redis-ai: not connected to the daemon (:RedisAI status)"]
    nvim.command("RedisAI lisp frob")
    assert notes(nvim)[-1] == "redis-ai: lisp needs one of: define, evolve, example, examples, list, remove, run, show"
    nvim.command("enew")
    nvim.command("RedisAI lisp define")
    assert notes(nvim)[-1] == "redis-ai: name the program: :RedisAI lisp define {name}"
    assert "lisp" in nvim.call("getcompletion", "RedisAI li", "cmdline")


# Lines 1-13 must be flagged, 15-25 must not (one region each).
CODE = """\
def f(x):
    print(x)
    return x

class A:
    def run(self):
        print('running')

x = compute()
print(x, file=sys.stderr)

def g():
    print ('done')

def f(x):
    logger.info(x)
    return x

def show():
    return 'no print here'

value = 1

def h():
    log(h)
"""
REGIONS = [(1, 3, "flag"), (5, 7, "flag"), (9, 10, "flag"), (12, 13, "flag"),
           (15, 17, "ok"), (19, 20, "ok"), (22, 22, "ok"), (24, 25, "ok")]
LISP_LINES = """(function()
  local d = require('redis_ai.ui').results(0).diagnostics.lisp
  if not d then return nil end
  local out = {}
  for _, item in ipairs(d) do out[#out + 1] = item.lnum + 1 end
  return out
end)()"""


def test_evolve_from_examples_marked_in_a_buffer(
    start_nvim: Any, make_daemon: Any, redis_client: Any, tmp_path: Path
) -> None:
    daemon = make_daemon(analyzers=["lisp", "lisp_hints"])
    code = tmp_path / "code.py"
    code.write_text(CODE)
    nvim = start_nvim(daemon.runtime_dir, {})
    nvim.exec_lua(RECORD_NOTIFY)
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {code}")
    nvim.command("RedisAI lisp evolve --offline print-left flag prints")
    assert notes(nvim)[-1].startswith("redis-ai: add examples first")

    # Completion knows the new subcommands and example's words.
    nvim.input(":RedisAI lisp ev<Tab>")
    assert nvim.eval("getcmdline()") == "RedisAI lisp evolve"
    nvim.input("<C-u><Esc>")
    nvim.input(":RedisAI lisp example f<Tab>")
    assert nvim.eval("getcmdline()") == "RedisAI lisp example flag"
    nvim.input("<C-u><Esc>")

    for first, last, what in REGIONS:
        nvim.command(f"{first},{last}RedisAI lisp example {what}")
    assert notes(nvim)[-1] == ("redis-ai: 8 examples (4 must be flagged); :RedisAI lisp evolve "
                               "{name} {request} sends them")
    nvim.command("RedisAI lisp examples")
    listed = notes(nvim)[-1].split("\n")
    assert listed[0] == "redis-ai: 8 examples for :RedisAI lisp evolve (flag: must be flagged, ok: must not)"
    assert listed[1].split()[:3] == ["1", "flag", "code.py:1-3"]
    assert listed[8].split()[:3] == ["8", "ok", "code.py:24-25"]

    nvim.command("RedisAI lisp evolve --offline print-left flag print() calls left in code")
    assert notes(nvim)[-1] == "redis-ai: evolving print-left from 8 examples (offline)..."
    assert note_with(nvim, "evolve print-left") == "redis-ai: redis-ai evolve print-left: live as version 1"
    wait_for(nvim, "vim.api.nvim_buf_get_name(0) == 'redis-ai://lisp-evolve'")
    shown = nvim.current.buffer[:]
    assert shown[0] == "redis-ai evolve print-left: live as version 1"
    assert shown[1] == "request: flag print() calls left in code"
    assert shown[3].startswith("lineage: v1 (live): gen 1 by offline-search (offline)")
    assert any(line.startswith("gen ") and line.endswith(" -> live") for line in shown)
    assert "The winner (shown, not run here):" in shown
    lineage = store.versions(redis_client, "print-left")[1]["lineage"]
    assert (lineage["author"], lineage["request"]) == ("offline", "flag print() calls left in code")

    # The winner runs in the daemon's lisp analyzer on the buffer it was learnt from.
    nvim.command("wincmd p")
    nvim.input("Go<Esc>")
    wait_for(nvim, f"vim.deep_equal({LISP_LINES}, {{2, 7, 10, 13}})")

    nvim.command("RedisAI lisp example clear")
    assert notes(nvim)[-1] == "redis-ai: no examples"

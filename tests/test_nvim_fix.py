"""Fixes from Neovim (0.7.2 and 0.11): `:RedisAI fix` and `:RedisAI fix all` apply ruff's safe
fixes, which a real daemon's code_analysis (real ruff) offers on diagnostics, to a real child
Neovim's buffer: the result is what ``ruff check --fix`` by hand makes of the same text, one
`u` takes it back, and a fix computed for an older buffer is refused.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from redis_ai.analyzers import ruff_engine
from tests.test_nvim import diagnostics, nvim_bin, start_nvim, wait_for
from tests.test_nvim_search import RECORD_NOTIFY, notes

# Fixtures of test_nvim.py (both Neovims), taken by name.
__all__ = ["nvim_bin", "start_nvim"]

# Five safe fixes of the default rule set: two unused imports (the last one on the buffer's last
# line, whose removal takes the newline before it), three f-strings without placeholders (after
# non-ASCII characters, two on one line).
SAMPLE = ["import os",
          "import sys",
          "",
          "",
          "def greet(name):",
          '    print("é", f"hello")',
          '    return sys.argv, "éé", f"bye", f"!"',
          "import json"]

# Record what vim.ui.select is offered and choose its second item.
CHOOSE_SECOND = """
_G.offered = nil
vim.ui.select = function(items, opts, on_choice)
  _G.offered = vim.tbl_map(opts.format_item, items)
  on_choice(items[2], 2)
end
"""


def ruff_fix(text: str, path: Path) -> str:
    """What ``ruff check --fix`` by hand makes of ``text`` read as ``path`` (with the daemon's
    default rules, as no configuration is found for it)."""
    assert ruff_engine.config_for(str(path)) is None
    done = subprocess.run([ruff_engine.binary(), "check", "--fix", "--no-cache", "--quiet",
                           "--exit-zero", *ruff_engine.default_options(),
                           "--stdin-filename", str(path), "-"],
                          input=text, capture_output=True, text=True, check=True)
    return done.stdout


def fresh(nvim: Any, count: int) -> None:
    """Wait until ``count`` fixes are offered for the buffer as it is."""
    wait_for(nvim, f"#require('redis_ai.fix').current(0) == {count}")


def undo(nvim: Any) -> None:
    nvim.command("normal! u")
    assert nvim.current.buffer[:] == SAMPLE
    fresh(nvim, 5)


def test_fix_here_fix_all_undo_and_stale(start_nvim: Any, make_daemon: Any, tmp_path: Path) -> None:
    daemon = make_daemon(analyzers=["code_analysis"])
    nvim = start_nvim(daemon.runtime_dir, {"keymaps": {"fix": "<F5>"}})
    nvim.exec_lua(RECORD_NOTIFY + CHOOSE_SECOND)
    source = tmp_path / "greet.py"
    source.write_text("\n".join(SAMPLE) + "\n")
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {source}")
    fresh(nvim, 5)

    # The diagnostics say that they offer a fix, in the message and in user_data.
    fixable = {(d["lnum"], d["code"]): d for d in diagnostics(nvim)}
    first = fixable[(0, "F401")]
    assert first["message"] == "`os` imported but unused [fix: Remove unused import: `os`]"
    assert first["user_data"] == {"redis_ai_fix": "Remove unused import: `os`"}
    assert fixable[(5, "F541")]["user_data"] == {"redis_ai_fix": "Remove extraneous `f` prefix"}

    # On the line, outside the diagnostic: its fix; one `u` takes it back.
    nvim.current.window.cursor = (1, 0)
    nvim.command("RedisAI fix")
    assert nvim.current.buffer[:] == SAMPLE[1:]
    assert notes(nvim)[-1] == "redis-ai: fixed: Remove unused import: `os`"
    undo(nvim)

    # Under the cursor, after a non-ASCII character (columns are characters), with the key.
    nvim.current.window.cursor = (6, len('    print("é", '.encode()))
    nvim.input("<F5>")
    wait_for(nvim, "vim.api.nvim_buf_get_lines(0, 5, 6, false)[1] == '    print(\"é\", \"hello\")'")
    assert nvim.current.buffer[:5] + nvim.current.buffer[6:] == SAMPLE[:5] + SAMPLE[6:]
    undo(nvim)

    # Two on the cursor line: the one under the cursor (its last character, which ends two
    # bytes further than two characters)...
    nvim.current.window.cursor = (7, len('    return sys.argv, "éé", f"bye'.encode()))
    nvim.command("RedisAI fix")
    assert nvim.current.buffer[6] == '    return sys.argv, "éé", "bye", f"!"'
    undo(nvim)
    # ... and with neither under it, the user chooses (here the second).
    nvim.current.window.cursor = (7, 0)
    nvim.command("RedisAI fix")
    assert nvim.exec_lua("return _G.offered") == ["Remove extraneous `f` prefix (F541, line 7)"] * 2
    assert nvim.current.buffer[6] == '    return sys.argv, "éé", f"bye", "!"'
    undo(nvim)

    nvim.current.window.cursor = (3, 0)
    nvim.command("RedisAI fix")
    assert notes(nvim)[-1] == "redis-ai: no fix offered on this line"

    # Changed since the result (here in the same call, before any new result can come): both
    # commands refuse and leave the buffer alone.
    nvim.exec_lua("vim.api.nvim_buf_set_lines(0, 2, 2, false, {'x = 1'})"
                  " vim.api.nvim_win_set_cursor(0, {1, 0})"
                  " vim.cmd('RedisAI fix') vim.cmd('RedisAI fix all')")
    assert nvim.current.buffer[:] == [*SAMPLE[:2], "x = 1", *SAMPLE[2:]]
    refused = notes(nvim)[-2:]
    assert all(n.startswith("redis-ai: not applied: the buffer changed since this fix was "
                            "checked") for n in refused), refused
    nvim.exec_lua("vim.api.nvim_buf_set_lines(0, 2, 3, false, {})")
    fresh(nvim, 5)

    # Every fix at once is what ruff check --fix makes of the text; one `u` takes all back.
    nvim.command("RedisAI fix all")
    expected = ruff_fix("\n".join(SAMPLE) + "\n", source)
    assert "\n".join(nvim.current.buffer[:]) + "\n" == expected
    assert notes(nvim)[-1] == "redis-ai: applied 5 fixes"
    undo(nvim)

    # From insert mode (a user's own mapping), right after typing: `u` takes back the fixes, not
    # what was typed.
    typed = 'x = f"x"'
    nvim.input(f"Go{typed}")
    wait_for(nvim, f"vim.api.nvim_get_current_line() == {typed!r}")
    fresh(nvim, 6)
    nvim.input("<Cmd>RedisAI fix all<CR><Esc>")
    wait_for(nvim, "vim.api.nvim_get_mode().mode == 'n'")
    assert "\n".join(nvim.current.buffer[:]) + "\n" == ruff_fix("\n".join([*SAMPLE, typed]) + "\n",
                                                                source)
    nvim.command("normal! u")
    assert nvim.current.buffer[:] == [*SAMPLE, typed]

    # Two names of one unused import: ruff gives each the same fix, applied once.
    both = tmp_path / "both.py"
    both.write_text("import os, sys\n\nprint(1)\n")
    nvim.command(f"edit {both}")
    fresh(nvim, 2)
    nvim.command("RedisAI fix all")
    assert "\n".join(nvim.current.buffer[:]) + "\n" == ruff_fix(both.read_text(), both)
    assert notes(nvim)[-1] == "redis-ai: applied 1 fix"

    # The command line completes `all` after `fix`.
    nvim.input(":RedisAI fix a<Tab>")
    wait_for(nvim, "vim.fn.getcmdline() == 'RedisAI fix all'")
    nvim.input("<C-u><Esc>")

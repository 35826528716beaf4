"""Next-edit suggestions in Neovim (0.7.2 and 0.11): a def renamed by real typing (nvim_input)
in a real child Neovim, a real daemon running next_edit; the suggestion is drawn at the first
use, <M-n> jumps there, <M-y> applies it (one `u` takes it back), the next one follows, and a
suggestion is refused once the buffer changed under it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.test_nvim import nvim_bin, start_nvim, wait_for

__all__ = ["nvim_bin", "start_nvim"]

SAMPLE = ["def parse_line(line):",
          "    return line.split()",
          "",
          "",
          "rows = [parse_line(x) for x in 'ab']",
          "print(parse_line('c d'), 'parse_line')"]

ITEMS = "require('redis_ai.next_edit').items(0)"


def test_rename_jump_accept_undo_and_stale(start_nvim: Any, make_daemon: Any, tmp_path: Path) -> None:
    daemon = make_daemon(analyzers=["next_edit"])
    nvim = start_nvim(daemon.runtime_dir, {})
    source = tmp_path / "rows.py"
    source.write_text("\n".join(SAMPLE) + "\n")
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {source}")
    nvim.command("sleep 300m")  # the open event reaches the daemon first
    nvim.current.window.cursor = (1, 4)
    nvim.input("cwsplit_line<Esc>")
    wait_for(nvim, f"#{ITEMS} == 2")
    assert nvim.exec_lua(f"return {ITEMS}") == [[5, 8, "split_line"], [6, 6, "split_line"]]
    nvim.current.window.cursor = (1, 0)
    nvim.input("<M-n>")
    wait_for(nvim, "vim.api.nvim_win_get_cursor(0)[1] == 5")
    assert tuple(nvim.current.window.cursor) == (5, 8)
    nvim.input("<M-y>")
    wait_for(nvim, "vim.api.nvim_get_current_line() == \"rows = [split_line(x) for x in 'ab']\"")
    # The next one is drawn (the extmark moved with the text), and the daemon agrees.
    wait_for(nvim, f"#{ITEMS} == 1")
    nvim.input("<M-n><M-y>")
    done = ["def split_line(line):", "    return line.split()", "", "",
            "rows = [split_line(x) for x in 'ab']", "print(split_line('c d'), 'parse_line')"]
    wait_for(nvim, "vim.api.nvim_buf_get_lines(0, 5, 6, false)[1] == \"print(split_line('c d'), 'parse_line')\"")
    assert nvim.current.buffer[:] == done
    nvim.command("normal! u")
    assert nvim.current.buffer[:] == done[:5] + ["print(parse_line('c d'), 'parse_line')"]
    # A suggestion made for another buffer state is refused.
    nvim.exec_lua("""require('redis_ai.next_edit').take(0, {id = 'x/next_edit', items = {
      {line = 6, col = 6, end_line = 6, end_col = 16, text = 'split_line', title = 't'}}},
      vim.api.nvim_buf_get_changedtick(0) - 1)""")
    nvim.input("<M-y>")
    nvim.command("sleep 100m")
    assert nvim.current.buffer[5] == "print(parse_line('c d'), 'parse_line')"

"""Semantic code search from Neovim (0.7.2 and 0.11): `:RedisAI search` in a real child Neovim
against a real daemon on a real Redis, the sample folder indexed by the real ``redis-ai index``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.test_emacs_search import index, write_samples
from tests.test_nvim import nvim_bin, start_nvim, wait_for

# Fixtures of test_nvim.py (both Neovims), taken by name.
__all__ = ["nvim_bin", "start_nvim"]

# vim.notify is the user's to replace (nvim-notify does); the tests keep what it is given.
RECORD_NOTIFY = """
_G.notes = {}
vim.notify = function(msg, level) table.insert(_G.notes, {msg, level}) end
"""


def line_of(path: Path, pattern: str) -> int:
    """The 1-based number of the first line of ``path`` matching ``pattern``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if re.search(pattern, line):
            return number
    raise AssertionError(f"{pattern!r} not in {path}")


def quickfix(nvim: Any, title: str) -> dict[str, Any]:
    """The quickfix list once its title is ``title``, its entries' file names resolved."""
    wait_for(nvim, f"vim.fn.getqflist({{title = 1}}).title == {lua_string(title)}")
    qf = nvim.exec_lua("""
        local qf = vim.fn.getqflist({title = 1, items = 1, winid = 1})
        for _, item in ipairs(qf.items) do
          item.filename = vim.fn.fnamemodify(vim.fn.bufname(item.bufnr), ':p')
        end
        return qf
    """)
    return qf


def lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def notes(nvim: Any) -> list[str]:
    return [note[0] for note in nvim.exec_lua("return _G.notes")]


def test_search_fills_the_quickfix_list(start_nvim: Any, daemon: Any, tmp_path: Path) -> None:
    samples = write_samples(tmp_path / "project")
    retry, settings = samples / "net" / "retry.py", samples / "config" / "settings.py"
    nvim = start_nvim(daemon.runtime_dir, {"send_cursor": False})
    nvim.exec_lua(RECORD_NOTIFY)
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    # Nothing indexed yet: the user is told how to index.
    nvim.command("RedisAI search retry the connection with backoff")
    wait_for(nvim, "#_G.notes > 0")
    assert "nothing is indexed yet: run `redis-ai index PATH...`" in notes(nvim)[0]
    assert nvim.exec_lua("return vim.fn.getqflist({title = 1}).title") == ""

    index(daemon, samples)
    # A plain-words query: the retrying function comes first, and the list is open.
    nvim.command("RedisAI search retry the connection with backoff")
    qf = quickfix(nvim, "redis-ai search: retry the connection with backoff")
    first = qf["items"][0]
    assert (first["filename"], first["lnum"]) == (str(retry), line_of(retry, r"^def connect_with_retry"))
    assert first["end_lnum"] >= line_of(retry, r"raise ConnectionError")
    assert first["text"].startswith("connect_with_retry  0.")
    assert first["text"].endswith("def connect_with_retry(host, port, attempts=5, delay=0.1):")
    assert qf["winid"] != 0 and 1 <= len(qf["items"]) <= 10

    # No argument: the word under the cursor. (The list's window has the cursor: go back.)
    assert nvim.eval("&buftype") == "quickfix"
    nvim.command("wincmd p")
    nvim.command(f"edit {settings}")
    nvim.call("cursor", line_of(settings, r"^def load_settings"), 6)
    nvim.command("RedisAI search")
    qf = quickfix(nvim, "redis-ai search: load_settings")
    first = qf["items"][0]
    assert (first["filename"], first["lnum"]) == (str(settings), line_of(settings, r"^def load_settings"))

    # No argument from a visual-mode mapping: the selection.
    nvim.exec_lua("vim.keymap.set('x', '<F5>', function() require('redis_ai.search').run() end)")
    nvim.command("wincmd p")
    nvim.command("enew")
    nvim.current.buffer[:] = ["# then read the settings file, once"]
    nvim.input("0frvt,<F5>")
    qf = quickfix(nvim, "redis-ai search: read the settings file")
    assert qf["items"][0]["filename"] == str(settings)
    assert nvim.eval("mode()") == "n"

    # :'<,'>RedisAI search on a linewise selection: its lines are the query.
    nvim.command("wincmd p")
    nvim.current.buffer[:] = ["# first retry the connection", "  with backoff", "# unrelated"]
    nvim.input("ggVj:RedisAI search<CR>")
    qf = quickfix(nvim, "redis-ai search: # first retry the connection with backoff")
    assert qf["items"][0]["filename"] == str(retry)

    # Params the daemon refuses: its error is shown, the list stays.
    nvim.exec_lua("require('redis_ai.search').k = 51")
    nvim.command("RedisAI search anything")
    wait_for(nvim, "#_G.notes > 1")
    assert "redis-ai: search failed: k must be between 1 and 50" in notes(nvim)[1]
    assert nvim.exec_lua("return vim.fn.getqflist({title = 1}).title") == (
        "redis-ai search: # first retry the connection with backoff")


def test_search_without_a_daemon(start_nvim: Any, tmp_path: Path) -> None:
    nvim = start_nvim(tmp_path, {})
    nvim.exec_lua(RECORD_NOTIFY)
    nvim.command("RedisAI search open a connection")
    assert notes(nvim) == ["redis-ai: not connected to the daemon (:RedisAI status)"]
    # Completion offers the subcommand.
    assert "search" in nvim.call("getcompletion", "RedisAI se", "cmdline")


def test_request_helper_answers_without_the_editors_client_id(
    start_nvim: Any, daemon: Any, tmp_path: Path
) -> None:
    nvim = start_nvim(daemon.runtime_dir, {"send_cursor": False})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.exec_lua("""
        _G.answer = nil
        local sent = require('redis_ai.rpc').request('status', vim.empty_dict(), 5000,
          function(err, result) _G.answer = {err = err, result = result} end)
        assert(sent)
    """)
    answer = wait_for(nvim, "_G.answer")
    assert "err" not in answer, answer
    own = nvim.exec_lua("return require('redis_ai.rpc').state.client")
    assert answer["result"]["connection"]["client"] not in (None, own)
    assert answer["result"]["connection"]["editor"] == "neovim"

"""The Neovim plugin, driven through pynvim in a real child Neovim (0.7.2 and 0.11), talking to a
real daemon on a real Redis. Keys are typed with nvim_input, so they go through typeahead and
fire the same autocommands as a user's typing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pynvim
import pytest

from redis_ai import analytics, keys

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "nvim"
NVIMS = {
    "nvim-0.7": "/usr/bin/nvim",
    "nvim-0.11": str(ROOT / ".venv" / "bin" / "nvim"),
}
COMPLETION = "alpha beta gamma\ndelta epsilon"

SETUP = """
local rtp, runtime, opts = ...
vim.opt.runtimepath:prepend(rtp)
vim.env.REDIS_AI_RUNTIME_DIR = runtime
vim.env.REDIS_AI_DATA_DIR = runtime .. '/data'
vim.cmd('runtime plugin/redis_ai.lua')
vim.cmd('filetype on')
if opts ~= vim.NIL then
  require('redis_ai').setup(opts)
end
"""


def _binary(name: str) -> str:
    path = NVIMS[name]
    if not Path(path).exists():
        pytest.skip(f"{path} is not installed")
    return path


@pytest.fixture(params=sorted(NVIMS))
def nvim_bin(request: pytest.FixtureRequest) -> str:
    return _binary(request.param)


@pytest.fixture
def start_nvim(nvim_bin: str) -> Iterator[Callable[..., pynvim.Nvim]]:
    """Factory: a child Neovim with the plugin on its runtimepath and setup(opts) called
    (opts=None: plugin loaded, setup not called)."""
    started: list[pynvim.Nvim] = []

    def start(runtime_dir: Path, opts: dict[str, Any] | None) -> pynvim.Nvim:
        nvim = pynvim.attach(
            "child", argv=[nvim_bin, "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n"]
        )
        started.append(nvim)
        nvim.exec_lua(SETUP, str(PLUGIN), str(runtime_dir), opts)
        return nvim

    yield start
    for nvim in started:
        try:
            nvim.command("qa!")
        except Exception:  # noqa: BLE001 - the child exits while answering
            pass
        nvim.close()


def wait_for(nvim: pynvim.Nvim, lua: str, timeout: float = 10.0) -> Any:
    """Evaluate ``lua`` (an expression) in Neovim until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = nvim.exec_lua(f"return {lua}")
        if value:
            return value
        if time.monotonic() > deadline:
            log = nvim.exec_lua("return require('redis_ai.log').lines()")
            raise AssertionError(f"timed out waiting for {lua!r}; plugin log: {log}")
        time.sleep(0.02)


def diagnostics(nvim: pynvim.Nvim) -> list[dict[str, Any]]:
    return nvim.exec_lua(
        "return vim.diagnostic.get(0, {namespace = require('redis_ai.ui').ns})"
    )


def ghost_marks(nvim: pynvim.Nvim) -> list[Any]:
    return nvim.exec_lua(
        "return vim.api.nvim_buf_get_extmarks(0, require('redis_ai.ui').ghost_ns, 0, -1,"
        " {details = true})"
    )


def ghost_text(mark: Any) -> str:
    """The text an extmark shows: its virt_text, then one line per virt_lines entry."""
    details = mark[3]
    first = "".join(chunk[0] for chunk in details.get("virt_text", []))
    rest = ["".join(chunk[0] for chunk in line) for line in details.get("virt_lines", [])]
    return "\n".join([first, *rest])


def last_event(daemon: Any) -> dict[str, Any]:
    [(_, fields)] = daemon.redis.xrevrange(keys.EVENTS, count=1)
    return msgpack.unpackb(fields[b"e"], raw=False)[-1]


PLUGIN_STATE = """
    local au = vim.api.nvim_get_autocmds({event = {'TextChangedI', 'TextChanged', 'CursorMovedI',
      'BufWritePost', 'BufEnter'}})
    local maps = vim.list_extend(vim.api.nvim_get_keymap('i'), vim.api.nvim_get_keymap('n'))
    return {
      command = vim.fn.exists(':RedisAI'),
      loaded = package.loaded['redis_ai.rpc'] ~= nil,
      autocmds = #au,
      maps = #vim.tbl_filter(function(m) return (m.desc or ''):match('^redis%-ai') ~= nil end, maps),
    }
"""


def test_loading_has_no_side_effects_until_setup(start_nvim: Any, tmp_path: Path) -> None:
    nvim = start_nvim(tmp_path, None)
    assert nvim.exec_lua(PLUGIN_STATE) == {"command": 2, "loaded": False, "autocmds": 0, "maps": 0}
    assert nvim.exec_lua("return require('redis_ai').statusline()") == ""
    nvim.exec_lua("require('redis_ai').setup({keymaps = {next = false}})")
    after = nvim.exec_lua(PLUGIN_STATE)
    # One autocommand per event asked about; six of the seven ghost-text and analyze keys (analyze
    # in two modes), and the two next-edit keys in normal and insert mode.
    assert (after["loaded"], after["autocmds"], after["maps"]) == (True, 5, 11)


def test_window_and_columns_without_a_daemon(start_nvim: Any, tmp_path: Path) -> None:
    nvim = start_nvim(tmp_path, {"whole_max_bytes": 1000, "context_lines": 5})
    # A small buffer goes whole; the cursor column counts characters, not bytes.
    nvim.command("enew")
    nvim.current.buffer[:] = ["s = 'héllo wörld'", "t = 1"]
    nvim.current.window.cursor = (1, len("s = 'héllo wö".encode()))
    ev = nvim.exec_lua("return require('redis_ai.capture').build(0, 'edit')")
    assert (ev["whole"], ev["first_line"], ev["line"], ev["col"]) == (True, 1, 1, 13)
    assert ev["text"] == "s = 'héllo wörld'\nt = 1\n"
    assert ev["tick"] == nvim.eval("b:changedtick")
    # A large one goes as a window of context_lines each side of the cursor.
    nvim.current.buffer[:] = [f"line_{i} = {i}" for i in range(1, 201)]
    nvim.current.window.cursor = (100, 0)
    ev = nvim.exec_lua("return require('redis_ai.capture').build(0, 'edit')")
    assert (ev["whole"], ev["first_line"]) == (False, 95)
    assert ev["text"].splitlines() == [f"line_{i} = {i}" for i in range(95, 106)]
    # Results are rendered from push maps; their columns are characters too.
    nvim.current.buffer[:] = ["s = 'héllo' + missing"]
    buf = nvim.current.buffer.number
    tick = nvim.eval("b:changedtick")
    nvim.exec_lua(
        "require('redis_ai.rpc').on_push(...)",
        {"type": "result", "buffer": str(buf), "tick": tick, "line": 1, "col": 0,
         "analyzer": "code_analysis", "kind": "diagnostics", "id": "1-0/code_analysis",
         "items": [{"line": 1, "col": 14, "end_line": 1, "end_col": 21, "severity": "error",
                    "message": "undefined name 'missing'", "code": "F821", "source": None}]},
    )
    [diag] = diagnostics(nvim)
    assert (diag["lnum"], diag["col"], diag["end_col"]) == (0, 15, 22)
    assert diag["source"] == "code_analysis" and diag["code"] == "F821"
    # Several completions at the cursor: shown one at a time, cycled with next/previous. Their
    # columns are characters: the cursor is after "é".
    nvim.current.buffer[:] = ["s = 'é"]
    nvim.input("A")
    tick = nvim.eval("b:changedtick")
    nvim.exec_lua("require('redis_ai.rpc').on_push(...)", {
        "type": "result", "buffer": str(buf), "tick": tick, "line": 1, "col": 6,
        "analyzer": "completion", "kind": "completion", "id": "3-0/completion",
        "items": [{"text": "first'", "line": 1, "col": 6}, {"text": "second'", "line": 1, "col": 6},
                  {"text": "elsewhere", "line": 1, "col": 2}]})
    shown = "return require('redis_ai.ui').ghost()"
    assert nvim.exec_lua(shown)["text"] == "first'" and nvim.exec_lua(shown)["count"] == 2
    nvim.input("<M-]>")
    assert nvim.exec_lua(shown)["text"] == "second'"
    assert ghost_text(ghost_marks(nvim)[0]) == "second'"
    nvim.input("<M-[>")
    assert nvim.exec_lua(shown)["text"] == "first'"
    nvim.input("<C-]><Esc>")
    assert nvim.exec_lua(shown) is None and ghost_marks(nvim) == []
    assert nvim.current.buffer[:] == ["s = 'é"]
    # Hints go to the quickfix list and generated tests to a floating window, on request.
    nvim.current.buffer[:] = ["s = 'héllo' + missing"]
    tick = nvim.eval("b:changedtick")
    base = {"type": "result", "buffer": str(buf), "tick": tick, "line": 1, "col": 0}
    nvim.exec_lua("require('redis_ai.rpc').on_push(...)", {
        **base, "analyzer": "perf", "kind": "hints", "id": "2-0/perf",
        "items": [{"line": 1, "col": 12, "end_line": 1, "end_col": 21, "message": "slow concat",
                   "code": "P1"}]})
    nvim.exec_lua("require('redis_ai.rpc').on_push(...)", {
        **base, "analyzer": "test_generation", "kind": "tests", "id": "2-0/test_generation",
        "items": [{"title": "test s", "text": "def test_s():\n    assert s", "path": "test_s.py"}]})
    nvim.command("RedisAI hints")
    [hint] = nvim.eval("getqflist()")
    assert (hint["lnum"], hint["col"], hint["bufnr"]) == (1, 14, buf)
    assert hint["text"] == "slow concat [P1] (perf)"
    nvim.command("wincmd p | RedisAI tests")
    assert nvim.api.win_get_config(0)["relative"] == "editor"
    assert nvim.current.buffer[:] == ["# test s -> test_s.py", "def test_s():", "    assert s"]


def test_checkhealth_reports_a_missing_daemon(start_nvim: Any, tmp_path: Path) -> None:
    nvim = start_nvim(tmp_path, {})
    assert nvim.exec_lua("return require('redis_ai').statusline()") == "redis-ai:off"
    nvim.command("checkhealth redis_ai")
    report = "\n".join(nvim.current.buffer[:])
    assert "ERROR" in report
    assert f"the redis-ai daemon is not running: no daemon running ({tmp_path}/daemon.json" in report
    assert "redis-ai daemon" in report  # the advice says how to start it
    nvim.command("RedisAI log")
    log = nvim.current.buffer[:]
    assert str(tmp_path / "daemon-output.log") in log[0]
    assert any("disconnected: no daemon running" in line for line in log[1:]), log


def test_typed_error_gets_its_diagnostic(start_nvim: Any, daemon: Any, tmp_path: Path) -> None:
    nvim = start_nvim(daemon.runtime_dir, {"debounce_ms": 50})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {tmp_path / 'typed.py'}")
    nvim.input("iimport os<CR><CR>print('é', os.sep, naïve_name)<Esc>")
    diag = wait_for(nvim, "vim.diagnostic.get(0, {namespace = require('redis_ai.ui').ns})[1]")
    all_diags = diagnostics(nvim)
    undefined = [d for d in all_diags if "naïve_name" in d["message"]]
    assert len(undefined) == 1, all_diags
    assert undefined[0]["lnum"] == 2
    assert undefined[0]["col"] == len("print('é', os.sep, ".encode())
    assert diag["source"] == "ruff"
    ev = last_event(daemon)
    assert ev["editor"] == "neovim" and ev["mode"] == "python" and ev["language"] == "python"
    assert ev["buffer"] == str(nvim.current.buffer.number) and ev["whole"] is True
    assert ev["tick"] == nvim.eval("b:changedtick")
    assert (ev["line"], ev["col"]) == (3, len("print('é', os.sep, naïve_name"))
    # A configured key sequence sends the block around the cursor with its intent at once; the
    # keys are only observed, so <C-c> still does what it does.
    nvim.input("<C-c><C-c>")
    deadline = time.monotonic() + 10
    while last_event(daemon)["intent"] != "execute_code" and time.monotonic() < deadline:
        time.sleep(0.02)
    ev = last_event(daemon)
    assert (ev["intent"], ev["keys"], ev["region"], ev["line"]) == (
        "execute_code", "<C-c><C-c>", [3, 3], 3
    )


def test_completion_ghost_text_accepted_by_word_line_and_whole(
    start_nvim: Any, daemon: Any, tmp_path: Path, nvim_bin: str
) -> None:
    # A long debounce: after each accept, the next completion only comes well after the check.
    nvim = start_nvim(daemon.runtime_dir, {"debounce_ms": 500, "send_cursor": False})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {tmp_path / 'complete.py'}")
    nvim.input("ix = ")
    wait_for(nvim, "require('redis_ai.ui').ghost()")
    [mark] = ghost_marks(nvim)
    assert (mark[1], mark[2]) == (0, 4)
    assert ghost_text(mark) == COMPLETION
    inline = nvim_bin.endswith(".venv/bin/nvim")
    assert mark[3]["virt_text_pos"] == ("inline" if inline else "overlay")

    def accept(key: str) -> tuple[list[str], Any, list[Any]]:
        nvim.input(key)
        state = nvim.exec_lua(
            "return {vim.api.nvim_buf_get_lines(0, 0, -1, false),"
            " require('redis_ai.ui').ghost() or false}"
        )
        return state[0], state[1], ghost_marks(nvim)

    # Typing the start of the ghost text keeps the rest of it after the cursor.
    lines, ghost, marks = accept("al")
    assert lines == ["x = al"] and ghost["text"] == COMPLETION[2:]
    assert (marks[0][1], marks[0][2]) == (0, 6)
    lines, ghost, marks = accept("<M-w>")
    assert lines == ["x = alpha"]
    assert ghost["text"] == " beta gamma\ndelta epsilon" and len(marks) == 1
    assert (marks[0][1], marks[0][2]) == (0, 9)
    lines, ghost, marks = accept("<M-j>")
    assert lines == ["x = alpha beta gamma"]
    assert ghost["text"] == "\ndelta epsilon" and ghost_text(marks[0]) == "\ndelta epsilon"
    lines, ghost, marks = accept("<M-l>")
    assert lines == ["x = alpha beta gamma", "delta epsilon"]
    assert ghost is False and marks == []
    assert nvim.api.win_get_cursor(0) == [2, len("delta epsilon")]
    # A new completion follows the new cursor; dismissing it leaves the text alone.
    wait_for(nvim, "require('redis_ai.ui').ghost()")
    nvim.input("<C-]>")
    assert ghost_marks(nvim) == []
    assert nvim.current.buffer[:] == ["x = alpha beta gamma", "delta epsilon"]
    # Every accept and the dismissal reached the daemon as feedback (beside "shown", tested in
    # test_shown_feedback_once_per_drawn_suggestion).
    key = keys.stat(analytics.FEEDBACK, "fixed_completion")

    def actions() -> list[str]:
        every = [m.decode().rsplit(":", 1)[1] for m in daemon.redis.zrange(key, 0, -1)]
        return sorted(a for a in every if a != "shown")

    deadline = time.monotonic() + 10
    while len(actions()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # nothing more may follow: one outcome per suggestion
    # Taken in three pieces (word, line, rest), the first suggestion counts once, as partly
    # accepted; the second was dismissed.
    assert actions() == ["accepted_partial", "dismissed"]


def test_results_for_an_older_buffer_state_are_dropped(
    start_nvim: Any, daemon: Any, tmp_path: Path
) -> None:
    nvim = start_nvim(daemon.runtime_dir, {"debounce_ms": 5000, "send_cursor": False})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {tmp_path / 'stale.py'}")
    nvim.input("iy = undefined_a<Esc>a")
    # Send, then change the buffer before anything can come back: both results (diagnostics and
    # completion) describe the old text.
    before = nvim.exec_lua("""
        local stats = require('redis_ai.ui').stats
        local before = stats.dropped_stale
        require('redis_ai.capture').send_now('request')
        vim.api.nvim_buf_set_lines(0, 0, -1, false, {'y = undefined_b'})
        return before
    """)
    wait_for(nvim, f"require('redis_ai.ui').stats.dropped_stale >= {before + 2}")
    assert diagnostics(nvim) == []
    assert ghost_marks(nvim) == []
    # The same request for the current text is shown.
    nvim.exec_lua("require('redis_ai.capture').send_now('request')")
    wait_for(nvim, "#vim.diagnostic.get(0, {namespace = require('redis_ai.ui').ns}) > 0")
    assert "undefined_b" in diagnostics(nvim)[0]["message"]


def test_reconnects_after_the_daemon_restarts(start_nvim: Any, daemon: Any, tmp_path: Path) -> None:
    nvim = start_nvim(daemon.runtime_dir, {"debounce_ms": 50})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    client = nvim.exec_lua("return require('redis_ai.rpc').state.client")
    daemon.restart()
    wait_for(nvim, "require('redis_ai.rpc').state.connects >= 2")
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    assert nvim.exec_lua("return require('redis_ai.rpc').state.client") == client
    # The new connection carries events and results.
    nvim.command(f"edit {tmp_path / 'after.py'}")
    nvim.input("iz = gone<Esc>")
    wait_for(nvim, "#vim.diagnostic.get(0, {namespace = require('redis_ai.ui').ns}) > 0")
    assert "gone" in diagnostics(nvim)[0]["message"]
    # checkhealth sees the daemon and the Redis behind it.
    nvim.command("checkhealth redis_ai")
    report = "\n".join(nvim.current.buffer[:])
    assert "ERROR" not in report, report
    assert f"daemon running: pid {daemon.pid}" in report
    version = daemon.redis.info("server")["redis_version"]
    assert f"Redis {version}" in report
    status = nvim.exec_lua("return require('redis_ai').status_lines()")
    assert status[0] == "connection: connected" and f"{daemon.pid}" in status[2], status


def test_hints_rewrite_and_generated_tests(
    start_nvim: Any, make_daemon: Any, tmp_path: Path
) -> None:
    daemon = make_daemon(analyzers=["performance_optimization", "test_generation"])
    nvim = start_nvim(daemon.runtime_dir, {})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    source = tmp_path / "doubling.py"
    lines = ["def doubled(items: list[int]) -> list[int]:", '    """Each item twice.', "",
             "    >>> doubled([1, 2])", "    [2, 4]", '    """',
             "    out = []", "    for x in items:", "        out.append(x * 2)", "    return out"]
    source.write_text("\n".join(lines) + "\n")
    nvim.command(f"edit {source}")
    nvim.current.window.cursor = (7, len("    out"))
    nvim.command("RedisAI analyze")
    wait_for(nvim, "next(require('redis_ai.ui').results(0).hints) ~= nil")
    nvim.command("RedisAI hints")
    [hint] = nvim.eval("getqflist()")
    assert (hint["lnum"], hint["col"]) == (7, len("    ") + 1) and "[PERF401]" in hint["text"]
    nvim.command("wincmd p | RedisAI fix")
    assert nvim.current.buffer[:] == [*lines[:6], "    out = [x * 2 for x in items]", lines[-1]]
    nvim.command("RedisAI tests")
    wait_for(nvim, "vim.api.nvim_win_get_config(0).relative == 'editor'")
    generated = "\n".join(nvim.current.buffer[:])
    assert "doubled" in generated and "def test_" in generated, generated


def _blocked(signum: int, frame: Any) -> None:
    raise AssertionError("Neovim stopped answering while the daemon was paused")


def test_a_daemon_that_stops_answering_never_blocks_typing(
    start_nvim: Any, daemon: Any, tmp_path: Path
) -> None:
    nvim = start_nvim(daemon.runtime_dir, {"debounce_ms": 20, "stall_ms": 300,
                                           "answer_timeout_ms": 300})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {tmp_path / 'paused.py'}")
    daemon.pause()
    # A UI blocked on the daemon would hang the calls below: fail instead.
    signal.signal(signal.SIGALRM, _blocked)
    signal.alarm(30)
    try:
        # Every nvim_input returns and every key lands while the daemon answers nothing.
        for word in ("a = 1", "<CR>b = 2", "<CR>c = d"):
            nvim.input(("i" if word == "a = 1" else "") + word)
            time.sleep(0.1)
        wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:not answering'")
        assert nvim.current.buffer[:] == ["a = 1", "b = 2", "c = d"]
        sent = nvim.exec_lua("return require('redis_ai.capture').sent")
        nvim.input("<Esc>")
    finally:
        signal.alarm(0)
        daemon.resume()
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    # Stalled, nothing more was sent; answering again, the buffer is sent and analysed.
    wait_for(nvim, f"require('redis_ai.capture').sent > {sent}")
    wait_for(nvim, "#vim.diagnostic.get(0, {namespace = require('redis_ai.ui').ns}) > 0")
    assert "Undefined name `d`" in diagnostics(nvim)[0]["message"]


def test_starts_and_stops_the_daemon(start_nvim: Any, redis_client: Any, redis_server: Any) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="rai-"))
    cmd = [sys.executable, "-m", "redis_ai", "daemon", "--redis-url", redis_server.url,
           "--analyzers", "code_analysis"]
    nvim = start_nvim(runtime, {"auto_start": True, "daemon_cmd": cmd})
    discovery = runtime / "daemon.json"
    try:
        wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'", timeout=30)
        assert "ready" in (runtime / "daemon-output.log").read_text()
        pid = json.loads(discovery.read_text())["pid"]
        nvim.command("RedisAI stop")
        assert nvim.exec_lua("return require('redis_ai').statusline()") == "redis-ai:stopped"
        deadline = time.monotonic() + 10
        while discovery.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not discovery.exists()
        # Stopped by the user: not started again until asked.
        time.sleep(0.5)
        assert not discovery.exists()
        nvim.command("RedisAI start")
        wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'", timeout=30)
        assert json.loads(discovery.read_text())["pid"] != pid
    finally:
        if discovery.exists():
            os.kill(json.loads(discovery.read_text())["pid"], signal.SIGTERM)
            deadline = time.monotonic() + 10
            while discovery.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        shutil.rmtree(runtime, ignore_errors=True)


class WireTap:
    """A unix socket between Neovim and a real daemon that passes every byte on both ways and
    keeps the messages Neovim sends. Its runtime folder (0700) holds a copy of the daemon's
    discovery file naming the tap's socket, so the plugin connects through it."""

    def __init__(self, daemon: Any) -> None:
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="rai-tap-"))
        self.runtime_dir.chmod(0o700)
        self.path = self.runtime_dir / "tap.sock"
        self.target = daemon.discovery["rpc_socket"]
        self.sent: list[Any] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen()
        self._connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()
        found = dict(daemon.discovery, rpc_socket=str(self.path))
        (self.runtime_dir / "daemon.json").write_text(json.dumps(found))

    def _accept(self) -> None:
        while True:
            try:
                editor, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            self._connections += [editor, upstream]
            threading.Thread(target=self._pipe, args=(editor, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, editor, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            try:
                data = source.recv(65536)
                if data:
                    sink.sendall(data)
            except OSError:
                data = b""
            if not data:
                sink.close()
                return
            if record:
                unpacker.feed(data)
                self.sent.extend(unpacker)

    def notifications(self, method: str) -> list[dict[str, Any]]:
        """The params of every notification ``method`` Neovim sent so far."""
        return [m[2][0] for m in list(self.sent) if m[0] == 2 and m[1] == method]

    def close(self) -> None:
        self._listener.close()
        for conn in self._connections:
            conn.close()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


@pytest.fixture
def tap(daemon: Any) -> Iterator[WireTap]:
    wire = WireTap(daemon)
    yield wire
    wire.close()


def test_shown_feedback_once_per_drawn_suggestion(
    start_nvim: Any, daemon: Any, tap: WireTap, tmp_path: Path
) -> None:
    # Events only when asked for, so each completion comes from one known request.
    nvim = start_nvim(tap.runtime_dir, {"debounce_ms": 60000, "max_wait_ms": 60000,
                                        "send_cursor": False})
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    nvim.command(f"edit {tmp_path / 'shown.py'}")
    nvim.input("ix = ")
    nvim.exec_lua("require('redis_ai.capture').send_now('request')")
    first = wait_for(nvim, "require('redis_ai.ui').ghost()")
    # Redrawn (typed into, a word and a line accepted): still one suggestion.
    nvim.input("al")
    nvim.input("<M-w>")
    nvim.input("<M-j>")
    assert nvim.exec_lua("return require('redis_ai.ui').stats.drawn") >= 4
    nvim.exec_lua("require('redis_ai.capture').send_now('request')")
    second = wait_for(nvim, f"(require('redis_ai.ui').ghost() or {{}}).id ~= '{first['id']}'"
                            " and require('redis_ai.ui').ghost()")
    nvim.input("<C-]>")
    wait_for(nvim, "true")  # the dismissal is written before the next answer comes back
    deadline = time.monotonic() + 5
    while len(tap.notifications("feedback")) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    feedback = [(f["action"], f["suggestion"], f["analyzer"]) for f in tap.notifications("feedback")]
    shown = [f for f in feedback if f[0] == "shown"]
    assert shown == [("shown", first["id"], "fixed_completion"),
                     ("shown", second["id"], "fixed_completion")], feedback
    # One outcome per suggestion: the word and the line taken from the first count once.
    assert [f[0] for f in feedback if f[0] != "shown"] == ["accepted_partial", "dismissed"]
    # The unix socket needs no token: the hello on the wire carries none.
    [hello] = tap.notifications("hello")
    assert "token" not in hello and hello["editor"] == "neovim"
    if "shown" in analytics.FEEDBACK_ACTIONS:  # the daemon counts them (redis-ai stats)
        key = keys.stat(analytics.FEEDBACK, "fixed_completion")
        deadline = time.monotonic() + 5
        while daemon.redis.zcard(key) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        members = [m.decode().rsplit(":", 1)[1] for m in daemon.redis.zrange(key, 0, -1)]
        assert members.count("shown") == 2, members


MARKERS = """return vim.tbl_map(function(m) return {m[2] + 1, m[4].virt_text[1][1]} end,
  vim.api.nvim_buf_get_extmarks(0, require('redis_ai.ui').marker_ns, 0, -1, {details = true}))"""


def test_analyze_says_so_status_reads_and_the_test_marker_is_on_the_def(
    start_nvim: Any, make_daemon: Any, tmp_path: Path
) -> None:
    daemon = make_daemon(analyzers=["code_analysis", "test_generation"])
    nvim = start_nvim(daemon.runtime_dir, {"send_cursor": False})
    nvim.exec_lua("_G.notes = {}; vim.notify = function(m, l) table.insert(_G.notes, {m, l}) end")
    wait_for(nvim, "require('redis_ai').statusline() == 'redis-ai:ok'")
    # The status is sentences, not a dump of the daemon's map.
    status = nvim.exec_lua("return require('redis_ai').status_lines()")
    version = daemon.redis.info("server")["redis_version"]
    assert f"redis: {version}, up, at {daemon.redis_url}" in status, status
    assert any(line.startswith("analyzers: code_analysis (pending ") for line in status), status
    assert not [line for line in status if "{" in line or "=" in line], status
    source = tmp_path / "halving.py"
    source.write_text("import math\n\n\ndef half(n: int) -> int:\n    if n < 0:\n"
                      "        raise ValueError('negative')\n    return n // 2\n")
    nvim.command(f"edit {source}")
    nvim.current.window.cursor = (7, 4)
    nvim.command("RedisAI analyze")
    assert nvim.exec_lua("return _G.notes") == [
        ["redis-ai: sent halving.py for analysis; results appear as they arrive", 2]]
    # The marker of the generated tests goes after the `def` line, not the cursor's (line 7).
    marks = wait_for(nvim, MARKERS.replace("return ", "", 1))
    assert marks == [[4, "  [redis-ai test: pytest tests for halving.half (2 pass: raises, "
                         "returns)]"]]
    # A buffer the plugin does not send says why instead.
    nvim.command("enew | setlocal buftype=nofile")
    nvim.command("RedisAI analyze")
    assert "this buffer is not sent" in nvim.exec_lua("return _G.notes")[-1][0]


HL_FG = "vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID('{}')), 'fg', '{}')"


def test_ghost_text_has_a_terminal_colour(start_nvim: Any, tmp_path: Path) -> None:
    # Neovim 0.11's Comment has only a GUI colour: linked to it, ghost text was invisible in a
    # 256-colour terminal. Both Neovims, terminal colours on.
    nvim = start_nvim(tmp_path, None)
    nvim.command("set notermguicolors")
    nvim.exec_lua("require('redis_ai').setup({})")
    for group in ("RedisAIGhost", "RedisAIMarker"):
        assert nvim.exec_lua("return " + HL_FG.format(group, "cterm")) == "244"
        assert nvim.exec_lua("return " + HL_FG.format(group, "gui")) == "#808080"
    # A colour scheme clears every group; ours come back. One that defines it wins.
    nvim.command("colorscheme default")
    assert nvim.exec_lua("return " + HL_FG.format("RedisAIGhost", "cterm")) == "244"
    nvim.command("highlight RedisAIGhost ctermfg=1")
    nvim.exec_lua("require('redis_ai').setup({})")
    assert nvim.exec_lua("return " + HL_FG.format("RedisAIGhost", "cterm")) == "1"

"""The Neovim plugin: time per key with the plugin on versus off, and event sent -> extmark drawn.

A real ``redis-ai daemon`` (embedded Redis, no persistence, temporary runtime folder) and a real
``nvim --embed --headless`` driven over its msgpack-RPC stdio by a minimal client, so the client
adds as little as possible to each round trip.

- per key: one key through typeahead (``nvim_input``) and a synchronising ``nvim_eval`` behind
  it; Neovim answers the eval only once it waits for input again, i.e. after the key and every
  autocommand it fired. Blocks of keys alternate between plugin off and on; the difference of
  the medians is what the plugin adds. ``autocmd_us`` times the plugin's own autocommands from
  inside Neovim (marker autocommands registered before and after the plugin's).
- latency: ``send_now`` records the clock, the daemon routes the event through the stream to the
  analyzer and back; the clock is read again when the ghost text extmark is placed (and, for
  code_analysis, when vim.diagnostic.set returns). Each event names one analyzer, and that
  analyzer's own ``elapsed_ms`` is subtracted; there is no debounce on this path.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack

from ..analyzers.base import Analyzer, Event, Item
from ._harness import DaemonProcess, PrivateRedis, percentile

PLUGIN = Path(__file__).resolve().parents[3] / "nvim"
SYSTEM_NVIM = "/usr/bin/nvim"
VENV_NVIM = str(Path(sys.executable).parent / "nvim")
BENCH_COMPLETION = "alpha beta gamma\ndelta epsilon"

SAMPLE_FILE = "\n".join(
    f"def function_{i}(value):\n    total = value * {i}\n    return total + {i}\n\n"
    for i in range(40)
)


class BenchCompletion(Analyzer):
    """Offers a fixed two-line completion at the cursor at once: the bench times the path from
    editor to editor, not a model."""

    name = "bench_completion"
    kind = "completion"
    languages = frozenset({"python"})

    def analyze(self, event: Event) -> list[Item] | None:
        return [{"text": BENCH_COMPLETION, "line": event["line"], "col": event["col"]}]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: which Neovims, how many keys and latency samples."""
    parser.add_argument("--nvim", action="append",
                        help="Neovim binary to measure; repeatable (default: the one beside "
                             f"this Python, the one on PATH and {SYSTEM_NVIM}, when present)")
    parser.add_argument("--keys", type=int, default=2000, help="keys typed per mode (default 2000)")
    parser.add_argument("--samples", type=int, default=200,
                        help="event -> extmark samples (default 200)")
    parser.add_argument("--plugin", default=str(PLUGIN), help="the plugin folder (nvim/)")


class _Nvim:
    """Just enough of a msgpack-RPC client for ``nvim --embed`` on stdio."""

    def __init__(self, binary: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [binary, "--embed", "--headless", "-u", "NONE", "-i", "NONE", "-n"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin
        self._out = self.proc.stdout.fileno()
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self._msgid = 0

    def _send(self, *messages: list[Any]) -> int:
        data = b"".join(msgpack.packb(m) for m in messages)
        self._in.write(data)
        self._in.flush()
        return self._msgid

    def _reply(self, msgid: int) -> Any:
        while True:
            for message in self._unpacker:
                if message[0] == 1 and message[1] == msgid:
                    if message[2] is not None:
                        raise RuntimeError(f"nvim: {message[2]}")
                    return message[3]
            chunk = os.read(self._out, 1 << 16)
            if not chunk:
                raise RuntimeError("nvim exited")
            self._unpacker.feed(chunk)

    def request(self, method: str, *args: Any) -> Any:
        self._msgid += 1
        self._send([0, self._msgid, method, list(args)])
        return self._reply(self._msgid)

    def lua(self, code: str, *args: Any) -> Any:
        return self.request("nvim_exec_lua", code, list(args))

    def key(self, key: str) -> int:
        """Type ``key`` and return the nanoseconds until Neovim has processed it."""
        t0 = time.perf_counter_ns()
        self._msgid += 2
        self._send([0, self._msgid - 1, "nvim_input", [key]], [0, self._msgid, "nvim_eval", ["0"]])
        self._reply(self._msgid)
        return time.perf_counter_ns() - t0

    def close(self) -> None:
        try:
            self._msgid += 1
            self._send([2, "nvim_command", ["qa!"]])
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


SETUP = """
local plugin, file = ...
vim.opt.runtimepath:prepend(plugin)
vim.cmd('runtime plugin/redis_ai.lua')
vim.cmd('filetype on')
vim.cmd('edit ' .. vim.fn.fnameescape(file))
-- Marker autocommands around the plugin's: the time between them is the plugin's.
_G.redis_ai_bench = { spans = {}, first = 0 }
local b = _G.redis_ai_bench
local group = vim.api.nvim_create_augroup('redis_ai_bench_first', { clear = true })
for _, ev in ipairs({ 'TextChangedI', 'CursorMovedI' }) do
  vim.api.nvim_create_autocmd(ev, { group = group, callback = function()
    b.first = vim.loop.hrtime()
  end })
end
local v = vim.version()
return ('%d.%d.%d'):format(v.major, v.minor, v.patch)
"""

PLUGIN_ON = """
require('redis_ai').setup({})
local b = _G.redis_ai_bench
local group = vim.api.nvim_create_augroup('redis_ai_bench_last', { clear = true })
for _, ev in ipairs({ 'TextChangedI', 'CursorMovedI' }) do
  vim.api.nvim_create_autocmd(ev, { group = group, callback = function()
    b.spans[#b.spans + 1] = vim.loop.hrtime() - b.first
  end })
end
return vim.wait(10000, function() return require('redis_ai.rpc').state.chan ~= nil end, 10)
"""

PLUGIN_OFF = """
require('redis_ai').disable()
pcall(vim.api.nvim_del_augroup_by_name, 'redis_ai_bench_last')
"""

HOOK = """
local ui = require('redis_ai.ui')
local b = _G.redis_ai_bench
local on_result = ui.on_result
local function epoch_ms()
  local sec, usec = vim.loop.gettimeofday()
  return sec * 1000 + usec / 1000
end
b.epoch_ms = epoch_ms
ui.on_result = function(push)
  local drawn = ui.stats.drawn
  local t0 = vim.loop.hrtime()
  on_result(push)
  if not b.sent then
    return
  end
  local now = vim.loop.hrtime()
  local sample = { (now - b.sent) / 1e6, push.elapsed_ms, push.received - b.sent_epoch,
                   epoch_ms() - push.received, (now - t0) / 1e3 }
  if push.kind == 'completion' and ui.stats.drawn > drawn then
    b.completion = sample
  elseif push.kind == 'diagnostics' then
    b.diagnostics = sample
  end
end
"""

SAMPLE = """
local kind, analyzer = ...
local ui = require('redis_ai.ui')
local b = _G.redis_ai_bench
b[kind] = nil
ui.clear_ghost()
b.sent_epoch = b.epoch_ms()
b.sent = vim.loop.hrtime()
require('redis_ai.capture').send_now('request', { analyzers = { analyzer } })
vim.wait(2000, function() return b[kind] ~= nil end, 1)
b.sent = nil
return b[kind] or false
"""

FLUSH = """
local capture = require('redis_ai.capture')
local out = {}
for i = 1, ... do
  local t = vim.loop.hrtime()
  capture.send(vim.api.nvim_get_current_buf(), 'edit')
  out[i] = (vim.loop.hrtime() - t) / 1e3
end
return out
"""




def _type_keys(nvim: _Nvim, count: int) -> list[float]:
    """Type ``count`` keys (words, then a new line now and then); microseconds per key."""
    text = "value = compute(x, y) + 1"
    out = []
    for i in range(count):
        key = "<CR>" if i % 40 == 39 else text[i % len(text)]
        out.append(nvim.key(key) / 1000)
    return out


def _measure(binary: str, plugin: str, daemon: DaemonProcess, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(daemon.env)
    nvim = _Nvim(binary, env)
    try:
        work = daemon.runtime / "bench.py"
        work.write_text(SAMPLE_FILE)
        version = nvim.lua(SETUP, plugin, str(work))
        nvim.request("nvim_input", "GA")
        off: list[float] = []
        on: list[float] = []
        blocks = 4
        for _ in range(blocks):
            off += _type_keys(nvim, args.keys // blocks)
            if not nvim.lua(PLUGIN_ON):
                raise RuntimeError("the plugin did not connect to the daemon")
            on += _type_keys(nvim, args.keys // blocks)
            nvim.lua(PLUGIN_OFF)
        spans = [s / 1000 for s in nvim.lua("return _G.redis_ai_bench.spans")]
        # Latency, in insert mode at the end of a line of a small Python file.
        nvim.lua(PLUGIN_ON)
        nvim.request("nvim_input", "<Esc>")
        nvim.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, vim.split(..., '\\n'))", SAMPLE_FILE)
        nvim.request("nvim_input", "GA")
        nvim.lua(HOOK)
        completion: list[float] = []
        diagnostics: list[float] = []
        to_daemon: list[float] = []
        from_daemon: list[float] = []
        render: list[float] = []
        missed = 0
        # One analyzer per event (the event's `analyzers` field), so neither waits for the
        # other's CPU time in the daemon.
        for _ in range(args.samples):
            comp = nvim.lua(SAMPLE, "completion", BenchCompletion.name)
            diag = nvim.lua(SAMPLE, "diagnostics", "code_analysis")
            if not comp or not diag:
                missed += 1
                continue
            completion.append(comp[0] - comp[1])
            diagnostics.append(diag[0] - diag[1])
            to_daemon.append(comp[2])
            from_daemon.append(comp[3] - comp[1])
            render.append(comp[4])
        flush = nvim.lua(FLUSH, 200)
        text_bytes = nvim.lua("return #require('redis_ai.capture').build(0, 'edit').text")
    finally:
        nvim.close()
    p50_off, p50_on = percentile(off, 50), percentile(on, 50)
    return {
        "version": version,
        "keys_per_mode": len(on),
        "per_key_us_off_p50": p50_off,
        "per_key_us_on_p50": p50_on,
        "per_key_added_us_p50": round(p50_on - p50_off, 3),
        "per_key_us_off_p90": percentile(off, 90),
        "per_key_us_on_p90": percentile(on, 90),
        "plugin_autocmd_us_p50": percentile(spans, 50),
        "plugin_autocmd_us_p99": percentile(spans, 99),
        "event_bytes": text_bytes,
        "event_build_send_us_p50": percentile(flush, 50),
        "event_build_send_us_p99": percentile(flush, 99),
        "samples": len(completion),
        "missed_samples": missed,
        "event_to_ghost_extmark_ms_p50": percentile(completion, 50),
        "event_to_ghost_extmark_ms_p99": percentile(completion, 99),
        "of_which_editor_to_daemon_ms_p50": percentile(to_daemon, 50),
        "of_which_daemon_to_ghost_extmark_ms_p50": percentile(from_daemon, 50),
        "ghost_render_us_p50": percentile(render, 50),
        "ghost_render_us_p99": percentile(render, 99),
        "event_to_diagnostics_ms_p50": percentile(diagnostics, 50),
        "event_to_diagnostics_ms_p99": percentile(diagnostics, 99),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start a daemon, measure each Neovim, return the figures keyed by Neovim version."""
    binaries = args.nvim or [b for b in (VENV_NVIM, shutil.which("nvim"), SYSTEM_NVIM) if b and os.path.exists(b)]
    binaries = list(dict.fromkeys(os.path.realpath(b) for b in binaries))
    if not binaries:
        raise SystemExit("no nvim found (pass --nvim PATH)")
    server = PrivateRedis()
    daemon = DaemonProcess(server.url, ["--analyzers", f"code_analysis,{__name__}:BenchCompletion"])
    figures: dict[str, Any] = {}
    try:
        for binary in binaries:
            result = _measure(binary, args.plugin, daemon, args)
            name = f"nvim-{result.pop('version')}"
            figures.update({f"{name}.{k}": v for k, v in result.items()})
    finally:
        daemon.stop()
        server.close()
    return figures

-- The connection to the daemon: its msgpack-RPC socket as a Neovim RPC channel.
--
-- Lifecycle: start() -> connect (discovery file -> sockconnect -> hello) -> connected, checked
-- every probe_ms -> channel gone -> retry with backoff -> connected again. Editor -> daemon
-- traffic is notifications only, so nothing here ever waits on the daemon while the user types.
-- A daemon that keeps its socket open but stops answering (stopped, swapping) is found by a
-- probe on a side connection when events go unanswered; events are then dropped rather than
-- piling up in Neovim's write buffer ("stalled") until it answers again.
-- The daemon pushes by calling on_push() through nvim_exec_lua (docs/protocol.md).
local config = require('redis_ai.config')
local daemon = require('redis_ai.daemon')
local log = require('redis_ai.log')

local M = {}

M.PROTOCOL = 1
M.VERSION = '0.1.0'

M.state = {
  -- "off" (before start), "connecting", "connected", "stalled", "disconnected", "stopped"
  status = 'off',
  chan = nil,
  client = nil,
  discovery = nil,
  -- From the daemon's status pushes: "up" or "down", and its message.
  redis = nil,
  message = nil,
  last_error = nil,
  connects = 0,
  pushes = 0,
  reason = nil,
  -- Events sent since the daemon last showed it is alive, and when the first of them went.
  unanswered = 0,
  quiet_since = 0,
  stalled = false,
}

local state = M.state
local timer = nil
local backoff = nil
local listeners = {}

local function now_ms()
  return vim.loop.hrtime() / 1e6
end

local function redraw_status()
  pcall(vim.cmd, 'redrawstatus')
end

local function set_status(status, reason)
  if state.status ~= status then
    state.status = status
    state.reason = reason
    log.add(status == 'connected' and 'info' or 'warn', status .. (reason and (': ' .. reason) or ''))
    redraw_status()
  end
end

local function new_client_id()
  local f = io.open('/dev/urandom', 'rb')
  local bytes = f and f:read(6)
  if f then
    f:close()
  end
  if not bytes or #bytes < 6 then
    bytes = tostring(vim.loop.hrtime()):sub(-6)
  end
  return 'c-' .. bytes:gsub('.', function(c)
    return ('%02x'):format(c:byte())
  end)
end

local function version_string()
  local v = vim.version()
  return ('%d.%d.%d'):format(v.major, v.minor, v.patch)
end

--- The `hello` map for client id `client` (nil: a fresh id). It holds no token: the socket is
--- trusted for being in the user's 0700 folder (daemon.discovery), and the token is the key
--- to the EPC port, which no socket needs to learn.
function M.hello_params(client)
  return {
    protocol = M.PROTOCOL,
    editor = 'neovim',
    editor_version = version_string(),
    plugin_version = M.VERSION,
    client = client,
  }
end

local function connect()
  local d, why = daemon.discovery()
  if not d then
    if config.options.auto_start and state.status ~= 'stopped' and not daemon.started_within(10000) then
      daemon.start()
    end
    return false, why
  end
  local ok, chan = pcall(vim.fn.sockconnect, 'pipe', d.rpc_socket, { rpc = true })
  if not ok or type(chan) ~= 'number' or chan <= 0 then
    return false, ('cannot connect to %s: %s'):format(d.rpc_socket, tostring(chan))
  end
  state.chan = chan
  state.discovery = d
  state.redis = nil
  local sent = pcall(vim.rpcnotify, chan, 'hello', M.hello_params(state.client))
  if not sent then
    state.chan = nil
    return false, 'the daemon closed the connection during hello'
  end
  state.connects = state.connects + 1
  return true
end

local function chan_open(chan)
  local ok, info = pcall(vim.api.nvim_get_chan_info, chan)
  return ok and info and info.id ~= nil
end

local schedule
local probing = false

local function answered()
  state.unanswered = 0
  if state.stalled then
    state.stalled = false
    set_status('connected')
    for _, fn in ipairs(listeners) do
      pcall(fn)
    end
  end
end

local function probe_if_quiet()
  local opts = config.options
  if probing or state.unanswered == 0 or now_ms() - state.quiet_since < opts.stall_ms then
    return
  end
  probing = true
  local hello = M.hello_params(nil)
  daemon.probe_async(state.discovery.rpc_socket, hello, opts.answer_timeout_ms, function(answer, why)
    probing = false
    if not state.chan then
      return
    end
    if answer then
      answered()
    elseif not state.stalled then
      state.stalled = true
      set_status('stalled', why)
    end
  end)
end

local function check()
  if state.status == 'off' then
    return
  end
  if state.chan and chan_open(state.chan) then
    probe_if_quiet()
    schedule(config.options.probe_ms)
    return
  end
  state.stalled = false
  state.unanswered = 0
  if state.chan then
    state.chan = nil
    set_status('disconnected', 'the daemon closed the connection')
  end
  local ok, why = connect()
  if ok then
    backoff = nil
    set_status('connected')
    for _, fn in ipairs(listeners) do
      pcall(fn)
    end
    schedule(config.options.probe_ms)
    return
  end
  if state.status ~= 'stopped' then
    set_status('disconnected', why)
  end
  state.reason = why
  backoff = backoff and math.min(backoff * 2, config.options.backoff_max_ms)
    or config.options.backoff_min_ms
  schedule(backoff)
end

schedule = function(ms)
  timer:stop()
  timer:start(ms, 0, vim.schedule_wrap(check))
end

--- Begin connecting (and keep reconnecting); idempotent.
function M.start()
  state.client = state.client or new_client_id()
  if not timer then
    timer = vim.loop.new_timer()
  end
  if state.status == 'off' or state.status == 'stopped' then
    state.status = 'connecting'
  end
  backoff = nil
  check()
end

--- Retry now rather than at the end of the current backoff.
function M.retry()
  if timer and state.status ~= 'off' and not state.chan then
    backoff = nil
    check()
  end
end

--- Call `fn` after every (re)connection, e.g. to send the current buffer.
function M.on_connect(fn)
  listeners[#listeners + 1] = fn
end

--- Send a notification; false when there is no connection (the event is dropped, not queued:
--- by the time the daemon is back it would be stale).
function M.notify(method, params)
  local chan = state.chan
  if not chan or (state.stalled and method == 'event') then
    return false
  end
  local ok, res = pcall(vim.rpcnotify, chan, method, params)
  if ok and res ~= 0 then
    if method == 'event' then
      if state.unanswered == 0 then
        state.quiet_since = now_ms()
      end
      state.unanswered = state.unanswered + 1
    end
    return true
  end
  state.chan = nil
  set_status('disconnected', 'sending ' .. method .. ' failed')
  if timer then
    schedule(config.options.backoff_min_ms)
  end
  return false
end

function M.connected()
  return state.chan ~= nil
end

--- Ask the daemon `method` with `params` without waiting: `done(err, result)` runs in the main
--- loop with the reply, or with err {code, message} when none comes within `timeout_ms`. False
--- when not connected. The request goes on a short-lived connection of its own (daemon.ask).
function M.request(method, params, timeout_ms, done)
  local d = state.discovery
  if not state.chan or not d then
    return false
  end
  -- A fresh client id (nil): this connection must not take the editor's results.
  daemon.ask(d.rpc_socket, M.hello_params(nil), method, params, timeout_ms, function(err, _, result)
    done(err, result)
  end)
  return true
end

--- Stop the daemon this editor talks to (SIGTERM to the pid in the discovery file); it is not
--- started again (auto_start) until start().
function M.stop_daemon()
  if state.chan then
    M.notify('bye', vim.empty_dict())
    pcall(vim.fn.chanclose, state.chan)
    state.chan = nil
  end
  set_status('stopped', 'stopped by :RedisAI stop')
  return daemon.stop()
end

--- Stop connecting and close the channel (used when the plugin is disabled). With `settle`,
--- wait (at most 200 ms) until the channel is really closed: Neovim 0.7 aborts when it exits
--- while pushes are still arriving on a channel it is closing.
function M.shutdown(settle)
  if timer then
    -- Closed here rather than left to exit, for the same reason.
    timer:stop()
    timer:close()
    timer = nil
  end
  local chan = state.chan
  if chan then
    M.notify('bye', vim.empty_dict())
    pcall(vim.fn.chanclose, chan)
    state.chan = nil
    if settle then
      vim.wait(200, function()
        return not chan_open(chan)
      end, 1)
    end
  end
  state.status = 'off'
end

local function handle(push)
  local kind = push.type
  if kind == 'result' then
    require('redis_ai.ui').on_result(push)
  elseif kind == 'status' then
    state.redis = push.redis
    state.message = push.message
    redraw_status()
  elseif kind == 'error' then
    state.last_error = push
    log.add('error', ('daemon: %s: %s'):format(tostring(push.code), tostring(push.message)))
  end
end

--- Entry point of every push: the daemon calls it through nvim_exec_lua with a plain map.
--- The map is only ever read as data.
function M.on_push(push)
  state.pushes = state.pushes + 1
  if state.unanswered > 0 or state.stalled then
    answered()
  end
  if type(push) ~= 'table' then
    return
  end
  local ok, err = pcall(handle, push)
  if not ok then
    log.add('error', 'push failed: ' .. tostring(err))
  end
end

return M

-- :checkhealth redis_ai: Neovim version, daemon, socket, the Redis behind it, the connection.
local M = {}

-- vim.health (0.9+) names its reporters start/ok/...; the 0.7 `health` module report_start/...
local function reporter()
  local h = vim.health
  if h and h.start then
    return h
  end
  h = h or require('health')
  return {
    start = h.report_start,
    ok = h.report_ok,
    info = h.report_info,
    warn = h.report_warn,
    error = h.report_error,
  }
end

local function check_neovim(h)
  local v = vim.version()
  local s = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.7.2') == 1 then
    h.ok('Neovim ' .. s)
  else
    h.error('Neovim ' .. s .. ' is too old', { 'redis-ai needs Neovim 0.7.2 or newer' })
  end
  if vim.fn.has('nvim-0.10') == 1 then
    h.ok('ghost text is drawn inline')
  else
    h.info('ghost text is drawn at the end of the line (inline needs Neovim 0.10)')
  end
end

local function check_redis(h, hello, status)
  local caps = type(hello) == 'table' and hello.redis or {}
  local now = type(status) == 'table' and status.redis or {}
  if type(now) == 'table' and now.up == false then
    h.error('Redis is down behind the daemon', {
      'the daemon buffers events until Redis is back; see `redis-ai status`',
    })
    return
  end
  h.ok(('Redis %s (search: %s, vector sets: %s, embedded: %s)'):format(
    tostring(type(now) == 'table' and now.version or caps.version), tostring(caps.search),
    tostring(caps.vectorset), tostring(caps.embedded)))
end

local function check_daemon(h)
  local config = require('redis_ai.config')
  local rpc = require('redis_ai.rpc')
  h.info('runtime folder: ' .. config.runtime_dir())
  local daemon = require('redis_ai.daemon')
  local cmd, cmd_why = daemon.command()
  if cmd then
    h.ok('the daemon command: ' .. vim.fn.exepath(cmd[1]))
  else
    h.warn(cmd_why, { 'run `make run` in the checkout (it makes .venv), install redis-ai, or set daemon_cmd' })
  end
  local d, why = daemon.discovery()
  if not d then
    h.error('the redis-ai daemon is not running: ' .. why, {
      'start it with `redis-ai daemon` in a terminal, or :RedisAI start',
      'or call setup{ auto_start = true } to start it with Neovim',
    })
    return
  end
  h.ok(('daemon running: pid %s, version %s, protocol %s'):format(tostring(d.pid),
    tostring(d.version), tostring(d.protocol)))
  if d.protocol ~= rpc.PROTOCOL then
    h.error(('the daemon speaks protocol %s, this plugin %d'):format(tostring(d.protocol),
      rpc.PROTOCOL), { 'update the plugin and the daemon together' })
  end
  local stat = vim.loop.fs_stat(d.rpc_socket)
  if not stat or stat.type ~= 'socket' then
    h.error('the daemon socket is missing: ' .. d.rpc_socket, { 'restart the daemon' })
    return
  end
  local answer, err = daemon.probe(d.rpc_socket, rpc.hello_params(nil), 2000)
  if not answer then
    h.error(('the daemon at %s does not answer: %s'):format(d.rpc_socket, err),
      { 'it may be stuck; restart it (:RedisAI stop, then :RedisAI start)' })
    return
  end
  local hello = answer.hello or {}
  h.ok(('socket %s answers (analyzers: %s)'):format(d.rpc_socket,
    table.concat(type(hello.analyzers) == 'table' and hello.analyzers or {}, ', ')))
  check_redis(h, hello, answer.status)
end

local function check_connection(h)
  local st = require('redis_ai.rpc').state
  if st.status == 'off' then
    h.info('setup() has not been called: the plugin is not connected')
  elseif st.chan then
    h.ok(('this Neovim is connected as %s (redis %s)'):format(tostring(st.client),
      tostring(st.redis or 'unknown')))
  else
    h.warn(('this Neovim is not connected (%s): %s'):format(st.status, tostring(st.reason)))
  end
end

--- Entry point of :checkhealth redis_ai.
function M.check()
  local h = reporter()
  h.start('redis-ai: Neovim')
  check_neovim(h)
  h.start('redis-ai: daemon')
  check_daemon(h)
  h.start('redis-ai: connection')
  check_connection(h)
end

return M

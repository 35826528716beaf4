-- The daemon process: find it (the discovery file), start it, stop it, and ask it directly on
-- a side connection (for :checkhealth, :RedisAI status and spotting a daemon that stopped
-- answering). The editor's own connection is rpc.lua.
local config = require('redis_ai.config')
local log = require('redis_ai.log')

local M = {}

local json_decode = (vim.json and vim.json.decode) or vim.fn.json_decode
local started_at = nil

local function alive(pid)
  local ok, err = vim.loop.kill(pid, 0)
  if ok then
    return true
  end
  -- EPERM means the process exists but belongs to someone else.
  return type(err) == 'string' and err:match('EPERM') ~= nil
end

--- The daemon's discovery data, or nil and the reason there is no live daemon.
function M.discovery()
  local path = config.discovery_path()
  local f = io.open(path, 'r')
  if not f then
    return nil, ('no daemon running (%s not found)'):format(path)
  end
  local raw = f:read('*a')
  f:close()
  local ok, d = pcall(json_decode, raw)
  if not ok or type(d) ~= 'table' or type(d.rpc_socket) ~= 'string' then
    return nil, ('%s is not a discovery file'):format(path)
  end
  if type(d.pid) == 'number' and not alive(d.pid) then
    return nil, ('the daemon that wrote %s (pid %d) is gone'):format(path, d.pid)
  end
  return d
end

--- Whether start() ran in the last `ms` milliseconds (the daemon may still be starting).
function M.started_within(ms)
  return started_at ~= nil and vim.loop.hrtime() / 1e6 - started_at < ms
end

--- Where a daemon started from Neovim writes its output: beside its discovery file.
function M.log_path()
  return config.runtime_dir() .. '/daemon-output.log'
end

--- Start the daemon in the background (config.daemon_cmd); the reconnect loop finds it. It is
--- detached: it outlives this Neovim and serves other editors too.
function M.start()
  local cmd = config.options.daemon_cmd
  if vim.fn.executable(cmd[1]) ~= 1 then
    log.add('error', ('cannot start the daemon: %s is not executable'):format(cmd[1]))
    return false
  end
  -- The daemon would create it the same way (0700), but the log is opened first.
  vim.fn.mkdir(config.runtime_dir(), 'p', 448)
  -- Through sh so that its output goes to a file: a pipe to this Neovim would break when
  -- Neovim exits and the daemon lives on.
  local argv = { 'sh', '-c', 'exec "$@" >>"$REDIS_AI_DAEMON_LOG" 2>&1', 'sh' }
  vim.list_extend(argv, cmd)
  local env = { REDIS_AI_DAEMON_LOG = M.log_path() }
  if config.options.runtime_dir then
    env.REDIS_AI_RUNTIME_DIR = config.options.runtime_dir
  end
  local ok, job = pcall(vim.fn.jobstart, argv, {
    detach = true,
    env = env,
    on_exit = function(_, code)
      if code ~= 0 then
        log.add('warn', ('%s exited with code %d (see %s)'):format(table.concat(cmd, ' '), code,
          M.log_path()))
      end
    end,
  })
  if not ok or job <= 0 then
    log.add('error', 'cannot start the daemon: ' .. tostring(job))
    return false
  end
  started_at = vim.loop.hrtime() / 1e6
  log.add('info', ('started %s (output in %s)'):format(table.concat(cmd, ' '), M.log_path()))
  return true
end

--- Send SIGTERM to the daemon named by the discovery file; false when there is none.
function M.stop()
  local d = M.discovery()
  if d and type(d.pid) == 'number' then
    vim.loop.kill(d.pid, 'sigterm')
    return true
  end
  return false
end

--- Ask the daemon `hello` (with `hello_params`) and `status` over a separate connection,
--- without waiting: `done(answer)` runs (in the main loop) with {hello=, status=}, or nil and
--- the reason, within `timeout_ms`.
function M.probe_async(socket, hello_params, timeout_ms, done)
  local mpack = vim.mpack
  local pipe = vim.loop.new_pipe(false)
  local clock = vim.loop.new_timer()
  local replies = {}
  local finished = false
  local unpack = mpack.Unpacker()
  local function finish(answer, why)
    if finished then
      return
    end
    finished = true
    clock:stop()
    clock:close()
    if not pipe:is_closing() then
      pipe:close()
    end
    vim.schedule(function()
      done(answer, why)
    end)
  end
  local function on_reply(msg)
    replies[msg[2]] = { err = msg[3], result = msg[4] }
    if not (replies[1] and replies[2]) then
      return
    end
    for id, name in ipairs({ 'hello', 'status' }) do
      local err = replies[id].err
      if err ~= nil and err ~= mpack.NIL then
        return finish(nil, ('%s failed: %s'):format(name, vim.inspect(err)))
      end
    end
    finish({ hello = replies[1].result, status = replies[2].result })
  end
  clock:start(timeout_ms, 0, function()
    finish(nil, ('no answer within %d ms'):format(timeout_ms))
  end)
  local hello = mpack.encode({ 0, 1, 'hello', { hello_params } })
  local status = mpack.encode({ 0, 2, 'status', { vim.empty_dict() } })
  pipe:connect(socket, function(err)
    if err then
      return finish(nil, 'cannot connect: ' .. err)
    end
    pipe:read_start(function(rerr, chunk)
      if rerr or not chunk then
        return finish(nil, 'the daemon closed the connection' .. (rerr and (': ' .. rerr) or ''))
      end
      local pos = 1
      while pos <= #chunk and not finished do
        local msg, nextpos = unpack(chunk, pos)
        pos = nextpos
        if msg == nil then
          break
        end
        if type(msg) == 'table' and msg[1] == 1 then
          on_reply(msg)
        end
      end
    end)
    pipe:write(hello .. status)
  end)
end

--- The same, waiting for the answer (at most `timeout_ms`): for `:checkhealth` and
--- `:RedisAI status`, never while typing.
function M.probe(socket, hello_params, timeout_ms)
  local answer, why, done = nil, nil, false
  M.probe_async(socket, hello_params, timeout_ms, function(a, w)
    answer, why, done = a, w, true
  end)
  vim.wait(timeout_ms + 100, function()
    return done
  end, 5)
  if not done then
    return nil, ('no answer within %d ms'):format(timeout_ms)
  end
  return answer, why
end

return M

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

-- Whether `path` is a folder of this user's that no one else may enter: a discovery file or a
-- socket anywhere else could have been put there by another local user (a /tmp/redis-ai-UID
-- made before ours), who would then read every buffer this editor sends.
local function private_dir(path)
  local st = vim.loop.fs_stat(path)
  if not st or st.type ~= 'directory' then
    return false, ('%s is not a folder'):format(path)
  end
  if st.uid ~= vim.loop.getuid() then
    return false, ('%s belongs to another user'):format(path)
  end
  if st.mode % 64 ~= 0 then
    return false, ('%s is open to other users (mode %o, want 700)'):format(path, st.mode % 512)
  end
  return true
end

local function own_socket(path)
  local folder_ok, why = private_dir(vim.fn.fnamemodify(path, ':h'))
  if not folder_ok then
    return false, why
  end
  local st = vim.loop.fs_lstat(path)
  if st and (st.type ~= 'socket' or st.uid ~= vim.loop.getuid()) then
    return false, ('%s is not a socket of this user'):format(path)
  end
  return true
end

--- The daemon's discovery data, read afresh, or nil and the reason there is no live daemon
--- this editor may connect to (the runtime folder and the socket's folder must be the user's
--- own, mode 0700).
function M.discovery()
  local path = config.discovery_path()
  local f = io.open(path, 'r')
  if not f then
    return nil, ('no daemon running (%s not found)'):format(path)
  end
  local raw = f:read('*a')
  f:close()
  local private, why = private_dir(config.runtime_dir())
  if not private then
    return nil, ('refusing %s: %s'):format(path, why)
  end
  local ok, d = pcall(json_decode, raw)
  if not ok or type(d) ~= 'table' or type(d.rpc_socket) ~= 'string' then
    return nil, ('%s is not a discovery file'):format(path)
  end
  if type(d.pid) == 'number' and not alive(d.pid) then
    return nil, ('the daemon that wrote %s (pid %d) is gone'):format(path, d.pid)
  end
  local socket_ok, socket_why = own_socket(d.rpc_socket)
  if not socket_ok then
    return nil, ('refusing the socket named by %s: %s'):format(path, socket_why)
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

-- The checkout this plugin runs from: this file is <checkout>/nvim/lua/redis_ai/daemon.lua,
-- through any links (a package folder under XDG_DATA_HOME links into the checkout).
local function checkout()
  local file = debug.getinfo(1, 'S').source:gsub('^@', '')
  local real = vim.loop.fs_realpath(file) or file
  return vim.fn.fnamemodify(real, ':h:h:h:h')
end

--- The command that starts the daemon: config.daemon_cmd, except that a `redis-ai` not on PATH
--- is the one in the checkout's .venv (`make run` installs it there); nil and the reason when
--- neither can run.
function M.command()
  local cmd = vim.deepcopy(config.options.daemon_cmd)
  if vim.fn.executable(cmd[1]) == 1 then
    return cmd
  end
  if cmd[1] == 'redis-ai' then
    local venv = checkout() .. '/.venv/bin/redis-ai'
    if vim.fn.executable(venv) == 1 then
      cmd[1] = venv
      return cmd
    end
    return nil, ('redis-ai is not on PATH, nor is %s there'):format(venv)
  end
  return nil, ('%s is not executable'):format(cmd[1])
end

--- Start the daemon in the background (M.command()); the reconnect loop finds it. It is
--- detached: it outlives this Neovim and serves other editors too.
function M.start()
  local cmd, why = M.command()
  if not cmd then
    log.add('error', 'cannot start the daemon: ' .. why)
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

--- Ask the daemon `method` with `params` on a short-lived connection of its own (hello, the
--- request, close), without waiting: `done(err, hello, result)` runs in the main loop with the
--- two replies, or with err {code, message[, method]} (the daemon's error for `method`, or
--- `timeout` / `disconnected`) within `timeout_ms`. The editor's own channel is never used for
--- this: vim.rpcrequest on it would freeze the editor until the answer.
function M.ask(socket, hello_params, method, params, timeout_ms, done)
  local mpack = vim.mpack
  local pipe = vim.loop.new_pipe(false)
  local clock = vim.loop.new_timer()
  local replies = {}
  local finished = false
  local unpack = mpack.Unpacker()
  local function finish(err, hello, result)
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
      done(err, hello, result)
    end)
  end
  local function on_reply(msg)
    replies[msg[2]] = { err = msg[3], result = msg[4] }
    if not (replies[1] and replies[2]) then
      return
    end
    for id, name in ipairs({ 'hello', method }) do
      local err = replies[id].err
      if err ~= nil and err ~= mpack.NIL then
        local e = type(err) == 'table' and err or { message = tostring(err) }
        return finish({ code = e.code or 'error', message = e.message or vim.inspect(err), method = name })
      end
    end
    finish(nil, replies[1].result, replies[2].result)
  end
  clock:start(timeout_ms, 0, function()
    finish({ code = 'timeout', message = ('no answer within %d ms'):format(timeout_ms) })
  end)
  local frames = mpack.encode({ 0, 1, 'hello', { hello_params } }) .. mpack.encode({ 0, 2, method, { params } })
  pipe:connect(socket, function(err)
    if err then
      return finish({ code = 'disconnected', message = 'cannot connect: ' .. err })
    end
    pipe:read_start(function(rerr, chunk)
      if rerr or not chunk then
        local why = 'the daemon closed the connection' .. (rerr and (': ' .. rerr) or '')
        return finish({ code = 'disconnected', message = why })
      end
      local pos = 1
      while pos <= #chunk and not finished do
        local msg, nextpos = unpack(chunk, pos)
        pos = nextpos
        if msg == nil then
          break
        end
        -- Replies only: the status push that follows hello is not for us.
        if type(msg) == 'table' and msg[1] == 1 then
          on_reply(msg)
        end
      end
    end)
    pipe:write(frames)
  end)
end

--- Ask the daemon `hello` (with `hello_params`) and `status` over a separate connection,
--- without waiting: `done(answer)` runs (in the main loop) with {hello=, status=}, or nil and
--- the reason, within `timeout_ms`.
function M.probe_async(socket, hello_params, timeout_ms, done)
  M.ask(socket, hello_params, 'status', vim.empty_dict(), timeout_ms, function(err, hello, status)
    if err then
      return done(nil, err.method and ('%s failed: %s'):format(err.method, err.message) or err.message)
    end
    done({ hello = hello, status = status })
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

-- redis-ai for Neovim: keystrokes out to the redis-ai daemon, analysis back into the buffer.
--
-- Modules: config (options), rpc (the connection), daemon (find, start, stop, probe the
-- daemon), capture (events out), ui (results in), fix (the fixes results offer, applied),
-- health (:checkhealth redis_ai), text (byte <-> character columns), log (:RedisAI log).
local M = {}

local did_setup = false

local ACTIONS = {
  accept = { 'accept all of the completion', function(ui)
    return ui.accept('all')
  end },
  accept_word = { 'accept the next word of the completion', function(ui)
    return ui.accept('word')
  end },
  accept_line = { 'accept the next line of the completion', function(ui)
    return ui.accept('line')
  end },
  next = { 'show the next completion', function(ui)
    return ui.cycle(1)
  end },
  prev = { 'show the previous completion', function(ui)
    return ui.cycle(-1)
  end },
  dismiss = { 'dismiss the completion', function(ui)
    return ui.dismiss()
  end },
}

local function set_keymaps(keymaps)
  local ui = require('redis_ai.ui')
  for name, spec in pairs(ACTIONS) do
    local lhs = keymaps[name]
    if lhs then
      vim.keymap.set('i', lhs, function()
        -- Without a completion at the cursor the key does what it did before.
        if not spec[2](ui) then
          local keys = vim.api.nvim_replace_termcodes(lhs, true, false, true)
          vim.api.nvim_feedkeys(keys, 'n', false)
        end
      end, { desc = 'redis-ai: ' .. spec[1], silent = true })
    end
  end
  if keymaps.analyze then
    vim.keymap.set({ 'n', 'i' }, keymaps.analyze, function()
      M.analyze()
    end, { desc = 'redis-ai: analyze now', silent = true })
  end
  for name, fn in pairs({ next_edit = 'jump', accept_edit = 'accept' }) do
    local lhs = keymaps[name]
    if lhs then
      vim.keymap.set({ 'n', 'i' }, lhs, function()
        -- Without a suggestion the key does what it did before.
        if not require('redis_ai.next_edit')[fn]() then
          vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(lhs, true, false, true), 'n', false)
        end
      end, { desc = 'redis-ai: ' .. (fn == 'jump' and 'jump to the next edit' or 'apply the next edit'), silent = true })
    end
  end
  if keymaps.fix then
    vim.keymap.set('n', keymaps.fix, function()
      require('redis_ai.fix').here()
    end, { desc = 'redis-ai: apply the fix under the cursor', silent = true })
  end
end

-- Colours of their own, not a link to Comment: Neovim 0.11 gives Comment only a GUI colour, so
-- in a 256-colour terminal ('notermguicolors') linked ghost text was invisible. `default`
-- leaves a colour scheme's own definition alone.
local function define_highlights()
  vim.api.nvim_set_hl(0, 'RedisAIGhost', { fg = '#808080', ctermfg = 244, default = true })
  vim.api.nvim_set_hl(0, 'RedisAIMarker', { link = 'RedisAIGhost', default = true })
end

--- Configure and start the plugin: connect to the daemon, capture edits, map the keys.
--- `opts` overrides the defaults in require('redis_ai.config').defaults (see :h redis_ai).
function M.setup(opts)
  local config = require('redis_ai.config')
  if did_setup then
    M.disable()
  end
  config.set(opts)
  define_highlights()
  local capture = require('redis_ai.capture')
  capture.attach()
  local group = vim.api.nvim_create_augroup('redis_ai_buffers', { clear = true })
  -- A colour scheme clears every group first: ours come back unless it defined them.
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = define_highlights })
  vim.api.nvim_create_autocmd('BufWipeout', {
    group = group,
    callback = function(a)
      require('redis_ai.ui').forget(a.buf)
    end,
  })
  vim.api.nvim_create_autocmd('VimLeavePre', {
    group = group,
    callback = function()
      M.disable(true)
    end,
  })
  set_keymaps(config.options.keymaps)
  did_setup = true
  require('redis_ai.rpc').start()
end

--- Stop capturing and close the connection (setup() starts again); `exiting` waits for the
--- connection to be closed.
function M.disable(exiting)
  require('redis_ai.capture').detach()
  require('redis_ai.rpc').shutdown(exiting == true)
  require('redis_ai.ui').clear_ghost()
  pcall(vim.api.nvim_del_augroup_by_name, 'redis_ai_buffers')
  local keymaps = require('redis_ai.config').options.keymaps
  for name in pairs(ACTIONS) do
    if keymaps[name] then
      pcall(vim.keymap.del, 'i', keymaps[name])
    end
  end
  if keymaps.fix then
    pcall(vim.keymap.del, 'n', keymaps.fix)
  end
  for _, name in ipairs({ 'next_edit', 'accept_edit' }) do
    if keymaps[name] then
      pcall(vim.keymap.del, { 'n', 'i' }, keymaps[name])
    end
  end
  did_setup = false
end

--- Send the current buffer for analysis now (intent "request"), saying so or why not.
function M.analyze()
  if not did_setup then
    vim.notify('redis-ai: call require("redis_ai").setup() first', vim.log.levels.WARN)
    return false
  end
  local capture = require('redis_ai.capture')
  local buf = vim.api.nvim_get_current_buf()
  if not capture.wanted(buf) then
    vim.notify(('redis-ai: this buffer is not sent (filetype %q, buftype %q; see filetypes)')
      :format(vim.bo[buf].filetype, vim.bo[buf].buftype), vim.log.levels.WARN)
    return false
  end
  local sent = capture.send_now('request')
  if sent then
    local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(buf), ':t')
    vim.notify(('redis-ai: sent %s for analysis; results appear as they arrive')
      :format(name ~= '' and name or ('buffer ' .. buf)), vim.log.levels.INFO)
  else
    vim.notify('redis-ai: not connected to the daemon (:RedisAI status)', vim.log.levels.WARN)
  end
  return sent
end

--- The connection state for a statusline: "" before setup, else "redis-ai" followed by
--- ":ok", ":redis down", ":not answering", ":off" (no daemon) or ":stopped".
function M.statusline()
  if not did_setup then
    return ''
  end
  local st = require('redis_ai.rpc').state
  if st.chan then
    if st.stalled then
      return 'redis-ai:not answering'
    end
    return st.redis == 'down' and 'redis-ai:redis down' or 'redis-ai:ok'
  end
  if st.status == 'stopped' then
    return 'redis-ai:stopped'
  end
  return 'redis-ai:off'
end

-- msgpack nil arrives as vim.NIL; a field the daemon left out reads as "?".
local function shown(x)
  if x == nil or x == vim.NIL then
    return '?'
  end
  return tostring(x)
end

local function field(map, key)
  return type(map) == 'table' and map[key] or nil
end

--- Readable lines for the daemon's answer to `status` (the map of `redis-ai status --json`).
function M.describe_status(s)
  local d = field(s, 'daemon')
  local out = {}
  if d then
    out[#out + 1] = ('daemon: up %s s, %s client(s), events written %s, buffered %s, dropped %s, '
      .. 'stale results %s'):format(shown(d.uptime_s), shown(d.clients), shown(d.written),
      shown(d.buffered), shown(d.dropped), shown(d.stale_results))
  end
  local redis = field(s, 'redis')
  if field(redis, 'up') ~= true then
    out[#out + 1] = 'redis: down (the daemon keeps events until it is back)'
    return out
  end
  out[#out + 1] = ('redis: %s, up, at %s%s'):format(shown(redis.version), shown(field(d, 'redis_url')),
    field(d, 'embedded') == true and ' (embedded)' or '')
  out[#out + 1] = ('stream: %s entries, %s dead letters'):format(
    shown(field(field(s, 'stream'), 'length')), shown(field(field(s, 'dead_letters'), 'length')))
  local groups = {}
  for _, g in ipairs(field(s, 'groups') or {}) do
    groups[#groups + 1] = ('%s (pending %s, lag %s)'):format(shown(g.name), shown(g.pending),
      shown(g.lag))
  end
  out[#out + 1] = 'analyzers: ' .. (#groups > 0 and table.concat(groups, ', ') or 'none yet')
  return out
end

--- Lines describing the plugin's state and, if it answers, the daemon's.
function M.status_lines()
  local rpc = require('redis_ai.rpc')
  local st = rpc.state
  local out = {
    ('connection: %s%s'):format(st.chan and 'connected' or st.status, st.reason and not st.chan
      and (' (' .. st.reason .. ')') or ''),
    ('client: %s, connects: %d, pushes: %d, events sent: %d'):format(tostring(st.client),
      st.connects, st.pushes, require('redis_ai.capture').sent),
  }
  local daemon = require('redis_ai.daemon')
  local d = daemon.discovery()
  if d then
    out[#out + 1] = ('daemon: pid %s, version %s, socket %s'):format(tostring(d.pid),
      tostring(d.version), tostring(d.rpc_socket))
    local answer, why = daemon.probe(d.rpc_socket, rpc.hello_params(nil), 1000)
    if answer then
      vim.list_extend(out, M.describe_status(answer.status))
    else
      out[#out + 1] = 'daemon does not answer: ' .. why
    end
  end
  if st.redis then
    out[#out + 1] = ('redis (last status push): %s %s'):format(st.redis, tostring(st.message or ''))
  end
  if st.last_error then
    out[#out + 1] = ('last error: %s: %s'):format(tostring(st.last_error.code),
      tostring(st.last_error.message))
  end
  local ui = require('redis_ai.ui')
  out[#out + 1] = ('results: %d, dropped as stale: %d, completions drawn: %d'):format(
    ui.stats.results, ui.stats.dropped_stale, ui.stats.drawn)
  return out
end

local function show_log()
  local lines = {
    '# redis-ai plugin log; a daemon started from Neovim writes to '
      .. require('redis_ai.daemon').log_path(),
  }
  vim.list_extend(lines, require('redis_ai.log').lines())
  vim.cmd('botright new')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  pcall(vim.api.nvim_buf_set_name, buf, 'redis-ai://log')
end

M.subcommands = {
  status = function()
    print(table.concat(M.status_lines(), '\n'))
  end,
  start = function()
    local rpc = require('redis_ai.rpc')
    if not did_setup then
      M.setup()
    end
    local daemon = require('redis_ai.daemon')
    if not daemon.discovery() then
      daemon.start()
    end
    rpc.start()
  end,
  stop = function()
    if not require('redis_ai.rpc').stop_daemon() then
      vim.notify('redis-ai: no daemon running', vim.log.levels.INFO)
    end
  end,
  analyze = function()
    M.analyze()
  end,
  log = show_log,
  hints = function()
    require('redis_ai.ui').show_hints()
  end,
  tests = function()
    local ui = require('redis_ai.ui')
    if not did_setup or not require('redis_ai.rpc').connected() then
      ui.show_tests()
      return
    end
    ui.want_tests(vim.api.nvim_get_current_buf())
    if require('redis_ai.capture').send_now('request', { analyzers = { 'test_generation' } }) then
      vim.notify('redis-ai: generating tests for the function at the cursor', vim.log.levels.INFO)
    end
  end,
  fix = function(rest)
    local fix = require('redis_ai.fix')
    if rest == 'all' then
      fix.all()
    elseif rest == '' then
      fix.here()
    else
      vim.notify(('redis-ai: :RedisAI fix takes nothing or `all`, not %q'):format(rest),
        vim.log.levels.ERROR)
    end
  end,
  search = function(query, range)
    local search = require('redis_ai.search')
    if query == '' and range then
      query = search.range_query(range[1], range[2])
    end
    search.run(query)
  end,
  lisp = function(rest, range)
    require('redis_ai.lisp').command(rest, range)
  end,
}

--- :RedisAI {subcommand} [{argument}]; the argument is the rest of the line (a search query).
function M.command(args, range)
  local name, rest = table.concat(args, ' '):match('^%s*(%S*)%s*(.-)%s*$')
  if name == '' then
    name = 'status'
  end
  local fn = M.subcommands[name]
  if not fn then
    vim.notify(('redis-ai: unknown subcommand %q (one of: %s)'):format(name,
      table.concat(M.complete(''), ', ')), vim.log.levels.ERROR)
    return
  end
  fn(rest, range)
end

--- Completion for :RedisAI.
function M.complete(prefix)
  -- The lead is only the word being typed: the command line tells whether it follows `lisp`.
  local line = vim.fn.getcmdline()
  local rest = line:match('^%s*%S+%s+lisp%s+(.*)$')
  if rest then
    return require('redis_ai.lisp').complete(rest)
  end
  if line:match('^%s*%S+%s+fix%s+') then
    return vim.tbl_filter(function(word)
      return word:sub(1, #prefix) == prefix
    end, { 'all' })
  end
  local names = {}
  for name in pairs(M.subcommands) do
    if name:sub(1, #prefix) == prefix then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

return M

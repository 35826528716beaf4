-- Events out: autocommands record that a buffer changed (cheap, on every key); a debounce timer
-- later builds one event for it (the text window, the cursor, the tick) and sends it. Several
-- changes within the debounce coalesce into one event, and a stronger intent wins over a weaker
-- one (a save over an edit over a cursor move).
local config = require('redis_ai.config')
local rpc = require('redis_ai.rpc')
local text = require('redis_ai.text')

local M = {}

local GROUP = 'redis_ai_capture'
local RANK = { cursor = 1, open = 2, edit = 3, request = 4, save = 4, execute_code = 4 }

local api = vim.api
local timer = nil
-- bufnr -> { intent, since (ms), keys? }
local pending = {}
local key_ns = nil
local listening = false

M.sent = 0

local function now_ms()
  return vim.loop.hrtime() / 1e6
end

--- Whether events are captured for `buf` (a normal buffer of a wanted filetype).
function M.wanted(buf)
  if not api.nvim_buf_is_valid(buf) or vim.bo[buf].buftype ~= '' then
    return false
  end
  local ft = vim.bo[buf].filetype
  local opts = config.options
  if opts.filetypes and not vim.tbl_contains(opts.filetypes, ft) then
    return false
  end
  return not vim.tbl_contains(opts.exclude_filetypes or {}, ft)
end

local function line_bytes(buf, first, last)
  return api.nvim_buf_get_offset(buf, last) - api.nvim_buf_get_offset(buf, first - 1)
end

--- The text to send for `buf` with the cursor on line `row` (1-based):
--- text, first_line, whole. The whole buffer when it is small, else a window of
--- context_lines each side of the cursor, shrunk from its far end to fit max_text.
function M.window(buf, row)
  local opts = config.options
  local n = api.nvim_buf_line_count(buf)
  local size = api.nvim_buf_get_offset(buf, n)
  local first, last, whole = 1, n, true
  if size > opts.whole_max_bytes or size > opts.max_text then
    whole = false
    first = math.max(1, row - opts.context_lines)
    last = math.min(n, row + opts.context_lines)
    while first < last and line_bytes(buf, first, last) > opts.max_text do
      if row - first > last - row then
        first = first + 1
      else
        last = last - 1
      end
    end
  end
  local lines = api.nvim_buf_get_lines(buf, first - 1, last, false)
  local s = table.concat(lines, '\n') .. '\n'
  if #s > opts.max_text then
    s = text.truncate(s, opts.max_text)
  end
  return s, first, whole
end

--- The first and last line of the top-level block around `row`: from the closest unindented
--- line at or above it to the line before the next unindented one (blank lines trimmed).
function M.region(buf, row)
  local n = api.nvim_buf_line_count(buf)
  local lo = math.max(1, row - 2000)
  local hi = math.min(n, row + 2000)
  local lines = api.nvim_buf_get_lines(buf, lo - 1, hi, false)
  local function at(r)
    return lines[r - lo + 1]
  end
  local function top(l)
    return l:match('^%S') ~= nil
  end
  local start = row
  while start > lo and not top(at(start)) do
    start = start - 1
  end
  local stop = row
  while stop < hi and not top(at(stop + 1)) do
    stop = stop + 1
  end
  while stop > start and not at(stop):match('%S') do
    stop = stop - 1
  end
  return { start, stop }
end

local function cursor_of(buf)
  if api.nvim_get_current_buf() == buf then
    local pos = api.nvim_win_get_cursor(0)
    return pos[1], pos[2]
  end
  local win = vim.fn.bufwinid(buf)
  if win ~= -1 then
    local pos = api.nvim_win_get_cursor(win)
    return pos[1], pos[2]
  end
  return 1, 0
end

local function timestamp()
  local sec, usec = vim.loop.gettimeofday()
  return sec * 1000 + math.floor(usec / 1000)
end

--- Build the event for `buf` now (docs/protocol.md, "The event").
function M.build(buf, intent, extra)
  local row, bcol = cursor_of(buf)
  local line = api.nvim_buf_get_lines(buf, row - 1, row, false)[1] or ''
  local s, first, whole = M.window(buf, row)
  local ev = {
    v = 1,
    editor = 'neovim',
    buffer = tostring(buf),
    file = api.nvim_buf_get_name(buf),
    mode = vim.bo[buf].filetype,
    line = row,
    col = text.char_col(line, bcol),
    tick = api.nvim_buf_get_changedtick(buf),
    text = s,
    first_line = first,
    whole = whole,
    intent = intent or 'edit',
    ts = timestamp(),
  }
  for k, v in pairs(extra or {}) do
    ev[k] = v
  end
  return ev
end

--- Build and send the event for `buf` now; false when not connected.
function M.send(buf, intent, extra)
  if not api.nvim_buf_is_valid(buf) then
    return false
  end
  local ok = rpc.notify('event', M.build(buf, intent, extra))
  if ok then
    M.sent = M.sent + 1
  else
    rpc.retry()
  end
  return ok
end

local function flush()
  local todo = pending
  pending = {}
  for buf, p in pairs(todo) do
    if M.wanted(buf) then
      M.send(buf, p.intent, p.extra)
    end
  end
end

--- Record that something happened in `buf`; the event goes out after the debounce.
function M.note(buf, intent, extra)
  local p = pending[buf]
  local t = now_ms()
  if p then
    if RANK[intent] >= RANK[p.intent] then
      p.intent = intent
      p.extra = extra or p.extra
    end
    -- Typing without pause still sends now and then.
    if t - p.since >= config.options.max_wait_ms then
      timer:stop()
      flush()
      return
    end
  else
    pending[buf] = { intent = intent, extra = extra, since = t }
  end
  timer:stop()
  timer:start(config.options.debounce_ms, 0, vim.schedule_wrap(flush))
end

--- Send the current buffer now with intent `intent` (explicit requests, key sequences, saves),
--- replacing whatever was pending for it.
function M.send_now(intent, extra)
  local buf = api.nvim_get_current_buf()
  if not M.wanted(buf) then
    return false
  end
  pending[buf] = nil
  return M.send(buf, intent, extra)
end

--- Send the block around the cursor with intent `intent` and the key sequence that asked for it.
function M.intent_key(intent, keys)
  local buf = api.nvim_get_current_buf()
  if not M.wanted(buf) then
    return false
  end
  local row = api.nvim_win_get_cursor(0)[1]
  return M.send_now(intent, { keys = keys, region = M.region(buf, row) })
end

local function watch_keys(intent_keys)
  local seqs = {}
  local longest = 0
  for lhs, intent in pairs(intent_keys) do
    local raw = api.nvim_replace_termcodes(lhs, true, false, true)
    seqs[#seqs + 1] = { raw = raw, lhs = lhs, intent = intent }
    longest = math.max(longest, #raw)
  end
  if #seqs == 0 then
    return
  end
  local recent = ''
  key_ns = key_ns or api.nvim_create_namespace('redis_ai_keys')
  vim.on_key(function(key)
    recent = (recent .. key):sub(-longest)
    for _, s in ipairs(seqs) do
      if recent:sub(-#s.raw) == s.raw then
        recent = ''
        vim.schedule(function()
          M.intent_key(s.intent, s.lhs)
        end)
        return
      end
    end
  end, key_ns)
end

local function map_keys(intent_keys)
  for lhs, intent in pairs(intent_keys) do
    vim.keymap.set({ 'n', 'i' }, lhs, function()
      M.intent_key(intent, lhs)
    end, { desc = 'redis-ai: send ' .. intent })
  end
end

--- Install the autocommands (and the intent key watchers); idempotent.
function M.attach()
  timer = timer or vim.loop.new_timer()
  local group = api.nvim_create_augroup(GROUP, { clear = true })
  local ui = require('redis_ai.ui')
  local function on(events, fn)
    api.nvim_create_autocmd(events, { group = group, callback = fn })
  end
  on({ 'TextChangedI', 'TextChangedP' }, function(a)
    ui.on_change(a.buf)
    M.note(a.buf, 'edit')
  end)
  on('TextChanged', function(a)
    M.note(a.buf, 'edit')
  end)
  on('CursorMovedI', function(a)
    ui.on_cursor(a.buf)
    if config.options.send_cursor then
      M.note(a.buf, 'cursor')
    end
  end)
  if config.options.send_cursor then
    on('CursorMoved', function(a)
      M.note(a.buf, 'cursor')
    end)
  end
  on('InsertLeave', function(a)
    ui.clear_ghost(a.buf)
  end)
  on('BufWritePost', function(a)
    if M.wanted(a.buf) then
      pending[a.buf] = nil
      M.send(a.buf, 'save')
    end
  end)
  on('BufEnter', function(a)
    M.note(a.buf, 'open')
  end)
  if config.options.map_intent_keys then
    map_keys(config.options.intent_keys)
  else
    watch_keys(config.options.intent_keys)
  end
  if not listening then
    listening = true
    -- After a (re)connection the daemon knows nothing of this buffer yet.
    rpc.on_connect(function()
      local buf = api.nvim_get_current_buf()
      if timer and M.wanted(buf) then
        M.note(buf, 'open')
      end
    end)
  end
end

--- Remove the autocommands and key watchers.
function M.detach()
  pcall(api.nvim_del_augroup_by_name, GROUP)
  if key_ns then
    vim.on_key(nil, key_ns)
  end
  if timer then
    timer:stop()
    timer:close()
    timer = nil
  end
  pending = {}
end

return M

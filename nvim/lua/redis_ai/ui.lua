-- Results in: diagnostics through vim.diagnostic (with the fixes they offer kept for
-- require('redis_ai.fix')), completions as ghost text (extmarks, each reported once as "shown"),
-- hints and generated tests kept for the quickfix list and a floating window, generated tests
-- marked after their `def` line. Results are data: their strings are only ever shown or
-- inserted, never evaluated.
local config = require('redis_ai.config')
local text = require('redis_ai.text')

local M = {}

local api = vim.api
local ns = api.nvim_create_namespace('redis_ai')
local ghost_ns = api.nvim_create_namespace('redis_ai_ghost')
local marker_ns = api.nvim_create_namespace('redis_ai_marker')
local has_inline = vim.fn.has('nvim-0.10') == 1

M.ns = ns
M.ghost_ns = ghost_ns
M.marker_ns = marker_ns
M.stats = { results = 0, dropped_stale = 0, dropped_moved = 0, drawn = 0, shown = 0 }

-- bufnr -> { diagnostics = {analyzer -> list}, fixes = {analyzer -> {id, tick, list}}, and for
--            hints, tests and completions {analyzer -> {id, tick, items}} }
local store = {}
-- The completion shown now: { buf, row, bcol, col, tick, list = {{id, analyzer, text}}, index,
--                            text, mark }
local ghost = nil
-- Buffers whose user asked for tests (:RedisAI tests): shown when they arrive.
local tests_wanted = {}
-- The suggestions ("<result id>/<analyzer>") already reported as shown, so that redrawing one
-- (cycling back, typing into it, a partial accept) is not counted again. Forgotten in a lump
-- past SHOWN_KEEP: a result never comes back after that many newer ones.
local reported = {}
local reported_count = 0
local SHOWN_KEEP = 512

local SEVERITY = {
  error = vim.diagnostic.severity.ERROR,
  warning = vim.diagnostic.severity.WARN,
  info = vim.diagnostic.severity.INFO,
  hint = vim.diagnostic.severity.HINT,
}

-- msgpack nil arrives as vim.NIL.
local function val(x)
  if x == vim.NIL then
    return nil
  end
  return x
end

local function num(x, default)
  x = val(x)
  if type(x) == 'number' then
    return math.floor(x)
  end
  return default
end

local function str(x)
  x = val(x)
  if x == nil then
    return nil
  end
  return tostring(x)
end

local function buf_store(buf)
  local s = store[buf]
  if not s then
    s = { diagnostics = {}, fixes = {}, hints = {}, tests = {}, completions = {} }
    store[buf] = s
  end
  return s
end

local function items_of(push)
  local items = val(push.items)
  if type(items) ~= 'table' then
    return {}
  end
  return items
end

-- Diagnostics ---------------------------------------------------------------------------------

-- An item's `fix` as { title, edits = {{line, col, end_line, end_col, text}} } (protocol units:
-- 1-based lines, character columns), or nil when it has none or one that is not well formed.
local function fix_of(item)
  local fix = val(item.fix)
  if type(fix) ~= 'table' or type(val(fix.edits)) ~= 'table' or #fix.edits == 0 then
    return nil
  end
  local edits = {}
  for _, e in ipairs(fix.edits) do
    local line, col = type(e) == 'table' and num(e.line), type(e) == 'table' and num(e.col)
    if not line or not col or line < 1 or col < 0 then
      return nil
    end
    local end_line, end_col = num(e.end_line, line), num(e.end_col, col)
    if end_line < line or (end_line == line and end_col < col) then
      return nil
    end
    edits[#edits + 1] = { line = line, col = col, end_line = end_line, end_col = end_col,
                          text = str(e.text) or '' }
  end
  return { title = str(fix.title) or str(item.message) or 'fix', edits = edits }
end

local function to_diagnostic(buf, nlines, item, analyzer, fix)
  local line = math.min(math.max(num(item.line, 1), 1), nlines)
  local end_line = math.min(math.max(num(item.end_line, line), line), nlines)
  local rows = api.nvim_buf_get_lines(buf, line - 1, end_line, false)
  local first, last = rows[1] or '', rows[#rows] or ''
  local col = num(item.col, 0)
  local message = str(item.message) or ''
  local suffix = config.options.fix_suffix
  if fix and suffix then
    message = message .. suffix:format(fix.title)
  end
  return {
    lnum = line - 1,
    col = text.byte_col(first, col),
    end_lnum = end_line - 1,
    end_col = text.byte_col(last, num(item.end_col, col)),
    severity = SEVERITY[str(item.severity)] or vim.diagnostic.severity.ERROR,
    message = message,
    source = str(item.source) or analyzer,
    code = str(item.code),
    user_data = fix and { redis_ai_fix = fix.title } or nil,
  }
end

local function set_diagnostics(buf, analyzer, push)
  local s = buf_store(buf)
  local nlines = api.nvim_buf_line_count(buf)
  local list, fixes = {}, {}
  for _, item in ipairs(items_of(push)) do
    if type(item) == 'table' then
      local fix = fix_of(item)
      list[#list + 1] = to_diagnostic(buf, nlines, item, analyzer, fix)
      if fix then
        -- Where the diagnostic is (for "the fix under the cursor"), in the result's units.
        fix.line, fix.col = num(item.line, 1), num(item.col, 0)
        fix.end_line, fix.end_col = num(item.end_line, fix.line), num(item.end_col, fix.col)
        fix.code = str(item.code)
        fixes[#fixes + 1] = fix
      end
    end
  end
  s.diagnostics[analyzer] = list
  s.fixes[analyzer] = { id = str(push.id), tick = num(push.tick), list = fixes }
  local all = {}
  for _, l in pairs(s.diagnostics) do
    vim.list_extend(all, l)
  end
  vim.diagnostic.set(ns, buf, all)
end

-- Ghost text ----------------------------------------------------------------------------------

local function display(s)
  local tab = string.rep(' ', vim.bo.tabstop)
  return (s:gsub('\t', tab))
end

local function cursor_char()
  local pos = api.nvim_win_get_cursor(0)
  local line = api.nvim_get_current_line()
  return pos[1], pos[2], text.char_col(line, pos[2]), line
end

local function in_insert()
  return api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

--- Remove the ghost text (from `buf`, or wherever it is).
function M.clear_ghost(buf)
  if ghost and (buf == nil or ghost.buf == buf) then
    pcall(api.nvim_buf_clear_namespace, ghost.buf, ghost_ns, 0, -1)
    ghost = nil
  end
end

local function feedback(action)
  local cur = ghost.list[ghost.index]
  if action ~= 'shown' then
    -- One outcome per suggestion, so `redis-ai stats` can divide by the suggestions shown:
    -- taking one in pieces counts as partly accepted, once; what remains reports nothing more.
    if cur.decided then
      return
    end
    cur.decided = true
  end
  require('redis_ai.rpc').notify('feedback', {
    suggestion = cur.id or '',
    analyzer = cur.analyzer,
    action = action,
  })
end

-- `stats` measures acceptance against what was seen: tell the daemon once per suggestion.
local function report_shown()
  local cur = ghost.list[ghost.index]
  local key = (cur.id or '') .. '/' .. cur.analyzer
  if reported[key] then
    return
  end
  if reported_count >= SHOWN_KEEP then
    reported, reported_count = {}, 0
  end
  reported[key], reported_count = true, reported_count + 1
  M.stats.shown = M.stats.shown + 1
  feedback('shown')
end

local function draw()
  local g = ghost
  local hl = config.options.ghost_hl
  local lines = text.lines(g.text)
  local opts = { hl_mode = 'combine' }
  if lines[1] ~= '' then
    opts.virt_text = { { display(lines[1]), hl } }
    if has_inline then
      opts.virt_text_pos = 'inline'
    else
      -- Without inline virtual text, overlay the empty cells after the end of the line, or
      -- show the text after the line when the cursor is inside it.
      local line = api.nvim_buf_get_lines(g.buf, g.row - 1, g.row, false)[1] or ''
      opts.virt_text_pos = g.bcol >= #line and 'overlay' or 'eol'
    end
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do
      opts.virt_lines[#opts.virt_lines + 1] = { { display(lines[i]), hl } }
    end
  end
  api.nvim_buf_clear_namespace(g.buf, ghost_ns, 0, -1)
  g.mark = api.nvim_buf_set_extmark(g.buf, ghost_ns, g.row - 1, g.bcol, opts)
  M.stats.drawn = M.stats.drawn + 1
  report_shown()
end

local function show_completions(buf)
  local row, bcol, col = cursor_char()
  local tick = api.nvim_buf_get_changedtick(buf)
  local list = {}
  local names = vim.tbl_keys(buf_store(buf).completions)
  table.sort(names)
  for _, analyzer in ipairs(names) do
    local entry = store[buf].completions[analyzer]
    if entry.tick == tick then
      for _, item in ipairs(entry.items) do
        local t = type(item) == 'table' and str(item.text)
        if t and t ~= '' and num(item.line) == row and num(item.col) == col then
          list[#list + 1] = { id = entry.id, analyzer = analyzer, text = t }
        end
      end
    end
  end
  if #list == 0 then
    M.clear_ghost(buf)
    return false
  end
  ghost = { buf = buf, row = row, bcol = bcol, col = col, tick = tick, list = list, index = 1,
            text = list[1].text }
  draw()
  return true
end

local function set_completion(buf, push, analyzer)
  local items = items_of(push)
  buf_store(buf).completions[analyzer] = { id = str(push.id), tick = num(push.tick), items = items }
  if buf ~= api.nvim_get_current_buf() or not in_insert() then
    return
  end
  if #items > 0 then
    local row, _, col = cursor_char()
    if num(push.line) ~= row or num(push.col) ~= col then
      M.stats.dropped_moved = M.stats.dropped_moved + 1
      return
    end
  end
  if not show_completions(buf) and #items > 0 then
    M.stats.dropped_moved = M.stats.dropped_moved + 1
  end
end

--- What the ghost text shows now: { text, line, col, analyzer, index, count } or nil.
function M.ghost()
  if not ghost then
    return nil
  end
  local cur = ghost.list[ghost.index]
  return { text = ghost.text, line = ghost.row, col = ghost.col, analyzer = cur.analyzer,
           id = cur.id, index = ghost.index, count = #ghost.list }
end

local function ghost_here()
  if not ghost or ghost.buf ~= api.nvim_get_current_buf() then
    return false
  end
  local pos = api.nvim_win_get_cursor(0)
  return pos[1] == ghost.row and pos[2] == ghost.bcol
end

local function next_word(s)
  return s:match('^%s*[%w_\128-\255]+') or s:match('^%s*[^%s%w_\128-\255]+') or s
end

local function next_line(s)
  return s:match('^\n[^\n]*') or s:match('^[^\n]+') or s
end

--- Insert the ghost text, or its next word or line ("all", "word", "line"); false when no
--- ghost text is at the cursor.
function M.accept(what)
  if not ghost_here() then
    return false
  end
  local g = ghost
  local part = g.text
  if what == 'word' then
    part = next_word(g.text)
  elseif what == 'line' then
    part = next_line(g.text)
  end
  local lines = text.lines(part)
  api.nvim_buf_set_text(g.buf, g.row - 1, g.bcol, g.row - 1, g.bcol, lines)
  local row, bcol = g.row, g.bcol + #part
  if #lines > 1 then
    row, bcol = g.row + #lines - 1, #lines[#lines]
  end
  api.nvim_win_set_cursor(0, { row, bcol })
  local rest = g.text:sub(#part + 1)
  feedback(rest == '' and 'accepted' or 'accepted_partial')
  if rest == '' then
    M.clear_ghost()
    return true
  end
  local line = api.nvim_buf_get_lines(g.buf, row - 1, row, false)[1] or ''
  local cur = g.list[g.index]
  g.row, g.bcol, g.col = row, bcol, text.char_col(line, bcol)
  g.text = rest
  g.list, g.index = { { id = cur.id, analyzer = cur.analyzer, text = rest, decided = true } }, 1
  g.tick = api.nvim_buf_get_changedtick(g.buf)
  draw()
  return true
end

--- Show the next (step 1) or previous (step -1) completion at the cursor.
function M.cycle(step)
  if not ghost_here() or #ghost.list < 2 then
    return false
  end
  ghost.index = (ghost.index - 1 + step) % #ghost.list + 1
  ghost.text = ghost.list[ghost.index].text
  draw()
  return true
end

--- Hide the ghost text and tell the daemon it was dismissed.
function M.dismiss()
  if not ghost then
    return false
  end
  feedback('dismissed')
  M.clear_ghost()
  return true
end

-- After a change: if the user typed the start of the ghost text, keep showing the rest of it
-- after the cursor; any other change hides it.
local function follow(buf)
  local tick = api.nvim_buf_get_changedtick(buf)
  if tick == ghost.tick and ghost_here() then
    return
  end
  local pos = api.nvim_win_get_cursor(0)
  if pos[1] == ghost.row and pos[2] > ghost.bcol and api.nvim_get_current_buf() == buf then
    local line = api.nvim_get_current_line()
    local typed = line:sub(ghost.bcol + 1, pos[2])
    if #typed < #ghost.text and ghost.text:sub(1, #typed) == typed then
      local cur = ghost.list[ghost.index]
      ghost.text = ghost.text:sub(#typed + 1)
      ghost.list = { { id = cur.id, analyzer = cur.analyzer, text = ghost.text, decided = cur.decided } }
      ghost.index = 1
      ghost.bcol, ghost.col, ghost.tick = pos[2], text.char_col(line, pos[2]), tick
      draw()
      return
    end
  end
  M.clear_ghost(buf)
end

--- Called on every text change in insert mode.
function M.on_change(buf)
  if ghost and ghost.buf == buf then
    follow(buf)
  end
end

--- Called on every cursor move in insert mode: ghost text lives only at its own position.
function M.on_cursor(buf)
  if ghost and ghost.buf == buf and not ghost_here() then
    follow(buf)
  end
end

-- Test markers ----------------------------------------------------------------------------------

-- A marker after the `def` line of each function with generated tests (the item's `line`; the
-- event's line only from a daemon that does not send one). Extmarks follow edits.
local function draw_markers(buf, push)
  api.nvim_buf_clear_namespace(buf, marker_ns, 0, -1)
  local nlines = api.nvim_buf_line_count(buf)
  for _, entry in pairs(buf_store(buf).tests) do
    for _, item in ipairs(entry.items) do
      if type(item) == 'table' then
        local line = math.min(math.max(num(item.line, num(push.line, 1)), 1), nlines)
        api.nvim_buf_set_extmark(buf, marker_ns, line - 1, 0, {
          virt_text = { { ('  [redis-ai test: %s]'):format(str(item.title) or 'tests'),
                          config.options.marker_hl } },
          virt_text_pos = 'eol',
        })
      end
    end
  end
end

-- Results ---------------------------------------------------------------------------------------

--- Handle one `result` push (docs/protocol.md): drop it if the buffer has changed since, else
--- replace what the same analyzer said before.
function M.on_result(push)
  M.stats.results = M.stats.results + 1
  local buf = tonumber(str(push.buffer) or '')
  if not buf or not api.nvim_buf_is_valid(buf) then
    return
  end
  local tick = num(push.tick)
  if tick and tick < api.nvim_buf_get_changedtick(buf) then
    M.stats.dropped_stale = M.stats.dropped_stale + 1
    return
  end
  local analyzer = str(push.analyzer) or '?'
  local kind = str(push.kind)
  if kind == 'diagnostics' then
    set_diagnostics(buf, analyzer, push)
  elseif kind == 'completion' then
    set_completion(buf, push, analyzer)
  elseif kind == 'next_edit' then
    require('redis_ai.next_edit').take(buf, push, tick or api.nvim_buf_get_changedtick(buf))
  elseif kind == 'hints' or kind == 'tests' then
    buf_store(buf)[kind][analyzer] = { id = str(push.id), tick = tick, items = items_of(push) }
    if kind == 'tests' then
      draw_markers(buf, push)
    end
    if kind == 'tests' and tests_wanted[buf] then
      tests_wanted[buf] = nil
      if buf == api.nvim_get_current_buf() then
        vim.schedule(M.show_tests)
      end
    end
  end
end

--- Everything kept for `buf`, by kind and analyzer (for :RedisAI hints/tests and the tests).
function M.results(buf)
  if buf == 0 then
    buf = api.nvim_get_current_buf()
  end
  return buf_store(buf)
end

--- Put the hints for the current buffer in the quickfix list and open it.
function M.show_hints()
  local buf = api.nvim_get_current_buf()
  local qf = {}
  for analyzer, entry in pairs(buf_store(buf).hints) do
    for _, item in ipairs(entry.items) do
      if type(item) == 'table' then
        local line = num(item.line, 1)
        local row = api.nvim_buf_get_lines(buf, line - 1, line, false)[1] or ''
        local code = str(item.code)
        qf[#qf + 1] = {
          bufnr = buf,
          lnum = line,
          col = text.byte_col(row, num(item.col, 0)) + 1,
          text = ('%s%s (%s)'):format(str(item.message) or '', code and (' [' .. code .. ']') or '',
            analyzer),
          type = 'I',
        }
      end
    end
  end
  table.sort(qf, function(a, b)
    return a.lnum < b.lnum
  end)
  vim.fn.setqflist({}, ' ', { title = 'redis-ai hints', items = qf })
  if #qf == 0 then
    vim.notify('redis-ai: no hints for this buffer', vim.log.levels.INFO)
    return
  end
  vim.cmd('copen')
end

--- Open a floating window with `lines` (closed with q), returning its buffer.
function M.float(lines, filetype)
  local fbuf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(fbuf, 0, -1, false, lines)
  vim.bo[fbuf].filetype = filetype or ''
  vim.bo[fbuf].modifiable = false
  vim.bo[fbuf].bufhidden = 'wipe'
  local width = 20
  for _, l in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.min(width + 2, vim.o.columns - 4)
  local height = math.max(1, math.min(#lines, vim.o.lines - 6))
  local win = api.nvim_open_win(fbuf, true, {
    relative = 'editor',
    width = width,
    height = height,
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    style = 'minimal',
    border = 'rounded',
  })
  vim.wo[win].wrap = false
  vim.keymap.set('n', 'q', '<cmd>close<cr>', { buffer = fbuf, nowait = true })
  return fbuf
end

--- Show the generated tests for the current buffer in a floating window.
function M.show_tests()
  local buf = api.nvim_get_current_buf()
  local lines = {}
  for _, entry in pairs(buf_store(buf).tests) do
    for _, item in ipairs(entry.items) do
      if type(item) == 'table' then
        lines[#lines + 1] = ('# %s -> %s'):format(str(item.title) or 'tests', str(item.path) or '')
        vim.list_extend(lines, text.lines(str(item.text) or ''))
      end
    end
  end
  if #lines == 0 then
    vim.notify('redis-ai: no tests generated for this buffer (is the cursor in a function?)',
      vim.log.levels.INFO)
    return nil
  end
  return M.float(lines, vim.bo[buf].filetype)
end

--- Show the tests generated for `buf` as soon as they arrive.
function M.want_tests(buf)
  tests_wanted[buf] = true
end

--- Forget a buffer (BufWipeout).
function M.forget(buf)
  store[buf] = nil
  M.clear_ghost(buf)
  pcall(api.nvim_buf_clear_namespace, buf, marker_ns, 0, -1)
  pcall(vim.diagnostic.reset, ns, buf)
end

return M

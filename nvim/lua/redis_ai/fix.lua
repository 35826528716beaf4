-- Fixes in: the rewrites that results offer, applied when the user asks (:RedisAI fix, :RedisAI
-- fix all). A fix is ruff's safe fix of a diagnostic (code_analysis, checked by ruff on the fixed
-- text before the daemon offers it) or the rewrite of a hint. Each was computed for the buffer at
-- its result's tick, so it is applied only while the buffer is still at that tick: any change
-- since, even elsewhere, can make it wrong (the import it removes may have gained a use). Fixes
-- are plain text replacements; nothing in them is evaluated.
local text = require('redis_ai.text')
local ui = require('redis_ai.ui')

local M = {}

local api = vim.api

local function by_place(a, b)
  if a.line ~= b.line then
    return a.line < b.line
  end
  return a.col < b.col
end

--- Every fix offered for `buf`, by place: { title, edits, line, col, end_line, end_col, code?,
--- tick, id, analyzer }; with `hints`, the hints' rewrites too (as one-edit fixes).
function M.offered(buf, hints)
  local s = ui.results(buf)
  local out = {}
  for analyzer, entry in pairs(s.fixes) do
    for _, f in ipairs(entry.list) do
      out[#out + 1] = vim.tbl_extend('force', f, { tick = entry.tick, id = entry.id,
                                                   analyzer = analyzer })
    end
  end
  for analyzer, entry in pairs(hints and s.hints or {}) do
    for _, item in ipairs(entry.items) do
      local rewrite = type(item) == 'table' and item.rewrite
      if type(rewrite) == 'string' and type(item.line) == 'number' then
        local line, col = item.line, tonumber(item.col) or 0
        local end_line = tonumber(item.end_line) or line
        local end_col = tonumber(item.end_col) or col
        out[#out + 1] = {
          title = type(item.message) == 'string' and item.message or 'rewrite',
          edits = { { line = line, col = col, end_line = end_line, end_col = end_col,
                      text = rewrite } },
          line = line, col = col, end_line = end_line, end_col = end_col,
          code = type(item.code) == 'string' and item.code or nil,
          tick = entry.tick, id = entry.id, analyzer = analyzer,
        }
      end
    end
  end
  table.sort(out, by_place)
  return out
end

--- The fixes offered for `buf` that can be applied now (their result is about the buffer as
--- it is).
function M.current(buf, hints)
  local tick = api.nvim_buf_get_changedtick(buf)
  return vim.tbl_filter(function(f)
    return f.tick == tick
  end, M.offered(buf, hints))
end

-- Positions as comparable numbers (exact in a double up to 2^21 lines).
local function key(line, col)
  return line * 4294967296 + col
end

-- Whether two fixes' edits touch the same text; two insertions at one place count, as in the
-- daemon's own check (their order would matter).
local function overlap(a, b)
  for _, x in ipairs(a.edits) do
    for _, y in ipairs(b.edits) do
      local xs, xe = key(x.line, x.col), key(x.end_line, x.end_col)
      local ys, ye = key(y.line, y.col), key(y.end_line, y.end_col)
      if xs < math.max(ye, ys + 1) and ys < math.max(xe, xs + 1) then
        return true
      end
    end
  end
  return false
end

-- One edit, in protocol units, on the buffer as it is. ruff's text ends with a newline that
-- Neovim keeps implicit: a position after it (line count + 1, column 0) is the end of the last
-- line, and whole lines removed up to there take the newline before them along.
local function set_edit(buf, e)
  local n = api.nvim_buf_line_count(buf)
  local function row(line)
    return api.nvim_buf_get_lines(buf, line - 1, line, false)[1]
  end
  if e.line > n then
    if e.text ~= '' then
      api.nvim_buf_set_lines(buf, n, n, false, text.lines((e.text:gsub('\n$', ''))))
    end
    return
  end
  local r0, c0 = e.line - 1, text.byte_col(row(e.line), e.col)
  if e.end_line <= n then
    local r1 = e.end_line - 1
    api.nvim_buf_set_text(buf, r0, c0, r1, text.byte_col(row(e.end_line), e.end_col),
      text.lines(e.text))
    return
  end
  if e.text == '' and c0 == 0 and r0 > 0 then
    r0, c0 = r0 - 1, #row(e.line - 1)
  end
  api.nvim_buf_set_text(buf, r0, c0, n - 1, #row(n), text.lines((e.text:gsub('\n$', ''))))
end

-- Why `fixes` cannot be applied to `buf` now, or nil.
local function refusal(buf, fixes)
  local tick = api.nvim_buf_get_changedtick(buf)
  local n = api.nvim_buf_line_count(buf)
  for _, f in ipairs(fixes) do
    if f.tick ~= tick then
      return ('not applied: the buffer changed since this fix was checked (tick %s, now %d); '
        .. 'it is offered again once the daemon has checked the buffer as it is '
        .. '(:RedisAI analyze)'):format(tostring(f.tick), tick)
    end
    for _, e in ipairs(f.edits) do
      if e.end_line > n + 1 then
        return ('not applied: the fix reaches line %d of a %d-line buffer'):format(e.end_line, n)
      end
    end
  end
  if not vim.bo[buf].modifiable then
    return "not applied: the buffer is not 'modifiable'"
  end
  return nil
end

--- Apply `fixes` to `buf` (the current buffer) as one undo step, or none of them; returns
--- true, or false and why.
function M.apply(buf, fixes)
  local why = refusal(buf, fixes)
  if why then
    return false, why
  end
  local edits = {}
  for _, f in ipairs(fixes) do
    vim.list_extend(edits, f.edits)
  end
  -- Bottom up, so that each edit leaves the places of those above it where they were.
  table.sort(edits, function(a, b)
    return key(a.line, a.col) > key(b.line, b.col)
  end)
  -- Close the undo step before ours, so that one `u` takes back exactly the fixes.
  vim.cmd('let &undolevels = &undolevels')
  local ok, err = pcall(function()
    for _, e in ipairs(edits) do
      set_edit(buf, e)
    end
  end)
  if not ok then
    return false, 'failed: ' .. tostring(err)
  end
  local told = {}
  for _, f in ipairs(fixes) do
    local suggestion = (f.id or '') .. '/' .. f.analyzer
    if not told[suggestion] then
      told[suggestion] = true
      require('redis_ai.rpc').notify('feedback', { suggestion = f.id or '', analyzer = f.analyzer,
                                                   action = 'accepted' })
    end
  end
  return true
end

local function apply_one(buf, f)
  local ok, why = M.apply(buf, { f })
  if ok then
    vim.notify('redis-ai: fixed: ' .. f.title, vim.log.levels.INFO)
  else
    vim.notify('redis-ai: ' .. why, vim.log.levels.WARN)
  end
  return ok
end

local function describe(f)
  return ('%s (%s, line %d)'):format(f.title, f.code or f.analyzer, f.line)
end

--- :RedisAI fix: the fix of the diagnostic (or hint) under the cursor, else the one on the
--- cursor line, else a choice among those on it (vim.ui.select). Returns whether one was
--- applied (nil while the choice is open).
function M.here()
  local buf = api.nvim_get_current_buf()
  local pos = api.nvim_win_get_cursor(0)
  local row = pos[1]
  local col = text.char_col(api.nvim_get_current_line(), pos[2])
  local under, on_line, size = nil, {}, math.huge
  for _, f in ipairs(M.offered(buf, true)) do
    if row >= f.line and row <= f.end_line then
      on_line[#on_line + 1] = f
      local inside = (row ~= f.line or col >= f.col) and (row ~= f.end_line or col <= f.end_col)
      local span = key(f.end_line - f.line, f.end_col - f.col)
      if inside and span < size then
        under, size = f, span
      end
    end
  end
  if under or #on_line == 1 then
    return apply_one(buf, under or on_line[1])
  end
  if #on_line == 0 then
    vim.notify('redis-ai: no fix offered on this line', vim.log.levels.INFO)
    return false
  end
  vim.ui.select(on_line, { prompt = 'redis-ai fix:', format_item = describe }, function(choice)
    if choice and api.nvim_buf_is_valid(buf) and api.nvim_get_current_buf() == buf then
      apply_one(buf, choice)
    end
  end)
  return nil
end

--- :RedisAI fix all: every diagnostic's fix offered for the buffer as it is, as one undo step
--- (hints' rewrites are left to :RedisAI fix, one at a time). A fix equal to one before it (ruff
--- gives `import os, sys` one fix per name) is applied once; one that overlaps another waits
--- for the next check. Returns the number applied.
function M.all()
  local buf = api.nvim_get_current_buf()
  local offered = M.offered(buf, false)
  if #offered == 0 then
    vim.notify('redis-ai: no fix offered for this buffer', vim.log.levels.INFO)
    return 0
  end
  local chosen, left = {}, 0
  for _, f in ipairs(offered) do
    local same, clash = false, false
    for _, c in ipairs(chosen) do
      same = same or vim.deep_equal(f.edits, c.edits)
      clash = clash or overlap(f, c)
    end
    if not clash then
      chosen[#chosen + 1] = f
    elseif not same then
      left = left + 1
    end
  end
  local ok, why = M.apply(buf, chosen)
  if not ok then
    vim.notify('redis-ai: ' .. why, vim.log.levels.WARN)
    return 0
  end
  vim.notify(('redis-ai: applied %d fix%s%s'):format(#chosen, #chosen == 1 and '' or 'es',
    left > 0 and (', %d more overlap them: :RedisAI fix all again once the buffer is checked')
      :format(left) or ''), vim.log.levels.INFO)
  return #chosen
end

return M

-- Next-edit suggestions (the next_edit analyzer, docs/protocol.md): the edits that follow from
-- the last one (the same rename at the other uses, an argument at the calls of a def that got a
-- parameter, the same change on similar lines). The next one from the cursor on is drawn where
-- it would go: the text it replaces highlighted, the replacement after it as virtual text.
-- `jump` moves there, `accept` applies it (one undo step) and draws the one after. Each
-- suggestion's place is an extmark, so the accepted ones move the rest with the text; any
-- other change to the buffer makes them refused until the daemon answers the new text.
local M = {}

local api = vim.api
local text = require('redis_ai.text')

local ns = api.nvim_create_namespace('redis_ai_next_edit')
local held = {} -- buf -> { tick, id, items = { {mark, old, text, title} } }
local decided = {} -- result id -> true once its acceptance was reported

local function line_of(buf, row)
  return api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
end

local function feedback(id, action)
  pcall(function()
    require('redis_ai.rpc').notify('feedback', { suggestion = id or '', analyzer = 'next_edit', action = action })
  end)
end

--- Where item `it` is now: row, start byte, end row, end byte (0-based).
local function place(buf, it)
  local m = api.nvim_buf_get_extmark_by_id(buf, ns, it.mark, { details = true })
  return m[1], m[2], m[3].end_row, m[3].end_col
end

--- The item that comes next from the cursor (wrapping), or nil.
function M.current(buf)
  local h = held[buf]
  if not h or #h.items == 0 then
    return nil
  end
  local cur = api.nvim_win_get_cursor(0)
  for _, it in ipairs(h.items) do
    local r, c = place(buf, it)
    if r > cur[1] - 1 or (r == cur[1] - 1 and c >= cur[2]) then
      return it
    end
  end
  return h.items[1]
end

local function draw(buf)
  local h = held[buf]
  if not h then
    return
  end
  for _, it in ipairs(h.items) do
    local r, c, er, ec = place(buf, it)
    api.nvim_buf_set_extmark(buf, ns, r, c, { id = it.mark, end_row = er, end_col = ec })
  end
  local it = M.current(buf)
  if not it then
    return
  end
  local r, c, er, ec = place(buf, it)
  api.nvim_buf_set_extmark(buf, ns, r, c, {
    id = it.mark, end_row = er, end_col = ec, hl_group = 'Visual',
    virt_text = { { (it.old == '' and '' or '→') .. it.text, 'RedisAIGhost' } },
    virt_text_pos = 'eol',
  })
end

--- Take a `next_edit` result for `buf` (its tick already checked by ui.on_result).
function M.take(buf, push, tick)
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  local h = { tick = tick, id = push.id, items = {} }
  for _, item in ipairs(type(push.items) == 'table' and push.items or {}) do
    local r0, r1 = (tonumber(item.line) or 1) - 1, (tonumber(item.end_line) or 1) - 1
    if r0 >= 0 and r1 >= r0 and r1 < api.nvim_buf_line_count(buf) and type(item.text) == 'string' then
      local l0, l1 = line_of(buf, r0), line_of(buf, r1)
      local c0, c1 = text.byte_col(l0, tonumber(item.col) or 0), text.byte_col(l1, tonumber(item.end_col) or 0)
      local old = table.concat(api.nvim_buf_get_text(buf, r0, c0, r1, c1, {}), '\n')
      local mark = api.nvim_buf_set_extmark(buf, ns, r0, c0, { end_row = r1, end_col = c1 })
      table.insert(h.items, { mark = mark, old = old, text = item.text, title = item.title or '' })
    end
  end
  held[buf] = h
  if #h.items > 0 then
    feedback(h.id, 'shown')
  end
  draw(buf)
end

--- Move the cursor to the start of the next suggested edit; false when there is none.
function M.jump()
  local buf = api.nvim_get_current_buf()
  local it = M.current(buf)
  if not it then
    return false
  end
  local r, c = place(buf, it)
  api.nvim_win_set_cursor(0, { r + 1, c })
  draw(buf)
  vim.api.nvim_echo({ { 'redis-ai: ' .. it.title } }, false, {})
  return true
end

--- Apply the next suggested edit; false (with a message) when there is none or it is stale.
function M.accept()
  local buf = api.nvim_get_current_buf()
  local h, it = held[buf], M.current(buf)
  if not it then
    return false
  end
  if h.tick ~= api.nvim_buf_get_changedtick(buf) then
    vim.notify('redis-ai: the buffer changed since this suggestion was made', vim.log.levels.WARN)
    return true
  end
  local r, c, er, ec = place(buf, it)
  if table.concat(api.nvim_buf_get_text(buf, r, c, er, ec, {}), '\n') ~= it.old then
    vim.notify('redis-ai: the text of this suggestion changed', vim.log.levels.WARN)
    return true
  end
  api.nvim_buf_set_text(buf, r, c, er, ec, vim.split(it.text, '\n', { plain = true }))
  api.nvim_buf_del_extmark(buf, ns, it.mark)
  for i, other in ipairs(h.items) do
    if other == it then
      table.remove(h.items, i)
      break
    end
  end
  h.tick = api.nvim_buf_get_changedtick(buf)
  if h.id and not decided[h.id] then
    decided[h.id] = true
    feedback(h.id, 'accepted')
  end
  draw(buf)
  return true
end

--- The suggestions held for `buf` (for the tests): { {line, col, text} } with 1-based lines.
function M.items(buf)
  local out = {}
  local h = held[buf == 0 and api.nvim_get_current_buf() or buf]
  for _, it in ipairs(h and h.items or {}) do
    local r, c = place(buf == 0 and api.nvim_get_current_buf() or buf, it)
    table.insert(out, { r + 1, c, it.text })
  end
  return out
end

--- Forget `buf`'s suggestions.
function M.forget(buf)
  held[buf] = nil
  if api.nvim_buf_is_valid(buf) then
    api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  end
end

return M

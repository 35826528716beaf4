-- Semantic code search: `:RedisAI search {query}` asks the daemon (method `search`, see
-- docs/protocol.md) for the indexed code nearest in meaning to a few plain words and puts the
-- places in the quickfix list. The request never blocks the editor: the list fills when the
-- answer comes. Every string of the answer is data: shown as text, never run.
local rpc = require('redis_ai.rpc')

local M = {}

-- How many places to ask for (the daemon allows at most 50), and how long to wait for them:
-- the daemon's first search may have to load its embedding model.
M.k = 10
M.timeout_ms = 30000

local serial = 0

local function squeeze(text)
  return (text:gsub('%s+', ' '):gsub('^ ', ''):gsub(' $', ''))
end

-- The byte just past the character starting at `col` (1-based) of `line`.
local function char_end(line, col)
  local e = col + 1
  while e <= #line do
    local b = line:byte(e)
    if b < 0x80 or b >= 0xC0 then
      break
    end
    e = e + 1
  end
  return e
end

--- The text of the visual selection while visual mode is on (a mapping in 'x' mode), or nil.
function M.selection()
  local mode = vim.fn.mode()
  if mode ~= 'v' and mode ~= 'V' and mode ~= '\22' then
    return nil
  end
  local s, e = vim.fn.getpos('v'), vim.fn.getpos('.')
  if s[2] > e[2] or (s[2] == e[2] and s[3] > e[3]) then
    s, e = e, s
  end
  local lines = vim.api.nvim_buf_get_lines(0, s[2] - 1, e[2], false)
  if mode == 'v' and #lines > 0 then
    lines[#lines] = lines[#lines]:sub(1, char_end(lines[#lines], e[3]) - 1)
    lines[1] = lines[1]:sub(s[3])
  end
  return table.concat(lines, '\n')
end

--- The query for `:'<,'>RedisAI search`: the selection when the range is the last visual
--- one (the '< and '> marks, columns included), else the whole lines line1..line2.
function M.range_query(line1, line2)
  local s, e = vim.fn.getpos("'<"), vim.fn.getpos("'>")
  local lines = vim.api.nvim_buf_get_lines(0, line1 - 1, line2, false)
  if s[2] == line1 and e[2] == line2 and vim.fn.visualmode() == 'v' and #lines > 0 then
    lines[#lines] = lines[#lines]:sub(1, char_end(lines[#lines], e[3]) - 1)
    lines[1] = lines[1]:sub(s[3])
  end
  return squeeze(table.concat(lines, '\n'))
end

--- The query when none is given: the visual selection, else the word under the cursor.
function M.default_query()
  local text = M.selection()
  if text then
    -- Leave visual mode once the mapping is done, as a command on a selection does.
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'n', false)
  else
    text = vim.fn.expand('<cword>')
  end
  return squeeze(text)
end

local function str(value)
  return type(value) == 'string' and value or ''
end

local function first_line(text)
  for line in (str(text) .. '\n'):gmatch('([^\n]*)\n') do
    if line:match('%S') then
      return squeeze(line)
    end
  end
  return ''
end

--- Quickfix items for the daemon's reply to `search`, best first; hits without a file or a
--- positive line are left out.
function M.items(reply)
  local items = {}
  local hits = type(reply) == 'table' and reply.hits
  if type(hits) ~= 'table' then
    return items
  end
  for _, hit in ipairs(hits) do
    local line = type(hit) == 'table' and hit.line
    if type(line) == 'number' and line >= 1 and str(hit.file) ~= '' then
      local parts = {}
      if str(hit.name) ~= '' then
        parts[#parts + 1] = hit.name
      end
      if type(hit.score) == 'number' then
        parts[#parts + 1] = ('%.2f'):format(hit.score)
      end
      parts[#parts + 1] = first_line(hit.preview)
      local end_line = type(hit.end_line) == 'number' and hit.end_line >= line and hit.end_line
        or line
      items[#items + 1] = {
        filename = hit.file,
        lnum = line,
        end_lnum = end_line,
        col = 1,
        text = table.concat(parts, '  '),
      }
    end
  end
  return items
end

local function answered(query, err, reply)
  if err then
    local message = type(err) == 'table' and str(err.message) or tostring(err)
    vim.notify('redis-ai: search failed: ' .. message, vim.log.levels.ERROR)
    return
  end
  local items = M.items(reply)
  local chunks = type(reply) == 'table' and reply.chunks
  if #items == 0 then
    if chunks == 0 then
      vim.notify('redis-ai: nothing is indexed yet: run `redis-ai index PATH...`',
        vim.log.levels.WARN)
    else
      vim.notify(('redis-ai: nothing found for %q'):format(query), vim.log.levels.INFO)
    end
    return
  end
  vim.fn.setqflist({}, ' ', { title = 'redis-ai search: ' .. query, items = items })
  vim.cmd('copen')
end

--- Search for `query` (nil or '': the visual selection or the word under the cursor), only
--- under the folder `root` when given. False when there is nothing to search for or no
--- connection to the daemon.
function M.run(query, root)
  if query == nil or query == '' then
    query = M.default_query()
  end
  if query == '' then
    vim.notify('redis-ai: nothing to search for: :RedisAI search {words}', vim.log.levels.WARN)
    return false
  end
  serial = serial + 1
  local mine = serial
  local params = { query = query, k = M.k, root = root }
  local sent = rpc.request('search', params, M.timeout_ms, function(err, reply)
    -- Only the latest search's answer fills the list.
    if mine == serial then
      answered(query, err, reply)
    end
  end)
  if not sent then
    vim.notify('redis-ai: not connected to the daemon (:RedisAI status)', vim.log.levels.WARN)
  end
  return sent
end

return M

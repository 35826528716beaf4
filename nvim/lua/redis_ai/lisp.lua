-- The stored Lisp programs (docs/lisp.md) from the editor: `:RedisAI lisp define [{name}]` sends
-- the current buffer to the daemon as a program, which its `lisp`/`lisp_hints` analyzers run on
-- the next keystroke; `list`, `show {name}`, `remove {name}` and `run {name}` manage and try
-- them (methods lisp_* of docs/protocol.md). `:'<,'>RedisAI lisp example flag|ok` collects
-- examples and `evolve {name} {request}` has the daemon write a program from them. Requests
-- never block the editor. Every string of an answer is data: shown as text, never run.
--
-- A program's settings may sit in the comment lines before its first form:
--   ;; kind: hints
--   ;; languages: python, lua
--   ;; description: a hint on comments that mark work left to do
-- A setting without a line keeps the stored program's value (a new program: diagnostics, every
-- language, no description).
local rpc = require('redis_ai.rpc')
local text_cols = require('redis_ai.text')

local M = {}

M.timeout_ms = 10000
M.kinds = { 'diagnostics', 'hints' }
M.subcommands = { 'define', 'evolve', 'example', 'examples', 'list', 'remove', 'run', 'show' }
--- How long :RedisAI lisp evolve waits for the outcome (a model may take minutes).
M.evolve_timeout_ms = 600000
--- The examples the next :RedisAI lisp evolve sends, oldest first (this session only).
M.examples = {}

local LIST_NAME = 'redis-ai://lisp'

-- Names seen in the latest answers, for completion.
local known = {}

local function str(value)
  return type(value) == 'string' and value or ''
end

local function notify(message, level)
  vim.notify('redis-ai: ' .. message, level or vim.log.levels.INFO)
end

local function error_text(err)
  if type(err) == 'table' then
    return str(err.message) ~= '' and err.message or vim.inspect(err)
  end
  return tostring(err)
end

local function request(method, params, done)
  -- (rpc.request calls back on the main loop: the callback may touch buffers.)
  local sent = rpc.request(method, params, M.timeout_ms, done)
  if not sent then
    notify('not connected to the daemon (:RedisAI status)', vim.log.levels.WARN)
  end
  return sent
end

--- The settings in the header of a program given as lines: { kind = 'hints', languages =
--- {'python'}, description = '...' }, only the keys that have a line.
function M.header(lines)
  local settings = {}
  for _, line in ipairs(lines) do
    local key, value = line:match('^;+%s*(%a+):%s*(.-)%s*$')
    if key == 'kind' or key == 'languages' or key == 'description' then
      if settings[key] == nil then
        if key == 'languages' then
          local list = {}
          for lang in value:gmatch('[^,%s]+') do
            list[#list + 1] = lang
          end
          settings[key] = list
        else
          settings[key] = value
        end
      end
    elseif not line:match('^%s*$') and not line:match('^%s*;') then
      break
    end
  end
  return settings
end

--- The name of buffer `buf`'s program: the one it was opened or defined as, else its file
--- name without extension; nil when it has neither.
function M.default_name(buf)
  buf = buf or vim.api.nvim_get_current_buf()
  local ok, name = pcall(vim.api.nvim_buf_get_var, buf, 'redis_ai_lisp_name')
  if ok and str(name) ~= '' then
    return name
  end
  local file = vim.api.nvim_buf_get_name(buf)
  if file == '' then
    return nil
  end
  return vim.fn.fnamemodify(file, ':t:r')
end

--- (line, col) from the daemon's refusal of a program that does not read (line 1-based, col
--- 0-based in characters), or nil.
function M.error_position(message)
  local line, col = str(message):match('^%S+ not defined: line (%d+), col (%d+): ')
  if line then
    return tonumber(line), tonumber(col)
  end
  return nil
end

--- Put the cursor of every window showing `buf` at the reader's `line` and `col`.
function M.goto_position(buf, line, col)
  if not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  line = math.max(1, math.min(line, vim.api.nvim_buf_line_count(buf)))
  local text = vim.api.nvim_buf_get_lines(buf, line - 1, line, false)[1] or ''
  local byte = text_cols.byte_col(text, col)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    vim.api.nvim_win_set_cursor(win, { line, byte })
  end
end

--- :RedisAI lisp define [{name}]: the current buffer as program `name` (default its name).
function M.define(name)
  local buf = vim.api.nvim_get_current_buf()
  name = (name ~= nil and name ~= '') and name or M.default_name(buf)
  if not name then
    notify('name the program: :RedisAI lisp define {name}', vim.log.levels.WARN)
    return false
  end
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local settings = M.header(lines)
  local params = { name = name, source = table.concat(lines, '\n') .. '\n' }
  local ok, kind = pcall(vim.api.nvim_buf_get_var, buf, 'redis_ai_lisp_kind')
  params.kind = settings.kind or (ok and str(kind) ~= '' and kind) or nil
  params.description = settings.description
  if settings.languages then
    -- An empty list would go out as a map: a list of none is every language.
    params.languages = #settings.languages > 0 and settings.languages or {}
  end
  return request('lisp_define', params, function(err, reply)
    if err then
      local message = error_text(err)
      local line, col = M.error_position(message)
      if line then
        M.goto_position(buf, line, col)
      end
      notify(message, vim.log.levels.ERROR)
      return
    end
    known[name] = true
    if vim.api.nvim_buf_is_valid(buf) then
      vim.api.nvim_buf_set_var(buf, 'redis_ai_lisp_name', name)
    end
    notify(('defined %s version %s: %s forms, %s%s'):format(name, tostring(reply.version),
      tostring(reply.forms), str(reply.kind),
      reply.analyzer == true and '' or ' (no analyze: a helper for other programs)'))
  end)
end

local function list_lines(programs)
  local lines = { ('%-24s %-5s %-12s %-16s %-16s %-16s %s'):format('NAME', 'VER', 'KIND',
    'LANGUAGES', 'REQUIRES', 'UPDATED', 'DESCRIPTION') }
  local names = {}
  for _, p in ipairs(type(programs) == 'table' and programs or {}) do
    if type(p) == 'table' and str(p.name) ~= '' then
      local langs = type(p.languages) == 'table' and table.concat(p.languages, ',') or ''
      local requires = type(p.requires) == 'table' and table.concat(p.requires, ',') or ''
      local updated = type(p.updated) == 'number' and os.date('%Y-%m-%d %H:%M', math.floor(p.updated))
        or ''
      lines[#lines + 1] = ('%-24s %-5s %-12s %-16s %-16s %-16s %s'):format(p.name,
        tostring(p.version), p.analyzer == true and str(p.kind) or 'helper',
        langs == '' and 'all' or langs, requires, updated, (str(p.description):gsub('\n', ' ')))
      names[#names + 1] = p.name
      known[p.name] = true
    end
  end
  return lines, names
end

-- The buffer of :RedisAI lisp list, made when missing.
local function list_buffer()
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(buf) == LIST_NAME then
      return buf
    end
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, LIST_NAME)
  vim.bo[buf].bufhidden = 'hide'
  vim.api.nvim_buf_set_keymap(buf, 'n', '<CR>', '', {
    noremap = true, desc = 'redis-ai: open this program',
    callback = function() M.show(M.list_name_at(vim.api.nvim_win_get_cursor(0)[1])) end,
  })
  vim.api.nvim_buf_set_keymap(buf, 'n', 'R', '', {
    noremap = true, desc = 'redis-ai: refresh the list',
    callback = function() M.list() end,
  })
  return buf
end

local listed = {}

--- The name of the program on line `row` of the list buffer, or nil.
function M.list_name_at(row)
  return listed[row - 1]
end

-- Fill a read-only scratch buffer and show it in a split unless a window already shows it.
local function show_in(buf, lines)
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if #vim.fn.win_findbuf(buf) == 0 then
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, buf)
  end
end

--- :RedisAI lisp list: the stored programs in a scratch buffer (<CR> opens one, R refreshes).
function M.list()
  return request('lisp_list', vim.empty_dict(), function(err, reply)
    if err then
      notify('lisp list failed: ' .. error_text(err), vim.log.levels.ERROR)
      return
    end
    local lines, names = list_lines(type(reply) == 'table' and reply.programs)
    listed = names
    local buf = list_buffer()
    show_in(buf, lines)
    if #names == 0 then
      notify('no Lisp programs: define one with :RedisAI lisp define')
    end
  end)
end

--- :RedisAI lisp show {name}: the program's source in a new scratch buffer (filetype lisp);
--- :RedisAI lisp define there stores it back under the same name.
function M.show(name)
  if str(name) == '' then
    notify('which program? :RedisAI lisp show {name}', vim.log.levels.WARN)
    return false
  end
  return request('lisp_show', { name = name }, function(err, reply)
    if err then
      notify('lisp show failed: ' .. error_text(err), vim.log.levels.ERROR)
      return
    end
    vim.cmd('new')
    local buf = vim.api.nvim_get_current_buf()
    vim.bo[buf].buftype = 'nofile'
    vim.bo[buf].bufhidden = 'wipe'
    vim.bo[buf].swapfile = false
    pcall(vim.api.nvim_buf_set_name, buf, 'redis-ai://lisp/' .. name)
    local source = str(type(reply) == 'table' and reply.source):gsub('\n$', '')
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(source, '\n', { plain = true }))
    vim.bo[buf].filetype = 'lisp'
    vim.bo[buf].modified = false
    vim.api.nvim_buf_set_var(buf, 'redis_ai_lisp_name', name)
  end)
end

--- :RedisAI lisp remove {name}.
function M.remove(name)
  if str(name) == '' then
    notify('which program? :RedisAI lisp remove {name}', vim.log.levels.WARN)
    return false
  end
  return request('lisp_remove', { name = name }, function(err, reply)
    if err then
      notify('lisp remove failed: ' .. error_text(err), vim.log.levels.ERROR)
      return
    end
    known[name] = nil
    if type(reply) ~= 'table' or reply.removed ~= true then
      notify('no program named ' .. name, vim.log.levels.WARN)
      return
    end
    local users = type(reply.required_by) == 'table' and reply.required_by or {}
    notify(('removed %s%s'):format(name, #users > 0
      and (' (%s require it and will fail to load)'):format(table.concat(users, ', ')) or ''))
  end)
end

local QF_TYPE = { error = 'E', warning = 'W', info = 'I', hint = 'N' }

--- Quickfix items for the items of a `lisp_run` reply on buffer `buf`.
function M.run_items(buf, reply)
  local out = {}
  local items = type(reply) == 'table' and reply.items
  for _, item in ipairs(type(items) == 'table' and items or {}) do
    if type(item) == 'table' and type(item.line) == 'number' then
      local col = type(item.col) == 'number' and item.col or 0
      out[#out + 1] = {
        bufnr = buf,
        lnum = item.line,
        col = col + 1,
        type = QF_TYPE[str(item.severity)] or 'N',
        text = ('%s [%s]'):format(str(item.message), str(item.code)),
      }
    end
  end
  return out
end

--- :RedisAI lisp run {name}: the stored program on the whole current buffer (cursor line as
--- the event's), its items in the quickfix list.
function M.run(name)
  if str(name) == '' then
    notify('which program? :RedisAI lisp run {name}', vim.log.levels.WARN)
    return false
  end
  local buf = vim.api.nvim_get_current_buf()
  local params = {
    name = name,
    text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') .. '\n',
    file = vim.api.nvim_buf_get_name(buf),
    line = vim.api.nvim_win_get_cursor(0)[1],
  }
  local ft = vim.bo[buf].filetype
  if ft ~= '' then
    params.language = ft
  end
  return request('lisp_run', params, function(err, reply)
    if err then
      notify('lisp run failed: ' .. error_text(err), vim.log.levels.ERROR)
      return
    end
    local items = M.run_items(buf, reply)
    vim.fn.setqflist({}, ' ', { title = 'redis-ai lisp run: ' .. name, items = items })
    if str(reply.error) ~= '' then
      notify(('%s failed: %s'):format(name, reply.error), vim.log.levels.WARN)
    else
      notify(('%s gave %d items in %s steps'):format(name, #items, tostring(reply.steps)))
    end
    if #items > 0 then
      vim.cmd('copen')
    end
  end)
end

local function count_flagged()
  local n = 0
  for _, e in ipairs(M.examples) do
    n = n + (e.flag and 1 or 0)
  end
  return n
end

--- :[range]RedisAI lisp example flag|ok|clear: the lines of `range` (else the whole buffer) as
--- code that must (flag) or must not (ok) be flagged, for the next :RedisAI lisp evolve.
function M.example(what, range)
  if what == 'clear' then
    M.examples = {}
    notify('no examples')
    return true
  end
  if what ~= 'flag' and what ~= 'ok' then
    notify('lisp example needs flag, ok or clear', vim.log.levels.ERROR)
    return false
  end
  local buf = vim.api.nvim_get_current_buf()
  local first, last = 1, vim.api.nvim_buf_line_count(buf)
  if range then
    first, last = range[1], range[2]
  end
  local lines = vim.api.nvim_buf_get_lines(buf, first - 1, last, false)
  local text = table.concat(lines, '\n') .. '\n'
  if not text:match('%S') then
    notify('nothing to add: the lines are blank', vim.log.levels.WARN)
    return false
  end
  M.examples[#M.examples + 1] = {
    text = text, flag = what == 'flag', file = vim.api.nvim_buf_get_name(buf),
    language = vim.bo[buf].filetype ~= '' and vim.bo[buf].filetype or nil,
    origin = ('%s:%d-%d'):format(vim.fn.fnamemodify(vim.api.nvim_buf_get_name(buf), ':t'), first, last),
  }
  notify(('%d examples (%d must be flagged); :RedisAI lisp evolve {name} {request} sends them')
    :format(#M.examples, count_flagged()))
  return true
end

--- The lines that list the pending examples.
function M.example_lines()
  local out = { ('%d examples for :RedisAI lisp evolve (flag: must be flagged, ok: must not)')
    :format(#M.examples) }
  for i, e in ipairs(M.examples) do
    local shown = vim.trim(e.text):gsub('\n', '\\n')
    out[#out + 1] = ('%2d %-4s %-24s %s'):format(i, e.flag and 'flag' or 'ok', e.origin,
      #shown > 60 and (shown:sub(1, 57) .. '...') or shown)
  end
  return out
end

--- :RedisAI lisp examples: the pending examples, in a notification.
function M.show_examples()
  notify(table.concat(M.example_lines(), '\n'))
  return true
end

local function scores(s)
  if type(s) ~= 'table' then
    return '-'
  end
  return ('P=%s R=%s errors=%s'):format(tostring(s.precision), tostring(s.recall), tostring(s.errors))
end

--- The lines that show an outcome of `lisp_evolve` for `request`.
function M.evolve_lines(request, outcome)
  local o = type(outcome) == 'table' and outcome or {}
  local lines = {
    o.live == true and ('redis-ai evolve %s: live as version %s'):format(str(o.name), tostring(o.version))
      or ('redis-ai evolve %s: not live: %s'):format(str(o.name), str(o.why)),
    'request: ' .. request,
    ('examples: %s training, %s held out; author %s; %s generations, %s tokens, %s s'):format(
      tostring(o.train_examples), tostring(o.held_out_examples), str(o.author),
      tostring(o.generations), tostring(o.tokens), tostring(o.seconds)),
  }
  if str(o.lineage) ~= '' then
    lines[#lines + 1] = 'lineage: ' .. o.lineage
  end
  lines[#lines + 1] = ''
  for _, c in ipairs(type(o.candidates) == 'table' and o.candidates or {}) do
    if type(c) == 'table' then
      lines[#lines + 1] = ('gen %s (%s): train %s; held-out %s%s'):format(tostring(c.generation),
        str(c.model), scores(c.train), scores(c.held_out), c.live == true and ' -> live' or '')
    end
  end
  local winner = type(o.winner) == 'table' and str(o.winner.source) or ''
  if winner ~= '' then
    lines[#lines + 1] = ''
    lines[#lines + 1] = 'The winner (shown, not run here):'
    vim.list_extend(lines, vim.split(winner, '\n', { plain = true }))
  end
  return lines
end

local EVOLVE_NAME = 'redis-ai://lisp-evolve'

local function show_outcome(lines)
  local buf
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(b) == EVOLVE_NAME then
      buf = b
    end
  end
  if not buf then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, EVOLVE_NAME)
    vim.bo[buf].bufhidden = 'hide'
  end
  show_in(buf, lines)
end

--- :RedisAI lisp evolve [--offline] {name} {request...}: have the daemon write (or improve) the
--- analyzer {name} from the request and the pending examples; the outcome in a scratch buffer.
--- The daemon answers when it is done, on a connection of its own: the editor goes on.
function M.evolve(arg)
  local offline, rest = false, str(arg)
  if rest:match('^%-%-offline%f[%s%z]') then
    offline, rest = true, vim.trim(rest:sub(10))
  end
  local name, request = rest:match('^(%S+)%s+(.-)%s*$')
  if not name or request == '' then
    notify('usage: :RedisAI lisp evolve [--offline] {name} {request in plain words}',
      vim.log.levels.WARN)
    return false
  end
  local flagged = count_flagged()
  if flagged == 0 or flagged == #M.examples then
    notify("add examples first: :'<,'>RedisAI lisp example flag (must be flagged) and ... ok",
      vim.log.levels.WARN)
    return false
  end
  local examples = {}
  for _, e in ipairs(M.examples) do
    examples[#examples + 1] = { text = e.text, flag = e.flag, file = e.file, language = e.language }
  end
  local params = { name = name, request = request, examples = examples, offline = offline, wait = true }
  if not offline and str(vim.g.redis_ai_lisp_model) ~= '' then
    params.model = vim.g.redis_ai_lisp_model
  end
  local sent = rpc.request('lisp_evolve', params, M.evolve_timeout_ms, function(err, outcome)
    if err then
      notify('lisp evolve failed: ' .. error_text(err), vim.log.levels.ERROR)
      return
    end
    if type(outcome) == 'table' and outcome.live == true then
      known[name] = true
    end
    local lines = M.evolve_lines(request, outcome)
    show_outcome(lines)
    notify(lines[1], type(outcome) == 'table' and outcome.live == true and vim.log.levels.INFO
      or vim.log.levels.WARN)
  end)
  if not sent then
    notify('not connected to the daemon (:RedisAI status)', vim.log.levels.WARN)
    return false
  end
  notify(('evolving %s from %d examples%s...'):format(name, #M.examples, offline and ' (offline)' or ''))
  return true
end

--- :[range]RedisAI lisp {subcommand} [{name}].
function M.command(rest, range)
  local sub, arg = str(rest):match('^%s*(%S*)%s*(.-)%s*$')
  if sub == 'example' then
    return M.example(arg, range)
  end
  local fn = ({ define = M.define, list = M.list, show = M.show, remove = M.remove,
    run = M.run, evolve = M.evolve, examples = M.show_examples })[sub]
  if not fn then
    notify(('lisp needs one of: %s'):format(table.concat(M.subcommands, ', ')),
      vim.log.levels.ERROR)
    return false
  end
  return fn(arg)
end

--- Completions for the text after `:RedisAI lisp `: a subcommand, then a program name seen.
function M.complete(text)
  local sub, arg = text:match('^(%S+)%s+(%S*)$')
  local out = {}
  if not sub then
    for _, name in ipairs(M.subcommands) do
      if name:sub(1, #text) == text then
        out[#out + 1] = name
      end
    end
    return out
  end
  if sub == 'example' then
    for _, word in ipairs({ 'clear', 'flag', 'ok' }) do
      if word:sub(1, #arg) == arg then
        out[#out + 1] = word
      end
    end
    return out
  end
  if sub == 'show' or sub == 'remove' or sub == 'run' or sub == 'define' or sub == 'evolve' then
    for name in pairs(known) do
      if name:sub(1, #arg) == arg then
        out[#out + 1] = name
      end
    end
    table.sort(out)
  end
  return out
end

return M

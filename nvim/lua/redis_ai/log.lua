-- A bounded in-memory log of what the plugin did (connections, errors from the daemon),
-- shown by `:RedisAI log`. Nothing is written to disk.
local M = {}

local MAX = 300
local entries = {}

--- Record one line; `level` is "info", "warn" or "error".
function M.add(level, msg)
  entries[#entries + 1] = ('%s %-5s %s'):format(os.date('%H:%M:%S'), level, msg)
  if #entries > MAX then
    table.remove(entries, 1)
  end
end

function M.lines()
  return vim.deepcopy(entries)
end

return M

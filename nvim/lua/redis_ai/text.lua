-- Columns: Neovim counts bytes, the protocol counts characters (docs/protocol.md). These
-- conversions are plain Lua over UTF-8 so they behave the same on every Neovim version.
local M = {}

local byte = string.byte

--- The number of characters in the first `b` bytes of `line` (a byte column to a character one).
function M.char_col(line, b)
  if b > #line then
    b = #line
  end
  local n = 0
  for i = 1, b do
    local c = byte(line, i)
    -- Continuation bytes (10xxxxxx) do not start a character.
    if c < 0x80 or c >= 0xC0 then
      n = n + 1
    end
  end
  return n
end

--- The byte offset of character `n` (0-based) in `line`; past the end gives #line.
function M.byte_col(line, n)
  if n <= 0 then
    return 0
  end
  local len = #line
  local i = 1
  while i <= len do
    local c = byte(line, i)
    if c < 0x80 or c >= 0xC0 then
      if n == 0 then
        return i - 1
      end
      n = n - 1
    end
    i = i + 1
  end
  return len
end

--- `s` cut to at most `max` bytes without splitting a character.
function M.truncate(s, max)
  if #s <= max then
    return s
  end
  local i = max + 1
  local c = byte(s, i)
  while i > 1 and c >= 0x80 and c < 0xC0 do
    i = i - 1
    c = byte(s, i)
  end
  return s:sub(1, i - 1)
end

--- Split on newlines, keeping empty lines ("a\n" gives {"a", ""}).
function M.lines(s)
  local out = {}
  for l in (s .. '\n'):gmatch('(.-)\n') do
    out[#out + 1] = l
  end
  return out
end

return M

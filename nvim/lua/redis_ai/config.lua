-- Options of the plugin: the documented defaults, the merged user options, and where the
-- daemon's runtime folder is. Every other module reads options from `config.options`.
local M = {}

M.defaults = {
  -- Folder holding daemon.json; nil follows the daemon's rule ($REDIS_AI_RUNTIME_DIR,
  -- $XDG_RUNTIME_DIR/redis-ai, <tmpdir>/redis-ai-UID).
  runtime_dir = nil,
  -- Start `daemon_cmd` when no daemon is running (and again when it goes away).
  auto_start = false,
  daemon_cmd = { 'redis-ai', 'daemon' },
  -- Quiet time after the last change before the coalesced event is sent.
  debounce_ms = 75,
  -- Send anyway after this long of uninterrupted typing, so analysis keeps up.
  max_wait_ms = 600,
  -- Send cursor moves (intent "cursor") as well as changes.
  send_cursor = true,
  -- Buffers up to this many bytes are sent whole (whole = true); larger ones as a window of
  -- `context_lines` lines each side of the cursor.
  whole_max_bytes = 100 * 1024,
  context_lines = 100,
  -- The protocol's limit on `text`, in bytes.
  max_text = 1024 * 1024,
  -- Only these filetypes (nil: all) and never these; only buffers with an empty 'buftype'.
  filetypes = nil,
  exclude_filetypes = { 'help', 'gitcommit', 'TelescopePrompt' },
  -- Key sequences that send an event with an intent. They are observed, not mapped, so the
  -- keys keep doing what they did, unless `map_intent_keys` is true.
  intent_keys = { ['<C-c><C-c>'] = 'execute_code' },
  map_intent_keys = false,
  -- Insert-mode keys (normal mode too for `analyze`, normal mode only for `fix`, which applies
  -- the fix under the cursor, unmapped by default); false disables one.
  keymaps = {
    accept = '<M-l>',
    accept_word = '<M-w>',
    accept_line = '<M-j>',
    next = '<M-]>',
    prev = '<M-[>',
    dismiss = '<C-]>',
    analyze = '<M-a>',
    fix = false,
    -- Next-edit suggestions (normal and insert mode): jump to the next one, apply it.
    next_edit = '<M-n>',
    accept_edit = '<M-y>',
  },
  -- Appended to the message of a diagnostic that offers a fix (%s: the fix's title); false
  -- leaves messages alone (the title is in the diagnostic's user_data.redis_ai_fix either way).
  fix_suffix = ' [fix: %s]',
  -- Reconnection: check the channel this often, retry with this backoff.
  probe_ms = 500,
  backoff_min_ms = 100,
  backoff_max_ms = 2000,
  -- When events have gone this long without any push back, ask the daemon on a side
  -- connection; no answer within answer_timeout_ms marks it stalled (events are dropped).
  stall_ms = 3000,
  answer_timeout_ms = 2000,
  -- How the ghost text and the markers of generated tests look.
  ghost_hl = 'RedisAIGhost',
  marker_hl = 'RedisAIMarker',
}

M.options = vim.deepcopy(M.defaults)

--- Merge the user's options over the defaults.
function M.set(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  -- A user's intent_keys table replaces the default one rather than adding to it.
  if opts and opts.intent_keys then
    M.options.intent_keys = opts.intent_keys
  end
  return M.options
end

--- The daemon's runtime folder, by the same rule as the daemon (docs/protocol.md).
function M.runtime_dir()
  if M.options.runtime_dir then
    return M.options.runtime_dir
  end
  local env = os.getenv('REDIS_AI_RUNTIME_DIR')
  if env and env ~= '' then
    return env
  end
  local xdg = os.getenv('XDG_RUNTIME_DIR')
  if xdg and xdg ~= '' then
    return xdg .. '/redis-ai'
  end
  local tmp = os.getenv('TMPDIR')
  if not tmp or tmp == '' then
    tmp = '/tmp'
  end
  return ('%s/redis-ai-%d'):format((tmp:gsub('/$', '')), vim.loop.getuid())
end

function M.discovery_path()
  return M.runtime_dir() .. '/daemon.json'
end

return M

-- Only the :RedisAI command; everything else loads when it is used or setup() is called.
if vim.g.loaded_redis_ai then
  return
end
vim.g.loaded_redis_ai = 1

vim.api.nvim_create_user_command('RedisAI', function(o)
  require('redis_ai').command(o.fargs, o.range > 0 and { o.line1, o.line2 } or nil)
end, {
  nargs = '?',
  range = true,
  desc = 'redis-ai: status | start | stop | analyze | log | hints | fix | tests | search',
  complete = function(lead)
    return require('redis_ai').complete(lead)
  end,
})

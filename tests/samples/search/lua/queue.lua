-- A job queue for the editor plugin: push jobs, pop them in order.
local M = {}

local jobs = {}

function M.push_job(job)
  table.insert(jobs, job)
end

function M.pop_job()
  return table.remove(jobs, 1)
end

function M.pending_jobs()
  return #jobs
end

return M

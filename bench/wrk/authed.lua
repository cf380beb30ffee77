-- Authenticated GET/POST with tokens rotating over many tenants.
--   BENCH_SCENARIO = list | get | create | status
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local scenario = os.getenv("BENCH_SCENARIO") or "list"

local rows, idx, n = nil, 0, 0

function init(args)
  common.seed()
  rows = common.lines(os.getenv("BENCH_TOKENS"))
  for _, r in ipairs(rows) do
    r.auth = "Bearer " .. r[1]
    r.projects = common.split(r[3] or "", ",")
  end
  idx = math.random(#rows)
end

function request()
  idx = idx % #rows + 1
  n = n + 1
  local r = rows[idx]
  local headers = { ["Authorization"] = r.auth }
  if scenario == "list" then
    return wrk.format("GET", "/api/v1/projects?page=1&page_size=20", headers)
  elseif scenario == "get" then
    return wrk.format("GET", "/api/v1/projects/" .. r.projects[1 + n % #r.projects], headers)
  elseif scenario == "create" then
    headers["Content-Type"] = "application/json"
    local body = string.format(
      '{"name":"Bench created %d-%d","description":"created by the benchmark","status":"active"}',
      thread_no or 0, n)
    return wrk.format("POST", "/api/v1/projects", headers, body)
  elseif scenario == "status" then
    return wrk.format("GET", "/api/v1/auth/status", headers)
  end
  error("unknown BENCH_SCENARIO " .. scenario)
end

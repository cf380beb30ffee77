-- Authenticated GET/POST with tokens rotating over many tenants.
--   BENCH_SCENARIO = list | get | create | status
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local scenario = os.getenv("BENCH_SCENARIO") or "list"

local rows, idx, n = nil, 0, 0
-- The reads' requests, formatted once in init: formatting each request in Lua
-- cost wrk ~30 % more CPU per request, taken from the two cores the server and
-- PostgreSQL share with it. The rotation is the same: token after token, and
-- for `get` each token's projects in turn (up to 8 each).
local prepared = nil

function init(args)
  common.seed()
  rows = common.lines(os.getenv("BENCH_TOKENS"))
  for _, r in ipairs(rows) do
    r.auth = "Bearer " .. r[1]
    r.projects = common.split(r[3] or "", ",")
  end
  if scenario ~= "create" then
    prepared = {}
    for k = 1, 8 do
      for _, r in ipairs(rows) do
        local headers = { ["Authorization"] = r.auth }
        if scenario == "list" and k == 1 then
          prepared[#prepared + 1] = wrk.format("GET", "/api/v1/projects?page=1&page_size=20", headers)
        elseif scenario == "status" and k == 1 then
          prepared[#prepared + 1] = wrk.format("GET", "/api/v1/auth/status", headers)
        elseif scenario == "get" and #r.projects > 0 then
          prepared[#prepared + 1] = wrk.format("GET", "/api/v1/projects/" .. r.projects[1 + (k - 1) % #r.projects], headers)
        elseif scenario ~= "list" and scenario ~= "status" and scenario ~= "get" then
          error("unknown BENCH_SCENARIO " .. scenario)
        end
      end
    end
    idx = math.random(#prepared)
  else
    idx = math.random(#rows)
  end
end

function request()
  if prepared then
    idx = idx % #prepared + 1
    return prepared[idx]
  end
  idx = idx % #rows + 1
  n = n + 1
  local r = rows[idx]
  local headers = { ["Authorization"] = r.auth, ["Content-Type"] = "application/json" }
  local body = string.format(
    '{"name":"Bench created %d-%d","description":"created by the benchmark","status":"active"}',
    thread_no or 0, n)
  return wrk.format("POST", "/api/v1/projects", headers, body)
end

-- Mixed load for bench/soak.sh. Per 100 requests, about: 40 project lists, 15
-- project reads, 15 `/auth/status`, 12 project creates, 3 uploads (initiate, then
-- the PUT of 4 KiB and the completion, queued from the answers), 2 user lists,
-- 1 super-admin dashboard, 1 sign-in (its refresh token is then rotated once).
--
-- Environment (besides common.lua's):
--   SOAK_ADMIN_TOKEN   a super admin's access token
--   SOAK_LOGINS        file of "email<TAB>tenant-slug" lines (password BENCH_PASSWORD)
-- done() adds per-class status counts to the RESULT line: 5xx is what the soak watches.
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local rows, logins, idx, n = nil, nil, 0, 0
local admin = "Bearer " .. (os.getenv("SOAK_ADMIN_TOKEN") or "")
local password = os.getenv("BENCH_PASSWORD") or ""
local queue = {}            -- follow-up requests built from answers
local logins_open = 0       -- sign-ins whose refresh token is still to be rotated
local mine = nil            -- this thread's own token row: uploads are completed with it
local payload = string.rep("tenantry", 512) -- 4 KiB

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_no", #threads)
end

function init(args)
  common.seed()
  rows = common.lines(os.getenv("BENCH_TOKENS"))
  for _, r in ipairs(rows) do
    r.auth = "Bearer " .. r[1]
    r.projects = common.split(r[3] or "", ",")
  end
  logins = common.lines(os.getenv("SOAK_LOGINS"))
  mine = rows[(thread_no or 1) % #rows + 1]
  idx = math.random(#rows)
  s2, s3, s4, s5 = 0, 0, 0, 0
end

local function json_headers(auth)
  local h = { ["Content-Type"] = "application/json" }
  if auth then h["Authorization"] = auth end
  return h
end

function request()
  if #queue > 0 then
    return table.remove(queue, 1)
  end
  idx = idx % #rows + 1
  n = n + 1
  local r = rows[idx]
  local auth = { ["Authorization"] = r.auth }
  local pick = n % 100
  if pick < 40 then
    return wrk.format("GET", "/api/v1/projects?page=1&page_size=20", auth)
  elseif pick < 55 then
    return wrk.format("GET", "/api/v1/projects/" .. r.projects[1 + n % #r.projects], auth)
  elseif pick < 70 then
    return wrk.format("GET", "/api/v1/auth/status", auth)
  elseif pick < 82 then
    local body = string.format('{"name":"Soak %d-%d","description":"soak"}', thread_no or 0, n)
    return wrk.format("POST", "/api/v1/projects", json_headers(r.auth), body)
  elseif pick < 85 then
    local body = string.format(
      '{"project_id":"%s","name":"soak-%d-%d.bin","content_type":"application/octet-stream","size_bytes":%d}',
      mine.projects[1], thread_no or 0, n, #payload)
    return wrk.format("POST", "/api/v1/projects/documents/upload", json_headers(mine.auth), body)
  elseif pick < 87 then
    return wrk.format("GET", "/api/v1/users?page_size=20", auth)
  elseif pick < 88 then
    return wrk.format("GET", "/api/v1/admin/dashboard", { ["Authorization"] = admin })
  elseif pick < 89 then
    local l = logins[1 + n % #logins]
    logins_open = logins_open + 1
    local body = string.format('{"email":"%s","password":"%s","tenant_slug":"%s"}', l[1], password, l[2])
    return wrk.format("POST", "/api/v1/auth/login", json_headers(nil), body)
  end
  return wrk.format("GET", "/api/v1/projects?page=2&page_size=20", auth)
end

function response(status, headers, body)
  if status >= 500 then s5 = s5 + 1
  elseif status >= 400 then s4 = s4 + 1
  elseif status >= 300 then s3 = s3 + 1
  else s2 = s2 + 1 end
  if status >= 300 or not body then return end
  local put = body:match('"upload_url":"https?://[^/"]+(/[^"]+)"')
  if put then
    queue[#queue + 1] = wrk.format("PUT", put, { ["Content-Type"] = "application/octet-stream" }, payload)
    return
  end
  local doc = body:match('"document_id":"([0-9a-f-]+)"')
  if doc and body:find('"sha256"', 1, true) then
    queue[#queue + 1] = wrk.format("POST", "/api/v1/projects/documents/" .. doc .. "/upload-complete",
      json_headers(mine.auth), "{}")
    return
  end
  local refresh = body:match('"refresh_token":"([^"]+)"')
  if refresh and logins_open > 0 then
    logins_open = logins_open - 1
    queue[#queue + 1] = wrk.format("POST", "/api/v1/auth/refresh", json_headers(nil),
      string.format('{"refresh_token":"%s"}', refresh))
  end
end

function done(summary, latency, requests)
  local c = { 0, 0, 0, 0 }
  for _, t in ipairs(threads) do
    c[1] = c[1] + (t:get("s2") or 0)
    c[2] = c[2] + (t:get("s3") or 0)
    c[3] = c[3] + (t:get("s4") or 0)
    c[4] = c[4] + (t:get("s5") or 0)
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  local line = string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,'
      .. '"s2xx":%d,"s3xx":%d,"s4xx":%d,"s5xx":%d,"socket_errors":%d,"timeouts":%d}',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, c[1], c[2], c[3], c[4], e.connect + e.read + e.write + e.timeout, e.timeout)
  local out = os.getenv("BENCH_RESULT")
  if out then
    local f = assert(io.open(out, "w"))
    f:write(line, "\n")
    f:close()
  end
  io.write("RESULT ", line, "\n")
end

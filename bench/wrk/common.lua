-- Shared by the scenario scripts (loaded with dofile from each wrk thread).
--
-- Environment:
--   BENCH_TOKENS   file of "token<TAB>tenant<TAB>project-id,project-id,..." lines
--   BENCH_LOGINS   file of "email<TAB>password" lines (login flood)
--   BENCH_RESULT   where done() writes one JSON line with the figures
--   WRK_DELAY_MS   when set, each connection waits about this long between
--                  requests: a fixed modest rate instead of saturation
local common = {}

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
end

function common.lines(path)
  local rows = {}
  local f = assert(io.open(assert(path, "file name not set"), "r"))
  for line in f:lines() do
    if #line > 0 then
      local cols = {}
      for c in (line .. "\t"):gmatch("([^\t]*)\t") do cols[#cols + 1] = c end
      rows[#rows + 1] = cols
    end
  end
  f:close()
  assert(#rows > 0, path .. " is empty")
  return rows
end

function common.split(s, sep)
  local out = {}
  for part in s:gmatch("[^" .. sep .. "]+") do out[#out + 1] = part end
  return out
end

-- Each thread starts at a different place in the rotation.
function common.seed()
  math.randomseed((thread_no or 0) * 7919 + os.time())
end

local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "")
if delay_ms and delay_ms > 0 then
  function delay()
    return math.random(math.floor(delay_ms / 2), math.floor(delay_ms * 3 / 2))
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local line = string.format(
    '{"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,'
      .. '"non2xx":%d,"socket_errors":%d}',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout)
  local out = os.getenv("BENCH_RESULT")
  if out then
    local f = assert(io.open(out, "w"))
    f:write(line, "\n")
    f:close()
  end
  io.write("RESULT ", line, "\n")
end

return common

-- POST /api/v1/auth/login, rotating over many accounts (one Argon2id verify each).
local common = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

local bodies, idx = nil, 0

function init(args)
  common.seed()
  bodies = {}
  for _, r in ipairs(common.lines(os.getenv("BENCH_LOGINS"))) do
    bodies[#bodies + 1] = string.format('{"email":"%s","password":"%s"}', r[1], r[2])
  end
  idx = math.random(#bodies)
end

function request()
  idx = idx % #bodies + 1
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, bodies[idx])
end

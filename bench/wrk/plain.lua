-- An unauthenticated GET of BENCH_PATH (e.g. /health), for the reporting hooks only.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
wrk.path = os.getenv("BENCH_PATH") or "/health"

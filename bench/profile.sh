#!/usr/bin/env bash
# Profiles one scenario on the data set bench/run.sh seeded (run it once first,
# with BENCH_KEEP_PG=1 or not: the cluster is started again if needed):
#
#   bench/profile.sh [list|get|create|status] [seconds]
#
# Turns on pg_stat_statements (with planning time) in the private bench cluster,
# starts the release server, drives the scenario with wrk while `perf record`
# samples the server, then prints the statements by total time (calls, plans,
# mean plan/exec ms) and the server's hottest symbols. Output in
# bench/.data/profile-<scenario>/. pg_stat_statements stays loaded in this private
# cluster (planning statistics are switched off again at the end).
# BENCH_CALL_GRAPH=dwarf gives whole Rust call stacks (frame pointers are off).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCENARIO=${1:-list}
SECS=${2:-10}
HOME_DIR=${BENCH_HOME:-$ROOT/bench/.data}
TENANTS=${BENCH_TENANTS:-1000} PPT=${BENCH_PROJECTS_PER_TENANT:-1000} UPT=${BENCH_USERS_PER_TENANT:-5}
DOCS=${BENCH_DOCUMENTS:-100000}
DB=bench_${TENANTS}x${PPT}_u${UPT}_d${DOCS}
if [[ -z "${CARGO_TARGET_DIR:-}" && -d /work/.cache ]]; then export CARGO_TARGET_DIR=/work/.cache/target; fi
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tenantry}
OUT=$HOME_DIR/profile-$SCENARIO
SECRET_KEY='tenantry-benchmark-secret-key-0123456789abcdef'
mkdir -p "$OUT"
export BENCH_WRK_DIR=$ROOT/bench/wrk

(cd "$OUT" && env -u DATABASE_URL TENANTRY_DATA_DIR="$HOME_DIR" SECRET_KEY="$SECRET_KEY" "$BIN" migrate >/dev/null)
PG_PORT=$(cat "$HOME_DIR/pg/port")
ADMIN=postgres://postgres@127.0.0.1:$PG_PORT
PG_CTL=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [[ $(psql "$ADMIN/postgres" -qAtX -c "SHOW shared_preload_libraries") != *pg_stat_statements* ]]; then
  psql "$ADMIN/postgres" -qX -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  as_pg "$PG_CTL" -D "$HOME_DIR/pg/data" restart -m fast -w >/dev/null
fi
psql "$ADMIN/postgres" -qX -c "ALTER SYSTEM SET pg_stat_statements.track_planning = on" -c "SELECT pg_reload_conf()" >/dev/null
psql "$ADMIN/$DB" -qX -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
(cd "$OUT" && exec env -u DATABASE_URL DATABASE_URL="$ADMIN/$DB" BIND_ADDR=127.0.0.1:$PORT BASE_URL=$BASE \
  SECRET_KEY="$SECRET_KEY" LOG_FORMAT=json ACCESS_TOKEN_EXPIRE_MINUTES=240 RATE_LIMIT_LOGIN_PER_MINUTE=1000000000 \
  RATE_LIMIT_ACCOUNT_PER_MINUTE=1000000000 STORAGE_PATH="$HOME_DIR/storage" "$BIN" serve --no-migrate >"$OUT/server.log" 2>&1) &
SERVER=$!
restore() {
  kill "$SERVER" 2>/dev/null || true
  # Planning statistics cost a little on every statement: off again for bench/run.sh.
  psql "$ADMIN/postgres" -qX -c "ALTER SYSTEM RESET pg_stat_statements.track_planning" -c "SELECT pg_reload_conf()" >/dev/null
}
trap restore EXIT
for _ in $(seq 1 300); do curl -fs "$BASE/ready" >/dev/null 2>&1 && break; sleep 0.1; done

python3 "$ROOT/bench/tokens.py" --base "$BASE" --tenants "$TENANTS" --projects-per-tenant "$PPT" \
  --users-per-tenant "$UPT" --count 200 --password 'Bench-Passw0rd-2026!' --out "$OUT/tokens.tsv" \
  --db "$ADMIN/$DB" --secret "$SECRET_KEY" --issuer "$BASE"
export BENCH_TOKENS=$OUT/tokens.tsv BENCH_SCENARIO=$SCENARIO
wrk -t2 -c32 -d3s -s "$BENCH_WRK_DIR/authed.lua" "$BASE" >/dev/null # warm-up
psql "$ADMIN/$DB" -qAtX -c "SELECT pg_stat_statements_reset()" >/dev/null
if command -v perf >/dev/null; then
  perf record -F 499 --call-graph "${BENCH_CALL_GRAPH:-fp}" -p "$SERVER" -o "$OUT/perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
  PERF=$!
fi
BENCH_RESULT=$OUT/wrk.json wrk -t2 -c32 -d"${SECS}s" --latency -s "$BENCH_WRK_DIR/authed.lua" "$BASE" | tee "$OUT/wrk.txt" | grep RESULT
[[ -n "${PERF:-}" ]] && wait "$PERF" || true

psql "$ADMIN/$DB" -X -P pager=off <<'SQL' | tee "$OUT/statements.txt"
SELECT calls, plans, round(mean_plan_time::numeric, 3) AS plan_ms, round(mean_exec_time::numeric, 3) AS exec_ms,
       round((total_plan_time + total_exec_time)::numeric / 1000, 2) AS total_s,
       left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_plan_time + total_exec_time DESC LIMIT 15;
SQL
if [[ -f "$OUT/perf.data" ]]; then
  perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' |
    head -40 | tee "$OUT/perf-top.txt"
fi
echo "profile in $OUT"

#!/usr/bin/env bash
# Issue 20's throughput ratios, measured A/B/A: each endpoint at saturation
# against the minimal transaction that returns the same data (pgbench connected
# as tenantry_app, RLS on; bench/pgbench/minimal_*.sql), alternated for
# BENCH_ROUNDS rounds on the same machine, so drift between runs shows as
# spread instead of landing on one side of the ratio.
#
#   bench/ratio.sh                      # 50 x 100, 5,000 documents (the issue's small shape)
#   BENCH_TENANTS=1000 BENCH_PROJECTS_PER_TENANT=1000 BENCH_DOCUMENTS=100000 bench/ratio.sh
#   BENCH_PGBOUNCER=1 bench/ratio.sh    # the server through PgBouncer, transaction mode
#
# Also: BENCH_ROUNDS=3 BENCH_DURATION=10 BENCH_CONNECTIONS=32 BENCH_PG_CLIENTS=20
# BENCH_SCENARIOS="list get status". Prints one line per run and a markdown table
# (also in the run folder as ratio.md).
set -euo pipefail
source "$(dirname "$0")/common.sh"
ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-32}
PG_CLIENTS=${BENCH_PG_CLIENTS:-20}
SCENARIOS=${BENCH_SCENARIOS:-list get status}

cleanup() {
  bench_stop_server
  [[ -n "${BOUNCER_PID:-}" ]] && kill "$BOUNCER_PID" 2>/dev/null || true
}
trap cleanup EXIT
bench_prepare ratio

APP_URL=$ADMIN_URL/$DB
VIA=direct
if [[ "${BENCH_PGBOUNCER:-0}" == 1 ]]; then
  command -v pgbouncer >/dev/null || die "pgbouncer is not installed (apt-get install -y pgbouncer)"
  BPORT=$(free_port)
  cat >"$RUN/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PG_PORT connect_query='SET ROLE tenantry_app'
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BPORT
unix_socket_dir =
auth_type = trust
auth_file = $RUN/users.txt
pool_mode = transaction
default_pool_size = ${BENCH_PGBOUNCER_POOL:-20}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits,options
logfile = $RUN/pgbouncer.log
INI
  echo '"postgres" ""' >"$RUN/users.txt"
  if [[ $(id -u) == 0 ]]; then
    chown -R postgres "$RUN"
    runuser -u postgres -- pgbouncer "$RUN/pgbouncer.ini" >/dev/null 2>&1 &
  else
    pgbouncer "$RUN/pgbouncer.ini" >/dev/null 2>&1 &
  fi
  BOUNCER_PID=$!
  for _ in $(seq 1 50); do (echo >/dev/tcp/127.0.0.1/"$BPORT") 2>/dev/null && break; sleep 0.1; done
  APP_URL="postgres://postgres@127.0.0.1:$BPORT/$DB?statement-cache-capacity=0"
  VIA="PgBouncer $(pgbouncer --version | head -1 | awk '{print $2}') transaction mode"
fi
bench_server "$APP_URL"
bench_tokens

ntok=$NTOKENS
((ntok > TENANTS)) && ntok=$TENANTS
stride=$((TENANTS / ntok))

wrk_run() { # name scenario
  BENCH_RESULT="$RUN/$1.json" BENCH_TOKENS="$TOKENS_FILE" BENCH_SCENARIO=$2 \
    wrk -t2 -c"$CONNS" -d"${DUR:-$DURATION}s" --timeout 10s --latency -s "$BENCH_WRK_DIR/authed.lua" "$BASE" \
    >"$RUN/$1.txt" 2>&1 || die "wrk $1 failed: $(tail -3 "$RUN/$1.txt")"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["rps"], r["non2xx"] + r["socket_errors"])' "$RUN/$1.json"
}

pgbench_run() { # name script
  PGOPTIONS='-c role=tenantry_app' pgbench -n -M prepared -c "$PG_CLIENTS" -j 2 -T "$DURATION" \
    -D ntok="$ntok" -D stride="$stride" -D ppt="$PPT" -D upt="$UPT" \
    -f "$ROOT/bench/pgbench/$2" "$ADMIN_URL/$DB" >"$RUN/$1.txt" 2>&1 || die "pgbench failed: $(tail -5 "$RUN/$1.txt")"
  sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$RUN/$1.txt"
}

DUR=3 wrk_run warmup list >/dev/null
: >"$RUN/pairs.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for s in $SCENARIOS; do
    read -r rps errors < <(wrk_run "${s}_$round" "$s")
    tps=$(pgbench_run "minimal_${s}_$round" "minimal_$s.sql")
    printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$round" "$rps" "$tps" "$errors" >>"$RUN/pairs.tsv"
    printf '  round %d %-7s server %8.0f req/s (%s errors)  minimal %8.0f tps  ratio %.2f\n' \
      "$round" "$s" "$rps" "$errors" "$tps" "$(python3 -c "print($rps / $tps)")"
  done
done

python3 - "$RUN/pairs.tsv" "$TENANTS x $PPT, $DOCS documents" "$VIA" <<'PY' | tee "$RUN/ratio.md"
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
name = {"list": "list `GET /projects?page=1&page_size=20`", "get": "get `GET /projects/{id}`",
        "status": "status `GET /auth/status`"}
print(f"\n{sys.argv[2]}, server {sys.argv[3]}:\n")
print("| scenario | server req/s (median) | minimal tx/s (median) | ratio median | ratios per round | errors |")
print("|---|---:|---:|---:|---|---:|")
for s in dict.fromkeys(r[0] for r in rows):
    rs = [r for r in rows if r[0] == s]
    ratios = [float(r[2]) / float(r[3]) for r in rs]
    print(f"| {name.get(s, s)} | {statistics.median(float(r[2]) for r in rs):.0f} | "
          f"{statistics.median(float(r[3]) for r in rs):.0f} | {statistics.median(ratios):.2f}× | "
          f"{', '.join(f'{x:.2f}' for x in ratios)} | {sum(int(r[4]) for r in rs)} |")
PY

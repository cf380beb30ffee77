#!/usr/bin/env bash
# The tenantry benchmark, one command:   bench/run.sh
#
# Builds the release binary, starts a private PostgreSQL (the embedded cluster of
# src/db/embedded.rs in a bench-only data folder), seeds 1,000 tenants x 1,000
# projects plus users and documents (and a 10 x 1,000 data set for the growth
# comparison), starts `tenantry serve` on 127.0.0.1, logs users of many tenants
# in, drives the scenarios with wrk and pgbench, and prints a markdown table that
# also goes into bench/RESULTS.md (between the bench:begin/end markers).
#
# Everything is overridable from the environment:
#   BENCH_TENANTS=1000 BENCH_PROJECTS_PER_TENANT=1000 BENCH_USERS_PER_TENANT=5
#   BENCH_DOCUMENTS=100000 BENCH_SMALL_TENANTS=10     data sets (seeded once, reused)
#   BENCH_DURATION=10        seconds per scenario      BENCH_WARMUP=3
#   BENCH_CONNECTIONS=32     wrk connections at saturation; BENCH_THREADS=2 wrk threads
#   BENCH_TOKENS=200         tokens (one user each, spread over the tenants)
#   BENCH_FIXED_RATE=100     req/s of each measured endpoint in the login-flood test
#   BENCH_FIXED_DURATION=20  seconds of each fixed-rate run (~2,000 samples: a steadier p99)
#   BENCH_PG_CLIENTS=20      pgbench clients (the server's default pool size)
#   BENCH_HOME=bench/.data   cluster, logs and runs; BENCH_KEEP_PG=1 leaves PostgreSQL up
#   BENCH_SEED_ONLY=1        stop once the data sets are seeded
#   BENCH_SKIP_BUILD=1       use the binary as it is (BENCH_BIN=path: another one)
#   BENCH_TOKEN_MODE=auto|login|mint  how tokens are obtained (see bench/tokens.py)
#   BENCH_API_LIMIT=1000000000  per-principal and per-tenant API budgets: counted on every
#                            request but never refused; 0 takes the limiter off the path (A/B)
#   BENCH_RESULTS=bench/RESULTS.md  where the table goes ("" to skip writing it)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COMMAND="bench/run.sh"
for v in BENCH_TENANTS BENCH_PROJECTS_PER_TENANT BENCH_DOCUMENTS BENCH_DURATION; do
  [[ -n "${!v:-}" ]] && COMMAND="$v=${!v} $COMMAND"
done

TENANTS=${BENCH_TENANTS:-1000}
PPT=${BENCH_PROJECTS_PER_TENANT:-1000}
UPT=${BENCH_USERS_PER_TENANT:-5}
DOCS=${BENCH_DOCUMENTS:-100000}
SMALL_TENANTS=${BENCH_SMALL_TENANTS:-10}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
NTOKENS=${BENCH_TOKENS:-200}
FIXED_RATE=${BENCH_FIXED_RATE:-100}
FIXED_DURATION=${BENCH_FIXED_DURATION:-20}
PG_CLIENTS=${BENCH_PG_CLIENTS:-20}
HOME_DIR=${BENCH_HOME:-$ROOT/bench/.data}
TOKEN_MODE=${BENCH_TOKEN_MODE:-auto}
RESULTS=${BENCH_RESULTS-$ROOT/bench/RESULTS.md}
PASSWORD='Bench-Passw0rd-2026!'
SECRET_KEY='tenantry-benchmark-secret-key-0123456789abcdef'

if [[ -z "${CARGO_TARGET_DIR:-}" && -d /work/.cache ]]; then export CARGO_TARGET_DIR=/work/.cache/target; fi
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tenantry}
export BENCH_WRK_DIR=$ROOT/bench/wrk

step() { printf '\n== %s\n' "$*"; }
die() { echo "bench: $*" >&2; exit 1; }

# ------------------------------------------------------------------ tools
need_tools() {
  local missing=()
  for t in wrk psql pgbench python3 curl; do command -v "$t" >/dev/null || missing+=("$t"); done
  if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || die "missing tools: ${missing[*]}"
    echo "installing ${missing[*]} with apt-get"
    local pkgs=()
    for t in "${missing[@]}"; do
      case $t in psql | pgbench) pkgs+=(postgresql-client) ;; python3) pkgs+=(python3) ;; *) pkgs+=("$t") ;; esac
    done
    apt-get install -y -qq "${pkgs[@]}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${pkgs[@]}" >/dev/null; }
  fi
}

# ------------------------------------------------------------------ server helpers
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs the binary from the run folder with only the settings given here (no .env).
tenantry() {
  (cd "$RUN" && env -u DATABASE_URL SECRET_KEY="$SECRET_KEY" TENANTRY_DATA_DIR="$HOME_DIR" \
    STORAGE_PATH="$HOME_DIR/storage" "$@")
}

server_env() { # database-name port
  echo DATABASE_URL="$ADMIN_URL/$1" BIND_ADDR="127.0.0.1:$2" BASE_URL="http://127.0.0.1:$2" \
    LOG_FORMAT=json ACCESS_TOKEN_EXPIRE_MINUTES=240 \
    RATE_LIMIT_LOGIN_PER_MINUTE=1000000000 RATE_LIMIT_ACCOUNT_PER_MINUTE=1000000000 \
    RATE_LIMIT_API_PER_MINUTE=${BENCH_API_LIMIT:-1000000000} RATE_LIMIT_TENANT_PER_MINUTE=${BENCH_API_LIMIT:-1000000000}
}

start_server() { # database-name
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  # shellcheck disable=SC2046
  (cd "$RUN" && exec env -u DATABASE_URL SECRET_KEY="$SECRET_KEY" STORAGE_PATH="$HOME_DIR/storage" \
    $(server_env "$1" "$PORT") "$BIN" serve --no-migrate >>"$RUN/server-$1.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    curl -fs "$BASE/ready" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited; see $RUN/server-$1.log"
    sleep 0.1
  done
  die "server not ready after 30 s; see $RUN/server-$1.log"
}

stop_server() {
  if [[ -n "${SERVER_PID:-}" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

stop_cluster() {
  [[ "${BENCH_KEEP_PG:-0}" == 1 || -z "${PG_DATA:-}" ]] && return 0
  local pg_ctl
  pg_ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1)
  pg_ctl=${pg_ctl:-$(command -v pg_ctl || true)}
  [[ -n "$pg_ctl" ]] || return 0
  if [[ $(id -u) == 0 ]]; then
    runuser -u postgres -- "$pg_ctl" -D "$PG_DATA" stop -m fast >/dev/null 2>&1 || true
  else
    "$pg_ctl" -D "$PG_DATA" stop -m fast >/dev/null 2>&1 || true
  fi
}

cleanup() {
  stop_server
  for pid in ${LOAD_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
  stop_cluster
}
trap cleanup EXIT

# ------------------------------------------------------------------ data sets
# Drops, migrates and seeds `name` unless it already holds exactly this data set.
prepare_db() { # name tenants projects-per-tenant users-per-tenant documents
  local name=$1 url="$ADMIN_URL/$1"
  local want="tenantry-bench tenants=$2 projects_per_tenant=$3 users_per_tenant=$4 documents=$5 v1"
  local have
  have=$(psql "$ADMIN_URL/postgres" -qAtX -c \
    "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '$name'")
  echo "database $name: $2 tenants x $3 projects"
  if [[ "$have" != "$want" ]]; then
    PGOPTIONS='-c client_min_messages=warning' psql "$ADMIN_URL/postgres" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
    tenantry DATABASE_URL="$url" "$BIN" migrate >/dev/null
    # One real Argon2id hash, made by the server's own code, shared by every bench user.
    tenantry DATABASE_URL="$url" SUPER_ADMIN_PASSWORD="$PASSWORD" \
      "$BIN" create-super-admin --email bench-admin@bench.test >/dev/null
    local hash
    hash=$(psql "$url" -qAtX -c "SELECT password_hash FROM users WHERE email = 'bench-admin@bench.test'")
    [[ "$hash" == '$argon2id$'* ]] || die "unexpected password hash format: $hash"
    "$ROOT/bench/seed.sh" "$url" "$2" "$3" "$4" "$5" "$hash"
  else
    echo "  already seeded"
    # Migrations added since the seeding (/ready answers 503 while any is pending).
    tenantry DATABASE_URL="$url" "$BIN" migrate >/dev/null
  fi
}

# ------------------------------------------------------------------ load
# run_wrk NAME CONNECTIONS THREADS SCRIPT [VAR=value ...]: one wrk run into $RUN/NAME.{txt,json}
run_wrk() {
  local name=$1 conns=$2 threads=$3 script=$4
  shift 4
  env BENCH_RESULT="$RUN/$name.json" BENCH_TOKENS="${TOKENS_FILE:-}" BENCH_LOGINS="${LOGINS_FILE:-}" "$@" \
    wrk -t"$threads" -c"$conns" -d"${DUR:-$DURATION}s" --timeout 10s --latency \
    -s "$BENCH_WRK_DIR/$script" "$BASE" >"$RUN/$name.txt" 2>&1 || die "wrk $name failed: $(tail -3 "$RUN/$name.txt")"
  printf '  %-22s %s\n' "$name" "$(sed -n 's/^RESULT //p' "$RUN/$name.txt")"
}

# Fixed modest rate: a few connections, each pausing between requests.
fixed() { # NAME SCRIPT [VAR=value ...]
  local name=$1 script=$2 conns=4
  shift 2
  run_wrk "$name" "$conns" 1 "$script" WRK_DELAY_MS=$((conns * 1000 / FIXED_RATE)) "$@"
}

run_pgbench() { # NAME DATABASE
  local ntok=$NTOKENS
  ((ntok > TENANTS)) && ntok=$TENANTS
  local stride=$((TENANTS / ntok))
  rm -f "$RUN/$1".log*
  (cd "$RUN" && pgbench -n -M prepared -c "$PG_CLIENTS" -j 2 -T "$DURATION" -D ntok="$ntok" -D stride="$stride" \
    -f "$ROOT/bench/pgbench/list.sql" -l --log-prefix="$1.log" "$ADMIN_URL/$2") >"$RUN/$1.txt" 2>&1 ||
    die "pgbench failed: $(tail -5 "$RUN/$1.txt")"
  python3 - "$RUN" "$1" <<'PY'
import glob, json, sys
run, name = sys.argv[1:]
lat = sorted(int(l.split()[2]) for f in glob.glob(f"{run}/{name}.log*") for l in open(f))
text = open(f"{run}/{name}.txt").read()
tps = float(text.split("tps = ")[1].split()[0])
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000
res = {"requests": len(lat), "rps": tps, "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
       "max_ms": lat[-1] / 1000, "non2xx": 0, "socket_errors": 0}
json.dump(res, open(f"{run}/{name}.json", "w"))
print(f"  {name:<22} {json.dumps(res)}")
PY
  rm -f "$RUN/$1".log*
}

get_tokens() { # DATABASE TENANTS COUNT
  TOKENS_FILE=$RUN/tokens-$1.tsv
  LOGINS_FILE=$RUN/logins-$1.tsv
  python3 "$ROOT/bench/tokens.py" --base "$BASE" --tenants "$2" --projects-per-tenant "$PPT" \
    --users-per-tenant "$UPT" --count "$3" --password "$PASSWORD" --out "$TOKENS_FILE" --logins "$LOGINS_FILE" \
    --mode "$TOKEN_MODE" --db "$ADMIN_URL/$1" --secret "$SECRET_KEY" --issuer "$BASE"
}

# ================================================================== main
need_tools
mkdir -p "$HOME_DIR/runs"
RUN=$HOME_DIR/runs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
echo "bench: run folder $RUN"

BUILD_NOTE=""
[[ "${BENCH_SKIP_BUILD:-0}" == 1 ]] && BUILD_NOTE="; binary not rebuilt (BENCH_SKIP_BUILD=1), so it may predate the commit shown"
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  step "cargo build --release"
  cargo build --release --quiet
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

step "private PostgreSQL (embedded cluster in $HOME_DIR/pg)"
tenantry "$BIN" migrate >/dev/null
PG_PORT=$(cat "$HOME_DIR/pg/port")
PG_DATA=$HOME_DIR/pg/data
ADMIN_URL=postgres://postgres@127.0.0.1:$PG_PORT
echo "PostgreSQL $(psql "$ADMIN_URL/postgres" -qAtX -c 'SHOW server_version') on 127.0.0.1:$PG_PORT"

step "data sets"
# One database per data set, so a smoke run with other sizes leaves the large one alone.
BIG=bench_${TENANTS}x${PPT}_u${UPT}_d${DOCS} SMALL_DOCS=$((DOCS * SMALL_TENANTS / TENANTS))  # same documents per tenant as the large set
SMALL=bench_${SMALL_TENANTS}x${PPT}_u${UPT}_d${SMALL_DOCS}
prepare_db "$BIG" "$TENANTS" "$PPT" "$UPT" "$DOCS"
prepare_db "$SMALL" "$SMALL_TENANTS" "$PPT" "$UPT" "$SMALL_DOCS"
psql "$ADMIN_URL/postgres" -qAtX -c "CHECKPOINT" >/dev/null
if [[ "${BENCH_SEED_ONLY:-0}" == 1 ]]; then echo "BENCH_SEED_ONLY=1: data sets ready"; exit 0; fi

step "cold start to /ready (migrated database, 3 runs)"
CS_PORT=$(free_port)
# shellcheck disable=SC2046
(cd "$RUN" && env -u DATABASE_URL SECRET_KEY="$SECRET_KEY" STORAGE_PATH="$HOME_DIR/storage" $(server_env "$BIG" "$CS_PORT") \
  python3 "$ROOT/bench/coldstart.py" --port "$CS_PORT" --runs 3 --log "$RUN/coldstart.log" -- "$BIN" serve) \
  >"$RUN/coldstart.json"
echo "  $(cat "$RUN/coldstart.json")"

step "server on $BIG"
start_server "$BIG"
sleep 1
echo "{\"idle_kb\": $(status_kb "$SERVER_PID" VmRSS)}" >"$RUN/rss-idle.json"
echo "  pid $SERVER_PID at $BASE, idle RSS $(status_kb "$SERVER_PID" VmRSS) kB"
get_tokens "$BIG" "$TENANTS" "$NTOKENS"
cp "$TOKENS_FILE.mode" "$RUN/token-mode"

step "scenarios ($DURATION s each)"
DUR=$WARMUP run_wrk warmup "$CONNS" "$THREADS" authed.lua BENCH_SCENARIO=list >/dev/null
# The throughput ratio alternates the two twice (list, pgbench, list, pgbench):
# on a shared 2-core VM consecutive 10 s runs drift by ±10 %, so one pair alone
# can land on either side of the target.
run_wrk list "$CONNS" "$THREADS" authed.lua BENCH_SCENARIO=list
run_pgbench pgbench_list "$BIG"
run_wrk list_2 "$CONNS" "$THREADS" authed.lua BENCH_SCENARIO=list
run_pgbench pgbench_list_2 "$BIG"
run_wrk get "$CONNS" "$THREADS" authed.lua BENCH_SCENARIO=get
run_wrk create "$CONNS" "$THREADS" authed.lua BENCH_SCENARIO=create
# Keep the data set as seeded for the next run (the audit rows stay).
psql "$ADMIN_URL/$BIG" -qAtX -c "DELETE FROM projects WHERE name LIKE 'Bench created %'" -c "VACUUM (ANALYZE) projects" >/dev/null
run_wrk status "$CONNS" "$THREADS" authed.lua BENCH_SCENARIO=status

# Login throughput: /auth/login alone at saturation (logins per second per core).
run_wrk login "$CONNS" "$THREADS" login.lua
# Logins wrk left queued when it stopped still run for a moment: let them drain
# before the fixed-rate baseline.
sleep 3

# Login flood: the measured endpoints at a fixed modest rate, alone and then
# while /auth/login runs at saturation.
LOAD_PIDS=
DUR=$FIXED_DURATION
fixed_set() { # suffix
  fixed "fixed_list$1" authed.lua BENCH_SCENARIO=list &
  LOAD_PIDS="$LOAD_PIDS $!"
  fixed "fixed_status$1" authed.lua BENCH_SCENARIO=status &
  LOAD_PIDS="$LOAD_PIDS $!"
  fixed "fixed_health$1" plain.lua BENCH_PATH=/health &
  LOAD_PIDS="$LOAD_PIDS $!"
}
fixed_set _alone
wait $LOAD_PIDS
LOAD_PIDS=
fixed_set _flood
run_wrk login_flood "$CONNS" "$THREADS" login.lua &
LOAD_PIDS="$LOAD_PIDS $!"
wait $LOAD_PIDS
LOAD_PIDS=
DUR=
# The server's own measure of Argon2id's CPU cost per hash (password_hash_cpu_seconds).
curl -fs "$BASE/metrics" >"$RUN/metrics.txt" || echo "  (no /metrics)"

echo "{\"peak_kb\": $(status_kb "$SERVER_PID" VmHWM)}" >"$RUN/rss-peak.json"
sleep 2
echo "{\"after_kb\": $(status_kb "$SERVER_PID" VmRSS)}" >"$RUN/rss-after.json"
echo "  RSS peak $(status_kb "$SERVER_PID" VmHWM) kB, after load $(status_kb "$SERVER_PID" VmRSS) kB"
stop_server

step "growth: list on $SMALL ($SMALL_TENANTS x $PPT rows)"
start_server "$SMALL"
get_tokens "$SMALL" "$SMALL_TENANTS" "$NTOKENS"
DUR=$WARMUP run_wrk warmup_small "$CONNS" "$THREADS" authed.lua BENCH_SCENARIO=list >/dev/null
run_wrk list_small "$CONNS" "$THREADS" authed.lua BENCH_SCENARIO=list
DUR=$FIXED_DURATION fixed fixed_list_small authed.lua BENCH_SCENARIO=list
stop_server

step "results"
python3 "$ROOT/bench/report.py" --run "$RUN" --command "$COMMAND" --results "$RESULTS" \
  --dataset "$TENANTS x $PPT projects ($((TENANTS * PPT)) rows), $((TENANTS * UPT)) users, $DOCS documents; growth: $SMALL_TENANTS x $PPT" \
  --settings "wrk -t$THREADS -c$CONNS, ${DURATION} s per scenario, $NTOKENS tokens; fixed rate $FIXED_RATE req/s per endpoint for $FIXED_DURATION s; pgbench -c $PG_CLIENTS -j 2 -M prepared$BUILD_NOTE" \
  --pg "$ADMIN_URL/postgres"

# Shared by bench/ratio.sh and bench/memory.sh (sourced, not run): the data set
# bench/run.sh seeds, a release server on it, and tokens for the load scripts.
# Settings as in bench/run.sh (BENCH_TENANTS, BENCH_PROJECTS_PER_TENANT,
# BENCH_USERS_PER_TENANT, BENCH_DOCUMENTS, BENCH_HOME, BENCH_BIN, BENCH_SKIP_BUILD).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TENANTS=${BENCH_TENANTS:-50}
PPT=${BENCH_PROJECTS_PER_TENANT:-100}
UPT=${BENCH_USERS_PER_TENANT:-5}
DOCS=${BENCH_DOCUMENTS:-5000}
NTOKENS=${BENCH_TOKENS:-200}
HOME_DIR=${BENCH_HOME:-$ROOT/bench/.data}
PASSWORD='Bench-Passw0rd-2026!'
SECRET_KEY='tenantry-benchmark-secret-key-0123456789abcdef'
if [[ -z "${CARGO_TARGET_DIR:-}" && -d /work/.cache ]]; then export CARGO_TARGET_DIR=/work/.cache/target; fi
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tenantry}
export BENCH_WRK_DIR=$ROOT/bench/wrk
DB=bench_${TENANTS}x${PPT}_u${UPT}_d${DOCS}

die() { echo "bench: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# Seeds (or reuses) the data set with bench/run.sh and leaves PostgreSQL up.
bench_dataset() {
  BENCH_SEED_ONLY=1 BENCH_KEEP_PG=1 BENCH_SMALL_TENANTS=$TENANTS BENCH_TENANTS=$TENANTS \
    BENCH_PROJECTS_PER_TENANT=$PPT BENCH_USERS_PER_TENANT=$UPT BENCH_DOCUMENTS=$DOCS \
    "$ROOT/bench/run.sh" >"$RUN/seed.log" 2>&1 || die "seeding failed: $(tail -5 "$RUN/seed.log")"
  PG_PORT=$(cat "$HOME_DIR/pg/port")
  ADMIN_URL=postgres://postgres@127.0.0.1:$PG_PORT
}

# Starts the release server with DATABASE_URL=$1 (default: the data set, directly).
bench_server() {
  local url=${1:-$ADMIN_URL/$DB}
  PORT=$(free_port)
  BASE=http://127.0.0.1:$PORT
  (cd "$RUN" && exec env -u DATABASE_URL DATABASE_URL="$url" BIND_ADDR=127.0.0.1:$PORT BASE_URL=$BASE \
    SECRET_KEY="$SECRET_KEY" LOG_FORMAT=${BENCH_LOG_FORMAT:-json} ACCESS_TOKEN_EXPIRE_MINUTES=240 STORAGE_PATH="$HOME_DIR/storage" \
    RATE_LIMIT_LOGIN_PER_MINUTE=1000000000 RATE_LIMIT_ACCOUNT_PER_MINUTE=1000000000 \
    RATE_LIMIT_API_PER_MINUTE=1000000000 RATE_LIMIT_TENANT_PER_MINUTE=1000000000 \
    "$BIN" serve --no-migrate >>"$RUN/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    curl -fs "$BASE/ready" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited; see $RUN/server.log"
    sleep 0.1
  done
  die "server not ready; see $RUN/server.log"
}

bench_stop_server() {
  if [[ -n "${SERVER_PID:-}" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

# Signs $NTOKENS users in (real logins) and writes tokens and login credentials.
bench_tokens() {
  TOKENS_FILE=$RUN/tokens.tsv
  LOGINS_FILE=$RUN/logins.tsv
  python3 "$ROOT/bench/tokens.py" --base "$BASE" --tenants "$TENANTS" --projects-per-tenant "$PPT" \
    --users-per-tenant "$UPT" --count "$NTOKENS" --password "$PASSWORD" --out "$TOKENS_FILE" \
    --logins "$LOGINS_FILE" --mode login >/dev/null
}

bench_prepare() {
  command -v wrk >/dev/null && command -v pgbench >/dev/null || die "needs wrk and pgbench"
  mkdir -p "$HOME_DIR/runs"
  RUN=$HOME_DIR/runs/$1-$(date +%Y%m%d-%H%M%S)
  mkdir -p "$RUN"
  if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then (cd "$ROOT" && cargo build --release --quiet); fi
  [[ -x "$BIN" ]] || die "no binary at $BIN"
  export BENCH_SKIP_BUILD=1
  bench_dataset
  echo "bench: $DB on PostgreSQL port $PG_PORT; run folder $RUN"
}

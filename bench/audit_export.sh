#!/usr/bin/env bash
# Audit export at scale:   bench/audit_export.sh
#
# Inserts BENCH_AUDIT_ROWS (1,000,000) audit rows for one tenant, chained with
# the database's own `audit_row_digest` (seq, prev_hash, SHA-256 per row) in one
# recursive CTE; starts `tenantry serve`; streams
# `GET /api/v1/audit/export` (NDJSON) with curl to /dev/null while sampling the
# server's RSS every 50 ms; prints rows/s, MB/s, idle and peak RSS. Then (unless
# BENCH_AUDIT_VERIFY=0) streams the export again into `tenantry audit verify
# --file -`, which recomputes every hash offline.
#
#   BENCH_DATABASE_URL  a PostgreSQL superuser URL; default postgres://postgres@127.0.0.1:5432
#   BENCH_AUDIT_DB      database name (dropped and re-created unless it already
#                       holds the data set); default tenantry_bench_audit
#   BENCH_AUDIT_ROWS    default 1000000
#   BENCH_BIN           the binary; default $CARGO_TARGET_DIR/release/tenantry
#                       (BENCH_PROFILE=debug: …/debug/tenantry)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ADMIN_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
DB=${BENCH_AUDIT_DB:-tenantry_bench_audit}
ROWS=${BENCH_AUDIT_ROWS:-1000000}
PROFILE=${BENCH_PROFILE:-release}
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/tenantry}
SECRET_KEY='tenantry-benchmark-secret-key-0123456789abcdef'
RUN=$(mktemp -d)
URL="$ADMIN_URL/$DB"
signature="tenantry-bench-audit rows=$ROWS v1"

die() { echo "bench: $*" >&2; exit 1; }
[[ -x "$BIN" ]] || die "no binary at $BIN (cargo build --release, or set BENCH_BIN)"
for t in psql curl python3; do command -v "$t" >/dev/null || die "missing $t"; done
psql_q() { psql "$1" -v ON_ERROR_STOP=1 -qAtX "${@:2}"; }
run() { (cd "$RUN" && env -u DATABASE_URL SECRET_KEY="$SECRET_KEY" DATABASE_URL="$URL" ENVIRONMENT=development \
  EMAIL_PROVIDER=log STORAGE_PATH="$RUN/storage" "$@"); }

SERVER_PID=
SAMPLER_PID=
cleanup() {
  [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null || true
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ data
current=$(psql_q "$ADMIN_URL/postgres" -c \
  "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$DB'")
if [[ "$current" != "$signature" ]]; then
  echo "== preparing $DB ($ROWS audit rows)"
  psql_q "$ADMIN_URL/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  run "$BIN" migrate >/dev/null
  run "$BIN" seed >"$RUN/seed.txt"
  tenant=$(psql_q "$URL" -c "SELECT id FROM tenants WHERE slug = 'acme'")
  start=$(date +%s.%N)
  # The chain is sequential (each hash covers the previous one), so a recursive
  # CTE walks it in one statement, hashing each row with the database's own
  # `audit_row_digest`; the rows are then inserted with their chain fields with
  # triggers off (session_replication_role = replica), and the chain head moved
  # to the last row. Either way each row is hashed in order; this keeps it to one
  # statement. `tenantry audit verify` below re-checks every hash.
  psql_q "$URL" <<SQL
CREATE FUNCTION pg_temp.bench_row(t uuid, base bigint, i bigint, prev bytea) RETURNS audit_logs
LANGUAGE sql IMMUTABLE AS \$\$
  SELECT ROW(t, md5('bench-audit-' || i)::uuid, base + i,
    timestamptz '2026-12-01 00:00:00+00' + i * interval '1 millisecond',
    NULL, NULL, 'project.updated', 'project', 'p-' || i,
    CASE WHEN i % 3 = 0 THEN jsonb_build_object('name', 'Projekt ' || i, 'budget', (i % 1000) / 100.0) END,
    jsonb_build_object('name', 'Projekt ' || i || ' « ünïcode »', 'budget', ((i % 1000) / 100.0)::numeric(10,2),
                       'tags', jsonb_build_array('a', i % 7, null), 'meta', jsonb_build_object('n', i)),
    '203.0.113.' || (i % 255), 'bench/1.0 "quoted"', 'req-' || i, prev, '\\x'::bytea,
    CASE WHEN i % 10 = 0 THEN 'api_key:bench' END)::audit_logs
\$\$;
SET session_replication_role = replica;
BEGIN;
SELECT seq AS base, hash AS head FROM audit_chain_heads WHERE tenant_id = '$tenant' FOR UPDATE \\gset
WITH RECURSIVE chain(i, prev, hash) AS (
    SELECT 0::bigint, NULL::bytea, :'head'::bytea
  UNION ALL
    SELECT c.i + 1, c.hash, audit_row_digest(pg_temp.bench_row('$tenant', :base, c.i + 1, c.hash))
    FROM chain c WHERE c.i < $ROWS
)
INSERT INTO audit_logs (tenant_id, id, seq, created_at, actor_id, impersonator_id, action, resource_type,
                        resource_id, old_values, new_values, ip_address, user_agent, request_id, prev_hash, hash,
                        actor_principal)
SELECT (r).tenant_id, (r).id, (r).seq, (r).created_at, (r).actor_id, (r).impersonator_id, (r).action,
       (r).resource_type, (r).resource_id, (r).old_values, (r).new_values, (r).ip_address, (r).user_agent,
       (r).request_id, c.prev, c.hash, (r).actor_principal
FROM chain c, LATERAL (SELECT pg_temp.bench_row('$tenant', :base, c.i, c.prev) AS r) l
WHERE c.i > 0;
UPDATE audit_chain_heads h SET seq = a.seq, hash = a.hash
FROM audit_logs a WHERE h.tenant_id = '$tenant' AND a.tenant_id = h.tenant_id AND a.seq = :base + $ROWS;
COMMIT;
SQL
  secs=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
  printf '  %d chained rows in %s s\n' "$ROWS" "$secs"
  psql_q "$URL" -c "VACUUM ANALYZE audit_logs"
  admin_password=$(awk '$1 == "acme" && $2 == "tenant_admin" {print $4}' "$RUN/seed.txt")
  psql_q "$ADMIN_URL/postgres" -c "COMMENT ON DATABASE $DB IS '$signature'"
  mkdir -p "$ROOT/.data"
  echo "$admin_password" >"$ROOT/.data/bench-audit-admin-password"
fi
admin_password=$(cat "$ROOT/.data/bench-audit-admin-password")

# ------------------------------------------------------------------ server
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
(cd "$RUN" && exec env -u DATABASE_URL SECRET_KEY="$SECRET_KEY" DATABASE_URL="$URL" ENVIRONMENT=development \
  EMAIL_PROVIDER=log EMAIL_WORKER=false STORAGE_PATH="$RUN/storage" BIND_ADDR="127.0.0.1:$PORT" BASE_URL="$BASE" \
  LOG_FORMAT=json RATE_LIMIT_API_PER_MINUTE=0 RATE_LIMIT_TENANT_PER_MINUTE=0 \
  "$BIN" serve --no-migrate >"$RUN/server.log" 2>&1) &
SERVER_PID=$!
for _ in $(seq 1 300); do
  curl -fs "$BASE/ready" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "server exited; see $RUN/server.log"
  sleep 0.1
done
token=$(curl -fsS "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\": \"admin@acme.example.com\", \"password\": \"$admin_password\", \"tenant_slug\": \"acme\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Rows the export will hold (the sign-in above added one).
total=$(psql_q "$URL" -c "SELECT count(*) FROM audit_logs a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = 'acme'")

rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$SERVER_PID/status"; }
sample() { # keeps the peak VmRSS (kB) in $RUN/peak until killed
  local peak=0 v
  while :; do
    v=$(rss_kb) && ((v > peak)) && peak=$v
    echo "$peak" >"$RUN/peak"
    sleep 0.05
  done
}

# Warm-up: one small export (first connection, first plan), then settle.
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$BASE/api/v1/audit/export?from=2999-01-01"
sleep 1
idle=$(rss_kb)
sample &
SAMPLER_PID=$!
start=$(date +%s.%N)
read -r bytes http <<<"$(curl -sS -o /dev/null -w '%{size_download} %{http_code}' \
  -H "Authorization: Bearer $token" "$BASE/api/v1/audit/export?format=ndjson")"
end=$(date +%s.%N)
sleep 0.2
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=
peak=$(cat "$RUN/peak")
after=$(rss_kb)
[[ "$http" == 200 ]] || die "export answered $http"

python3 - "$total" "$bytes" "$start" "$end" "$idle" "$peak" "$after" "$BIN" <<'EOF'
import sys
rows, size, start, end, idle, peak, after, binary = sys.argv[1:]
secs = float(end) - float(start)
print(f"export: {int(rows):,} rows, {int(size) / 1e6:.0f} MB in {secs:.1f} s = "
      f"{int(rows) / secs:,.0f} rows/s ({int(size) / 1e6 / secs:.1f} MB/s)")
print(f"server RSS: idle {int(idle) / 1024:.1f} MB, peak during the export {int(peak) / 1024:.1f} MB, "
      f"after {int(after) / 1024:.1f} MB (binary {binary})")
EOF

if [[ "${BENCH_AUDIT_VERIFY:-1}" == 1 ]]; then
  start=$(date +%s.%N)
  curl -fsS -H "Authorization: Bearer $token" "$BASE/api/v1/audit/export?format=ndjson" |
    "$BIN" audit verify --file - | head -2
  end=$(date +%s.%N)
  python3 -c "print(f'export piped into tenantry audit verify: {$total / ($end - $start):,.0f} rows/s')"
fi

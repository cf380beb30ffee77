#!/usr/bin/env bash
# Server time of every console page:   bench/console_pages.sh
#
# Signs in through the console's own /login form (CSRF token and cookie, as a
# browser does) as a tenant admin and as a super admin, then requests each page
# it knows BENCH_REQUESTS times (default 50), one at a time, and prints p50/p95
# of the server time: curl's time to the first byte minus its time until the
# request was sent (on loopback, that is the server's work plus ~0.1 ms).
#
# Two ways to run it:
#   1. Against a server you started (e.g. `cargo run --release -- serve --seed`):
#        BASE_URL=http://127.0.0.1:8000 \
#        SUPER_ADMIN_EMAIL=... SUPER_ADMIN_PASSWORD=... \
#        TENANT_ADMIN_EMAIL=admin@acme.example.com TENANT_ADMIN_PASSWORD=<printed by the seed> \
#        bench/console_pages.sh
#   2. Self-contained (no BASE_URL): needs DATABASE_URL of a PostgreSQL superuser
#      (e.g. postgres://postgres@127.0.0.1:5432/postgres). It creates the database
#      tenantry_console_bench afresh, starts `tenantry serve --seed` on a free
#      loopback port with a super admin, reads the seeded admin's password from
#      the seed's output, measures, and stops the server.
#
# Settings: BENCH_REQUESTS=50  BENCH_BIN=path (default: $CARGO_TARGET_DIR/release/tenantry;
#           BENCH_PROFILE=debug for the debug build)  BENCH_TARGET_MS=50 (the pass line)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${BENCH_REQUESTS:-50}
TARGET_MS=${BENCH_TARGET_MS:-50}
PROFILE=${BENCH_PROFILE:-release}
BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/tenantry}
WORK=$(mktemp -d)
SERVER_PID=

die() { echo "console_pages: $*" >&2; exit 1; }
for t in curl python3; do command -v "$t" >/dev/null || die "needs $t"; done

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# ------------------------------------------------------------------ the server
if [[ -z "${BASE_URL:-}" ]]; then
  [[ -n "${DATABASE_URL:-}" ]] || die "set BASE_URL (a running server) or DATABASE_URL (a PostgreSQL to start one on)"
  [[ -x "$BIN" ]] || die "no binary at $BIN (cargo build --release, or BENCH_BIN=...)"
  command -v psql >/dev/null || die "needs psql"
  DB=tenantry_console_bench
  psql -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  BASE_URL=http://127.0.0.1:$PORT
  SUPER_ADMIN_EMAIL=${SUPER_ADMIN_EMAIL:-root@console-bench.test}
  SUPER_ADMIN_PASSWORD=${SUPER_ADMIN_PASSWORD:-Console-Bench-Passw0rd!}
  (cd "$WORK" && exec env DATABASE_URL="${DATABASE_URL%/*}/$DB" BIND_ADDR="127.0.0.1:$PORT" BASE_URL="$BASE_URL" \
    SECRET_KEY=console-bench-secret-key-0123456789abcdef0123 STORAGE_PATH="$WORK/storage" \
    SUPER_ADMIN_EMAIL="$SUPER_ADMIN_EMAIL" SUPER_ADMIN_PASSWORD="$SUPER_ADMIN_PASSWORD" \
    EMAIL_PROVIDER=log EMAIL_WORKER=false MAINTENANCE_INTERVAL_SECS=0 RUST_LOG=warn \
    RATE_LIMIT_LOGIN_PER_MINUTE=1000000 RATE_LIMIT_ACCOUNT_PER_MINUTE=1000000 \
    RATE_LIMIT_API_PER_MINUTE=1000000000 RATE_LIMIT_TENANT_PER_MINUTE=1000000000 \
    "$BIN" serve --seed >"$WORK/server.out" 2>"$WORK/server.err") &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    curl -fs "$BASE_URL/ready" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; die "the server exited"; }
    sleep 0.1
  done
  curl -fs "$BASE_URL/ready" >/dev/null || die "the server is not ready after 60 s"
  TENANT_ADMIN_EMAIL=admin@acme.example.com
  TENANT_ADMIN_PASSWORD=$(awk '$1 == "acme" && $2 == "tenant_admin" {print $4}' "$WORK/server.out")
  [[ -n "$TENANT_ADMIN_PASSWORD" ]] || die "no seeded tenant admin in the seed's output"
fi
: "${SUPER_ADMIN_EMAIL:?}" "${SUPER_ADMIN_PASSWORD:?}" "${TENANT_ADMIN_EMAIL:?}" "${TENANT_ADMIN_PASSWORD:?}"

# ------------------------------------------------------------------ signing in
# Signs in through /login with the page's CSRF token; the cookie jar is $1.
sign_in() { # jar email password
  local jar=$1 csrf
  csrf=$(curl -fsS -c "$jar" "$BASE_URL/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
  [[ -n "$csrf" ]] || die "no CSRF token on /login"
  curl -fsS -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf_token=$csrf" \
    --data-urlencode "email=$2" --data-urlencode "password=$3" "$BASE_URL/login"
  grep -q tenantry_session "$jar" || die "sign-in of $2 failed"
}
TENANT_JAR=$WORK/tenant.jar SUPER_JAR=$WORK/super.jar
sign_in "$TENANT_JAR" "$TENANT_ADMIN_EMAIL" "$TENANT_ADMIN_PASSWORD"
sign_in "$SUPER_JAR" "$SUPER_ADMIN_EMAIL" "$SUPER_ADMIN_PASSWORD"

first_link() { # jar page prefix → the first href under prefix/<uuid>
  curl -fsS -b "$1" "$BASE_URL$2" | grep -o "href=\"$3/[0-9a-f-]\{36\}\"" | head -1 | sed 's/href="\(.*\)"/\1/'
}
USER_PAGE=$(first_link "$TENANT_JAR" /admin/users /admin/users)
ROLE_PAGE=$(first_link "$TENANT_JAR" /admin/roles /admin/roles)
PROJECT_PAGE=$(first_link "$TENANT_JAR" /projects /projects)
TENANT_PAGE=$(curl -fsS -b "$SUPER_JAR" "$BASE_URL/platform/tenants?search=acme" |
  grep -o 'href="/platform/tenants/[0-9a-f-]\{36\}"' | head -1 | sed 's/href="\(.*\)"/\1/')

# ------------------------------------------------------------------ measuring
PAGES=(
  "- /login"
  "tenant /account" "tenant /account/password" "tenant /account/mfa" "tenant /account/sessions"
  "tenant /account/activity" "tenant /admin/users" "tenant /admin/users?search=a&sort=-email"
  "tenant /admin/users/invite" "tenant ${USER_PAGE:-/admin/users}" "tenant /admin/roles"
  "tenant /admin/roles/new" "tenant ${ROLE_PAGE:-/admin/roles}"
  "tenant /overview" "tenant /projects" "tenant /projects?search=a" "tenant ${PROJECT_PAGE:-/projects}"
  "tenant /projects/search?q=project" "tenant /audit" "tenant /admin/sso" "tenant /admin/scim"
  "tenant /admin/api-keys" "tenant /admin/webhooks"
  "super /platform" "super /platform?days=365" "super /platform/tenants" "super /platform/tenants/new"
  "super ${TENANT_PAGE:-/platform/tenants}" "super ${TENANT_PAGE:-/platform/tenants}/delete"
  "super /platform/security"
)
RESULTS=$WORK/results.tsv
: >"$RESULTS"
for entry in "${PAGES[@]}"; do
  who=${entry%% *} path=${entry#* }
  case $who in tenant) jar=$TENANT_JAR ;; super) jar=$SUPER_JAR ;; *) jar=/dev/null ;; esac
  for _ in $(seq 1 "$N"); do
    curl -s -o /dev/null -b "$jar" -w "$who\t$path\t%{http_code}\t%{time_pretransfer}\t%{time_starttransfer}\n" \
      "$BASE_URL$path" >>"$RESULTS"
  done
done

python3 - "$RESULTS" "$N" "$TARGET_MS" "$BASE_URL" <<'PY'
import sys, collections
path, n, target, base = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rows = collections.OrderedDict()
for line in open(path):
    who, page, code, pre, first = line.rstrip("\n").split("\t")
    rows.setdefault((who, page), []).append((code, (float(first) - float(pre)) * 1000))
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]
print(f"Console pages on {base}, {n} sequential requests each; server time = first byte - request sent.\n")
print("| page | as | status | p50 ms | p95 ms |")
print("|---|---|---|---:|---:|")
worst, bad = 0.0, []
for (who, page), samples in rows.items():
    codes = sorted({c for c, _ in samples})
    times = [t for _, t in samples]
    p50, p95 = pct(times, 50), pct(times, 95)
    worst = max(worst, p95)
    if codes != ["200"]:
        bad.append(f"{page} answered {','.join(codes)}")
    print(f"| `{page}` | {who if who != '-' else 'anyone'} | {','.join(codes)} | {p50:.2f} | {p95:.2f} |")
print()
verdict = "pass" if worst < target and not bad else "FAIL"
print(f"Slowest p95: {worst:.2f} ms (target < {target:g} ms): {verdict}")
for b in bad:
    print(f"  not 200: {b}")
sys.exit(0 if verdict == "pass" else 1)
PY

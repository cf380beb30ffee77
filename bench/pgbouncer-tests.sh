#!/usr/bin/env bash
# Runs the API test suite with every test server reaching PostgreSQL through a
# PgBouncer in transaction mode (started here on a free port, in front of
# DATABASE_URL's cluster, with a wildcard database entry), in the server's
# transaction-pooler mode (`statement-cache-capacity=0` in its DATABASE_URL;
# tests/api/helpers/db.rs). Test setup (template, per-test databases, superuser
# checks) still connects directly.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/pgbouncer-tests.sh [cargo test filters...]
#
# PgBouncer is set up as the README documents (connect_query sets the runtime
# role on each server connection: the tests that open raw pool transactions see
# tenantry_app as there). Skipped: tests/api/scale, which starts its own
# PgBouncer and server processes.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must name the test cluster (a superuser)}"
command -v pgbouncer >/dev/null || { echo "pgbouncer is not installed (apt-get install -y pgbouncer)" >&2; exit 1; }
host=$(python3 -c 'import sys, urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or 5432, p.username or "postgres")' "$DATABASE_URL")
read -r PG_HOST PG_PORT PG_USER <<<"$host"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
cat >"$DIR/pgbouncer.ini" <<INI
[databases]
* = host=$PG_HOST port=$PG_PORT connect_query='SET ROLE tenantry_app'
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits,options
logfile = $DIR/pgbouncer.log
INI
echo "\"$PG_USER\" \"\"" >"$DIR/users.txt"
if [[ $(id -u) == 0 ]]; then
  chown -R postgres "$DIR"
  runuser -u postgres -- pgbouncer "$DIR/pgbouncer.ini" >/dev/null 2>&1 &
else
  pgbouncer "$DIR/pgbouncer.ini" >/dev/null 2>&1 &
fi
BOUNCER=$!
trap 'kill $BOUNCER 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 50); do (echo >/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.1; done
echo "pgbouncer $(pgbouncer --version | head -1 | awk '{print $2}') on 127.0.0.1:$PORT (transaction mode, 4 server connections per test database)"
TENANTRY_TEST_PGBOUNCER_PORT=$PORT cargo test --test api "$@" -- --skip scale::

#!/usr/bin/env bash
# Backup and restore drill: pg_dump of a live tenantry database, restored into a
# fresh PostgreSQL cluster, `tenantry serve` on the copy, every tenant's audit
# chain verified and a sample of sign-ins made. Private clusters only (local
# server binaries, free ports, under DRILL_HOME=bench/.data/drill); the machine's
# own PostgreSQL is not touched. DRILL_TENANTS=10; TENANTRY_BIN picks the binary.
# Exit code 1 when any check fails. The steps: bench/restore_drill.py; the
# runbook: README → Backup and restore.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in psql pg_dump pg_dumpall pg_restore python3; do
  command -v "$t" >/dev/null || { echo "restore_drill: $t is missing" >&2; exit 1; }
done
exec python3 bench/restore_drill.py "$@"

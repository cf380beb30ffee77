#!/usr/bin/env python3
"""Backup and restore drill (see bench/restore_drill.sh and README → Backup and restore).

1. Source: a private cluster, migrated, DRILL_TENANTS tenants seeded, then real
   traffic through `tenantry serve` (sign-ins, project creates and updates,
   invitations) so every tenant has an audit chain the server wrote itself.
2. Backup, with the server still running: `pg_dumpall --roles-only` (the
   tenantry_app / tenantry_platform roles are cluster-wide, not in a database
   dump) and `pg_dump -Fc`.
3. Restore into a fresh cluster (new initdb, new port): roles, then
   `pg_restore --exit-on-error`.
4. Checks: per-table row counts and checksums equal the source's; `tenantry
   serve --no-migrate` on the copy is ready (no pending migration); every
   tenant's audit chain verifies (SQL `audit_verify_chain` and the super-admin
   `GET /api/v1/admin/audit/verify`); a sample of users of every tenant signs in;
   a token issued by the source before the dump still works; a write on the copy
   extends its tenant's chain and it still verifies.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    ADMIN_EMAIL, ROOT, Client, Cluster, Server, bench_user, log, login, prepare_database,
)

TENANTS = int(os.environ.get("DRILL_TENANTS", "10"))
HOME = os.path.abspath(os.environ.get("DRILL_HOME", f"{ROOT}/bench/.data/drill"))
TABLES = ["tenants", "users", "user_roles", "roles", "projects", "documents", "audit_logs", "audit_chain_heads",
          "sessions", "refresh_tokens", "invitations", "email_outbox", "login_attempts"]
FAILED = []


def check(ok, what):
    log(f"  {'PASS' if ok else 'FAIL'}  {what}")
    if not ok:
        FAILED.append(what)


def fingerprint(cluster, db):
    """table → (rows, md5 of the rows in a fixed order), for the tables present."""
    present = set(cluster.psql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'",
                               db).split(","))
    out = {}
    for t in TABLES:
        if t in present:
            out[t] = cluster.psql(f"SELECT count(*) || ' ' || coalesce(md5(string_agg(md5(x::text), '' ORDER BY "
                                  f"md5(x::text))), '-') FROM {t} x", db)
    return out


def chains(cluster, db):
    """tenant id → (rows checked, first broken row or '')."""
    rows = cluster.rows("SELECT t.id, v.checked, coalesce(v.first_broken_id::text, '') "
                        "FROM tenants t, audit_verify_chain(t.id) v ORDER BY t.id", db)
    return {r[0]: (int(r[1]), r[2]) for r in rows}


def traffic(server):
    """Sign-ins and writes in every tenant, through the API (audit rows written by the server)."""
    c = Client(server.port)
    tokens = {}
    for k in range(1, TENANTS + 1):
        email, slug = bench_user(k, 1)
        token = login(server.port, email, slug, client=c)["access_token"]
        tokens[slug] = token
        for j in range(3):
            status, p = c.call("POST", "/api/v1/projects", {"name": f"drill {k}-{j}"}, token)
            assert status == 201, (status, p)
        status, _ = c.call("PUT", f"/api/v1/projects/{p['id']}", {"description": "edited before the backup"}, token)
        assert status == 200, status
        status, body = c.call("POST", "/api/v1/users/invite", {"email": f"drill-{k}@invite.bench.test"}, token)
        assert status == 201, (status, body)
        login(server.port, *bench_user(k, 3), client=c)
    return tokens


def main():
    run = f"{HOME}/runs/{time.strftime('%Y%m%d-%H%M%S')}"
    os.makedirs(run, exist_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres", run], check=True)
    log(f"restore drill: run folder {run}")
    source = Cluster(f"{HOME}/source").init().start()
    copy = Cluster(f"{HOME}/restored")
    servers = []
    try:
        log(f"== source: {TENANTS} tenants seeded, then traffic through the server")
        url = prepare_database(source, "tenantry", TENANTS, 50, 4)
        server = Server(f"{run}/source-server", url).start()
        servers.append(server)
        tokens = traffic(server)
        before = chains(source, "tenantry")
        check(all(not broken for _, broken in before.values()),
              f"source: {len(before)} tenant chains verify ({sum(n for n, _ in before.values())} audit rows)")
        fp_source = fingerprint(source, "tenantry")

        log("== backup (server still running)")
        t0 = time.time()
        subprocess.run(["pg_dumpall", "-d", source.url(), "--roles-only", "-f", f"{run}/roles.sql"], check=True)
        subprocess.run(["pg_dump", "-d", source.url("tenantry"), "-Fc", "-f", f"{run}/tenantry.dump"], check=True)
        size = os.path.getsize(f"{run}/tenantry.dump")
        log(f"  pg_dump -Fc: {size / 1024:.0f} KiB in {time.time() - t0:.1f} s")
        server.stop()

        log("== restore into a fresh cluster")
        copy.init().start()
        t0 = time.time()
        # The `postgres` role exists already: every other statement must succeed.
        roles = subprocess.run(["psql", copy.url(), "-qX", "-f", f"{run}/roles.sql"], capture_output=True, text=True)
        errors = [e for e in roles.stderr.splitlines() if "ERROR" in e and 'role "postgres" already exists' not in e]
        check(not errors, f"roles restored {errors or ''}")
        copy.psql("CREATE DATABASE tenantry")
        subprocess.run(["pg_restore", "--exit-on-error", "-d", copy.url("tenantry"), f"{run}/tenantry.dump"], check=True)
        log(f"  restored in {time.time() - t0:.1f} s")
        fp_copy = fingerprint(copy, "tenantry")
        diff = [t for t in fp_source if fp_source[t] != fp_copy.get(t)]
        check(not diff, f"{len(fp_source)} tables: same row counts and checksums as the source {diff or ''}")

        log("== tenantry serve on the restored cluster")
        restored = Server(f"{run}/restored-server", copy.url("tenantry")).start(wait="/ready")
        servers.append(restored)
        check(True, "/ready answers 200 on the copy (database reachable, no pending migration)")
        after = chains(copy, "tenantry")
        check(after == before, f"every tenant's chain verifies on the copy (SQL), same rows as the source: {len(after)}")
        c = Client(restored.port)
        admin = login(restored.port, ADMIN_EMAIL, "system", client=c)["access_token"]
        status, report = c.call("GET", "/api/v1/admin/audit/verify", token=admin)
        ok = status == 200 and report.get("first_broken_id") is None and len(report.get("tenants", [])) == len(after)
        check(ok, f"GET /api/v1/admin/audit/verify: {status}, {len(report.get('tenants', []))} tenants, "
                  f"first broken {report.get('first_broken_id')}")
        signed = 0
        for k in range(1, TENANTS + 1):
            for i in (1, 2, 4):
                login(restored.port, *bench_user(k, i), client=c)
                signed += 1
        check(True, f"{signed} sign-ins on the copy ({TENANTS} tenants x 3 users)")
        slug = bench_user(1, 1)[1]
        status, _ = c.call("GET", "/api/v1/auth/status", token=tokens[slug])
        check(status == 200, f"a token issued by the source before the backup works on the copy: {status}")
        status, _ = c.call("POST", "/api/v1/projects", {"name": "after the restore"}, tokens[slug])
        tenant = source.psql(f"SELECT id FROM tenants WHERE slug = '{slug}'", "tenantry")
        n, broken = chains(copy, "tenantry")[tenant]
        check(status == 201 and not broken and n > before[tenant][0],
              f"a write on the copy extends the chain ({before[tenant][0]} → {n} rows) and it verifies")
    finally:
        for s in servers:
            s.stop()
        source.stop()
        copy.stop()
    if FAILED:
        print("\nFAILED:\n  " + "\n  ".join(FAILED))
        sys.exit(1)
    print("\nrestore drill: all checks passed")


if __name__ == "__main__":
    main()

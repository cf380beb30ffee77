#!/usr/bin/env python3
"""Faults under load: each scenario starts its own private processes, breaks one
of them while requests flow, and checks with HTTP and SQL what the server did.

    python3 bench/faults.py [pg] [redis] [smtp] [kill-upload] [kill-email] [disk]   (default: all)

Environment: TENANTRY_BIN (default: the newest build in $CARGO_TARGET_DIR),
FAULT_HOME (bench/.data/faults), FAULT_SMTP_DOWN seconds (60), FAULT_THREADS (6).
Prints a line per check and a markdown summary; writes results.json in the run folder.
Exit code 1 when any check failed.
"""

import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    Client, Cluster, Server, bench_user, free_port, log, login, marker, percentile, prepare_database,
)

HOME = os.path.abspath(os.environ.get("FAULT_HOME", os.path.join(os.path.dirname(__file__), ".data", "faults")))
THREADS = int(os.environ.get("FAULT_THREADS", "6"))
SMTP_DOWN = float(os.environ.get("FAULT_SMTP_DOWN", "60"))
TENANTS = 4
RESULTS = {}
FAILED = []


def check(scenario, ok, what):
    log(f"  {'PASS' if ok else 'FAIL'}  {what}")
    RESULTS.setdefault(scenario, {}).setdefault("checks", []).append({"ok": bool(ok), "check": what})
    if not ok:
        FAILED.append(f"{scenario}: {what}")


# ------------------------------------------------------------------ load
class Load:
    """THREADS clients, each signed in as a project manager of one tenant, looping
    over list (2 of 3) and create (1 of 3) until stopped. Every outcome is kept:
    (start, seconds, kind, status, project name)."""

    def __init__(self, server, tag, writes=True):
        self.server, self.tag, self.writes = server, tag, writes
        self.stop = threading.Event()
        self.results = []
        self.lock = threading.Lock()
        self.tokens = [login(server.port, *bench_user(k % TENANTS + 1, 2))["access_token"] for k in range(THREADS)]
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(THREADS)]

    def run(self, i):
        c = Client(self.server.port, timeout=30)
        n = 0
        while not self.stop.is_set():
            n += 1
            write = self.writes and n % 3 == 0
            name = f"fault-{self.tag}-{i}-{n}" if write else None
            t0 = time.time()
            try:
                if write:
                    status, _ = c.call("POST", "/api/v1/projects", {"name": name}, self.tokens[i])
                else:
                    status, _ = c.call("GET", "/api/v1/projects?page_size=20", token=self.tokens[i])
            except OSError as e:
                status = f"io:{type(e).__name__}"
                c.close()
                time.sleep(0.05)
            with self.lock:
                self.results.append((t0, time.time() - t0, "create" if write else "list", status, name))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def statuses(results):
    return dict(Counter(str(r[3]) for r in results))


# ------------------------------------------------------------------ scenarios
def scenario_pg(cluster, url, folder):
    """PostgreSQL stopped (fast shutdown) for a few seconds mid-load, then started."""
    s = "pg"
    server = Server(f"{folder}/pg", url).start()
    tag = marker()
    down = 4.0
    with Load(server, tag) as load:
        time.sleep(5)
        t_down = time.time()
        log(f"  stopping PostgreSQL (fast) for {down:.0f} s")
        cluster.stop("fast")
        time.sleep(down)
        cluster.start()
        t_up = time.time()
        log("  PostgreSQL is back")
        time.sleep(12)
    res = load.results
    server.stop()
    counts = statuses(res)
    RESULTS[s] = {"statuses": counts, "requests": len(res), "down_seconds": round(t_up - t_down, 1)}
    log(f"  statuses: {counts}")
    check(s, not any(str(r[3]).startswith("5") and r[3] != 503 for r in res), "no 5xx other than 503")
    check(s, not any(str(r[3]).startswith("io:") for r in res), "no dropped connections")
    fails = [r for r in res if r[3] == 503]
    check(s, len(fails) > 0, f"the outage was seen: {len(fails)} answers 503")
    if fails:
        p50, worst = percentile([r[1] for r in fails], 0.5), max(r[1] for r in fails)
        RESULTS[s].update({"503_p50_s": round(p50, 3), "503_max_s": round(worst, 3)})
        check(s, worst < 6.0, f"503s are fast: p50 {p50:.2f} s, max {worst:.2f} s (pool acquire timeout 5 s)")
    after = [r for r in res if r[0] > t_up]
    first_ok = min((r[0] + r[1] for r in after if r[3] in (200, 201)), default=None)
    last_bad = max((r[0] + r[1] for r in res if r[3] not in (200, 201)), default=t_down)
    if first_ok:
        RESULTS[s].update({"first_success_after_up_s": round(first_ok - t_up, 2),
                           "last_failure_after_up_s": round(last_bad - t_up, 2)})
    check(s, first_ok is not None and last_bad - t_up < 6,
          f"recovered by itself: first success {first_ok and first_ok - t_up:.2f} s after PostgreSQL was up, "
          f"last failure {last_bad - t_up:.2f} s after")
    tail = [r for r in res if r[0] > t_up + 6]
    check(s, tail and all(r[3] in (200, 201) for r in tail), f"all {len(tail)} requests from 6 s after the restart on succeeded")
    consistency(s, cluster, url, tag, res)


def consistency(s, cluster, url, tag, res):
    db = url.rsplit("/", 1)[1]
    created = {r[4] for r in res if r[3] == 201}
    rows = cluster.rows(
        "SELECT p.name, p.id, (SELECT count(*) FROM audit_logs a WHERE a.tenant_id = p.tenant_id "
        "AND a.action = 'project.created' AND a.resource_id = p.id::text) "
        f"FROM projects p WHERE p.name LIKE 'fault-{tag}-%'", db)
    names = {r[0] for r in rows}
    check(s, created <= names, f"every 201 is in the database ({len(created)} created, {len(names)} rows)")
    unanswered = names - created
    RESULTS[s]["committed_but_not_acknowledged"] = len(unanswered)
    check(s, all(r[2] == "1" for r in rows), "every created project has exactly one project.created audit row")
    orphans = cluster.psql(
        "SELECT count(*) FROM audit_logs a WHERE a.action = 'project.created' AND a.new_values->>'name' LIKE "
        f"'fault-{tag}-%' AND NOT EXISTS (SELECT 1 FROM projects p WHERE p.id::text = a.resource_id)", db)
    check(s, orphans == "0", f"no audit row without its change ({orphans})")
    drift = cluster.psql(
        "SELECT count(*) FROM tenants t WHERE t.project_count <> (SELECT count(*) FROM projects p WHERE p.tenant_id = t.id)", db)
    check(s, drift == "0", "every tenant's project counter equals its projects (no half-applied write)")
    broken = cluster.psql("SELECT count(*) FROM tenants t, audit_verify_chain(t.id) v WHERE v.first_broken_id IS NOT NULL", db)
    check(s, broken == "0", "every tenant's audit chain verifies")


def scenario_redis(cluster, url, folder):
    """Redis SIGKILLed mid-load: rate limits and sessions fall back to memory."""
    s = "redis"
    port = free_port()
    os.makedirs(f"{folder}/redis", exist_ok=True)
    redis = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                              "--appendonly", "no", "--dir", f"{folder}/redis"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    server = Server(f"{folder}/redis", url, {"REDIS_URL": f"redis://127.0.0.1:{port}",
                                             "RATE_LIMIT_API_PER_MINUTE": "100000"}).start()
    tag = marker()
    logins = []
    with Load(server, tag) as load:
        time.sleep(4)
        log("  SIGKILL redis-server")
        redis.kill()
        redis.wait()
        t_kill = time.time()
        for k in range(1, TENANTS + 1):  # sign-ins keep working (login limits in memory)
            try:
                logins.append(login(server.port, *bench_user(k, 3)) and 200)
            except RuntimeError as e:
                logins.append(str(e))
        time.sleep(8)
    res = load.results
    server.stop()
    counts = statuses(res)
    after = [r for r in res if r[0] > t_kill]
    RESULTS[s] = {"statuses": counts, "requests": len(res), "after_kill": len(after), "logins_after_kill": logins}
    log(f"  statuses: {counts}; logins after the kill: {logins}")
    check(s, all(r[3] in (200, 201) for r in res), f"nothing failed: {len(res)} requests, {len(after)} after the kill")
    check(s, all(x == 200 for x in logins), "sign-ins after the kill succeeded")
    slow = max((r[1] for r in after), default=0)
    RESULTS[s]["max_latency_after_kill_s"] = round(slow, 3)
    check(s, slow < 3, f"no request waited on the dead Redis for long (max {slow:.2f} s)")


# ------------------------------------------------------------------ SMTP
class Sink:
    """An aiosmtpd sink on a fixed port that can be stopped and started; counts
    messages per recipient. `delay` holds every DATA (a slow provider)."""

    def __init__(self, port, delay=0.0):
        self.port, self.delay = port, delay
        self.received = Counter()
        self.controller = None

    def start(self):
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if sink.delay:
                    await asyncio.sleep(sink.delay)
                for rcpt in envelope.rcpt_tos:
                    sink.received[rcpt.lower()] += 1
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None


def smtp_env(port):
    return {"EMAIL_PROVIDER": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none",
            "EMAIL_WORKER": "true", "EMAIL_FROM": "noreply@bench.test"}


def invite(server, token, emails):
    c = Client(server.port)
    out = Counter()
    for e in emails:
        status, body = c.call("POST", "/api/v1/users/invite", {"email": e}, token)
        out[status] += 1
        if status != 201:
            log(f"  invite {e}: {status} {body}")
    return out


def outbox(cluster, db, tag):
    return dict(cluster.rows(f"SELECT status, count(*) FROM email_outbox WHERE to_email LIKE 'inv-{tag}-%' GROUP BY 1", db))


def scenario_smtp(cluster, url, folder):
    """The SMTP server is down for FAULT_SMTP_DOWN seconds while mail is queued."""
    s = "smtp"
    db = url.rsplit("/", 1)[1]
    port = free_port()
    sink = Sink(port)  # not started: SMTP is down
    server = Server(f"{folder}/smtp", url, smtp_env(port)).start()
    tag = marker()
    token = login(server.port, *bench_user(1, 1))["access_token"]
    emails = [f"inv-{tag}-{i}@mail.bench.test" for i in range(20)]
    t0 = time.time()
    counts = invite(server, token, emails)
    check(s, counts == Counter({201: len(emails)}), f"{len(emails)} invitations accepted while SMTP is down: {dict(counts)}")
    time.sleep(SMTP_DOWN)
    during = outbox(cluster, db, tag)
    check(s, during.get("sent") is None and during.get("dead") is None,
          f"after {SMTP_DOWN:.0f} s of SMTP down, the mail waits in the outbox: {during}")
    sink.start()
    t_up = time.time()
    log("  SMTP sink started")
    deadline = t_up + 1500  # the backoff doubles from 10 s: a long outage means a long next wait
    while time.time() < deadline and sum(sink.received.values()) < len(emails):
        time.sleep(1)
    time.sleep(5)  # anything sent twice would arrive now
    sink.stop()
    server.stop()
    after = outbox(cluster, db, tag)
    got = {e: sink.received[e] for e in emails}
    RESULTS[s] = {"down_seconds": round(t_up - t0), "delivered_after_up_s": round(time.time() - 5 - t_up, 1),
                  "outbox_during": during, "outbox_after": after, "copies": dict(Counter(got.values()))}
    check(s, all(n == 1 for n in got.values()), f"every message went out exactly once after SMTP came back: "
                                                 f"copies per message {dict(Counter(got.values()))}")
    check(s, after == {"sent": str(len(emails))}, f"the outbox says sent for all: {after}")


def scenario_kill_email(cluster, url, folder):
    """SIGKILL of the server while it is handing messages to a slow SMTP server;
    a new process delivers the rest once the claims' lease (300 s) runs out."""
    s = "kill-email"
    db = url.rsplit("/", 1)[1]
    port = free_port()
    sink = Sink(port, delay=2.0).start()
    server = Server(f"{folder}/kill-email", url, smtp_env(port)).start()
    tag = marker()
    token = login(server.port, *bench_user(1, 1))["access_token"]
    emails = [f"inv-{tag}-{i}@mail.bench.test" for i in range(16)]
    invite(server, token, emails)
    time.sleep(3.0)  # the worker has claimed a batch and is inside DATA for some
    log(f"  SIGKILL the server; delivered so far: {sum(sink.received.values())}")
    server.kill(signal.SIGKILL)
    before = sum(sink.received.values())
    mid = outbox(cluster, db, tag)
    sink.delay = 0.0
    server2 = Server(f"{folder}/kill-email", url, smtp_env(port)).start()
    t_restart = time.time()
    deadline = t_restart + 420
    while time.time() < deadline and (len([e for e in emails if sink.received[e]]) < len(emails)
                                      or outbox(cluster, db, tag).get("pending")):
        time.sleep(2)
    time.sleep(3)
    server2.stop()
    sink.stop()
    got = {e: sink.received[e] for e in emails}
    after = outbox(cluster, db, tag)
    RESULTS[s] = {"delivered_before_kill": before, "outbox_at_kill": mid, "outbox_after": after,
                  "copies": dict(Counter(got.values())), "all_delivered_after_restart_s": round(time.time() - 3 - t_restart)}
    check(s, all(n >= 1 for n in got.values()), f"nothing lost: every message delivered at least once "
                                                 f"(copies per message {dict(Counter(got.values()))})")
    check(s, after == {"sent": str(len(emails))}, f"the outbox says sent for all: {after}")


# ------------------------------------------------------------------ uploads
def upload_ticket(c, token, project, size, name):
    status, body = c.call("POST", "/api/v1/projects/documents/upload",
                          {"project_id": project, "name": name, "content_type": "application/octet-stream",
                           "size_bytes": size}, token)
    assert status == 201, (status, body)
    u = urllib.parse.urlsplit(body["upload_url"])
    return body["document"]["id"], f"{u.path}?{u.query}"


def first_project(c, token):
    status, body = c.call("GET", "/api/v1/projects?page_size=1", token=token)
    assert status == 200, (status, body)
    return body["items"][0]["id"] if "items" in body else body["data"][0]["id"]


def slow_put(port, path, payload, chunk=256 * 1024, pause=0.05, on_chunk=None):
    """PUTs `payload` in chunks with pauses; returns the status, or the exception."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("PUT", path)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(len(payload)))
        conn.endheaders()
        for i in range(0, len(payload), chunk):
            conn.send(payload[i:i + chunk])
            if on_chunk:
                on_chunk(i + chunk)
            time.sleep(pause)
        res = conn.getresponse()
        return res.status, res.read()
    except OSError as e:
        return type(e).__name__, None
    finally:
        conn.close()


def document_row(cluster, db, doc):
    return cluster.rows(f"SELECT status, coalesce(sha256, '') FROM documents WHERE id = '{doc}'", db)[0]


def scenario_kill_upload(cluster, url, folder):
    """SIGKILL of the server in the middle of an upload's body."""
    s = "kill-upload"
    db = url.rsplit("/", 1)[1]
    work = f"{folder}/kill-upload"
    server = Server(work, url).start()
    c = Client(server.port)
    token = login(server.port, *bench_user(1, 2), client=c)["access_token"]
    payload = random.randbytes(8 * 1024 * 1024)
    digest = hashlib.sha256(payload).hexdigest()
    doc, path = upload_ticket(c, token, first_project(c, token), len(payload), "killed-upload.bin")
    killed = threading.Event()

    def kill_half_way(sent):
        if sent >= len(payload) // 2 and not killed.is_set():
            killed.set()
            server.kill(signal.SIGKILL)

    status, _ = slow_put(server.port, path, payload, on_chunk=kill_half_way)
    check(s, killed.is_set() and status != 200, f"the server died mid-body (client saw {status})")
    row = document_row(cluster, db, doc)
    check(s, row[0] == "pending", f"the document is still pending after the kill: {row[0]}")
    stray = [f for f in subprocess.run(["find", f"{work}/storage", "-type", "f"], capture_output=True,
                                       text=True).stdout.split() if doc in f]
    RESULTS[s] = {"client_saw": str(status), "status_after_kill": row[0], "files_left_for_document": stray}
    server = Server(work, url, port=server.port).start()
    c = Client(server.port)
    status, body = c.call("POST", f"/api/v1/projects/documents/{doc}/upload-complete", {"sha256": digest}, token)
    check(s, status == 409, f"completing the half upload is refused: {status}")
    status, _ = slow_put(server.port, path, payload, pause=0)
    check(s, status == 200, f"the same upload URL works again after the restart: {status}")
    status, body = c.call("POST", f"/api/v1/projects/documents/{doc}/upload-complete", {"sha256": digest}, token)
    row = document_row(cluster, db, doc)
    check(s, status == 200 and row == ["uploaded", digest], f"then the document completes with the right SHA-256: {status} {row[0]}")
    server.stop()


def scenario_disk(cluster, url, folder):
    """Local storage on a 4 MiB tmpfs: an upload that does not fit gets 507 and
    leaves nothing; one that fits still works."""
    s = "disk"
    db = url.rsplit("/", 1)[1]
    work = f"{folder}/disk"
    store = f"{work}/storage"
    os.makedirs(store, exist_ok=True)
    subprocess.run(["umount", store], stderr=subprocess.DEVNULL)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", store]).returncode == 0
    if not mounted:
        check(s, False, "could not mount a tmpfs (needs root); scenario skipped")
        return
    try:
        server = Server(work, url).start()
        c = Client(server.port)
        token = login(server.port, *bench_user(1, 2), client=c)["access_token"]
        project = first_project(c, token)
        big = random.randbytes(6 * 1024 * 1024)
        doc, path = upload_ticket(c, token, project, len(big), "too-big.bin")
        status, body = slow_put(server.port, path, big, pause=0)
        detail = json.loads(body) if body else None
        RESULTS[s] = {"status": status, "body": detail}
        check(s, status == 507, f"an upload that does not fit: {status} {detail and detail.get('detail')}")
        row = document_row(cluster, db, doc)
        check(s, row[0] == "pending", f"the document stays pending: {row[0]}")
        status, _ = c.call("POST", f"/api/v1/projects/documents/{doc}/upload-complete",
                           {"sha256": hashlib.sha256(big).hexdigest()}, token)
        check(s, status == 409, f"and cannot be completed: {status}")
        used = subprocess.run(["df", "-k", "--output=used", store], capture_output=True, text=True).stdout.split()[-1]
        check(s, int(used) < 64, f"no partial bytes kept on the full disk ({used} KiB used)")
        small = random.randbytes(1024 * 1024)
        doc2, path2 = upload_ticket(c, token, project, len(small), "fits.bin")
        status, _ = slow_put(server.port, path2, small, pause=0)
        status2, _ = c.call("POST", f"/api/v1/projects/documents/{doc2}/upload-complete",
                            {"sha256": hashlib.sha256(small).hexdigest()}, token)
        check(s, (status, status2) == (200, 200), f"a 1 MiB upload still fits afterwards: {status}, {status2}")
        server.stop()
    finally:
        subprocess.run(["umount", store])


SCENARIOS = {"pg": scenario_pg, "redis": scenario_redis, "smtp": scenario_smtp,
             "kill-upload": scenario_kill_upload, "kill-email": scenario_kill_email, "disk": scenario_disk}


def main():
    chosen = sys.argv[1:] or list(SCENARIOS)
    for name in chosen:
        if name not in SCENARIOS:
            sys.exit(f"unknown scenario {name}; one of {' '.join(SCENARIOS)}")
    run = f"{HOME}/runs/{time.strftime('%Y%m%d-%H%M%S')}"
    os.makedirs(run, exist_ok=True)
    log(f"faults: run folder {run}")
    cluster = Cluster(f"{HOME}/pg").init().start()
    try:
        url = prepare_database(cluster, "faults", TENANTS, 20, 4)
        for name in chosen:
            log(f"== {name}: {SCENARIOS[name].__doc__.strip().splitlines()[0]}")
            try:
                SCENARIOS[name](cluster, url, run)
            except Exception as e:  # a crashed scenario is a failed one; the others still run
                check(name, False, f"scenario crashed: {e!r}")
    finally:
        cluster.stop()
    json.dump(RESULTS, open(f"{run}/results.json", "w"), indent=2, default=str)
    print("\n| scenario | checks | result |\n|---|---:|---|")
    for name in chosen:
        checks = RESULTS.get(name, {}).get("checks", [])
        ok = all(c["ok"] for c in checks) and checks
        print(f"| {name} | {sum(c['ok'] for c in checks)}/{len(checks)} | {'pass' if ok else '**FAIL**'} |")
    if FAILED:
        print("\nfailed:\n  " + "\n  ".join(FAILED))
        sys.exit(1)


if __name__ == "__main__":
    main()

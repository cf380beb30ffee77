#!/usr/bin/env python3
"""The soak behind bench/soak.sh (see there for the knobs).

Private PostgreSQL cluster, SOAK_TENANTS x 100 projects seeded, `tenantry serve`,
a saturation probe of the mixed load (bench/wrk/soak.lua), then SOAK_MINUTES
one-minute wrk runs at SOAK_LOAD (0.7) of that rate. After every minute: the
minute's p50/p99, status classes and socket errors, the server's RSS and open
file descriptors, and its PostgreSQL connections.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (  # noqa: E402
    ADMIN_EMAIL, PASSWORD, ROOT, Client, Cluster, Server, bench_user, binary, log, login, prepare_database,
)

MINUTES = float(os.environ.get("SOAK_MINUTES", "2"))
LOAD = float(os.environ.get("SOAK_LOAD", "0.7"))
TENANTS = int(os.environ.get("SOAK_TENANTS", "20"))
CONNS = int(os.environ.get("SOAK_CONNECTIONS", "8"))
PROBE_SECONDS = int(os.environ.get("SOAK_PROBE_SECONDS", "15"))
HOME = os.path.abspath(os.environ.get("SOAK_HOME", f"{ROOT}/bench/.data/soak"))
WRK_DIR = f"{ROOT}/bench/wrk"


def wrk(base, seconds, conns, result, env, delay_ms=None):
    env = {**os.environ, **env, "BENCH_WRK_DIR": WRK_DIR, "BENCH_RESULT": result, "BENCH_PASSWORD": PASSWORD}
    env.pop("WRK_DELAY_MS", None)
    if delay_ms:
        env["WRK_DELAY_MS"] = str(int(delay_ms))
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", "-s",
                          f"{WRK_DIR}/soak.lua", base], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"wrk failed: {out.stderr[-500:]}")
    return json.load(open(result))


def db_connections(cluster):
    return int(cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tenantry'"))


def slope(ys):
    """Least-squares slope per step."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum((i - mx) ** 2 for i in range(n))


def main():
    run = f"{HOME}/runs/{time.strftime('%Y%m%d-%H%M%S')}"
    os.makedirs(run, exist_ok=True)
    log(f"soak: run folder {run}; binary {binary()}")
    cluster = Cluster(f"{HOME}/pg").init().start()
    server = None
    try:
        url = prepare_database(cluster, "soak", TENANTS, 100, 4)
        server = Server(run, url, {"DATABASE_MAX_CONNECTIONS": "20"}).start()
        c = Client(server.port)
        tokens, logins = [], []
        for k in range(1, TENANTS + 1):
            email, slug = bench_user(k, 2)  # project manager: reads, creates, uploads, lists users
            token = login(server.port, email, slug, client=c)["access_token"]
            status, page = c.call("GET", "/api/v1/projects?page_size=20", token=token)
            ids = [p["id"] for p in page["items"]]
            tokens.append(f"{token}\t{slug}\t{','.join(ids)}")
            logins.append(f"{bench_user(k, 3)[0]}\t{slug}")
        admin = login(server.port, ADMIN_EMAIL, "system", client=c)["access_token"]
        open(f"{run}/tokens.tsv", "w").write("\n".join(tokens) + "\n")
        open(f"{run}/logins.tsv", "w").write("\n".join(logins) + "\n")
        env = {"BENCH_TOKENS": f"{run}/tokens.tsv", "SOAK_LOGINS": f"{run}/logins.tsv", "SOAK_ADMIN_TOKEN": admin}

        log(f"saturation probe: {PROBE_SECONDS} s, 16 connections, no pause")
        sat = wrk(server.base, PROBE_SECONDS, 16, f"{run}/probe.json", env)
        log(f"  {sat}")
        target = sat["rps"] * LOAD
        delay = max(1.0, CONNS * 1000 / target - sat["p50_ms"] / 4)
        log(f"target {target:.0f} req/s ({LOAD:.0%} of {sat['rps']:.0f}): {CONNS} connections, ~{delay:.0f} ms pause")

        minutes = []
        base_rss = server.rss_kb()
        for m in range(1, int(MINUTES) + 1):
            r = wrk(server.base, 60, CONNS, f"{run}/minute-{m}.json", env, delay)
            r.update({"minute": m, "rss_kb": server.rss_kb(), "fds": server.fds(), "db_connections": db_connections(cluster)})
            minutes.append(r)
            log(f"  minute {m}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms "
                f"5xx {r['s5xx']} 4xx {r['s4xx']} sockets {r['socket_errors']} RSS {r['rss_kb'] / 1024:.1f} MB "
                f"fds {r['fds']} db {r['db_connections']}")
            # One correction after the first minute: the pause also adds latency.
            if m == 1 and r["rps"] > 0:
                delay = max(1.0, delay * r["rps"] / target)
        summary = {
            "binary": binary(), "tenants": TENANTS, "connections": CONNS, "probe": sat, "target_rps": round(target),
            "minutes": minutes, "rss_idle_kb": base_rss,
            "total_requests": sum(x["requests"] for x in minutes), "total_5xx": sum(x["s5xx"] for x in minutes),
            "total_4xx": sum(x["s4xx"] for x in minutes), "socket_errors": sum(x["socket_errors"] for x in minutes),
            "rss_slope_kb_per_min": round(slope([x["rss_kb"] for x in minutes]), 1),
            "fds_slope_per_min": round(slope([x["fds"] for x in minutes]), 2),
        }
        k = min(5, len(minutes) // 2) or 1
        first = max(x["p99_ms"] for x in minutes[:k])
        last = max(x["p99_ms"] for x in minutes[-k:])
        summary["p99_last_over_first"] = round(last / first, 2) if first else None
        json.dump(summary, open(f"{run}/soak.json", "w"), indent=2)
        print(f"\n| minute | req/s | p50 ms | p99 ms | 5xx | 4xx | socket errors | RSS MB | fds | DB connections |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for x in minutes:
            print(f"| {x['minute']} | {x['rps']:.0f} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['s5xx']} | {x['s4xx']} | "
                  f"{x['socket_errors']} | {x['rss_kb'] / 1024:.1f} | {x['fds']} | {x['db_connections']} |")
        print(f"\nsaturation {sat['rps']:.0f} req/s, target {target:.0f}; requests {summary['total_requests']}, "
              f"5xx {summary['total_5xx']}, 4xx {summary['total_4xx']}, socket errors {summary['socket_errors']}; "
              f"p99 last {k} min / first {k} min {summary['p99_last_over_first']}; RSS slope "
              f"{summary['rss_slope_kb_per_min']} KiB/min; fds slope {summary['fds_slope_per_min']}/min")
        if summary["total_5xx"]:
            sys.exit(1)
    finally:
        if server:
            server.stop()
        cluster.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The soak behind bench/soak.sh (see there for the knobs).

Private PostgreSQL cluster, SOAK_TENANTS x 100 projects seeded, `tenantry serve`,
a saturation probe of the mixed load (bench/wrk/soak.lua), then SOAK_MINUTES
one-minute wrk runs at SOAK_LOAD (0.7) of that rate. After every minute: the
minute's p50/p99, status classes and socket errors, the server's RSS and open
file descriptors, its PostgreSQL connections, and each route's mean latency from
the server's own /metrics. pg_stat_statements is loaded in the private cluster:
the statements of the first SOAK_WINDOW (5) minutes and of the last are saved
(statements-first.tsv, statements-last.tsv) and the ones whose mean time grew
most are printed, so a p99 that climbs with the data points at its statement.
"""

import json
import os
import re
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
WINDOW = int(os.environ.get("SOAK_WINDOW", "5"))
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


def route_totals(client):
    """(count, seconds) per "METHOD route" from the server's Prometheus histogram."""
    status, text = client.call("GET", "/metrics")
    totals = {}
    if status != 200 or not isinstance(text, str):
        return totals
    for line in text.splitlines():
        m = re.match(r'http_request_duration_seconds_(sum|count)\{(.*)\} (\S+)$', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        key = f"{labels.get('method')} {labels.get('route')}"
        count, secs = totals.get(key, (0, 0.0))
        if m.group(1) == "count":
            count += int(float(m.group(3)))
        else:
            secs += float(m.group(3))
        totals[key] = (count, secs)
    return totals


def route_means(before, after):
    """Requests and mean ms per route between two `route_totals`."""
    out = {}
    for key, (count, secs) in after.items():
        c0, s0 = before.get(key, (0, 0.0))
        if count > c0:
            out[key] = {"n": count - c0, "mean_ms": round((secs - s0) * 1000 / (count - c0), 3)}
    return out


STATEMENTS = ("SELECT calls, round(mean_exec_time::numeric, 4), round(max_exec_time::numeric, 2), "
              "round(total_exec_time::numeric, 1), regexp_replace(left(query, 160), '\\s+', ' ', 'g') "
              "FROM pg_stat_statements WHERE calls > 0 ORDER BY total_exec_time DESC LIMIT 40")


def statements(cluster, db, path):
    """The window's top statements by total time, saved as TSV; then a fresh window."""
    rows = cluster.rows(STATEMENTS, db)
    with open(path, "w") as f:
        f.write("calls\tmean_ms\tmax_ms\ttotal_ms\tquery\n")
        f.writelines("\t".join(r) + "\n" for r in rows)
    cluster.psql("SELECT pg_stat_statements_reset()", db)
    return {r[4]: (int(r[0]), float(r[1])) for r in rows if len(r) == 5}


def slope(ys):
    """Least-squares slope per step."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx, my = (n - 1) / 2, sum(ys) / n
    return sum((i - mx) * (y - my) for i, y in enumerate(ys)) / sum((i - mx) ** 2 for i in range(n))


def routes_growth(first, last):
    """Mean ms per route over the first and the last minutes (request-weighted)."""
    def means(ms):
        acc = {}
        for x in ms:
            for key, v in x.get("routes", {}).items():
                n, t = acc.get(key, (0, 0.0))
                acc[key] = (n + v["n"], t + v["n"] * v["mean_ms"])
        return acc
    a, b = means(first), means(last)
    return {key: {"first": round(a[key][1] / a[key][0], 3), "last": round(t / n, 3), "n": n}
            for key, (n, t) in b.items() if key in a and a[key][0] and n}


def main():
    run = f"{HOME}/runs/{time.strftime('%Y%m%d-%H%M%S')}"
    os.makedirs(run, exist_ok=True)
    log(f"soak: run folder {run}; binary {binary()}")
    cluster = Cluster(f"{HOME}/pg").init()
    with open(f"{cluster.data}/postgresql.conf", "a") as f:
        f.write("shared_preload_libraries = 'pg_stat_statements'\n")
    cluster.start()
    server = None
    try:
        url = prepare_database(cluster, "soak", TENANTS, 100, 4)
        cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "soak")
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
        total_minutes = int(MINUTES)
        window = max(1, min(WINDOW, total_minutes // 2))
        cluster.psql("SELECT pg_stat_statements_reset()", "soak")
        routes_before = route_totals(c)
        first_statements = None
        for m in range(1, total_minutes + 1):
            if m == total_minutes - window + 1 and first_statements is not None:
                cluster.psql("SELECT pg_stat_statements_reset()", "soak")
            r = wrk(server.base, 60, CONNS, f"{run}/minute-{m}.json", env, delay)
            routes_after = route_totals(c)
            r.update({"minute": m, "rss_kb": server.rss_kb(), "fds": server.fds(), "db_connections": db_connections(cluster),
                      "routes": route_means(routes_before, routes_after)})
            routes_before = routes_after
            if m == window:
                first_statements = statements(cluster, "soak", f"{run}/statements-first.tsv")
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
        last_statements = statements(cluster, "soak", f"{run}/statements-last.tsv")
        summary["routes_mean_ms"] = routes_growth(minutes[:k], minutes[-k:])
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
        print(f"\nmean ms per route, first {k} min -> last {k} min (the server's own clock):")
        for key, v in sorted(summary["routes_mean_ms"].items(), key=lambda kv: -kv[1]["last"] * kv[1]["n"]):
            print(f"  {key:<60} {v['first']:8.2f} -> {v['last']:8.2f}   ({v['n']} requests)")
        if first_statements and last_statements:
            grown = sorted(((q, first_statements[q][1], last_statements[q][1], last_statements[q][0])
                            for q in last_statements if q in first_statements),
                           key=lambda t: -(t[2] - t[1]) * t[3])
            print(f"\nstatements, mean ms first {window} min -> last {window} min (most added time first):")
            for q, a, b, calls in grown[:12]:
                print(f"  {a:8.3f} -> {b:8.3f}  x{calls:<8} {q[:110]}")
        if summary["total_5xx"]:
            sys.exit(1)
    finally:
        if server:
            server.stop()
        cluster.stop()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turns one bench run folder into a markdown table, prints it, and puts it into
RESULTS.md between the `<!-- bench:begin -->` / `<!-- bench:end -->` markers (the
hand-written analysis around them is kept)."""

import argparse
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

SCENARIOS = [
    ("list", "list `GET /projects?page=1&page_size=20`, saturation"),
    ("pgbench_list", "pgbench, the same transaction minus authentication"),
    ("list_2", "list again (second pair)"),
    ("pgbench_list_2", "pgbench again (second pair)"),
    ("get", "get `GET /projects/{id}`"),
    ("create", "create `POST /projects`"),
    ("status", "status `GET /auth/status`"),
    ("login", "login `POST /auth/login`, saturation, alone"),
    ("login_flood", "login `POST /auth/login`, saturation, with the fixed-rate requests below"),
    ("fixed_list_alone", "list at a fixed rate, alone"),
    ("fixed_list_flood", "list at a fixed rate, during the login flood"),
    ("fixed_status_alone", "status at a fixed rate, alone"),
    ("fixed_status_flood", "status at a fixed rate, during the login flood"),
    ("fixed_health_alone", "`GET /health` at a fixed rate, alone"),
    ("fixed_health_flood", "`GET /health` at a fixed rate, during the login flood"),
    ("list_small", "list, saturation, on the small data set (growth)"),
    ("fixed_list_small", "list at a fixed rate, alone, on the small data set (growth)"),
]


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def load(run: Path, name: str):
    try:
        return json.loads((run / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def usable(r) -> bool:
    """A result whose requests mostly succeeded (an endpoint that answers 404 is not measured)."""
    return bool(r) and r["requests"] > 0 and r["non2xx"] + r["socket_errors"] < r["requests"] * 0.01


def ok_rps(r) -> float:
    return r["rps"] * (r["requests"] - r["non2xx"]) / r["requests"] if r and r["requests"] else 0.0


def hash_cpu_ms(run: Path):
    """Mean CPU time of one Argon2id hash, from the server's Prometheus metrics."""
    try:
        text = (run / "metrics.txt").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("password_hash_cpu_seconds_sum", "password_hash_cpu_seconds_count"):
            values[name] = float(value)
    count = values.get("password_hash_cpu_seconds_count")
    return values["password_hash_cpu_seconds_sum"] / count * 1000 if count else None


def verdict(good: bool | None) -> str:
    return "n/a" if good is None else ("pass" if good else "**FAIL**")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--settings", required=True)
    p.add_argument("--results", default="")
    p.add_argument("--pg", default="")
    a = p.parse_args()
    run = Path(a.run)
    r = {name: load(run, name) for name, _ in SCENARIOS}
    cores = os.cpu_count() or 1
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_gb = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1024 / 1024
    pg_version = sh("psql", a.pg, "-qAtX", "-c", "SHOW server_version") if a.pg else ""
    commit = sh("git", "rev-parse", "--short", "HEAD")
    # Uncommitted changes to anything but documentation (this file's output included).
    changed = sh("git", "status", "--porcelain", "--untracked-files=no").splitlines()
    dirty = " (with uncommitted changes)" if any(not line.endswith(".md") for line in changed) else ""
    token_mode = (run / "token-mode").read_text().strip() if (run / "token-mode").exists() else "?"

    out = [
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit `{commit}`{dirty}.",
        f"Machine: {cores} cores ({model}), {mem_gb:.0f} GB RAM, {platform.system()} {platform.release()}, "
        f"PostgreSQL {pg_version}; load generator, PostgreSQL and server share the machine.",
        f"Command: `{a.command}`. Data: {a.dataset}. Load: {a.settings}. Tokens: {token_mode}.",
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in SCENARIOS:
        x = r[name]
        if not x:
            out.append(f"| {label} | – | – | – | not run |")
            continue
        errs = x["non2xx"] + x["socket_errors"]
        err = f"{errs} of {x['requests']}" if errs else "0"
        out.append(f"| {label} | {x['rps']:.0f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {err} |")

    def ratio(num, den, key):
        if usable(r[num]) and usable(r[den]) and r[den][key]:
            return r[num][key] / r[den][key]
        return None

    def fmt(v, spec="{:.2f}×"):
        return "–" if v is None else spec.format(v)

    # Both pairs together: total list requests/s over total pgbench transactions/s.
    pairs = [("list", "pgbench_list"), ("list_2", "pgbench_list_2")]
    measured = [(r[a], r[b]) for a, b in pairs if usable(r[a]) and usable(r[b])]
    thr = sum(a["rps"] for a, _ in measured) / sum(b["rps"] for _, b in measured) if measured else None
    per_pair = [a["rps"] / b["rps"] for a, b in measured]
    flood = {k: ratio(f"fixed_{k}_flood", f"fixed_{k}_alone", "p99_ms") for k in ("list", "status", "health")}
    # Growth compares per-request cost, so at a fixed modest rate: at saturation
    # p50 is mostly queueing (≈ connections / throughput) and swings with the
    # machine's noise; that ratio is printed too.
    growth = ratio("fixed_list_alone", "fixed_list_small", "p50_ms")
    growth_saturated = ratio("list", "list_small", "p50_ms")
    logins = ok_rps(r["login"]) / cores if r["login"] and r["login"]["requests"] > r["login"]["non2xx"] else None
    hash_ms = hash_cpu_ms(run)
    rss = {k: (load(run, f"rss-{k}") or {}).get(f"{k}_kb") for k in ("idle", "peak", "after")}
    cold = load(run, "coldstart") or {}

    out += [
        "",
        "| target (issue 8) | measured | |",
        "|---|---:|---|",
        f"| list throughput ≥ 0.6 × pgbench | {fmt(thr)} | {verdict(None if thr is None else thr >= 0.6)} |",
        f"| list p99 during login flood < 3 × without | {fmt(flood['list'])} | "
        f"{verdict(None if flood['list'] is None else flood['list'] < 3)} |",
        f"| status p99 during login flood < 3 × without (issue 3) | {fmt(flood['status'])} | "
        f"{verdict(None if flood['status'] is None else flood['status'] < 3)} |",
        f"| health p99 during login flood < 3 × without (issue 3) | {fmt(flood['health'])} | "
        f"{verdict(None if flood['health'] is None else flood['health'] < 3)} |",
        f"| logins ≥ 40/s per core (login alone) | {fmt(logins, '{:.1f}/s')} | "
        f"{verdict(None if logins is None else logins >= 40)} |",
        f"| growth: list p50 on the large data set ≤ 1.2 × on the small one (fixed rate) | {fmt(growth)} | "
        f"{verdict(None if growth is None else growth <= 1.2)} |",
        f"| RSS idle < 50 MB | {fmt(rss['idle'] and rss['idle'] / 1024, '{:.1f} MB')} | "
        f"{verdict(None if not rss['idle'] else rss['idle'] < 50 * 1024)} |",
        f"| RSS peak under load < 150 MB | {fmt(rss['peak'] and rss['peak'] / 1024, '{:.1f} MB')} | "
        f"{verdict(None if not rss['peak'] else rss['peak'] < 150 * 1024)} |",
        f"| cold start to /ready < 1 s (median of 3) | {fmt(cold.get('median_ms'), '{:.0f} ms')} | "
        f"{verdict(None if 'median_ms' not in cold else cold['median_ms'] < 1000)} |",
        "",
        "Argon2id (m = 19 MiB, t = 2, p = 1) on this machine: "
        + (
            f"{hash_ms:.1f} ms of CPU per hash (the server's `password_hash_cpu_seconds`), so at most "
            f"{1000 / hash_ms:.1f} logins/s per core with nothing else on the path"
            + (f"; logins alone reached {logins / (1000 / hash_ms) * 100:.0f} % of that. " if logins else ". ")
            if hash_ms
            else "not measured. "
        )
        + f"List / pgbench per pair: {', '.join(f'{x:.2f}×' for x in per_pair) or '–'}. "
        + f"Growth at saturation (p50 ratio, mostly queueing): {fmt(growth_saturated)}. "
        + f"RSS after the load settled: {fmt(rss['after'] and rss['after'] / 1024, '{:.1f} MB')}. "
        f"Cold start runs: {cold.get('runs_ms', '–')} ms. "
        "A ratio is shown only when both runs answered (almost) only 2xx.",
    ]
    text = "\n".join(out)
    (run / "results.md").write_text(text + "\n")
    print(text)

    if a.results:
        path = Path(a.results)
        old = path.read_text() if path.exists() else f"# Benchmark results\n\n{BEGIN}\n{END}\n"
        if BEGIN in old and END in old:
            head, rest = old.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            new = f"{head}{BEGIN}\n{text}\n{END}{tail}"
        else:
            new = f"{old.rstrip()}\n\n{BEGIN}\n{text}\n{END}\n"
        path.write_text(new)
        print(f"\n(written to {path})")


if __name__ == "__main__":
    main()

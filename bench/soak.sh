#!/usr/bin/env bash
# Soak: mixed load at ~70 % of saturation for a while, watching what must stay flat.
#
#   bench/soak.sh                    # the short version: 2 minutes
#   SOAK_MINUTES=30 bench/soak.sh    # the full soak
#
# Starts a private PostgreSQL cluster (local server binaries, a free port, in
# $SOAK_HOME=bench/.data/soak), seeds SOAK_TENANTS=20 tenants x 100 projects x 4
# users, runs `tenantry serve` (TENANTRY_BIN, default the newest build in
# $CARGO_TARGET_DIR: build --release for meaningful numbers), finds the mixed
# load's saturation rate with a SOAK_PROBE_SECONDS=15 s probe (wrk, 16 connections),
# then runs one-minute wrk runs of bench/wrk/soak.lua at SOAK_LOAD=0.7 of it on
# SOAK_CONNECTIONS=8 connections. The mix: project lists and reads, /auth/status,
# creates, uploads (initiate, PUT, complete), user lists, the super-admin
# dashboard, sign-ins and refreshes.
#
# Per minute it records req/s, p50/p99, responses by status class, socket errors,
# the server's RSS and open file descriptors, its PostgreSQL connections and each
# route's mean latency (the server's /metrics); the table goes to stdout and
# soak.json to the run folder. pg_stat_statements runs in the private cluster:
# the first and the last SOAK_WINDOW=5 minutes' statements are saved
# (statements-first.tsv, statements-last.tsv), and the routes and statements
# whose mean time grew most are printed. Exit code 1 on any 5xx.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in wrk psql python3; do command -v "$t" >/dev/null || { echo "soak: $t is missing" >&2; exit 1; }; done
exec python3 bench/soak.py "$@"

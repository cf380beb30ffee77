#!/usr/bin/env bash
# CPU per request by process: where a saturated endpoint's time goes on this
# machine. Seeds (or reuses) the bench data set, starts the release server,
# warms up, then runs wrk (2 threads, 32 connections) for SECONDS and reads the
# CPU time (/proc/<pid>/stat) of the server and wrk and the machine's busy time;
# the rest is PostgreSQL's (and the kernel's interrupt work).
#
#   bench/cpu.sh list 8            # scenario (list | get | status), seconds
#   TOKIO_WORKER_THREADS=1 bench/cpu.sh get 8
#
# Prints req/s and µs of CPU per request: the server, wrk, the rest, and the
# whole machine (both cores' busy time / requests); and context switches per
# request, the server's threads' and the whole machine's. Settings as in bench/common.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"
trap bench_stop_server EXIT
bench_prepare cpu >/dev/null
bench_server
bench_tokens
SCENARIO=${1:-list}
SECONDS_RUN=${2:-8}
((SECONDS_RUN >= 3)) || die "run at least 3 seconds"

ticks() { # utime + stime of the given pids, in clock ticks
  local t=0 p
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; } # user nice system irq softirq
switches() { # context switches of every thread of the given pid, and of the whole machine
  local t=0 f
  for f in /proc/"$1"/task/*/status; do
    t=$((t + $(awk '/ctxt_switches/{s += $2} END {print s + 0}' "$f" 2>/dev/null || echo 0)))
  done
  echo "$t $(awk '/^ctxt /{print $2}' /proc/stat)"
}
run_wrk() { # seconds
  BENCH_RESULT="$RUN/wrk.json" BENCH_TOKENS="$TOKENS_FILE" BENCH_SCENARIO=$SCENARIO \
    wrk -t2 -c32 -d"$1s" --timeout 10s -s "$BENCH_WRK_DIR/authed.lua" "$BASE" >"$RUN/wrk.txt" 2>&1
}

run_wrk 3 # warm-up: every connection open, caches filled
sv0=$(ticks "$SERVER_PID") m0=$(busy)
read -r cs0 mcs0 < <(switches "$SERVER_PID")
BENCH_RESULT="$RUN/wrk.json" BENCH_TOKENS="$TOKENS_FILE" BENCH_SCENARIO=$SCENARIO \
  wrk -t2 -c32 -d"${SECONDS_RUN}s" --timeout 10s -s "$BENCH_WRK_DIR/authed.lua" "$BASE" >"$RUN/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 0.2
w0=$(ticks "$wrk_pid")
sleep $((SECONDS_RUN - 1))
w1=$(ticks "$wrk_pid")
wait "$wrk_pid"
sv1=$(ticks "$SERVER_PID") m1=$(busy)
read -r cs1 mcs1 < <(switches "$SERVER_PID")
python3 - "$RUN/wrk.json" "$(getconf CLK_TCK)" "$SECONDS_RUN" $((sv1 - sv0)) $((w1 - w0)) $((m1 - m0)) \
  $((cs1 - cs0)) $((mcs1 - mcs0)) <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
hz, secs = int(sys.argv[2]), float(sys.argv[3])
server, wrk, machine, server_cs, machine_cs = map(int, sys.argv[4:9])
n = r["requests"]
us = lambda ticks: ticks * 1e6 / hz / n
# wrk's CPU was read over secs - 1.2 s of the run: scale it to the whole run.
wrk_us = us(wrk) * secs / (secs - 1.2)
print(f"{r['rps']:.0f} req/s; CPU per request: server {us(server):.0f} µs, wrk {wrk_us:.0f} µs, "
      f"the rest (PostgreSQL, the kernel's softirqs) {us(machine) - us(server) - wrk_us:.0f} µs; "
      f"whole machine {us(machine):.0f} µs; context switches per request: server {server_cs / n:.2f}, "
      f"whole machine {machine_cs / n:.2f}")
PY

#!/usr/bin/env bash
# Issue 20's memory goal: the server's RSS idle, at its peak during a sign-in
# flood (with project lists at saturation alongside), and idle again after a
# quiet period, when the password hashing buffers should have been released.
#
#   bench/memory.sh      # BENCH_BURST=20 s of flood, BENCH_QUIET=20 s of quiet after
#
# Same data set and settings as bench/ratio.sh (bench/common.sh). Prints the RSS
# timeline (one sample a second) and a summary line; all in the run folder.
set -euo pipefail
source "$(dirname "$0")/common.sh"
BURST=${BENCH_BURST:-20}
QUIET=${BENCH_QUIET:-20}
NTOKENS=${BENCH_TOKENS:-20}
trap bench_stop_server EXIT
bench_prepare memory
bench_server
sleep 2
idle=$(status_kb "$SERVER_PID" VmRSS)
idle_split="$(($(status_kb "$SERVER_PID" RssAnon) / 1024)) MB anonymous, $(($(status_kb "$SERVER_PID" RssFile) / 1024)) MB mapped files"
bench_tokens
sleep 1
echo "  idle before: $((idle / 1024)) MB ($idle_split); after $NTOKENS sign-ins: $(($(status_kb "$SERVER_PID" VmRSS) / 1024)) MB"

BENCH_LOGINS="$LOGINS_FILE" wrk -t1 -c16 -d"${BURST}s" --timeout 10s -s "$BENCH_WRK_DIR/login.lua" "$BASE" \
  >"$RUN/login-flood.txt" 2>&1 &
FLOOD=$!
BENCH_TOKENS="$TOKENS_FILE" BENCH_SCENARIO=list wrk -t1 -c16 -d"${BURST}s" --timeout 10s \
  -s "$BENCH_WRK_DIR/authed.lua" "$BASE" >"$RUN/list-during-flood.txt" 2>&1 &
LIST=$!
: >"$RUN/rss.tsv"
t=0
sample() { printf '%d\t%d\n' "$t" "$(status_kb "$SERVER_PID" VmRSS)" >>"$RUN/rss.tsv"; t=$((t + 1)); }
while kill -0 "$FLOOD" 2>/dev/null; do sample; sleep 1; done
wait "$FLOOD" "$LIST" || true
logins=$(awk '/Requests\/sec/ {print $2}' "$RUN/login-flood.txt")
after=$(status_kb "$SERVER_PID" VmRSS)
for _ in $(seq 1 "$QUIET"); do sleep 1; sample; done
peak=$(status_kb "$SERVER_PID" VmHWM)
quiet=$(status_kb "$SERVER_PID" VmRSS)
anon=$(status_kb "$SERVER_PID" RssAnon)
file=$(status_kb "$SERVER_PID" RssFile)
awk '{printf "  t=%3ds  RSS %6.1f MB\n", $1, $2 / 1024}' "$RUN/rss.tsv"
printf 'RSS idle %.1f MB, peak %.1f MB (sign-in flood at %s logins/s + lists), right after %.1f MB, after %d s quiet %.1f MB (%.1f MB anonymous, %.1f MB mapped files)\n' \
  "$(bc -l <<<"$idle/1024")" "$(bc -l <<<"$peak/1024")" "$logins" "$(bc -l <<<"$after/1024")" "$QUIET" \
  "$(bc -l <<<"$quiet/1024")" "$(bc -l <<<"$anon/1024")" "$(bc -l <<<"$file/1024")" | tee "$RUN/memory.txt"

#!/usr/bin/env python3
"""Cold start: time from spawning the server to its first 200 on /ready.

    coldstart.py --port PORT --runs 3 --log FILE -- target/release/tenantry serve --no-migrate

The database is already migrated (so /ready can answer 200 at once). Each run
spawns the command, polls /ready every 2 ms over a raw socket, stops the server
with SIGTERM and waits for it. Prints one JSON line.
"""

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import time


def ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def one_run(cmd: list[str], port: int, log, timeout: float) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        while not ready(port):
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode} before /ready; see the log")
            if time.perf_counter() - start > timeout:
                raise SystemExit(f"no 200 on /ready within {timeout} s")
            time.sleep(0.002)
        return (time.perf_counter() - start) * 1000
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--log", required=True)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("cmd", nargs="+")
    args = p.parse_args()
    with open(args.log, "ab") as log:
        runs = [one_run(args.cmd, args.port, log, args.timeout) for _ in range(args.runs)]
    print(json.dumps({"runs_ms": [round(r, 1) for r in runs], "median_ms": round(statistics.median(runs), 1),
                      "max_ms": round(max(runs), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Load test of the OCSP GET path with 1,000,000 certificates loaded.
#
#   loadtests/run.sh [CERTS] [RUNS] [SECONDS] [WRK_THREADS]   (defaults 1000000 3 20 2)
#
# Starts `revoca demo` (release build) with CERTS certificates, measures its resident
# memory once ready (and that of a 1,000-certificate demo, to get bytes per certificate),
# then runs wrk (64 keep-alive connections, WRK_THREADS threads; it shares the 2 cores)
# RUNS times over 100,000 distinct serials and prints each result and the medians.
# Bounded: every run lasts SECONDS; everything binds 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CERTS=${1:-1000000}
RUNS=${2:-3}
SECS=${3:-20}
THREADS=${4:-2}
OUT=loadtests/out
BIN=target/release/revoca
PY=${PYTHON:-python3}
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
cargo build --release -p revoca >/dev/null

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start DIR CERTS -> sets PID and PORT once /readyz answers 200
start() {
    PORT=$(free_port)
    "$BIN" demo --dir "$1" --listen "127.0.0.1:$PORT" --certs "$2" >"$1.stdout" 2>"$1.log" &
    PID=$!
    for _ in $(seq 1 1800); do
        if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$PID" 2>/dev/null || { echo "server died, see $1.log" >&2; exit 1; }
        sleep 0.5
    done
    echo "not ready after 900 s" >&2; exit 1
}
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

start "$OUT/demo-1k" 1000
sleep 1; RSS_SMALL=$(rss_kib "$PID"); kill "$PID"; wait "$PID" || true

T0=$(date +%s)
start "$OUT/demo-big" "$CERTS"
echo "ready with $CERTS certificates after $(( $(date +%s) - T0 )) s (includes creating the demo the first time)"
sleep 2; RSS_BIG=$(rss_kib "$PID")
BYTES_PER_CERT=$(( (RSS_BIG - RSS_SMALL) * 1024 / (CERTS - 1000) ))
echo "RSS: ${RSS_SMALL} KiB at 1,000 certs, ${RSS_BIG} KiB at $CERTS certs: ${BYTES_PER_CERT} bytes/cert"

$PY loadtests/make_paths.py "$OUT/demo-big" 100000 "$OUT/paths.txt"
RESULTS=()
for r in $(seq 1 "$RUNS"); do
    line=$(wrk -t"$THREADS" -c64 -d"${SECS}s" --latency -s loadtests/get.lua "http://127.0.0.1:$PORT" -- "$OUT/paths.txt" | grep RESULT)
    echo "run $r: $line"
    RESULTS+=("$line")
done
kill "$PID"; wait "$PID" || true
printf '%s\n' "${RESULTS[@]}" | $PY -c '
import re, statistics, sys
rows = [dict((k, float(v)) for k, v in re.findall(r"(\w+)=([\d.]+)", l)) for l in sys.stdin]
for key in ("requests_per_sec", "p50_ms", "p99_ms", "non2xx_or_errors"):
    print(f"median {key}: {statistics.median(r[key] for r in rows):g}")
'

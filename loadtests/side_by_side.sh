#!/usr/bin/env bash
# Revoca against nginx serving static bytes, in one run, same client, alternating rounds.
#
#   loadtests/side_by_side.sh [CERTS] [ROUNDS] [SECONDS] [WRK_THREADS]  (defaults 1000000 5 10 2)
#
# Revoca serves keep-alive GETs spread over 100,000 serials of a CERTS-certificate demo.
# nginx (2 workers, access log off, sendfile) serves one of those very responses, read from
# a file, for every path: the practical ceiling for putting these bytes on the wire (one hot
# file is easier than 100,000). wrk: 64 connections, WRK_THREADS threads, SECONDS per round;
# rounds alternate between the two servers so noise on the shared machine hits both.
# Prints each round, then medians, min-max and the Revoca/nginx ratio. Loopback only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CERTS=${1:-1000000}
ROUNDS=${2:-5}
SECS=${3:-10}
THREADS=${4:-2}
OUT=loadtests/out
BIN=target/release/revoca
PY=${PYTHON:-python3}
mkdir -p "$OUT"
for tool in wrk nginx curl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install wrk nginx-light curl)" >&2; exit 1; }
done
cargo build --release -p revoca >/dev/null

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
NGINX_PORT=$(free_port)
DIR=$OUT/demo-big
"$BIN" demo --dir "$DIR" --listen "127.0.0.1:$PORT" --certs "$CERTS" >"$DIR.stdout" 2>"$DIR.log" &
PID=$!
NGINX_DIR=$(mktemp -d)
chmod 755 "$NGINX_DIR"  # nginx workers run as nobody
cleanup() {
    kill "$PID" 2>/dev/null || true
    [[ -f $NGINX_DIR/nginx.pid ]] && kill "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null || true
    rm -rf "$NGINX_DIR"
}
trap cleanup EXIT
for _ in $(seq 1 1800); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$PID" 2>/dev/null || { echo "revoca died, see $DIR.log" >&2; exit 1; }
    sleep 0.5
done

$PY loadtests/make_paths.py "$DIR" 100000 "$OUT/paths.txt"
curl -fsS -o "$NGINX_DIR/resp.der" "http://127.0.0.1:$PORT$(head -1 "$OUT/paths.txt")"
chmod 644 "$NGINX_DIR/resp.der"
cat >"$NGINX_DIR/nginx.conf" <<EOF
worker_processes 2;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $NGINX_DIR;
    location / { default_type application/ocsp-response; try_files /resp.der =404; }
  }
}
EOF
nginx -c "$NGINX_DIR/nginx.conf"
sleep 0.5

REV=()
NGX=()
for r in $(seq 1 "$ROUNDS"); do
    for who in revoca nginx; do
        port=$PORT; [[ $who == nginx ]] && port=$NGINX_PORT
        line=$(wrk -t"$THREADS" -c64 -d"${SECS}s" --latency -s loadtests/get.lua \
            "http://127.0.0.1:$port" -- "$OUT/paths.txt" | grep RESULT)
        echo "round $r $who: $line"
        if [[ $who == revoca ]]; then REV+=("$line"); else NGX+=("$line"); fi
    done
done
{ printf 'revoca %s\n' "${REV[@]}"; printf 'nginx %s\n' "${NGX[@]}"; } | $PY -c '
import re, statistics, sys
rows = {}
for line in sys.stdin:
    who, rest = line.split(" ", 1)
    rows.setdefault(who, []).append({k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", rest)})
med = {}
for who, rs in rows.items():
    for key in ("requests_per_sec", "p50_ms", "p99_ms", "non2xx_or_errors"):
        vals = [r[key] for r in rs]
        med[(who, key)] = statistics.median(vals)
        print(f"{who:6} {key:18} median {statistics.median(vals):10.3f}  min {min(vals):10.3f}  max {max(vals):10.3f}")
rps = {w: med[(w, "requests_per_sec")] for w in rows}
p99 = {w: med[(w, "p99_ms")] for w in rows}
print("ratio revoca/nginx requests_per_sec (medians): %.2f" % (rps["revoca"] / rps["nginx"]))
print("p99 revoca %.2f ms vs nginx %.2f ms" % (p99["revoca"], p99["nginx"]))
'

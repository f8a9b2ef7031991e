#!/usr/bin/env bash
# HTTP threading A/B: `http_threading = per-core` vs `shared` on the same demo, same client.
#
#   loadtests/threading_ab.sh [ROUNDS] [SECONDS]      (defaults 3 10)
#
# Uses the 1,000,000-certificate demo and paths made by loadtests/run.sh or
# loadtests/side_by_side.sh (loadtests/out/demo-big, loadtests/out/paths.txt), restarts it
# with each mode in turn and runs wrk -t2 -c64. Loopback only; bounded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${1:-3}
SECS=${2:-10}
D=loadtests/out/demo-big
PATHS=loadtests/out/paths.txt
[[ -f $D/config.toml && -f $PATHS ]] || { echo "run loadtests/side_by_side.sh first" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run_mode() {
    local mode=$1 pid line
    if grep -q '^http_threading' "$D/config.toml"; then
        sed -i "s/^http_threading = .*/http_threading = \"$mode\"/" "$D/config.toml"
    else
        sed -i "1i http_threading = \"$mode\"" "$D/config.toml"
    fi
    target/release/revoca demo --dir "$D" --listen "127.0.0.1:$PORT" >/dev/null 2>"$D.ab.log" &
    pid=$!
    for _ in $(seq 1 240); do
        curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
        sleep 0.5
    done
    sleep 1
    line=$(wrk -t2 -c64 -d"${SECS}s" --latency -s loadtests/get.lua "http://127.0.0.1:$PORT" -- "$PATHS" | grep RESULT)
    echo "$mode $line"
    kill "$pid"; wait "$pid" || true
}
cargo build --release -p revoca >/dev/null
for _ in $(seq 1 "$ROUNDS"); do run_mode per-core; run_mode shared; done
sed -i 's/^http_threading = .*/http_threading = "shared"/' "$D/config.toml"

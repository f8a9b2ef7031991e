#!/usr/bin/env bash
# Signing rates for issue 5: raw SoftHSM2 token vs the PKCS#11 session pool vs software
# keys (P-256 and RSA-2048, 1 and 2 threads), then the responder's refresher rate with each
# backend, and the refresher / raw-token ratio (target ≥ 0.9).
#
#   loadtests/hsm_rate.sh [SECS] [CERTS] [ROUNDS] [RUNS]     (defaults 5 20000 4 3)
#
# 1. A throw-away SoftHSM2 token: `revoca hsm init` (token "revoca-demo", PIN in
#    TMP/hsm/user.pin, configuration TMP/hsm/softhsm2.conf) and `revoca hsm keygen` of
#    bench-p256 (P-256) and bench-rsa (RSA-2048); then signer/examples/sign_rate.rs with
#    SOFTHSM2_CONF exported, SECS seconds per measurement, ROUNDS rounds (alternating the
#    order of the backends; medians reported).
# 2. `revoca demo --hsm` and `revoca demo` (software keys) with CERTS certificates, each in
#    a fresh directory on a free 127.0.0.1 port, RUNS times each (alternating); once
#    /readyz answers 200, the log line "initial signing pass complete signed=N secs=S"
#    gives the refresher's rate N/S (median of the runs reported). The
#    demo signs for two issuers: the first 1,000 samples alternate between the P-256 TLS CA
#    and the RSA-2048 AP CA, the rest go to the TLS CA; so the raw rate to compare with is
#    the mix N / (N_p256 / raw_p256 + N_rsa / raw_rsa) at 2 threads (the refresher runs
#    one worker per core, and the demo's keys have 2 sessions each).
#
# Measurements run under flock $REVOCA_BENCH_LOCK (default /tmp/revoca-bench.lock), shared
# with the other benchmarks of this machine; builds do not hold it. Everything binds
# 127.0.0.1; every wait is bounded; the demos are killed by PID.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECS=${1:-5}
CERTS=${2:-20000}
ROUNDS=${3:-4}
RUNS=${4:-3}
LOCK=${REVOCA_BENCH_LOCK:-/tmp/revoca-bench.lock}
BIN=target/release/revoca
EXAMPLE=target/release/examples/sign_rate
PY=${PYTHON:-python3}
OUT=loadtests/out/hsm_rate       # logs and the example's output are kept here
mkdir -p "$OUT"

cargo build --release -p revoca >/dev/null
cargo build --release -p revoca-signer --example sign_rate >/dev/null

TMP=$(mktemp -d /tmp/revoca-hsm-rate.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

exec 9>"$LOCK"
lock() { flock -w 1200 9 || { echo "could not take $LOCK in 20 min" >&2; exit 1; }; }
unlock() { flock -u 9; }

# ---------------------------------------------------------------- 1. raw / pool / software
"$BIN" hsm init --dir "$TMP/rate" >/dev/null
"$BIN" hsm keygen --dir "$TMP/rate" --label bench-p256 --alg P-256 >/dev/null
"$BIN" hsm keygen --dir "$TMP/rate" --label bench-rsa --alg RSA-2048 >/dev/null
echo "uptime before: $(uptime)"
lock
LIMIT=$(awk -v s="$SECS" -v r="$ROUNDS" 'BEGIN { print int(s * r * 12 * 1.5) + 120 }')
SOFTHSM2_CONF="$TMP/rate/hsm/softhsm2.conf" timeout "$LIMIT" "$EXAMPLE" \
    --token revoca-demo --pin-file "$TMP/rate/hsm/user.pin" \
    --key bench-p256 --key bench-rsa --secs "$SECS" --rounds "$ROUNDS" --threads 1,2 --sessions 2 \
    | tee "$OUT/sign_rate.txt"
unlock

# ---------------------------------------------------------------- 2. refresher
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# refresher NAME [--hsm] -> sets LINE to "signed=N secs=S" (no subshell: the EXIT trap
# must see PID)
refresher() {
    local name=$1; shift
    local dir="$TMP/demo-$name-$RUN" port
    port=$(free_port)
    "$BIN" demo --dir "$dir" --listen "127.0.0.1:$port" --certs "$CERTS" "$@" \
        >"$OUT/$name-$RUN.stdout" 2>"$OUT/$name-$RUN.log" &
    PID=$!
    local ready=
    for _ in $(seq 1 1200); do   # 600 s
        if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.5
    done
    kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=
    if [ -z "$ready" ]; then echo "demo $name never became ready; log:" >&2; tail -20 "$OUT/$name-$RUN.log" >&2; exit 1; fi
    local line
    # The log may carry ANSI colours (tracing-subscriber's default): strip them.
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/$name-$RUN.log" | grep 'initial signing pass complete' | tail -1)
    [ -n "$line" ] || { echo "no 'initial signing pass complete' line in $name's log" >&2; exit 1; }
    LINE="$(grep -o 'signed=[0-9]*' <<<"$line") $(grep -o 'secs=[0-9.e-]*' <<<"$line")"
}

REFRESH_HSM=()
REFRESH_SOFT=()
lock
for RUN in $(seq 1 "$RUNS"); do
    refresher hsm --hsm; REFRESH_HSM+=("$LINE"); echo "refresher --hsm run $RUN: $LINE"
    refresher software; REFRESH_SOFT+=("$LINE"); echo "refresher software run $RUN: $LINE"
    rm -rf "$TMP/demo-hsm-$RUN" "$TMP/demo-software-$RUN"
done
unlock
echo "uptime after: $(uptime)"

# ---------------------------------------------------------------- summary
$PY - "$OUT/sign_rate.txt" "$CERTS" "$(IFS=';'; echo "${REFRESH_HSM[*]}")" "$(IFS=';'; echo "${REFRESH_SOFT[*]}")" <<'EOF'
import re, statistics, sys
path, certs = sys.argv[1], int(sys.argv[2])
runs = {}
for line in open(path):
    if line.startswith("RESULT"):
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        runs.setdefault((kv["algorithm"], kv["backend"], int(kv["threads"])), []).append(float(kv["per_sec"]))
rate = {k: statistics.median(v) for k, v in runs.items()}
samples = min(certs, 1000)
n_rsa = samples // 2
n_p256 = certs - n_rsa
print(f"\nrefresher pass: {certs} responses = {n_p256} P-256 + {n_rsa} RSA-2048 (demo layout)")
print("| backend | refresher responses/s (median) | runs | raw P-256 2 thr | ratio to raw P-256 | raw mix 2 thr | ratio to raw mix |")
print("|---|---|---|---|---|---|---|")
for arg, backend in ((sys.argv[3], "raw"), (sys.argv[4], "software")):
    per = []
    for one in arg.split(";"):
        kv = dict(re.findall(r"(\w+)=(\S+)", one))
        per.append((int(kv["signed"]) / float(kv["secs"]), int(kv["signed"])))
    r = statistics.median(x for x, _ in per)
    n = per[0][1]
    p256 = rate.get(("P-256", backend, 2))
    rsa = rate.get(("RSA-2048", backend, 2))
    mix = n / (n_p256 / p256 + n_rsa / rsa) if p256 and rsa else None
    name = "SoftHSM2 (--hsm)" if backend == "raw" else "software"
    each = " / ".join(f"{x:.0f}" for x, _ in per)
    print(f"| {name} | {r:.0f} | {each} | {p256:.0f} | {r / p256:.2f} | {mix:.0f} | {r / mix:.2f} |")
EOF

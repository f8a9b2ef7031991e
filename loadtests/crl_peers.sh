#!/usr/bin/env bash
# CRL build + sign side by side on the same entries: Revoca's crl-builder, `openssl ca
# -gencrl` and pyca/cryptography's CertificateRevocationListBuilder (issue 4).
#
#   loadtests/crl_peers.sh ["100000 1000000 10000000"]
#
# For every N: `crl_peers gen` (crl-builder example) makes N revoked entries once (random
# positive 16-octet serials from a seeded PRNG, revocation times over a year, a quarter
# without reason, the rest keyCompromise / superseded / cessationOfOperation) as
# entries.bin and as an OpenSSL index.txt of `R` lines; then, in rounds (RUNS for
# N <= 1,000,000, one above), each tool builds and signs a full CRL of those entries with
# the same P-256 CA key (ECDSA-SHA256; AKI keyid + cRLNumber; nextUpdate in 4 days):
#   revoca        crl_peers build: entries loaded into a vector, a one-entry warm-up CRL
#                 (one-time library costs), then write_crl to a file; build+sign = its own
#                 timer around write_crl (loading and warm-up are reported apart)
#   openssl       openssl ca -gencrl -config ca.cnf -out crl.pem -crldays 4 (whole process)
#   openssl-load  openssl ca -status SERIAL: only loads and indexes index.txt, to show how
#                 much of the gencrl time is reading the database
#   pyca          loadtests/crl_peers.py pyca: entries read, then RevokedCertificateBuilder
#                 per entry + CRL builder + sign + write (its own timer), CPython
# Before each run the tool's previous output is deleted and `sync` run (untimed), so no
# run pays for truncating or writing back an earlier one. Wall time and peak RSS of every
# process come from /usr/bin/time -v. Every tool's last CRL is checked with `openssl crl
# -CAfile ca.pem -noout` (parse + signature) and by crl_peers.py verify (entry count,
# 2,002 entries compared with entries.bin); a tool whose output fails is reported BROKEN,
# never timed.
#
# Bounded: each run is under `timeout $TIMEOUT` (600 s) and reported "timed out". Above
# 1,000,000 entries the peers run only if PEERS_BIG=yes, or (PEERS_BIG=auto, the default)
# when their 1,000,000-entry figures extrapolated linearly (x 1.2) fit TIMEOUT, 80 % of
# available memory and what is left of BUDGET seconds (1500) for the whole script.
# Etiquette on the shared machine: before each N, waits (up to 20 min, polling every 10 s)
# until no `scripts/test.sh`, `cargo test` or `pytest` runs, and every measured process
# holds /tmp/revoca-bench.lock (flock).
#
# Other settings: RUNS (3), SEED (20251009), KEEP=1 keeps the CRLs above 1,000,000
# entries (deleted after verification otherwise), PYTHON (an interpreter with
# cryptography), WAIT_IDLE=0 skips the wait for test runs (only for trying the script out).
# Output: loadtests/out/crl_peers/ (results-*.tsv, report-*.txt, per-run logs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
SIZES=${1:-"100000 1000000 10000000"}
RUNS=${RUNS:-3}
TIMEOUT=${TIMEOUT:-600}
PEERS_BIG=${PEERS_BIG:-auto}
BUDGET=${BUDGET:-1500}
SEED=${SEED:-20251009}
KEEP=${KEEP:-0}
LOCK=/tmp/revoca-bench.lock
BUSY='scripts/test.sh|cargo test|pytest'
OUT=$ROOT/loadtests/out/crl_peers
EX=$ROOT/target/release/examples/crl_peers
HELPER=$ROOT/loadtests/crl_peers.py
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$OUT/results-$STAMP.tsv
REPORT=$OUT/report-$STAMP.txt
LOG=$OUT/log-$STAMP.txt
mkdir -p "$OUT"

log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

# Tools. /usr/bin/time (not the shell keyword) gives the peak RSS.
if [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time"
    apt-get install -y time >/dev/null
fi
for tool in openssl flock timeout pgrep; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done
# The real interpreter, not a pyenv shim (a shim adds its own start-up to the wall time).
PY=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
"$PY" -c 'import cryptography' 2>/dev/null \
    || { echo "$PY lacks cryptography (pip install cryptography)" >&2; exit 1; }
PYCA_VERSION=$("$PY" -c 'import cryptography; print(cryptography.__version__)')

log "building crl-builder examples (release)"
cargo build --release -p revoca-crl-builder --examples 2>&1 | tail -1 | tee -a "$LOG" >&2

# The CA: P-256 key and self-signed certificate made by OpenSSL, used by all three tools.
CA=$OUT/ca
if [[ ! -f $CA/ski.hex ]]; then
    mkdir -p "$CA"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CA/ca.key" 2>/dev/null
    cat >"$CA/req.cnf" <<'EOF'
[ req ]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[ dn ]
CN = Revoca Bench CA
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    openssl req -new -x509 -config "$CA/req.cnf" -key "$CA/ca.key" -sha256 -days 3650 \
        -out "$CA/ca.pem"
    "$PY" "$HELPER" ca-info "$CA/ca.pem" "$CA"
fi
SKI=$(cat "$CA/ski.hex")

# Waits until no test run is going (20 minutes at most).
wait_idle() {
    local i
    [[ ${WAIT_IDLE:-1} == 1 ]] || return 0
    for i in $(seq 0 120); do
        pgrep -f "$BUSY" >/dev/null || return 0
        if ((i == 0)); then
            log "waiting for: $(pgrep -af "$BUSY" | cut -c1-80 | head -3 | paste -sd';')"
        fi
        ((i < 120)) && sleep 10
    done
    log "WARNING: test runs still going after 20 minutes; measuring anyway"
}

# timed BASE CMD...: runs CMD under the lock, /usr/bin/time -v and timeout; sets STATUS,
# WALL (s) and RSS (kB). Output in BASE.out / BASE.err / BASE.time.
timed() {
    local base=$1 rc=0
    shift
    rm -f "$base.time"
    flock -w 1200 "$LOCK" /usr/bin/time -v -o "$base.time" \
        timeout -k 10 "$TIMEOUT" "$@" >"$base.out" 2>"$base.err" || rc=$?
    WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, a, ":"); s = 0;
        for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s}' "$base.time" 2>/dev/null || true)
    RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$base.time" 2>/dev/null || true)
    case $rc in
        0) STATUS=ok ;;
        124 | 137) STATUS="timed out (${TIMEOUT} s)" ;;
        *) STATUS="failed (rc $rc, see $base.err)" ;;
    esac
    [[ -n $WALL && -n $RSS ]] || { [[ $STATUS == ok ]] && STATUS="failed (no /usr/bin/time output)"; }
    WALL=${WALL:-0}
    RSS=${RSS:-0}
}

# Before a timed run: no previous output to truncate inside the timer, no dirty pages of
# earlier runs being written back during it.
fresh() { rm -f "$@"; sync; }

field() { grep -o "\b$1=[^ ]*" "${2:--}" | head -1 | cut -d= -f2; }

# verify TOOL FILE D: parse + signature (openssl crl) and contents (crl_peers.py verify);
# prints the DER size, returns 1 if broken.
verify() {
    local tool=$1 file=$2 d=$3 inform=DER out
    [[ $file == *.pem ]] && inform=PEM
    if ! out=$(openssl crl -inform "$inform" -in "$file" -CAfile "$CA/ca.pem" -noout 2>&1) \
        || ! grep -q "verify OK" <<<"$out"; then
        log "$tool: openssl crl rejects $file: $out"
        return 1
    fi
    if ! out=$("$PY" "$HELPER" verify "$file" "$CA/ca.pem" "$d/entries.bin" 2>&1); then
        log "$tool: $out"
        return 1
    fi
    log "$tool: openssl crl: verify OK; $out"
    field bytes <<<"$out" >"$d/$tool.bytes"
}

printf 'n\ttool\trun\tstatus\tbs_s\twall_s\trss_kb\tcrl_bytes\tload_s\twarmup_s\n' >"$RESULTS"
log "sizes: $SIZES; runs: $RUNS; timeout: $TIMEOUT s; OpenSSL: $(openssl version); pyca: $PYCA_VERSION; $(nproc) cores"
prev_n=

for N in $SIZES; do
    D=$OUT/n$N
    mkdir -p "$D"
    if [[ ! -f $D/.generated-$SEED ]]; then
        rm -f "$D"/.generated-*
        log "N=$N: generating entries (seed $SEED)"
        "$EX" gen "$N" "$SEED" "$D" | tee -a "$LOG" >&2
        touch "$D/.generated-$SEED"
    fi
    printf 'unique_subject = no\n' >"$D/index.txt.attr"
    cat >"$D/ca.cnf" <<EOF
[ ca ]
default_ca = bench
[ bench ]
database = $D/index.txt
crlnumber = $D/crlnumber
certificate = $CA/ca.pem
private_key = $CA/ca.key
new_certs_dir = $D
serial = $D/serial
default_md = sha256
default_crl_days = 4
unique_subject = no
crl_extensions = crl_ext
policy = pol
[ pol ]
commonName = supplied
[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
    FIRST_SERIAL=$(head -1 "$D/index.txt" | cut -f4)

    runs=$RUNS
    peers=yes
    if ((N > 1000000)); then
        runs=1
        case $PEERS_BIG in
            yes) ;;
            no) peers="no (PEERS_BIG=no)" ;;
            *)
                if [[ -z $prev_n ]]; then
                    peers="no (nothing smaller measured to extrapolate from)"
                else
                    avail=$(awk '/MemAvailable/ {print $2}' /proc/meminfo)
                    verdict=$("$PY" "$HELPER" predict "$RESULTS" "$prev_n" "$N" "$TIMEOUT" \
                        "$avail" $((BUDGET - SECONDS - 120)))
                    log "N=$N: peers? $verdict"
                    [[ $verdict == yes* ]] || peers="no (${verdict#no: })"
                fi
                ;;
        esac
    fi

    wait_idle
    log "N=$N: measuring ($runs run(s)); load: $(uptime | sed 's/.*load average/load average/')"
    echo "N=$N start $(uptime)" >>"$OUT/uptime-$STAMP.txt"
    ROWS=$D/rows.tsv
    : >"$ROWS"
    for r in $(seq 1 "$runs"); do
        # Revoca
        fresh "$D/revoca.crl"
        timed "$D/revoca.$r" "$EX" build "$D/entries.bin" "$CA/ca.key" "$CA/issuer.der" "$SKI" \
            "$D/revoca.crl" 1
        bs=$(field bs_s "$D/revoca.$r.out" || true)
        printf '%s\trevoca\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$N" "$r" "$STATUS" "${bs:-0}" \
            "$WALL" "$RSS" "$(field bytes "$D/revoca.$r.out" || echo 0)" \
            "$(field load_s "$D/revoca.$r.out" || echo 0)" \
            "$(field warmup_s "$D/revoca.$r.out" || echo 0)" >>"$ROWS"
        log "N=$N run $r revoca: $STATUS, build+sign ${bs:-?} s (load $(field load_s "$D/revoca.$r.out" || echo ?) s, warm-up $(field warmup_s "$D/revoca.$r.out" || echo ?) s), wall $WALL s, peak RSS $((RSS / 1024)) MiB"
        [[ $peers == yes ]] || continue

        # OpenSSL: index load only, then the CRL
        fresh
        timed "$D/openssl-load.$r" openssl ca -config "$D/ca.cnf" -status "$FIRST_SERIAL"
        # `ca -status` exits 1 even when it found the serial.
        if [[ $STATUS == "failed (rc 1,"* ]] && grep -q "=Revoked (R)" "$D/openssl-load.$r.err"; then
            STATUS=ok
        fi
        printf '%s\topenssl-load\t%s\t%s\t%s\t%s\t%s\t0\t%s\t0\n' "$N" "$r" "$STATUS" "$WALL" \
            "$WALL" "$RSS" "$WALL" >>"$ROWS"
        log "N=$N run $r openssl ca -status: $STATUS, wall $WALL s, peak RSS $((RSS / 1024)) MiB"
        echo 01 >"$D/crlnumber"
        fresh "$D/crl.pem"
        timed "$D/openssl.$r" openssl ca -gencrl -config "$D/ca.cnf" -out "$D/crl.pem" -crldays 4
        printf '%s\topenssl\t%s\t%s\t%s\t%s\t%s\t0\t0\t0\n' "$N" "$r" "$STATUS" "$WALL" "$WALL" \
            "$RSS" >>"$ROWS"
        log "N=$N run $r openssl ca -gencrl: $STATUS, wall $WALL s, peak RSS $((RSS / 1024)) MiB"

        # pyca/cryptography
        fresh "$D/pyca.crl"
        timed "$D/pyca.$r" "$PY" "$HELPER" pyca "$D/entries.bin" "$CA/ca.key" "$CA/ca.pem" \
            "$D/pyca.crl"
        bs=$(field bs_s "$D/pyca.$r.out" || true)
        printf '%s\tpyca\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t0\n' "$N" "$r" "$STATUS" "${bs:-0}" \
            "$WALL" "$RSS" "$(field bytes "$D/pyca.$r.out" || echo 0)" \
            "$(field load_s "$D/pyca.$r.out" || echo 0)" >>"$ROWS"
        log "N=$N run $r pyca: $STATUS, build+sign ${bs:-?} s (load $(field load_s "$D/pyca.$r.out" || echo ?) s, sign $(field sign_s "$D/pyca.$r.out" || echo ?) s), wall $WALL s, peak RSS $((RSS / 1024)) MiB"
    done
    echo "N=$N end   $(uptime)" >>"$OUT/uptime-$STAMP.txt"

    # Verification (outside the lock, not timed). A broken output voids that tool's rows.
    for tool in revoca openssl pyca; do
        file=$D/$tool.crl
        [[ $tool == openssl ]] && file=$D/crl.pem
        grep -q "	$tool	.*	ok	" "$ROWS" || continue
        rm -f "$D/$tool.bytes"
        if verify "$tool" "$file" "$D"; then
            bytes=$(cat "$D/$tool.bytes")
            # OpenSSL reports no size: take the verified DER size.
            awk -F'\t' -v OFS='\t' -v t="$tool" -v b="$bytes" \
                '$2 == t && $8 == 0 {$8 = b} {print}' "$ROWS" >"$ROWS.tmp" && mv "$ROWS.tmp" "$ROWS"
        else
            awk -F'\t' -v OFS='\t' -v t="$tool" '$2 == t && $4 == "ok" {$4 = "BROKEN output"} {print}' \
                "$ROWS" >"$ROWS.tmp" && mv "$ROWS.tmp" "$ROWS"
            [[ $tool == openssl ]] && awk -F'\t' -v OFS='\t' \
                '$2 == "openssl-load" && $4 == "ok" {$4 = "BROKEN output"} {print}' \
                "$ROWS" >"$ROWS.tmp" && mv "$ROWS.tmp" "$ROWS"
        fi
    done
    if [[ $peers != yes ]]; then
        for tool in openssl pyca; do
            printf '%s\t%s\t0\tnot run: %s\t0\t0\t0\t0\t0\t0\n' "$N" "$tool" "${peers#no }" >>"$ROWS"
        done
    fi
    cat "$ROWS" >>"$RESULTS"
    if ((N > 1000000)) && [[ $KEEP != 1 ]]; then
        rm -f "$D/revoca.crl" "$D/crl.pem" "$D/pyca.crl"
    fi
    prev_n=$N
done

{
    echo "crl_peers.sh $STAMP: $(nproc) cores, $(openssl version), pyca/cryptography $PYCA_VERSION"
    cat "$OUT/uptime-$STAMP.txt"
    echo
    "$PY" "$HELPER" report "$RESULTS"
} | tee "$REPORT"
log "results: $RESULTS; report: $REPORT"

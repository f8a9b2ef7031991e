#!/usr/bin/env bash
# Run every test: formatting, lints, unit tests, release build, interop suite.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -k openssl      # extra arguments go to pytest (interop suite)
#
# Idempotent. On a fresh Debian machine (as root, or with sudo) it installs what the
# tests need first. Works in CI (CI=true). A missing tool is an error, never a skip.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- system packages
APT_PACKAGES=(openssl gnutls-bin curl python3 python3-pip python3-venv build-essential
              pkg-config cmake clang softhsm2 opensc)

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
fi
if ((${#missing[@]})); then
    command -v apt-get >/dev/null 2>&1 \
        || die "missing packages (${missing[*]}) and no apt-get to install them"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

for tool in openssl ocsptool curl python3; do
    command -v "$tool" >/dev/null 2>&1 \
        || die "required tool '$tool' is missing after installation (package: gnutls-bin for ocsptool)"
done

# ---------------------------------------------------------------- Rust toolchain
if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 \
    || die "cargo is not on PATH: install Rust with rustup (https://rustup.rs) and retry"
for comp in rustfmt clippy; do
    sub=${comp/rustfmt/fmt}
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "cargo $sub is missing and rustup is not available"
        log "adding rustup component $comp"
        rustup component add "$comp"
    fi
done

# ---------------------------------------------------------------- Python venv
VENV=$ROOT/target/test-venv
PY=$VENV/bin/python
if [[ ! -x $PY ]]; then
    log "creating venv $VENV"
    mkdir -p "$ROOT/target"
    python3 -m venv --system-site-packages "$VENV"
fi
if ! "$PY" - <<'EOF' >/dev/null 2>&1
import pytest, pytest_timeout, cryptography, acme, josepy, pkilint
major = int(cryptography.__version__.split(".")[0])
assert major >= 43, cryptography.__version__  # *_utc accessors on OCSP objects
from importlib.metadata import version
assert int(version("acme").split(".")[0]) >= 5, version("acme")  # ACME revocation client
EOF
then
    log "installing Python test dependencies into $VENV"
    "$PY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    "$PY" -m pip install -q "pytest>=7" "pytest-timeout>=2" "cryptography>=43" "acme>=5" \
        "pkilint>=0.13"
fi
# pkilint's command-line linters must be in the venv (a system-wide pkilint has no
# entry points there).
if [[ ! -x $VENV/bin/lint_cabf_serverauth_cert ]]; then
    log "installing pkilint into $VENV"
    "$PY" -m pip install -q --ignore-installed "pkilint>=0.13"
fi
"$PY" -c 'import pytest, pytest_timeout, cryptography, acme, josepy, pkilint' \
    || die "Python test dependencies are not importable from $VENV"

# The Rust tests call python3 (pyca/cryptography) and pkilint's linters: use the venv's.
export PATH=$VENV/bin:$PATH

# ---------------------------------------------------------------- Rust checks
log "cargo fmt --all -- --check"
cargo fmt --all -- --check

log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

log "cargo test --workspace"
cargo test --workspace

log "cargo build --release -p revoca"
cargo build --release -p revoca

# ---------------------------------------------------------------- interop suite
export REVOCA_BIN=$ROOT/target/release/revoca
[[ -x $REVOCA_BIN ]] || die "$REVOCA_BIN was not built"
export PYTHONDONTWRITEBYTECODE=1

log "interop suite (REVOCA_BIN=$REVOCA_BIN)"
"$PY" -m pytest tests/interop -q --timeout 300 -o cache_dir="$ROOT/target/pytest-cache" "$@"

"""`revoca demo --hsm`: every CA and responder key inside a SoftHSM2 token, no private key
file anywhere; responses signed in the token verify with OpenSSL and pyca/cryptography; a
revocation is signed in the token within 1 s; when the token goes away the responder keeps
serving what it has, answers tryLater for what it cannot sign, raises the alarm (metrics),
and recovers by itself when the token is back; the PIN never appears in logs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from cryptography.x509 import ocsp

from conftest import (
    TRY_LATER, build_request, describe, http_request, load_cert, ocsp_post, parse_success,
    require_tool, revoca_cli, run,
)

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture
def hsm_demo(private_server):
    if not os.path.exists(SOFTHSM_MODULE):
        pytest.fail(f"SoftHSM2 is not installed ({SOFTHSM_MODULE}); run scripts/test.sh",
                    pytrace=False)
    return private_server("hsm", certs=60, args=("--hsm",))


def manifest_of(srv) -> dict:
    return json.loads((srv.dir / "manifest.json").read_text())


def openssl_check(srv, m, sample, want: str):
    require_tool("openssl")
    cp = run(["openssl", "ocsp", "-issuer", sample["issuer"], "-cert", sample["cert"],
              "-url", f"http://127.0.0.1:{srv.port}/", "-CAfile", m["roots"][0], "-no_nonce"])
    out = (cp.stdout + cp.stderr).decode()
    assert "Response verify OK" in out and f": {want}" in out, describe(cp)


def test_no_private_key_file_and_responses_verify(hsm_demo):
    srv = hsm_demo
    m = manifest_of(srv)
    # No private key anywhere under the demo directory (the token's own files are
    # SoftHSM2's encrypted object store, not key files).
    for p in srv.dir.rglob("*"):
        if p.is_file() and "tokens" not in p.parts:
            data = p.read_bytes()
            assert b"PRIVATE KEY" not in data, f"{p} holds a private key"
    assert "hsm" in m and len(m["hsm"]["keys"]) == 4, m.get("hsm")
    cp = revoca_cli("hsm", "list", "--dir", srv.dir)
    assert cp.returncode == 0, describe(cp)
    listed = cp.stdout.decode()
    for label in ["root", "tls-ca", "tls-responder", "ap-ca", "ap-responder"]:
        assert f"{label}\t" in listed, listed
    good = [s for s in m["samples"] if s["status"] == "good"]
    for sample in good[:2] + [s for s in m["samples"] if s["status"] == "revoked"][:1]:
        openssl_check(srv, m, sample, sample["status"])
    # CRLs (and the root's ARL) are signed in the token too.
    for crl in [c for c in m["crls"] if c["partition"] in (None, 1)]:
        cp = run(["openssl", "crl", "-inform", "DER", "-in", crl["file"], "-CAfile", crl["issuer"],
                  "-noout", "-verify"])
        out = (cp.stdout + cp.stderr).decode()
        assert "verify OK" in out and "fail" not in out.lower(), describe(cp)


def _post(srv, m, sample):
    der = build_request(load_cert(sample["cert"]), load_cert(sample["issuer"]))
    return ocsp_post(srv.port, der)


def _metrics(srv) -> str:
    r = http_request(srv.port, "GET", "/metrics")
    assert r.status == 200
    return r.body.decode()


def test_revocation_signed_in_token_and_outage_recovery(hsm_demo):
    srv = hsm_demo
    m = manifest_of(srv)
    tls_cert = m["issuers"][0]["cert"]
    good = [s for s in m["samples"] if s["status"] == "good" and s["issuer"] == tls_cert]
    assert len(good) >= 3

    # A revocation is signed inside the token and served within 1 s.
    cp = revoca_cli("revoke", "--dir", srv.dir, "--cert", good[0]["cert"],
                    "--reason", "keyCompromise")
    assert cp.returncode == 0, describe(cp)
    t0 = time.monotonic()
    while parse_success(_post(srv, m, good[0])).certificate_status != ocsp.OCSPCertStatus.REVOKED:
        assert time.monotonic() - t0 < 1.0, "revocation not served within 1 s"
        time.sleep(0.02)
    metrics = _metrics(srv)
    assert 'revoca_signer_sign_seconds_bucket{backend="pkcs11"' in metrics, metrics[-2000:]

    # The token goes away.
    tokens = Path(m["hsm"]["softhsm_conf"]).parent / "tokens"
    away = tokens.with_name("tokens.away")
    shutil.move(tokens, away)
    try:
        # Already-signed responses keep being served.
        assert parse_success(_post(srv, m, good[1])).certificate_status == ocsp.OCSPCertStatus.GOOD
        # A new revocation is durable, but cannot be signed: tryLater (503), never the
        # stale "good", and the alarm metric rises.
        cp = revoca_cli("revoke", "--dir", srv.dir, "--cert", good[2]["cert"],
                        "--reason", "superseded", timeout=30)
        assert cp.returncode == 0, describe(cp)
        t0 = time.monotonic()
        while True:
            res = _post(srv, m, good[2])
            if res.status == 503:
                assert res.body == TRY_LATER
                break
            resp = ocsp.load_der_ocsp_response(res.body)
            assert resp.certificate_status != ocsp.OCSPCertStatus.GOOD, \
                "a revoked certificate was answered good during the outage"
            assert time.monotonic() - t0 < 5, "expected tryLater while the token is away"
            time.sleep(0.05)
        t0 = time.monotonic()
        while "revoca_refresh_retry_backlog 0" in _metrics(srv):
            assert time.monotonic() - t0 < 5, "retry backlog alarm did not rise"
            time.sleep(0.1)
        assert 'kind="unavailable"' in _metrics(srv) or "unavailable" in _metrics(srv)
    finally:
        shutil.move(away, tokens)
    # Back: the pending revocation is signed by itself, without any new command.
    t0 = time.monotonic()
    while True:
        res = _post(srv, m, good[2])
        if res.status == 200:
            resp = parse_success(res)
            if resp.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                break
        assert time.monotonic() - t0 < 15, "no recovery within 15 s of the token's return"
        time.sleep(0.1)
    assert "revoca_refresh_retry_backlog 0" in _metrics(srv)


def test_pin_never_logged(hsm_demo):
    srv = hsm_demo
    pin = (srv.dir / "hsm" / "user.pin").read_text().strip()
    assert len(pin) >= 8
    srv.stop()
    log = srv.log_path.read_text()
    assert "PKCS#11 key opened" in log, log[-2000:]
    assert pin not in log
    for p in srv.dir.rglob("*"):
        if p.is_file() and p.name != "user.pin" and "tokens" not in p.parts:
            assert pin.encode() not in p.read_bytes(), f"PIN found in {p}"

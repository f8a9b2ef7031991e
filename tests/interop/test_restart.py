"""Durability: a revocation survives SIGKILL of the server; the demo dir is reused."""

import signal
import time

from cryptography import x509
from cryptography.x509 import ocsp

from conftest import (
    assert_single_status, describe, ocsp_post, parse_success, revoca_cli, sample_request,
)


def snapshot(srv, manifest):
    out = {}
    for s in manifest.samples:
        r = parse_success(ocsp_post(srv.port, sample_request(manifest, s)), f"serial {s['serial']}")
        out[s["serial"]] = (
            r.certificate_status,
            r.revocation_reason if r.certificate_status == ocsp.OCSPCertStatus.REVOKED else None,
            r.revocation_time_utc if r.certificate_status == ocsp.OCSPCertStatus.REVOKED else None,
        )
    return out


def test_revocation_survives_sigkill(private_server):
    srv = private_server("demo")
    m = srv.manifest
    target = m.find(key_alg="RSA-2048", status="good")
    held = m.find(key_alg="RSA-2048", status="hold")

    cp = revoca_cli("revoke", "--dir", srv.dir, "--cert", target["cert"], "--reason", "superseded")
    assert cp.returncode == 0, describe(cp)
    # exit 0 means durable: kill hard right away, no grace period.
    deadline = time.monotonic() + 1.0
    while True:
        r = parse_success(ocsp_post(srv.port, sample_request(m, target)), "after revoke")
        if r.certificate_status == ocsp.OCSPCertStatus.REVOKED or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert r.revocation_reason == x509.ReasonFlags.superseded
    rev_time = r.revocation_time_utc
    before = snapshot(srv, m)

    srv._signal_group(signal.SIGKILL)
    srv.proc.wait(10)
    srv._cleanup()
    manifest_before = m.data

    srv.start()  # same dir, same port
    m2 = srv.manifest
    assert [s["serial"] for s in m2.samples] == [s["serial"] for s in manifest_before["samples"]], \
        "restart on the same dir did not reuse the demo PKI"
    r = parse_success(ocsp_post(srv.port, sample_request(m2, target)), "after restart")
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED, "revocation lost on SIGKILL"
    assert r.revocation_reason == x509.ReasonFlags.superseded
    assert r.revocation_time_utc == rev_time, \
        f"revocation time changed across restart: {rev_time} -> {r.revocation_time_utc}"

    after = snapshot(srv, m2)
    assert after == before, "statuses changed across restart"
    # and the untouched samples still match the manifest
    for s in m2.samples:
        if s["serial"] != target["serial"]:
            resp = parse_success(ocsp_post(srv.port, sample_request(m2, s)), s["serial"])
            assert_single_status(resp, s, f"after restart {s['serial']}")
    assert after[held["serial"]][1] == x509.ReasonFlags.certificate_hold


def test_sigterm_graceful_exit(private_server):
    srv = private_server("demo")
    assert srv.stop() == 0, f"SIGTERM: exit code {srv.proc.returncode}\n{srv.log_tail()}"
    srv2 = private_server("demo", port=srv.port, env={})
    assert srv2.manifest.samples  # restarts fine on the reused dir


def test_sigint_graceful_exit(private_server):
    srv = private_server("demo")
    srv._signal_group(signal.SIGINT)
    try:
        rc = srv.proc.wait(20)
    finally:
        srv._cleanup()
    assert rc == 0, f"SIGINT: exit code {rc}\n{srv.log_tail()}"

"""Revocation, hold and release through the CLI; the OCSP answer follows within 1 s.

Each test uses its own private demo (dir + server) so it cannot disturb the others.
"""

import datetime as dt
import time

import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from conftest import (
    describe, load_cert, ocsp_get, ocsp_post, parse_success, revoca_cli, sample_request,
)

PROPAGATION_LIMIT = 1.0


def status_of(srv, manifest, sample, use_get=False):
    der = sample_request(manifest, sample)
    res = (ocsp_get if use_get else ocsp_post)(srv.port, der)
    return parse_success(res, f"status of {sample['serial']}")


def wait_for(srv, manifest, sample, want_status, want_reason=None, limit=PROPAGATION_LIMIT):
    """Poll POST and GET until the answer matches; return (elapsed, response)."""
    t0 = time.monotonic()
    last = None
    while True:
        ok = True
        for use_get in (False, True):
            r = status_of(srv, manifest, sample, use_get)
            last = r
            if r.certificate_status != want_status or (
                    want_reason is not None and r.revocation_reason != want_reason):
                ok = False
                break
        elapsed = time.monotonic() - t0
        if ok:
            return elapsed, last
        if elapsed > limit:
            pytest.fail(f"serial {sample['serial']}: after {elapsed:.2f}s still "
                        f"{last.certificate_status} / {getattr(last, 'revocation_reason', None)}"
                        f", want {want_status} / {want_reason}")
        time.sleep(0.02)


def assert_ok(cp, what):
    assert cp.returncode == 0, f"{what} failed\n{describe(cp)}"


def assert_refused(cp, what):
    assert cp.returncode != 0, f"{what} should have been refused\n{describe(cp)}"
    assert cp.stderr.strip(), f"{what}: refused without a message on stderr\n{describe(cp)}"


@pytest.mark.parametrize("key_alg", ["P-256", "RSA-2048"])
def test_revoke_key_compromise_within_1s(private_server, key_alg):
    srv = private_server()
    m = srv.manifest
    sample = m.find(key_alg=key_alg, status="good")
    before = status_of(srv, m, sample)
    assert before.certificate_status == ocsp.OCSPCertStatus.GOOD

    t_cmd = dt.datetime.now(dt.timezone.utc)
    cp = revoca_cli("revoke", "--dir", srv.dir, "--cert", sample["cert"],
                    "--reason", "keyCompromise")
    assert_ok(cp, "revoke --cert keyCompromise")
    elapsed, r = wait_for(srv, m, sample, ocsp.OCSPCertStatus.REVOKED,
                          x509.ReasonFlags.key_compromise)
    assert elapsed <= PROPAGATION_LIMIT, f"revocation visible after {elapsed:.3f}s (> 1 s)"
    t_done = dt.datetime.now(dt.timezone.utc)
    rt = r.revocation_time_utc
    assert t_cmd - dt.timedelta(seconds=2) <= rt <= t_done + dt.timedelta(seconds=1), \
        f"revocation time {rt} outside [{t_cmd}, {t_done}]"
    assert r.this_update_utc >= t_cmd - dt.timedelta(seconds=2), \
        "revoked answer carries an old thisUpdate (not re-signed)"

    # Other good samples are untouched (except ones sharing the compromised key, which
    # the product may revoke too: "revoke every certificate with the same public key").
    key = load_cert(sample["cert"]).public_key()
    other = [s for s in m.find(status="good", all_=True)
             if s["serial"] != sample["serial"] and load_cert(s["cert"]).public_key() != key]
    for s in other:
        assert status_of(srv, m, s).certificate_status == ocsp.OCSPCertStatus.GOOD


@pytest.mark.parametrize("reason,flag", [
    ("superseded", x509.ReasonFlags.superseded),
    ("cessationOfOperation", x509.ReasonFlags.cessation_of_operation),
    ("affiliationChanged", x509.ReasonFlags.affiliation_changed),
    ("privilegeWithdrawn", x509.ReasonFlags.privilege_withdrawn),
])
def test_revoke_by_issuer_and_serial(private_server, reason, flag):
    srv = private_server()
    m = srv.manifest
    sample = m.find(key_alg="P-256", status="good")
    cp = revoca_cli("revoke", "--dir", srv.dir, "--issuer", sample["issuer"],
                    "--serial", sample["serial"], "--reason", reason)
    assert_ok(cp, f"revoke --issuer --serial {reason}")
    elapsed, _ = wait_for(srv, m, sample, ocsp.OCSPCertStatus.REVOKED, flag)
    assert elapsed <= PROPAGATION_LIMIT


def test_hold_then_release_rsa(private_server):
    srv = private_server()
    m = srv.manifest
    sample = m.find(key_alg="RSA-2048", status="good")
    assert m.issuer_for(sample)["allow_hold"] is True

    cp = revoca_cli("hold", "--dir", srv.dir, "--cert", sample["cert"])
    assert_ok(cp, "hold (RSA issuer)")
    elapsed, r = wait_for(srv, m, sample, ocsp.OCSPCertStatus.REVOKED,
                          x509.ReasonFlags.certificate_hold)
    assert elapsed <= PROPAGATION_LIMIT

    cp = revoca_cli("release", "--dir", srv.dir, "--cert", sample["cert"])
    assert_ok(cp, "release")
    elapsed, r = wait_for(srv, m, sample, ocsp.OCSPCertStatus.GOOD)
    assert elapsed <= PROPAGATION_LIMIT

    # Releasing again is an invalid transition (no longer on hold).
    assert_refused(revoca_cli("release", "--dir", srv.dir, "--cert", sample["cert"]),
                   "second release")
    assert status_of(srv, m, sample).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_hold_then_revoke_rsa(private_server):
    """A held certificate can be revoked for good."""
    srv = private_server()
    m = srv.manifest
    sample = m.find(key_alg="RSA-2048", status="hold")
    cp = revoca_cli("revoke", "--dir", srv.dir, "--cert", sample["cert"],
                    "--reason", "keyCompromise")
    assert_ok(cp, "revoke a held cert")
    wait_for(srv, m, sample, ocsp.OCSPCertStatus.REVOKED, x509.ReasonFlags.key_compromise)
    # ... and can no longer be released.
    assert_refused(revoca_cli("release", "--dir", srv.dir, "--cert", sample["cert"]),
                   "release of a revoked cert")
    r = status_of(srv, m, sample)
    assert r.revocation_reason == x509.ReasonFlags.key_compromise


def test_refused_transitions_leave_state_unchanged(private_server, tmp_path):
    srv = private_server()
    m = srv.manifest
    ec_good = m.find(key_alg="P-256", status="good")
    rsa_good = m.find(key_alg="RSA-2048", status="good")
    revoked = m.find(key_alg="RSA-2048", status="revoked")

    assert m.issuer_by_alg("P-256")["allow_hold"] is False
    assert_refused(revoca_cli("hold", "--dir", srv.dir, "--cert", ec_good["cert"]),
                   "hold on the ECDSA issuer (hold not allowed)")
    assert_refused(revoca_cli("release", "--dir", srv.dir, "--cert", rsa_good["cert"]),
                   "release of a good cert")
    assert_refused(revoca_cli("release", "--dir", srv.dir, "--cert", revoked["cert"]),
                   "release of a revoked (not held) cert")
    for bad in ("notAReason", "removeFromCRL", ""):
        assert_refused(revoca_cli("revoke", "--dir", srv.dir, "--cert", rsa_good["cert"],
                                  "--reason", bad), f"revoke with reason {bad!r}")
    # unknown serial under a known issuer
    assert_refused(revoca_cli("revoke", "--dir", srv.dir, "--issuer", ec_good["issuer"],
                              "--serial", "7e57ab1e0ddba11c0ffee0123456789",
                              "--reason", "keyCompromise"), "revoke of an unknown serial")
    # unknown issuer
    foreign = tmp_path / "foreign.pem"
    foreign.write_bytes(_foreign_ca_pem())
    assert_refused(revoca_cli("revoke", "--dir", srv.dir, "--issuer", foreign,
                              "--serial", ec_good["serial"], "--reason", "keyCompromise"),
                   "revoke under an unknown issuer")

    time.sleep(0.3)
    for s in (ec_good, rsa_good):
        assert status_of(srv, m, s).certificate_status == ocsp.OCSPCertStatus.GOOD, \
            f"a refused command changed the status of {s['serial']}"
    r = status_of(srv, m, revoked)
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED


def _foreign_ca_pem() -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Foreign CA")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)

"""The demo PKI and its manifest.json match the contract the other tests rely on."""

import os

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import load_cert, sample_serial


def test_manifest_shape(server, manifest):
    d = manifest.data
    assert d["ocsp_url"] == server.url
    assert manifest.validity_hours == 96
    assert 0 < manifest.max_age_cap <= 600
    assert os.path.isabs(d["admin_socket"])
    assert manifest.roots and all(os.path.isabs(r) and os.path.exists(r) for r in manifest.roots)
    algs = sorted(i["key_alg"] for i in manifest.issuers)
    assert algs == ["P-256", "RSA-2048"], algs


def test_issuers(manifest):
    for iss in manifest.issuers:
        ca = load_cert(iss["cert"])
        key = ca.public_key()
        if iss["key_alg"] == "P-256":
            assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
            assert iss["allow_hold"] is False, "the ECDSA issuer must not allow hold"
        else:
            assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
            assert iss["allow_hold"] is True, "the RSA issuer must allow hold"
        assert iss["unassigned"] == "unauthorized"
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        roots = [load_cert(r) for r in manifest.roots]
        assert any(ca.issuer == r.subject for r in roots) or ca.issuer == ca.subject, \
            f"{iss['name']}: issuer {ca.issuer.rfc4514_string()} is not a manifest root"
        resp = load_cert(iss["responder_cert"])
        assert resp.issuer == ca.subject, f"{iss['name']}: responder not issued by the CA"
        resp.verify_directly_issued_by(ca)


def test_samples_cover_statuses(manifest):
    for alg in ("P-256", "RSA-2048"):
        assert manifest.find(key_alg=alg, status="good", all_=True), f"no good sample for {alg}"
        revoked = manifest.find(key_alg=alg, status="revoked", all_=True)
        reasons = {s["reason"] for s in revoked}
        for r in ("keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged"):
            assert r in reasons, f"{alg}: no revoked sample with reason {r} (have {reasons})"
        for s in revoked:
            assert s["revocation_time"], f"revoked sample {s['serial']} without revocation_time"
    holds = manifest.find(status="hold", all_=True)
    assert holds, "no hold sample"
    for h in holds:
        assert manifest.issuer_for(h)["allow_hold"] is True
        assert h["reason"] == "certificateHold"


def test_sample_certs_match_manifest(manifest):
    for s in manifest.samples:
        cert = load_cert(s["cert"])
        ca = load_cert(s["issuer"])
        assert cert.serial_number == sample_serial(s), s
        assert s["serial"] == format(cert.serial_number, "x"), \
            f"serial {s['serial']!r} not lowercase hex without leading zeros"
        assert cert.issuer == ca.subject
        cert.verify_directly_issued_by(ca)
        if s["status"] == "good":
            assert s.get("reason") is None and s.get("revocation_time") is None

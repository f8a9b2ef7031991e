"""OCSP responder key rollover without a gap: `revoca responder rollover` issues a new
responder certificate from the CA, re-signs every response in the background and retires the
old key; every answer during the rollover is a valid, verifiable response with the right
status; a revocation during it is served within 1 s; afterwards (and after a restart) the
new certificate signs.
"""

from __future__ import annotations

import json
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from conftest import build_request, describe, load_cert, ocsp_post, revoca_cli


def verify(resp: ocsp.OCSPResponse) -> x509.Certificate:
    """Checks the response signature with the responder certificate it carries; returns it."""
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificates, "no responder certificate in the response"
    signer = resp.certificates[0]
    key = signer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(),
                   resp.signature_hash_algorithm)
    else:
        raise AssertionError(f"unexpected key {key!r}")
    return signer


def test_rollover_without_gap(private_server):
    srv = private_server("rollover", certs=3000)
    m = json.loads((srv.dir / "manifest.json").read_text())
    tls = m["issuers"][0]
    old_cert = load_cert(tls["responder_cert"])
    samples = [s for s in m["samples"] if s["issuer"] == tls["cert"]]
    good = [s for s in samples if s["status"] == "good"]
    requests = [(s, build_request(load_cert(s["cert"]), load_cert(s["issuer"])))
                for s in samples[:40]]

    failures: list[str] = []
    seen_signers: set[bytes] = set()
    stop = threading.Event()
    revoked_during = good[0]

    def poll():
        while not stop.is_set():
            for sample, der in requests:
                try:
                    res = ocsp_post(srv.port, der)
                    if res.status != 200:
                        failures.append(f"{sample['serial']}: HTTP {res.status}")
                        continue
                    resp = ocsp.load_der_ocsp_response(res.body)
                    signer = verify(resp)
                    seen_signers.add(signer.public_bytes(serialization.Encoding.DER))
                    if sample is not revoked_during:
                        want = ocsp.OCSPCertStatus.GOOD if sample["status"] == "good" \
                            else ocsp.OCSPCertStatus.REVOKED
                        if resp.certificate_status != want:
                            failures.append(f"{sample['serial']}: {resp.certificate_status}")
                except Exception as e:  # noqa: BLE001 - every failure is reported
                    failures.append(f"{sample['serial']}: {e!r}")

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        time.sleep(0.3)
        rollover = {}

        def run_rollover():
            rollover["cp"] = revoca_cli("responder", "rollover", "--dir", srv.dir,
                                        "--issuer", tls["name"], timeout=600)

        t = threading.Thread(target=run_rollover)
        t.start()
        # A revocation while the rollover runs is still served within 1 s.
        time.sleep(0.05)
        cp = revoca_cli("revoke", "--dir", srv.dir, "--cert", revoked_during["cert"],
                        "--reason", "keyCompromise")
        assert cp.returncode == 0, describe(cp)
        der = build_request(load_cert(revoked_during["cert"]), load_cert(revoked_during["issuer"]))
        t0 = time.monotonic()
        while True:
            resp = ocsp.load_der_ocsp_response(ocsp_post(srv.port, der).body)
            if resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL and \
                    resp.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                verify(resp)
                break
            assert time.monotonic() - t0 < 1.0, "revocation during rollover not served within 1 s"
            time.sleep(0.02)
        t.join(timeout=600)
        cp = rollover["cp"]
        assert cp.returncode == 0 and "re-signed" in cp.stdout.decode(), describe(cp)
        time.sleep(0.3)
    finally:
        stop.set()
        poller.join(timeout=30)
    assert not failures, f"{len(failures)} bad answers during the rollover, e.g. {failures[:5]}"

    # After the rollover every response is signed by the new certificate.
    old_der = old_cert.public_bytes(serialization.Encoding.DER)
    new_signers = set()
    for _, der in requests:
        signer = verify(ocsp.load_der_ocsp_response(ocsp_post(srv.port, der).body))
        new_signers.add(signer.public_bytes(serialization.Encoding.DER))
    assert len(new_signers) == 1 and old_der not in new_signers, "old responder still signing"
    new_der = new_signers.pop()
    new_cert = x509.load_der_x509_certificate(new_der)
    assert new_cert.issuer == old_cert.issuer and new_cert.subject == old_cert.subject
    assert new_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
        old_cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ca = load_cert(tls["cert"])
    ca.public_key().verify(new_cert.signature, new_cert.tbs_certificate_bytes,
                           ec.ECDSA(hashes.SHA256()))
    assert old_der in seen_signers and new_der in seen_signers

    # A restart keeps the new key (the configuration was rewritten).
    srv.stop()
    srv.start()
    for _, der in requests[:5]:
        signer = verify(ocsp.load_der_ocsp_response(ocsp_post(srv.port, der).body))
        assert signer.public_bytes(serialization.Encoding.DER) == new_der

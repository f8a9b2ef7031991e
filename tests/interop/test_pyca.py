"""Response contents checked with pyca/cryptography."""

import datetime as dt
import hashlib
import os
import re

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import (
    MALFORMED_REQUEST, OID_OCSP_NOCHECK, OID_OCSP_NONCE, OID_REASON_CODE, UNAUTHORIZED,
    assert_single_status, build_multi_request, build_request, der_certid, key_bitstring_hash,
    load_cert, ocsp_get, ocsp_post, parse_success, sample_request, sample_serial,
)

HASHES = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


def check_signed_response(resp: ocsp.OCSPResponse, manifest, sample, what: str):
    """Every contract check on a SUCCESSFUL single-certificate response."""
    issuer = manifest.issuer_for(sample)
    ca = load_cert(issuer["cert"])
    responder = load_cert(issuer["responder_cert"])

    # Responder ID by key = SHA-1 of the responder's subjectPublicKey BIT STRING.
    assert resp.responder_name is None, f"{what}: ResponderID byName, want byKey"
    assert resp.responder_key_hash == key_bitstring_hash(responder), \
        f"{what}: responder_key_hash {resp.responder_key_hash.hex()} != SHA-1(responder key)"
    assert resp.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(
        responder.public_key()).digest

    # Delegated responder certificate is included and is the one from the manifest.
    assert resp.certificates, f"{what}: no certificates in BasicOCSPResponse"
    assert responder in resp.certificates, f"{what}: manifest responder cert not included"
    included = responder
    eku = included.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.OCSP_SIGNING in list(eku), f"{what}: responder lacks OCSPSigning"
    included.extensions.get_extension_for_oid(OID_OCSP_NOCHECK)  # raises if absent
    assert included.issuer == ca.subject
    included.verify_directly_issued_by(ca)

    # Signature over tbsResponseData.
    pub = included.public_key()
    assert isinstance(resp.signature_hash_algorithm, hashes.SHA256), \
        f"{what}: signature hash {resp.signature_hash_algorithm}"
    if issuer["key_alg"] == "P-256":
        assert isinstance(pub, ec.EllipticCurvePublicKey), f"{what}: responder key not EC"
        verify = lambda: pub.verify(resp.signature, resp.tbs_response_bytes,
                                    ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(pub, rsa.RSAPublicKey), f"{what}: responder key not RSA"
        verify = lambda: pub.verify(resp.signature, resp.tbs_response_bytes,
                                    padding.PKCS1v15(), hashes.SHA256())
    try:
        verify()
    except InvalidSignature:
        pytest.fail(f"{what}: signature does not verify with the responder key")

    # Single response.
    singles = list(resp.responses)
    assert len(singles) == 1, f"{what}: {len(singles)} SingleResponses"
    assert resp.serial_number == sample_serial(sample)
    assert_single_status(resp, sample, what)

    # Freshness window.
    t = now_utc()
    tu, nu = resp.this_update_utc, resp.next_update_utc
    assert nu is not None, f"{what}: no nextUpdate"
    assert tu <= t + dt.timedelta(seconds=5), f"{what}: thisUpdate {tu} in the future"
    assert t < nu, f"{what}: nextUpdate {nu} already past"
    span = (nu - tu).total_seconds()
    assert abs(span - manifest.validity_hours * 3600) <= 60, \
        f"{what}: validity {span}s, want {manifest.validity_hours}h"
    assert resp.produced_at_utc <= t + dt.timedelta(seconds=5)

    # No reasonCode in singleExtensions (BR 7.3), no nonce (pre-signed).
    for ext in resp.single_extensions:
        assert ext.oid != OID_REASON_CODE, f"{what}: reasonCode in singleExtensions"
    for ext in resp.extensions:
        assert ext.oid != OID_OCSP_NONCE, f"{what}: nonce in a pre-signed response"


@pytest.mark.parametrize("alg", ["sha1", "sha256"])
def test_all_samples_post(server, manifest, alg):
    assert manifest.samples
    for s in manifest.samples:
        req_der = sample_request(manifest, s, HASHES[alg])
        req = ocsp.load_der_ocsp_request(req_der)
        what = f"POST {alg} {s['status']} {s.get('reason')} serial={s['serial']}"
        resp = parse_success(ocsp_post(server.port, req_der), what)
        check_signed_response(resp, manifest, s, what)
        assert isinstance(resp.hash_algorithm, type(HASHES[alg])), \
            f"{what}: CertID hash {resp.hash_algorithm.name}, request used {alg}"
        assert resp.issuer_name_hash == req.issuer_name_hash
        assert resp.issuer_key_hash == req.issuer_key_hash


@pytest.mark.parametrize("alg", ["sha1", "sha256"])
def test_get_equals_post(server, manifest, alg):
    for s in manifest.samples[:6]:
        der = sample_request(manifest, s, HASHES[alg])
        a = ocsp_post(server.port, der)
        b = ocsp_get(server.port, der)
        assert a.status == b.status == 200
        assert a.body == b.body, f"GET and POST differ for serial {s['serial']} ({alg})"
        check_signed_response(ocsp.load_der_ocsp_response(b.body), manifest, s, "GET " + alg)


def test_presigned_stable_and_nonce_ignored(server, manifest):
    s = manifest.find(key_alg="P-256", status="good")
    plain = ocsp_post(server.port, sample_request(manifest, s)).body
    again = ocsp_post(server.port, sample_request(manifest, s)).body
    assert plain == again, "pre-signed response changed between two identical requests"
    with_nonce = ocsp_post(server.port, sample_request(manifest, s, nonce=os.urandom(16)))
    resp = parse_success(with_nonce, "nonce request")
    assert with_nonce.body == plain, "nonce request did not get the pre-signed response"
    assert all(e.oid != OID_OCSP_NONCE for e in resp.extensions)


def _assert_unauthorized(res, what):
    assert res.status == 200, f"{what}: HTTP {res.status}"
    assert res.body == UNAUTHORIZED, f"{what}: body {res.body.hex()}, want unauthorized"
    assert ocsp.load_der_ocsp_response(res.body).response_status == \
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    cc = (res.header("cache-control") or "").lower()
    assert "no-cache" in cc or "no-store" in cc or re.search(r"max-age=0\b", cc), \
        f"{what}: unauthorized answer is cacheable (Cache-Control {cc!r})"
    assert "public" not in cc


def _throwaway_ca_and_leaf():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Interop Unknown CA")])
    t = now_utc()
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(t - dt.timedelta(hours=1)).not_valid_after(t + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
            .issuer_name(name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(t - dt.timedelta(hours=1)).not_valid_after(t + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return ca, leaf


@pytest.mark.parametrize("alg", ["sha1", "sha256"])
def test_unknown_issuer_unauthorized(server, alg):
    ca, leaf = _throwaway_ca_and_leaf()
    der = build_request(leaf, ca, HASHES[alg])
    _assert_unauthorized(ocsp_post(server.port, der), f"unknown issuer POST {alg}")
    _assert_unauthorized(ocsp_get(server.port, der), f"unknown issuer GET {alg}")


def test_unknown_issuer_same_name_other_key(server, manifest):
    """Issuers are matched by key hash: a real CA name with a foreign key is unknown."""
    iss = manifest.issuer_by_alg("P-256")
    ca = load_cert(iss["cert"])
    name_hash = hashlib.sha1(ca.subject.public_bytes()).digest()
    der = (ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash, hashlib.sha1(os.urandom(32)).digest(),
        sample_serial(manifest.find(key_alg="P-256", status="good")), hashes.SHA1())
        .build().public_bytes(serialization.Encoding.DER))
    _assert_unauthorized(ocsp_post(server.port, der), "real name, foreign key hash")


@pytest.mark.parametrize("key_alg", ["P-256", "RSA-2048"])
@pytest.mark.parametrize("alg", ["sha1", "sha256"])
def test_unassigned_serial_unauthorized(server, manifest, key_alg, alg):
    ca = load_cert(manifest.issuer_by_alg(key_alg)["cert"])
    h = getattr(hashlib, alg)
    known = {sample_serial(s) for s in manifest.samples}
    serial = int.from_bytes(os.urandom(16), "big") >> 1
    assert serial not in known
    der = (ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        h(ca.subject.public_bytes()).digest(), key_bitstring_hash(ca, h), serial, HASHES[alg])
        .build().public_bytes(serialization.Encoding.DER))
    _assert_unauthorized(ocsp_post(server.port, der), f"unassigned serial {key_alg} {alg}")


@pytest.mark.parametrize("body", [
    b"", b"\x00", b"hello, world", b"\x30\x03\x02\x01\x01",
    b"\x30\x82\xff\xff\x30", b"\x30" + b"\x80" * 40,
])
def test_malformed_post(server, body):
    res = ocsp_post(server.port, body)
    assert res.status == 400, f"POST {body[:16].hex()}: HTTP {res.status}"
    assert res.body == MALFORMED_REQUEST, f"POST {body[:16].hex()}: body {res.body.hex()}"
    # the server is still alive
    assert ocsp_post(server.port, b"junk").status == 400


def test_truncated_request(server, manifest):
    der = sample_request(manifest, manifest.find(status="good"))
    for cut in (1, 5, len(der) // 2, len(der) - 1):
        res = ocsp_post(server.port, der[:cut])
        assert res.status == 400 and res.body == MALFORMED_REQUEST, \
            f"truncated to {cut} bytes: HTTP {res.status} body {res.body.hex()}"


@pytest.mark.parametrize("key_alg", ["P-256", "RSA-2048"])
def test_multi_certid(server, manifest, key_alg):
    good = manifest.find(key_alg=key_alg, status="good")
    revoked = manifest.find(key_alg=key_alg, status="revoked", reason="keyCompromise")
    ca = load_cert(manifest.issuer_by_alg(key_alg)["cert"])
    der = build_multi_request([der_certid(ca, sample_serial(good)),
                               der_certid(ca, sample_serial(revoked))])
    # (pyca refuses to load multi-request OCSPRequests, so the DER is hand-built.)

    res = ocsp_post(server.port, der)
    resp = parse_success(res, f"multi-CertID {key_alg}")
    singles = list(resp.responses)
    assert len(singles) == 2, f"multi-CertID: {len(singles)} SingleResponses, want 2"
    by_serial = {s.serial_number: s for s in singles}
    assert set(by_serial) == {sample_serial(good), sample_serial(revoked)}
    assert_single_status(by_serial[sample_serial(good)], good, "multi good")
    assert_single_status(by_serial[sample_serial(revoked)], revoked, "multi revoked")
    for s in singles:
        assert isinstance(s.hash_algorithm, hashes.SHA1)
    # pyca exposes no per-SingleResponse extensions: look for the reasonCode OID
    # (06 03 55 1d 15) in the signed ResponseData instead.
    assert bytes.fromhex("0603551d15") not in resp.tbs_response_bytes, \
        "multi-CertID: reasonCode extension present"

    cc = (res.header("cache-control") or "").lower()
    assert "public" not in cc and (
        "no-cache" in cc or "no-store" in cc or "private" in cc or re.search(r"max-age=0\b", cc)
    ), f"multi-CertID answer must not be publicly cacheable, Cache-Control {cc!r}"
    # Signature still by the delegated responder.
    responder = load_cert(manifest.issuer_by_alg(key_alg)["responder_cert"])
    assert resp.responder_key_hash == key_bitstring_hash(responder)
    pub = responder.public_key()
    if key_alg == "P-256":
        pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    else:
        pub.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), hashes.SHA256())

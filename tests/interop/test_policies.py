"""Per-issuer policies: `unassigned` (unauthorized | revoked | unknown) and `nonce`
(ignore | echo), as documented in docs/configuration.md.

A private demo is created, stopped, its `config.toml` edited so that

* issuer A (first ``[[issuer]]``): ``unassigned = "revoked"``, ``nonce = "echo"``
* issuer B (second ``[[issuer]]``): ``unassigned = "unknown"`` (nonce stays ``ignore``)

and restarted on the same directory (the demo reuses an existing config).  The shared demo
(default policy ``unauthorized``) is checked too.  Every check is made over POST and GET.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp

from conftest import (
    OID_OCSP_NONCE, OID_REASON_CODE, UNAUTHORIZED, DemoServer, HttpResult, Manifest,
    assert_single_status, der_oid, der_tlv, key_bitstring_hash, load_cert, ocsp_get,
    ocsp_post, parse_success, sample_request, sample_serial,
)

POLICY_CERTS = 50

# id-pkix-ocsp-extended-revoke (RFC 6960 §4.4.8): value NULL, never critical.
OID_EXTENDED_REVOKE = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.9")
DER_NULL = b"\x05\x00"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

HASHES = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}
METHODS = {"POST": ocsp_post, "GET": ocsp_get}


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


# --------------------------------------------------------------------------
# config editing
# --------------------------------------------------------------------------


def set_issuer_option(text: str, index: int, key: str, old: str, new: str) -> str:
    """Replace `key = "old"` with `key = "new"` inside the index-th [[issuer]] table."""
    headers = list(re.finditer(r"(?m)^\s*\[\[?[^\]\n]+\]\]?\s*$", text))
    issuers = [h for h in headers if re.match(r"\s*\[\[issuer\]\]", h.group(0))]
    assert len(issuers) > index, \
        f"config.toml has {len(issuers)} [[issuer]] tables, need at least {index + 1}"
    start = issuers[index].end()
    later = [h.start() for h in headers if h.start() > issuers[index].start()]
    end = later[0] if later else len(text)
    table = text[start:end]
    pattern = rf'(?m)^(\s*){re.escape(key)}\s*=\s*"{re.escape(old)}"[ \t]*$'
    table, n = re.subn(pattern, rf'\g<1>{key} = "{new}"', table)
    assert n == 1, (f"[[issuer]] #{index}: expected exactly one line {key} = \"{old}\", "
                    f"replaced {n}\n--- table ---\n{text[start:end]}")
    return text[:start] + table + text[end:]


@dataclass
class PolicyIssuer:
    info: dict                # manifest issuer entry
    ca: x509.Certificate
    responder: x509.Certificate

    @property
    def key_alg(self) -> str:
        return self.info["key_alg"]


@dataclass
class PolicyDemo:
    srv: DemoServer
    manifest: Manifest
    a: PolicyIssuer           # unassigned = revoked, nonce = echo
    b: PolicyIssuer           # unassigned = unknown, nonce = ignore
    config: dict              # config.toml as read back after the restart

    @property
    def port(self) -> int:
        return self.srv.port


def _issuer_for_cert_path(manifest: Manifest, path: str) -> PolicyIssuer:
    for iss in manifest.issuers:
        if os.path.realpath(iss["cert"]) == os.path.realpath(path):
            return PolicyIssuer(iss, load_cert(iss["cert"]), load_cert(iss["responder_cert"]))
    raise AssertionError(f"config issuer cert {path} is not in the manifest issuers")


@pytest.fixture(scope="module")
def policy_demo(tmp_path_factory):
    """A private demo restarted with edited per-issuer policies (module-scoped)."""
    d = tmp_path_factory.mktemp("policies") / "demo"
    srv = DemoServer(d, POLICY_CERTS)
    try:
        srv.start()
        srv.stop()
        cfg_path = d / "config.toml"
        text = cfg_path.read_text()
        before = tomllib.loads(text)
        assert len(before["issuer"]) >= 2, f"demo config has {len(before['issuer'])} issuers"
        for i in (0, 1):
            assert before["issuer"][i].get("unassigned", "unauthorized") == "unauthorized"
            assert before["issuer"][i].get("nonce", "ignore") == "ignore"

        text = set_issuer_option(text, 0, "unassigned", "unauthorized", "revoked")
        text = set_issuer_option(text, 0, "nonce", "ignore", "echo")
        text = set_issuer_option(text, 1, "unassigned", "unauthorized", "unknown")
        edited = tomllib.loads(text)  # still valid TOML
        assert edited["issuer"][0]["unassigned"] == "revoked"
        assert edited["issuer"][0]["nonce"] == "echo"
        assert edited["issuer"][1]["unassigned"] == "unknown"
        assert edited["issuer"][1]["nonce"] == "ignore"
        # nothing else changed
        for i, iss in enumerate(before["issuer"]):
            for k, v in iss.items():
                if (i, k) not in {(0, "unassigned"), (0, "nonce"), (1, "unassigned")}:
                    assert edited["issuer"][i][k] == v, f"issuer {i} {k} changed by the edit"
        cfg_path.write_text(text)

        srv.start()  # same dir, same port: the edited config is reused
        after = tomllib.loads(cfg_path.read_text())
        m = srv.manifest
        demo = PolicyDemo(
            srv=srv, manifest=m,
            a=_issuer_for_cert_path(m, after["issuer"][0]["cert"]),
            b=_issuer_for_cert_path(m, after["issuer"][1]["cert"]),
            config=after,
        )
        yield demo
    finally:
        srv.kill()


# --------------------------------------------------------------------------
# request / response helpers
# --------------------------------------------------------------------------


def random_unassigned_serial(manifest: Manifest) -> int:
    known = {sample_serial(s) for s in manifest.samples}
    while True:
        serial = (int.from_bytes(os.urandom(16), "big") >> 1) | (1 << 100)
        if serial not in known:
            return serial


def certid_request(ca: x509.Certificate, serial: int, alg: str = "sha1",
                   nonce: bytes | None = None) -> bytes:
    h = getattr(hashlib, alg)
    b = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        h(ca.subject.public_bytes()).digest(), key_bitstring_hash(ca, h), serial, HASHES[alg])
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def nonce_extension_der(nonce: bytes) -> bytes:
    """The Extension TLV pyca puts in the request (extnValue = OCTET STRING nonce)."""
    return der_tlv(0x30, der_oid("1.3.6.1.5.5.7.48.1.2") + der_tlv(0x04, der_tlv(0x04, nonce)))


def verify_signed_by_responder(resp: ocsp.OCSPResponse, issuer: PolicyIssuer, what: str):
    """Signature verifies with the responder certificate carried in the response, which is
    the manifest's delegated responder, issued by the CA, and named by ResponderID byKey."""
    assert resp.responder_name is None, f"{what}: ResponderID byName, want byKey"
    assert resp.certificates, f"{what}: no certificates in BasicOCSPResponse"
    signer = [c for c in resp.certificates
              if key_bitstring_hash(c) == resp.responder_key_hash]
    assert len(signer) == 1, \
        f"{what}: {len(signer)} included certificates match the ResponderID key hash"
    signer = signer[0]
    assert signer == issuer.responder, f"{what}: included signer is not the manifest responder"
    assert signer.issuer == issuer.ca.subject
    signer.verify_directly_issued_by(issuer.ca)
    assert isinstance(resp.signature_hash_algorithm, hashes.SHA256), \
        f"{what}: signature hash {resp.signature_hash_algorithm}"
    pub = signer.public_key()
    try:
        if issuer.key_alg == "P-256":
            assert isinstance(pub, ec.EllipticCurvePublicKey)
            pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
        else:
            assert isinstance(pub, rsa.RSAPublicKey)
            pub.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(),
                       hashes.SHA256())
    except InvalidSignature:
        pytest.fail(f"{what}: signature does not verify with the included responder cert")


def check_certid_echo(resp: ocsp.OCSPResponse, req_der: bytes, what: str):
    req = ocsp.load_der_ocsp_request(req_der)
    singles = list(resp.responses)
    assert len(singles) == 1, f"{what}: {len(singles)} SingleResponses"
    assert resp.serial_number == req.serial_number, \
        f"{what}: serial {resp.serial_number:x}, asked {req.serial_number:x}"
    assert type(resp.hash_algorithm) is type(req.hash_algorithm), \
        f"{what}: CertID hash {resp.hash_algorithm.name}, asked {req.hash_algorithm.name}"
    assert resp.issuer_name_hash == req.issuer_name_hash, f"{what}: issuerNameHash differs"
    assert resp.issuer_key_hash == req.issuer_key_hash, f"{what}: issuerKeyHash differs"


def check_window(resp: ocsp.OCSPResponse, what: str):
    t = now_utc()
    assert resp.this_update_utc <= t + dt.timedelta(seconds=5), \
        f"{what}: thisUpdate {resp.this_update_utc} in the future"
    assert resp.next_update_utc is not None, f"{what}: no nextUpdate"
    assert resp.next_update_utc > t, f"{what}: nextUpdate {resp.next_update_utc} already past"
    assert resp.produced_at_utc <= t + dt.timedelta(seconds=5)


def no_reason_code_ext(resp: ocsp.OCSPResponse, what: str):
    for ext in resp.single_extensions:
        assert ext.oid != OID_REASON_CODE, f"{what}: reasonCode in singleExtensions"


def response_ext(resp: ocsp.OCSPResponse, oid):
    found = [e for e in resp.extensions if e.oid == oid]
    assert len(found) <= 1, f"{len(found)} responseExtensions with OID {oid.dotted_string}"
    return found[0] if found else None


def check_erd(resp: ocsp.OCSPResponse, what: str):
    ext = response_ext(resp, OID_EXTENDED_REVOKE)
    oids = [e.oid.dotted_string for e in resp.extensions]
    assert ext is not None, \
        f"{what}: no Extended Revoked Definition in responseExtensions (have {oids})"
    assert not ext.critical, f"{what}: extended-revoke marked critical (RFC 6960 §4.4.8)"
    raw = getattr(ext.value, "value", None)
    if raw is not None:  # UnrecognizedExtension: extnValue bytes
        assert raw == DER_NULL, f"{what}: extended-revoke value {raw.hex()}, want NULL (0500)"
    # DER: SEQUENCE { extnID, extnValue OCTET STRING { NULL } } (critical DEFAULT FALSE omitted)
    want = der_tlv(0x30, der_oid("1.3.6.1.5.5.7.48.1.9") + der_tlv(0x04, DER_NULL))
    assert want in resp.tbs_response_bytes, \
        f"{what}: extended-revoke extension not encoded as {want.hex()}"


def not_cacheable(res: HttpResult, what: str):
    cc = (res.header("cache-control") or "").lower()
    parts = [p.strip() for p in cc.split(",") if p.strip()]
    assert "no-cache" in parts or "no-store" in parts, \
        f"{what}: Cache-Control {cc!r} lacks no-cache/no-store"
    assert "public" not in parts, f"{what}: Cache-Control {cc!r} is public"
    ages = [p for p in parts if p.startswith("max-age=")]
    assert all(int(p.split("=", 1)[1]) == 0 for p in ages), f"{what}: Cache-Control {cc!r}"


def cacheable(res: HttpResult, manifest: Manifest, what: str):
    cc = (res.header("cache-control") or "").lower()
    parts = [p.strip() for p in cc.split(",") if p.strip()]
    assert "public" in parts, f"{what}: Cache-Control {cc!r} not public"
    assert "no-cache" not in parts and "no-store" not in parts, f"{what}: Cache-Control {cc!r}"
    ages = [p for p in parts if p.startswith("max-age=")]
    assert len(ages) == 1, f"{what}: Cache-Control {cc!r} needs one max-age"
    assert 0 < int(ages[0].split("=", 1)[1]) <= manifest.max_age_cap, \
        f"{what}: Cache-Control {cc!r}"
    assert res.header("etag"), f"{what}: cacheable answer without ETag"


def samples_of(manifest: Manifest, issuer: PolicyIssuer, status: str, reason=None):
    return manifest.find(key_alg=issuer.key_alg, status=status, reason=reason)


# --------------------------------------------------------------------------
# the edited config survived the restart
# --------------------------------------------------------------------------


def test_edited_policies_survive_restart(policy_demo):
    cfg = policy_demo.config["issuer"]
    assert (cfg[0]["unassigned"], cfg[0]["nonce"]) == ("revoked", "echo"), \
        f"issuer A policies after restart: {cfg[0]}"
    assert (cfg[1]["unassigned"], cfg[1].get("nonce", "ignore")) == ("unknown", "ignore"), \
        f"issuer B policies after restart: {cfg[1]}"
    assert policy_demo.a.info["cert"] != policy_demo.b.info["cert"]
    # a restart on the same dir keeps the PKI: samples still answer as the manifest says
    m = policy_demo.manifest
    for s in m.samples[:20]:
        r = parse_success(ocsp_post(policy_demo.port, sample_request(m, s)), s["serial"])
        assert_single_status(r, s, f"after restart {s['serial']}")


# --------------------------------------------------------------------------
# default policy: unauthorized (shared demo)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("alg", ["sha1", "sha256"])
@pytest.mark.parametrize("key_alg", ["P-256", "RSA-2048"])
def test_default_unassigned_is_unauthorized(server, manifest, key_alg, alg, method):
    iss = manifest.issuer_by_alg(key_alg)
    assert iss.get("unassigned", "unauthorized") == "unauthorized"
    ca = load_cert(iss["cert"])
    for nonce in (None, os.urandom(16)):
        der = certid_request(ca, random_unassigned_serial(manifest), alg, nonce)
        res = METHODS[method](server.port, der)
        what = f"shared {key_alg} {alg} {method} nonce={nonce is not None}"
        assert res.status == 200, f"{what}: HTTP {res.status}, body {res.body.hex()}"
        assert res.body == UNAUTHORIZED, \
            f"{what}: body {res.body.hex()}, want exactly {UNAUTHORIZED.hex()} (unauthorized)"
        not_cacheable(res, what)


# --------------------------------------------------------------------------
# issuer A: unassigned = revoked
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("alg", ["sha1", "sha256"])
def test_unassigned_revoked_policy(policy_demo, alg, method):
    a = policy_demo.a
    for _ in range(2):  # two different unassigned serials
        serial = random_unassigned_serial(policy_demo.manifest)
        der = certid_request(a.ca, serial, alg)
        what = f"A unassigned {serial:x} {alg} {method}"
        res = METHODS[method](policy_demo.port, der)
        assert res.body != UNAUTHORIZED, f"{what}: still answered unauthorized (policy ignored)"
        resp = parse_success(res, what)
        verify_signed_by_responder(resp, a, what)
        check_certid_echo(resp, der, what)
        assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED, \
            f"{what}: status {resp.certificate_status}, want REVOKED"
        assert resp.revocation_reason == x509.ReasonFlags.certificate_hold, \
            f"{what}: reason {resp.revocation_reason}, want certificateHold"
        assert resp.revocation_time_utc == EPOCH, \
            f"{what}: revocationTime {resp.revocation_time_utc}, want 1970-01-01T00:00:00Z"
        assert b"\x18\x0f19700101000000Z" in resp.tbs_response_bytes, \
            f"{what}: revocationTime not encoded as GeneralizedTime 19700101000000Z"
        check_erd(resp, what)
        check_window(resp, what)
        no_reason_code_ext(resp, what)
        assert response_ext(resp, OID_OCSP_NONCE) is None, f"{what}: nonce without request nonce"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_unassigned_revoked_with_nonce_echoes(policy_demo, method):
    a = policy_demo.a
    nonce = os.urandom(32)
    der = certid_request(a.ca, random_unassigned_serial(policy_demo.manifest), "sha1", nonce)
    what = f"A unassigned + nonce {method}"
    res = METHODS[method](policy_demo.port, der)
    resp = parse_success(res, what)
    verify_signed_by_responder(resp, a, what)
    check_certid_echo(resp, der, what)
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason == x509.ReasonFlags.certificate_hold
    assert resp.revocation_time_utc == EPOCH
    check_erd(resp, what)
    ext = response_ext(resp, OID_OCSP_NONCE)
    assert ext is not None, f"{what}: nonce not echoed"
    assert ext.value.nonce == nonce, f"{what}: echoed nonce {ext.value.nonce.hex()}"
    not_cacheable(res, what)


# --------------------------------------------------------------------------
# issuer A: nonce = echo
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("status,reason", [("good", None), ("revoked", "keyCompromise")])
def test_nonce_echo_assigned(policy_demo, status, reason, method):
    a, m = policy_demo.a, policy_demo.manifest
    s = samples_of(m, a, status, reason)
    seen = set()
    for _ in range(2):
        nonce = os.urandom(32)
        der = sample_request(m, s, nonce=nonce)
        what = f"A {status} {s['serial']} nonce {method}"
        res = METHODS[method](policy_demo.port, der)
        resp = parse_success(res, what)
        verify_signed_by_responder(resp, a, what)
        check_certid_echo(resp, der, what)
        assert_single_status(resp, s, what)
        check_window(resp, what)
        no_reason_code_ext(resp, what)
        ext = response_ext(resp, OID_OCSP_NONCE)
        assert ext is not None, \
            f"{what}: nonce not echoed (extensions {[e.oid.dotted_string for e in resp.extensions]})"
        assert not ext.critical, f"{what}: nonce echoed as critical"
        assert ext.value.nonce == nonce, \
            f"{what}: echoed nonce {ext.value.nonce.hex()}, sent {nonce.hex()}"
        assert nonce_extension_der(nonce) in resp.tbs_response_bytes, \
            f"{what}: nonce extension not echoed byte for byte"
        not_cacheable(res, what)
        seen.add(res.body)
    assert len(seen) == 2, f"A {status}: two different nonces got the same response body"


@pytest.mark.parametrize("status,reason", [("good", None), ("revoked", "keyCompromise")])
def test_no_nonce_gets_presigned_cacheable(policy_demo, status, reason):
    a, m = policy_demo.a, policy_demo.manifest
    s = samples_of(m, a, status, reason)
    der = sample_request(m, s)
    bodies = []
    for method in ("POST", "GET", "POST"):
        what = f"A {status} {s['serial']} no nonce {method}"
        res = METHODS[method](policy_demo.port, der)
        resp = parse_success(res, what)
        verify_signed_by_responder(resp, a, what)
        check_certid_echo(resp, der, what)
        assert_single_status(resp, s, what)
        assert response_ext(resp, OID_OCSP_NONCE) is None, f"{what}: nonce in the response"
        cacheable(res, m, what)
        bodies.append(res.body)
    assert bodies[0] == bodies[1] == bodies[2], \
        f"A {status}: the no-nonce answer is not the same pre-signed response each time"


# --------------------------------------------------------------------------
# issuer B: unassigned = unknown, nonce = ignore
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("alg", ["sha1", "sha256"])
def test_unassigned_unknown_policy(policy_demo, alg, method):
    b = policy_demo.b
    for nonce in (None, os.urandom(32)):
        serial = random_unassigned_serial(policy_demo.manifest)
        der = certid_request(b.ca, serial, alg, nonce)
        what = f"B unassigned {serial:x} {alg} {method} nonce={nonce is not None}"
        res = METHODS[method](policy_demo.port, der)
        assert res.body != UNAUTHORIZED, f"{what}: still answered unauthorized (policy ignored)"
        resp = parse_success(res, what)
        verify_signed_by_responder(resp, b, what)
        check_certid_echo(resp, der, what)
        assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN, \
            f"{what}: status {resp.certificate_status}, want UNKNOWN"
        check_window(resp, what)
        # B ignores nonces
        assert response_ext(resp, OID_OCSP_NONCE) is None, f"{what}: nonce echoed by B"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_issuer_b_ignores_nonce(policy_demo, method):
    b, m = policy_demo.b, policy_demo.manifest
    s = samples_of(m, b, "good")
    plain = METHODS[method](policy_demo.port, sample_request(m, s))
    with_nonce = METHODS[method](policy_demo.port, sample_request(m, s, nonce=os.urandom(32)))
    what = f"B good {s['serial']} nonce {method}"
    resp = parse_success(with_nonce, what)
    verify_signed_by_responder(resp, b, what)
    assert_single_status(resp, s, what)
    assert response_ext(resp, OID_OCSP_NONCE) is None, f"{what}: nonce echoed by B"
    assert with_nonce.body == plain.body, f"{what}: not the pre-signed response"
    cacheable(with_nonce, m, what)


# --------------------------------------------------------------------------
# never good
# --------------------------------------------------------------------------


def test_unassigned_never_good(policy_demo, server, manifest):
    cases = [
        (policy_demo.port, policy_demo.manifest, policy_demo.a.ca, "A revoked-policy"),
        (policy_demo.port, policy_demo.manifest, policy_demo.b.ca, "B unknown-policy"),
    ] + [
        (server.port, manifest, load_cert(manifest.issuer_by_alg(k)["cert"]), f"shared {k}")
        for k in ("P-256", "RSA-2048")
    ]
    for port, m, ca, label in cases:
        for i in range(5):
            der = certid_request(ca, random_unassigned_serial(m), ("sha1", "sha256")[i % 2],
                                 os.urandom(16) if i % 2 else None)
            for method, fn in METHODS.items():
                res = fn(port, der)
                what = f"{label} {method} #{i}"
                assert res.status == 200, f"{what}: HTTP {res.status}"
                r = ocsp.load_der_ocsp_response(res.body)
                if r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
                    assert r.certificate_status != ocsp.OCSPCertStatus.GOOD, \
                        f"{what}: unassigned serial answered GOOD"
                else:
                    assert res.body == UNAUTHORIZED, f"{what}: body {res.body.hex()}"

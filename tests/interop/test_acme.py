"""ACME revocation (RFC 8555 §7.6) with the python ``acme`` client (the library certbot uses).

Revoca has no ACME accounts: a revocation is signed with the certificate's own key (the JWS
carries it as ``jwk``). The demo manifest gives ``acme_directory`` (an https URL served by the
RA with a certificate chaining to ``roots[0]``) and, for each sample, ``key`` (its private key,
PEM). What the client does for ``ClientV2.revoke`` with no account: GET directory, HEAD
newNonce, POST revokeCert (``application/jose+json``, flattened JWS, protected header
``alg``/``jwk``/``nonce``/``url``, payload ``{"certificate", "reason"}``); it wants exactly
200 and a ``Replay-Nonce`` header on the answer, and retries once after ``badNonce``.

Tests that revoke use their own private demo.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import josepy as jose
import pytest
import requests
from acme import client as acme_client
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

from conftest import REASONS, load_cert, ocsp_post, parse_success, sample_request

PROPAGATION_LIMIT = 1.0
PROBLEM_CT = "application/problem+json"

# RFC 5280 CRLReason codes.
REASON_CODES = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "privilegeWithdrawn": 9,
}


# --------------------------------------------------------------------------- helpers


def directory_url(manifest) -> str:
    url = manifest.data.get("acme_directory")
    if not url:
        pytest.fail(f"manifest {manifest.path} has no acme_directory", pytrace=False)
    assert url.startswith("https://"), f"acme_directory {url!r} is not https"
    return url


def sample_key_path(sample) -> str:
    path = sample.get("key")
    if not path:
        pytest.fail(f"manifest sample {sample['serial']} has no key", pytrace=False)
    return path


def jwk_and_alg(private_key):
    """josepy key and JWS alg for a cryptography private key (as certbot chooses them)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        alg = {256: jose.ES256, 384: jose.ES384, 521: jose.ES512}[private_key.curve.key_size]
        return jose.JWKEC(key=private_key), alg
    assert isinstance(private_key, rsa.RSAPrivateKey), type(private_key)
    return jose.JWKRSA(key=private_key), jose.RS256


def load_private_key(path):
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def acme_for(manifest, private_key, account_uri: str | None = None) -> acme_client.ClientV2:
    """A ClientV2 signing with `private_key`, trusting the demo root (no account unless
    `account_uri`, which makes the client sign with kid)."""
    jwk, alg = jwk_and_alg(private_key)
    account = None
    if account_uri is not None:
        account = messages.RegistrationResource(uri=account_uri, body=messages.Registration())
    net = acme_client.ClientNetwork(jwk, account=account, alg=alg,
                                    verify_ssl=manifest.root,  # requests' verify= CA file
                                    user_agent="revoca-interop")
    directory = acme_client.ClientV2.get_directory(directory_url(manifest), net)
    return acme_client.ClientV2(directory, net)


def good_sample(manifest, key_alg: str):
    """A good sample of an issuer with `key_alg`, that has a key in the manifest."""
    for s in manifest.find(key_alg=key_alg, status="good", all_=True):
        if s.get("key"):
            return s
    pytest.fail(f"manifest has no good sample with a key for issuer {key_alg}", pytrace=False)


def ocsp_status(srv, manifest, sample):
    der = sample_request(manifest, sample)
    return parse_success(ocsp_post(srv.port, der), f"OCSP status of {sample['serial']}")


def wait_revoked(srv, manifest, sample, reason_name: str, limit=PROPAGATION_LIMIT):
    want_reason = REASONS[reason_name]
    t0 = time.monotonic()
    while True:
        r = ocsp_status(srv, manifest, sample)
        elapsed = time.monotonic() - t0
        if r.certificate_status == ocsp.OCSPCertStatus.REVOKED and \
                r.revocation_reason == want_reason:
            return elapsed, r
        if elapsed > limit:
            pytest.fail(f"serial {sample['serial']}: {elapsed:.2f}s after the ACME revocation "
                        f"OCSP still says {r.certificate_status} / "
                        f"{getattr(r, 'revocation_reason', None)}, want REVOKED / {want_reason}")
        time.sleep(0.02)


def assert_acme_error(excinfo, code: str):
    err = excinfo.value
    assert isinstance(err, messages.Error), f"expected an ACME problem, got {err!r}"
    assert err.typ == f"urn:ietf:params:acme:error:{code}", f"want {code}, got {err}"


def assert_still_good(srv, manifest, sample, what):
    r = ocsp_status(srv, manifest, sample)
    assert r.certificate_status == ocsp.OCSPCertStatus.GOOD, \
        f"{what}: certificate {sample['serial']} is now {r.certificate_status}"


# ----------------------------------------------------------------------- directory


def test_directory_and_nonces(manifest):
    """Directory (§7.1.1), newNonce (§7.2), Content-Type rule (§6.2); changes nothing."""
    url = directory_url(manifest)

    def call(method, url, **kw):
        # verify= per request: a Session.verify path loses to $REQUESTS_CA_BUNDLE.
        return requests.request(method, url, verify=manifest.root, timeout=15, **kw)

    r = call("GET", url)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
    d = r.json()
    for field in ("newNonce", "newAccount", "newOrder", "revokeCert"):
        assert isinstance(d.get(field), str) and d[field].startswith("https://"), (field, d)
    assert isinstance(d.get("meta", {}), dict)

    nonces = set()
    for method, want in (("HEAD", 200), ("GET", 204)):
        r = call(method, d["newNonce"])
        assert r.status_code == want, f"{method} newNonce: {r.status_code}"
        nonce = r.headers.get("Replay-Nonce")
        assert nonce, f"{method} newNonce without Replay-Nonce"
        jose.b64.b64decode(nonce)  # base64url, as the client decodes it
        nonces.add(nonce)
        assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
        assert 'rel="index"' in r.headers.get("Link", ""), r.headers
    assert len(nonces) == 2, "nonces repeat"

    # Wrong media type: 415 problem, with a fresh nonce.
    r = call("POST", d["revokeCert"], data=b"{}",
             headers={"Content-Type": "application/json"})
    assert r.status_code == 415, r.status_code
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == PROBLEM_CT
    assert r.json()["type"] == "urn:ietf:params:acme:error:malformed"
    assert r.headers.get("Replay-Nonce")

    # Not a JWS: malformed problem.
    r = call("POST", d["revokeCert"], data=b"not json",
             headers={"Content-Type": "application/jose+json"})
    assert r.status_code == 400, r.status_code
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == PROBLEM_CT
    assert r.json()["type"] == "urn:ietf:params:acme:error:malformed"
    assert r.headers.get("Replay-Nonce")


def test_no_accounts(manifest):
    """An account lookup gets accountDoesNotExist; a kid-signed revocation too. Nothing
    is revoked."""
    sample = good_sample(manifest, "P-256")
    key = load_private_key(sample_key_path(sample))

    c = acme_for(manifest, key)
    with pytest.raises(messages.Error) as ei:
        c.new_account(messages.NewRegistration(only_return_existing=True))
    assert_acme_error(ei, "accountDoesNotExist")

    base = c.directory["newAccount"].rsplit("/", 1)[0]
    c = acme_for(manifest, key, account_uri=f"{base}/acct/1")
    with pytest.raises(messages.Error) as ei:
        c.revoke(load_cert(sample["cert"]), REASON_CODES["keyCompromise"])
    assert_acme_error(ei, "accountDoesNotExist")


# ---------------------------------------------------------------------- revocation


@pytest.mark.parametrize("key_alg,reason", [
    ("P-256", "keyCompromise"),
    ("RSA-2048", "superseded"),
])
def test_revoke_with_certificate_key(private_server, key_alg, reason):
    srv = private_server()
    m = srv.manifest
    sample = good_sample(m, key_alg)
    cert = load_cert(sample["cert"])
    key = load_private_key(sample_key_path(sample))
    assert ocsp_status(srv, m, sample).certificate_status == ocsp.OCSPCertStatus.GOOD

    c = acme_for(m, key)
    # A stale nonce first: the server must answer badNonce (a problem document), and the
    # client then fetches a fresh one and retries once.
    c.net._nonces.add(b"stale-nonce-never-issued")
    t_cmd = dt.datetime.now(dt.timezone.utc)
    c.revoke(cert, REASON_CODES[reason])  # raises unless HTTP 200 with Replay-Nonce
    elapsed, r = wait_revoked(srv, m, sample, reason)
    assert elapsed <= PROPAGATION_LIMIT
    t_done = dt.datetime.now(dt.timezone.utc)
    rt = r.revocation_time_utc
    assert t_cmd - dt.timedelta(seconds=2) <= rt <= t_done + dt.timedelta(seconds=1), \
        f"revocation time {rt} outside [{t_cmd}, {t_done}]"

    # Again: alreadyRevoked, and the reason does not change.
    with pytest.raises(messages.Error) as ei:
        c.revoke(cert, REASON_CODES["cessationOfOperation"])
    assert_acme_error(ei, "alreadyRevoked")
    r = ocsp_status(srv, m, sample)
    assert r.revocation_reason == REASONS[reason]


def test_revoke_refusals(private_server):
    """Wrong key → unauthorized; reasons a subscriber may not ask for → badRevocationReason.
    The certificate stays good throughout."""
    srv = private_server()
    m = srv.manifest
    sample = good_sample(m, "P-256")
    cert = load_cert(sample["cert"])
    other = next(s for s in m.find(status="good", all_=True)
                 if s.get("key") and s["serial"] != sample["serial"]
                 and load_cert(s["cert"]).public_key() != cert.public_key())

    wrong_keys = {
        "another sample's P-256 key": load_private_key(other["key"]),
        "a fresh RSA-2048 key": rsa.generate_private_key(65537, 2048),
        "a fresh P-384 key": ec.generate_private_key(ec.SECP384R1()),
    }
    for what, key in wrong_keys.items():
        with pytest.raises(messages.Error) as ei:
            acme_for(m, key).revoke(cert, REASON_CODES["keyCompromise"])
        assert_acme_error(ei, "unauthorized")
        assert_still_good(srv, m, sample, f"revocation signed with {what}")

    c = acme_for(m, load_private_key(sample["key"]))
    for reason in ("cACompromise", "certificateHold", "privilegeWithdrawn"):
        with pytest.raises(messages.Error) as ei:
            c.revoke(cert, REASON_CODES[reason])
        assert_acme_error(ei, "badRevocationReason")
        assert_still_good(srv, m, sample, f"revocation with reason {reason}")

    # A certificate for the sample's key that this CA never issued (self-signed, same
    # serial and issuer name): refused, and the real one stays good.
    issuer = load_cert(sample["issuer"])
    forged = (x509.CertificateBuilder()
              .subject_name(cert.subject).issuer_name(issuer.subject)
              .public_key(cert.public_key()).serial_number(cert.serial_number)
              .not_valid_before(cert.not_valid_before_utc)
              .not_valid_after(cert.not_valid_after_utc)
              .sign(load_private_key(sample["key"]), hashes.SHA256()))
    with pytest.raises(messages.Error) as ei:
        c.revoke(forged, REASON_CODES["keyCompromise"])
    assert ei.value.typ in ("urn:ietf:params:acme:error:unauthorized",
                            "urn:ietf:params:acme:error:malformed"), str(ei.value)
    assert_still_good(srv, m, sample, "revocation of a forged certificate")

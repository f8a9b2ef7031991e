"""The RA intake end to end: CSR from `openssl req` -> submit (officer) -> two-person rule ->
approve (RA head) -> certificate that chains, carries the profile and is `good` over OCSP at
once; revocation by every channel (operator, subscriber code, key compromise) answered
`revoked` with the right reason within 1 s; suspension rules; the role x action matrix over
the HTTPS API with client certificates; the audit log verifies and shows refused steps;
tampering is detected; a 30-day hold expires under a shifted clock.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from conftest import (
    build_request, describe, load_cert, ocsp_post, parse_success, revoca_cli, run, require_tool,
)

PROPAGATION_LIMIT = 1.0


# ----------------------------------------------------------------------------- helpers


def manifest_of(srv) -> dict:
    return json.loads((srv.dir / "manifest.json").read_text())


def operator(m: dict, role: str, index: int = 0) -> dict:
    ops = [o for o in m["operators"] if o["role"] == role]
    assert len(ops) > index, f"demo has no {role} #{index}: {m['operators']}"
    return ops[index]


def api(m: dict, method: str, path: str, body=None, op: dict | None = None):
    """One HTTPS call to the RA API, presenting `op`'s client certificate if given."""
    ctx = ssl.create_default_context(cafile=m["roots"][0])
    if op is not None:
        ctx.load_cert_chain(op["cert"], op["key"])
    url = m["ra_url"].removeprefix("https://")
    host, port = url.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        pytest.fail(f"{method} {path}: answer is not JSON: {raw[:200]!r}")
    return resp.status, parsed


def make_csr(tmp: Path, name: str, *, key: str = "ec", cn: str, sans: list[str] = ()) -> tuple[Path, Path]:
    require_tool("openssl")
    key_path = tmp / f"{name}.key.pem"
    csr_path = tmp / f"{name}.csr.pem"
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" \
        else ["-newkey", "rsa:2048"]
    cmd = ["openssl", "req", "-new", *newkey, "-nodes", "-keyout", key_path,
           "-out", csr_path, "-subj", f"/CN={cn}"]
    if sans:
        cmd += ["-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans)]
    cp = run(cmd)
    assert cp.returncode == 0, describe(cp)
    return key_path, csr_path


def proof_csr(tmp: Path, key_path: Path, name: str) -> Path:
    out = tmp / f"{name}.proof.pem"
    cp = run(["openssl", "req", "-new", "-key", key_path, "-out", out, "-subj", "/CN=key compromise"])
    assert cp.returncode == 0, describe(cp)
    return out


def submit(srv, m, tmp, name, *, profile="tls-server", officer=None, subject=None, key="ec"):
    officer = officer or operator(m, "officer")
    cn = f"{name}.ra.revoca.test"
    key_path, csr = make_csr(tmp, name, key=key, cn=cn, sans=[cn, f"www.{cn}"])
    args = ["ra", "submit", "--dir", srv.dir, "--as", officer["name"], "--profile", profile,
            "--csr", csr]
    if subject is not None:
        subj = tmp / f"{name}.subject.json"
        subj.write_text(json.dumps(subject))
        args += ["--subject", subj]
    cp = revoca_cli(*args)
    assert cp.returncode == 0, describe(cp)
    request_id = cp.stdout.decode().strip().splitlines()[-1]
    assert request_id.isdigit(), describe(cp)
    return request_id, key_path


def approve(srv, m, request_id, tmp, name):
    head = operator(m, "ra-head")
    cp = revoca_cli("ra", "approve", "--dir", srv.dir, "--as", head["name"], request_id)
    assert cp.returncode == 0, describe(cp)
    pem = cp.stdout.decode()
    assert pem.startswith("-----BEGIN CERTIFICATE-----"), describe(cp)
    path = tmp / f"{name}.pem"
    path.write_text(pem)
    code = cp.stderr.decode().rsplit("revocation code for the subscriber:", 1)[-1].strip()
    return path, code


def issuer_cert_of(m, cert: x509.Certificate) -> tuple[dict, x509.Certificate]:
    for i in m["issuers"]:
        ca = load_cert(i["cert"])
        if ca.subject == cert.issuer:
            return i, ca
    pytest.fail(f"no demo CA issued {cert.subject}")


def ocsp_status(srv, m, cert_path: Path):
    cert = load_cert(cert_path)
    _, ca = issuer_cert_of(m, cert)
    return parse_success(ocsp_post(srv.port, build_request(cert, ca)), str(cert_path))


def wait_revoked(srv, m, cert_path, reason, limit=PROPAGATION_LIMIT):
    t0 = time.monotonic()
    while True:
        r = ocsp_status(srv, m, cert_path)
        if r.certificate_status == ocsp.OCSPCertStatus.REVOKED and r.revocation_reason == reason:
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            pytest.fail(f"{cert_path}: {r.certificate_status} / {r.revocation_reason} after "
                        f"{limit}s, want revoked / {reason}")
        time.sleep(0.02)


def audit_records(srv, m):
    status, records = api(m, "GET", "/api/v1/audit?limit=10000", op=operator(m, "auditor"))
    assert status == 200, records
    return records


# ----------------------------------------------------------------------------- tests


def test_request_two_person_issue_good_then_revoke_by_each_channel(private_server, tmp_path):
    srv = private_server("ra-flow")
    m = manifest_of(srv)
    officer = operator(m, "officer")

    # Profiles are listed.
    cp = revoca_cli("ra", "profiles", "--dir", srv.dir)
    assert cp.returncode == 0, describe(cp)
    names = {line.split("\t")[0] for line in cp.stdout.decode().splitlines()}
    for p in ["fnmt-ap-employee-card", "fnmt-ap-employee-software", "fnmt-ap-sede",
              "fnmt-ap-sello", "accv-qwac", "accv-sede-hsm", "accv-sede-software",
              "accv-server", "tls-server"]:
        assert p in names, f"profile {p} missing from {sorted(names)}"

    request_id, key_path = submit(srv, m, tmp_path, "flow")
    # The officer who verified it cannot approve it (approval is the RA head's).
    cp = revoca_cli("ra", "approve", "--dir", srv.dir, "--as", officer["name"], request_id)
    assert cp.returncode != 0, describe(cp)
    assert "may not approve" in cp.stderr.decode(), describe(cp)
    # Two-person rule: an RA head who verified a request cannot approve it either.
    head = operator(m, "ra-head")
    own_id, _ = submit(srv, m, tmp_path, "own", officer=head)
    cp = revoca_cli("ra", "approve", "--dir", srv.dir, "--as", head["name"], own_id)
    assert cp.returncode != 0 and "two-person" in cp.stderr.decode(), describe(cp)
    cert_path, code = approve(srv, m, request_id, tmp_path, "flow")
    assert len(code.replace("-", "")) == 20, f"revocation code {code!r}"

    # Chains to the issuing CA and the root.
    cert = load_cert(cert_path)
    issuer, _ = issuer_cert_of(m, cert)
    cp = run(["openssl", "verify", "-CAfile", m["roots"][0], "-untrusted", issuer["cert"],
              cert_path])
    assert cp.returncode == 0 and b": OK" in cp.stdout, describe(cp)
    # Profile fields: names from the CSR, serverAuth, AIA OCSP, CRL DP, 16-byte positive serial.
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "flow.ra.revoca.test", "www.flow.ra.revoca.test"}
    eku = cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
    aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    assert any(d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP for d in aia)
    assert 0 < cert.serial_number < 2 ** 128 and cert.serial_number.bit_length() > 120
    text = run(["openssl", "x509", "-in", cert_path, "-noout", "-text"])
    assert b"TLS Web Server Authentication" in text.stdout, describe(text)

    # Good over OCSP at once.
    assert ocsp_status(srv, m, cert_path).certificate_status == ocsp.OCSPCertStatus.GOOD

    # Channel 1: the subscriber's revocation code (a wrong code is refused first).
    cp = revoca_cli("ra", "subscriber-revoke", "--dir", srv.dir, "--cert", cert_path,
                    "--code", "0000-0000-0000-0000-0000", "--reason", "superseded")
    assert cp.returncode != 0 and "wrong revocation code" in cp.stderr.decode(), describe(cp)
    code_file = tmp_path / "code.txt"
    code_file.write_text(code + "\n")
    cp = revoca_cli("ra", "subscriber-revoke", "--dir", srv.dir, "--cert", cert_path,
                    "--code-file", code_file, "--reason", "superseded")
    assert cp.returncode == 0, describe(cp)
    wait_revoked(srv, m, cert_path, x509.ReasonFlags.superseded)

    # Channel 2: an operator through the CLI (which now uses the RA API).
    rid, _ = submit(srv, m, tmp_path, "byop")
    op_cert, _ = approve(srv, m, rid, tmp_path, "byop")
    cp = revoca_cli("revoke", "--dir", srv.dir, "--as", officer["name"], "--cert", op_cert,
                    "--reason", "cessationOfOperation")
    assert cp.returncode == 0, describe(cp)
    wait_revoked(srv, m, op_cert, x509.ReasonFlags.cessation_of_operation)

    # Channel 3: key compromise proven by a CSR signed with the key: every certificate
    # with that key is revoked, and the key is blocked for new requests.
    cn = "kc.ra.revoca.test"
    key_path, csr = make_csr(tmp_path, "kc", cn=cn, sans=[cn])
    kc_certs = []
    for n in range(2):
        cp = revoca_cli("ra", "submit", "--dir", srv.dir, "--as", officer["name"], "--profile",
                        "tls-server", "--csr", csr)
        assert cp.returncode == 0, describe(cp)
        path, _ = approve(srv, m, cp.stdout.decode().split()[-1], tmp_path, f"kc{n}")
        kc_certs.append(path)
    proof = proof_csr(tmp_path, key_path, "kc")
    cp = revoca_cli("ra", "key-compromise", "--dir", srv.dir, "--proof", proof)
    assert cp.returncode == 0, describe(cp)
    assert "2 certificate(s)" in cp.stdout.decode(), describe(cp)
    for path in kc_certs:
        wait_revoked(srv, m, path, x509.ReasonFlags.key_compromise)
    cp = revoca_cli("ra", "submit", "--dir", srv.dir, "--as", officer["name"], "--profile",
                    "tls-server", "--csr", csr)
    assert cp.returncode != 0 and "blocked" in cp.stderr.decode(), describe(cp)
    # An old issuance CSR is not a key-compromise statement (no replay of CSRs seen
    # elsewhere): refused, and audited.
    cp = revoca_cli("ra", "key-compromise", "--dir", srv.dir, "--proof", csr)
    assert cp.returncode != 0 and "key compromise" in cp.stderr.decode(), describe(cp)

    # The audit log verifies and shows every step, the refused approval included.
    cp = revoca_cli("audit", "verify", "--dir", srv.dir)
    assert cp.returncode == 0, describe(cp)
    records = audit_records(srv, m)
    steps = [(r["action"], r["outcome"], r.get("actor")) for r in records]
    assert ("request", "ok", officer["name"]) in steps
    assert ("approve", "refused", officer["name"]) in steps
    assert ("approve", "refused", head["name"]) in steps
    assert ("approve", "ok", operator(m, "ra-head")["name"]) in steps
    assert ("issue", "ok", operator(m, "ra-head")["name"]) in steps
    assert any(a == "key-use" and o == "ok" for a, o, _ in steps)
    assert ("revoke", "refused", None) in steps  # the wrong revocation code
    assert any(a == "revoke" and o == "ok" and r.get("role") == "subscriber"
               for (a, o, _), r in zip(steps, records))
    assert any(a == "key-compromise" and o == "ok" for a, o, _ in steps)
    # No secret in the log: the revocation code never appears.
    log_text = "".join(p.read_text() for p in Path(m["audit_dir"]).iterdir() if p.is_file())
    assert code not in log_text and code.replace("-", "") not in log_text


def test_rejection_and_bad_input(private_server, tmp_path):
    srv = private_server("ra-reject")
    m = manifest_of(srv)
    officer, head = operator(m, "officer"), operator(m, "ra-head")
    rid, _ = submit(srv, m, tmp_path, "rej")
    cp = revoca_cli("ra", "reject", "--dir", srv.dir, "--as", head["name"], rid,
                    "--reason", "identity documents did not match")
    assert cp.returncode == 0, describe(cp)
    cp = revoca_cli("ra", "approve", "--dir", srv.dir, "--as", head["name"], rid)
    assert cp.returncode != 0 and "rejected" in cp.stderr.decode(), describe(cp)

    # Bad input: a clear JSON error with the right status.
    cases = [
        ({"profile": "no-such", "csr": "x"}, 400, "unknown profile"),
        ({"profile": "tls-server", "csr": "not a csr"}, 400, "CSR"),
        ({"profile": "tls-server", "csr": "x", "surprise": 1}, 400, "unknown field"),
    ]
    for body, want, text in cases:
        status, answer = api(m, "POST", "/api/v1/requests", body, op=officer)
        assert status == want and text in answer["error"], (body, status, answer)
    # A CSR with a tampered signature fails proof of possession.
    _, csr = make_csr(tmp_path, "pop", cn="pop.ra.revoca.test", sans=["pop.ra.revoca.test"])
    der = x509.load_pem_x509_csr(csr.read_bytes()).public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)
    bad = bytearray(der)
    bad[-3] ^= 0x01
    import base64
    pem = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(bad)).decode() + \
        "-----END CERTIFICATE REQUEST-----\n"
    status, answer = api(m, "POST", "/api/v1/requests", {"profile": "tls-server", "csr": pem},
                         op=officer)
    assert status == 400 and "CSR" in answer["error"], answer
    status, answer = api(m, "POST", "/api/v1/requests", {"profile": "tls-server"}, op=None)
    assert status in (400, 401), answer
    status, answer = api(m, "GET", "/api/v1/requests/abc", op=officer)
    assert status == 400, answer


def test_role_action_matrix(private_server, tmp_path):
    """Every role against every action: allowed ones succeed, others are refused (403, or
    401 without a certificate) and audited."""
    srv = private_server("ra-matrix")
    m = manifest_of(srv)
    roles = ["officer", "ra-head", "ca-operator", "auditor"]
    allowed = {
        "profiles": {"officer", "ra-head", "ca-operator", "auditor"},
        "list": {"officer", "ra-head", "ca-operator", "auditor"},
        "submit": {"officer", "ra-head"},
        "approve": {"ra-head"},
        "reject": {"officer", "ra-head"},
        "revoke": {"officer", "ra-head", "ca-operator"},
        "hold": {"ra-head"},
        "release": {"ra-head"},
        "audit": {"auditor"},
    }
    # An AP sample that is good (AP allows suspension) for hold/release, and good TLS
    # samples to revoke.
    ap = next(i for i in m["issuers"] if i["allow_hold"])
    ap_good = [s for s in m["samples"] if s["issuer"] == ap["cert"] and s["status"] == "good"]
    tls_good = [s for s in m["samples"] if s["issuer"] != ap["cert"] and s["status"] == "good"]
    # Requests verified by the second officer, so the RA head may approve them.
    other_officer = operator(m, "officer", 1)
    for role in roles + ["none"]:
        op = None if role == "none" else operator(m, role)
        for action, who in allowed.items():
            if action in ("approve", "reject"):
                rid, _ = submit(srv, m, tmp_path, f"mx-{role}-{action}", officer=other_officer)
                body = {"reason": "matrix"} if action == "reject" else None
                status, answer = api(m, "POST", f"/api/v1/requests/{rid}/{action}", body, op=op)
            elif action == "submit":
                _, csr = make_csr(tmp_path, f"mx-{role}", cn=f"mx-{role}.revoca.test",
                                  sans=[f"mx-{role}.revoca.test"])
                status, answer = api(m, "POST", "/api/v1/requests",
                                     {"profile": "tls-server", "csr": csr.read_text()}, op=op)
            elif action == "profiles":
                status, answer = api(m, "GET", "/api/v1/profiles", op=op)
            elif action == "list":
                status, answer = api(m, "GET", "/api/v1/requests", op=op)
            elif action == "audit":
                status, answer = api(m, "GET", "/api/v1/audit?limit=5", op=op)
            elif action == "revoke":
                s = tls_good.pop()
                status, answer = api(m, "POST", "/api/v1/revoke",
                                     {"certificate": Path(s["cert"]).read_text(),
                                      "reason": "superseded"}, op=op)
            elif action in ("hold", "release"):
                s = ap_good[0]
                if action == "release":
                    # Put it on hold first as the RA head, so release can succeed.
                    api(m, "POST", "/api/v1/hold",
                        {"certificate": Path(s["cert"]).read_text()}, op=operator(m, "ra-head"))
                status, answer = api(m, "POST", f"/api/v1/{action}",
                                     {"certificate": Path(s["cert"]).read_text()}, op=op)
                # Leave it good for the next role.
                if (action == "hold" and status == 200) or (action == "release" and status != 200):
                    api(m, "POST", "/api/v1/release",
                        {"certificate": Path(s["cert"]).read_text()}, op=operator(m, "ra-head"))
            ok = role in who
            if ok:
                assert status in (200, 201), (role, action, status, answer)
            else:
                assert status in (401, 403), (role, action, status, answer)
                assert "error" in answer, answer
    records = audit_records(srv, m)
    refused = {(r.get("role"), r["action"]) for r in records if r["outcome"] == "refused"}
    assert ("auditor", "request") in refused
    assert ("officer", "suspend") in refused
    assert ("ca-operator", "approve") in refused
    assert ("unauthenticated", "revoke") in refused


def test_hold_rules_and_expiry_under_shifted_clock(private_server, tmp_path):
    srv = private_server("ra-hold")
    m = manifest_of(srv)
    head, officer = operator(m, "ra-head"), operator(m, "officer")
    ap = next(i for i in m["issuers"] if i["allow_hold"])
    tls = next(i for i in m["issuers"] if not i["allow_hold"])
    ap_sample = next(s for s in m["samples"] if s["issuer"] == ap["cert"] and s["status"] == "good")
    tls_sample = next(s for s in m["samples"] if s["issuer"] == tls["cert"] and s["status"] == "good")

    # Officers may not suspend; the TLS CA does not allow suspension at all.
    cp = revoca_cli("hold", "--dir", srv.dir, "--as", officer["name"], "--cert", ap_sample["cert"])
    assert cp.returncode != 0 and "may not suspend" in cp.stderr.decode(), describe(cp)
    cp = revoca_cli("hold", "--dir", srv.dir, "--cert", tls_sample["cert"])
    assert cp.returncode != 0 and "does not allow suspension" in cp.stderr.decode(), describe(cp)

    # An FNMT AP certificate issued through the RA: suspension allowed by its profile.
    rid, _ = submit(srv, m, tmp_path, "apsello", profile="fnmt-ap-sello", key="rsa",
                    subject={"organization": "Ministerio de Pruebas",
                             "organization_id": "S2800000A",
                             "system_name": "Sello de pruebas"})
    ap_cert, _ = approve(srv, m, rid, tmp_path, "apsello")
    cp = revoca_cli("hold", "--dir", srv.dir, "--cert", ap_cert)
    assert cp.returncode == 0, describe(cp)
    wait_revoked(srv, m, ap_cert, x509.ReasonFlags.certificate_hold)
    cp = revoca_cli("release", "--dir", srv.dir, "--cert", ap_cert)
    assert cp.returncode == 0, describe(cp)
    t0 = time.monotonic()
    while ocsp_status(srv, m, ap_cert).certificate_status != ocsp.OCSPCertStatus.GOOD:
        assert time.monotonic() - t0 < PROPAGATION_LIMIT, "release not served within 1 s"
        time.sleep(0.02)

    # Hold again and let 31 days pass (shifted clock): the hold ends in revocation.
    cp = revoca_cli("hold", "--dir", srv.dir, "--cert", ap_sample["cert"])
    assert cp.returncode == 0, describe(cp)
    srv.stop()
    srv.extra_env["REVOCA_CLOCK_OFFSET_SECS"] = str(31 * 86400)
    srv.start()
    m = manifest_of(srv)
    t0 = time.monotonic()
    while True:
        r = ocsp_status(srv, m, Path(ap_sample["cert"]))
        if r.certificate_status == ocsp.OCSPCertStatus.REVOKED and \
                r.revocation_reason != x509.ReasonFlags.certificate_hold:
            break
        assert time.monotonic() - t0 < 10, f"hold did not expire: {r.certificate_status} " \
                                           f"{r.revocation_reason}"
        time.sleep(0.1)
    records = audit_records(srv, m)
    assert any(r["action"] == "hold-expiry" and r["outcome"] == "ok" and r["role"] == "system"
               for r in records), records[-5:]


def test_audit_tampering_is_detected(private_server, tmp_path):
    srv = private_server("ra-tamper")
    m = manifest_of(srv)
    for n in range(3):
        submit(srv, m, tmp_path, f"t{n}")
    cp = revoca_cli("audit", "verify", "--dir", srv.dir)
    assert cp.returncode == 0, describe(cp)
    srv.stop()
    log = next(p for p in Path(m["audit_dir"]).iterdir() if p.suffix == ".log")
    lines = log.read_text().splitlines(keepends=True)
    assert len(lines) >= 3
    original = log.read_text()
    # Modified record.
    log.write_text(original.replace('"outcome":"ok"', '"outcome":"refused"', 1))
    cp = revoca_cli("audit", "verify", "--dir", srv.dir)
    assert cp.returncode != 0, describe(cp)
    # Removed record.
    log.write_text("".join(lines[:1] + lines[2:]))
    cp = revoca_cli("audit", "verify", "--dir", srv.dir)
    assert cp.returncode != 0, describe(cp)
    # Reordered records.
    log.write_text("".join([lines[1], lines[0]] + lines[2:]))
    cp = revoca_cli("audit", "verify", "--dir", srv.dir)
    assert cp.returncode != 0, describe(cp)
    # Restored: intact again.
    log.write_text(original)
    cp = revoca_cli("audit", "verify", "--dir", srv.dir)
    assert cp.returncode == 0, describe(cp)


def test_forged_certificate_cannot_revoke(private_server, tmp_path):
    """A look-alike certificate (the CA's name, AKI and a victim's serial, but the attacker's
    key and signature) must not let anyone revoke the victim through any channel."""
    import datetime as dt
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    srv = private_server("ra-forged")
    m = manifest_of(srv)
    tls = next(i for i in m["issuers"] if not i["allow_hold"])
    victim = next(s for s in m["samples"] if s["issuer"] == tls["cert"] and s["status"] == "good")
    real = load_cert(victim["cert"])
    ca = load_cert(tls["cert"])
    attacker = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    forged = (x509.CertificateBuilder()
              .subject_name(real.subject).issuer_name(ca.subject)
              .public_key(attacker.public_key()).serial_number(real.serial_number)
              .not_valid_before(now - dt.timedelta(days=1))
              .not_valid_after(now + dt.timedelta(days=30))
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),
                             critical=False)
              .sign(attacker, hashes.SHA256()))
    forged_pem = forged.public_bytes(serialization.Encoding.PEM).decode()
    key_path = tmp_path / "attacker.key.pem"
    key_path.write_bytes(attacker.private_bytes(serialization.Encoding.PEM,
                                                serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    proof = proof_csr(tmp_path, key_path, "attacker")
    status, answer = api(m, "POST", "/api/v1/key-compromise",
                         {"proof": proof.read_text(), "certificate": forged_pem})
    assert status in (400, 403, 404), (status, answer)
    status, answer = api(m, "POST", "/api/v1/subscriber/revoke",
                         {"certificate": forged_pem, "revocation_code": "x", "reason": "superseded"})
    assert status in (403, 404), (status, answer)
    status, answer = api(m, "POST", "/api/v1/revoke",
                         {"certificate": forged_pem, "reason": "superseded"},
                         op=operator(m, "officer"))
    assert status == 404 and "not issued by any CA" in answer["error"], (status, answer)
    assert ocsp_status(srv, m, Path(victim["cert"])).certificate_status == ocsp.OCSPCertStatus.GOOD

"""GnuTLS `ocsptool`: request generation, response parsing and verification."""

import re

import pytest

from conftest import describe, ocsp_post, out_text, parse_success, run

CASES = [
    ("P-256", "good"),
    ("P-256", "revoked"),
    ("RSA-2048", "good"),
    ("RSA-2048", "revoked"),
    ("RSA-2048", "hold"),
]


def _status_word(text: str):
    m = re.search(r"Cert(?:ificate)? Status:\s*(\w+)", text, re.I)
    return m.group(1).lower() if m else None


@pytest.mark.parametrize("key_alg,status", CASES, ids=[f"{a}-{s}" for a, s in CASES])
def test_ocsptool_generate_post_verify(tools, server, manifest, tmp_path, key_alg, status):
    sample = manifest.find(key_alg=key_alg, status=status)
    issuer = manifest.issuer_for(sample)
    req = tmp_path / "req.der"
    cp = run(["ocsptool", "--generate-request", "--load-issuer", sample["issuer"],
              "--load-cert", sample["cert"], "--no-nonce", "--outfile", req])
    assert cp.returncode == 0 and req.exists() and req.stat().st_size > 0, describe(cp)

    res = ocsp_post(server.port, req.read_bytes())
    parse_success(res, f"ocsptool request {key_alg} {status}")
    resp = tmp_path / "resp.der"
    resp.write_bytes(res.body)

    cp = run(["ocsptool", "--response-info", "--load-response", resp])
    info = describe(cp)
    assert cp.returncode == 0, info
    text = out_text(cp)
    want = "good" if status == "good" else "revoked"
    assert _status_word(text) == want, f"ocsptool says {_status_word(text)}, want {want}\n{info}"
    if want == "revoked":
        assert re.search(r"Revocation time:", text, re.I), info
    assert re.search(r"Next Update:", text, re.I), info

    # Verify with the delegated responder certificate as the signer.
    cp = run(["ocsptool", "--verify-response", "--load-signer", issuer["responder_cert"],
              "--load-response", resp])
    info = describe(cp)
    assert cp.returncode == 0, info
    assert re.search(r"Verifying OCSP Response: Success", out_text(cp)), info

    # Verify with the issuing CA as trust anchor: the included responder cert must chain
    # to it and carry the OCSPSigning EKU.
    cp = run(["ocsptool", "--verify-response", "--load-trust", issuer["cert"],
              "--load-response", resp])
    info = describe(cp)
    assert cp.returncode == 0, info
    assert re.search(r"Verifying OCSP Response: Success", out_text(cp)), info


def test_ocsptool_wrong_signer_fails(tools, server, manifest, tmp_path):
    """Negative control: verifying against the other issuer's responder must fail."""
    sample = manifest.find(key_alg="P-256", status="good")
    other = manifest.issuer_by_alg("RSA-2048")
    req = tmp_path / "req.der"
    cp = run(["ocsptool", "--generate-request", "--load-issuer", sample["issuer"],
              "--load-cert", sample["cert"], "--no-nonce", "--outfile", req])
    assert cp.returncode == 0, describe(cp)
    resp = tmp_path / "resp.der"
    resp.write_bytes(ocsp_post(server.port, req.read_bytes()).body)
    cp = run(["ocsptool", "--verify-response", "--load-signer", other["responder_cert"],
              "--load-response", resp])
    assert cp.returncode != 0 or "Success" not in out_text(cp), describe(cp)


@pytest.mark.parametrize("key_alg,status", [("P-256", "good"), ("RSA-2048", "revoked")])
def test_ocsptool_ask(tools, server, manifest, key_alg, status):
    """ocsptool --ask talks to the responder itself (POST over HTTP/1.0)."""
    sample = manifest.find(key_alg=key_alg, status=status)
    issuer = manifest.issuer_for(sample)
    cp = run(["ocsptool", f"--ask={server.url}", "--load-issuer", sample["issuer"],
              "--load-cert", sample["cert"], "--load-signer", issuer["responder_cert"],
              "--no-nonce"])
    info = describe(cp)
    text = out_text(cp)
    want = "good" if status == "good" else "revoked"
    assert _status_word(text) == want, f"want {want}\n{info}"
    assert re.search(r"Verifying OCSP Response: Success", text), info
    if want == "good":
        assert cp.returncode == 0, info

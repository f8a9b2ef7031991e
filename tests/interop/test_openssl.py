"""`openssl ocsp` as a client (POST), with SHA-1 and SHA-256 CertIDs, with and without nonce."""

import re

import pytest

from conftest import describe, key_bitstring_hash, load_cert, out_text, run

CASES = [
    ("P-256", "good", None),
    ("P-256", "revoked", "keyCompromise"),
    ("P-256", "revoked", "superseded"),
    ("RSA-2048", "good", None),
    ("RSA-2048", "revoked", "keyCompromise"),
    ("RSA-2048", "revoked", "cessationOfOperation"),
    ("RSA-2048", "hold", "certificateHold"),
]
IDS = [f"{a}-{s}-{r or ''}".rstrip("-") for a, s, r in CASES]


def openssl_ocsp(server, manifest, sample_list, *, digest=None, nonce=False, extra=()):
    issuer = sample_list[0]["issuer"]
    cmd = ["openssl", "ocsp"]
    if digest:
        cmd.append(f"-{digest}")  # must precede -cert: applies to the following CertIDs
    cmd += ["-issuer", issuer]
    for s in sample_list:
        cmd += ["-cert", s["cert"]]
    cmd += ["-url", server.url, "-CAfile", manifest.root, "-resp_text", "-timeout", "30"]
    if not nonce:
        cmd.append("-no_nonce")
    cmd += list(extra)
    return run(cmd)


def check_openssl_status(text: str, sample, info: str):
    word = "good" if sample["status"] == "good" else "revoked"
    m = re.search(re.escape(sample["cert"]) + r": (\w+)", text)
    assert m, f"no status line for {sample['cert']}\n{info}"
    assert m.group(1) == word, f"{sample['cert']}: {m.group(1)}, want {word}\n{info}"
    if word == "revoked":
        block = text[m.end():]
        rm = re.search(r"Reason: (\w+)", block)
        assert rm, f"no Reason line for revoked {sample['cert']}\n{info}"
        assert rm.group(1) == sample["reason"], \
            f"Reason {rm.group(1)}, want {sample['reason']}\n{info}"
        assert "Revocation Time:" in block
    assert "This Update:" in text and "Next Update:" in text


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("digest", [None, "sha256"], ids=["sha1", "sha256"])
def test_openssl_ocsp(tools, server, manifest, case, digest):
    key_alg, status, reason = case
    sample = manifest.find(key_alg=key_alg, status=status, reason=reason)
    cp = openssl_ocsp(server, manifest, [sample], digest=digest)
    info = describe(cp)
    text = out_text(cp)
    assert cp.returncode == 0, info
    assert "Response verify OK" in text, info
    check_openssl_status(text, sample, info)
    # -resp_text: the response's CertID uses the request's hash algorithm.
    want = "sha256" if digest == "sha256" else "sha1"
    algs = re.findall(r"Hash Algorithm: (\S+)", text)
    assert algs and all(a.lower() == want for a in algs), f"CertID hash {algs}, want {want}\n{info}"
    assert "Responder Id:" in text and "Basic OCSP Response" in text, info
    # ResponderID byKey is printed as 40 upper-case hex digits (byName would be a DN).
    rid = re.search(r"Responder Id: (\S+)", text).group(1)
    responder = load_cert(manifest.issuer_for(sample)["responder_cert"])
    assert rid.upper() == key_bitstring_hash(responder).hex().upper(), \
        f"Responder Id {rid} is not SHA-1 of the responder key\n{info}"


@pytest.mark.parametrize("key_alg", ["P-256", "RSA-2048"])
def test_openssl_with_nonce(tools, server, manifest, key_alg):
    """Default mode ignores nonces: openssl warns about the missing nonce but accepts."""
    for status in ("good", "revoked"):
        sample = manifest.find(key_alg=key_alg, status=status)
        cp = openssl_ocsp(server, manifest, [sample], nonce=True)
        info = describe(cp)
        text = out_text(cp)
        assert cp.returncode == 0, info
        assert "Nonce Verify error" not in text, info
        assert "WARNING: no nonce in response" in text or "Response verify OK" in text, info
        assert "Response verify OK" in text, info
        check_openssl_status(text, sample, info)


@pytest.mark.parametrize("key_alg", ["P-256", "RSA-2048"])
def test_openssl_multi_cert(tools, server, manifest, key_alg):
    """Two CertIDs in one request (on-demand signed, two SingleResponses)."""
    good = manifest.find(key_alg=key_alg, status="good")
    revoked = manifest.find(key_alg=key_alg, status="revoked", reason="keyCompromise")
    cp = openssl_ocsp(server, manifest, [good, revoked])
    info = describe(cp)
    text = out_text(cp)
    assert cp.returncode == 0, info
    assert "Response verify OK" in text, info
    check_openssl_status(text, good, info)
    check_openssl_status(text, revoked, info)


def test_openssl_reqout_post_roundtrip(tools, server, manifest, tmp_path):
    """A request written by openssl (-reqout) and answered via -reqin/-respout/-respin."""
    s = manifest.find(key_alg="RSA-2048", status="revoked", reason="affiliationChanged")
    req = tmp_path / "req.der"
    cp = run(["openssl", "ocsp", "-issuer", s["issuer"], "-cert", s["cert"], "-no_nonce",
              "-reqout", req])
    assert cp.returncode == 0 and req.stat().st_size > 0, describe(cp)
    resp = tmp_path / "resp.der"
    cp = run(["openssl", "ocsp", "-reqin", req, "-url", server.url, "-respout", resp,
              "-CAfile", manifest.root, "-issuer", s["issuer"], "-timeout", "30"])
    assert cp.returncode == 0, describe(cp)
    cp = run(["openssl", "ocsp", "-respin", resp, "-issuer", s["issuer"], "-cert", s["cert"],
              "-CAfile", manifest.root, "-no_nonce"])
    info = describe(cp)
    assert cp.returncode == 0 and "Response verify OK" in out_text(cp), info
    check_openssl_status(out_text(cp), s, info)

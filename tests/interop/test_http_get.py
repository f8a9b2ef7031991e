"""HTTP GET/HEAD/other methods, forgiving GET decoding and caching headers (curl + http.client)."""

import base64
import datetime as dt
import email.utils
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from conftest import (
    MALFORMED_REQUEST, OCSP_REQ_CT, OCSP_RESP_CT, HttpResult, http_request, load_cert,
    ocsp_post, parse_success, post_oversize, sample_request,
)


def curl(url: str, *extra: str, timeout: float = 20) -> HttpResult:
    """curl -sS -D - with the body saved to a file; returns parsed status/headers/body."""
    with tempfile.TemporaryDirectory() as td:
        body_path = Path(td) / "body"
        cmd = ["curl", "-sS", "--path-as-is", "--max-time", str(int(timeout)), "-D", "-",
               "-o", str(body_path), *extra, url]
        try:
            cp = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"curl timed out: {cmd}")
        assert cp.returncode == 0, f"curl failed ({cp.returncode}): {cp.stderr.decode()}\n{cmd}"
        body = body_path.read_bytes() if body_path.exists() else b""
    text = cp.stdout.decode("iso-8859-1")
    # With -D - only the final response's headers matter (no redirects are followed).
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    lines = blocks[-1].splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    raw = []
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            headers[k.strip().lower()] = v.strip()
            raw.append((k.strip(), v.strip()))
    return HttpResult(status, headers, body, raw)


def _pick_request(manifest):
    """A (sample, DER) whose base64 has '+', '/' and '=' if possible, to exercise every variant."""
    best = None
    for s in manifest.samples:
        for alg in (hashes.SHA1(), hashes.SHA256()):
            der = sample_request(manifest, s, alg)
            b = base64.b64encode(der).decode()
            score = ("+" in b) + ("/" in b) + ("=" in b)
            if best is None or score > best[0]:
                best = (score, s, der)
            if score == 3:
                return s, der
    return best[1], best[2]


@pytest.fixture(scope="module")
def get_req(manifest):
    return _pick_request(manifest)


def variants(der: bytes):
    std = base64.b64encode(der).decode()
    url = base64.urlsafe_b64encode(der).decode()
    enc = std.replace("%", "%25").replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return {
        "plain": "/" + std,
        "urlencoded": "/" + enc,
        "urlencoded-lowercase": "/" + std.replace("+", "%2b").replace("/", "%2f").replace("=", "%3d"),
        "no-padding": "/" + std.rstrip("="),
        "base64url": "/" + url,
        "base64url-no-padding": "/" + url.rstrip("="),
        "plus-as-%20": "/" + std.replace("+", "%20"),
        "double-slash": "//" + std,
        "double-slash-urlencoded": "//" + enc,
    }


def test_forgiving_get_variants_identical(server, manifest, get_req):
    sample, der = get_req
    reference = ocsp_post(server.port, der)
    parse_success(reference, "POST reference")
    b = base64.b64encode(der).decode()
    print(f"request base64 has +:{'+' in b} /:{'/' in b} =:{'=' in b}")
    for name, path in variants(der).items():
        r = curl(f"http://127.0.0.1:{server.port}{path}")
        assert r.status == 200, f"GET variant {name} ({path}): HTTP {r.status} {r.body[:16].hex()}"
        assert r.header("content-type", "").split(";")[0] == OCSP_RESP_CT, name
        assert r.body == reference.body, f"GET variant {name} returned a different body"


def test_h2c_prior_knowledge_same_answer(server, manifest, get_req):
    """HTTP/2 over cleartext (h2c, prior knowledge) on the same port as HTTP/1.1."""
    sample, der = get_req
    reference = ocsp_post(server.port, der)
    path = "/" + base64.b64encode(der).decode()
    # With prior knowledge curl speaks only HTTP/2: it fails if the server does not.
    r = curl(f"http://127.0.0.1:{server.port}{path}", "--http2-prior-knowledge")
    assert r.status == 200, f"h2c GET: HTTP {r.status}"
    assert r.body == reference.body, "h2c GET returned a different body"
    assert r.header("etag") == reference.header("etag")


def test_get_variants_http_client(server, manifest, get_req):
    """Same variants sent with http.client (raw request line, no client-side normalisation)."""
    _, der = get_req
    reference = ocsp_post(server.port, der).body
    for name, path in variants(der).items():
        r = http_request(server.port, "GET", path)
        assert r.status == 200 and r.body == reference, f"variant {name}: HTTP {r.status}"


def _check_cache_headers(r: HttpResult, manifest, what):
    resp = ocsp.load_der_ocsp_response(r.body)
    now = dt.datetime.now(dt.timezone.utc)
    cc = r.header("cache-control")
    assert cc, f"{what}: no Cache-Control"
    parts = [p.strip().lower() for p in cc.split(",")]
    for d in ("public", "no-transform", "must-revalidate"):
        assert d in parts, f"{what}: Cache-Control {cc!r} lacks {d}"
    m = [p for p in parts if p.startswith("max-age=")]
    assert len(m) == 1, f"{what}: Cache-Control {cc!r} needs exactly one max-age"
    max_age = int(m[0].split("=", 1)[1])
    remaining = (resp.next_update_utc - now).total_seconds()
    assert 0 < max_age <= manifest.max_age_cap <= 600, f"{what}: max-age {max_age}"
    assert max_age <= remaining + 2, f"{what}: max-age {max_age} > nextUpdate-now {remaining}"

    lm = r.header("last-modified")
    assert lm, f"{what}: no Last-Modified"
    lm_t = email.utils.parsedate_to_datetime(lm)
    assert abs((lm_t - resp.this_update_utc).total_seconds()) < 1, \
        f"{what}: Last-Modified {lm} != thisUpdate {resp.this_update_utc}"
    assert lm.endswith("GMT"), f"{what}: Last-Modified not an HTTP date: {lm!r}"

    ex = r.header("expires")
    assert ex, f"{what}: no Expires"
    ex_t = email.utils.parsedate_to_datetime(ex)
    assert ex_t <= resp.next_update_utc + dt.timedelta(seconds=1), \
        f"{what}: Expires {ex} after nextUpdate {resp.next_update_utc}"
    assert ex_t >= now - dt.timedelta(seconds=5), f"{what}: Expires {ex} in the past"

    et = r.header("etag")
    assert et, f"{what}: no ETag"
    assert not et.startswith("W/"), f"{what}: weak ETag {et!r}"
    assert re.fullmatch(r'"[^"]+"', et), f"{what}: ETag not quoted: {et!r}"
    return et


def test_caching_headers_get_and_post(server, manifest, get_req):
    _, der = get_req
    g = curl(f"http://127.0.0.1:{server.port}/{base64.b64encode(der).decode()}")
    etag = _check_cache_headers(g, manifest, "GET")
    p = ocsp_post(server.port, der)
    assert p.status == 200
    assert p.header("content-type", "").split(";")[0] == OCSP_RESP_CT
    g2 = curl(f"http://127.0.0.1:{server.port}/{base64.b64encode(der).decode()}")
    assert g2.header("etag") == etag, "ETag changed between two GETs of the same response"
    for s in manifest.samples[:8]:
        d = sample_request(manifest, s)
        r = curl(f"http://127.0.0.1:{server.port}/{base64.b64encode(d).decode()}")
        assert r.status == 200
        _check_cache_headers(r, manifest, f"GET {s['status']} {s['serial']}")


def test_if_none_match_304(server, manifest, get_req):
    _, der = get_req
    url = f"http://127.0.0.1:{server.port}/{base64.b64encode(der).decode()}"
    first = curl(url)
    etag = first.header("etag")
    assert first.status == 200 and etag
    r = curl(url, "-H", f"If-None-Match: {etag}")
    assert r.status == 304, f"If-None-Match {etag}: HTTP {r.status}"
    assert r.body == b"", "304 must have an empty body"
    r = curl(url, "-H", 'If-None-Match: "definitely-not-the-etag"')
    assert r.status == 200 and r.body == first.body, "non-matching If-None-Match must give 200"


def test_head(server, manifest, get_req):
    _, der = get_req
    path = "/" + base64.b64encode(der).decode()
    g = http_request(server.port, "GET", path)
    h = http_request(server.port, "HEAD", path)
    assert h.status == 200, f"HEAD: HTTP {h.status}"
    assert h.body == b""
    assert h.header("content-type", "").split(";")[0] == OCSP_RESP_CT
    assert h.header("etag") == g.header("etag")
    if h.header("content-length") is not None:
        assert int(h.header("content-length")) == len(g.body)
    c = curl(f"http://127.0.0.1:{server.port}{path}", "-I")  # -I writes headers to -o
    assert c.status == 200, f"curl -I: HTTP {c.status}"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_405(server, manifest, get_req, method):
    _, der = get_req
    for path in ("/", "/" + base64.b64encode(der).decode()):
        r = http_request(server.port, method, path, der, {"Content-Type": OCSP_REQ_CT})
        assert r.status == 405, f"{method} {path[:20]}: HTTP {r.status}"
        allow = r.header("allow")
        assert allow, f"{method}: 405 without Allow header"
        methods = {m.strip().upper() for m in allow.split(",")}
        assert {"GET", "POST"} <= methods, f"Allow: {allow!r}"
    c = curl(f"http://127.0.0.1:{server.port}/", "-X", method)
    assert c.status == 405


@pytest.mark.parametrize("size", [10 * 1024 + 1, 12 * 1024, 64 * 1024])
def test_post_too_large_413(server, size):
    body = b"\x30\x82" + (size - 4).to_bytes(2, "big") + b"\x00" * (size - 4)
    assert len(body) == size
    status = post_oversize(server.port, body)
    assert status == 413, f"POST of {size} bytes: HTTP {status}"
    assert http_request(server.port, "GET", "/healthz").status == 200


def test_post_at_limit_not_413(server, manifest):
    # A valid request padded to exactly 10 KiB is not rejected for size.
    body = b"\x00" * (10 * 1024)
    r = http_request(server.port, "POST", "/", body, {"Content-Type": OCSP_REQ_CT})
    assert r.status == 400 and r.body == MALFORMED_REQUEST, f"10 KiB junk: HTTP {r.status}"


@pytest.mark.parametrize("path", [
    "/@@@@not-base64@@@@",
    "/" + "A" * 5,  # invalid base64 length
    "/" + base64.b64encode(b"hello world, not DER").decode(),
    "/" + base64.b64encode(b"\x30\x03\x02\x01\x01").decode(),
])
def test_get_garbage_400(server, path):
    r = curl(f"http://127.0.0.1:{server.port}{path}")
    assert r.status == 400, f"GET {path}: HTTP {r.status}"
    assert r.body == MALFORMED_REQUEST, f"GET {path}: body {r.body.hex()}"


def test_get_certificate_der_400(server, manifest):
    """Valid base64 of valid DER that is not an OCSP request (a certificate)."""
    cert = load_cert(manifest.samples[0]["cert"])
    der = cert.public_bytes(serialization.Encoding.DER)
    for b in (base64.b64encode(der).decode(), base64.urlsafe_b64encode(der).decode().rstrip("=")):
        r = curl(f"http://127.0.0.1:{server.port}/{b}")
        assert r.status == 400 and r.body == MALFORMED_REQUEST, f"cert DER GET: HTTP {r.status}"


def test_health_endpoints(server):
    for p in ("/healthz", "/readyz"):
        r = curl(f"http://127.0.0.1:{server.port}{p}")
        assert r.status == 200, f"{p}: HTTP {r.status}"

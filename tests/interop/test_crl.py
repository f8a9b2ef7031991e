"""CRL publication: the demo publishes a full CRL per issuing CA, 100 FNMT-style partitions
(CRL1.crl .. CRL100.crl) for the AP CA and an ARL for the root; they are served over HTTP by
the OCSP server, written to the publish dir, listed in crls.json and verified with OpenSSL,
GnuTLS certtool and pyca/cryptography.

Read-only checks use the shared demo; revocation, release, restart and `crl build` use a
private demo each.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import (
    REASONS, der_read, describe, http_request, load_cert, out_text, parse_rfc3339,
    require_tool, revoca_cli, run, sample_serial,
)

CRL_CT = "application/pkix-crl"
CRL_DELAY = 2.0                     # the demo's configured publication delay
PUBLISH_LIMIT = CRL_DELAY + 3.0     # delay + building/signing/serving slack
WAIT_LIMIT = 10.0                   # hard bound of every poll in this module
MAX_CRL_VALIDITY = dt.timedelta(days=10)
AP_PARTITIONS = set(range(1, 101))
UTC = dt.timezone.utc


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def now_utc() -> dt.datetime:
    return dt.datetime.now(UTC)


def same_file(a, b) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def crl_entries(m) -> list[dict]:
    assert "crls" in m.data, f"manifest {m.path} has no 'crls' list"
    crls = m.data["crls"]
    assert isinstance(crls, list) and crls, f"manifest 'crls' is empty or not a list: {crls!r}"
    return crls


def url_path(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    return p.path + (f"?{p.query}" if p.query else "")


def url_file(url: str) -> str:
    return urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]


def url_slug(url: str) -> str:
    parts = urllib.parse.urlsplit(url).path.split("/")
    assert len(parts) == 4 and parts[1] == "crl", f"CRL URL {url!r} is not /crl/<slug>/<file>"
    return parts[2]


def full_entry(m, issuer_pem) -> dict:
    found = [c for c in crl_entries(m) if same_file(c["issuer"], issuer_pem)
             and c["partition"] is None and url_file(c["url"]) == "full.crl"]
    assert len(found) == 1, f"want one full.crl entry for {issuer_pem}, got {found}"
    return found[0]


def arl_entry(m) -> dict:
    found = [c for c in crl_entries(m) if url_file(c["url"]) == "arl.crl"]
    assert len(found) == 1, f"want one arl.crl entry, got {found}"
    return found[0]


def entry_by_url(m, url) -> dict:
    found = [c for c in crl_entries(m) if c["url"] == url]
    assert len(found) == 1, f"want one manifest CRL entry with url {url!r}, got {found}"
    return found[0]


def cdp_uris(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        return []
    out = []
    for dp in ext.value:
        for gn in dp.full_name or []:
            if isinstance(gn, x509.UniformResourceIdentifier):
                out.append(gn.value)
    return out


def sample_cdp(sample) -> str:
    uris = cdp_uris(load_cert(sample["cert"]))
    assert len(uris) == 1, f"sample {sample['serial']}: want one CDP URI, got {uris}"
    return uris[0]


def load_crl(der: bytes, what: str = "") -> x509.CertificateRevocationList:
    assert not der.startswith(b"-----BEGIN"), f"{what}: CRL is PEM, want DER"
    try:
        return x509.load_der_x509_crl(der)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{what}: not a DER CRL ({e}); first bytes {der[:32].hex()}")


def crl_number(crl) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def crl_version(der: bytes) -> int:
    """1 or 2, from the optional version INTEGER at the start of TBSCertList."""
    _, outer = der_read(der, 0, expect=0x30)
    _, tbs = der_read(outer, 0, expect=0x30)
    if tbs[0] != 0x02:
        return 1
    _, v = der_read(tbs, 0, expect=0x02)
    return int.from_bytes(v, "big") + 1


def entry_reason(rc: x509.RevokedCertificate):
    try:
        ext = rc.extensions.get_extension_for_class(x509.CRLReason)
    except x509.ExtensionNotFound:
        return None
    assert not ext.critical, f"serial {rc.serial_number:x}: critical reasonCode"
    return ext.value.reason


def expected_reason(sample):
    if sample["status"] == "hold":
        return x509.ReasonFlags.certificate_hold
    if sample.get("reason") in (None, "unspecified"):
        return None
    return REASONS[sample["reason"]]


def fetch_crl(srv, url: str, what: str = ""):
    """GET a CRL from the demo's own HTTP server; return (HttpResult, der, parsed)."""
    assert urllib.parse.urlsplit(url).port == srv.port, f"CRL URL {url} not on port {srv.port}"
    r = http_request(srv.port, "GET", url_path(url))
    assert r.status == 200, f"{what} GET {url}: HTTP {r.status} {r.body[:120]!r}"
    return r, r.body, load_crl(r.body, f"{what} {url}")


def idp(crl):
    try:
        return crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    except x509.ExtensionNotFound:
        return None


def idp_uris(ext) -> list[str]:
    return [g.value for g in (ext.value.full_name or [])
            if isinstance(g, x509.UniformResourceIdentifier)]


def ca_ski(ca: x509.Certificate) -> bytes:
    try:
        return ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest


def common_name(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def to_pem(der_crl: bytes, dst: Path) -> Path:
    crl = x509.load_der_x509_crl(der_crl)
    dst.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    return dst


def chain_file(m, issuer_pem, dst: Path) -> Path:
    """issuer (+ root) PEM bundle for `openssl crl -CAfile`."""
    parts = [Path(issuer_pem).read_bytes()]
    if not same_file(issuer_pem, m.root):
        parts.append(Path(m.root).read_bytes())
    dst.write_bytes(b"\n".join(parts))
    return dst


def openssl_verify_cert(m, sample, crl_der: bytes, tmp: Path):
    """`openssl verify -crl_check` of a sample against its CA's published CRL."""
    openssl = require_tool("openssl")
    der_path = tmp / f"{sample['serial']}.crl.der"
    der_path.write_bytes(crl_der)
    pem_path = tmp / f"{sample['serial']}.crl.pem"
    cp = run([openssl, "crl", "-inform", "DER", "-in", der_path, "-outform", "PEM",
              "-out", pem_path])
    assert cp.returncode == 0, f"openssl crl DER->PEM failed\n{describe(cp)}"
    return run([openssl, "verify", "-crl_check", "-CAfile", m.root, "-untrusted",
                sample["issuer"], "-CRLfile", pem_path, sample["cert"]])


def wait_crls(srv, urls, pred, what: str, limit: float = WAIT_LIMIT):
    """Poll the served CRLs until pred(url, crl) holds for all; return (elapsed, {url: (der, crl)})."""
    t0 = time.monotonic()
    while True:
        got = {}
        for u in urls:
            _, der, crl = fetch_crl(srv, u, what)
            got[u] = (der, crl)
        elapsed = time.monotonic() - t0
        if all(pred(u, crl) for u, (_, crl) in got.items()):
            return elapsed, got
        if elapsed > limit:
            state = {u: (crl_number(c), c.last_update_utc.isoformat(), len(c))
                     for u, (_, c) in got.items()}
            pytest.fail(f"{what}: not visible after {elapsed:.1f}s; "
                        f"(number, thisUpdate, entries) per CRL: {state}\n{srv.log_tail()}")
        time.sleep(0.1)


def wait_file_matches(srv, entry, der: bytes, what: str, limit: float = 2.0):
    deadline = time.monotonic() + limit
    while True:
        on_disk = Path(entry["file"]).read_bytes() if os.path.exists(entry["file"]) else b""
        if on_disk == der:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: {entry['file']} ({len(on_disk)} bytes) differs from the "
                        f"CRL served at {entry['url']} ({len(der)} bytes)")
        time.sleep(0.1)


def served_numbers(srv, m) -> dict:
    return {c["url"]: crl_number(fetch_crl(srv, c["url"], "numbers")[2]) for c in crl_entries(m)}


def file_numbers(m) -> dict:
    return {c["url"]: crl_number(load_crl(Path(c["file"]).read_bytes(), c["file"]))
            for c in crl_entries(m)}


def has_token(text: str, value: int, allow_hex: bool = True) -> bool:
    forms = [str(value)]
    if allow_hex:
        h = format(value, "x")
        h = "0" * (len(h) % 2) + h
        forms += [h, h.upper(), f"0x{h}", f"0x{h.upper()}", format(value, "x")]
    # not part of a word, path, date or time ("CRL5.crl", "2026-11-23", "13:15:05")
    return any(re.search(rf"(?<![0-9A-Za-z.\-]){re.escape(f)}(?![0-9A-Za-z:\-])", text)
               for f in forms)


def time_forms(t: dt.datetime) -> set[str]:
    t = t.astimezone(UTC)
    return {
        t.strftime("%Y-%m-%dT%H:%M:%S"), t.strftime("%Y-%m-%d %H:%M:%S"),
        t.strftime("%b %d %H:%M:%S %Y"), f"{t:%b} {t.day:2d} {t:%H:%M:%S %Y}",
        t.strftime("%a, %d %b %Y %H:%M:%S"), t.strftime("%y%m%d%H%M%SZ"),
        t.strftime("%Y%m%d%H%M%SZ"), str(int(t.timestamp())),
    }


# --------------------------------------------------------------------------
# shared demo: everything published, fetched once
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(server, manifest):
    """url -> {"entry", "der", "crl", "http"} for every CRL in the manifest (fetched over HTTP)."""
    out = {}
    for c in crl_entries(manifest):
        r, der, crl = fetch_crl(server, c["url"], "shared")
        out[c["url"]] = {"entry": c, "der": der, "crl": crl, "http": r}
    return out


def issuer_of_entry(m, c) -> x509.Certificate:
    assert os.path.isabs(c["issuer"]) and os.path.exists(c["issuer"]), c
    return load_cert(c["issuer"])


def test_manifest_lists_every_crl(server, manifest):
    m = manifest
    crls = crl_entries(m)
    prefix = f"http://127.0.0.1:{server.port}/crl/"
    for c in crls:
        assert set(c) >= {"issuer", "url", "partition", "file"}, c
        assert c["url"].startswith(prefix), f"{c['url']} does not start with {prefix}"
        url_slug(c["url"])
        assert os.path.isabs(c["file"]) and os.path.isfile(c["file"]), c
    urls = [c["url"] for c in crls]
    assert len(urls) == len(set(urls)), f"duplicate CRL URLs in manifest: {urls}"

    tls = m.issuer_by_alg("P-256")
    ap = m.issuer_by_alg("RSA-2048")
    tls_full = full_entry(m, tls["cert"])
    ap_full = full_entry(m, ap["cert"])
    assert [c for c in crls if same_file(c["issuer"], tls["cert"])] == [tls_full], \
        "the TLS CA must publish only full.crl (no partitions)"

    ap_parts = [c for c in crls if same_file(c["issuer"], ap["cert"]) and c is not ap_full]
    nums = [c["partition"] for c in ap_parts]
    assert all(isinstance(n, int) for n in nums), f"AP partition numbers: {nums}"
    assert sorted(nums) == sorted(AP_PARTITIONS), \
        f"AP partitions {sorted(nums)[:5]}..{sorted(nums)[-5:]} (n={len(nums)}), want 1..100"
    ap_slug = url_slug(ap_full["url"])
    for c in ap_parts:
        assert url_file(c["url"]) == f"CRL{c['partition']}.crl", c
        assert url_slug(c["url"]) == ap_slug, f"{c['url']}: not under the AP CA's slug {ap_slug}"

    arl = arl_entry(m)
    assert same_file(arl["issuer"], m.root), f"ARL issuer {arl['issuer']} is not the root"
    assert arl["partition"] is None
    slugs = {url_slug(tls_full["url"]), ap_slug, url_slug(arl["url"])}
    assert len(slugs) == 3, f"TLS CA, AP CA and root must have distinct slugs: {slugs}"
    assert len(crls) == 2 + len(AP_PARTITIONS) + 1, \
        f"{len(crls)} CRLs in manifest, want 2 full + 100 partitions + 1 ARL"


def test_publish_dir_and_crls_json(manifest):
    m = manifest
    pub = m.data.get("crl_publish_dir")
    assert pub and os.path.isabs(pub) and os.path.isdir(pub), f"crl_publish_dir {pub!r}"
    for c in crl_entries(m):
        rel = os.path.relpath(os.path.realpath(c["file"]), os.path.realpath(pub))
        want = "/".join(urllib.parse.urlsplit(c["url"]).path.split("/")[2:])
        assert rel.replace(os.sep, "/") == want, \
            f"{c['file']} is not <publish dir>/{want} (url {c['url']})"

    path = Path(pub) / "crls.json"
    assert path.is_file(), f"no crls.json in {pub}: {sorted(os.listdir(pub))}"
    data = json.loads(path.read_text())
    assert isinstance(data, dict) and data, f"crls.json is not a non-empty JSON object: {data!r}"
    listed = set()
    for k, v in data.items():
        assert isinstance(v, list) and v, f"crls.json[{k!r}] is not a non-empty array: {v!r}"
        for u in v:
            assert isinstance(u, str) and u.startswith("http://"), f"crls.json[{k!r}]: {u!r}"
        listed.update(v)
    missing = [c["url"] for c in crl_entries(m) if c["url"] not in listed]
    assert not missing, f"crls.json does not list {len(missing)} manifest URLs: {missing[:5]}"


def test_sample_certs_carry_cdp(manifest):
    m = manifest
    tls_full = full_entry(m, m.issuer_by_alg("P-256")["cert"])
    used_parts = set()
    for s in m.samples:
        cert = load_cert(s["cert"])
        ext = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        assert not ext.critical, f"sample {s['serial']}: critical CDP"
        dps = list(ext.value)
        assert len(dps) == 1, f"sample {s['serial']}: {len(dps)} distribution points"
        dp = dps[0]
        assert dp.crl_issuer is None and dp.reasons is None and dp.relative_name is None, dp
        uris = [g for g in dp.full_name]
        assert len(uris) == 1 and isinstance(uris[0], x509.UniformResourceIdentifier), uris
        uri = uris[0].value
        assert uri.startswith("http://"), uri
        if s.get("crl_url") is not None:
            assert s["crl_url"] == uri, f"sample {s['serial']}: crl_url {s['crl_url']} != CDP {uri}"
        entry = entry_by_url(m, uri)
        assert same_file(entry["issuer"], s["issuer"]), \
            f"sample {s['serial']}: CDP {uri} belongs to another issuer ({entry['issuer']})"
        if m.issuer_for(s)["key_alg"] == "P-256":
            assert uri == tls_full["url"], f"TLS sample {s['serial']}: CDP {uri}"
        else:
            assert entry["partition"] in AP_PARTITIONS, \
                f"AP sample {s['serial']}: CDP {uri} is not a partition CRL ({entry})"
            used_parts.add(entry["partition"])
    assert len(used_parts) > 1, f"every AP sample in partition(s) {used_parts}: not spread by serial"


def test_crl_http_headers_and_304(server, published):
    for url, p in published.items():
        r = p["http"]
        crl = p["crl"]
        ct = r.header("content-type", "")
        assert ct.split(";")[0].strip().lower() == CRL_CT, f"{url}: Content-Type {ct!r}"
        etag = r.header("etag")
        assert etag, f"{url}: no ETag"
        lm = r.header("last-modified")
        assert lm, f"{url}: no Last-Modified"
        lm_t = email.utils.parsedate_to_datetime(lm)
        assert lm_t <= now_utc() + dt.timedelta(seconds=5), f"{url}: Last-Modified {lm} in future"
        cc = r.header("cache-control", "")
        mo = re.search(r"(?:^|[,\s])max-age=(\d+)", cc)
        assert mo, f"{url}: Cache-Control {cc!r} without max-age"
        left = (crl.next_update_utc - now_utc()).total_seconds()
        assert int(mo.group(1)) <= left + 2, \
            f"{url}: max-age {mo.group(1)} > {left:.0f}s until nextUpdate"

        r304 = http_request(server.port, "GET", url_path(url), headers={"If-None-Match": etag})
        if r304.status == 200 and r304.body != p["der"]:
            continue  # republished in between: the old ETag is rightly not matched
        assert r304.status == 304, f"{url}: If-None-Match {etag} -> HTTP {r304.status}"
        assert r304.body == b"", f"{url}: 304 with a body"


def test_unknown_crl_paths_404(server, manifest):
    tls_full = full_entry(manifest, manifest.issuer_by_alg("P-256")["cert"])
    slug = url_slug(tls_full["url"])
    for path in (f"/crl/{slug}/nosuch.crl", "/crl/no-such-ca/full.crl",
                 f"/crl/{slug}/full.crl.bak"):
        r = http_request(server.port, "GET", path)
        assert r.status == 404, f"GET {path}: HTTP {r.status}, want 404"
    for path in ("/crl/nosuch", f"/crl/{slug}/..%2F..%2Fmanifest.json",
                 f"/crl/{slug}/../../manifest.json", "/crl/../manifest.json",
                 f"/crl/{slug}/%2e%2e/%2e%2e/crls.json"):
        r = http_request(server.port, "GET", path)
        assert r.status in (400, 404), f"GET {path}: HTTP {r.status} (path traversal?)"
        assert b'"samples"' not in r.body and b"http://127.0.0.1:" not in r.body, \
            f"GET {path} leaked a file: {r.body[:200]!r}"


def test_served_bytes_equal_published_file(server, published):
    for url, p in published.items():
        c = p["entry"]
        for _ in range(3):
            on_disk = Path(c["file"]).read_bytes()
            served = http_request(server.port, "GET", url_path(url)).body
            if on_disk == served:
                break
            time.sleep(0.2)
        assert on_disk == served, f"{url}: served bytes differ from {c['file']}"


def test_crl_structure_pyca(manifest, published):
    m = manifest
    now = now_utc()
    for url, p in published.items():
        c, crl, der = p["entry"], p["crl"], p["der"]
        ca = issuer_of_entry(m, c)
        assert crl_version(der) == 2, f"{url}: CRL version {crl_version(der)}, want v2"
        assert crl.issuer == ca.subject, f"{url}: issuer {crl.issuer.rfc4514_string()}"
        assert crl.is_signature_valid(ca.public_key()), f"{url}: bad signature ({c['issuer']})"

        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        assert not aki.critical
        assert aki.value.key_identifier == ca_ski(ca), \
            f"{url}: AKI {aki.value.key_identifier!r} != CA SKI"
        num = crl.extensions.get_extension_for_class(x509.CRLNumber)
        assert not num.critical, f"{url}: critical CRL Number"
        assert 0 <= num.value.crl_number < 2 ** 159, f"{url}: CRL number {num.value.crl_number}"

        tu, nu = crl.last_update_utc, crl.next_update_utc
        assert nu is not None, f"{url}: no nextUpdate"
        assert tu <= now + dt.timedelta(seconds=5), f"{url}: thisUpdate {tu} in the future"
        assert nu > now, f"{url}: nextUpdate {nu} already passed"
        # BR 7.2: a subscriber CRL is valid at most 10 days; a root's CRL of CA
        # certificates (the ARL) at most 12 months.
        limit = dt.timedelta(days=366) if url.endswith("/arl.crl") else MAX_CRL_VALIDITY
        assert nu - tu <= limit, f"{url}: validity {nu - tu} > {limit}"

        for rc in crl:
            assert entry_reason(rc) != x509.ReasonFlags.remove_from_crl, \
                f"{url}: removeFromCRL entry on a base CRL"


def test_crl_idp(manifest, published):
    m = manifest
    for url, p in published.items():
        c, crl = p["entry"], p["crl"]
        ext = idp(crl)
        is_arl = url_file(url) == "arl.crl"
        if c["partition"] is not None or is_arl:
            assert ext is not None, f"{url}: no Issuing Distribution Point"
        if ext is None:
            continue
        assert ext.critical, f"{url}: IDP not critical"
        uris = idp_uris(ext)
        if c["partition"] is not None:
            assert uris == [url], f"{url}: IDP fullName {uris}, want exactly [{url}]"
            assert not ext.value.only_contains_ca_certs, f"{url}: partition CRL onlyContainsCACerts"
        elif is_arl:
            assert ext.value.only_contains_ca_certs, f"{url}: ARL IDP without onlyContainsCACerts"
            assert uris in ([], [url]), f"{url}: ARL IDP fullName {uris}"
        else:
            assert uris in ([], [url]), f"{url}: full CRL IDP fullName {uris}"
            assert not ext.value.only_contains_ca_certs, f"{url}: full CRL onlyContainsCACerts"
        assert ext.value.only_some_reasons is None and not ext.value.indirect_crl, \
            f"{url}: IDP with onlySomeReasons/indirectCRL"

    # byte-identical to the certificates' CDP: compare the raw DER of the URI too
    for s in m.samples:
        uri = sample_cdp(s)
        crl = published[uri]["crl"]
        ext = idp(crl)
        if ext is None:
            continue  # (TLS full CRL without IDP)
        assert idp_uris(ext) == [uri], f"sample {s['serial']}: IDP {idp_uris(ext)} != CDP {uri}"
        cdp_der = load_cert(s["cert"]).extensions.get_extension_for_class(
            x509.CRLDistributionPoints).value.public_bytes()
        assert uri.encode("ascii") in cdp_der and uri.encode("ascii") in ext.value.public_bytes()


def test_crl_entries_match_manifest(manifest, published):
    m = manifest
    by_issuer: dict[str, list[str]] = {}
    for url, p in published.items():
        by_issuer.setdefault(os.path.realpath(p["entry"]["issuer"]), []).append(url)

    checked = {"revoked": 0, "hold": 0, "good": 0}
    for s in m.samples:
        serial = sample_serial(s)
        full = full_entry(m, s["issuer"])["url"]
        cdp = sample_cdp(s)
        own = by_issuer[os.path.realpath(s["issuer"])]
        present = [u for u in own
                   if published[u]["crl"].get_revoked_certificate_by_serial_number(serial)]
        checked[s["status"]] += 1
        if s["status"] == "good":
            assert not present, f"good sample {s['serial']} listed on {present}"
            continue
        want = sorted({full, cdp})
        assert sorted(present) == want, \
            f"{s['status']} sample {s['serial']}: on {sorted(present)}, want exactly {want}"
        for u in want:
            rc = published[u]["crl"].get_revoked_certificate_by_serial_number(serial)
            got = entry_reason(rc)
            assert got == expected_reason(s), \
                f"{u}: serial {s['serial']} reason {got}, manifest {s['status']}/{s.get('reason')}"
            if s.get("revocation_time"):
                want_t = parse_rfc3339(s["revocation_time"])
                assert abs((rc.revocation_date_utc - want_t).total_seconds()) <= 1.0, \
                    f"{u}: serial {s['serial']} revoked at {rc.revocation_date_utc}, manifest {want_t}"
    assert checked["revoked"] and checked["hold"] and checked["good"], checked
    # the ARL never lists end-entity samples
    arl = published[arl_entry(m)["url"]]["crl"]
    for s in m.samples:
        assert arl.get_revoked_certificate_by_serial_number(sample_serial(s)) is None


def test_crl_openssl_and_certtool(manifest, published, tmp_path):
    openssl = require_tool("openssl")
    certtool = require_tool("certtool")
    m = manifest
    for i, (url, p) in enumerate(published.items()):
        c = p["entry"]
        der = tmp_path / f"{i}.crl"
        der.write_bytes(p["der"])
        pem = to_pem(p["der"], tmp_path / f"{i}.crl.pem")
        chain = chain_file(m, c["issuer"], tmp_path / f"{i}.chain.pem")

        cp = run([openssl, "crl", "-inform", "DER", "-in", der, "-CAfile", chain,
                  "-noout", "-verify"])
        txt = out_text(cp)
        assert cp.returncode == 0 and "verify OK" in txt and "failure" not in txt.lower(), \
            f"{url}: openssl crl -verify\n{describe(cp)}"

        cp = run([certtool, "--crl-info", "--inder", "--infile", der])
        assert cp.returncode == 0, f"{url}: certtool --crl-info\n{describe(cp)}"
        assert "Version: 2" in out_text(cp), f"{url}: certtool does not see a v2 CRL\n{describe(cp)}"

        cp = run([certtool, "--verify-crl", "--load-ca-certificate", c["issuer"], "--infile", pem])
        txt = out_text(cp)
        assert cp.returncode == 0 and "Not verified" not in txt, \
            f"{url}: certtool --verify-crl\n{describe(cp)}"


def _openssl_cases(m):
    cases = []
    for alg in ("P-256", "RSA-2048"):
        cases += m.find(key_alg=alg, status="good", all_=True)[:3]
        cases += m.find(key_alg=alg, status="revoked", all_=True)[:3]
    cases += m.find(status="hold", all_=True)[:2]
    return cases


def test_openssl_verify_crl_check(manifest, tmp_path):
    """Download each sample's CRL from the CDP URL in the certificate (curl); OpenSSL
    `verify -crl_check` accepts good samples and rejects revoked and held ones."""
    curl = require_tool("curl")
    m = manifest
    for s in _openssl_cases(m):
        uri = sample_cdp(s)
        dst = tmp_path / f"{s['serial']}.dl.crl"
        cp = run([curl, "-sS", "-f", "--max-time", "10", "-o", dst, uri])
        assert cp.returncode == 0, f"curl {uri}\n{describe(cp)}"
        cp = openssl_verify_cert(m, s, dst.read_bytes(), tmp_path)
        txt = out_text(cp)
        if s["status"] == "good":
            assert cp.returncode == 0 and ": OK" in txt, \
                f"good sample {s['serial']} rejected with CRL {uri}\n{describe(cp)}"
        else:
            assert cp.returncode != 0 and "certificate revoked" in txt, \
                f"{s['status']} sample {s['serial']} not rejected with CRL {uri}\n{describe(cp)}"


# --------------------------------------------------------------------------
# CLI on the shared demo (read-only)
# --------------------------------------------------------------------------


def test_cli_crl_list(server, manifest):
    m = manifest
    for attempt in range(2):
        numbers = file_numbers(m)
        cp = revoca_cli("crl", "list", "--dir", server.dir)
        assert cp.returncode == 0, describe(cp)
        lines = cp.stdout.decode("utf-8", "replace").splitlines()
        problems = []
        for url, n in numbers.items():
            mine = [l for l in lines
                    if re.search(rf"(?<![\w./:-]){re.escape(url)}(?![\w./-])", l)]
            if len(mine) != 1:
                problems.append(f"{url}: {len(mine)} lines")
            elif not has_token(mine[0].replace(url, " "), n):
                problems.append(f"{url}: number {n} not on {mine[0]!r}")
        if not problems:
            break
        time.sleep(0.5)  # maybe republished while listing: retry once
    assert not problems, f"crl list: {problems[:5]}\n{describe(cp)}"
    crl_lines = [l for l in lines if "http://127.0.0.1:" in l and "/crl/" in l]
    assert len(crl_lines) == len(numbers), \
        f"crl list printed {len(crl_lines)} CRL lines for {len(numbers)} CRLs\n{describe(cp)}"


def _check_show(cp, crl, ca, what):
    assert cp.returncode == 0, f"{what}\n{describe(cp)}"
    text = cp.stdout.decode("utf-8", "replace")
    lines = text.splitlines()
    assert common_name(ca) in text, f"{what}: issuer {common_name(ca)!r} not shown\n{text}"
    n = crl_number(crl)
    assert any("number" in l.lower() and has_token(l, n) for l in lines), \
        f"{what}: CRL number {n} not shown\n{text}"
    for label, t in (("thisUpdate", crl.last_update_utc), ("nextUpdate", crl.next_update_utc)):
        assert any(f in text for f in time_forms(t)), f"{what}: {label} {t} not shown\n{text}"
    count = len(crl)
    assert any(("entr" in l.lower() or "revoked" in l.lower()) and has_token(l, count, False)
               for l in lines), f"{what}: entry count {count} not shown\n{text}"


def test_cli_crl_show(server, manifest, published):
    m = manifest
    ap = m.issuer_by_alg("RSA-2048")
    parts = [p for p in published.values()
             if same_file(p["entry"]["issuer"], ap["cert"]) and p["entry"]["partition"]]
    busiest = max(parts, key=lambda p: len(p["crl"]))
    assert len(busiest["crl"]) > 0, "no AP partition CRL has entries"
    url = busiest["entry"]["url"]
    cp = revoca_cli("crl", "show", "--dir", server.dir, "--url", url)
    _check_show(cp, busiest["crl"], load_cert(ap["cert"]), f"crl show --url {url}")

    tls_full = full_entry(m, m.issuer_by_alg("P-256")["cert"])
    der = Path(tls_full["file"]).read_bytes()
    cp = revoca_cli("crl", "show", "--dir", server.dir, "--file", tls_full["file"])
    _check_show(cp, load_crl(der), load_cert(tls_full["issuer"]),
                f"crl show --file {tls_full['file']}")

    arl = arl_entry(m)
    cp = revoca_cli("crl", "show", "--dir", server.dir, "--url", arl["url"])
    _check_show(cp, load_crl(Path(arl["file"]).read_bytes()), load_cert(m.root),
                f"crl show --url {arl['url']}")


# --------------------------------------------------------------------------
# private demos: revocation, release/hold, restart, crl build
# --------------------------------------------------------------------------


def _watch_urls(m, sample) -> list[str]:
    return sorted({full_entry(m, sample["issuer"])["url"], sample_cdp(sample)})


@pytest.mark.parametrize("key_alg", ["P-256", "RSA-2048"])
def test_revocation_reaches_crl_with_higher_number(private_server, key_alg, tmp_path):
    srv = private_server()
    m = srv.manifest
    sample = m.find(key_alg=key_alg, status="good")
    serial = sample_serial(sample)
    urls = _watch_urls(m, sample)
    before = {}
    for u in urls:
        _, _, crl = fetch_crl(srv, u, "before")
        assert crl.get_revoked_certificate_by_serial_number(serial) is None
        before[u] = (crl_number(crl), crl.last_update_utc)

    cp = revoca_cli("revoke", "--dir", srv.dir, "--cert", sample["cert"],
                    "--reason", "keyCompromise")
    assert cp.returncode == 0, describe(cp)
    elapsed, got = wait_crls(
        srv, urls, lambda u, c: c.get_revoked_certificate_by_serial_number(serial) is not None,
        f"{key_alg} revocation of {sample['serial']} on {urls}")
    assert elapsed <= PUBLISH_LIMIT, \
        f"revocation on the CRL after {elapsed:.1f}s (configured delay {CRL_DELAY}s)"

    for u, (der, crl) in got.items():
        n0, tu0 = before[u]
        assert crl_number(crl) > n0, f"{u}: CRL number {crl_number(crl)} not > {n0}"
        assert crl.last_update_utc >= tu0, f"{u}: thisUpdate went back"
        assert crl.is_signature_valid(load_cert(sample["issuer"]).public_key())
        rc = crl.get_revoked_certificate_by_serial_number(serial)
        assert entry_reason(rc) == x509.ReasonFlags.key_compromise, f"{u}: {entry_reason(rc)}"
        assert abs((rc.revocation_date_utc - now_utc()).total_seconds()) <= 30
        wait_file_matches(srv, entry_by_url(m, u), der, "after revoke")

    if key_alg == "RSA-2048":
        # exactly its own partition
        for c in crl_entries(m):
            if same_file(c["issuer"], sample["issuer"]) and c["url"] not in urls:
                crl = fetch_crl(srv, c["url"], "other partitions")[2]
                assert crl.get_revoked_certificate_by_serial_number(serial) is None, \
                    f"{sample['serial']} also listed on {c['url']}"

    cp = openssl_verify_cert(m, sample, got[sample_cdp(sample)][0], tmp_path)
    assert cp.returncode != 0 and "certificate revoked" in out_text(cp), describe(cp)


def test_release_and_hold_on_partition_crl(private_server):
    srv = private_server()
    m = srv.manifest
    held = m.find(key_alg="RSA-2048", status="hold")
    serial = sample_serial(held)
    urls = _watch_urls(m, held)
    before = {}
    for u in urls:
        crl = fetch_crl(srv, u, "before release")[2]
        rc = crl.get_revoked_certificate_by_serial_number(serial)
        assert rc is not None and entry_reason(rc) == x509.ReasonFlags.certificate_hold, \
            f"{u}: held sample {held['serial']} not listed with certificateHold"
        before[u] = crl_number(crl)

    cp = revoca_cli("release", "--dir", srv.dir, "--cert", held["cert"])
    assert cp.returncode == 0, describe(cp)
    elapsed, got = wait_crls(
        srv, urls, lambda u, c: c.get_revoked_certificate_by_serial_number(serial) is None,
        f"release of {held['serial']}")
    assert elapsed <= PUBLISH_LIMIT, f"release reached the CRL after {elapsed:.1f}s"
    for u, (_, crl) in got.items():
        assert crl_number(crl) > before[u], f"{u}: number {crl_number(crl)} not > {before[u]}"

    # and a fresh hold of a good AP sample shows up with certificateHold
    good = m.find(key_alg="RSA-2048", status="good")
    gserial = sample_serial(good)
    gurls = _watch_urls(m, good)
    cp = revoca_cli("hold", "--dir", srv.dir, "--cert", good["cert"])
    assert cp.returncode == 0, describe(cp)
    _, got = wait_crls(
        srv, gurls, lambda u, c: c.get_revoked_certificate_by_serial_number(gserial) is not None,
        f"hold of {good['serial']}")
    for u, (_, crl) in got.items():
        rc = crl.get_revoked_certificate_by_serial_number(gserial)
        assert entry_reason(rc) == x509.ReasonFlags.certificate_hold, f"{u}: {entry_reason(rc)}"


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_crl_numbers_never_go_back_across_restart(private_server, how):
    srv = private_server()
    m = srv.manifest
    # publish something first, so the numbers are past their initial values
    sample = m.find(key_alg="P-256", status="good")
    serial = sample_serial(sample)
    cp = revoca_cli("revoke", "--dir", srv.dir, "--cert", sample["cert"], "--reason", "superseded")
    assert cp.returncode == 0, describe(cp)
    wait_crls(srv, _watch_urls(m, sample),
              lambda u, c: c.get_revoked_certificate_by_serial_number(serial) is not None,
              "revocation before restart")

    served = served_numbers(srv, m)
    on_disk = file_numbers(m)
    seen = {u: max(served[u], on_disk[u]) for u in served}

    if how == "sigterm":
        assert srv.stop() == 0, f"SIGTERM exit {srv.proc.returncode}\n{srv.log_tail()}"
    else:
        srv.kill()
    srv.start()  # same dir, same port -> same URLs
    m2 = srv.manifest
    assert sorted(c["url"] for c in crl_entries(m2)) == sorted(seen), "CRL URLs changed on restart"

    t0 = time.monotonic()
    while True:
        now = served_numbers(srv, m2)
        back = {u: (seen[u], n) for u, n in now.items() if n < seen[u]}
        assert not back, f"{how}: CRL numbers went back (before, after): {back}"
        stale = {u: (seen[u], n) for u, n in now.items() if n <= seen[u]}
        if not stale:
            break
        if time.monotonic() - t0 > WAIT_LIMIT:
            pytest.fail(f"{how}: after restart {len(stale)} CRLs not republished with a higher "
                        f"number (before, after): {dict(list(stale.items())[:5])}")
        time.sleep(0.2)
    for c in crl_entries(m2):
        crl = load_crl(Path(c["file"]).read_bytes(), c["file"])
        assert crl_number(crl) > seen[c["url"]], f"{c['file']}: number not > {seen[c['url']]}"
    crl = fetch_crl(srv, full_entry(m2, sample["issuer"])["url"], "after restart")[2]
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None, \
        "revoked entry missing from the CRL after restart"


def test_cli_crl_build(private_server):
    srv = private_server()
    m = srv.manifest
    before_files = file_numbers(m)
    before_served = served_numbers(srv, m)
    before = {u: max(before_files[u], before_served[u]) for u in before_files}

    t0 = time.monotonic()
    cp = revoca_cli("crl", "build", "--dir", srv.dir, timeout=WAIT_LIMIT)
    took = time.monotonic() - t0
    assert cp.returncode == 0, describe(cp)
    assert took <= WAIT_LIMIT

    after_files = file_numbers(m)
    stale = {u: (before[u], n) for u, n in after_files.items() if n <= before[u]}
    assert not stale, f"crl build exited but {len(stale)} files not republished: " \
                      f"{dict(list(stale.items())[:5])}"
    deadline = time.monotonic() + 1.0
    while True:
        after_served = served_numbers(srv, m)
        stale = {u: (before[u], n) for u, n in after_served.items() if n <= before[u]}
        if not stale:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"crl build exited but {len(stale)} served CRLs are old: "
                        f"{dict(list(stale.items())[:5])}")
        time.sleep(0.1)

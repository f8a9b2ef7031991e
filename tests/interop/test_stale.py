"""A response past its nextUpdate is never served: 503 + tryLater instead of a stale answer."""

from cryptography.x509 import ocsp

from conftest import (
    TRY_LATER, http_request, ocsp_get, ocsp_post, parse_success, sample_request,
)

FIVE_DAYS = 5 * 24 * 3600  # validity is 96 h


def test_stale_responses_are_not_served(private_server):
    srv = private_server("demo")
    m = srv.manifest
    assert m.validity_hours * 3600 < FIVE_DAYS
    picks = [m.find(key_alg="P-256", status="good"), m.find(key_alg="RSA-2048", status="good"),
             m.find(key_alg="P-256", status="revoked"), m.find(key_alg="RSA-2048", status="hold")]
    for s in picks:  # responses exist and are fresh now
        parse_success(ocsp_post(srv.port, sample_request(m, s)), f"fresh {s['serial']}")
    port = srv.port
    assert srv.stop() == 0, f"SIGTERM exit code {srv.proc.returncode}"

    # /readyz may legitimately stay 503 when everything is stale: non-strict start.
    private_server("demo", port=port, strict=False,
                   env={"REVOCA_DISABLE_REFRESH": "1",
                        "REVOCA_CLOCK_OFFSET_SECS": str(FIVE_DAYS)})

    for s in picks:
        for name, res in (("POST", ocsp_post(port, sample_request(m, s))),
                          ("GET", ocsp_get(port, sample_request(m, s)))):
            what = f"{name} {s['status']} serial={s['serial']} 5 days later"
            assert res.status == 503, f"{what}: HTTP {res.status} (stale answer served?)"
            assert res.body == TRY_LATER, f"{what}: body {res.body[:32].hex()}, want tryLater"
            assert ocsp.load_der_ocsp_response(res.body).response_status == \
                ocsp.OCSPResponseStatus.TRY_LATER
            cc = (res.header("cache-control") or "").lower()
            assert "public" not in cc, f"{what}: tryLater must not be publicly cached ({cc!r})"
    h = http_request(port, "GET", "/healthz")
    assert h.status == 200

//! Tests of the ACME revocation logic: JWS built here with aws-lc-rs keys (P-256, P-384,
//! RSA-2048, Ed25519) over certificates made by `revoca-issuer`, plus request bodies captured
//! from the python `acme` client.

use std::sync::LazyLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256, RsaKeyPair,
};
use revoca_issuer::{CertificateBuilder, IssuerInfo, Name, Serial, TlsServerNames, Validity};
use revoca_signer::{KeyAlgorithm, Signer, SoftwareKey};

use super::*;

const URL: &str = "https://ra.test/acme/revoke-cert";

// ------------------------------------------------------------------------------ fixtures

enum Key {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    RsaPss(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64URL.encode(bytes)
}

impl Key {
    fn p256() -> Self {
        Self::P256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    fn p384() -> Self {
        Self::P384(EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap())
    }

    fn rsa() -> Self {
        Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    fn ed25519() -> Self {
        Self::Ed25519(Ed25519KeyPair::generate().unwrap())
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::P256(_) => "ES256",
            Self::P384(_) => "ES384",
            Self::Rsa(_) => "RS256",
            Self::RsaPss(_) => "PS256",
            Self::Ed25519(_) => "EdDSA",
        }
    }

    fn spki(&self) -> Vec<u8> {
        match self {
            Self::P256(k) | Self::P384(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            Self::Rsa(k) | Self::RsaPss(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            Self::Ed25519(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
        }
    }

    fn jwk(&self) -> Value {
        match self {
            Self::P256(k) | Self::P384(k) => {
                let point = k.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64(&point[1..=len]),
                    "y": b64(&point[1 + len..]),
                })
            }
            Self::Rsa(k) | Self::RsaPss(k) => {
                let c = PublicKeyComponents::<Vec<u8>>::from(k.public_key());
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
            Self::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(k.public_key().as_ref())})
            }
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Self::P256(k) | Self::P384(k) => k.sign(&rng, message).unwrap().as_ref().to_vec(),
            Self::Rsa(k) | Self::RsaPss(k) => {
                let padding = if matches!(self, Self::Rsa(_)) {
                    &RSA_PKCS1_SHA256
                } else {
                    &RSA_PSS_SHA256
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(padding, &rng, message, &mut sig).unwrap();
                sig
            }
            Self::Ed25519(k) => k.sign(message).as_ref().to_vec(),
        }
    }
}

struct Ca {
    key: SoftwareKey,
    info: IssuerInfo,
    cert: Vec<u8>,
}

fn validity() -> Validity {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    Validity::starting_at(now - 3600, 90 * 86_400).unwrap()
}

fn make_ca(alg: KeyAlgorithm) -> Ca {
    let pkcs8 = SoftwareKey::generate_pkcs8(alg).unwrap();
    let key = SoftwareKey::from_pkcs8_der(&pkcs8, "test-ca").unwrap();
    let cert = CertificateBuilder::root_ca(
        Serial::random().unwrap(),
        Name::parse("CN=Revoca ACME Test CA,O=Revoca,C=ES").unwrap(),
        validity(),
        key.public_key_spki_der(),
    )
    .unwrap()
    .build(&key)
    .unwrap();
    let info = IssuerInfo::from_certificate_der(&cert).unwrap();
    Ca { key, info, cert }
}

static CA: LazyLock<Ca> = LazyLock::new(|| make_ca(KeyAlgorithm::EcdsaP256));

fn issue(ca: &Ca, spki: &[u8]) -> Vec<u8> {
    CertificateBuilder::tls_server(
        Serial::random().unwrap(),
        Name::parse("CN=www.example.test").unwrap(),
        validity(),
        spki,
        &ca.info,
        &TlsServerNames {
            dns_names: &["www.example.test"],
            ocsp_url: Some("http://127.0.0.1:8080/ocsp"),
            ca_issuers_url: None,
        },
    )
    .unwrap()
    .build(&ca.key)
    .unwrap()
}

/// A flattened JWS over `payload` with `protected`, signed by `key`.
fn jws(protected: &Value, payload: &[u8], key: &Key) -> Vec<u8> {
    let protected = b64(protected.to_string());
    let payload = b64(payload);
    let sig = key.sign(format!("{protected}.{payload}").as_bytes());
    json!({"protected": protected, "payload": payload, "signature": b64(sig)})
        .to_string()
        .into_bytes()
}

fn header(key: &Key, nonce: &str, url: &str) -> Value {
    json!({"alg": key.alg(), "jwk": key.jwk(), "nonce": nonce, "url": url})
}

fn payload(cert: &[u8], reason: Option<Value>) -> Vec<u8> {
    let mut p = json!({"certificate": b64(cert)});
    if let Some(reason) = reason {
        p["reason"] = reason;
    }
    p.to_string().into_bytes()
}

/// A key, a certificate for it, and a nonce pool.
struct Setup {
    key: Key,
    cert: Vec<u8>,
    pool: NoncePool,
}

impl Setup {
    fn new(key: Key) -> Self {
        let cert = issue(&CA, &key.spki());
        Self {
            key,
            cert,
            pool: NoncePool::default(),
        }
    }

    fn nonce(&self) -> String {
        self.pool.issue().unwrap()
    }

    /// A valid revocation request with `reason`.
    fn body(&self, reason: Option<Value>) -> Vec<u8> {
        jws(
            &header(&self.key, &self.nonce(), URL),
            &payload(&self.cert, reason),
            &self.key,
        )
    }

    fn verify(&self, body: &[u8]) -> Result<RevocationRequest, Problem> {
        verify_revocation(body, URL, &self.pool)
    }
}

static P256: LazyLock<Setup> = LazyLock::new(|| Setup::new(Key::p256()));

#[track_caller]
fn assert_problem(result: Result<RevocationRequest, Problem>, kind: ProblemKind, status: u16) {
    let problem = result.expect_err("request should be refused");
    assert_eq!(problem.kind, kind, "{problem}");
    assert_eq!(problem.status(), status, "{problem}");
    let doc: Value = serde_json::from_str(&problem.to_json()).unwrap();
    assert_eq!(doc["type"], kind.type_uri());
    assert_eq!(doc["status"], status);
    assert!(doc["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

// ------------------------------------------------------------------------------ accepted

fn check_accepted(setup: &Setup) {
    let before = setup.pool.len();
    let body = setup.body(Some(json!(1)));
    assert_eq!(setup.pool.len(), before + 1);
    let req = setup.verify(&body).unwrap();
    assert_eq!(req.certificate_der, setup.cert);
    assert_eq!(req.reason, Some(1));
    assert_eq!(
        req.jwk_spki_der,
        setup.key.spki(),
        "canonical SPKI = aws-lc's"
    );
    assert_eq!(
        req.jwk_spki_der,
        revoca_issuer::cert_spki_der(&setup.cert).unwrap()
    );
    assert_eq!(
        req.serial_magnitude,
        revoca_issuer::cert_serial_magnitude(&setup.cert).unwrap()
    );
    assert_eq!(
        req.issuer_name_der,
        revoca_issuer::cert_subject_der(&CA.cert).unwrap()
    );
    req.verify_issued_by(&CA.cert).unwrap();
    assert_eq!(setup.pool.len(), before, "nonce spent");
}

#[test]
fn accepts_es256_p256() {
    check_accepted(&Setup::new(Key::p256()));
}

#[test]
fn accepts_es384_p384() {
    check_accepted(&Setup::new(Key::p384()));
}

#[test]
fn accepts_rs256_rsa2048() {
    check_accepted(&Setup::new(Key::rsa()));
}

#[test]
fn accepts_ps256_rsa2048() {
    let Key::Rsa(pair) = Key::rsa() else {
        unreachable!()
    };
    check_accepted(&Setup::new(Key::RsaPss(pair)));
}

#[test]
fn accepts_eddsa_ed25519() {
    check_accepted(&Setup::new(Key::ed25519()));
}

#[test]
fn accepts_allowed_reasons_and_none() {
    let s = &*P256;
    for code in ALLOWED_REASONS {
        let req = s.verify(&s.body(Some(json!(code)))).unwrap();
        assert_eq!(req.reason, Some(*code));
    }
    assert_eq!(s.verify(&s.body(None)).unwrap().reason, None);
    assert_eq!(s.verify(&s.body(Some(Value::Null))).unwrap().reason, None);
}

#[test]
fn ignores_unknown_payload_and_header_members() {
    // ACME v1-era clients add "resource"; josepy adds spaces and newlines.
    let s = &*P256;
    let mut h = header(&s.key, &s.nonce(), URL);
    h["typ"] = json!("JOSE+JSON");
    let p = format!(
        "{{\n  \"resource\": \"revoke-cert\",\n  \"certificate\": \"{}\",\n  \"reason\": 4\n}}",
        b64(&s.cert)
    );
    let req = s.verify(&jws(&h, p.as_bytes(), &s.key)).unwrap();
    assert_eq!(req.reason, Some(4));
}

#[test]
fn accepts_padded_certificate_base64() {
    let s = &*P256;
    let mut cert_b64 = b64(&s.cert);
    while !cert_b64.len().is_multiple_of(4) {
        cert_b64.push('=');
    }
    let p = json!({"certificate": cert_b64, "reason": 0}).to_string();
    let body = jws(&header(&s.key, &s.nonce(), URL), p.as_bytes(), &s.key);
    assert!(s.verify(&body).is_ok());
}

// ----------------------------------------------------------------------- python vectors

const VECTOR_NONCE: &str = "AAECAwQFBgcICQoLDA0ODw";

/// Request bodies produced by the python `acme` 5.9.0 client (`ClientV2.revoke(cert, 4)`,
/// josepy 2.2.0) against the directory `https://ra.test/acme/directory`, nonce
/// [`VECTOR_NONCE`]: self-signed certificates, ES256 (P-256) and RS256 (RSA-2048).
const PYTHON_ACME_ES256: &str = r#"{
  "protected": "eyJhbGciOiAiRVMyNTYiLCAiandrIjogeyJ4IjogIkR0NG1SLTFlSmlXclNNS1dZcXpXbGg3eGhUVEpnRS1POTVKTUJKMlo3b0EiLCAieSI6ICJLUlZ1cm5KTm9wX2xVdW44U3FfcGxxdTJHam5DMm9LbktJOWR6anpwNlhJIiwgImNydiI6ICJQLTI1NiIsICJrdHkiOiAiRUMifSwgIm5vbmNlIjogIkFBRUNBd1FGQmdjSUNRb0xEQTBPRHciLCAidXJsIjogImh0dHBzOi8vcmEudGVzdC9hY21lL3Jldm9rZS1jZXJ0In0",
  "signature": "d1wBoXcA2gJS8sG9tv47Qk5978dEg9h_0SIPW4HATj6DTamOJhPyjjkYB8ZgRWMBTtEGo1EARSeqbbkcsw3ZFg",
  "payload": "ewogICJjZXJ0aWZpY2F0ZSI6ICJNSUlCSURDQnhxQURBZ0VDQWdJU05EQUtCZ2dxaGtqT1BRUURBakFaTVJjd0ZRWURWUVFEREE1MlpXTjBiM0l1WlhoaGJYQnNaVEFlRncweU5UQXhNREV3TURBd01EQmFGdzB5TlRBeE1ESXdNREF3TURCYU1Ca3hGekFWQmdOVkJBTU1EblpsWTNSdmNpNWxlR0Z0Y0d4bE1Ga3dFd1lIS29aSXpqMENBUVlJS29aSXpqMERBUWNEUWdBRUR0NG1SLTFlSmlXclNNS1dZcXpXbGg3eGhUVEpnRS1POTVKTUJKMlo3b0FwRlc2dWNrMmluLVZTNmZ4S3ItbVdxN1lhT2NMYWdxY29qMTNPUE9ucGNqQUtCZ2dxaGtqT1BRUURBZ05KQURCR0FpRUF6YVVOaUp6QXBiVTRrT0VHNF9qV3JGbkF1bnFoVGxzQzBkbmxiQ182T1RVQ0lRRHhWN3VldjVZTXlzWlRHZkZSMnNtcFJaM0oxaXRfakhTUUREYjhwTi1LTkEiLAogICJyZWFzb24iOiA0Cn0"
}"#;

const PYTHON_ACME_RS256: &str = r#"{
  "protected": "eyJhbGciOiAiUlMyNTYiLCAiandrIjogeyJuIjogIjhuSnQyVko5Q0tpZFBOcWw5LXBwcXcwMUJNRWxFcGFORE9xZmZIdnp3QnpKTW9TSk9NeFVGMHJZdTJ2YTM5UWxZd2tjMGFMNzZ6RHRtd01RNlF4VERGck9fVFlHeENla0t3Nlc4SXN0dVVHOWhLcmZpWnB5YTEzc2VuZXY0VGxudmtoWFp3WmlEOFF3TDY0ajJmNG9SeXdQdExoQTdNc2hRdnBpaE9PLWpfdVd5c1d0WVZIWWxBaFgzVWpZRGFiQjRPMk5lRERwUW12ckJiUjEyQm9LcWgyRUdSaFNvUWNNaG5PdWMzOG9ISWJXYS02Q1V6U3ByLTgxTmRyVlhhVkdBYkliRmJaN1BzcERhdjAyRk9KOWNsMVJPU2tZSjdZbkotRVZjMnVmZDlLSnk5UjVwdWktaFVDRUYycnptelNHVXJEbkltamxqZ2I0TFd3LWo2QXk5dyIsICJlIjogIkFRQUIiLCAia3R5IjogIlJTQSJ9LCAibm9uY2UiOiAiQUFFQ0F3UUZCZ2NJQ1FvTERBME9EdyIsICJ1cmwiOiAiaHR0cHM6Ly9yYS50ZXN0L2FjbWUvcmV2b2tlLWNlcnQifQ",
  "signature": "FLpyQcABLu9pS-XguF1-75IRpXPxFkT1SDGeaOkUGeGm71MWdqXVDGS41WGzZF99OHzZIaGGm96mVFKCaqJDZHo-rlYBHrdbyjvOE-mrrJ0O41rEXp1xvxh7RBU2Lv79GzZy6qdeE0bHH9Uv6_D_OPUBiyVrHjzV1cIY3dzPJ3H7R4sVAd2rW6H8Ec2rXevXXoL8O2e9jyrHwgsSjaS_MVXByVie6Vrw9uz5dHni02Wte0MlECHirnZNY3Wcf5KMu7tlYLPWBCUVpPFtsJnNOJknBg8WcVIW0c8_BOEfT8LzE68944PoHvyW64POnEuSeMc77wltzLXPoUxmdVcDRw",
  "payload": "ewogICJjZXJ0aWZpY2F0ZSI6ICJNSUlDckRDQ0FaU2dBd0lCQWdJQ0VqUXdEUVlKS29aSWh2Y05BUUVMQlFBd0dURVhNQlVHQTFVRUF3d09kbVZqZEc5eUxtVjRZVzF3YkdVd0hoY05NalV3TVRBeE1EQXdNREF3V2hjTk1qVXdNVEF5TURBd01EQXdXakFaTVJjd0ZRWURWUVFEREE1MlpXTjBiM0l1WlhoaGJYQnNaVENDQVNJd0RRWUpLb1pJaHZjTkFRRUJCUUFEZ2dFUEFEQ0NBUW9DZ2dFQkFQSnliZGxTZlFpb25UemFwZmZxYWFzTk5RVEJKUktXalF6cW4zeDc4OEFjeVRLRWlUak1WQmRLMkx0cjJ0X1VKV01KSE5HaS0tc3c3WnNERU9rTVV3eGF6djAyQnNRbnBDc09sdkNMTGJsQnZZU3EzNG1hY210ZDdIcDNyLUU1Wjc1SVYyY0dZZ19FTUMtdUk5bi1LRWNzRDdTNFFPekxJVUw2WW9UanZvXzdsc3JGcldGUjJKUUlWOTFJMkEybXdlRHRqWGd3NlVKcjZ3VzBkZGdhQ3FvZGhCa1lVcUVIRElaenJuTl9LQnlHMW12dWdsTTBxYV92TlRYYTFWMmxSZ0d5R3hXMmV6N0tRMnI5TmhUaWZYSmRVVGtwR0NlMkp5ZmhGWE5ybjNmU2ljdlVlYWJvdm9WQWhCZHE4NXMwaGxLdzV5Sm81WTRHLUMxc1BvLWdNdmNDQXdFQUFUQU5CZ2txaGtpRzl3MEJBUXNGQUFPQ0FRRUF3cnN6YmxQTWIwWVhReTRfUUxGb2hWandpU0ZnRzBVUnd6dWhXMXdQQnhSN09OYksxazJJd2NWUVpQU24zR0R3VVBGd2ZyX01HMlhUNm4xRkZnSEc2dndJdDJFbGIxU1RlQ1dLUHFDTFZyR3U0VlgydV8tV2kyZkg2VTBrVElxM0VVNHdmdjg3VU1qM1VMN2dSZGdQR2pnWkFpQVNBNHAyZnRBMmNxdmZtczdoN3ZVRlQ5Znd2S3c5QkxUYnBvS2lCNEFfdG9uRmg5T1Y3SUhOZFRoa010Ujloa05BOVBXLVB5bDljUU9aaU5uejhLZUhWWTNySlNkX24zb3lZcWJXbVhQcmRhTkt2OGlvVm5aaktZd3dKNTBmcldRZmNsVlRpYTF3MVhiZzRjMHdHZlZXUkkxUEs4bFUtOVpZWWhiNTloTjgxd01zY0QxbG1rNEw5Qzd1aFEiLAogICJyZWFzb24iOiA0Cn0"
}"#;

#[test]
fn accepts_python_acme_client_requests() {
    for body in [PYTHON_ACME_ES256, PYTHON_ACME_RS256] {
        let pool = NoncePool::default();
        pool.insert_at(VECTOR_NONCE, Instant::now());
        let req = verify_revocation(body.as_bytes(), URL, &pool).unwrap();
        assert_eq!(req.reason, Some(4));
        assert_eq!(req.serial_magnitude, [0x12, 0x34]);
        assert_eq!(
            req.jwk_spki_der,
            revoca_issuer::cert_spki_der(&req.certificate_der).unwrap()
        );
        // Replayed: the nonce is gone.
        assert_problem(
            verify_revocation(body.as_bytes(), URL, &pool),
            ProblemKind::BadNonce,
            400,
        );
        // Not issued by our CA.
        assert_eq!(
            req.verify_issued_by(&CA.cert).unwrap_err().kind,
            ProblemKind::Unauthorized
        );
    }
}

// ------------------------------------------------------------------------------- refused

#[test]
fn wrong_url_is_unauthorized() {
    let s = &*P256;
    let body = jws(
        &header(&s.key, &s.nonce(), "https://ra.test/acme/new-order"),
        &payload(&s.cert, None),
        &s.key,
    );
    assert_problem(s.verify(&body), ProblemKind::Unauthorized, 403);
    let body = jws(
        &json!({"alg": "ES256", "jwk": s.key.jwk(), "nonce": s.nonce()}),
        &payload(&s.cert, None),
        &s.key,
    );
    assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
}

#[test]
fn reused_nonce_is_bad_nonce() {
    let s = &*P256;
    let body = s.body(Some(json!(1)));
    assert!(s.verify(&body).is_ok());
    assert_problem(s.verify(&body), ProblemKind::BadNonce, 400);
}

#[test]
fn unknown_missing_and_expired_nonces_are_bad_nonce() {
    let s = &*P256;
    let other = NoncePool::default().issue().unwrap();
    for nonce in [
        other.as_str(),
        "",
        "not a nonce",
        "AAECAwQFBgcICQoLDA0ODw==",
    ] {
        let body = jws(&header(&s.key, nonce, URL), &payload(&s.cert, None), &s.key);
        assert_problem(s.verify(&body), ProblemKind::BadNonce, 400);
    }
    let body = jws(
        &json!({"alg": "ES256", "jwk": s.key.jwk(), "url": URL}),
        &payload(&s.cert, None),
        &s.key,
    );
    assert_problem(s.verify(&body), ProblemKind::BadNonce, 400);

    let expiring = NoncePool::new(10, Duration::ZERO);
    let nonce = expiring.issue().unwrap();
    let body = jws(
        &header(&s.key, &nonce, URL),
        &payload(&s.cert, None),
        &s.key,
    );
    assert_problem(
        verify_revocation(&body, URL, &expiring),
        ProblemKind::BadNonce,
        400,
    );
}

#[test]
fn bad_signature_is_malformed_and_keeps_the_nonce() {
    let s = &*P256;
    let nonce = s.nonce();
    let good = jws(
        &header(&s.key, &nonce, URL),
        &payload(&s.cert, None),
        &s.key,
    );
    let mut doc: Value = serde_json::from_slice(&good).unwrap();
    let mut sig = B64URL.decode(doc["signature"].as_str().unwrap()).unwrap();
    sig[10] ^= 1;
    doc["signature"] = json!(b64(&sig));
    assert_problem(
        s.verify(doc.to_string().as_bytes()),
        ProblemKind::Malformed,
        400,
    );
    // Signed by someone else with this jwk.
    let mut doc: Value = serde_json::from_slice(&good).unwrap();
    doc["signature"] = json!(b64(Key::p256().sign(b"whatever")));
    assert_problem(
        s.verify(doc.to_string().as_bytes()),
        ProblemKind::Malformed,
        400,
    );
    // ASN.1 (not fixed-length) ECDSA signatures are not JWS signatures.
    let Key::P256(pair) = &s.key else {
        unreachable!()
    };
    let asn1 = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        pair.to_pkcs8v1().unwrap().as_ref(),
    )
    .unwrap();
    let signing_input = format!(
        "{}.{}",
        doc["protected"].as_str().unwrap(),
        doc["payload"].as_str().unwrap()
    );
    let der_sig = asn1
        .sign(&SystemRandom::new(), signing_input.as_bytes())
        .unwrap();
    doc["signature"] = json!(b64(der_sig));
    assert_problem(
        s.verify(doc.to_string().as_bytes()),
        ProblemKind::Malformed,
        400,
    );
    // A forged request does not burn the nonce.
    assert!(s.verify(&good).is_ok());
}

#[test]
fn jwk_not_matching_certificate_is_unauthorized() {
    let s = &*P256;
    for other in [Key::p256(), Key::rsa(), Key::p384()] {
        let body = jws(
            &header(&other, &s.nonce(), URL),
            &payload(&s.cert, None),
            &other,
        );
        assert_problem(s.verify(&body), ProblemKind::Unauthorized, 403);
    }
}

#[test]
fn kid_is_account_does_not_exist() {
    let s = &*P256;
    let h = json!({"alg": "ES256", "kid": "https://ra.test/acme/acct/1", "nonce": s.nonce(),
                   "url": URL});
    let body = jws(&h, &payload(&s.cert, None), &s.key);
    assert_problem(s.verify(&body), ProblemKind::AccountDoesNotExist, 400);
    let mut h = header(&s.key, &s.nonce(), URL);
    h["kid"] = json!("https://ra.test/acme/acct/1");
    let body = jws(&h, &payload(&s.cert, None), &s.key);
    assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
    let h = json!({"alg": "ES256", "nonce": s.nonce(), "url": URL});
    let body = jws(&h, &payload(&s.cert, None), &s.key);
    assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
}

#[test]
fn unsupported_algorithms_are_bad_signature_algorithm() {
    let s = &*P256;
    for alg in ["HS256", "none", "RS1", "ES256K", "", "es256"] {
        let mut h = header(&s.key, &s.nonce(), URL);
        h["alg"] = json!(alg);
        let body = jws(&h, &payload(&s.cert, None), &s.key);
        let result = s.verify(&body);
        let problem = result.clone().unwrap_err();
        assert_problem(result, ProblemKind::BadSignatureAlgorithm, 400);
        let doc: Value = serde_json::from_str(&problem.to_json()).unwrap();
        assert_eq!(doc["algorithms"], json!(SUPPORTED_ALGORITHMS));
    }
    // A supported alg that does not fit the key.
    for alg in ["ES384", "RS256", "EdDSA", "ES512"] {
        let mut h = header(&s.key, &s.nonce(), URL);
        h["alg"] = json!(alg);
        let body = jws(&h, &payload(&s.cert, None), &s.key);
        assert_problem(s.verify(&body), ProblemKind::BadSignatureAlgorithm, 400);
    }
    // alg missing or not a string.
    for h in [
        json!({"jwk": s.key.jwk(), "nonce": s.nonce(), "url": URL}),
        json!({"alg": 256, "jwk": s.key.jwk(), "nonce": s.nonce(), "url": URL}),
    ] {
        let body = jws(&h, &payload(&s.cert, None), &s.key);
        assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
    }
}

#[test]
fn malformed_base64_is_malformed() {
    let s = &*P256;
    let good = s.body(None);
    let doc: Value = serde_json::from_slice(&good).unwrap();
    for field in ["protected", "payload", "signature"] {
        for bad in ["a+b/", "abc*", "a b", "Zg==x"] {
            let mut d = doc.clone();
            d[field] = json!(bad);
            assert_problem(
                s.verify(d.to_string().as_bytes()),
                ProblemKind::Malformed,
                400,
            );
        }
    }
    // Validly signed, but the certificate is not base64url / not DER / not canonical.
    let mut not_canonical = s.cert.clone();
    not_canonical.push(0);
    for cert in [
        json!("MII+/w"),
        json!(b64(b"not a certificate")),
        json!(b64(&not_canonical)),
        json!(b64(&s.cert[..s.cert.len() - 1])),
        json!(42),
    ] {
        let p = json!({"certificate": cert}).to_string();
        let body = jws(&header(&s.key, &s.nonce(), URL), p.as_bytes(), &s.key);
        assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
    }
    // Payload that is not a revokeCert object (POST-as-GET, array, missing certificate).
    for p in ["", "[]", "{}", "{\"reason\": 1}", "null"] {
        let body = jws(&header(&s.key, &s.nonce(), URL), p.as_bytes(), &s.key);
        assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
    }
}

#[test]
fn disallowed_reasons_are_bad_revocation_reason() {
    let s = &*P256;
    for code in [
        json!(2),
        json!(6),
        json!(7),
        json!(8),
        json!(9),
        json!(10),
        json!(11),
        json!(-1),
        json!(256),
        json!(1u64 << 40),
    ] {
        assert_problem(
            s.verify(&s.body(Some(code))),
            ProblemKind::BadRevocationReason,
            400,
        );
    }
    for code in [json!("1"), json!(1.5), json!(true), json!([1])] {
        assert_problem(s.verify(&s.body(Some(code))), ProblemKind::Malformed, 400);
    }
}

#[test]
fn oversize_body_is_payload_too_large() {
    let s = &*P256;
    let mut doc: Value = serde_json::from_slice(&s.body(None)).unwrap();
    doc["padding"] = json!("x".repeat(MAX_JWS_BYTES));
    let result = s.verify(doc.to_string().as_bytes());
    assert_problem(result.clone(), ProblemKind::PayloadTooLarge, 413);
    assert_eq!(
        result.unwrap_err().kind.type_uri(),
        "urn:ietf:params:acme:error:malformed"
    );
}

#[test]
fn envelope_rules() {
    let s = &*P256;
    let good: Value = serde_json::from_slice(&s.body(None)).unwrap();
    // Unprotected header.
    let mut d = good.clone();
    d["header"] = json!({"kid": "x"});
    assert_problem(
        s.verify(d.to_string().as_bytes()),
        ProblemKind::Malformed,
        400,
    );
    // General serialization.
    let general = json!({"payload": good["payload"], "signatures": [{
        "protected": good["protected"], "signature": good["signature"]}]});
    assert_problem(
        s.verify(general.to_string().as_bytes()),
        ProblemKind::Malformed,
        400,
    );
    // Compact serialization.
    let compact = format!(
        "{}.{}.{}",
        good["protected"].as_str().unwrap(),
        good["payload"].as_str().unwrap(),
        good["signature"].as_str().unwrap()
    );
    assert_problem(s.verify(compact.as_bytes()), ProblemKind::Malformed, 400);
    // b64 / crit.
    for (name, value) in [("b64", json!(false)), ("crit", json!(["b64"]))] {
        let mut h = header(&s.key, &s.nonce(), URL);
        h[name] = value;
        let body = jws(&h, &payload(&s.cert, None), &s.key);
        assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
    }
}

#[test]
fn bad_public_keys() {
    let s = &*P256;
    let mut private = s.key.jwk();
    private["d"] = json!(b64([1u8; 32]));
    let small_rsa = json!({"kty": "RSA", "n": b64([0xc5u8; 128]), "e": "AQAB"});
    let even_e = json!({"kty": "RSA", "n": b64([0xc5u8; 256]), "e": "AQAA"});
    let p192 = json!({"kty": "EC", "crv": "P-192", "x": b64([1u8; 24]), "y": b64([1u8; 24])});
    let short = json!({"kty": "EC", "crv": "P-256", "x": b64([1u8; 31]), "y": b64([1u8; 32])});
    let oct = json!({"kty": "oct", "k": b64([1u8; 32])});
    let x25519 = json!({"kty": "OKP", "crv": "X25519", "x": b64([1u8; 32])});
    for (jwk, alg) in [
        (private, "ES256"),
        (small_rsa, "RS256"),
        (even_e, "RS256"),
        (p192, "ES256"),
        (short, "ES256"),
        (oct, "HS256"),
        (x25519, "EdDSA"),
    ] {
        let h = json!({"alg": alg, "jwk": jwk, "nonce": s.nonce(), "url": URL});
        let body = jws(&h, &payload(&s.cert, None), &s.key);
        let problem = s.verify(&body).unwrap_err();
        assert!(
            matches!(
                problem.kind,
                ProblemKind::BadPublicKey | ProblemKind::BadSignatureAlgorithm
            ),
            "{jwk}: {problem}"
        );
    }
    // An EC point not on the curve never verifies.
    let off_curve = json!({"kty": "EC", "crv": "P-256", "x": b64([1u8; 32]), "y": b64([2u8; 32])});
    let h = json!({"alg": "ES256", "jwk": off_curve, "nonce": s.nonce(), "url": URL});
    let body = jws(&h, &payload(&s.cert, None), &s.key);
    assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
    // jwk members of the wrong type.
    let h = json!({"alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": 1, "y": 2},
                   "nonce": s.nonce(), "url": URL});
    let body = jws(&h, &payload(&s.cert, None), &s.key);
    assert_problem(s.verify(&body), ProblemKind::Malformed, 400);
}

#[test]
fn no_panic_on_truncation_or_corruption() {
    let s = &*P256;
    let body = s.body(Some(json!(1)));
    for cut in 0..body.len() {
        assert!(
            s.verify(&body[..cut]).is_err(),
            "prefix of {cut} bytes accepted"
        );
    }
    // Truncations never spend the nonce.
    assert!(s.verify(&body).is_ok());

    // Every single-byte corruption: refused (or, for a no-op change, accepted once).
    let body = s.body(Some(json!(1)));
    for i in 0..body.len() {
        for replacement in [b'A', b'"', b'\\', b'}', 0xff] {
            let mut corrupted = body.clone();
            if corrupted[i] == replacement {
                continue;
            }
            corrupted[i] = replacement;
            let _ = s.verify(&corrupted);
        }
    }
    // Truncated protected header, payload and certificate, each properly signed.
    let h = header(&s.key, &s.nonce(), URL).to_string();
    let p = String::from_utf8(payload(&s.cert, Some(json!(1)))).unwrap();
    for cut in (0..p.len()).step_by(7) {
        let protected = b64(&h);
        let pl = b64(&p.as_bytes()[..cut]);
        let sig = s.key.sign(format!("{protected}.{pl}").as_bytes());
        let body = json!({"protected": protected, "payload": pl, "signature": b64(sig)});
        assert!(s.verify(body.to_string().as_bytes()).is_err());
    }
    for cut in 0..h.len() {
        let protected = b64(&h.as_bytes()[..cut]);
        let pl = b64(&p);
        let sig = s.key.sign(format!("{protected}.{pl}").as_bytes());
        let body = json!({"protected": protected, "payload": pl, "signature": b64(sig)});
        assert!(s.verify(body.to_string().as_bytes()).is_err());
    }
}

// ------------------------------------------------------------------------- issued by us

#[test]
fn verify_issued_by_checks_name_and_signature() {
    let s = &*P256;
    let req = s.verify(&s.body(None)).unwrap();
    req.verify_issued_by(&CA.cert).unwrap();

    // Another CA with the very same name: the signature does not verify.
    let impostor = make_ca(KeyAlgorithm::EcdsaP256);
    assert_eq!(
        req.verify_issued_by(&impostor.cert).unwrap_err().kind,
        ProblemKind::Unauthorized
    );
    // A certificate the impostor made for the victim's key.
    let forged = issue(&impostor, &s.key.spki());
    let body = jws(
        &header(&s.key, &s.nonce(), URL),
        &payload(&forged, None),
        &s.key,
    );
    let forged_req = s.verify(&body).unwrap();
    assert_eq!(
        forged_req.verify_issued_by(&CA.cert).unwrap_err().kind,
        ProblemKind::Unauthorized
    );
    forged_req.verify_issued_by(&impostor.cert).unwrap();

    // Issuer cert of another name; garbage issuer.
    let other_name = req.verify_issued_by(&s.cert).unwrap_err();
    assert_eq!(other_name.kind, ProblemKind::Unauthorized);
    assert_eq!(
        req.verify_issued_by(b"junk").unwrap_err().kind,
        ProblemKind::ServerInternal
    );
}

#[test]
fn verify_issued_by_rsa_ca() {
    let ca = make_ca(KeyAlgorithm::Rsa2048);
    let key = Key::p256();
    let cert = issue(&ca, &key.spki());
    let pool = NoncePool::default();
    let body = jws(
        &header(&key, &pool.issue().unwrap(), URL),
        &payload(&cert, Some(json!(4))),
        &key,
    );
    let req = verify_revocation(&body, URL, &pool).unwrap();
    req.verify_issued_by(&ca.cert).unwrap();
    assert!(req.verify_issued_by(&CA.cert).is_err());
}

// -------------------------------------------------------------------------------- nonces

#[test]
fn nonces_are_random_base64url_and_single_use() {
    let pool = NoncePool::default();
    let a = pool.issue().unwrap();
    let b = pool.issue().unwrap();
    assert_ne!(a, b);
    for n in [&a, &b] {
        assert_eq!(n.len(), 22);
        assert!(
            n.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
    assert_eq!(pool.len(), 2);
    assert!(pool.consume(&a));
    assert!(!pool.consume(&a));
    assert!(!pool.consume("garbage"));
    assert!(!pool.consume(""));
    assert!(!pool.consume(&format!("{b}==")));
    assert!(pool.consume(&b));
    assert!(pool.is_empty());
}

#[test]
fn nonces_expire() {
    let pool = NoncePool::new(100, Duration::from_secs(600));
    let t0 = Instant::now();
    let a = pool.issue_at(t0).unwrap();
    let b = pool.issue_at(t0).unwrap();
    assert!(pool.consume_at(&a, t0 + Duration::from_secs(599)));
    assert!(!pool.consume_at(&b, t0 + Duration::from_secs(600)));
    // Expired nonces are pruned on the next issue.
    let pool = NoncePool::new(100, Duration::from_secs(600));
    for _ in 0..10 {
        pool.issue_at(t0).unwrap();
    }
    let fresh = pool.issue_at(t0 + Duration::from_secs(601)).unwrap();
    assert_eq!(pool.len(), 1);
    assert!(pool.consume_at(&fresh, t0 + Duration::from_secs(602)));
}

#[test]
fn nonce_pool_is_bounded_oldest_first() {
    let pool = NoncePool::new(3, Duration::from_secs(600));
    let t0 = Instant::now();
    let n: Vec<String> = (0..5).map(|_| pool.issue_at(t0).unwrap()).collect();
    assert_eq!(pool.len(), 3);
    assert!(!pool.consume_at(&n[0], t0));
    assert!(!pool.consume_at(&n[1], t0));
    assert!(pool.consume_at(&n[2], t0));
    // Spent nonces stay in the queue until pruned, but the bound holds: 1000 more issues
    // push the last unspent ones out.
    for _ in 0..1000 {
        let x = pool.issue_at(t0).unwrap();
        assert!(pool.consume_at(&x, t0));
    }
    assert!(pool.lock().order.len() <= 3);
    assert!(pool.is_empty());
    assert!(!pool.consume_at(&n[3], t0));
    assert!(!pool.consume_at(&n[4], t0));
}

#[test]
fn nonce_pool_is_thread_safe() {
    let pool = std::sync::Arc::new(NoncePool::default());
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mine: Vec<String> = (0..500).map(|_| pool.issue().unwrap()).collect();
                mine.iter().filter(|n| pool.consume(n)).count()
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 8 * 500);
    assert!(pool.is_empty());
}

// ------------------------------------------------------------------ directory, accounts

#[test]
fn directory_json_and_routing() {
    let dir = Directory::new("https://ra.test:8443/acme/");
    let doc = dir.to_json();
    assert_eq!(doc["newNonce"], "https://ra.test:8443/acme/new-nonce");
    assert_eq!(doc["newAccount"], "https://ra.test:8443/acme/new-account");
    assert_eq!(doc["newOrder"], "https://ra.test:8443/acme/new-order");
    assert_eq!(doc["revokeCert"], "https://ra.test:8443/acme/revoke-cert");
    assert_eq!(doc["keyChange"], "https://ra.test:8443/acme/key-change");
    assert_eq!(doc["meta"], json!({"externalAccountRequired": true}));
    assert_eq!(dir.directory, "https://ra.test:8443/acme/directory");
    assert_eq!(dir.endpoint("/acme/directory"), Some(Endpoint::Directory));
    assert_eq!(dir.endpoint("/acme/new-nonce"), Some(Endpoint::NewNonce));
    assert_eq!(
        dir.endpoint("/acme/revoke-cert"),
        Some(Endpoint::RevokeCert)
    );
    assert_eq!(
        dir.endpoint("/acme/new-account"),
        Some(Endpoint::NewAccount)
    );
    assert_eq!(dir.endpoint("/acme/new-order"), Some(Endpoint::NewOrder));
    assert_eq!(dir.endpoint("/acme/key-change"), Some(Endpoint::KeyChange));
    assert_eq!(dir.endpoint("/acme/revoke-cert/"), None);
    assert_eq!(dir.endpoint("/"), None);

    let mut dir = dir;
    dir.website = Some("https://revoca.test".into());
    dir.terms_of_service = Some("https://revoca.test/tos".into());
    dir.caa_identities = vec!["revoca.test".into()];
    let meta = &dir.to_json()["meta"];
    assert_eq!(meta["website"], "https://revoca.test");
    assert_eq!(meta["termsOfService"], "https://revoca.test/tos");
    assert_eq!(meta["caaIdentities"], json!(["revoca.test"]));

    // Revocation through the directory.
    let s = &*P256;
    let dir = Directory::new("https://ra.test/acme");
    assert_eq!(dir.revoke_cert, URL);
    assert!(dir.verify_revocation(&s.body(None), &s.pool).is_ok());
}

#[test]
fn new_account_always_answers_a_problem() {
    let dir = Directory::new("https://ra.test/acme");
    let pool = NoncePool::default();
    let key = Key::p256();
    let post = |p: Value, url: &str| {
        jws(
            &header(&key, &pool.issue().unwrap(), url),
            p.to_string().as_bytes(),
            &key,
        )
    };
    let lookup = post(json!({"onlyReturnExisting": true}), &dir.new_account);
    let problem = dir.answer_new_account(&lookup, &pool);
    assert_eq!(problem.kind, ProblemKind::AccountDoesNotExist);
    assert_eq!(problem.status(), 400);
    assert!(pool.is_empty(), "nonce spent");
    // Replayed lookup: badNonce.
    assert_eq!(
        dir.answer_new_account(&lookup, &pool).kind,
        ProblemKind::BadNonce
    );

    let create = post(
        json!({"termsOfServiceAgreed": true, "contact": []}),
        &dir.new_account,
    );
    assert_eq!(
        dir.answer_new_account(&create, &pool).kind,
        ProblemKind::ExternalAccountRequired
    );
    let eab = post(json!({"externalAccountBinding": {}}), &dir.new_account);
    assert_eq!(
        dir.answer_new_account(&eab, &pool).kind,
        ProblemKind::Unauthorized
    );
    let wrong_url = post(json!({"onlyReturnExisting": true}), URL);
    assert_eq!(
        dir.answer_new_account(&wrong_url, &pool).kind,
        ProblemKind::Unauthorized
    );
    let kid = jws(
        &json!({"alg": "ES256", "kid": "x", "nonce": pool.issue().unwrap(),
                "url": dir.new_account}),
        b"{}",
        &key,
    );
    assert_eq!(
        dir.answer_new_account(&kid, &pool).kind,
        ProblemKind::Malformed
    );
    assert_eq!(
        dir.answer_new_account(b"junk", &pool).kind,
        ProblemKind::Malformed
    );
}

#[test]
fn account_only_resources() {
    let key = Key::p256();
    let kid = jws(
        &json!({"alg": "ES256", "kid": "https://ra.test/acme/acct/7", "nonce": "x",
                "url": "https://ra.test/acme/new-order"}),
        b"{}",
        &key,
    );
    assert_eq!(
        answer_account_only(&kid).kind,
        ProblemKind::AccountDoesNotExist
    );
    let jwk = jws(
        &header(&key, "x", "https://ra.test/acme/new-order"),
        b"{}",
        &key,
    );
    assert_eq!(answer_account_only(&jwk).kind, ProblemKind::Malformed);
    assert_eq!(answer_account_only(b"").kind, ProblemKind::Malformed);
    assert_eq!(
        answer_account_only(&vec![b' '; MAX_JWS_BYTES + 1]).kind,
        ProblemKind::PayloadTooLarge
    );
}

// ------------------------------------------------------------------------------ problems

#[test]
fn problem_documents() {
    let cases = [
        (ProblemKind::Malformed, "malformed", 400),
        (ProblemKind::BadNonce, "badNonce", 400),
        (
            ProblemKind::BadSignatureAlgorithm,
            "badSignatureAlgorithm",
            400,
        ),
        (ProblemKind::BadPublicKey, "badPublicKey", 400),
        (ProblemKind::Unauthorized, "unauthorized", 403),
        (ProblemKind::BadRevocationReason, "badRevocationReason", 400),
        (ProblemKind::AlreadyRevoked, "alreadyRevoked", 400),
        (ProblemKind::AccountDoesNotExist, "accountDoesNotExist", 400),
        (
            ProblemKind::ExternalAccountRequired,
            "externalAccountRequired",
            400,
        ),
        (ProblemKind::RateLimited, "rateLimited", 429),
        (ProblemKind::ServerInternal, "serverInternal", 500),
        (ProblemKind::UnsupportedMediaType, "malformed", 415),
        (ProblemKind::PayloadTooLarge, "malformed", 413),
        (ProblemKind::MethodNotAllowed, "malformed", 405),
        (ProblemKind::NotFound, "malformed", 404),
    ];
    for (kind, name, status) in cases {
        let p = Problem::new(kind, "some \"detail\"");
        assert_eq!(kind.name(), name);
        assert_eq!(p.status(), status);
        assert_ne!(p.status(), 409, "python acme turns 409 into ConflictError");
        let doc: Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(doc["type"], format!("urn:ietf:params:acme:error:{name}"));
        assert_eq!(doc["detail"], "some \"detail\"");
        assert_eq!(doc["status"], status);
        assert_eq!(
            doc.get("algorithms").is_some(),
            kind == ProblemKind::BadSignatureAlgorithm
        );
        assert_eq!(p.to_string(), format!("{name}: some \"detail\""));
    }
    assert_eq!(Problem::CONTENT_TYPE, "application/problem+json");
}

#[test]
fn content_type_check() {
    for ok in [
        "application/jose+json",
        "Application/JOSE+JSON",
        "application/jose+json; charset=utf-8",
    ] {
        assert!(check_content_type(Some(ok)).is_ok(), "{ok}");
    }
    for bad in [
        None,
        Some("application/json"),
        Some(""),
        Some("application/jose"),
    ] {
        let p = check_content_type(bad).unwrap_err();
        assert_eq!(p.kind, ProblemKind::UnsupportedMediaType);
        assert_eq!(p.status(), 415);
    }
}

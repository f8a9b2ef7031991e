//! ACME certificate revocation (RFC 8555 §7.6) authenticated by the certificate's own key.
//!
//! Pure protocol logic, no HTTP server: the directory (§7.1.1), replay nonces (§6.5, §7.2),
//! flattened-JWS request authentication (§6.2), the `revokeCert` payload (§7.6) and problem
//! documents (§6.7). Revoca has no ACME accounts or orders: a revocation must be signed with
//! the private key of the certificate being revoked, the JWS protected header carrying that
//! key as `jwk` (the second option of §7.6). Requests that name an account (`kid`) are
//! answered with `accountDoesNotExist`.
//!
//! # HTTP contract for the server that wires this in
//!
//! Every response on an ACME resource carries `Link: <directory URL>;rel="index"` (§7.1).
//!
//! * `GET directory` → 200, `Content-Type: application/json`, [`Directory::to_json`].
//! * `HEAD newNonce` → 200, `GET newNonce` → 204; both with `Replay-Nonce:`
//!   [`NoncePool::issue`] and `Cache-Control: no-store` (§7.2).
//! * `POST revokeCert`: `Content-Type` must pass [`check_content_type`] (else 415); a body
//!   larger than [`MAX_JWS_BYTES`] is answered 413 ([`ProblemKind::PayloadTooLarge`]) without
//!   reading the rest; then [`Directory::verify_revocation`] (or [`verify_revocation`]);
//!   then the server **must** check that the certificate really is one of its own:
//!   [`RevocationRequest::verify_issued_by`] against the issuing CA certificate found by
//!   [`RevocationRequest::issuer_name_der`], then look the serial up in the store. An
//!   already revoked certificate → [`ProblemKind::AlreadyRevoked`]. Success → **200 with an
//!   empty body** (acme.sh treats any body as failure; the python `acme` client requires
//!   exactly 200).
//! * `POST newAccount` → [`Directory::answer_new_account`] (always a problem: Revoca creates
//!   no accounts; `onlyReturnExisting` gets `accountDoesNotExist`).
//! * `POST newOrder`, `POST keyChange` → [`answer_account_only`] (always a problem).
//! * Every answer to a POST, success or problem, carries a fresh `Replay-Nonce` header. The
//!   python `acme` client raises `MissingNonce` on a 200 without one, and RFC 8555 §6.5
//!   requires one on `badNonce` errors.
//! * Problems: status [`Problem::status`], `Content-Type: application/problem+json`
//!   ([`PROBLEM_CONTENT_TYPE`]), body [`Problem::to_json`]. Never status 409: the python
//!   client turns any 409 into `ConflictError` and drops the problem document.
//!
//! What the python `acme` package (5.x `ClientV2.revoke`, also used by `certbot revoke
//! --key-path`) sends with no account registered: `GET directory`; `HEAD newNonce`; `POST
//! revokeCert` with `Content-Type: application/jose+json` and a flattened JWS whose protected
//! header is `{"alg", "jwk", "nonce", "url"}` (no `kid`, no unprotected `header`) and whose
//! payload is `{"certificate": <base64url DER>, "reason": <int>}` (`reason` always present).
//! After a `badNonce` problem it fetches a new nonce with `HEAD newNonce` and retries once. It
//! never calls newAccount for key-authorized revocation.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use der::asn1::{BitString, Null, ObjectIdentifier, UintRef};
use der::{Decode, Encode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// The largest request body accepted on an ACME POST resource, in bytes.
pub const MAX_JWS_BYTES: usize = 64 * 1024;

/// The media type of ACME POST request bodies (RFC 8555 §6.2).
pub const JOSE_CONTENT_TYPE: &str = "application/jose+json";

/// The media type of problem documents (RFC 7807, RFC 8555 §6.7).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The media type of the directory.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The JWS `alg` values accepted, in the order listed in `badSignatureAlgorithm` problems.
pub const SUPPORTED_ALGORITHMS: &[&str] = &[
    "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA",
];

/// Revocation reason codes (RFC 5280 `CRLReason`) a subscriber may request over ACME, per the
/// CA/Browser Forum Baseline Requirements: unspecified (0), keyCompromise (1),
/// affiliationChanged (3), superseded (4), cessationOfOperation (5).
pub const ALLOWED_REASONS: &[u8] = &[0, 1, 3, 4, 5];

/// Random bytes in a replay nonce (128 bits; 22 base64url characters).
const NONCE_BYTES: usize = 16;

/// base64url (RFC 4648 §5); padding tolerated on input, never written.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// base64url without padding, for nonces: exactly the form [`NoncePool`] writes.
const B64URL_STRICT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

// ------------------------------------------------------------------------------ problems

/// The ACME error types Revoca answers with (RFC 8555 §6.7), plus HTTP-level failures that
/// are reported as `malformed` with a more specific status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The request is not a well-formed ACME request (400).
    Malformed,
    /// The JWS nonce is missing, unknown, expired or already used (400).
    BadNonce,
    /// The JWS `alg` is not supported or does not fit the key (400). The problem document
    /// lists [`SUPPORTED_ALGORITHMS`] in `algorithms`.
    BadSignatureAlgorithm,
    /// The `jwk` is not a supported public key (400).
    BadPublicKey,
    /// The request is well formed but not authorized: wrong `url`, or the signing key is not
    /// the certificate's key, or the certificate is not one of ours (403).
    Unauthorized,
    /// The revocation reason is not one a subscriber may request (400).
    BadRevocationReason,
    /// The certificate is already revoked (400, RFC 8555 §7.6).
    AlreadyRevoked,
    /// The request names an account (`kid`); Revoca has none (400).
    AccountDoesNotExist,
    /// Account creation needs external account binding, which Revoca never grants (400).
    ExternalAccountRequired,
    /// Too many requests (429; the server should add `Retry-After`).
    RateLimited,
    /// Something failed on the server side (500).
    ServerInternal,
    /// `Content-Type` is not `application/jose+json` (type `malformed`, status 415).
    UnsupportedMediaType,
    /// The body exceeds [`MAX_JWS_BYTES`] (type `malformed`, status 413).
    PayloadTooLarge,
    /// The HTTP method is not allowed on this resource (type `malformed`, status 405).
    MethodNotAllowed,
    /// No ACME resource at this path (type `malformed`, status 404).
    NotFound,
}

impl ProblemKind {
    /// The problem `type` URI.
    pub fn type_uri(self) -> &'static str {
        match self {
            Self::Malformed
            | Self::UnsupportedMediaType
            | Self::PayloadTooLarge
            | Self::MethodNotAllowed
            | Self::NotFound => "urn:ietf:params:acme:error:malformed",
            Self::BadNonce => "urn:ietf:params:acme:error:badNonce",
            Self::BadSignatureAlgorithm => "urn:ietf:params:acme:error:badSignatureAlgorithm",
            Self::BadPublicKey => "urn:ietf:params:acme:error:badPublicKey",
            Self::Unauthorized => "urn:ietf:params:acme:error:unauthorized",
            Self::BadRevocationReason => "urn:ietf:params:acme:error:badRevocationReason",
            Self::AlreadyRevoked => "urn:ietf:params:acme:error:alreadyRevoked",
            Self::AccountDoesNotExist => "urn:ietf:params:acme:error:accountDoesNotExist",
            Self::ExternalAccountRequired => "urn:ietf:params:acme:error:externalAccountRequired",
            Self::RateLimited => "urn:ietf:params:acme:error:rateLimited",
            Self::ServerInternal => "urn:ietf:params:acme:error:serverInternal",
        }
    }

    /// The ACME error name: the `type` URI without `urn:ietf:params:acme:error:`.
    pub fn name(self) -> &'static str {
        self.type_uri()
            .strip_prefix("urn:ietf:params:acme:error:")
            .unwrap_or("malformed")
    }

    /// The HTTP status code to answer with.
    pub fn status(self) -> u16 {
        match self {
            Self::Malformed
            | Self::BadNonce
            | Self::BadSignatureAlgorithm
            | Self::BadPublicKey
            | Self::BadRevocationReason
            | Self::AlreadyRevoked
            | Self::AccountDoesNotExist
            | Self::ExternalAccountRequired => 400,
            Self::Unauthorized => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::ServerInternal => 500,
        }
    }
}

/// An ACME problem document (RFC 8555 §6.7): the answer to every failed request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", .kind.name(), .detail)]
pub struct Problem {
    /// The error type.
    pub kind: ProblemKind,
    /// A human-readable explanation (never secret).
    pub detail: String,
}

impl Problem {
    /// The `Content-Type` of [`Problem::to_json`].
    pub const CONTENT_TYPE: &'static str = PROBLEM_CONTENT_TYPE;

    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The problem document: `{"type", "detail", "status"}`, plus `algorithms` for
    /// `badSignatureAlgorithm` (RFC 8555 §6.2).
    pub fn to_json(&self) -> String {
        let mut doc = json!({
            "type": self.kind.type_uri(),
            "detail": self.detail,
            "status": self.status(),
        });
        if self.kind == ProblemKind::BadSignatureAlgorithm {
            doc["algorithms"] = json!(SUPPORTED_ALGORITHMS);
        }
        doc.to_string()
    }
}

fn malformed(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::Malformed, detail)
}

/// Checks a POST's `Content-Type` header value: `application/jose+json`, parameters and case
/// ignored. Anything else (or none) is [`ProblemKind::UnsupportedMediaType`] (415).
pub fn check_content_type(value: Option<&str>) -> Result<(), Problem> {
    let media = value
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media.eq_ignore_ascii_case(JOSE_CONTENT_TYPE) {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!("Content-Type must be {JOSE_CONTENT_TYPE}"),
        ))
    }
}

// ----------------------------------------------------------------------------- directory

/// The ACME resources Revoca serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The directory (GET).
    Directory,
    /// newNonce (HEAD, GET).
    NewNonce,
    /// newAccount (POST; always a problem).
    NewAccount,
    /// newOrder (POST; always a problem).
    NewOrder,
    /// revokeCert (POST).
    RevokeCert,
    /// keyChange (POST; always a problem).
    KeyChange,
}

/// The ACME directory (RFC 8555 §7.1.1): absolute URLs of every resource.
///
/// JWS `url` checks compare against these strings, so they must be exactly the URLs clients
/// use (scheme, host, port and path as published).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    /// The directory's own URL (for `Link: <..>;rel="index"`).
    pub directory: String,
    /// newNonce.
    pub new_nonce: String,
    /// newAccount: answered with a problem ([`Directory::answer_new_account`]).
    pub new_account: String,
    /// newOrder: answered with a problem ([`answer_account_only`]).
    pub new_order: String,
    /// revokeCert.
    pub revoke_cert: String,
    /// keyChange: answered with a problem ([`answer_account_only`]).
    pub key_change: String,
    /// `meta.website`, if any.
    pub website: Option<String>,
    /// `meta.termsOfService`, if any.
    pub terms_of_service: Option<String>,
    /// `meta.caaIdentities` (omitted when empty).
    pub caa_identities: Vec<String>,
    /// `meta.externalAccountRequired`. True by default: Revoca creates no accounts, and
    /// this tells account-registering clients so before they try.
    pub external_account_required: bool,
}

impl Directory {
    /// The directory for resources under `base_url` (for example
    /// `https://ra.example:8443/acme`): `{base}/directory`, `{base}/new-nonce`,
    /// `{base}/new-account`, `{base}/new-order`, `{base}/revoke-cert`, `{base}/key-change`.
    pub fn new(base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        let url = |path: &str| format!("{base}/{path}");
        Self {
            directory: url("directory"),
            new_nonce: url("new-nonce"),
            new_account: url("new-account"),
            new_order: url("new-order"),
            revoke_cert: url("revoke-cert"),
            key_change: url("key-change"),
            website: None,
            terms_of_service: None,
            caa_identities: Vec::new(),
            external_account_required: true,
        }
    }

    /// The directory object (serve with `Content-Type: application/json`).
    pub fn to_json(&self) -> Value {
        let mut meta = Map::new();
        if let Some(tos) = &self.terms_of_service {
            meta.insert("termsOfService".into(), json!(tos));
        }
        if let Some(website) = &self.website {
            meta.insert("website".into(), json!(website));
        }
        if !self.caa_identities.is_empty() {
            meta.insert("caaIdentities".into(), json!(self.caa_identities));
        }
        meta.insert(
            "externalAccountRequired".into(),
            json!(self.external_account_required),
        );
        json!({
            "newNonce": self.new_nonce,
            "newAccount": self.new_account,
            "newOrder": self.new_order,
            "revokeCert": self.revoke_cert,
            "keyChange": self.key_change,
            "meta": meta,
        })
    }

    /// Which resource a request path (no query) addresses, by comparing it with the path part
    /// of each URL.
    pub fn endpoint(&self, path: &str) -> Option<Endpoint> {
        [
            (&self.directory, Endpoint::Directory),
            (&self.new_nonce, Endpoint::NewNonce),
            (&self.new_account, Endpoint::NewAccount),
            (&self.new_order, Endpoint::NewOrder),
            (&self.revoke_cert, Endpoint::RevokeCert),
            (&self.key_change, Endpoint::KeyChange),
        ]
        .into_iter()
        .find(|(url, _)| url_path(url) == path)
        .map(|(_, endpoint)| endpoint)
    }

    /// [`verify_revocation`] against this directory's `revokeCert` URL.
    pub fn verify_revocation(
        &self,
        body: &[u8],
        nonces: &NoncePool,
    ) -> Result<RevocationRequest, Problem> {
        verify_revocation(body, &self.revoke_cert, nonces)
    }

    /// The answer to a newAccount POST: always a problem, since Revoca has no accounts.
    ///
    /// The JWS is verified first (signature, `url`, single-use nonce) like any request. Then
    /// `onlyReturnExisting: true` (an account lookup) gets `accountDoesNotExist`; a creation
    /// attempt gets `externalAccountRequired` when the directory says so (`unauthorized` if it
    /// carries an `externalAccountBinding`, or if the directory does not require one).
    pub fn answer_new_account(&self, body: &[u8], nonces: &NoncePool) -> Problem {
        let jws = match verify_jws(body, &self.new_account, nonces, KidPolicy::Malformed) {
            Ok(jws) => jws,
            Err(problem) => return problem,
        };
        let payload: Value = match serde_json::from_slice(&jws.payload) {
            Ok(Value::Object(map)) => Value::Object(map),
            _ => return malformed("newAccount payload must be a JSON object"),
        };
        if payload.get("onlyReturnExisting") == Some(&Value::Bool(true)) {
            return Problem::new(
                ProblemKind::AccountDoesNotExist,
                "no account exists for this key: this server has no ACME accounts; \
                 revoke by signing with the certificate's own key",
            );
        }
        if self.external_account_required && payload.get("externalAccountBinding").is_none() {
            return Problem::new(
                ProblemKind::ExternalAccountRequired,
                "this server does not create ACME accounts; \
                 revoke by signing with the certificate's own key",
            );
        }
        Problem::new(
            ProblemKind::Unauthorized,
            "this server does not create ACME accounts; \
             revoke by signing with the certificate's own key",
        )
    }
}

/// The path of an absolute URL (`/` if it has none).
fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("/", |i| &rest[i..])
}

/// The answer to a POST on a resource that needs an account (newOrder, keyChange): always a
/// problem. A `kid` names an account that cannot exist here (`accountDoesNotExist`); a `jwk`
/// is not acceptable on these resources (`malformed`). No signature is checked and no nonce
/// spent: there is no account key to check against.
pub fn answer_account_only(body: &[u8]) -> Problem {
    let header = match parse_envelope(body) {
        Ok((_, header)) => header,
        Err(problem) => return problem,
    };
    if header.kid.is_some() {
        Problem::new(
            ProblemKind::AccountDoesNotExist,
            "this server has no ACME accounts",
        )
    } else {
        malformed("this resource requires a JWS signed by an account key (kid)")
    }
}

// -------------------------------------------------------------------------------- nonces

/// Replay nonces (RFC 8555 §6.5): random, single use, forgotten after a lifetime, and at most
/// `capacity` remembered (the oldest are forgotten first). Thread-safe.
#[derive(Debug)]
pub struct NoncePool {
    inner: Mutex<NonceInner>,
    capacity: usize,
    lifetime: Duration,
}

#[derive(Debug, Default)]
struct NonceInner {
    /// Live nonces and when they were issued.
    live: HashMap<[u8; NONCE_BYTES], Instant>,
    /// Every nonce still remembered, oldest first (consumed ones too, until pruned).
    order: VecDeque<([u8; NONCE_BYTES], Instant)>,
}

impl Default for NoncePool {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_LIFETIME)
    }
}

impl NoncePool {
    /// Default number of nonces remembered.
    pub const DEFAULT_CAPACITY: usize = 100_000;
    /// Default nonce lifetime (10 minutes).
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

    /// A pool remembering at most `capacity` (at least 1) nonces for `lifetime` each.
    pub fn new(capacity: usize, lifetime: Duration) -> Self {
        Self {
            inner: Mutex::new(NonceInner::default()),
            capacity: capacity.max(1),
            lifetime,
        }
    }

    fn lock(&self) -> MutexGuard<'_, NonceInner> {
        // The state stays consistent even if a holder panicked: recover it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A fresh nonce (128 random bits, base64url) for a `Replay-Nonce` header.
    ///
    /// Fails only if the system random generator does (`serverInternal`).
    pub fn issue(&self) -> Result<String, Problem> {
        self.issue_at(Instant::now())
    }

    /// [`NoncePool::issue`] at a given time (for tests and injected clocks).
    pub fn issue_at(&self, now: Instant) -> Result<String, Problem> {
        let mut raw = [0u8; NONCE_BYTES];
        aws_lc_rs::rand::fill(&mut raw)
            .map_err(|_| Problem::new(ProblemKind::ServerInternal, "random generator failure"))?;
        self.remember(raw, now);
        Ok(B64URL_STRICT.encode(raw))
    }

    fn remember(&self, raw: [u8; NONCE_BYTES], now: Instant) {
        let mut inner = self.lock();
        while let Some(&(old, issued)) = inner.order.front() {
            let expired = now.saturating_duration_since(issued) >= self.lifetime;
            if inner.order.len() < self.capacity && !expired {
                break;
            }
            inner.order.pop_front();
            if inner.live.get(&old) == Some(&issued) {
                inner.live.remove(&old);
            }
        }
        inner.live.insert(raw, now);
        inner.order.push_back((raw, now));
    }

    /// Spends `nonce`: true exactly once for a nonce this pool issued that has not expired
    /// or been forgotten.
    pub fn consume(&self, nonce: &str) -> bool {
        self.consume_at(nonce, Instant::now())
    }

    /// [`NoncePool::consume`] at a given time (for tests and injected clocks).
    pub fn consume_at(&self, nonce: &str, now: Instant) -> bool {
        let mut raw = [0u8; NONCE_BYTES];
        match B64URL_STRICT.decode_slice(nonce, &mut raw) {
            Ok(NONCE_BYTES) => {}
            _ => return false,
        }
        match self.lock().live.remove(&raw) {
            Some(issued) => now.saturating_duration_since(issued) < self.lifetime,
            None => false,
        }
    }

    /// How many unspent nonces are remembered (expired ones included until pruned).
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no unspent nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    fn insert_at(&self, nonce: &str, now: Instant) {
        let mut raw = [0u8; NONCE_BYTES];
        assert_eq!(B64URL_STRICT.decode_slice(nonce, &mut raw), Ok(NONCE_BYTES));
        self.remember(raw, now);
    }
}

// ---------------------------------------------------------------------------------- keys

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn from_jwk(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [Self::P256, Self::P384, Self::P521]
            .into_iter()
            .find(|c| c.oid() == *oid)
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Self::P256 => OID_P256,
            Self::P384 => OID_P384,
            Self::P521 => OID_P521,
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

/// A public key in canonical form: equal keys compare equal whatever their encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PublicKey {
    /// Uncompressed point `04 || x || y`.
    Ec { curve: Curve, point: Vec<u8> },
    /// Modulus and exponent, big-endian, no leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The 32-byte public key.
    Ed25519(Vec<u8>),
}

/// PKCS#1 `RSAPublicKey`.
#[derive(der::Sequence)]
struct RsaPublicKeyDer<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn bad_key(detail: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::BadPublicKey, detail)
}

/// Members of a private JWK (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl PublicKey {
    /// Parses a public JWK (RFC 7517/7518/8037): EC P-256/P-384/P-521, RSA 2048-8192 bits,
    /// OKP Ed25519.
    fn from_jwk(jwk: &Value) -> Result<Self, Problem> {
        let obj = jwk
            .as_object()
            .ok_or_else(|| malformed("jwk must be a JSON object"))?;
        if PRIVATE_JWK_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(bad_key("jwk must not contain private key material"));
        }
        let text = |name: &str| -> Result<&str, Problem> {
            obj.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(format!("jwk member \"{name}\" missing or not a string")))
        };
        let bytes = |name: &str| -> Result<Vec<u8>, Problem> {
            B64URL
                .decode(text(name)?)
                .map_err(|_| malformed(format!("jwk member \"{name}\" is not base64url")))
        };
        match text("kty")? {
            "EC" => {
                let crv = text("crv")?;
                let curve = Curve::from_jwk(crv)
                    .ok_or_else(|| bad_key(format!("unsupported EC curve {crv:?}")))?;
                let (x, y) = (bytes("x")?, bytes("y")?);
                let len = curve.coordinate_len();
                if x.len() != len || y.len() != len {
                    return Err(bad_key(format!("{crv} coordinates must be {len} bytes")));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(Self::Ec { curve, point })
            }
            "RSA" => {
                let (n, e) = (bytes("n")?, bytes("e")?);
                Self::rsa(strip_zeros(&n), strip_zeros(&e))
            }
            "OKP" => {
                let crv = text("crv")?;
                if crv != "Ed25519" {
                    return Err(bad_key(format!("unsupported OKP curve {crv:?}")));
                }
                let x = bytes("x")?;
                if x.len() != 32 {
                    return Err(bad_key("Ed25519 key must be 32 bytes"));
                }
                Ok(Self::Ed25519(x))
            }
            other => Err(bad_key(format!("unsupported key type {other:?}"))),
        }
    }

    fn rsa(n: &[u8], e: &[u8]) -> Result<Self, Problem> {
        let bits = n
            .first()
            .map_or(0, |&top| n.len() * 8 - top.leading_zeros() as usize);
        if !(2048..=8192).contains(&bits) {
            return Err(bad_key(format!(
                "RSA modulus of {bits} bits (2048 to 8192 accepted)"
            )));
        }
        if e.is_empty() || e.len() > 8 || e.last().is_some_and(|b| b & 1 == 0) {
            return Err(bad_key("RSA public exponent is not acceptable"));
        }
        Ok(Self::Rsa {
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }

    /// The key of a DER `SubjectPublicKeyInfo`, if it is of a supported kind.
    fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Option<Self> {
        let bits = spki.subject_public_key.as_bytes()?;
        let oid = spki.algorithm.oid;
        if oid == OID_EC_PUBLIC_KEY {
            let curve_oid: ObjectIdentifier =
                spki.algorithm.parameters.as_ref()?.decode_as().ok()?;
            let curve = Curve::from_oid(&curve_oid)?;
            let ok = bits.len() == 1 + 2 * curve.coordinate_len() && bits[0] == 0x04;
            ok.then(|| Self::Ec {
                curve,
                point: bits.to_vec(),
            })
        } else if oid == OID_RSA_ENCRYPTION {
            let key = RsaPublicKeyDer::from_der(bits).ok()?;
            Some(Self::Rsa {
                n: key.modulus.as_bytes().to_vec(),
                e: key.public_exponent.as_bytes().to_vec(),
            })
        } else if oid == OID_ED25519 {
            (bits.len() == 32).then(|| Self::Ed25519(bits.to_vec()))
        } else {
            None
        }
    }

    /// The key as it goes to aws-lc-rs: EC point, PKCS#1 `RSAPublicKey`, or raw Ed25519.
    fn verification_bytes(&self) -> Result<Vec<u8>, Problem> {
        match self {
            Self::Ec { point, .. } => Ok(point.clone()),
            Self::Ed25519(key) => Ok(key.clone()),
            Self::Rsa { n, e } => {
                let der_err = |_| bad_key("RSA key cannot be encoded");
                RsaPublicKeyDer {
                    modulus: UintRef::new(n).map_err(der_err)?,
                    public_exponent: UintRef::new(e).map_err(der_err)?,
                }
                .to_der()
                .map_err(der_err)
            }
        }
    }

    /// The canonical DER `SubjectPublicKeyInfo` (RFC 5480, RFC 3279 with NULL parameters,
    /// RFC 8410).
    fn to_spki_der(&self) -> Result<Vec<u8>, Problem> {
        let der_err = |_| bad_key("key cannot be encoded as SubjectPublicKeyInfo");
        let (oid, parameters) = match self {
            Self::Ec { curve, .. } => (
                OID_EC_PUBLIC_KEY,
                Some(der::Any::encode_from(&curve.oid()).map_err(der_err)?),
            ),
            Self::Rsa { .. } => (
                OID_RSA_ENCRYPTION,
                Some(der::Any::encode_from(&Null).map_err(der_err)?),
            ),
            Self::Ed25519(_) => (OID_ED25519, None),
        };
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned { oid, parameters },
            subject_public_key: BitString::from_bytes(&self.verification_bytes()?)
                .map_err(der_err)?,
        }
        .to_der()
        .map_err(der_err)
    }
}

// ----------------------------------------------------------------------------------- JWS

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    Es256,
    Es384,
    Es512,
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    EdDsa,
}

impl Alg {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "ES512" => Self::Es512,
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "EdDSA" => Self::EdDsa,
            _ => return None,
        })
    }

    /// The aws-lc-rs algorithm for this `alg` and `key`, if they fit together (ES* signatures
    /// are the fixed-length `r || s` of RFC 7518 §3.4).
    fn verification(self, key: &PublicKey) -> Option<&'static dyn VerificationAlgorithm> {
        Some(match (self, key) {
            (
                Self::Es256,
                PublicKey::Ec {
                    curve: Curve::P256, ..
                },
            ) => &signature::ECDSA_P256_SHA256_FIXED,
            (
                Self::Es384,
                PublicKey::Ec {
                    curve: Curve::P384, ..
                },
            ) => &signature::ECDSA_P384_SHA384_FIXED,
            (
                Self::Es512,
                PublicKey::Ec {
                    curve: Curve::P521, ..
                },
            ) => &signature::ECDSA_P521_SHA512_FIXED,
            (Self::Rs256, PublicKey::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (Self::Rs384, PublicKey::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (Self::Rs512, PublicKey::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (Self::Ps256, PublicKey::Rsa { .. }) => &signature::RSA_PSS_2048_8192_SHA256,
            (Self::Ps384, PublicKey::Rsa { .. }) => &signature::RSA_PSS_2048_8192_SHA384,
            (Self::Ps512, PublicKey::Rsa { .. }) => &signature::RSA_PSS_2048_8192_SHA512,
            (Self::EdDsa, PublicKey::Ed25519(_)) => &signature::ED25519,
            _ => return None,
        })
    }
}

/// A flattened JWS JSON serialization (RFC 7515 §7.2.2).
#[derive(Deserialize)]
struct Flattened {
    protected: String,
    payload: String,
    signature: String,
    /// Must be absent (RFC 8555 §6.2: no unprotected header).
    header: Option<Value>,
}

/// The protected header members ACME uses (RFC 8555 §6.2).
#[derive(Deserialize)]
struct ProtectedHeader {
    alg: String,
    nonce: Option<String>,
    url: Option<String>,
    jwk: Option<Value>,
    kid: Option<String>,
    /// RFC 7797 unencoded payload: refused.
    b64: Option<Value>,
    /// Critical extensions: none understood, so refused.
    crit: Option<Value>,
}

struct VerifiedJws {
    key: PublicKey,
    spki_der: Vec<u8>,
    payload: Vec<u8>,
}

/// What a `kid` (account-signed) request gets on a resource.
#[derive(Clone, Copy)]
enum KidPolicy {
    /// revokeCert: an account could be used, but none exists.
    AccountDoesNotExist,
    /// newAccount: a `kid` is not allowed at all (RFC 8555 §7.3).
    Malformed,
}

/// Parses the flattened JWS and its protected header.
fn parse_envelope(body: &[u8]) -> Result<(Flattened, ProtectedHeader), Problem> {
    if body.len() > MAX_JWS_BYTES {
        return Err(Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("request body larger than {MAX_JWS_BYTES} bytes"),
        ));
    }
    let jws: Flattened = serde_json::from_slice(body)
        .map_err(|_| malformed("request body is not a flattened JWS JSON object"))?;
    if jws.header.is_some() {
        return Err(malformed("JWS unprotected header is not allowed"));
    }
    let protected = B64URL
        .decode(&jws.protected)
        .map_err(|_| malformed("JWS protected header is not base64url"))?;
    let header: ProtectedHeader = serde_json::from_slice(&protected)
        .map_err(|_| malformed("JWS protected header is not a valid JSON object with alg"))?;
    Ok((jws, header))
}

/// RFC 8555 §6.2-6.5 request authentication with an embedded `jwk`.
fn verify_jws(
    body: &[u8],
    expected_url: &str,
    nonces: &NoncePool,
    kid_policy: KidPolicy,
) -> Result<VerifiedJws, Problem> {
    let (jws, header) = parse_envelope(body)?;
    if header.b64.is_some() || header.crit.is_some() {
        return Err(malformed(
            "JWS \"b64\" and \"crit\" header parameters are not supported",
        ));
    }
    let alg = Alg::from_name(&header.alg).ok_or_else(|| {
        Problem::new(
            ProblemKind::BadSignatureAlgorithm,
            format!("JWS algorithm {:?} is not supported", header.alg),
        )
    })?;
    let jwk = match (&header.jwk, &header.kid) {
        (Some(_), Some(_)) => return Err(malformed("JWS must not carry both jwk and kid")),
        (None, None) => return Err(malformed("JWS must carry jwk")),
        (None, Some(_)) => {
            return Err(match kid_policy {
                KidPolicy::AccountDoesNotExist => Problem::new(
                    ProblemKind::AccountDoesNotExist,
                    "this server has no ACME accounts: sign the revocation with the \
                     certificate's own key (jwk)",
                ),
                KidPolicy::Malformed => malformed("newAccount requests must carry jwk, not kid"),
            });
        }
        (Some(jwk), None) => jwk,
    };
    let key = PublicKey::from_jwk(jwk)?;
    let algorithm = alg.verification(&key).ok_or_else(|| {
        Problem::new(
            ProblemKind::BadSignatureAlgorithm,
            format!("JWS algorithm {} does not fit the jwk", header.alg),
        )
    })?;
    match &header.url {
        None => return Err(malformed("JWS protected header has no url")),
        Some(url) if url != expected_url => {
            return Err(Problem::new(
                ProblemKind::Unauthorized,
                "JWS url does not match the request URL",
            ));
        }
        Some(_) => {}
    }
    let signature = B64URL
        .decode(&jws.signature)
        .map_err(|_| malformed("JWS signature is not base64url"))?;
    let mut signing_input = Vec::with_capacity(jws.protected.len() + 1 + jws.payload.len());
    signing_input.extend_from_slice(jws.protected.as_bytes());
    signing_input.push(b'.');
    signing_input.extend_from_slice(jws.payload.as_bytes());
    UnparsedPublicKey::new(algorithm, key.verification_bytes()?)
        .verify(&signing_input, &signature)
        .map_err(|_| malformed("JWS signature verification failed"))?;
    // Spent only once the request is known to come from the key holder.
    match &header.nonce {
        Some(nonce) if nonces.consume(nonce) => {}
        Some(_) => {
            return Err(Problem::new(
                ProblemKind::BadNonce,
                "JWS nonce is unknown, expired or already used",
            ));
        }
        None => return Err(Problem::new(ProblemKind::BadNonce, "JWS has no nonce")),
    }
    let payload = B64URL
        .decode(&jws.payload)
        .map_err(|_| malformed("JWS payload is not base64url"))?;
    let spki_der = key.to_spki_der()?;
    Ok(VerifiedJws {
        key,
        spki_der,
        payload,
    })
}

// ---------------------------------------------------------------------------- revocation

/// A verified revocation request: signed by the certificate's own key.
///
/// Still to be checked by the caller: that the certificate was issued by one of its CAs
/// ([`RevocationRequest::verify_issued_by`]), is known to the store and not already revoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationRequest {
    /// The certificate to revoke (DER, canonical).
    pub certificate_der: Vec<u8>,
    /// The requested RFC 5280 `CRLReason` code, one of [`ALLOWED_REASONS`]; `None` when the
    /// request has none (treat as unspecified: no reasonCode in OCSP/CRL).
    pub reason: Option<u8>,
    /// The signing key (the certificate's key) as canonical DER `SubjectPublicKeyInfo`.
    pub jwk_spki_der: Vec<u8>,
    /// The certificate's serial number: big-endian magnitude, no leading zeros.
    pub serial_magnitude: Vec<u8>,
    /// The certificate's issuer `Name`, DER.
    pub issuer_name_der: Vec<u8>,
}

/// The `revokeCert` payload (RFC 8555 §7.6). Other members are ignored.
#[derive(Deserialize)]
struct RevokePayload {
    certificate: String,
    #[serde(default)]
    reason: Option<Value>,
}

/// Verifies a revocation request: the flattened JWS posted (`application/jose+json` body) to
/// `expected_url`, authenticated with the certificate's own key.
///
/// Checks, in order: size ([`MAX_JWS_BYTES`]); flattened JWS with no unprotected header;
/// `alg` in [`SUPPORTED_ALGORITHMS`] (else `badSignatureAlgorithm`); `jwk` present (a `kid`
/// gets `accountDoesNotExist`) and a supported public key (else `badPublicKey`) fitting `alg`;
/// `url` equal to `expected_url` (else `unauthorized`); the signature (else `malformed`);
/// the nonce, spent from `nonces` (else `badNonce`); the payload `{"certificate": base64url
/// DER, "reason": int?}` (else `malformed`); the certificate's key equal to the `jwk` (else
/// `unauthorized`); the reason in [`ALLOWED_REASONS`] (else `badRevocationReason`).
pub fn verify_revocation(
    body: &[u8],
    expected_url: &str,
    nonces: &NoncePool,
) -> Result<RevocationRequest, Problem> {
    let jws = verify_jws(body, expected_url, nonces, KidPolicy::AccountDoesNotExist)?;
    let payload: RevokePayload = serde_json::from_slice(&jws.payload).map_err(|_| {
        malformed("revokeCert payload must be a JSON object with a \"certificate\" string")
    })?;
    let certificate_der = B64URL
        .decode(&payload.certificate)
        .map_err(|_| malformed("certificate is not base64url"))?;
    let cert = x509_cert::Certificate::from_der(&certificate_der)
        .map_err(|_| malformed("certificate is not a DER X.509 certificate"))?;
    if cert.to_der().ok().as_deref() != Some(certificate_der.as_slice()) {
        return Err(malformed("certificate is not canonical DER"));
    }
    let tbs = &cert.tbs_certificate;
    if PublicKey::from_spki(&tbs.subject_public_key_info).as_ref() != Some(&jws.key) {
        return Err(Problem::new(
            ProblemKind::Unauthorized,
            "the request is not signed with the certificate's key",
        ));
    }
    let reason = match payload.reason {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_f64() => return Err(malformed("reason must be an integer")),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(code) if code <= u64::from(u8::MAX) && ALLOWED_REASONS.contains(&(code as u8)) => {
                Some(code as u8)
            }
            _ => {
                return Err(Problem::new(
                    ProblemKind::BadRevocationReason,
                    format!(
                        "revocation reason {n} not allowed (allowed: 0 unspecified, \
                         1 keyCompromise, 3 affiliationChanged, 4 superseded, \
                         5 cessationOfOperation)"
                    ),
                ));
            }
        },
        Some(_) => return Err(malformed("reason must be an integer")),
    };
    let serial = tbs.serial_number.as_bytes();
    if serial.first().is_some_and(|&b| b & 0x80 != 0) {
        return Err(malformed("certificate serial number is negative"));
    }
    let issuer_name_der = tbs
        .issuer
        .to_der()
        .map_err(|_| malformed("certificate issuer cannot be encoded"))?;
    Ok(RevocationRequest {
        serial_magnitude: strip_zeros(serial).to_vec(),
        issuer_name_der,
        certificate_der,
        reason,
        jwk_spki_der: jws.spki_der,
    })
}

impl RevocationRequest {
    /// Checks that the certificate was issued by `issuer_cert_der`: the issuer name matches
    /// its subject and its key verifies the certificate's signature (one of the schemes
    /// Revoca signs with: ECDSA P-256/SHA-256, P-384/SHA-384, RSA PKCS#1 v1.5 or PSS with
    /// SHA-256, Ed25519). Anything else is `unauthorized`: a certificate the caller cannot
    /// vouch for must not revoke the serial of one it issued.
    pub fn verify_issued_by(&self, issuer_cert_der: &[u8]) -> Result<(), Problem> {
        let not_ours = || {
            Problem::new(
                ProblemKind::Unauthorized,
                "certificate was not issued by this CA",
            )
        };
        let issuer = x509_cert::Certificate::from_der(issuer_cert_der).map_err(|_| {
            Problem::new(
                ProblemKind::ServerInternal,
                "issuer certificate cannot be parsed",
            )
        })?;
        let cert = x509_cert::Certificate::from_der(&self.certificate_der)
            .map_err(|_| malformed("certificate is not a DER X.509 certificate"))?;
        let subject = issuer
            .tbs_certificate
            .subject
            .to_der()
            .map_err(|_| not_ours())?;
        if subject != self.issuer_name_der {
            return Err(not_ours());
        }
        certificate_signed_by(&cert, &issuer).ok_or_else(not_ours)
    }
}

/// Whether `issuer`'s key made the signature on `cert` (for the schemes Revoca signs
/// with). `None` when it did not, or when the algorithms do not fit.
pub(crate) fn certificate_signed_by(
    cert: &x509_cert::Certificate,
    issuer: &x509_cert::Certificate,
) -> Option<()> {
    let issuer_key = PublicKey::from_spki(&issuer.tbs_certificate.subject_public_key_info)?;
    let sig_alg = cert.signature_algorithm.to_der().ok()?;
    use revoca_signer::SignatureScheme as S;
    let scheme = [
        S::EcdsaP256Sha256,
        S::EcdsaP384Sha384,
        S::RsaPkcs1Sha256,
        S::RsaPssSha256,
        S::Ed25519,
    ]
    .into_iter()
    .find(|s| s.algorithm_identifier_der() == sig_alg.as_slice())?;
    let algorithm: &'static dyn VerificationAlgorithm = match (scheme, &issuer_key) {
        (
            S::EcdsaP256Sha256,
            PublicKey::Ec {
                curve: Curve::P256, ..
            },
        ) => &signature::ECDSA_P256_SHA256_ASN1,
        (
            S::EcdsaP384Sha384,
            PublicKey::Ec {
                curve: Curve::P384, ..
            },
        ) => &signature::ECDSA_P384_SHA384_ASN1,
        (S::RsaPkcs1Sha256, PublicKey::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (S::RsaPssSha256, PublicKey::Rsa { .. }) => &signature::RSA_PSS_2048_8192_SHA256,
        (S::Ed25519, PublicKey::Ed25519(_)) => &signature::ED25519,
        _ => return None,
    };
    let tbs = cert.tbs_certificate.to_der().ok()?;
    let sig = cert.signature.as_bytes()?;
    UnparsedPublicKey::new(algorithm, issuer_key.verification_bytes().ok()?)
        .verify(&tbs, sig)
        .ok()
}

#[cfg(test)]
mod tests;

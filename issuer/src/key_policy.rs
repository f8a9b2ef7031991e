//! Which subject public keys the CA accepts, and a list of keys known to be compromised.
//!
//! [`KeyPolicy::check`] parses a DER `SubjectPublicKeyInfo` strictly (RFC 3279, RFC 5480,
//! RFC 8410), validates the key material with aws-lc (EC points must be on their curve) and
//! compares it with the policy: RSA modulus sizes, the RSA public exponent (only 65537) and
//! which elliptic curves and Edwards keys are allowed. It answers with a short label such as
//! `"RSA-2048"` or `"P-256"`, the same names [`KeyPolicy::from_names`] reads from
//! configuration.
//!
//! [`CompromisedKeys`] is a blocklist by SHA-256 of the SPKI DER (the form published by, for
//! example, the pwnedkeys and Debian weak-key lists once converted), checked by
//! [`KeyPolicy::check_with`].

use std::collections::HashSet;
use std::fmt;

use const_oid::ObjectIdentifier;
use der::asn1::UintRef;
use der::{Decode, Tagged};
use spki::SubjectPublicKeyInfoRef;

/// `rsaEncryption` (RFC 3279).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-RSASSA-PSS` used as a key algorithm (RFC 4055); refused.
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
/// `id-ecPublicKey` (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `id-dsa` (RFC 3279); refused.
const DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
/// `id-Ed25519` (RFC 8410).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// `id-Ed448` (RFC 8410); refused.
const ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
/// `secp256r1` (P-256).
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1` (P-384).
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `secp521r1` (P-521).
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `secp256k1`.
const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

/// The only RSA public exponent accepted (F4).
pub const RSA_PUBLIC_EXPONENT: u64 = 65_537;
/// The smallest RSA modulus, in bits, a policy can allow (and the smallest whose signatures
/// aws-lc verifies).
pub const RSA_MIN_SUPPORTED_BITS: u32 = 2048;
/// The largest RSA modulus, in bits, a policy can allow (and the largest whose signatures
/// aws-lc verifies).
pub const RSA_MAX_SUPPORTED_BITS: u32 = 8192;
/// The most lines a blocklist text may have ([`CompromisedKeys::from_hex_lines`]).
pub const MAX_BLOCKLIST_LINES: usize = 10_000_000;

/// Why a public key was refused, or a policy could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPolicyError {
    /// The bytes are not a DER `SubjectPublicKeyInfo`.
    #[error("invalid SubjectPublicKeyInfo: {0}")]
    Der(String),
    /// The key algorithm is not one Revoca supports (RSA, EC, Ed25519).
    #[error(
        "unsupported public key algorithm {0} (supported: rsaEncryption, id-ecPublicKey on P-256/P-384, Ed25519)"
    )]
    UnsupportedAlgorithm(String),
    /// The key is of a supported algorithm but malformed.
    #[error("malformed public key: {0}")]
    InvalidKey(String),
    /// The key's algorithm is supported, but the policy does not allow it.
    #[error("{0} keys are not allowed by the key policy")]
    AlgorithmNotAllowed(&'static str),
    /// The RSA modulus is smaller than the policy's minimum.
    #[error("RSA key has a {bits}-bit modulus; at least {min} bits are required")]
    RsaTooSmall {
        /// The modulus size in bits.
        bits: u32,
        /// The policy's minimum.
        min: u32,
    },
    /// The RSA modulus is larger than the policy's maximum.
    #[error("RSA key has a {bits}-bit modulus; at most {max} bits are accepted")]
    RsaTooLarge {
        /// The modulus size in bits.
        bits: u32,
        /// The policy's maximum.
        max: u32,
    },
    /// The RSA modulus is within bounds but not one of the explicitly allowed sizes.
    #[error("RSA key has a {bits}-bit modulus; the key policy allows only {allowed}")]
    RsaSizeNotAllowed {
        /// The modulus size in bits.
        bits: u32,
        /// The allowed sizes, for example `"RSA-2048, RSA-3072"`.
        allowed: String,
    },
    /// The RSA public exponent is not 65537.
    #[error("RSA public exponent is {0}; only 65537 is accepted")]
    RsaExponent(String),
    /// The elliptic curve is not allowed (or not supported) by the policy.
    #[error("elliptic curve {0} is not allowed by the key policy")]
    CurveNotAllowed(String),
    /// The key is on the list of compromised keys.
    #[error("the public key is known to be compromised (its SPKI SHA-256 is on the blocklist)")]
    Compromised,
    /// A configuration name given to [`KeyPolicy::from_names`] is not known.
    #[error(
        "unknown key algorithm name {0:?} (expected RSA-<bits> with 2048 to 8192 bits, P-256, P-384 or Ed25519)"
    )]
    UnknownName(String),
    /// An `RSA-N` configuration name asks for a size outside 2048..=8192.
    #[error("RSA-{0} cannot be allowed: RSA moduli from 2048 to 8192 bits are supported")]
    UnsupportedRsaSize(u32),
    /// [`KeyPolicy::from_names`] was given no name: the policy would refuse every key.
    #[error("the key policy allows no key algorithm (give at least one name, e.g. \"P-256\")")]
    EmptyPolicy,
    /// A line of a blocklist is not a SHA-256 in hex.
    #[error("compromised-key list line {line}: {reason}")]
    BadBlocklistLine {
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Which subject keys are acceptable.
///
/// RSA keys must have the public exponent 65537 and a modulus of `rsa_min_bits..=rsa_max_bits`
/// bits; when `rsa_sizes` is not empty the modulus must also be exactly one of those sizes.
/// Set `rsa_max_bits` to 0 to refuse RSA altogether. Sizes outside 2048..=8192 can never be
/// accepted (the certificate request's signature could not be verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPolicy {
    /// Smallest accepted RSA modulus, in bits.
    pub rsa_min_bits: u32,
    /// Largest accepted RSA modulus, in bits (0: no RSA).
    pub rsa_max_bits: u32,
    /// If not empty, the only RSA modulus sizes accepted (each also within the bounds).
    pub rsa_sizes: Vec<u32>,
    /// Whether ECDSA keys on P-256 are accepted.
    pub allow_p256: bool,
    /// Whether ECDSA keys on P-384 are accepted.
    pub allow_p384: bool,
    /// Whether Ed25519 keys are accepted.
    pub allow_ed25519: bool,
}

impl Default for KeyPolicy {
    /// RSA 2048 to 8192 bits with exponent 65537, P-256 and P-384; not Ed25519 (browsers and
    /// the CA/Browser Forum do not accept it in TLS certificates).
    fn default() -> Self {
        Self {
            rsa_min_bits: RSA_MIN_SUPPORTED_BITS,
            rsa_max_bits: RSA_MAX_SUPPORTED_BITS,
            rsa_sizes: Vec::new(),
            allow_p256: true,
            allow_p384: true,
            allow_ed25519: false,
        }
    }
}

impl KeyPolicy {
    /// A policy that refuses every key; a starting point for building one field by field.
    pub fn deny_all() -> Self {
        Self {
            rsa_min_bits: 0,
            rsa_max_bits: 0,
            rsa_sizes: Vec::new(),
            allow_p256: false,
            allow_p384: false,
            allow_ed25519: false,
        }
    }

    /// Checks a DER `SubjectPublicKeyInfo` against the policy and returns a short label for
    /// its algorithm: `"RSA-<bits>"`, `"P-256"`, `"P-384"` or `"Ed25519"`.
    pub fn check(&self, spki_der: &[u8]) -> Result<String, KeyPolicyError> {
        let key = parse_subject_key(spki_der)?;
        match key {
            SubjectKey::Rsa { bits, exponent, .. } => {
                if self.rsa_max_bits == 0 {
                    return Err(KeyPolicyError::AlgorithmNotAllowed("RSA"));
                }
                if exponent != Some(RSA_PUBLIC_EXPONENT) {
                    return Err(KeyPolicyError::RsaExponent(match exponent {
                        Some(e) => e.to_string(),
                        None => "larger than 64 bits".to_owned(),
                    }));
                }
                let min = self.rsa_min_bits.max(RSA_MIN_SUPPORTED_BITS);
                let max = self.rsa_max_bits.min(RSA_MAX_SUPPORTED_BITS);
                if bits < min {
                    return Err(KeyPolicyError::RsaTooSmall { bits, min });
                }
                if bits > max {
                    return Err(KeyPolicyError::RsaTooLarge { bits, max });
                }
                if !self.rsa_sizes.is_empty() && !self.rsa_sizes.contains(&bits) {
                    return Err(KeyPolicyError::RsaSizeNotAllowed {
                        bits,
                        allowed: self.rsa_sizes_text(),
                    });
                }
                Ok(format!("RSA-{bits}"))
            }
            SubjectKey::Ec { curve, point } => {
                let allowed = match curve {
                    Curve::P256 => self.allow_p256,
                    Curve::P384 => self.allow_p384,
                    Curve::P521 | Curve::Other(_) => false,
                };
                if !allowed {
                    return Err(KeyPolicyError::CurveNotAllowed(curve.to_string()));
                }
                let algorithm: &'static dyn aws_lc_rs::signature::VerificationAlgorithm =
                    match curve {
                        Curve::P256 => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
                        _ => &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1,
                    };
                aws_lc_rs::signature::ParsedPublicKey::new(algorithm, point).map_err(|e| {
                    KeyPolicyError::InvalidKey(format!("{curve} point rejected: {e}"))
                })?;
                Ok(curve.to_string())
            }
            SubjectKey::Ed25519 { public_key } => {
                if !self.allow_ed25519 {
                    return Err(KeyPolicyError::AlgorithmNotAllowed("Ed25519"));
                }
                aws_lc_rs::signature::ParsedPublicKey::new(
                    &aws_lc_rs::signature::ED25519,
                    public_key,
                )
                .map_err(|e| KeyPolicyError::InvalidKey(format!("Ed25519 key rejected: {e}")))?;
                Ok("Ed25519".to_owned())
            }
        }
    }

    /// [`KeyPolicy::check`], after refusing keys in `compromised` with
    /// [`KeyPolicyError::Compromised`].
    pub fn check_with(
        &self,
        spki_der: &[u8],
        compromised: &CompromisedKeys,
    ) -> Result<String, KeyPolicyError> {
        if compromised.contains_spki(spki_der) {
            return Err(KeyPolicyError::Compromised);
        }
        self.check(spki_der)
    }

    /// Builds a policy from configuration names, for example
    /// `["RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384"]`. An `RSA-N` entry allows
    /// exactly an N-bit modulus (2048 <= N <= 8192). Names are matched case-insensitively,
    /// surrounding whitespace is ignored, and repeating one is harmless. Unknown names and an
    /// empty list are errors.
    pub fn from_names(names: &[String]) -> Result<Self, KeyPolicyError> {
        let mut policy = Self::deny_all();
        for raw in names {
            let name = raw.trim();
            let upper = name.to_ascii_uppercase();
            match upper.as_str() {
                "P-256" => policy.allow_p256 = true,
                "P-384" => policy.allow_p384 = true,
                "ED25519" => policy.allow_ed25519 = true,
                _ => {
                    let bits = upper
                        .strip_prefix("RSA-")
                        .filter(|d| !d.is_empty() && d.len() <= 5)
                        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|d| d.parse::<u32>().ok())
                        .ok_or_else(|| KeyPolicyError::UnknownName(name.to_owned()))?;
                    if !(RSA_MIN_SUPPORTED_BITS..=RSA_MAX_SUPPORTED_BITS).contains(&bits) {
                        return Err(KeyPolicyError::UnsupportedRsaSize(bits));
                    }
                    if !policy.rsa_sizes.contains(&bits) {
                        policy.rsa_sizes.push(bits);
                    }
                }
            }
        }
        policy.rsa_sizes.sort_unstable();
        if let (Some(&min), Some(&max)) = (policy.rsa_sizes.first(), policy.rsa_sizes.last()) {
            policy.rsa_min_bits = min;
            policy.rsa_max_bits = max;
        }
        if policy == Self::deny_all() {
            return Err(KeyPolicyError::EmptyPolicy);
        }
        Ok(policy)
    }

    /// The allowed RSA sizes as text, for error messages.
    fn rsa_sizes_text(&self) -> String {
        let mut sizes: Vec<u32> = self.rsa_sizes.clone();
        sizes.sort_unstable();
        sizes
            .iter()
            .map(|b| format!("RSA-{b}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for KeyPolicy {
    /// A one-line summary, for example `RSA 2048..=8192 bits (e=65537), P-256, P-384`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.rsa_max_bits != 0 {
            if self.rsa_sizes.is_empty() {
                parts.push(format!(
                    "RSA {}..={} bits (e=65537)",
                    self.rsa_min_bits.max(RSA_MIN_SUPPORTED_BITS),
                    self.rsa_max_bits.min(RSA_MAX_SUPPORTED_BITS)
                ));
            } else {
                parts.push(format!("{} (e=65537)", self.rsa_sizes_text()));
            }
        }
        for (allowed, name) in [
            (self.allow_p256, "P-256"),
            (self.allow_p384, "P-384"),
            (self.allow_ed25519, "Ed25519"),
        ] {
            if allowed {
                parts.push(name.to_owned());
            }
        }
        if parts.is_empty() {
            f.write_str("no key accepted")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Public keys known to be compromised, by SHA-256 of their SPKI DER ([`spki_sha256`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CompromisedKeys {
    hashes: HashSet<[u8; 32]>,
}

impl CompromisedKeys {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one SHA-256 per line, in hex (64 digits, either case). Empty lines and lines
    /// starting with `#` are skipped; surrounding whitespace is ignored.
    pub fn from_hex_lines(text: &str) -> Result<Self, KeyPolicyError> {
        let mut keys = Self::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if number > MAX_BLOCKLIST_LINES {
                return Err(KeyPolicyError::BadBlocklistLine {
                    line: number,
                    reason: "too many lines",
                });
            }
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut hash = [0u8; 32];
            hex_decode_32(line, &mut hash).map_err(|reason| KeyPolicyError::BadBlocklistLine {
                line: number,
                reason,
            })?;
            keys.insert_hash(hash);
        }
        Ok(keys)
    }

    /// Adds the key whose DER `SubjectPublicKeyInfo` is `spki_der`.
    pub fn insert_spki(&mut self, spki_der: &[u8]) {
        self.hashes.insert(spki_sha256(spki_der));
    }

    /// Adds a key by the SHA-256 of its SPKI DER.
    pub fn insert_hash(&mut self, h: [u8; 32]) {
        self.hashes.insert(h);
    }

    /// Whether the key whose DER `SubjectPublicKeyInfo` is `spki_der` is on the list.
    pub fn contains_spki(&self, spki_der: &[u8]) -> bool {
        self.hashes.contains(&spki_sha256(spki_der))
    }

    /// How many keys are on the list.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl fmt::Debug for CompromisedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompromisedKeys({} keys)", self.hashes.len())
    }
}

/// The SHA-256 of a DER `SubjectPublicKeyInfo` (all of it: tag, length, algorithm and key).
pub fn spki_sha256(spki_der: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki_der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Decodes exactly 64 hex digits into `out`.
fn hex_decode_32(text: &str, out: &mut [u8; 32]) -> Result<(), &'static str> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return Err("expected 64 hex digits (a SHA-256)");
    }
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [hi, lo] = pair else {
            return Err("expected 64 hex digits (a SHA-256)");
        };
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        match (nibble(*hi), nibble(*lo)) {
            (Some(h), Some(l)) => *slot = (h << 4) | l,
            _ => return Err("not a hex digit"),
        }
    }
    Ok(())
}

/// A named elliptic curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
    /// Any other named curve.
    Other(ObjectIdentifier),
}

impl Curve {
    /// The length of an uncompressed point (`04 || x || y`), when known.
    fn point_len(self) -> Option<usize> {
        match self {
            Curve::P256 => Some(65),
            Curve::P384 => Some(97),
            Curve::P521 => Some(133),
            Curve::Other(_) => None,
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Curve::P256 => f.write_str("P-256"),
            Curve::P384 => f.write_str("P-384"),
            Curve::P521 => f.write_str("P-521"),
            Curve::Other(oid) if *oid == SECP256K1 => f.write_str("secp256k1"),
            Curve::Other(oid) => write!(f, "{oid}"),
        }
    }
}

/// A subject public key, parsed from its `SubjectPublicKeyInfo`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SubjectKey<'a> {
    /// `rsaEncryption`.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
        /// The public exponent, if it fits in 64 bits.
        exponent: Option<u64>,
        /// The DER `RSAPublicKey` (the BIT STRING's content), as aws-lc wants it.
        public_key: &'a [u8],
    },
    /// `id-ecPublicKey` with a named curve and an uncompressed point.
    Ec {
        /// The curve.
        curve: Curve,
        /// The uncompressed point, as aws-lc wants it.
        point: &'a [u8],
    },
    /// `id-Ed25519`.
    Ed25519 {
        /// The 32-byte public key.
        public_key: &'a [u8],
    },
}

impl SubjectKey<'_> {
    /// A short description for messages: `RSA-2048`, `P-256`, `Ed25519`.
    pub(crate) fn label(&self) -> String {
        match self {
            SubjectKey::Rsa { bits, .. } => format!("RSA-{bits}"),
            SubjectKey::Ec { curve, .. } => curve.to_string(),
            SubjectKey::Ed25519 { .. } => "Ed25519".to_owned(),
        }
    }
}

/// Whether algorithm parameters are absent or an ASN.1 NULL.
fn absent_or_null(parameters: Option<der::asn1::AnyRef<'_>>) -> bool {
    match parameters {
        None => true,
        Some(any) => any.tag() == der::Tag::Null && any.value().is_empty(),
    }
}

/// Parses a DER `SubjectPublicKeyInfo` into a [`SubjectKey`], refusing algorithms Revoca does
/// not support and malformed encodings. EC keys on curves other than P-256, P-384 and P-521
/// parse (as [`Curve::Other`]) so that callers can name the curve when refusing it.
pub(crate) fn parse_subject_key(spki_der: &[u8]) -> Result<SubjectKey<'_>, KeyPolicyError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| KeyPolicyError::Der(e.to_string()))?;
    let key = spki.subject_public_key.as_bytes().ok_or_else(|| {
        KeyPolicyError::InvalidKey("subjectPublicKey BIT STRING has unused bits".to_owned())
    })?;
    let parameters = spki.algorithm.parameters;
    match spki.algorithm.oid {
        RSA_ENCRYPTION => {
            if !absent_or_null(parameters) {
                return Err(KeyPolicyError::InvalidKey(
                    "rsaEncryption parameters must be NULL".to_owned(),
                ));
            }
            parse_rsa_public_key(key)
        }
        EC_PUBLIC_KEY => {
            let curve_oid = parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| {
                    KeyPolicyError::InvalidKey(
                        "id-ecPublicKey parameters must name a curve (explicit or absent curve \
                         parameters are refused)"
                            .to_owned(),
                    )
                })?;
            let curve = match curve_oid {
                SECP256R1 => Curve::P256,
                SECP384R1 => Curve::P384,
                SECP521R1 => Curve::P521,
                other => Curve::Other(other),
            };
            if let Some(len) = curve.point_len() {
                if key.first() != Some(&0x04) {
                    return Err(KeyPolicyError::InvalidKey(format!(
                        "{curve} point is not in uncompressed form"
                    )));
                }
                if key.len() != len {
                    return Err(KeyPolicyError::InvalidKey(format!(
                        "{curve} point is {} bytes; an uncompressed point is {len}",
                        key.len()
                    )));
                }
            }
            Ok(SubjectKey::Ec { curve, point: key })
        }
        ED25519 => {
            if parameters.is_some() {
                return Err(KeyPolicyError::InvalidKey(
                    "Ed25519 algorithm parameters must be absent (RFC 8410)".to_owned(),
                ));
            }
            if key.len() != 32 {
                return Err(KeyPolicyError::InvalidKey(format!(
                    "Ed25519 public key is {} bytes; it must be 32",
                    key.len()
                )));
            }
            Ok(SubjectKey::Ed25519 { public_key: key })
        }
        RSASSA_PSS => Err(KeyPolicyError::UnsupportedAlgorithm(format!(
            "id-RSASSA-PSS ({RSASSA_PSS}); use an rsaEncryption key, which can still sign with PSS"
        ))),
        DSA => Err(KeyPolicyError::UnsupportedAlgorithm(format!("DSA ({DSA})"))),
        ED448 => Err(KeyPolicyError::UnsupportedAlgorithm(format!(
            "Ed448 ({ED448})"
        ))),
        other => Err(KeyPolicyError::UnsupportedAlgorithm(other.to_string())),
    }
}

/// Parses a DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn parse_rsa_public_key(der: &[u8]) -> Result<SubjectKey<'_>, KeyPolicyError> {
    use der::Reader;
    let invalid = |e: der::Error| KeyPolicyError::InvalidKey(format!("RSAPublicKey: {e}"));
    let mut reader = der::SliceReader::new(der).map_err(invalid)?;
    let (modulus, exponent) = reader
        .sequence(|seq| {
            let n = UintRef::decode(seq)?;
            let e = UintRef::decode(seq)?;
            Ok((n, e))
        })
        .map_err(invalid)?;
    reader.finish(()).map_err(invalid)?;
    let n = modulus.as_bytes();
    let bits = bit_length(n);
    if bits == 0 {
        return Err(KeyPolicyError::InvalidKey("RSA modulus is zero".to_owned()));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyPolicyError::InvalidKey("RSA modulus is even".to_owned()));
    }
    let e = exponent.as_bytes();
    let exponent = if e.len() <= 8 {
        Some(e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    } else {
        None
    };
    Ok(SubjectKey::Rsa {
        bits,
        exponent,
        public_key: der,
    })
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> u32 {
    let mut significant = bytes.iter().skip_while(|&&b| b == 0);
    let Some(top) = significant.next() else {
        return 0;
    };
    let rest = u32::try_from(significant.count()).unwrap_or(u32::MAX / 16);
    rest.saturating_mul(8)
        .saturating_add(8 - top.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
        ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    };

    fn ec_spki(alg: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm) -> Vec<u8> {
        let kp = EcdsaKeyPair::generate(alg).unwrap();
        kp.public_key().as_der().unwrap().as_ref().to_vec()
    }

    fn ed25519_spki() -> Vec<u8> {
        let kp = Ed25519KeyPair::generate().unwrap();
        kp.public_key().as_der().unwrap().as_ref().to_vec()
    }

    fn rsa_spki(bits: aws_lc_rs::rsa::KeySize) -> Vec<u8> {
        let kp = aws_lc_rs::rsa::KeyPair::generate(bits).unwrap();
        kp.public_key().as_der().unwrap().as_ref().to_vec()
    }

    #[test]
    fn default_policy_labels() {
        let policy = KeyPolicy::default();
        assert_eq!(
            policy.check(&ec_spki(&ECDSA_P256_SHA256_ASN1_SIGNING)),
            Ok("P-256".to_owned())
        );
        assert_eq!(
            policy.check(&ec_spki(&ECDSA_P384_SHA384_ASN1_SIGNING)),
            Ok("P-384".to_owned())
        );
        assert_eq!(
            policy.check(&ec_spki(&ECDSA_P521_SHA512_ASN1_SIGNING)),
            Err(KeyPolicyError::CurveNotAllowed("P-521".to_owned()))
        );
        assert_eq!(
            policy.check(&ed25519_spki()),
            Err(KeyPolicyError::AlgorithmNotAllowed("Ed25519"))
        );
        assert_eq!(
            policy.check(&rsa_spki(aws_lc_rs::rsa::KeySize::Rsa2048)),
            Ok("RSA-2048".to_owned())
        );
        let with_ed = KeyPolicy {
            allow_ed25519: true,
            ..KeyPolicy::default()
        };
        assert_eq!(with_ed.check(&ed25519_spki()), Ok("Ed25519".to_owned()));
        assert_eq!(
            policy.to_string(),
            "RSA 2048..=8192 bits (e=65537), P-256, P-384"
        );
    }

    #[test]
    fn from_names() {
        let names: Vec<String> = ["RSA-3072", " rsa-4096 ", "P-384", "RSA-3072"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let policy = KeyPolicy::from_names(&names).unwrap();
        assert_eq!(policy.rsa_sizes, [3072, 4096]);
        assert_eq!((policy.rsa_min_bits, policy.rsa_max_bits), (3072, 4096));
        assert!(!policy.allow_p256 && policy.allow_p384 && !policy.allow_ed25519);
        assert_eq!(policy.to_string(), "RSA-3072, RSA-4096 (e=65537), P-384");
        assert_eq!(
            policy.check(&rsa_spki(aws_lc_rs::rsa::KeySize::Rsa2048)),
            Err(KeyPolicyError::RsaTooSmall {
                bits: 2048,
                min: 3072
            })
        );
        assert_eq!(
            policy.check(&ec_spki(&ECDSA_P256_SHA256_ASN1_SIGNING)),
            Err(KeyPolicyError::CurveNotAllowed("P-256".to_owned()))
        );
        let gap = KeyPolicy::from_names(&["RSA-2048".to_owned(), "RSA-4096".to_owned()]).unwrap();
        assert!(matches!(
            gap.check(&rsa_spki(aws_lc_rs::rsa::KeySize::Rsa3072)),
            Err(KeyPolicyError::RsaSizeNotAllowed { bits: 3072, ref allowed })
                if allowed == "RSA-2048, RSA-4096"
        ));
        let ec_only = KeyPolicy::from_names(&["p-256".to_owned()]).unwrap();
        assert_eq!(
            ec_only.check(&rsa_spki(aws_lc_rs::rsa::KeySize::Rsa2048)),
            Err(KeyPolicyError::AlgorithmNotAllowed("RSA"))
        );

        for bad in ["RSA", "RSA-", "RSA-abc", "P-521", "ECDSA", "", "RSA-+2048"] {
            assert_eq!(
                KeyPolicy::from_names(&[bad.to_owned()]),
                Err(KeyPolicyError::UnknownName(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            KeyPolicy::from_names(&["RSA-1024".to_owned()]),
            Err(KeyPolicyError::UnsupportedRsaSize(1024))
        );
        assert_eq!(
            KeyPolicy::from_names(&["RSA-16384".to_owned()]),
            Err(KeyPolicyError::UnsupportedRsaSize(16384))
        );
        assert_eq!(KeyPolicy::from_names(&[]), Err(KeyPolicyError::EmptyPolicy));
    }

    #[test]
    fn compromised_keys() {
        let spki = ec_spki(&ECDSA_P256_SHA256_ASN1_SIGNING);
        let other = ec_spki(&ECDSA_P256_SHA256_ASN1_SIGNING);
        let mut keys = CompromisedKeys::new();
        assert!(keys.is_empty());
        keys.insert_spki(&spki);
        assert_eq!(keys.len(), 1);
        assert!(keys.contains_spki(&spki));
        assert!(!keys.contains_spki(&other));
        let policy = KeyPolicy::default();
        assert_eq!(
            policy.check_with(&spki, &keys),
            Err(KeyPolicyError::Compromised)
        );
        assert_eq!(policy.check_with(&other, &keys), Ok("P-256".to_owned()));

        let hex: String = spki_sha256(&other)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let text = format!("# blocklist\n\n  {hex}  \n");
        let loaded = CompromisedKeys::from_hex_lines(&text).unwrap();
        assert!(loaded.contains_spki(&other));
        assert_eq!(format!("{loaded:?}"), "CompromisedKeys(1 keys)");
        assert_eq!(
            CompromisedKeys::from_hex_lines("abc\n"),
            Err(KeyPolicyError::BadBlocklistLine {
                line: 1,
                reason: "expected 64 hex digits (a SHA-256)"
            })
        );
        let bad = format!("{hex}\n{}zz\n", &hex[..62]);
        assert_eq!(
            CompromisedKeys::from_hex_lines(&bad),
            Err(KeyPolicyError::BadBlocklistLine {
                line: 2,
                reason: "not a hex digit"
            })
        );
        // A multi-byte character must not cause a slicing panic.
        assert!(CompromisedKeys::from_hex_lines(&"é".repeat(32)).is_err());
    }

    /// Hand-built SPKIs: exponent, parameters, point forms, unknown algorithms.
    #[test]
    fn malformed_and_refused_keys() {
        use crate::writer::{self, tag};
        fn rsa_spki_with(modulus: &[u8], exponent: &[u8], params: Option<&[u8]>) -> Vec<u8> {
            let mut key = Vec::new();
            writer::nested(&mut key, tag::SEQUENCE, |k| {
                writer::tlv(k, tag::INTEGER, modulus);
                writer::tlv(k, tag::INTEGER, exponent);
            });
            let mut out = Vec::new();
            writer::nested(&mut out, tag::SEQUENCE, |o| {
                writer::nested(o, tag::SEQUENCE, |a| {
                    writer::oid(a, &RSA_ENCRYPTION);
                    if let Some(p) = params {
                        a.extend_from_slice(p);
                    }
                });
                let mut bits = vec![0u8];
                bits.extend_from_slice(&key);
                writer::tlv(o, tag::BIT_STRING, &bits);
            });
            out
        }
        let mut modulus = vec![0x00, 0xc1];
        modulus.extend(std::iter::repeat_n(0x5a, 255));
        modulus.push(0x01);
        let policy = KeyPolicy::default();
        let null: &[u8] = &[0x05, 0x00];
        assert_eq!(
            policy.check(&rsa_spki_with(&modulus, &[0x01, 0x00, 0x01], Some(null))),
            Ok("RSA-2056".to_owned())
        );
        assert_eq!(
            policy.check(&rsa_spki_with(&modulus, &[0x03], Some(null))),
            Err(KeyPolicyError::RsaExponent("3".to_owned()))
        );
        assert_eq!(
            policy.check(&rsa_spki_with(&modulus, &[0x7f; 9], Some(null))),
            Err(KeyPolicyError::RsaExponent(
                "larger than 64 bits".to_owned()
            ))
        );
        assert!(matches!(
            policy.check(&rsa_spki_with(
                &modulus,
                &[0x01, 0x00, 0x01],
                Some(&[0x02, 0x01, 0x00])
            )),
            Err(KeyPolicyError::InvalidKey(_))
        ));
        // Negative modulus (no leading zero) and even modulus.
        assert!(matches!(
            policy.check(&rsa_spki_with(
                &modulus[1..],
                &[0x01, 0x00, 0x01],
                Some(null)
            )),
            Err(KeyPolicyError::InvalidKey(_))
        ));
        let mut even = modulus.clone();
        if let Some(last) = even.last_mut() {
            *last = 0x02;
        }
        assert_eq!(
            policy.check(&rsa_spki_with(&even, &[0x01, 0x00, 0x01], Some(null))),
            Err(KeyPolicyError::InvalidKey("RSA modulus is even".to_owned()))
        );

        // Compressed P-256 point: refused.
        let spki = ec_spki(&ECDSA_P256_SHA256_ASN1_SIGNING);
        let mut compressed = spki.clone();
        let point_at = compressed.len() - 65;
        compressed[point_at] = 0x02;
        assert!(matches!(
            policy.check(&compressed),
            Err(KeyPolicyError::InvalidKey(m)) if m.contains("uncompressed")
        ));
        // A point not on the curve.
        let mut off_curve = spki.clone();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 0x01;
        assert!(matches!(
            policy.check(&off_curve),
            Err(KeyPolicyError::InvalidKey(_))
        ));
        // Garbage and trailing data.
        assert!(matches!(policy.check(b""), Err(KeyPolicyError::Der(_))));
        assert!(matches!(
            policy.check(b"\x30\x00"),
            Err(KeyPolicyError::Der(_))
        ));
        let mut trailing = spki.clone();
        trailing.push(0);
        assert!(matches!(
            policy.check(&trailing),
            Err(KeyPolicyError::Der(_))
        ));
        // Unknown algorithm.
        let mut unknown = spki.clone();
        // id-ecPublicKey 1.2.840.10045.2.1 -> 1.2.840.10045.2.2
        let oid_end = unknown
            .windows(7)
            .position(|w| w == [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01])
            .unwrap()
            + 6;
        unknown[oid_end] = 0x02;
        assert_eq!(
            policy.check(&unknown),
            Err(KeyPolicyError::UnsupportedAlgorithm(
                "1.2.840.10045.2.2".to_owned()
            ))
        );
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0x7f, 0xff]), 15);
    }
}

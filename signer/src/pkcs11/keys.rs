//! Key objects on the token: recognising their algorithm, building the public key's
//! `SubjectPublicKeyInfo`, encoding signatures, generating and listing keys.

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Decode, Encode, Sequence};

use super::module::{FindError, KeySelector};
use crate::{KeyAlgorithm, SignError};

/// DER `OBJECT IDENTIFIER` encodings of the curves (as in `CKA_EC_PARAMS`).
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// `PrintableString "edwards25519"`, the PKCS#11 3.0 alternative for Ed25519 keys.
const ED25519_PRINTABLE: &[u8] = b"\x13\x0cedwards25519";

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// What kind of key a token object is, with what signing needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// ECDSA on P-256 or P-384.
    Ec(KeyAlgorithm),
    /// RSA; the modulus length in bytes.
    Rsa(usize),
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// The algorithm name Revoca uses, when it is one Revoca signs with.
    pub(crate) fn algorithm(self) -> Option<KeyAlgorithm> {
        match self {
            Self::Ec(alg) => Some(alg),
            Self::Rsa(256) => Some(KeyAlgorithm::Rsa2048),
            Self::Rsa(384) => Some(KeyAlgorithm::Rsa3072),
            Self::Rsa(512) => Some(KeyAlgorithm::Rsa4096),
            Self::Rsa(_) => None,
            Self::Ed25519 => Some(KeyAlgorithm::Ed25519),
        }
    }

    /// The length of one ECDSA scalar (`r` or `s`), in bytes.
    pub(crate) fn ec_scalar_len(self) -> Option<usize> {
        match self {
            Self::Ec(KeyAlgorithm::EcdsaP384) => Some(48),
            Self::Ec(_) => Some(32),
            _ => None,
        }
    }
}

/// A private key found on the token, with its public half as an SPKI.
#[derive(Clone, Debug)]
pub(crate) struct TokenKey {
    pub(crate) kind: KeyKind,
    pub(crate) label: String,
    pub(crate) id: Vec<u8>,
    pub(crate) spki_der: Vec<u8>,
}

fn attr_bytes(attrs: &[Attribute], wanted: AttributeType) -> Option<&[u8]> {
    attrs.iter().find_map(|a| match (a, wanted) {
        (Attribute::Label(v), AttributeType::Label)
        | (Attribute::Id(v), AttributeType::Id)
        | (Attribute::EcParams(v), AttributeType::EcParams)
        | (Attribute::EcPoint(v), AttributeType::EcPoint)
        | (Attribute::Modulus(v), AttributeType::Modulus)
        | (Attribute::PublicExponent(v), AttributeType::PublicExponent) => Some(v.as_slice()),
        _ => None,
    })
}

fn unsupported(what: impl std::fmt::Display) -> FindError {
    FindError::Config(SignError::Unsupported(what.to_string()))
}

/// Reads the private key `handle` and its public key object, recognises the algorithm and
/// builds the SPKI.
pub(crate) fn read_key(
    session: &Session,
    handle: ObjectHandle,
    token: &str,
) -> Result<TokenKey, FindError> {
    let attrs = session.get_attributes(
        handle,
        &[
            AttributeType::KeyType,
            AttributeType::Label,
            AttributeType::Id,
            AttributeType::EcParams,
            AttributeType::Modulus,
            AttributeType::PublicExponent,
        ],
    )?;
    let key_type = attrs.iter().find_map(|a| match a {
        Attribute::KeyType(t) => Some(*t),
        _ => None,
    });
    let label = String::from_utf8_lossy(attr_bytes(&attrs, AttributeType::Label).unwrap_or(&[]))
        .into_owned();
    let id = attr_bytes(&attrs, AttributeType::Id)
        .unwrap_or(&[])
        .to_vec();
    let selector = KeySelector {
        label: (!label.is_empty()).then(|| label.clone()),
        id: (!id.is_empty()).then(|| id.clone()),
    };
    let describe = || format!("key {selector} on token {token:?}");

    // The public key object with the same id (or label): CKA_EC_POINT only lives there.
    let public = || -> Result<Vec<Attribute>, FindError> {
        let handle = super::module::find_object(session, ObjectClass::PUBLIC_KEY, &selector, token)
            .map_err(|e| match e {
                FindError::Config(_) => unsupported(format!(
                    "{}: no matching public key object (needed for its public point)",
                    describe()
                )),
                other => other,
            })?;
        Ok(session.get_attributes(
            handle,
            &[
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )?)
    };

    let (kind, spki_der) = match key_type {
        Some(t) if t == KeyType::RSA => {
            let (modulus, exponent) = match (
                attr_bytes(&attrs, AttributeType::Modulus),
                attr_bytes(&attrs, AttributeType::PublicExponent),
            ) {
                (Some(n), Some(e)) if !n.is_empty() && !e.is_empty() => (n.to_vec(), e.to_vec()),
                _ => {
                    let pub_attrs = public()?;
                    match (
                        attr_bytes(&pub_attrs, AttributeType::Modulus),
                        attr_bytes(&pub_attrs, AttributeType::PublicExponent),
                    ) {
                        (Some(n), Some(e)) => (n.to_vec(), e.to_vec()),
                        _ => {
                            return Err(unsupported(format!(
                                "{}: RSA key without CKA_MODULUS/CKA_PUBLIC_EXPONENT",
                                describe()
                            )));
                        }
                    }
                }
            };
            let spki = rsa_spki(&modulus, &exponent)
                .map_err(|e| unsupported(format!("{}: bad RSA public key: {e}", describe())))?;
            let bytes = strip_zeros(&modulus).len();
            (KeyKind::Rsa(bytes), spki)
        }
        Some(t) if t == KeyType::EC || t == KeyType::EC_EDWARDS => {
            let pub_attrs = public()?;
            let params = attr_bytes(&attrs, AttributeType::EcParams)
                .or_else(|| attr_bytes(&pub_attrs, AttributeType::EcParams))
                .unwrap_or(&[]);
            let kind = match params {
                P256_PARAMS => KeyKind::Ec(KeyAlgorithm::EcdsaP256),
                P384_PARAMS => KeyKind::Ec(KeyAlgorithm::EcdsaP384),
                ED25519_PARAMS | ED25519_PRINTABLE => KeyKind::Ed25519,
                other => {
                    return Err(unsupported(format!(
                        "{}: curve {} (Revoca signs with P-256, P-384 and Ed25519)",
                        describe(),
                        hex::encode(other)
                    )));
                }
            };
            let point = attr_bytes(&pub_attrs, AttributeType::EcPoint).ok_or_else(|| {
                unsupported(format!("{}: public key has no CKA_EC_POINT", describe()))
            })?;
            let spki = ec_spki(kind, point)
                .map_err(|reason| unsupported(format!("{}: {reason}", describe())))?;
            (kind, spki)
        }
        other => {
            return Err(unsupported(format!(
                "{}: key type {} (Revoca signs with EC, RSA and Ed25519 keys)",
                describe(),
                other.map_or_else(|| "unknown".to_owned(), |t| t.to_string())
            )));
        }
    };
    Ok(TokenKey {
        kind,
        label,
        id,
        spki_der,
    })
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

fn spki(
    algorithm: ObjectIdentifier,
    parameters: Option<AnyRef<'_>>,
    key: &[u8],
) -> der::Result<Vec<u8>> {
    spki::SubjectPublicKeyInfo::<AnyRef<'_>, BitStringRef<'_>> {
        algorithm: spki::AlgorithmIdentifier {
            oid: algorithm,
            parameters,
        },
        subject_public_key: BitStringRef::from_bytes(key)?,
    }
    .to_der()
}

/// The SPKI of an RSA public key (rsaEncryption with NULL parameters, as OpenSSL writes it).
pub(crate) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> der::Result<Vec<u8>> {
    let key = RsaPublicKey {
        modulus: UintRef::new(modulus)?,
        public_exponent: UintRef::new(exponent)?,
    }
    .to_der()?;
    spki(OID_RSA_ENCRYPTION, Some(AnyRef::NULL), &key)
}

/// The SPKI of an EC or Ed25519 public key from `CKA_EC_POINT`, which is normally a DER
/// `OCTET STRING` around the point but is raw on some tokens.
pub(crate) fn ec_spki(kind: KeyKind, ec_point: &[u8]) -> Result<Vec<u8>, String> {
    let raw_len = match kind {
        KeyKind::Ec(KeyAlgorithm::EcdsaP384) => 97,
        KeyKind::Ec(_) => 65,
        KeyKind::Ed25519 => 32,
        KeyKind::Rsa(_) => return Err("not an EC key".to_owned()),
    };
    let point = if ec_point.len() == raw_len {
        ec_point
    } else {
        OctetStringRef::from_der(ec_point)
            .map_err(|e| format!("CKA_EC_POINT is neither a raw point nor an OCTET STRING: {e}"))?
            .as_bytes()
    };
    if point.len() != raw_len || (kind != KeyKind::Ed25519 && point[0] != 0x04) {
        return Err(format!(
            "CKA_EC_POINT holds a {}-byte point; expected an uncompressed {raw_len}-byte point",
            point.len()
        ));
    }
    let result = match kind {
        KeyKind::Ed25519 => spki(OID_ED25519, None, point),
        _ => {
            let curve = ObjectIdentifier::from_der(match kind {
                KeyKind::Ec(KeyAlgorithm::EcdsaP384) => P384_PARAMS,
                _ => P256_PARAMS,
            })
            .map_err(|e| e.to_string())?;
            spki(OID_EC_PUBLIC_KEY, Some(AnyRef::from(&curve)), point)
        }
    };
    result.map_err(|e| e.to_string())
}

/// DER-encodes a raw PKCS#11 ECDSA signature (`r || s`, each `scalar_len` bytes) as an
/// `ECDSA-Sig-Value`.
pub(crate) fn ecdsa_raw_to_der(raw: &[u8], scalar_len: usize) -> Result<Vec<u8>, String> {
    if raw.len() != 2 * scalar_len {
        return Err(format!(
            "token returned a {}-byte ECDSA signature; expected {}",
            raw.len(),
            2 * scalar_len
        ));
    }
    let (r, s) = raw.split_at(scalar_len);
    EcdsaSigValue {
        r: UintRef::new(r).map_err(|e| e.to_string())?,
        s: UintRef::new(s).map_err(|e| e.to_string())?,
    }
    .to_der()
    .map_err(|e| e.to_string())
}

/// The DER `DigestInfo` prefix for SHA-256 (RFC 8017 §9.2 note 1).
pub(crate) const SHA256_DIGEST_INFO_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A key on a token, as listed by [`list_keys`](super::list_keys) or created by
/// [`generate_key`](super::generate_key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// The algorithm, when Revoca can sign with it.
    pub algorithm: Option<KeyAlgorithm>,
    /// A description of keys Revoca cannot use (`None` when `algorithm` is set).
    pub unsupported: Option<String>,
    /// The public key's DER `SubjectPublicKeyInfo` (empty when unsupported).
    pub spki_der: Vec<u8>,
}

impl KeyInfo {
    /// `CKA_ID` in lower-case hex (what `--key-id` takes).
    pub fn id_hex(&self) -> String {
        hex::encode(&self.id)
    }

    /// The SHA-256 of the SPKI DER in lower-case hex (empty when unsupported); equal to
    /// `openssl pkey -pubin -outform DER | sha256sum`.
    pub fn spki_sha256_hex(&self) -> String {
        if self.spki_der.is_empty() {
            return String::new();
        }
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &self.spki_der,
        ))
    }
}

impl From<TokenKey> for KeyInfo {
    fn from(key: TokenKey) -> Self {
        Self {
            label: key.label,
            id: key.id,
            algorithm: key.kind.algorithm(),
            unsupported: match key.kind.algorithm() {
                Some(_) => None,
                None => Some(format!(
                    "RSA-{}",
                    8 * match key.kind {
                        KeyKind::Rsa(n) => n,
                        _ => 0,
                    }
                )),
            },
            spki_der: key.spki_der,
        }
    }
}

/// Generates a key pair on the token: the private half is a token object, private,
/// sensitive, never extractable, and can only sign; the public half can only verify.
pub(crate) fn generate(
    session: &Session,
    label: &str,
    id: &[u8],
    algorithm: KeyAlgorithm,
) -> Result<ObjectHandle, CkError> {
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    let mechanism = match algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
            let params = if algorithm == KeyAlgorithm::EcdsaP256 {
                P256_PARAMS
            } else {
                P384_PARAMS
            };
            public.push(Attribute::EcParams(params.to_vec()));
            Mechanism::EccKeyPairGen
        }
        KeyAlgorithm::Ed25519 => {
            public.push(Attribute::EcParams(ED25519_PARAMS.to_vec()));
            Mechanism::EccEdwardsKeyPairGen
        }
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            let bits: u64 = match algorithm {
                KeyAlgorithm::Rsa2048 => 2048,
                KeyAlgorithm::Rsa3072 => 3072,
                _ => 4096,
            };
            public.push(Attribute::ModulusBits(Ulong::from(bits)));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
            Mechanism::RsaPkcsKeyPairGen
        }
    };
    let (_, private) = session.generate_key_pair(&mechanism, &public, &private)?;
    Ok(private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_der_encoding() {
        // Leading zero bytes are stripped; a high bit gets a 0x00 pad.
        let mut raw = vec![0u8; 64];
        raw[1] = 0x01;
        raw[32] = 0x80;
        let der = ecdsa_raw_to_der(&raw, 32).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..4], &[0x02, 31]);
        let s_at = 4 + 31;
        assert_eq!(&der[s_at..s_at + 3], &[0x02, 33, 0x00]);
        assert!(ecdsa_raw_to_der(&raw[..63], 32).is_err());
    }

    #[test]
    fn spki_building_matches_aws_lc() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let expected = pair.public_key().as_der().unwrap().as_ref().to_vec();
        // Raw and OCTET STRING-wrapped CKA_EC_POINT give the same SPKI.
        let wrapped = OctetStringRef::new(&point).unwrap().to_der().unwrap();
        assert_eq!(
            ec_spki(KeyKind::Ec(KeyAlgorithm::EcdsaP256), &point).unwrap(),
            expected
        );
        assert_eq!(
            ec_spki(KeyKind::Ec(KeyAlgorithm::EcdsaP256), &wrapped).unwrap(),
            expected
        );
        assert!(ec_spki(KeyKind::Ec(KeyAlgorithm::EcdsaP384), &wrapped).is_err());
    }
}

//! Subject public keys: key identifiers (RFC 5280 4.2.1.2, method 1) and key kinds.

use const_oid::ObjectIdentifier;
use der::Decode;
use spki::SubjectPublicKeyInfoRef;

/// The length of a method-1 key identifier (a SHA-1 digest).
pub const KEY_IDENTIFIER_LEN: usize = 20;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Why a `SubjectPublicKeyInfo` was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SpkiError {
    /// The bytes are not a DER `SubjectPublicKeyInfo`.
    #[error("invalid SubjectPublicKeyInfo: {0}")]
    Der(#[source] der::Error),
    /// The `subjectPublicKey` BIT STRING has unused bits (no key type Revoca knows does).
    #[error("subjectPublicKey has unused bits")]
    UnusedBits,
}

/// The family of a subject public key, as far as certificate profiles care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `rsaEncryption`.
    Rsa,
    /// `id-ecPublicKey`.
    Ec,
    /// `id-Ed25519`.
    Ed25519,
    /// Any other algorithm.
    Other,
}

/// A parsed subject public key: its kind and method-1 key identifier.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyInfo {
    pub(crate) kind: KeyKind,
    pub(crate) key_id: [u8; KEY_IDENTIFIER_LEN],
}

pub(crate) fn key_info(spki_der: &[u8]) -> Result<KeyInfo, SpkiError> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(SpkiError::Der)?;
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or(SpkiError::UnusedBits)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key);
    let mut key_id = [0u8; KEY_IDENTIFIER_LEN];
    key_id.copy_from_slice(digest.as_ref());
    let kind = match spki.algorithm.oid {
        RSA_ENCRYPTION => KeyKind::Rsa,
        EC_PUBLIC_KEY => KeyKind::Ec,
        ED25519 => KeyKind::Ed25519,
        _ => KeyKind::Other,
    };
    Ok(KeyInfo { kind, key_id })
}

/// The RFC 5280 (4.2.1.2) method-1 key identifier of a DER `SubjectPublicKeyInfo`: the
/// SHA-1 of the `subjectPublicKey` BIT STRING's value (excluding tag, length and the
/// unused-bits octet).
pub fn key_identifier(spki_der: &[u8]) -> Result<[u8; KEY_IDENTIFIER_LEN], SpkiError> {
    key_info(spki_der).map(|k| k.key_id)
}

/// The [`KeyKind`] of a DER `SubjectPublicKeyInfo`.
pub fn key_kind(spki_der: &[u8]) -> Result<KeyKind, SpkiError> {
    key_info(spki_der).map(|k| k.kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    #[test]
    fn method_one() {
        let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let spki = kp.public_key().as_der().unwrap();
        let raw = kp.public_key().as_ref().to_vec();
        let expected =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &raw);
        assert_eq!(key_identifier(spki.as_ref()).unwrap(), expected.as_ref());
        assert_eq!(key_kind(spki.as_ref()).unwrap(), KeyKind::Ec);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            key_identifier(&[0x30, 0x00]),
            Err(SpkiError::Der(_))
        ));
        assert!(key_identifier(b"not der").is_err());
    }
}

//! Software keys held in process memory, signing with aws-lc-rs.

use std::path::Path;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair,
};

use crate::{SignError, SignatureScheme, Signer};

/// The kinds of key Revoca can generate and load in software.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA over NIST P-256.
    EcdsaP256,
    /// ECDSA over NIST P-384.
    EcdsaP384,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// The name used in configuration and in `manifest.json` (`P-256`, `RSA-2048`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "P-256",
            Self::EcdsaP384 => "P-384",
            Self::Rsa2048 => "RSA-2048",
            Self::Rsa3072 => "RSA-3072",
            Self::Rsa4096 => "RSA-4096",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// Parses a name as produced by [`KeyAlgorithm::name`] (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::EcdsaP256,
            Self::EcdsaP384,
            Self::Rsa2048,
            Self::Rsa3072,
            Self::Rsa4096,
            Self::Ed25519,
        ]
        .into_iter()
        .find(|alg| alg.name().eq_ignore_ascii_case(name))
    }
}

enum KeyPairKind {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key in process memory. Used for the demo, for tests and for operators who
/// accept software keys; production CAs use the PKCS#11 backend.
pub struct SoftwareKey {
    pair: KeyPairKind,
    scheme: SignatureScheme,
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
    label: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SoftwareKey")
            .field("label", &self.label)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn rejected(what: &str, reason: impl std::fmt::Display) -> SignError {
    SignError::KeyRejected {
        what: what.to_owned(),
        reason: reason.to_string(),
    }
}

impl SoftwareKey {
    /// Generates a fresh key and returns its PKCS#8 (v1) DER encoding, ready to be stored.
    pub fn generate_pkcs8(algorithm: KeyAlgorithm) -> Result<Vec<u8>, SignError> {
        let fail = |e: aws_lc_rs::error::Unspecified| rejected(algorithm.name(), e);
        let der = match algorithm {
            KeyAlgorithm::EcdsaP256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(fail)?
                .as_ref()
                .to_vec(),
            KeyAlgorithm::EcdsaP384 => EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(fail)?
                .as_ref()
                .to_vec(),
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let size = match algorithm {
                    KeyAlgorithm::Rsa2048 => KeySize::Rsa2048,
                    KeyAlgorithm::Rsa3072 => KeySize::Rsa3072,
                    _ => KeySize::Rsa4096,
                };
                let pair = RsaKeyPair::generate(size).map_err(fail)?;
                let der: Pkcs8V1Der<'static> = pair.as_der().map_err(fail)?;
                der.as_ref().to_vec()
            }
            KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(fail)?
                .as_ref()
                .to_vec(),
        };
        Ok(der)
    }

    /// Loads a PKCS#8 DER private key. The algorithm is recognised from the key itself.
    pub fn from_pkcs8_der(der: &[u8], label: &str) -> Result<Self, SignError> {
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der) {
            return Self::ecdsa(pair, KeyAlgorithm::EcdsaP256, label);
        }
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, der) {
            return Self::ecdsa(pair, KeyAlgorithm::EcdsaP384, label);
        }
        if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            return Self::rsa(pair, label);
        }
        match Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            Ok(pair) => {
                let spki = spki_of(pair.public_key(), label)?;
                Ok(Self::assemble(
                    KeyPairKind::Ed25519(pair),
                    SignatureScheme::Ed25519,
                    KeyAlgorithm::Ed25519,
                    spki,
                    label,
                ))
            }
            Err(_) => Err(rejected(
                label,
                "not a PKCS#8 ECDSA P-256/P-384, RSA or Ed25519 private key",
            )),
        }
    }

    /// Loads a private key from PEM text: `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY`
    /// (SEC 1) or `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(pem: &[u8], label: &str) -> Result<Self, SignError> {
        let (tag, der) = der::pem::decode_vec(pem).map_err(|e| rejected(label, e))?;
        match tag {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der, label),
            "EC PRIVATE KEY" => {
                if let Ok(pair) =
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
                {
                    return Self::ecdsa(pair, KeyAlgorithm::EcdsaP256, label);
                }
                let pair =
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_ASN1_SIGNING, &der)
                        .map_err(|e| rejected(label, e))?;
                Self::ecdsa(pair, KeyAlgorithm::EcdsaP384, label)
            }
            "RSA PRIVATE KEY" => {
                let pair = RsaKeyPair::from_der(&der).map_err(|e| rejected(label, e))?;
                Self::rsa(pair, label)
            }
            other => Err(rejected(
                label,
                format!("PEM label {other:?} is not a private key"),
            )),
        }
    }

    /// Loads a private key from a PEM file (see [`SoftwareKey::from_pem`]).
    pub fn from_pem_file(path: &Path) -> Result<Self, SignError> {
        let text = std::fs::read(path).map_err(|source| SignError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pem(&text, &path.display().to_string())
    }

    /// Switches an RSA key to RSASSA-PSS (SHA-256, salt 32). Other keys are unchanged.
    pub fn with_rsa_pss(mut self) -> Self {
        if matches!(self.pair, KeyPairKind::Rsa(_)) {
            self.scheme = SignatureScheme::RsaPssSha256;
        }
        self
    }

    /// Which kind of key this is.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn ecdsa(pair: EcdsaKeyPair, algorithm: KeyAlgorithm, label: &str) -> Result<Self, SignError> {
        let spki = spki_of(pair.public_key(), label)?;
        let scheme = match algorithm {
            KeyAlgorithm::EcdsaP384 => SignatureScheme::EcdsaP384Sha384,
            _ => SignatureScheme::EcdsaP256Sha256,
        };
        Ok(Self::assemble(
            KeyPairKind::Ecdsa(pair),
            scheme,
            algorithm,
            spki,
            label,
        ))
    }

    fn rsa(pair: RsaKeyPair, label: &str) -> Result<Self, SignError> {
        let algorithm = match pair.public_modulus_len() * 8 {
            2048 => KeyAlgorithm::Rsa2048,
            3072 => KeyAlgorithm::Rsa3072,
            4096 => KeyAlgorithm::Rsa4096,
            bits => {
                return Err(SignError::Unsupported(format!(
                    "{label}: RSA-{bits} (Revoca signs with RSA-2048, -3072 or -4096)"
                )));
            }
        };
        let spki = spki_of(pair.public_key(), label)?;
        Ok(Self::assemble(
            KeyPairKind::Rsa(pair),
            SignatureScheme::RsaPkcs1Sha256,
            algorithm,
            spki,
            label,
        ))
    }

    fn assemble(
        pair: KeyPairKind,
        scheme: SignatureScheme,
        algorithm: KeyAlgorithm,
        spki_der: Vec<u8>,
        label: &str,
    ) -> Self {
        Self {
            pair,
            scheme,
            algorithm,
            spki_der,
            label: label.to_owned(),
            rng: SystemRandom::new(),
        }
    }
}

fn spki_of<K>(public_key: &K, label: &str) -> Result<Vec<u8>, SignError>
where
    K: AsDer<PublicKeyX509Der<'static>>,
{
    public_key
        .as_der()
        .map(|der| der.as_ref().to_vec())
        .map_err(|e| rejected(label, e))
}

impl Signer for SoftwareKey {
    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let backend = |reason: String| SignError::Backend {
            label: self.label.clone(),
            reason,
        };
        match &self.pair {
            KeyPairKind::Ecdsa(pair) => pair
                .sign(&self.rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|e| backend(e.to_string())),
            KeyPairKind::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                let encoding = match self.scheme {
                    SignatureScheme::RsaPssSha256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                pair.sign(encoding, &self.rng, message, &mut sig)
                    .map_err(|e| backend(e.to_string()))?;
                Ok(sig)
            }
            KeyPairKind::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// ECDSA and RSA keys sign the digest directly (aws-lc-rs `sign_digest`); the digest
    /// must be SHA-256 (P-256, RSA) or SHA-384 (P-384). Ed25519 is a pure scheme and refuses
    /// with [`SignError::PrehashUnsupported`].
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        let backend = |reason: String| SignError::Backend {
            label: self.label.clone(),
            reason,
        };
        let algorithm = match self.scheme {
            SignatureScheme::EcdsaP256Sha256
            | SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPssSha256 => &aws_lc_rs::digest::SHA256,
            SignatureScheme::EcdsaP384Sha384 => &aws_lc_rs::digest::SHA384,
            SignatureScheme::Ed25519 => {
                return Err(SignError::PrehashUnsupported {
                    label: self.label.clone(),
                });
            }
        };
        let digest =
            aws_lc_rs::digest::Digest::import_less_safe(digest, algorithm).map_err(|_| {
                backend(format!(
                    "digest is {} bytes; {} needs {}",
                    digest.len(),
                    self.scheme.name(),
                    algorithm.output_len()
                ))
            })?;
        match &self.pair {
            KeyPairKind::Ecdsa(pair) => pair
                .sign_digest(&digest)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|e| backend(e.to_string())),
            KeyPairKind::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                let encoding = match self.scheme {
                    SignatureScheme::RsaPssSha256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                pair.sign_digest(encoding, &digest, &mut sig)
                    .map_err(|e| backend(e.to_string()))?;
                Ok(sig)
            }
            KeyPairKind::Ed25519(_) => Err(SignError::PrehashUnsupported {
                label: self.label.clone(),
            }),
        }
    }

    fn label(&self) -> &str {
        &self.label
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256,
        RSA_PSS_2048_8192_SHA256, UnparsedPublicKey, VerificationAlgorithm,
    };

    use super::*;

    /// The raw public key (the SPKI BIT STRING contents) that aws-lc-rs verifiers take.
    fn raw_public_key(spki: &[u8]) -> Vec<u8> {
        use der::Decode;
        let info = spki::SubjectPublicKeyInfoRef::from_der(spki).expect("spki parses");
        info.subject_public_key.raw_bytes().to_vec()
    }

    fn round_trip(alg: KeyAlgorithm, verify: &'static dyn VerificationAlgorithm) {
        let pkcs8 = SoftwareKey::generate_pkcs8(alg).expect("generate");
        let key = SoftwareKey::from_pkcs8_der(&pkcs8, "test").expect("load");
        assert_eq!(key.algorithm(), alg);
        let sig = key.sign(b"to be signed").expect("sign");
        let public = raw_public_key(key.public_key_spki_der());
        UnparsedPublicKey::new(verify, &public)
            .verify(b"to be signed", &sig)
            .expect("signature verifies");
        assert!(
            UnparsedPublicKey::new(verify, &public)
                .verify(b"something else", &sig)
                .is_err()
        );
    }

    #[test]
    fn every_algorithm_signs_and_verifies() {
        round_trip(KeyAlgorithm::EcdsaP256, &ECDSA_P256_SHA256_ASN1);
        round_trip(KeyAlgorithm::EcdsaP384, &ECDSA_P384_SHA384_ASN1);
        round_trip(KeyAlgorithm::Rsa2048, &RSA_PKCS1_2048_8192_SHA256);
        round_trip(KeyAlgorithm::Ed25519, &ED25519);
    }

    /// `sign_digest(H(m))` verifies as a signature over `m`, for every prehash scheme.
    #[test]
    fn digest_signing_matches_message_signing() {
        use aws_lc_rs::digest::{SHA256, SHA384, digest};
        let cases: [(KeyAlgorithm, bool, &'static dyn VerificationAlgorithm); 4] = [
            (KeyAlgorithm::EcdsaP256, false, &ECDSA_P256_SHA256_ASN1),
            (KeyAlgorithm::EcdsaP384, false, &ECDSA_P384_SHA384_ASN1),
            (KeyAlgorithm::Rsa2048, false, &RSA_PKCS1_2048_8192_SHA256),
            (KeyAlgorithm::Rsa2048, true, &RSA_PSS_2048_8192_SHA256),
        ];
        for (alg, pss, verify) in cases {
            let pkcs8 = SoftwareKey::generate_pkcs8(alg).unwrap();
            let mut key = SoftwareKey::from_pkcs8_der(&pkcs8, "prehash").unwrap();
            if pss {
                key = key.with_rsa_pss();
            }
            let hash = if alg == KeyAlgorithm::EcdsaP384 {
                &SHA384
            } else {
                &SHA256
            };
            let message = b"a very large CRL, streamed";
            let sig = key.sign_digest(digest(hash, message).as_ref()).unwrap();
            let public = raw_public_key(key.public_key_spki_der());
            UnparsedPublicKey::new(verify, &public)
                .verify(message, &sig)
                .unwrap_or_else(|_| panic!("{alg:?} pss={pss}: digest signature verifies"));
            // A digest of the wrong length is refused, not signed.
            let wrong = if hash == &SHA256 { 48 } else { 32 };
            assert!(matches!(
                key.sign_digest(&vec![0u8; wrong]),
                Err(SignError::Backend { .. })
            ));
        }
        let ed = SoftwareKey::from_pkcs8_der(
            &SoftwareKey::generate_pkcs8(KeyAlgorithm::Ed25519).unwrap(),
            "ed",
        )
        .unwrap();
        assert!(matches!(
            ed.sign_digest(&[0u8; 32]),
            Err(SignError::PrehashUnsupported { .. })
        ));
    }

    #[test]
    fn rsa_pss_scheme() {
        let pkcs8 = SoftwareKey::generate_pkcs8(KeyAlgorithm::Rsa2048).unwrap();
        let key = SoftwareKey::from_pkcs8_der(&pkcs8, "pss")
            .unwrap()
            .with_rsa_pss();
        assert_eq!(key.scheme(), SignatureScheme::RsaPssSha256);
        let sig = key.sign(b"m").unwrap();
        let public = raw_public_key(key.public_key_spki_der());
        UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, &public)
            .verify(b"m", &sig)
            .unwrap();
    }

    #[test]
    fn pem_loading_and_rejection() {
        let pkcs8 = SoftwareKey::generate_pkcs8(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &pkcs8).unwrap();
        let key = SoftwareKey::from_pem(pem.as_bytes(), "pem").unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256);

        let cert_pem =
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &pkcs8).unwrap();
        let err = SoftwareKey::from_pem(cert_pem.as_bytes(), "c").unwrap_err();
        assert!(err.to_string().contains("not a private key"), "{err}");
        assert!(SoftwareKey::from_pem(b"garbage", "g").is_err());
        assert!(SoftwareKey::from_pkcs8_der(&[0x30, 0x00], "empty").is_err());
        // Debug output never contains key material.
        assert!(!format!("{key:?}").contains("pair"));
    }
}

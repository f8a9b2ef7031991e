//! One signing interface for every signature Revoca produces (OCSP responses, CRLs,
//! certificates), with a software backend (aws-lc-rs) and a bounded signing pool.
//!
//! The crate knows nothing of OCSP or CRLs: it signs byte strings and says which
//! `AlgorithmIdentifier` describes the signature.

#![forbid(unsafe_code)]

mod error;
pub mod pkcs11;
mod pool;
mod software;

pub use error::SignError;
pub use pkcs11::{PinSource, Pkcs11Config, Pkcs11Key};
pub use pool::{PoolStats, SigningPool};
pub use software::{KeyAlgorithm, SoftwareKey};

/// The signature schemes Revoca produces. Each fixes the hash and the encoding of the
/// signature value so that the result can go straight into a DER `BIT STRING`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// ECDSA over P-256 with SHA-256; the value is a DER `ECDSA-Sig-Value`.
    EcdsaP256Sha256,
    /// ECDSA over P-384 with SHA-384; the value is a DER `ECDSA-Sig-Value`.
    EcdsaP384Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt length 32.
    RsaPssSha256,
    /// Ed25519 (pure).
    Ed25519,
}

impl SignatureScheme {
    /// The DER encoding of the `AlgorithmIdentifier` for this scheme, as it appears in
    /// certificates, CRLs and OCSP responses (RFC 5758, RFC 4055, RFC 8410).
    pub fn algorithm_identifier_der(self) -> &'static [u8] {
        match self {
            // SEQUENCE { OID ecdsa-with-SHA256 }
            Self::EcdsaP256Sha256 => &[
                0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
            ],
            // SEQUENCE { OID ecdsa-with-SHA384 }
            Self::EcdsaP384Sha384 => &[
                0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
            ],
            // SEQUENCE { OID sha256WithRSAEncryption, NULL }
            Self::RsaPkcs1Sha256 => &[
                0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
                0x00,
            ],
            // SEQUENCE { OID id-RSASSA-PSS, RSASSA-PSS-params { sha256, mgf1(sha256), 32 } }
            Self::RsaPssSha256 => &[
                0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, 0x30,
                0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20,
            ],
            // SEQUENCE { OID id-Ed25519 }
            Self::Ed25519 => &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
        }
    }

    /// A short, stable name for logs, metrics and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Self::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Self::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            Self::RsaPssSha256 => "rsa-pss-sha256",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The largest signature value this scheme can produce, in bytes (for buffer sizing).
    pub fn max_signature_len(self, modulus_bytes: usize) -> usize {
        match self {
            Self::EcdsaP256Sha256 => 72,
            Self::EcdsaP384Sha384 => 104,
            Self::RsaPkcs1Sha256 | Self::RsaPssSha256 => modulus_bytes,
            Self::Ed25519 => 64,
        }
    }
}

/// A key that can sign. Implementations must be cheap to share between threads; the
/// [`SigningPool`] bounds how many signatures run at once.
pub trait Signer: Send + Sync + 'static {
    /// The scheme every signature from this key uses.
    fn scheme(&self) -> SignatureScheme;

    /// The DER `SubjectPublicKeyInfo` of the key.
    fn public_key_spki_der(&self) -> &[u8];

    /// Signs `message` (the whole to-be-signed DER, not a digest) and returns the signature
    /// value ready for a DER `BIT STRING`: for ECDSA a DER `ECDSA-Sig-Value`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;

    /// Signs a message given only its digest, computed with the hash of [`Signer::scheme`]
    /// (SHA-256 for P-256 and both RSA schemes, SHA-384 for P-384). The result is the same
    /// kind of signature value [`Signer::sign`] returns for the message itself. Lets callers
    /// stream very large to-be-signed data (CRLs) through a hasher instead of holding it in
    /// memory. A wrong digest length is an error, never a signature.
    ///
    /// The default implementation refuses with [`SignError::PrehashUnsupported`]; pure
    /// schemes such as Ed25519 can never support it. Callers fall back to [`Signer::sign`].
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        let _ = digest;
        Err(SignError::PrehashUnsupported {
            label: self.label().to_owned(),
        })
    }

    /// A label for logs and metrics: never secret (no PIN, no key material).
    fn label(&self) -> &str;
}

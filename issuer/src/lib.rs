//! Revoca's minimal issuing core: certificate profiles, serial numbers, names and
//! certificate building.
//!
//! `revoca demo` uses it to create a demo PKI: a self-signed root
//! ([`CertificateBuilder::root_ca`]), issuing CAs ([`CertificateBuilder::issuing_ca`]),
//! delegated OCSP responders ([`CertificateBuilder::ocsp_responder`]) and end-entity TLS
//! certificates ([`CertificateBuilder::tls_server`]). Certificates are DER-encoded directly
//! and signed through [`revoca_signer::Signer`], so any backend (software, PKCS#11) works.
//!
//! ```ignore
//! let root_name = Name::parse("CN=Revoca Demo Root,O=Revoca,C=ES")?;
//! let validity = Validity::starting_at(now, 10 * 365 * 86_400)?;
//! let root = CertificateBuilder::root_ca(Serial::random()?, root_name, validity,
//!     root_key.public_key_spki_der())?.build(&root_key)?;
//! let root_info = IssuerInfo::from_certificate_der(&root)?;
//! ```

#![forbid(unsafe_code)]

mod builder;
mod csr;
mod extensions;
mod inspect;
mod key_id;
mod key_policy;
mod name;
pub mod oid;
mod pem;
mod profile;
mod serial;
mod validity;
mod writer;

#[cfg(test)]
mod tests;

pub use builder::{BuildError, CertificateBuilder, IssuerInfo, TlsServerNames};
pub use const_oid::ObjectIdentifier;
pub use csr::{
    CertificationRequest, CsrError, MAX_ATTRIBUTE_VALUES, MAX_CSR_ATTRIBUTES, MAX_CSR_DER_LEN,
    MAX_CSR_PEM_LEN, MAX_REQUESTED_EXTENSIONS, MAX_SAN_NAMES, MAX_SUBJECT_ATTRIBUTES,
};
pub use extensions::{Extension, ExtensionError, KeyUsage};
pub use extensions::{GeneralName, MAX_USER_NOTICE_CHARS, PolicyInfo, QcStatement};
pub use inspect::{
    CertError, cert_serial_magnitude, cert_spki_der, cert_subject, cert_subject_der,
    cert_subject_key_identifier,
};
pub use key_id::{KEY_IDENTIFIER_LEN, KeyKind, SpkiError, key_identifier, key_kind};
pub use key_policy::{
    CompromisedKeys, KeyPolicy, KeyPolicyError, MAX_BLOCKLIST_LINES, RSA_MAX_SUPPORTED_BITS,
    RSA_MIN_SUPPORTED_BITS, RSA_PUBLIC_EXPONENT, spki_sha256,
};
pub use name::{Name, NameError};
pub use pem::{PemError, pem_decode_all, pem_decode_first, pem_encode};
pub use profile::{
    AttributeSpec, CabfOrganizationIdentifierSpec, CrlPartition, CrlPartitionSpec,
    ExtendedKeyUsageSpec, FieldFormat, FieldSpec, IssueInput, KeyUsageSpec, PdsSpec, PolicySpec,
    Profile, ProfileError, ProfileSpec, QcStatementsSpec, SanSpec, StringEncoding,
    br_max_validity_days, builtin_profile, builtin_profiles,
};
pub use serial::{MAX_SERIAL_LEN, Serial, SerialError, random_serial};
pub use validity::{Validity, ValidityError};

//! PKCS#10 certificate requests (RFC 2986): parsing, limits and proof of possession.
//!
//! [`CertificationRequest::from_der`] accepts a request only if
//! - it is at most [`MAX_CSR_DER_LEN`] bytes of DER with nothing after it,
//! - its version is 0 (v1),
//! - its signature algorithm is one Revoca verifies (RSA PKCS#1 v1.5 or RSASSA-PSS with
//!   SHA-256/384/512, ECDSA with SHA-256/384/512 on P-256, P-384 or P-521, Ed25519; MD5 and
//!   SHA-1 are refused with [`CsrError::WeakSignatureAlgorithm`]),
//! - the signature verifies over the `CertificationRequestInfo` bytes exactly as received,
//!   with the public key the request itself carries (proof of possession), and
//! - its subject, attributes and requested extensions stay within the limits below, and the
//!   names in a requested subjectAltName are well formed.
//!
//! Whether the key is acceptable (sizes, curves, blocklists) is a separate question, answered
//! by [`KeyPolicy`](crate::KeyPolicy). Which of the requested names end up in a certificate
//! is for the RA and the certificate profile to decide; this module only reports them.
//!
//! The signature is checked over the raw `CertificationRequestInfo` slice of the input, never
//! over a re-encoding: the DER decoder sorts `SET OF` values, so re-encoding could change the
//! bytes that were signed.
//!
//! Element counts are checked on the raw encoding *before* the typed decode: the decoder
//! sorts every `SET OF` with a quadratic sort, so an unchecked 16 KiB request with thousands
//! of attribute values would cost a noticeable fraction of a second of CPU.

use std::net::IpAddr;

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, Ia5StringRef, PrintableStringRef, Utf8StringRef};
use der::{Decode, Reader, SliceReader, Tag, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::request::CertReq;

use aws_lc_rs::signature::{self as sig, RsaParameters, RsaPssSaltLength, VerificationAlgorithm};

use crate::Name;
use crate::key_policy::{
    Curve, KeyPolicyError, RSA_MAX_SUPPORTED_BITS, RSA_MIN_SUPPORTED_BITS, SubjectKey,
    parse_subject_key,
};
use crate::pem::{PemError, pem_decode_first};

/// The largest DER request accepted, in bytes.
pub const MAX_CSR_DER_LEN: usize = 16 * 1024;
/// The largest PEM (or other) text [`CertificationRequest::from_pem_or_der`] looks at.
pub const MAX_CSR_PEM_LEN: usize = 32 * 1024;
/// The most subjectAltName entries (of any kind) a request may ask for.
pub const MAX_SAN_NAMES: usize = 100;
/// The most attributes a request may carry.
pub const MAX_CSR_ATTRIBUTES: usize = 16;
/// The most values one attribute may have (`extensionRequest` must have exactly one).
pub const MAX_ATTRIBUTE_VALUES: usize = 4;
/// The most extensions an `extensionRequest` attribute may carry.
pub const MAX_REQUESTED_EXTENSIONS: usize = 32;
/// The most attribute-value pairs the subject name may have.
pub const MAX_SUBJECT_ATTRIBUTES: usize = 32;

/// `pkcs-9-at-extensionRequest` (RFC 2985).
const EXTENSION_REQUEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
/// `id-ce-subjectAltName`.
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// `id-at-commonName`.
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Signature and digest algorithms refused as weak, with their names.
const WEAK_ALGORITHMS: &[(ObjectIdentifier, &str)] = &[
    (
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.2"),
        "md2WithRSAEncryption",
    ),
    (
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.4"),
        "md5WithRSAEncryption",
    ),
    (
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5"),
        "sha1WithRSAEncryption",
    ),
    (
        ObjectIdentifier::new_unwrap("1.3.14.3.2.29"),
        "sha1WithRSASignature (OIW)",
    ),
    (
        ObjectIdentifier::new_unwrap("1.2.840.10045.4.1"),
        "ecdsa-with-SHA1",
    ),
    (
        ObjectIdentifier::new_unwrap("1.2.840.10040.4.3"),
        "dsa-with-sha1",
    ),
    (ObjectIdentifier::new_unwrap("1.3.14.3.2.26"), "SHA-1"),
    (ObjectIdentifier::new_unwrap("1.2.840.113549.2.5"), "MD5"),
];

/// RSASSA-PSS verification with the largest salt (OpenSSL's default when signing).
static RSA_PSS_SHA256_MAX_SALT: RsaParameters =
    sig::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);
/// See [`RSA_PSS_SHA256_MAX_SALT`].
static RSA_PSS_SHA384_MAX_SALT: RsaParameters =
    sig::RSA_PSS_2048_8192_SHA384.with_pss_salt_length(RsaPssSaltLength::Max);
/// See [`RSA_PSS_SHA256_MAX_SALT`].
static RSA_PSS_SHA512_MAX_SALT: RsaParameters =
    sig::RSA_PSS_2048_8192_SHA512.with_pss_salt_length(RsaPssSaltLength::Max);

/// Why a certificate request was refused.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// The input is empty.
    #[error("the certificate request is empty")]
    Empty,
    /// The input is longer than the limit.
    #[error("the certificate request is {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// The input's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input does not start like DER and is not UTF-8 text either.
    #[error(
        "the input is neither DER (it does not start with a SEQUENCE) nor PEM text (it is not UTF-8)"
    )]
    NotPemOrDer,
    /// The PEM text holds no usable `CERTIFICATE REQUEST` or `NEW CERTIFICATE REQUEST` block.
    #[error("PEM certificate request: {0}")]
    Pem(#[from] PemError),
    /// The DER is malformed (or there is data after the request).
    #[error("malformed certificate request: {0}")]
    Der(String),
    /// The version is not 0 (v1), the only one RFC 2986 defines.
    #[error("certificate request version {0} is not supported (only 0, meaning v1, is defined)")]
    UnsupportedVersion(String),
    /// The request is signed with MD5 or SHA-1.
    #[error(
        "the certificate request is signed with {0}; MD5 and SHA-1 signatures are refused (sign it with SHA-256 or stronger)"
    )]
    WeakSignatureAlgorithm(&'static str),
    /// The signature algorithm is not one Revoca verifies.
    #[error(
        "signature algorithm {0} is not supported (supported: sha256/384/512WithRSAEncryption, RSASSA-PSS with SHA-256/384/512, ecdsa-with-SHA256/384/512, Ed25519)"
    )]
    UnsupportedSignatureAlgorithm(ObjectIdentifier),
    /// The signature algorithm's parameters are malformed or not supported.
    #[error("signature algorithm parameters: {0}")]
    BadSignatureParameters(String),
    /// The signature algorithm does not fit the request's public key.
    #[error("signature algorithm {algorithm} cannot be used with a {key} key")]
    SignatureKeyMismatch {
        /// The signature algorithm's name.
        algorithm: &'static str,
        /// The key, for example `RSA-2048` or `P-256`.
        key: String,
    },
    /// The public key's algorithm or size is one whose signatures cannot be verified.
    #[error("unsupported subject public key: {0}")]
    UnsupportedKey(String),
    /// The public key is malformed.
    #[error("invalid subject public key: {0}")]
    InvalidPublicKey(String),
    /// The signature does not verify with the request's own key: no proof of possession.
    #[error(
        "proof of possession failed: the request's signature does not verify with the public key it contains"
    )]
    BadSignature,
    /// The subject name is malformed or too large.
    #[error("subject name: {0}")]
    InvalidSubject(String),
    /// Too many attributes.
    #[error("the certificate request has {count} attributes; at most {max} are accepted")]
    TooManyAttributes {
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An attribute has too many values.
    #[error("attribute {oid} has {count} values; at most {max} are accepted")]
    TooManyAttributeValues {
        /// The attribute's type.
        oid: ObjectIdentifier,
        /// How many values it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The `extensionRequest` attribute, or an extension in it, is malformed.
    #[error("extensionRequest: {0}")]
    BadExtensionRequest(String),
    /// Too many requested extensions.
    #[error("extensionRequest has {count} extensions; at most {max} are accepted")]
    TooManyExtensions {
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The requested subjectAltName has too many entries.
    #[error("subjectAltName has {count} entries; at most {max} are accepted")]
    TooManyNames {
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A dNSName entry is not a valid host name.
    #[error("invalid DNS name {name:?} in subjectAltName: {reason}")]
    InvalidDnsName {
        /// The name as requested.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An rfc822Name entry is not a valid mailbox.
    #[error("invalid email address {address:?} in subjectAltName: {reason}")]
    InvalidEmailAddress {
        /// The address as requested.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A parsed, signature-checked PKCS#10 request.
#[derive(Clone, Debug)]
pub struct CertificationRequest {
    der: Vec<u8>,
    subject: Name,
    spki_der: Vec<u8>,
    common_name: Option<String>,
    dns_names: Vec<String>,
    email_addresses: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    requested_extensions: Vec<ObjectIdentifier>,
    signature_algorithm: ObjectIdentifier,
    signature_algorithm_name: &'static str,
}

impl CertificationRequest {
    /// Parses DER, checks version 0, and verifies the self-signature with the enclosed key
    /// (proof of possession). See the module documentation for every check.
    pub fn from_der(der: &[u8]) -> Result<Self, CsrError> {
        if der.is_empty() {
            return Err(CsrError::Empty);
        }
        if der.len() > MAX_CSR_DER_LEN {
            return Err(CsrError::TooLarge {
                len: der.len(),
                max: MAX_CSR_DER_LEN,
            });
        }
        let raw = RawRequest::split(der)?;
        let request = CertReq::from_der(der).map_err(|e| CsrError::Der(e.to_string()))?;

        // Structure first: it is cheap and refuses garbage before any public-key operation.
        let common_name = last_common_name(&request.info.subject)?;
        let subject = Name::from_der(raw.subject.to_vec())
            .map_err(|e| CsrError::InvalidSubject(e.to_string()))?;
        let requested = RequestedNames::from_attributes(&request.info.attributes)?;

        let algorithm = SignatureAlgorithm::parse(&request.algorithm)?;
        let key = parse_subject_key(raw.spki).map_err(key_error)?;
        let verification = algorithm.verification_algorithm(&key)?;
        let key_bytes = match key {
            SubjectKey::Rsa { public_key, .. } | SubjectKey::Ed25519 { public_key } => public_key,
            SubjectKey::Ec { point, .. } => point,
        };
        let signature = request
            .signature
            .as_bytes()
            .ok_or_else(|| CsrError::Der("the signature BIT STRING has unused bits".to_owned()))?;
        let public_key = sig::ParsedPublicKey::new(verification, key_bytes).map_err(|e| {
            CsrError::InvalidPublicKey(format!("{} key rejected: {e}", key.label()))
        })?;
        public_key
            .verify_sig(raw.info, signature)
            .map_err(|_| CsrError::BadSignature)?;

        Ok(Self {
            der: der.to_vec(),
            subject,
            spki_der: raw.spki.to_vec(),
            common_name,
            dns_names: requested.dns_names,
            email_addresses: requested.email_addresses,
            ip_addresses: requested.ip_addresses,
            requested_extensions: requested.extensions,
            signature_algorithm: request.algorithm.oid,
            signature_algorithm_name: algorithm.name(),
        })
    }

    /// Accepts `-----BEGIN CERTIFICATE REQUEST-----` (and `NEW CERTIFICATE REQUEST`) PEM, or
    /// DER bytes. Input starting with a SEQUENCE tag (0x30) is taken as DER; anything else
    /// must be UTF-8 text of at most [`MAX_CSR_PEM_LEN`] bytes holding a PEM block (text
    /// around the block is ignored; the first block is used).
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, CsrError> {
        if bytes.first() == Some(&0x30) {
            return Self::from_der(bytes);
        }
        if bytes.len() > MAX_CSR_PEM_LEN {
            return Err(CsrError::TooLarge {
                len: bytes.len(),
                max: MAX_CSR_PEM_LEN,
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(CsrError::Empty);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| CsrError::NotPemOrDer)?;
        const LABELS: [&str; 2] = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];
        let first = LABELS
            .iter()
            .filter_map(|label| {
                text.find(&format!("-----BEGIN {label}-----"))
                    .map(|at| (at, *label))
            })
            .min_by_key(|(at, _)| *at);
        let der = match first {
            Some((_, label)) => pem_decode_first(label, text)?,
            None => {
                return Err(CsrError::Pem(PemError::NotFound(
                    "CERTIFICATE REQUEST".to_owned(),
                )));
            }
        };
        Self::from_der(&der)
    }

    /// The subject name, as DER exactly as in the request.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The `SubjectPublicKeyInfo` DER exactly as in the request.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The value of the subject's last commonName whose type is UTF8String, PrintableString
    /// or IA5String, if any.
    pub fn common_name(&self) -> Option<String> {
        self.common_name.clone()
    }

    /// The subjectAltName dNSName entries of the `extensionRequest` attribute, lower-cased,
    /// validated as host names (a wildcard only as the whole left-most label, followed by at
    /// least two labels) and without duplicates, in request order.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The subjectAltName rfc822Name entries of the `extensionRequest` attribute, with the
    /// domain part lower-cased, validated and without duplicates, in request order.
    pub fn email_addresses(&self) -> &[String] {
        &self.email_addresses
    }

    /// The subjectAltName iPAddress entries of the `extensionRequest` attribute, without
    /// duplicates, in request order.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.ip_addresses
    }

    /// The OIDs of every extension in the `extensionRequest` attribute, in request order.
    /// Other subjectAltName forms (URIs, otherName, ...) and other extensions are not
    /// interpreted; the RA decides what a certificate holds.
    pub fn requested_extensions(&self) -> &[ObjectIdentifier] {
        &self.requested_extensions
    }

    /// The OID of the algorithm the request is signed with.
    pub fn signature_algorithm(&self) -> ObjectIdentifier {
        self.signature_algorithm
    }

    /// The name of the algorithm the request is signed with, for logs, for example
    /// `"ecdsa-with-SHA256"` or `"RSASSA-PSS (SHA-256)"`.
    pub fn signature_algorithm_name(&self) -> &'static str {
        self.signature_algorithm_name
    }

    /// The whole request, DER-encoded exactly as received (for an audit log).
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }
}

/// Converts a key parsing error into the request's error.
fn key_error(e: KeyPolicyError) -> CsrError {
    match e {
        KeyPolicyError::UnsupportedAlgorithm(_) => CsrError::UnsupportedKey(e.to_string()),
        other => CsrError::InvalidPublicKey(other.to_string()),
    }
}

/// The byte slices of a request that must be used exactly as received.
struct RawRequest<'a> {
    /// The whole `CertificationRequestInfo` TLV: what the signature covers.
    info: &'a [u8],
    /// The subject `Name` TLV.
    subject: &'a [u8],
    /// The `SubjectPublicKeyInfo` TLV.
    spki: &'a [u8],
}

impl<'a> RawRequest<'a> {
    /// Splits the outer structure and checks the version, so that a request of another
    /// version gets [`CsrError::UnsupportedVersion`] rather than a decoding error.
    fn split(der: &'a [u8]) -> Result<Self, CsrError> {
        let malformed = |e: der::Error| CsrError::Der(e.to_string());
        let mut reader = SliceReader::new(der).map_err(malformed)?;
        let info = reader
            .sequence(|outer| {
                let info = outer.tlv_bytes()?;
                outer.tlv_bytes()?; // signatureAlgorithm
                outer.tlv_bytes()?; // signature
                Ok(info)
            })
            .map_err(malformed)?;
        reader.finish(()).map_err(malformed)?;

        let mut reader = SliceReader::new(info).map_err(malformed)?;
        let (version, subject, spki, attributes) = reader
            .sequence(|fields| {
                let version = AnyRef::decode(fields)?;
                let subject = fields.tlv_bytes()?;
                let spki = fields.tlv_bytes()?;
                let attributes = AnyRef::decode(fields)?;
                Ok((version, subject, spki, attributes))
            })
            .map_err(malformed)?;
        reader.finish(()).map_err(malformed)?;

        if version.tag() != Tag::Integer {
            return Err(CsrError::Der(format!(
                "version is a {} instead of an INTEGER",
                version.tag()
            )));
        }
        if version.value() != [0] {
            let shown = match version.decode_as::<i64>() {
                Ok(v) => v.to_string(),
                Err(_) => "out of range".to_owned(),
            };
            return Err(CsrError::UnsupportedVersion(shown));
        }
        check_subject_size(subject)?;
        check_attribute_counts(attributes)?;
        Ok(Self {
            info,
            subject,
            spki,
        })
    }
}

/// The number of TLV elements in `content` (the value of a SET or SEQUENCE).
fn count_elements(content: &[u8]) -> der::Result<usize> {
    let mut reader = SliceReader::new(content)?;
    let mut count = 0usize;
    while !reader.is_finished() {
        reader.tlv_bytes()?;
        count += 1;
    }
    Ok(count)
}

/// Refuses a subject with more than [`MAX_SUBJECT_ATTRIBUTES`] attribute-value pairs, from
/// the raw encoding.
fn check_subject_size(subject: &[u8]) -> Result<(), CsrError> {
    let malformed = |e: der::Error| CsrError::InvalidSubject(e.to_string());
    let mut reader = SliceReader::new(subject).map_err(malformed)?;
    let total = reader
        .sequence(|rdns| {
            let mut total = 0usize;
            while !rdns.is_finished() {
                let rdn = AnyRef::decode(rdns)?;
                total = total.saturating_add(count_elements(rdn.value())?);
            }
            Ok(total)
        })
        .map_err(malformed)?;
    if total > MAX_SUBJECT_ATTRIBUTES {
        return Err(CsrError::InvalidSubject(format!(
            "{total} attributes; at most {MAX_SUBJECT_ATTRIBUTES} are accepted"
        )));
    }
    Ok(())
}

/// Refuses more than [`MAX_CSR_ATTRIBUTES`] attributes or more than [`MAX_ATTRIBUTE_VALUES`]
/// values in one, from the raw `[0]` field.
fn check_attribute_counts(attributes: AnyRef<'_>) -> Result<(), CsrError> {
    let malformed = |e: der::Error| CsrError::Der(format!("attributes: {e}"));
    let count = count_elements(attributes.value()).map_err(malformed)?;
    if count > MAX_CSR_ATTRIBUTES {
        return Err(CsrError::TooManyAttributes {
            count,
            max: MAX_CSR_ATTRIBUTES,
        });
    }
    let mut reader = SliceReader::new(attributes.value()).map_err(malformed)?;
    while !reader.is_finished() {
        let (oid, values) = reader
            .sequence(|attribute| {
                let oid = ObjectIdentifier::decode(attribute)?;
                let values = AnyRef::decode(attribute)?;
                Ok((oid, count_elements(values.value())?))
            })
            .map_err(malformed)?;
        if values > MAX_ATTRIBUTE_VALUES {
            return Err(CsrError::TooManyAttributeValues {
                oid,
                count: values,
                max: MAX_ATTRIBUTE_VALUES,
            });
        }
    }
    Ok(())
}

/// The value of the last commonName of a supported string type.
fn last_common_name(subject: &x509_cert::name::Name) -> Result<Option<String>, CsrError> {
    let mut found = None;
    for atv in subject.0.iter().flat_map(|rdn| rdn.0.iter()) {
        if atv.oid != COMMON_NAME {
            continue;
        }
        let value = &atv.value;
        let bad = |kind: &str, e: der::Error| {
            CsrError::InvalidSubject(format!("commonName is not a valid {kind}: {e}"))
        };
        let text = match value.tag() {
            Tag::Utf8String => value
                .decode_as::<Utf8StringRef<'_>>()
                .map_err(|e| bad("UTF8String", e))?
                .as_str()
                .to_owned(),
            Tag::PrintableString => value
                .decode_as::<PrintableStringRef<'_>>()
                .map_err(|e| bad("PrintableString", e))?
                .as_str()
                .to_owned(),
            Tag::Ia5String => value
                .decode_as::<Ia5StringRef<'_>>()
                .map_err(|e| bad("IA5String", e))?
                .as_str()
                .to_owned(),
            _ => continue,
        };
        found = Some(text);
    }
    Ok(found)
}

/// What the `extensionRequest` attribute asks for.
#[derive(Default)]
struct RequestedNames {
    dns_names: Vec<String>,
    email_addresses: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    extensions: Vec<ObjectIdentifier>,
}

impl RequestedNames {
    fn from_attributes(attributes: &x509_cert::attr::Attributes) -> Result<Self, CsrError> {
        if attributes.len() > MAX_CSR_ATTRIBUTES {
            return Err(CsrError::TooManyAttributes {
                count: attributes.len(),
                max: MAX_CSR_ATTRIBUTES,
            });
        }
        let mut requests = attributes.iter().filter(|a| a.oid == EXTENSION_REQUEST);
        let Some(attribute) = requests.next() else {
            return Ok(Self::default());
        };
        if requests.next().is_some() {
            return Err(CsrError::BadExtensionRequest(
                "the request has more than one extensionRequest attribute".to_owned(),
            ));
        }
        let mut values = attribute.values.iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(CsrError::BadExtensionRequest(format!(
                "the attribute has {} values; exactly one is required",
                attribute.values.len()
            )));
        };
        let extensions: Vec<Extension> = value
            .decode_as()
            .map_err(|e| CsrError::BadExtensionRequest(format!("not a list of extensions: {e}")))?;
        if extensions.len() > MAX_REQUESTED_EXTENSIONS {
            return Err(CsrError::TooManyExtensions {
                count: extensions.len(),
                max: MAX_REQUESTED_EXTENSIONS,
            });
        }
        let mut names = Self::default();
        for (i, extension) in extensions.iter().enumerate() {
            if extensions
                .iter()
                .take(i)
                .any(|e| e.extn_id == extension.extn_id)
            {
                return Err(CsrError::BadExtensionRequest(format!(
                    "extension {} appears more than once",
                    extension.extn_id
                )));
            }
            names.extensions.push(extension.extn_id);
            if extension.extn_id == SUBJECT_ALT_NAME {
                names.add_subject_alt_name(extension.extn_value.as_bytes())?;
            }
        }
        Ok(names)
    }

    /// Reads a `GeneralNames` from its raw encoding (no typed decode, so that a
    /// directoryName cannot make the decoder sort a huge SET). dNSName, rfc822Name and
    /// iPAddress entries are kept; other forms are skipped after checking they are
    /// context-specific tags 0 to 8.
    fn add_subject_alt_name(&mut self, der: &[u8]) -> Result<(), CsrError> {
        let malformed =
            |e: der::Error| CsrError::BadExtensionRequest(format!("malformed subjectAltName: {e}"));
        let mut reader = SliceReader::new(der).map_err(malformed)?;
        let entries = reader
            .sequence(|names| {
                let mut entries = Vec::new();
                while !names.is_finished() {
                    entries.push(AnyRef::decode(names)?);
                }
                Ok(entries)
            })
            .map_err(malformed)?;
        reader.finish(()).map_err(malformed)?;
        if entries.is_empty() {
            return Err(CsrError::BadExtensionRequest(
                "subjectAltName is empty".to_owned(),
            ));
        }
        if entries.len() > MAX_SAN_NAMES {
            return Err(CsrError::TooManyNames {
                count: entries.len(),
                max: MAX_SAN_NAMES,
            });
        }
        for entry in entries {
            let Tag::ContextSpecific {
                constructed,
                number,
            } = entry.tag()
            else {
                return Err(CsrError::BadExtensionRequest(format!(
                    "subjectAltName entry with tag {} is not a GeneralName",
                    entry.tag()
                )));
            };
            let number = number.value();
            let primitive_form = matches!(number, 1 | 2 | 6 | 7 | 8);
            if number > 8 || primitive_form == constructed {
                return Err(CsrError::BadExtensionRequest(format!(
                    "subjectAltName entry with tag {} is not a GeneralName",
                    entry.tag()
                )));
            }
            let ia5 = |what: &str| {
                Ia5StringRef::new(entry.value())
                    .map(|s| s.as_str())
                    .map_err(|e| {
                        CsrError::BadExtensionRequest(format!(
                            "subjectAltName {what} is not an IA5String: {e}"
                        ))
                    })
            };
            match number {
                2 => {
                    let name = normalize_dns_name(ia5("dNSName")?)?;
                    if !self.dns_names.contains(&name) {
                        self.dns_names.push(name);
                    }
                }
                1 => {
                    let address = normalize_email(ia5("rfc822Name")?)?;
                    if !self.email_addresses.contains(&address) {
                        self.email_addresses.push(address);
                    }
                }
                7 => {
                    let bytes = entry.value();
                    let ip = if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                        IpAddr::from(v4)
                    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                        IpAddr::from(v6)
                    } else {
                        return Err(CsrError::BadExtensionRequest(format!(
                            "subjectAltName iPAddress is {} bytes; it must be 4 or 16",
                            bytes.len()
                        )));
                    };
                    if !self.ip_addresses.contains(&ip) {
                        self.ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Lower-cases and validates a dNSName: at most 253 characters, labels of 1 to 63 letters,
/// digits and hyphens not starting or ending with a hyphen, no trailing dot, a top-level
/// label that is not all digits, and `*` only as the whole left-most label with at least two
/// labels after it.
fn normalize_dns_name(name: &str) -> Result<String, CsrError> {
    let invalid = |reason| CsrError::InvalidDnsName {
        name: name.to_owned(),
        reason,
    };
    let lower = name.to_ascii_lowercase();
    check_host_name(&lower, true).map_err(invalid)?;
    Ok(lower)
}

/// The syntax of a lower-case host name; see [`normalize_dns_name`].
fn check_host_name(name: &str, allow_wildcard: bool) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    if name.ends_with('.') {
        return Err("it ends with a dot (give the name without the root label)");
    }
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if *label == "*" && i == 0 {
            if !allow_wildcard {
                return Err("a wildcard is not allowed here");
            }
            if labels.len() < 3 {
                return Err("a wildcard must be followed by at least two labels");
            }
            continue;
        }
        if label.contains('*') {
            return Err("'*' is only allowed as the whole left-most label");
        }
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row or a leading dot)");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("a label has a character other than a letter, digit or hyphen");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with a hyphen");
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(
            "the top-level label is all digits (an IP address belongs in an iPAddress entry)",
        );
    }
    Ok(())
}

/// Validates an rfc822Name (`local-part@domain`, the local part a dot-atom of at most 64
/// characters, the domain a host name) and lower-cases its domain.
fn normalize_email(address: &str) -> Result<String, CsrError> {
    let invalid = |reason| CsrError::InvalidEmailAddress {
        address: address.to_owned(),
        reason,
    };
    if address.len() > 254 {
        return Err(invalid("it is longer than 254 characters"));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(invalid("it has no '@'"));
    };
    if local.is_empty() {
        return Err(invalid("the local part is empty"));
    }
    if local.len() > 64 {
        return Err(invalid("the local part is longer than 64 characters"));
    }
    const ATEXT_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    if !local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || ATEXT_SPECIALS.contains(&b))
    {
        return Err(invalid(
            "the local part has a character not allowed in a dot-atom (quoted local parts are refused)",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(invalid(
            "the local part starts or ends with a dot or has two in a row",
        ));
    }
    let domain = domain.to_ascii_lowercase();
    check_host_name(&domain, false).map_err(invalid)?;
    Ok(format!("{local}@{domain}"))
}

/// A hash function used in a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            SHA256 => Some(Self::Sha256),
            SHA384 => Some(Self::Sha384),
            SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn output_len(self) -> u32 {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// A supported signature algorithm, parameters included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SignatureAlgorithm {
    RsaPkcs1(Hash),
    RsaPss { hash: Hash, salt_len: u32 },
    Ecdsa(Hash),
    Ed25519,
}

/// `RSASSA-PSS-params` (RFC 4055, RFC 8017 A.2.3); the fields are EXPLICIT-tagged.
#[derive(der::Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_len: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer: Option<u32>,
}

/// Whether algorithm parameters are absent or an ASN.1 NULL.
fn absent_or_null(parameters: Option<&der::Any>) -> bool {
    parameters.is_none_or(|p| p.tag() == Tag::Null && p.value().is_empty())
}

impl SignatureAlgorithm {
    fn parse(algorithm: &AlgorithmIdentifierOwned) -> Result<Self, CsrError> {
        let oid = algorithm.oid;
        if let Some((_, name)) = WEAK_ALGORITHMS.iter().find(|(weak, _)| *weak == oid) {
            return Err(CsrError::WeakSignatureAlgorithm(name));
        }
        let parameters = algorithm.parameters.as_ref();
        let parsed = match oid {
            SHA256_WITH_RSA => Self::RsaPkcs1(Hash::Sha256),
            SHA384_WITH_RSA => Self::RsaPkcs1(Hash::Sha384),
            SHA512_WITH_RSA => Self::RsaPkcs1(Hash::Sha512),
            ECDSA_WITH_SHA256 => Self::Ecdsa(Hash::Sha256),
            ECDSA_WITH_SHA384 => Self::Ecdsa(Hash::Sha384),
            ECDSA_WITH_SHA512 => Self::Ecdsa(Hash::Sha512),
            ED25519 => Self::Ed25519,
            RSASSA_PSS => return Self::parse_pss(parameters),
            other => return Err(CsrError::UnsupportedSignatureAlgorithm(other)),
        };
        let parameters_ok = match parsed {
            // RFC 4055: NULL; some encoders omit it.
            Self::RsaPkcs1(_) => absent_or_null(parameters),
            // RFC 5758 and RFC 8410: absent.
            _ => parameters.is_none(),
        };
        if !parameters_ok {
            return Err(CsrError::BadSignatureParameters(format!(
                "{} must have {} parameters",
                parsed.name(),
                if matches!(parsed, Self::RsaPkcs1(_)) {
                    "NULL or absent"
                } else {
                    "absent"
                }
            )));
        }
        Ok(parsed)
    }

    fn parse_pss(parameters: Option<&der::Any>) -> Result<Self, CsrError> {
        let bad = |m: String| CsrError::BadSignatureParameters(format!("RSASSA-PSS: {m}"));
        let Some(parameters) = parameters else {
            return Err(bad("parameters are missing".to_owned()));
        };
        let params: PssParams = parameters
            .decode_as()
            .map_err(|e| bad(format!("malformed RSASSA-PSS-params: {e}")))?;
        // DEFAULT sha1 / mgf1SHA1 when absent.
        let Some(hash_algorithm) = params.hash else {
            return Err(CsrError::WeakSignatureAlgorithm(
                "RSASSA-PSS with SHA-1 (the default hash)",
            ));
        };
        if let Some((_, name)) = WEAK_ALGORITHMS
            .iter()
            .find(|(weak, _)| *weak == hash_algorithm.oid)
        {
            return Err(CsrError::WeakSignatureAlgorithm(match *name {
                "MD5" => "RSASSA-PSS with MD5",
                _ => "RSASSA-PSS with SHA-1",
            }));
        }
        let hash = Hash::from_oid(hash_algorithm.oid).ok_or_else(|| {
            bad(format!(
                "hash {} is not supported (SHA-256, SHA-384 or SHA-512)",
                hash_algorithm.oid
            ))
        })?;
        if !absent_or_null(hash_algorithm.parameters.as_ref()) {
            return Err(bad("hash parameters must be NULL or absent".to_owned()));
        }
        let Some(mask_gen) = params.mask_gen else {
            return Err(bad(
                "the mask generation function is the default MGF1 with SHA-1; it must use the signature's hash".to_owned(),
            ));
        };
        if mask_gen.oid != MGF1 {
            return Err(bad(format!(
                "mask generation function {} is not MGF1",
                mask_gen.oid
            )));
        }
        let mgf_hash: AlgorithmIdentifierOwned = mask_gen
            .parameters
            .as_ref()
            .ok_or_else(|| bad("MGF1 has no hash parameter".to_owned()))?
            .decode_as()
            .map_err(|e| bad(format!("malformed MGF1 hash: {e}")))?;
        if Hash::from_oid(mgf_hash.oid) != Some(hash)
            || !absent_or_null(mgf_hash.parameters.as_ref())
        {
            return Err(bad(format!(
                "MGF1 uses hash {} but the signature uses {}; they must be the same",
                mgf_hash.oid, hash_algorithm.oid
            )));
        }
        if params.trailer.is_some_and(|t| t != 1) {
            return Err(bad("trailerField must be 1 (trailerFieldBC)".to_owned()));
        }
        Ok(Self::RsaPss {
            hash,
            salt_len: params.salt_len.unwrap_or(20),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1(Hash::Sha256) => "sha256WithRSAEncryption",
            Self::RsaPkcs1(Hash::Sha384) => "sha384WithRSAEncryption",
            Self::RsaPkcs1(Hash::Sha512) => "sha512WithRSAEncryption",
            Self::RsaPss {
                hash: Hash::Sha256, ..
            } => "RSASSA-PSS (SHA-256)",
            Self::RsaPss {
                hash: Hash::Sha384, ..
            } => "RSASSA-PSS (SHA-384)",
            Self::RsaPss {
                hash: Hash::Sha512, ..
            } => "RSASSA-PSS (SHA-512)",
            Self::Ecdsa(Hash::Sha256) => "ecdsa-with-SHA256",
            Self::Ecdsa(Hash::Sha384) => "ecdsa-with-SHA384",
            Self::Ecdsa(Hash::Sha512) => "ecdsa-with-SHA512",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// The aws-lc algorithm that verifies this signature with `key`.
    fn verification_algorithm(
        self,
        key: &SubjectKey<'_>,
    ) -> Result<&'static dyn VerificationAlgorithm, CsrError> {
        let mismatch = || CsrError::SignatureKeyMismatch {
            algorithm: self.name(),
            key: key.label(),
        };
        match (self, key) {
            (Self::RsaPkcs1(_) | Self::RsaPss { .. }, SubjectKey::Rsa { bits, .. }) => {
                if !(RSA_MIN_SUPPORTED_BITS..=RSA_MAX_SUPPORTED_BITS).contains(bits) {
                    return Err(CsrError::UnsupportedKey(format!(
                        "RSA key with a {bits}-bit modulus; signatures can only be verified for \
                         {RSA_MIN_SUPPORTED_BITS} to {RSA_MAX_SUPPORTED_BITS} bits"
                    )));
                }
                Ok(match self {
                    Self::RsaPkcs1(Hash::Sha256) => &sig::RSA_PKCS1_2048_8192_SHA256,
                    Self::RsaPkcs1(Hash::Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
                    Self::RsaPkcs1(Hash::Sha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
                    Self::RsaPss { hash, salt_len } => {
                        // emLen = ceil((modBits - 1) / 8); the largest salt is emLen - hLen - 2.
                        let em_len = bits.saturating_add(6) / 8;
                        let max_salt = em_len.saturating_sub(hash.output_len() + 2);
                        match (hash, salt_len) {
                            (Hash::Sha256, s) if s == hash.output_len() => {
                                &sig::RSA_PSS_2048_8192_SHA256
                            }
                            (Hash::Sha384, s) if s == hash.output_len() => {
                                &sig::RSA_PSS_2048_8192_SHA384
                            }
                            (Hash::Sha512, s) if s == hash.output_len() => {
                                &sig::RSA_PSS_2048_8192_SHA512
                            }
                            (Hash::Sha256, s) if s == max_salt => &RSA_PSS_SHA256_MAX_SALT,
                            (Hash::Sha384, s) if s == max_salt => &RSA_PSS_SHA384_MAX_SALT,
                            (Hash::Sha512, s) if s == max_salt => &RSA_PSS_SHA512_MAX_SALT,
                            _ => {
                                return Err(CsrError::BadSignatureParameters(format!(
                                    "RSASSA-PSS: salt length {salt_len} is neither the hash \
                                     length ({}) nor the largest possible for this key ({max_salt})",
                                    hash.output_len()
                                )));
                            }
                        }
                    }
                    _ => return Err(mismatch()),
                })
            }
            (Self::Ecdsa(hash), SubjectKey::Ec { curve, .. }) => Ok(match (curve, hash) {
                (Curve::P256, Hash::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
                (Curve::P256, Hash::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
                (Curve::P256, Hash::Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
                (Curve::P384, Hash::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
                (Curve::P384, Hash::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
                (Curve::P384, Hash::Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
                (Curve::P521, Hash::Sha256) => &sig::ECDSA_P521_SHA256_ASN1,
                (Curve::P521, Hash::Sha384) => &sig::ECDSA_P521_SHA384_ASN1,
                (Curve::P521, Hash::Sha512) => &sig::ECDSA_P521_SHA512_ASN1,
                (Curve::Other(_), _) => {
                    return Err(CsrError::UnsupportedKey(format!(
                        "EC key on curve {curve}; signatures can only be verified on P-256, \
                         P-384 and P-521"
                    )));
                }
            }),
            (Self::Ed25519, SubjectKey::Ed25519 { .. }) => Ok(&sig::ED25519),
            _ => Err(mismatch()),
        }
    }
}

#[cfg(test)]
#[path = "csr_tests.rs"]
mod tests;

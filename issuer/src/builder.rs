//! Building and signing X.509 v3 certificates for Revoca's profiles.
//!
//! The TBSCertificate is hand-encoded with a small DER writer: building an end-entity
//! certificate parses nothing but its subject key (to derive key identifiers and the key
//! kind), so signing dominates the cost.

use revoca_signer::{SignError, Signer};

use crate::extensions::{Extension, ExtensionError, KeyUsage};
use crate::inspect::{self, CertError};
use crate::key_id::{KeyKind, SpkiError, key_info};
use crate::name::Name;
use crate::oid;
use crate::serial::Serial;
use crate::validity::Validity;
use crate::writer::{self, tag};

/// Why a certificate could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The subject or issuer public key is not a valid `SubjectPublicKeyInfo`.
    #[error("subject public key: {0}")]
    Spki(#[from] SpkiError),
    /// An extension value was rejected.
    #[error(transparent)]
    Extension(#[from] ExtensionError),
    /// The same extension was added twice (RFC 5280 4.2 forbids it).
    #[error("extension {0} added twice")]
    DuplicateExtension(const_oid::ObjectIdentifier),
    /// The signer's public key is not the issuer's.
    #[error("signer {label:?} does not hold the issuer's key")]
    IssuerKeyMismatch {
        /// The signer's label.
        label: String,
    },
    /// Signing failed.
    #[error("signing the certificate failed: {0}")]
    Sign(#[from] SignError),
}

/// What a certificate needs to know about its issuer: name, public key and key identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerInfo {
    name: Name,
    spki_der: Vec<u8>,
    key_id: Vec<u8>,
}

impl IssuerInfo {
    /// An issuer from its name and DER `SubjectPublicKeyInfo`; the key identifier is
    /// derived by RFC 5280 method 1 (as [`CertificateBuilder`] does for subjects).
    pub fn new(name: Name, spki_der: Vec<u8>) -> Result<Self, SpkiError> {
        let key_id = key_info(&spki_der)?.key_id.to_vec();
        Ok(Self {
            name,
            spki_der,
            key_id,
        })
    }

    /// An issuer from its DER certificate: the subject, the public key, and the
    /// subjectKeyIdentifier if present (so AKIs match it whatever method made it), else a
    /// method-1 key identifier.
    pub fn from_certificate_der(cert_der: &[u8]) -> Result<Self, CertError> {
        let fields = inspect::issuer_fields(cert_der)?;
        let key_id = match fields.subject_key_id {
            Some(id) => id,
            None => key_info(&fields.spki_der)?.key_id.to_vec(),
        };
        let (name, spki_der) = (fields.subject, fields.spki_der);
        Ok(Self {
            name,
            spki_der,
            key_id,
        })
    }

    /// The issuer's name (the issuer field of certificates it signs).
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The issuer's DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key identifier used in authorityKeyIdentifier.
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }
}

/// The names and URLs of a TLS server certificate.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsServerNames<'a> {
    /// DNS names for subjectAltName (at least one; `*.` wildcards allowed).
    pub dns_names: &'a [&'a str],
    /// The OCSP responder URL for authorityInfoAccess.
    pub ocsp_url: Option<&'a str>,
    /// The issuer certificate URL (`id-ad-caIssuers`) for authorityInfoAccess.
    pub ca_issuers_url: Option<&'a str>,
}

/// An unsigned X.509 v3 certificate: serial, names, validity, subject key and extensions.
#[derive(Clone, Debug)]
pub struct CertificateBuilder {
    serial: Serial,
    issuer: Name,
    issuer_spki_der: Vec<u8>,
    subject: Name,
    validity: Validity,
    spki_der: Vec<u8>,
    key_kind: KeyKind,
    key_id: [u8; crate::KEY_IDENTIFIER_LEN],
    extensions: Vec<Extension>,
}

impl CertificateBuilder {
    /// A certificate for `spki_der` issued by `issuer`, with no extensions yet.
    pub fn new(
        serial: Serial,
        subject: Name,
        validity: Validity,
        spki_der: &[u8],
        issuer: &IssuerInfo,
    ) -> Result<Self, BuildError> {
        let key = key_info(spki_der)?;
        Ok(Self {
            serial,
            issuer: issuer.name.clone(),
            issuer_spki_der: issuer.spki_der.clone(),
            subject,
            validity,
            spki_der: spki_der.to_vec(),
            key_kind: key.kind,
            key_id: key.key_id,
            extensions: Vec::with_capacity(9),
        })
    }

    /// A self-signed certificate (issuer = subject, signed by the subject's own key), with
    /// no extensions yet.
    pub fn self_signed(
        serial: Serial,
        subject: Name,
        validity: Validity,
        spki_der: &[u8],
    ) -> Result<Self, BuildError> {
        let issuer = IssuerInfo::new(subject.clone(), spki_der.to_vec())?;
        Self::new(serial, subject, validity, spki_der, &issuer)
    }

    /// A self-signed root CA: basicConstraints critical `cA=TRUE` (no path length),
    /// keyUsage critical keyCertSign + cRLSign, subjectKeyIdentifier.
    pub fn root_ca(
        serial: Serial,
        subject: Name,
        validity: Validity,
        spki_der: &[u8],
    ) -> Result<Self, BuildError> {
        let mut b = Self::self_signed(serial, subject, validity, spki_der)?;
        b.push(Extension::basic_constraints(true, None))?;
        b.push(Extension::key_usage(
            KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN,
        ))?;
        b.push(Extension::subject_key_identifier(&b.key_id))?;
        Ok(b)
    }

    /// An issuing (subordinate) CA: basicConstraints critical `cA=TRUE` with `path_len`
    /// (use `Some(0)` for a CA that issues only end-entity certificates), keyUsage critical
    /// digitalSignature + keyCertSign + cRLSign (digitalSignature so it may sign OCSP
    /// responses itself), subjectKeyIdentifier, authorityKeyIdentifier.
    pub fn issuing_ca(
        serial: Serial,
        subject: Name,
        validity: Validity,
        spki_der: &[u8],
        issuer: &IssuerInfo,
        path_len: Option<u8>,
    ) -> Result<Self, BuildError> {
        let mut b = Self::new(serial, subject, validity, spki_der, issuer)?;
        b.push(Extension::basic_constraints(true, path_len))?;
        b.push(Extension::key_usage(
            KeyUsage::DIGITAL_SIGNATURE | KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN,
        ))?;
        b.push(Extension::subject_key_identifier(&b.key_id))?;
        b.push(Extension::authority_key_identifier(&issuer.key_id))?;
        Ok(b)
    }

    /// A delegated OCSP responder (RFC 6960 4.2.2.2, BR 7.1.2.8): basicConstraints critical
    /// `cA=FALSE`, keyUsage critical digitalSignature, extKeyUsage id-kp-OCSPSigning,
    /// id-pkix-ocsp-nocheck, subjectKeyIdentifier, authorityKeyIdentifier.
    pub fn ocsp_responder(
        serial: Serial,
        subject: Name,
        validity: Validity,
        spki_der: &[u8],
        issuer: &IssuerInfo,
    ) -> Result<Self, BuildError> {
        let mut b = Self::new(serial, subject, validity, spki_der, issuer)?;
        b.push(Extension::basic_constraints(false, None))?;
        b.push(Extension::key_usage(KeyUsage::DIGITAL_SIGNATURE))?;
        b.push(Extension::ext_key_usage(&[oid::KP_OCSP_SIGNING]))?;
        b.push(Extension::ocsp_no_check())?;
        b.push(Extension::subject_key_identifier(&b.key_id))?;
        b.push(Extension::authority_key_identifier(&issuer.key_id))?;
        Ok(b)
    }

    /// A TLS server certificate (BR 7.1.2.7, domain validated): basicConstraints critical
    /// `cA=FALSE`, keyUsage critical digitalSignature (+ keyEncipherment for RSA keys),
    /// extKeyUsage serverAuth, subjectAltName dNSNames (critical iff the subject is empty),
    /// authorityKeyIdentifier, authorityInfoAccess (when a URL is given), certificatePolicies
    /// 2.23.140.1.2.1.
    pub fn tls_server(
        serial: Serial,
        subject: Name,
        validity: Validity,
        spki_der: &[u8],
        issuer: &IssuerInfo,
        names: &TlsServerNames<'_>,
    ) -> Result<Self, BuildError> {
        let mut b = Self::new(serial, subject, validity, spki_der, issuer)?;
        let usage = match b.key_kind {
            KeyKind::Rsa => KeyUsage::DIGITAL_SIGNATURE | KeyUsage::KEY_ENCIPHERMENT,
            KeyKind::Ec | KeyKind::Ed25519 | KeyKind::Other => KeyUsage::DIGITAL_SIGNATURE,
        };
        let san_critical = b.subject.is_empty();
        b.push(Extension::basic_constraints(false, None))?;
        b.push(Extension::key_usage(usage))?;
        b.push(Extension::ext_key_usage(&[oid::KP_SERVER_AUTH]))?;
        b.push(Extension::subject_alt_name_dns(
            names.dns_names,
            san_critical,
        )?)?;
        b.push(Extension::authority_key_identifier(&issuer.key_id))?;
        if names.ocsp_url.is_some() || names.ca_issuers_url.is_some() {
            b.push(Extension::authority_info_access(
                names.ocsp_url,
                names.ca_issuers_url,
            )?)?;
        }
        b.push(Extension::certificate_policies(&[
            oid::CABF_DOMAIN_VALIDATED,
        ]))?;
        Ok(b)
    }

    /// Adds an extension; each OID may appear once.
    pub fn push(&mut self, extension: Extension) -> Result<&mut Self, BuildError> {
        if self.extensions.iter().any(|e| e.oid() == extension.oid()) {
            return Err(BuildError::DuplicateExtension(*extension.oid()));
        }
        self.extensions.push(extension);
        Ok(self)
    }

    /// The serial number.
    pub fn serial(&self) -> &Serial {
        &self.serial
    }

    /// The subject name.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The issuer name.
    pub fn issuer(&self) -> &Name {
        &self.issuer
    }

    /// The validity period.
    pub fn validity(&self) -> &Validity {
        &self.validity
    }

    /// The subject's method-1 key identifier.
    pub fn subject_key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// The extensions, in encoding order.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// The DER `TBSCertificate`, with `signature_algorithm_der` (a DER `AlgorithmIdentifier`)
    /// as its signature field.
    pub fn tbs_der(&self, signature_algorithm_der: &[u8]) -> Vec<u8> {
        let estimate = 64
            + self.serial.der_content().len()
            + signature_algorithm_der.len()
            + self.issuer.as_der().len()
            + self.subject.as_der().len()
            + self.spki_der.len()
            + self
                .extensions
                .iter()
                .map(|e| e.value().len() + 16)
                .sum::<usize>();
        let mut out = Vec::with_capacity(estimate);
        writer::nested(&mut out, tag::SEQUENCE, |out| {
            // version [0] EXPLICIT INTEGER v3(2)
            out.extend_from_slice(&[tag::CONTEXT_0_CONSTRUCTED, 0x03, tag::INTEGER, 0x01, 0x02]);
            writer::tlv(out, tag::INTEGER, self.serial.der_content());
            out.extend_from_slice(signature_algorithm_der);
            out.extend_from_slice(self.issuer.as_der());
            out.extend_from_slice(self.validity.der());
            out.extend_from_slice(self.subject.as_der());
            out.extend_from_slice(&self.spki_der);
            if !self.extensions.is_empty() {
                writer::nested(out, tag::CONTEXT_3_CONSTRUCTED, |out| {
                    writer::nested(out, tag::SEQUENCE, |out| {
                        for e in &self.extensions {
                            e.encode(out);
                        }
                    });
                });
            }
        });
        out
    }

    /// Signs the certificate with `signer`, which must hold the issuer's key, and returns
    /// the DER `Certificate`.
    pub fn build(&self, signer: &dyn Signer) -> Result<Vec<u8>, BuildError> {
        if signer.public_key_spki_der() != self.issuer_spki_der.as_slice() {
            return Err(BuildError::IssuerKeyMismatch {
                label: signer.label().to_owned(),
            });
        }
        let algorithm = signer.scheme().algorithm_identifier_der();
        let tbs = self.tbs_der(algorithm);
        let signature = signer.sign(&tbs)?;
        let mut out = Vec::with_capacity(tbs.len() + algorithm.len() + signature.len() + 16);
        writer::nested(&mut out, tag::SEQUENCE, |out| {
            out.extend_from_slice(&tbs);
            out.extend_from_slice(algorithm);
            writer::nested(out, tag::BIT_STRING, |out| {
                out.push(0x00);
                out.extend_from_slice(&signature);
            });
        });
        Ok(out)
    }
}

//! Reading the fields an issuer needs back out of an existing certificate.

use der::asn1::OctetString;
use der::{Decode, Encode};

use crate::key_id::SpkiError;
use crate::name::{Name, NameError};
use crate::oid;

/// Why a certificate could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The bytes are not a DER X.509 certificate.
    #[error("invalid DER certificate: {0}")]
    Der(#[source] der::Error),
    /// The certificate's serial number is negative or zero.
    #[error("certificate serial number is not positive")]
    NonPositiveSerial,
    /// The subject name could not be used.
    #[error("certificate subject: {0}")]
    Name(#[from] NameError),
    /// The subject public key could not be used.
    #[error("certificate public key: {0}")]
    Spki(#[from] SpkiError),
}

/// What [`crate::IssuerInfo`] takes from a CA certificate, from one parse.
pub(crate) struct IssuerFields {
    pub(crate) subject: Name,
    pub(crate) spki_der: Vec<u8>,
    pub(crate) subject_key_id: Option<Vec<u8>>,
}

pub(crate) fn issuer_fields(cert_der: &[u8]) -> Result<IssuerFields, CertError> {
    let cert = parse(cert_der)?;
    let tbs = &cert.tbs_certificate;
    Ok(IssuerFields {
        subject: Name::from_der(tbs.subject.to_der().map_err(CertError::Der)?)?,
        spki_der: tbs
            .subject_public_key_info
            .to_der()
            .map_err(CertError::Der)?,
        subject_key_id: subject_key_id(&cert)?,
    })
}

fn parse(cert_der: &[u8]) -> Result<x509_cert::Certificate, CertError> {
    x509_cert::Certificate::from_der(cert_der).map_err(CertError::Der)
}

/// The DER `SubjectPublicKeyInfo` of a DER certificate.
pub fn cert_spki_der(cert_der: &[u8]) -> Result<Vec<u8>, CertError> {
    parse(cert_der)?
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(CertError::Der)
}

/// The DER subject `Name` of a DER certificate.
pub fn cert_subject_der(cert_der: &[u8]) -> Result<Vec<u8>, CertError> {
    parse(cert_der)?
        .tbs_certificate
        .subject
        .to_der()
        .map_err(CertError::Der)
}

/// The subject of a DER certificate as a [`Name`].
pub fn cert_subject(cert_der: &[u8]) -> Result<Name, CertError> {
    Ok(Name::from_der(cert_subject_der(cert_der)?)?)
}

/// The serial number of a DER certificate as an unsigned big-endian magnitude without
/// leading zeros (the form [`crate::Serial::from_magnitude`] takes and OCSP `CertID`s match).
pub fn cert_serial_magnitude(cert_der: &[u8]) -> Result<Vec<u8>, CertError> {
    let cert = parse(cert_der)?;
    let content = cert.tbs_certificate.serial_number.as_bytes();
    if content.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(CertError::NonPositiveSerial);
    }
    let skip = content.iter().take_while(|b| **b == 0).count();
    if skip == content.len() {
        return Err(CertError::NonPositiveSerial);
    }
    Ok(content[skip..].to_vec())
}

/// The subjectKeyIdentifier of a DER certificate, if it has one.
pub fn cert_subject_key_identifier(cert_der: &[u8]) -> Result<Option<Vec<u8>>, CertError> {
    subject_key_id(&parse(cert_der)?)
}

fn subject_key_id(cert: &x509_cert::Certificate) -> Result<Option<Vec<u8>>, CertError> {
    let Some(extensions) = &cert.tbs_certificate.extensions else {
        return Ok(None);
    };
    for ext in extensions {
        if ext.extn_id == oid::SUBJECT_KEY_IDENTIFIER {
            let id = OctetString::from_der(ext.extn_value.as_bytes()).map_err(CertError::Der)?;
            return Ok(Some(id.into_bytes()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage() {
        assert!(matches!(cert_spki_der(b"nope"), Err(CertError::Der(_))));
        assert!(matches!(
            cert_subject_der(&[0x30, 0x00]),
            Err(CertError::Der(_))
        ));
    }
}

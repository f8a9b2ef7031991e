//! The few facts the RA reads from a certificate: serial, key, validity end, and
//! whether a given CA issued it.

use der::{Decode, Encode};
use x509_cert::Certificate;

/// Facts read from a certificate.
#[derive(Clone, Debug)]
pub struct CertInfo {
    /// Serial number INTEGER content octets.
    pub serial_der: Vec<u8>,
    /// SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// Issuer Name, DER.
    pub issuer_der: Vec<u8>,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Authority key identifier, if present.
    pub authority_key_id: Option<Vec<u8>>,
    cert: Certificate,
}

const AKI: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.35");

impl CertInfo {
    /// Parses a certificate (DER).
    pub fn parse(der: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_der(der).map_err(|e| format!("not a certificate: {e}"))?;
        let tbs = &cert.tbs_certificate;
        let enc = |r: Result<Vec<u8>, der::Error>| r.map_err(|e| format!("certificate: {e}"));
        let authority_key_id = tbs
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == AKI)
            .and_then(|e| {
                x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(e.extn_value.as_bytes()).ok()
            })
            .and_then(|aki| aki.key_identifier)
            .map(|k| k.as_bytes().to_vec());
        let serial_der = tbs.serial_number.as_bytes().to_vec();
        let spki_der = enc(tbs.subject_public_key_info.to_der())?;
        let issuer_der = enc(tbs.issuer.to_der())?;
        let not_after = i64::try_from(tbs.validity.not_after.to_unix_duration().as_secs())
            .map_err(|_| "notAfter out of range".to_owned())?;
        Ok(Self {
            serial_der,
            spki_der,
            issuer_der,
            not_after,
            authority_key_id,
            cert,
        })
    }

    /// Whether the CA certificate `ca_der` issued this certificate: the issuer name is
    /// the CA's subject, the AKI (when both are present) is the CA's SKI, and the CA's key
    /// made the signature (a look-alike with the same issuer and serial is refused).
    pub fn issued_by(&self, ca_der: &[u8]) -> bool {
        let Ok(ca) = Certificate::from_der(ca_der) else {
            return false;
        };
        if crate::acme::certificate_signed_by(&self.cert, &ca).is_none() {
            return false;
        }
        if ca.tbs_certificate.subject.to_der().ok().as_deref() != Some(self.issuer_der.as_slice()) {
            return false;
        }
        let ski = revoca_issuer::cert_subject_key_identifier(ca_der)
            .ok()
            .flatten();
        match (&self.authority_key_id, ski) {
            (Some(aki), Some(ski)) => *aki == ski,
            _ => true,
        }
    }
}

/// A certificate given as PEM or DER, as DER.
pub fn pem_or_der_certificate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(trimmed).map_err(|_| "PEM is not UTF-8".to_owned())?;
        revoca_issuer::pem_decode_first("CERTIFICATE", text).map_err(|e| format!("PEM: {e}"))
    } else {
        Ok(bytes.to_vec())
    }
}

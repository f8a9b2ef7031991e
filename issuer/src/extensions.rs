//! X.509 v3 extensions: a generic [`Extension`] and encoders for the ones Revoca's
//! profiles use.

use std::ops::BitOr;

use const_oid::ObjectIdentifier;

use crate::oid;
use crate::writer::{self, tag};

/// Why an extension value was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ExtensionError {
    /// A DNS name is not a valid (optionally wildcard) host name.
    #[error("invalid DNS name {0:?}")]
    InvalidDnsName(String),
    /// A subjectAltName must hold at least one name.
    #[error("subjectAltName needs at least one DNS name")]
    NoDnsNames,
    /// A URL is not an `http://` or `https://` URL of printable ASCII.
    #[error("invalid URL {0:?} (expected http:// or https:// and printable ASCII)")]
    InvalidUrl(String),
    /// An authorityInfoAccess extension needs at least one URL.
    #[error("authorityInfoAccess needs an OCSP or caIssuers URL")]
    NoAccessLocations,
}

/// One X.509 v3 extension: its OID, criticality and the DER value carried in `extnValue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    oid: ObjectIdentifier,
    critical: bool,
    value: Vec<u8>,
}

/// KeyUsage bits (RFC 5280 4.2.1.3), combinable with `|`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUsage(u16);

impl KeyUsage {
    /// `digitalSignature` (bit 0).
    pub const DIGITAL_SIGNATURE: Self = Self(1 << 0);
    /// `nonRepudiation` / `contentCommitment` (bit 1).
    pub const CONTENT_COMMITMENT: Self = Self(1 << 1);
    /// `keyEncipherment` (bit 2).
    pub const KEY_ENCIPHERMENT: Self = Self(1 << 2);
    /// `dataEncipherment` (bit 3).
    pub const DATA_ENCIPHERMENT: Self = Self(1 << 3);
    /// `keyAgreement` (bit 4).
    pub const KEY_AGREEMENT: Self = Self(1 << 4);
    /// `keyCertSign` (bit 5).
    pub const KEY_CERT_SIGN: Self = Self(1 << 5);
    /// `cRLSign` (bit 6).
    pub const CRL_SIGN: Self = Self(1 << 6);
    /// `encipherOnly` (bit 7).
    pub const ENCIPHER_ONLY: Self = Self(1 << 7);
    /// `decipherOnly` (bit 8).
    pub const DECIPHER_ONLY: Self = Self(1 << 8);

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The DER `BIT STRING` (named bits: trailing zero bits removed, as X.690 11.2.2 requires).
    fn bit_string(self) -> Vec<u8> {
        // Bit n of the ASN.1 BIT STRING is bit (7 - n % 8) of octet n / 8.
        let mut octets = [0u8; 2];
        for n in 0..9 {
            if self.0 & (1 << n) != 0 {
                octets[n / 8] |= 0x80 >> (n % 8);
            }
        }
        let used = if octets[1] != 0 {
            2
        } else if octets[0] != 0 {
            1
        } else {
            0
        };
        let mut content = Vec::with_capacity(3);
        let unused = if used == 0 {
            0
        } else {
            octets[used - 1].trailing_zeros() as u8
        };
        content.push(unused);
        content.extend_from_slice(&octets[..used]);
        let mut out = Vec::with_capacity(5);
        writer::tlv(&mut out, tag::BIT_STRING, &content);
        out
    }
}

impl BitOr for KeyUsage {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl Extension {
    /// An extension with an arbitrary DER value (the content of `extnValue`).
    pub fn new(oid: ObjectIdentifier, critical: bool, value_der: Vec<u8>) -> Self {
        Self {
            oid,
            critical,
            value: value_der,
        }
    }

    /// The extension's OID.
    pub fn oid(&self) -> &ObjectIdentifier {
        &self.oid
    }

    /// Whether the extension is marked critical.
    pub fn critical(&self) -> bool {
        self.critical
    }

    /// The DER value carried in `extnValue`.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// basicConstraints (critical): `cA` and, for CAs, an optional `pathLenConstraint`
    /// (ignored when `ca` is false, since RFC 5280 forbids it there).
    pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Self {
        let mut value = Vec::with_capacity(8);
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            if ca {
                writer::boolean(out, true);
                if let Some(n) = path_len {
                    writer::small_uint(out, n);
                }
            }
        });
        Self::new(oid::BASIC_CONSTRAINTS, true, value)
    }

    /// keyUsage (critical).
    pub fn key_usage(usage: KeyUsage) -> Self {
        Self::new(oid::KEY_USAGE, true, usage.bit_string())
    }

    /// extKeyUsage (non-critical) with the given purposes.
    pub fn ext_key_usage(purposes: &[ObjectIdentifier]) -> Self {
        let mut value = Vec::with_capacity(2 + 10 * purposes.len());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            for p in purposes {
                writer::oid(out, p);
            }
        });
        Self::new(oid::EXT_KEY_USAGE, false, value)
    }

    /// subjectKeyIdentifier (non-critical).
    pub fn subject_key_identifier(key_id: &[u8]) -> Self {
        let mut value = Vec::with_capacity(2 + key_id.len());
        writer::tlv(&mut value, tag::OCTET_STRING, key_id);
        Self::new(oid::SUBJECT_KEY_IDENTIFIER, false, value)
    }

    /// authorityKeyIdentifier (non-critical) with only `keyIdentifier`.
    pub fn authority_key_identifier(key_id: &[u8]) -> Self {
        let mut value = Vec::with_capacity(4 + key_id.len());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            writer::tlv(out, tag::CONTEXT_0_PRIMITIVE, key_id);
        });
        Self::new(oid::AUTHORITY_KEY_IDENTIFIER, false, value)
    }

    /// subjectAltName with `dNSName` entries. RFC 5280 4.2.1.6: critical when the subject
    /// name is empty, so say which with `critical`.
    pub fn subject_alt_name_dns(names: &[&str], critical: bool) -> Result<Self, ExtensionError> {
        if names.is_empty() {
            return Err(ExtensionError::NoDnsNames);
        }
        if let Some(bad) = names.iter().find(|n| !is_valid_dns_name(n)) {
            return Err(ExtensionError::InvalidDnsName((*bad).to_owned()));
        }
        let mut value = Vec::with_capacity(4 + names.iter().map(|n| n.len() + 2).sum::<usize>());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            for n in names {
                writer::tlv(out, tag::CONTEXT_2_PRIMITIVE, n.as_bytes());
            }
        });
        Ok(Self::new(oid::SUBJECT_ALT_NAME, critical, value))
    }

    /// authorityInfoAccess (non-critical) with an `id-ad-ocsp` and/or `id-ad-caIssuers` URL.
    pub fn authority_info_access(
        ocsp_url: Option<&str>,
        ca_issuers_url: Option<&str>,
    ) -> Result<Self, ExtensionError> {
        let entries: Vec<(ObjectIdentifier, &str)> = [
            (oid::AD_OCSP, ocsp_url),
            (oid::AD_CA_ISSUERS, ca_issuers_url),
        ]
        .into_iter()
        .filter_map(|(o, url)| url.map(|u| (o, u)))
        .collect();
        if entries.is_empty() {
            return Err(ExtensionError::NoAccessLocations);
        }
        if let Some((_, bad)) = entries.iter().find(|(_, u)| !is_valid_url(u)) {
            return Err(ExtensionError::InvalidUrl((*bad).to_owned()));
        }
        let mut value = Vec::with_capacity(64);
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            for (method, url) in &entries {
                writer::nested(out, tag::SEQUENCE, |out| {
                    writer::oid(out, method);
                    writer::tlv(out, tag::CONTEXT_6_PRIMITIVE, url.as_bytes());
                });
            }
        });
        Ok(Self::new(oid::AUTHORITY_INFO_ACCESS, false, value))
    }

    /// certificatePolicies (non-critical) with bare policy identifiers (no qualifiers).
    pub fn certificate_policies(policies: &[ObjectIdentifier]) -> Self {
        let mut value = Vec::with_capacity(2 + 12 * policies.len());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            for p in policies {
                writer::nested(out, tag::SEQUENCE, |out| writer::oid(out, p));
            }
        });
        Self::new(oid::CERTIFICATE_POLICIES, false, value)
    }

    /// id-pkix-ocsp-nocheck (non-critical, value NULL; RFC 6960 4.2.2.2.1).
    pub fn ocsp_no_check() -> Self {
        Self::new(oid::OCSP_NOCHECK, false, vec![tag::NULL, 0x00])
    }

    /// Appends the DER `Extension` SEQUENCE.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        writer::nested(out, tag::SEQUENCE, |out| {
            writer::oid(out, &self.oid);
            if self.critical {
                // DEFAULT FALSE: only TRUE is encoded.
                writer::boolean(out, true);
            }
            writer::tlv(out, tag::OCTET_STRING, &self.value);
        });
    }
}

/// A host name (LDH labels of 1..=63 characters, at most 253 in all, no trailing dot), whose
/// leftmost label may be a lone `*` wildcard.
fn is_valid_dns_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let host = match name.strip_prefix("*.") {
        Some(rest) => rest,
        None => name,
    };
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An `http://` or `https://` URL with a non-empty remainder of printable ASCII.
fn is_valid_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    matches!(rest, Some(r) if !r.is_empty()) && url.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(e: &Extension) -> Vec<u8> {
        let mut out = Vec::new();
        e.encode(&mut out);
        out
    }

    #[test]
    fn key_usage_bits() {
        let ca = KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN;
        assert_eq!(ca.bit_string(), [0x03, 0x02, 0x01, 0x06]);
        assert_eq!(
            (ca | KeyUsage::DIGITAL_SIGNATURE).bit_string(),
            [0x03, 0x02, 0x01, 0x86]
        );
        assert_eq!(
            KeyUsage::DIGITAL_SIGNATURE.bit_string(),
            [0x03, 0x02, 0x07, 0x80]
        );
        assert_eq!(
            (KeyUsage::DIGITAL_SIGNATURE | KeyUsage::KEY_ENCIPHERMENT).bit_string(),
            [0x03, 0x02, 0x05, 0xa0]
        );
        assert_eq!(
            KeyUsage::DECIPHER_ONLY.bit_string(),
            [0x03, 0x03, 0x07, 0x00, 0x80]
        );
        assert!(ca.contains(KeyUsage::CRL_SIGN));
        assert!(!ca.contains(KeyUsage::DIGITAL_SIGNATURE));
    }

    #[test]
    fn basic_constraints() {
        assert_eq!(
            encoded(&Extension::basic_constraints(true, Some(0))),
            [
                0x30, 0x12, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04, 0x08, 0x30, 0x06,
                0x01, 0x01, 0xff, 0x02, 0x01, 0x00
            ]
        );
        assert_eq!(
            Extension::basic_constraints(true, None).value(),
            [0x30, 0x03, 0x01, 0x01, 0xff]
        );
        assert_eq!(
            Extension::basic_constraints(false, Some(3)).value(),
            [0x30, 0x00]
        );
    }

    #[test]
    fn no_check_and_policies() {
        assert_eq!(
            encoded(&Extension::ocsp_no_check()),
            [
                0x30, 0x0f, 0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x05, 0x04,
                0x02, 0x05, 0x00
            ]
        );
        assert_eq!(
            Extension::certificate_policies(&[oid::CABF_DOMAIN_VALIDATED]).value(),
            [
                0x30, 0x0a, 0x30, 0x08, 0x06, 0x06, 0x67, 0x81, 0x0c, 0x01, 0x02, 0x01
            ]
        );
    }

    #[test]
    fn dns_names() {
        for ok in [
            "example.com",
            "*.example.com",
            "localhost",
            "a-b.c9.test",
            "xn--nda.es",
        ] {
            assert!(is_valid_dns_name(ok), "{ok}");
        }
        for bad in [
            "", "*", "*.", "a..b", "-a.b", "a-.b", "a.b.", "a b", "a_b.c", "*.*.a", "a.*.b", "ñ.es",
        ] {
            assert!(!is_valid_dns_name(bad), "{bad}");
        }
        assert!(matches!(
            Extension::subject_alt_name_dns(&[], false),
            Err(ExtensionError::NoDnsNames)
        ));
        assert!(matches!(
            Extension::subject_alt_name_dns(&["ok.test", "not ok"], false),
            Err(ExtensionError::InvalidDnsName(n)) if n == "not ok"
        ));
    }

    #[test]
    fn urls() {
        assert!(is_valid_url("http://127.0.0.1:8080/ocsp"));
        assert!(is_valid_url("https://ocsp.example"));
        for bad in ["ftp://x", "http://", "http://a b", "ldap://x", "http://ñ"] {
            assert!(!is_valid_url(bad), "{bad}");
        }
        assert!(matches!(
            Extension::authority_info_access(None, None),
            Err(ExtensionError::NoAccessLocations)
        ));
    }
}

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
    /// An e-mail address is not a plain ASCII `local@domain` mailbox.
    #[error("invalid e-mail address {0:?} (expected ASCII local@domain.tld)")]
    InvalidEmail(String),
    /// A subjectAltName must hold at least one name of any kind.
    #[error("subjectAltName needs at least one name")]
    EmptySubjectAltName,
    /// A policy qualifier or statement text is not acceptable.
    #[error("{what}: {reason}")]
    InvalidText {
        /// Which value (e.g. "userNotice explicitText").
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A list that must not be empty was empty.
    #[error("{0} needs at least one entry")]
    Empty(&'static str),
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

/// id-pe-qcStatements (1.3.6.1.5.5.7.1.3, RFC 3739 / ETSI EN 319 412-5).
const QC_STATEMENTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.3");
/// id-ce-cRLDistributionPoints (2.5.29.31).
const CRL_DISTRIBUTION_POINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
/// id-qt-cps (1.3.6.1.5.5.7.2.1).
const QT_CPS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.1");
/// id-qt-unotice (1.3.6.1.5.5.7.2.2).
const QT_UNOTICE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.2");
/// Microsoft User Principal Name otherName (1.3.6.1.4.1.311.20.2.3).
const MS_UPN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.3");
/// cabfOrganizationIdentifier (2.23.140.3.1, CA/B Forum EV Guidelines 9.8.2).
const CABF_ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.140.3.1");
/// Certificate Transparency precertificate poison (1.3.6.1.4.1.11129.2.4.3, RFC 6962 3.1).
const CT_POISON: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.3");
/// esi4-qcStatement-1: QcCompliance (0.4.0.1862.1.1).
const QCS_COMPLIANCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.1");
/// esi4-qcStatement-3: QcRetentionPeriod (0.4.0.1862.1.3).
const QCS_RETENTION_PERIOD: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.3");
/// esi4-qcStatement-4: QcSSCD (0.4.0.1862.1.4).
const QCS_SSCD: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.4");
/// esi4-qcStatement-5: QcPDS (0.4.0.1862.1.5).
const QCS_PDS: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.5");
/// esi4-qcStatement-6: QcType (0.4.0.1862.1.6).
const QCS_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.6");

/// DER tags the extensions below need beyond [`tag`].
const IA5_STRING: u8 = 0x16;
/// `[0]` constructed, context-specific.
const CONTEXT_0_CONSTRUCTED: u8 = 0xa0;
/// `[1]` primitive: `GeneralName.rfc822Name`.
const CONTEXT_1_PRIMITIVE: u8 = 0x81;
/// `[4]` constructed: `GeneralName.directoryName` (EXPLICIT, `Name` is a CHOICE).
const CONTEXT_4_CONSTRUCTED: u8 = 0xa4;

/// The longest `explicitText` RFC 5280 (4.2.1.4) allows, in characters.
pub const MAX_USER_NOTICE_CHARS: usize = 200;

/// One `PolicyInformation` of a certificatePolicies extension, with optional qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyInfo<'a> {
    /// The policy identifier.
    pub oid: ObjectIdentifier,
    /// An `id-qt-cps` qualifier: the CPS URL (IA5String, `http://` or `https://`).
    pub cps_uri: Option<&'a str>,
    /// An `id-qt-unotice` qualifier: `UserNotice.explicitText` as a UTF8String (at most
    /// [`MAX_USER_NOTICE_CHARS`] characters, no control characters).
    pub user_notice: Option<&'a str>,
}

/// One statement of a qcStatements extension (ETSI EN 319 412-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QcStatement<'a> {
    /// QcCompliance (0.4.0.1862.1.1): the certificate is an EU qualified certificate.
    Compliance,
    /// QcRetentionPeriod (0.4.0.1862.1.3): years the CA keeps registration information
    /// after the certificate expires.
    RetentionPeriod(u32),
    /// QcSSCD (0.4.0.1862.1.4): the private key is held in a (qualified) signature or seal
    /// creation device.
    Sscd,
    /// QcType (0.4.0.1862.1.6): the type(s) of qualified certificate (e.g.
    /// 0.4.0.1862.1.6.3 id-etsi-qct-web).
    Type(&'a [ObjectIdentifier]),
    /// QcPDS (0.4.0.1862.1.5): PKI disclosure statements as `(url, language)` pairs, the
    /// language a two-letter ISO 639-1 code.
    Pds(&'a [(&'a str, &'a str)]),
}

/// One name of a subjectAltName extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneralName<'a> {
    /// `dNSName`: a host name (leftmost `*.` wildcard allowed).
    Dns(&'a str),
    /// `rfc822Name`: an ASCII e-mail address.
    Email(&'a str),
    /// `directoryName`: a DER X.501 `Name`.
    DirectoryName(&'a crate::name::Name),
    /// `otherName` Microsoft User Principal Name (1.3.6.1.4.1.311.20.2.3), a UTF8String.
    Upn(&'a str),
}

impl Extension {
    /// certificatePolicies (non-critical) whose policies may carry a CPS pointer and/or a
    /// user notice (RFC 5280 4.2.1.4).
    pub fn certificate_policies_with_qualifiers(
        policies: &[PolicyInfo<'_>],
    ) -> Result<Self, ExtensionError> {
        if policies.is_empty() {
            return Err(ExtensionError::Empty("certificatePolicies"));
        }
        for p in policies {
            if let Some(url) = p.cps_uri
                && !is_valid_url(url)
            {
                return Err(ExtensionError::InvalidUrl(url.to_owned()));
            }
            if let Some(text) = p.user_notice {
                check_display_text("userNotice explicitText", text, MAX_USER_NOTICE_CHARS)?;
            }
        }
        let mut value = Vec::with_capacity(64 * policies.len());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            for p in policies {
                writer::nested(out, tag::SEQUENCE, |out| {
                    writer::oid(out, &p.oid);
                    if p.cps_uri.is_none() && p.user_notice.is_none() {
                        return;
                    }
                    writer::nested(out, tag::SEQUENCE, |out| {
                        if let Some(url) = p.cps_uri {
                            writer::nested(out, tag::SEQUENCE, |out| {
                                writer::oid(out, &QT_CPS);
                                writer::tlv(out, IA5_STRING, url.as_bytes());
                            });
                        }
                        if let Some(text) = p.user_notice {
                            writer::nested(out, tag::SEQUENCE, |out| {
                                writer::oid(out, &QT_UNOTICE);
                                writer::nested(out, tag::SEQUENCE, |out| {
                                    writer::tlv(out, tag::UTF8_STRING, text.as_bytes());
                                });
                            });
                        }
                    });
                });
            }
        });
        Ok(Self::new(oid::CERTIFICATE_POLICIES, false, value))
    }

    /// qcStatements (non-critical, ETSI EN 319 412-5), statements in the order given.
    pub fn qc_statements(statements: &[QcStatement<'_>]) -> Result<Self, ExtensionError> {
        if statements.is_empty() {
            return Err(ExtensionError::Empty("qcStatements"));
        }
        for s in statements {
            match s {
                QcStatement::Type([]) => {
                    return Err(ExtensionError::Empty("QcType"));
                }
                QcStatement::Pds(locations) => {
                    if locations.is_empty() {
                        return Err(ExtensionError::Empty("QcPDS"));
                    }
                    for (url, language) in *locations {
                        if !is_valid_url(url) {
                            return Err(ExtensionError::InvalidUrl((*url).to_owned()));
                        }
                        if language.len() != 2 || !language.bytes().all(|b| b.is_ascii_lowercase())
                        {
                            return Err(ExtensionError::InvalidText {
                                what: "QcPDS language",
                                reason: format!(
                                    "{language:?} is not a two-letter lower-case ISO 639-1 code"
                                ),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        let mut value = Vec::with_capacity(32 * statements.len());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            for s in statements {
                writer::nested(out, tag::SEQUENCE, |out| match s {
                    QcStatement::Compliance => writer::oid(out, &QCS_COMPLIANCE),
                    QcStatement::Sscd => writer::oid(out, &QCS_SSCD),
                    QcStatement::RetentionPeriod(years) => {
                        writer::oid(out, &QCS_RETENTION_PERIOD);
                        write_uint(out, u64::from(*years));
                    }
                    QcStatement::Type(types) => {
                        writer::oid(out, &QCS_TYPE);
                        writer::nested(out, tag::SEQUENCE, |out| {
                            for t in *types {
                                writer::oid(out, t);
                            }
                        });
                    }
                    QcStatement::Pds(locations) => {
                        writer::oid(out, &QCS_PDS);
                        writer::nested(out, tag::SEQUENCE, |out| {
                            for (url, language) in *locations {
                                writer::nested(out, tag::SEQUENCE, |out| {
                                    writer::tlv(out, IA5_STRING, url.as_bytes());
                                    writer::tlv(out, tag::PRINTABLE_STRING, language.as_bytes());
                                });
                            }
                        });
                    }
                });
            }
        });
        Ok(Self::new(QC_STATEMENTS, false, value))
    }

    /// subjectAltName with any mix of dNSName, rfc822Name, directoryName and UPN otherName
    /// entries, encoded in the order given. RFC 5280 4.2.1.6: critical when the subject name
    /// is empty, so say which with `critical`.
    pub fn subject_alt_name(
        names: &[GeneralName<'_>],
        critical: bool,
    ) -> Result<Self, ExtensionError> {
        if names.is_empty() {
            return Err(ExtensionError::EmptySubjectAltName);
        }
        for n in names {
            match n {
                GeneralName::Dns(d) if !is_valid_dns_name(d) => {
                    return Err(ExtensionError::InvalidDnsName((*d).to_owned()));
                }
                GeneralName::Email(e) if !is_valid_email(e) => {
                    return Err(ExtensionError::InvalidEmail((*e).to_owned()));
                }
                GeneralName::DirectoryName(name) if name.is_empty() => {
                    return Err(ExtensionError::Empty("subjectAltName directoryName"));
                }
                GeneralName::Upn(u) => check_display_text("UPN otherName", u, 256)?,
                _ => {}
            }
        }
        let mut value = Vec::with_capacity(64 * names.len());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            for n in names {
                match n {
                    GeneralName::Dns(d) => writer::tlv(out, tag::CONTEXT_2_PRIMITIVE, d.as_bytes()),
                    GeneralName::Email(e) => writer::tlv(out, CONTEXT_1_PRIMITIVE, e.as_bytes()),
                    GeneralName::DirectoryName(name) => {
                        writer::tlv(out, CONTEXT_4_CONSTRUCTED, name.as_der());
                    }
                    GeneralName::Upn(u) => {
                        writer::nested(out, CONTEXT_0_CONSTRUCTED, |out| {
                            writer::oid(out, &MS_UPN);
                            writer::nested(out, CONTEXT_0_CONSTRUCTED, |out| {
                                writer::tlv(out, tag::UTF8_STRING, u.as_bytes());
                            });
                        });
                    }
                }
            }
        });
        Ok(Self::new(oid::SUBJECT_ALT_NAME, critical, value))
    }

    /// cRLDistributionPoints (non-critical): one `DistributionPoint` per URL, each with a
    /// `fullName` URI and no reasons or cRLIssuer. URLs are copied byte for byte.
    pub fn crl_distribution_points(urls: &[&str]) -> Result<Self, ExtensionError> {
        if urls.is_empty() {
            return Err(ExtensionError::Empty("cRLDistributionPoints"));
        }
        if let Some(bad) = urls.iter().find(|u| !is_valid_url(u)) {
            return Err(ExtensionError::InvalidUrl((*bad).to_owned()));
        }
        let mut value = Vec::with_capacity(16 + urls.iter().map(|u| u.len() + 8).sum::<usize>());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            for url in urls {
                writer::nested(out, tag::SEQUENCE, |out| {
                    // distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } }
                    writer::nested(out, CONTEXT_0_CONSTRUCTED, |out| {
                        writer::nested(out, CONTEXT_0_CONSTRUCTED, |out| {
                            writer::tlv(out, tag::CONTEXT_6_PRIMITIVE, url.as_bytes());
                        });
                    });
                });
            }
        });
        Ok(Self::new(CRL_DISTRIBUTION_POINTS, false, value))
    }

    /// cabfOrganizationIdentifier (non-critical, 2.23.140.3.1): a three-letter registration
    /// scheme (`VAT`, `NTR`, `PSD`), a two-letter country, an optional state or province and
    /// the registration reference.
    pub fn cabf_organization_identifier(
        scheme: &str,
        country: &str,
        state_or_province: Option<&str>,
        reference: &str,
    ) -> Result<Self, ExtensionError> {
        let upper = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_uppercase());
        if !upper(scheme, 3) {
            return Err(ExtensionError::InvalidText {
                what: "cabfOrganizationIdentifier registrationSchemeIdentifier",
                reason: format!("{scheme:?} is not three upper-case letters"),
            });
        }
        if !upper(country, 2) {
            return Err(ExtensionError::InvalidText {
                what: "cabfOrganizationIdentifier registrationCountry",
                reason: format!("{country:?} is not two upper-case letters"),
            });
        }
        if let Some(st) = state_or_province
            && (st.len() > 128
                || !st
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)))
        {
            return Err(ExtensionError::InvalidText {
                what: "cabfOrganizationIdentifier registrationStateOrProvince",
                reason: format!("{st:?} is not a PrintableString of at most 128 characters"),
            });
        }
        check_display_text(
            "cabfOrganizationIdentifier registrationReference",
            reference,
            128,
        )?;
        let mut value = Vec::with_capacity(16 + reference.len());
        writer::nested(&mut value, tag::SEQUENCE, |out| {
            writer::tlv(out, tag::PRINTABLE_STRING, scheme.as_bytes());
            writer::tlv(out, tag::PRINTABLE_STRING, country.as_bytes());
            if let Some(st) = state_or_province {
                writer::tlv(out, tag::CONTEXT_0_PRIMITIVE, st.as_bytes());
            }
            writer::tlv(out, tag::UTF8_STRING, reference.as_bytes());
        });
        Ok(Self::new(CABF_ORGANIZATION_IDENTIFIER, false, value))
    }

    /// The Certificate Transparency precertificate poison (critical, value NULL; RFC 6962
    /// 3.1): marks a precertificate, which no RFC 5280 client accepts as a certificate.
    pub fn ct_poison() -> Self {
        Self::new(CT_POISON, true, vec![tag::NULL, 0x00])
    }
}

/// Checks a UTF-8 text value: non-empty, at most `max` characters, no control characters.
fn check_display_text(what: &'static str, text: &str, max: usize) -> Result<(), ExtensionError> {
    let chars = text.chars().count();
    let reason = if chars == 0 {
        "is empty".to_owned()
    } else if chars > max {
        format!("is {chars} characters long; at most {max} are allowed")
    } else if let Some(c) = text.chars().find(|c| c.is_control()) {
        format!("contains the control character {c:?}")
    } else {
        return Ok(());
    };
    Err(ExtensionError::InvalidText { what, reason })
}

/// Appends a non-negative INTEGER.
fn write_uint(out: &mut Vec<u8>, value: u64) {
    let be = value.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count().min(7);
    let mut content = Vec::with_capacity(9);
    if be[skip] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&be[skip..]);
    writer::tlv(out, tag::INTEGER, &content);
}

/// A plain ASCII mailbox `local@domain`: a local part of 1..=64 printable characters
/// without `@`, `"`, `(`, `)`, `,`, `:`, `;`, `<`, `>`, `[`, `]`, `\`, and a host name with at
/// least two labels; at most 254 characters in all.
pub(crate) fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"@\"(),:;<>[]\\".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !domain.starts_with("*.")
        && domain.contains('.')
        && is_valid_dns_name(domain)
}

/// Whether `name` is a valid (optionally `*.` wildcard) DNS host name, as
/// [`Extension::subject_alt_name`] requires.
pub(crate) fn dns_name_ok(name: &str) -> bool {
    is_valid_dns_name(name)
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

#[cfg(test)]
mod profile_extension_tests {
    use super::*;
    use crate::name::Name;

    fn oid(s: &str) -> ObjectIdentifier {
        ObjectIdentifier::new_unwrap(s)
    }

    #[test]
    fn policies_with_qualifiers() {
        let e = Extension::certificate_policies_with_qualifiers(&[
            PolicyInfo {
                oid: oid("1.2.3"),
                cps_uri: Some("http://a/"),
                user_notice: Some("hé"),
            },
            PolicyInfo {
                oid: oid("2.23.140.1.2.1"),
                cps_uri: None,
                user_notice: None,
            },
        ])
        .unwrap();
        assert!(!e.critical());
        #[rustfmt::skip]
        let expected = [
            0x30, 0x3c,
              0x30, 0x30, 0x06, 0x02, 0x2a, 0x03,
                0x30, 0x2a,
                  0x30, 0x15, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x02, 0x01,
                    0x16, 0x09, b'h', b't', b't', b'p', b':', b'/', b'/', b'a', b'/',
                  0x30, 0x11, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x02, 0x02,
                    0x30, 0x05, 0x0c, 0x03, b'h', 0xc3, 0xa9,
              0x30, 0x08, 0x06, 0x06, 0x67, 0x81, 0x0c, 0x01, 0x02, 0x01,
        ];
        assert_eq!(e.value(), expected);
        let long = "x".repeat(MAX_USER_NOTICE_CHARS + 1);
        assert!(matches!(
            Extension::certificate_policies_with_qualifiers(&[PolicyInfo {
                oid: oid("1.2.3"),
                cps_uri: None,
                user_notice: Some(&long),
            }]),
            Err(ExtensionError::InvalidText { .. })
        ));
        assert!(matches!(
            Extension::certificate_policies_with_qualifiers(&[PolicyInfo {
                oid: oid("1.2.3"),
                cps_uri: Some("ftp://x"),
                user_notice: None,
            }]),
            Err(ExtensionError::InvalidUrl(_))
        ));
        assert!(Extension::certificate_policies_with_qualifiers(&[]).is_err());
    }

    #[test]
    fn qc_statements() {
        let types = [oid("0.4.0.1862.1.6.3")];
        let pds = [("https://p/", "en")];
        let e = Extension::qc_statements(&[
            QcStatement::Compliance,
            QcStatement::Type(&types),
            QcStatement::RetentionPeriod(15),
            QcStatement::Pds(&pds),
            QcStatement::Sscd,
        ])
        .unwrap();
        assert_eq!(e.oid(), &QC_STATEMENTS);
        #[rustfmt::skip]
        let expected = [
            0x30, 0x54,
              0x30, 0x08, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x01,
              0x30, 0x13, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x06,
                0x30, 0x09, 0x06, 0x07, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x06, 0x03,
              0x30, 0x0b, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x03, 0x02, 0x01, 0x0f,
              0x30, 0x1c, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x05,
                0x30, 0x12, 0x30, 0x10, 0x16, 0x0a, b'h', b't', b't', b'p', b's', b':', b'/', b'/',
                  b'p', b'/', 0x13, 0x02, b'e', b'n',
              0x30, 0x08, 0x06, 0x06, 0x04, 0x00, 0x8e, 0x46, 0x01, 0x04,
        ];
        assert_eq!(e.value(), expected);
        let mut out = Vec::new();
        write_uint(&mut out, 200);
        assert_eq!(out, [0x02, 0x02, 0x00, 0xc8]);
        assert!(Extension::qc_statements(&[QcStatement::Pds(&[("https://p/", "EN")])]).is_err());
        assert!(Extension::qc_statements(&[QcStatement::Type(&[])]).is_err());
        assert!(Extension::qc_statements(&[]).is_err());
    }

    #[test]
    fn mixed_subject_alt_name() {
        let dir = Name::parse("CN=a").unwrap();
        let e = Extension::subject_alt_name(
            &[
                GeneralName::Email("a@b.es"),
                GeneralName::Upn("u@d"),
                GeneralName::Dns("b.es"),
                GeneralName::DirectoryName(&dir),
            ],
            false,
        )
        .unwrap();
        #[rustfmt::skip]
        let expected = [
            0x30, 0x33,
              0x81, 0x06, b'a', b'@', b'b', b'.', b'e', b's',
              0xa0, 0x13, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03,
                0xa0, 0x05, 0x0c, 0x03, b'u', b'@', b'd',
              0x82, 0x04, b'b', b'.', b'e', b's',
              0xa4, 0x0e, 0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03,
                0x0c, 0x01, b'a',
        ];
        assert_eq!(e.value(), expected);
        assert!(matches!(
            Extension::subject_alt_name(&[GeneralName::Email("nobody")], false),
            Err(ExtensionError::InvalidEmail(_))
        ));
        assert!(matches!(
            Extension::subject_alt_name(&[], true),
            Err(ExtensionError::EmptySubjectAltName)
        ));
        let empty = Name::empty();
        assert!(Extension::subject_alt_name(&[GeneralName::DirectoryName(&empty)], true).is_err());
    }

    #[test]
    fn emails() {
        for ok in ["a@b.es", "first.last+tag@sub.example.com", "x_y@a-b.org"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@b.es",
            "a@",
            "a@b",
            "a@@b.es",
            "a b@c.es",
            ".a@b.es",
            "a..b@c.es",
            "a@*.b.es",
            "ñ@b.es",
            "a@b_c.es",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn crl_dp_cabf_and_poison() {
        let e = Extension::crl_distribution_points(&["http://c/1.crl"]).unwrap();
        let mut expected = vec![0x30, 0x16, 0x30, 0x14, 0xa0, 0x12, 0xa0, 0x10, 0x86, 0x0e];
        expected.extend_from_slice(b"http://c/1.crl");
        assert_eq!(e.value(), expected);
        assert!(Extension::crl_distribution_points(&[]).is_err());
        assert!(Extension::crl_distribution_points(&["ldap://x"]).is_err());

        let e = Extension::cabf_organization_identifier("VAT", "ES", Some("V"), "A1").unwrap();
        assert_eq!(
            e.value(),
            [
                0x30, 0x10, 0x13, 0x03, b'V', b'A', b'T', 0x13, 0x02, b'E', b'S', 0x80, 0x01, b'V',
                0x0c, 0x02, b'A', b'1'
            ]
        );
        assert!(Extension::cabf_organization_identifier("VA", "ES", None, "A").is_err());
        assert!(Extension::cabf_organization_identifier("VAT", "es", None, "A").is_err());
        assert!(Extension::cabf_organization_identifier("VAT", "ES", Some("Ñ"), "A").is_err());
        assert!(Extension::cabf_organization_identifier("VAT", "ES", None, "").is_err());

        let p = Extension::ct_poison();
        assert!(p.critical());
        assert_eq!(p.value(), [0x05, 0x00]);
        assert_eq!(p.oid(), &CT_POISON);
    }
}

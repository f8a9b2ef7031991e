//! Certificate profiles as configuration, and building a certificate under a profile.
//!
//! A profile is one TOML file (see [`ProfileSpec`] for every key): key usage, extended key
//! usage, policies, QCStatements, the subject DN and subjectAltName (fixed values and
//! request-field templates), the keys, validity, revocation reasons and suspension it
//! allows, how its CRL partition is chosen and whether CT precertificates may be issued.
//! The profiles Revoca ships (FNMT-RCM AP, ACCV, a plain TLS one) are embedded and returned
//! by [`builtin_profiles`].
//!
//! ```ignore
//! let profile = builtin_profile("fnmt-ap-sede")?;
//! let partition = profile.crl_partition(&serial);            // "CRL17.crl"
//! let builder = profile.build(&IssueInput { subject: &fields, /* ... */ })?;
//! let der = builder.build(&ca_signer)?;
//! ```

mod compile;
mod request;
mod spec;
mod template;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use const_oid::ObjectIdentifier;
use revoca_status::RevocationReason;

pub use spec::{
    AttributeSpec, CabfOrganizationIdentifierSpec, CrlPartitionSpec, ExtendedKeyUsageSpec,
    FieldFormat, FieldSpec, KeyUsageSpec, PdsSpec, PolicySpec, ProfileSpec, QcStatementsSpec,
    SanSpec, StringEncoding,
};

use crate::builder::{BuildError, CertificateBuilder, IssuerInfo};
use crate::extensions::{ExtensionError, KeyUsage};
use crate::key_id::SpkiError;
use crate::serial::Serial;
use crate::validity::ValidityError;
use template::Template;

/// The profile files shipped with Revoca, embedded at build time.
const BUILTIN: &[(&str, &str)] = &[
    (
        "accv-qwac.toml",
        include_str!("../../profiles/accv-qwac.toml"),
    ),
    (
        "accv-sede-hsm.toml",
        include_str!("../../profiles/accv-sede-hsm.toml"),
    ),
    (
        "accv-sede-software.toml",
        include_str!("../../profiles/accv-sede-software.toml"),
    ),
    (
        "accv-server.toml",
        include_str!("../../profiles/accv-server.toml"),
    ),
    (
        "fnmt-ap-employee-card.toml",
        include_str!("../../profiles/fnmt-ap-employee-card.toml"),
    ),
    (
        "fnmt-ap-employee-software.toml",
        include_str!("../../profiles/fnmt-ap-employee-software.toml"),
    ),
    (
        "fnmt-ap-sede.toml",
        include_str!("../../profiles/fnmt-ap-sede.toml"),
    ),
    (
        "fnmt-ap-sello.toml",
        include_str!("../../profiles/fnmt-ap-sello.toml"),
    ),
    (
        "tls-server.toml",
        include_str!("../../profiles/tls-server.toml"),
    ),
];

/// Parses the profiles shipped with Revoca, sorted by name.
pub fn builtin_profiles() -> Result<Vec<Profile>, ProfileError> {
    let mut profiles = BUILTIN
        .iter()
        .map(|(file, text)| {
            Profile::from_toml(text).map_err(|e| ProfileError::Builtin {
                file,
                source: Box::new(e),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = profiles.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(ProfileError::DuplicateName(w[0].name.clone()));
    }
    Ok(profiles)
}

/// The shipped profile called `name`.
pub fn builtin_profile(name: &str) -> Result<Profile, ProfileError> {
    builtin_profiles()?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ProfileError::UnknownProfile(name.to_owned()))
}

/// Why a profile could not be loaded or a certificate could not be built under it. Every
/// message names the profile key or request field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The TOML does not parse or does not match [`ProfileSpec`] (unknown key, wrong type);
    /// the message carries the line and key.
    #[error("profile TOML: {0}")]
    Toml(#[from] toml::de::Error),
    /// A profile key has an unacceptable value.
    #[error("profile {profile:?}: {key}: {reason}")]
    InvalidProfile {
        /// The profile's name (as written).
        profile: String,
        /// The TOML key, e.g. `policies[0].oid`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A built-in profile file is invalid (a bug in Revoca).
    #[error("built-in profile file {file}: {source}")]
    Builtin {
        /// The file under `issuer/profiles/`.
        file: &'static str,
        /// The error.
        #[source]
        source: Box<ProfileError>,
    },
    /// Two profiles have the same name.
    #[error("two profiles are named {0:?}")]
    DuplicateName(String),
    /// No built-in profile has this name.
    #[error("no built-in profile is named {0:?}")]
    UnknownProfile(String),
    /// A required request field is absent or empty.
    #[error("request field {field:?} is required by profile {profile:?} ({description})")]
    MissingField {
        /// The profile.
        profile: String,
        /// The field.
        field: String,
        /// The field's description.
        description: String,
    },
    /// The request carries a field the profile does not use.
    #[error("request field {field:?} is not used by profile {profile:?} (its fields: {expected})")]
    UnknownField {
        /// The profile.
        profile: String,
        /// The unexpected field.
        field: String,
        /// The fields the profile accepts, comma-separated.
        expected: String,
    },
    /// A request field (or a CSR name: `csr_common_name`, `csr_dns_names`) has a bad value.
    #[error("request field {field:?}: {reason}")]
    InvalidField {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A certificate value made from the request is not acceptable (too long, wrong
    /// alphabet, CN not in the SAN, too many DNS names, ...).
    #[error("{what} (from {source_fields}): {reason}")]
    InvalidValue {
        /// Which certificate value, e.g. `subject[8] CN`.
        what: String,
        /// Where it came from, e.g. `request field(s) given_name, dni`.
        source_fields: String,
        /// What is wrong.
        reason: String,
    },
    /// The subject key type is not in the profile's `allowed_keys`.
    #[error("subject key {key} is not allowed by profile {profile:?} (allowed: {allowed})")]
    KeyNotAllowed {
        /// The profile.
        profile: String,
        /// The key type found, e.g. `RSA-1024`.
        key: String,
        /// The allowed key names, comma-separated.
        allowed: String,
    },
    /// The subject public key is malformed or of an unknown kind.
    #[error("subject public key: {0}")]
    UnsupportedKey(String),
    /// The requested validity is longer than the profile (or the BR schedule) allows.
    #[error(
        "requested_validity_secs {requested_secs} exceeds the maximum of {max_secs} s \
         ({max_days} days) for profile {profile:?}"
    )]
    ValidityTooLong {
        /// The profile.
        profile: String,
        /// What was asked for.
        requested_secs: u64,
        /// The maximum in seconds.
        max_secs: u64,
        /// The maximum in days.
        max_days: u64,
    },
    /// The requested validity is zero.
    #[error("requested_validity_secs must be at least 1")]
    ZeroValidity,
    /// The issuer's certificate has expired (or expires now).
    #[error(
        "issuer_not_after ({issuer_not_after}) is not after now_unix ({now}): the issuer has expired"
    )]
    IssuerExpired {
        /// The issuer's notAfter, Unix seconds.
        issuer_not_after: i64,
        /// The time of issuance, Unix seconds.
        now: i64,
    },
    /// A precertificate was asked for under a profile that does not allow them.
    #[error("profile {0:?} does not allow CT precertificates (precertificate_allowed = false)")]
    PrecertificateNotAllowed(String),
    /// A URL the certificate needs was empty.
    #[error("{0} is empty; every certificate carries it")]
    MissingUrl(&'static str),
    /// The subject key could not be parsed.
    #[error(transparent)]
    Spki(#[from] SpkiError),
    /// An extension value was rejected.
    #[error(transparent)]
    Extension(#[from] ExtensionError),
    /// The certificate could not be assembled.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The validity period could not be encoded.
    #[error(transparent)]
    Validity(#[from] ValidityError),
}

/// What [`Profile::build`] needs besides the profile.
#[derive(Clone, Copy, Debug)]
pub struct IssueInput<'a> {
    /// The request fields (from the RA request JSON), by name; see [`Profile::fields`].
    /// Fields the profile does not declare are refused; empty values count as absent.
    pub subject: &'a BTreeMap<String, String>,
    /// The CSR's subject common name, used only by profiles with `names_from_csr`.
    pub csr_common_name: Option<&'a str>,
    /// The CSR's requested DNS names, used only by profiles with `names_from_csr`.
    pub csr_dns_names: &'a [String],
    /// The subject's DER `SubjectPublicKeyInfo` (checked against `allowed_keys`).
    pub spki_der: &'a [u8],
    /// The serial number.
    pub serial: Serial,
    /// The issuing CA.
    pub issuer: &'a IssuerInfo,
    /// The issuing CA certificate's notAfter, in Unix seconds: the new certificate's
    /// notAfter is capped to it.
    pub issuer_not_after: i64,
    /// The time of issuance, in Unix seconds; it becomes notBefore.
    pub now_unix: i64,
    /// The validity wanted, in seconds (notAfter − notBefore + 1). `None`:
    /// [`Profile::default_validity_secs`]. More than
    /// [`Profile::effective_max_validity_secs`] is refused; either way the issuer's notAfter
    /// caps it.
    pub requested_validity_secs: Option<u64>,
    /// The OCSP responder URL (authorityInfoAccess id-ad-ocsp).
    pub ocsp_url: &'a str,
    /// The issuer certificate URL (authorityInfoAccess id-ad-caIssuers).
    pub ca_issuers_url: &'a str,
    /// The full CRL distribution point URL of this certificate's partition (the caller joins
    /// the issuer's CRL base URL and [`Profile::crl_partition`]); copied byte for byte.
    pub crl_url: &'a str,
    /// Build a CT precertificate: adds the critical poison extension
    /// 1.3.6.1.4.1.11129.2.4.3. Refused unless the profile allows precertificates.
    pub precertificate: bool,
}

/// How a profile's certificates are spread over CRLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrlPartition {
    /// One full CRL per issuer: the partition name is empty.
    Full,
    /// Every certificate names the same CRL file.
    Fixed {
        /// The CRL file name.
        name: String,
    },
    /// Partition `first + (serial mod partitions)`, named by `name_template` with `{n}`.
    SerialMod {
        /// Number of partitions.
        partitions: u32,
        /// The file name with `{n}`.
        name_template: String,
        /// The first partition number.
        first: u32,
    },
}

impl CrlPartition {
    /// The partition number for `serial` (`None` unless partitioned by serial).
    pub fn index(&self, serial: &Serial) -> Option<u32> {
        match self {
            Self::Full | Self::Fixed { .. } => None,
            Self::SerialMod {
                partitions, first, ..
            } => {
                let m = u64::from((*partitions).max(1));
                let rem = serial
                    .magnitude()
                    .iter()
                    .fold(0u64, |acc, b| (acc * 256 + u64::from(*b)) % m);
                // rem < partitions ≤ 1 000 000 and first + partitions fits (checked at load).
                Some(first.saturating_add(u32::try_from(rem).unwrap_or(u32::MAX)))
            }
        }
    }

    /// The partition file name for `serial` (empty for [`CrlPartition::Full`]).
    pub fn name(&self, serial: &Serial) -> String {
        match self {
            Self::Full => String::new(),
            Self::Fixed { name } => name.clone(),
            Self::SerialMod { name_template, .. } => {
                let n = self.index(serial).unwrap_or_default();
                name_template.replace("{n}", &n.to_string())
            }
        }
    }

    /// Every partition name, in partition order (one empty name for `Full`), so a CRL
    /// builder can publish empty partitions too.
    pub fn all_names(&self) -> Vec<String> {
        match self {
            Self::Full => vec![String::new()],
            Self::Fixed { name } => vec![name.clone()],
            Self::SerialMod {
                partitions,
                name_template,
                first,
            } => (0..*partitions)
                .map(|i| name_template.replace("{n}", &first.saturating_add(i).to_string()))
                .collect(),
        }
    }
}

/// A compiled DN attribute.
#[derive(Clone, Debug)]
struct Attribute {
    /// For messages: `subject[3] OU`, `san.directory_name[1] 2.16.724.1.3.5.3.2.2`.
    label: String,
    oid: ObjectIdentifier,
    /// DER string tag.
    tag: u8,
    max_chars: usize,
    /// countryName: the value must be an ISO 3166-1 code.
    country: bool,
    template: Template,
}

/// keyUsage as compiled.
#[derive(Clone, Copy, Debug)]
struct KeyUsageRule {
    all: Option<KeyUsage>,
    rsa_only: Option<KeyUsage>,
    critical: bool,
}

/// A compiled policy.
#[derive(Clone, Debug)]
struct Policy {
    oid: ObjectIdentifier,
    cps_uri: Option<String>,
    user_notice: Option<String>,
}

/// Compiled QCStatements.
#[derive(Clone, Debug)]
struct QcStatements {
    compliance: bool,
    types: Vec<ObjectIdentifier>,
    retention_years: Option<u32>,
    pds: Vec<(String, String)>,
    sscd: bool,
}

/// Compiled cabfOrganizationIdentifier.
#[derive(Clone, Debug)]
struct CabfOrgId {
    scheme: String,
    country: String,
    state_or_province: Option<Template>,
    reference: Template,
}

/// Compiled subjectAltName rules.
#[derive(Clone, Debug)]
struct San {
    critical: Option<bool>,
    email_field: Option<String>,
    upn_field: Option<String>,
    dns_fields: Vec<String>,
    max_dns_names: usize,
    wildcards: bool,
    directory_name: Vec<Attribute>,
}

/// A validated certificate profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The profile's name, e.g. `fnmt-ap-sede`.
    pub name: String,
    /// A one-line description.
    pub description: String,
    baseline_requirements: bool,
    max_validity_days: u32,
    allowed_keys: Vec<String>,
    suspension_allowed: bool,
    allowed_reasons: Vec<RevocationReason>,
    names_from_csr: bool,
    precertificate_allowed: bool,
    subject: Vec<Attribute>,
    crl_partition: CrlPartition,
    key_usage: KeyUsageRule,
    eku: Option<(Vec<ObjectIdentifier>, bool)>,
    policies: Vec<Policy>,
    qc_statements: Option<QcStatements>,
    cabf_org_id: Option<CabfOrgId>,
    fields: BTreeMap<String, FieldSpec>,
    san: Option<San>,
}

/// Seconds in a day.
const DAY: u64 = 86_400;

impl Profile {
    /// Parses and validates a profile (see [`ProfileSpec`]): unknown keys, unparsable OIDs,
    /// unknown key, usage, purpose or reason names, undeclared or unused fields, over-long
    /// fixed values, and BR violations in BR profiles are all refused.
    pub fn from_toml(text: &str) -> Result<Self, ProfileError> {
        let spec: ProfileSpec = toml::from_str(text)?;
        Self::from_spec(spec)
    }

    /// Validates an already-parsed [`ProfileSpec`].
    pub fn from_spec(spec: ProfileSpec) -> Result<Self, ProfileError> {
        compile::compile(spec)
    }

    /// Whether certificates of this profile may be suspended (certificateHold).
    pub fn suspension_allowed(&self) -> bool {
        self.suspension_allowed
    }

    /// The revocation reasons accepted for this profile's certificates.
    pub fn allowed_reasons(&self) -> &[RevocationReason] {
        &self.allowed_reasons
    }

    /// Whether `reason` may be used to revoke a certificate of this profile.
    pub fn reason_allowed(&self, reason: RevocationReason) -> bool {
        self.allowed_reasons.contains(&reason)
    }

    /// The key types accepted (`RSA-2048`, `P-256`, ...), as in
    /// [`revoca_signer::KeyAlgorithm::name`].
    pub fn allowed_key_names(&self) -> &[String] {
        &self.allowed_keys
    }

    /// The profile's longest validity, in seconds. BR profiles are further capped at
    /// issuance by the BR schedule; see [`Profile::effective_max_validity_secs`].
    pub fn max_validity_secs(&self) -> u64 {
        u64::from(self.max_validity_days) * DAY
    }

    /// The longest validity for a certificate issued at `now_unix`: the profile's maximum,
    /// and for BR profiles also the BR 6.3.2 (SC-081) limit in force then.
    pub fn effective_max_validity_secs(&self, now_unix: i64) -> u64 {
        let own = self.max_validity_secs();
        if self.baseline_requirements {
            own.min(br_max_validity_days(now_unix) * DAY)
        } else {
            own
        }
    }

    /// The validity a certificate issued at `now_unix` gets when none is requested, in
    /// seconds: the effective maximum, except that BR profiles stay one day under the BR
    /// limit (BR 6.3.2: "SHOULD NOT exceed" 397, 199, 99, 46 days), as linters expect.
    pub fn default_validity_secs(&self, now_unix: i64) -> u64 {
        let max = self.effective_max_validity_secs(now_unix);
        if self.baseline_requirements {
            max.min((br_max_validity_days(now_unix) - 1) * DAY)
        } else {
            max
        }
    }

    /// Whether the subject CN and DNS names come from the CSR.
    pub fn names_from_csr(&self) -> bool {
        self.names_from_csr
    }

    /// Whether CT precertificates may be issued.
    pub fn precertificate_allowed(&self) -> bool {
        self.precertificate_allowed
    }

    /// Whether the CA/Browser Forum TLS Baseline Requirements apply.
    pub fn baseline_requirements(&self) -> bool {
        self.baseline_requirements
    }

    /// The request fields the profile accepts, by name.
    pub fn fields(&self) -> &BTreeMap<String, FieldSpec> {
        &self.fields
    }

    /// How certificates are spread over CRLs.
    pub fn crl_partitioning(&self) -> &CrlPartition {
        &self.crl_partition
    }

    /// Partition name for a new certificate (e.g. `CRL17.crl`; empty for one full CRL per
    /// issuer), chosen at issuance from the serial. The same serial always gives the same
    /// name.
    pub fn crl_partition(&self, serial: &Serial) -> String {
        self.crl_partition.name(serial)
    }

    /// The partition number for `serial`, as recorded in the issuance event (`None` unless
    /// the profile partitions by serial).
    pub fn crl_partition_index(&self, serial: &Serial) -> Option<u32> {
        self.crl_partition.index(serial)
    }

    /// Builds the certificate under the profile: checks the request fields (required ones
    /// present, no unknown ones, formats and lengths), the key type and the validity, and
    /// adds basicConstraints (cA=FALSE), keyUsage, extKeyUsage, subjectKeyIdentifier,
    /// authorityKeyIdentifier, authorityInfoAccess, cRLDistributionPoints,
    /// certificatePolicies, qcStatements, subjectAltName, cabfOrganizationIdentifier and, for
    /// a precertificate, the CT poison. The caller signs it with
    /// [`CertificateBuilder::build`] (and may push further extensions, e.g. an SCT list).
    pub fn build(&self, input: &IssueInput<'_>) -> Result<CertificateBuilder, ProfileError> {
        request::build(self, input)
    }
}

/// The BR 6.3.2 maximum validity in days for a certificate issued at `now_unix` (ballot
/// SC-081).
pub fn br_max_validity_days(now_unix: i64) -> u64 {
    const MAR_15_2026: i64 = 1_773_532_800;
    const MAR_15_2027: i64 = 1_805_068_800;
    const MAR_15_2029: i64 = 1_868_227_200;
    if now_unix < MAR_15_2026 {
        398
    } else if now_unix < MAR_15_2027 {
        200
    } else if now_unix < MAR_15_2029 {
        100
    } else {
        47
    }
}

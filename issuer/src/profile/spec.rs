//! The TOML form of a certificate profile.
//!
//! Every table and key is listed here with its unit and default; unknown keys are errors.
//! Text values marked *template* may contain `{field}` placeholders, replaced by the request
//! field of that name (declared under [`ProfileSpec::fields`]), or `{csr:common_name}` (the
//! CSR's common name, only in profiles with `names_from_csr = true`). Any other `{` or `}` is
//! an error. An attribute whose template names an optional field that the request does not
//! carry is left out; an attribute with no placeholder (a fixed value) is always present.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A certificate profile as written in one TOML file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Profile name, `[a-z0-9-]+` (e.g. `fnmt-ap-sede`). Required.
    pub name: String,
    /// One-line human description. Required, non-empty.
    pub description: String,
    /// Whether the CA/Browser Forum TLS Baseline Requirements apply. Default: `true` when the
    /// extended key usage lists `serverAuth`, else `false`. When true the profile must have
    /// `max_validity_days` ≤ 398, no suspension, reasons within the BR 7.2.2 set, no
    /// `anyExtendedKeyUsage`, a CA/B Forum reserved policy, a subjectAltName of dNSNames only,
    /// no repeated subject attribute and no OU; at issuance the BR validity schedule (SC-081:
    /// 200 days from 2026-03-15, 100 from 2027-03-15, 47 from 2029-03-15) also caps validity
    /// and a subject CN must be one of the dNSNames.
    #[serde(default)]
    pub baseline_requirements: Option<bool>,
    /// Longest validity, in days of 86 400 s (notAfter − notBefore + 1 s). Required,
    /// 1..=3660. The issuer's notAfter caps it further at issuance.
    pub max_validity_days: u32,
    /// Subject key types accepted: `RSA-2048`, `RSA-3072`, `RSA-4096`, `P-256`, `P-384`,
    /// `Ed25519` (not in BR profiles). Required, non-empty; RSA sizes match exactly.
    pub allowed_keys: Vec<String>,
    /// Whether certificates may be suspended (certificateHold). Default `false`; must be
    /// `false` in BR profiles.
    #[serde(default)]
    pub suspension_allowed: bool,
    /// Revocation reasons (RFC 5280 names, e.g. `keyCompromise`) accepted for certificates of
    /// this profile. Required, non-empty. `certificateHold` is not a reason here (use
    /// `suspension_allowed`), `removeFromCRL` is never accepted.
    pub allowed_reasons: Vec<String>,
    /// Whether the subject CN and the dNSNames come from the CSR (`{csr:common_name}` in
    /// templates; the CSR's DNS names, plus its CN if missing, become the dNSNames) instead of
    /// the request fields. Default `false`.
    #[serde(default)]
    pub names_from_csr: bool,
    /// Whether a CT precertificate (critical poison extension) may be issued. Default
    /// `false`.
    #[serde(default)]
    pub precertificate_allowed: bool,
    /// Subject DN attributes in DER order (the first is the first RDN, conventionally C).
    /// Default: empty subject (then the subjectAltName is critical).
    #[serde(default)]
    pub subject: Vec<AttributeSpec>,
    /// How the CRL partition (written into the CRL distribution point) is chosen. Required.
    pub crl_partition: CrlPartitionSpec,
    /// keyUsage. Required.
    pub key_usage: KeyUsageSpec,
    /// extKeyUsage. Default: absent.
    #[serde(default)]
    pub extended_key_usage: Option<ExtendedKeyUsageSpec>,
    /// certificatePolicies, in order. Default: none (no extension).
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    /// qcStatements (ETSI EN 319 412-5). Default: absent.
    #[serde(default)]
    pub qc_statements: Option<QcStatementsSpec>,
    /// cabfOrganizationIdentifier (2.23.140.3.1). Default: absent.
    #[serde(default)]
    pub cabf_organization_identifier: Option<CabfOrganizationIdentifierSpec>,
    /// The request fields the profile accepts, by name (`[a-z][a-z0-9_]*`). Any other field in
    /// a request is refused. Every declared field must be used by a template or the SAN.
    /// Default: none.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
    /// subjectAltName. Default: absent (only allowed when the subject is not empty).
    #[serde(default)]
    pub san: Option<SanSpec>,
}

/// How CRL partitions are chosen (`[crl_partition]`, tagged by `kind`).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CrlPartitionSpec {
    /// `kind = "full"`: one full CRL per issuing CA; the partition name is empty, so the
    /// CDP is the issuer's CRL URL unchanged.
    Full {},
    /// `kind = "fixed"`: every certificate names the same CRL file `name`
    /// (`[A-Za-z0-9._-]+`).
    Fixed {
        /// The CRL file name appended to the issuer's CRL base URL.
        name: String,
    },
    /// `kind = "serial-mod"`: partition `n = first + (serial mod partitions)`, named by
    /// `name_template` with `{n}` replaced (e.g. `CRL{n}.crl`).
    SerialMod {
        /// Number of partitions, 1..=1 000 000.
        partitions: u32,
        /// File name with exactly one `{n}`; otherwise `[A-Za-z0-9._-]`.
        name_template: String,
        /// The first partition number. Default 1.
        #[serde(default = "one")]
        first: u32,
    },
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// `[key_usage]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyUsageSpec {
    /// Whether the extension is critical. Default `true` (RFC 5280 SHOULD).
    #[serde(default = "yes")]
    pub critical: bool,
    /// Bits for every key: `digitalSignature`, `contentCommitment` (alias
    /// `nonRepudiation`), `keyEncipherment`, `dataEncipherment`, `keyAgreement`,
    /// `encipherOnly`, `decipherOnly` (`keyCertSign`/`cRLSign` are refused: cA is FALSE).
    /// Default: none.
    #[serde(default)]
    pub bits: Vec<String>,
    /// Bits added only for RSA subject keys (typically `keyEncipherment`). Default: none.
    #[serde(default)]
    pub rsa_only: Vec<String>,
}

/// `[extended_key_usage]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendedKeyUsageSpec {
    /// Whether the extension is critical. Default `false`.
    #[serde(default)]
    pub critical: bool,
    /// Purposes, in order: `serverAuth`, `clientAuth`, `codeSigning`, `emailProtection`,
    /// `timeStamping`, `OCSPSigning`, `anyExtendedKeyUsage`, `msSmartcardLogin`
    /// (1.3.6.1.4.1.311.20.2.2), or a dotted OID. Required, non-empty.
    pub purposes: Vec<String>,
}

/// One `[[policies]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// The policy OID, dotted. Required.
    pub oid: String,
    /// CPS pointer qualifier (an `http://`/`https://` URL, IA5String). Default: none.
    #[serde(default)]
    pub cps_uri: Option<String>,
    /// User notice qualifier, `explicitText` UTF8String of at most 200 characters. Default:
    /// none.
    #[serde(default)]
    pub user_notice: Option<String>,
}

/// `[qc_statements]`, encoded in the order compliance, type, retention, PDS, SSCD.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QcStatementsSpec {
    /// QcCompliance (0.4.0.1862.1.1). Default `false`.
    #[serde(default)]
    pub compliance: bool,
    /// QcType (0.4.0.1862.1.6): `esign`, `eseal`, `web` or dotted OIDs. Default: none
    /// (statement absent).
    #[serde(default)]
    pub types: Vec<String>,
    /// QcRetentionPeriod / "QcEuRetentionPeriod" (0.4.0.1862.1.3), in years, 1..=100.
    /// Default: absent.
    #[serde(default)]
    pub retention_period_years: Option<u32>,
    /// QcPDS (0.4.0.1862.1.5) locations. Default: none (statement absent).
    #[serde(default)]
    pub pds: Vec<PdsSpec>,
    /// QcSSCD (0.4.0.1862.1.4): the key is in a (Q)SCD. Default `false`.
    #[serde(default)]
    pub sscd: bool,
}

/// One PKI disclosure statement location.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdsSpec {
    /// The PDS URL (`http://`/`https://`). Required.
    pub url: String,
    /// Two-letter lower-case ISO 639-1 language code. Required.
    pub language: String,
}

/// `[cabf_organization_identifier]` (CA/B Forum EV Guidelines 9.8.2 syntax).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CabfOrganizationIdentifierSpec {
    /// registrationSchemeIdentifier: three upper-case letters (`VAT`, `NTR`, `PSD`).
    /// Required.
    pub scheme: String,
    /// registrationCountry: ISO 3166-1 alpha-2. Required.
    pub country: String,
    /// registrationStateOrProvince (template, PrintableString). Default: absent.
    #[serde(default)]
    pub state_or_province: Option<String>,
    /// registrationReference (template, UTF8String, at most 128 characters). Required.
    pub reference: String,
}

/// One request field (`[fields.<name>]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// What the RA puts here (for forms and error messages). Default: empty.
    #[serde(default)]
    pub description: String,
    /// Whether the request must carry the field (a non-empty value). Default `false`; an
    /// empty string counts as absent.
    #[serde(default)]
    pub required: bool,
    /// How the value is checked. Default `text`.
    #[serde(default)]
    pub format: FieldFormat,
    /// Longest value, in characters. Default by format: text 256, dni-nie/nif 9, email 254,
    /// dns-name 253, dns-name-list 4096, country 2. May not exceed the default.
    #[serde(default)]
    pub max_chars: Option<usize>,
    /// Letters must be capitals without accents (ACCV 7.1.4; `Ñ` and `Ç` are letters, not
    /// accented, and are allowed). Default `false`.
    #[serde(default)]
    pub upper_case: bool,
}

/// The format of a request field.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FieldFormat {
    /// Any text without control characters or surrounding white space.
    #[default]
    Text,
    /// A Spanish DNI (`12345678Z`) or NIE (`X1234567L`): shape only, no check letter test.
    DniNie,
    /// A Spanish NIF of an entity (`Q2826004J`) or a person (DNI/NIE/K/L/M): shape only.
    Nif,
    /// An ASCII e-mail address `local@domain.tld`.
    Email,
    /// A DNS host name (A-labels; lower-cased before use).
    DnsName,
    /// DNS host names separated by commas and/or white space (lower-cased before use).
    DnsNameList,
    /// An ISO 3166-1 alpha-2 country code.
    Country,
}

/// The string type an attribute value is encoded with.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum StringEncoding {
    /// UTF8String.
    Utf8,
    /// PrintableString.
    Printable,
}

/// One DN attribute: in `subject` or `san.directory_name`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeSpec {
    /// The attribute type: `C`, `ST`, `L`, `O`, `OU`, `CN`, `serialNumber`, `SN`/`surname`,
    /// `GN`/`givenName`, `title`, `organizationIdentifier`, or a dotted OID. Required.
    pub attribute: String,
    /// The value (template). Required.
    pub value: String,
    /// String type. Default: PrintableString for `C` and `serialNumber` (the only type they
    /// allow), UTF8String otherwise.
    #[serde(default)]
    pub encoding: Option<StringEncoding>,
    /// Longest value, in characters. Default: the RFC 5280 upper bound (CN, O, OU,
    /// serialNumber, title 64; L, ST 128; C 2; SN, GN 32 768), 128 for organizationIdentifier
    /// and dotted OIDs. May not exceed the RFC 5280 bound.
    #[serde(default)]
    pub max_chars: Option<usize>,
}

/// `[san]`: subjectAltName, encoded in the order rfc822Name, UPN, dNSNames,
/// directoryName.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanSpec {
    /// Criticality. Default: critical exactly when the subject is empty (RFC 5280 4.2.1.6).
    #[serde(default)]
    pub critical: Option<bool>,
    /// Request field (format `email`) giving an rfc822Name. Default: none.
    #[serde(default)]
    pub email_field: Option<String>,
    /// Request field (format `text`) giving a Microsoft UPN otherName. Default: none.
    #[serde(default)]
    pub upn_field: Option<String>,
    /// Request fields (format `dns-name` or `dns-name-list`) giving dNSNames, in order;
    /// duplicates are dropped. Must be empty with `names_from_csr`. Default: none.
    #[serde(default)]
    pub dns_fields: Vec<String>,
    /// Most dNSNames allowed. Default 100.
    #[serde(default = "hundred")]
    pub max_dns_names: usize,
    /// Whether `*.` wildcard dNSNames are allowed. Default `false`.
    #[serde(default)]
    pub wildcards: bool,
    /// directoryName attributes, in order (one RDN each). Default: none (no directoryName).
    #[serde(default)]
    pub directory_name: Vec<AttributeSpec>,
}

fn hundred() -> usize {
    100
}

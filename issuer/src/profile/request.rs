//! Checking a request against a profile and building the certificate.

use const_oid::ObjectIdentifier;
use der::{Decode, Reader, SliceReader};
use spki::SubjectPublicKeyInfoRef;

use super::spec::{FieldFormat, FieldSpec};
use super::template::Values;
use super::{Attribute, IssueInput, Profile, ProfileError};
use crate::builder::CertificateBuilder;
use crate::extensions::{Extension, GeneralName, PolicyInfo, dns_name_ok, is_valid_email};
use crate::key_id::{KeyKind, key_kind};
use crate::name::Name;
use crate::validity::Validity;
use crate::writer::{self, tag};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// ISO 3166-1 alpha-2 codes (officially assigned, plus XK).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI \
    BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY \
    CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN \
    GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH \
    KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO \
    MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL \
    PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV \
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN \
    VU WF WS XK YE YT ZA ZM ZW";

/// Whether `code` is an ISO 3166-1 alpha-2 country code.
pub(super) fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split_ascii_whitespace().any(|c| c == code)
}

/// The default (and largest) `max_chars` of a field format.
pub(super) fn default_max_chars(format: FieldFormat) -> usize {
    match format {
        FieldFormat::Text => 256,
        FieldFormat::DniNie | FieldFormat::Nif => 9,
        FieldFormat::Email => 254,
        FieldFormat::DnsName => 253,
        FieldFormat::DnsNameList => 4096,
        FieldFormat::Country => 2,
    }
}

/// The PrintableString alphabet (X.680 41.4).
fn is_printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

/// Checks a rendered attribute value: non-empty, within its bound, in its string type's
/// alphabet, an ISO code for countryName.
pub(super) fn check_attribute_value(attr: &Attribute, value: &str) -> Result<(), ProfileError> {
    let fail = |reason: String| ProfileError::InvalidValue {
        what: attr.label.clone(),
        source_fields: attr.template.sources(),
        reason,
    };
    let chars = value.chars().count();
    if chars == 0 {
        return Err(fail("is empty".to_owned()));
    }
    if chars > attr.max_chars {
        return Err(fail(format!(
            "is {chars} characters long; at most {} are allowed",
            attr.max_chars
        )));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(fail(format!("contains the control character {c:?}")));
    }
    if attr.tag == tag::PRINTABLE_STRING
        && let Some(c) = value.chars().find(|c| !is_printable(*c))
    {
        return Err(fail(format!(
            "{c:?} cannot be written in a PrintableString"
        )));
    }
    if attr.country && !is_country(value) {
        return Err(fail(format!(
            "{value:?} is not an ISO 3166-1 alpha-2 country code"
        )));
    }
    Ok(())
}

fn is_dni(v: &[u8]) -> bool {
    v.len() == 9 && v[..8].iter().all(u8::is_ascii_digit) && v[8].is_ascii_uppercase()
}

fn is_nie(v: &[u8]) -> bool {
    v.len() == 9
        && matches!(v[0], b'X' | b'Y' | b'Z')
        && v[1..8].iter().all(u8::is_ascii_digit)
        && v[8].is_ascii_uppercase()
}

/// An entity NIF (CIF shape) or a personal NIF of the K/L/M kinds.
fn is_entity_nif(v: &[u8]) -> bool {
    v.len() == 9
        && b"ABCDEFGHJKLMNPQRSUVW".contains(&v[0])
        && v[1..8].iter().all(u8::is_ascii_digit)
        && (v[8].is_ascii_digit() || v[8].is_ascii_uppercase())
}

/// Checks and normalises one request field value.
fn check_field(name: &str, spec: &FieldSpec, raw: &str) -> Result<String, ProfileError> {
    let fail = |reason: String| ProfileError::InvalidField {
        field: name.to_owned(),
        reason,
    };
    if raw.trim() != raw {
        return Err(fail("has leading or trailing white space".to_owned()));
    }
    if let Some(c) = raw.chars().find(|c| c.is_control()) {
        return Err(fail(format!("contains the control character {c:?}")));
    }
    let max = spec
        .max_chars
        .unwrap_or_else(|| default_max_chars(spec.format));
    let chars = raw.chars().count();
    if chars > max {
        return Err(fail(format!(
            "is {chars} characters long; at most {max} are allowed"
        )));
    }
    if spec.upper_case {
        if let Some(c) = raw.chars().find(|c| c.is_lowercase()) {
            return Err(fail(format!("must be in capital letters (found {c:?})")));
        }
        if let Some(c) = raw
            .chars()
            .find(|c| !c.is_ascii() && c.is_alphabetic() && !"ÑÇ".contains(*c))
        {
            return Err(fail(format!(
                "must be written without accents (found {c:?})"
            )));
        }
    }
    let bytes = raw.as_bytes();
    let value = match spec.format {
        FieldFormat::Text => raw.to_owned(),
        FieldFormat::DniNie => {
            if !(is_dni(bytes) || is_nie(bytes)) {
                return Err(fail(format!(
                    "{raw:?} is not a DNI (8 digits and a capital letter) or NIE (X, Y or Z, \
                     7 digits and a capital letter)"
                )));
            }
            raw.to_owned()
        }
        FieldFormat::Nif => {
            if !(is_dni(bytes) || is_nie(bytes) || is_entity_nif(bytes)) {
                return Err(fail(format!(
                    "{raw:?} is not a NIF (e.g. Q2826004J, 12345678Z, X1234567L)"
                )));
            }
            raw.to_owned()
        }
        FieldFormat::Email => {
            if !is_valid_email(raw) {
                return Err(fail(format!(
                    "{raw:?} is not an ASCII e-mail address local@domain.tld"
                )));
            }
            raw.to_owned()
        }
        FieldFormat::DnsName => {
            let v = raw.to_ascii_lowercase();
            if !dns_name_ok(&v) {
                return Err(fail(format!("{raw:?} is not a DNS host name")));
            }
            v
        }
        FieldFormat::DnsNameList => {
            let names = split_dns_list(raw);
            if names.is_empty() {
                return Err(fail("holds no DNS name".to_owned()));
            }
            if let Some(bad) = names.iter().find(|n| !dns_name_ok(n)) {
                return Err(fail(format!("{bad:?} is not a DNS host name")));
            }
            names.join(",")
        }
        FieldFormat::Country => {
            if !is_country(raw) {
                return Err(fail(format!(
                    "{raw:?} is not an ISO 3166-1 alpha-2 country code"
                )));
            }
            raw.to_owned()
        }
    };
    Ok(value)
}

/// Splits a list of DNS names on commas and white space, lower-cased.
fn split_dns_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Checks the request fields: no unknown field, required ones present, values valid.
fn check_request(profile: &Profile, input: &IssueInput<'_>) -> Result<Values, ProfileError> {
    let mut values = Values::default();
    for (name, raw) in input.subject {
        let Some(spec) = profile.fields.get(name) else {
            return Err(ProfileError::UnknownField {
                profile: profile.name.clone(),
                field: name.clone(),
                expected: profile
                    .fields
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if raw.is_empty() {
            continue;
        }
        values
            .fields
            .insert(name.clone(), check_field(name, spec, raw)?);
    }
    for (name, spec) in &profile.fields {
        if spec.required && !values.fields.contains_key(name) {
            return Err(ProfileError::MissingField {
                profile: profile.name.clone(),
                field: name.clone(),
                description: spec.description.clone(),
            });
        }
    }
    if profile.names_from_csr
        && let Some(cn) = input.csr_common_name.filter(|c| !c.is_empty())
    {
        let v = cn.to_ascii_lowercase();
        if !dns_name_ok(&v) {
            return Err(ProfileError::InvalidField {
                field: "csr_common_name".to_owned(),
                reason: format!("{cn:?} is not a DNS host name"),
            });
        }
        values.csr_common_name = Some(v);
    }
    Ok(values)
}

/// The key type name (`RSA-2048`, `P-256`, `Ed25519`) of a DER SubjectPublicKeyInfo.
pub(super) fn key_name(spki_der: &[u8]) -> Result<String, ProfileError> {
    let bad = |why: String| ProfileError::UnsupportedKey(why);
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| bad(format!("not a DER SubjectPublicKeyInfo ({e})")))?;
    match spki.algorithm.oid {
        RSA_ENCRYPTION => {
            let key = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| bad("RSA key BIT STRING has unused bits".to_owned()))?;
            let bits = rsa_modulus_bits(key)
                .map_err(|e| bad(format!("RSA public key is malformed ({e})")))?;
            Ok(format!("RSA-{bits}"))
        }
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|e| bad(format!("EC key without a named curve ({e})")))?;
            Ok(match curve {
                P256 => "P-256".to_owned(),
                P384 => "P-384".to_owned(),
                P521 => "P-521".to_owned(),
                other => format!("EC curve {other}"),
            })
        }
        ED25519 => Ok("Ed25519".to_owned()),
        other => Err(bad(format!(
            "algorithm {other} is not RSA, ECDSA or Ed25519"
        ))),
    }
}

/// The bit length of the modulus of a DER `RSAPublicKey`.
fn rsa_modulus_bits(der: &[u8]) -> der::Result<usize> {
    let mut reader = SliceReader::new(der)?;
    let bits = reader.sequence(|r| {
        let n = der::asn1::UintRef::decode(r)?;
        let _e = der::asn1::UintRef::decode(r)?;
        let bytes = n.as_bytes();
        Ok(match bytes.first() {
            None => 0,
            Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
        })
    })?;
    reader.finish(bits)
}

/// Encodes DN attributes as a DER `Name`, one attribute per RDN, in order.
fn encode_name(attrs: &[(&Attribute, String)]) -> Result<Name, ProfileError> {
    let mut der = Vec::with_capacity(32 + attrs.iter().map(|(_, v)| v.len() + 16).sum::<usize>());
    writer::nested(&mut der, tag::SEQUENCE, |out| {
        for (attr, value) in attrs {
            writer::nested(out, tag::SET, |out| {
                writer::nested(out, tag::SEQUENCE, |out| {
                    writer::oid(out, &attr.oid);
                    writer::tlv(out, attr.tag, value.as_bytes());
                });
            });
        }
    });
    Name::from_der(der).map_err(|e| ProfileError::InvalidValue {
        what: "distinguished name".to_owned(),
        source_fields: "the profile".to_owned(),
        reason: e.to_string(),
    })
}

/// Renders attributes, leaving out those whose optional fields are absent.
fn render<'a>(
    attrs: &'a [Attribute],
    values: &Values,
) -> Result<Vec<(&'a Attribute, String)>, ProfileError> {
    let mut out = Vec::with_capacity(attrs.len());
    for a in attrs {
        if let Some(v) = a.template.render(values) {
            check_attribute_value(a, &v)?;
            out.push((a, v));
        }
    }
    Ok(out)
}

/// The dNSNames for the SAN, checked, lower-cased and without duplicates.
fn dns_names(
    profile: &Profile,
    input: &IssueInput<'_>,
    values: &Values,
) -> Result<Vec<String>, ProfileError> {
    let Some(san) = &profile.san else {
        return Ok(Vec::new());
    };
    // (name, where it came from)
    let mut found: Vec<(String, String)> = Vec::new();
    if profile.names_from_csr {
        for n in input.csr_dns_names {
            found.push((n.to_ascii_lowercase(), "csr_dns_names".to_owned()));
        }
        if let Some(cn) = &values.csr_common_name {
            found.push((cn.clone(), "csr_common_name".to_owned()));
        }
        if found.is_empty() {
            return Err(ProfileError::InvalidField {
                field: "csr_dns_names".to_owned(),
                reason: format!(
                    "the CSR carries no DNS name, and profile {:?} takes its names from the CSR",
                    profile.name
                ),
            });
        }
    } else {
        for f in &san.dns_fields {
            if let Some(v) = values.fields.get(f) {
                found.extend(v.split(',').map(|n| (n.to_owned(), f.clone())));
            }
        }
    }
    let mut names: Vec<String> = Vec::with_capacity(found.len());
    for (name, field) in found {
        let fail = |reason: String| ProfileError::InvalidField {
            field: field.clone(),
            reason,
        };
        if !dns_name_ok(&name) {
            return Err(fail(format!("{name:?} is not a DNS host name")));
        }
        if name.starts_with("*.") && !san.wildcards {
            return Err(fail(format!(
                "{name:?}: wildcards are not allowed by profile {:?}",
                profile.name
            )));
        }
        if profile.baseline_requirements && !name.trim_start_matches("*.").contains('.') {
            return Err(fail(format!(
                "{name:?} is not a fully-qualified domain name (BR 7.1.2.7.12 forbids internal names)"
            )));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.len() > san.max_dns_names {
        return Err(ProfileError::InvalidValue {
            what: "subjectAltName dNSNames".to_owned(),
            source_fields: if profile.names_from_csr {
                "the CSR".to_owned()
            } else {
                format!("request field(s) {}", san.dns_fields.join(", "))
            },
            reason: format!(
                "{} names; profile {:?} allows at most {}",
                names.len(),
                profile.name,
                san.max_dns_names
            ),
        });
    }
    Ok(names)
}

/// Builds the certificate; see [`Profile::build`].
pub(super) fn build(
    profile: &Profile,
    input: &IssueInput<'_>,
) -> Result<CertificateBuilder, ProfileError> {
    if input.precertificate && !profile.precertificate_allowed {
        return Err(ProfileError::PrecertificateNotAllowed(profile.name.clone()));
    }
    for (name, url) in [
        ("ocsp_url", input.ocsp_url),
        ("ca_issuers_url", input.ca_issuers_url),
        ("crl_url", input.crl_url),
    ] {
        if url.is_empty() {
            return Err(ProfileError::MissingUrl(name));
        }
    }

    // Key.
    let key = key_name(input.spki_der)?;
    if !profile.allowed_keys.contains(&key) {
        return Err(ProfileError::KeyNotAllowed {
            profile: profile.name.clone(),
            key,
            allowed: profile.allowed_keys.join(", "),
        });
    }
    let rsa = key_kind(input.spki_der)? == KeyKind::Rsa;

    let values = check_request(profile, input)?;

    // Validity.
    if input.issuer_not_after <= input.now_unix {
        return Err(ProfileError::IssuerExpired {
            issuer_not_after: input.issuer_not_after,
            now: input.now_unix,
        });
    }
    let max_secs = profile.effective_max_validity_secs(input.now_unix);
    let secs = match input.requested_validity_secs {
        Some(0) => return Err(ProfileError::ZeroValidity),
        Some(s) if s > max_secs => {
            return Err(ProfileError::ValidityTooLong {
                profile: profile.name.clone(),
                requested_secs: s,
                max_secs,
                max_days: max_secs / super::DAY,
            });
        }
        Some(s) => s,
        None => profile.default_validity_secs(input.now_unix),
    };
    let not_after = input
        .now_unix
        .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
        .saturating_sub(1)
        .min(input.issuer_not_after);
    let validity = Validity::new(input.now_unix, not_after)?;

    // Names.
    let subject_values = render(&profile.subject, &values)?;
    let dns = dns_names(profile, input, &values)?;
    if profile.baseline_requirements
        && let Some((_, cn)) = subject_values.iter().find(|(a, _)| a.oid == CN)
        && !dns.iter().any(|d| d.eq_ignore_ascii_case(cn))
    {
        return Err(ProfileError::InvalidValue {
            what: "subject CN".to_owned(),
            source_fields: subject_values
                .iter()
                .find(|(a, _)| a.oid == CN)
                .map(|(a, _)| a.template.sources())
                .unwrap_or_default(),
            reason: format!("{cn:?} is not one of the subjectAltName dNSNames (BR 7.1.4.3)"),
        });
    }
    let subject = encode_name(&subject_values)?;

    let mut b = CertificateBuilder::new(
        input.serial,
        subject.clone(),
        validity,
        input.spki_der,
        input.issuer,
    )?;
    b.push(Extension::basic_constraints(false, None))?;

    let usage = match (profile.key_usage.all, profile.key_usage.rsa_only, rsa) {
        (Some(a), Some(r), true) => Some(a | r),
        (None, Some(r), true) => Some(r),
        (a, _, _) => a,
    };
    let Some(usage) = usage else {
        return Err(ProfileError::KeyNotAllowed {
            profile: profile.name.clone(),
            key,
            allowed: profile.allowed_keys.join(", "),
        });
    };
    let ku = Extension::key_usage(usage);
    b.push(Extension::new(
        *ku.oid(),
        profile.key_usage.critical,
        ku.value().to_vec(),
    ))?;
    if let Some((purposes, critical)) = &profile.eku {
        let e = Extension::ext_key_usage(purposes);
        b.push(Extension::new(*e.oid(), *critical, e.value().to_vec()))?;
    }
    let ski = b.subject_key_id().to_vec();
    b.push(Extension::subject_key_identifier(&ski))?;
    b.push(Extension::authority_key_identifier(input.issuer.key_id()))?;
    b.push(Extension::authority_info_access(
        Some(input.ocsp_url),
        Some(input.ca_issuers_url),
    )?)?;
    b.push(Extension::crl_distribution_points(&[input.crl_url])?)?;
    if !profile.policies.is_empty() {
        let infos: Vec<PolicyInfo<'_>> = profile
            .policies
            .iter()
            .map(|p| PolicyInfo {
                oid: p.oid,
                cps_uri: p.cps_uri.as_deref(),
                user_notice: p.user_notice.as_deref(),
            })
            .collect();
        b.push(Extension::certificate_policies_with_qualifiers(&infos)?)?;
    }
    if let Some(q) = &profile.qc_statements {
        let mut pds = Vec::new();
        let statements = super::compile::statements(q, &mut pds);
        b.push(Extension::qc_statements(&statements)?)?;
    }

    if let Some(san) = &profile.san {
        let dir_values = render(&san.directory_name, &values)?;
        let dir_name = if dir_values.is_empty() {
            None
        } else {
            Some(encode_name(&dir_values)?)
        };
        let mut names: Vec<GeneralName<'_>> = Vec::with_capacity(dns.len() + 3);
        let email = san.email_field.as_ref().and_then(|f| values.fields.get(f));
        if let Some(e) = email {
            names.push(GeneralName::Email(e));
        }
        let upn = san.upn_field.as_ref().and_then(|f| values.fields.get(f));
        if let Some(u) = upn {
            names.push(GeneralName::Upn(u));
        }
        names.extend(dns.iter().map(|d| GeneralName::Dns(d)));
        if let Some(d) = &dir_name {
            names.push(GeneralName::DirectoryName(d));
        }
        if names.is_empty() {
            return Err(ProfileError::InvalidValue {
                what: "subjectAltName".to_owned(),
                source_fields: "the request".to_owned(),
                reason: "would hold no name".to_owned(),
            });
        }
        let critical = san.critical.unwrap_or_else(|| subject.is_empty());
        b.push(Extension::subject_alt_name(&names, critical)?)?;
    } else if subject.is_empty() {
        return Err(ProfileError::InvalidValue {
            what: "subject".to_owned(),
            source_fields: "the request".to_owned(),
            reason: "is empty and the profile has no subjectAltName".to_owned(),
        });
    }

    if let Some(c) = &profile.cabf_org_id {
        let what = "cabfOrganizationIdentifier";
        let render_one = |t: &super::Template| {
            t.render(&values).ok_or_else(|| ProfileError::InvalidValue {
                what: what.to_owned(),
                source_fields: t.sources(),
                reason: "a field it needs is absent".to_owned(),
            })
        };
        let reference = render_one(&c.reference)?;
        let state = match &c.state_or_province {
            None => None,
            Some(t) => t.render(&values),
        };
        b.push(Extension::cabf_organization_identifier(
            &c.scheme,
            &c.country,
            state.as_deref(),
            &reference,
        )?)?;
    }
    if input.precertificate {
        b.push(Extension::ct_poison())?;
    }
    Ok(b)
}

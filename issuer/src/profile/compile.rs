//! Validating a [`ProfileSpec`] and compiling it into a [`Profile`].

use std::collections::{BTreeMap, BTreeSet};

use const_oid::ObjectIdentifier;
use revoca_signer::KeyAlgorithm;
use revoca_status::RevocationReason;

use super::spec::{
    AttributeSpec, CrlPartitionSpec, FieldFormat, FieldSpec, ProfileSpec, StringEncoding,
};
use super::template::{Template, is_field_name};
use super::{
    Attribute, CabfOrgId, CrlPartition, KeyUsageRule, Policy, Profile, ProfileError, QcStatements,
    San,
};
use crate::extensions::{Extension, KeyUsage, PolicyInfo, QcStatement};
use crate::oid;

/// A DN attribute type the profiles know by name.
struct KnownAttribute {
    names: &'static [&'static str],
    oid: ObjectIdentifier,
    /// Upper bound in characters (RFC 5280 Appendix A; 128 where it sets none).
    bound: usize,
    /// PrintableString is the only string type allowed.
    printable_only: bool,
}

const KNOWN_ATTRIBUTES: &[KnownAttribute] = &[
    KnownAttribute {
        names: &["C", "countryName"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.6"),
        bound: 2,
        printable_only: true,
    },
    KnownAttribute {
        names: &["ST", "stateOrProvinceName"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.8"),
        bound: 128,
        printable_only: false,
    },
    KnownAttribute {
        names: &["L", "localityName"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.7"),
        bound: 128,
        printable_only: false,
    },
    KnownAttribute {
        names: &["O", "organizationName"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.10"),
        bound: 64,
        printable_only: false,
    },
    KnownAttribute {
        names: &["OU", "organizationalUnitName"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.11"),
        bound: 64,
        printable_only: false,
    },
    KnownAttribute {
        names: &["CN", "commonName"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.3"),
        bound: 64,
        printable_only: false,
    },
    KnownAttribute {
        names: &["serialNumber"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.5"),
        bound: 64,
        printable_only: true,
    },
    KnownAttribute {
        names: &["SN", "surname"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.4"),
        bound: 32_768,
        printable_only: false,
    },
    KnownAttribute {
        names: &["GN", "givenName"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.42"),
        bound: 32_768,
        printable_only: false,
    },
    KnownAttribute {
        names: &["title"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.12"),
        bound: 64,
        printable_only: false,
    },
    KnownAttribute {
        names: &["organizationIdentifier"],
        oid: ObjectIdentifier::new_unwrap("2.5.4.97"),
        bound: 128,
        printable_only: false,
    },
];

/// Bound for attributes given by dotted OID.
const OTHER_ATTRIBUTE_BOUND: usize = 128;
/// Longest max_validity_days accepted (ten years and leap days): a guard against units.
const MAX_VALIDITY_DAYS: u32 = 3660;
/// Most CRL partitions.
const MAX_PARTITIONS: u32 = 1_000_000;

const OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;

/// The CA/B Forum reserved TLS policy identifiers (BR 7.1.6.1).
const CABF_TLS_POLICIES: [ObjectIdentifier; 4] = [
    ObjectIdentifier::new_unwrap("2.23.140.1.2.1"),
    ObjectIdentifier::new_unwrap("2.23.140.1.2.2"),
    ObjectIdentifier::new_unwrap("2.23.140.1.2.3"),
    ObjectIdentifier::new_unwrap("2.23.140.1.1"),
];

/// The reasons BR 7.2.2 allows for subscriber certificates (`unspecified` means "omitted").
const BR_REASONS: [RevocationReason; 6] = [
    RevocationReason::Unspecified,
    RevocationReason::KeyCompromise,
    RevocationReason::AffiliationChanged,
    RevocationReason::Superseded,
    RevocationReason::CessationOfOperation,
    RevocationReason::PrivilegeWithdrawn,
];

/// Keys a BR profile may allow (BR 6.1.5; Mozilla policy excludes P-521 and Ed25519).
const BR_KEYS: [&str; 5] = ["RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384"];

/// Extended key usage purposes by name.
const PURPOSES: &[(&str, &str)] = &[
    ("serverAuth", "1.3.6.1.5.5.7.3.1"),
    ("clientAuth", "1.3.6.1.5.5.7.3.2"),
    ("codeSigning", "1.3.6.1.5.5.7.3.3"),
    ("emailProtection", "1.3.6.1.5.5.7.3.4"),
    ("timeStamping", "1.3.6.1.5.5.7.3.8"),
    ("OCSPSigning", "1.3.6.1.5.5.7.3.9"),
    ("anyExtendedKeyUsage", "2.5.29.37.0"),
    ("msSmartcardLogin", "1.3.6.1.4.1.311.20.2.2"),
];

/// QcType names (ETSI EN 319 412-5 4.2.3).
const QC_TYPES: &[(&str, &str)] = &[
    ("esign", "0.4.0.1862.1.6.1"),
    ("eseal", "0.4.0.1862.1.6.2"),
    ("web", "0.4.0.1862.1.6.3"),
];

/// Collects validation errors for one profile.
struct Ctx<'a> {
    profile: &'a str,
}

impl Ctx<'_> {
    fn err(&self, key: impl Into<String>, reason: impl Into<String>) -> ProfileError {
        ProfileError::InvalidProfile {
            profile: self.profile.to_owned(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn oid(&self, key: &str, text: &str) -> Result<ObjectIdentifier, ProfileError> {
        ObjectIdentifier::new(text)
            .map_err(|e| self.err(key, format!("{text:?} is not a dotted OID ({e})")))
    }

    fn template(&self, key: &str, text: &str) -> Result<Template, ProfileError> {
        Template::parse(text).map_err(|reason| self.err(key, reason))
    }
}

pub(super) fn compile(spec: ProfileSpec) -> Result<Profile, ProfileError> {
    let cx = Ctx {
        profile: &spec.name,
    };
    let name_ok = !spec.name.is_empty()
        && spec
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(cx.err("name", "must be non-empty [a-z0-9-]"));
    }
    if spec.description.trim().is_empty() {
        return Err(cx.err("description", "must not be empty"));
    }
    if !(1..=MAX_VALIDITY_DAYS).contains(&spec.max_validity_days) {
        return Err(cx.err(
            "max_validity_days",
            format!("must be 1..={MAX_VALIDITY_DAYS} days"),
        ));
    }

    let allowed_keys = compile_keys(&cx, &spec.allowed_keys)?;
    let allowed_reasons = compile_reasons(&cx, &spec.allowed_reasons)?;
    let eku = match &spec.extended_key_usage {
        None => None,
        Some(e) => {
            if e.purposes.is_empty() {
                return Err(cx.err("extended_key_usage.purposes", "must not be empty"));
            }
            let mut purposes = Vec::with_capacity(e.purposes.len());
            for (i, p) in e.purposes.iter().enumerate() {
                let key = format!("extended_key_usage.purposes[{i}]");
                let oid = match PURPOSES.iter().find(|(n, _)| n == p) {
                    Some((_, o)) => cx.oid(&key, o)?,
                    None if p.contains('.') => cx.oid(&key, p)?,
                    None => {
                        let names: Vec<&str> = PURPOSES.iter().map(|(n, _)| *n).collect();
                        return Err(cx.err(
                            key,
                            format!(
                                "unknown purpose {p:?} (expected {} or a dotted OID)",
                                names.join(", ")
                            ),
                        ));
                    }
                };
                if purposes.contains(&oid) {
                    return Err(cx.err(key, format!("{p:?} listed twice")));
                }
                purposes.push(oid);
            }
            Some((purposes, e.critical))
        }
    };
    let baseline_requirements = spec.baseline_requirements.unwrap_or_else(|| {
        eku.as_ref()
            .is_some_and(|(p, _)| p.contains(&oid::KP_SERVER_AUTH))
    });
    let key_usage = compile_key_usage(&cx, &spec)?;

    let mut policies = Vec::with_capacity(spec.policies.len());
    for (i, p) in spec.policies.iter().enumerate() {
        let oid = cx.oid(&format!("policies[{i}].oid"), &p.oid)?;
        if policies.iter().any(|q: &Policy| q.oid == oid) {
            return Err(cx.err(format!("policies[{i}].oid"), "policy listed twice"));
        }
        Extension::certificate_policies_with_qualifiers(&[PolicyInfo {
            oid,
            cps_uri: p.cps_uri.as_deref(),
            user_notice: p.user_notice.as_deref(),
        }])
        .map_err(|e| cx.err(format!("policies[{i}]"), e.to_string()))?;
        policies.push(Policy {
            oid,
            cps_uri: p.cps_uri.clone(),
            user_notice: p.user_notice.clone(),
        });
    }

    let qc_statements = match &spec.qc_statements {
        None => None,
        Some(q) => Some(compile_qc(&cx, q)?),
    };

    // Templates and which fields they use.
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let subject = compile_attributes(&cx, "subject", &spec.subject, &mut used)?;
    let cabf_org_id = match &spec.cabf_organization_identifier {
        None => None,
        Some(c) => {
            let key = "cabf_organization_identifier";
            Extension::cabf_organization_identifier(&c.scheme, &c.country, None, "x")
                .map_err(|e| cx.err(key, e.to_string()))?;
            if !crate::profile::request::is_country(&c.country) {
                return Err(cx.err(
                    format!("{key}.country"),
                    format!("{:?} is not an ISO 3166-1 alpha-2 code", c.country),
                ));
            }
            let reference = cx.template(&format!("{key}.reference"), &c.reference)?;
            note_fields(&reference, &format!("{key}.reference"), &mut used);
            let state_or_province = match &c.state_or_province {
                None => None,
                Some(s) => {
                    let t = cx.template(&format!("{key}.state_or_province"), s)?;
                    note_fields(&t, &format!("{key}.state_or_province"), &mut used);
                    Some(t)
                }
            };
            Some(CabfOrgId {
                scheme: c.scheme.clone(),
                country: c.country.clone(),
                state_or_province,
                reference,
            })
        }
    };
    let san = match &spec.san {
        None => None,
        Some(s) => {
            let directory_name =
                compile_attributes(&cx, "san.directory_name", &s.directory_name, &mut used)?;
            for (key, field) in [
                ("san.email_field", &s.email_field),
                ("san.upn_field", &s.upn_field),
            ] {
                if let Some(f) = field {
                    used.entry(f.clone()).or_default().push(key.to_owned());
                }
            }
            for (i, f) in s.dns_fields.iter().enumerate() {
                used.entry(f.clone())
                    .or_default()
                    .push(format!("san.dns_fields[{i}]"));
            }
            if s.max_dns_names == 0 {
                return Err(cx.err("san.max_dns_names", "must be at least 1"));
            }
            Some(San {
                critical: s.critical,
                email_field: s.email_field.clone(),
                upn_field: s.upn_field.clone(),
                dns_fields: s.dns_fields.clone(),
                max_dns_names: s.max_dns_names,
                wildcards: s.wildcards,
                directory_name,
            })
        }
    };
    check_fields(&cx, &spec.fields, &used)?;
    check_field_formats(&cx, &spec)?;

    // Names from the CSR.
    let csr_in_templates = subject
        .iter()
        .chain(san.iter().flat_map(|s| s.directory_name.iter()))
        .any(|a| a.template.uses_csr())
        || cabf_org_id.as_ref().is_some_and(|c| c.reference.uses_csr());
    if spec.names_from_csr {
        match &san {
            None => return Err(cx.err("san", "names_from_csr needs a [san] table")),
            Some(s) if !s.dns_fields.is_empty() => {
                return Err(cx.err(
                    "san.dns_fields",
                    "must be empty with names_from_csr (the DNS names come from the CSR)",
                ));
            }
            Some(_) => {}
        }
    } else if csr_in_templates {
        return Err(cx.err(
            "subject",
            "{csr:common_name} is only allowed with names_from_csr = true",
        ));
    }
    if subject.is_empty() && san.is_none() {
        return Err(cx.err("san", "a profile with an empty subject needs a [san] table"));
    }

    let crl_partition = compile_crl(&cx, &spec.crl_partition)?;

    let profile = Profile {
        name: spec.name.clone(),
        description: spec.description.clone(),
        baseline_requirements,
        max_validity_days: spec.max_validity_days,
        allowed_keys,
        suspension_allowed: spec.suspension_allowed,
        allowed_reasons,
        names_from_csr: spec.names_from_csr,
        precertificate_allowed: spec.precertificate_allowed,
        subject,
        crl_partition,
        key_usage,
        eku,
        policies,
        qc_statements,
        cabf_org_id,
        fields: spec.fields.clone(),
        san,
    };
    if profile.baseline_requirements {
        check_baseline_requirements(&cx, &profile)?;
    }
    Ok(profile)
}

fn compile_keys(cx: &Ctx<'_>, names: &[String]) -> Result<Vec<String>, ProfileError> {
    if names.is_empty() {
        return Err(cx.err("allowed_keys", "must not be empty"));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let alg = KeyAlgorithm::from_name(n).ok_or_else(|| {
            cx.err(
                format!("allowed_keys[{i}]"),
                format!(
                    "unknown key type {n:?} (expected RSA-2048, RSA-3072, RSA-4096, P-256, \
                     P-384 or Ed25519)"
                ),
            )
        })?;
        let canonical = alg.name().to_owned();
        if out.contains(&canonical) {
            return Err(cx.err(format!("allowed_keys[{i}]"), format!("{n:?} listed twice")));
        }
        out.push(canonical);
    }
    Ok(out)
}

fn compile_reasons(cx: &Ctx<'_>, names: &[String]) -> Result<Vec<RevocationReason>, ProfileError> {
    if names.is_empty() {
        return Err(cx.err("allowed_reasons", "must not be empty"));
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let key = format!("allowed_reasons[{i}]");
        let r: RevocationReason = n.parse().map_err(|e| cx.err(&key, format!("{e}")))?;
        match r {
            RevocationReason::CertificateHold => {
                return Err(cx.err(
                    key,
                    "certificateHold is not a revocation reason; set suspension_allowed instead",
                ));
            }
            RevocationReason::RemoveFromCrl => {
                return Err(cx.err(key, "removeFromCRL is only for delta CRLs, never a reason"));
            }
            _ => {}
        }
        if out.contains(&r) {
            return Err(cx.err(key, format!("{n:?} listed twice")));
        }
        out.push(r);
    }
    Ok(out)
}

fn key_usage_bit(name: &str) -> Option<KeyUsage> {
    Some(match name {
        "digitalSignature" => KeyUsage::DIGITAL_SIGNATURE,
        "contentCommitment" | "nonRepudiation" => KeyUsage::CONTENT_COMMITMENT,
        "keyEncipherment" => KeyUsage::KEY_ENCIPHERMENT,
        "dataEncipherment" => KeyUsage::DATA_ENCIPHERMENT,
        "keyAgreement" => KeyUsage::KEY_AGREEMENT,
        "encipherOnly" => KeyUsage::ENCIPHER_ONLY,
        "decipherOnly" => KeyUsage::DECIPHER_ONLY,
        _ => return None,
    })
}

fn compile_key_usage(cx: &Ctx<'_>, spec: &ProfileSpec) -> Result<KeyUsageRule, ProfileError> {
    let ku = &spec.key_usage;
    let fold = |key: &str, names: &[String]| -> Result<Option<KeyUsage>, ProfileError> {
        let mut acc: Option<KeyUsage> = None;
        for (i, n) in names.iter().enumerate() {
            let bit = key_usage_bit(n).ok_or_else(|| {
                let why = if n == "keyCertSign" || n == "cRLSign" {
                    format!("{n} is for CA certificates; these profiles are end-entity (cA=FALSE)")
                } else {
                    format!(
                        "unknown key usage {n:?} (expected digitalSignature, contentCommitment, \
                         keyEncipherment, dataEncipherment, keyAgreement, encipherOnly, \
                         decipherOnly)"
                    )
                };
                cx.err(format!("{key}[{i}]"), why)
            })?;
            if acc.is_some_and(|a| a.contains(bit)) {
                return Err(cx.err(format!("{key}[{i}]"), format!("{n:?} listed twice")));
            }
            acc = Some(acc.map_or(bit, |a| a | bit));
        }
        Ok(acc)
    };
    let all = fold("key_usage.bits", &ku.bits)?;
    let rsa_only = fold("key_usage.rsa_only", &ku.rsa_only)?;
    if all.is_none() && rsa_only.is_none() {
        return Err(cx.err("key_usage", "needs at least one bit"));
    }
    if all.is_none()
        && spec
            .allowed_keys
            .iter()
            .any(|k| !k.to_uppercase().starts_with("RSA"))
    {
        return Err(cx.err(
            "key_usage.bits",
            "is empty, so non-RSA keys in allowed_keys would get no key usage",
        ));
    }
    Ok(KeyUsageRule {
        all,
        rsa_only,
        critical: ku.critical,
    })
}

fn compile_qc(
    cx: &Ctx<'_>,
    q: &super::spec::QcStatementsSpec,
) -> Result<QcStatements, ProfileError> {
    let mut types = Vec::with_capacity(q.types.len());
    for (i, t) in q.types.iter().enumerate() {
        let key = format!("qc_statements.types[{i}]");
        let oid = match QC_TYPES.iter().find(|(n, _)| n == t) {
            Some((_, o)) => cx.oid(&key, o)?,
            None if t.contains('.') => cx.oid(&key, t)?,
            None => {
                return Err(cx.err(
                    key,
                    format!("unknown QcType {t:?} (esign, eseal, web or OID)"),
                ));
            }
        };
        types.push(oid);
    }
    if let Some(y) = q.retention_period_years
        && !(1..=100).contains(&y)
    {
        return Err(cx.err(
            "qc_statements.retention_period_years",
            "must be 1..=100 years",
        ));
    }
    let pds: Vec<(String, String)> = q
        .pds
        .iter()
        .map(|p| (p.url.clone(), p.language.clone()))
        .collect();
    let compiled = QcStatements {
        compliance: q.compliance,
        types,
        retention_years: q.retention_period_years,
        pds,
        sscd: q.sscd,
    };
    if statements(&compiled, &mut Vec::new()).is_empty() {
        return Err(cx.err("qc_statements", "has no statement; remove the table"));
    }
    let mut scratch = Vec::new();
    Extension::qc_statements(&statements(&compiled, &mut scratch))
        .map_err(|e| cx.err("qc_statements", e.to_string()))?;
    Ok(compiled)
}

/// The QCStatements to encode; `pds` is scratch space for the `(url, language)` pairs.
pub(super) fn statements<'a>(
    q: &'a QcStatements,
    pds: &'a mut Vec<(&'a str, &'a str)>,
) -> Vec<QcStatement<'a>> {
    pds.extend(q.pds.iter().map(|(u, l)| (u.as_str(), l.as_str())));
    let mut out = Vec::with_capacity(5);
    if q.compliance {
        out.push(QcStatement::Compliance);
    }
    if !q.types.is_empty() {
        out.push(QcStatement::Type(&q.types));
    }
    if let Some(y) = q.retention_years {
        out.push(QcStatement::RetentionPeriod(y));
    }
    if !pds.is_empty() {
        out.push(QcStatement::Pds(pds));
    }
    if q.sscd {
        out.push(QcStatement::Sscd);
    }
    out
}

fn note_fields(t: &Template, key: &str, used: &mut BTreeMap<String, Vec<String>>) {
    for f in t.fields() {
        used.entry(f.to_owned()).or_default().push(key.to_owned());
    }
}

fn compile_attributes(
    cx: &Ctx<'_>,
    section: &str,
    specs: &[AttributeSpec],
    used: &mut BTreeMap<String, Vec<String>>,
) -> Result<Vec<Attribute>, ProfileError> {
    let mut out = Vec::with_capacity(specs.len());
    for (i, a) in specs.iter().enumerate() {
        let key = format!("{section}[{i}]");
        let known = KNOWN_ATTRIBUTES
            .iter()
            .find(|k| k.names.iter().any(|n| n.eq_ignore_ascii_case(&a.attribute)));
        let (oid, short, bound, printable_only) = match known {
            Some(k) => (k.oid, k.names[0].to_owned(), k.bound, k.printable_only),
            None if a.attribute.contains('.') => (
                cx.oid(&format!("{key}.attribute"), &a.attribute)?,
                a.attribute.clone(),
                OTHER_ATTRIBUTE_BOUND,
                false,
            ),
            None => {
                return Err(cx.err(
                    format!("{key}.attribute"),
                    format!(
                        "unknown attribute {:?} (expected C, ST, L, O, OU, CN, serialNumber, \
                         SN, GN, title, organizationIdentifier or a dotted OID)",
                        a.attribute
                    ),
                ));
            }
        };
        let encoding = a.encoding.unwrap_or(if printable_only {
            StringEncoding::Printable
        } else {
            StringEncoding::Utf8
        });
        if printable_only && encoding != StringEncoding::Printable {
            return Err(cx.err(
                format!("{key}.encoding"),
                format!("{short} must be a PrintableString"),
            ));
        }
        let max_chars = match a.max_chars {
            None => bound,
            Some(m) if (1..=bound).contains(&m) => m,
            Some(m) => {
                return Err(cx.err(
                    format!("{key}.max_chars"),
                    format!("{m} is outside 1..={bound} (the RFC 5280 bound for {short})"),
                ));
            }
        };
        let template = cx.template(&format!("{key}.value"), &a.value)?;
        note_fields(&template, &format!("{key}.value"), used);
        let attribute = Attribute {
            label: format!("{key} {short}"),
            oid,
            tag: match encoding {
                StringEncoding::Printable => PRINTABLE_STRING,
                StringEncoding::Utf8 => UTF8_STRING,
            },
            max_chars,
            country: oid == C,
            template,
        };
        if let Some(value) = attribute.template.fixed() {
            super::request::check_attribute_value(&attribute, &value)
                .map_err(|e| cx.err(format!("{key}.value"), e.to_string()))?;
        }
        out.push(attribute);
    }
    Ok(out)
}

fn check_fields(
    cx: &Ctx<'_>,
    fields: &BTreeMap<String, FieldSpec>,
    used: &BTreeMap<String, Vec<String>>,
) -> Result<(), ProfileError> {
    for (name, f) in fields {
        let key = format!("fields.{name}");
        if !is_field_name(name) {
            return Err(cx.err(key, "field names are [a-z][a-z0-9_]*"));
        }
        if !used.contains_key(name) {
            return Err(cx.err(key, "is declared but no template or SAN entry uses it"));
        }
        let default = super::request::default_max_chars(f.format);
        if let Some(m) = f.max_chars
            && !(1..=default).contains(&m)
        {
            return Err(cx.err(
                format!("{key}.max_chars"),
                format!("{m} is outside 1..={default} for format {:?}", f.format),
            ));
        }
    }
    for (name, keys) in used {
        if !fields.contains_key(name) {
            return Err(cx.err(
                &keys[0],
                format!("uses field {{{name}}}, which is not declared under [fields]"),
            ));
        }
    }
    Ok(())
}

fn check_field_formats(cx: &Ctx<'_>, spec: &ProfileSpec) -> Result<(), ProfileError> {
    let format_of = |f: &str| spec.fields.get(f).map(|s| s.format);
    // List fields only in san.dns_fields.
    let in_templates = spec
        .subject
        .iter()
        .chain(spec.san.iter().flat_map(|s| s.directory_name.iter()))
        .map(|a| a.value.as_str())
        .chain(spec.cabf_organization_identifier.iter().flat_map(|c| {
            std::iter::once(c.reference.as_str()).chain(c.state_or_province.as_deref())
        }));
    for text in in_templates {
        if let Ok(t) = Template::parse(text) {
            for f in t.fields() {
                if format_of(f) == Some(FieldFormat::DnsNameList) {
                    return Err(cx.err(
                        format!("fields.{f}"),
                        "a dns-name-list field can only be used in san.dns_fields",
                    ));
                }
            }
        }
    }
    if let Some(san) = &spec.san {
        if let Some(f) = &san.email_field
            && format_of(f) != Some(FieldFormat::Email)
        {
            return Err(cx.err(
                "san.email_field",
                format!("field {f:?} must have format email"),
            ));
        }
        if let Some(f) = &san.upn_field
            && format_of(f) != Some(FieldFormat::Text)
        {
            return Err(cx.err(
                "san.upn_field",
                format!("field {f:?} must have format text"),
            ));
        }
        for (i, f) in san.dns_fields.iter().enumerate() {
            if !matches!(
                format_of(f),
                Some(FieldFormat::DnsName | FieldFormat::DnsNameList)
            ) {
                return Err(cx.err(
                    format!("san.dns_fields[{i}]"),
                    format!("field {f:?} must have format dns-name or dns-name-list"),
                ));
            }
        }
    }
    Ok(())
}

fn compile_crl(cx: &Ctx<'_>, spec: &CrlPartitionSpec) -> Result<CrlPartition, ProfileError> {
    let file_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    Ok(match spec {
        CrlPartitionSpec::Full {} => CrlPartition::Full,
        CrlPartitionSpec::Fixed { name } => {
            if !file_ok(name) {
                return Err(cx.err("crl_partition.name", "must be 1..=128 of [A-Za-z0-9._-]"));
            }
            CrlPartition::Fixed { name: name.clone() }
        }
        CrlPartitionSpec::SerialMod {
            partitions,
            name_template,
            first,
        } => {
            if !(1..=MAX_PARTITIONS).contains(partitions) {
                return Err(cx.err(
                    "crl_partition.partitions",
                    format!("must be 1..={MAX_PARTITIONS}"),
                ));
            }
            if first.checked_add(*partitions).is_none() {
                return Err(cx.err("crl_partition.first", "first + partitions overflows"));
            }
            let parts: Vec<&str> = name_template.split("{n}").collect();
            let rest = parts.concat();
            let rest_ok = rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if parts.len() != 2 || !rest_ok || name_template.len() > 128 {
                return Err(cx.err(
                    "crl_partition.name_template",
                    "must contain exactly one {n}, otherwise [A-Za-z0-9._-], at most 128 bytes",
                ));
            }
            CrlPartition::SerialMod {
                partitions: *partitions,
                name_template: name_template.clone(),
                first: *first,
            }
        }
    })
}

fn check_baseline_requirements(cx: &Ctx<'_>, p: &Profile) -> Result<(), ProfileError> {
    const WHY: &str = "(baseline_requirements = true: CA/B Forum TLS BR)";
    if p.max_validity_days > 398 {
        return Err(cx.err("max_validity_days", format!("must be at most 398 {WHY}")));
    }
    if p.suspension_allowed {
        return Err(cx.err("suspension_allowed", format!("must be false {WHY}")));
    }
    if let Some(r) = p.allowed_reasons.iter().find(|r| !BR_REASONS.contains(r)) {
        return Err(cx.err(
            "allowed_reasons",
            format!("{r} is not in the BR 7.2.2 set {WHY}"),
        ));
    }
    if let Some(k) = p
        .allowed_keys
        .iter()
        .find(|k| !BR_KEYS.contains(&k.as_str()))
    {
        return Err(cx.err("allowed_keys", format!("{k} is not allowed {WHY}")));
    }
    match &p.eku {
        Some((purposes, _)) if purposes.contains(&oid::KP_SERVER_AUTH) => {
            if purposes.contains(&ANY_EKU) {
                return Err(cx.err(
                    "extended_key_usage.purposes",
                    format!("anyExtendedKeyUsage is forbidden {WHY}"),
                ));
            }
        }
        _ => {
            return Err(cx.err(
                "extended_key_usage.purposes",
                format!("must include serverAuth {WHY}"),
            ));
        }
    }
    if !p.key_usage.critical {
        return Err(cx.err("key_usage.critical", format!("must be true {WHY}")));
    }
    if !p
        .policies
        .iter()
        .any(|x| CABF_TLS_POLICIES.contains(&x.oid))
    {
        return Err(cx.err(
            "policies",
            format!("needs a CA/B Forum reserved policy (2.23.140.1.2.x) {WHY}"),
        ));
    }
    let mut seen = BTreeSet::new();
    for a in &p.subject {
        if a.oid == OU {
            return Err(cx.err("subject", format!("OU is forbidden {WHY}")));
        }
        if !seen.insert(a.oid) {
            return Err(cx.err("subject", format!("{} is repeated {WHY}", a.label)));
        }
    }
    match &p.san {
        Some(s)
            if s.email_field.is_none()
                && s.upn_field.is_none()
                && s.directory_name.is_empty()
                && (p.names_from_csr || !s.dns_fields.is_empty()) => {}
        _ => {
            return Err(cx.err(
                "san",
                format!("must hold dNSNames (from dns_fields or the CSR) and nothing else {WHY}"),
            ));
        }
    }
    Ok(())
}

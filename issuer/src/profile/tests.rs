//! Profile tests: every shipped profile builds a certificate that OpenSSL and pyca/cryptography
//! parse and verify field by field; bad requests and bad profiles are refused clearly.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use revoca_signer::{KeyAlgorithm, Signer, SoftwareKey};
use revoca_status::RevocationReason;
use serde_json::Value;

use super::*;
use crate::{Name, Validity, key_identifier, pem_encode};

/// The pyca/cryptography script that describes a certificate as JSON.
const INSPECT_PY: &str = include_str!("inspect_cert.py");

const OCSP_URL: &str = "http://ocsp.example.com/ocspap/OcspResponder";
const CA_ISSUERS_URL: &str = "http://www.example.com/certs/ACAP.crt";
const CRL_BASE: &str = "http://www.example.com/crlsacap/";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn key(alg: KeyAlgorithm, label: &str) -> SoftwareKey {
    let pkcs8 = SoftwareKey::generate_pkcs8(alg).unwrap();
    SoftwareKey::from_pkcs8_der(&pkcs8, label).unwrap()
}

/// A root (P-256) and an issuing CA with a key of `ca_alg`, valid five years.
struct Pki {
    root: Vec<u8>,
    ca_key: SoftwareKey,
    ca: Vec<u8>,
    ca_info: IssuerInfo,
    ca_not_after: i64,
}

fn pki(ca_alg: KeyAlgorithm) -> Pki {
    let root_key = key(KeyAlgorithm::EcdsaP256, "root");
    let start = now() - 86_400;
    let root = CertificateBuilder::root_ca(
        Serial::random().unwrap(),
        Name::parse("C=ES,O=Revoca Test,CN=Revoca Test Root").unwrap(),
        Validity::starting_at(start, 10 * 365 * 86_400).unwrap(),
        root_key.public_key_spki_der(),
    )
    .unwrap()
    .build(&root_key)
    .unwrap();
    let root_info = IssuerInfo::from_certificate_der(&root).unwrap();
    let ca_key = key(ca_alg, "ca");
    let ca_validity = Validity::starting_at(start, 5 * 365 * 86_400).unwrap();
    let ca_not_after = ca_validity.not_after();
    let ca = CertificateBuilder::issuing_ca(
        Serial::random().unwrap(),
        Name::parse("C=ES,O=FNMT-RCM,OU=CERES,serialNumber=Q2826004J,CN=AC Revoca Test").unwrap(),
        ca_validity,
        ca_key.public_key_spki_der(),
        &root_info,
        Some(0),
    )
    .unwrap()
    .build(&root_key)
    .unwrap();
    let ca_info = IssuerInfo::from_certificate_der(&ca).unwrap();
    Pki {
        root,
        ca_key,
        ca,
        ca_info,
        ca_not_after,
    }
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// One request under `profile`, with everything but the fields defaulted.
struct Req<'a> {
    fields: BTreeMap<String, String>,
    csr_cn: Option<&'a str>,
    csr_dns: Vec<String>,
    spki: Vec<u8>,
    serial: Serial,
    requested: Option<u64>,
    precert: bool,
    issuer_not_after: Option<i64>,
}

impl Req<'_> {
    fn new(fields: BTreeMap<String, String>, spki: &[u8]) -> Self {
        Self {
            fields,
            csr_cn: None,
            csr_dns: Vec::new(),
            spki: spki.to_vec(),
            serial: Serial::random().unwrap(),
            requested: None,
            precert: false,
            issuer_not_after: None,
        }
    }

    fn build(
        &self,
        profile: &Profile,
        pki: &Pki,
        now: i64,
    ) -> Result<CertificateBuilder, ProfileError> {
        let crl_url = format!("{CRL_BASE}{}", profile.crl_partition(&self.serial));
        profile.build(&IssueInput {
            subject: &self.fields,
            csr_common_name: self.csr_cn,
            csr_dns_names: &self.csr_dns,
            spki_der: &self.spki,
            serial: self.serial,
            issuer: &pki.ca_info,
            issuer_not_after: self.issuer_not_after.unwrap_or(pki.ca_not_after),
            now_unix: now,
            requested_validity_secs: self.requested,
            ocsp_url: OCSP_URL,
            ca_issuers_url: CA_ISSUERS_URL,
            crl_url: &crl_url,
            precertificate: self.precert,
        })
    }
}

fn employee_fields() -> BTreeMap<String, String> {
    fields(&[
        ("given_name", "JUAN"),
        ("first_surname", "ESPAÑOL"),
        ("second_surname", "ESPAÑOL"),
        ("dni", "99999999R"),
        ("organization", "MINISTERIO DE ECONOMÍA"),
        ("organization_id", "Q2826004J"),
        (
            "organizational_unit",
            "SUBDIRECCIÓN DE SISTEMAS DE INFORMACIÓN",
        ),
        ("employee_number", "ADM5689"),
        ("position", "ANALISTA DE INFORMATICA"),
        ("email", "juan.espanol@example.es"),
        ("upn", "jespanol@meh.example"),
    ])
}

fn sede_fields() -> BTreeMap<String, String> {
    fields(&[
        ("organization", "Ministerio de Economía y Hacienda"),
        ("organization_id", "Q2826004J"),
        ("sede_name", "Oficina Virtual del MEH"),
        ("domain", "www.sede.meh.gob.es"),
        ("email", "sede@meh.gob.es"),
    ])
}

fn sello_fields() -> BTreeMap<String, String> {
    fields(&[
        ("organization", "MINISTERIO DE ECONOMÍA"),
        ("organization_id", "Q2826004J"),
        ("system_name", "SERVICIO DE REGISTRO DEL MEH"),
    ])
}

fn accv_fields() -> BTreeMap<String, String> {
    fields(&[
        ("nif", "A40573396"),
        (
            "organization",
            "INFRAESTRUCTURES I SERVEIS DE TELECOMUNICACIONS I CERTIFICACIO",
        ),
        ("locality", "BURJASSOT"),
        ("province", "VALENCIA"),
        ("domain", "www.example.es"),
        ("aliases", "example.es, sede.example.es"),
        ("common_name", "www.example.es"),
    ])
}

fn run(dir: &Path, program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed to run this test: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = run(dir, "openssl", args);
    assert!(ok, "openssl {args:?} failed: {text}");
    text
}

/// What a shipped profile's certificate must look like.
struct Expect {
    subject: &'static [(&'static str, &'static str, u8)],
    key_usage: &'static [&'static str],
    openssl_key_usage: &'static str,
    eku: &'static [&'static str],
    openssl_eku: &'static str,
    policies: &'static [&'static str],
    cps: Option<&'static str>,
    notice_start: Option<&'static str>,
    qc: &'static [&'static str],
    san: &'static [&'static str],
    san_dir: &'static [(&'static str, &'static str)],
    cabf: bool,
    partitioned: bool,
}

const UTF8: u8 = 12;
const PRINTABLE: u8 = 19;
const QC_COMPLIANCE: &str = "0.4.0.1862.1.1";
const QC_RETENTION: &str = "0.4.0.1862.1.3";
const QC_SSCD: &str = "0.4.0.1862.1.4";
const QC_PDS: &str = "0.4.0.1862.1.5";
const QC_TYPE: &str = "0.4.0.1862.1.6";

const EMPLOYEE_SUBJECT: &[(&str, &str, u8)] = &[
    ("2.5.4.6", "ES", PRINTABLE),
    ("2.5.4.10", "MINISTERIO DE ECONOMÍA", UTF8),
    (
        "2.5.4.11",
        "certificado electrónico de empleado público",
        UTF8,
    ),
    ("2.5.4.11", "SUBDIRECCIÓN DE SISTEMAS DE INFORMACIÓN", UTF8),
    ("2.5.4.11", "ADM5689", UTF8),
    ("2.5.4.5", "99999999R", PRINTABLE),
    ("2.5.4.4", "ESPAÑOL ESPAÑOL", UTF8),
    ("2.5.4.42", "JUAN", UTF8),
    ("2.5.4.3", "JUAN ESPAÑOL ESPAÑOL - DNI 99999999R", UTF8),
];
const EMPLOYEE_DIR: &[(&str, &str)] = &[
    (
        "2.16.724.1.3.5.3.2.1",
        "certificado electrónico de empleado público",
    ),
    ("2.16.724.1.3.5.3.2.2", "MINISTERIO DE ECONOMÍA"),
    ("2.16.724.1.3.5.3.2.3", "Q2826004J"),
    ("2.16.724.1.3.5.3.2.4", "99999999R"),
    ("2.16.724.1.3.5.3.2.5", "ADM5689"),
    ("2.16.724.1.3.5.3.2.6", "JUAN"),
    ("2.16.724.1.3.5.3.2.7", "ESPAÑOL"),
    ("2.16.724.1.3.5.3.2.8", "ESPAÑOL"),
    ("2.16.724.1.3.5.3.2.9", "juan.espanol@example.es"),
    (
        "2.16.724.1.3.5.3.2.10",
        "SUBDIRECCIÓN DE SISTEMAS DE INFORMACIÓN",
    ),
    ("2.16.724.1.3.5.3.2.11", "ANALISTA DE INFORMATICA"),
];
const ACCV_SUBJECT: &[(&str, &str, u8)] = &[
    ("2.5.4.6", "ES", PRINTABLE),
    ("2.5.4.8", "VALENCIA", UTF8),
    ("2.5.4.7", "BURJASSOT", UTF8),
    (
        "2.5.4.10",
        "INFRAESTRUCTURES I SERVEIS DE TELECOMUNICACIONS I CERTIFICACIO",
        UTF8,
    ),
    ("2.5.4.97", "VATES-A40573396", UTF8),
    ("2.5.4.3", "www.example.es", UTF8),
    ("2.5.4.5", "A40573396", PRINTABLE),
];
const ACCV_SAN: &[&str] = &[
    "dns:www.example.es",
    "dns:example.es",
    "dns:sede.example.es",
];

fn expectations(name: &str) -> Expect {
    let employee = |sscd: bool, policy: &'static str| Expect {
        subject: EMPLOYEE_SUBJECT,
        key_usage: &[
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
        ],
        openssl_key_usage: "Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment",
        eku: &[
            "1.3.6.1.5.5.7.3.4",
            "1.3.6.1.5.5.7.3.2",
            "2.5.29.37.0",
            "1.3.6.1.4.1.311.20.2.2",
        ],
        openssl_eku: "E-mail Protection, TLS Web Client Authentication, Any Extended Key Usage, Microsoft Smartcard Login",
        policies: if policy.ends_with('1') {
            &["1.3.6.1.4.1.5734.3.3.4.4.1"]
        } else {
            &["1.3.6.1.4.1.5734.3.3.4.4.2"]
        },
        cps: Some("http://www.cert.fnmt.es/dpcs/"),
        notice_start: Some("Certificado reconocido de empleado público."),
        qc: if sscd {
            &[QC_COMPLIANCE, QC_RETENTION, QC_SSCD]
        } else {
            &[QC_COMPLIANCE, QC_RETENTION]
        },
        san: &["email:juan.espanol@example.es", "upn:jespanol@meh.example"],
        san_dir: EMPLOYEE_DIR,
        cabf: false,
        partitioned: true,
    };
    let accv = |policies: &'static [&'static str], qc: &'static [&'static str]| Expect {
        subject: ACCV_SUBJECT,
        key_usage: &["digital_signature"],
        openssl_key_usage: "X509v3 Key Usage: critical\n                Digital Signature\n",
        eku: &["1.3.6.1.5.5.7.3.1"],
        openssl_eku: "TLS Web Server Authentication\n",
        policies,
        cps: None,
        notice_start: None,
        qc,
        san: ACCV_SAN,
        san_dir: &[],
        cabf: true,
        partitioned: false,
    };
    match name {
        "fnmt-ap-employee-card" => employee(true, "1"),
        "fnmt-ap-employee-software" => employee(false, "2"),
        "fnmt-ap-sede" => Expect {
            subject: &[
                ("2.5.4.6", "ES", PRINTABLE),
                ("2.5.4.10", "Ministerio de Economía y Hacienda", UTF8),
                ("2.5.4.11", "sede electrónica", UTF8),
                ("2.5.4.11", "Oficina Virtual del MEH", UTF8),
                ("2.5.4.5", "Q2826004J", PRINTABLE),
                ("2.5.4.3", "www.sede.meh.gob.es", UTF8),
            ],
            key_usage: &["digital_signature", "key_encipherment"],
            openssl_key_usage: "Digital Signature, Key Encipherment\n",
            eku: &["1.3.6.1.5.5.7.3.1", "2.5.29.37.0"],
            openssl_eku: "TLS Web Server Authentication, Any Extended Key Usage",
            policies: &["1.3.6.1.4.1.5734.3.3.2.2"],
            cps: Some("http://www.cert.fnmt.es/dpcs/"),
            notice_start: Some("Certificado reconocido de sede electrónica."),
            qc: &[QC_COMPLIANCE, QC_RETENTION],
            san: &["email:sede@meh.gob.es", "dns:www.sede.meh.gob.es"],
            san_dir: &[
                ("2.16.724.1.3.5.1.2.1", "sede electrónica"),
                ("2.16.724.1.3.5.1.2.2", "Ministerio de Economía y Hacienda"),
                ("2.16.724.1.3.5.1.2.3", "Q2826004J"),
                ("2.16.724.1.3.5.1.2.4", "Oficina Virtual del MEH"),
                ("2.16.724.1.3.5.1.2.5", "www.sede.meh.gob.es"),
            ],
            cabf: false,
            partitioned: true,
        },
        "fnmt-ap-sello" => Expect {
            subject: &[
                ("2.5.4.6", "ES", PRINTABLE),
                ("2.5.4.10", "MINISTERIO DE ECONOMÍA", UTF8),
                ("2.5.4.11", "sello electrónico", UTF8),
                ("2.5.4.5", "Q2826004J", PRINTABLE),
                ("2.5.4.3", "SERVICIO DE REGISTRO DEL MEH", UTF8),
            ],
            key_usage: &[
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
            ],
            openssl_key_usage: "Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment",
            eku: &["1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.2", "2.5.29.37.0"],
            openssl_eku: "E-mail Protection, TLS Web Client Authentication, Any Extended Key Usage",
            policies: &["1.3.6.1.4.1.5734.3.3.3.2"],
            cps: Some("http://www.cert.fnmt.es/dpcs/"),
            notice_start: Some("Certificado reconocido de sello electrónico"),
            qc: &[QC_COMPLIANCE, QC_RETENTION],
            san: &[],
            san_dir: &[
                ("2.16.724.1.3.5.2.2.1", "sello electrónico"),
                ("2.16.724.1.3.5.2.2.2", "MINISTERIO DE ECONOMÍA"),
                ("2.16.724.1.3.5.2.2.3", "Q2826004J"),
                ("2.16.724.1.3.5.2.2.5", "SERVICIO DE REGISTRO DEL MEH"),
            ],
            cabf: false,
            partitioned: true,
        },
        "accv-qwac" => accv(
            &[
                "2.23.140.1.2.2",
                "0.4.0.2042.1.7",
                "0.4.0.194112.1.5",
                "1.3.6.1.4.1.8149.3.3.5.0",
            ],
            &[QC_COMPLIANCE, QC_TYPE, QC_RETENTION, QC_PDS],
        ),
        "accv-sede-hsm" => accv(
            &[
                "2.23.140.1.2.2",
                "0.4.0.2042.1.7",
                "2.16.724.1.3.5.5.1",
                "0.4.0.194112.1.5",
                "1.3.6.1.4.1.8149.3.14.6.0",
            ],
            &[QC_COMPLIANCE, QC_TYPE, QC_RETENTION, QC_PDS, QC_SSCD],
        ),
        "accv-sede-software" => accv(
            &[
                "2.23.140.1.2.2",
                "0.4.0.2042.1.7",
                "2.16.724.1.3.5.5.2",
                "0.4.0.194112.1.5",
                "1.3.6.1.4.1.8149.3.15.6.0",
            ],
            &[QC_COMPLIANCE, QC_TYPE, QC_RETENTION, QC_PDS],
        ),
        "accv-server" => accv(&["2.23.140.1.2.2", "1.3.6.1.4.1.8149.3.36.2.0"], &[]),
        "tls-server" => Expect {
            subject: &[("2.5.4.3", "www.example.com", UTF8)],
            key_usage: &["digital_signature"],
            openssl_key_usage: "X509v3 Key Usage: critical\n                Digital Signature\n",
            eku: &["1.3.6.1.5.5.7.3.1"],
            openssl_eku: "TLS Web Server Authentication\n",
            policies: &["2.23.140.1.2.1"],
            cps: None,
            notice_start: None,
            qc: &[],
            san: &[
                "dns:www.example.com",
                "dns:*.example.com",
                "dns:example.com",
            ],
            san_dir: &[],
            cabf: false,
            partitioned: false,
        },
        other => panic!("no expectations for {other}"),
    }
}

/// The CA key, subscriber key and request for a shipped profile.
fn case(name: &str) -> (KeyAlgorithm, KeyAlgorithm, BTreeMap<String, String>) {
    match name {
        "fnmt-ap-employee-card" | "fnmt-ap-employee-software" => (
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa2048,
            employee_fields(),
        ),
        "fnmt-ap-sede" => (KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa2048, sede_fields()),
        "fnmt-ap-sello" => (KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa2048, sello_fields()),
        "accv-qwac" | "accv-sede-software" => (
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::EcdsaP256,
            accv_fields(),
        ),
        "accv-sede-hsm" => (
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::EcdsaP384,
            accv_fields(),
        ),
        "accv-server" => (
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcdsaP256,
            accv_fields(),
        ),
        "tls-server" => (
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP256,
            BTreeMap::new(),
        ),
        other => panic!("no case for {other}"),
    }
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

fn dn_triples(v: &Value) -> Vec<(String, String, u8)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a[0].as_str().unwrap().to_owned(),
                a[1].as_str().unwrap().to_owned(),
                a[2].as_u64().unwrap() as u8,
            )
        })
        .collect()
}

/// Builds, signs and checks one shipped profile's certificate with OpenSSL and
/// pyca/cryptography. Returns the temp dir holding `ee.pem`, `ca.pem` and `root.pem`.
fn check_profile(profile: &Profile) -> tempfile::TempDir {
    let name = profile.name.as_str();
    let (ca_alg, ee_alg, request) = case(name);
    let exp = expectations(name);
    let pki = pki(ca_alg);
    let ee_key = key(ee_alg, "ee");
    let mut req = Req::new(request, ee_key.public_key_spki_der());
    if profile.names_from_csr() {
        req.csr_cn = Some("WWW.Example.Com");
        req.csr_dns = vec![
            "www.example.com".to_owned(),
            "*.example.com".to_owned(),
            "example.com".to_owned(),
        ];
    }
    let t = now();
    let builder = req
        .build(profile, &pki, t)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let der = builder.build(&pki.ca_key).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("ee.pem"), pem_encode("CERTIFICATE", &der)).unwrap();
    std::fs::write(path.join("ca.pem"), pem_encode("CERTIFICATE", &pki.ca)).unwrap();
    std::fs::write(path.join("root.pem"), pem_encode("CERTIFICATE", &pki.root)).unwrap();
    std::fs::write(path.join("describe_cert.py"), INSPECT_PY).unwrap();

    // (c) OpenSSL verifies the chain.
    let verify = openssl(
        path,
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "ca.pem",
            "ee.pem",
        ],
    );
    assert!(verify.contains("ee.pem: OK"), "{name}: {verify}");

    // (a) OpenSSL's view.
    let text = openssl(path, &["x509", "-noout", "-text", "-in", "ee.pem"]);
    let crl_url = format!("{CRL_BASE}{}", profile.crl_partition(&req.serial));
    let mut needles = vec![
        "X509v3 Basic Constraints: critical\n                CA:FALSE".to_owned(),
        "X509v3 Key Usage: critical".to_owned(),
        exp.openssl_key_usage.to_owned(),
        exp.openssl_eku.to_owned(),
        "X509v3 Subject Key Identifier".to_owned(),
        "X509v3 Authority Key Identifier".to_owned(),
        format!("OCSP - URI:{OCSP_URL}"),
        format!("CA Issuers - URI:{CA_ISSUERS_URL}"),
        format!(
            "X509v3 CRL Distribution Points: \n                Full Name:\n                  URI:{crl_url}"
        ),
        "X509v3 Subject Alternative Name".to_owned(),
    ];
    needles.extend(exp.policies.iter().map(|p| format!("Policy: {p}")));
    if let Some(cps) = exp.cps {
        needles.push(format!("CPS: {cps}"));
    }
    if exp.notice_start.is_some() {
        needles.push("User Notice:".to_owned());
    }
    for s in exp.san {
        let (kind, value) = s.split_once(':').unwrap();
        needles.push(match kind {
            "dns" => format!("DNS:{value}"),
            "email" => format!("email:{value}"),
            "upn" => format!("UPN::{value}"),
            _ => unreachable!(),
        });
    }
    if let Some((oid, value)) = exp.san_dir.get(2) {
        needles.push("DirName:".to_owned());
        needles.push(format!("{oid}={value}"));
    }
    if !exp.qc.is_empty() {
        needles.push("qcStatements".to_owned());
    }
    if exp.cabf {
        needles.push("2.23.140.3.1".to_owned());
    }
    for n in &needles {
        assert!(
            text.contains(n.as_str()),
            "{name}: openssl text lacks {n:?}:\n{text}"
        );
    }
    if exp.partitioned {
        assert!(
            crl_url.ends_with(".crl") && crl_url.contains("/CRL"),
            "{crl_url}"
        );
    } else {
        assert_eq!(crl_url, CRL_BASE, "{name}: one full CRL per issuer");
    }
    // QCStatement OIDs as OpenSSL's ASN.1 parser sees them.
    let asn1 = openssl(path, &["asn1parse", "-in", "ee.pem", "-i"]);
    for q in exp.qc {
        assert!(
            asn1_ext_has_oid(path, &asn1, "qcStatements", q),
            "{name}: QCStatement {q} missing:\n{asn1}"
        );
    }
    if exp.qc.contains(&QC_TYPE) {
        assert!(asn1_ext_has_oid(
            path,
            &asn1,
            "qcStatements",
            "0.4.0.1862.1.6.3"
        ));
    }

    // (b) pyca/cryptography's view.
    let (ok, out) = run(path, "python3", &["describe_cert.py", "ee.pem", "ca.pem"]);
    assert!(ok, "{name}: python inspection failed: {out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["version"], 2);
    assert_eq!(v["issuer_matches"], true);
    assert_eq!(
        v["serial"].as_str().unwrap(),
        req.serial.to_string().trim_start_matches('0')
    );
    let subject = dn_triples(&v["subject"]);
    let expected: Vec<(String, String, u8)> = exp
        .subject
        .iter()
        .map(|(o, s, t)| ((*o).to_owned(), (*s).to_owned(), *t))
        .collect();
    assert_eq!(subject, expected, "{name}: subject");
    let secs = v["not_after"].as_i64().unwrap() - v["not_before"].as_i64().unwrap() + 1;
    assert_eq!(v["not_before"].as_i64().unwrap(), t);
    assert_eq!(
        secs as u64,
        profile.default_validity_secs(t),
        "{name}: validity"
    );

    let ext = &v["extensions"];
    let get = |oid: &str| -> &Value {
        let e = &ext[oid];
        assert!(!e.is_null(), "{name}: extension {oid} missing: {ext}");
        e
    };
    assert_eq!(get("2.5.29.19")["ca"], false);
    assert_eq!(get("2.5.29.19")["critical"], true);
    assert_eq!(
        str_list(&get("2.5.29.15")["bits"]),
        exp.key_usage,
        "{name}: KU"
    );
    assert_eq!(get("2.5.29.15")["critical"], true);
    assert_eq!(str_list(&get("2.5.29.37")["oids"]), exp.eku, "{name}: EKU");
    assert_eq!(get("2.5.29.37")["critical"], false);
    assert_eq!(
        get("2.5.29.14")["hex"].as_str().unwrap(),
        hex(&key_identifier(ee_key.public_key_spki_der()).unwrap())
    );
    assert_eq!(
        get("2.5.29.35")["hex"].as_str().unwrap(),
        hex(pki.ca_info.key_id())
    );
    let access = get("1.3.6.1.5.5.7.1.1")["access"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(access[0][0], "1.3.6.1.5.5.7.48.1");
    assert_eq!(access[0][1], OCSP_URL);
    assert_eq!(access[1][0], "1.3.6.1.5.5.7.48.2");
    assert_eq!(access[1][1], CA_ISSUERS_URL);
    assert_eq!(get("2.5.29.31")["urls"][0][0].as_str().unwrap(), crl_url);
    let policies = get("2.5.29.32")["policies"].as_array().unwrap().clone();
    let oids: Vec<&str> = policies
        .iter()
        .map(|p| p["oid"].as_str().unwrap())
        .collect();
    assert_eq!(oids, exp.policies, "{name}: policies");
    let qualifiers = &policies[0]["qualifiers"];
    match exp.cps {
        Some(cps) => {
            assert_eq!(qualifiers[0][0], "cps");
            assert_eq!(qualifiers[0][1], cps);
            assert_eq!(qualifiers[1][0], "notice");
            let notice = qualifiers[1][1].as_str().unwrap();
            assert!(notice.starts_with(exp.notice_start.unwrap()), "{notice}");
            assert!(
                notice.ends_with("C/Jorge Juan 106-28009-Madrid-España)"),
                "{notice}"
            );
        }
        None => assert!(
            policies
                .iter()
                .all(|p| p["qualifiers"].as_array().unwrap().is_empty())
        ),
    }
    if exp.qc.is_empty() {
        assert!(
            ext["1.3.6.1.5.5.7.1.3"].is_null(),
            "{name}: unexpected QCStatements"
        );
    } else {
        let statements = get("1.3.6.1.5.5.7.1.3")["statements"]
            .as_array()
            .unwrap()
            .clone();
        let ids: Vec<&str> = statements
            .iter()
            .map(|s| s["oid"].as_str().unwrap())
            .collect();
        assert_eq!(ids, exp.qc, "{name}: QCStatements");
        for s in &statements {
            match s["oid"].as_str().unwrap() {
                QC_RETENTION => assert_eq!(s["int"], 15),
                QC_TYPE => assert_eq!(str_list(&s["oids"]), ["0.4.0.1862.1.6.3"]),
                QC_PDS => {
                    assert_eq!(
                        s["pds"][0][0],
                        "https://www.accv.es/fileadmin/Archivos/Practicas_de_certificacion/ACCV-PDS-V1.1-EN.pdf"
                    );
                    assert_eq!(s["pds"][0][1], "en");
                }
                _ => assert!(s.get("int").is_none()),
            }
        }
    }
    let san = get("2.5.29.17");
    assert_eq!(san["critical"], false);
    let names = san["names"].as_array().unwrap();
    let mut simple: Vec<String> = Vec::new();
    let mut dir_name = None;
    for n in names {
        match n[0].as_str().unwrap() {
            "dns" | "email" => simple.push(format!(
                "{}:{}",
                n[0].as_str().unwrap(),
                n[1].as_str().unwrap()
            )),
            "other" => {
                assert_eq!(n[1], "1.3.6.1.4.1.311.20.2.3");
                // cryptography strips the [0] EXPLICIT wrapper: a UTF8String remains.
                let bytes = unhex(n[2].as_str().unwrap());
                assert_eq!(&bytes[..2], &[0x0c, bytes.len() as u8 - 2]);
                simple.push(format!("upn:{}", std::str::from_utf8(&bytes[2..]).unwrap()));
            }
            "dir" => dir_name = Some(dn_triples(&n[1])),
            other => panic!("{name}: unexpected SAN entry {other}"),
        }
    }
    assert_eq!(simple, exp.san, "{name}: SAN");
    match dir_name {
        Some(d) => {
            let expected: Vec<(String, String, u8)> = exp
                .san_dir
                .iter()
                .map(|(o, s)| ((*o).to_owned(), (*s).to_owned(), UTF8))
                .collect();
            assert_eq!(d, expected, "{name}: SAN directoryName");
        }
        None => assert!(exp.san_dir.is_empty(), "{name}: directoryName missing"),
    }
    if exp.cabf {
        // SEQUENCE { PrintableString "VAT", PrintableString "ES", UTF8String "A40573396" }
        assert_eq!(
            get("2.23.140.3.1")["hex"].as_str().unwrap(),
            "3014130356415413024553".to_owned() + "0c09" + &hex(b"A40573396")
        );
    } else {
        assert!(ext["2.23.140.3.1"].is_null());
    }
    let expected_count = 9 + usize::from(!exp.qc.is_empty()) + usize::from(exp.cabf);
    assert_eq!(
        ext.as_object().unwrap().len(),
        expected_count,
        "{name}: extensions {ext}"
    );
    dir
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Whether the extension named `ext_name` in `asn1parse -i` output holds the OID `dotted`
/// in its OCTET STRING value (parsed again with `-strparse`).
fn asn1_ext_has_oid(dir: &Path, asn1: &str, ext_name: &str, dotted: &str) -> bool {
    let lines: Vec<&str> = asn1.lines().collect();
    let Some(i) = lines
        .iter()
        .position(|l| l.trim_end().ends_with(&format!(":{ext_name}")))
    else {
        return false;
    };
    let Some(octets) = lines[i + 1..].iter().find(|l| l.contains("OCTET STRING")) else {
        return false;
    };
    let offset = octets.split(':').next().unwrap().trim();
    let inner = openssl(
        dir,
        &["asn1parse", "-in", "ee.pem", "-strparse", offset, "-i"],
    );
    inner
        .lines()
        .any(|l| l.contains("OBJECT") && l.trim_end().ends_with(&format!(":{dotted}")))
}

#[test]
fn builtin_profiles_are_the_nine_shipped() {
    let profiles = builtin_profiles().unwrap();
    let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "accv-qwac",
            "accv-sede-hsm",
            "accv-sede-software",
            "accv-server",
            "fnmt-ap-employee-card",
            "fnmt-ap-employee-software",
            "fnmt-ap-sede",
            "fnmt-ap-sello",
            "tls-server",
        ]
    );
    for p in &profiles {
        assert!(!p.description.is_empty());
        let fnmt = p.name.starts_with("fnmt");
        assert_eq!(p.suspension_allowed(), fnmt, "{}", p.name);
        assert_eq!(p.baseline_requirements(), !fnmt, "{}", p.name);
        assert_eq!(p.names_from_csr(), p.name == "tls-server");
        assert_eq!(p.precertificate_allowed(), !fnmt);
        assert!(!p.reason_allowed(RevocationReason::CertificateHold));
        assert!(p.reason_allowed(RevocationReason::KeyCompromise));
        assert_eq!(p.reason_allowed(RevocationReason::CaCompromise), fnmt);
        if fnmt {
            assert_eq!(p.allowed_key_names(), ["RSA-2048"]);
            assert_eq!(p.max_validity_secs(), 1095 * 86_400);
        } else {
            assert_eq!(
                p.allowed_key_names(),
                ["RSA-2048", "RSA-3072", "RSA-4096", "P-256", "P-384"]
            );
            assert!(p.max_validity_secs() <= 398 * 86_400);
            // BR 2.0 7.2.2 set only.
            for r in p.allowed_reasons() {
                assert!(
                    !matches!(
                        r,
                        RevocationReason::CaCompromise
                            | RevocationReason::AaCompromise
                            | RevocationReason::CertificateHold
                            | RevocationReason::RemoveFromCrl
                    ),
                    "{}: {r}",
                    p.name
                );
            }
        }
    }
    assert_eq!(builtin_profile("tls-server").unwrap().name, "tls-server");
    assert!(matches!(
        builtin_profile("nope"),
        Err(ProfileError::UnknownProfile(n)) if n == "nope"
    ));
}

macro_rules! profile_test {
    ($test:ident, $name:literal) => {
        #[test]
        fn $test() {
            check_profile(&builtin_profile($name).unwrap());
        }
    };
}

profile_test!(fnmt_ap_employee_card_certificate, "fnmt-ap-employee-card");
profile_test!(
    fnmt_ap_employee_software_certificate,
    "fnmt-ap-employee-software"
);
profile_test!(fnmt_ap_sede_certificate, "fnmt-ap-sede");
profile_test!(fnmt_ap_sello_certificate, "fnmt-ap-sello");
profile_test!(accv_qwac_certificate, "accv-qwac");
profile_test!(accv_sede_hsm_certificate, "accv-sede-hsm");
profile_test!(accv_sede_software_certificate, "accv-sede-software");
profile_test!(accv_server_certificate, "accv-server");
profile_test!(tls_server_certificate, "tls-server");

#[test]
fn rsa_keys_get_key_encipherment_under_tls_profiles() {
    let profile = builtin_profile("accv-server").unwrap();
    let pki = pki(KeyAlgorithm::EcdsaP256);
    let ee = key(KeyAlgorithm::Rsa3072, "ee");
    let b = Req::new(accv_fields(), ee.public_key_spki_der())
        .build(&profile, &pki, now())
        .unwrap();
    let ku = b
        .extensions()
        .iter()
        .find(|e| *e.oid() == crate::oid::KEY_USAGE)
        .unwrap();
    // digitalSignature + keyEncipherment
    assert_eq!(ku.value(), [0x03, 0x02, 0x05, 0xa0]);
}

#[test]
fn precertificate_carries_the_poison() {
    let profile = builtin_profile("tls-server").unwrap();
    let pki = pki(KeyAlgorithm::EcdsaP256);
    let ee = key(KeyAlgorithm::EcdsaP256, "ee");
    let mut req = Req::new(BTreeMap::new(), ee.public_key_spki_der());
    req.csr_dns = vec!["only.example.com".to_owned()];
    req.precert = true;
    let der = req
        .build(&profile, &pki, now())
        .unwrap()
        .build(&pki.ca_key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pre.pem"), pem_encode("CERTIFICATE", &der)).unwrap();
    let text = openssl(dir.path(), &["x509", "-noout", "-text", "-in", "pre.pem"]);
    assert!(
        text.contains("CT Precertificate Poison: critical"),
        "{text}"
    );
    // Empty subject: the SAN is critical.
    assert!(
        text.contains("X509v3 Subject Alternative Name: critical"),
        "{text}"
    );
    assert!(
        text.contains("Subject: \n") || text.contains("Subject:\n") || text.contains("Subject: ,"),
        "{text}"
    );

    let fnmt = builtin_profile("fnmt-ap-sede").unwrap();
    let rsa = key(KeyAlgorithm::Rsa2048, "ee");
    let mut req = Req::new(sede_fields(), rsa.public_key_spki_der());
    req.precert = true;
    assert!(matches!(
        req.build(&fnmt, &pki, now()),
        Err(ProfileError::PrecertificateNotAllowed(p)) if p == "fnmt-ap-sede"
    ));
}

#[test]
fn pkilint_tls_certificates() {
    let have = Command::new("lint_cabf_serverauth_cert")
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        have,
        "pkilint is not on PATH: run scripts/test.sh (it installs pkilint into \
         target/test-venv and puts it on PATH)"
    );
    for (name, linter, kind) in [
        (
            "tls-server",
            "lint_cabf_serverauth_cert",
            "DV-FINAL-CERTIFICATE",
        ),
        (
            "accv-server",
            "lint_cabf_serverauth_cert",
            "OV-FINAL-CERTIFICATE",
        ),
        (
            "accv-qwac",
            "lint_cabf_serverauth_cert",
            "OV-FINAL-CERTIFICATE",
        ),
        (
            "accv-qwac",
            "lint_etsi_cert",
            "QNCP-W-OV-EIDAS-FINAL-CERTIFICATE",
        ),
    ] {
        let dir = check_profile(&builtin_profile(name).unwrap());
        let (_, out) = run(
            dir.path(),
            linter,
            &["lint", "-t", kind, "-s", "WARNING", "ee.pem"],
        );
        eprintln!("pkilint {linter} -t {kind} on {name}:\n{out}");
        let findings: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("(ERROR)") || l.contains("(FATAL)"))
            .collect();
        assert!(findings.is_empty(), "{name} {linter} {kind}:\n{out}");
    }
}

fn err_of(profile: &str, fields: BTreeMap<String, String>) -> ProfileError {
    let p = builtin_profile(profile).unwrap();
    let pki = pki(KeyAlgorithm::EcdsaP256);
    let ee = if p.allowed_key_names().contains(&"P-256".to_owned()) {
        key(KeyAlgorithm::EcdsaP256, "ee")
    } else {
        key(KeyAlgorithm::Rsa2048, "ee")
    };
    match Req::new(fields, ee.public_key_spki_der()).build(&p, &pki, now()) {
        Ok(_) => panic!("{profile}: request was accepted"),
        Err(e) => e,
    }
}

#[test]
fn missing_required_field_is_refused() {
    let mut f = employee_fields();
    f.remove("dni");
    let e = err_of("fnmt-ap-employee-card", f);
    assert!(
        matches!(&e, ProfileError::MissingField { field, .. } if field == "dni"),
        "{e}"
    );
    assert!(e.to_string().contains("\"dni\""), "{e}");
    // An empty value counts as absent.
    let mut f = sede_fields();
    f.insert("domain".into(), String::new());
    let e = err_of("fnmt-ap-sede", f);
    assert!(
        matches!(&e, ProfileError::MissingField { field, .. } if field == "domain"),
        "{e}"
    );
}

#[test]
fn optional_fields_may_be_left_out() {
    let p = builtin_profile("fnmt-ap-employee-card").unwrap();
    let pki = pki(KeyAlgorithm::Rsa2048);
    let ee = key(KeyAlgorithm::Rsa2048, "ee");
    let mut f = employee_fields();
    for k in [
        "organizational_unit",
        "employee_number",
        "position",
        "email",
        "upn",
    ] {
        f.remove(k);
    }
    let b = Req::new(f, ee.public_key_spki_der())
        .build(&p, &pki, now())
        .unwrap();
    assert_eq!(
        b.subject().to_string(),
        "C=ES,O=MINISTERIO DE ECONOMÍA,OU=certificado electrónico de empleado público,\
         serialNumber=99999999R,2.5.4.4=ESPAÑOL ESPAÑOL,2.5.4.42=JUAN,\
         CN=JUAN ESPAÑOL ESPAÑOL - DNI 99999999R"
    );
}

#[test]
fn unknown_field_is_refused() {
    let mut f = sello_fields();
    f.insert("nickname".into(), "x".into());
    let e = err_of("fnmt-ap-sello", f);
    assert!(
        matches!(&e, ProfileError::UnknownField { field, expected, .. }
            if field == "nickname" && expected.contains("system_name")),
        "{e}"
    );
}

#[test]
fn validity_above_max_is_refused_and_issuer_caps_it() {
    let p = builtin_profile("fnmt-ap-sello").unwrap();
    let pki = pki(KeyAlgorithm::Rsa2048);
    let ee = key(KeyAlgorithm::Rsa2048, "ee");
    let t = now();
    let mut req = Req::new(sello_fields(), ee.public_key_spki_der());
    req.requested = Some(1096 * 86_400);
    let e = req.build(&p, &pki, t).unwrap_err();
    assert!(
        matches!(&e, ProfileError::ValidityTooLong { max_secs, max_days: 1095, .. } if *max_secs == 1095 * 86_400),
        "{e}"
    );
    assert!(e.to_string().contains("requested_validity_secs"), "{e}");
    req.requested = Some(0);
    assert!(matches!(
        req.build(&p, &pki, t),
        Err(ProfileError::ZeroValidity)
    ));
    req.requested = Some(30 * 86_400);
    let b = req.build(&p, &pki, t).unwrap();
    assert_eq!(
        b.validity().not_after() - b.validity().not_before() + 1,
        30 * 86_400
    );
    // The issuer's notAfter caps the certificate.
    req.requested = None;
    req.issuer_not_after = Some(t + 10 * 86_400);
    let b = req.build(&p, &pki, t).unwrap();
    assert_eq!(b.validity().not_after(), t + 10 * 86_400);
    req.issuer_not_after = Some(t);
    assert!(matches!(
        req.build(&p, &pki, t),
        Err(ProfileError::IssuerExpired { .. })
    ));

    // BR profiles follow the SC-081 schedule.
    let tls = builtin_profile("tls-server").unwrap();
    assert_eq!(tls.max_validity_secs(), 398 * 86_400);
    assert_eq!(tls.effective_max_validity_secs(1_773_532_799), 398 * 86_400);
    assert_eq!(tls.effective_max_validity_secs(1_773_532_800), 200 * 86_400);
    assert_eq!(tls.effective_max_validity_secs(1_805_068_800), 100 * 86_400);
    assert_eq!(tls.effective_max_validity_secs(1_868_227_200), 47 * 86_400);
    let accv = builtin_profile("accv-qwac").unwrap();
    assert_eq!(
        accv.effective_max_validity_secs(1_700_000_000),
        365 * 86_400
    );
    assert_eq!(accv.default_validity_secs(1_700_000_000), 365 * 86_400);
    assert_eq!(accv.default_validity_secs(1_773_532_800), 199 * 86_400);
    assert_eq!(tls.default_validity_secs(1_700_000_000), 397 * 86_400);
    assert_eq!(p.default_validity_secs(1_900_000_000), 1095 * 86_400);
    // Up to the BR "MUST" limit may still be asked for explicitly.
    let ec = key(KeyAlgorithm::EcdsaP256, "ee");
    let mut req = Req::new(BTreeMap::new(), ec.public_key_spki_der());
    req.csr_dns = vec!["www.example.com".into()];
    let cap = tls.effective_max_validity_secs(t);
    req.requested = Some(cap);
    let b = req.build(&tls, &pki, t).unwrap();
    assert_eq!((b.validity().not_after() - t + 1) as u64, cap);
    req.requested = Some(cap + 1);
    assert!(matches!(
        req.build(&tls, &pki, t),
        Err(ProfileError::ValidityTooLong { .. })
    ));
    assert_eq!(p.effective_max_validity_secs(1_900_000_000), 1095 * 86_400);
}

#[test]
fn over_long_values_are_refused() {
    // A field longer than its max_chars.
    let mut f = sello_fields();
    f.insert("system_name".into(), "S".repeat(65));
    let e = err_of("fnmt-ap-sello", f);
    assert!(
        matches!(&e, ProfileError::InvalidField { field, reason } if field == "system_name" && reason.contains("at most 64")),
        "{e}"
    );
    // A composed CN longer than the RFC 5280 bound of 64.
    let mut f = employee_fields();
    f.insert("given_name".into(), "MARÍA DEL CARMEN INMACULADA".into());
    f.insert("first_surname".into(), "FERNÁNDEZ-RODRÍGUEZ".into());
    let e = err_of("fnmt-ap-employee-card", f);
    assert!(
        matches!(&e, ProfileError::InvalidValue { what, source_fields, reason }
            if what.ends_with("CN") && source_fields.contains("given_name") && reason.contains("at most 64")),
        "{e}"
    );
    // A user notice over 200 characters in a profile.
    let text = include_str!("../../profiles/fnmt-ap-sello.toml").replace(
        "user_notice = \"Certificado",
        &format!("user_notice = \"{}Certificado", "x".repeat(10)),
    );
    let e = Profile::from_toml(&text).unwrap_err();
    assert!(
        e.to_string().contains("policies[0]") && e.to_string().contains("200"),
        "{e}"
    );
}

#[test]
fn field_formats_are_checked() {
    for (profile, field, value, needle) in [
        ("fnmt-ap-employee-card", "dni", "9999999R", "DNI"),
        ("fnmt-ap-employee-card", "dni", "99999999r", "DNI"),
        ("fnmt-ap-employee-card", "organization_id", "Q282600", "NIF"),
        ("fnmt-ap-employee-card", "email", "juan@localhost", "e-mail"),
        (
            "fnmt-ap-employee-card",
            "given_name",
            " JUAN",
            "white space",
        ),
        ("fnmt-ap-employee-card", "given_name", "JU\nAN", "control"),
        ("fnmt-ap-sede", "domain", "www.sede_meh.es", "DNS"),
        ("fnmt-ap-sede", "domain", "*.meh.gob.es", "wildcard"),
        ("accv-qwac", "organization", "Istec", "capital"),
        ("accv-qwac", "locality", "VALÈNCIA", "accents"),
        ("accv-qwac", "aliases", "ok.example.es, bad_name.es", "DNS"),
        ("accv-qwac", "domain", "intranet", "fully-qualified"),
    ] {
        let mut f = match profile {
            "fnmt-ap-employee-card" => employee_fields(),
            "fnmt-ap-sede" => sede_fields(),
            _ => accv_fields(),
        };
        f.insert(field.into(), value.into());
        if field == "domain" && profile == "accv-qwac" {
            f.remove("common_name");
        }
        let e = err_of(profile, f);
        assert!(
            matches!(&e, ProfileError::InvalidField { field: got, .. } if got == field),
            "{profile} {field}={value:?}: {e}"
        );
        assert!(e.to_string().contains(needle), "{profile} {field}: {e}");
    }
    // NIE and Ñ are fine; DNS names are lower-cased.
    let mut f = employee_fields();
    f.insert("dni".into(), "X1234567L".into());
    let p = builtin_profile("fnmt-ap-employee-card").unwrap();
    let pki = pki(KeyAlgorithm::Rsa2048);
    let ee = key(KeyAlgorithm::Rsa2048, "ee");
    Req::new(f, ee.public_key_spki_der())
        .build(&p, &pki, now())
        .unwrap();
    let mut f = accv_fields();
    f.insert("organization".into(), "AYUNTAMIENTO DE ALCAÑIZ".into());
    f.insert("domain".into(), "WWW.Example.ES".into());
    let accv = builtin_profile("accv-server").unwrap();
    let ec = key(KeyAlgorithm::EcdsaP256, "ee");
    let b = Req::new(f, ec.public_key_spki_der())
        .build(&accv, &pki, now())
        .unwrap();
    assert!(
        b.subject()
            .to_string()
            .contains("O=AYUNTAMIENTO DE ALCAÑIZ")
    );
}

#[test]
fn names_are_checked_against_the_san() {
    // ACCV: a CN must be one of the dNSNames.
    let mut f = accv_fields();
    f.insert("common_name".into(), "other.example.es".into());
    let e = err_of("accv-server", f);
    assert!(
        matches!(&e, ProfileError::InvalidValue { what, .. } if what == "subject CN"),
        "{e}"
    );
    // Too many names.
    let mut f = accv_fields();
    f.insert(
        "aliases".into(),
        "a.example.es b.example.es c.example.es d.example.es e.example.es".into(),
    );
    let e = err_of("accv-sede-software", f);
    assert!(e.to_string().contains("at most 5"), "{e}");
    // No CN (not recommended) is fine.
    let p = builtin_profile("accv-server").unwrap();
    let pki = pki(KeyAlgorithm::EcdsaP256);
    let ec = key(KeyAlgorithm::EcdsaP256, "ee");
    let mut f = accv_fields();
    f.remove("common_name");
    let b = Req::new(f, ec.public_key_spki_der())
        .build(&p, &pki, now())
        .unwrap();
    assert!(!b.subject().to_string().contains("CN="));

    // tls-server: the CSR must carry a name; its CN is added to the SAN; bad names refused.
    let tls = builtin_profile("tls-server").unwrap();
    let req = Req::new(BTreeMap::new(), ec.public_key_spki_der());
    assert!(matches!(
        req.build(&tls, &pki, now()),
        Err(ProfileError::InvalidField { field, .. }) if field == "csr_dns_names"
    ));
    let mut req = Req::new(BTreeMap::new(), ec.public_key_spki_der());
    req.csr_cn = Some("cn-only.example.com");
    let b = req.build(&tls, &pki, now()).unwrap();
    assert_eq!(b.subject().to_string(), "CN=cn-only.example.com");
    let mut req = Req::new(BTreeMap::new(), ec.public_key_spki_der());
    req.csr_cn = Some("Not A Host");
    req.csr_dns = vec!["ok.example.com".into()];
    assert!(matches!(
        req.build(&tls, &pki, now()),
        Err(ProfileError::InvalidField { field, .. }) if field == "csr_common_name"
    ));
    // Request fields are not accepted by a CSR-names profile.
    let mut req = Req::new(
        fields(&[("common_name", "x.example.com")]),
        ec.public_key_spki_der(),
    );
    req.csr_dns = vec!["ok.example.com".into()];
    assert!(matches!(
        req.build(&tls, &pki, now()),
        Err(ProfileError::UnknownField { field, .. }) if field == "common_name"
    ));
}

#[test]
fn key_types_are_checked() {
    let p = builtin_profile("fnmt-ap-sede").unwrap();
    let pki = pki(KeyAlgorithm::Rsa2048);
    let ec = key(KeyAlgorithm::EcdsaP256, "ee");
    let e = Req::new(sede_fields(), ec.public_key_spki_der())
        .build(&p, &pki, now())
        .unwrap_err();
    assert!(
        matches!(&e, ProfileError::KeyNotAllowed { key, allowed, .. } if key == "P-256" && allowed == "RSA-2048"),
        "{e}"
    );
    let rsa4096 = key(KeyAlgorithm::Rsa4096, "ee");
    let e = Req::new(sede_fields(), rsa4096.public_key_spki_der())
        .build(&p, &pki, now())
        .unwrap_err();
    assert!(
        matches!(&e, ProfileError::KeyNotAllowed { key, .. } if key == "RSA-4096"),
        "{e}"
    );
    let e = Req::new(sede_fields(), b"junk")
        .build(&p, &pki, now())
        .unwrap_err();
    assert!(matches!(e, ProfileError::UnsupportedKey(_)), "{e}");
    let ed = key(KeyAlgorithm::Ed25519, "ee");
    let tls = builtin_profile("tls-server").unwrap();
    let mut req = Req::new(BTreeMap::new(), ed.public_key_spki_der());
    req.csr_dns = vec!["a.example.com".into()];
    assert!(matches!(
        req.build(&tls, &pki, now()),
        Err(ProfileError::KeyNotAllowed { key, .. }) if key == "Ed25519"
    ));
}

#[test]
fn crl_partition_is_stable_and_in_range() {
    let p = builtin_profile("fnmt-ap-employee-card").unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..5000 {
        let s = Serial::random().unwrap();
        let name = p.crl_partition(&s);
        assert_eq!(name, p.crl_partition(&s));
        let n = p.crl_partition_index(&s).unwrap();
        assert!((1..=100).contains(&n), "{n}");
        assert_eq!(name, format!("CRL{n}.crl"));
        seen.insert(n);
    }
    assert_eq!(seen.len(), 100, "random serials reach every partition");
    // Known values: serial 0x01 → CRL2, 0x64 (100) → CRL1, 0x0100 (256) → 256 % 100 + 1.
    for (magnitude, n) in [(&[0x01][..], 2), (&[0x64][..], 1), (&[0x01, 0x00][..], 57)] {
        let s = Serial::from_magnitude(magnitude).unwrap();
        assert_eq!(p.crl_partition_index(&s), Some(n));
    }
    let all = p.crl_partitioning().all_names();
    assert_eq!(all.len(), 100);
    assert_eq!(
        (all[0].as_str(), all[99].as_str()),
        ("CRL1.crl", "CRL100.crl")
    );

    let accv = builtin_profile("accv-qwac").unwrap();
    let s = Serial::random().unwrap();
    assert_eq!(accv.crl_partition(&s), "");
    assert_eq!(accv.crl_partition_index(&s), None);
    assert_eq!(accv.crl_partitioning(), &CrlPartition::Full);
}

/// The shipped tls-server profile with `from` replaced by `to`.
fn tls_with(from: &str, to: &str) -> Result<Profile, ProfileError> {
    let text = include_str!("../../profiles/tls-server.toml");
    assert!(text.contains(from), "{from}");
    Profile::from_toml(&text.replacen(from, to, 1))
}

fn expect_invalid(result: Result<Profile, ProfileError>, key_part: &str, reason_part: &str) {
    match result {
        Err(ProfileError::InvalidProfile { key, reason, .. }) => {
            assert!(
                key.contains(key_part),
                "key {key:?} lacks {key_part:?} ({reason})"
            );
            assert!(
                reason.contains(reason_part),
                "reason {reason:?} lacks {reason_part:?}"
            );
        }
        other => panic!("expected InvalidProfile for {key_part}, got {other:?}"),
    }
}

#[test]
fn bad_profiles_are_refused() {
    // Unknown keys and wrong types: TOML errors naming the key.
    let e = tls_with(
        "names_from_csr = true",
        "names_from_csr = true\nfrobnicate = 1",
    )
    .unwrap_err();
    assert!(
        matches!(e, ProfileError::Toml(_)) && e.to_string().contains("frobnicate"),
        "{e}"
    );
    let e = tls_with("max_validity_days = 398", "max_validity_days = \"398\"").unwrap_err();
    assert!(e.to_string().contains("max_validity_days"), "{e}");
    let e = tls_with(
        "[crl_partition]\nkind = \"full\"",
        "[crl_partition]\nkind = \"full\"\nname = \"x\"",
    )
    .unwrap_err();
    assert!(matches!(e, ProfileError::Toml(_)), "{e}");

    expect_invalid(
        tls_with("max_validity_days = 398", "max_validity_days = 399"),
        "max_validity_days",
        "398",
    );
    expect_invalid(
        tls_with("max_validity_days = 398", "max_validity_days = 0"),
        "max_validity_days",
        "1..",
    );
    expect_invalid(
        tls_with("suspension_allowed = false", "suspension_allowed = true"),
        "suspension_allowed",
        "false",
    );
    expect_invalid(
        tls_with("\"superseded\",", "\"superseded\", \"cACompromise\","),
        "allowed_reasons",
        "BR",
    );
    expect_invalid(
        tls_with("\"superseded\",", "\"superseded\", \"certificateHold\","),
        "allowed_reasons[",
        "suspension_allowed",
    );
    expect_invalid(
        tls_with("\"superseded\",", "\"superseded\", \"frozen\","),
        "allowed_reasons[",
        "unknown revocation reason",
    );
    expect_invalid(
        tls_with("\"superseded\",", "\"superseded\", \"superseded\","),
        "allowed_reasons[",
        "twice",
    );
    expect_invalid(
        tls_with("\"P-384\"]", "\"P-384\", \"RSA-1024\"]"),
        "allowed_keys[",
        "unknown key type",
    );
    expect_invalid(
        tls_with("\"P-384\"]", "\"P-384\", \"Ed25519\"]"),
        "allowed_keys",
        "BR",
    );
    expect_invalid(
        tls_with("oid = \"2.23.140.1.2.1\"", "oid = \"2.23.x\""),
        "policies[0].oid",
        "dotted OID",
    );
    expect_invalid(
        tls_with("oid = \"2.23.140.1.2.1\"", "oid = \"1.2.3.4\""),
        "policies",
        "reserved",
    );
    expect_invalid(
        tls_with(
            "purposes = [\"serverAuth\"]",
            "purposes = [\"serverAuth\", \"anyExtendedKeyUsage\"]",
        ),
        "extended_key_usage",
        "anyExtendedKeyUsage",
    );
    expect_invalid(
        tls_with(
            "purposes = [\"serverAuth\"]",
            "purposes = [\"serverAuth\", \"teleport\"]",
        ),
        "extended_key_usage.purposes[1]",
        "unknown purpose",
    );
    expect_invalid(
        tls_with(
            "bits = [\"digitalSignature\"]",
            "bits = [\"digitalSignature\", \"keyCertSign\"]",
        ),
        "key_usage.bits[1]",
        "CA certificates",
    );
    expect_invalid(
        tls_with("bits = [\"digitalSignature\"]", "bits = []"),
        "key_usage.bits",
        "non-RSA",
    );
    expect_invalid(
        tls_with(
            "{ attribute = \"CN\", value = \"{csr:common_name}\" },",
            "{ attribute = \"CN\", value = \"{csr:common_name}\" },\n  { attribute = \"XX\", value = \"x\" },",
        ),
        "subject[1].attribute",
        "unknown attribute",
    );
    expect_invalid(
        tls_with(
            "{ attribute = \"CN\", value = \"{csr:common_name}\" },",
            "{ attribute = \"C\", value = \"ESP\" },",
        ),
        "subject[0].value",
        "at most 2",
    );
    expect_invalid(
        tls_with(
            "{ attribute = \"CN\", value = \"{csr:common_name}\" },",
            "{ attribute = \"C\", value = \"XY\" },",
        ),
        "subject[0].value",
        "ISO 3166",
    );
    expect_invalid(
        tls_with(
            "{ attribute = \"CN\", value = \"{csr:common_name}\" },",
            "{ attribute = \"CN\", value = \"{nobody}\" },",
        ),
        "subject[0].value",
        "not declared",
    );
    expect_invalid(
        tls_with(
            "{ attribute = \"CN\", value = \"{csr:common_name}\" },",
            "{ attribute = \"CN\", value = \"{csr:common_name}\", max_chars = 65 },",
        ),
        "subject[0].max_chars",
        "RFC 5280",
    );
    expect_invalid(
        tls_with(
            "{ attribute = \"CN\", value = \"{csr:common_name}\" },",
            "{ attribute = \"serialNumber\", value = \"1\", encoding = \"utf8\" },",
        ),
        "subject[0].encoding",
        "PrintableString",
    );
    expect_invalid(
        tls_with("[san]", "[fields.spare]\nrequired = false\n\n[san]"),
        "fields.spare",
        "no template",
    );
    expect_invalid(
        tls_with(
            "kind = \"full\"",
            "kind = \"serial-mod\"\npartitions = 10\nname_template = \"CRL.crl\"",
        ),
        "crl_partition.name_template",
        "{n}",
    );
    expect_invalid(
        tls_with(
            "kind = \"full\"",
            "kind = \"serial-mod\"\npartitions = 0\nname_template = \"CRL{n}.crl\"",
        ),
        "crl_partition.partitions",
        "1..",
    );
    expect_invalid(
        tls_with("name = \"tls-server\"", "name = \"TLS Server\""),
        "name",
        "[a-z0-9-]",
    );
    // A non-BR profile may not use {csr:common_name} without names_from_csr.
    expect_invalid(
        tls_with("names_from_csr = true", "names_from_csr = false"),
        "subject",
        "names_from_csr",
    );

    // FNMT-specific: a QCStatements table with nothing in it, a bad PDS language.
    let sello = include_str!("../../profiles/fnmt-ap-sello.toml");
    let e =
        Profile::from_toml(&sello.replace("compliance = true\nretention_period_years = 15", ""));
    expect_invalid(e, "qc_statements", "no statement");
    let e = Profile::from_toml(&sello.replace(
        "retention_period_years = 15",
        "retention_period_years = 15\npds = [{ url = \"https://x.example/pds\", language = \"EN\" }]",
    ));
    expect_invalid(e, "qc_statements", "ISO 639-1");
}

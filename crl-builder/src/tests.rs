//! End-to-end tests: CRLs signed with P-256, P-384, RSA-2048 and Ed25519 software keys for
//! CA certificates built by `revoca-issuer`, checked by strict DER re-encoding
//! (x509-cert), OpenSSL (`openssl crl -verify`), pyca/cryptography and GnuTLS `certtool`.
//! The external tools must be installed: a missing tool fails the test.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use ::der::{Decode, Encode};
use revoca_issuer::{
    CertificateBuilder, IssuerInfo, Name, Validity, cert_serial_magnitude, cert_subject_der,
    cert_subject_key_identifier, pem_encode,
};
use revoca_signer::{KeyAlgorithm, SignError, SignatureScheme, Signer, SoftwareKey};
use revoca_status::{RevocationReason, Serial};
use x509_cert::time::Time;

use crate::*;

/// The current time: GnuTLS refuses a CRL whose nextUpdate has passed.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
/// 2051-06-01T12:00:00Z: after 2049, so GeneralizedTime.
const AFTER_2050: i64 = 2_569_233_600;

fn key(alg: KeyAlgorithm, label: &str) -> SoftwareKey {
    SoftwareKey::from_pkcs8_der(&SoftwareKey::generate_pkcs8(alg).unwrap(), label).unwrap()
}

/// A signer that hides its key's digest signing, to exercise the buffered path.
struct NoPrehash(SoftwareKey);

impl Signer for NoPrehash {
    fn scheme(&self) -> SignatureScheme {
        self.0.scheme()
    }
    fn public_key_spki_der(&self) -> &[u8] {
        self.0.public_key_spki_der()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.0.sign(message)
    }
    fn label(&self) -> &str {
        self.0.label()
    }
}

/// A CA that signs CRLs: its certificate, subject name DER and subject key identifier.
struct Ca {
    key: Box<dyn Signer>,
    cert: Vec<u8>,
    name_der: Vec<u8>,
    ski: Vec<u8>,
}

impl Ca {
    fn from_cert(key: Box<dyn Signer>, cert: Vec<u8>) -> Self {
        let name_der = cert_subject_der(&cert).unwrap();
        let ski = cert_subject_key_identifier(&cert).unwrap().unwrap();
        Self {
            key,
            cert,
            name_der,
            ski,
        }
    }

    fn pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert)
    }
}

fn validity(days: u32) -> Validity {
    Validity::starting_at(now() - 86_400, days * 86_400).unwrap()
}

/// A root (signs the ARL) and an issuing CA (signs the subscriber CRLs), both with keys of
/// `alg`.
fn pki(alg: KeyAlgorithm) -> (Ca, Ca) {
    let root_key = key(alg, "root");
    let root = CertificateBuilder::root_ca(
        revoca_issuer::Serial::random().unwrap(),
        Name::parse(&format!(
            "CN=Revoca CRL Test Root {},O=Revoca,C=ES",
            alg.name()
        ))
        .unwrap(),
        validity(3650),
        root_key.public_key_spki_der(),
    )
    .unwrap()
    .build(&root_key)
    .unwrap();
    let root_info = IssuerInfo::from_certificate_der(&root).unwrap();
    let ca_key = key(alg, "issuing");
    let ca = CertificateBuilder::issuing_ca(
        revoca_issuer::Serial::random().unwrap(),
        Name::parse("CN=AC Administración Pública Test,O=Revoca,C=ES").unwrap(),
        validity(1825),
        ca_key.public_key_spki_der(),
        &root_info,
        Some(0),
    )
    .unwrap()
    .build(&root_key)
    .unwrap();
    (
        Ca::from_cert(Box::new(root_key), root),
        Ca::from_cert(Box::new(ca_key), ca),
    )
}

fn serial_hex(hex: &str) -> Serial {
    Serial::from_hex(hex).unwrap()
}

/// Entries with every reason (unspecified and none included), hold, invalidity dates,
/// 20-octet serials and a date after 2050, in ascending serial order.
fn subscriber_entries() -> Vec<CrlEntry> {
    let reasons = [
        None,
        Some(RevocationReason::Unspecified),
        Some(RevocationReason::KeyCompromise),
        Some(RevocationReason::CaCompromise),
        Some(RevocationReason::AffiliationChanged),
        Some(RevocationReason::Superseded),
        Some(RevocationReason::CessationOfOperation),
        Some(RevocationReason::CertificateHold),
        Some(RevocationReason::PrivilegeWithdrawn),
        Some(RevocationReason::AaCompromise),
    ];
    let mut entries: Vec<CrlEntry> = reasons
        .iter()
        .enumerate()
        .map(|(i, reason)| CrlEntry {
            serial: Serial::from_unsigned_be(&[0x01, i as u8 + 1]).unwrap(),
            revocation_time: now() - 3600 * (i as i64 + 1),
            reason: *reason,
            invalidity_date: (*reason == Some(RevocationReason::KeyCompromise))
                .then_some(now() - 10 * 86_400),
        })
        .collect();
    // 20 content octets: a 20-octet magnitude with the top bit clear, and a 19-octet one
    // with the top bit set (a leading zero octet makes 20).
    entries.push(CrlEntry {
        serial: serial_hex(&format!("ff{}", "ee".repeat(18))),
        revocation_time: now() - 60,
        reason: Some(RevocationReason::Superseded),
        invalidity_date: None,
    });
    entries.push(CrlEntry {
        serial: serial_hex(&format!("7f{}", "ab".repeat(19))),
        revocation_time: AFTER_2050,
        reason: Some(RevocationReason::KeyCompromise),
        invalidity_date: Some(AFTER_2050 - 86_400),
    });
    entries.sort_unstable_by_key(|e| e.serial);
    entries
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is the tool installed?): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// What pyca/cryptography reads back.
const PYCA_SCRIPT: &str = r#"
import json, sys
from cryptography import x509
crl = x509.load_der_x509_crl(open(sys.argv[1], "rb").read())
ca = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
out = {
    "signature_valid": crl.is_signature_valid(ca.public_key()),
    "signature_oid": crl.signature_algorithm_oid.dotted_string,
    "issuer_matches": crl.issuer == ca.subject,
    "this_update": int(crl.last_update_utc.timestamp()),
    "next_update": int(crl.next_update_utc.timestamp()),
    "extensions": [[e.oid.dotted_string, e.critical] for e in crl.extensions],
    "crl_number": format(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number, "x"),
    "aki": crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier.hex(),
    "idp": None,
    "entries": [],
}
try:
    ext = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    v = ext.value
    out["idp"] = {
        "critical": ext.critical,
        "full_name": [n.value for n in (v.full_name or [])],
        "only_user": v.only_contains_user_certs,
        "only_ca": v.only_contains_ca_certs,
        "only_some_reasons": v.only_some_reasons is not None,
        "indirect": v.indirect_crl,
    }
except x509.ExtensionNotFound:
    pass
for r in crl:
    entry = {
        "serial": format(r.serial_number, "x"),
        "date": int(r.revocation_date_utc.timestamp()),
        "reason": None,
        "invalidity": None,
        "critical": [e.critical for e in r.extensions],
    }
    for e in r.extensions:
        if isinstance(e.value, x509.CRLReason):
            entry["reason"] = e.value.reason.value
        elif isinstance(e.value, x509.InvalidityDate):
            entry["invalidity"] = int(e.value.invalidity_date_utc.timestamp())
    out["entries"].append(entry)
print(json.dumps(out))
"#;

/// Expected content of one CRL.
struct Expect<'a> {
    params: &'a CrlParams<'a>,
    entries: &'a [CrlEntry],
    reasons_required: bool,
}

/// Checks `der` with every tool; `dir` holds the files.
fn check_crl(dir: &Path, name: &str, der: &[u8], ca: &Ca, expect: &Expect<'_>) {
    let crl_path = dir.join(format!("{name}.crl"));
    let ca_path = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&crl_path, der).unwrap();
    std::fs::write(&ca_path, ca.pem()).unwrap();

    check_strict_der(der, ca, expect);
    check_openssl(&crl_path, &ca_path, expect);
    check_pyca(&crl_path, &ca_path, ca, expect);
    check_certtool(&crl_path, ca, expect);
}

/// x509-cert parses the CRL and re-encodes it to the same bytes (canonical DER), and the
/// structure is what RFC 5280 asks for.
fn check_strict_der(der: &[u8], ca: &Ca, expect: &Expect<'_>) {
    let crl = x509_cert::crl::CertificateList::from_der(der).expect("x509-cert parses the CRL");
    assert_eq!(crl.to_der().unwrap(), der, "not canonical DER");
    let tbs = &crl.tbs_cert_list;
    assert_eq!(tbs.version, x509_cert::Version::V2);
    let alg = ca.key.scheme().algorithm_identifier_der();
    assert_eq!(tbs.signature.to_der().unwrap(), alg);
    assert_eq!(crl.signature_algorithm.to_der().unwrap(), alg);
    assert_eq!(tbs.issuer.to_der().unwrap(), ca.name_der);
    let is_generalized = |t: &Time| matches!(t, Time::GeneralTime(_));
    assert_eq!(
        is_generalized(&tbs.this_update),
        expect.params.this_update >= 2_524_608_000
    );
    let next = tbs.next_update.as_ref().expect("nextUpdate present");
    assert_eq!(
        is_generalized(next),
        expect.params.next_update >= 2_524_608_000
    );
    match &tbs.revoked_certificates {
        None => assert!(expect.entries.is_empty(), "revokedCertificates missing"),
        Some(list) => {
            assert!(
                !list.is_empty(),
                "an empty revokedCertificates must be absent"
            );
            assert_eq!(list.len(), expect.entries.len());
            for (got, want) in list.iter().zip(expect.entries) {
                assert_eq!(got.serial_number.as_bytes(), want.serial.as_der_content());
                assert_eq!(
                    is_generalized(&got.revocation_date),
                    want.revocation_time >= 2_524_608_000
                );
                if let Some(exts) = &got.crl_entry_extensions {
                    assert!(!exts.is_empty(), "empty crlEntryExtensions");
                }
            }
        }
    }
    let exts = tbs.crl_extensions.as_ref().expect("crlExtensions");
    let oids: Vec<String> = exts.iter().map(|e| e.extn_id.to_string()).collect();
    let mut want = vec!["2.5.29.35", "2.5.29.20"];
    if expect.params.idp.is_some() {
        want.push("2.5.29.28");
    }
    assert_eq!(oids, want);
}

fn check_openssl(crl: &Path, ca: &Path, expect: &Expect<'_>) {
    let (_, text) = run(Command::new("openssl").args([
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-CAfile",
        ca.to_str().unwrap(),
        "-verify",
        "-noout",
        "-text",
    ]));
    // `openssl crl -verify` exits 0 even on a bad signature: read what it says.
    assert!(text.contains("verify OK"), "openssl: {text}");
    assert!(!text.contains("verify fail"), "openssl: {text}");
    assert!(text.contains("Version 2 (0x1)"), "{text}");
    assert!(text.contains("X509v3 CRL Number:"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier:"), "{text}");
    if expect.entries.is_empty() {
        assert!(text.contains("No Revoked Certificates."), "{text}");
    } else {
        assert_eq!(
            text.matches("Serial Number:").count(),
            expect.entries.len(),
            "{text}"
        );
    }
    if let Some(idp) = expect.params.idp {
        assert!(
            text.contains("X509v3 Issuing Distribution Point: critical"),
            "{text}"
        );
        for uri in idp.full_name {
            assert!(text.contains(&format!("URI:{uri}")), "{text}");
        }
        assert_eq!(
            text.contains("Only CA Certificates"),
            idp.only_contains_ca_certs,
            "{text}"
        );
        assert_eq!(
            text.contains("Only User Certificates"),
            idp.only_contains_user_certs,
            "{text}"
        );
    }
    let hold = expect
        .entries
        .iter()
        .any(|e| e.reason == Some(RevocationReason::CertificateHold));
    assert_eq!(text.contains("Certificate Hold"), hold, "{text}");
    assert_eq!(
        text.contains("Invalidity Date"),
        expect.entries.iter().any(|e| e.invalidity_date.is_some()),
        "{text}"
    );
}

fn check_pyca(crl: &Path, ca_path: &Path, ca: &Ca, expect: &Expect<'_>) {
    let (ok, text) = run(Command::new("python3").args([
        "-c",
        PYCA_SCRIPT,
        crl.to_str().unwrap(),
        ca_path.to_str().unwrap(),
    ]));
    assert!(ok, "pyca: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let p = expect.params;
    assert_eq!(v["signature_valid"], true, "{text}");
    assert_eq!(v["issuer_matches"], true);
    assert_eq!(v["this_update"], p.this_update);
    assert_eq!(v["next_update"], p.next_update);
    assert_eq!(v["crl_number"], p.crl_number.to_hex());
    assert_eq!(v["aki"], hex::encode(&ca.ski));
    let mut want_exts = vec![
        serde_json::json!(["2.5.29.35", false]),
        serde_json::json!(["2.5.29.20", false]),
    ];
    match p.idp {
        None => assert!(v["idp"].is_null()),
        Some(idp) => {
            want_exts.push(serde_json::json!(["2.5.29.28", true]));
            let got = &v["idp"];
            assert_eq!(got["critical"], true);
            assert_eq!(got["full_name"], serde_json::json!(idp.full_name));
            assert_eq!(got["only_user"], idp.only_contains_user_certs);
            assert_eq!(got["only_ca"], idp.only_contains_ca_certs);
            assert_eq!(got["only_some_reasons"], false);
            assert_eq!(got["indirect"], false);
        }
    }
    assert_eq!(v["extensions"], serde_json::Value::Array(want_exts));
    let got = v["entries"].as_array().unwrap();
    assert_eq!(got.len(), expect.entries.len());
    for (g, e) in got.iter().zip(expect.entries) {
        assert_eq!(g["serial"], e.serial.to_hex());
        assert_eq!(g["date"], e.revocation_time);
        let want_reason = match e.reason {
            None => None,
            Some(RevocationReason::Unspecified) if !expect.reasons_required => None,
            Some(r) => Some(r.name()),
        };
        assert_eq!(g["reason"], serde_json::json!(want_reason), "{g}");
        assert_eq!(g["invalidity"], serde_json::json!(e.invalidity_date));
        assert!(
            g["critical"].as_array().unwrap().iter().all(|c| c == false),
            "entry extensions are never critical"
        );
    }
}

fn check_certtool(crl: &Path, ca: &Ca, expect: &Expect<'_>) {
    // `--inder` applies to every input, the CA certificate included.
    let ca_der = crl.with_extension("ca.der");
    std::fs::write(&ca_der, &ca.cert).unwrap();
    let (ok, text) = run(Command::new("certtool").args([
        "--crl-info",
        "--inder",
        "--infile",
        crl.to_str().unwrap(),
    ]));
    assert!(ok, "certtool --crl-info: {text}");
    assert!(text.contains("Version: 2"), "{text}");
    let count = if expect.entries.is_empty() {
        "No revoked certificates.".to_owned()
    } else {
        format!("Revoked certificates ({}):", expect.entries.len())
    };
    assert!(text.contains(&count), "{text}");
    assert!(text.contains("CRL Number (not critical)"), "{text}");
    assert!(
        text.contains("Authority Key Identifier (not critical)"),
        "{text}"
    );
    let (ok, text) = run(Command::new("certtool").args([
        "--verify-crl",
        "--load-ca-certificate",
        ca_der.to_str().unwrap(),
        "--inder",
        "--infile",
        crl.to_str().unwrap(),
    ]));
    assert!(ok, "certtool --verify-crl: {text}");
    assert!(text.contains("Verified"), "{text}");
    assert!(!text.contains("Not verified"), "{text}");
}

fn params<'a>(ca: &'a Ca, number: u64, idp: Option<IssuingDistributionPoint<'a>>) -> CrlParams<'a> {
    CrlParams {
        idp,
        ..CrlParams::new(
            &ca.name_der,
            &ca.ski,
            CrlNumber::from(number),
            now(),
            now() + 7 * 86_400,
        )
    }
}

/// The whole set of CRLs for one key algorithm.
fn interop(alg: KeyAlgorithm) {
    let dir = tempfile::tempdir().unwrap();
    let (root, ca) = pki(alg);
    let streamed = if alg == KeyAlgorithm::Ed25519 {
        SigningMode::Buffered
    } else {
        SigningMode::Streamed
    };

    // 1. An empty full CRL.
    let p = params(&ca, 1, None);
    let mut der = Vec::new();
    let summary = write_crl(&mut der, &p, &Vec::new(), ca.key.as_ref()).unwrap();
    assert_eq!(summary.entries, 0);
    assert_eq!(summary.signing, streamed);
    check_crl(
        dir.path(),
        "empty",
        &der,
        &ca,
        &Expect {
            params: &p,
            entries: &[],
            reasons_required: false,
        },
    );

    // 2. A partition CRL with every reason, hold, invalidity dates, 20-octet serials, an
    // entry after 2050, a 20-octet CRL number and a nextUpdate after 2050 (GeneralizedTime).
    let entries = subscriber_entries();
    let uris = [
        "http://www.cert.fnmt.es/crlsacap/CRL1234.crl",
        "ldap://ldapape.cert.fnmt.es/CN=CRL1234,cn=AC%20Administraci%F3n%20P%FAblica,ou=CERES,o=FNMT-RCM,C=ES?certificateRevocationList;binary?base?objectclass=cRLDistributionPoint",
    ];
    let mut p = params(&ca, 0, Some(IssuingDistributionPoint::new(&uris)));
    p.crl_number = CrlNumber::MAX;
    p.next_update = AFTER_2050 + 86_400;
    let mut der = Vec::new();
    let summary = write_crl(&mut der, &p, &entries, ca.key.as_ref()).unwrap();
    assert_eq!(summary.entries, entries.len() as u64);
    assert_eq!(summary.bytes, der.len() as u64);
    assert_eq!(
        summary.sha256[..],
        *aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der).as_ref()
    );
    check_crl(
        dir.path(),
        "partition",
        &der,
        &ca,
        &Expect {
            params: &p,
            entries: &entries,
            reasons_required: false,
        },
    );

    // 3. The same through encode_crl_to_vec, user-certs-only.
    let one_uri = [uris[0]];
    let p = params(
        &ca,
        2,
        Some(IssuingDistributionPoint::new(&one_uri).only_user_certs()),
    );
    let der = encode_crl_to_vec(&p, &entries, ca.key.as_ref()).unwrap();
    check_crl(
        dir.path(),
        "user-only",
        &der,
        &ca,
        &Expect {
            params: &p,
            entries: &entries,
            reasons_required: false,
        },
    );

    // 4. The root's ARL: the issuing CA revoked, plus a CA entry with reason unspecified,
    // which an ARL writes out (reasonCode 0) instead of omitting.
    let ca_serial = Serial::from_unsigned_be(&cert_serial_magnitude(&ca.cert).unwrap()).unwrap();
    let mut arl_entries = vec![
        CrlEntry {
            serial: ca_serial,
            revocation_time: now() - 7200,
            reason: Some(RevocationReason::CaCompromise),
            invalidity_date: Some(now() - 86_400),
        },
        CrlEntry {
            serial: serial_hex("0badca"),
            revocation_time: now() - 3600,
            reason: Some(RevocationReason::Unspecified),
            invalidity_date: None,
        },
    ];
    arl_entries.sort_unstable_by_key(|e| e.serial);
    let arl_uri = ["http://www.cert.fnmt.es/crls/ARLFNMTRCM.crl"];
    let p = params(&root, 9, Some(IssuingDistributionPoint::arl(&arl_uri)));
    let mut der = Vec::new();
    write_crl(&mut der, &p, &arl_entries, root.key.as_ref()).unwrap();
    check_crl(
        dir.path(),
        "arl",
        &der,
        &root,
        &Expect {
            params: &p,
            entries: &arl_entries,
            reasons_required: true,
        },
    );
}

#[test]
fn interop_p256() {
    interop(KeyAlgorithm::EcdsaP256);
}

#[test]
fn interop_p384() {
    interop(KeyAlgorithm::EcdsaP384);
}

#[test]
fn interop_rsa2048() {
    interop(KeyAlgorithm::Rsa2048);
}

#[test]
fn interop_ed25519_buffered() {
    interop(KeyAlgorithm::Ed25519);
}

/// A signer without digest signing goes the buffered way and still verifies everywhere.
#[test]
fn interop_buffered_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let inner = key(KeyAlgorithm::EcdsaP384, "no-prehash");
    let cert = CertificateBuilder::root_ca(
        revoca_issuer::Serial::random().unwrap(),
        Name::parse("CN=Revoca Buffered CA,C=ES").unwrap(),
        validity(365),
        inner.public_key_spki_der(),
    )
    .unwrap()
    .build(&inner)
    .unwrap();
    let ca = Ca::from_cert(Box::new(NoPrehash(inner)), cert);
    let entries = subscriber_entries();
    let uris = ["http://crl.example.test/7.crl"];
    let p = params(&ca, 7, Some(IssuingDistributionPoint::new(&uris)));
    let mut der = Vec::new();
    let summary = write_crl(&mut der, &p, &entries, ca.key.as_ref()).unwrap();
    assert_eq!(summary.signing, SigningMode::Buffered);
    assert_eq!(summary.bytes, der.len() as u64);
    let expect = Expect {
        params: &p,
        entries: &entries,
        reasons_required: false,
    };
    check_crl(dir.path(), "buffered", &der, &ca, &expect);
    let der = encode_crl_to_vec(&p, &entries, ca.key.as_ref()).unwrap();
    check_crl(dir.path(), "buffered-vec", &der, &ca, &expect);
}

/// The checks above can fail: a flipped signature bit is reported by every tool (OpenSSL
/// still exits 0, which is why its output is read).
#[test]
fn tools_reject_a_bad_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ca) = pki(KeyAlgorithm::EcdsaP256);
    let p = params(&ca, 3, None);
    let mut der = encode_crl_to_vec(&p, &subscriber_entries(), ca.key.as_ref()).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let crl = dir.path().join("bad.crl");
    let ca_pem = dir.path().join("ca.pem");
    let ca_der = dir.path().join("ca.der");
    std::fs::write(&crl, &der).unwrap();
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&ca_der, &ca.cert).unwrap();
    let (_, text) = run(Command::new("openssl").args([
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-CAfile",
        ca_pem.to_str().unwrap(),
        "-verify",
        "-noout",
    ]));
    assert!(!text.contains("verify OK"), "{text}");
    let (ok, text) = run(Command::new("python3").args([
        "-c",
        PYCA_SCRIPT,
        crl.to_str().unwrap(),
        ca_pem.to_str().unwrap(),
    ]));
    assert!(ok, "{text}");
    assert!(text.contains(r#""signature_valid": false"#), "{text}");
    let (_, text) = run(Command::new("certtool").args([
        "--verify-crl",
        "--load-ca-certificate",
        ca_der.to_str().unwrap(),
        "--inder",
        "--infile",
        crl.to_str().unwrap(),
    ]));
    assert!(text.contains("Not verified"), "{text}");
}

fn entry(hex: &str, reason: Option<RevocationReason>) -> CrlEntry {
    CrlEntry {
        serial: serial_hex(hex),
        revocation_time: 1_700_000_000,
        reason,
        invalidity_date: None,
    }
}

/// A fixed CA for the tests that need no tools.
fn test_ca(alg: KeyAlgorithm) -> Ca {
    let k = key(alg, "unit");
    let cert = CertificateBuilder::root_ca(
        revoca_issuer::Serial::random().unwrap(),
        Name::parse("CN=Unit CA,C=ES").unwrap(),
        validity(365),
        k.public_key_spki_der(),
    )
    .unwrap()
    .build(&k)
    .unwrap();
    Ca::from_cert(Box::new(k), cert)
}

#[test]
fn entry_rules_are_enforced() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let p = params(&ca, 1, None);
    let build = |p: &CrlParams<'_>, entries: &[CrlEntry]| {
        encode_crl_to_vec(p, entries, ca.key.as_ref()).map(|_| ())
    };
    let kc = Some(RevocationReason::KeyCompromise);
    // Order: strictly ascending, numerically (0x80 needs a sign octet, still > 0x7f).
    assert!(build(&p, &[entry("7f", kc), entry("80", kc), entry("0100", kc)]).is_ok());
    assert!(matches!(
        build(&p, &[entry("02", kc), entry("01", kc)]),
        Err(CrlError::NotAscending { index: 1, .. })
    ));
    assert!(matches!(
        build(&p, &[entry("02", kc), entry("02", None)]),
        Err(CrlError::NotAscending { index: 1, .. })
    ));
    // removeFromCRL is for delta CRLs.
    assert!(matches!(
        build(&p, &[entry("02", Some(RevocationReason::RemoveFromCrl))]),
        Err(CrlError::ReasonNotAllowed { .. })
    ));
    // CA entries need a reason: with the flag, and implied by an ARL's IDP.
    let mut ca_crl = params(&ca, 1, None);
    ca_crl.ca_entries = true;
    assert!(matches!(
        build(&ca_crl, &[entry("02", None)]),
        Err(CrlError::MissingReason { .. })
    ));
    assert!(build(&ca_crl, &[entry("02", Some(RevocationReason::Unspecified))]).is_ok());
    let uri = ["http://x.test/arl.crl"];
    let arl = params(&ca, 1, Some(IssuingDistributionPoint::arl(&uri)));
    assert!(matches!(
        build(&arl, &[entry("02", None)]),
        Err(CrlError::MissingReason { .. })
    ));
    // Times out of range.
    let mut bad_time = entry("02", kc);
    bad_time.revocation_time = MAX_TIME + 1;
    assert!(matches!(
        build(&p, &[bad_time]),
        Err(CrlError::TimeOutOfRange {
            what: "revocationDate",
            ..
        })
    ));
    bad_time.revocation_time = 0;
    bad_time.invalidity_date = Some(MIN_TIME - 1);
    assert!(matches!(
        build(&p, &[bad_time]),
        Err(CrlError::TimeOutOfRange {
            what: "invalidityDate",
            ..
        })
    ));
}

#[test]
fn parameters_are_checked() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let build = |p: &CrlParams<'_>| encode_crl_to_vec(p, &Vec::new(), ca.key.as_ref()).map(|_| ());
    let good = params(&ca, 1, None);
    assert!(build(&good).is_ok());
    let invalid = |p: CrlParams<'_>| matches!(build(&p), Err(CrlError::InvalidParams(_)));
    assert!(invalid(CrlParams {
        issuer_name_der: &[0x30, 0x00],
        ..good
    }));
    assert!(invalid(CrlParams {
        issuer_name_der: &[0x31, 0x01, 0x00],
        ..good
    }));
    assert!(invalid(CrlParams {
        issuer_name_der: &ca.name_der[..ca.name_der.len() - 1],
        ..good
    }));
    assert!(invalid(CrlParams {
        authority_key_id: &[],
        ..good
    }));
    assert!(invalid(CrlParams {
        next_update: good.this_update,
        ..good
    }));
    assert!(matches!(
        build(&CrlParams {
            this_update: MIN_TIME - 1,
            ..good
        }),
        Err(CrlError::TimeOutOfRange { .. })
    ));
    let none: [&str; 0] = [];
    assert!(invalid(CrlParams {
        idp: Some(IssuingDistributionPoint::new(&none)),
        ..good
    }));
    // Flags without a name are a valid IDP.
    assert!(
        build(&CrlParams {
            idp: Some(IssuingDistributionPoint::arl(&none)),
            ..good
        })
        .is_ok()
    );
    let both = ["http://x.test/a.crl"];
    assert!(invalid(CrlParams {
        idp: Some(IssuingDistributionPoint::arl(&both).only_user_certs()),
        ..good
    }));
    for bad in ["", "http://x.test/a b.crl", "http://x.test/é.crl"] {
        let uris = [bad];
        assert!(
            invalid(CrlParams {
                idp: Some(IssuingDistributionPoint::new(&uris)),
                ..good
            }),
            "{bad:?}"
        );
    }
}

/// A source that yields something else from its `change_on`-th call on.
fn changing_source(
    calls: &std::cell::Cell<u32>,
    change_on: u32,
    change: fn(&mut Vec<CrlEntry>),
) -> FnSource<impl Fn() -> Vec<CrlEntry> + '_> {
    FnSource(move || {
        calls.set(calls.get() + 1);
        let mut entries = subscriber_entries();
        if calls.get() >= change_on {
            change(&mut entries);
        }
        entries
    })
}

#[test]
fn a_source_that_changes_between_passes_is_refused() {
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let p = params(&ca, 1, None);
    // One more entry on pass 2.
    let calls = std::cell::Cell::new(0);
    let source = changing_source(&calls, 2, |e| {
        e.push(entry(&format!("7f{}", "ff".repeat(19)), None));
    });
    let mut out = Vec::new();
    assert!(matches!(
        write_crl(&mut out, &p, &source, ca.key.as_ref()),
        Err(CrlError::SourceChanged)
    ));
    // Same length, different content on pass 3 (after signing): the digest check catches
    // it before the signature is written.
    let calls = std::cell::Cell::new(0);
    let source = changing_source(&calls, 3, |e| e[0].revocation_time += 1);
    let mut out = Vec::new();
    assert!(matches!(
        write_crl(&mut out, &p, &source, ca.key.as_ref()),
        Err(CrlError::SourceChanged)
    ));
    assert_eq!(calls.get(), 3);
    // The buffered path visits twice and signs what it encoded: a change on pass 2 with
    // the same length still gives a valid CRL; a length change does not.
    let buffered = test_ca(KeyAlgorithm::Ed25519);
    let p = params(&buffered, 1, None);
    let calls = std::cell::Cell::new(0);
    let source = changing_source(&calls, 2, |e| e[0].revocation_time += 1);
    assert!(encode_crl_to_vec(&p, &source, buffered.key.as_ref()).is_ok());
    assert_eq!(calls.get(), 2);
    let calls = std::cell::Cell::new(0);
    let source = changing_source(&calls, 2, |e| {
        e.pop();
    });
    assert!(matches!(
        encode_crl_to_vec(&p, &source, buffered.key.as_ref()),
        Err(CrlError::SourceChanged)
    ));
}

#[test]
fn source_and_writer_errors_propagate() {
    struct Failing;
    impl EntrySource for Failing {
        fn for_each_entry(
            &self,
            visit: &mut dyn FnMut(&CrlEntry) -> Result<(), CrlError>,
        ) -> Result<(), CrlError> {
            visit(&entry("01", None))?;
            Err(CrlError::from_source(std::io::Error::other(
                "store read failed",
            )))
        }
    }
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let p = params(&ca, 1, None);
    let err = encode_crl_to_vec(&p, &Failing, ca.key.as_ref()).unwrap_err();
    assert!(matches!(err, CrlError::Source(_)), "{err}");
    assert!(err.to_string().contains("store read failed"));

    struct BrokenPipe;
    impl Write for BrokenPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let err = write_crl(BrokenPipe, &p, &subscriber_entries(), ca.key.as_ref()).unwrap_err();
    assert!(matches!(err, CrlError::Io(_)), "{err}");
}

/// RSA PKCS#1 v1.5 is deterministic, so the streamed (digest) and buffered (message)
/// paths, and the writer and vector entry points, must give identical bytes.
#[test]
fn streamed_and_buffered_paths_agree() {
    let pkcs8 = SoftwareKey::generate_pkcs8(KeyAlgorithm::Rsa2048).unwrap();
    let streamed = test_ca(KeyAlgorithm::Rsa2048);
    let rsa = SoftwareKey::from_pkcs8_der(&pkcs8, "rsa").unwrap();
    let signer_streamed: &dyn Signer = &rsa;
    let buffered = NoPrehash(SoftwareKey::from_pkcs8_der(&pkcs8, "rsa").unwrap());
    let uris = ["http://x.test/1.crl"];
    let p = params(&streamed, 5, Some(IssuingDistributionPoint::new(&uris)));
    let entries = subscriber_entries();
    let mut a = Vec::new();
    let sa = write_crl(&mut a, &p, &entries, signer_streamed).unwrap();
    let mut b = Vec::new();
    let sb = write_crl(&mut b, &p, &entries, &buffered).unwrap();
    assert_eq!(sa.signing, SigningMode::Streamed);
    assert_eq!(sb.signing, SigningMode::Buffered);
    assert_eq!(a, b);
    assert_eq!(sa.sha256, sb.sha256);
    assert_eq!(encode_crl_to_vec(&p, &entries, signer_streamed).unwrap(), a);
    assert_eq!(encode_crl_to_vec(&p, &entries, &buffered).unwrap(), a);
}

/// Many entries: multi-octet lengths everywhere, streamed in many chunks, verified by
/// aws-lc-rs over the parsed TBS and by OpenSSL.
#[test]
fn large_crl_verifies() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
    let ca = test_ca(KeyAlgorithm::EcdsaP256);
    let n = 100_000u64;
    let base = now() - 86_400;
    let source = FnSource(|| {
        (1..=n).map(move |i| CrlEntry {
            serial: Serial::from_unsigned_be(&(i << 40 | 0x1234).to_be_bytes()).unwrap(),
            revocation_time: base + i as i64,
            reason: match i % 3 {
                0 => None,
                1 => Some(RevocationReason::KeyCompromise),
                _ => Some(RevocationReason::Superseded),
            },
            invalidity_date: i.is_multiple_of(7).then_some(base),
        })
    });
    let p = params(&ca, 77, None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.crl");
    let file = std::fs::File::create(&path).unwrap();
    let summary = write_crl(file, &p, &source, ca.key.as_ref()).unwrap();
    let der = std::fs::read(&path).unwrap();
    assert_eq!(summary.bytes, der.len() as u64);
    assert_eq!(summary.entries, n);
    let crl = x509_cert::crl::CertificateList::from_der(&der).unwrap();
    assert_eq!(crl.to_der().unwrap(), der);
    assert_eq!(
        crl.tbs_cert_list
            .revoked_certificates
            .as_ref()
            .map(Vec::len),
        Some(n as usize)
    );
    let spki = spki::SubjectPublicKeyInfoRef::from_der(ca.key.public_key_spki_der()).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, spki.subject_public_key.raw_bytes())
        .verify(
            &crl.tbs_cert_list.to_der().unwrap(),
            crl.signature.raw_bytes(),
        )
        .expect("signature over the streamed TBS verifies");
    let ca_pem = dir.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    let (_, text) = run(Command::new("openssl").args([
        "crl",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
        "-CAfile",
        ca_pem.to_str().unwrap(),
        "-verify",
        "-noout",
    ]));
    assert!(text.contains("verify OK"), "{text}");
}

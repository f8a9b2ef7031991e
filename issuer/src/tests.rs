//! End-to-end tests: a root, issuing CAs, responders and TLS certificates, checked by
//! x509-cert, aws-lc-rs signature verification and OpenSSL.

use std::path::Path;
use std::process::Command;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey,
};
use der::{Decode, Encode};
use revoca_signer::{SignError, SignatureScheme, Signer};

use crate::*;

enum TestKeyPair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A software signer for tests, independent of revoca-signer's own backends.
struct TestKey {
    pair: TestKeyPair,
    spki: Vec<u8>,
    label: String,
}

impl TestKey {
    fn ec(label: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        Self {
            pair: TestKeyPair::Ec(pair),
            spki,
            label: label.to_owned(),
        }
    }

    fn rsa(label: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        Self {
            pair: TestKeyPair::Rsa(pair),
            spki,
            label: label.to_owned(),
        }
    }
}

impl Signer for TestKey {
    fn scheme(&self) -> SignatureScheme {
        match self.pair {
            TestKeyPair::Ec(_) => SignatureScheme::EcdsaP256Sha256,
            TestKeyPair::Rsa(_) => SignatureScheme::RsaPkcs1Sha256,
        }
    }

    fn public_key_spki_der(&self) -> &[u8] {
        &self.spki
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let fail = |_| SignError::Backend {
            label: self.label.clone(),
            reason: "test signer failed".to_owned(),
        };
        let rng = SystemRandom::new();
        match &self.pair {
            TestKeyPair::Ec(k) => Ok(k.sign(&rng, message).map_err(fail)?.as_ref().to_vec()),
            TestKeyPair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(fail)?;
                Ok(sig)
            }
        }
    }

    fn label(&self) -> &str {
        &self.label
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn validity(days: u32) -> Validity {
    Validity::starting_at(now() - 3600, days * 86_400).unwrap()
}

/// Parses `cert`, checks it re-encodes identically (strict DER) and that `issuer` signed it.
fn check_signed(cert: &[u8], issuer: &TestKey) -> x509_cert::Certificate {
    let parsed = x509_cert::Certificate::from_der(cert).unwrap();
    assert_eq!(parsed.to_der().unwrap(), cert, "not canonical DER");
    let tbs = parsed.tbs_certificate.to_der().unwrap();
    let sig = parsed.signature.as_bytes().unwrap();
    let issuer_spki =
        spki::SubjectPublicKeyInfoRef::from_der(issuer.public_key_spki_der()).unwrap();
    let raw_key = issuer_spki.subject_public_key.raw_bytes();
    let alg: &dyn signature::VerificationAlgorithm = match issuer.scheme() {
        SignatureScheme::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        SignatureScheme::RsaPkcs1Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        other => panic!("unexpected scheme {other:?}"),
    };
    UnparsedPublicKey::new(alg, raw_key)
        .verify(&tbs, sig)
        .expect("signature verifies");
    assert_eq!(
        parsed.signature_algorithm.to_der().unwrap(),
        issuer.scheme().algorithm_identifier_der()
    );
    assert_eq!(
        parsed.tbs_certificate.signature.to_der().unwrap(),
        issuer.scheme().algorithm_identifier_der()
    );
    parsed
}

fn extension(
    cert: &x509_cert::Certificate,
    oid: ObjectIdentifier,
) -> Option<&x509_cert::ext::Extension> {
    cert.tbs_certificate
        .extensions
        .as_ref()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == oid))
}

struct Pki {
    root_key: TestKey,
    root: Vec<u8>,
    ca_key: TestKey,
    ca: Vec<u8>,
    responder: Vec<u8>,
    ee: Vec<u8>,
    ee_serial: Serial,
}

/// Builds root → issuing CA (`ca_key`) → responder + TLS server certificate (`ee_key`).
fn build_pki(ca_key: TestKey, ee_key: &TestKey, ee_subject: &str) -> Pki {
    let root_key = TestKey::ec("root");
    let root_name = Name::parse("CN=Revoca Test Root,O=Revoca,C=ES").unwrap();
    let root = CertificateBuilder::root_ca(
        Serial::random().unwrap(),
        root_name.clone(),
        validity(3650),
        root_key.public_key_spki_der(),
    )
    .unwrap()
    .build(&root_key)
    .unwrap();
    let root_info = IssuerInfo::from_certificate_der(&root).unwrap();
    assert_eq!(root_info.name(), &root_name);

    let ca = CertificateBuilder::issuing_ca(
        Serial::random().unwrap(),
        Name::parse("CN=Revoca Test Issuing CA,O=Revoca,C=ES").unwrap(),
        validity(1825),
        ca_key.public_key_spki_der(),
        &root_info,
        Some(0),
    )
    .unwrap()
    .build(&root_key)
    .unwrap();
    let ca_info = IssuerInfo::from_certificate_der(&ca).unwrap();

    let responder_key = TestKey::ec("responder");
    let responder = CertificateBuilder::ocsp_responder(
        Serial::random().unwrap(),
        Name::parse("CN=Revoca Test OCSP Responder,O=Revoca,C=ES").unwrap(),
        validity(90),
        responder_key.public_key_spki_der(),
        &ca_info,
    )
    .unwrap()
    .build(&ca_key)
    .unwrap();

    let ee_serial =
        Serial::from_magnitude(&[0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]).unwrap();
    let ee = CertificateBuilder::tls_server(
        ee_serial,
        Name::parse(ee_subject).unwrap(),
        validity(90),
        ee_key.public_key_spki_der(),
        &ca_info,
        &TlsServerNames {
            dns_names: &["www.example.test", "*.example.test"],
            ocsp_url: Some("http://127.0.0.1:8080/ocsp"),
            ca_issuers_url: Some("http://127.0.0.1:8080/ca.der"),
        },
    )
    .unwrap()
    .build(&ca_key)
    .unwrap();

    Pki {
        root_key,
        root,
        ca_key,
        ca,
        responder,
        ee,
        ee_serial,
    }
}

#[test]
fn chain_parses_and_verifies() {
    let ee_key = TestKey::ec("ee");
    let pki = build_pki(TestKey::ec("ca"), &ee_key, "CN=www.example.test");

    let root = check_signed(&pki.root, &pki.root_key);
    let ca = check_signed(&pki.ca, &pki.root_key);
    let responder = check_signed(&pki.responder, &pki.ca_key);
    let ee = check_signed(&pki.ee, &pki.ca_key);

    // Names chain.
    assert_eq!(root.tbs_certificate.issuer, root.tbs_certificate.subject);
    assert_eq!(ca.tbs_certificate.issuer, root.tbs_certificate.subject);
    assert_eq!(ee.tbs_certificate.issuer, ca.tbs_certificate.subject);
    assert_eq!(
        cert_subject(&pki.ca).unwrap().to_string(),
        "CN=Revoca Test Issuing CA,O=Revoca,C=ES"
    );
    assert_eq!(
        ee.tbs_certificate.version,
        x509_cert::certificate::Version::V3
    );

    // Serial: top bit set, so one leading zero octet.
    assert_eq!(
        ee.tbs_certificate.serial_number.as_bytes(),
        [0x00, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]
    );
    assert_eq!(
        cert_serial_magnitude(&pki.ee).unwrap(),
        pki.ee_serial.magnitude()
    );
    assert_eq!(cert_serial_magnitude(&pki.root).unwrap().len(), 16);

    // Keys and key identifiers.
    assert_eq!(
        cert_spki_der(&pki.ee).unwrap(),
        ee_key.public_key_spki_der()
    );
    assert_eq!(
        cert_subject_key_identifier(&pki.ca).unwrap().unwrap(),
        key_identifier(pki.ca_key.public_key_spki_der()).unwrap()
    );
    assert_eq!(cert_subject_key_identifier(&pki.ee).unwrap(), None);
    let aki = extension(&ee, oid::AUTHORITY_KEY_IDENTIFIER).unwrap();
    let mut expected_aki = vec![0x30, 0x16, 0x80, 0x14];
    expected_aki.extend_from_slice(&key_identifier(pki.ca_key.public_key_spki_der()).unwrap());
    assert_eq!(aki.extn_value.as_bytes(), expected_aki);

    // Criticality as profiled.
    let critical = |c: &x509_cert::Certificate, o| extension(c, o).unwrap().critical;
    assert!(critical(&root, oid::BASIC_CONSTRAINTS));
    assert!(critical(&ca, oid::KEY_USAGE));
    assert!(!critical(&responder, oid::OCSP_NOCHECK));
    assert!(!critical(&ee, oid::SUBJECT_ALT_NAME));
    assert!(extension(&root, oid::AUTHORITY_KEY_IDENTIFIER).is_none());
    assert_eq!(
        extension(&responder, oid::OCSP_NOCHECK)
            .unwrap()
            .extn_value
            .as_bytes(),
        [0x05, 0x00]
    );

    // Validity round-trips.
    let nb = ee
        .tbs_certificate
        .validity
        .not_before
        .to_unix_duration()
        .as_secs() as i64;
    assert!((nb - (now() - 3600)).abs() < 60);
}

#[test]
fn signer_must_hold_issuer_key() {
    let root_key = TestKey::ec("root");
    let other = TestKey::ec("other");
    let builder = CertificateBuilder::root_ca(
        Serial::random().unwrap(),
        Name::parse("CN=x").unwrap(),
        validity(1),
        root_key.public_key_spki_der(),
    )
    .unwrap();
    assert!(matches!(
        builder.build(&other),
        Err(BuildError::IssuerKeyMismatch { label }) if label == "other"
    ));
}

#[test]
fn duplicate_extensions_and_bad_names_rejected() {
    let key = TestKey::ec("k");
    let mut b = CertificateBuilder::root_ca(
        Serial::random().unwrap(),
        Name::parse("CN=x").unwrap(),
        validity(1),
        key.public_key_spki_der(),
    )
    .unwrap();
    assert!(matches!(
        b.push(Extension::basic_constraints(true, None)),
        Err(BuildError::DuplicateExtension(_))
    ));
    let info = IssuerInfo::new(Name::parse("CN=x").unwrap(), key.spki.clone()).unwrap();
    let err = CertificateBuilder::tls_server(
        Serial::random().unwrap(),
        Name::empty(),
        validity(1),
        key.public_key_spki_der(),
        &info,
        &TlsServerNames::default(),
    );
    assert!(matches!(
        err,
        Err(BuildError::Extension(ExtensionError::NoDnsNames))
    ));
    assert!(matches!(
        CertificateBuilder::root_ca(
            Serial::random().unwrap(),
            Name::empty(),
            validity(1),
            b"junk"
        ),
        Err(BuildError::Spki(_))
    ));
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed to run this test");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {stdout}{stderr}"
    );
    stdout
}

fn write_pems(dir: &Path, pki: &Pki) {
    for (file, der) in [
        ("root.pem", &pki.root),
        ("ca.pem", &pki.ca),
        ("responder.pem", &pki.responder),
        ("ee.pem", &pki.ee),
    ] {
        let pem = pem_encode("CERTIFICATE", der);
        assert_eq!(&pem_decode_first("CERTIFICATE", &pem).unwrap(), der);
        std::fs::write(dir.join(file), pem).unwrap();
    }
}

fn openssl_checks(pki: &Pki, rsa_ee: bool) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_pems(dir, pki);

    let verify = [
        "verify",
        "-x509_strict",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "ca.pem",
    ];
    let out = openssl(
        dir,
        &[&verify[..], &["-purpose", "sslserver", "ee.pem"]].concat(),
    );
    assert!(out.contains("ee.pem: OK"), "{out}");
    let out = openssl(dir, &[&verify[..], &["responder.pem"]].concat());
    assert!(out.contains("responder.pem: OK"), "{out}");
    let out = openssl(dir, &[&verify[..], &["ca.pem"]].concat());
    assert!(out.contains("ca.pem: OK"), "{out}");

    let text = openssl(dir, &["x509", "-noout", "-text", "-in", "responder.pem"]);
    for needle in [
        "OCSP No Check",
        "OCSP Signing",
        "Digital Signature",
        "CA:FALSE",
    ] {
        assert!(text.contains(needle), "responder lacks {needle:?}:\n{text}");
    }
    let text = openssl(dir, &["x509", "-noout", "-text", "-in", "ca.pem"]);
    for needle in [
        "CA:TRUE, pathlen:0",
        "Digital Signature, Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(text.contains(needle), "CA lacks {needle:?}:\n{text}");
    }
    let text = openssl(dir, &["x509", "-noout", "-text", "-in", "ee.pem"]);
    for needle in [
        "TLS Web Server Authentication",
        "DNS:www.example.test, DNS:*.example.test",
        "OCSP - URI:http://127.0.0.1:8080/ocsp",
        "CA Issuers - URI:http://127.0.0.1:8080/ca.der",
        "Policy: 2.23.140.1.2.1",
        "CA:FALSE",
    ] {
        assert!(text.contains(needle), "EE lacks {needle:?}:\n{text}");
    }
    let usage = if rsa_ee {
        "Digital Signature, Key Encipherment"
    } else {
        "Digital Signature\n"
    };
    assert!(text.contains(usage), "EE key usage:\n{text}");
    let serial = openssl(dir, &["x509", "-noout", "-serial", "-in", "ee.pem"]);
    assert_eq!(serial.trim(), "serial=8001020304050607");
}

#[test]
fn openssl_accepts_ecdsa_chain() {
    let ee_key = TestKey::ec("ee");
    let pki = build_pki(TestKey::ec("ca"), &ee_key, "CN=www.example.test");
    openssl_checks(&pki, false);
}

#[test]
fn openssl_accepts_rsa_chain_with_empty_subject() {
    let ee_key = TestKey::rsa("ee");
    let pki = build_pki(TestKey::rsa("ca"), &ee_key, "");
    let ee = check_signed(&pki.ee, &pki.ca_key);
    assert!(extension(&ee, oid::SUBJECT_ALT_NAME).unwrap().critical);
    check_signed(&pki.responder, &pki.ca_key);
    openssl_checks(&pki, true);
}

#[test]
fn many_end_entity_certificates() {
    let ca_key = TestKey::ec("ca");
    let ca_info = IssuerInfo::new(
        Name::parse("CN=Bulk CA").unwrap(),
        ca_key.public_key_spki_der().to_vec(),
    )
    .unwrap();
    let ee_key = TestKey::ec("ee");
    let mut serials = std::collections::HashSet::new();
    for i in 0..200 {
        let host = format!("host{i}.example.test");
        let cert = CertificateBuilder::tls_server(
            Serial::random().unwrap(),
            Name::parse(&format!("CN={host}")).unwrap(),
            validity(7),
            ee_key.public_key_spki_der(),
            &ca_info,
            &TlsServerNames {
                dns_names: &[&host],
                ocsp_url: Some("http://localhost/ocsp"),
                ca_issuers_url: None,
            },
        )
        .unwrap()
        .build(&ca_key)
        .unwrap();
        assert!(serials.insert(cert_serial_magnitude(&cert).unwrap()));
    }
}

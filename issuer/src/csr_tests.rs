//! Tests of certificate-request parsing: requests made by the real `openssl req` (and
//! pyca/cryptography when available), hand-built requests for the corner cases OpenSSL will
//! not produce, and malformed input (every truncation, every single-bit flip, random
//! mutations) which must give errors, never panics.

use std::path::Path;
use std::process::Command;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};

use super::*;
use crate::KeyPolicy;
use crate::key_policy::KeyPolicyError;
use crate::writer::{self, tag};

// ---------------------------------------------------------------------------------------
// OpenSSL helpers

fn run(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed to run this test: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Generates a private key `<name>.key` with `openssl genpkey`.
fn genkey(dir: &Path, name: &str, spec: &[&str]) -> String {
    let file = format!("{name}.key");
    let mut args = vec!["genpkey", "-out", &file];
    args.extend_from_slice(spec);
    run(dir, "openssl", &args);
    file
}

/// The DER SPKI of a key file.
fn spki_of(dir: &Path, key_file: &str) -> Vec<u8> {
    run(
        dir,
        "openssl",
        &["pkey", "-in", key_file, "-pubout", "-outform", "DER"],
    )
}

/// Makes a DER request signed by `key_file` with `openssl req`.
fn csr(dir: &Path, key_file: &str, subject: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "req", "-new", "-key", key_file, "-subj", subject, "-outform", "DER",
    ];
    args.extend_from_slice(extra);
    run(dir, "openssl", &args)
}

const RSA_2048: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
const RSA_3072: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"];
const P256: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const P384: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"];
const P521: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"];
const ED25519_KEY: &[&str] = &["-algorithm", "ED25519"];

const SAN: &str = "subjectAltName=DNS:a.example.com,DNS:b.example.com,email:x@example.com";

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

// ---------------------------------------------------------------------------------------
// Requests made by OpenSSL

#[test]
fn rsa_2048_pkcs1_with_names() {
    let dir = tempdir();
    let d = dir.path();
    let key = genkey(d, "rsa", RSA_2048);
    let der = csr(
        d,
        &key,
        "/C=ES/O=Revoca Test/CN=first.example.com/CN=Www.Example.com",
        &[
            "-addext",
            "subjectAltName=DNS:a.example.com,DNS:B.Example.COM,email:X.Y@Example.com,\
             IP:192.0.2.1,IP:2001:db8::1,DNS:a.example.com,URI:https://example.com/",
            "-addext",
            "keyUsage=critical,digitalSignature",
        ],
    );
    let req = CertificationRequest::from_der(&der).unwrap();
    assert_eq!(
        req.subject().to_string(),
        "C=ES,O=Revoca Test,CN=first.example.com,CN=Www.Example.com"
    );
    assert_eq!(req.common_name().as_deref(), Some("Www.Example.com"));
    assert_eq!(req.dns_names(), ["a.example.com", "b.example.com"]);
    assert_eq!(req.email_addresses(), ["X.Y@example.com"]);
    assert_eq!(
        req.ip_addresses(),
        [
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "2001:db8::1".parse().unwrap()
        ]
    );
    assert_eq!(
        req.requested_extensions(),
        [SUBJECT_ALT_NAME, crate::oid::KEY_USAGE]
    );
    assert_eq!(req.signature_algorithm(), SHA256_WITH_RSA);
    assert_eq!(req.signature_algorithm_name(), "sha256WithRSAEncryption");
    assert_eq!(req.spki_der(), spki_of(d, &key));
    assert_eq!(req.as_der(), der);
    assert_eq!(
        KeyPolicy::default().check(req.spki_der()).unwrap(),
        "RSA-2048"
    );

    // The subject is the request's own DER, byte for byte.
    let parsed = CertReq::from_der(&der).unwrap();
    let mut subject_der = Vec::new();
    der::Encode::encode_to_vec(&parsed.info.subject, &mut subject_der).unwrap();
    assert_eq!(req.subject().as_der(), subject_der);

    // The same request as PEM, both labels, CRLF and surrounding text.
    let pem = crate::pem_encode("CERTIFICATE REQUEST", &der);
    let from_pem = CertificationRequest::from_pem_or_der(pem.as_bytes()).unwrap();
    assert_eq!(from_pem.as_der(), der);
    let old = format!(
        "Some header text\r\n{}trailer\r\n",
        crate::pem_encode("NEW CERTIFICATE REQUEST", &der).replace('\n', "\r\n")
    );
    let from_old = CertificationRequest::from_pem_or_der(old.as_bytes()).unwrap();
    assert_eq!(from_old.dns_names(), req.dns_names());
    let from_der = CertificationRequest::from_pem_or_der(&der).unwrap();
    assert_eq!(from_der.spki_der(), req.spki_der());

    // Other digests.
    for (flag, oid) in [("-sha384", SHA384_WITH_RSA), ("-sha512", SHA512_WITH_RSA)] {
        let der = csr(d, &key, "/CN=digest.example", &[flag]);
        let req = CertificationRequest::from_der(&der).unwrap();
        assert_eq!(req.signature_algorithm(), oid);
        assert!(req.dns_names().is_empty());
        assert!(req.requested_extensions().is_empty());
    }
}

#[test]
fn rsa_3072_pss() {
    let dir = tempdir();
    let d = dir.path();
    let key = genkey(d, "rsa", RSA_3072);

    // OpenSSL's default PSS salt is the largest possible (3072 bits, SHA-256: 350 bytes).
    let der = csr(
        d,
        &key,
        "/CN=pss.example.com",
        &["-sigopt", "rsa_padding_mode:pss", "-addext", SAN],
    );
    let req = CertificationRequest::from_der(&der).unwrap();
    assert_eq!(req.signature_algorithm(), RSASSA_PSS);
    assert_eq!(req.signature_algorithm_name(), "RSASSA-PSS (SHA-256)");
    assert_eq!(req.dns_names(), ["a.example.com", "b.example.com"]);
    assert_eq!(req.email_addresses(), ["x@example.com"]);
    assert_eq!(req.common_name().as_deref(), Some("pss.example.com"));
    assert_eq!(
        KeyPolicy::default().check(req.spki_der()).unwrap(),
        "RSA-3072"
    );

    // Salt equal to the hash length, with each hash.
    for (digest, name) in [
        ("-sha256", "RSASSA-PSS (SHA-256)"),
        ("-sha384", "RSASSA-PSS (SHA-384)"),
        ("-sha512", "RSASSA-PSS (SHA-512)"),
    ] {
        let der = csr(
            d,
            &key,
            "/CN=pss.example.com",
            &[
                digest,
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
            ],
        );
        let req = CertificationRequest::from_der(&der).unwrap();
        assert_eq!(req.signature_algorithm_name(), name);
    }

    // Any other salt length is refused, with the reason.
    let der = csr(
        d,
        &key,
        "/CN=pss.example.com",
        &[
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:20",
        ],
    );
    let err = CertificationRequest::from_der(&der).unwrap_err();
    assert!(
        matches!(&err, CsrError::BadSignatureParameters(m) if m.contains("salt length 20")),
        "{err}"
    );

    // MGF1 with a different hash than the signature's.
    let der = csr(
        d,
        &key,
        "/CN=pss.example.com",
        &[
            "-sha512",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_mgf1_md:sha256",
        ],
    );
    let err = CertificationRequest::from_der(&der).unwrap_err();
    assert!(
        matches!(&err, CsrError::BadSignatureParameters(m) if m.contains("MGF1")),
        "{err}"
    );

    // PSS with SHA-1.
    let der = csr(
        d,
        &key,
        "/CN=pss.example.com",
        &["-sha1", "-sigopt", "rsa_padding_mode:pss"],
    );
    assert!(matches!(
        CertificationRequest::from_der(&der),
        Err(CsrError::WeakSignatureAlgorithm(_))
    ));
}

/// File stem, key spec, digest flags, expected signature algorithm, expected key label.
type EcCase = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    ObjectIdentifier,
    &'static str,
);

#[test]
fn ec_and_ed25519() {
    let dir = tempdir();
    let d = dir.path();
    let policy = KeyPolicy::default();
    let cases: [EcCase; 6] = [
        ("p256", P256, &[], ECDSA_WITH_SHA256, "P-256"),
        ("p256b", P256, &["-sha384"], ECDSA_WITH_SHA384, "P-256"),
        ("p256c", P256, &["-sha512"], ECDSA_WITH_SHA512, "P-256"),
        ("p384", P384, &["-sha384"], ECDSA_WITH_SHA384, "P-384"),
        ("p384b", P384, &["-sha256"], ECDSA_WITH_SHA256, "P-384"),
        ("p384c", P384, &["-sha512"], ECDSA_WITH_SHA512, "P-384"),
    ];
    for (name, spec, digest, oid, label) in cases {
        let key = genkey(d, name, spec);
        let mut extra = vec!["-addext", SAN];
        extra.extend_from_slice(digest);
        let der = csr(d, &key, &format!("/O=Revoca/CN={name}.example.com"), &extra);
        let req = CertificationRequest::from_der(&der).unwrap();
        assert_eq!(req.signature_algorithm(), oid, "{name}");
        assert_eq!(req.dns_names(), ["a.example.com", "b.example.com"]);
        assert_eq!(req.email_addresses(), ["x@example.com"]);
        assert_eq!(
            req.common_name().unwrap_or_default(),
            format!("{name}.example.com")
        );
        assert_eq!(req.spki_der(), spki_of(d, &key));
        assert_eq!(policy.check(req.spki_der()).unwrap(), label);
    }

    let key = genkey(d, "ed", ED25519_KEY);
    let der = csr(d, &key, "/CN=ed.example.com", &["-addext", SAN]);
    let req = CertificationRequest::from_der(&der).unwrap();
    assert_eq!(req.signature_algorithm(), ED25519);
    assert_eq!(req.signature_algorithm_name(), "Ed25519");
    assert_eq!(req.dns_names(), ["a.example.com", "b.example.com"]);
    assert_eq!(
        policy.check(req.spki_der()),
        Err(KeyPolicyError::AlgorithmNotAllowed("Ed25519"))
    );
    let ed_policy = KeyPolicy::from_names(&["Ed25519".to_owned()]).unwrap();
    assert_eq!(ed_policy.check(req.spki_der()).unwrap(), "Ed25519");
}

#[test]
fn keys_the_policy_refuses() {
    let dir = tempdir();
    let d = dir.path();
    let policy = KeyPolicy::default();

    // P-521: the request is well formed and its signature verifies; the policy says no.
    let key = genkey(d, "p521", P521);
    let der = csr(d, &key, "/CN=p521.example.com", &["-sha512"]);
    let req = CertificationRequest::from_der(&der).unwrap();
    assert_eq!(
        policy.check(req.spki_der()),
        Err(KeyPolicyError::CurveNotAllowed("P-521".to_owned()))
    );

    // RSA-1024: too small for the policy, and too small for aws-lc to verify a signature.
    let key = genkey(
        d,
        "rsa1024",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    );
    assert_eq!(
        policy.check(&spki_of(d, &key)),
        Err(KeyPolicyError::RsaTooSmall {
            bits: 1024,
            min: 2048
        })
    );
    let der = csr(d, &key, "/CN=small.example.com", &[]);
    let err = CertificationRequest::from_der(&der).unwrap_err();
    assert!(
        matches!(&err, CsrError::UnsupportedKey(m) if m.contains("1024-bit")),
        "{err}"
    );

    // RSA with exponent 3.
    let key = genkey(
        d,
        "rsa_e3",
        &[
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-pkeyopt",
            "rsa_keygen_pubexp:3",
        ],
    );
    let der = csr(d, &key, "/CN=e3.example.com", &[]);
    let req = CertificationRequest::from_der(&der).unwrap();
    assert_eq!(
        policy.check(req.spki_der()),
        Err(KeyPolicyError::RsaExponent("3".to_owned()))
    );

    // secp256k1: parsed, but not verifiable here.
    let key = genkey(
        d,
        "k1",
        &[
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:secp256k1",
        ],
    );
    let der = csr(d, &key, "/CN=k1.example.com", &[]);
    let err = CertificationRequest::from_der(&der).unwrap_err();
    assert!(
        matches!(&err, CsrError::UnsupportedKey(m) if m.contains("secp256k1")),
        "{err}"
    );
    assert_eq!(
        policy.check(&spki_of(d, &key)),
        Err(KeyPolicyError::CurveNotAllowed("secp256k1".to_owned()))
    );

    // An id-RSASSA-PSS key.
    let key = genkey(
        d,
        "rsapss",
        &["-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let der = csr(d, &key, "/CN=pss-key.example.com", &[]);
    assert!(matches!(
        CertificationRequest::from_der(&der),
        Err(CsrError::UnsupportedKey(_))
    ));
}

#[test]
fn weak_signature_algorithms_are_refused() {
    let dir = tempdir();
    let d = dir.path();
    let rsa = genkey(d, "rsa", RSA_2048);
    let ec = genkey(d, "ec", P256);
    for (key, digest, name) in [
        (&rsa, "-sha1", "sha1WithRSAEncryption"),
        (&rsa, "-md5", "md5WithRSAEncryption"),
        (&ec, "-sha1", "ecdsa-with-SHA1"),
    ] {
        let der = csr(d, key, "/CN=weak.example.com", &[digest]);
        let err = CertificationRequest::from_der(&der).unwrap_err();
        assert!(
            matches!(err, CsrError::WeakSignatureAlgorithm(n) if n == name),
            "{digest}: {err}"
        );
        assert!(err.to_string().contains("MD5 and SHA-1"));
    }
    // SHA-224 is not weak, merely unsupported.
    let der = csr(d, &ec, "/CN=224.example.com", &["-sha224"]);
    assert!(matches!(
        CertificationRequest::from_der(&der),
        Err(CsrError::UnsupportedSignatureAlgorithm(oid)) if oid.to_string() == "1.2.840.10045.4.3.1"
    ));
}

#[test]
fn proof_of_possession() {
    let dir = tempdir();
    let d = dir.path();
    for (name, spec) in [("ec", P256), ("rsa", RSA_2048), ("ed", ED25519_KEY)] {
        let key_a = genkey(d, &format!("{name}_a"), spec);
        let key_b = genkey(d, &format!("{name}_b"), spec);
        let der = csr(d, &key_a, "/CN=pop.example.com", &["-addext", SAN]);
        CertificationRequest::from_der(&der).unwrap();

        // A flipped bit in the last signature byte.
        let mut flipped = der.clone();
        if let Some(last) = flipped.last_mut() {
            *last ^= 0x01;
        }
        let err = CertificationRequest::from_der(&flipped).unwrap_err();
        assert!(matches!(err, CsrError::BadSignature), "{name}: {err}");
        assert!(err.to_string().contains("proof of possession"));

        // Somebody else's public key in an otherwise identical request.
        let spki_a = spki_of(d, &key_a);
        let spki_b = spki_of(d, &key_b);
        assert_eq!(spki_a.len(), spki_b.len(), "{name}: same-size keys");
        let at = der.windows(spki_a.len()).position(|w| w == spki_a).unwrap();
        let mut swapped = der.clone();
        swapped[at..at + spki_b.len()].copy_from_slice(&spki_b);
        let err = CertificationRequest::from_der(&swapped).unwrap_err();
        assert!(matches!(err, CsrError::BadSignature), "{name}: {err}");
    }
}

#[test]
fn san_validation_via_openssl() {
    let dir = tempdir();
    let d = dir.path();
    let key = genkey(d, "ec", P256);
    let ok = |san: &str| {
        let der = csr(
            d,
            &key,
            "/CN=x",
            &["-addext", &format!("subjectAltName={san}")],
        );
        CertificationRequest::from_der(&der)
    };
    assert_eq!(
        ok("DNS:*.Example.com,DNS:xn--bcher-kva.example")
            .unwrap()
            .dns_names(),
        ["*.example.com", "xn--bcher-kva.example"]
    );
    for bad in [
        "DNS:foo_bar.example.com",
        "DNS:a.*.example.com",
        "DNS:*foo.example.com",
        "DNS:*.com",
        "DNS:192.168.0.1",
        "DNS:-a.example.com",
        "DNS:example.com.",
        "DNS:a..example.com",
        "DNS:a example.com",
    ] {
        let err = ok(bad).unwrap_err();
        assert!(
            matches!(err, CsrError::InvalidDnsName { .. }),
            "{bad}: {err}"
        );
    }
    for bad in [
        "email:nobody",
        "email:a@b@-c.example",
        "email:.a@example.com",
    ] {
        let err = ok(bad).unwrap_err();
        assert!(
            matches!(err, CsrError::InvalidEmailAddress { .. }),
            "{bad}: {err}"
        );
    }

    let names = |n: usize| {
        (0..n)
            .map(|i| format!("DNS:h{i}.example.com"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(ok(&names(MAX_SAN_NAMES)).unwrap().dns_names().len(), 100);
    assert!(matches!(
        ok(&names(MAX_SAN_NAMES + 1)),
        Err(CsrError::TooManyNames {
            count: 101,
            max: 100
        })
    ));
}

#[test]
fn dns_name_rules() {
    for good in [
        "example.com",
        "localhost",
        "a-b.c",
        "*.a.b",
        "x1.example.com",
        "0.example.com",
        &format!("{}.com", "a".repeat(63)),
    ] {
        assert!(normalize_dns_name(good).is_ok(), "{good}");
    }
    assert_eq!(normalize_dns_name("EXAMPLE.com").unwrap(), "example.com");
    for bad in [
        "",
        "*",
        "*.",
        "*.com",
        "**.a.b",
        "a.*",
        "a*.b.c",
        ".a.b",
        "a.b.",
        "a..b",
        "a-.b",
        "1.2.3.4",
        "a.123",
        "ex ample.com",
        "ex\u{0}ample.com",
        &format!("{}.com", "a".repeat(64)),
        &format!("{}a", "a.".repeat(127)),
    ] {
        assert!(normalize_dns_name(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        normalize_email("Some.One@EXAMPLE.org").unwrap(),
        "Some.One@example.org"
    );
    for bad in [
        "",
        "@example.com",
        "a@",
        "a@*.example.com",
        "a..b@example.com",
        "\"q\"@example.com",
        &format!("{}@example.com", "a".repeat(65)),
    ] {
        assert!(normalize_email(bad).is_err(), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Malformed input

fn sample_requests() -> Vec<(String, Vec<u8>)> {
    let dir = tempdir();
    let d = dir.path();
    let mut out = Vec::new();
    for (name, spec) in [("ec", P256), ("rsa", RSA_2048), ("ed", ED25519_KEY)] {
        let key = genkey(d, name, spec);
        out.push((
            name.to_owned(),
            csr(d, &key, "/O=Revoca/CN=fuzz.example.com", &["-addext", SAN]),
        ));
    }
    out
}

#[test]
fn every_truncation_and_every_bit_flip_is_an_error() {
    for (name, der) in sample_requests() {
        CertificationRequest::from_der(&der).unwrap();
        for len in 0..der.len() {
            assert!(
                CertificationRequest::from_der(&der[..len]).is_err(),
                "{name}: truncated to {len}"
            );
            assert!(CertificationRequest::from_pem_or_der(&der[..len]).is_err());
        }
        let mut flipped = der.clone();
        for i in 0..der.len() {
            for bit in 0..8 {
                flipped[i] ^= 1 << bit;
                let result = CertificationRequest::from_der(&flipped);
                assert!(
                    result.is_err(),
                    "{name}: flipping bit {bit} of byte {i} still gives a valid request"
                );
                flipped[i] ^= 1 << bit;
            }
        }
        // Trailing data.
        let mut longer = der.clone();
        longer.push(0);
        assert!(matches!(
            CertificationRequest::from_der(&longer),
            Err(CsrError::Der(_))
        ));
    }
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn random_mutations_do_not_panic() {
    let samples = sample_requests();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..20_000 {
        let (_, base) = &samples[rng.below(samples.len())];
        let mut der = base.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(der.len());
            match rng.below(4) {
                0 => der[at] = rng.next() as u8,
                1 => der.insert(at, rng.next() as u8),
                2 => {
                    der.remove(at);
                }
                _ => {
                    // Duplicate a slice (grows lengths and nests structures).
                    let len = rng.below(64).min(der.len() - at);
                    let chunk = der[at..at + len].to_vec();
                    der.splice(at..at, chunk);
                }
            }
            if der.is_empty() {
                der.push(0x30);
            }
        }
        let _ = CertificationRequest::from_der(&der);
        let _ = CertificationRequest::from_pem_or_der(&der);
        let _ = KeyPolicy::default().check(&der);
    }
    // PEM text mutations.
    let pem = crate::pem_encode("CERTIFICATE REQUEST", &samples[0].1);
    for _ in 0..5_000 {
        let mut text = pem.clone().into_bytes();
        let at = rng.below(text.len());
        text[at] = rng.next() as u8;
        let _ = CertificationRequest::from_pem_or_der(&text);
    }
}

#[test]
fn garbage_and_size_limits() {
    assert!(matches!(
        CertificationRequest::from_der(b""),
        Err(CsrError::Empty)
    ));
    assert!(matches!(
        CertificationRequest::from_pem_or_der(b"  \n"),
        Err(CsrError::Empty)
    ));
    for garbage in [
        &b"hello"[..],
        b"\x30",
        b"\x30\x00",
        b"\x30\x80\x00\x00",
        b"\x30\x84\xff\xff\xff\xff",
        b"\x30\x03\x02\x01\x00",
        &[0x30; 200],
    ] {
        assert!(
            CertificationRequest::from_der(garbage).is_err(),
            "{garbage:?}"
        );
    }
    let big = vec![0x30; MAX_CSR_DER_LEN + 1];
    assert!(matches!(
        CertificationRequest::from_der(&big),
        Err(CsrError::TooLarge {
            len: 16385,
            max: 16384
        })
    ));
    assert!(matches!(
        CertificationRequest::from_pem_or_der(&big),
        Err(CsrError::TooLarge { .. })
    ));
    let long_text = vec![b'A'; MAX_CSR_PEM_LEN + 1];
    assert!(matches!(
        CertificationRequest::from_pem_or_der(&long_text),
        Err(CsrError::TooLarge { max: 32768, .. })
    ));
    assert!(matches!(
        CertificationRequest::from_pem_or_der(b"\xff\xfe not utf-8"),
        Err(CsrError::NotPemOrDer)
    ));
    assert!(matches!(
        CertificationRequest::from_pem_or_der(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        ),
        Err(CsrError::Pem(PemError::NotFound(_)))
    ));
    assert!(matches!(
        CertificationRequest::from_pem_or_der(
            b"-----BEGIN CERTIFICATE REQUEST-----\n!!\n-----END CERTIFICATE REQUEST-----\n"
        ),
        Err(CsrError::Pem(PemError::Base64 { .. }))
    ));
    // PEM holding something that is not a request.
    let pem = crate::pem_encode("CERTIFICATE REQUEST", b"\x02\x01\x00");
    assert!(matches!(
        CertificationRequest::from_pem_or_der(pem.as_bytes()),
        Err(CsrError::Der(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Hand-built requests, for what OpenSSL will not produce

/// The pieces of a request to build; signed with a P-256 key unless told otherwise.
struct Build {
    version: u8,
    subject: Vec<u8>,
    /// The content of the `[0]` attributes field, exactly.
    attributes: Vec<u8>,
    /// Overrides the signature algorithm (DER AlgorithmIdentifier).
    signature_algorithm: Option<Vec<u8>>,
    /// Overrides the SPKI (the signature is still made with the P-256 key).
    spki: Option<Vec<u8>>,
}

impl Default for Build {
    fn default() -> Self {
        Self {
            version: 0,
            subject: crate::Name::parse("CN=built.example.com")
                .unwrap()
                .as_der()
                .to_vec(),
            attributes: Vec::new(),
            signature_algorithm: None,
            spki: None,
        }
    }
}

fn der_of(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

/// `SEQUENCE { OID, SET { values... } }`.
fn attribute(oid: &str, values: &[Vec<u8>]) -> Vec<u8> {
    der_of(|o| {
        writer::nested(o, tag::SEQUENCE, |a| {
            writer::oid(a, &ObjectIdentifier::new_unwrap(oid));
            writer::nested(a, tag::SET, |s| {
                for v in values {
                    s.extend_from_slice(v);
                }
            });
        })
    })
}

/// `SEQUENCE OF Extension` holding the given (OID, value DER) pairs.
fn extensions(list: &[(&str, Vec<u8>)]) -> Vec<u8> {
    der_of(|o| {
        writer::nested(o, tag::SEQUENCE, |seq| {
            for (oid, value) in list {
                writer::nested(seq, tag::SEQUENCE, |e| {
                    writer::oid(e, &ObjectIdentifier::new_unwrap(oid));
                    writer::tlv(e, tag::OCTET_STRING, value);
                });
            }
        })
    })
}

/// A GeneralNames with dNSName entries and raw extra entries.
fn san(dns: &[&str], raw: &[Vec<u8>]) -> Vec<u8> {
    der_of(|o| {
        writer::nested(o, tag::SEQUENCE, |s| {
            for name in dns {
                writer::tlv(s, 0x82, name.as_bytes());
            }
            for r in raw {
                s.extend_from_slice(r);
            }
        })
    })
}

fn ext_request(list: &[(&str, Vec<u8>)]) -> Vec<u8> {
    attribute("1.2.840.113549.1.9.14", &[extensions(list)])
}

fn challenge_password(pw: &str) -> Vec<u8> {
    attribute(
        "1.2.840.113549.1.9.7",
        &[der_of(|o| writer::tlv(o, tag::UTF8_STRING, pw.as_bytes()))],
    )
}

fn build(b: Build) -> Vec<u8> {
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let spki = b
        .spki
        .unwrap_or_else(|| key.public_key().as_der().unwrap().as_ref().to_vec());
    let info = der_of(|o| {
        writer::nested(o, tag::SEQUENCE, |i| {
            writer::tlv(i, tag::INTEGER, &[b.version]);
            i.extend_from_slice(&b.subject);
            i.extend_from_slice(&spki);
            writer::tlv(i, tag::CONTEXT_0_CONSTRUCTED, &b.attributes);
        })
    });
    let signature = key.sign(&rng, &info).unwrap();
    let algorithm = b.signature_algorithm.unwrap_or_else(|| {
        der_of(|o| writer::nested(o, tag::SEQUENCE, |a| writer::oid(a, &ECDSA_WITH_SHA256)))
    });
    der_of(|o| {
        writer::nested(o, tag::SEQUENCE, |r| {
            r.extend_from_slice(&info);
            r.extend_from_slice(&algorithm);
            let mut bits = vec![0u8];
            bits.extend_from_slice(signature.as_ref());
            writer::tlv(r, tag::BIT_STRING, &bits);
        })
    })
}

#[test]
fn hand_built_baseline() {
    let der = build(Build {
        attributes: ext_request(&[("2.5.29.17", san(&["Built.Example.com"], &[]))]),
        ..Build::default()
    });
    let req = CertificationRequest::from_der(&der).unwrap();
    assert_eq!(req.dns_names(), ["built.example.com"]);
    assert_eq!(req.common_name().as_deref(), Some("built.example.com"));
    // No attributes at all.
    let req = CertificationRequest::from_der(&build(Build::default())).unwrap();
    assert!(req.dns_names().is_empty() && req.requested_extensions().is_empty());
}

#[test]
fn version_other_than_zero() {
    let der = build(Build {
        version: 1,
        ..Build::default()
    });
    let err = CertificationRequest::from_der(&der).unwrap_err();
    assert!(
        matches!(&err, CsrError::UnsupportedVersion(v) if v == "1"),
        "{err}"
    );
    assert!(err.to_string().contains("version 1"));
}

/// The signature covers the attributes exactly as sent, even when their SET is not in DER
/// order (which the decoder would re-sort).
#[test]
fn signature_over_raw_bytes_with_unsorted_attributes() {
    let a = challenge_password("secret");
    let b = ext_request(&[("2.5.29.17", san(&["raw.example.com"], &[]))]);
    let (first, second) = if a > b { (a, b) } else { (b, a) };
    let der = build(Build {
        attributes: [first, second].concat(),
        ..Build::default()
    });
    let req = CertificationRequest::from_der(&der).unwrap();
    assert_eq!(req.dns_names(), ["raw.example.com"]);
}

/// What is wrong, the attributes field, and the error expected.
type LimitCase = (&'static str, Vec<u8>, fn(&CsrError) -> bool);

#[test]
fn attribute_and_extension_limits() {
    let san_ext = || ("2.5.29.17", san(&["x.example.com"], &[]));
    let cases: Vec<LimitCase> = vec![
        (
            "two extensionRequest attributes",
            [
                ext_request(&[san_ext()]),
                ext_request(&[("2.5.29.15", vec![0x03, 0x02, 0x07, 0x80])]),
            ]
            .concat(),
            |e| matches!(e, CsrError::BadExtensionRequest(m) if m.contains("more than one")),
        ),
        (
            "two values",
            attribute(
                "1.2.840.113549.1.9.14",
                &[extensions(&[san_ext()]), extensions(&[])],
            ),
            |e| matches!(e, CsrError::BadExtensionRequest(m) if m.contains("2 values")),
        ),
        (
            "no value",
            attribute("1.2.840.113549.1.9.14", &[]),
            |e| matches!(e, CsrError::BadExtensionRequest(m) if m.contains("0 values")),
        ),
        (
            "duplicate extension",
            ext_request(&[san_ext(), san_ext()]),
            |e| matches!(e, CsrError::BadExtensionRequest(m) if m.contains("2.5.29.17")),
        ),
        (
            "value not extensions",
            attribute("1.2.840.113549.1.9.14", &[vec![0x02, 0x01, 0x05]]),
            |e| matches!(e, CsrError::BadExtensionRequest(_)),
        ),
        (
            "SAN not GeneralNames",
            ext_request(&[("2.5.29.17", vec![0x04, 0x00])]),
            |e| matches!(e, CsrError::BadExtensionRequest(m) if m.contains("subjectAltName")),
        ),
        (
            "empty SAN",
            ext_request(&[("2.5.29.17", san(&[], &[]))]),
            |e| matches!(e, CsrError::BadExtensionRequest(m) if m.contains("empty")),
        ),
        (
            "5-byte iPAddress",
            ext_request(&[("2.5.29.17", san(&[], &[vec![0x87, 5, 1, 2, 3, 4, 5]]))]),
            |e| matches!(e, CsrError::BadExtensionRequest(m) if m.contains("5 bytes")),
        ),
        (
            "too many attributes",
            (0..=MAX_CSR_ATTRIBUTES)
                .map(|i| attribute(&format!("1.3.6.1.4.1.99999.{i}"), &[vec![0x05, 0x00]]))
                .collect::<Vec<_>>()
                .concat(),
            |e| matches!(e, CsrError::TooManyAttributes { count: 17, max: 16 }),
        ),
        (
            "too many extensions",
            ext_request(
                &(0..=MAX_REQUESTED_EXTENSIONS)
                    .map(|i| {
                        (
                            Box::leak(format!("1.3.6.1.4.1.99999.{i}").into_boxed_str()) as &str,
                            vec![0x05, 0x00],
                        )
                    })
                    .collect::<Vec<_>>(),
            ),
            |e| matches!(e, CsrError::TooManyExtensions { count: 33, max: 32 }),
        ),
    ];
    for (what, attributes, expected) in cases {
        let der = build(Build {
            attributes,
            ..Build::default()
        });
        let err = CertificationRequest::from_der(&der).unwrap_err();
        assert!(expected(&err), "{what}: got {err:?}");
    }

    // Other SAN forms are ignored, but counted against the limit.
    let other = vec![0x86, 3, b'u', b'r', b'i'];
    let der = build(Build {
        attributes: ext_request(&[(
            "2.5.29.17",
            san(&["ok.example.com"], std::slice::from_ref(&other)),
        )]),
        ..Build::default()
    });
    assert_eq!(
        CertificationRequest::from_der(&der).unwrap().dns_names(),
        ["ok.example.com"]
    );
    let der = build(Build {
        attributes: ext_request(&[(
            "2.5.29.17",
            san(&["ok.example.com"], &vec![other; MAX_SAN_NAMES]),
        )]),
        ..Build::default()
    });
    assert!(matches!(
        CertificationRequest::from_der(&der),
        Err(CsrError::TooManyNames { count: 101, .. })
    ));
}

#[test]
fn subject_common_names() {
    let rdn = |tag_byte: u8, value: &[u8]| {
        der_of(|o| {
            writer::nested(o, tag::SET, |s| {
                writer::nested(s, tag::SEQUENCE, |a| {
                    writer::oid(a, &COMMON_NAME);
                    writer::tlv(a, tag_byte, value);
                })
            })
        })
    };
    let name = |rdns: &[Vec<u8>]| der_of(|o| writer::tlv(o, tag::SEQUENCE, &rdns.concat()));
    let cn_of = |subject: Vec<u8>| {
        CertificationRequest::from_der(&build(Build {
            subject,
            ..Build::default()
        }))
    };
    // The last CN of a supported type wins; a BMPString CN is skipped.
    let req = cn_of(name(&[
        rdn(tag::PRINTABLE_STRING, b"first"),
        rdn(0x16, b"second"),
        rdn(0x1e, &[0, b'b']),
    ]))
    .unwrap();
    assert_eq!(req.common_name().as_deref(), Some("second"));
    assert_eq!(cn_of(name(&[])).unwrap().common_name(), None);
    assert!(cn_of(name(&[])).unwrap().subject().is_empty());
    // A PrintableString with '@' and a UTF8String that is not UTF-8.
    for bad in [
        rdn(tag::PRINTABLE_STRING, b"a@b"),
        rdn(tag::UTF8_STRING, b"\xff"),
    ] {
        assert!(matches!(
            cn_of(name(&[bad])),
            Err(CsrError::InvalidSubject(_))
        ));
    }
    let many: Vec<Vec<u8>> = (0..=MAX_SUBJECT_ATTRIBUTES)
        .map(|_| rdn(tag::UTF8_STRING, b"x"))
        .collect();
    assert!(matches!(
        cn_of(name(&many)),
        Err(CsrError::InvalidSubject(m)) if m.contains("33 attributes")
    ));
}

#[test]
fn signature_algorithm_checks() {
    let alg = |oid: &str, params: Option<&[u8]>| {
        der_of(|o| {
            writer::nested(o, tag::SEQUENCE, |a| {
                writer::oid(a, &ObjectIdentifier::new_unwrap(oid));
                if let Some(p) = params {
                    a.extend_from_slice(p);
                }
            })
        })
    };
    let with = |signature_algorithm: Vec<u8>, spki: Option<Vec<u8>>| {
        CertificationRequest::from_der(&build(Build {
            signature_algorithm: Some(signature_algorithm),
            spki,
            ..Build::default()
        }))
    };
    // ECDSA with NULL parameters.
    assert!(matches!(
        with(alg("1.2.840.10045.4.3.2", Some(&[0x05, 0x00])), None),
        Err(CsrError::BadSignatureParameters(m)) if m.contains("absent")
    ));
    // An RSA algorithm with an EC key.
    assert!(matches!(
        with(alg("1.2.840.113549.1.1.11", Some(&[0x05, 0x00])), None),
        Err(CsrError::SignatureKeyMismatch { algorithm: "sha256WithRSAEncryption", ref key }) if key == "P-256"
    ));
    // Ed25519 signature algorithm, EC key.
    assert!(matches!(
        with(alg("1.3.101.112", None), None),
        Err(CsrError::SignatureKeyMismatch { .. })
    ));
    // ECDSA algorithm, Ed25519 key.
    let ed = Ed25519KeyPair::generate().unwrap();
    let ed_spki = ed.public_key().as_der().unwrap().as_ref().to_vec();
    assert!(matches!(
        with(alg("1.2.840.10045.4.3.2", None), Some(ed_spki)),
        Err(CsrError::SignatureKeyMismatch { algorithm: "ecdsa-with-SHA256", ref key }) if key == "Ed25519"
    ));
    // PSS without parameters, and with the SHA-1 default hash.
    assert!(matches!(
        with(alg("1.2.840.113549.1.1.10", None), None),
        Err(CsrError::BadSignatureParameters(m)) if m.contains("missing")
    ));
    assert!(matches!(
        with(alg("1.2.840.113549.1.1.10", Some(&[0x30, 0x00])), None),
        Err(CsrError::WeakSignatureAlgorithm(_))
    ));
    // Unknown algorithm.
    assert!(matches!(
        with(alg("1.2.3.4", None), None),
        Err(CsrError::UnsupportedSignatureAlgorithm(_))
    ));
    // Signature BIT STRING with unused bits.
    let mut der = build(Build::default());
    // The signature BIT STRING ends the request: its unused-bits octet precedes the value.
    let parsed = CertReq::from_der(&der).unwrap();
    let sig_len = parsed.signature.raw_bytes().len();
    let unused_at = der.len() - sig_len - 1;
    der[unused_at] = 0x01;
    assert!(matches!(
        CertificationRequest::from_der(&der),
        Err(CsrError::Der(m)) if m.contains("unused bits")
    ));
}

// ---------------------------------------------------------------------------------------
// An independent producer: pyca/cryptography

#[test]
fn pyca_cryptography_requests() {
    let script = r#"
import sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, padding, ed25519
out = sys.argv[1]
name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Py Org"),
                  x509.NameAttribute(NameOID.COMMON_NAME, "py.example.com")])
san = x509.SubjectAlternativeName([x509.DNSName("py.example.com"), x509.DNSName("*.py.example.com"),
                                   x509.RFC822Name("py@example.com")])
def build(key, algorithm, path, **kw):
    csr = (x509.CertificateSigningRequestBuilder().subject_name(name)
           .add_extension(san, critical=False).sign(key, algorithm, **kw))
    open(path, "wb").write(csr.public_bytes(serialization.Encoding.DER))
build(ec.generate_private_key(ec.SECP384R1()), hashes.SHA384(), out + "/p384.der")
build(ed25519.Ed25519PrivateKey.generate(), None, out + "/ed.der")
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
build(rsa_key, hashes.SHA256(), out + "/pss.der",
      rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH))
build(rsa_key, hashes.SHA512(), out + "/pkcs1.der")
"#;
    let dir = tempdir();
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path())
        .output();
    let out = out.expect("python3 is required for the pyca/cryptography cross-check");
    assert!(
        out.status.success(),
        "python3 with pyca/cryptography failed (run scripts/test.sh to install it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (file, algorithm) in [
        ("p384.der", "ecdsa-with-SHA384"),
        ("ed.der", "Ed25519"),
        ("pss.der", "RSASSA-PSS (SHA-256)"),
        ("pkcs1.der", "sha512WithRSAEncryption"),
    ] {
        let der = std::fs::read(dir.path().join(file)).unwrap();
        let req = CertificationRequest::from_der(&der).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(req.signature_algorithm_name(), algorithm);
        assert_eq!(req.subject().to_string(), "O=Py Org,CN=py.example.com");
        assert_eq!(req.dns_names(), ["py.example.com", "*.py.example.com"]);
        assert_eq!(req.email_addresses(), ["py@example.com"]);
        let mut bad = der.clone();
        if let Some(last) = bad.last_mut() {
            *last ^= 0x80;
        }
        assert!(matches!(
            CertificationRequest::from_der(&bad),
            Err(CsrError::BadSignature)
        ));
    }
}

/// Our verdicts agree with OpenSSL's `req -verify` on mutated requests that still parse.
#[test]
fn openssl_agrees_on_signature_verdicts() {
    let dir = tempdir();
    let d = dir.path();
    let key = genkey(d, "ec", P256);
    let der = csr(d, &key, "/CN=agree.example.com", &["-addext", SAN]);
    let verify = |bytes: &[u8]| {
        std::fs::write(d.join("m.der"), bytes).unwrap();
        // OpenSSL 3.0 exits with 0 even when the self-signature fails: read what it says.
        let out = Command::new("openssl")
            .args(["req", "-verify", "-noout", "-inform", "DER", "-in", "m.der"])
            .current_dir(d)
            .output()
            .unwrap();
        let said = [out.stdout, out.stderr].concat();
        out.status.success() && String::from_utf8_lossy(&said).contains("self-signature verify OK")
    };
    assert!(verify(&der));
    let mut rng = Rng(42);
    let mut compared = 0;
    for _ in 0..60 {
        let mut m = der.clone();
        let at = rng.below(m.len());
        m[at] ^= 1 << rng.below(8);
        if let Ok(req) = CertificationRequest::from_der(&m) {
            panic!("a mutated request was accepted: {req:?}");
        }
        // OpenSSL must not accept any of them either.
        assert!(
            !verify(&m),
            "openssl accepts a request we refuse (byte {at})"
        );
        compared += 1;
    }
    assert_eq!(compared, 60);
}

/// Requests built to make the decoder sort large SETs are refused from the raw counts, fast.
#[test]
fn large_sets_are_refused_before_decoding() {
    // 3000 distinct INTEGER values in one attribute, in reverse DER order.
    let values: Vec<Vec<u8>> = (0..3000u16)
        .rev()
        .map(|i| {
            let b = (i + 0x100).to_be_bytes();
            vec![tag::INTEGER, 0x02, b[0] & 0x7f, b[1]]
        })
        .collect();
    let der = build(Build {
        attributes: attribute("1.3.6.1.4.1.99999.1", &values),
        ..Build::default()
    });
    let started = std::time::Instant::now();
    let err = CertificationRequest::from_der(&der).unwrap_err();
    assert!(
        matches!(
            err,
            CsrError::TooManyAttributeValues {
                count: 3000,
                max: 4,
                ..
            }
        ),
        "{err}"
    );
    // A multi-valued RDN with many attributes.
    let atvs: Vec<u8> = (0..1000u16)
        .rev()
        .flat_map(|i| {
            der_of(|o| {
                writer::nested(o, tag::SEQUENCE, |a| {
                    writer::oid(a, &COMMON_NAME);
                    writer::tlv(a, tag::UTF8_STRING, &i.to_be_bytes());
                })
            })
        })
        .collect();
    let subject = der_of(|o| writer::nested(o, tag::SEQUENCE, |n| writer::tlv(n, tag::SET, &atvs)));
    let der = build(Build {
        subject: subject.clone(),
        ..Build::default()
    });
    assert!(matches!(
        CertificationRequest::from_der(&der),
        Err(CsrError::InvalidSubject(m)) if m.contains("1000 attributes")
    ));
    // The same RDN inside a directoryName subjectAltName entry: skipped without decoding.
    let directory_name = der_of(|o| writer::tlv(o, 0xa4, &subject));
    let der = build(Build {
        attributes: ext_request(&[("2.5.29.17", san(&["dir.example.com"], &[directory_name]))]),
        ..Build::default()
    });
    assert_eq!(
        CertificationRequest::from_der(&der).unwrap().dns_names(),
        ["dir.example.com"]
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(200),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn general_name_forms() {
    let with = |raw: Vec<u8>| {
        CertificationRequest::from_der(&build(Build {
            attributes: ext_request(&[("2.5.29.17", san(&[], &[raw]))]),
            ..Build::default()
        }))
    };
    // Constructed dNSName, universal tag, tag [9]: not GeneralNames.
    for raw in [
        vec![0xa2, 0x03, 0x16, 0x01, b'a'],
        vec![0x16, 0x01, b'a'],
        vec![0x89, 0x01, b'a'],
        vec![0x84, 0x00],
    ] {
        assert!(
            matches!(with(raw.clone()), Err(CsrError::BadExtensionRequest(m)) if m.contains("not a GeneralName")),
            "{raw:02x?}"
        );
    }
    // A dNSName that is not ASCII.
    assert!(matches!(
        with(vec![0x82, 0x02, 0xc3, 0xa9]),
        Err(CsrError::BadExtensionRequest(m)) if m.contains("IA5String")
    ));
    // otherName, URI and registeredID are accepted and ignored.
    let req = with(vec![0x86, 0x01, b'u']).unwrap();
    assert!(req.dns_names().is_empty() && req.email_addresses().is_empty());
    assert_eq!(req.requested_extensions(), [SUBJECT_ALT_NAME]);
}

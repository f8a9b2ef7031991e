//! Tests against a real SoftHSM2 token: keys generated in the token sign, and the
//! signatures verify with aws-lc-rs, OpenSSL and pyca/cryptography; the SPKI equals what
//! `pkcs11-tool` and OpenSSL give; the session pool holds up under concurrency; a token
//! outage gives `Unavailable` errors (no panic, no hang) and signing recovers by itself;
//! the PIN never appears in errors, `Debug` output or logs.
//!
//! # How `SOFTHSM2_CONF` gets set
//!
//! SoftHSM2 reads the `SOFTHSM2_CONF` environment variable when the module is initialised,
//! and a Rust 2024 program cannot safely set its own environment (the workspace forbids
//! `unsafe`). So every test is a pair: the outer `#[test]` writes a private SoftHSM2
//! configuration in a fresh temporary directory and runs *this test binary* again
//! (`std::env::current_exe()`) with `SOFTHSM2_CONF` set through `Command::env`, filtered to
//! the matching `#[ignore]`d `inner_*` test (`--ignored --exact`). Each inner test thus has
//! its own process, its own token directory and its own module initialisation. The outer
//! test checks the inner one really ran (`1 passed`), kills it after a time limit, and
//! fails — never skips — when SoftHSM2, pkcs11-tool, OpenSSL or pyca/cryptography is
//! missing (`scripts/test.sh` installs them).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256, UnparsedPublicKey, VerificationAlgorithm,
};
use revoca_signer::pkcs11::{
    DEFAULT_MODULE, KeyInfo, Pin, generate_key, init_softhsm_token, list_keys, write_softhsm_conf,
};
use revoca_signer::{
    KeyAlgorithm, PinSource, Pkcs11Config, Pkcs11Key, SignError, SignatureScheme, Signer,
};

/// The environment variable that tells an inner test its temporary directory.
const INNER_DIR: &str = "REVOCA_SOFTHSM_TEST_DIR";
/// Distinctive PINs, so that a leak is easy to find.
const USER_PIN: &str = "user-pin-73914-secret";
const SO_PIN: &str = "so-pin-55120-secret";
const TOKEN: &str = "revoca-test";
/// How long an inner test may run before the outer one kills it.
const INNER_TIME_LIMIT: Duration = Duration::from_secs(300);

// ------------------------------------------------------------------ outer harness

fn require_tools() {
    assert!(
        Path::new(DEFAULT_MODULE).exists(),
        "SoftHSM2 is not installed ({DEFAULT_MODULE} is missing): \
         apt-get install softhsm2 opensc (scripts/test.sh does it)"
    );
    for (tool, args, package) in [
        ("pkcs11-tool", &["--help"][..], "opensc"),
        ("openssl", &["version"][..], "openssl"),
        (
            "python3",
            &[
                "-c",
                "import cryptography.hazmat.primitives.asymmetric.ed25519",
            ][..],
            "python3 with pyca/cryptography",
        ),
    ] {
        let status = Command::new(tool)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|s| s.success() || tool == "pkcs11-tool"),
            "{tool} is missing or broken: install {package} (scripts/test.sh does it)"
        );
    }
}

/// Runs the `#[ignore]`d test `inner` in a child process with a private SoftHSM2 setup.
fn run_inner(inner: &str) {
    require_tools();
    let dir = tempfile::Builder::new()
        .prefix("revoca-softhsm-")
        .tempdir()
        .expect("temporary directory");
    let conf = write_softhsm_conf(dir.path()).expect("write softhsm2.conf");
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            inner,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(INNER_DIR, dir.path())
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the test binary");
    // Drain the pipes on threads so that a chatty child cannot block on a full pipe.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + INNER_TIME_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    eprintln!("---- {inner} stdout ----\n{stdout}\n---- {inner} stderr ----\n{stderr}");
    let status =
        status.unwrap_or_else(|| panic!("{inner} hung: killed after {INNER_TIME_LIMIT:?}"));
    assert!(status.success(), "{inner} failed ({status})");
    assert!(
        stdout.contains("1 passed"),
        "{inner} did not run (wrong test name?)"
    );
}

/// In an inner test: the temporary directory, or `None` when run directly (for example by
/// `cargo test -- --include-ignored`), in which case there is nothing to do.
fn inner_dir() -> Option<PathBuf> {
    let dir = std::env::var_os(INNER_DIR).map(PathBuf::from);
    if dir.is_none() {
        eprintln!("not started by its outer test (no {INNER_DIR}): nothing to do");
    }
    dir
}

#[test]
fn softhsm_keys_sign_and_verify_everywhere() {
    run_inner("inner_keys_sign_and_verify_everywhere");
}

#[test]
fn softhsm_pool_concurrency_and_back_pressure() {
    run_inner("inner_pool_concurrency_and_back_pressure");
}

#[test]
fn softhsm_outage_and_recovery() {
    run_inner("inner_outage_and_recovery");
}

// ------------------------------------------------------------------ helpers

fn init_token(dir: &Path) {
    init_softhsm_token(
        Path::new(DEFAULT_MODULE),
        dir,
        TOKEN,
        &Pin::new(SO_PIN),
        &Pin::new(USER_PIN),
    )
    .expect("initialise the SoftHSM2 token");
}

fn config(key_label: &str) -> Pkcs11Config {
    Pkcs11Config::new(TOKEN, key_label, PinSource::literal(USER_PIN))
}

fn assert_no_pin(text: &str) {
    assert!(
        !text.contains(USER_PIN) && !text.contains(SO_PIN),
        "a PIN leaked: {text}"
    );
}

fn check_error(error: &SignError) {
    assert_no_pin(&error.to_string());
    assert_no_pin(&format!("{error:?}"));
}

fn raw_public_key(spki: &[u8]) -> Vec<u8> {
    use der::Decode;
    spki::SubjectPublicKeyInfoRef::from_der(spki)
        .expect("SPKI parses")
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

fn verifier(scheme: SignatureScheme) -> &'static dyn VerificationAlgorithm {
    match scheme {
        SignatureScheme::EcdsaP256Sha256 => &ECDSA_P256_SHA256_ASN1,
        SignatureScheme::EcdsaP384Sha384 => &ECDSA_P384_SHA384_ASN1,
        SignatureScheme::RsaPkcs1Sha256 => &RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RsaPssSha256 => &RSA_PSS_2048_8192_SHA256,
        SignatureScheme::Ed25519 => &ED25519,
    }
}

fn verify_aws(key: &dyn Signer, message: &[u8], signature: &[u8]) -> bool {
    let public = raw_public_key(key.public_key_spki_der());
    UnparsedPublicKey::new(verifier(key.scheme()), &public)
        .verify(message, signature)
        .is_ok()
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run a tool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a test file");
    path
}

fn verify_openssl(dir: &Path, scheme: SignatureScheme, spki: &[u8], msg: &[u8], sig: &[u8]) {
    let pem = der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, spki).unwrap();
    let pem = write(dir, "spki.pem", pem.as_bytes());
    let msg = write(dir, "msg.bin", msg);
    let sig = write(dir, "sig.bin", sig);
    let mut cmd = Command::new("openssl");
    match scheme {
        SignatureScheme::Ed25519 => {
            cmd.args(["pkeyutl", "-verify", "-pubin", "-rawin", "-inkey"])
                .arg(&pem)
                .arg("-in")
                .arg(&msg)
                .arg("-sigfile")
                .arg(&sig);
        }
        _ => {
            let md = if scheme == SignatureScheme::EcdsaP384Sha384 {
                "-sha384"
            } else {
                "-sha256"
            };
            cmd.args(["dgst", md, "-verify"])
                .arg(&pem)
                .arg("-signature")
                .arg(&sig);
            if scheme == SignatureScheme::RsaPssSha256 {
                cmd.args([
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:32",
                    "-sigopt",
                    "rsa_mgf1_md:sha256",
                ]);
            }
            cmd.arg(&msg);
        }
    }
    let (ok, text) = run(&mut cmd);
    assert!(
        ok && (text.contains("Verified OK") || text.contains("Signature Verified Successfully")),
        "openssl rejects the {} signature: {text}",
        scheme.name()
    );
}

const PY_VERIFY: &str = r#"
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
spki, msg, sig = (open(p, "rb").read() for p in sys.argv[1:4])
scheme = sys.argv[4]
key = serialization.load_der_public_key(spki)
if scheme == "ecdsa-p256-sha256":
    key.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
elif scheme == "ecdsa-p384-sha384":
    key.verify(sig, msg, ec.ECDSA(hashes.SHA384()))
elif scheme == "rsa-pkcs1-sha256":
    key.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
elif scheme == "rsa-pss-sha256":
    key.verify(sig, msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
elif scheme == "ed25519":
    key.verify(sig, msg)
else:
    raise SystemExit("unknown scheme " + scheme)
print("python verified", scheme)
"#;

fn verify_python(dir: &Path, scheme: SignatureScheme, spki: &[u8], msg: &[u8], sig: &[u8]) {
    let spki = write(dir, "spki.der", spki);
    let msg = write(dir, "msg.bin", msg);
    let sig = write(dir, "sig.bin", sig);
    let (ok, text) = run(Command::new("python3")
        .args(["-c", PY_VERIFY])
        .arg(&spki)
        .arg(&msg)
        .arg(&sig)
        .arg(scheme.name()));
    assert!(
        ok,
        "pyca/cryptography rejects the {} signature: {text}",
        scheme.name()
    );
}

/// The SPKI of the public key object labelled `label`, as `pkcs11-tool` exports it (DER,
/// or PEM for EdDSA keys in OpenSC 0.23). OpenSC 0.23 cannot export P-384 public keys
/// ("cannot create EVP_PKEY"); for those the SPKI is built by pyca/cryptography from the
/// `CKA_EC_POINT` that `pkcs11-tool --list-objects` prints.
fn spki_from_pkcs11_tool(dir: &Path, label: &str) -> Vec<u8> {
    let out = dir.join(format!("{label}.pkcs11-tool.out"));
    let (ok, text) = run(Command::new("pkcs11-tool")
        .args(["--module", DEFAULT_MODULE, "--token-label", TOKEN])
        .args(["--read-object", "--type", "pubkey", "--label", label, "-o"])
        .arg(&out));
    if !ok && text.contains("cannot create EVP_PKEY") {
        return spki_from_listed_ec_point(label);
    }
    assert!(ok, "pkcs11-tool --read-object {label}: {text}");
    let bytes = std::fs::read(&out).unwrap();
    if bytes.starts_with(b"-----BEGIN") {
        der::pem::decode_vec(&bytes).expect("pkcs11-tool PEM").1
    } else {
        bytes
    }
}

fn spki_from_listed_ec_point(label: &str) -> Vec<u8> {
    let (ok, text) = run(Command::new("pkcs11-tool")
        .args(["--module", DEFAULT_MODULE, "--token-label", TOKEN])
        .args(["--list-objects", "--type", "pubkey"]));
    assert!(ok, "pkcs11-tool --list-objects: {text}");
    let block = text
        .split("Public Key Object")
        .find(|b| {
            b.lines()
                .any(|l| l.trim() == format!("label:      {label}"))
        })
        .unwrap_or_else(|| panic!("pkcs11-tool does not list {label}: {text}"));
    let field = |name: &str| {
        block
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no {name} for {label}: {block}"))
    };
    let (point, params) = (field("EC_POINT:"), field("EC_PARAMS:"));
    let script = r#"
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
point, params = bytes.fromhex(sys.argv[1]), sys.argv[2]
curve = {"06052b81040022": ec.SECP384R1(), "06082a8648ce3d030107": ec.SECP256R1()}[params]
raw = point[2:] if point[0] == 0x04 and point[1] == len(point) - 2 else point
key = ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)
print(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex())
"#;
    let (ok, out) = run(Command::new("python3")
        .args(["-c", script])
        .arg(&point)
        .arg(&params));
    assert!(ok, "python SPKI from EC_POINT: {out}");
    hex::decode(out.trim()).expect("hex SPKI")
}

/// OpenSSL's own DER encoding of an SPKI (parse and re-encode).
fn spki_from_openssl(dir: &Path, spki: &[u8]) -> Vec<u8> {
    let input = write(dir, "in.spki.der", spki);
    let output = dir.join("out.spki.der");
    let (ok, text) = run(Command::new("openssl")
        .args(["pkey", "-pubin", "-inform", "DER", "-outform", "DER", "-in"])
        .arg(&input)
        .arg("-out")
        .arg(&output));
    assert!(ok, "openssl pkey: {text}");
    std::fs::read(output).unwrap()
}

fn digest_for(scheme: SignatureScheme, message: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest::{SHA256, SHA384, digest};
    let alg = if scheme == SignatureScheme::EcdsaP384Sha384 {
        &SHA384
    } else {
        &SHA256
    };
    digest(alg, message).as_ref().to_vec()
}

// ------------------------------------------------------------------ inner tests

#[test]
#[ignore = "run in a child process with SOFTHSM2_CONF by softhsm_keys_sign_and_verify_everywhere"]
fn inner_keys_sign_and_verify_everywhere() {
    let Some(dir) = inner_dir() else { return };
    init_token(&dir);
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();

    // Setting SOFTHSM2_CONF to another file is refused with the path to export.
    let err = init_softhsm_token(
        Path::new(DEFAULT_MODULE),
        &dir.join("elsewhere"),
        "other",
        &Pin::new(SO_PIN),
        &Pin::new(USER_PIN),
    )
    .unwrap_err();
    assert!(matches!(err, SignError::SoftHsmConf { .. }), "{err}");
    check_error(&err);
    // A second token with the same label is refused.
    let err = init_softhsm_token(
        Path::new(DEFAULT_MODULE),
        &dir,
        TOKEN,
        &Pin::new(SO_PIN),
        &Pin::new(USER_PIN),
    )
    .unwrap_err();
    assert!(matches!(err, SignError::TokenExists(_)), "{err}");

    let keys = [
        ("p256", KeyAlgorithm::EcdsaP256),
        ("p384", KeyAlgorithm::EcdsaP384),
        ("rsa2048", KeyAlgorithm::Rsa2048),
        ("ed25519", KeyAlgorithm::Ed25519),
    ];
    let mut generated: Vec<KeyInfo> = Vec::new();
    let mut ed25519_supported = true;
    for (label, alg) in keys {
        match generate_key(&config(label), label, alg) {
            Ok(info) => {
                assert_eq!(info.algorithm, Some(alg));
                assert_eq!(info.label, label);
                assert_eq!(info.id.len(), 16);
                generated.push(info);
            }
            // SoftHSM2 built without EdDSA: the error must say so clearly.
            Err(SignError::Unsupported(reason)) if alg == KeyAlgorithm::Ed25519 => {
                assert!(reason.contains("Ed25519"), "{reason}");
                eprintln!("SoftHSM2 has no Ed25519: {reason}");
                ed25519_supported = false;
            }
            Err(e) => panic!("generate {label}: {e}"),
        }
    }
    eprintln!("Ed25519 supported by this SoftHSM2: {ed25519_supported}");

    // A duplicate label is refused.
    let err = generate_key(&config("p256"), "p256", KeyAlgorithm::EcdsaP256).unwrap_err();
    assert!(matches!(err, SignError::KeyExists { .. }), "{err}");

    // Listing shows every key with its algorithm and SPKI fingerprint.
    let listed = list_keys(&config("ignored")).expect("list keys");
    assert_eq!(listed.len(), generated.len());
    for info in &generated {
        let found = listed
            .iter()
            .find(|k| k.label == info.label)
            .expect("listed");
        assert_eq!(found, info);
        assert_eq!(found.spki_sha256_hex().len(), 64);
    }

    let cases: Vec<(&str, bool, SignatureScheme)> = [
        ("p256", false, SignatureScheme::EcdsaP256Sha256),
        ("p384", false, SignatureScheme::EcdsaP384Sha384),
        ("rsa2048", false, SignatureScheme::RsaPkcs1Sha256),
        ("rsa2048", true, SignatureScheme::RsaPssSha256),
        ("ed25519", false, SignatureScheme::Ed25519),
    ]
    .into_iter()
    .filter(|(label, ..)| ed25519_supported || *label != "ed25519")
    .collect();
    let message = b"tbsResponseData: signed inside SoftHSM2".to_vec();
    for (label, pss, scheme) in cases {
        let mut cfg = config(label);
        cfg.rsa_pss = pss;
        let key = Pkcs11Key::open(&cfg).unwrap_or_else(|e| panic!("open {label}: {e}"));
        assert_eq!(key.scheme(), scheme);
        assert_eq!(key.label(), format!("pkcs11:{TOKEN}/{label}"));
        let info = generated.iter().find(|k| k.label == label).unwrap();
        assert_eq!(key.public_key_spki_der(), info.spki_der.as_slice());

        // The SPKI is byte-identical to pkcs11-tool's and OpenSSL's.
        let spki = key.public_key_spki_der().to_vec();
        assert_eq!(
            spki,
            spki_from_pkcs11_tool(&work, label),
            "{label}: pkcs11-tool SPKI"
        );
        assert_eq!(
            spki,
            spki_from_openssl(&work, &spki),
            "{label}: OpenSSL SPKI"
        );

        let sig = key
            .sign(&message)
            .unwrap_or_else(|e| panic!("sign {label}: {e}"));
        assert!(
            verify_aws(&key, &message, &sig),
            "{label}: aws-lc-rs rejects"
        );
        assert!(!verify_aws(&key, b"another message", &sig));
        verify_openssl(&work, scheme, &spki, &message, &sig);
        verify_python(&work, scheme, &spki, &message, &sig);

        // Signing a digest gives a signature over the message.
        match key.sign_digest(&digest_for(scheme, &message)) {
            Ok(sig) => {
                assert_ne!(scheme, SignatureScheme::Ed25519);
                assert!(
                    verify_aws(&key, &message, &sig),
                    "{label}: digest signature"
                );
                verify_python(&work, scheme, &spki, &message, &sig);
            }
            Err(SignError::PrehashUnsupported { .. }) => {
                assert_eq!(scheme, SignatureScheme::Ed25519)
            }
            Err(e) => panic!("{label}: sign_digest: {e}"),
        }
        if scheme != SignatureScheme::Ed25519 {
            let err = key.sign_digest(&[0u8; 20]).unwrap_err();
            assert!(matches!(err, SignError::Backend { .. }), "{err}");
        }
        eprintln!(
            "{label} ({}) verified by aws-lc-rs, OpenSSL and pyca",
            scheme.name()
        );
    }

    // The key can be selected by id alone.
    let p256 = generated.iter().find(|k| k.label == "p256").unwrap();
    let mut by_id = config("p256");
    by_id.key_label = None;
    by_id.key_id = Some(p256.id.clone());
    let key = Pkcs11Key::open(&by_id).expect("open by id");
    assert_eq!(key.public_key_spki_der(), p256.spki_der.as_slice());
    assert_eq!(key.label(), format!("pkcs11:{TOKEN}/{}", p256.id_hex()));

    // The PIN from a file and from the environment (the child has INNER_DIR, not a PIN
    // variable, so the environment case is the "not set" error).
    let pin_file = write(&work, "pin", format!("{USER_PIN}\n").as_bytes());
    let mut cfg = config("p256");
    cfg.pin = PinSource::File(pin_file);
    assert!(Pkcs11Key::open(&cfg).is_ok());
    cfg.pin = PinSource::Env("REVOCA_TEST_PIN_UNSET".to_owned());
    let err = Pkcs11Key::open(&cfg).unwrap_err();
    assert!(matches!(err, SignError::Pin { .. }), "{err}");

    // Precise errors, none of them showing the PIN.
    let err = Pkcs11Key::open(&config("no-such-key")).unwrap_err();
    assert!(matches!(err, SignError::KeyNotFound { .. }), "{err}");
    check_error(&err);
    let mut cfg = config("p256");
    cfg.token_label = "no-such-token".to_owned();
    let err = Pkcs11Key::open(&cfg).unwrap_err();
    assert!(matches!(err, SignError::TokenNotFound { .. }), "{err}");
    // PKCS#11 login state is per application: while any session of this process is
    // logged in, C_Login answers "already logged in" without checking the PIN. Close
    // every session first so that the wrong PIN is really checked.
    assert_no_pin(&format!("{key:?}"));
    drop(key);
    let mut cfg = config("p256");
    cfg.pin = PinSource::literal("wrong-pin-0000");
    let err = Pkcs11Key::open(&cfg).unwrap_err();
    assert!(matches!(err, SignError::Login { .. }), "{err}");
    assert!(!err.to_string().contains("wrong-pin-0000"), "{err}");
    let cfg = config("p256");
    assert_no_pin(&format!("{cfg:?}"));
}

/// Signs `per_thread` messages on each of `threads` threads; returns the signatures.
fn hammer(key: &Arc<Pkcs11Key>, threads: usize, per_thread: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let key = Arc::clone(key);
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|i| {
                        let msg = format!("thread {t} message {i}").into_bytes();
                        let sig = key.sign(&msg).unwrap_or_else(|e| panic!("sign: {e}"));
                        (msg, sig)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("signing thread"))
        .collect()
}

/// Raw token rate with `sessions` sessions and as many threads, for about `for_how_long`.
fn rate(label: &str, sessions: usize, for_how_long: Duration) -> f64 {
    let mut cfg = config(label);
    cfg.sessions = sessions;
    let key = Arc::new(Pkcs11Key::open(&cfg).expect("open"));
    let start = Instant::now();
    let handles: Vec<_> = (0..sessions)
        .map(|_| {
            let key = Arc::clone(&key);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < for_how_long {
                    key.sign(b"rate").expect("sign");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    total as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "run in a child process with SOFTHSM2_CONF by softhsm_pool_concurrency_and_back_pressure"]
fn inner_pool_concurrency_and_back_pressure() {
    let Some(dir) = inner_dir() else { return };
    init_token(&dir);
    generate_key(&config("p256"), "p256", KeyAlgorithm::EcdsaP256).unwrap();
    generate_key(&config("rsa"), "rsa", KeyAlgorithm::Rsa2048).unwrap();

    // 8 threads x 200 signatures through 2 sessions.
    let mut cfg = config("p256");
    cfg.sessions = 2;
    let key = Arc::new(Pkcs11Key::open(&cfg).unwrap());
    let signed = hammer(&key, 8, 200);
    assert_eq!(signed.len(), 1600);
    for (msg, sig) in &signed {
        assert!(verify_aws(key.as_ref(), msg, sig));
    }
    let m = key.metrics().snapshot();
    assert_eq!(m.signatures, 1600);
    assert_eq!(m.latency_count(), 1600);
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    assert_eq!(m.in_flight, 0);
    assert_eq!(m.queue_depth, 0);
    assert!((1..=2).contains(&m.sessions_open), "{m:?}");
    let text = key.metrics().render_prometheus("revoca_signer");
    assert!(text.contains(&format!(
        "revoca_signer_sign_seconds_count{{backend=\"pkcs11\",key=\"pkcs11:{TOKEN}/p256\"}} 1600"
    )));
    assert!(text.contains(
        "revoca_signer_signatures_total{backend=\"pkcs11\",key=\"pkcs11:revoca-test/p256\"} 1600"
    ));

    // Back-pressure: one session, two calls in flight at most, a 5 ms wait. Every call
    // either signs or is refused with Busy/Overloaded; none fails otherwise or hangs.
    let mut cfg = config("rsa");
    cfg.sessions = 1;
    cfg.max_in_flight = 2;
    cfg.acquire_timeout = Duration::from_millis(5);
    let key = Arc::new(Pkcs11Key::open(&cfg).unwrap());
    let start = Instant::now();
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let key = Arc::clone(&key);
            std::thread::spawn(move || {
                let (mut ok, mut busy, mut overloaded) = (0, 0, 0);
                for i in 0..50 {
                    let msg = format!("{t}/{i}");
                    match key.sign(msg.as_bytes()) {
                        Ok(sig) => {
                            assert!(verify_aws(key.as_ref(), msg.as_bytes(), &sig));
                            ok += 1;
                        }
                        Err(SignError::Busy { waited, .. }) => {
                            assert!(waited >= Duration::from_millis(5));
                            busy += 1;
                        }
                        Err(SignError::Overloaded { limit: 2, .. }) => overloaded += 1,
                        Err(e) => panic!("unexpected error under back-pressure: {e}"),
                    }
                }
                (ok, busy, overloaded)
            })
        })
        .collect();
    let (ok, busy, overloaded) = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    eprintln!(
        "back-pressure: {ok} signed, {busy} busy, {overloaded} overloaded in {:?}",
        start.elapsed()
    );
    assert!(ok > 0);
    assert!(
        busy + overloaded > 0,
        "6 threads on 1 session never saw back-pressure"
    );
    let m = key.metrics().snapshot();
    assert_eq!(m.errors_of("busy"), busy);
    assert_eq!(m.errors_of("overloaded"), overloaded);
    assert_eq!((m.in_flight, m.queue_depth), (0, 0));

    // Raw token rates (printed for the record; not asserted).
    for (label, sessions) in [("p256", 1), ("p256", 2), ("rsa", 1), ("rsa", 2)] {
        let per_second = rate(label, sessions, Duration::from_millis(1500));
        eprintln!("RATE {label} sessions={sessions}: {per_second:.0} signatures/s");
    }
}

/// A `tracing` writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

#[test]
#[ignore = "run in a child process with SOFTHSM2_CONF by softhsm_outage_and_recovery"]
fn inner_outage_and_recovery() {
    let Some(dir) = inner_dir() else { return };
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("install the log capture");

    init_token(&dir);
    generate_key(&config("p256"), "p256", KeyAlgorithm::EcdsaP256).unwrap();
    let mut cfg = config("p256");
    cfg.sessions = 2;
    cfg.acquire_timeout = Duration::from_millis(500);
    cfg.reconnect_backoff_min = Duration::from_millis(20);
    cfg.reconnect_backoff_max = Duration::from_millis(200);
    let key = Arc::new(Pkcs11Key::open(&cfg).unwrap());
    let sign_ok = |what: &str| {
        let sig = key
            .sign(what.as_bytes())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(verify_aws(key.as_ref(), what.as_bytes(), &sig), "{what}");
    };
    sign_ok("before any trouble");
    // Both sessions open and idle, so that the failures below hit every pooled session
    // (the second one opens as soon as two calls overlap).
    for _ in 0..50 {
        if key.metrics().snapshot().sessions_open == 2 {
            break;
        }
        assert_eq!(hammer(&key, 4, 50).len(), 200);
    }
    assert_eq!(key.metrics().snapshot().sessions_open, 2);

    // 1. Someone logs the application out of the token (login state is per application,
    //    so this hits our sessions too): the next call re-logs in transparently.
    {
        let ctx = cryptoki::context::Pkcs11::new(DEFAULT_MODULE).unwrap();
        // Already initialised by the key in this process: that is expected.
        let _ = ctx.initialize(cryptoki::context::CInitializeArgs::new(
            cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
        ));
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label() == TOKEN)
            .unwrap();
        let session = ctx.open_ro_session(slot).unwrap();
        session.logout().expect("log out");
        drop(session);
        let before = key.metrics().snapshot();
        sign_ok("after a logout");
        let after = key.metrics().snapshot();
        assert!(
            after.reconnects > before.reconnects,
            "the logout went unnoticed"
        );
        assert_eq!(after.errors, before.errors, "the caller saw the logout");

        // 2. Someone finalises the module (every session of the process dies with
        //    CKR_CRYPTOKI_NOT_INITIALIZED): the key re-initialises it and carries on.
        ctx.finalize().expect("C_Finalize");
        let before = key.metrics().snapshot();
        sign_ok("after C_Finalize");
        let after = key.metrics().snapshot();
        assert!(
            after.reconnects > before.reconnects,
            "C_Finalize went unnoticed"
        );
        assert_eq!(after.errors, before.errors, "the caller saw C_Finalize");
        assert!(logs.text().contains("re-initialising PKCS#11 module"));
    }

    // 3. The token disappears (its directory is moved away): calls fail fast with
    //    Unavailable, from one thread and from several, without panics or hangs.
    let tokens = dir.join("tokens");
    let away = dir.join("tokens.away");
    std::fs::rename(&tokens, &away).unwrap();
    for i in 0..10 {
        let start = Instant::now();
        let err = key.sign(b"during the outage").unwrap_err();
        assert!(
            matches!(err, SignError::Unavailable { .. }),
            "call {i} in the outage: {err:?}"
        );
        assert!(err.is_transient());
        check_error(&err);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "call {i} took {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(15));
    }
    let outage_threads: Vec<_> = (0..4)
        .map(|_| {
            let key = Arc::clone(&key);
            std::thread::spawn(move || {
                let until = Instant::now() + Duration::from_millis(300);
                let mut errors = 0;
                while Instant::now() < until {
                    let start = Instant::now();
                    match key.sign(b"outage, concurrently") {
                        Err(SignError::Unavailable { .. } | SignError::Busy { .. }) => errors += 1,
                        other => panic!("unexpected result in the outage: {other:?}"),
                    }
                    assert!(start.elapsed() < Duration::from_secs(2));
                }
                errors
            })
        })
        .collect();
    for handle in outage_threads {
        assert!(handle.join().expect("no panic in the outage") > 0);
    }

    // 4. The token comes back: signing recovers by itself (no restart, no call to make).
    std::fs::rename(&away, &tokens).unwrap();
    let back = Instant::now();
    let recovered = loop {
        match key.sign(b"after the outage") {
            Ok(sig) => break sig,
            Err(SignError::Unavailable { .. }) if back.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("no recovery after {:?}: {e}", back.elapsed()),
        }
    };
    eprintln!("recovered {:?} after the token came back", back.elapsed());
    assert!(verify_aws(key.as_ref(), b"after the outage", &recovered));
    let signed = hammer(&key, 4, 50);
    assert_eq!(signed.len(), 200);

    let m = key.metrics().snapshot();
    eprintln!("metrics after the outage: {m:?}");
    assert!(m.errors_of("unavailable") >= 10, "{m:?}");
    assert!(m.reconnects > 0, "{m:?}");
    assert_eq!((m.in_flight, m.queue_depth), (0, 0));
    assert!(m.sessions_open <= 2, "{m:?}");

    // The logs tell the story, without the PIN.
    let text = logs.text();
    assert!(text.contains("PKCS#11 token unavailable"), "{text}");
    assert!(text.contains("PKCS#11 token reachable again"), "{text}");
    assert!(
        text.contains("PKCS#11 session failed; reconnecting"),
        "{text}"
    );
    assert_no_pin(&text);
    eprintln!("captured {} bytes of logs, no PIN in them", text.len());
}

//! Signatures per second of a PKCS#11 key three ways, for issue 5 ("the refresher reaches
//! ≥ 90 % of the backend's raw rate"):
//!
//! * `raw`: a bare `C_Sign` loop through `cryptoki`, one session per thread, with the same
//!   mechanism and input [`Pkcs11Key`] would use (ECDSA: `CKM_ECDSA_SHA256` over the
//!   message if the token has it, else `CKM_ECDSA` over a host SHA-256; RSA:
//!   `CKM_SHA256_RSA_PKCS` over the message, else `CKM_RSA_PKCS` over a `DigestInfo`);
//! * `pool`: [`Pkcs11Key::sign`] (session pool, admission, metrics, DER encoding of ECDSA
//!   signatures), one key shared by all threads;
//! * `software`: [`SoftwareKey::sign`] with a fresh in-memory key of the same algorithm.
//!
//! Each is run with 1 and 2 threads (`--threads`) for a fixed time (`--secs`, default 5) and
//! printed as signatures/s, one `RESULT` line per measurement, then a table.
//!
//! # Running it
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` when the module is initialised and this workspace forbids
//! the `unsafe` `std::env::set_var`, so the variable must be exported *before* the example
//! starts. The easiest set-up is `revoca hsm`, which writes the configuration with
//! [`write_softhsm_conf`](revoca_signer::pkcs11::write_softhsm_conf) and creates the token
//! with [`init_softhsm_token`](revoca_signer::pkcs11::init_softhsm_token):
//!
//! ```sh
//! cargo build --release -p revoca
//! cargo build --release -p revoca-signer --example sign_rate
//! D=$(mktemp -d)
//! target/release/revoca hsm init --dir $D                 # token "revoca-demo", $D/hsm/user.pin
//! target/release/revoca hsm keygen --dir $D --label bench-p256 --alg P-256
//! target/release/revoca hsm keygen --dir $D --label bench-rsa --alg RSA-2048
//! SOFTHSM2_CONF=$D/hsm/softhsm2.conf target/release/examples/sign_rate \
//!     --token revoca-demo --pin-file $D/hsm/user.pin --key bench-p256 --key bench-rsa
//! ```
//!
//! `loadtests/hsm_rate.sh` does exactly that, and also measures the responder's refresher.
//! Without `--key` only the software backend is measured (`--software P-256,RSA-2048`).
//!
//! Options: `--module PATH` (default SoftHSM2's), `--token LABEL` (default `revoca-demo`),
//! `--pin-file PATH` or `--pin-env VAR`, `--key LABEL` (repeatable), `--secs S`,
//! `--threads 1,2`, `--sessions N` (pool size, default 2), `--msg-len BYTES` (default 200,
//! about an OCSP `ResponseData` with one `SingleResponse`), `--software ALG,...`,
//! `--backends raw,pool,software`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use revoca_signer::pkcs11::DEFAULT_MODULE;
use revoca_signer::{KeyAlgorithm, PinSource, Pkcs11Config, Pkcs11Key, Signer, SoftwareKey};

/// Signatures each thread makes before the clock starts.
const WARM_UP: usize = 20;

/// Where the user PIN is. The raw loop needs the text (`revoca_signer::pkcs11::Pin` keeps
/// it private), so it is read here the way `PinSource` reads it.
#[derive(Clone)]
enum PinArg {
    File(PathBuf),
    Env(String),
}

impl PinArg {
    fn source(&self) -> PinSource {
        match self {
            Self::File(path) => PinSource::File(path.clone()),
            Self::Env(name) => PinSource::Env(name.clone()),
        }
    }

    fn text(&self) -> Result<String, String> {
        let text = match self {
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("PIN file {}: {e}", path.display()))?,
            Self::Env(name) => {
                std::env::var(name).map_err(|_| format!("PIN variable {name} is not set"))?
            }
        };
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
        if line.is_empty() {
            return Err("empty PIN".to_owned());
        }
        Ok(line.to_owned())
    }
}

struct Args {
    module: PathBuf,
    token: String,
    pin: Option<PinArg>,
    keys: Vec<String>,
    secs: f64,
    rounds: usize,
    threads: Vec<usize>,
    sessions: usize,
    msg_len: usize,
    software: Vec<KeyAlgorithm>,
    backends: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: sign_rate [--module PATH] [--token LABEL] [--pin-file PATH | --pin-env VAR] \
         [--key LABEL]... [--secs S] [--rounds N] [--threads 1,2] [--sessions N] [--msg-len BYTES] \
         [--software P-256,RSA-2048] [--backends raw,pool,software]\n\
         (SOFTHSM2_CONF must be exported for SoftHSM2; see the example's documentation)"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        module: PathBuf::from(DEFAULT_MODULE),
        token: "revoca-demo".to_owned(),
        pin: None,
        keys: Vec::new(),
        secs: 5.0,
        rounds: 1,
        threads: vec![1, 2],
        sessions: 2,
        msg_len: 200,
        software: vec![KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048],
        backends: ["raw", "pool", "software"].map(str::to_owned).to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--module" => args.module = PathBuf::from(value()),
            "--token" => args.token = value(),
            "--pin-file" => args.pin = Some(PinArg::File(PathBuf::from(value()))),
            "--pin-env" => args.pin = Some(PinArg::Env(value())),
            "--key" => args.keys.push(value()),
            "--secs" => args.secs = value().parse().unwrap_or_else(|_| usage()),
            "--rounds" => args.rounds = value().parse().unwrap_or_else(|_| usage()),
            "--threads" => {
                args.threads = value()
                    .split(',')
                    .map(|t| t.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--sessions" => args.sessions = value().parse().unwrap_or_else(|_| usage()),
            "--msg-len" => args.msg_len = value().parse().unwrap_or_else(|_| usage()),
            "--software" => {
                args.software = value()
                    .split(',')
                    .map(|a| KeyAlgorithm::from_name(a.trim()).unwrap_or_else(|| usage()))
                    .collect()
            }
            "--backends" => args.backends = value().split(',').map(str::to_owned).collect(),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if !(args.secs > 0.0 && args.secs <= 600.0)
        || args.threads.iter().any(|&t| t == 0 || t > 64)
        || args.sessions == 0
        || !(1..=20).contains(&args.rounds)
    {
        usage();
    }
    args
}

/// Signatures, errors and elapsed seconds of one measurement, or why it could not run.
type Outcome = Result<(u64, u64, f64), String>;

/// One measurement.
struct Rate {
    round: usize,
    algorithm: &'static str,
    backend: &'static str,
    threads: usize,
    signatures: u64,
    errors: u64,
    secs: f64,
}

impl Rate {
    fn per_sec(&self) -> f64 {
        self.signatures as f64 / self.secs
    }
}

/// Runs `threads` workers for `secs`. Each worker first calls `setup` (on its own thread,
/// for per-thread sessions), warms up, waits for the others, then calls its signing
/// closure until the deadline. Returns (signatures, errors, elapsed seconds); the first
/// signing error, if any, is printed.
fn run_threads<S, F>(threads: usize, secs: f64, setup: S) -> Outcome
where
    S: Fn() -> Result<F, String> + Sync,
    F: FnMut() -> Result<(), String>,
{
    let barrier = Barrier::new(threads + 1);
    let failed = AtomicBool::new(false);
    let duration = Duration::from_secs_f64(secs);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (barrier, failed, setup) = (&barrier, &failed, &setup);
                scope.spawn(move || -> Result<(u64, u64, Option<String>), String> {
                    let prepared = setup().and_then(|mut sign| {
                        for _ in 0..WARM_UP {
                            sign().map_err(|e| format!("signing fails during warm-up: {e}"))?;
                        }
                        Ok(sign)
                    });
                    if prepared.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    barrier.wait(); // everyone is ready (or failed)
                    barrier.wait(); // the clock has started
                    let mut sign = prepared?;
                    if failed.load(Ordering::SeqCst) {
                        return Ok((0, 0, None));
                    }
                    let deadline = Instant::now() + duration;
                    let (mut ok, mut errors, mut first) = (0u64, 0u64, None);
                    while Instant::now() < deadline {
                        match sign() {
                            Ok(()) => ok += 1,
                            Err(e) => {
                                errors += 1;
                                first.get_or_insert(e);
                            }
                        }
                    }
                    Ok((ok, errors, first))
                })
            })
            .collect();
        barrier.wait();
        let started = Instant::now();
        barrier.wait();
        let mut totals = (0u64, 0u64);
        let mut first_error = None;
        for worker in workers {
            match worker.join() {
                Ok(Ok((ok, errors, first))) => {
                    totals.0 += ok;
                    totals.1 += errors;
                    if let Some(e) = first {
                        eprintln!("signing error ({errors} in this thread), first: {e}");
                    }
                }
                Ok(Err(e)) => first_error = first_error.or(Some(e)),
                Err(_) => first_error = first_error.or(Some("worker panicked".to_owned())),
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        match first_error {
            Some(e) => Err(e),
            None => Ok((totals.0, totals.1, elapsed)),
        }
    })
}

/// Builds a `C_Sign` mechanism (`Mechanism` is neither `Clone` nor `Sync`).
type MakeMechanism = fn() -> Mechanism<'static>;

/// The raw token: a bare `C_Sign` loop, one session per thread.
struct RawToken {
    ctx: Pkcs11,
    slot: Slot,
    pin: String,
    mechanisms: Vec<MechanismType>,
}

impl RawToken {
    fn open(module: &Path, token: &str, pin: &PinArg) -> Result<Self, String> {
        // The same library Pkcs11Key loaded (dlopen shares it), so it may be initialised.
        let ctx = Pkcs11::new(module).map_err(|e| format!("load {}: {e}", module.display()))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(format!("C_Initialize: {e}")),
        }
        let mut found = None;
        for slot in ctx
            .get_slots_with_token()
            .map_err(|e| format!("list slots: {e}"))?
        {
            let info = ctx
                .get_token_info(slot)
                .map_err(|e| format!("token info: {e}"))?;
            if info.token_initialized() && info.label().trim_end() == token {
                found = Some(slot);
            }
        }
        let slot = found
            .ok_or_else(|| format!("no token labelled {token:?} (is SOFTHSM2_CONF exported?)"))?;
        let mechanisms = ctx
            .get_mechanism_list(slot)
            .map_err(|e| format!("list mechanisms: {e}"))?;
        Ok(Self {
            ctx,
            slot,
            pin: pin.text()?,
            mechanisms,
        })
    }

    /// The mechanism [`Pkcs11Key`] would use for `algorithm`, and how it turns the message
    /// into `C_Sign`'s input.
    fn plan(&self, algorithm: KeyAlgorithm) -> Result<(MakeMechanism, Prepare), String> {
        let has = |m: MechanismType| self.mechanisms.contains(&m);
        Ok(match algorithm {
            KeyAlgorithm::EcdsaP256 if has(MechanismType::ECDSA_SHA256) => {
                (|| Mechanism::EcdsaSha256, Prepare::Message)
            }
            KeyAlgorithm::EcdsaP384 if has(MechanismType::ECDSA_SHA384) => {
                (|| Mechanism::EcdsaSha384, Prepare::Message)
            }
            KeyAlgorithm::EcdsaP256 => (|| Mechanism::Ecdsa, Prepare::Sha256),
            KeyAlgorithm::EcdsaP384 => (|| Mechanism::Ecdsa, Prepare::Sha384),
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
                if has(MechanismType::SHA256_RSA_PKCS) =>
            {
                (|| Mechanism::Sha256RsaPkcs, Prepare::Message)
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                (|| Mechanism::RsaPkcs, Prepare::Sha256DigestInfo)
            }
            KeyAlgorithm::Ed25519 => {
                return Err("raw loop: Ed25519 is not measured".to_owned());
            }
        })
    }

    /// Measures `threads` threads, each with its own logged-in session.
    fn measure(
        &self,
        key_label: &str,
        algorithm: KeyAlgorithm,
        message: &[u8],
        threads: usize,
        secs: f64,
    ) -> Outcome {
        let (mechanism, prepare) = self.plan(algorithm)?;
        if threads == 1 {
            println!(
                "raw {}: {} over {}",
                algorithm.name(),
                mechanism().mechanism_type(),
                prepare.describe()
            );
        }
        run_threads(threads, secs, || {
            let session = self
                .ctx
                .open_ro_session(self.slot)
                .map_err(|e| format!("open session: {e}"))?;
            match session.login(UserType::User, Some(&AuthPin::from(self.pin.as_str()))) {
                Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(e) => return Err(format!("login: {e}")),
            }
            let found = session
                .find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Label(key_label.as_bytes().to_vec()),
                ])
                .map_err(|e| format!("find key: {e}"))?;
            let [key] = found[..] else {
                return Err(format!(
                    "{} private keys labelled {key_label:?}",
                    found.len()
                ));
            };
            let mechanism = mechanism();
            Ok(move || {
                let input = prepare.apply(message);
                session
                    .sign(&mechanism, key, &input)
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
        })
    }
}

/// What the raw loop hands to `C_Sign`: the message, or (hashed on the host for every
/// signature, as [`Pkcs11Key`] does) its digest.
#[derive(Clone, Copy)]
enum Prepare {
    Message,
    Sha256,
    Sha384,
    Sha256DigestInfo,
}

impl Prepare {
    fn describe(self) -> &'static str {
        match self {
            Self::Message => "the message",
            Self::Sha256 => "a host SHA-256",
            Self::Sha384 => "a host SHA-384",
            Self::Sha256DigestInfo => "a host SHA-256 DigestInfo",
        }
    }

    fn apply<'a>(self, message: &'a [u8]) -> Cow<'a, [u8]> {
        use aws_lc_rs::digest::{SHA256, SHA384, digest};
        /// `DigestInfo` header for SHA-256 (RFC 8017, section 9.2, note 1).
        const SHA256_PREFIX: [u8; 19] = [
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        match self {
            Self::Message => Cow::Borrowed(message),
            Self::Sha256 => Cow::Owned(digest(&SHA256, message).as_ref().to_vec()),
            Self::Sha384 => Cow::Owned(digest(&SHA384, message).as_ref().to_vec()),
            Self::Sha256DigestInfo => {
                let mut v = SHA256_PREFIX.to_vec();
                v.extend_from_slice(digest(&SHA256, message).as_ref());
                Cow::Owned(v)
            }
        }
    }
}

/// Measures `signer` shared by `threads` threads.
fn measure_signer(signer: &dyn Signer, message: &[u8], threads: usize, secs: f64) -> Outcome {
    run_threads(threads, secs, || {
        Ok(|| signer.sign(message).map(drop).map_err(|e| e.to_string()))
    })
}

fn record(rates: &mut Vec<Rate>, rate: Rate) {
    println!(
        "RESULT round={} algorithm={} backend={} threads={} signatures={} errors={} \
         secs={:.3} per_sec={:.0}",
        rate.round,
        rate.algorithm,
        rate.backend,
        rate.threads,
        rate.signatures,
        rate.errors,
        rate.secs,
        rate.per_sec()
    );
    rates.push(rate);
}

fn main() -> ExitCode {
    match run(parse_args()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sign_rate: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The keys of one algorithm, each backend optional.
struct Keys {
    algorithm: KeyAlgorithm,
    /// The token key's label and its pooled key.
    token: Option<(String, Pkcs11Key)>,
    software: Option<SoftwareKey>,
}

fn run(args: Args) -> Result<(), String> {
    let wants = |b: &str| args.backends.iter().any(|x| x == b);
    // A fixed, OCSP-sized message; its content does not matter to the signers.
    let message: Vec<u8> = (0..args.msg_len).map(|i| (i * 7 + 3) as u8).collect();
    println!(
        "sign_rate: {} round(s) of {} s per measurement, threads {:?}, pool sessions {}, \
         message {} bytes, SOFTHSM2_CONF={}",
        args.rounds,
        args.secs,
        args.threads,
        args.sessions,
        args.msg_len,
        std::env::var("SOFTHSM2_CONF").unwrap_or_else(|_| "(unset)".to_owned())
    );

    let mut all: Vec<Keys> = Vec::new();
    let mut raw = None;
    if args.keys.is_empty() {
        all.extend(args.software.iter().map(|&algorithm| Keys {
            algorithm,
            token: None,
            software: None,
        }));
    } else {
        let pin = args
            .pin
            .clone()
            .ok_or("--key needs --pin-file or --pin-env")?;
        for label in &args.keys {
            let mut config = Pkcs11Config::new(&args.token, label, pin.source());
            config.module = args.module.clone();
            config.sessions = args.sessions;
            let key = Pkcs11Key::open(&config).map_err(|e| format!("open key {label}: {e}"))?;
            let algorithm = key
                .algorithm()
                .ok_or_else(|| format!("key {label}: an algorithm Revoca does not generate"))?;
            all.push(Keys {
                algorithm,
                token: Some((label.clone(), key)),
                software: None,
            });
        }
        // Opened after the keys, whose sessions keep the token logged in meanwhile.
        if wants("raw") {
            raw = Some(RawToken::open(&args.module, &args.token, &pin)?);
        }
    }
    if wants("software") {
        for keys in &mut all {
            let pkcs8 = SoftwareKey::generate_pkcs8(keys.algorithm).map_err(|e| e.to_string())?;
            keys.software = Some(
                SoftwareKey::from_pkcs8_der(&pkcs8, "bench-software").map_err(|e| e.to_string())?,
            );
        }
    }

    // Rounds interleave the backends, so that a noisy neighbour hits all of them alike.
    let mut rates = Vec::new();
    for round in 1..=args.rounds {
        for keys in &all {
            for &threads in &args.threads {
                // Odd rounds measure raw → pool → software, even rounds the reverse.
                let mut order = ["raw", "pool", "software"];
                if round % 2 == 0 {
                    order.reverse();
                }
                let mut runs: Vec<(&'static str, Outcome)> = Vec::new();
                for backend in order {
                    let result = match (backend, &keys.token, &raw, &keys.software) {
                        ("raw", Some((label, _)), Some(raw), _) => {
                            raw.measure(label, keys.algorithm, &message, threads, args.secs)
                        }
                        ("pool", Some((_, key)), _, _) if wants("pool") => {
                            measure_signer(key, &message, threads, args.secs)
                        }
                        ("software", _, _, Some(key)) => {
                            measure_signer(key, &message, threads, args.secs)
                        }
                        _ => continue,
                    };
                    runs.push((backend, result));
                }
                for (backend, result) in runs {
                    let (signatures, errors, secs) = result?;
                    record(
                        &mut rates,
                        Rate {
                            round,
                            algorithm: keys.algorithm.name(),
                            backend,
                            threads,
                            signatures,
                            errors,
                            secs,
                        },
                    );
                }
            }
        }
    }
    print_table(&all, &args.threads, &rates);
    Ok(())
}

/// Median signatures/s of one cell over the rounds, with the range when there are several.
fn median(rates: &[Rate], algorithm: &str, backend: &str, threads: usize) -> Option<(f64, String)> {
    let mut v: Vec<f64> = rates
        .iter()
        .filter(|r| r.algorithm == algorithm && r.backend == backend && r.threads == threads)
        .map(Rate::per_sec)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let text = if n == 1 {
        format!("{m:.0}")
    } else {
        format!("{m:.0} ({:.0}–{:.0})", v[0], v[n - 1])
    };
    Some((m, text))
}

fn print_table(all: &[Keys], threads: &[usize], rates: &[Rate]) {
    println!();
    println!(
        "| algorithm | threads | raw token (sig/s) | pool (sig/s) | pool / raw | software (sig/s) |"
    );
    println!("|---|---|---|---|---|---|");
    for keys in all {
        let alg = keys.algorithm.name();
        for &t in threads {
            let raw = median(rates, alg, "raw", t);
            let pool = median(rates, alg, "pool", t);
            let soft = median(rates, alg, "software", t);
            let ratio = match (&raw, &pool) {
                (Some((r, _)), Some((p, _))) if *r > 0.0 => format!("{:.1} %", 100.0 * p / r),
                _ => "—".to_owned(),
            };
            let cell = |v: Option<(f64, String)>| v.map_or_else(|| "—".to_owned(), |(_, s)| s);
            println!(
                "| {alg} | {t} | {} | {} | {ratio} | {} |",
                cell(raw),
                cell(pool),
                cell(soft)
            );
        }
    }
    if rates.iter().any(|r| r.round > 1) {
        println!("(medians over the rounds, range in brackets)");
    }
}

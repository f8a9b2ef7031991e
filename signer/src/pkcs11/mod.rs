//! PKCS#11 (HSM) keys, through `cryptoki`.
//!
//! * [`Pkcs11Key`] implements [`Signer`] for a private key on a token: the scheme is taken
//!   from the key (P-256 → ECDSA-SHA256, P-384 → ECDSA-SHA384, RSA → PKCS#1 v1.5 SHA-256 or
//!   PSS if configured, Ed25519 → `CKM_EDDSA`), and the public key's SPKI is built from
//!   `CKA_EC_POINT` or `CKA_MODULUS`/`CKA_PUBLIC_EXPONENT` (byte-identical to OpenSSL's).
//!   ECDSA messages are hashed on the host when the token lacks the combined mechanism (as
//!   SoftHSM2 does) and the raw `r‖s` the token returns is DER-encoded.
//! * Sessions are pooled: at most [`Pkcs11Config::sessions`] are open, each used by one
//!   thread at a time (`cryptoki::Session` is `Send`, not `Sync`). Callers wait at most
//!   [`Pkcs11Config::acquire_timeout`] for one ([`SignError::Busy`]) and at most
//!   [`Pkcs11Config::max_in_flight`] calls are admitted ([`SignError::Overloaded`]).
//! * After a token error the broken session is dropped and a new one opened and logged in;
//!   after a module-level error (token removed, device error, module not initialised) the
//!   module is finalised and re-initialised. While the token is gone, calls fail fast with
//!   [`SignError::Unavailable`] and reconnection is retried with exponential back-off, so
//!   signing recovers by itself. Nothing here panics on token errors.
//! * [`SignerMetrics`] counts signatures, errors by kind, in-flight calls, queue depth,
//!   open sessions and reconnects, and keeps a latency histogram.
//! * Key management: [`generate_key`], [`list_keys`], and for demos and tests
//!   [`init_softhsm_token`].
//!
//! # The PIN
//!
//! The PIN comes from a file or an environment variable ([`PinSource`]). It is never
//! logged, never part of an error message, and `Debug` of the configuration redacts it.
//!
//! # SoftHSM2 and `SOFTHSM2_CONF`
//!
//! SoftHSM2 reads its configuration file (which names its token directory) from the
//! `SOFTHSM2_CONF` environment variable when the module is initialised. Setting an
//! environment variable inside a running process is `unsafe` in Rust 2024 (and this
//! workspace forbids `unsafe`), so the variable must be in the environment *before* the
//! process starts: `SOFTHSM2_CONF=$DIR/softhsm2.conf revoca ...`. [`write_softhsm_conf`]
//! writes a private configuration and returns its path for the caller to export; a
//! program that wants to do both in one step re-executes itself with
//! `std::process::Command::env("SOFTHSM2_CONF", path)` (this crate's SoftHSM tests do
//! exactly that).

mod keys;
mod manage;
mod metrics;
mod module;
mod sessions;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::{KeyAlgorithm, SignError, SignatureScheme, Signer};
use keys::{KeyKind, TokenKey};
use module::{Failure, FindError, KeySelector, Module, classify};
use sessions::{Lease, SessionPool};

pub use keys::KeyInfo;
pub use manage::{
    SOFTHSM2_CONF_FILE, generate_key, init_softhsm_token, list_keys, write_softhsm_conf,
};
pub use metrics::{LATENCY_BUCKETS, MetricsSnapshot, SignerMetrics};

/// Where Debian's `softhsm2` package installs the SoftHSM2 module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A PIN held in memory. `Debug` prints `<redacted>`; there is no `Display`. The bytes are
/// overwritten (best effort) when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    /// Wraps a PIN value.
    pub fn new(pin: impl Into<String>) -> Self {
        Self(pin.into())
    }

    fn auth(&self) -> AuthPin {
        AuthPin::from(self.0.as_str())
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// Where the token PIN comes from.
#[derive(Clone)]
pub enum PinSource {
    /// The first line of a file (a trailing newline is ignored). Keep it mode 0600.
    File(PathBuf),
    /// An environment variable of the process.
    Env(String),
    /// The PIN itself: for tests and demos only (configuration files must not hold PINs).
    Literal(Pin),
}

impl std::fmt::Debug for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Env(name) => f.debug_tuple("Env").field(name).finish(),
            Self::Literal(_) => f.write_str("Literal(<redacted>)"),
        }
    }
}

impl PinSource {
    /// A literal PIN (tests and demos only).
    pub fn literal(pin: &str) -> Self {
        Self::Literal(Pin::new(pin))
    }

    fn describe(&self) -> String {
        match self {
            Self::File(path) => format!("file {}", path.display()),
            Self::Env(name) => format!("environment variable {name}"),
            Self::Literal(_) => "the configuration (literal)".to_owned(),
        }
    }

    /// Reads the PIN. Errors say where it was looked for, never what was found.
    pub fn read(&self) -> Result<Pin, SignError> {
        let fail = |reason: &str| SignError::Pin {
            from: self.describe(),
            reason: reason.to_owned(),
        };
        let pin = match self {
            Self::File(path) => {
                let text = std::fs::read(path).map_err(|e| SignError::Pin {
                    from: self.describe(),
                    // The io::Error message names the OS error only, never the contents.
                    reason: e.to_string(),
                })?;
                let text = String::from_utf8(text).map_err(|_| fail("not UTF-8"))?;
                let line = text.lines().next().unwrap_or("");
                Pin::new(line.trim_end_matches('\r'))
            }
            // VarError's Display can echo a non-Unicode value, so map it to fixed text.
            Self::Env(name) => match std::env::var(name) {
                Ok(value) => Pin::new(value),
                Err(std::env::VarError::NotPresent) => return Err(fail("not set")),
                Err(std::env::VarError::NotUnicode(_)) => return Err(fail("not valid Unicode")),
            },
            Self::Literal(pin) => pin.clone(),
        };
        if pin.0.is_empty() {
            return Err(fail("empty"));
        }
        Ok(pin)
    }
}

/// How to reach a key on a PKCS#11 token, and how to use it.
#[derive(Clone, Debug)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library). Default: [`DEFAULT_MODULE`].
    pub module: PathBuf,
    /// The token label (`CKA_LABEL` of the token, as given to `softhsm2-util --label`).
    pub token_label: String,
    /// The private key's `CKA_LABEL`. At least one of `key_label` and `key_id` is needed.
    pub key_label: Option<String>,
    /// The private key's `CKA_ID`.
    pub key_id: Option<Vec<u8>>,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// Sessions to open at most (one per concurrent signer). Default 2.
    pub sessions: usize,
    /// Signing calls admitted at once (signing plus waiting for a session); beyond it calls
    /// fail at once with [`SignError::Overloaded`]. Default 64.
    pub max_in_flight: usize,
    /// How long a call waits for a free session before [`SignError::Busy`]. Default 2 s.
    pub acquire_timeout: Duration,
    /// Sign with RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) instead of PKCS#1 v1.5.
    pub rsa_pss: bool,
    /// First delay between reconnection attempts after a token error. Default 100 ms.
    pub reconnect_backoff_min: Duration,
    /// Longest delay between reconnection attempts. Default 5 s.
    pub reconnect_backoff_max: Duration,
    /// The label for logs and metrics. Default `pkcs11:<token>/<key label or id>`.
    pub label: Option<String>,
}

impl Pkcs11Config {
    /// A configuration with the defaults, for the key labelled `key_label` on the token
    /// labelled `token_label` of SoftHSM2's module.
    pub fn new(token_label: &str, key_label: &str, pin: PinSource) -> Self {
        Self {
            module: PathBuf::from(DEFAULT_MODULE),
            token_label: token_label.to_owned(),
            key_label: Some(key_label.to_owned()),
            key_id: None,
            pin,
            sessions: 2,
            max_in_flight: 64,
            acquire_timeout: Duration::from_secs(2),
            rsa_pss: false,
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
            label: None,
        }
    }

    fn selector(&self) -> Result<KeySelector, SignError> {
        if self.key_label.is_none() && self.key_id.is_none() {
            return Err(SignError::InvalidConfig(format!(
                "PKCS#11 key on token {:?}: set a key label or a key id",
                self.token_label
            )));
        }
        Ok(KeySelector {
            label: self.key_label.clone(),
            id: self.key_id.clone(),
        })
    }

    fn display_label(&self, selector: &KeySelector) -> String {
        self.label.clone().unwrap_or_else(|| {
            let key = match (&selector.label, &selector.id) {
                (Some(label), _) => label.clone(),
                (None, Some(id)) => hex::encode(id),
                (None, None) => String::new(),
            };
            format!("pkcs11:{}/{key}", self.token_label)
        })
    }
}

/// Which signing mechanisms the token offers.
#[derive(Clone, Copy, Debug, Default)]
struct Mechanisms {
    ecdsa: bool,
    ecdsa_sha256: bool,
    ecdsa_sha384: bool,
    rsa_pkcs: bool,
    sha256_rsa_pkcs: bool,
    rsa_pkcs_pss: bool,
    sha256_rsa_pkcs_pss: bool,
    eddsa: bool,
}

impl Mechanisms {
    fn of(list: &[MechanismType]) -> Self {
        let has = |m: MechanismType| list.contains(&m);
        Self {
            ecdsa: has(MechanismType::ECDSA),
            ecdsa_sha256: has(MechanismType::ECDSA_SHA256),
            ecdsa_sha384: has(MechanismType::ECDSA_SHA384),
            rsa_pkcs: has(MechanismType::RSA_PKCS),
            sha256_rsa_pkcs: has(MechanismType::SHA256_RSA_PKCS),
            rsa_pkcs_pss: has(MechanismType::RSA_PKCS_PSS),
            sha256_rsa_pkcs_pss: has(MechanismType::SHA256_RSA_PKCS_PSS),
            eddsa: has(MechanismType::EDDSA),
        }
    }

    /// `Err(missing mechanism)` when the token cannot sign with `scheme` at all.
    fn check(self, scheme: SignatureScheme) -> Result<(), &'static str> {
        let ok = match scheme {
            SignatureScheme::EcdsaP256Sha256 => self.ecdsa || self.ecdsa_sha256,
            SignatureScheme::EcdsaP384Sha384 => self.ecdsa || self.ecdsa_sha384,
            SignatureScheme::RsaPkcs1Sha256 => self.rsa_pkcs || self.sha256_rsa_pkcs,
            SignatureScheme::RsaPssSha256 => self.rsa_pkcs_pss || self.sha256_rsa_pkcs_pss,
            SignatureScheme::Ed25519 => self.eddsa,
        };
        if ok {
            return Ok(());
        }
        Err(match scheme {
            SignatureScheme::EcdsaP256Sha256 | SignatureScheme::EcdsaP384Sha384 => "CKM_ECDSA",
            SignatureScheme::RsaPkcs1Sha256 => "CKM_RSA_PKCS",
            SignatureScheme::RsaPssSha256 => "CKM_RSA_PKCS_PSS",
            SignatureScheme::Ed25519 => "CKM_EDDSA",
        })
    }
}

/// An open session. Opened with `*_no_drop`, it is closed explicitly on drop, and only
/// while its module generation is current (a stale handle number may belong to a newer
/// session after the module was re-initialised).
struct RawSession {
    session: Option<Session>,
    generation: u64,
    module: Arc<Module>,
    metrics: Arc<SignerMetrics>,
}

impl RawSession {
    fn get(&self) -> &Session {
        // `session` is only `None` inside `drop`.
        self.session
            .as_ref()
            .expect("a RawSession holds its session until dropped")
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        self.metrics.add_sessions_open(-1);
        if let Some(session) = self.session.take()
            && self.module.is_current(self.generation)
        {
            // Best effort: the token may be gone already.
            let _ = session.close();
        }
    }
}

/// A session of the pool: logged in, with the key's handle in it.
struct TokenSession {
    raw: RawSession,
    key: ObjectHandle,
}

/// What opening a session needs.
struct Target<'a> {
    module: &'a Arc<Module>,
    token: &'a str,
    selector: &'a KeySelector,
    metrics: &'a Arc<SignerMetrics>,
}

/// A freshly opened session, with what was learnt while opening it.
struct Opened {
    session: TokenSession,
    slot: Slot,
}

/// Why a session could not be opened: the precise error and how bad it is.
struct OpenError {
    error: SignError,
    failure: Failure,
    pin_refused: bool,
}

impl OpenError {
    fn ck(error: CkError, what: &str) -> Self {
        Self {
            failure: classify(&error),
            error: SignError::Pkcs11 {
                operation: what.to_owned(),
                reason: error.to_string(),
            },
            pin_refused: false,
        }
    }

    fn find(error: FindError, what: &str) -> Self {
        match error {
            FindError::Pkcs11(e) => Self::ck(e, what),
            // A token that vanished is a module-level problem (SoftHSM2, for one, only
            // rescans its token directory on C_Initialize); a missing key is not.
            FindError::Config(error) => Self {
                failure: match error {
                    SignError::TokenNotFound { .. } => Failure::Module,
                    _ => Failure::Session,
                },
                error,
                pin_refused: false,
            },
        }
    }
}

fn open_session(target: &Target<'_>, pin: &Pin) -> Result<Opened, OpenError> {
    let ready = target.module.ready().map_err(|error| OpenError {
        error,
        failure: Failure::Module,
        pin_refused: false,
    })?;
    let ctx = ready.ctx();
    let slot = module::find_slot(ctx, target.token, target.module.path())
        .map_err(|e| OpenError::find(e, "find token"))?;
    let session = ctx
        .open_ro_session_no_drop(slot)
        .map_err(|e| OpenError::ck(e, "open session"))?;
    target.metrics.add_sessions_open(1);
    let raw = RawSession {
        session: Some(session),
        generation: ready.generation(),
        module: Arc::clone(target.module),
        metrics: Arc::clone(target.metrics),
    };
    if let Err(e) = module::login(raw.get(), &pin.auth()) {
        let pin_refused = module::is_pin_refused(&e);
        return Err(OpenError {
            failure: if pin_refused {
                Failure::Session
            } else {
                classify(&e)
            },
            error: SignError::Login {
                token: target.token.to_owned(),
                reason: e.to_string(),
            },
            pin_refused,
        });
    }
    let key = module::find_object(
        raw.get(),
        ObjectClass::PRIVATE_KEY,
        target.selector,
        target.token,
    )
    .map_err(|e| OpenError::find(e, "find key"))?;
    let session = TokenSession { raw, key };
    drop(ready);
    Ok(Opened { session, slot })
}

/// What the signing loop needs to sign one request.
enum Input<'a> {
    Message(&'a [u8]),
    Digest(&'a [u8]),
}

/// Reconnection state, shared by the key's callers.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
    /// Re-initialise the module (it was at this generation when it failed).
    reinit_from: Option<u64>,
}

struct PinState {
    pin: Pin,
    /// The token refused `pin`: do not try it again (a real HSM locks the PIN after a few
    /// attempts); re-read the source and retry only if it changed.
    refused: bool,
}

/// A private key on a PKCS#11 token. See the [module documentation](self).
pub struct Pkcs11Key {
    label: String,
    token: String,
    selector: KeySelector,
    module: Arc<Module>,
    pin_source: PinSource,
    pin: Mutex<PinState>,
    kind: KeyKind,
    scheme: SignatureScheme,
    mechanisms: Mechanisms,
    spki_der: Vec<u8>,
    pool: SessionPool<TokenSession>,
    max_in_flight: usize,
    in_flight: AtomicUsize,
    acquire_timeout: Duration,
    backoff_min: Duration,
    backoff_max: Duration,
    backoff: Mutex<Backoff>,
    metrics: Arc<SignerMetrics>,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("label", &self.label)
            .field("token", &self.token)
            .field("key", &self.selector.to_string())
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

struct InFlight<'a>(&'a Pkcs11Key);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.add_in_flight(-1);
    }
}

impl Pkcs11Key {
    /// Opens the key: loads and initialises the module if this process has not yet, finds
    /// the token and the key, logs in, reads the public key and checks the token has the
    /// mechanism. Errors are precise ([`SignError::TokenNotFound`],
    /// [`SignError::KeyNotFound`], [`SignError::Login`], [`SignError::Pin`], ...).
    ///
    /// PKCS#11 login state belongs to the application, not the session: while another
    /// session of this process is logged in to the same token, the token accepts the login
    /// without checking the PIN (`CKR_USER_ALREADY_LOGGED_IN`), so a wrong PIN only shows
    /// when this is the first key opened on the token.
    pub fn open(config: &Pkcs11Config) -> Result<Self, SignError> {
        let selector = config.selector()?;
        if config.sessions == 0 || config.max_in_flight == 0 {
            return Err(SignError::InvalidConfig(
                "PKCS#11 sessions and max_in_flight must be at least 1".to_owned(),
            ));
        }
        let label = config.display_label(&selector);
        let pin = config.pin.read()?;
        let module = Module::shared(&config.module);
        let metrics = Arc::new(SignerMetrics::new("pkcs11", &label));
        let target = Target {
            module: &module,
            token: &config.token_label,
            selector: &selector,
            metrics: &metrics,
        };
        let Opened { session, slot } = open_session(&target, &pin).map_err(|e| e.error)?;

        let (token_key, mechanisms) = {
            let ready = module.ready()?;
            let key = keys::read_key(session.raw.get(), session.key, &config.token_label).map_err(
                |e| match e {
                    FindError::Config(e) => e,
                    FindError::Pkcs11(e) => SignError::Pkcs11 {
                        operation: "read key attributes".to_owned(),
                        reason: e.to_string(),
                    },
                },
            )?;
            let list = ready
                .ctx()
                .get_mechanism_list(slot)
                .map_err(|e| SignError::Pkcs11 {
                    operation: "list mechanisms".to_owned(),
                    reason: e.to_string(),
                })?;
            (key, Mechanisms::of(&list))
        };
        let TokenKey { kind, spki_der, .. } = token_key;
        let scheme = match kind {
            KeyKind::Ec(KeyAlgorithm::EcdsaP384) => SignatureScheme::EcdsaP384Sha384,
            KeyKind::Ec(_) => SignatureScheme::EcdsaP256Sha256,
            KeyKind::Rsa(bytes) if bytes < 256 => {
                return Err(SignError::Unsupported(format!(
                    "{label}: RSA-{} (Revoca signs with RSA of 2048 bits or more)",
                    bytes * 8
                )));
            }
            KeyKind::Rsa(_) if config.rsa_pss => SignatureScheme::RsaPssSha256,
            KeyKind::Rsa(_) => SignatureScheme::RsaPkcs1Sha256,
            KeyKind::Ed25519 => SignatureScheme::Ed25519,
        };
        mechanisms.check(scheme).map_err(|missing| {
            SignError::Unsupported(format!(
                "{label}: token {:?} has no {missing} mechanism for {}",
                config.token_label,
                scheme.name()
            ))
        })?;

        let pool = SessionPool::new(config.sessions);
        // Count the first session against the pool's capacity, then park it as idle.
        let far = Instant::now() + Duration::from_secs(1);
        if let Ok(Lease::Open) = pool.acquire(far, &metrics) {
            pool.release(session);
        }
        tracing::info!(key = %label, scheme = scheme.name(), "PKCS#11 key opened");
        Ok(Self {
            label,
            token: config.token_label.clone(),
            selector,
            module,
            pin_source: config.pin.clone(),
            pin: Mutex::new(PinState {
                pin,
                refused: false,
            }),
            kind,
            scheme,
            mechanisms,
            spki_der,
            pool,
            max_in_flight: config.max_in_flight,
            in_flight: AtomicUsize::new(0),
            acquire_timeout: config.acquire_timeout,
            backoff_min: config.reconnect_backoff_min,
            backoff_max: config
                .reconnect_backoff_max
                .max(config.reconnect_backoff_min),
            backoff: Mutex::new(Backoff::default()),
            metrics,
        })
    }

    /// This key's metrics (shared: clone the `Arc` to render them elsewhere).
    pub fn metrics(&self) -> &Arc<SignerMetrics> {
        &self.metrics
    }

    /// The kind of key, as Revoca names it (`None` for an RSA size Revoca does not
    /// generate, such as RSA-2560).
    pub fn algorithm(&self) -> Option<KeyAlgorithm> {
        self.kind.algorithm()
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> SignError {
        SignError::Unavailable {
            label: self.label.clone(),
            reason: reason.to_string(),
        }
    }

    /// The mechanism and the bytes to hand to `C_Sign`.
    fn prepare<'a>(
        &self,
        input: Input<'a>,
    ) -> Result<(Mechanism<'static>, Cow<'a, [u8]>), SignError> {
        use aws_lc_rs::digest::{SHA256, SHA384, digest};
        let hash = match self.scheme {
            SignatureScheme::EcdsaP384Sha384 => &SHA384,
            _ => &SHA256,
        };
        let digest_of = |input: Input<'a>| -> Result<Cow<'a, [u8]>, SignError> {
            match input {
                Input::Message(m) => Ok(Cow::Owned(digest(hash, m).as_ref().to_vec())),
                Input::Digest(d) if d.len() == hash.output_len() => Ok(Cow::Borrowed(d)),
                Input::Digest(d) => Err(SignError::Backend {
                    label: self.label.clone(),
                    reason: format!(
                        "digest is {} bytes; {} needs {}",
                        d.len(),
                        self.scheme.name(),
                        hash.output_len()
                    ),
                }),
            }
        };
        let m = self.mechanisms;
        let pss = PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32u64.into(),
        };
        Ok(match (self.scheme, input) {
            (SignatureScheme::EcdsaP256Sha256, Input::Message(msg)) if m.ecdsa_sha256 => {
                (Mechanism::EcdsaSha256, Cow::Borrowed(msg))
            }
            (SignatureScheme::EcdsaP384Sha384, Input::Message(msg)) if m.ecdsa_sha384 => {
                (Mechanism::EcdsaSha384, Cow::Borrowed(msg))
            }
            (SignatureScheme::EcdsaP256Sha256 | SignatureScheme::EcdsaP384Sha384, input) => {
                (Mechanism::Ecdsa, digest_of(input)?)
            }
            (SignatureScheme::RsaPkcs1Sha256, Input::Message(msg)) if m.sha256_rsa_pkcs => {
                (Mechanism::Sha256RsaPkcs, Cow::Borrowed(msg))
            }
            (SignatureScheme::RsaPkcs1Sha256, input) => {
                let mut info = keys::SHA256_DIGEST_INFO_PREFIX.to_vec();
                info.extend_from_slice(&digest_of(input)?);
                (Mechanism::RsaPkcs, Cow::Owned(info))
            }
            (SignatureScheme::RsaPssSha256, Input::Message(msg)) if m.sha256_rsa_pkcs_pss => {
                (Mechanism::Sha256RsaPkcsPss(pss), Cow::Borrowed(msg))
            }
            (SignatureScheme::RsaPssSha256, input) => {
                (Mechanism::RsaPkcsPss(pss), digest_of(input)?)
            }
            (SignatureScheme::Ed25519, Input::Message(msg)) => (
                Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                Cow::Borrowed(msg),
            ),
            (SignatureScheme::Ed25519, Input::Digest(_)) => {
                return Err(SignError::PrehashUnsupported {
                    label: self.label.clone(),
                });
            }
        })
    }

    fn finish(&self, raw: Vec<u8>) -> Result<Vec<u8>, SignError> {
        match self.kind.ec_scalar_len() {
            Some(len) => keys::ecdsa_raw_to_der(&raw, len).map_err(|reason| SignError::Backend {
                label: self.label.clone(),
                reason,
            }),
            None => Ok(raw),
        }
    }

    fn sign_input(&self, input: Input<'_>) -> Result<Vec<u8>, SignError> {
        let start = Instant::now();
        let result = self.sign_admitted(input, start);
        match &result {
            Ok(_) => self.metrics.observe_success(start.elapsed()),
            Err(e) => self.metrics.observe_error(e),
        }
        result
    }

    fn sign_admitted(&self, input: Input<'_>, start: Instant) -> Result<Vec<u8>, SignError> {
        let (mechanism, data) = self.prepare(input)?;
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(SignError::Overloaded {
                label: self.label.clone(),
                limit: self.max_in_flight,
            });
        }
        self.metrics.add_in_flight(1);
        let _in_flight = InFlight(self);

        let deadline = start + self.acquire_timeout;
        let mut last_error: Option<String> = None;
        let mut attempts = 0;
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) && Instant::now() >= deadline {
                return Err(self.unavailable(
                    last_error
                        .as_deref()
                        .unwrap_or("the module was re-initialised repeatedly while signing"),
                ));
            }
            let lease =
                self.pool
                    .acquire(deadline, &self.metrics)
                    .map_err(|_| SignError::Busy {
                        label: self.label.clone(),
                        waited: start.elapsed(),
                    })?;
            let session = match lease {
                Lease::Idle(session) => session,
                Lease::Open => match self.connect(deadline) {
                    Ok(session) => session,
                    Err(error) => {
                        self.pool.discard();
                        return Err(error);
                    }
                },
            };
            let generation = session.raw.generation;
            let result = match self.module.ready_at(generation) {
                // The module was re-initialised since this session was opened.
                None => None,
                Some(ready) => {
                    let result = session.raw.get().sign(&mechanism, session.key, &data);
                    drop(ready);
                    Some(result)
                }
            };
            let error = match result {
                None => {
                    drop(session);
                    self.pool.discard();
                    continue;
                }
                Some(Ok(raw)) => {
                    self.pool.release(session);
                    return self.finish(raw);
                }
                Some(Err(error)) => error,
            };
            match classify(&error) {
                Failure::Operation => {
                    self.pool.release(session);
                    return Err(SignError::Backend {
                        label: self.label.clone(),
                        reason: error.to_string(),
                    });
                }
                failure => {
                    drop(session);
                    self.pool.discard();
                    self.metrics.add_reconnect();
                    if failure == Failure::Module {
                        self.request_reinit(generation);
                    }
                    // Idle sessions most likely share the fate of this one (a logout or a
                    // reset hits every session of the application): retry on a fresh one.
                    drop(self.pool.drain_idle());
                    tracing::warn!(key = %self.label, error = %error, "PKCS#11 session failed; reconnecting");
                    attempts += 1;
                    if attempts >= 2 {
                        return Err(self.unavailable(&error));
                    }
                    last_error = Some(error.to_string());
                }
            }
        }
    }

    fn request_reinit(&self, generation: u64) {
        let mut backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
        backoff.reinit_from.get_or_insert(generation);
    }

    /// Opens a new session, or fails fast while the token is known to be down.
    fn connect(&self, deadline: Instant) -> Result<TokenSession, SignError> {
        let reinit_from = {
            let backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if let Some(at) = backoff.retry_at
                && now < at
            {
                return Err(self.unavailable(format_args!(
                    "{} (next reconnection attempt in {} ms)",
                    backoff.last_error,
                    (at - now).as_millis()
                )));
            }
            if backoff.failures > 0 {
                self.metrics.add_reconnect();
            }
            backoff.reinit_from
        };
        match self.try_connect(reinit_from, deadline) {
            Ok(session) => {
                let mut backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
                if backoff.failures > 0 {
                    tracing::info!(key = %self.label, "PKCS#11 token reachable again");
                }
                *backoff = Backoff::default();
                Ok(session)
            }
            Err(e) => {
                let mut backoff = self.backoff.lock().unwrap_or_else(PoisonError::into_inner);
                backoff.failures = backoff.failures.saturating_add(1);
                let factor = 1u32 << backoff.failures.saturating_sub(1).min(16);
                let delay = self
                    .backoff_min
                    .saturating_mul(factor)
                    .min(self.backoff_max);
                backoff.retry_at = Some(Instant::now() + delay);
                backoff.last_error = e.error.to_string();
                if e.failure == Failure::Module && backoff.reinit_from.is_none() {
                    backoff.reinit_from = Some(self.module.generation());
                }
                tracing::warn!(
                    key = %self.label,
                    error = %e.error,
                    retry_in_ms = delay.as_millis() as u64,
                    "PKCS#11 token unavailable"
                );
                Err(self.unavailable(&e.error))
            }
        }
    }

    fn try_connect(
        &self,
        reinit_from: Option<u64>,
        deadline: Instant,
    ) -> Result<TokenSession, OpenError> {
        if let Some(generation) = reinit_from {
            self.module
                .reinitialize(generation, deadline)
                .map_err(|error| OpenError {
                    error,
                    failure: Failure::Module,
                    pin_refused: false,
                })?;
            self.backoff
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .reinit_from = None;
        }
        let pin = {
            let mut state = self.pin.lock().unwrap_or_else(PoisonError::into_inner);
            if state.refused {
                let fresh = self.pin_source.read().map_err(|error| OpenError {
                    error,
                    failure: Failure::Session,
                    pin_refused: false,
                })?;
                if fresh == state.pin {
                    return Err(OpenError {
                        error: SignError::Login {
                            token: self.token.clone(),
                            reason: format!(
                                "the token refused the PIN from {}; not retrying until it changes",
                                self.pin_source.describe()
                            ),
                        },
                        failure: Failure::Session,
                        pin_refused: true,
                    });
                }
                state.pin = fresh;
                state.refused = false;
            }
            state.pin.clone()
        };
        let target = Target {
            module: &self.module,
            token: &self.token,
            selector: &self.selector,
            metrics: &self.metrics,
        };
        match open_session(&target, &pin) {
            Ok(opened) => Ok(opened.session),
            Err(e) => {
                if e.pin_refused {
                    self.pin
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .refused = true;
                }
                Err(e)
            }
        }
    }
}

impl Signer for Pkcs11Key {
    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_input(Input::Message(message))
    }

    /// ECDSA signs the digest with `CKM_ECDSA`; RSA PKCS#1 v1.5 with `CKM_RSA_PKCS` over
    /// the `DigestInfo`; PSS with `CKM_RSA_PKCS_PSS`. Ed25519 refuses with
    /// [`SignError::PrehashUnsupported`].
    fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        self.sign_input(Input::Digest(digest))
    }

    fn label(&self) -> &str {
        &self.label
    }
}

/// Opens a logged-in read-write session for a management operation and runs `op` in it,
/// holding the module's read lock throughout.
fn with_rw_session<R>(
    config: &Pkcs11Config,
    operation: &str,
    op: impl FnOnce(&Session) -> Result<R, SignError>,
) -> Result<R, SignError> {
    let pin = config.pin.read()?;
    let module = Module::shared(&config.module);
    let ready = module.ready()?;
    let pkcs11 = |e: CkError| SignError::Pkcs11 {
        operation: operation.to_owned(),
        reason: e.to_string(),
    };
    let slot =
        module::find_slot(ready.ctx(), &config.token_label, module.path()).map_err(
            |e| match e {
                FindError::Config(e) => e,
                FindError::Pkcs11(e) => pkcs11(e),
            },
        )?;
    let session = ready.ctx().open_rw_session(slot).map_err(pkcs11)?;
    module::login(&session, &pin.auth()).map_err(|e| SignError::Login {
        token: config.token_label.clone(),
        reason: e.to_string(),
    })?;
    let result = op(&session);
    drop(session);
    drop(ready);
    result
}

/// The path SoftHSM2 would use for its configuration under `dir` (helper for callers that
/// export `SOFTHSM2_CONF`).
pub fn softhsm_conf_path(dir: &Path) -> PathBuf {
    dir.join(SOFTHSM2_CONF_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_never_in_debug_or_errors() {
        let config = Pkcs11Config::new("tok", "key", PinSource::literal("s3cret-4711"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret-4711"), "{debug}");
        assert!(debug.contains("Literal(<redacted>)"), "{debug}");
        assert!(!format!("{:?}", Pin::new("s3cret-4711")).contains("s3cret"));

        let err = PinSource::Env("REVOCA_TEST_PIN_NOT_SET_ANYWHERE".into())
            .read()
            .unwrap_err();
        assert_eq!(err.kind(), "pin");
        assert!(err.to_string().contains("REVOCA_TEST_PIN_NOT_SET_ANYWHERE"));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pin");
        std::fs::write(&file, "s3cret-4711\r\nignored\n").unwrap();
        let pin = PinSource::File(file.clone()).read().unwrap();
        assert_eq!(pin, Pin::new("s3cret-4711"));
        std::fs::write(&file, "\n").unwrap();
        let err = PinSource::File(file).read().unwrap_err();
        assert!(err.to_string().ends_with("empty"), "{err}");
        let err = PinSource::File(dir.path().join("missing"))
            .read()
            .unwrap_err();
        assert!(!format!("{err:?}").contains("s3cret"));
    }

    #[test]
    fn config_needs_a_selector() {
        let mut config = Pkcs11Config::new("tok", "key", PinSource::literal("1234"));
        config.key_label = None;
        assert!(matches!(
            Pkcs11Key::open(&config),
            Err(SignError::InvalidConfig(_))
        ));
        config.key_id = Some(vec![0xab]);
        assert_eq!(
            config.display_label(&config.selector().unwrap()),
            "pkcs11:tok/ab"
        );
    }

    #[test]
    fn missing_module_is_a_precise_error() {
        let mut config = Pkcs11Config::new("tok", "key", PinSource::literal("1234"));
        config.module = PathBuf::from("/nonexistent/libpkcs11-module.so");
        let err = Pkcs11Key::open(&config).unwrap_err();
        assert!(matches!(err, SignError::Module { .. }), "{err}");
        assert!(!err.to_string().contains("1234"));
    }
}

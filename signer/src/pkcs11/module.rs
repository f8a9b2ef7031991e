//! The process-wide PKCS#11 module registry.
//!
//! A PKCS#11 module is initialised once per process (`C_Initialize` a second time answers
//! `CKR_CRYPTOKI_ALREADY_INITIALIZED`, and `C_Finalize` closes every session of every
//! user), so all keys on one module share one [`Module`]. Its read-write lock is held for
//! reading around every call into the module and for writing only to (re-)initialise it, so
//! a `C_Finalize` never races a `C_Sign` on another thread.
//!
//! Sessions remember the module *generation* they were opened in: after a
//! re-initialisation, old sessions are stale and are dropped without `C_CloseSession`
//! (their handle numbers may have been reused by new sessions).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, TryLockError};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::ObjectHandle;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use crate::SignError;

/// How a PKCS#11 failure affects the session and the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The operation failed but the session is fine (bad data, unsupported mechanism).
    Operation,
    /// The session is unusable (closed, logged out, stale handles): open another.
    Session,
    /// The module or token is unusable (removed, device error, not initialised):
    /// re-initialise the module before opening sessions again.
    Module,
}

/// Classifies a cryptoki error.
pub(crate) fn classify(error: &CkError) -> Failure {
    match error {
        CkError::Pkcs11(rv, _) => match rv {
            RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::SessionCount
            | RvError::UserNotLoggedIn
            | RvError::KeyHandleInvalid
            | RvError::ObjectHandleInvalid
            | RvError::OperationActive
            | RvError::OperationNotInitialized
            | RvError::FunctionFailed => Failure::Session,
            RvError::DeviceRemoved
            | RvError::DeviceError
            | RvError::DeviceMemory
            | RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::SlotIdInvalid
            | RvError::CryptokiNotInitialized
            | RvError::GeneralError
            | RvError::HostMemory => Failure::Module,
            _ => Failure::Operation,
        },
        CkError::LibraryLoading(_) | CkError::NullFunctionPointer | CkError::MissingSymbol(_) => {
            Failure::Module
        }
        _ => Failure::Operation,
    }
}

/// The mutable part of a [`Module`].
#[derive(Debug)]
pub(crate) struct ModuleState {
    /// The initialised context, or `None` before the first successful initialisation (or
    /// after a failed re-initialisation).
    pub(crate) ctx: Option<Pkcs11>,
    /// Bumped by every `C_Finalize`; sessions from older generations are stale.
    pub(crate) generation: u64,
}

/// One PKCS#11 module (shared library), shared by every key of the process that uses it.
#[derive(Debug)]
pub(crate) struct Module {
    path: PathBuf,
    state: RwLock<ModuleState>,
}

/// A read guard on an initialised module.
pub(crate) struct Ready<'a> {
    guard: RwLockReadGuard<'a, ModuleState>,
}

impl Ready<'_> {
    /// The initialised context.
    pub(crate) fn ctx(&self) -> &Pkcs11 {
        // `Module::ready` only builds a `Ready` when `ctx` is `Some`.
        self.guard
            .ctx
            .as_ref()
            .expect("Ready is only built around an initialised module")
    }

    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        self.guard.generation
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<Module>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    MODULES.get_or_init(Default::default)
}

impl Module {
    /// The process-wide handle for the module at `path` (not loaded until first used).
    pub(crate) fn shared(path: &Path) -> Arc<Module> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut modules = registry().lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(modules.entry(key).or_insert_with(|| {
            Arc::new(Module {
                path: path.to_path_buf(),
                state: RwLock::new(ModuleState {
                    ctx: None,
                    generation: 0,
                }),
            })
        }))
    }

    /// The module path as configured.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn module_error(&self, reason: impl std::fmt::Display) -> SignError {
        SignError::Module {
            module: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, ModuleState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Loads and initialises the module if needed and returns a read guard on it. Hold the
    /// guard for the duration of the PKCS#11 calls, and no longer.
    pub(crate) fn ready(&self) -> Result<Ready<'_>, SignError> {
        {
            let guard = self.read();
            if guard.ctx.is_some() {
                return Ok(Ready { guard });
            }
        }
        {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            if state.ctx.is_none() {
                state.ctx = Some(self.load()?);
            }
        }
        let guard = self.read();
        match guard.ctx {
            Some(_) => Ok(Ready { guard }),
            // Someone finalised it in between and failed to initialise it again.
            None => Err(self.module_error("module is being re-initialised")),
        }
    }

    /// A read guard if the module is initialised and still at `generation`.
    pub(crate) fn ready_at(&self, generation: u64) -> Option<Ready<'_>> {
        let guard = self.read();
        (guard.ctx.is_some() && guard.generation == generation).then_some(Ready { guard })
    }

    /// The current generation.
    pub(crate) fn generation(&self) -> u64 {
        self.read().generation
    }

    /// Whether a session from `generation` is still valid (without blocking: `false` when
    /// the module is being re-initialised).
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        match self.state.try_read() {
            Ok(guard) => guard.ctx.is_some() && guard.generation == generation,
            Err(TryLockError::Poisoned(p)) => {
                let guard = p.into_inner();
                guard.ctx.is_some() && guard.generation == generation
            }
            Err(TryLockError::WouldBlock) => false,
        }
    }

    fn load(&self) -> Result<Pkcs11, SignError> {
        let ctx = Pkcs11::new(&self.path).map_err(|e| self.module_error(e))?;
        initialize(&ctx).map_err(|e| self.module_error(e))?;
        tracing::debug!(module = %self.path.display(), "PKCS#11 module initialised");
        Ok(ctx)
    }

    /// `C_Finalize` then `C_Initialize`, unless the module was already re-initialised since
    /// `seen_generation`. Waits for in-progress calls on other threads to finish, until
    /// `deadline` at most.
    pub(crate) fn reinitialize(
        &self,
        seen_generation: u64,
        deadline: Instant,
    ) -> Result<(), SignError> {
        let mut state = loop {
            match self.state.try_write() {
                Ok(state) => break state,
                Err(TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(self.module_error(
                            "could not re-initialise: PKCS#11 calls still in progress",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        if state.generation != seen_generation && state.ctx.is_some() {
            return Ok(());
        }
        if let Some(ctx) = state.ctx.take()
            && let Err(e) = ctx.finalize()
        {
            tracing::debug!(module = %self.path.display(), error = %e, "C_Finalize failed");
        }
        state.generation += 1;
        tracing::warn!(
            module = %self.path.display(),
            generation = state.generation,
            "re-initialising PKCS#11 module after a token error"
        );
        state.ctx = Some(self.load()?);
        Ok(())
    }
}

fn initialize(ctx: &Pkcs11) -> Result<(), CkError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The slot holding the token labelled `label` (exactly one must match).
pub(crate) fn find_slot(ctx: &Pkcs11, label: &str, module: &Path) -> Result<Slot, FindError> {
    let mut found = None;
    for slot in ctx.get_slots_with_token().map_err(FindError::Pkcs11)? {
        let info = match ctx.get_token_info(slot) {
            Ok(info) => info,
            // A slot whose token disappeared between the two calls.
            Err(_) => continue,
        };
        if info.label().trim_end() == label && info.token_initialized() {
            if found.is_some() {
                return Err(FindError::Config(SignError::InvalidConfig(format!(
                    "more than one token labelled {label:?} in {}",
                    module.display()
                ))));
            }
            found = Some(slot);
        }
    }
    found.ok_or_else(|| {
        FindError::Config(SignError::TokenNotFound {
            token: label.to_owned(),
            module: module.display().to_string(),
        })
    })
}

/// A lookup failure: a PKCS#11 error (classified by the caller) or a precise
/// configuration error (no such token or key).
#[derive(Debug)]
pub(crate) enum FindError {
    /// The module or token answered with an error.
    Pkcs11(CkError),
    /// The token or key does not exist, or the selector is ambiguous.
    Config(SignError),
}

impl From<CkError> for FindError {
    fn from(e: CkError) -> Self {
        Self::Pkcs11(e)
    }
}

impl std::fmt::Display for FindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pkcs11(e) => e.fmt(f),
            Self::Config(e) => e.fmt(f),
        }
    }
}

/// Logs `session` in as the normal user. Login state is per application and token, so
/// "already logged in" (another session did it) is success.
pub(crate) fn login(session: &Session, pin: &AuthPin) -> Result<(), CkError> {
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a login error means the PIN itself was refused (retrying would only risk
/// locking the token).
pub(crate) fn is_pin_refused(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::PinIncorrect
                | RvError::PinInvalid
                | RvError::PinLenRange
                | RvError::PinLocked
                | RvError::PinExpired,
            _
        )
    )
}

/// A private key selector, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeySelector {
    pub(crate) label: Option<String>,
    pub(crate) id: Option<Vec<u8>>,
}

impl std::fmt::Display for KeySelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.label, &self.id) {
            (Some(label), Some(id)) => write!(f, "label {label:?} id {}", hex::encode(id)),
            (Some(label), None) => write!(f, "label {label:?}"),
            (None, Some(id)) => write!(f, "id {}", hex::encode(id)),
            (None, None) => f.write_str("(no selector)"),
        }
    }
}

/// Finds the one object of class `class` matching `selector`.
pub(crate) fn find_object(
    session: &Session,
    class: cryptoki::object::ObjectClass,
    selector: &KeySelector,
    token: &str,
) -> Result<ObjectHandle, FindError> {
    use cryptoki::object::Attribute;
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &selector.label {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &selector.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session.find_objects(&template)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(FindError::Config(SignError::KeyNotFound {
            token: token.to_owned(),
            key: selector.to_string(),
        })),
        many => Err(FindError::Config(SignError::AmbiguousKey {
            token: token.to_owned(),
            key: selector.to_string(),
            count: many.len(),
        })),
    }
}

//! Errors from loading keys and from signing.

/// Why a key could not be loaded or a signature could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Io {
        /// The file that was being read.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The key material was not a PEM or DER private key Revoca understands.
    #[error("key {what} rejected: {reason}")]
    KeyRejected {
        /// Which key (a file name or label).
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The key is of a kind or size Revoca does not sign with.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The backend failed to produce a signature.
    #[error("signing with {label} failed: {reason}")]
    Backend {
        /// The key's label.
        label: String,
        /// What the backend reported.
        reason: String,
    },
    /// The signing pool has been closed (the process is shutting down).
    #[error("signing pool closed")]
    PoolClosed,
    /// The key cannot sign a precomputed digest ([`crate::Signer::sign_digest`]); the caller
    /// must pass the whole message to [`crate::Signer::sign`] instead.
    #[error("key {label} cannot sign a precomputed digest")]
    PrehashUnsupported {
        /// The key's label.
        label: String,
    },
    /// A key or token configuration is unusable (for example a PKCS#11 key with neither a
    /// label nor an id).
    #[error("invalid signer configuration: {0}")]
    InvalidConfig(String),
    /// The PIN of a PKCS#11 token could not be obtained. The message names where the PIN
    /// was looked for, never the PIN itself.
    #[error("cannot read the PKCS#11 PIN from {from}: {reason}")]
    Pin {
        /// Where the PIN was read from (`file /path` or `environment variable NAME`).
        from: String,
        /// What went wrong.
        reason: String,
    },
    /// The PKCS#11 module (shared library) could not be loaded or initialised.
    #[error("PKCS#11 module {module}: {reason}")]
    Module {
        /// The module path.
        module: String,
        /// What the loader or `C_Initialize` reported.
        reason: String,
    },
    /// No token with the configured label is present in the module.
    #[error("no PKCS#11 token labelled {token:?} in module {module}")]
    TokenNotFound {
        /// The token label looked for.
        token: String,
        /// The module path.
        module: String,
    },
    /// The token refused to log in (wrong, locked or expired PIN).
    #[error("login to PKCS#11 token {token:?} failed: {reason}")]
    Login {
        /// The token label.
        token: String,
        /// What the token reported (never the PIN).
        reason: String,
    },
    /// No private key on the token matches the configured label or id.
    #[error("no private key {key} on PKCS#11 token {token:?}")]
    KeyNotFound {
        /// The token label.
        token: String,
        /// The key selector (`label "x"`, `id 0a0b`).
        key: String,
    },
    /// More than one private key matches the configured label or id.
    #[error("{count} private keys match {key} on PKCS#11 token {token:?}: configure a unique id")]
    AmbiguousKey {
        /// The token label.
        token: String,
        /// The key selector.
        key: String,
        /// How many keys matched.
        count: usize,
    },
    /// Key generation refused to overwrite: an object with this label already exists.
    #[error("an object labelled {label:?} already exists on PKCS#11 token {token:?}")]
    KeyExists {
        /// The token label.
        token: String,
        /// The key label.
        label: String,
    },
    /// Token initialisation refused: a token with this label already exists.
    #[error("a PKCS#11 token labelled {0:?} already exists")]
    TokenExists(String),
    /// A PKCS#11 management operation (key generation, listing, token initialisation)
    /// failed.
    #[error("PKCS#11 {operation} failed: {reason}")]
    Pkcs11 {
        /// The operation (`generate key pair`, `init token`, ...).
        operation: String,
        /// What the token reported.
        reason: String,
    },
    /// SoftHSM2 reads its configuration from the `SOFTHSM2_CONF` environment variable when
    /// the module is initialised; it must name the expected file.
    #[error(
        "SOFTHSM2_CONF must be {expected} when the SoftHSM2 module is loaded (it is {actual}): \
         run with `SOFTHSM2_CONF={expected}` in the environment"
    )]
    SoftHsmConf {
        /// The configuration file that should be used.
        expected: String,
        /// The current value, or `unset`.
        actual: String,
    },
    /// The token is unavailable (removed, reset, logged out, or reconnecting after an error).
    /// Signing recovers by itself once the token is back; retry later.
    #[error("signing with {label}: token unavailable: {reason}")]
    Unavailable {
        /// The key's label.
        label: String,
        /// The last error seen from the token.
        reason: String,
    },
    /// Back-pressure: no session became free within the configured wait.
    #[error("signing with {label}: no PKCS#11 session free within {waited:?}")]
    Busy {
        /// The key's label.
        label: String,
        /// How long the caller waited.
        waited: std::time::Duration,
    },
    /// Back-pressure: the configured number of signatures is already in flight.
    #[error("signing with {label}: {limit} signatures already in flight")]
    Overloaded {
        /// The key's label.
        label: String,
        /// The configured limit.
        limit: usize,
    },
}

impl SignError {
    /// Every value [`SignError::kind`] can return, in a fixed order (for metrics).
    pub const KINDS: [&'static str; 20] = [
        "io",
        "key_rejected",
        "unsupported",
        "backend",
        "pool_closed",
        "prehash_unsupported",
        "invalid_config",
        "pin",
        "module",
        "token_not_found",
        "login",
        "key_not_found",
        "ambiguous_key",
        "key_exists",
        "token_exists",
        "pkcs11",
        "softhsm_conf",
        "unavailable",
        "busy",
        "overloaded",
    ];

    /// A short, stable name for the kind of error, for metrics labels
    /// (`sign_errors_total{kind="busy"}`) and logs. One of [`SignError::KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::KeyRejected { .. } => "key_rejected",
            Self::Unsupported(_) => "unsupported",
            Self::Backend { .. } => "backend",
            Self::PoolClosed => "pool_closed",
            Self::PrehashUnsupported { .. } => "prehash_unsupported",
            Self::InvalidConfig(_) => "invalid_config",
            Self::Pin { .. } => "pin",
            Self::Module { .. } => "module",
            Self::TokenNotFound { .. } => "token_not_found",
            Self::Login { .. } => "login",
            Self::KeyNotFound { .. } => "key_not_found",
            Self::AmbiguousKey { .. } => "ambiguous_key",
            Self::KeyExists { .. } => "key_exists",
            Self::TokenExists(_) => "token_exists",
            Self::Pkcs11 { .. } => "pkcs11",
            Self::SoftHsmConf { .. } => "softhsm_conf",
            Self::Unavailable { .. } => "unavailable",
            Self::Busy { .. } => "busy",
            Self::Overloaded { .. } => "overloaded",
        }
    }

    /// Whether the error is transient: the same request may succeed later (the token is
    /// reconnecting, or the signer is saturated).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Busy { .. } | Self::Overloaded { .. }
        )
    }
}

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
}

//! Errors from building a CRL.

use revoca_signer::SignError;
use revoca_status::{RevocationReason, Serial};

/// Why a CRL could not be built. When [`crate::write_crl`] fails, whatever it already
/// wrote to its writer is not a valid CRL and must be discarded (publish through a
/// temporary file and rename only on success).
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    /// A parameter cannot be encoded or breaks RFC 5280 (empty IDP, empty AKI, ...).
    #[error("invalid CRL parameters: {0}")]
    InvalidParams(String),
    /// A time outside 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z.
    #[error("{what} {value} is outside the years 0001-9999 a CRL can carry")]
    TimeOutOfRange {
        /// Which field.
        what: &'static str,
        /// The Unix time given.
        value: i64,
    },
    /// Entries must come in strictly ascending serial order (this also rules out a serial
    /// appearing twice).
    #[error("CRL entry {index} (serial {serial}) is not above the previous serial")]
    NotAscending {
        /// Zero-based position in the source.
        index: u64,
        /// The offending serial.
        serial: Serial,
    },
    /// An entry of a CRL listing CA certificates has no reason (BR 7.2.2: CA entries
    /// always carry a reasonCode).
    #[error("CRL entry for serial {serial} has no reason; CA certificate entries need one")]
    MissingReason {
        /// The serial.
        serial: Serial,
    },
    /// A reason that cannot appear on this CRL (removeFromCRL belongs to delta CRLs).
    #[error("reason {reason} cannot appear on a full or partitioned CRL (serial {serial})")]
    ReasonNotAllowed {
        /// The serial.
        serial: Serial,
        /// The reason.
        reason: RevocationReason,
    },
    /// The entry source yielded different entries on a later pass than on the first one,
    /// so the signature or the lengths would not match the bytes.
    #[error(
        "the CRL entry source changed between passes; the output is invalid and must be \
         discarded"
    )]
    SourceChanged,
    /// The entry source failed (e.g. a store read).
    #[error("reading CRL entries: {0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// The CRL would be larger than this machine can address.
    #[error("the CRL is too large to encode")]
    TooLarge,
    /// The signer failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// Writing the CRL failed.
    #[error("writing the CRL: {0}")]
    Io(#[from] std::io::Error),
}

impl CrlError {
    /// Wraps an entry source's own error (for [`crate::EntrySource`] implementations).
    pub fn from_source<E: Into<Box<dyn std::error::Error + Send + Sync>>>(error: E) -> Self {
        Self::Source(error.into())
    }
}

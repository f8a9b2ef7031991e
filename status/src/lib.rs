//! The status domain of Revoca: who issued what (issuers, serials), what state each
//! certificate is in, the events that change that state, and the in-memory status index
//! that the responder reads on every request.
//!
//! This crate does no I/O. The index is lock-free for readers: a request never waits for a
//! writer (papaya's epoch-protected hash map).

#![forbid(unsafe_code)]

pub mod event;
pub mod index;
pub mod issuer;
pub mod reason;
pub mod record;
pub mod serial;

pub use event::{Event, EventDecodeError, EventKind};
pub use index::{
    CertKey, ChunkError, IndexEntry, Presigned, PresignedChunk, PresignedChunkBuilder,
    RecordUpdate, StatusIndex,
};
pub use issuer::{HashAlgorithm, IssuerHashes, IssuerId};
pub use reason::RevocationReason;
pub use record::{Applied, CertRecord, CertState, TransitionError};
pub use serial::{Serial, SerialError};

/// Seconds since the Unix epoch, UTC. Every time in the domain is whole seconds, as in
/// OCSP and CRLs (GeneralizedTime without fractions).
pub type UnixTime = i64;

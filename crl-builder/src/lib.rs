//! Revoca's CRL builder: v2 CRLs (RFC 5280 §5) for full, partitioned and authority
//! revocation lists, encoded straight from an entry source into DER and signed over the
//! streamed TBS bytes, so a 10-million-entry CRL needs no more memory than a 64 KiB chunk.
//!
//! * [`write_crl`] / [`encode_crl_to_vec`]: the encoder (see [`crl`] for the passes and
//!   the entry rules).
//! * [`numbers`]: CRL numbers below 2^159 and a persistent, strictly increasing sequence.
//! * [`partition`]: status records → sorted entries per partition.
//! * [`schedule`]: validity and period limits (BR, ACCV).
//!
//! Every CRL carries version v2, the signer's AlgorithmIdentifier (in the TBS and outside),
//! the issuer name exactly as given, thisUpdate and nextUpdate (UTCTime through 2049,
//! GeneralizedTime from 2050), the revoked certificates in ascending serial order (the
//! list is absent when empty), and the extensions authorityKeyIdentifier, cRLNumber and,
//! for partitions and ARLs, a critical issuingDistributionPoint.
//!
//! ```
//! use revoca_crl_builder::{CrlEntry, CrlNumber, CrlParams, IssuingDistributionPoint, write_crl};
//! use revoca_signer::{KeyAlgorithm, SoftwareKey};
//! use revoca_status::{RevocationReason, Serial};
//!
//! let key = SoftwareKey::from_pkcs8_der(
//!     &SoftwareKey::generate_pkcs8(KeyAlgorithm::EcdsaP256).unwrap(), "ca").unwrap();
//! // SEQUENCE { SET { SEQUENCE { OID commonName, UTF8String "CA" } } }
//! let issuer = [0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03,
//!               0x0c, 0x02, b'C', b'A'];
//! let uris = ["http://crl.example/CRL7.crl"];
//! let params = CrlParams {
//!     idp: Some(IssuingDistributionPoint::new(&uris)),
//!     ..CrlParams::new(&issuer, &[0x42; 20], CrlNumber::from(7), 1_700_000_000,
//!                      1_700_000_000 + 7 * 86_400)
//! };
//! let entries = vec![CrlEntry {
//!     serial: Serial::from_hex("1234").unwrap(),
//!     revocation_time: 1_699_990_000,
//!     reason: Some(RevocationReason::KeyCompromise),
//!     invalidity_date: None,
//! }];
//! let mut der = Vec::new();
//! let summary = write_crl(&mut der, &params, &entries, &key).unwrap();
//! assert_eq!(summary.entries, 1);
//! assert_eq!(summary.bytes, der.len() as u64);
//! ```

//! # Performance
//!
//! Measured on the development VM (2 vCPUs with SHA extensions, other jobs running),
//! release build, P-256 key, 16-octet serials, entries from a vector, output discarded
//! (`examples/crl_scale.rs`, `benches/crl.rs`): 1 000 000 entries (48 MB) build and sign in
//! about 0.20–0.24 s and 10 000 000 entries (482 MB) in about 2.0–2.5 s; writing to a file
//! adds little. Peak resident memory is the entry vector plus a 64 KiB chunk (1.0 × the
//! CRL with a vector source, a few MB with a generating source).
//! [`encode_crl_to_vec`] adds the CRL itself. The buffered path (Ed25519) holds the TBS:
//! about 2 × the CRL with a vector source.

#![forbid(unsafe_code)]

pub mod crl;
mod der;
mod error;
pub mod numbers;
pub mod partition;
pub mod publish;
pub mod schedule;
mod time;

pub use crl::{
    CrlEntry, CrlParams, CrlSummary, EntrySource, FnSource, IssuingDistributionPoint, SigningMode,
    encode_crl_to_vec, write_crl,
};
pub use error::CrlError;
pub use numbers::{CrlNumber, CrlNumberError, CrlNumberStore};
pub use partition::{
    GroupOptions, Grouped, PartitionGrouper, PartitionPlan, entry_for, group_entries,
};
pub use schedule::{Schedule, ScheduleError, SchedulePolicy, validate_schedule};

/// Seconds since the Unix epoch, UTC (as in `revoca_status`).
pub type UnixTime = revoca_status::UnixTime;

/// The earliest time a CRL can carry (0001-01-01T00:00:00Z).
pub const MIN_TIME: UnixTime = time::MIN_TIME;
/// The latest time a CRL can carry (9999-12-31T23:59:59Z).
pub const MAX_TIME: UnixTime = time::MAX_TIME;

#[cfg(test)]
mod tests;

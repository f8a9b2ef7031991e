//! Life-cycle events of the revocation stream and their versioned binary encoding.
//!
//! An event names its issuer by the SHA-256 of the issuer's public key (not by a local
//! number), so a log can be replayed on another node with another configuration order.

use crate::UnixTime;
use crate::reason::RevocationReason;
use crate::serial::{MAX_SERIAL_LEN, Serial};

/// The encoding version written by this build.
pub const EVENT_FORMAT_VERSION: u8 = 1;

/// The largest encoded event (bounded so that a decoder can refuse hostile input early).
pub const MAX_EVENT_LEN: usize = 256;

/// One event of the revocation stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// SHA-256 of the issuer's subjectPublicKey bits.
    pub issuer_key_sha256: [u8; 32],
    /// The certificate's serial.
    pub serial: Serial,
    /// When the CA recorded the event.
    pub at: UnixTime,
    /// What happened.
    pub kind: EventKind,
}

/// What happened to a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The serial was assigned: a certificate or precertificate was signed.
    Issued {
        /// notAfter of the certificate.
        not_after: UnixTime,
        /// Assigned by a precertificate.
        precertificate: bool,
        /// The CRL partition in its distribution point, if partitioned.
        crl_partition: Option<u32>,
        /// SHA-256 of the certificate's SubjectPublicKeyInfo (for key-compromise sweeps).
        spki_sha256: Option<[u8; 32]>,
    },
    /// Revoked (final).
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When the key was compromised or the certificate became invalid, if known.
        invalidity_date: Option<UnixTime>,
    },
    /// Suspended.
    Held,
    /// Suspension lifted.
    Released,
    /// The reason of a revoked certificate changed (e.g. to keyCompromise).
    ReasonUpdated {
        /// The new reason.
        reason: RevocationReason,
        /// When the key was compromised, if known.
        invalidity_date: Option<UnixTime>,
    },
}

impl EventKind {
    /// A stable name for logs and the admin API.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Issued {
                precertificate: true,
                ..
            } => "precertificate-issued",
            Self::Issued { .. } => "issued",
            Self::Revoked { .. } => "revoked",
            Self::Held => "held",
            Self::Released => "released",
            Self::ReasonUpdated { .. } => "reason-updated",
        }
    }
}

/// Why bytes are not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    /// The input ended early.
    #[error("event record is truncated")]
    Truncated,
    /// Bytes follow the event.
    #[error("event record has {0} trailing bytes")]
    TrailingBytes(usize),
    /// Longer than [`MAX_EVENT_LEN`].
    #[error("event record is {0} bytes; at most {MAX_EVENT_LEN} are allowed")]
    TooLong(usize),
    /// Written by a newer build.
    #[error("event format version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u8),
    /// Unknown kind tag.
    #[error("unknown event kind {0}")]
    UnknownKind(u8),
    /// Bad serial.
    #[error("bad serial: {0}")]
    Serial(#[from] crate::serial::SerialError),
    /// Unknown reason code.
    #[error("unknown revocation reason code {0}")]
    UnknownReason(u8),
    /// A flag byte with undefined bits.
    #[error("undefined flag bits {0:#04x}")]
    UndefinedFlags(u8),
}

const KIND_ISSUED: u8 = 1;
const KIND_REVOKED: u8 = 2;
const KIND_HELD: u8 = 3;
const KIND_RELEASED: u8 = 4;
const KIND_REASON_UPDATED: u8 = 5;

const FLAG_PRECERT: u8 = 0x01;
const FLAG_PARTITION: u8 = 0x02;
const FLAG_SPKI: u8 = 0x04;
const FLAG_INVALIDITY: u8 = 0x01;

impl Event {
    /// Encodes the event (format version 1):
    /// `version u8 | kind u8 | issuer_key_sha256 [32] | serial_len u8 | serial | at i64 BE | body`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.push(EVENT_FORMAT_VERSION);
        out.push(match self.kind {
            EventKind::Issued { .. } => KIND_ISSUED,
            EventKind::Revoked { .. } => KIND_REVOKED,
            EventKind::Held => KIND_HELD,
            EventKind::Released => KIND_RELEASED,
            EventKind::ReasonUpdated { .. } => KIND_REASON_UPDATED,
        });
        out.extend_from_slice(&self.issuer_key_sha256);
        let serial = self.serial.as_der_content();
        out.push(serial.len() as u8);
        out.extend_from_slice(serial);
        out.extend_from_slice(&self.at.to_be_bytes());
        match self.kind {
            EventKind::Issued {
                not_after,
                precertificate,
                crl_partition,
                spki_sha256,
            } => {
                let mut flags = 0;
                if precertificate {
                    flags |= FLAG_PRECERT;
                }
                if crl_partition.is_some() {
                    flags |= FLAG_PARTITION;
                }
                if spki_sha256.is_some() {
                    flags |= FLAG_SPKI;
                }
                out.extend_from_slice(&not_after.to_be_bytes());
                out.push(flags);
                if let Some(p) = crl_partition {
                    out.extend_from_slice(&p.to_be_bytes());
                }
                if let Some(h) = spki_sha256 {
                    out.extend_from_slice(&h);
                }
            }
            EventKind::Revoked {
                reason,
                invalidity_date,
            }
            | EventKind::ReasonUpdated {
                reason,
                invalidity_date,
            } => {
                out.push(reason.code());
                match invalidity_date {
                    Some(t) => {
                        out.push(FLAG_INVALIDITY);
                        out.extend_from_slice(&t.to_be_bytes());
                    }
                    None => out.push(0),
                }
            }
            EventKind::Held | EventKind::Released => {}
        }
        out
    }

    /// Decodes an event written by [`Event::encode`]; refuses anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, EventDecodeError> {
        if bytes.len() > MAX_EVENT_LEN {
            return Err(EventDecodeError::TooLong(bytes.len()));
        }
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != EVENT_FORMAT_VERSION {
            return Err(EventDecodeError::UnsupportedVersion(version));
        }
        let tag = r.u8()?;
        let issuer_key_sha256 = r.array::<32>()?;
        let serial_len = r.u8()? as usize;
        if serial_len > MAX_SERIAL_LEN {
            return Err(crate::serial::SerialError::TooLong(serial_len).into());
        }
        let serial = Serial::from_der_content(r.take(serial_len)?)?;
        let at = r.i64()?;
        let kind = match tag {
            KIND_ISSUED => {
                let not_after = r.i64()?;
                let flags = r.u8()?;
                if flags & !(FLAG_PRECERT | FLAG_PARTITION | FLAG_SPKI) != 0 {
                    return Err(EventDecodeError::UndefinedFlags(flags));
                }
                let crl_partition = if flags & FLAG_PARTITION != 0 {
                    Some(u32::from_be_bytes(r.array::<4>()?))
                } else {
                    None
                };
                let spki_sha256 = if flags & FLAG_SPKI != 0 {
                    Some(r.array::<32>()?)
                } else {
                    None
                };
                EventKind::Issued {
                    not_after,
                    precertificate: flags & FLAG_PRECERT != 0,
                    crl_partition,
                    spki_sha256,
                }
            }
            KIND_REVOKED | KIND_REASON_UPDATED => {
                let code = r.u8()?;
                let reason = RevocationReason::from_code(code)
                    .ok_or(EventDecodeError::UnknownReason(code))?;
                let flags = r.u8()?;
                if flags & !FLAG_INVALIDITY != 0 {
                    return Err(EventDecodeError::UndefinedFlags(flags));
                }
                let invalidity_date = if flags & FLAG_INVALIDITY != 0 {
                    Some(r.i64()?)
                } else {
                    None
                };
                if tag == KIND_REVOKED {
                    EventKind::Revoked {
                        reason,
                        invalidity_date,
                    }
                } else {
                    EventKind::ReasonUpdated {
                        reason,
                        invalidity_date,
                    }
                }
            }
            KIND_HELD => EventKind::Held,
            KIND_RELEASED => EventKind::Released,
            other => return Err(EventDecodeError::UnknownKind(other)),
        };
        if !r.0.is_empty() {
            return Err(EventDecodeError::TrailingBytes(r.0.len()));
        }
        Ok(Event {
            issuer_key_sha256,
            serial,
            at,
            kind,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EventDecodeError> {
        if self.0.len() < n {
            return Err(EventDecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], EventDecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, EventDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn i64(&mut self) -> Result<i64, EventDecodeError> {
        Ok(i64::from_be_bytes(self.array::<8>()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Event> {
        let serial = Serial::from_hex("7a0b0c0d0e0f10111213141516171819").unwrap();
        let base = |kind| Event {
            issuer_key_sha256: [7; 32],
            serial,
            at: 1_700_000_000,
            kind,
        };
        vec![
            base(EventKind::Issued {
                not_after: 1_800_000_000,
                precertificate: true,
                crl_partition: Some(17),
                spki_sha256: Some([9; 32]),
            }),
            base(EventKind::Issued {
                not_after: 1_800_000_000,
                precertificate: false,
                crl_partition: None,
                spki_sha256: None,
            }),
            base(EventKind::Revoked {
                reason: RevocationReason::KeyCompromise,
                invalidity_date: Some(1_699_999_000),
            }),
            base(EventKind::Held),
            base(EventKind::Released),
            base(EventKind::ReasonUpdated {
                reason: RevocationReason::KeyCompromise,
                invalidity_date: None,
            }),
        ]
    }

    #[test]
    fn round_trip() {
        for e in samples() {
            assert_eq!(Event::decode(&e.encode()), Ok(e));
        }
    }

    #[test]
    fn every_truncation_and_extension_is_refused() {
        for e in samples() {
            let bytes = e.encode();
            for cut in 0..bytes.len() {
                assert!(Event::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(
                Event::decode(&longer),
                Err(EventDecodeError::TrailingBytes(1))
            );
        }
    }

    #[test]
    fn hostile_fields_are_refused() {
        let mut bytes = samples()[2].encode();
        bytes[0] = 9;
        assert_eq!(
            Event::decode(&bytes),
            Err(EventDecodeError::UnsupportedVersion(9))
        );
        let mut bytes = samples()[2].encode();
        bytes[1] = 77;
        assert_eq!(
            Event::decode(&bytes),
            Err(EventDecodeError::UnknownKind(77))
        );
        let mut bytes = samples()[2].encode();
        bytes[34] = 200; // serial length
        assert!(Event::decode(&bytes).is_err());
        assert!(Event::decode(&[0u8; 300]).is_err());
    }
}

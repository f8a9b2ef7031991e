//! Fixed binary encodings of what the store keeps per certificate: the current record and
//! the last signed response. Versioned so a later release can read an older store.

use revoca_status::{CertRecord, CertState, RevocationReason, Serial, UnixTime};

/// Version byte of [`encode_record`].
const RECORD_VERSION: u8 = 1;
/// Version byte of [`StoredResponse::encode`].
const RESPONSE_VERSION: u8 = 2;
/// The earlier response format, which also stored the ETag; still decoded.
const RESPONSE_VERSION_WITH_ETAG: u8 = 1;

const FLAG_PRECERT: u8 = 0x01;
const FLAG_PARTITION: u8 = 0x02;
const FLAG_INVALIDITY: u8 = 0x04;

/// Why stored bytes could not be decoded: the store is damaged or from a newer release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Wrong length or version.
    #[error("stored {what} is malformed or from an unknown format version")]
    Malformed {
        /// Which kind of value.
        what: &'static str,
    },
}

/// Store key of a certificate: SHA-256 of the issuer key, then the serial's DER content.
pub fn cert_key(issuer_key_sha256: &[u8; 32], serial: &Serial) -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + serial.as_der_content().len());
    key.extend_from_slice(issuer_key_sha256);
    key.extend_from_slice(serial.as_der_content());
    key
}

/// Splits a store key made by [`cert_key`].
pub fn split_cert_key(key: &[u8]) -> Result<([u8; 32], Serial), CodecError> {
    let bad = CodecError::Malformed { what: "key" };
    if key.len() < 33 {
        return Err(bad);
    }
    let mut issuer = [0u8; 32];
    issuer.copy_from_slice(&key[..32]);
    let serial = Serial::from_der_content(&key[32..]).map_err(|_| bad)?;
    Ok((issuer, serial))
}

/// The status part of a record: what a response's content depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusFingerprint {
    /// 0 good, 1 revoked, 2 held.
    pub state: u8,
    /// Reason code (0 when good).
    pub reason: u8,
    /// Revocation or hold time (0 when good).
    pub at: UnixTime,
}

impl StatusFingerprint {
    /// The fingerprint of a state.
    pub fn of(state: &CertState) -> Self {
        match *state {
            CertState::Good => Self {
                state: 0,
                reason: 0,
                at: 0,
            },
            CertState::Revoked { at, reason } => Self {
                state: 1,
                reason: reason.code(),
                at,
            },
            CertState::Held { at } => Self {
                state: 2,
                reason: RevocationReason::CertificateHold.code(),
                at,
            },
        }
    }
}

/// Encodes a record (35 bytes).
pub fn encode_record(record: &CertRecord) -> [u8; 35] {
    let mut out = [0u8; 35];
    let fp = StatusFingerprint::of(&record.state);
    out[0] = RECORD_VERSION;
    out[1] = fp.state;
    out[2] = fp.reason;
    out[3..11].copy_from_slice(&fp.at.to_be_bytes());
    out[11..19].copy_from_slice(&record.not_after.to_be_bytes());
    let mut flags = 0;
    if record.precertificate {
        flags |= FLAG_PRECERT;
    }
    if let Some(p) = record.crl_partition {
        flags |= FLAG_PARTITION;
        out[19..23].copy_from_slice(&p.to_be_bytes());
    }
    if let Some(d) = record.invalidity_date {
        flags |= FLAG_INVALIDITY;
        out[23..31].copy_from_slice(&d.to_be_bytes());
    }
    out[31] = flags;
    out
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    i64::from_be_bytes(a)
}

/// Decodes a record made by [`encode_record`].
pub fn decode_record(bytes: &[u8]) -> Result<CertRecord, CodecError> {
    let bad = CodecError::Malformed { what: "record" };
    if bytes.len() != 35 || bytes[0] != RECORD_VERSION {
        return Err(bad);
    }
    let at = be_i64(&bytes[3..11]);
    let state = match bytes[1] {
        0 => CertState::Good,
        1 => CertState::Revoked {
            at,
            reason: RevocationReason::from_code(bytes[2]).ok_or(bad.clone())?,
        },
        2 => CertState::Held { at },
        _ => return Err(bad),
    };
    let flags = bytes[31];
    Ok(CertRecord {
        state,
        not_after: be_i64(&bytes[11..19]),
        precertificate: flags & FLAG_PRECERT != 0,
        crl_partition: (flags & FLAG_PARTITION != 0)
            .then(|| u32::from_be_bytes([bytes[19], bytes[20], bytes[21], bytes[22]])),
        invalidity_date: (flags & FLAG_INVALIDITY != 0).then(|| be_i64(&bytes[23..31])),
    })
}

/// A signed response as persisted, so a restart serves without re-signing everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    /// The status the response states; compared with the record on load.
    pub fingerprint: StatusFingerprint,
    /// thisUpdate.
    pub this_update: UnixTime,
    /// nextUpdate.
    pub next_update: UnixTime,
    /// Hash algorithm of the CertID (as `HashAlgorithm as u8`).
    pub hash: u8,
    /// The response DER up to the issuer's shared tail.
    pub head: Vec<u8>,
}

impl StoredResponse {
    /// Encodes the response.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(28 + self.head.len());
        out.push(RESPONSE_VERSION);
        out.push(self.fingerprint.state);
        out.push(self.fingerprint.reason);
        out.extend_from_slice(&self.fingerprint.at.to_be_bytes());
        out.extend_from_slice(&self.this_update.to_be_bytes());
        out.extend_from_slice(&self.next_update.to_be_bytes());
        out.push(self.hash);
        out.extend_from_slice(&self.head);
        out
    }

    /// Decodes a response made by [`StoredResponse::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let bad = CodecError::Malformed { what: "response" };
        // Version 1 also stored an ETag (length-prefixed) before the head; it is now
        // derived from the signature, so a version 1 record's ETag is skipped.
        let head_start = match bytes.first() {
            Some(&RESPONSE_VERSION) if bytes.len() >= 28 => 28,
            Some(&RESPONSE_VERSION_WITH_ETAG) if bytes.len() >= 29 => 29 + bytes[28] as usize,
            _ => return Err(bad),
        };
        if bytes.len() < head_start {
            return Err(bad);
        }
        Ok(Self {
            fingerprint: StatusFingerprint {
                state: bytes[1],
                reason: bytes[2],
                at: be_i64(&bytes[3..11]),
            },
            this_update: be_i64(&bytes[11..19]),
            next_update: be_i64(&bytes[19..27]),
            hash: bytes[27],
            head: bytes[head_start..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let records = [
            CertRecord::issued(1_900_000_000, false, None),
            CertRecord {
                state: CertState::Revoked {
                    at: 1_800_000_000,
                    reason: RevocationReason::KeyCompromise,
                },
                not_after: 1_900_000_000,
                precertificate: true,
                crl_partition: Some(7),
                invalidity_date: Some(1_799_999_000),
            },
            CertRecord {
                state: CertState::Held { at: 5 },
                ..CertRecord::issued(9, false, Some(0))
            },
        ];
        for r in records {
            assert_eq!(decode_record(&encode_record(&r)).unwrap(), r);
        }
        assert!(decode_record(&[0; 35]).is_err());
        assert!(decode_record(&[1; 3]).is_err());
    }

    #[test]
    fn response_round_trip_and_truncation() {
        let r = StoredResponse {
            fingerprint: StatusFingerprint {
                state: 1,
                reason: 1,
                at: 42,
            },
            this_update: 100,
            next_update: 200,
            hash: 0,
            head: vec![0x30, 0x82, 1, 2, 3],
        };
        let enc = r.encode();
        assert_eq!(StoredResponse::decode(&enc).unwrap(), r);
        for cut in 0..28 {
            assert!(StoredResponse::decode(&enc[..cut]).is_err(), "cut {cut}");
        }
        // A version 1 record (with a stored ETag) still loads.
        let mut v1 = enc[..28].to_vec();
        v1[0] = RESPONSE_VERSION_WITH_ETAG;
        v1.push(5);
        v1.extend_from_slice(b"\"abc\"");
        v1.extend_from_slice(&r.head);
        assert_eq!(StoredResponse::decode(&v1).unwrap(), r);
        assert!(StoredResponse::decode(&v1[..33]).is_err());
    }

    #[test]
    fn keys_split() {
        let serial = Serial::from_hex("0a1b").unwrap();
        let k = cert_key(&[7; 32], &serial);
        assert_eq!(split_cert_key(&k).unwrap(), ([7; 32], serial));
        assert!(split_cert_key(&k[..32]).is_err());
    }
}

//! The status index: every assigned serial of every issuer, its state and its pre-signed
//! OCSP response, in a lock-free hash map.
//!
//! Memory matters here (millions of entries), so an entry is 32 bytes plus its key, and
//! pre-signed responses live back to back in shared chunks rather than one allocation each.
//! See `docs/architecture.md` ("Status index").

use std::sync::Arc;

use bytes::Bytes;

use crate::UnixTime;
use crate::issuer::{HashAlgorithm, IssuerId};
use crate::reason::RevocationReason;
use crate::record::{CertRecord, CertState};
use crate::serial::Serial;

/// Index key: issuer and serial. 24 bytes, no heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertKey {
    /// The issuer.
    pub issuer: IssuerId,
    /// The serial.
    pub serial: Serial,
}

const STATE_GOOD: u8 = 0;
const STATE_REVOKED: u8 = 1;
const STATE_HELD: u8 = 2;
const FLAG_PRECERT: u8 = 0x01;

/// One certificate in the index: its state in compact form and the response to serve.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    revoked_at: u32,
    not_after: u32,
    generation: u32,
    state: u8,
    reason: u8,
    flags: u8,
    presigned: Option<Presigned>,
}

fn to_u32_secs(t: UnixTime) -> u32 {
    t.clamp(0, i64::from(u32::MAX)) as u32
}

impl IndexEntry {
    fn from_record(record: &CertRecord, generation: u32) -> Self {
        let (state, reason, revoked_at) = match record.state {
            CertState::Good => (STATE_GOOD, 0, 0),
            CertState::Revoked { at, reason } => (STATE_REVOKED, reason.code(), to_u32_secs(at)),
            CertState::Held { at } => (
                STATE_HELD,
                RevocationReason::CertificateHold.code(),
                to_u32_secs(at),
            ),
        };
        Self {
            revoked_at,
            not_after: to_u32_secs(record.not_after),
            generation,
            state,
            reason,
            flags: if record.precertificate {
                FLAG_PRECERT
            } else {
                0
            },
            presigned: None,
        }
    }

    fn same_status(&self, other: &IndexEntry) -> bool {
        self.state == other.state
            && self.reason == other.reason
            && self.revoked_at == other.revoked_at
    }

    /// The certificate's state.
    pub fn state(&self) -> CertState {
        let at = UnixTime::from(self.revoked_at);
        match self.state {
            STATE_REVOKED => CertState::Revoked {
                at,
                reason: RevocationReason::from_code(self.reason)
                    .unwrap_or(RevocationReason::Unspecified),
            },
            STATE_HELD => CertState::Held { at },
            _ => CertState::Good,
        }
    }

    /// notAfter of the certificate.
    pub fn not_after(&self) -> UnixTime {
        UnixTime::from(self.not_after)
    }

    /// Whether the serial was assigned by a precertificate only.
    pub fn is_precertificate(&self) -> bool {
        self.flags & FLAG_PRECERT != 0
    }

    /// Bumped on every status change; a response signed for an older generation is stale.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The response to serve, if one has been signed for the current status.
    pub fn presigned(&self) -> Option<&Presigned> {
        self.presigned.as_ref()
    }
}

/// A pre-signed OCSP response: a window into a shared [`PresignedChunk`].
#[derive(Clone, Debug)]
pub struct Presigned {
    chunk: Arc<PresignedChunk>,
    offset: u32,
}

/// Responses signed together, stored back to back, plus a tail shared by all of them
/// (the `certs` field of a BasicOCSPResponse: the delegated responder's certificate).
#[derive(Debug)]
pub struct PresignedChunk {
    data: Bytes,
    tail: Bytes,
}

// Record layout at `offset` in a chunk:
// this_update u32 | next_update u32 | hash alg u8 | head_len u16 | etag_len u8 | head | etag
const RECORD_HEADER: usize = 12;

impl Presigned {
    fn header(&self) -> &[u8] {
        let o = self.offset as usize;
        &self.chunk.data[o..o + RECORD_HEADER]
    }

    fn head_range(&self) -> (usize, usize, usize) {
        let h = self.header();
        let head_len = u16::from_be_bytes([h[9], h[10]]) as usize;
        let etag_len = h[11] as usize;
        let start = self.offset as usize + RECORD_HEADER;
        (start, head_len, etag_len)
    }

    /// thisUpdate of the response.
    pub fn this_update(&self) -> UnixTime {
        let h = self.header();
        UnixTime::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]))
    }

    /// nextUpdate of the response.
    pub fn next_update(&self) -> UnixTime {
        let h = self.header();
        UnixTime::from(u32::from_be_bytes([h[4], h[5], h[6], h[7]]))
    }

    /// The CertID hash algorithm the response was signed for.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::ALL[(self.header()[8] & 3) as usize]
    }

    /// The response bytes up to the shared tail (zero-copy).
    pub fn head(&self) -> Bytes {
        let (start, len, _) = self.head_range();
        self.chunk.data.slice(start..start + len)
    }

    /// The shared tail that follows [`Presigned::head`] on the wire (may be empty).
    pub fn tail(&self) -> &Bytes {
        &self.chunk.tail
    }

    /// Total DER length of the response.
    pub fn len(&self) -> usize {
        self.head_range().1 + self.chunk.tail.len()
    }

    /// Never true: a response has bytes. (Present for API symmetry with `len`.)
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The strong entity tag, quotes included (zero-copy).
    pub fn etag(&self) -> Bytes {
        let (start, len, etag_len) = self.head_range();
        self.chunk.data.slice(start + len..start + len + etag_len)
    }

    /// The whole DER response in one buffer (copies; for tests and the store).
    pub fn to_der(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.head());
        out.extend_from_slice(self.tail());
        out
    }
}

/// Collects responses signed together into one [`PresignedChunk`].
#[derive(Debug)]
pub struct PresignedChunkBuilder {
    data: Vec<u8>,
    offsets: Vec<u32>,
    tail: Bytes,
}

/// Why a response cannot go into a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A head or etag longer than the record format allows.
    #[error("response part too long for the chunk format ({0} bytes)")]
    TooLong(usize),
    /// The chunk would pass 4 GiB.
    #[error("chunk is full")]
    Full,
}

impl PresignedChunkBuilder {
    /// A builder whose responses all end with `tail`.
    pub fn new(tail: Bytes, capacity_bytes: usize) -> Self {
        Self {
            data: Vec::with_capacity(capacity_bytes),
            offsets: Vec::new(),
            tail,
        }
    }

    /// Bytes used so far.
    pub fn len_bytes(&self) -> usize {
        self.data.len()
    }

    /// Number of responses pushed.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Appends one response: `head` is its DER up to the shared tail.
    pub fn push(
        &mut self,
        this_update: UnixTime,
        next_update: UnixTime,
        hash: HashAlgorithm,
        head: &[u8],
        etag: &[u8],
    ) -> Result<(), ChunkError> {
        let head_len = u16::try_from(head.len()).map_err(|_| ChunkError::TooLong(head.len()))?;
        let etag_len = u8::try_from(etag.len()).map_err(|_| ChunkError::TooLong(etag.len()))?;
        let offset = u32::try_from(self.data.len()).map_err(|_| ChunkError::Full)?;
        self.data
            .extend_from_slice(&to_u32_secs(this_update).to_be_bytes());
        self.data
            .extend_from_slice(&to_u32_secs(next_update).to_be_bytes());
        self.data.push(hash as u8);
        self.data.extend_from_slice(&head_len.to_be_bytes());
        self.data.push(etag_len);
        self.data.extend_from_slice(head);
        self.data.extend_from_slice(etag);
        self.offsets.push(offset);
        Ok(())
    }

    /// Freezes the chunk; the responses come back in push order.
    pub fn finish(self) -> Vec<Presigned> {
        let mut data = self.data;
        data.shrink_to_fit();
        let chunk = Arc::new(PresignedChunk {
            data: Bytes::from(data),
            tail: self.tail,
        });
        self.offsets
            .into_iter()
            .map(|offset| Presigned {
                chunk: Arc::clone(&chunk),
                offset,
            })
            .collect()
    }
}

/// The outcome of [`StatusIndex::set_record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordUpdate {
    /// A serial seen for the first time; needs a response.
    Inserted {
        /// Its generation.
        generation: u32,
    },
    /// The status changed; the old response was withdrawn and a new one is needed.
    StatusChanged {
        /// The new generation.
        generation: u32,
    },
    /// Nothing a response depends on changed.
    Unchanged,
}

type Map = papaya::HashMap<CertKey, IndexEntry, foldhash::fast::RandomState>;

/// The in-memory status of every assigned serial. Readers never block.
pub struct StatusIndex {
    map: Map,
}

impl std::fmt::Debug for StatusIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusIndex")
            .field("len", &self.len())
            .finish()
    }
}

impl Default for StatusIndex {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl StatusIndex {
    /// An empty index sized for `capacity` certificates.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            map: papaya::HashMap::builder()
                .capacity(capacity)
                .hasher(foldhash::fast::RandomState::default())
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
        }
    }

    /// Number of assigned serials.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no serial is assigned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` on the entry for `key` without copying it; `None` if the serial is
    /// unassigned. This is the request path: no lock, no allocation.
    #[inline]
    pub fn with_entry<R>(&self, key: &CertKey, f: impl FnOnce(&IndexEntry) -> R) -> Option<R> {
        let guard = self.map.guard();
        self.map.get(key, &guard).map(f)
    }

    /// A copy of the entry for `key`.
    pub fn get(&self, key: &CertKey) -> Option<IndexEntry> {
        self.with_entry(key, Clone::clone)
    }

    /// Records the current state of a certificate. When the status (state, reason or time)
    /// changes, the pre-signed response is withdrawn at once, so a stale answer can never
    /// be served after this returns.
    pub fn set_record(&self, key: CertKey, record: &CertRecord) -> RecordUpdate {
        let guard = self.map.guard();
        let mut outcome = RecordUpdate::Unchanged;
        self.map.compute(
            key,
            |current| {
                let Some((_, old)) = current else {
                    outcome = RecordUpdate::Inserted { generation: 1 };
                    return papaya::Operation::Insert(IndexEntry::from_record(record, 1));
                };
                let mut next = IndexEntry::from_record(record, old.generation);
                if next.same_status(old) {
                    if next.not_after == old.not_after && next.flags == old.flags {
                        outcome = RecordUpdate::Unchanged;
                        return papaya::Operation::Abort(());
                    }
                    next.presigned = old.presigned.clone();
                    outcome = RecordUpdate::Unchanged;
                } else {
                    next.generation = old.generation.wrapping_add(1);
                    outcome = RecordUpdate::StatusChanged {
                        generation: next.generation,
                    };
                }
                papaya::Operation::Insert(next)
            },
            &guard,
        );
        outcome
    }

    /// Installs a response signed for `generation`. Refused (false) when the status has
    /// changed since, so a response for an old status never overwrites a newer state.
    pub fn install(&self, key: CertKey, generation: u32, presigned: Presigned) -> bool {
        let guard = self.map.guard();
        let result = self.map.compute(
            key,
            |current| match current {
                Some((_, old)) if old.generation == generation => {
                    let mut next = old.clone();
                    next.presigned = Some(presigned.clone());
                    papaya::Operation::Insert(next)
                }
                _ => papaya::Operation::Abort(()),
            },
            &guard,
        );
        matches!(result, papaya::Compute::Updated { .. })
    }

    /// Visits every entry (a consistent view of each entry, not of the whole map).
    pub fn for_each(&self, mut f: impl FnMut(&CertKey, &IndexEntry)) {
        let guard = self.map.guard();
        for (k, v) in self.map.iter(&guard) {
            f(k, v);
        }
    }

    /// Forgets a serial (retention expiry); returns whether it was present.
    pub fn remove(&self, key: &CertKey) -> bool {
        let guard = self.map.guard();
        self.map.remove(key, &guard).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> CertKey {
        CertKey {
            issuer: IssuerId(1),
            serial: Serial::from_der_content(&[0x10, n]).unwrap(),
        }
    }

    fn response(etag: &[u8]) -> Presigned {
        let mut b = PresignedChunkBuilder::new(Bytes::from_static(b"TAIL"), 64);
        b.push(100, 200, HashAlgorithm::Sha256, b"HEAD", etag)
            .unwrap();
        b.finish().pop().unwrap()
    }

    #[test]
    fn sizes_stay_small() {
        assert_eq!(std::mem::size_of::<CertKey>(), 24);
        assert_eq!(std::mem::size_of::<IndexEntry>(), 32);
    }

    #[test]
    fn chunk_records_read_back() {
        let mut b = PresignedChunkBuilder::new(Bytes::from_static(b"-tail"), 0);
        b.push(1, 2, HashAlgorithm::Sha1, b"first", b"\"e1\"")
            .unwrap();
        b.push(3, 4, HashAlgorithm::Sha512, b"second", b"\"e2\"")
            .unwrap();
        let r = b.finish();
        assert_eq!(r[0].to_der(), b"first-tail");
        assert_eq!(r[1].to_der(), b"second-tail");
        assert_eq!((r[1].this_update(), r[1].next_update()), (3, 4));
        assert_eq!(r[1].hash_algorithm(), HashAlgorithm::Sha512);
        assert_eq!(&r[0].etag()[..], b"\"e1\"");
        assert_eq!(r[1].len(), 11);
    }

    #[test]
    fn status_change_withdraws_response_and_stale_installs_are_refused() {
        let idx = StatusIndex::with_capacity(4);
        let good = CertRecord::issued(1000, false, None);
        assert_eq!(
            idx.set_record(key(1), &good),
            RecordUpdate::Inserted { generation: 1 }
        );
        assert!(idx.install(key(1), 1, response(b"\"a\"")));
        assert!(idx.get(&key(1)).unwrap().presigned().is_some());
        assert_eq!(idx.set_record(key(1), &good), RecordUpdate::Unchanged);
        assert!(idx.get(&key(1)).unwrap().presigned().is_some());

        let mut revoked = good;
        revoked.state = CertState::Revoked {
            at: 500,
            reason: RevocationReason::KeyCompromise,
        };
        assert_eq!(
            idx.set_record(key(1), &revoked),
            RecordUpdate::StatusChanged { generation: 2 }
        );
        let e = idx.get(&key(1)).unwrap();
        assert!(e.presigned().is_none(), "old response must be withdrawn");
        assert_eq!(e.state(), revoked.state);
        // A response signed for generation 1 (good) arrives late: refused.
        assert!(!idx.install(key(1), 1, response(b"\"old\"")));
        assert!(idx.install(key(1), 2, response(b"\"new\"")));
        assert_eq!(
            &idx.get(&key(1)).unwrap().presigned().unwrap().etag()[..],
            b"\"new\""
        );
        // Unknown serial: nothing to install into.
        assert!(!idx.install(key(9), 1, response(b"\"x\"")));
        assert!(idx.with_entry(&key(9), |_| ()).is_none());
    }

    #[test]
    fn metadata_change_keeps_response() {
        let idx = StatusIndex::default();
        let pre = CertRecord::issued(1000, true, None);
        idx.set_record(key(2), &pre);
        assert!(idx.install(key(2), 1, response(b"\"p\"")));
        let fin = CertRecord::issued(1000, false, None);
        assert_eq!(idx.set_record(key(2), &fin), RecordUpdate::Unchanged);
        let e = idx.get(&key(2)).unwrap();
        assert!(!e.is_precertificate());
        assert!(e.presigned().is_some());
    }
}

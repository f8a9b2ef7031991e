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
///
/// Per-response overhead is 4 bytes: responses signed in one batch share their
/// thisUpdate/nextUpdate, so those live once per chunk in a small table, and the ETag
/// is derived from the signature when served rather than stored.
#[derive(Debug)]
pub struct PresignedChunk {
    data: Bytes,
    tail: Bytes,
    /// (thisUpdate, nextUpdate) pairs, indexed by a record's time slot.
    times: Vec<(u32, u32)>,
    /// First bytes of SHA-256 of the tail, so the ETag changes when only the tail does.
    tail_tag: [u8; 4],
}

// Record layout at `offset` in a chunk:
// hash alg u8 | time slot u8 | head_len u16 | head
const RECORD_HEADER: usize = 4;
/// Distinct (thisUpdate, nextUpdate) pairs one chunk can hold.
const MAX_TIME_SLOTS: usize = 256;
/// Signature bytes that go into the ETag. The head ends with the signature, which
/// differs for every signing of different content (ECDSA even for the same content).
const ETAG_SIGNATURE_BYTES: usize = 8;
/// Length of the ETag value, quotes included.
pub const ETAG_LEN: usize = 2 + 2 * (ETAG_SIGNATURE_BYTES + 4);

impl Presigned {
    fn header(&self) -> [u8; RECORD_HEADER] {
        let o = self.offset as usize;
        let mut h = [0; RECORD_HEADER];
        h.copy_from_slice(&self.chunk.data[o..o + RECORD_HEADER]);
        h
    }

    fn head_range(&self) -> (usize, usize) {
        let h = self.header();
        let head_len = u16::from_be_bytes([h[2], h[3]]) as usize;
        (self.offset as usize + RECORD_HEADER, head_len)
    }

    fn times(&self) -> (u32, u32) {
        self.chunk.times[usize::from(self.header()[1])]
    }

    /// thisUpdate of the response.
    pub fn this_update(&self) -> UnixTime {
        UnixTime::from(self.times().0)
    }

    /// nextUpdate of the response.
    pub fn next_update(&self) -> UnixTime {
        UnixTime::from(self.times().1)
    }

    /// The CertID hash algorithm the response was signed for.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::ALL[(self.header()[0] & 3) as usize]
    }

    /// The response bytes up to the shared tail (zero-copy).
    pub fn head(&self) -> Bytes {
        let (start, len) = self.head_range();
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

    /// The strong entity tag, quotes included: the last signature bytes of the head and
    /// a tag of the tail, in hex. Built on the stack; nothing is stored per response.
    pub fn etag(&self) -> [u8; ETAG_LEN] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let (start, len) = self.head_range();
        let head = &self.chunk.data[start..start + len];
        let sig = &head[head.len().saturating_sub(ETAG_SIGNATURE_BYTES)..];
        let mut out = [b'"'; ETAG_LEN];
        let mut at = 1;
        let padding = [0u8; ETAG_SIGNATURE_BYTES];
        let sig_padded = padding[..ETAG_SIGNATURE_BYTES - sig.len()]
            .iter()
            .chain(sig);
        for &b in sig_padded.chain(&self.chunk.tail_tag) {
            out[at] = HEX[usize::from(b >> 4)];
            out[at + 1] = HEX[usize::from(b & 0xf)];
            at += 2;
        }
        out
    }

    /// The whole DER response in one buffer (copies; for tests and the store).
    pub fn to_der(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.head());
        out.extend_from_slice(self.tail());
        out
    }
}

/// Collects responses signed together into [`PresignedChunk`]s (usually one; a new
/// chunk starts when the current one runs out of offsets or time slots).
#[derive(Debug)]
pub struct PresignedChunkBuilder {
    tail: Bytes,
    tail_tag: [u8; 4],
    capacity_bytes: usize,
    data: Vec<u8>,
    times: Vec<(u32, u32)>,
    offsets: Vec<u32>,
    /// Chunks already filled, with the offsets of their responses.
    done: Vec<(Arc<PresignedChunk>, Vec<u32>)>,
    bytes_done: usize,
}

/// Why a response cannot go into a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A head longer than the record format allows (64 KiB).
    #[error("response too long for the chunk format ({0} bytes)")]
    TooLong(usize),
}

/// Bytes a chunk may hold before the builder starts another (offsets are u32).
const MAX_CHUNK_BYTES: usize = u32::MAX as usize;

impl PresignedChunkBuilder {
    /// A builder whose responses all end with `tail`.
    pub fn new(tail: Bytes, capacity_bytes: usize) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &tail);
        let mut tail_tag = [0; 4];
        tail_tag.copy_from_slice(&digest.as_ref()[..4]);
        Self {
            tail,
            tail_tag,
            capacity_bytes: capacity_bytes.min(MAX_CHUNK_BYTES),
            data: Vec::with_capacity(capacity_bytes.min(MAX_CHUNK_BYTES)),
            times: Vec::new(),
            offsets: Vec::new(),
            done: Vec::new(),
            bytes_done: 0,
        }
    }

    /// Bytes used so far.
    pub fn len_bytes(&self) -> usize {
        self.bytes_done + self.data.len()
    }

    /// Number of responses pushed.
    pub fn len(&self) -> usize {
        self.offsets.len() + self.done.iter().map(|(_, o)| o.len()).sum::<usize>()
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one response: `head` is its DER up to the shared tail.
    pub fn push(
        &mut self,
        this_update: UnixTime,
        next_update: UnixTime,
        hash: HashAlgorithm,
        head: &[u8],
    ) -> Result<(), ChunkError> {
        let head_len = u16::try_from(head.len()).map_err(|_| ChunkError::TooLong(head.len()))?;
        let times = (to_u32_secs(this_update), to_u32_secs(next_update));
        let slot = match self.times.iter().position(|t| *t == times) {
            Some(slot) => slot,
            None => {
                if self.times.len() == MAX_TIME_SLOTS {
                    self.seal();
                }
                self.times.push(times);
                self.times.len() - 1
            }
        };
        if self.data.len() + RECORD_HEADER + head.len() > MAX_CHUNK_BYTES {
            self.seal();
            return self.push(this_update, next_update, hash, head);
        }
        // Fits: the check above bounds data.len() by u32::MAX.
        let offset = self.data.len() as u32;
        self.data.push(hash as u8);
        self.data.push(slot as u8);
        self.data.extend_from_slice(&head_len.to_be_bytes());
        self.data.extend_from_slice(head);
        self.offsets.push(offset);
        Ok(())
    }

    /// Closes the current chunk and starts an empty one.
    fn seal(&mut self) {
        let mut data = std::mem::replace(
            &mut self.data,
            Vec::with_capacity(self.capacity_bytes.saturating_sub(self.bytes_done)),
        );
        data.shrink_to_fit();
        self.bytes_done += data.len();
        let chunk = Arc::new(PresignedChunk {
            data: Bytes::from(data),
            tail: self.tail.clone(),
            times: std::mem::take(&mut self.times),
            tail_tag: self.tail_tag,
        });
        self.done.push((chunk, std::mem::take(&mut self.offsets)));
    }

    /// Freezes the chunk(s); the responses come back in push order.
    pub fn finish(mut self) -> Vec<Presigned> {
        if !self.offsets.is_empty() {
            self.seal();
        }
        let mut out = Vec::with_capacity(self.len());
        for (chunk, offsets) in self.done {
            out.extend(offsets.into_iter().map(|offset| Presigned {
                chunk: Arc::clone(&chunk),
                offset,
            }));
        }
        out
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

    fn response(head: &[u8]) -> Presigned {
        let mut b = PresignedChunkBuilder::new(Bytes::from_static(b"TAIL"), 64);
        b.push(100, 200, HashAlgorithm::Sha256, head).unwrap();
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
        b.push(1, 2, HashAlgorithm::Sha1, b"first").unwrap();
        b.push(3, 4, HashAlgorithm::Sha512, b"second").unwrap();
        b.push(1, 2, HashAlgorithm::Sha256, b"third").unwrap();
        let r = b.finish();
        assert_eq!(r[0].to_der(), b"first-tail");
        assert_eq!(r[1].to_der(), b"second-tail");
        assert_eq!((r[1].this_update(), r[1].next_update()), (3, 4));
        assert_eq!((r[2].this_update(), r[2].next_update()), (1, 2));
        assert_eq!(r[1].hash_algorithm(), HashAlgorithm::Sha512);
        assert_eq!(r[1].len(), 11);
        // ETag: quoted hex of the head's last 8 bytes ("econd" zero-padded) + tail tag.
        let etag = r[1].etag();
        assert_eq!(&etag[..17], b"\"00007365636f6e64");
    }

    #[test]
    fn etags_differ_by_head_and_by_tail() {
        let mk = |tail: &'static [u8], head: &[u8]| {
            let mut b = PresignedChunkBuilder::new(Bytes::from_static(tail), 0);
            b.push(1, 2, HashAlgorithm::Sha1, head).unwrap();
            b.finish().pop().unwrap().etag()
        };
        let a = mk(b"t1", b"signature-aaaaaaaa");
        assert_eq!(a, mk(b"t1", b"signature-aaaaaaaa"));
        assert_ne!(a, mk(b"t1", b"signature-aaaaaaab"));
        assert_ne!(a, mk(b"t2", b"signature-aaaaaaaa"));
        assert_eq!((a[0], a[ETAG_LEN - 1]), (b'"', b'"'));
        assert!(a[1..ETAG_LEN - 1].iter().all(u8::is_ascii_hexdigit));
    }

    #[test]
    fn builder_spills_into_new_chunk_when_time_slots_run_out() {
        let mut b = PresignedChunkBuilder::new(Bytes::from_static(b"T"), 0);
        for i in 0..600u32 {
            b.push(
                i64::from(i),
                i64::from(i) + 10,
                HashAlgorithm::Sha1,
                &i.to_be_bytes(),
            )
            .unwrap();
        }
        let r = b.finish();
        assert_eq!(r.len(), 600);
        for (i, p) in r.iter().enumerate() {
            assert_eq!(p.this_update(), i as i64);
            assert_eq!(p.next_update(), i as i64 + 10);
            assert_eq!(p.head()[..], (i as u32).to_be_bytes());
        }
    }

    #[test]
    fn status_change_withdraws_response_and_stale_installs_are_refused() {
        let idx = StatusIndex::with_capacity(4);
        let good = CertRecord::issued(1000, false, None);
        assert_eq!(
            idx.set_record(key(1), &good),
            RecordUpdate::Inserted { generation: 1 }
        );
        assert!(idx.install(key(1), 1, response(b"a")));
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
        assert!(!idx.install(key(1), 1, response(b"old")));
        assert!(idx.install(key(1), 2, response(b"new")));
        assert_eq!(
            &idx.get(&key(1)).unwrap().presigned().unwrap().head()[..],
            b"new"
        );
        // Unknown serial: nothing to install into.
        assert!(!idx.install(key(9), 1, response(b"x")));
        assert!(idx.with_entry(&key(9), |_| ()).is_none());
    }

    #[test]
    fn metadata_change_keeps_response() {
        let idx = StatusIndex::default();
        let pre = CertRecord::issued(1000, true, None);
        idx.set_record(key(2), &pre);
        assert!(idx.install(key(2), 1, response(b"p")));
        let fin = CertRecord::issued(1000, false, None);
        assert_eq!(idx.set_record(key(2), &fin), RecordUpdate::Unchanged);
        let e = idx.get(&key(2)).unwrap();
        assert!(!e.is_precertificate());
        assert!(e.presigned().is_some());
    }
}

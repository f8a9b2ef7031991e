//! The refresher: keeps a fresh pre-signed response for every assigned serial.
//!
//! - At start it installs the responses saved in the store that still match the
//!   certificate's status and the issuer's signing setup, then signs every missing or
//!   half-expired response before the server reports ready.
//! - Status changes arrive on the urgent queue (from the ingest hook) and are signed at
//!   once: a revocation is served within milliseconds of being acknowledged.
//! - A periodic scan re-signs responses at half-life (RFC 5019 §6, BR 4.9.10).
//!
//! Signing runs on `workers` threads; signed responses are installed in chunks and saved
//! to the store so a restart does not re-sign them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use revoca_ingest::{StatusFingerprint, Store, StoredResponse};
use revoca_status::{
    CertKey, CertState, HashAlgorithm, IssuerId, PresignedChunkBuilder, StatusIndex, UnixTime,
};

use crate::clock::Clock;
use crate::issuers::{IssuerSet, OcspIssuer, ResponderIdentity};
use crate::response::{self, ResponseOptions, SingleResponse};
use crate::service::PRESIGNED_HASH;

/// Refresher settings.
#[derive(Clone, Debug)]
pub struct RefreshSettings {
    /// Signing threads (default: available cores).
    pub workers: usize,
    /// Responses signed per batch (default 4,096).
    pub batch: usize,
    /// Seconds between scans for responses due for re-signing (default 60).
    pub scan_interval_secs: u64,
    /// Test hook: never sign (to prove expired responses are refused).
    pub disabled: bool,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            batch: 4096,
            scan_interval_secs: 60,
            disabled: false,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct RefreshMetrics {
    /// Responses signed.
    pub signed: AtomicU64,
    /// Signing failures.
    pub failed: AtomicU64,
    /// Responses loaded from the store at start.
    pub loaded: AtomicU64,
    /// Unix time of the last completed scan.
    pub last_scan: AtomicU64,
    /// Certificates whose new response could not be signed (signer down) and are being
    /// retried with back-off. Non-zero is an alarm: their status is answered `tryLater`.
    pub retry_backlog: AtomicU64,
}

/// First and longest delay between retries of failed urgent signings.
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Failed urgent signings remembered for retry; beyond it the periodic scan catches up.
const RETRY_CAP: usize = 100_000;

/// Sends certificates that need a new response now, and re-signing work for later.
#[derive(Clone, Debug)]
pub struct UrgentQueue {
    urgent: Sender<Vec<CertKey>>,
    background: Sender<Resign>,
}

/// Re-sign every response of an issuer (after a responder key rollover), in the
/// background: status changes keep priority. `done` hears once all are re-signed.
#[derive(Debug)]
pub struct Resign {
    /// The issuer.
    pub issuer: IssuerId,
    /// Told (with the number re-signed) when every response has been re-signed.
    pub done: Option<Sender<u64>>,
}

impl UrgentQueue {
    /// Queues `keys` for immediate signing.
    pub fn push(&self, keys: Vec<CertKey>) {
        // The refresher only stops at shutdown; dropping work then is fine.
        let _ = self.urgent.send(keys);
    }

    /// Queues a background re-signing of an issuer's responses.
    pub fn resign(&self, request: Resign) {
        let _ = self.background.send(request);
    }
}

/// The refresher (see the module documentation).
pub struct Refresher {
    index: Arc<StatusIndex>,
    issuers: Arc<IssuerSet>,
    store: Arc<Store>,
    clock: Clock,
    settings: RefreshSettings,
    urgent: Receiver<Vec<CertKey>>,
    background: Receiver<Resign>,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Counters.
    pub metrics: Arc<RefreshMetrics>,
    /// Writes signed responses (and signing-setup records, in order) to the store on its
    /// own thread, so signing never waits for the store.
    store_writer: Option<(
        std::sync::mpsc::SyncSender<StoreWrite>,
        std::thread::JoinHandle<()>,
    )>,
}

/// Work for the store writer.
enum StoreWrite {
    Responses(Vec<([u8; 32], revoca_status::Serial, StoredResponse)>),
    /// Written after every response queued before it.
    Meta(String, [u8; 32]),
}

fn spawn_store_writer(
    store: Arc<Store>,
) -> Option<(
    std::sync::mpsc::SyncSender<StoreWrite>,
    std::thread::JoinHandle<()>,
)> {
    // A few batches of slack; beyond that signing waits (bounded memory).
    let (tx, rx) = std::sync::mpsc::sync_channel::<StoreWrite>(4);
    let handle = std::thread::Builder::new()
        .name("response-store".into())
        .spawn(move || {
            for work in rx {
                let result = match &work {
                    StoreWrite::Responses(r) => store.save_responses(r),
                    StoreWrite::Meta(key, value) => store.set_meta(key, value),
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "could not save signed responses (they will be re-signed after a restart)");
                }
            }
        })
        .ok()?;
    Some((tx, handle))
}

struct Due {
    key: CertKey,
    generation: u32,
    state: CertState,
}

struct Signed {
    key: CertKey,
    generation: u32,
    state: CertState,
    this_update: UnixTime,
    next_update: UnixTime,
    head: Vec<u8>,
}

impl Refresher {
    /// A refresher and the queue that feeds it urgent work. `ready` is set once every
    /// assigned serial has a fresh response.
    pub fn new(
        index: Arc<StatusIndex>,
        issuers: Arc<IssuerSet>,
        store: Arc<Store>,
        clock: Clock,
        settings: RefreshSettings,
        ready: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
    ) -> (Self, UrgentQueue) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (background_tx, background_rx) = std::sync::mpsc::channel();
        (
            Self {
                index,
                issuers,
                store,
                clock,
                settings,
                urgent: rx,
                background: background_rx,
                ready,
                stop,
                metrics: Arc::new(RefreshMetrics::default()),
                store_writer: None,
            },
            UrgentQueue {
                urgent: tx,
                background: background_tx,
            },
        )
    }

    /// Installs stored responses that still match. Returns how many were installed.
    pub fn load_stored(&self) -> Result<u64, revoca_ingest::StoreError> {
        let now = self.clock.now();
        let by_key: HashMap<[u8; 32], &Arc<OcspIssuer>> =
            self.issuers.iter().map(|i| (i.key_sha256, i)).collect();
        let mut valid: HashMap<IssuerId, bool> = HashMap::new();
        for issuer in self.issuers.iter() {
            let meta = self
                .store
                .meta(&signing_meta_key(issuer))?
                .is_some_and(|fp| fp == issuer.identity().signing_fingerprint);
            valid.insert(issuer.id, meta);
        }
        let mut builders: HashMap<IssuerId, (PresignedChunkBuilder, Vec<(CertKey, u32)>)> =
            HashMap::new();
        let mut installed = 0u64;
        let flush = |(builder, keys): (PresignedChunkBuilder, Vec<(CertKey, u32)>),
                     installed: &mut u64| {
            for (p, (key, generation)) in builder.finish().into_iter().zip(keys) {
                if self.index.install(key, generation, p) {
                    *installed += 1;
                }
            }
        };
        self.store.for_each_response(|issuer_key, serial, stored| {
            let Some(issuer) = by_key.get(&issuer_key) else {
                return;
            };
            if !valid[&issuer.id] || now >= stored.next_update {
                return;
            }
            let key = CertKey {
                issuer: issuer.id,
                serial,
            };
            let Some((generation, fp)) = self.index.with_entry(&key, |e| {
                (e.generation(), StatusFingerprint::of(&e.state()))
            }) else {
                return;
            };
            let Some(hash) = HashAlgorithm::ALL.get(usize::from(stored.hash)).copied() else {
                return;
            };
            if fp != stored.fingerprint {
                return;
            }
            let entry = builders.entry(issuer.id).or_insert_with(|| {
                (
                    PresignedChunkBuilder::new(issuer.identity().tail.clone(), 1 << 20),
                    Vec::new(),
                )
            });
            if entry
                .0
                .push(stored.this_update, stored.next_update, hash, &stored.head)
                .is_ok()
            {
                entry.1.push((key, generation));
            }
            if entry.0.len_bytes() >= (1 << 20) - 1024 {
                let full = builders.remove(&issuer.id).expect("just used");
                flush(full, &mut installed);
            }
        })?;
        for entry in builders.into_values() {
            flush(entry, &mut installed);
        }
        self.metrics.loaded.store(installed, Ordering::Relaxed);
        Ok(installed)
    }

    /// Runs until `stop` is set. Call on a dedicated thread.
    pub fn run(mut self) {
        self.store_writer = spawn_store_writer(Arc::clone(&self.store));
        self.run_loop();
        // Everything signed is written before the caller flushes the store.
        if let Some((tx, handle)) = self.store_writer.take() {
            drop(tx);
            let _ = handle.join();
        }
    }

    fn save(&self, work: StoreWrite) {
        let result = match (&self.store_writer, work) {
            (Some((tx, _)), work) => tx.send(work).map_err(|e| e.to_string()),
            (None, StoreWrite::Responses(r)) => {
                self.store.save_responses(&r).map_err(|e| e.to_string())
            }
            (None, StoreWrite::Meta(k, v)) => {
                self.store.set_meta(&k, &v).map_err(|e| e.to_string())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not save signed responses (they will be re-signed after a restart)");
        }
    }

    fn run_loop(&self) {
        if self.settings.disabled {
            tracing::warn!("refresher disabled (REVOCA_DISABLE_REFRESH): responses will expire");
            self.ready.store(true, Ordering::SeqCst);
            while !self.stop.load(Ordering::Relaxed) {
                let _ = self.urgent.recv_timeout(Duration::from_millis(200));
            }
            return;
        }
        for issuer in self.issuers.iter() {
            if let Err(e) = self.store.set_meta(
                &signing_meta_key(issuer),
                &issuer.identity().signing_fingerprint,
            ) {
                tracing::error!(error = %e, "cannot record the signing setup");
            }
        }
        let started = std::time::Instant::now();
        let signed = self.scan();
        tracing::info!(
            signed,
            secs = started.elapsed().as_secs_f64(),
            "initial signing pass complete"
        );
        self.ready.store(true, Ordering::SeqCst);
        let interval = Duration::from_secs(self.settings.scan_interval_secs.max(1));
        let mut next_scan = std::time::Instant::now() + interval;
        // Status changes whose signing failed (the signer is slow or gone): retried with
        // back-off until the signer is back, so a revocation is served as soon as it can.
        let mut retry: Vec<CertKey> = Vec::new();
        let mut backoff = RETRY_MIN;
        let mut retry_at: Option<std::time::Instant> = None;
        // Background re-signing (rollover): slices between urgent work.
        let mut resign: std::collections::VecDeque<(CertKey, Option<Sender<u64>>, u64)> =
            std::collections::VecDeque::new();
        while !self.stop.load(Ordering::Relaxed) {
            while let Ok(request) = self.background.try_recv() {
                let mut keys = Vec::new();
                self.index.for_each(|key, _| {
                    if key.issuer == request.issuer {
                        keys.push(*key);
                    }
                });
                let total = keys.len() as u64;
                tracing::info!(
                    certificates = total,
                    "re-signing an issuer's responses (rollover)"
                );
                let last = keys.pop();
                resign.extend(keys.into_iter().map(|k| (k, None, 0)));
                match last {
                    Some(k) => resign.push_back((k, request.done, total)),
                    None => {
                        if let Some(done) = request.done {
                            let _ = done.send(0);
                        }
                    }
                }
            }
            // One slice per turn; the urgent queue is checked (without waiting) in between,
            // so status changes are never stuck behind a re-signing.
            if !resign.is_empty() {
                let slice: Vec<_> = resign
                    .drain(..resign.len().min(self.settings.batch.max(1)))
                    .collect();
                let due = self.collect(slice.iter().map(|(k, _, _)| *k).collect());
                self.sign_all(due);
                for (key, done, total) in slice {
                    if let Some(done) = done {
                        // Every response of the issuer is now under the new identity:
                        // record it, so a restart reuses them (and never mixes setups).
                        // Through the writer, so it lands after the responses queued before.
                        if let Some(issuer) = self.issuers.get(key.issuer) {
                            self.save(StoreWrite::Meta(
                                signing_meta_key(issuer),
                                issuer.identity().signing_fingerprint,
                            ));
                        }
                        let _ = done.send(total);
                    }
                }
            }
            if retry_at.is_some_and(|t| std::time::Instant::now() >= t) {
                let keys = std::mem::take(&mut retry);
                let due = self.collect(keys);
                retry = self.sign_and_keep_failed(due);
                if retry.is_empty() {
                    backoff = RETRY_MIN;
                    retry_at = None;
                } else {
                    backoff = (backoff * 2).min(RETRY_MAX);
                    retry_at = Some(std::time::Instant::now() + backoff);
                }
                self.metrics
                    .retry_backlog
                    .store(retry.len() as u64, Ordering::Relaxed);
            }
            let mut wait = next_scan
                .saturating_duration_since(std::time::Instant::now())
                .min(Duration::from_millis(200));
            if let Some(t) = retry_at {
                wait = wait.min(t.saturating_duration_since(std::time::Instant::now()));
            }
            if !resign.is_empty() {
                wait = Duration::ZERO;
            }
            match self.urgent.recv_timeout(wait) {
                Ok(mut keys) => {
                    // Take everything queued so a burst is signed in one go.
                    while let Ok(more) = self.urgent.try_recv() {
                        keys.extend(more);
                    }
                    let due = self.collect(keys);
                    let failed = self.sign_and_keep_failed(due);
                    if !failed.is_empty() {
                        tracing::error!(
                            certificates = failed.len(),
                            "new status could not be signed; retrying (answered tryLater meanwhile)"
                        );
                        let room = RETRY_CAP.saturating_sub(retry.len());
                        retry.extend(failed.into_iter().take(room));
                        retry_at.get_or_insert(std::time::Instant::now() + backoff);
                        self.metrics
                            .retry_backlog
                            .store(retry.len() as u64, Ordering::Relaxed);
                    }
                }
                Err(idle) => {
                    if idle == RecvTimeoutError::Disconnected {
                        // No producer left: recv_timeout returns at once, so wait here.
                        std::thread::sleep(wait);
                    }
                    if std::time::Instant::now() >= next_scan {
                        self.scan();
                        next_scan = std::time::Instant::now() + interval;
                    }
                }
            }
        }
    }

    /// Signs `due` and returns the certificates still without a response for their
    /// current status (their signing failed).
    fn sign_and_keep_failed(&self, due: Vec<Due>) -> Vec<CertKey> {
        let keys: Vec<(CertKey, u32)> = due.iter().map(|d| (d.key, d.generation)).collect();
        self.sign_all(due);
        keys.into_iter()
            .filter(|(key, generation)| {
                self.index
                    .with_entry(key, |e| {
                        e.generation() == *generation && e.presigned().is_none()
                    })
                    .unwrap_or(false)
            })
            .map(|(key, _)| key)
            .collect()
    }

    fn collect(&self, keys: Vec<CertKey>) -> Vec<Due> {
        keys.into_iter()
            .filter_map(|key| {
                self.index.with_entry(&key, |e| Due {
                    key,
                    generation: e.generation(),
                    state: e.state(),
                })
            })
            .collect()
    }

    /// Signs every response that is missing or past half-life. Returns how many.
    fn scan(&self) -> u64 {
        let now = self.clock.now();
        let mut due = Vec::new();
        self.index.for_each(|key, entry| {
            let Some(issuer) = self.issuers.get(key.issuer) else {
                return;
            };
            let needs = match entry.presigned() {
                None => true,
                Some(p) => now >= p.this_update() + issuer.settings.validity_secs / 2,
            };
            if needs {
                due.push(Due {
                    key: *key,
                    generation: entry.generation(),
                    state: entry.state(),
                });
            }
        });
        let n = due.len() as u64;
        self.sign_all(due);
        self.metrics
            .last_scan
            .store(now.max(0) as u64, Ordering::Relaxed);
        n
    }

    fn sign_all(&self, mut due: Vec<Due>) {
        due.sort_unstable_by_key(|d| d.key.issuer);
        let batch = self.settings.batch.max(1);
        for group in due.chunk_by(|a, b| a.key.issuer == b.key.issuer) {
            let Some(issuer) = self.issuers.get(group[0].key.issuer) else {
                continue;
            };
            for work in group.chunks(batch) {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                // One identity per batch: a rollover in between must not pair a signature
                // with the other key's certificate.
                let identity = issuer.identity();
                let signed = self.sign_batch(issuer, &identity, work);
                self.install(issuer, &identity, signed);
            }
        }
    }

    fn sign_batch(
        &self,
        issuer: &OcspIssuer,
        identity: &ResponderIdentity,
        work: &[Due],
    ) -> Vec<Signed> {
        let workers = self.settings.workers.clamp(1, 64);
        let per = work.len().div_ceil(workers).max(1);
        let now = self.clock.now();
        let metrics: &RefreshMetrics = &self.metrics;
        std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .chunks(per)
                .map(|part| scope.spawn(move || sign_part(metrics, issuer, identity, part, now)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }
}

/// Signs the SHA-1 CertID response of each certificate in `part`.
fn sign_part(
    metrics: &RefreshMetrics,
    issuer: &OcspIssuer,
    identity: &ResponderIdentity,
    part: &[Due],
    now: UnixTime,
) -> Vec<Signed> {
    let hash = PRESIGNED_HASH;
    let next_update = now + issuer.settings.validity_secs;
    let mut out = Vec::with_capacity(part.len());
    for due in part {
        let single = SingleResponse {
            hash,
            issuer_name_hash: issuer.hashes.name_hash(hash),
            issuer_key_hash: issuer.hashes.key_hash(hash),
            serial: due.key.serial,
            status: due.state.into(),
            this_update: now,
            next_update,
        };
        let tbs = response::response_data(
            &identity.responder_key_hash,
            now,
            &[single],
            ResponseOptions::default(),
        );
        match response::sign_head(identity.signer.as_ref(), &tbs, identity.tail.len()) {
            Ok(head) => {
                metrics.signed.fetch_add(1, Ordering::Relaxed);
                out.push(Signed {
                    key: due.key,
                    generation: due.generation,
                    state: due.state,
                    this_update: now,
                    next_update,
                    head,
                });
            }
            Err(e) => {
                metrics.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(issuer = %issuer.settings.name, error = %e, "signing failed");
            }
        }
    }
    out
}

impl Refresher {
    fn install(&self, issuer: &OcspIssuer, identity: &ResponderIdentity, signed: Vec<Signed>) {
        if signed.is_empty() {
            return;
        }
        let bytes: usize = signed.iter().map(|s| s.head.len() + 4).sum();
        let mut builder = PresignedChunkBuilder::new(identity.tail.clone(), bytes);
        let mut to_store = Vec::with_capacity(signed.len());
        let mut keys = Vec::with_capacity(signed.len());
        for s in signed {
            if builder
                .push(s.this_update, s.next_update, PRESIGNED_HASH, &s.head)
                .is_err()
            {
                continue;
            }
            keys.push((s.key, s.generation));
            to_store.push((
                issuer.key_sha256,
                s.key.serial,
                StoredResponse {
                    fingerprint: StatusFingerprint::of(&s.state),
                    this_update: s.this_update,
                    next_update: s.next_update,
                    hash: PRESIGNED_HASH as u8,
                    head: s.head,
                },
            ));
        }
        for (p, (key, generation)) in builder.finish().into_iter().zip(keys) {
            // Refused when the status changed meanwhile; the urgent queue has it.
            self.index.install(key, generation, p);
        }
        self.save(StoreWrite::Responses(to_store));
    }
}

fn signing_meta_key(issuer: &OcspIssuer) -> String {
    format!("signing-setup/{}", hex::encode(issuer.key_sha256))
}

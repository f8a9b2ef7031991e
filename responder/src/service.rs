//! Deciding the answer to an OCSP request: the pre-signed fast path and on-demand
//! signing for what cannot be pre-signed (other CertID hashes, several CertIDs, nonces,
//! unassigned-serial policies). Independent of HTTP.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use revoca_signer::SigningPool;
use revoca_status::{
    CertKey, HashAlgorithm, Presigned, PresignedChunkBuilder, RevocationReason, Serial,
    StatusIndex, UnixTime,
};

use crate::clock::Clock;
use crate::issuers::{IssuerSet, NonceMode, OcspIssuer, UnassignedPolicy};
use crate::request::OcspRequest;
use crate::response::{self, CertStatus, ErrorStatus, ResponseOptions, SingleResponse};

/// The CertID hash of pre-signed responses (SHA-1, RFC 5019 §2.1.1: what OpenSSL,
/// browsers and lightweight clients send). Other hashes are signed on demand.
pub const PRESIGNED_HASH: HashAlgorithm = HashAlgorithm::Sha1;

/// Settings of the answering logic.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// Upper bound of `max-age`, seconds (default 600) so CDNs refetch within minutes.
    pub max_age_cap_secs: u32,
    /// On-demand signatures per second, all issuers together (default 200).
    pub on_demand_per_sec: u32,
    /// On-demand signatures running at once (default 4).
    pub on_demand_in_flight: usize,
    /// Entries kept of on-demand responses for other CertID hashes (default 65,536).
    pub on_demand_cache_entries: usize,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            max_age_cap_secs: 600,
            on_demand_per_sec: 200,
            on_demand_in_flight: 4,
            on_demand_cache_entries: 65_536,
        }
    }
}

/// What to send back.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A signed response that caches may keep until its nextUpdate (capped).
    Cacheable(Presigned),
    /// A signed response for this request only (nonce, several CertIDs): not cacheable.
    Private(Bytes),
    /// An unsigned error status.
    Error(ErrorStatus),
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ServiceMetrics {
    /// Pre-signed responses served.
    pub presigned: AtomicU64,
    /// Responses signed on demand.
    pub on_demand: AtomicU64,
    /// On-demand requests shed (rate limit or pool full).
    pub shed: AtomicU64,
    /// Malformed requests.
    pub malformed: AtomicU64,
    /// Unauthorized answers (unknown issuer or unassigned serial).
    pub unauthorized: AtomicU64,
    /// tryLater because the response had expired or was not yet signed.
    pub try_later: AtomicU64,
    /// Of those, responses found past nextUpdate (an alarm: the refresher fell behind).
    pub expired: AtomicU64,
}

/// A simple token bucket (the on-demand path is not hot; a mutex is fine).
#[derive(Debug)]
struct TokenBucket {
    per_sec: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    fn new(per_sec: u32) -> Self {
        let per_sec = f64::from(per_sec.max(1));
        Self {
            per_sec,
            state: Mutex::new((per_sec, Instant::now())),
        }
    }

    fn try_take(&self) -> bool {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.per_sec;
        s.0 = (s.0 + refill).min(self.per_sec);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One certificate in an on-demand response.
#[derive(Clone, Copy, Debug)]
struct PlannedSingle {
    hash: HashAlgorithm,
    serial: Serial,
    status: CertStatus,
}

/// Work for the on-demand signer.
#[derive(Debug)]
struct Plan {
    issuer: Arc<OcspIssuer>,
    singles: Vec<PlannedSingle>,
    nonce: Option<Vec<u8>>,
    extended_revoke: bool,
    /// For a single CertID with another hash: cache the result under (key, hash, generation).
    cache_as: Option<(CertKey, HashAlgorithm, u32)>,
}

type CacheMap = papaya::HashMap<(CertKey, u8), (u32, Presigned), foldhash::fast::RandomState>;

/// Answers OCSP requests from the status index.
pub struct Service {
    index: Arc<StatusIndex>,
    issuers: Arc<IssuerSet>,
    clock: Clock,
    settings: ServiceSettings,
    pool: SigningPool,
    /// Per-request signatures (nonces, several CertIDs, unassigned policies).
    limiter: TokenBucket,
    /// Cacheable signatures for other CertID hashes: each is reused until half-life, so
    /// the allowance is larger (ten times `on_demand_per_sec`).
    cacheable_limiter: TokenBucket,
    cache: CacheMap,
    last_expired_log: AtomicI64,
    /// Counters.
    pub metrics: ServiceMetrics,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

enum Fast {
    Done(Answer),
    Sign(Plan),
}

impl Service {
    /// A service over `index` for `issuers`.
    pub fn new(
        index: Arc<StatusIndex>,
        issuers: Arc<IssuerSet>,
        clock: Clock,
        settings: ServiceSettings,
    ) -> Self {
        Self {
            pool: SigningPool::new(settings.on_demand_in_flight),
            limiter: TokenBucket::new(settings.on_demand_per_sec),
            cacheable_limiter: TokenBucket::new(settings.on_demand_per_sec.saturating_mul(10)),
            cache: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .build(),
            index,
            issuers,
            clock,
            settings,
            last_expired_log: AtomicI64::new(0),
            metrics: ServiceMetrics::default(),
        }
    }

    /// The clock responses are judged by.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The settings.
    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    /// The issuers.
    pub fn issuers(&self) -> &Arc<IssuerSet> {
        &self.issuers
    }

    /// Answers a DER OCSP request.
    pub async fn answer(&self, request_der: &[u8]) -> Answer {
        match self.answer_fast(request_der) {
            Fast::Done(answer) => answer,
            Fast::Sign(plan) => self.sign(plan).await,
        }
    }

    /// The synchronous part of [`Service::answer`]: everything but on-demand signing.
    /// `None` means the request needs a signature made now. Benchmarks use this.
    pub fn answer_presigned(&self, request_der: &[u8]) -> Option<Answer> {
        match self.answer_fast(request_der) {
            Fast::Done(answer) => Some(answer),
            Fast::Sign(_) => None,
        }
    }

    fn error(&self, status: ErrorStatus) -> Fast {
        let counter = match status {
            ErrorStatus::MalformedRequest => &self.metrics.malformed,
            ErrorStatus::Unauthorized => &self.metrics.unauthorized,
            ErrorStatus::TryLater | ErrorStatus::InternalError => &self.metrics.try_later,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Fast::Done(Answer::Error(status))
    }

    fn fresh(&self, presigned: &Presigned, now: UnixTime) -> bool {
        if now < presigned.next_update() {
            return true;
        }
        self.metrics.expired.fetch_add(1, Ordering::Relaxed);
        // An alarm, logged at most once a second.
        let last = self.last_expired_log.load(Ordering::Relaxed);
        if last != now
            && self
                .last_expired_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(
                next_update = presigned.next_update(),
                now,
                "response past nextUpdate: answering tryLater (is the refresher running?)"
            );
        }
        false
    }

    fn answer_fast(&self, der: &[u8]) -> Fast {
        let Ok(request) = OcspRequest::parse(der) else {
            return self.error(ErrorStatus::MalformedRequest);
        };
        let now = self.clock.now();
        let first = request.first();
        let Some(issuer) = self.issuers.find(first) else {
            return self.error(ErrorStatus::Unauthorized);
        };
        let wants_nonce = request.nonce.is_some() && issuer.settings.nonce == NonceMode::Echo;
        if request.len() == 1 && !wants_nonce {
            let key = CertKey {
                issuer: issuer.id,
                serial: first.serial,
            };
            let found = self.index.with_entry(&key, |e| {
                let presigned = e
                    .presigned()
                    .filter(|p| p.hash_algorithm() == first.hash)
                    .cloned();
                (presigned, e.state(), e.generation())
            });
            let Some((presigned, state, generation)) = found else {
                return self.unassigned(issuer, &request);
            };
            if let Some(p) = presigned {
                if self.fresh(&p, now) {
                    self.metrics.presigned.fetch_add(1, Ordering::Relaxed);
                    return Fast::Done(Answer::Cacheable(p));
                }
                return self.error(ErrorStatus::TryLater);
            }
            if first.hash == PRESIGNED_HASH {
                // Assigned but its response is being (re-)signed: never guess.
                return self.error(ErrorStatus::TryLater);
            }
            // Another CertID hash: on demand, cached per status generation.
            let cache_key = (key, first.hash as u8);
            let guard = self.cache.guard();
            if let Some((g, p)) = self.cache.get(&cache_key, &guard)
                && *g == generation
                && now < p.next_update()
                && now < p.this_update() + issuer.settings.validity_secs / 2
            {
                self.metrics.presigned.fetch_add(1, Ordering::Relaxed);
                return Fast::Done(Answer::Cacheable(p.clone()));
            }
            return Fast::Sign(Plan {
                issuer: Arc::clone(issuer),
                singles: vec![PlannedSingle {
                    hash: first.hash,
                    serial: first.serial,
                    status: state.into(),
                }],
                nonce: None,
                extended_revoke: false,
                cache_as: Some((key, first.hash, generation)),
            });
        }

        // Several CertIDs or an echoed nonce: one fresh response for this request.
        let mut singles = Vec::with_capacity(request.len());
        let mut extended_revoke = false;
        for id in request.cert_ids() {
            match self.issuers.find(id) {
                Some(i) if Arc::ptr_eq(i, issuer) => {}
                // One response has one signer: every CertID must name the same issuer.
                _ => return self.error(ErrorStatus::Unauthorized),
            }
            let key = CertKey {
                issuer: issuer.id,
                serial: id.serial,
            };
            let status = match self.index.with_entry(&key, |e| e.state()) {
                Some(state) => state.into(),
                None => match issuer.settings.unassigned {
                    UnassignedPolicy::Unauthorized => return self.error(ErrorStatus::Unauthorized),
                    UnassignedPolicy::Revoked => {
                        extended_revoke = true;
                        unassigned_revoked()
                    }
                    UnassignedPolicy::Unknown => CertStatus::Unknown,
                },
            };
            singles.push(PlannedSingle {
                hash: id.hash,
                serial: id.serial,
                status,
            });
        }
        Fast::Sign(Plan {
            issuer: Arc::clone(issuer),
            singles,
            nonce: request.nonce.filter(|_| wants_nonce).map(<[u8]>::to_vec),
            extended_revoke,
            cache_as: None,
        })
    }

    fn unassigned(&self, issuer: &Arc<OcspIssuer>, request: &OcspRequest<'_>) -> Fast {
        let status = match issuer.settings.unassigned {
            UnassignedPolicy::Unauthorized => return self.error(ErrorStatus::Unauthorized),
            UnassignedPolicy::Revoked => unassigned_revoked(),
            UnassignedPolicy::Unknown => CertStatus::Unknown,
        };
        let first = request.first();
        Fast::Sign(Plan {
            issuer: Arc::clone(issuer),
            singles: vec![PlannedSingle {
                hash: first.hash,
                serial: first.serial,
                status,
            }],
            nonce: None,
            extended_revoke: issuer.settings.unassigned == UnassignedPolicy::Revoked,
            cache_as: None,
        })
    }

    async fn sign(&self, plan: Plan) -> Answer {
        let limiter = if plan.cache_as.is_some() {
            &self.cacheable_limiter
        } else {
            &self.limiter
        };
        if !limiter.try_take() {
            self.metrics.shed.fetch_add(1, Ordering::Relaxed);
            return Answer::Error(ErrorStatus::TryLater);
        }
        let issuer = &plan.issuer;
        // One identity for the whole signing: key, ResponderID and certificate match.
        let identity = issuer.identity();
        let now = self.clock.now();
        let next_update = now + issuer.settings.validity_secs;
        let singles: Vec<SingleResponse<'_>> = plan
            .singles
            .iter()
            .map(|s| SingleResponse {
                hash: s.hash,
                issuer_name_hash: issuer.hashes.name_hash(s.hash),
                issuer_key_hash: issuer.hashes.key_hash(s.hash),
                serial: s.serial,
                status: s.status,
                this_update: now,
                next_update,
            })
            .collect();
        let tbs = response::response_data(
            &identity.responder_key_hash,
            now,
            &singles,
            ResponseOptions {
                nonce: plan.nonce.as_deref(),
                extended_revoke: plan.extended_revoke,
            },
        );
        // Cacheable work may queue for a signing slot; per-request work is shed at once.
        let signed = if plan.cache_as.is_some() {
            self.pool
                .sign(&identity.signer, tbs.clone())
                .await
                .map(Some)
        } else {
            self.pool.try_sign(&identity.signer, tbs.clone()).await
        };
        let signature = match signed {
            Ok(Some(sig)) => sig,
            Ok(None) => {
                self.metrics.shed.fetch_add(1, Ordering::Relaxed);
                return Answer::Error(ErrorStatus::TryLater);
            }
            Err(e) => {
                tracing::error!(issuer = %issuer.settings.name, error = %e, "on-demand signing failed");
                return Answer::Error(ErrorStatus::InternalError);
            }
        };
        self.metrics.on_demand.fetch_add(1, Ordering::Relaxed);
        let head = response::assemble_head(
            &tbs,
            identity.signer.scheme().algorithm_identifier_der(),
            &signature,
            identity.tail.len(),
        );
        match plan.cache_as {
            Some((key, hash, generation)) => {
                let mut chunk = PresignedChunkBuilder::new(identity.tail.clone(), head.len() + 4);
                if chunk.push(now, next_update, hash, &head).is_err() {
                    return Answer::Error(ErrorStatus::InternalError);
                }
                let presigned = chunk.finish().remove(0);
                if self.cache.len() >= self.settings.on_demand_cache_entries {
                    // Crude but bounded: start over rather than track recency.
                    self.cache.pin().clear();
                }
                self.cache
                    .pin()
                    .insert((key, hash as u8), (generation, presigned.clone()));
                Answer::Cacheable(presigned)
            }
            None => {
                let mut full = head;
                full.extend_from_slice(&identity.tail);
                Answer::Private(Bytes::from(full))
            }
        }
    }
}

/// The answer for an unassigned serial under the `revoked` policy (RFC 6960 §2.2):
/// certificateHold at 1970-01-01T00:00:00Z.
fn unassigned_revoked() -> CertStatus {
    CertStatus::Revoked {
        at: 0,
        reason: RevocationReason::CertificateHold,
    }
}

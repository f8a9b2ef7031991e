//! The revocation stream on the embedded default: a durable event log in redb, applied
//! in order to the status index.
//!
//! Write path: [`Ingest::submit`] appends events and the updated per-certificate records
//! in one fsync'd transaction, then applies them to the [`StatusIndex`] (which withdraws
//! responses whose status changed) and tells the refresher which certificates need a new
//! response. An event is acknowledged (the call returns) only after all of that.
//!
//! Restart: [`Ingest::rebuild`] loads every record into the index before the server
//! reports ready. The records table is written in the same transaction as the log, so it
//! is always exactly the log's state (the "snapshot + tail" is one consistent read).

#![forbid(unsafe_code)]

pub mod codec;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use revoca_status::{
    Applied, CertKey, Event, IssuerId, RecordUpdate, StatusIndex, TransitionError,
};

pub use codec::{StatusFingerprint, StoredResponse};
pub use store::{EventOutcome, Store, StoreError};

/// Why one submitted event was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No configured issuer has this key.
    #[error("unknown issuer (no configured issuer has this key)")]
    UnknownIssuer,
    /// The event does not fit the certificate's current state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// The result of one submitted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Durable and applied: the status changed or the serial was assigned.
    Changed(CertKey),
    /// Nothing to do: the event repeats the current state.
    Unchanged(CertKey),
}

/// Told which certificates need a (re-)signed response, right after they change.
pub type ChangeHook = Arc<dyn Fn(&[(CertKey, RecordUpdate)]) + Send + Sync>;

/// Appends events durably and applies them to the index.
pub struct Ingest {
    store: Arc<Store>,
    index: Arc<StatusIndex>,
    issuers: HashMap<[u8; 32], IssuerId>,
    on_change: ChangeHook,
    // Serialises append+apply so the index sees events in log order.
    write_order: Mutex<()>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("issuers", &self.issuers.len())
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Wires the store to the index. `issuers` maps SHA-256 of each issuer's
    /// subjectPublicKey bits to its id in the index.
    pub fn new(
        store: Arc<Store>,
        index: Arc<StatusIndex>,
        issuers: HashMap<[u8; 32], IssuerId>,
        on_change: ChangeHook,
    ) -> Self {
        Self {
            store,
            index,
            issuers,
            on_change,
            write_order: Mutex::new(()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Loads every stored record into the index. Returns how many were loaded; records of
    /// issuers no longer configured are skipped (and counted in the second value).
    pub fn rebuild(&self) -> Result<(u64, u64), StoreError> {
        let mut skipped = 0;
        let mut loaded = 0;
        self.store.for_each_record(|issuer_key, serial, record| {
            match self.issuers.get(&issuer_key) {
                Some(&issuer) => {
                    self.index.set_record(CertKey { issuer, serial }, &record);
                    loaded += 1;
                }
                None => skipped += 1,
            }
        })?;
        Ok((loaded, skipped))
    }

    /// Appends `events` durably (one transaction), applies them to the index and
    /// notifies the refresher. Returns one result per event, in order. `Err` means
    /// nothing was written.
    pub fn submit(&self, events: &[Event]) -> Result<Vec<Result<Accepted, Rejection>>, StoreError> {
        let _order = self
            .write_order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Events for unknown issuers never reach the log.
        let mut known = Vec::with_capacity(events.len());
        let mut keys = Vec::with_capacity(events.len());
        for event in events {
            let key = self
                .issuers
                .get(&event.issuer_key_sha256)
                .map(|&issuer| CertKey {
                    issuer,
                    serial: event.serial,
                });
            if key.is_some() {
                known.push(*event);
            }
            keys.push(key);
        }
        let mut outcomes = self.store.append(&known)?.into_iter();
        let mut results = Vec::with_capacity(events.len());
        let mut changes = Vec::new();
        for key in keys {
            let Some(key) = key else {
                results.push(Err(Rejection::UnknownIssuer));
                continue;
            };
            let outcome = outcomes.next().expect("one outcome per appended event");
            results.push(match outcome {
                Ok(Applied::Changed(record)) => {
                    let update = self.index.set_record(key, &record);
                    if update != RecordUpdate::Unchanged {
                        changes.push((key, update));
                    }
                    Ok(Accepted::Changed(key))
                }
                Ok(Applied::Unchanged) => Ok(Accepted::Unchanged(key)),
                Err(e) => Err(Rejection::Transition(e)),
            });
        }
        drop(_order);
        if !changes.is_empty() {
            (self.on_change)(&changes);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use revoca_status::{CertState, EventKind, RevocationReason, Serial};

    use super::*;

    fn issued(serial: u8) -> Event {
        Event {
            issuer_key_sha256: [1; 32],
            serial: Serial::from_unsigned_be(&[serial]).unwrap(),
            at: 1_000,
            kind: EventKind::Issued {
                not_after: 2_000_000_000,
                precertificate: false,
                crl_partition: None,
                spki_sha256: None,
            },
        }
    }

    fn revoked(serial: u8, reason: RevocationReason) -> Event {
        Event {
            kind: EventKind::Revoked {
                reason,
                invalidity_date: None,
            },
            at: 2_000,
            ..issued(serial)
        }
    }

    fn setup(dir: &std::path::Path) -> (Ingest, Arc<StatusIndex>, Arc<AtomicUsize>) {
        let store = Arc::new(Store::open(&dir.join("s.redb")).unwrap());
        let index = Arc::new(StatusIndex::default());
        let changed = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&changed);
        let hook: ChangeHook = Arc::new(move |c| {
            counter.fetch_add(c.len(), Ordering::SeqCst);
        });
        let issuers = HashMap::from([([1; 32], IssuerId(0))]);
        (
            Ingest::new(store, Arc::clone(&index), issuers, hook),
            index,
            changed,
        )
    }

    #[test]
    fn submit_applies_in_order_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (ingest, index, changed) = setup(dir.path());
            let results = ingest
                .submit(&[
                    issued(1),
                    issued(2),
                    revoked(1, RevocationReason::KeyCompromise),
                    // Replays are idempotent; invalid transitions are refused.
                    issued(2),
                    revoked(3, RevocationReason::Superseded),
                ])
                .unwrap();
            assert!(matches!(results[0], Ok(Accepted::Changed(_))));
            assert!(matches!(results[3], Ok(Accepted::Unchanged(_))));
            assert_eq!(
                results[4],
                Err(Rejection::Transition(TransitionError::NotIssued))
            );
            assert_eq!(ingest.store().event_count().unwrap(), 3);
            assert_eq!(changed.load(Ordering::SeqCst), 3);
            let key = CertKey {
                issuer: IssuerId(0),
                serial: Serial::from_unsigned_be(&[1]).unwrap(),
            };
            assert!(matches!(
                index.get(&key).unwrap().state(),
                CertState::Revoked { .. }
            ));
            // Unknown issuer: refused, nothing logged.
            let mut foreign = issued(9);
            foreign.issuer_key_sha256 = [2; 32];
            assert_eq!(
                ingest.submit(&[foreign]).unwrap(),
                vec![Err(Rejection::UnknownIssuer)]
            );
            assert_eq!(ingest.store().event_count().unwrap(), 3);
        }
        // Restart: the index is rebuilt from the store with the same states.
        let (ingest, index, _) = setup(dir.path());
        assert_eq!(ingest.rebuild().unwrap(), (2, 0));
        let key = CertKey {
            issuer: IssuerId(0),
            serial: Serial::from_unsigned_be(&[1]).unwrap(),
        };
        assert_eq!(
            index.get(&key).unwrap().state(),
            CertState::Revoked {
                at: 2_000,
                reason: RevocationReason::KeyCompromise
            }
        );
        let mut seen = Vec::new();
        ingest
            .store()
            .for_each_event(0, |seq, e| seen.push((seq, e.kind.name())))
            .unwrap();
        assert_eq!(seen, vec![(0, "issued"), (1, "issued"), (2, "revoked")]);
    }

    #[test]
    fn responses_and_meta_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let serial = Serial::from_unsigned_be(&[5]).unwrap();
        let response = StoredResponse {
            fingerprint: StatusFingerprint::of(&CertState::Good),
            this_update: 1,
            next_update: 2,
            hash: 0,
            head: vec![1, 2, 3],
        };
        {
            let store = Store::open(&path).unwrap();
            store
                .save_responses(&[([3; 32], serial, response.clone())])
                .unwrap();
            store.set_meta("demo", b"v1").unwrap();
        }
        let store = Store::open(&path).unwrap();
        let mut got = Vec::new();
        store
            .for_each_response(|i, s, r| got.push((i, s, r)))
            .unwrap();
        assert_eq!(got, vec![([3; 32], serial, response)]);
        assert_eq!(store.meta("demo").unwrap().as_deref(), Some(&b"v1"[..]));
    }
}

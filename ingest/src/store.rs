//! The embedded store (redb): the durable event log and, written in the same
//! transaction, the current record of every certificate (the snapshot the index is
//! rebuilt from). Signed responses are kept too so a restart does not re-sign everything.

use std::path::Path;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use revoca_status::{Applied, CertRecord, Event, Serial, TransitionError};

use crate::codec::{self, CodecError, StoredResponse};

/// Every accepted event, in order: sequence number → encoded [`Event`].
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Current record per certificate: [`codec::cert_key`] → [`codec::encode_record`].
const CERTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("certs");
/// Last signed response per certificate: [`codec::cert_key`] → [`StoredResponse`].
const RESPONSES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("responses");
/// Small named values (demo bookkeeping, format version).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// redb page cache size, bytes.
const STORE_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Why the store failed. Any of these means the operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error (I/O, corruption, another process holding it).
    #[error("store {op}: {source}")]
    Database {
        /// What was being done.
        op: &'static str,
        /// The database error.
        source: redb::Error,
    },
    /// Stored bytes did not decode.
    #[error("store content: {0}")]
    Codec(#[from] CodecError),
}

fn db_err<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Database {
        op,
        source: e.into(),
    }
}

/// The outcome of one event submitted to [`Store::append`].
pub type EventOutcome = Result<Applied, TransitionError>;

/// The durable store. Cheap to share (`Arc`); writes are serialised by redb.
pub struct Store {
    db: Database,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // redb's default page cache is 1 GiB: far more than the write path needs, and it
        // would dominate resident memory (the index, not the store, serves requests).
        let db = redb::Builder::new()
            .set_cache_size(STORE_CACHE_BYTES)
            .create(path)
            .map_err(db_err("open"))?;
        let txn = db.begin_write().map_err(db_err("open"))?;
        {
            // Create the tables so readers never meet a missing table.
            txn.open_table(EVENTS).map_err(db_err("open"))?;
            txn.open_table(CERTS).map_err(db_err("open"))?;
            txn.open_table(RESPONSES).map_err(db_err("open"))?;
            txn.open_table(META).map_err(db_err("open"))?;
        }
        txn.commit().map_err(db_err("open"))?;
        Ok(Self { db })
    }

    /// Applies `events` in order and makes them durable in one transaction. Returns one
    /// outcome per event; only events that changed a record are appended to the log
    /// (repeats are idempotent, invalid transitions are refused and not logged). When this
    /// returns `Ok`, every `Changed` event is on disk (fsync'd).
    pub fn append(&self, events: &[Event]) -> Result<Vec<EventOutcome>, StoreError> {
        let txn = self.db.begin_write().map_err(db_err("append"))?;
        let mut outcomes = Vec::with_capacity(events.len());
        {
            let mut log = txn.open_table(EVENTS).map_err(db_err("append"))?;
            let mut certs = txn.open_table(CERTS).map_err(db_err("append"))?;
            let mut seq = log
                .last()
                .map_err(db_err("append"))?
                .map_or(0, |(k, _)| k.value() + 1);
            for event in events {
                let key = codec::cert_key(&event.issuer_key_sha256, &event.serial);
                let current = match certs.get(key.as_slice()).map_err(db_err("append"))? {
                    Some(v) => Some(codec::decode_record(v.value())?),
                    None => None,
                };
                let outcome = CertRecord::apply(current.as_ref(), &event.kind, event.at);
                if let Ok(Applied::Changed(record)) = &outcome {
                    certs
                        .insert(key.as_slice(), codec::encode_record(record).as_slice())
                        .map_err(db_err("append"))?;
                    log.insert(seq, event.encode().as_slice())
                        .map_err(db_err("append"))?;
                    seq += 1;
                }
                outcomes.push(outcome);
            }
        }
        txn.commit().map_err(db_err("append"))?;
        Ok(outcomes)
    }

    /// The current record of one certificate.
    pub fn record(
        &self,
        issuer_key_sha256: &[u8; 32],
        serial: &Serial,
    ) -> Result<Option<CertRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("read"))?;
        let certs = txn.open_table(CERTS).map_err(db_err("read"))?;
        let key = codec::cert_key(issuer_key_sha256, serial);
        match certs.get(key.as_slice()).map_err(db_err("read"))? {
            Some(v) => Ok(Some(codec::decode_record(v.value())?)),
            None => Ok(None),
        }
    }

    /// Visits every certificate record (the snapshot the index is rebuilt from).
    pub fn for_each_record(
        &self,
        mut f: impl FnMut([u8; 32], Serial, CertRecord),
    ) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("load"))?;
        let certs = txn.open_table(CERTS).map_err(db_err("load"))?;
        let mut n = 0;
        for item in certs.iter().map_err(db_err("load"))? {
            let (k, v) = item.map_err(db_err("load"))?;
            let (issuer, serial) = codec::split_cert_key(k.value())?;
            f(issuer, serial, codec::decode_record(v.value())?);
            n += 1;
        }
        Ok(n)
    }

    /// Visits every stored response.
    pub fn for_each_response(
        &self,
        mut f: impl FnMut([u8; 32], Serial, StoredResponse),
    ) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("load"))?;
        let table = txn.open_table(RESPONSES).map_err(db_err("load"))?;
        let mut n = 0;
        for item in table.iter().map_err(db_err("load"))? {
            let (k, v) = item.map_err(db_err("load"))?;
            let (issuer, serial) = codec::split_cert_key(k.value())?;
            f(issuer, serial, StoredResponse::decode(v.value())?);
            n += 1;
        }
        Ok(n)
    }

    /// Saves signed responses. Not fsync'd on its own (a response can always be signed
    /// again); it becomes durable with the next event commit or [`Store::flush`].
    pub fn save_responses(
        &self,
        responses: &[([u8; 32], Serial, StoredResponse)],
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(db_err("save responses"))?;
        txn.set_durability(Durability::None)
            .map_err(|e| StoreError::Database {
                op: "save responses",
                source: redb::Error::from(e),
            })?;
        {
            let mut table = txn
                .open_table(RESPONSES)
                .map_err(db_err("save responses"))?;
            for (issuer, serial, response) in responses {
                let key = codec::cert_key(issuer, serial);
                table
                    .insert(key.as_slice(), response.encode().as_slice())
                    .map_err(db_err("save responses"))?;
            }
        }
        txn.commit().map_err(db_err("save responses"))
    }

    /// Makes everything written so far durable (an empty fsync'd commit).
    pub fn flush(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err("flush"))?;
        txn.commit().map_err(db_err("flush"))
    }

    /// Number of events in the log.
    pub fn event_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("read"))?;
        let log = txn.open_table(EVENTS).map_err(db_err("read"))?;
        log.len().map_err(db_err("read"))
    }

    /// Visits the event log in order from `from_seq`.
    pub fn for_each_event(
        &self,
        from_seq: u64,
        mut f: impl FnMut(u64, Event),
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(db_err("read"))?;
        let log = txn.open_table(EVENTS).map_err(db_err("read"))?;
        for item in log.range(from_seq..).map_err(db_err("read"))? {
            let (k, v) = item.map_err(db_err("read"))?;
            let event =
                Event::decode(v.value()).map_err(|_| CodecError::Malformed { what: "event" })?;
            f(k.value(), event);
        }
        Ok(())
    }

    /// Reads a named value.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db_err("read"))?;
        let meta = txn.open_table(META).map_err(db_err("read"))?;
        Ok(meta
            .get(name)
            .map_err(db_err("read"))?
            .map(|v| v.value().to_vec()))
    }

    /// Writes a named value durably.
    pub fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(db_err("write"))?;
        {
            let mut meta = txn.open_table(META).map_err(db_err("write"))?;
            meta.insert(name, value).map_err(db_err("write"))?;
        }
        txn.commit().map_err(db_err("write"))
    }
}

//! The RA's own durable state in redb: certificate requests and their workflow state,
//! the certificates the CA issued (for subscriber revocation, suspension expiry and
//! key-compromise sweeps), and the blocked keys.
//!
//! Every write is one fsync'd transaction. Records are JSON (small, few, and readable
//! with any redb tool); the status of a certificate is NOT kept here: it lives in the
//! revocation stream (`ingest`), which this store only points into.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::roles::Role;

const REQUESTS: TableDefinition<u64, &[u8]> = TableDefinition::new("requests");
const CERTS: TableDefinition<&str, &[u8]> = TableDefinition::new("certs");
/// Key: SHA-256 of the SPKI (32 bytes) followed by the certificate's key in CERTS.
const CERTS_BY_KEY: TableDefinition<&[u8], ()> = TableDefinition::new("certs_by_key");
/// Key: SHA-256 of a blocked SPKI; value: when it was blocked (Unix seconds).
const BLOCKED_KEYS: TableDefinition<&[u8], i64> = TableDefinition::new("blocked_keys");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Where a request is in its workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    /// Submitted and verified by the submitting operator; waiting for approval.
    Verified,
    /// Approved by a second operator; the certificate was issued.
    Issued,
    /// Rejected (final).
    Rejected,
}

/// An operator's step in a request's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Operator name.
    pub operator: String,
    /// The operator's role at the time.
    pub role: Role,
    /// Unix seconds.
    pub at: i64,
}

/// A certificate request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Request id (decimal in the API).
    pub id: u64,
    /// Profile name.
    pub profile: String,
    /// Subject fields given with the request.
    pub subject: BTreeMap<String, String>,
    /// The PKCS#10 request, DER, hex.
    pub csr_hex: String,
    /// Requested validity, days (capped by the profile).
    pub validity_days: Option<u32>,
    /// Workflow state.
    pub state: RequestState,
    /// Who submitted (and so verified) it.
    pub verified: Step,
    /// Who approved it.
    pub approved: Option<Step>,
    /// Who rejected it, and why.
    pub rejected: Option<(Step, String)>,
    /// The issued certificate's key in the certificate table (`issuer/serial`).
    pub certificate: Option<String>,
}

/// A certificate the CA issued through the RA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertEntry {
    /// Issuing CA name.
    pub issuer: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Profile it was issued under.
    pub profile: String,
    /// SHA-256 of its SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The certificate, DER, hex.
    pub cert_hex: String,
    /// PBKDF2 of the revocation code handed out at issuance: `salt_hex$hash_hex`
    /// (the code itself is never stored).
    pub revocation_code_hash: Option<String>,
    /// While on hold: when the hold ends (automatic revocation), Unix seconds.
    pub hold_until: Option<i64>,
}

impl CertEntry {
    /// The key of this certificate in the certificate table.
    pub fn key(&self) -> String {
        cert_key(&self.issuer, &self.serial)
    }
}

/// The certificate table key for `issuer` and `serial_hex`.
pub fn cert_key(issuer: &str, serial_hex: &str) -> String {
    format!("{issuer}/{serial_hex}")
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum RaStoreError {
    /// redb failed.
    #[error("RA store {op}: {message}")]
    Db {
        /// What was being done.
        op: &'static str,
        /// The error.
        message: String,
    },
    /// A record does not decode (the file was damaged or written by another version).
    #[error("RA store: damaged record {key}: {message}")]
    Damaged {
        /// Which record.
        key: String,
        /// The error.
        message: String,
    },
}

fn db_err<E: std::fmt::Display>(op: &'static str) -> impl Fn(E) -> RaStoreError {
    move |e| RaStoreError::Db {
        op,
        message: e.to_string(),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, RaStoreError> {
    serde_json::from_slice(bytes).map_err(|e| RaStoreError::Damaged {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("RA records serialize")
}

/// The RA store.
pub struct RaStore {
    db: Database,
}

impl std::fmt::Debug for RaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaStore").finish_non_exhaustive()
    }
}

impl RaStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, RaStoreError> {
        let db = redb::Builder::new()
            .set_cache_size(4 * 1024 * 1024)
            .create(path)
            .map_err(db_err("open"))?;
        let txn = db.begin_write().map_err(db_err("open"))?;
        txn.open_table(REQUESTS).map_err(db_err("open"))?;
        txn.open_table(CERTS).map_err(db_err("open"))?;
        txn.open_table(CERTS_BY_KEY).map_err(db_err("open"))?;
        txn.open_table(BLOCKED_KEYS).map_err(db_err("open"))?;
        txn.open_table(META).map_err(db_err("open"))?;
        txn.commit().map_err(db_err("open"))?;
        Ok(Self { db })
    }

    /// Stores a new request under the next id (set in the record) and returns the id.
    pub fn insert_request(&self, mut record: RequestRecord) -> Result<u64, RaStoreError> {
        let txn = self.db.begin_write().map_err(db_err("insert request"))?;
        let id = {
            let mut meta = txn.open_table(META).map_err(db_err("insert request"))?;
            let id = meta
                .get("next_request_id")
                .map_err(db_err("insert request"))?
                .map_or(1, |v| v.value());
            meta.insert("next_request_id", id + 1)
                .map_err(db_err("insert request"))?;
            id
        };
        record.id = id;
        txn.open_table(REQUESTS)
            .map_err(db_err("insert request"))?
            .insert(id, encode(&record).as_slice())
            .map_err(db_err("insert request"))?;
        txn.commit().map_err(db_err("insert request"))?;
        Ok(id)
    }

    /// The request with this id.
    pub fn request(&self, id: u64) -> Result<Option<RequestRecord>, RaStoreError> {
        let txn = self.db.begin_read().map_err(db_err("read request"))?;
        let table = txn.open_table(REQUESTS).map_err(db_err("read request"))?;
        match table.get(id).map_err(db_err("read request"))? {
            Some(v) => Ok(Some(decode(&format!("request {id}"), v.value())?)),
            None => Ok(None),
        }
    }

    /// The most recent `limit` requests, newest first.
    pub fn requests(&self, limit: usize) -> Result<Vec<RequestRecord>, RaStoreError> {
        let txn = self.db.begin_read().map_err(db_err("list requests"))?;
        let table = txn.open_table(REQUESTS).map_err(db_err("list requests"))?;
        let mut out = Vec::new();
        for item in table
            .iter()
            .map_err(db_err("list requests"))?
            .rev()
            .take(limit)
        {
            let (k, v) = item.map_err(db_err("list requests"))?;
            out.push(decode(&format!("request {}", k.value()), v.value())?);
        }
        Ok(out)
    }

    /// Replaces a request and, if given, stores an issued certificate in the same
    /// transaction (so a request is never "issued" without its certificate).
    pub fn update_request(
        &self,
        record: &RequestRecord,
        issued: Option<&CertEntry>,
    ) -> Result<(), RaStoreError> {
        let txn = self.db.begin_write().map_err(db_err("update request"))?;
        txn.open_table(REQUESTS)
            .map_err(db_err("update request"))?
            .insert(record.id, encode(record).as_slice())
            .map_err(db_err("update request"))?;
        if let Some(cert) = issued {
            put_cert(&txn, cert)?;
        }
        txn.commit().map_err(db_err("update request"))?;
        Ok(())
    }

    /// Stores (or replaces) a certificate entry.
    pub fn put_cert(&self, cert: &CertEntry) -> Result<(), RaStoreError> {
        let txn = self.db.begin_write().map_err(db_err("store certificate"))?;
        put_cert(&txn, cert)?;
        txn.commit().map_err(db_err("store certificate"))?;
        Ok(())
    }

    /// The certificate entry for `issuer` and `serial_hex`.
    pub fn cert(&self, issuer: &str, serial_hex: &str) -> Result<Option<CertEntry>, RaStoreError> {
        let key = cert_key(issuer, serial_hex);
        let txn = self.db.begin_read().map_err(db_err("read certificate"))?;
        let table = txn.open_table(CERTS).map_err(db_err("read certificate"))?;
        match table
            .get(key.as_str())
            .map_err(db_err("read certificate"))?
        {
            Some(v) => Ok(Some(decode(&key, v.value())?)),
            None => Ok(None),
        }
    }

    /// Every certificate whose SubjectPublicKeyInfo has this SHA-256.
    pub fn certs_with_key(&self, spki_sha256: &[u8; 32]) -> Result<Vec<CertEntry>, RaStoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(db_err("certificates by key"))?;
        let index = txn
            .open_table(CERTS_BY_KEY)
            .map_err(db_err("certificates by key"))?;
        let certs = txn
            .open_table(CERTS)
            .map_err(db_err("certificates by key"))?;
        let mut out = Vec::new();
        for item in index
            .range(spki_sha256.as_slice()..)
            .map_err(db_err("certificates by key"))?
        {
            let (k, _) = item.map_err(db_err("certificates by key"))?;
            let k = k.value();
            if !k.starts_with(spki_sha256) {
                break;
            }
            let cert_key = String::from_utf8_lossy(&k[32..]).into_owned();
            if let Some(v) = certs
                .get(cert_key.as_str())
                .map_err(db_err("certificates by key"))?
            {
                out.push(decode(&cert_key, v.value())?);
            }
        }
        Ok(out)
    }

    /// Certificates on hold whose hold ended at or before `now`.
    pub fn expired_holds(&self, now: i64) -> Result<Vec<CertEntry>, RaStoreError> {
        // Holds are rare; a scan is simpler than another index and fast enough.
        let txn = self.db.begin_read().map_err(db_err("expired holds"))?;
        let table = txn.open_table(CERTS).map_err(db_err("expired holds"))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(db_err("expired holds"))? {
            let (k, v) = item.map_err(db_err("expired holds"))?;
            let entry: CertEntry = decode(k.value(), v.value())?;
            if entry.hold_until.is_some_and(|t| t <= now) {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Blocks a key (idempotent).
    pub fn block_key(&self, spki_sha256: &[u8; 32], now: i64) -> Result<(), RaStoreError> {
        let txn = self.db.begin_write().map_err(db_err("block key"))?;
        {
            let mut t = txn.open_table(BLOCKED_KEYS).map_err(db_err("block key"))?;
            if t.get(spki_sha256.as_slice())
                .map_err(db_err("block key"))?
                .is_none()
            {
                t.insert(spki_sha256.as_slice(), now)
                    .map_err(db_err("block key"))?;
            }
        }
        txn.commit().map_err(db_err("block key"))?;
        Ok(())
    }

    /// Every blocked key's SHA-256.
    pub fn blocked_keys(&self) -> Result<Vec<[u8; 32]>, RaStoreError> {
        let txn = self.db.begin_read().map_err(db_err("blocked keys"))?;
        let t = txn
            .open_table(BLOCKED_KEYS)
            .map_err(db_err("blocked keys"))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(db_err("blocked keys"))? {
            let (k, _) = item.map_err(db_err("blocked keys"))?;
            if let Ok(h) = <[u8; 32]>::try_from(k.value()) {
                out.push(h);
            }
        }
        Ok(out)
    }
}

fn put_cert(txn: &redb::WriteTransaction, cert: &CertEntry) -> Result<(), RaStoreError> {
    let key = cert.key();
    txn.open_table(CERTS)
        .map_err(db_err("store certificate"))?
        .insert(key.as_str(), encode(cert).as_slice())
        .map_err(db_err("store certificate"))?;
    if let Ok(Ok(spki)) = hex::decode(&cert.spki_sha256).map(<[u8; 32]>::try_from) {
        let mut index_key = spki.to_vec();
        index_key.extend_from_slice(key.as_bytes());
        txn.open_table(CERTS_BY_KEY)
            .map_err(db_err("store certificate"))?
            .insert(index_key.as_slice(), ())
            .map_err(db_err("store certificate"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str) -> Step {
        Step {
            operator: name.to_owned(),
            role: Role::Officer,
            at: 1,
        }
    }

    fn cert(serial: &str, spki: u8, hold_until: Option<i64>) -> CertEntry {
        CertEntry {
            issuer: "ap".to_owned(),
            serial: serial.to_owned(),
            profile: "fnmt-ap-sello".to_owned(),
            spki_sha256: hex::encode([spki; 32]),
            not_after: 100,
            cert_hex: "30".to_owned(),
            revocation_code_hash: None,
            hold_until,
        }
    }

    #[test]
    fn requests_get_increasing_ids_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ra.redb");
        let store = RaStore::open(&path).unwrap();
        let rec = RequestRecord {
            id: 0,
            profile: "tls-server".to_owned(),
            subject: BTreeMap::new(),
            csr_hex: "30".to_owned(),
            validity_days: None,
            state: RequestState::Verified,
            verified: step("alice"),
            approved: None,
            rejected: None,
            certificate: None,
        };
        assert_eq!(store.insert_request(rec.clone()).unwrap(), 1);
        assert_eq!(store.insert_request(rec.clone()).unwrap(), 2);
        let mut two = store.request(2).unwrap().unwrap();
        two.state = RequestState::Issued;
        two.certificate = Some("ap/01".to_owned());
        store
            .update_request(&two, Some(&cert("01", 7, None)))
            .unwrap();
        drop(store);
        let store = RaStore::open(&path).unwrap();
        assert_eq!(store.insert_request(rec).unwrap(), 3);
        let listed = store.requests(10).unwrap();
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(listed[1].state, RequestState::Issued);
        assert!(store.cert("ap", "01").unwrap().is_some());
        assert!(store.request(9).unwrap().is_none());
    }

    #[test]
    fn certs_by_key_holds_and_blocked_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = RaStore::open(&dir.path().join("ra.redb")).unwrap();
        store.put_cert(&cert("01", 7, None)).unwrap();
        store.put_cert(&cert("02", 7, Some(50))).unwrap();
        store.put_cert(&cert("03", 8, Some(500))).unwrap();
        let mut same_key: Vec<String> = store
            .certs_with_key(&[7; 32])
            .unwrap()
            .into_iter()
            .map(|c| c.serial)
            .collect();
        same_key.sort();
        assert_eq!(same_key, ["01", "02"]);
        assert!(store.certs_with_key(&[9; 32]).unwrap().is_empty());
        let due: Vec<String> = store
            .expired_holds(100)
            .unwrap()
            .into_iter()
            .map(|c| c.serial)
            .collect();
        assert_eq!(due, ["02"]);
        store.block_key(&[7; 32], 5).unwrap();
        store.block_key(&[7; 32], 6).unwrap();
        assert_eq!(store.blocked_keys().unwrap(), vec![[7u8; 32]]);
    }
}

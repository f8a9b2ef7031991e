//! Publishing: for each CA, read its records from the store, group them by the partition
//! chosen at issuance, and write the full CRL, every partition CRL (with an Issuing
//! Distribution Point byte-identical to the certificates' CDP) or the ARL of a root, each
//! atomically (temporary file, fsync, rename) into the publish directory. One CRL number
//! per CA and round, allocated durably before anything is written, so numbers never go
//! back nor repeat, across restarts included.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use revoca_ingest::Store;
use revoca_signer::Signer;
use revoca_status::UnixTime;

use crate::crl::{CrlEntry, CrlParams, IssuingDistributionPoint, write_crl};
use crate::numbers::{CrlNumber, CrlNumberStore};
use crate::partition::{GroupOptions, PartitionGrouper, PartitionPlan};

/// File name of a CA's full CRL.
pub const FULL_CRL_FILE: &str = "full.crl";
/// File name of a root's ARL.
pub const ARL_FILE: &str = "arl.crl";

/// How a CA's partition CRLs are named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionNaming {
    /// The plan (first number and count).
    pub plan: PartitionPlan,
    /// File name template with `{n}`, e.g. `CRL{n}.crl`.
    pub template: String,
}

impl PartitionNaming {
    /// The file name of partition `n`.
    pub fn file(&self, n: u32) -> String {
        self.template.replace("{n}", &n.to_string())
    }
}

/// One CA whose CRLs are published.
pub struct CaCrl {
    /// Name for logs and the CCADB list.
    pub name: String,
    /// URL path segment (`/crl/<slug>/...`) and publish subdirectory.
    pub slug: String,
    /// The CA's subject Name, DER.
    pub subject_der: Vec<u8>,
    /// The CA's subject key identifier (the CRLs' AKI).
    pub key_id: Vec<u8>,
    /// Its id in the revocation stream (SHA-256 of its key bits); `None` for a root that
    /// publishes only an ARL.
    pub key_sha256: Option<[u8; 32]>,
    /// The CA key.
    pub signer: Arc<dyn Signer>,
    /// Base URL of its CRLs, ending with `/` (the file name is appended).
    pub base_url: String,
    /// Partition CRLs, if the CA's profiles partition.
    pub partitions: Option<PartitionNaming>,
    /// Publish an ARL (CA certificates only) instead of end-entity CRLs.
    pub arl: bool,
    /// nextUpdate − thisUpdate, seconds.
    pub validity_secs: i64,
}

impl std::fmt::Debug for CaCrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaCrl")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Publisher settings.
#[derive(Clone, Debug)]
pub struct PublishSettings {
    /// Directory the CRLs are written to (`<dir>/<slug>/<file>`).
    pub publish_dir: PathBuf,
    /// Directory of the CRL number files.
    pub numbers_dir: PathBuf,
    /// An expired certificate's entry is kept until its notAfter is this far in the past
    /// (longer than the publication period, so it appeared on a CRL issued after expiry).
    pub retention_secs: i64,
}

/// One published CRL.
#[derive(Clone, Debug)]
pub struct Published {
    /// The CA's name.
    pub ca: String,
    /// Full URL (what the certificates' CDP says).
    pub url: String,
    /// URL path, e.g. `/crl/tls/full.crl`.
    pub url_path: String,
    /// The file written.
    pub file: PathBuf,
    /// Partition number, for partition CRLs.
    pub partition: Option<u32>,
    /// CRL number.
    pub number: CrlNumber,
    /// thisUpdate.
    pub this_update: UnixTime,
    /// nextUpdate.
    pub next_update: UnixTime,
    /// Entries on it.
    pub entries: u64,
    /// The DER bytes.
    pub der: Arc<Vec<u8>>,
}

/// Why publication failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Store(String),
    /// A CRL number could not be allocated.
    #[error("CRL number for {ca}: {message}")]
    Number {
        /// The CA.
        ca: String,
        /// What failed.
        message: String,
    },
    /// Encoding or signing failed.
    #[error("CRL {file}: {message}")]
    Build {
        /// The CRL's file.
        file: String,
        /// What failed.
        message: String,
    },
    /// Writing the file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Publishes the CRLs of a set of CAs.
pub struct Publisher {
    settings: PublishSettings,
    cas: Vec<CaCrl>,
    numbers: Vec<Mutex<CrlNumberStore>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("cas", &self.cas)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Opens the CRL number stores (one file per CA under `numbers_dir`).
    pub fn new(settings: PublishSettings, cas: Vec<CaCrl>) -> Result<Self, PublishError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| PublishError::Io { path, source }
        };
        std::fs::create_dir_all(&settings.numbers_dir).map_err(io(&settings.numbers_dir))?;
        let mut numbers = Vec::with_capacity(cas.len());
        for ca in &cas {
            let path = settings.numbers_dir.join(format!("{}.crlnumber", ca.slug));
            let store = CrlNumberStore::open(&path).map_err(|e| PublishError::Number {
                ca: ca.name.clone(),
                message: e.to_string(),
            })?;
            numbers.push(Mutex::new(store));
        }
        Ok(Self {
            settings,
            cas,
            numbers,
        })
    }

    /// The CAs, in configuration order.
    pub fn cas(&self) -> &[CaCrl] {
        &self.cas
    }

    /// Index of the CA with stream id `key_sha256`.
    pub fn ca_index(&self, key_sha256: &[u8; 32]) -> Option<usize> {
        self.cas
            .iter()
            .position(|c| c.key_sha256.as_ref() == Some(key_sha256))
    }

    /// Publishes every CRL of the CAs at `which` (all when `None`) as of `now`.
    pub fn publish(
        &self,
        store: &Store,
        which: Option<&[usize]>,
        now: UnixTime,
    ) -> Result<Vec<Published>, PublishError> {
        let chosen: Vec<usize> = match which {
            Some(w) => w.to_vec(),
            None => (0..self.cas.len()).collect(),
        };
        // One pass over the store for all chosen CAs.
        let cutoff = now - self.settings.retention_secs;
        let mut groupers: Vec<Option<PartitionGrouper>> = self
            .cas
            .iter()
            .enumerate()
            .map(|(i, ca)| {
                (chosen.contains(&i) && !ca.arl).then(|| {
                    PartitionGrouper::new(
                        ca.partitions.as_ref().map(|p| p.plan),
                        GroupOptions {
                            drop_expired_before: Some(cutoff),
                        },
                    )
                })
            })
            .collect();
        if groupers.iter().any(Option::is_some) {
            store
                .for_each_record(|issuer, serial, record| {
                    if let Some(i) = self.ca_index(&issuer)
                        && let Some(g) = groupers[i].as_mut()
                    {
                        g.push(serial, &record);
                    }
                })
                .map_err(|e| PublishError::Store(e.to_string()))?;
        }
        let mut out = Vec::new();
        for i in chosen {
            let Some(ca) = self.cas.get(i) else { continue };
            let number = self.numbers[i]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .allocate()
                .map_err(|e| PublishError::Number {
                    ca: ca.name.clone(),
                    message: e.to_string(),
                })?;
            let next_update = now + ca.validity_secs;
            if ca.arl {
                out.push(self.write(ca, ARL_FILE, None, &[], number, now, next_update, true)?);
                continue;
            }
            let Some(grouped) = groupers[i].take().map(PartitionGrouper::finish) else {
                continue;
            };
            let mut all: Vec<CrlEntry> = grouped.unpartitioned.clone();
            for entries in grouped.partitions.values() {
                all.extend_from_slice(entries);
            }
            all.sort_unstable_by_key(|e| e.serial);
            all.dedup_by_key(|e| e.serial);
            out.push(self.write(
                ca,
                FULL_CRL_FILE,
                None,
                &all,
                number,
                now,
                next_update,
                false,
            )?);
            if let Some(naming) = &ca.partitions {
                for (n, entries) in &grouped.partitions {
                    if !naming.plan.contains(*n) {
                        continue;
                    }
                    let file = naming.file(*n);
                    out.push(self.write(
                        ca,
                        &file,
                        Some(*n),
                        entries,
                        number,
                        now,
                        next_update,
                        false,
                    )?);
                }
            }
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        ca: &CaCrl,
        file: &str,
        partition: Option<u32>,
        entries: &[CrlEntry],
        number: CrlNumber,
        this_update: UnixTime,
        next_update: UnixTime,
        arl: bool,
    ) -> Result<Published, PublishError> {
        let url = format!("{}{file}", ca.base_url);
        let uris = [url.as_str()];
        let mut params = CrlParams::new(
            &ca.subject_der,
            &ca.key_id,
            number,
            this_update,
            next_update,
        );
        if arl {
            params.idp = Some(IssuingDistributionPoint::arl(&uris));
            params.ca_entries = true;
        } else if partition.is_some() {
            params.idp = Some(IssuingDistributionPoint::new(&uris).only_user_certs());
        }
        let mut der = Vec::new();
        let build_err = |message: String| PublishError::Build {
            file: format!("{}/{file}", ca.slug),
            message,
        };
        let summary = write_crl(&mut der, &params, entries, ca.signer.as_ref())
            .map_err(|e| build_err(e.to_string()))?;
        let dir = self.settings.publish_dir.join(&ca.slug);
        let path = dir.join(file);
        write_atomically(&dir, &path, &der)?;
        Ok(Published {
            ca: ca.name.clone(),
            url_path: url_path(&url),
            url,
            file: path,
            partition,
            number,
            this_update,
            next_update,
            entries: summary.entries,
            der: Arc::new(der),
        })
    }
}

/// The path part of an absolute URL.
fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .map_or("/".to_owned(), |i| rest[i..].to_owned())
}

/// Writes `bytes` to `path` through a temporary file in `dir`, fsync'd, then renamed, so a
/// reader sees the old or the new file, never a partial one.
pub fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| PublishError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        let n = PartitionNaming {
            plan: PartitionPlan {
                first: 1,
                count: 100,
            },
            template: "CRL{n}.crl".into(),
        };
        assert_eq!(n.file(17), "CRL17.crl");
        assert_eq!(url_path("http://h:8/crl/ap/CRL1.crl"), "/crl/ap/CRL1.crl");
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.crl");
        write_atomically(dir.path(), &p, b"one").unwrap();
        write_atomically(dir.path(), &p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert!(!dir.path().join("x.tmp").exists());
    }
}

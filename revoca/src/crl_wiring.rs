//! Wiring of CRL publication into `revoca serve`: which CAs publish (every issuer with a
//! `ca_key`, plus an optional root ARL), their partitions (from their profiles), the
//! schedule (every `period_secs`, and `delay_secs` after any status change), publication
//! to the directory, to HTTP (`/crl/<slug>/<file>`) and to the CCADB-style `crls.json`.
//! Also serves each CA certificate at its caIssuers path. No CRL logic of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use revoca_crl_builder::partition::PartitionPlan;
use revoca_crl_builder::publish::{
    CaCrl, PartitionNaming, PublishSettings, Published, Publisher, write_atomically,
};
use revoca_ingest::Store;
use revoca_issuer::CrlPartition;
use revoca_responder::docs::{StaticDoc, StaticDocs};
use revoca_responder::{Clock, IssuerSet};
use serde_json::json;

use crate::config::{Config, CrlConfig, url_slug};

/// CRL publication, ready to run.
pub struct CrlRuntime {
    publisher: Arc<Publisher>,
    store: Arc<Store>,
    docs: Arc<StaticDocs>,
    clock: Clock,
    settings: CrlConfig,
}

fn partitions_of(profiles: &[String]) -> Option<PartitionNaming> {
    let builtin = revoca_issuer::builtin_profiles().ok()?;
    builtin
        .iter()
        .filter(|p| profiles.contains(&p.name))
        .find_map(|p| match p.crl_partitioning() {
            CrlPartition::SerialMod {
                partitions,
                name_template,
                first,
            } => Some(PartitionNaming {
                plan: PartitionPlan {
                    first: *first,
                    count: *partitions,
                },
                template: name_template.clone(),
            }),
            _ => None,
        })
}

fn subject_and_key_id(cert_der: &[u8], what: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let subject = revoca_issuer::cert_subject_der(cert_der).map_err(|e| format!("{what}: {e}"))?;
    let key_id = revoca_issuer::cert_subject_key_identifier(cert_der)
        .map_err(|e| format!("{what}: {e}"))?
        .ok_or_else(|| format!("{what}: the certificate has no subject key identifier"))?;
    Ok((subject, key_id))
}

/// Builds the publisher from `config.crl`, and publishes the CA certificates at their
/// caIssuers paths into `docs`.
pub fn build(
    config: &Config,
    issuers: &IssuerSet,
    store: &Arc<Store>,
    docs: &Arc<StaticDocs>,
    clock: Clock,
) -> Result<Option<CrlRuntime>, String> {
    let base = config.default_base_url();
    for (ic, issuer) in config.issuers.iter().zip(issuers.iter()) {
        let url = ic.ca_issuers(config);
        if let Some(path) = url.strip_prefix(&base) {
            docs.publish([(
                path.to_owned(),
                StaticDoc::new(
                    Bytes::from(issuer.cert_der.clone()),
                    "application/pkix-cert",
                    clock.now(),
                    None,
                ),
            )]);
        }
    }
    let Some(settings) = config.crl.clone() else {
        return Ok(None);
    };
    let validity_secs = i64::from(settings.validity_hours) * 3600;
    if !(3600..=240 * 3600).contains(&validity_secs) {
        return Err(
            "[crl] validity_hours must be 1 to 240 (BR: nextUpdate at most 10 days)".into(),
        );
    }
    if settings.period_secs == 0 || settings.period_secs as i64 >= validity_secs {
        return Err("[crl] period_secs must be positive and shorter than validity_hours".into());
    }
    let mut cas = Vec::new();
    for (ic, issuer) in config.issuers.iter().zip(issuers.iter()) {
        let Some(key) = &ic.ca_key else { continue };
        let validity_secs = match ic.crl_validity_hours {
            Some(h) if !(1..=240).contains(&h) => {
                return Err(format!(
                    "issuer {}: crl_validity_hours {h} must be 1 to 240 (BR: at most 10 days)",
                    ic.name
                ));
            }
            Some(h) if i64::from(h) * 3600 <= settings.period_secs as i64 => {
                return Err(format!(
                    "issuer {}: crl_validity_hours must be longer than [crl] period_secs",
                    ic.name
                ));
            }
            Some(h) => i64::from(h) * 3600,
            None => validity_secs,
        };
        let signer = crate::keys::load_signer(key, config.hsm.as_ref())
            .map_err(|e| format!("issuer {}: CA key: {e}", ic.name))?;
        let (subject_der, key_id) = subject_and_key_id(&issuer.cert_der, &ic.name)?;
        cas.push(CaCrl {
            name: ic.name.clone(),
            slug: ic.slug(),
            subject_der,
            key_id,
            key_sha256: Some(issuer.key_sha256),
            signer,
            base_url: ic.crl_base(config),
            partitions: partitions_of(&ic.profiles),
            arl: false,
            validity_secs,
        });
    }
    if let Some(arl) = &settings.arl {
        let text = std::fs::read_to_string(&arl.cert)
            .map_err(|e| format!("{}: {e}", arl.cert.display()))?;
        let der = revoca_issuer::pem_decode_first("CERTIFICATE", &text)
            .map_err(|e| format!("{}: {e}", arl.cert.display()))?;
        let (subject_der, key_id) = subject_and_key_id(&der, &arl.name)?;
        let slug = url_slug(&arl.name);
        cas.push(CaCrl {
            name: arl.name.clone(),
            base_url: format!("{base}/crl/{slug}/"),
            slug,
            subject_der,
            key_id,
            key_sha256: None,
            signer: crate::keys::load_signer(&arl.key, config.hsm.as_ref())
                .map_err(|e| format!("ARL key: {e}"))?,
            partitions: None,
            arl: true,
            validity_secs: i64::from(arl.validity_days) * 86_400,
        });
    }
    let publisher = Publisher::new(
        PublishSettings {
            publish_dir: settings.publish_dir.clone(),
            numbers_dir: settings.publish_dir.join(".numbers"),
            retention_secs: settings.retention_secs as i64,
        },
        cas,
    )
    .map_err(|e| e.to_string())?;
    Ok(Some(CrlRuntime {
        publisher: Arc::new(publisher),
        store: Arc::clone(store),
        docs: Arc::clone(docs),
        clock,
        settings,
    }))
}

impl CrlRuntime {
    /// Publishes the CRLs of `which` CAs (all when `None`): files, HTTP, `crls.json`.
    pub fn publish(&self, which: Option<&[usize]>) -> Result<Vec<Published>, String> {
        let published = self
            .publisher
            .publish(&self.store, which, self.clock.now())
            .map_err(|e| e.to_string())?;
        self.docs.publish(published.iter().map(|p| {
            (
                p.url_path.clone(),
                StaticDoc::new(
                    Bytes::from(p.der.as_ref().clone()),
                    "application/pkix-crl",
                    p.this_update,
                    Some(p.next_update),
                ),
            )
        }));
        self.write_index()?;
        for p in &published {
            tracing::debug!(url = %p.url, number = %p.number.to_hex(), entries = p.entries, "CRL published");
        }
        Ok(published)
    }

    /// `crls.json`: every CRL URL per CA (the CCADB "JSON array of partitioned CRLs").
    fn write_index(&self) -> Result<(), String> {
        let mut by_ca: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for path in self.docs.paths() {
            if let Some(rest) = path.strip_prefix("/crl/")
                && let Some((slug, _)) = rest.split_once('/')
                && let Some(ca) = self.publisher.cas().iter().find(|c| c.slug == slug)
            {
                let file = &path[("/crl/".len() + slug.len() + 1)..];
                by_ca
                    .entry(ca.name.clone())
                    .or_default()
                    .push(format!("{}{file}", ca.base_url));
            }
        }
        let text = serde_json::to_vec_pretty(&json!(by_ca)).map_err(|e| e.to_string())?;
        let dir = &self.settings.publish_dir;
        write_atomically(dir, &dir.join("crls.json"), &text).map_err(|e| e.to_string())
    }

    /// Runs the schedule until `stop`: all CAs every `period_secs`; a CA `delay_secs`
    /// after its first unpublished change.
    pub fn run(
        self: Arc<Self>,
        changes: Receiver<[u8; 32]>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let period = Duration::from_secs(self.settings.period_secs);
        let delay = Duration::from_secs(self.settings.delay_secs);
        let mut next_all = Instant::now() + period;
        let mut dirty: BTreeSet<usize> = BTreeSet::new();
        let mut dirty_due: Option<Instant> = None;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let now = Instant::now();
            let deadline = dirty_due.map_or(next_all, |d| d.min(next_all));
            let wait = deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(200));
            match changes.recv_timeout(wait) {
                Ok(ca) => {
                    if let Some(i) = self.publisher.ca_index(&ca) {
                        dirty.insert(i);
                        dirty_due.get_or_insert(Instant::now() + delay);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if now >= next_all {
                self.publish_logged(None);
                next_all = now + period;
                dirty.clear();
                dirty_due = None;
            } else if dirty_due.is_some_and(|d| now >= d) {
                let which: Vec<usize> = std::mem::take(&mut dirty).into_iter().collect();
                dirty_due = None;
                self.publish_logged(Some(&which));
            }
        }
    }

    fn publish_logged(&self, which: Option<&[usize]>) {
        match self.publish(which) {
            Ok(p) => tracing::info!(crls = p.len(), "CRLs published"),
            // The previous CRLs stay published; the next round retries.
            Err(e) => tracing::error!(error = %e, "CRL publication failed"),
        }
    }
}

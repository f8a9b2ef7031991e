//! Wiring of the RA intake into `revoca serve`: CAs from the issuer configuration, the
//! RA store, the audit log, operators, TLS, the hold-expiry timer. No logic of its own.

use std::sync::Arc;
use std::time::Duration;

use revoca_ingest::Ingest;
use revoca_ra::api::{ClientCertCheck, RaApi, serve_ra};
use revoca_ra::certinfo::CertInfo;
use revoca_ra::roles::Operators;
use revoca_ra::store::RaStore;
use revoca_ra::workflow::{CaEntry, Ra, RaSettings};
use revoca_ra::{AuditLog, tls};
use revoca_responder::{Clock, IssuerSet};
use revoca_signer::Signer;
use revoca_status::{CertKey, CertState, Serial, StatusIndex};

use crate::config::{Config, RaConfig};

/// The RA, ready to serve.
pub struct RaRuntime {
    /// The API.
    pub api: Arc<RaApi>,
    /// The workflows (for the hold-expiry timer).
    pub ra: Arc<Ra>,
    /// TLS.
    pub tls: Arc<rustls::ServerConfig>,
    /// Its configuration.
    pub config: RaConfig,
}

fn cas(config: &Config, issuers: &IssuerSet) -> Result<Vec<CaEntry>, String> {
    let mut out = Vec::new();
    for (ic, issuer) in config.issuers.iter().zip(issuers.iter()) {
        let Some(key_path) = &ic.ca_key else {
            if !ic.profiles.is_empty() {
                return Err(format!(
                    "issuer {}: profiles need ca_key (the CA key to issue with)",
                    ic.name
                ));
            }
            continue;
        };
        let signer: Arc<dyn Signer> = crate::keys::load_signer(key_path, config.hsm.as_ref())
            .map_err(|e| format!("issuer {}: CA key: {e}", ic.name))?;
        let info = revoca_issuer::IssuerInfo::from_certificate_der(&issuer.cert_der)
            .map_err(|e| format!("issuer {}: {e}", ic.name))?;
        let not_after = CertInfo::parse(&issuer.cert_der)
            .map_err(|e| format!("issuer {}: {e}", ic.name))?
            .not_after;
        let base = config.default_base_url();
        out.push(CaEntry {
            name: ic.name.clone(),
            cert_der: issuer.cert_der.clone(),
            info,
            not_after,
            key_sha256: issuer.key_sha256,
            signer,
            profiles: ic.profiles.clone(),
            allow_hold: ic.allow_hold,
            ocsp_url: ic
                .ocsp_url
                .clone()
                .unwrap_or_else(|| format!("{base}{}", config.path_prefix)),
            ca_issuers_url: ic.ca_issuers(config),
            crl_base_url: ic.crl_base(config),
        });
    }
    Ok(out)
}

/// Operator certificates issued by one of Revoca's own CAs must be `good` in its index.
fn client_cert_check(issuers: Arc<IssuerSet>, index: Arc<StatusIndex>) -> ClientCertCheck {
    Box::new(move |der: &[u8]| {
        let info = CertInfo::parse(der)?;
        let Some(issuer) = issuers.iter().find(|i| info.issued_by(&i.cert_der)) else {
            return Ok(());
        };
        let serial = Serial::from_der_content(&info.serial_der).map_err(|e| e.to_string())?;
        let key = CertKey {
            issuer: issuer.id,
            serial,
        };
        match index.with_entry(&key, |e| e.state()) {
            Some(CertState::Good) => Ok(()),
            Some(CertState::Revoked { .. }) => Err("the certificate is revoked".into()),
            Some(CertState::Held { .. }) => Err("the certificate is suspended".into()),
            None => Err("the certificate is unknown to its CA".into()),
        }
    })
}

/// Waits up to 2 s for the refresher to sign the new status of `key`.
fn settle_hook(index: Arc<StatusIndex>) -> revoca_ra::workflow::SettleHook {
    Arc::new(move |key: CertKey| {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            if index
                .with_entry(&key, |e| e.presigned().is_some())
                .unwrap_or(false)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

/// Builds the RA from `config.ra`, if configured.
pub fn build(
    config: &Config,
    issuers: &Arc<IssuerSet>,
    ingest: &Arc<Ingest>,
    index: &Arc<StatusIndex>,
    clock: Clock,
) -> Result<Option<RaRuntime>, String> {
    let Some(rc) = config.ra.clone() else {
        return Ok(None);
    };
    let max_hold = RaSettings::default().max_hold_days;
    if rc.hold_days == 0 || rc.hold_days > max_hold {
        return Err(format!(
            "[ra] hold_days {} must be 1 to {max_hold}",
            rc.hold_days
        ));
    }
    let store = RaStore::open(&rc.store).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&rc.audit_dir)
        .map_err(|e| format!("{}: {e}", rc.audit_dir.display()))?;
    let audit = Arc::new(AuditLog::open(&rc.audit_dir).map_err(|e| e.to_string())?);
    let profiles = revoca_issuer::builtin_profiles().map_err(|e| e.to_string())?;
    let ra = Arc::new(
        Ra::new(
            cas(config, issuers)?,
            profiles,
            store,
            Arc::clone(ingest),
            audit,
            RaSettings {
                hold_days: rc.hold_days,
                ..RaSettings::default()
            },
            Arc::new(move || clock.now()),
        )?
        .with_settle(settle_hook(Arc::clone(index))),
    );
    let operators = Operators::load(&rc.operators).map_err(|e| e.to_string())?;
    let mut client_roots = Vec::new();
    for p in &rc.client_ca {
        client_roots.extend(tls::load_certs(p).map_err(|e| e.to_string())?);
    }
    let tls = tls::server_config(&rc.cert, &rc.key, client_roots).map_err(|e| e.to_string())?;
    let api = Arc::new(RaApi::new(
        Arc::clone(&ra),
        operators,
        client_cert_check(Arc::clone(issuers), Arc::clone(index)),
        &format!("{}/acme", rc.url.trim_end_matches('/')),
    ));
    Ok(Some(RaRuntime {
        api,
        ra,
        tls,
        config: rc,
    }))
}

/// Starts the RA server and the hold-expiry timer on the current runtime.
pub async fn start(rt: RaRuntime) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(rt.config.listen)
        .await
        .map_err(|e| format!("RA: cannot listen on {}: {e}", rt.config.listen))?;
    tokio::spawn(serve_ra(
        listener,
        rt.tls,
        rt.api,
        std::future::pending::<()>(),
    ));
    let ra = rt.ra;
    let every = Duration::from_secs(rt.config.hold_check_interval_secs.max(1));
    tokio::spawn(async move {
        loop {
            let ra = Arc::clone(&ra);
            match tokio::task::spawn_blocking(move || ra.expire_holds()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(revoked = n, "suspensions ended without release"),
                Ok(Err(e)) => tracing::error!(error = %e, "hold expiry check failed"),
                Err(e) => tracing::error!(error = %e, "hold expiry task failed"),
            }
            tokio::time::sleep(every).await;
        }
    });
    Ok(())
}

//! `revoca serve`: wires the store, the index, the refresher, the HTTP front and the
//! admin socket together. No logic of its own beyond start-up order and shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use revoca_ingest::{ChangeHook, Ingest, Store};
use revoca_responder::admin::{Admin, serve_admin};
use revoca_responder::http::{HttpApp, HttpSettings, serve, serve_sharded};
use revoca_responder::{
    Clock, IssuerSet, IssuerSettings, NonceMode, OcspIssuer, RefreshSettings, Refresher, Service,
    ServiceSettings, UnassignedPolicy,
};
use revoca_status::{IssuerId, StatusIndex};

use crate::config::Config;

/// Test hooks read from the environment (documented in docs/configuration.md).
#[derive(Clone, Copy, Debug, Default)]
pub struct TestHooks {
    /// `REVOCA_CLOCK_OFFSET_SECS`: shift the clock.
    pub clock_offset_secs: i64,
    /// `REVOCA_DISABLE_REFRESH=1`: never sign.
    pub disable_refresh: bool,
}

impl TestHooks {
    /// Reads the hooks from the environment.
    pub fn from_env() -> Result<Self, String> {
        let clock_offset_secs = match std::env::var("REVOCA_CLOCK_OFFSET_SECS") {
            Ok(v) => v
                .parse()
                .map_err(|_| format!("REVOCA_CLOCK_OFFSET_SECS={v:?} is not an integer"))?,
            Err(_) => 0,
        };
        let disable_refresh = std::env::var("REVOCA_DISABLE_REFRESH").is_ok_and(|v| v == "1");
        Ok(Self {
            clock_offset_secs,
            disable_refresh,
        })
    }
}

fn read_pem_cert(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    revoca_issuer::pem_decode_first("CERTIFICATE", &text)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn build_issuers(config: &Config) -> Result<IssuerSet, String> {
    let mut out = Vec::with_capacity(config.issuers.len());
    for (n, ic) in config.issuers.iter().enumerate() {
        let signer = crate::keys::load_signer(&ic.responder_key, config.hsm.as_ref())
            .map_err(|e| format!("issuer {}: responder key: {e}", ic.name))?;
        let cert = read_pem_cert(&ic.cert)?;
        let responder = ic
            .responder_cert
            .as_deref()
            .map(read_pem_cert)
            .transpose()?;
        let settings = IssuerSettings {
            name: ic.name.clone(),
            validity_secs: i64::from(ic.validity_hours) * 3600,
            unassigned: UnassignedPolicy::from_name(&ic.unassigned).unwrap_or_default(),
            nonce: if ic.nonce == "echo" {
                NonceMode::Echo
            } else {
                NonceMode::Ignore
            },
            allow_hold: ic.allow_hold,
        };
        let id = IssuerId(u16::try_from(n).map_err(|_| "too many issuers")?);
        out.push(
            OcspIssuer::new(id, settings, cert, responder, signer).map_err(|e| e.to_string())?,
        );
    }
    Ok(IssuerSet::new(out))
}

/// Runs the server until SIGTERM or SIGINT. `on_ready` is called once every assigned
/// serial has a fresh response (the demo prints its how-to then).
pub fn run(
    config: Config,
    hooks: TestHooks,
    on_ready: impl FnOnce() + Send + 'static,
) -> Result<(), String> {
    let clock = Clock::with_offset(hooks.clock_offset_secs);
    let issuers = Arc::new(build_issuers(&config)?);
    let store = Arc::new(Store::open(&config.store).map_err(|e| e.to_string())?);
    let index = Arc::new(StatusIndex::default());
    let ready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));

    let mut refresh = RefreshSettings {
        batch: config.refresh.batch,
        scan_interval_secs: config.refresh.scan_interval_secs,
        disabled: hooks.disable_refresh,
        ..RefreshSettings::default()
    };
    if let Some(w) = config.refresh.workers {
        refresh.workers = w;
    }
    let (refresher, urgent) = Refresher::new(
        Arc::clone(&index),
        Arc::clone(&issuers),
        Arc::clone(&store),
        clock,
        refresh,
        Arc::clone(&ready),
        Arc::clone(&stop),
    );
    // Status changes go to the refresher (new responses now) and to the CRL publisher
    // (new CRLs after the configured delay).
    let (crl_tx, crl_rx) = std::sync::mpsc::channel::<[u8; 32]>();
    let hook_issuers = Arc::clone(&issuers);
    let refresher_queue = urgent.clone();
    let hook: ChangeHook = Arc::new(move |changes| {
        urgent.push(changes.iter().map(|(k, _)| *k).collect());
        let mut seen = std::collections::BTreeSet::new();
        for (key, _) in changes {
            if seen.insert(key.issuer.0)
                && let Some(issuer) = hook_issuers.get(key.issuer)
            {
                let _ = crl_tx.send(issuer.key_sha256);
            }
        }
    });
    let issuer_keys: HashMap<[u8; 32], IssuerId> =
        issuers.iter().map(|i| (i.key_sha256, i.id)).collect();
    let ingest = Arc::new(Ingest::new(
        Arc::clone(&store),
        Arc::clone(&index),
        issuer_keys,
        hook,
    ));

    // Rebuild before anything is served: no window with missing status.
    let started = std::time::Instant::now();
    let (loaded, skipped) = ingest.rebuild().map_err(|e| e.to_string())?;
    let reused = refresher.load_stored().map_err(|e| e.to_string())?;
    tracing::info!(
        certificates = loaded,
        skipped_unconfigured = skipped,
        responses_reused = reused,
        secs = started.elapsed().as_secs_f64(),
        "status index rebuilt"
    );
    let refresh_metrics = Arc::clone(&refresher.metrics);
    // CRLs: published once before serving, then on schedule.
    let docs = Arc::new(revoca_responder::docs::StaticDocs::default());
    let crl = crate::crl_wiring::build(&config, &issuers, &store, &docs, clock)?.map(Arc::new);
    let crl_thread = match &crl {
        Some(crl) => {
            let published = crl.publish(None)?;
            tracing::info!(crls = published.len(), "CRLs published");
            let (crl, stop) = (Arc::clone(crl), Arc::clone(&stop));
            Some(
                std::thread::Builder::new()
                    .name("crl-publisher".into())
                    .spawn(move || crl.run(crl_rx, stop))
                    .map_err(|e| e.to_string())?,
            )
        }
        None => None,
    };
    let refresher_thread = std::thread::Builder::new()
        .name("refresher".into())
        .spawn(move || refresher.run())
        .map_err(|e| e.to_string())?;

    let service = Arc::new(Service::new(
        Arc::clone(&index),
        Arc::clone(&issuers),
        clock,
        ServiceSettings {
            max_age_cap_secs: config.max_age_cap_secs,
            on_demand_per_sec: config.on_demand.per_sec,
            on_demand_in_flight: config.on_demand.max_in_flight,
            on_demand_cache_entries: config.on_demand.cache_entries,
        },
    ));
    let metrics_index = Arc::clone(&index);
    let extra_metrics = Box::new(move || {
        format!(
            "# HELP revoca_certificates Assigned serials in the status index.\n# TYPE revoca_certificates gauge\nrevoca_certificates {}\n\
             # HELP revoca_responses_signed_total Responses signed by the refresher.\n# TYPE revoca_responses_signed_total counter\nrevoca_responses_signed_total {}\n\
             # HELP revoca_signing_failures_total Refresher signing failures.\n# TYPE revoca_signing_failures_total counter\nrevoca_signing_failures_total {}\n\
             # HELP revoca_refresh_retry_backlog Status changes waiting for the signer (answered tryLater meanwhile).\n# TYPE revoca_refresh_retry_backlog gauge\nrevoca_refresh_retry_backlog {}\n",
            metrics_index.len(),
            refresh_metrics.signed.load(Ordering::Relaxed),
            refresh_metrics.failed.load(Ordering::Relaxed),
            refresh_metrics.retry_backlog.load(Ordering::Relaxed),
        ) + &crate::keys::render_token_metrics()
    });
    let app = Arc::new(
        HttpApp::new(
            Arc::clone(&service),
            HttpSettings {
                path_prefix: config.path_prefix.clone(),
                max_post_bytes: config.max_post_bytes,
                ..HttpSettings::default()
            },
            Arc::clone(&ready),
            extra_metrics,
        )
        .with_docs(Arc::clone(&docs)),
    );

    let ra = crate::ra_wiring::build(&config, &issuers, &ingest, &index, clock)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("revoca-main")
        .build()
        .map_err(|e| e.to_string())?;
    let (stop_http, http_stopped) = tokio::sync::watch::channel(false);
    let listen_err = |e: std::io::Error| format!("cannot listen on {}: {e}", config.listen);
    let (http_threads, shared_http) = if config.http_threading == "shared" {
        let listener = std::net::TcpListener::bind(config.listen).map_err(listen_err)?;
        listener.set_nonblocking(true).map_err(listen_err)?;
        let (app, drain, mut stopped) = (Arc::clone(&app), config.drain_secs, http_stopped);
        let task = runtime.spawn(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            let stop = async move {
                while !*stopped.borrow() {
                    if stopped.changed().await.is_err() {
                        break;
                    }
                }
            };
            serve(listener, app, stop, drain).await;
        });
        (Vec::new(), Some(task))
    } else {
        let threads = serve_sharded(
            config.listen,
            http_shards(),
            Arc::clone(&app),
            http_stopped,
            config.drain_secs,
        )
        .map_err(listen_err)?;
        (threads, None)
    };
    let result = runtime.block_on(async {
        if let Some(path) = &config.admin_socket {
            let mut admin = Admin::new(
                Arc::clone(&issuers),
                Arc::clone(&ingest),
                Arc::clone(&index),
                clock,
            );
            if let Some(source) = &config.source {
                let rollover = Arc::new(crate::rollover::Rollover {
                    config: std::sync::Mutex::new(config.clone()),
                    config_path: source.clone(),
                    issuers: Arc::clone(&issuers),
                    queue: refresher_queue.clone(),
                    clock,
                });
                admin = admin.with_rollover_trigger(Arc::new(move |name: &str| rollover.run(name)));
            }
            if let Some(crl) = &crl {
                let crl = Arc::clone(crl);
                admin = admin.with_crl_trigger(Arc::new(move || {
                    let published = crl.publish(None)?;
                    Ok(published
                        .iter()
                        .map(|p| format!("{} #{}", p.url, p.number.to_hex()))
                        .collect::<Vec<_>>()
                        .join("\n"))
                }));
            }
            let admin = Arc::new(admin);
            let path = path.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_admin(&path, admin).await {
                    tracing::error!(error = %e, path = %path.display(), "admin socket failed");
                }
            });
        }
        if let Some(rt) = ra {
            crate::ra_wiring::start(rt).await?;
        }
        let ready_flag = Arc::clone(&ready);
        tokio::spawn(async move {
            while !ready_flag.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            on_ready();
        });
        shutdown_signal().await;
        let _ = stop_http.send(true);
        if let Some(task) = shared_http {
            let _ = task.await;
        }
        Ok::<(), String>(())
    });
    let _ = stop_http.send(true);
    for t in http_threads {
        let _ = t.join();
    }
    tracing::info!("shutting down");
    stop.store(true, Ordering::SeqCst);
    if let Some(t) = crl_thread {
        let _ = t.join();
    }
    let _ = refresher_thread.join();
    if let Some(path) = &config.admin_socket {
        let _ = std::fs::remove_file(path);
    }
    store.flush().map_err(|e| e.to_string())?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// One HTTP shard per core.
fn http_shards() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

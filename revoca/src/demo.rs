//! `revoca demo`: creates (or reuses) a demo PKI in a directory — a root, two issuing
//! CAs (ECDSA P-256 "TLS", RSA-2048 "AP" with suspension allowed), each with a delegated
//! OCSP responder — plus N sample certificates with a mix of statuses, writes
//! `config.toml` and `manifest.json`, and returns the configuration to serve.
//!
//! The first 1,000 samples are written as PEM files and listed in the manifest; beyond
//! that, samples are serial assignments of the TLS CA kept only in the store (their
//! serials are listed in `bulk-serials.txt` for load tests).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use revoca_ingest::Store;
use revoca_issuer::{
    CertificateBuilder, IssuerInfo, Name, Serial as CertSerial, TlsServerNames, Validity,
    pem_encode,
};
use revoca_signer::{KeyAlgorithm, Signer, SoftwareKey};
use revoca_status::{Event, EventKind, RevocationReason, Serial, UnixTime};
use serde_json::json;

use crate::config::{Config, IssuerConfig, OnDemandConfig, RefreshConfig};

/// Samples written as PEM files and listed in the manifest.
pub const MAX_PEM_SAMPLES: usize = 1000;
/// Events per store transaction while loading bulk samples.
const EVENT_BATCH: usize = 50_000;
/// Validity of demo responses, hours.
const VALIDITY_HOURS: u32 = 96;
/// The Cache-Control max-age cap of the demo, seconds.
const MAX_AGE_CAP_SECS: u32 = 600;

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The demo directory.
    pub dir: PathBuf,
    /// Where to serve.
    pub listen: SocketAddr,
    /// Number of sample certificates.
    pub certs: usize,
    /// Where the RA serves HTTPS (default: a free loopback port, chosen at each start).
    pub ra_listen: Option<SocketAddr>,
    /// Keep every CA and responder key in a SoftHSM2 token under `dir/hsm` (no private
    /// key file is written). The process must run with `SOFTHSM2_CONF` naming the
    /// token's configuration (main re-executes itself so).
    pub hsm: bool,
}

/// The SoftHSM2 configuration directory of a demo.
pub fn hsm_dir(dir: &Path) -> PathBuf {
    dir.join("hsm")
}

/// Label of the demo's token.
pub const HSM_TOKEN: &str = "revoca-demo";

/// Makes the demo's CA and responder keys: PEM files, or keys generated inside a token.
enum KeyMaker {
    Files,
    Token(crate::keys::HsmConfig),
}

impl KeyMaker {
    /// A new key called `name`; returns the signer and how the configuration names it.
    fn make(
        &self,
        dir: &Path,
        alg: KeyAlgorithm,
        name: &str,
    ) -> Result<(Arc<dyn Signer>, PathBuf), String> {
        match self {
            KeyMaker::Files => {
                let path = dir.join(format!("keys/{name}.key.pem"));
                Ok((Arc::new(new_key(alg, &path)?), path))
            }
            KeyMaker::Token(hsm) => {
                let config = hsm.key_config(None, Some(name), None)?;
                revoca_signer::pkcs11::generate_key(&config, name, alg)
                    .map_err(|e| format!("generating {name} in the token: {e}"))?;
                let key = revoca_signer::Pkcs11Key::open(&config).map_err(|e| e.to_string())?;
                Ok((Arc::new(key), crate::keys::pkcs11_uri(name)))
            }
        }
    }

    fn hsm(&self) -> Option<&crate::keys::HsmConfig> {
        match self {
            KeyMaker::Files => None,
            KeyMaker::Token(h) => Some(h),
        }
    }
}

/// Creates the demo's SoftHSM2 token with random PINs; the user PIN goes to
/// `hsm/user.pin` (0600), the SO PIN is not kept.
pub fn create_token(dir: &Path) -> Result<crate::keys::HsmConfig, String> {
    let hsm = hsm_dir(dir);
    let random_pin = || -> Result<String, String> {
        let mut b = [0u8; 12];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| "random source failed".to_owned())?;
        Ok(hex::encode(b))
    };
    let (so_pin, user_pin) = (random_pin()?, random_pin()?);
    let module = PathBuf::from(revoca_signer::pkcs11::DEFAULT_MODULE);
    let conf = revoca_signer::pkcs11::init_softhsm_token(
        &module,
        &hsm,
        HSM_TOKEN,
        &revoca_signer::pkcs11::Pin::new(so_pin),
        &revoca_signer::pkcs11::Pin::new(user_pin.clone()),
    )
    .map_err(|e| format!("creating the demo token: {e}"))?;
    let pin_file = hsm.join("user.pin");
    write_file(&pin_file, user_pin.as_bytes(), true)?;
    Ok(crate::keys::HsmConfig {
        module,
        token: HSM_TOKEN.to_owned(),
        pin_file: Some(pin_file),
        pin_env: None,
        sessions: 2,
        softhsm_conf: Some(conf),
    })
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

pub(crate) fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(contents).map_err(io_err(path))
}

fn ocsp_url(listen: SocketAddr) -> String {
    format!("http://{listen}/")
}

/// Prepares the demo directory and returns the configuration to serve and the manifest
/// path.
pub fn prepare(opts: &DemoOptions) -> Result<(Config, PathBuf), String> {
    std::fs::create_dir_all(&opts.dir).map_err(io_err(&opts.dir))?;
    let dir = opts.dir.canonicalize().map_err(io_err(&opts.dir))?;
    let manifest_path = dir.join("manifest.json");
    let config_path = dir.join("config.toml");
    let ra_listen = match opts.ra_listen {
        Some(a) => a,
        None => crate::demo_ra::free_loopback_addr()?,
    };
    if manifest_path.exists() && config_path.exists() {
        reuse(&dir, opts.listen, ra_listen)?;
    } else {
        create(&dir, opts, ra_listen)?;
    }
    let config = Config::load(&config_path).map_err(|e| e.to_string())?;
    Ok((config, manifest_path))
}

/// A demo directory's `manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<serde_json::Value, String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Points an existing demo at a (possibly new) listen address.
fn reuse(dir: &Path, listen: SocketAddr, ra_listen: SocketAddr) -> Result<(), String> {
    let config_path = dir.join("config.toml");
    let mut config = Config::load(&config_path).map_err(|e| e.to_string())?;
    config.listen = listen;
    let ra_url = crate::demo_ra::ra_url(ra_listen);
    if let Some(ra) = &mut config.ra {
        ra.listen = ra_listen;
        ra.url = ra_url.clone();
    }
    let text = toml::to_string(&config).map_err(|e| e.to_string())?;
    write_file(&config_path, text.as_bytes(), false)?;
    let manifest_path = dir.join("manifest.json");
    let mut manifest = read_manifest(dir)?;
    let url = ocsp_url(listen);
    // URLs built on the old address (CRLs) follow the new one.
    if let Some(old) = manifest["ocsp_url"].as_str().map(str::to_owned)
        && let Some(crls) = manifest["crls"].as_array_mut()
    {
        for c in crls {
            if let Some(u) = c["url"].as_str() {
                c["url"] =
                    json!(u.replacen(old.trim_end_matches('/'), url.trim_end_matches('/'), 1));
            }
        }
    }
    manifest["ocsp_url"] = json!(url);
    if manifest.get("ra_url").is_some() {
        manifest["ra_url"] = json!(ra_url);
        manifest["acme_directory"] = json!(format!("{ra_url}/acme/directory"));
    }
    if let Some(issuers) = manifest["issuers"].as_array_mut() {
        for i in issuers {
            i["ocsp_url"] = json!(url);
        }
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    write_file(&manifest_path, text.as_bytes(), false)?;
    tracing::info!(dir = %dir.display(), "reusing existing demo PKI");
    Ok(())
}

struct DemoCa {
    label: &'static str,
    name: String,
    key_alg: KeyAlgorithm,
    key: Arc<dyn Signer>,
    key_ref: PathBuf,
    info: IssuerInfo,
    cert_path: PathBuf,
    responder_cert_path: PathBuf,
    responder_key_ref: PathBuf,
    key_sha256: [u8; 32],
    allow_hold: bool,
    /// How its certificates are spread over CRLs (None: one full CRL).
    partitions: Option<revoca_issuer::CrlPartition>,
    /// Base URL of its CRLs.
    crl_base: String,
}

fn new_key(alg: KeyAlgorithm, path: &Path) -> Result<SoftwareKey, String> {
    let pkcs8 = SoftwareKey::generate_pkcs8(alg).map_err(|e| e.to_string())?;
    write_file(path, pem_encode("PRIVATE KEY", &pkcs8).as_bytes(), true)?;
    SoftwareKey::from_pkcs8_der(&pkcs8, &path.display().to_string()).map_err(|e| e.to_string())
}

fn serial() -> Result<CertSerial, String> {
    CertSerial::random().map_err(|e| e.to_string())
}

fn name(text: &str) -> Result<Name, String> {
    Name::parse(text).map_err(|e| format!("{text}: {e}"))
}

/// The issuance event of a demo certificate.
/// The AP CA partitions its CRLs like FNMT's profiles (the TLS CA does not).
fn demo_partitions(label: &str) -> Result<Option<revoca_issuer::CrlPartition>, String> {
    if label != "ap" {
        return Ok(None);
    }
    let profile = revoca_issuer::builtin_profile("fnmt-ap-sello").map_err(|e| e.to_string())?;
    Ok(Some(profile.crl_partitioning().clone()))
}

/// The CRLs the demo publishes, for the manifest: every CA's full CRL, the AP CA's
/// partitions and the root's ARL.
fn crl_list(
    cas: &[DemoCa],
    root_cert: &Path,
    listen: SocketAddr,
    publish_dir: &Path,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let entry = |issuer: &Path, base: &str, file: &str, partition: Option<u32>| {
        let slug = base
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        json!({
            "issuer": issuer,
            "url": format!("{base}{file}"),
            "partition": partition,
            "file": publish_dir.join(slug).join(file),
        })
    };
    for ca in cas {
        out.push(entry(
            &ca.cert_path,
            &ca.crl_base,
            revoca_crl_builder::publish::FULL_CRL_FILE,
            None,
        ));
        if let Some(revoca_issuer::CrlPartition::SerialMod {
            partitions,
            name_template,
            first,
        }) = &ca.partitions
        {
            for n in *first..first + partitions {
                let file = name_template.replace("{n}", &n.to_string());
                out.push(entry(&ca.cert_path, &ca.crl_base, &file, Some(n)));
            }
        }
    }
    let root_base = format!(
        "http://{listen}/crl/{}/",
        crate::config::url_slug(ROOT_NAME)
    );
    out.push(entry(
        root_cert,
        &root_base,
        revoca_crl_builder::publish::ARL_FILE,
        None,
    ));
    out
}

/// The root's name in the CRL configuration.
const ROOT_NAME: &str = "Revoca Demo Root CA";

/// Seconds between a status change and the CRLs showing it, in the demo.
const CRL_DELAY_SECS: u64 = 2;

pub(crate) fn issued(
    issuer_key_sha256: [u8; 32],
    serial: Serial,
    at: UnixTime,
    not_after: UnixTime,
) -> Event {
    Event {
        issuer_key_sha256,
        serial,
        at,
        kind: EventKind::Issued {
            not_after,
            precertificate: false,
            crl_partition: None,
            spki_sha256: None,
        },
    }
}

fn rfc3339(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The status a sample gets: a fixed pattern so every demo has each kind under both CAs.
fn sample_status(i: usize, allow_hold: bool) -> Option<EventKind> {
    const REASONS: [RevocationReason; 4] = [
        RevocationReason::KeyCompromise,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::AffiliationChanged,
    ];
    match i % 10 {
        3 | 4 => Some(EventKind::Revoked {
            reason: REASONS[(i / 10) % REASONS.len()],
            invalidity_date: None,
        }),
        5 if allow_hold => Some(EventKind::Held),
        6 if (i / 10).is_multiple_of(3) => Some(EventKind::Revoked {
            reason: RevocationReason::PrivilegeWithdrawn,
            invalidity_date: None,
        }),
        _ => None,
    }
}

fn create(dir: &Path, opts: &DemoOptions, ra_listen: SocketAddr) -> Result<(), String> {
    let started = std::time::Instant::now();
    let now = revoca_responder::Clock::system().now();
    let url = ocsp_url(opts.listen);
    for sub in ["keys", "certs", "samples"] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    let store_path = dir.join("revoca.redb");
    if store_path.exists() {
        // A half-made demo from an interrupted run: start over.
        std::fs::remove_file(&store_path).map_err(io_err(&store_path))?;
    }
    let years = |n: u32| n * 365 * 86_400;
    let validity = |secs: u32| Validity::starting_at(now - 3600, secs).map_err(|e| e.to_string());

    let keys = if opts.hsm {
        KeyMaker::Token(create_token(dir)?)
    } else {
        KeyMaker::Files
    };

    // Root.
    let (root_key, root_key_ref) = keys.make(dir, KeyAlgorithm::EcdsaP256, "root")?;
    let root_der = CertificateBuilder::root_ca(
        serial()?,
        name("C=ES,O=Revoca Demo,CN=Revoca Demo Root CA")?,
        validity(years(10))?,
        root_key.public_key_spki_der(),
    )
    .and_then(|b| b.build(root_key.as_ref()))
    .map_err(|e| e.to_string())?;
    let root_path = dir.join("certs/root.pem");
    write_file(
        &root_path,
        pem_encode("CERTIFICATE", &root_der).as_bytes(),
        false,
    )?;
    let root_info = IssuerInfo::from_certificate_der(&root_der).map_err(|e| e.to_string())?;

    // Issuing CAs with their delegated responders.
    let mut cas = Vec::new();
    for (label, cn, alg, allow_hold) in [
        (
            "tls",
            "Revoca Demo TLS CA (P-256)",
            KeyAlgorithm::EcdsaP256,
            false,
        ),
        ("ap", "Revoca Demo AP CA (RSA)", KeyAlgorithm::Rsa2048, true),
    ] {
        let (key, key_ref) = keys.make(dir, alg, &format!("{label}-ca"))?;
        let ca_der = CertificateBuilder::issuing_ca(
            serial()?,
            name(&format!("C=ES,O=Revoca Demo,CN={cn}"))?,
            validity(years(5))?,
            key.public_key_spki_der(),
            &root_info,
            Some(0),
        )
        .and_then(|b| b.build(root_key.as_ref()))
        .map_err(|e| e.to_string())?;
        let cert_path = dir.join(format!("certs/{label}-ca.pem"));
        write_file(
            &cert_path,
            pem_encode("CERTIFICATE", &ca_der).as_bytes(),
            false,
        )?;
        let info = IssuerInfo::from_certificate_der(&ca_der).map_err(|e| e.to_string())?;

        let (responder_key, responder_key_ref) =
            keys.make(dir, alg, &format!("{label}-responder"))?;
        let responder_der = CertificateBuilder::ocsp_responder(
            serial()?,
            name(&format!("C=ES,O=Revoca Demo,CN={cn} OCSP Responder"))?,
            validity(years(1))?,
            responder_key.public_key_spki_der(),
            &info,
        )
        .and_then(|b| b.build(key.as_ref()))
        .map_err(|e| e.to_string())?;
        let responder_cert_path = dir.join(format!("certs/{label}-responder.pem"));
        write_file(
            &responder_cert_path,
            pem_encode("CERTIFICATE", &responder_der).as_bytes(),
            false,
        )?;
        cas.push(DemoCa {
            label,
            name: cn.to_owned(),
            key_alg: alg,
            key_sha256: revoca_responder::issuers::cert_key_sha256(&ca_der)
                .map_err(|e| e.to_string())?,
            key,
            key_ref,
            info,
            cert_path,
            responder_cert_path,
            responder_key_ref,
            allow_hold,
            partitions: demo_partitions(label)?,
            crl_base: format!(
                "http://{}/crl/{}/",
                opts.listen,
                crate::config::url_slug(cn)
            ),
        });
    }

    // Samples.
    let store = Store::open(&store_path).map_err(|e| e.to_string())?;
    let mut events = Vec::with_capacity(EVENT_BATCH.min(opts.certs * 2));
    let mut samples = Vec::new();
    let ee_validity = validity(90 * 86_400)?;
    let issued_at = now - 3600;
    let flush = |events: &mut Vec<Event>| -> Result<(), String> {
        if !events.is_empty() {
            for outcome in store.append(events).map_err(|e| e.to_string())? {
                outcome.map_err(|e| format!("demo event refused: {e}"))?;
            }
            events.clear();
        }
        Ok(())
    };
    let ee_key_alg = KeyAlgorithm::EcdsaP256;
    for i in 0..opts.certs.min(MAX_PEM_SAMPLES) {
        let ca = &cas[i % cas.len()];
        let pkcs8 = SoftwareKey::generate_pkcs8(ee_key_alg).map_err(|e| e.to_string())?;
        let ee_key = SoftwareKey::from_pkcs8_der(&pkcs8, "sample").map_err(|e| e.to_string())?;
        let dns = format!("sample-{i:04}.demo.revoca.test");
        let mut builder = CertificateBuilder::tls_server(
            serial()?,
            name(&format!("CN={dns}"))?,
            ee_validity.clone(),
            ee_key.public_key_spki_der(),
            &ca.info,
            &TlsServerNames {
                dns_names: &[dns.as_str()],
                ocsp_url: Some(url.as_str()),
                ca_issuers_url: None,
            },
        )
        .map_err(|e| e.to_string())?;
        // The CRL distribution point: the AP CA partitions like FNMT (CRL<n>.crl, n from
        // the serial), the TLS CA publishes one full CRL.
        let partition = ca
            .partitions
            .as_ref()
            .map(|p| (p.index(builder.serial()), p.name(builder.serial())));
        let crl_file = match &partition {
            Some((_, name)) => name.clone(),
            None => revoca_crl_builder::publish::FULL_CRL_FILE.to_owned(),
        };
        let crl_url = format!("{}{crl_file}", ca.crl_base);
        builder
            .push(
                revoca_issuer::Extension::crl_distribution_points(&[crl_url.as_str()])
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
        let der = builder.build(ca.key.as_ref()).map_err(|e| e.to_string())?;
        let path = dir.join(format!("samples/{i:04}.pem"));
        write_file(&path, pem_encode("CERTIFICATE", &der).as_bytes(), false)?;
        // The subscriber's key, so demos and tests can use the key-based revocation
        // channels (ACME revokeCert, key compromise). Not with --hsm: no key on disk.
        let key_path = (!opts.hsm).then(|| dir.join(format!("samples/{i:04}.key.pem")));
        if let Some(p) = &key_path {
            write_file(p, pem_encode("PRIVATE KEY", &pkcs8).as_bytes(), true)?;
        }
        let serial =
            Serial::from_unsigned_be(builder.serial().magnitude()).map_err(|e| e.to_string())?;
        let mut event = issued(ca.key_sha256, serial, issued_at, ee_validity.not_after());
        if let EventKind::Issued { crl_partition, .. } = &mut event.kind {
            *crl_partition = partition.as_ref().and_then(|(n, _)| *n);
        }
        events.push(event);
        let status = sample_status(i, ca.allow_hold);
        let (status_name, reason) = match status {
            Some(EventKind::Revoked { reason, .. }) => ("revoked", Some(reason.name())),
            Some(EventKind::Held) => ("hold", Some(RevocationReason::CertificateHold.name())),
            _ => ("good", None),
        };
        if let Some(kind) = status {
            events.push(Event {
                issuer_key_sha256: ca.key_sha256,
                serial,
                at: now,
                kind,
            });
        }
        samples.push(json!({
            "crl_url": crl_url,
            "cert": path,
            "key": key_path,
            "issuer": ca.cert_path,
            "serial": serial.to_hex(),
            "status": status_name,
            "reason": reason,
            "revocation_time": status.map(|_| rfc3339(now)),
        }));
    }
    flush(&mut events)?;

    // The RA: server and operator certificates from the TLS CA.
    // Not with --hsm: the RA's TLS key and the operators' keys would be files.
    let ra = if opts.hsm {
        None
    } else {
        Some(crate::demo_ra::create(
            dir,
            &crate::demo_ra::IssuingCa {
                key: cas[0].key.as_ref(),
                info: &cas[0].info,
                key_sha256: cas[0].key_sha256,
                ocsp_url: &url,
                cert_path: &cas[0].cert_path,
            },
            ra_listen,
            &validity(years(1))?,
            issued_at,
        )?)
    };
    if let Some(ra) = &ra {
        events.extend(ra.events.iter().copied());
    }
    flush(&mut events)?;

    // Bulk: serial assignments of the TLS CA, only in the store.
    let bulk = opts.certs.saturating_sub(MAX_PEM_SAMPLES);
    let bulk_path = dir.join("bulk-serials.txt");
    let mut bulk_file =
        std::io::BufWriter::new(std::fs::File::create(&bulk_path).map_err(io_err(&bulk_path))?);
    let tls = &cas[0];
    let mut bulk_revoked = 0usize;
    for i in 0..bulk {
        let magnitude = revoca_issuer::random_serial().map_err(|e| e.to_string())?;
        let serial = Serial::from_unsigned_be(&magnitude).map_err(|e| e.to_string())?;
        writeln!(bulk_file, "{}", serial.to_hex()).map_err(io_err(&bulk_path))?;
        events.push(issued(
            tls.key_sha256,
            serial,
            issued_at,
            ee_validity.not_after(),
        ));
        // About 1% revoked, as in a real WebPKI CA.
        if i % 100 == 99 {
            bulk_revoked += 1;
            events.push(Event {
                issuer_key_sha256: tls.key_sha256,
                serial,
                at: now,
                kind: EventKind::Revoked {
                    reason: RevocationReason::Superseded,
                    invalidity_date: None,
                },
            });
        }
        if events.len() >= EVENT_BATCH {
            flush(&mut events)?;
        }
    }
    flush(&mut events)?;
    bulk_file.flush().map_err(io_err(&bulk_path))?;
    drop(store);

    // Configuration.
    let config = Config {
        listen: opts.listen,
        store: store_path.clone(),
        path_prefix: "/".into(),
        max_post_bytes: 10 * 1024,
        max_age_cap_secs: MAX_AGE_CAP_SECS,
        admin_socket: Some(dir.join("admin.sock")),
        drain_secs: 5,
        http_threading: "shared".into(),
        refresh: RefreshConfig::default(),
        on_demand: OnDemandConfig::default(),
        issuers: cas
            .iter()
            .map(|ca| IssuerConfig {
                name: ca.name.clone(),
                cert: ca.cert_path.clone(),
                responder_cert: Some(ca.responder_cert_path.clone()),
                responder_key: ca.responder_key_ref.clone(),
                validity_hours: VALIDITY_HOURS,
                unassigned: "unauthorized".into(),
                nonce: "ignore".into(),
                allow_hold: ca.allow_hold,
                ca_key: Some(ca.key_ref.clone()),
                profiles: crate::demo_ra::demo_profiles(ca.label),
                ocsp_url: None,
                ca_issuers_url: None,
                crl_base_url: None,
                crl_validity_hours: None,
            })
            .collect(),
        ra: ra.as_ref().map(|r| r.config.clone()),
        hsm: keys.hsm().cloned(),
        crl: Some(crate::config::CrlConfig {
            publish_dir: dir.join("crl"),
            delay_secs: CRL_DELAY_SECS,
            period_secs: 6 * 3600,
            validity_hours: 96,
            retention_secs: 7 * 86_400,
            arl: Some(crate::config::ArlConfig {
                name: ROOT_NAME.to_owned(),
                cert: root_path.clone(),
                key: root_key_ref.clone(),
                validity_days: 365,
            }),
        }),
        source: None,
    };
    let config_path = dir.join("config.toml");
    let text = toml::to_string(&config).map_err(|e| e.to_string())?;
    write_file(&config_path, text.as_bytes(), false)?;

    // The manifest last: its presence marks a complete demo.
    let mut manifest = json!({
        "ocsp_url": url,
        "roots": [root_path],
        "issuers": cas.iter().map(|ca| json!({
            "name": ca.name,
            "label": ca.label,
            "cert": ca.cert_path,
            "key_alg": ca.key_alg.name(),
            "ocsp_url": url,
            "responder_cert": ca.responder_cert_path,
            "allow_hold": ca.allow_hold,
            "unassigned": "unauthorized",
        })).collect::<Vec<_>>(),
        "samples": samples,
        "bulk": {
            "issuer": tls.cert_path,
            "count": bulk,
            "revoked": bulk_revoked,
            "serials_file": bulk_path,
        },
        "validity_hours": VALIDITY_HOURS,
        "max_age_cap_secs": MAX_AGE_CAP_SECS,
        "admin_socket": dir.join("admin.sock"),
        "config": config_path,
        "crls": crl_list(&cas, &root_path, opts.listen, &dir.join("crl")),
        "crl_publish_dir": dir.join("crl"),
        "store": store_path,
    });
    if let Some(ra) = &ra {
        manifest["ra_url"] = json!(ra.config.url);
        manifest["acme_directory"] = json!(format!("{}/acme/directory", ra.config.url));
        manifest["operators"] = ra.operators.clone();
        manifest["audit_dir"] = json!(ra.config.audit_dir);
    }
    if let Some(hsm) = keys.hsm() {
        manifest["hsm"] = json!({
            "module": hsm.module,
            "token": hsm.token,
            "softhsm_conf": hsm.softhsm_conf,
            "keys": cas.iter().flat_map(|ca| [&ca.key_ref, &ca.responder_key_ref]).collect::<Vec<_>>(),
        });
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    write_file(&dir.join("manifest.json"), text.as_bytes(), false)?;
    tracing::info!(
        dir = %dir.display(),
        certificates = opts.certs,
        secs = started.elapsed().as_secs_f64(),
        "demo PKI created"
    );
    Ok(())
}

/// The short how-to printed once the demo serves.
pub fn how_to(dir: &Path, listen: SocketAddr) -> String {
    let d = dir.display();
    let url = ocsp_url(listen);
    format!(
        "ready: {url}\n\
         Revoca demo PKI in {d} (manifest.json lists every sample). Try:\n  \
         openssl ocsp -issuer {d}/certs/tls-ca.pem -cert {d}/samples/0000.pem -url {url} -CAfile {d}/certs/root.pem -no_nonce -resp_text\n  \
         openssl ocsp -issuer {d}/certs/tls-ca.pem -cert {d}/samples/0004.pem -url {url} -CAfile {d}/certs/root.pem -no_nonce\n  \
         revoca revoke --dir {d} --cert {d}/samples/0000.pem --reason keyCompromise\n\
         Stop with Ctrl-C."
    )
}

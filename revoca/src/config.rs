//! `revoca serve` configuration (TOML). Every field, its unit and its default is listed
//! in `docs/configuration.md`; relative paths are resolved against the file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the OCSP HTTP server listens on (default `127.0.0.1:8080`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The embedded store file (redb).
    pub store: PathBuf,
    /// URL path prefix OCSP is served under, e.g. `/ocsp/` (default `/`).
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// Largest accepted POST body, bytes (default 10,240).
    #[serde(default = "default_max_post")]
    pub max_post_bytes: usize,
    /// Cap on `max-age` in Cache-Control, seconds (default 600).
    #[serde(default = "default_max_age_cap")]
    pub max_age_cap_secs: u32,
    /// Unix socket for `revoca revoke/hold/release` (mode 0600; default: none).
    #[serde(default)]
    pub admin_socket: Option<PathBuf>,
    /// Seconds to let open connections finish at shutdown (default 10).
    #[serde(default = "default_drain")]
    pub drain_secs: u64,
    /// How HTTP work is spread over the cores: `shared` (default: one work-stealing
    /// runtime, which evens out uneven connection spreads: same throughput, lower p99 in
    /// docs/benchmarks.md) or `per-core` (one single-threaded runtime and one SO_REUSEPORT
    /// socket per core, no cross-thread hand-offs).
    #[serde(default = "default_http_threading")]
    pub http_threading: String,
    /// The refresher.
    #[serde(default)]
    pub refresh: RefreshConfig,
    /// On-demand signing (other CertID hashes, several CertIDs, nonces).
    #[serde(default)]
    pub on_demand: OnDemandConfig,
    /// The issuers answered for (at least one).
    #[serde(rename = "issuer")]
    pub issuers: Vec<IssuerConfig>,
    /// The RA intake (HTTPS API, ACME revokeCert); omit to run without one.
    #[serde(default)]
    pub ra: Option<RaConfig>,
    /// The PKCS#11 token for keys named `pkcs11:...` (omit when every key is a file).
    #[serde(default)]
    pub hsm: Option<crate::keys::HsmConfig>,
    /// CRL publication (omit to publish none).
    #[serde(default)]
    pub crl: Option<CrlConfig>,
    /// The file this configuration was read from (not a TOML field; rewritten by a
    /// responder key rollover).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[crl]`: CRLs for every issuer with a `ca_key`, and optionally a root's ARL.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrlConfig {
    /// Directory the CRLs are written to (`DIR/<issuer slug>/<file>`, plus `crls.json`).
    pub publish_dir: PathBuf,
    /// Seconds between a revocation, hold or release and the CRLs that show it (default 60).
    #[serde(default = "default_crl_delay")]
    pub delay_secs: u64,
    /// Seconds between regular publications (default 21,600 = 6 h; ACCV publishes every 5 h).
    #[serde(default = "default_crl_period")]
    pub period_secs: u64,
    /// nextUpdate − thisUpdate, hours (default 96; at most 240 per the BR, 96 for ACCV).
    #[serde(default = "default_crl_validity")]
    pub validity_hours: u32,
    /// Seconds an expired certificate stays on CRLs after its notAfter (default 7 days;
    /// longer than `period_secs`, so it appears on a CRL issued after expiry).
    #[serde(default = "default_crl_retention")]
    pub retention_secs: u64,
    /// A root CA whose ARL (CA certificates only) is published too.
    #[serde(default)]
    pub arl: Option<ArlConfig>,
}

/// `[crl.arl]`: a root's authority revocation list.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ArlConfig {
    /// Name (logs, the CCADB list).
    pub name: String,
    /// The root certificate (PEM).
    pub cert: PathBuf,
    /// The root key (PEM file or `pkcs11:` URI).
    pub key: PathBuf,
    /// nextUpdate − thisUpdate, days (default 365; BR: at most 12 months).
    #[serde(default = "default_arl_validity")]
    pub validity_days: u32,
}

fn default_crl_delay() -> u64 {
    60
}
fn default_crl_period() -> u64 {
    21_600
}
fn default_crl_validity() -> u32 {
    96
}
fn default_crl_retention() -> u64 {
    7 * 86_400
}
fn default_arl_validity() -> u32 {
    365
}

/// A URL path segment for a name ("Revoca Demo TLS CA (P-256)" → "revoca-demo-tls-ca-p-256").
pub fn url_slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

impl Config {
    /// `http://LISTEN`, the default base of URLs written into certificates.
    pub fn default_base_url(&self) -> String {
        format!("http://{}", self.listen)
    }
}

impl IssuerConfig {
    /// The issuer's URL path segment.
    pub fn slug(&self) -> String {
        url_slug(&self.name)
    }

    /// Base URL of its CRLs (ends with `/`).
    pub fn crl_base(&self, config: &Config) -> String {
        self.crl_base_url
            .clone()
            .unwrap_or_else(|| format!("{}/crl/{}/", config.default_base_url(), self.slug()))
    }

    /// Its caIssuers URL.
    pub fn ca_issuers(&self, config: &Config) -> String {
        self.ca_issuers_url
            .clone()
            .unwrap_or_else(|| format!("{}/ca/{}.crt", config.default_base_url(), self.slug()))
    }
}

/// `[ra]`: the registration-authority intake.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RaConfig {
    /// Address the RA HTTPS server listens on (e.g. `127.0.0.1:8443`).
    pub listen: SocketAddr,
    /// External base URL of the RA (`https://host:port`); ACME URLs are built on it.
    pub url: String,
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// Trust anchors for operator client certificates (PEM files).
    pub client_ca: Vec<PathBuf>,
    /// Operators: a JSON array of `{name, role, cert_sha256}`.
    pub operators: PathBuf,
    /// The RA store file (redb).
    pub store: PathBuf,
    /// Directory of the hash-chained audit log.
    pub audit_dir: PathBuf,
    /// Suspension period before automatic revocation, days (default 30).
    #[serde(default = "default_hold_days")]
    pub hold_days: u32,
    /// Seconds between checks for ended suspensions (default 60).
    #[serde(default = "default_hold_check")]
    pub hold_check_interval_secs: u64,
}

fn default_hold_days() -> u32 {
    30
}
fn default_hold_check() -> u64 {
    60
}

/// `[refresh]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshConfig {
    /// Signing threads (default: number of cores).
    #[serde(default)]
    pub workers: Option<usize>,
    /// Responses per signing batch (default 4,096).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Seconds between scans for responses at half-life (default 60).
    #[serde(default = "default_scan")]
    pub scan_interval_secs: u64,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            workers: None,
            batch: default_batch(),
            scan_interval_secs: default_scan(),
        }
    }
}

/// `[on_demand]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OnDemandConfig {
    /// Signatures per second, all issuers together (default 200).
    #[serde(default = "default_per_sec")]
    pub per_sec: u32,
    /// Signatures running at once (default 4).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Cached on-demand responses for SHA-256/384/512 CertIDs (default 65,536).
    #[serde(default = "default_cache")]
    pub cache_entries: usize,
}

impl Default for OnDemandConfig {
    fn default() -> Self {
        Self {
            per_sec: default_per_sec(),
            max_in_flight: default_in_flight(),
            cache_entries: default_cache(),
        }
    }
}

/// `[[issuer]]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Short name for logs and metrics.
    pub name: String,
    /// The issuing CA certificate (PEM).
    pub cert: PathBuf,
    /// The delegated OCSP responder certificate (PEM); omit to sign with the CA key.
    #[serde(default)]
    pub responder_cert: Option<PathBuf>,
    /// The key signing responses (PEM: PKCS#8, SEC 1 or PKCS#1).
    pub responder_key: PathBuf,
    /// nextUpdate − thisUpdate, hours (default 96; BR bounds 8 h to 10 days).
    #[serde(default = "default_validity")]
    pub validity_hours: u32,
    /// Unassigned serials: `unauthorized` (default), `revoked` or `unknown`.
    #[serde(default = "default_unassigned")]
    pub unassigned: String,
    /// Nonces: `ignore` (default) or `echo`.
    #[serde(default = "default_nonce")]
    pub nonce: String,
    /// Whether suspension (certificateHold) is allowed (default false).
    #[serde(default)]
    pub allow_hold: bool,
    /// The CA's own key (PEM), needed only to issue through the RA (default: none).
    #[serde(default)]
    pub ca_key: Option<PathBuf>,
    /// Certificate profiles the RA issues under with this CA (default: none).
    #[serde(default)]
    pub profiles: Vec<String>,
    /// OCSP URL written into issued certificates (default: `http://LISTEN` + path_prefix).
    #[serde(default)]
    pub ocsp_url: Option<String>,
    /// caIssuers URL written into issued certificates (default:
    /// `http://LISTEN/ca/NAME.crt`).
    #[serde(default)]
    pub ca_issuers_url: Option<String>,
    /// Base URL of this CA's CRLs; the profile's partition file name is appended
    /// (default: `http://LISTEN/crl/NAME/`).
    #[serde(default)]
    pub crl_base_url: Option<String>,
    /// nextUpdate − thisUpdate of this CA's CRLs, hours (default: `[crl] validity_hours`;
    /// 1 to 240, e.g. 96 for ACCV's 4 days).
    #[serde(default)]
    pub crl_validity_hours: Option<u32>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_prefix() -> String {
    "/".into()
}
fn default_max_post() -> usize {
    10 * 1024
}
fn default_max_age_cap() -> u32 {
    600
}
fn default_http_threading() -> String {
    "shared".into()
}
fn default_drain() -> u64 {
    10
}
fn default_batch() -> usize {
    4096
}
fn default_scan() -> u64 {
    60
}
fn default_per_sec() -> u32 {
    200
}
fn default_in_flight() -> usize {
    4
}
fn default_cache() -> usize {
    65_536
}
fn default_validity() -> u32 {
    96
}
fn default_unassigned() -> String {
    "unauthorized".into()
}
fn default_nonce() -> String {
    "ignore".into()
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is invalid or has unknown or mistyped fields.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with its location.
        source: toml::de::Error,
    },
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads, parses and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base);
        config.source = Some(path.to_path_buf());
        config.check()?;
        Ok(config)
    }

    fn resolve(&mut self, base: &Path) {
        // Key references may be PKCS#11 URIs, which are not paths.
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !crate::keys::is_pkcs11(p) {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.store);
        if let Some(p) = &mut self.admin_socket {
            fix(p);
        }
        for i in &mut self.issuers {
            fix(&mut i.cert);
            fix(&mut i.responder_key);
            if let Some(p) = &mut i.responder_cert {
                fix(p);
            }
            if let Some(p) = &mut i.ca_key {
                fix(p);
            }
        }
        if let Some(crl) = &mut self.crl {
            fix(&mut crl.publish_dir);
            if let Some(arl) = &mut crl.arl {
                fix(&mut arl.cert);
                fix(&mut arl.key);
            }
        }
        if let Some(hsm) = &mut self.hsm {
            if let Some(p) = &mut hsm.pin_file {
                fix(p);
            }
            if let Some(p) = &mut hsm.softhsm_conf {
                fix(p);
            }
        }
        if let Some(ra) = &mut self.ra {
            fix(&mut ra.cert);
            fix(&mut ra.key);
            fix(&mut ra.operators);
            fix(&mut ra.store);
            fix(&mut ra.audit_dir);
            ra.client_ca.iter_mut().for_each(fix);
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.issuers.is_empty() {
            return invalid("at least one [[issuer]] is required".into());
        }
        if self.issuers.len() > usize::from(u16::MAX) {
            return invalid("too many issuers".into());
        }
        if !self.path_prefix.starts_with('/') || !self.path_prefix.ends_with('/') {
            return invalid(format!(
                "path_prefix {:?} must start and end with '/'",
                self.path_prefix
            ));
        }
        if !(256..=1024 * 1024).contains(&self.max_post_bytes) {
            return invalid("max_post_bytes must be between 256 and 1048576".into());
        }
        if !matches!(self.http_threading.as_str(), "per-core" | "shared") {
            return invalid(format!(
                "http_threading {:?} must be per-core or shared",
                self.http_threading
            ));
        }
        if self.max_age_cap_secs == 0 {
            return invalid("max_age_cap_secs must be positive".into());
        }
        let mut names = std::collections::HashSet::new();
        for i in &self.issuers {
            if !names.insert(&i.name) {
                return invalid(format!("issuer name {:?} is used twice", i.name));
            }
            if !(8..=240).contains(&i.validity_hours) {
                return invalid(format!(
                    "issuer {}: validity_hours {} is outside the CA/B Forum bounds (8 to 240)",
                    i.name, i.validity_hours
                ));
            }
            if revoca_responder::UnassignedPolicy::from_name(&i.unassigned).is_none() {
                return invalid(format!(
                    "issuer {}: unassigned must be unauthorized, revoked or unknown",
                    i.name
                ));
            }
            if !matches!(i.nonce.as_str(), "ignore" | "echo") {
                return invalid(format!("issuer {}: nonce must be ignore or echo", i.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("c.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn defaults_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "store = \"s.redb\"\n[[issuer]]\nname = \"a\"\ncert = \"ca.pem\"\nresponder_key = \"k.pem\"\n",
        );
        let c = Config::load(&p).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.store, dir.path().join("s.redb"));
        assert_eq!(c.issuers[0].validity_hours, 96);
        assert_eq!(c.max_age_cap_secs, 600);
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("store = \"s\"\nissuer = []\n", "at least one"),
            (
                "store = \"s\"\nbogus = 1\n[[issuer]]\nname=\"a\"\ncert=\"c\"\nresponder_key=\"k\"\n",
                "bogus",
            ),
            (
                "store = \"s\"\n[[issuer]]\nname=\"a\"\ncert=\"c\"\nresponder_key=\"k\"\nvalidity_hours = 300\n",
                "validity_hours",
            ),
            (
                "store = \"s\"\npath_prefix=\"ocsp\"\n[[issuer]]\nname=\"a\"\ncert=\"c\"\nresponder_key=\"k\"\n",
                "path_prefix",
            ),
            (
                "store = \"s\"\n[[issuer]]\nname=\"a\"\ncert=\"c\"\nresponder_key=\"k\"\nunassigned=\"good\"\n",
                "unassigned",
            ),
        ];
        for (text, needle) in cases {
            let err = Config::load(&write(dir.path(), text))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }
}

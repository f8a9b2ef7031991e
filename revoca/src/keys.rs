//! Where signing keys come from: a PEM file, or a key on a PKCS#11 token named with a
//! PKCS#11 URI (RFC 7512 subset: `pkcs11:token=T;object=LABEL` or `…;id=%01%02`), using
//! the module and PIN of the `[hsm]` configuration section.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use revoca_signer::pkcs11::{self, PinSource, Pkcs11Config, SignerMetrics};
use revoca_signer::{Signer, SoftwareKey};
use serde::{Deserialize, Serialize};

/// `[hsm]`: the PKCS#11 token holding keys named `pkcs11:...`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HsmConfig {
    /// The PKCS#11 module (default SoftHSM2's `/usr/lib/softhsm/libsofthsm2.so`).
    #[serde(default = "default_module")]
    pub module: PathBuf,
    /// Token label used when a key URI names none.
    pub token: String,
    /// File holding the user PIN (first line). One of `pin_file` and `pin_env` is needed.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// Environment variable holding the user PIN.
    #[serde(default)]
    pub pin_env: Option<String>,
    /// Sessions per key (default 2).
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// SoftHSM2 only: its configuration file. `revoca` re-executes itself with
    /// `SOFTHSM2_CONF` set to it when the environment does not already say so.
    #[serde(default)]
    pub softhsm_conf: Option<PathBuf>,
}

fn default_module() -> PathBuf {
    PathBuf::from(pkcs11::DEFAULT_MODULE)
}
fn default_sessions() -> usize {
    2
}

impl HsmConfig {
    /// The PIN source.
    pub fn pin(&self) -> Result<PinSource, String> {
        match (&self.pin_file, &self.pin_env) {
            (Some(f), None) => Ok(PinSource::File(f.clone())),
            (None, Some(v)) => Ok(PinSource::Env(v.clone())),
            _ => Err("[hsm] needs exactly one of pin_file and pin_env".into()),
        }
    }

    /// The PKCS#11 configuration for the key with `label` on the configured token.
    pub fn key_config(
        &self,
        token: Option<&str>,
        label: Option<&str>,
        id: Option<Vec<u8>>,
    ) -> Result<Pkcs11Config, String> {
        let mut c = Pkcs11Config::new(
            token.unwrap_or(&self.token),
            label.unwrap_or(""),
            self.pin()?,
        );
        c.key_label = label.map(str::to_owned);
        c.key_id = id;
        c.module = self.module.clone();
        c.sessions = self.sessions.max(1);
        Ok(c)
    }
}

/// The URI scheme marking a key on a token.
pub const PKCS11_SCHEME: &str = "pkcs11:";

/// Whether a configured key reference names a token key rather than a file.
pub fn is_pkcs11(key: &Path) -> bool {
    key.to_str().is_some_and(|s| s.starts_with(PKCS11_SCHEME))
}

/// `pkcs11:token=T;object=L` for `label` on the configured token.
pub fn pkcs11_uri(label: &str) -> PathBuf {
    PathBuf::from(format!("{PKCS11_SCHEME}object={label}"))
}

fn percent_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("bad %-escape in {text:?}"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad %-escape in {text:?}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The path attributes of a PKCS#11 URI Revoca uses: token, object label, id.
type UriParts = (Option<String>, Option<String>, Option<Vec<u8>>);

/// Parses the path attributes of a PKCS#11 URI.
fn parse_uri(uri: &str) -> Result<UriParts, String> {
    let rest = uri
        .strip_prefix(PKCS11_SCHEME)
        .ok_or_else(|| format!("{uri:?} is not a pkcs11: URI"))?;
    // Query attributes (after '?', e.g. pin-source) are not honoured: the PIN comes from
    // [hsm], so that it is never part of a key reference that may be logged.
    let path = rest.split('?').next().unwrap_or_default();
    let (mut token, mut object, mut id) = (None, None, None);
    for attr in path.split(';').filter(|a| !a.is_empty()) {
        let (k, v) = attr
            .split_once('=')
            .ok_or_else(|| format!("{uri:?}: attribute {attr:?} has no value"))?;
        let text = || {
            String::from_utf8(percent_decode(v)?).map_err(|_| format!("{uri:?}: {k} is not UTF-8"))
        };
        match k {
            "token" => token = Some(text()?),
            "object" => object = Some(text()?),
            "id" => id = Some(percent_decode(v)?),
            "type" if v == "private" => {}
            _ => return Err(format!("{uri:?}: unsupported attribute {k:?}")),
        }
    }
    if object.is_none() && id.is_none() {
        return Err(format!("{uri:?}: name the key with object= or id="));
    }
    Ok((token, object, id))
}

/// Opens the signer a configuration names: a PEM file, or a `pkcs11:` URI on `[hsm]`.
pub fn load_signer(key: &Path, hsm: Option<&HsmConfig>) -> Result<Arc<dyn Signer>, String> {
    if !is_pkcs11(key) {
        let k = SoftwareKey::from_pem_file(key).map_err(|e| e.to_string())?;
        return Ok(Arc::new(k));
    }
    let uri = key.to_str().unwrap_or_default();
    let hsm = hsm.ok_or_else(|| format!("key {uri}: a pkcs11: key needs an [hsm] section"))?;
    let (token, object, id) = parse_uri(uri)?;
    let config = hsm.key_config(token.as_deref(), object.as_deref(), id)?;
    let k = revoca_signer::Pkcs11Key::open(&config).map_err(|e| format!("key {uri}: {e}"))?;
    TOKEN_KEY_METRICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Arc::clone(k.metrics()));
    Ok(Arc::new(k))
}

/// Metrics of every token key opened by this process (for `/metrics`).
static TOKEN_KEY_METRICS: std::sync::Mutex<Vec<Arc<SignerMetrics>>> =
    std::sync::Mutex::new(Vec::new());

/// Prometheus text for the token keys opened so far (signing latency histogram,
/// in-flight, queue depth, errors by kind, reconnects); empty without token keys.
pub fn render_token_metrics() -> String {
    let all = TOKEN_KEY_METRICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if all.is_empty() {
        return String::new();
    }
    let refs: Vec<&SignerMetrics> = all.iter().map(|m| m.as_ref()).collect();
    SignerMetrics::render_prometheus_all("revoca_signer", &refs)
}

/// With SoftHSM2, the module finds its tokens through `SOFTHSM2_CONF`, read once when it
/// loads; it cannot be set from inside the process (that would need `unsafe`). When the
/// environment does not name `conf`, re-execute this same command with it set. Returns
/// only if nothing needed doing (or with the error of a failed re-execution).
pub fn reexec_with_softhsm_conf(conf: &Path) -> Result<(), String> {
    if std::env::var_os("SOFTHSM2_CONF").is_some_and(|v| Path::new(&v) == conf) {
        return Ok(());
    }
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("SOFTHSM2_CONF", conf)
        .exec();
    Err(format!(
        "cannot re-execute with SOFTHSM2_CONF={}: {err}",
        conf.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse() {
        assert_eq!(
            parse_uri("pkcs11:token=revoca;object=tls%20ca").unwrap(),
            (Some("revoca".into()), Some("tls ca".into()), None)
        );
        assert_eq!(
            parse_uri("pkcs11:id=%01%ff;type=private").unwrap(),
            (None, None, Some(vec![1, 0xff]))
        );
        assert!(parse_uri("pkcs11:token=x").is_err());
        assert!(parse_uri("pkcs11:object=a;bogus=1").is_err());
        assert!(parse_uri("pkcs11:id=%zz").is_err());
        assert!(parse_uri("pkcs11:object=%4").is_err());
        assert!(is_pkcs11(Path::new("pkcs11:object=a")));
        assert!(!is_pkcs11(Path::new("keys/a.pem")));
    }
}

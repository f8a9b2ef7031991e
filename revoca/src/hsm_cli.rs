//! `revoca hsm init|keygen|list`: key management on the PKCS#11 token of a demo directory
//! (`D/hsm`, a SoftHSM2 token) or of a configuration's `[hsm]` section.

use std::path::{Path, PathBuf};

use revoca_signer::KeyAlgorithm;
use revoca_signer::pkcs11::{self, KeyInfo};

use crate::keys::{HsmConfig, reexec_with_softhsm_conf};

/// The `[hsm]` section to use: from `--config`, else from `D/config.toml`, else the
/// demo token layout under `D/hsm`.
pub fn hsm_of(dir: Option<&Path>, config: Option<&Path>) -> Result<HsmConfig, String> {
    if let Some(c) = config {
        return crate::config::Config::load(c)
            .map_err(|e| e.to_string())?
            .hsm
            .ok_or_else(|| format!("{} has no [hsm] section", c.display()));
    }
    let dir = dir.ok_or("give --dir or --config")?;
    let config_path = dir.join("config.toml");
    if config_path.exists()
        && let Some(h) = crate::config::Config::load(&config_path)
            .map_err(|e| e.to_string())?
            .hsm
    {
        return Ok(h);
    }
    let hsm = crate::demo::hsm_dir(dir);
    Ok(HsmConfig {
        module: PathBuf::from(pkcs11::DEFAULT_MODULE),
        token: crate::demo::HSM_TOKEN.to_owned(),
        pin_file: Some(hsm.join("user.pin")),
        pin_env: None,
        sessions: 1,
        softhsm_conf: Some(pkcs11::softhsm_conf_path(&hsm)),
    })
}

/// Re-executes with `SOFTHSM2_CONF` when the token is a SoftHSM2 one.
pub fn ensure_env(hsm: &HsmConfig) -> Result<(), String> {
    match &hsm.softhsm_conf {
        Some(conf) => reexec_with_softhsm_conf(conf),
        None => Ok(()),
    }
}

/// `revoca hsm init --dir D`: a new SoftHSM2 token for demos and tests.
pub fn init(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let conf = pkcs11::write_softhsm_conf(&crate::demo::hsm_dir(dir)).map_err(|e| e.to_string())?;
    reexec_with_softhsm_conf(&conf)?;
    let hsm = crate::demo::create_token(dir)?;
    println!(
        "token {:?} created; SOFTHSM2_CONF={} ; user PIN in {}",
        hsm.token,
        conf.display(),
        hsm.pin_file.as_deref().unwrap_or(Path::new("?")).display()
    );
    Ok(())
}

/// `revoca hsm keygen --label L --alg ALG`.
pub fn keygen(hsm: &HsmConfig, label: &str, alg: &str) -> Result<(), String> {
    let alg = KeyAlgorithm::from_name(alg).ok_or_else(|| {
        format!(
            "unknown algorithm {alg:?}; use P-256, P-384, RSA-2048, RSA-3072, RSA-4096 or Ed25519"
        )
    })?;
    let config = hsm.key_config(None, Some(label), None)?;
    let info = pkcs11::generate_key(&config, label, alg).map_err(|e| e.to_string())?;
    print_key(&info);
    Ok(())
}

/// `revoca hsm list`.
pub fn list(hsm: &HsmConfig) -> Result<(), String> {
    let config = hsm.key_config(None, Some(""), None)?;
    for info in pkcs11::list_keys(&config).map_err(|e| e.to_string())? {
        print_key(&info);
    }
    Ok(())
}

fn print_key(info: &KeyInfo) {
    println!(
        "{}\t{}\tid={}\tspki-sha256={}\tpkcs11:object={}",
        info.label,
        info.algorithm.map_or("unsupported", |a| a.name()),
        info.id_hex(),
        info.spki_sha256_hex(),
        info.label
    );
}

//! Key management (generate, list) and SoftHSM2 token set-up for demos and tests.

use std::path::{Path, PathBuf};

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;

use super::keys::{self, KeyInfo};
use super::module::{FindError, Module};
use super::{Pin, Pkcs11Config, with_rw_session};
use crate::{KeyAlgorithm, SignError};

/// The file name [`write_softhsm_conf`] writes in its directory.
pub const SOFTHSM2_CONF_FILE: &str = "softhsm2.conf";

fn pkcs11_error(operation: &str) -> impl Fn(CkError) -> SignError + '_ {
    move |e| SignError::Pkcs11 {
        operation: operation.to_owned(),
        reason: e.to_string(),
    }
}

/// Generates a key pair on the token of `config` (its key label and id are ignored) under
/// `label`, with a random 16-byte `CKA_ID`. The private key is a token object, private,
/// sensitive, not extractable, and can only sign. Refuses with [`SignError::KeyExists`] if
/// any object already has that label, and with [`SignError::Unsupported`] if the token
/// cannot generate that kind of key (SoftHSM2 built without EdDSA, for one). Returns the
/// new key's description, including its SPKI.
pub fn generate_key(
    config: &Pkcs11Config,
    label: &str,
    algorithm: KeyAlgorithm,
) -> Result<KeyInfo, SignError> {
    if label.is_empty() {
        return Err(SignError::InvalidConfig(
            "empty PKCS#11 key label".to_owned(),
        ));
    }
    with_rw_session(config, "generate key pair", |session| {
        let existing = session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(pkcs11_error("find objects"))?;
        if !existing.is_empty() {
            return Err(SignError::KeyExists {
                token: config.token_label.clone(),
                label: label.to_owned(),
            });
        }
        let mut id = [0u8; 16];
        aws_lc_rs::rand::fill(&mut id).map_err(|_| SignError::Pkcs11 {
            operation: "generate key pair".to_owned(),
            reason: "no randomness for the key id".to_owned(),
        })?;
        let handle = keys::generate(session, label, &id, algorithm).map_err(|e| match e {
            CkError::Pkcs11(RvError::MechanismInvalid | RvError::CurveNotSupported, _) => {
                SignError::Unsupported(format!(
                    "token {:?} cannot generate {} keys ({e})",
                    config.token_label,
                    algorithm.name()
                ))
            }
            e => pkcs11_error("generate key pair")(e),
        })?;
        let key = keys::read_key(session, handle, &config.token_label).map_err(|e| match e {
            FindError::Config(e) => e,
            FindError::Pkcs11(e) => pkcs11_error("read key attributes")(e),
        })?;
        tracing::info!(
            token = %config.token_label,
            label,
            id = %hex::encode(id),
            algorithm = algorithm.name(),
            "generated PKCS#11 key pair"
        );
        Ok(KeyInfo::from(key))
    })
}

/// Lists the private keys on the token of `config` (its key label and id are ignored),
/// sorted by label then id. Keys Revoca cannot sign with are listed with
/// [`KeyInfo::unsupported`] set.
pub fn list_keys(config: &Pkcs11Config) -> Result<Vec<KeyInfo>, SignError> {
    with_rw_session(config, "list keys", |session| {
        let handles = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .map_err(pkcs11_error("find objects"))?;
        let mut keys = Vec::with_capacity(handles.len());
        for handle in handles {
            match keys::read_key(session, handle, &config.token_label) {
                Ok(key) => keys.push(KeyInfo::from(key)),
                Err(FindError::Config(e)) => {
                    let attrs = session
                        .get_attributes(handle, &[AttributeType::Label, AttributeType::Id])
                        .map_err(pkcs11_error("read key attributes"))?;
                    let mut info = KeyInfo {
                        label: String::new(),
                        id: Vec::new(),
                        algorithm: None,
                        unsupported: Some(e.to_string()),
                        spki_der: Vec::new(),
                    };
                    for attr in attrs {
                        match attr {
                            Attribute::Label(l) => {
                                info.label = String::from_utf8_lossy(&l).into_owned()
                            }
                            Attribute::Id(id) => info.id = id,
                            _ => {}
                        }
                    }
                    keys.push(info);
                }
                Err(FindError::Pkcs11(e)) => return Err(pkcs11_error("read key attributes")(e)),
            }
        }
        keys.sort_by(|a, b| (&a.label, &a.id).cmp(&(&b.label, &b.id)));
        Ok(keys)
    })
}

/// Writes a private SoftHSM2 configuration in `dir` (created if needed): tokens live in
/// `dir/tokens`, so the system's `/var/lib/softhsm` is never touched. Returns the
/// absolute path of the configuration file, which must be in `SOFTHSM2_CONF` when the
/// process that loads the module starts (see the [module documentation](super)).
/// Rewriting it is harmless (same content).
pub fn write_softhsm_conf(dir: &Path) -> Result<PathBuf, SignError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| SignError::Io { path, source }
    };
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).map_err(io(&tokens))?;
    let tokens = std::fs::canonicalize(&tokens).map_err(io(&tokens))?;
    let conf = tokens.parent().unwrap_or(dir).join(SOFTHSM2_CONF_FILE);
    let text = format!(
        "# Written by Revoca: a private SoftHSM2 configuration.\n\
         directories.tokendir = {}\n\
         objectstore.backend = file\n\
         log.level = ERROR\n\
         slots.removable = false\n\
         slots.mechanisms = ALL\n\
         library.reset_on_fork = false\n",
        tokens.display()
    );
    std::fs::write(&conf, text).map_err(io(&conf))?;
    Ok(conf)
}

/// Creates a SoftHSM2 token labelled `label` (for demos and tests): writes the private
/// configuration of [`write_softhsm_conf`] in `conf_dir`, then, through `module` (normally
/// [`DEFAULT_MODULE`](super::DEFAULT_MODULE)), initialises a free slot's token with
/// `so_pin` and sets the user PIN to `user_pin`. Returns the configuration file's path.
///
/// SoftHSM2 only reads `SOFTHSM2_CONF` when the module is initialised, so this process
/// must have been started with `SOFTHSM2_CONF` naming that file; otherwise it fails with
/// [`SignError::SoftHsmConf`], which says what to export (call
/// [`write_softhsm_conf`] first to learn the path, then re-run or re-execute with it).
/// Refuses with [`SignError::TokenExists`] if a token with that label exists.
pub fn init_softhsm_token(
    module: &Path,
    conf_dir: &Path,
    label: &str,
    so_pin: &Pin,
    user_pin: &Pin,
) -> Result<PathBuf, SignError> {
    if label.is_empty() || label.len() > 32 {
        return Err(SignError::InvalidConfig(format!(
            "token label {label:?} must be 1 to 32 bytes"
        )));
    }
    if so_pin.0.is_empty() || user_pin.0.is_empty() {
        return Err(SignError::InvalidConfig("empty token PIN".to_owned()));
    }
    let conf = write_softhsm_conf(conf_dir)?;
    let actual = std::env::var_os("SOFTHSM2_CONF");
    let matches = actual
        .as_ref()
        .and_then(|a| std::fs::canonicalize(a).ok())
        .is_some_and(|a| a == conf);
    if !matches {
        return Err(SignError::SoftHsmConf {
            expected: conf.display().to_string(),
            actual: actual.map_or_else(|| "unset".to_owned(), |a| a.to_string_lossy().into_owned()),
        });
    }

    let module = Module::shared(module);
    let ready = module.ready()?;
    let ctx = ready.ctx();
    let mut free = None;
    for slot in ctx
        .get_slots_with_token()
        .map_err(pkcs11_error("list slots"))?
    {
        let info = ctx
            .get_token_info(slot)
            .map_err(pkcs11_error("read token info"))?;
        if !info.token_initialized() {
            free.get_or_insert(slot);
        } else if info.label().trim_end() == label {
            return Err(SignError::TokenExists(label.to_owned()));
        }
    }
    let slot = free.ok_or_else(|| SignError::Pkcs11 {
        operation: "init token".to_owned(),
        reason: format!("no free slot in {}", module.path().display()),
    })?;
    ctx.init_token(slot, &so_pin.auth(), label)
        .map_err(pkcs11_error("init token"))?;
    // SoftHSM2 moves an initialised token to a new slot id: look it up again.
    let slot = super::module::find_slot(ctx, label, module.path()).map_err(|e| match e {
        FindError::Config(e) => e,
        FindError::Pkcs11(e) => pkcs11_error("find token")(e),
    })?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(pkcs11_error("open session"))?;
    session
        .login(UserType::So, Some(&so_pin.auth()))
        .map_err(|e| SignError::Login {
            token: label.to_owned(),
            reason: e.to_string(),
        })?;
    session
        .init_pin(&user_pin.auth())
        .map_err(pkcs11_error("init user PIN"))?;
    let _ = session.logout();
    drop(session);
    drop(ready);
    tracing::info!(token = label, conf = %conf.display(), "initialised SoftHSM2 token");
    Ok(conf)
}

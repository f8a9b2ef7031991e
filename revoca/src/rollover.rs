//! OCSP responder key rollover (`revoca responder rollover`): a new key (a file next to
//! the old one, or a new object in the token), a new delegated responder certificate
//! issued by the CA, the issuer's signing identity swapped atomically, every response
//! re-signed in the background (status changes keep priority), the configuration
//! rewritten so a restart uses the new key. Responses signed before keep their own
//! certificate until re-signed, so clients can verify every answer throughout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use revoca_issuer::{CertificateBuilder, IssuerInfo, Name, Serial as CertSerial, Validity};
use revoca_responder::{Clock, IssuerSet, Resign, UrgentQueue};
use revoca_signer::{KeyAlgorithm, SignatureScheme, Signer, SoftwareKey};

use crate::config::Config;

/// How long a rollover may take to re-sign every response before the command gives up
/// waiting (the re-signing continues).
const RESIGN_WAIT: Duration = Duration::from_secs(900);

/// What the rollover needs from the running server.
pub struct Rollover {
    /// The configuration as loaded, and where it lives (rewritten on success).
    pub config: std::sync::Mutex<Config>,
    /// The configuration file.
    pub config_path: PathBuf,
    /// The issuers.
    pub issuers: Arc<IssuerSet>,
    /// The refresher's queue.
    pub queue: UrgentQueue,
    /// The clock.
    pub clock: Clock,
}

fn algorithm_of(scheme: SignatureScheme) -> KeyAlgorithm {
    match scheme {
        SignatureScheme::EcdsaP256Sha256 => KeyAlgorithm::EcdsaP256,
        SignatureScheme::EcdsaP384Sha384 => KeyAlgorithm::EcdsaP384,
        SignatureScheme::Ed25519 => KeyAlgorithm::Ed25519,
        _ => KeyAlgorithm::Rsa2048,
    }
}

impl Rollover {
    /// Rolls the responder key of the issuer called `name` over; returns once every
    /// response is re-signed (or after [`RESIGN_WAIT`]).
    pub fn run(&self, name: &str) -> Result<String, String> {
        let mut config = self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = config
            .issuers
            .iter()
            .position(|i| i.name == name || i.slug() == name)
            .ok_or_else(|| format!("no issuer named {name:?}"))?;
        let issuer = self
            .issuers
            .iter()
            .nth(n)
            .cloned()
            .ok_or("issuer list and configuration disagree")?;
        let ic = config.issuers[n].clone();
        let ca_key = ic.ca_key.as_ref().ok_or_else(|| {
            format!("issuer {name}: rollover needs ca_key to issue the new certificate")
        })?;
        let ca_signer = crate::keys::load_signer(ca_key, config.hsm.as_ref())?;
        let old = issuer.identity();
        let alg = algorithm_of(old.signer.scheme());
        let stamp = self.clock.now();
        let label = format!("{}-responder-{stamp}", ic.slug());

        // The new key.
        let (signer, key_ref): (Arc<dyn Signer>, PathBuf) =
            if crate::keys::is_pkcs11(&ic.responder_key) {
                let hsm = config.hsm.as_ref().ok_or("a pkcs11: key needs [hsm]")?;
                let kc = hsm.key_config(None, Some(&label), None)?;
                revoca_signer::pkcs11::generate_key(&kc, &label, alg).map_err(|e| e.to_string())?;
                let key = revoca_signer::Pkcs11Key::open(&kc).map_err(|e| e.to_string())?;
                (Arc::new(key), crate::keys::pkcs11_uri(&label))
            } else {
                let dir = ic.responder_key.parent().unwrap_or(Path::new("."));
                let path = dir.join(format!("{label}.key.pem"));
                let pkcs8 = SoftwareKey::generate_pkcs8(alg).map_err(|e| e.to_string())?;
                crate::demo::write_file(
                    &path,
                    revoca_issuer::pem_encode("PRIVATE KEY", &pkcs8).as_bytes(),
                    true,
                )?;
                let key = SoftwareKey::from_pkcs8_der(&pkcs8, &path.display().to_string())
                    .map_err(|e| e.to_string())?;
                (Arc::new(key), path)
            };

        // Its certificate, with the old one's subject.
        let subject = match &old.responder_cert_der {
            Some(der) => revoca_issuer::cert_subject(der).map_err(|e| e.to_string())?,
            None => {
                Name::parse(&format!("CN={} OCSP Responder", ic.name)).map_err(|e| e.to_string())?
            }
        };
        let ca_info =
            IssuerInfo::from_certificate_der(&issuer.cert_der).map_err(|e| e.to_string())?;
        let validity =
            Validity::starting_at(stamp - 3600, 365 * 86_400).map_err(|e| e.to_string())?;
        let cert_der = CertificateBuilder::ocsp_responder(
            CertSerial::random().map_err(|e| e.to_string())?,
            subject,
            validity,
            signer.public_key_spki_der(),
            &ca_info,
        )
        .and_then(|b| b.build(ca_signer.as_ref()))
        .map_err(|e| e.to_string())?;
        let cert_dir = ic
            .responder_cert
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let cert_path = cert_dir.join(format!("{label}.pem"));
        crate::demo::write_file(
            &cert_path,
            revoca_issuer::pem_encode("CERTIFICATE", &cert_der).as_bytes(),
            false,
        )?;

        // Swap, then persist, then re-sign.
        issuer
            .rollover(Some(cert_der), signer)
            .map_err(|e| e.to_string())?;
        config.issuers[n].responder_key = key_ref;
        config.issuers[n].responder_cert = Some(cert_path.clone());
        let text = toml::to_string(&*config).map_err(|e| e.to_string())?;
        let tmp = self.config_path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.config_path)
            .map_err(|e| format!("{}: {e}", self.config_path.display()))?;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        self.queue.resign(Resign {
            issuer: issuer.id,
            done: Some(done_tx),
        });
        tracing::info!(issuer = %ic.name, certificate = %cert_path.display(), "responder key rolled over; re-signing");
        match done_rx.recv_timeout(RESIGN_WAIT) {
            Ok(n) => Ok(format!(
                "issuer {}: new responder certificate {}; {n} responses re-signed",
                ic.name,
                cert_path.display()
            )),
            Err(_) => Err(format!(
                "issuer {}: new key in use, re-signing still running after {} s",
                ic.name,
                RESIGN_WAIT.as_secs()
            )),
        }
    }
}

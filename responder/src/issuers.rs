//! The issuers a responder answers for, and how it signs for each.

use std::sync::Arc;

use arc_swap::ArcSwap;

use ::der::{Decode, Encode};
use bytes::Bytes;
use revoca_signer::Signer;
use revoca_status::{HashAlgorithm, IssuerHashes, IssuerId};
use x509_cert::Certificate;

use crate::request::CertIdRef;
use crate::response;

/// BR 7.3 / 4.9.10 bounds on an OCSP response's validity interval.
pub const MIN_VALIDITY_SECS: i64 = 8 * 3600;
/// Upper BR bound: ten days.
pub const MAX_VALIDITY_SECS: i64 = 10 * 86_400;

/// id-kp-OCSPSigning (1.3.6.1.5.5.7.3.9).
const OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";
/// id-pkix-ocsp-nocheck (1.3.6.1.5.5.7.48.1.5).
const OCSP_NOCHECK: &str = "1.3.6.1.5.5.7.48.1.5";
/// id-ce-extKeyUsage.
const EXT_KEY_USAGE: &str = "2.5.29.37";

/// What to answer for a serial this issuer never assigned (PRODUCT.md, status semantics 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnassignedPolicy {
    /// `unauthorized`, unsigned and not cacheable (default).
    #[default]
    Unauthorized,
    /// `revoked`, certificateHold, 1970-01-01, with the Extended Revoked Definition
    /// extension (RFC 6960 §2.2), signed on demand under a rate limit.
    Revoked,
    /// `unknown`, signed on demand (private PKIs).
    Unknown,
}

impl UnassignedPolicy {
    /// Configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Revoked => "revoked",
            Self::Unknown => "unknown",
        }
    }

    /// Parses a configuration name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Unauthorized, Self::Revoked, Self::Unknown]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// How request nonces are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NonceMode {
    /// Ignored: the pre-signed response is served (default; RFC 5019).
    #[default]
    Ignore,
    /// A fresh response echoing the nonce is signed, under the on-demand rate limit;
    /// over the limit the pre-signed response is served.
    Echo,
}

/// Per-issuer settings from configuration.
#[derive(Clone, Debug)]
pub struct IssuerSettings {
    /// A short name for logs, metrics and the manifest.
    pub name: String,
    /// nextUpdate − thisUpdate, in seconds (default 96 h).
    pub validity_secs: i64,
    /// Answer for unassigned serials.
    pub unassigned: UnassignedPolicy,
    /// Nonce handling.
    pub nonce: NonceMode,
    /// Whether certificates of this issuer may be suspended (certificateHold).
    pub allow_hold: bool,
}

/// Why an issuer cannot be configured.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// A certificate did not parse.
    #[error("issuer {issuer}: {what} is not a DER certificate: {source}")]
    BadCertificate {
        /// Issuer name.
        issuer: String,
        /// Which certificate.
        what: &'static str,
        /// Parse error.
        source: ::der::Error,
    },
    /// The delegated responder certificate does not fit (wrong issuer, key or EKU).
    #[error("issuer {issuer}: responder certificate {problem}")]
    Responder {
        /// Issuer name.
        issuer: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Validity outside the BR bounds.
    #[error("issuer {issuer}: validity {secs} s is outside the CA/B Forum bounds (8 h to 10 days)")]
    Validity {
        /// Issuer name.
        issuer: String,
        /// The configured value.
        secs: i64,
    },
}

/// One issuer as the responder sees it.
pub struct OcspIssuer {
    /// Index id.
    pub id: IssuerId,
    /// Settings.
    pub settings: IssuerSettings,
    /// Name and key hashes under every CertID algorithm.
    pub hashes: IssuerHashes,
    /// SHA-256 of the issuer's subjectPublicKey bits (how events name issuers).
    pub key_sha256: [u8; 32],
    /// The issuer certificate (DER).
    pub cert_der: Vec<u8>,
    /// Who signs responses now; swapped atomically at a responder key rollover.
    identity: ArcSwap<ResponderIdentity>,
}

/// The key that signs an issuer's responses and the certificate sent with them.
/// Responses already signed keep their own certificate (each chunk has its tail), so a
/// rollover never makes a served response unverifiable.
pub struct ResponderIdentity {
    /// The key signing responses (delegated responder key or the CA key).
    pub signer: Arc<dyn Signer>,
    /// SHA-1 of the signing key's subjectPublicKey bits (ResponderID byKey).
    pub responder_key_hash: [u8; 20],
    /// The `certs` field appended to every response (empty when the CA key signs).
    pub tail: Bytes,
    /// Identifies the signing setup (key + certs): stored responses made under another
    /// setup are discarded on load.
    pub signing_fingerprint: [u8; 32],
    /// The delegated responder certificate, if any.
    pub responder_cert_der: Option<Vec<u8>>,
}

impl std::fmt::Debug for OcspIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspIssuer")
            .field("id", &self.id)
            .field("name", &self.settings.name)
            .finish_non_exhaustive()
    }
}

/// The subject name DER and subjectPublicKey bits of a certificate.
pub fn name_and_key_bits(cert_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), ::der::Error> {
    let cert = Certificate::from_der(cert_der)?;
    let name = cert.tbs_certificate.subject.to_der()?;
    let bits = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    Ok((name, bits))
}

/// SHA-256 of a certificate's subjectPublicKey bits: how events and the admin channel
/// name an issuer.
pub fn cert_key_sha256(cert_der: &[u8]) -> Result<[u8; 32], ::der::Error> {
    name_and_key_bits(cert_der).map(|(_, bits)| sha256(&bits))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref());
    out
}

impl OcspIssuer {
    /// Configures an issuer. `responder_cert_der` is the delegated responder certificate
    /// for `signer`, or `None` when the CA key itself signs.
    pub fn new(
        id: IssuerId,
        settings: IssuerSettings,
        cert_der: Vec<u8>,
        responder_cert_der: Option<Vec<u8>>,
        signer: Arc<dyn Signer>,
    ) -> Result<Self, IssuerError> {
        let issuer = settings.name.clone();
        if !(MIN_VALIDITY_SECS..=MAX_VALIDITY_SECS).contains(&settings.validity_secs) {
            return Err(IssuerError::Validity {
                issuer,
                secs: settings.validity_secs,
            });
        }
        let bad = |what| {
            let issuer = issuer.clone();
            move |source| IssuerError::BadCertificate {
                issuer,
                what,
                source,
            }
        };
        let ca = Certificate::from_der(&cert_der).map_err(bad("issuer certificate"))?;
        let (name_der, key_bits) =
            name_and_key_bits(&cert_der).map_err(bad("issuer certificate"))?;
        let identity = identity(&issuer, &ca, &key_bits, responder_cert_der, signer)?;
        Ok(Self {
            id,
            hashes: IssuerHashes::new(&name_der, &key_bits),
            key_sha256: sha256(&key_bits),
            settings,
            cert_der,
            identity: ArcSwap::from_pointee(identity),
        })
    }

    /// Who signs now.
    pub fn identity(&self) -> Arc<ResponderIdentity> {
        self.identity.load_full()
    }

    /// Responder key rollover: from now on `signer` (with `responder_cert_der`, checked
    /// like at start) signs. Responses signed before stay valid and served until re-signed.
    pub fn rollover(
        &self,
        responder_cert_der: Option<Vec<u8>>,
        signer: Arc<dyn Signer>,
    ) -> Result<(), IssuerError> {
        let issuer = self.settings.name.clone();
        let bad = |source| IssuerError::BadCertificate {
            issuer: issuer.clone(),
            what: "issuer certificate",
            source,
        };
        let ca = Certificate::from_der(&self.cert_der).map_err(bad)?;
        let (_, key_bits) = name_and_key_bits(&self.cert_der).map_err(bad)?;
        let new = identity(&issuer, &ca, &key_bits, responder_cert_der, signer)?;
        self.identity.store(Arc::new(new));
        Ok(())
    }
}

/// Checks a signing key and its delegated certificate against the issuer.
fn identity(
    issuer: &str,
    ca: &Certificate,
    key_bits: &[u8],
    responder_cert_der: Option<Vec<u8>>,
    signer: Arc<dyn Signer>,
) -> Result<ResponderIdentity, IssuerError> {
    let issuer = issuer.to_owned();
    let bad = |what| {
        let issuer = issuer.clone();
        move |source| IssuerError::BadCertificate {
            issuer,
            what,
            source,
        }
    };
    let signer_spki = spki::SubjectPublicKeyInfoRef::from_der(signer.public_key_spki_der())
        .map_err(bad("signing key"))?;
    let signer_bits = signer_spki.subject_public_key.raw_bytes().to_vec();
    let responder_problem = |problem| IssuerError::Responder {
        issuer: issuer.clone(),
        problem,
    };
    let tail = match &responder_cert_der {
        Some(der) => {
            let r = Certificate::from_der(der).map_err(bad("responder certificate"))?;
            if r.tbs_certificate.issuer != ca.tbs_certificate.subject {
                return Err(responder_problem("is not issued by the issuer"));
            }
            if r.tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes()
                != signer_bits.as_slice()
            {
                return Err(responder_problem("does not match the responder key"));
            }
            let exts = r.tbs_certificate.extensions.as_deref().unwrap_or(&[]);
            let has_ocsp_eku = exts.iter().any(|e| {
                e.extn_id.to_string() == EXT_KEY_USAGE
                    && x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                        .is_ok_and(|eku| eku.0.iter().any(|o| o.to_string() == OCSP_SIGNING))
            });
            if !has_ocsp_eku {
                return Err(responder_problem("lacks the id-kp-OCSPSigning EKU"));
            }
            if !exts.iter().any(|e| e.extn_id.to_string() == OCSP_NOCHECK) {
                return Err(responder_problem("lacks id-pkix-ocsp-nocheck"));
            }
            Bytes::from(response::certs_field(&[der]))
        }
        None => {
            if signer_bits != key_bits {
                return Err(responder_problem(
                    "is absent and the signing key is not the issuer's key",
                ));
            }
            Bytes::new()
        }
    };
    let mut responder_key_hash = [0u8; 20];
    responder_key_hash.copy_from_slice(&HashAlgorithm::Sha1.digest(&signer_bits));
    let mut fp = Vec::with_capacity(tail.len() + 64);
    fp.extend_from_slice(signer.public_key_spki_der());
    fp.extend_from_slice(&tail);
    fp.extend_from_slice(signer.scheme().name().as_bytes());
    Ok(ResponderIdentity {
        signer,
        responder_key_hash,
        tail,
        signing_fingerprint: sha256(&fp),
        responder_cert_der,
    })
}

/// Every configured issuer, looked up by CertID.
#[derive(Debug, Default)]
pub struct IssuerSet {
    issuers: Vec<Arc<OcspIssuer>>,
}

impl IssuerSet {
    /// A set of issuers; `issuers[i].id` must be `IssuerId(i)`.
    pub fn new(issuers: Vec<OcspIssuer>) -> Self {
        debug_assert!(
            issuers
                .iter()
                .enumerate()
                .all(|(i, x)| usize::from(x.id.0) == i)
        );
        Self {
            issuers: issuers.into_iter().map(Arc::new).collect(),
        }
    }

    /// The issuer a CertID names, matched on both hashes (two issuers may share a name).
    #[inline]
    pub fn find(&self, id: &CertIdRef<'_>) -> Option<&Arc<OcspIssuer>> {
        self.issuers.iter().find(|i| {
            i.hashes
                .matches(id.hash, id.issuer_name_hash, id.issuer_key_hash)
        })
    }

    /// The issuer with this id.
    pub fn get(&self, id: IssuerId) -> Option<&Arc<OcspIssuer>> {
        self.issuers.get(usize::from(id.0))
    }

    /// The issuer with this key hash.
    pub fn by_key_sha256(&self, key: &[u8; 32]) -> Option<&Arc<OcspIssuer>> {
        self.issuers.iter().find(|i| &i.key_sha256 == key)
    }

    /// All issuers.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<OcspIssuer>> {
        self.issuers.iter()
    }
}

//! The local admin channel: a Unix socket (mode 0600) taking life-cycle commands
//! (revoke, hold, release, reason update) until the RA intake exists. A command is
//! answered only once its event is durable and applied.
//!
//! Protocol: `POST /v1/events` with a JSON [`AdminCommand`]; the answer is JSON with
//! `"result"` (`"changed"` or `"unchanged"`) or `"error"` and an HTTP status (200, 400
//! bad input, 404 unknown certificate or issuer, 409 invalid transition, 500 store).

use std::path::Path;
use std::sync::Arc;

use ::der::{Decode, Encode};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use revoca_ingest::{Accepted, Ingest, Rejection};
use revoca_status::{
    CertKey, Event, EventKind, RevocationReason, Serial, StatusIndex, TransitionError,
};
use serde::{Deserialize, Serialize};
use tokio::net::UnixListener;
use x509_cert::Certificate;

use crate::clock::Clock;
use crate::issuers::{IssuerSet, OcspIssuer};

/// Largest admin request body (a certificate PEM fits many times).
const MAX_BODY: usize = 64 * 1024;

/// A life-cycle command.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdminCommand {
    /// `revoke`, `hold`, `release` or `update-reason`.
    pub action: String,
    /// The certificate (PEM), or use `issuer_pem` + `serial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_pem: Option<String>,
    /// The issuing CA certificate (PEM), with `serial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_pem: Option<String>,
    /// Serial in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Reason name (RFC 5280 / OpenSSL spelling) for `revoke` and `update-reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Invalidity date, RFC 3339, for key compromise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidity_date: Option<String>,
    /// Issuer name, for `rollover-responder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_name: Option<String>,
}

/// The answer to a command.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdminAnswer {
    /// `changed` or `unchanged` on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// What was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The issuer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The serial, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl AdminAnswer {
    fn error(message: String) -> Self {
        Self {
            result: None,
            error: Some(message),
            issuer: None,
            serial: None,
        }
    }
}

/// Publishes CRLs now; answers a summary (`revoca crl build`).
pub type CrlTrigger = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Rolls an issuer's OCSP responder key over; answers a summary once every response is
/// re-signed (`revoca responder rollover`).
pub type RolloverTrigger = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// Handles admin commands.
pub struct Admin {
    issuers: Arc<IssuerSet>,
    ingest: Arc<Ingest>,
    index: Arc<StatusIndex>,
    clock: Clock,
    crl_trigger: Option<CrlTrigger>,
    rollover_trigger: Option<RolloverTrigger>,
}

/// How long a command waits for the new response to be signed before answering anyway
/// (the event is durable either way; this only narrows the window in which the
/// responder answers `tryLater` for the certificate).
const SIGNED_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

struct Failure(StatusCode, String);

fn bad(msg: impl Into<String>) -> Failure {
    Failure(StatusCode::BAD_REQUEST, msg.into())
}

fn pem_cert(text: &str, what: &str) -> Result<Vec<u8>, Failure> {
    let (label, der) = ::der::pem::decode_vec(text.trim().as_bytes())
        .map_err(|e| bad(format!("{what}: not PEM: {e}")))?;
    if label != "CERTIFICATE" {
        return Err(bad(format!(
            "{what}: PEM label is {label:?}, expected CERTIFICATE"
        )));
    }
    Ok(der)
}

impl Admin {
    /// An admin handler applying commands through `ingest`.
    pub fn new(
        issuers: Arc<IssuerSet>,
        ingest: Arc<Ingest>,
        index: Arc<StatusIndex>,
        clock: Clock,
    ) -> Self {
        Self {
            issuers,
            ingest,
            index,
            clock,
            crl_trigger: None,
            rollover_trigger: None,
        }
    }

    /// Enables the `rollover-responder` command.
    pub fn with_rollover_trigger(mut self, trigger: RolloverTrigger) -> Self {
        self.rollover_trigger = Some(trigger);
        self
    }

    /// Enables the `publish-crls` command.
    pub fn with_crl_trigger(mut self, trigger: CrlTrigger) -> Self {
        self.crl_trigger = Some(trigger);
        self
    }

    /// Waits (bounded) until the certificate's current status has a signed response.
    async fn wait_signed(&self, key: CertKey) -> bool {
        let deadline = tokio::time::Instant::now() + SIGNED_WAIT;
        loop {
            if self
                .index
                .with_entry(&key, |e| e.presigned().is_some())
                .unwrap_or(false)
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    fn resolve(&self, cmd: &AdminCommand) -> Result<(Arc<OcspIssuer>, Serial), Failure> {
        match (&cmd.cert_pem, &cmd.issuer_pem, &cmd.serial) {
            (Some(cert), None, None) => {
                let der = pem_cert(cert, "cert")?;
                let cert = Certificate::from_der(&der)
                    .map_err(|e| bad(format!("cert: not an X.509 certificate: {e}")))?;
                let serial =
                    Serial::from_der_content(cert.tbs_certificate.serial_number.as_bytes())
                        .map_err(|e| bad(format!("cert: serial: {e}")))?;
                let issuer_name = cert
                    .tbs_certificate
                    .issuer
                    .to_der()
                    .map_err(|e| bad(e.to_string()))?;
                // Match by issuer name and, as two CAs may share a name, by signature.
                let tbs = cert
                    .tbs_certificate
                    .to_der()
                    .map_err(|e| bad(e.to_string()))?;
                let sig = cert.signature.raw_bytes();
                let candidates: Vec<_> = self
                    .issuers
                    .iter()
                    .filter(|i| {
                        crate::issuers::name_and_key_bits(&i.cert_der)
                            .is_ok_and(|(name, _)| name == issuer_name)
                    })
                    .collect();
                let issuer = candidates
                    .iter()
                    .find(|i| verifies(&i.cert_der, &tbs, sig))
                    .or(candidates.first().filter(|_| candidates.len() == 1))
                    .ok_or_else(|| {
                        Failure(
                            StatusCode::NOT_FOUND,
                            "cert: not issued by any issuer this responder serves".into(),
                        )
                    })?;
                Ok((Arc::clone(issuer), serial))
            }
            (None, Some(issuer), Some(serial)) => {
                let der = pem_cert(issuer, "issuer")?;
                let key = crate::issuers::cert_key_sha256(&der)
                    .map_err(|e| bad(format!("issuer: not an X.509 certificate: {e}")))?;
                let issuer = self.issuers.by_key_sha256(&key).ok_or_else(|| {
                    Failure(
                        StatusCode::NOT_FOUND,
                        "issuer: not an issuer this responder serves".into(),
                    )
                })?;
                let serial = Serial::from_hex(serial.trim_start_matches("0x"))
                    .map_err(|e| bad(format!("serial: {e}")))?;
                Ok((Arc::clone(issuer), serial))
            }
            _ => Err(bad("give either cert_pem, or issuer_pem and serial")),
        }
    }

    fn event_kind(&self, cmd: &AdminCommand, issuer: &OcspIssuer) -> Result<EventKind, Failure> {
        let reason = || -> Result<RevocationReason, Failure> {
            let name = cmd
                .reason
                .as_deref()
                .ok_or_else(|| bad("reason is required"))?;
            let reason: RevocationReason = name.parse().map_err(|_| {
                bad(format!(
                    "reason {name:?} is not one of unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise"
                ))
            })?;
            match reason {
                RevocationReason::CertificateHold => Err(bad("use hold for certificateHold")),
                RevocationReason::RemoveFromCrl => Err(bad("use release for removeFromCRL")),
                r => Ok(r),
            }
        };
        let invalidity_date = match &cmd.invalidity_date {
            None => None,
            Some(text) => Some(
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| bad(format!("invalidity_date: {e}")))?
                    .unix_timestamp(),
            ),
        };
        match cmd.action.as_str() {
            "revoke" => Ok(EventKind::Revoked {
                reason: reason()?,
                invalidity_date,
            }),
            "update-reason" => Ok(EventKind::ReasonUpdated {
                reason: reason()?,
                invalidity_date,
            }),
            "hold" | "release" if !issuer.settings.allow_hold => Err(Failure(
                StatusCode::CONFLICT,
                format!(
                    "issuer {} does not allow suspension (allow_hold = false)",
                    issuer.settings.name
                ),
            )),
            "hold" => Ok(EventKind::Held),
            "release" => Ok(EventKind::Released),
            other => Err(bad(format!(
                "action {other:?} is not one of revoke, hold, release, update-reason"
            ))),
        }
    }

    /// Applies one command; returns the HTTP status and answer.
    pub async fn apply(&self, cmd: AdminCommand) -> (StatusCode, AdminAnswer) {
        match self.try_apply(cmd).await {
            Ok(answer) => (StatusCode::OK, answer),
            Err(Failure(status, error)) => (status, AdminAnswer::error(error)),
        }
    }

    async fn try_apply(&self, cmd: AdminCommand) -> Result<AdminAnswer, Failure> {
        if cmd.action == "rollover-responder" {
            let trigger = self.rollover_trigger.clone().ok_or_else(|| {
                Failure(StatusCode::NOT_FOUND, "rollover is not available".into())
            })?;
            let name = cmd
                .issuer_name
                .clone()
                .ok_or_else(|| bad("rollover-responder needs issuer_name"))?;
            let done = tokio::task::spawn_blocking(move || trigger(&name))
                .await
                .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_err(|e| Failure(StatusCode::CONFLICT, e))?;
            return Ok(AdminAnswer {
                result: Some(done),
                error: None,
                issuer: None,
                serial: None,
            });
        }
        if cmd.action == "publish-crls" {
            let trigger = self
                .crl_trigger
                .clone()
                .ok_or_else(|| Failure(StatusCode::NOT_FOUND, "no CRLs are configured".into()))?;
            let done = tokio::task::spawn_blocking(move || trigger())
                .await
                .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e))?;
            return Ok(AdminAnswer {
                result: Some(done),
                error: None,
                issuer: None,
                serial: None,
            });
        }
        let (issuer, serial) = self.resolve(&cmd)?;
        let kind = self.event_kind(&cmd, &issuer)?;
        let event = Event {
            issuer_key_sha256: issuer.key_sha256,
            serial,
            at: self.clock.now(),
            kind,
        };
        let ingest = Arc::clone(&self.ingest);
        let outcome = tokio::task::spawn_blocking(move || ingest.submit(&[event]))
            .await
            .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let result = match outcome.into_iter().next() {
            Some(Ok(Accepted::Changed(key))) => {
                if !self.wait_signed(key).await {
                    tracing::warn!(serial = %serial, "event durable but its response is not signed yet");
                }
                "changed"
            }
            Some(Ok(Accepted::Unchanged(_))) => "unchanged",
            Some(Err(Rejection::Transition(TransitionError::NotIssued))) => {
                return Err(Failure(
                    StatusCode::NOT_FOUND,
                    format!(
                        "serial {serial} was never issued by {}",
                        issuer.settings.name
                    ),
                ));
            }
            Some(Err(e)) => return Err(Failure(StatusCode::CONFLICT, e.to_string())),
            None => {
                return Err(Failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "no outcome".into(),
                ));
            }
        };
        tracing::info!(
            action = %cmd.action,
            issuer = %issuer.settings.name,
            serial = %serial,
            result,
            "admin command applied"
        );
        Ok(AdminAnswer {
            result: Some(result.to_owned()),
            error: None,
            issuer: Some(issuer.settings.name.clone()),
            serial: Some(serial.to_hex()),
        })
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::POST || req.uri().path() != "/v1/events" {
            return json(
                StatusCode::NOT_FOUND,
                &AdminAnswer::error("use POST /v1/events".into()),
            );
        }
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return json(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &AdminAnswer::error(format!("body larger than {MAX_BODY} bytes")),
                );
            }
        };
        let (status, answer) = match serde_json::from_slice::<AdminCommand>(&body) {
            Ok(cmd) => self.apply(cmd).await,
            Err(e) => (
                StatusCode::BAD_REQUEST,
                AdminAnswer::error(format!("not a command: {e}")),
            ),
        };
        json(status, &answer)
    }
}

fn json(status: StatusCode, answer: &AdminAnswer) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(answer).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Whether `sig` over `tbs` verifies with the key of the certificate `issuer_der`.
fn verifies(issuer_der: &[u8], tbs: &[u8], sig: &[u8]) -> bool {
    use aws_lc_rs::signature::{self, UnparsedPublicKey};
    let Ok(cert) = Certificate::from_der(issuer_der) else {
        return false;
    };
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.raw_bytes();
    let algs: [&'static dyn signature::VerificationAlgorithm; 4] = [
        &signature::ECDSA_P256_SHA256_ASN1,
        &signature::ECDSA_P384_SHA384_ASN1,
        &signature::RSA_PKCS1_2048_8192_SHA256,
        &signature::ED25519,
    ];
    algs.iter()
        .any(|alg| UnparsedPublicKey::new(*alg, key).verify(tbs, sig).is_ok())
}

/// Serves the admin channel on a Unix socket at `path` (replacing a stale socket file)
/// until the task is dropped. The socket is created with mode 0600.
pub async fn serve_admin(path: &Path, admin: Arc<Admin>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let admin = Arc::clone(&admin);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let admin = Arc::clone(&admin);
                async move { Ok::<_, std::convert::Infallible>(admin.handle(req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Sends one command to the admin socket at `path` (the CLI side).
pub async fn send_command(
    path: &Path,
    cmd: &AdminCommand,
) -> Result<(StatusCode, AdminAnswer), String> {
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| format!("cannot reach the running server at {}: {e}", path.display()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let body = serde_json::to_vec(cmd).map_err(|e| e.to_string())?;
    let req = Request::post("/v1/events")
        .header(http::header::HOST, "revoca-admin")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let answer: AdminAnswer = serde_json::from_slice(&body)
        .map_err(|e| format!("unexpected answer from the server ({status}): {e}"))?;
    Ok((status, answer))
}

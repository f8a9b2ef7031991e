//! The RA intake API: `/api/v1/...`, JSON over HTTPS (rustls), operators identified by
//! their client certificate; and ACME `revokeCert` under `/acme/`.
//!
//! | Method and path | Who | Body → answer |
//! |---|---|---|
//! | `GET /api/v1/profiles` | any operator | → `[{name, description, issuer, ...}]` |
//! | `POST /api/v1/requests` | officer, RA head | `{profile, csr, subject?, validity_days?}` → request |
//! | `GET /api/v1/requests[?limit=N]` | any operator | → `[request]`, newest first |
//! | `GET /api/v1/requests/{id}` | any operator | → request |
//! | `POST /api/v1/requests/{id}/approve` | officer, RA head, not the verifier | → `{certificate, serial, issuer, revocation_code}` |
//! | `POST /api/v1/requests/{id}/reject` | officer, RA head | `{reason}` → request |
//! | `POST /api/v1/revoke` | officer, RA head, CA operator | `{certificate` or `issuer`+`serial, reason, invalidity_date?}` |
//! | `POST /api/v1/hold` | RA head | `{certificate` or `issuer`+`serial, hold_days?}` |
//! | `POST /api/v1/release` | RA head | `{certificate` or `issuer`+`serial}` |
//! | `POST /api/v1/key-compromise` | anyone with the key | `{proof: CSR signed by the key, certificate?}` |
//! | `POST /api/v1/subscriber/revoke` | the subscriber | `{certificate` or `issuer`+`serial, revocation_code, reason}` |
//! | `GET /api/v1/audit[?limit=N]` | auditor | → `[audit record]` |
//!
//! Errors are `{"error": "what was wrong"}` with 400, 401, 403, 404, 409, 413, 415 or 500.
//! Every call, refused ones included, leaves an audit record.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use revoca_status::RevocationReason;
use rustls::ServerConfig;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::acme::{self, Directory, Endpoint, NoncePool};
use crate::audit::{self, Channel, Outcome};
use crate::roles::{Action, Operators};
use crate::workflow::{Actor, CertRef, ErrorKind, NewRequest, Ra, RaError};

/// Largest request body, bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Checks an operator's client certificate against Revoca's own status (a revoked or
/// held operator certificate is refused even though its chain is valid).
pub type ClientCertCheck = Box<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// The API's state.
pub struct RaApi {
    ra: Arc<Ra>,
    operators: Operators,
    client_cert_check: ClientCertCheck,
    acme: Directory,
    nonces: NoncePool,
}

impl std::fmt::Debug for RaApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaApi").finish_non_exhaustive()
    }
}

type Body = Full<Bytes>;

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}

fn error_response(e: &RaError) -> Response<Body> {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &serde_json::json!({ "error": e.message }))
}

/// A body naming a certificate, by PEM or by CA name and serial.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertBody {
    certificate: Option<String>,
    issuer: Option<String>,
    serial: Option<String>,
    reason: Option<String>,
    invalidity_date: Option<String>,
    hold_days: Option<u32>,
    revocation_code: Option<String>,
}

impl CertBody {
    fn cert_ref(&self) -> Result<CertRef, Failure> {
        match (&self.certificate, &self.issuer, &self.serial) {
            (Some(pem), None, None) => Ok(CertRef::Certificate(pem.as_bytes().to_vec())),
            (None, Some(issuer), Some(serial)) => Ok(CertRef::Serial {
                issuer: issuer.clone(),
                serial: serial.clone(),
            }),
            _ => Err(Failure::Input(RaError::bad(
                "name the certificate with \"certificate\" (PEM) or with \"issuer\" and \"serial\"",
            ))),
        }
    }

    fn reason(&self) -> Result<RevocationReason, Failure> {
        match &self.reason {
            Some(r) => r
                .parse::<RevocationReason>()
                .map_err(|e| Failure::Input(RaError::bad(e.to_string()))),
            None => Ok(RevocationReason::Unspecified),
        }
    }

    fn invalidity_date(&self) -> Result<Option<i64>, Failure> {
        self.invalidity_date
            .as_deref()
            .map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map(|t| t.unix_timestamp())
                    .map_err(|_| {
                        Failure::Input(RaError::bad(format!(
                            "invalidity_date {t:?} is not RFC 3339"
                        )))
                    })
            })
            .transpose()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    profile: String,
    csr: String,
    #[serde(default)]
    subject: BTreeMap<String, String>,
    validity_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCompromiseBody {
    proof: String,
    certificate: Option<String>,
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| Failure::Input(RaError::bad(format!("request body: {e}"))))
}

fn limit(query: Option<&str>, default: usize) -> usize {
    query
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("limit=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl RaApi {
    /// The API over `ra`. `acme_base_url` is the external URL of `/acme` (e.g.
    /// `https://127.0.0.1:8443/acme`).
    pub fn new(
        ra: Arc<Ra>,
        operators: Operators,
        client_cert_check: ClientCertCheck,
        acme_base_url: &str,
    ) -> Self {
        Self {
            ra,
            operators,
            client_cert_check,
            acme: Directory::new(acme_base_url),
            nonces: NoncePool::new(100_000, Duration::from_secs(600)),
        }
    }

    /// Who is calling, from the TLS client certificate.
    fn actor(&self, client_cert: Option<&[u8]>) -> Result<Actor, (Actor, RaError)> {
        let Some(der) = client_cert else {
            return Ok(Actor::unauthenticated(Channel::RaApi, None));
        };
        let fp = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        let fp: [u8; 32] = fp.as_ref().try_into().expect("SHA-256 is 32 bytes");
        let Some(op) = self.operators.by_cert_sha256(&fp) else {
            let who = format!("unregistered certificate sha256:{}", hex::encode(&fp[..8]));
            return Err((
                Actor::unauthenticated(Channel::RaApi, Some(who)),
                RaError {
                    kind: ErrorKind::Forbidden,
                    message: "this client certificate is not registered to an operator".into(),
                },
            ));
        };
        if let Err(why) = (self.client_cert_check)(der) {
            return Err((
                Actor::unauthenticated(Channel::RaApi, Some(op.name.clone())),
                RaError::forbidden(format!("operator certificate refused: {why}")),
            ));
        }
        Ok(Actor::operator(op, Channel::RaApi))
    }

    /// Handles one request; `client_cert` is the verified TLS client certificate.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        client_cert: Option<Arc<Vec<u8>>>,
    ) -> Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().map(str::to_owned);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return json_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &serde_json::json!({ "error": format!("request body over {MAX_BODY_BYTES} bytes") }),
                );
            }
        };
        if path.starts_with("/acme/") {
            return self
                .acme(&method, &path, content_type.as_deref(), body)
                .await;
        }
        let this = Arc::clone(&self);
        let answer = tokio::task::spawn_blocking(move || {
            this.route(
                &method,
                &path,
                query.as_deref(),
                &body,
                client_cert.as_deref().map(Vec::as_slice),
            )
        })
        .await;
        match answer {
            Ok(resp) => resp,
            Err(_) => error_response(&RaError::internal("request handler failed")),
        }
    }

    fn route(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        body: &[u8],
        client_cert: Option<&[u8]>,
    ) -> Response<Body> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let route = match route_of(method, &segments) {
            RouteMatch::Found(route) => route,
            RouteMatch::WrongMethod(allowed) => {
                let mut resp =
                    error_response(&RaError::bad(format!("use {allowed} for this resource")));
                *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                resp.headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static(allowed));
                return resp;
            }
            RouteMatch::NotFound => {
                return error_response(&RaError::not_found(format!(
                    "no API resource {}",
                    path.chars().take(128).collect::<String>()
                )));
            }
        };
        let target = path.chars().take(128).collect::<String>();
        let actor = match (self.actor(client_cert), route) {
            (Ok(a), _) => a,
            // Subscriber routes are authorised by their proof, not by a certificate.
            (Err((actor, _)), Route::Subscriber(_)) => actor,
            (Err((actor, e)), Route::Operator(action)) => {
                return error_response(&self.ra.refused(&actor, action, &target, e));
            }
        };
        // Role first, then input: a caller without the role learns nothing about the
        // body, and is audited either way.
        let action = match route {
            Route::Operator(action) => {
                if let Err(e) = self.ra.authorize(&actor, action, &target) {
                    return error_response(&e);
                }
                action
            }
            Route::Subscriber(action) => action,
        };
        match self.dispatch(method, &segments, query, body, &actor) {
            Ok((status, value)) => json_response(status, &value),
            Err(Failure::Audited(e)) => error_response(&e),
            Err(Failure::Input(e)) => {
                let who = if actor.role.is_some() {
                    actor
                } else {
                    Actor::subscriber(Channel::Subscriber)
                };
                error_response(&self.ra.refused(&who, action, &target, e))
            }
        }
    }

    fn dispatch(
        &self,
        method: &Method,
        segments: &[&str],
        query: Option<&str>,
        body: &[u8],
        actor: &Actor,
    ) -> Result<(StatusCode, serde_json::Value), Failure> {
        let ok = |v: serde_json::Value| Ok((StatusCode::OK, v));
        let to_value = |v: &dyn erased::Ser| v.value();
        let ra = &self.ra;
        match (method, segments) {
            (&Method::GET, ["api", "v1", "profiles"]) => ok(to_value(&ra.profiles(actor)?)),
            (&Method::GET, ["api", "v1", "requests"]) => {
                ok(to_value(&ra.list(actor, limit(query, 100))?))
            }
            (&Method::GET, ["api", "v1", "requests", id]) => {
                ok(to_value(&ra.request(actor, parse_id(id)?)?))
            }
            (&Method::POST, ["api", "v1", "requests"]) => {
                let b: SubmitBody = parse_json(body)?;
                let record = ra.submit(
                    actor,
                    NewRequest {
                        profile: b.profile,
                        csr: b.csr.into_bytes(),
                        subject: b.subject,
                        validity_days: b.validity_days,
                    },
                )?;
                Ok((StatusCode::CREATED, to_value(&record)))
            }
            (&Method::POST, ["api", "v1", "requests", id, "approve"]) => {
                ok(to_value(&ra.approve(actor, parse_id(id)?)?))
            }
            (&Method::POST, ["api", "v1", "requests", id, "reject"]) => {
                let id = parse_id(id)?;
                let b: RejectBody = parse_json(body)?;
                ok(to_value(&ra.reject(actor, id, &b.reason)?))
            }
            (&Method::POST, ["api", "v1", "revoke"]) => {
                let b: CertBody = parse_json(body)?;
                let (cert, reason, date) = (b.cert_ref()?, b.reason()?, b.invalidity_date()?);
                ok(to_value(&ra.revoke(actor, &cert, reason, date)?))
            }
            (&Method::POST, ["api", "v1", "hold"]) => {
                let b: CertBody = parse_json(body)?;
                ok(to_value(&ra.hold(actor, &b.cert_ref()?, b.hold_days)?))
            }
            (&Method::POST, ["api", "v1", "release"]) => {
                let b: CertBody = parse_json(body)?;
                ok(to_value(&ra.release(actor, &b.cert_ref()?)?))
            }
            (&Method::POST, ["api", "v1", "subscriber", "revoke"]) => {
                let b: CertBody = parse_json(body)?;
                let code = b
                    .revocation_code
                    .clone()
                    .ok_or_else(|| Failure::Input(RaError::bad("revocation_code is required")))?;
                let (cert, reason) = (b.cert_ref()?, b.reason()?);
                ok(to_value(&ra.subscriber_revoke(&cert, &code, reason)?))
            }
            (&Method::POST, ["api", "v1", "key-compromise"]) => {
                let b: KeyCompromiseBody = parse_json(body)?;
                let extra = b
                    .certificate
                    .as_ref()
                    .map(|c| CertRef::Certificate(c.as_bytes().to_vec()));
                let who = if actor.role.is_some() {
                    actor.clone()
                } else {
                    Actor::subscriber(Channel::Subscriber)
                };
                ok(to_value(&ra.key_compromise(
                    &who,
                    b.proof.as_bytes(),
                    extra.as_ref(),
                )?))
            }
            (&Method::GET, ["api", "v1", "audit"]) => {
                ok(to_value(&ra.read_audit(actor, limit(query, 100))?))
            }
            _ => Err(Failure::Input(RaError::not_found("no such API call"))),
        }
    }

    async fn acme(
        self: Arc<Self>,
        method: &Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Response<Body> {
        let nonce = self.nonces.issue().ok();
        let mut resp = match (method, self.acme.endpoint(path)) {
            (&Method::GET, Some(Endpoint::Directory)) => {
                json_response(StatusCode::OK, &self.acme.to_json())
            }
            (&Method::HEAD | &Method::GET, Some(Endpoint::NewNonce)) => {
                let mut r = Response::new(Full::new(Bytes::new()));
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static("no-store"),
                );
                *r.status_mut() = if method == Method::HEAD {
                    StatusCode::OK
                } else {
                    StatusCode::NO_CONTENT
                };
                r
            }
            (&Method::POST, Some(endpoint)) => {
                let problem =
                    acme::check_content_type(content_type)
                        .err()
                        .or_else(|| match endpoint {
                            Endpoint::RevokeCert => None,
                            Endpoint::NewAccount => {
                                Some(self.acme.answer_new_account(&body, &self.nonces))
                            }
                            _ => Some(acme::answer_account_only(&body)),
                        });
                match problem {
                    Some(p) => problem_response(&p),
                    None => {
                        let this = Arc::clone(&self);
                        tokio::task::spawn_blocking(move || this.acme_revoke(&body))
                            .await
                            .unwrap_or_else(|_| {
                                problem_response(&acme::Problem::new(
                                    acme::ProblemKind::ServerInternal,
                                    "request handler failed",
                                ))
                            })
                    }
                }
            }
            _ => problem_response(&acme::Problem::new(
                acme::ProblemKind::Malformed,
                format!("no ACME resource {method} {path}"),
            )),
        };
        if let Some(n) = nonce
            && let Ok(v) = header::HeaderValue::from_str(&n)
        {
            resp.headers_mut().insert("replay-nonce", v);
        }
        if let Ok(v) =
            header::HeaderValue::from_str(&format!("<{}>;rel=\"index\"", self.acme.directory))
        {
            resp.headers_mut().insert(header::LINK, v);
        }
        resp
    }

    fn acme_revoke(&self, body: &[u8]) -> Response<Body> {
        let request = match self.acme.verify_revocation(body, &self.nonces) {
            Ok(r) => r,
            Err(p) => {
                let _ = self.ra.audit_log().append(
                    audit::AuditEntry::new(
                        audit::Role::Acme,
                        Channel::Acme,
                        audit::Action::Revoke,
                        Outcome::Refused,
                    )
                    .detail(p.detail.clone()),
                );
                return problem_response(&p);
            }
        };
        let reason = request
            .reason
            .and_then(RevocationReason::from_code)
            .unwrap_or(RevocationReason::Unspecified);
        match self.ra.acme_revoke(&request, reason) {
            Ok(_) => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::OK;
                r
            }
            Err(e) => {
                let kind = match e.kind {
                    ErrorKind::Conflict => acme::ProblemKind::AlreadyRevoked,
                    ErrorKind::NotFound | ErrorKind::Forbidden | ErrorKind::Unauthenticated => {
                        acme::ProblemKind::Unauthorized
                    }
                    ErrorKind::BadReason => acme::ProblemKind::BadRevocationReason,
                    ErrorKind::BadRequest => acme::ProblemKind::Malformed,
                    ErrorKind::TooManyRequests => acme::ProblemKind::RateLimited,
                    ErrorKind::Internal => acme::ProblemKind::ServerInternal,
                };
                problem_response(&acme::Problem::new(kind, e.message))
            }
        }
    }
}

/// Who may call a resource.
#[derive(Clone, Copy, Debug)]
enum Route {
    /// Operators with a role allowed `Action`.
    Operator(Action),
    /// Anyone with the proof the call carries (revocation code, key).
    Subscriber(Action),
}

enum RouteMatch {
    Found(Route),
    WrongMethod(&'static str),
    NotFound,
}

/// The route of a path, checked before anything is parsed.
fn route_of(method: &Method, segments: &[&str]) -> RouteMatch {
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    let (allowed, route) = match segments {
        ["api", "v1", "profiles"] => ("GET", Route::Operator(Action::ListProfiles)),
        ["api", "v1", "requests"] if post => ("POST", Route::Operator(Action::Submit)),
        ["api", "v1", "requests"] => ("GET", Route::Operator(Action::ListRequests)),
        ["api", "v1", "requests", _] => ("GET", Route::Operator(Action::ListRequests)),
        ["api", "v1", "requests", _, "approve"] => ("POST", Route::Operator(Action::Approve)),
        ["api", "v1", "requests", _, "reject"] => ("POST", Route::Operator(Action::Reject)),
        ["api", "v1", "revoke"] => ("POST", Route::Operator(Action::Revoke)),
        ["api", "v1", "hold"] => ("POST", Route::Operator(Action::Hold)),
        ["api", "v1", "release"] => ("POST", Route::Operator(Action::Release)),
        ["api", "v1", "audit"] => ("GET", Route::Operator(Action::ReadAudit)),
        ["api", "v1", "subscriber", "revoke"] => ("POST", Route::Subscriber(Action::Revoke)),
        ["api", "v1", "key-compromise"] => ("POST", Route::Subscriber(Action::KeyCompromise)),
        _ => return RouteMatch::NotFound,
    };
    let matches = match allowed {
        "GET" => get,
        _ => post,
    };
    if matches {
        RouteMatch::Found(route)
    } else {
        RouteMatch::WrongMethod(allowed)
    }
}

/// A failed call: already audited by the workflow, or refused on its input before
/// reaching it (audited by the router).
enum Failure {
    Audited(RaError),
    Input(RaError),
}

impl From<RaError> for Failure {
    fn from(e: RaError) -> Self {
        // Workflow methods audit their own outcome; errors converted with `?` from the
        // parsing helpers are marked by `input`.
        Failure::Audited(e)
    }
}

fn problem_response(p: &acme::Problem) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(p.to_json())));
    *resp.status_mut() = StatusCode::from_u16(p.status()).unwrap_or(StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(acme::PROBLEM_CONTENT_TYPE),
    );
    resp
}

fn parse_id(text: &str) -> Result<u64, Failure> {
    text.parse().map_err(|_| {
        Failure::Input(RaError::bad(format!(
            "request id {:?} is not a number",
            text.chars().take(24).collect::<String>()
        )))
    })
}

/// Serialisation to a JSON value behind a trait object, so `dispatch` can treat every
/// answer alike.
mod erased {
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Serves the API over TLS on `listener` until `shutdown` resolves.
pub async fn serve_ra(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    api: Arc<RaApi>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "RA accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let api = Arc::clone(&api);
        let builder = builder.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "RA TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let client_cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| Arc::new(c.as_ref().to_vec()));
            let service = hyper::service::service_fn(move |req| {
                let api = Arc::clone(&api);
                let client_cert = client_cert.clone();
                async move { Ok::<_, Infallible>(api.handle(req, client_cert).await) }
            });
            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

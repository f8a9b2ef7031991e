//! The OCSP HTTP front: HTTP/1.1 and h2c on one port (hyper), GET with forgiving
//! decoding, POST with a body cap, RFC 5019 caching headers, ETag/304, health and
//! readiness, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::body::OcspBody;
use crate::docs::StaticDocs;
use crate::metrics::render_metrics;
use crate::response::ErrorStatus;
use crate::service::{Answer, Service};

/// HTTP settings.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Path under which OCSP is served, starting and ending with `/` (default `/`).
    pub path_prefix: String,
    /// Largest POST body accepted, bytes (default 10,240).
    pub max_post_bytes: usize,
    /// Seconds a client has to send request headers (default 10).
    pub header_timeout_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            path_prefix: "/".to_owned(),
            max_post_bytes: 10 * 1024,
            header_timeout_secs: 10,
        }
    }
}

/// Shared state of the HTTP front.
pub struct HttpApp {
    service: Arc<Service>,
    settings: HttpSettings,
    ready: Arc<AtomicBool>,
    extra_metrics: Box<dyn Fn() -> String + Send + Sync>,
    /// `Cache-Control` for the common case max-age = the cap (rendered once).
    cache_control_at_cap: HeaderValue,
    /// CRLs and CA certificates served under `/crl/` and `/ca/`.
    docs: Arc<StaticDocs>,
}

impl std::fmt::Debug for HttpApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApp").finish_non_exhaustive()
    }
}

const OCSP_RESPONSE: HeaderValue = HeaderValue::from_static("application/ocsp-response");
const NOT_CACHEABLE: HeaderValue = HeaderValue::from_static("no-cache, no-store, max-age=0");
const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD, POST");

/// Base64 as clients send it in GET paths: padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Longest GET path accepted (a request with 16 SHA-512 CertIDs is under 4 KiB).
const MAX_GET_PATH: usize = 16 * 1024;

impl HttpApp {
    /// A front for `service`. `ready` gates `/readyz`; `extra_metrics` appends more
    /// Prometheus text (refresher, store) to `/metrics`.
    pub fn new(
        service: Arc<Service>,
        settings: HttpSettings,
        ready: Arc<AtomicBool>,
        extra_metrics: Box<dyn Fn() -> String + Send + Sync>,
    ) -> Self {
        let cache_control_at_cap = cache_control(i64::from(service.settings().max_age_cap_secs));
        Self {
            service,
            settings,
            ready,
            extra_metrics,
            cache_control_at_cap,
            docs: Arc::default(),
        }
    }

    /// Serves `docs` under `/crl/` and `/ca/`.
    pub fn with_docs(mut self, docs: Arc<StaticDocs>) -> Self {
        self.docs = docs;
        self
    }

    /// Handles one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<OcspBody> {
        let path = req.uri().path();
        match path {
            "/healthz" => return text(StatusCode::OK, "ok\n"),
            "/readyz" => {
                return if self.ready.load(Ordering::Relaxed) {
                    text(StatusCode::OK, "ready\n")
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "starting: signing responses\n",
                    )
                };
            }
            "/metrics" => {
                let mut body = render_metrics(&self.service);
                body.push_str(&(self.extra_metrics)());
                return text(StatusCode::OK, &body);
            }
            p if p.starts_with("/crl/") || p.starts_with("/ca/") => {
                return self.static_doc(&req);
            }
            _ => {}
        }
        let Some(rest) = strip_prefix(path, &self.settings.path_prefix) else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        let method = req.method().clone();
        let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
        let der: Vec<u8> = match method {
            Method::GET | Method::HEAD => match decode_get_path(rest) {
                Some(der) => der,
                None => return error_response(ErrorStatus::MalformedRequest, &method),
            },
            Method::POST => {
                let declared = req
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if declared.is_some_and(|n| n > self.settings.max_post_bytes as u64) {
                    return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
                }
                match Limited::new(req.into_body(), self.settings.max_post_bytes)
                    .collect()
                    .await
                {
                    Ok(body) => body.to_bytes().to_vec(),
                    Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                        return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
                    }
                    Err(_) => return error_response(ErrorStatus::MalformedRequest, &method),
                }
            }
            _ => {
                let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST\n");
                resp.headers_mut().insert(header::ALLOW, ALLOW);
                return resp;
            }
        };
        let answer = self.service.answer(&der).await;
        match answer {
            Answer::Error(status) => error_response(status, &method),
            Answer::Private(bytes) => {
                let mut resp = ocsp_body(StatusCode::OK, bytes, &method);
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, NOT_CACHEABLE);
                resp
            }
            Answer::Cacheable(p) => {
                let now = self.service.clock().now();
                let cap = i64::from(self.service.settings().max_age_cap_secs);
                let max_age = (p.next_update() - now).clamp(0, cap);
                let etag = p.etag();
                let not_modified = if_none_match
                    .as_ref()
                    .is_some_and(|v| etag_matches(v.as_bytes(), &etag));
                let body = if method == Method::HEAD || not_modified {
                    OcspBody::empty()
                } else {
                    OcspBody::two(p.head(), p.tail().clone())
                };
                let mut resp = Response::new(body);
                let h = resp.headers_mut();
                h.insert(header::CONTENT_TYPE, OCSP_RESPONSE);
                if method == Method::HEAD {
                    h.insert(header::CONTENT_LENGTH, HeaderValue::from(p.len()));
                }
                h.insert(
                    header::CACHE_CONTROL,
                    if max_age == cap {
                        self.cache_control_at_cap.clone()
                    } else {
                        cache_control(max_age)
                    },
                );
                h.insert(header::LAST_MODIFIED, http_date(p.this_update()));
                h.insert(header::EXPIRES, http_date(now + max_age));
                if let Ok(v) = HeaderValue::from_bytes(&etag) {
                    h.insert(header::ETAG, v);
                }
                if not_modified {
                    *resp.status_mut() = StatusCode::NOT_MODIFIED;
                    resp.headers_mut().remove(header::CONTENT_TYPE);
                }
                resp
            }
        }
    }
}

impl HttpApp {
    fn static_doc(&self, req: &Request<Incoming>) -> Response<OcspBody> {
        let method = req.method();
        if method != Method::GET && method != Method::HEAD {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return resp;
        }
        let Some(doc) = self.docs.get(req.uri().path()) else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        let now = self.service.clock().now();
        let not_modified = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| etag_matches(v.as_bytes(), doc.etag.as_bytes()));
        let body = if method == Method::HEAD || not_modified {
            OcspBody::empty()
        } else {
            OcspBody::one(doc.body.clone())
        };
        let mut resp = Response::new(body);
        let h = resp.headers_mut();
        if not_modified {
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
        } else {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(doc.content_type),
            );
        }
        let h = resp.headers_mut();
        if method == Method::HEAD {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(doc.body.len()));
        }
        // A CRL may be cached until its nextUpdate, never beyond; at most a day.
        let max_age = doc.expires.map_or(3600, |e| (e - now).clamp(0, 86_400));
        h.insert(header::CACHE_CONTROL, cache_control(max_age));
        h.insert(header::LAST_MODIFIED, http_date(doc.last_modified));
        h.insert(header::EXPIRES, http_date(now + max_age));
        if let Ok(v) = HeaderValue::from_str(&doc.etag) {
            h.insert(header::ETAG, v);
        }
        resp
    }
}

/// Whether an `If-None-Match` value names `etag` (a list, weak forms, or `*`;
/// RFC 9110 §13.1.2 uses the weak comparison for If-None-Match).
fn etag_matches(header: &[u8], etag: &[u8]) -> bool {
    header.split(|&b| b == b',').any(|item| {
        let item = item.trim_ascii();
        let item = item.strip_prefix(b"W/").unwrap_or(item);
        item == b"*" || item == etag
    })
}

fn strip_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    // A doubled leading slash ("//MEIw...") is common from clients that join a base URL
    // ending in "/" with a path starting with "/".
    let trimmed = if path.starts_with("//") {
        &path[1..]
    } else {
        path
    };
    trimmed.strip_prefix(prefix).or_else(|| {
        // "/prefix" without its trailing slash: the empty request (malformed).
        (trimmed == prefix.trim_end_matches('/')).then_some("")
    })
}

/// Decodes the base64 request in a GET path: percent-encoding optional, `+` may have
/// become a space, base64url accepted, padding optional.
pub fn decode_get_path(encoded: &str) -> Option<Vec<u8>> {
    if encoded.is_empty() || encoded.len() > MAX_GET_PATH {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut clean = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                i += 2;
                v
            }
            other => other,
        };
        i += 1;
        match b {
            b' ' => clean.push(b'+'),
            b'-' => clean.push(b'+'),
            b'_' => clean.push(b'/'),
            b'=' | b'\r' | b'\n' => {}
            // A doubled slash inside the prefix join leaves a leading '/': base64 of a
            // DER SEQUENCE never starts with '/', so drop it.
            b'/' if clean.is_empty() => {}
            other => clean.push(other),
        }
    }
    LENIENT_BASE64.decode(&clean).ok()
}

fn text(status: StatusCode, body: &str) -> Response<OcspBody> {
    let mut resp = Response::new(OcspBody::one(Bytes::copy_from_slice(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, NOT_CACHEABLE);
    resp
}

fn ocsp_body(status: StatusCode, body: Bytes, method: &Method) -> Response<OcspBody> {
    let len = body.len();
    let body = if *method == Method::HEAD {
        OcspBody::empty()
    } else {
        OcspBody::one(body)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, OCSP_RESPONSE);
    if *method == Method::HEAD {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}

fn error_response(status: ErrorStatus, method: &Method) -> Response<OcspBody> {
    let code = match status {
        ErrorStatus::MalformedRequest => StatusCode::BAD_REQUEST,
        ErrorStatus::TryLater => StatusCode::SERVICE_UNAVAILABLE,
        ErrorStatus::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorStatus::Unauthorized => StatusCode::OK,
    };
    let mut resp = ocsp_body(code, Bytes::from_static(status.der()), method);
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, NOT_CACHEABLE);
    if status == ErrorStatus::TryLater {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    resp
}

fn cache_control(max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "public, no-transform, must-revalidate, max-age={max_age}"
    ))
    .expect("ascii")
}

fn http_date(unix: i64) -> HeaderValue {
    // Most responses on a thread share thisUpdate (signed in one batch) and `now` moves
    // once a second, so a two-entry per-thread cache saves formatting on most requests.
    thread_local! {
        static RECENT: std::cell::RefCell<[(i64, HeaderValue); 2]> = const {
            std::cell::RefCell::new([
                (-1, HeaderValue::from_static("")),
                (-1, HeaderValue::from_static("")),
            ])
        };
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some((_, v)) = recent.iter().find(|(t, _)| *t == unix) {
            return v.clone();
        }
        let t = std::time::UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
        let v = HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("http dates are ascii");
        recent.swap(0, 1);
        recent[0] = (unix, v.clone());
        v
    })
}

/// Serves `app` on `addr` with `shards` threads, each running its own single-threaded
/// runtime and its own listening socket (`SO_REUSEPORT`: the kernel spreads connections
/// over them). Requests never hop between threads, which on a small machine is worth
/// more than work stealing. Returns once every socket is bound; the threads stop (after
/// draining, bounded by `drain_secs`) when `shutdown` becomes true.
pub fn serve_sharded(
    addr: std::net::SocketAddr,
    shards: usize,
    app: Arc<HttpApp>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    drain_secs: u64,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    // SO_REUSEPORT would let a second Revoca (same user) share the port silently, each
    // serving its own state: probe with a plain bind first, so "address in use" is an
    // error as usual.
    drop(std::net::TcpListener::bind(addr)?);
    let mut sockets = Vec::with_capacity(shards.max(1));
    for _ in 0..shards.max(1) {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.set_nodelay(true)?;
        socket.bind(addr)?;
        sockets.push(socket);
    }
    let mut threads = Vec::with_capacity(sockets.len());
    for (n, socket) in sockets.into_iter().enumerate() {
        let app = Arc::clone(&app);
        let mut shutdown = shutdown.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("revoca-http-{n}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match socket.listen(4096) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot listen");
                            return;
                        }
                    };
                    let stop = async move {
                        while !*shutdown.borrow() {
                            if shutdown.changed().await.is_err() {
                                break;
                            }
                        }
                    };
                    serve(listener, app, stop, drain_secs).await;
                });
            })?;
        threads.push(thread);
    }
    Ok(threads)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains open connections
/// (bounded by `drain_secs`).
pub async fn serve(
    listener: TcpListener,
    app: Arc<HttpApp>,
    shutdown: impl Future<Output = ()>,
    drain_secs: u64,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(app.settings.header_timeout_secs.max(1)))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = Arc::clone(&app);
                let service = hyper::service::service_fn(move |req| {
                    let app = Arc::clone(&app);
                    async move { Ok::<_, Infallible>(app.handle(req).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(drain_secs)) => {
            tracing::warn!("connections still open after {drain_secs} s; closing");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgiving_get_decoding() {
        let der = b"\x30\x45\xfb\xff\xfe\x3e\x3f test bytes";
        let std = base64::engine::general_purpose::STANDARD.encode(der);
        assert!(std.contains('+') || std.contains('/'));
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(der);
        let variants = [
            std.clone(),
            std.trim_end_matches('=').to_owned(),
            std.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D"),
            std.replace('+', " "),
            std.replace('+', "%20"),
            url,
            format!("/{std}"),
            std.replace('/', "%2f"),
        ];
        for v in variants {
            assert_eq!(decode_get_path(&v).as_deref(), Some(&der[..]), "{v}");
        }
        assert!(decode_get_path("").is_none());
        assert!(decode_get_path("%zz").is_none());
        assert!(decode_get_path("%4").is_none());
        assert!(decode_get_path("!!!").is_none());
        assert!(decode_get_path(&"A".repeat(MAX_GET_PATH + 4)).is_none());
    }

    #[test]
    fn etag_matching() {
        assert!(etag_matches(b"\"abc\"", b"\"abc\""));
        assert!(etag_matches(b"\"x\", W/\"abc\"", b"\"abc\""));
        assert!(etag_matches(b"*", b"\"abc\""));
        assert!(!etag_matches(b"\"abd\"", b"\"abc\""));
        assert!(!etag_matches(b"abc", b"\"abc\""));
    }

    #[test]
    fn prefixes() {
        assert_eq!(strip_prefix("/MEI", "/"), Some("MEI"));
        assert_eq!(strip_prefix("//MEI", "/"), Some("MEI"));
        assert_eq!(strip_prefix("/ocsp/MEI", "/ocsp/"), Some("MEI"));
        assert_eq!(strip_prefix("//ocsp/MEI", "/ocsp/"), Some("MEI"));
        assert_eq!(strip_prefix("/ocsp", "/ocsp/"), Some(""));
        assert_eq!(strip_prefix("/other/MEI", "/ocsp/"), None);
    }
}

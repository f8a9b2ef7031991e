//! A small HTTPS client for the RA API, used by the CLI (`revoca ra ...`, `revoca
//! revoke ...`): one request per connection, the operator's client certificate
//! presented, the server checked against the given roots.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest answer accepted, bytes.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// An RA API client.
#[derive(Clone, Debug)]
pub struct RaClient {
    base_url: String,
    host: String,
    port: u16,
    tls: Arc<ClientConfig>,
}

/// The answer: HTTP status and JSON body.
#[derive(Clone, Debug)]
pub struct ApiAnswer {
    /// HTTP status.
    pub status: u16,
    /// Parsed JSON body (`Null` when empty).
    pub body: serde_json::Value,
}

impl ApiAnswer {
    /// The body's `"error"` message, or the status.
    pub fn error_message(&self) -> String {
        self.body
            .get("error")
            .and_then(|e| e.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {}", self.status))
    }
}

impl RaClient {
    /// A client for `base_url` (`https://host:port`).
    pub fn new(base_url: &str, tls: Arc<ClientConfig>) -> Result<Self, String> {
        let rest = base_url
            .strip_prefix("https://")
            .ok_or_else(|| format!("RA URL {base_url:?} must start with https://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.trim_matches(['[', ']']).to_owned(),
                p.parse().map_err(|_| format!("bad port in {base_url:?}"))?,
            ),
            None => (authority.to_owned(), 443),
        };
        Ok(Self {
            base_url: format!("https://{authority}"),
            host,
            port,
            tls,
        })
    }

    /// Sends `method path` with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiAnswer, String> {
        let work = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| format!("connecting to {}: {e}", self.base_url))?;
            let name = ServerName::try_from(self.host.clone())
                .map_err(|e| format!("server name {:?}: {e}", self.host))?;
            let tls = TlsConnector::from(Arc::clone(&self.tls))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {}: {e}", self.base_url))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP with {}: {e}", self.base_url))?;
            tokio::spawn(conn);
            let bytes = body
                .map(|b| serde_json::to_vec(b).unwrap_or_default())
                .unwrap_or_default();
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, format!("{}:{}", self.host, self.port))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(bytes)))
                .map_err(|e| e.to_string())?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| format!("request to {}: {e}", self.base_url))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            let body = if body.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| format!("the answer is not JSON ({e})"))?
            };
            Ok(ApiAnswer { status, body })
        };
        tokio::time::timeout(Duration::from_secs(60), work)
            .await
            .map_err(|_| format!("no answer from {} within 60 s", self.base_url))?
    }
}

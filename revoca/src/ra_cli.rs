//! `revoca ra ...`, `revoca revoke|hold|release` and `revoca audit verify`: the CLI as a
//! client of the RA API, with an operator's credentials taken from a demo directory's
//! `manifest.json` (`ra_url`, `roots`, `operators`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use http::Method;
use revoca_ra::client::{ApiAnswer, RaClient};
use serde_json::{Value, json};

/// The RA endpoint and credentials of a demo directory.
pub struct RaTarget {
    url: String,
    roots: Vec<PathBuf>,
    operators: Vec<(String, String, PathBuf, PathBuf)>,
}

impl RaTarget {
    /// Reads `dir/manifest.json`; `None` if the demo has no RA.
    pub fn from_dir(dir: &Path) -> Result<Option<Self>, String> {
        let m = crate::demo::read_manifest(dir)?;
        let Some(url) = m["ra_url"].as_str() else {
            return Ok(None);
        };
        let roots = m["roots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(PathBuf::from))
            .collect();
        let operators = m["operators"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| {
                Some((
                    o["name"].as_str()?.to_owned(),
                    o["role"].as_str()?.to_owned(),
                    PathBuf::from(o["cert"].as_str()?),
                    PathBuf::from(o["key"].as_str()?),
                ))
            })
            .collect();
        Ok(Some(Self {
            url: url.to_owned(),
            roots,
            operators,
        }))
    }

    /// A client acting as operator `name`, or as the first operator with `default_role`
    /// when no name is given, or with no client certificate (`default_role` None).
    pub fn client(
        &self,
        name: Option<&str>,
        default_role: Option<&str>,
    ) -> Result<RaClient, String> {
        let op = match (name, default_role) {
            (Some(n), _) => Some(
                self.operators
                    .iter()
                    .find(|o| o.0 == n)
                    .ok_or_else(|| format!("no operator named {n:?} in the manifest"))?,
            ),
            (None, Some(role)) => self.operators.iter().find(|o| o.1 == role),
            (None, None) => None,
        };
        let mut roots = Vec::new();
        for r in &self.roots {
            roots.extend(revoca_ra::tls::load_certs(r).map_err(|e| e.to_string())?);
        }
        let identity = op.map(|o| (o.2.as_path(), o.3.as_path()));
        let tls = revoca_ra::tls::client_config(roots, identity).map_err(|e| e.to_string())?;
        RaClient::new(&self.url, tls)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Sends one call and returns the answer if it succeeded.
pub fn call(
    client: &RaClient,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let answer: ApiAnswer = runtime()?.block_on(client.call(method, path, body.as_ref()))?;
    if (200..300).contains(&answer.status) {
        Ok(answer.body)
    } else {
        Err(format!(
            "refused ({}): {}",
            answer.status,
            answer.error_message()
        ))
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Prints `Err` and turns the result into an exit code.
pub fn finish(context: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("revoca {context}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The certificate named on the command line, as API body fields.
pub fn cert_fields(
    cert: Option<&PathBuf>,
    issuer_pem: Option<&PathBuf>,
    serial: Option<&String>,
    dir: &Path,
) -> Result<serde_json::Map<String, Value>, String> {
    let mut body = serde_json::Map::new();
    match (cert, issuer_pem, serial) {
        (Some(c), _, _) => {
            body.insert("certificate".into(), json!(read_text(c)?));
        }
        (None, Some(issuer), Some(serial)) => {
            body.insert("issuer".into(), json!(issuer_name(dir, issuer)?));
            body.insert("serial".into(), json!(serial));
        }
        _ => return Err("give --cert, or --issuer and --serial".into()),
    }
    Ok(body)
}

/// The configured name of the CA whose certificate file is `issuer_pem`.
fn issuer_name(dir: &Path, issuer_pem: &Path) -> Result<String, String> {
    let wanted = read_text(issuer_pem)?;
    let m = crate::demo::read_manifest(dir)?;
    for i in m["issuers"].as_array().into_iter().flatten() {
        if let (Some(name), Some(cert)) = (i["name"].as_str(), i["cert"].as_str())
            && read_text(Path::new(cert))? == wanted
        {
            return Ok(name.to_owned());
        }
    }
    Err(format!(
        "{} is not one of the demo's CAs",
        issuer_pem.display()
    ))
}

/// `revoca revoke|hold|release` through the RA API.
pub fn lifecycle(
    target: &RaTarget,
    action: &str,
    operator: Option<&str>,
    mut body: serde_json::Map<String, Value>,
    reason: Option<&str>,
    invalidity_date: Option<&str>,
) -> Result<(), String> {
    let default_role = if action == "revoke" {
        "officer"
    } else {
        "ra-head"
    };
    let client = target.client(operator, Some(default_role))?;
    if let Some(r) = reason {
        body.insert("reason".into(), json!(r));
    }
    if let Some(d) = invalidity_date {
        body.insert("invalidity_date".into(), json!(d));
    }
    let answer = call(
        &client,
        Method::POST,
        &format!("/api/v1/{action}"),
        Some(Value::Object(body)),
    )?;
    println!(
        "{action}: {} (issuer {}, serial {})",
        answer["result"].as_str().unwrap_or_default(),
        answer["issuer"].as_str().unwrap_or_default(),
        answer["serial"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// `revoca ra profiles`.
pub fn profiles(target: &RaTarget, operator: Option<&str>) -> Result<(), String> {
    let client = target.client(operator, Some("officer"))?;
    let answer = call(&client, Method::GET, "/api/v1/profiles", None)?;
    for p in answer.as_array().into_iter().flatten() {
        println!(
            "{}\t{}\t{}",
            p["name"].as_str().unwrap_or_default(),
            p["issuer"].as_str().unwrap_or_default(),
            p["description"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// `revoca ra submit`: prints the request id on its last line.
pub fn submit(
    target: &RaTarget,
    operator: &str,
    profile: &str,
    csr: &Path,
    subject: Option<&Path>,
    validity_days: Option<u32>,
) -> Result<(), String> {
    let client = target.client(Some(operator), None)?;
    let subject: Value = match subject {
        Some(p) => {
            serde_json::from_str(&read_text(p)?).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => json!({}),
    };
    let mut body = json!({ "profile": profile, "csr": read_text(csr)?, "subject": subject });
    if let Some(d) = validity_days {
        body["validity_days"] = json!(d);
    }
    let answer = call(&client, Method::POST, "/api/v1/requests", Some(body))?;
    println!("request submitted and verified by {operator}; waiting for approval");
    println!("{}", answer["id"]);
    Ok(())
}

/// `revoca ra approve`: prints the certificate (PEM); the revocation code goes to stderr.
pub fn approve(target: &RaTarget, operator: &str, id: u64) -> Result<(), String> {
    let client = target.client(Some(operator), None)?;
    let answer = call(
        &client,
        Method::POST,
        &format!("/api/v1/requests/{id}/approve"),
        None,
    )?;
    eprintln!(
        "issued by {} with serial {}; revocation code for the subscriber: {}",
        answer["issuer"].as_str().unwrap_or_default(),
        answer["serial"].as_str().unwrap_or_default(),
        answer["revocation_code"].as_str().unwrap_or_default()
    );
    print!("{}", answer["certificate"].as_str().unwrap_or_default());
    Ok(())
}

/// `revoca ra reject`.
pub fn reject(target: &RaTarget, operator: &str, id: u64, reason: &str) -> Result<(), String> {
    let client = target.client(Some(operator), None)?;
    call(
        &client,
        Method::POST,
        &format!("/api/v1/requests/{id}/reject"),
        Some(json!({ "reason": reason })),
    )?;
    println!("request {id} rejected");
    Ok(())
}

/// `revoca ra list`.
pub fn list(target: &RaTarget, operator: Option<&str>, limit: usize) -> Result<(), String> {
    let client = target.client(operator, Some("officer"))?;
    let answer = call(
        &client,
        Method::GET,
        &format!("/api/v1/requests?limit={limit}"),
        None,
    )?;
    for r in answer.as_array().into_iter().flatten() {
        println!(
            "{}\t{}\t{}\tverified by {}\t{}",
            r["id"],
            r["state"].as_str().unwrap_or_default(),
            r["profile"].as_str().unwrap_or_default(),
            r["verified"]["operator"].as_str().unwrap_or_default(),
            r["certificate"].as_str().unwrap_or("-"),
        );
    }
    Ok(())
}

/// `revoca ra audit`: prints the last records as JSON lines (auditors).
pub fn audit(target: &RaTarget, operator: Option<&str>, limit: usize) -> Result<(), String> {
    let client = target.client(operator, Some("auditor"))?;
    let answer = call(
        &client,
        Method::GET,
        &format!("/api/v1/audit?limit={limit}"),
        None,
    )?;
    for r in answer.as_array().into_iter().flatten() {
        println!("{r}");
    }
    Ok(())
}

/// `revoca ra subscriber-revoke`: revocation with the revocation code (no operator).
pub fn subscriber_revoke(
    target: &RaTarget,
    body: serde_json::Map<String, Value>,
    code: &str,
    reason: &str,
) -> Result<(), String> {
    let client = target.client(None, None)?;
    let mut body = body;
    body.insert("revocation_code".into(), json!(code));
    body.insert("reason".into(), json!(reason));
    let answer = call(
        &client,
        Method::POST,
        "/api/v1/subscriber/revoke",
        Some(Value::Object(body)),
    )?;
    println!("revoke: {}", answer["result"].as_str().unwrap_or_default());
    Ok(())
}

/// The first line of `path` (`-`: standard input), trimmed; for secrets that should not
/// appear on a command line.
pub fn read_secret_line(path: &Path) -> Result<String, String> {
    let text = if path == Path::new("-") {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("standard input: {e}"))?;
        line
    } else {
        read_text(path)?
    };
    let line = text.lines().next().unwrap_or_default().trim().to_owned();
    if line.is_empty() || line.len() > 128 {
        return Err(format!(
            "{}: expected one line of 1 to 128 characters",
            path.display()
        ));
    }
    Ok(line)
}

/// `revoca ra key-compromise`: proof is a CSR signed by the compromised key.
pub fn key_compromise(
    target: &RaTarget,
    operator: Option<&str>,
    proof: &Path,
    cert: Option<&Path>,
) -> Result<(), String> {
    let client = target.client(operator, None)?;
    let mut body = json!({ "proof": read_text(proof)? });
    if let Some(c) = cert {
        body["certificate"] = json!(read_text(c)?);
    }
    let answer = call(&client, Method::POST, "/api/v1/key-compromise", Some(body))?;
    let n = answer.as_array().map_or(0, Vec::len);
    println!("key blocked; {n} certificate(s) revoked for keyCompromise");
    Ok(())
}

/// `revoca audit verify`.
pub fn audit_verify(audit_dir: &Path) -> Result<(), String> {
    let report = revoca_ra::audit::verify(audit_dir).map_err(|e| e.to_string())?;
    println!(
        "audit log intact: {} records, last hash {}",
        report.records, report.last_hash
    );
    Ok(())
}

/// The audit directory of a demo directory.
pub fn audit_dir_of(dir: &Path) -> Result<PathBuf, String> {
    crate::demo::read_manifest(dir)?["audit_dir"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| format!("{} has no audit_dir (no RA in this demo)", dir.display()))
}

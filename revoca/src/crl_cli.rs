//! `revoca crl build|list|show`.

use std::path::{Path, PathBuf};

use der::Decode;
use x509_cert::crl::CertificateList;

/// What `show` prints about a CRL.
struct CrlFacts {
    issuer: String,
    number: String,
    this_update: String,
    next_update: String,
    entries: usize,
}

const CRL_NUMBER: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.20");

fn facts(der_bytes: &[u8]) -> Result<CrlFacts, String> {
    let crl = CertificateList::from_der(der_bytes).map_err(|e| format!("not a CRL: {e}"))?;
    let tbs = &crl.tbs_cert_list;
    let number = tbs
        .crl_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == CRL_NUMBER)
        .and_then(|e| der::asn1::UintRef::from_der(e.extn_value.as_bytes()).ok())
        .map(|n| hex::encode(n.as_bytes()))
        .unwrap_or_else(|| "none".into());
    Ok(CrlFacts {
        issuer: tbs.issuer.to_string(),
        number,
        this_update: tbs.this_update.to_string(),
        next_update: tbs
            .next_update
            .map_or_else(|| "none".into(), |t| t.to_string()),
        entries: tbs.revoked_certificates.as_ref().map_or(0, Vec::len),
    })
}

/// `revoca crl list --dir D`: one line per CRL: URL, number, entries, file.
pub fn list(dir: &Path) -> Result<(), String> {
    let m = crate::demo::read_manifest(dir)?;
    let crls = m["crls"]
        .as_array()
        .ok_or("this demo publishes no CRLs (no \"crls\" in manifest.json)")?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for c in crls {
        let file = PathBuf::from(c["file"].as_str().unwrap_or_default());
        let url = c["url"].as_str().unwrap_or_default();
        let line = match std::fs::read(&file)
            .map_err(|e| e.to_string())
            .and_then(|d| facts(&d))
        {
            Ok(f) => format!(
                "{url}\tnumber {}\t{} entries\t{}",
                f.number,
                f.entries,
                file.display()
            ),
            Err(e) => format!("{url}\tnot published: {e}"),
        };
        // A closed pipe (`| head`) ends the listing quietly.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}

/// `revoca crl show --file F | --dir D --url URL`.
pub fn show(dir: Option<&Path>, url: Option<&str>, file: Option<&Path>) -> Result<(), String> {
    let path = match (file, dir, url) {
        (Some(f), _, _) => f.to_path_buf(),
        (None, Some(d), Some(u)) => {
            let m = crate::demo::read_manifest(d)?;
            let found = m["crls"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["url"].as_str() == Some(u))
                .and_then(|c| c["file"].as_str())
                .ok_or_else(|| format!("{u} is not one of the demo's CRLs"))?;
            PathBuf::from(found)
        }
        _ => return Err("give --file, or --dir and --url".into()),
    };
    let der_bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let f = facts(&der_bytes)?;
    println!("issuer: {}", f.issuer);
    println!("number: {}", f.number);
    println!("thisUpdate: {}", f.this_update);
    println!("nextUpdate: {}", f.next_update);
    println!("entries: {}", f.entries);
    Ok(())
}

//! The RA part of `revoca demo`: the RA's HTTPS server certificate, one operator per
//! role (client certificate and key files, registered in `operators.json`), and the
//! `[ra]` configuration. Operator certificates are issued by the demo's TLS CA, so the
//! RA can refuse an operator whose certificate Revoca itself says is revoked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use revoca_issuer::{
    CertificateBuilder, Extension, IssuerInfo, KeyUsage, Name, Serial as CertSerial, Validity, oid,
    pem_encode,
};
use revoca_ra::roles::{Operator, Role};
use revoca_signer::{KeyAlgorithm, Signer, SoftwareKey};
use revoca_status::{Event, Serial, UnixTime};
use serde_json::json;

use crate::config::RaConfig;

/// The profiles each demo CA issues under, by CA label.
pub fn demo_profiles(label: &str) -> Vec<String> {
    let names: &[&str] = match label {
        "tls" => &[
            "accv-qwac",
            "accv-sede-hsm",
            "accv-sede-software",
            "accv-server",
            "tls-server",
        ],
        "ap" => &[
            "fnmt-ap-employee-card",
            "fnmt-ap-employee-software",
            "fnmt-ap-sede",
            "fnmt-ap-sello",
        ],
        _ => &[],
    };
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// The CA that issues the RA's server and operator certificates.
pub struct IssuingCa<'a> {
    /// Its key.
    pub key: &'a dyn Signer,
    /// Its name and key.
    pub info: &'a IssuerInfo,
    /// SHA-256 of its subjectPublicKey bits (for the "issued" events).
    pub key_sha256: [u8; 32],
    /// OCSP URL for AIA.
    pub ocsp_url: &'a str,
    /// Its certificate (PEM file): sent after the RA's server certificate, and the only
    /// trust anchor for operator client certificates.
    pub cert_path: &'a Path,
}

/// What the demo gets back: the `[ra]` section, the manifest's operator list and events
/// to record the new certificates in the revocation stream.
pub struct RaSetup {
    /// `[ra]`.
    pub config: RaConfig,
    /// The manifest's `operators`.
    pub operators: serde_json::Value,
    /// "issued" events for the server and operator certificates.
    pub events: Vec<Event>,
}

fn write_pem(path: &Path, label: &str, der: &[u8], private: bool) -> Result<(), String> {
    crate::demo::write_file(path, pem_encode(label, der).as_bytes(), private)
}

/// subjectAltName with dNSName `localhost` and iPAddress 127.0.0.1, so clients can use
/// either in the RA URL.
fn loopback_san() -> Extension {
    let mut names = vec![0x82, 9];
    names.extend_from_slice(b"localhost");
    names.extend_from_slice(&[0x87, 4, 127, 0, 0, 1]);
    let mut der = vec![0x30, names.len() as u8];
    der.extend_from_slice(&names);
    Extension::new(oid::SUBJECT_ALT_NAME, false, der)
}

fn leaf(
    ca: &IssuingCa<'_>,
    subject: &str,
    validity: &Validity,
    key: &SoftwareKey,
    purpose: revoca_issuer::ObjectIdentifier,
) -> Result<(CertificateBuilder, Vec<u8>), String> {
    let serial = CertSerial::random().map_err(|e| e.to_string())?;
    let mut b = CertificateBuilder::new(
        serial,
        Name::parse(subject).map_err(|e| e.to_string())?,
        validity.clone(),
        key.public_key_spki_der(),
        ca.info,
    )
    .map_err(|e| e.to_string())?;
    let ext = |r: Result<&mut CertificateBuilder, revoca_issuer::BuildError>| {
        r.map(|_| ()).map_err(|e| e.to_string())
    };
    ext(b.push(Extension::basic_constraints(false, None)))?;
    ext(b.push(Extension::key_usage(KeyUsage::DIGITAL_SIGNATURE)))?;
    ext(b.push(Extension::ext_key_usage(&[purpose])))?;
    ext(b.push(Extension::subject_key_identifier(
        b.subject_key_id().to_vec().as_slice(),
    )))?;
    ext(b.push(Extension::authority_key_identifier(ca.info.key_id())))?;
    ext(b.push(
        Extension::authority_info_access(Some(ca.ocsp_url), None).map_err(|e| e.to_string())?,
    ))?;
    if purpose == oid::KP_SERVER_AUTH {
        ext(b.push(loopback_san()))?;
    }
    let der = b.build(ca.key).map_err(|e| e.to_string())?;
    Ok((b, der))
}

fn issued_event(ca: &IssuingCa<'_>, b: &CertificateBuilder, at: UnixTime) -> Result<Event, String> {
    let serial = Serial::from_unsigned_be(b.serial().magnitude()).map_err(|e| e.to_string())?;
    Ok(crate::demo::issued(
        ca.key_sha256,
        serial,
        at,
        b.validity().not_after(),
    ))
}

/// Creates the RA's certificates and operators under `dir/ra`.
pub fn create(
    dir: &Path,
    ca: &IssuingCa<'_>,
    ra_listen: SocketAddr,
    validity: &Validity,
    at: UnixTime,
) -> Result<RaSetup, String> {
    let ra_dir = dir.join("ra");
    std::fs::create_dir_all(ra_dir.join("operators")).map_err(|e| e.to_string())?;
    let new_key = |path: &Path| -> Result<SoftwareKey, String> {
        let pkcs8 =
            SoftwareKey::generate_pkcs8(KeyAlgorithm::EcdsaP256).map_err(|e| e.to_string())?;
        write_pem(path, "PRIVATE KEY", &pkcs8, true)?;
        SoftwareKey::from_pkcs8_der(&pkcs8, &path.display().to_string()).map_err(|e| e.to_string())
    };
    let mut events = Vec::new();

    let server_key_path = ra_dir.join("server.key.pem");
    let server_key = new_key(&server_key_path)?;
    let (b, der) = leaf(
        ca,
        "C=ES,O=Revoca Demo,CN=localhost",
        validity,
        &server_key,
        oid::KP_SERVER_AUTH,
    )?;
    events.push(issued_event(ca, &b, at)?);
    let server_cert_path = ra_dir.join("server.pem");
    let ca_pem = std::fs::read_to_string(ca.cert_path).map_err(|e| e.to_string())?;
    let chain = format!("{}{ca_pem}", pem_encode("CERTIFICATE", &der));
    crate::demo::write_file(&server_cert_path, chain.as_bytes(), false)?;

    let mut operators = Vec::new();
    let mut listed = Vec::new();
    for (name, role) in [
        ("olivia", Role::Officer),
        ("oscar", Role::Officer),
        ("hector", Role::RaHead),
        ("carmen", Role::CaOperator),
        ("aurora", Role::Auditor),
    ] {
        let key_path = ra_dir.join(format!("operators/{name}.key.pem"));
        let key = new_key(&key_path)?;
        let (b, der) = leaf(
            ca,
            &format!("C=ES,O=Revoca Demo,OU=RA {},CN={name}", role.name()),
            validity,
            &key,
            oid::KP_CLIENT_AUTH,
        )?;
        events.push(issued_event(ca, &b, at)?);
        let cert_path = ra_dir.join(format!("operators/{name}.pem"));
        write_pem(&cert_path, "CERTIFICATE", &der, false)?;
        let fp = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
        operators.push(Operator {
            name: name.to_owned(),
            role,
            cert_sha256: hex::encode(fp.as_ref()),
        });
        listed.push(json!({
            "name": name,
            "role": role.name(),
            "cert": cert_path,
            "key": key_path,
        }));
    }
    let operators_path = ra_dir.join("operators.json");
    let text = serde_json::to_string_pretty(&operators).map_err(|e| e.to_string())?;
    crate::demo::write_file(&operators_path, text.as_bytes(), false)?;

    Ok(RaSetup {
        config: RaConfig {
            listen: ra_listen,
            url: ra_url(ra_listen),
            cert: server_cert_path,
            key: server_key_path,
            client_ca: vec![PathBuf::from(ca.cert_path)],
            operators: operators_path,
            store: ra_dir.join("ra.redb"),
            audit_dir: ra_dir.join("audit"),
            hold_days: 30,
            hold_check_interval_secs: 60,
        },
        operators: json!(listed),
        events,
    })
}

/// The RA's base URL for a listen address.
pub fn ra_url(listen: SocketAddr) -> String {
    format!("https://{listen}")
}

/// A free loopback port for the RA when none was asked for.
pub fn free_loopback_addr() -> Result<SocketAddr, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map_err(|e| e.to_string())
}

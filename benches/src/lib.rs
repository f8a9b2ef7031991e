//! Fixtures for Revoca's criterion benchmarks: a responder with many pre-signed
//! certificates, built in memory (no server, no store).

#![forbid(unsafe_code)]

use std::sync::Arc;

use bytes::Bytes;
use revoca_issuer::{CertificateBuilder, IssuerInfo, Name, Serial as CertSerial, Validity};
use revoca_responder::der::{self, tag};
use revoca_responder::response::{self, ResponseOptions, SingleResponse};
use revoca_responder::{
    Clock, IssuerSet, IssuerSettings, NonceMode, OcspIssuer, Service, ServiceSettings,
    UnassignedPolicy,
};
use revoca_signer::{KeyAlgorithm, Signer, SoftwareKey};
use revoca_status::{
    CertKey, CertRecord, HashAlgorithm, IssuerId, PresignedChunkBuilder, Serial, StatusIndex,
};

/// A service answering for `certs` pre-signed certificates, and one DER request per
/// certificate.
pub struct Fixture {
    /// The service under test.
    pub service: Arc<Service>,
    /// SHA-1 CertID requests, one per certificate.
    pub requests: Vec<Vec<u8>>,
}

fn key(alg: KeyAlgorithm) -> SoftwareKey {
    let pkcs8 = SoftwareKey::generate_pkcs8(alg).expect("keygen");
    SoftwareKey::from_pkcs8_der(&pkcs8, "bench").expect("key")
}

/// A DER OCSP request with one SHA-1 CertID.
pub fn request_der(name_hash: &[u8], key_hash: &[u8], serial: &Serial) -> Vec<u8> {
    let mut cert_id = vec![
        0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
    ];
    der::push_tlv(&mut cert_id, tag::OCTET_STRING, name_hash);
    der::push_tlv(&mut cert_id, tag::OCTET_STRING, key_hash);
    der::push_tlv(&mut cert_id, tag::INTEGER, serial.as_der_content());
    let mut req = Vec::new();
    der::push_tlv(&mut req, tag::SEQUENCE, &cert_id);
    let mut single = Vec::new();
    der::push_tlv(&mut single, tag::SEQUENCE, &req);
    let mut list = Vec::new();
    der::push_tlv(&mut list, tag::SEQUENCE, &single);
    let mut tbs = Vec::new();
    der::push_tlv(&mut tbs, tag::SEQUENCE, &list);
    let mut out = Vec::new();
    der::push_tlv(&mut out, tag::SEQUENCE, &tbs);
    out
}

/// Builds the fixture: one P-256 CA with a delegated responder and `certs` good
/// certificates, each with a signed SHA-1 response installed.
pub fn fixture(certs: usize) -> Fixture {
    let now = Clock::system().now();
    let ca_key = key(KeyAlgorithm::EcdsaP256);
    let ca_der = CertificateBuilder::root_ca(
        CertSerial::random().expect("serial"),
        Name::parse("CN=Bench CA").expect("name"),
        Validity::starting_at(now - 60, 86_400 * 30).expect("validity"),
        ca_key.public_key_spki_der(),
    )
    .and_then(|b| b.build(&ca_key))
    .expect("ca");
    let ca_info = IssuerInfo::from_certificate_der(&ca_der).expect("ca info");
    let responder_key = key(KeyAlgorithm::EcdsaP256);
    let responder_der = CertificateBuilder::ocsp_responder(
        CertSerial::random().expect("serial"),
        Name::parse("CN=Bench Responder").expect("name"),
        Validity::starting_at(now - 60, 86_400 * 30).expect("validity"),
        responder_key.public_key_spki_der(),
        &ca_info,
    )
    .and_then(|b| b.build(&ca_key))
    .expect("responder");
    let signer: Arc<dyn Signer> = Arc::new(responder_key);
    let issuer = OcspIssuer::new(
        IssuerId(0),
        IssuerSettings {
            name: "bench".into(),
            validity_secs: 96 * 3600,
            unassigned: UnassignedPolicy::Unauthorized,
            nonce: NonceMode::Ignore,
            allow_hold: false,
        },
        ca_der,
        Some(responder_der),
        signer,
    )
    .expect("issuer");
    let index = Arc::new(StatusIndex::with_capacity(certs));
    let mut requests = Vec::with_capacity(certs);
    let identity = issuer.identity();
    let mut builder = PresignedChunkBuilder::new(identity.tail.clone(), certs * 300);
    let mut keys = Vec::with_capacity(certs);
    let hash = HashAlgorithm::Sha1;
    for n in 0..certs {
        let serial = Serial::from_unsigned_be(&(n as u64 + 1).to_be_bytes()).expect("serial");
        let key = CertKey {
            issuer: issuer.id,
            serial,
        };
        index.set_record(key, &CertRecord::issued(now + 86_400, false, None));
        let tbs = response::response_data(
            &identity.responder_key_hash,
            now,
            &[SingleResponse {
                hash,
                issuer_name_hash: issuer.hashes.name_hash(hash),
                issuer_key_hash: issuer.hashes.key_hash(hash),
                serial,
                status: response::CertStatus::Good,
                this_update: now,
                next_update: now + 96 * 3600,
            }],
            ResponseOptions::default(),
        );
        let head =
            response::sign_head(identity.signer.as_ref(), &tbs, identity.tail.len()).expect("sign");
        builder
            .push(now, now + 96 * 3600, hash, &head)
            .expect("push");
        keys.push(key);
        requests.push(request_der(
            issuer.hashes.name_hash(hash),
            issuer.hashes.key_hash(hash),
            &serial,
        ));
    }
    for (p, key) in builder.finish().into_iter().zip(keys) {
        index.install(key, 1, p);
    }
    let service = Arc::new(Service::new(
        index,
        Arc::new(IssuerSet::new(vec![issuer])),
        Clock::system(),
        ServiceSettings::default(),
    ));
    Fixture { service, requests }
}

/// The response bytes as the HTTP layer sends them (head + shared tail).
pub fn response_bytes(p: &revoca_status::Presigned) -> Bytes {
    let mut full = Vec::with_capacity(p.len());
    full.extend_from_slice(&p.head());
    full.extend_from_slice(p.tail());
    Bytes::from(full)
}

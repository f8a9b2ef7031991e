//! OCSP response encoding (RFC 6960 §4.2, profile of RFC 5019 / BR 7.3).
//!
//! A BasicOCSPResponse is built as two parts: the *head* (everything up to the `certs`
//! field, including the signature) and the *tail* (the `certs` field with the delegated
//! responder certificate, identical for every response of an issuer). The index stores
//! heads only; the tail is appended when serving.

use revoca_signer::{SignError, Signer};
use revoca_status::{CertState, HashAlgorithm, RevocationReason, Serial, UnixTime};

use crate::der::{self, tag};

/// DER content of id-pkix-ocsp-basic (1.3.6.1.5.5.7.48.1.1).
const BASIC_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];
/// DER content of id-pkix-ocsp-nonce.
const NONCE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
/// DER content of id-pkix-ocsp-extended-revoke (1.3.6.1.5.5.7.48.1.9, RFC 6960 §4.4.8).
const EXTENDED_REVOKE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x09];

/// An OCSPResponse carrying only a status (no responseBytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorStatus {
    /// malformedRequest (1).
    MalformedRequest,
    /// internalError (2).
    InternalError,
    /// tryLater (3).
    TryLater,
    /// unauthorized (6).
    Unauthorized,
}

impl ErrorStatus {
    /// The complete DER OCSPResponse.
    pub fn der(self) -> &'static [u8] {
        match self {
            Self::MalformedRequest => &[0x30, 0x03, 0x0a, 0x01, 0x01],
            Self::InternalError => &[0x30, 0x03, 0x0a, 0x01, 0x02],
            Self::TryLater => &[0x30, 0x03, 0x0a, 0x01, 0x03],
            Self::Unauthorized => &[0x30, 0x03, 0x0a, 0x01, 0x06],
        }
    }

    /// A name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed",
            Self::InternalError => "internal_error",
            Self::TryLater => "try_later",
            Self::Unauthorized => "unauthorized",
        }
    }
}

/// The certStatus of a SingleResponse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// good
    Good,
    /// revoked, with the reason (omitted on the wire when unspecified, BR 7.2.2)
    Revoked {
        /// revocationTime
        at: UnixTime,
        /// revocationReason
        reason: RevocationReason,
    },
    /// unknown
    Unknown,
}

impl From<CertState> for CertStatus {
    fn from(state: CertState) -> Self {
        match state {
            CertState::Good => Self::Good,
            CertState::Revoked { at, reason } => Self::Revoked { at, reason },
            CertState::Held { at } => Self::Revoked {
                at,
                reason: RevocationReason::CertificateHold,
            },
        }
    }
}

/// One SingleResponse to encode.
#[derive(Clone, Copy, Debug)]
pub struct SingleResponse<'a> {
    /// CertID hash algorithm (must equal the request's).
    pub hash: HashAlgorithm,
    /// issuerNameHash under `hash`.
    pub issuer_name_hash: &'a [u8],
    /// issuerKeyHash under `hash`.
    pub issuer_key_hash: &'a [u8],
    /// serialNumber.
    pub serial: Serial,
    /// certStatus.
    pub status: CertStatus,
    /// thisUpdate.
    pub this_update: UnixTime,
    /// nextUpdate.
    pub next_update: UnixTime,
}

fn push_single(out: &mut Vec<u8>, single: &SingleResponse<'_>) {
    let mut body = Vec::with_capacity(160);
    // CertID
    let mut cert_id = Vec::with_capacity(100);
    let oid = single.hash.oid_content();
    der::push_header(&mut cert_id, tag::SEQUENCE, oid.len() + 4);
    der::push_tlv(&mut cert_id, tag::OID, oid);
    cert_id.extend_from_slice(&[tag::NULL, 0]);
    der::push_tlv(&mut cert_id, tag::OCTET_STRING, single.issuer_name_hash);
    der::push_tlv(&mut cert_id, tag::OCTET_STRING, single.issuer_key_hash);
    der::push_tlv(&mut cert_id, tag::INTEGER, single.serial.as_der_content());
    der::push_tlv(&mut body, tag::SEQUENCE, &cert_id);
    // certStatus
    match single.status {
        CertStatus::Good => body.extend_from_slice(&[0x80, 0x00]),
        CertStatus::Unknown => body.extend_from_slice(&[0x82, 0x00]),
        CertStatus::Revoked { at, reason } => {
            let with_reason = reason != RevocationReason::Unspecified;
            let len = 17 + if with_reason { 5 } else { 0 };
            der::push_header(&mut body, tag::context(1), len);
            der::push_generalized_time(&mut body, at);
            if with_reason {
                body.extend_from_slice(&[tag::context(0), 3, tag::ENUMERATED, 1, reason.code()]);
            }
        }
    }
    der::push_generalized_time(&mut body, single.this_update);
    body.extend_from_slice(&[tag::context(0), 17]);
    der::push_generalized_time(&mut body, single.next_update);
    der::push_tlv(out, tag::SEQUENCE, &body);
}

/// What goes into a ResponseData besides the SingleResponses.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResponseOptions<'a> {
    /// The request's nonce extnValue, echoed (RFC 9654).
    pub nonce: Option<&'a [u8]>,
    /// Add the Extended Revoked Definition extension (RFC 6960 §4.4.8).
    pub extended_revoke: bool,
}

/// Encodes a ResponseData (version v1 omitted, responder ID by key).
pub fn response_data(
    responder_key_hash: &[u8; 20],
    produced_at: UnixTime,
    singles: &[SingleResponse<'_>],
    options: ResponseOptions<'_>,
) -> Vec<u8> {
    let mut responses = Vec::with_capacity(160 * singles.len());
    for single in singles {
        push_single(&mut responses, single);
    }
    let mut body = Vec::with_capacity(responses.len() + 80);
    body.extend_from_slice(&[tag::context(2), 22, tag::OCTET_STRING, 20]);
    body.extend_from_slice(responder_key_hash);
    der::push_generalized_time(&mut body, produced_at);
    der::push_tlv(&mut body, tag::SEQUENCE, &responses);
    if options.nonce.is_some() || options.extended_revoke {
        let mut exts = Vec::new();
        if options.extended_revoke {
            let mut ext = Vec::new();
            der::push_tlv(&mut ext, tag::OID, EXTENDED_REVOKE_OID);
            der::push_tlv(&mut ext, tag::OCTET_STRING, &[tag::NULL, 0]);
            der::push_tlv(&mut exts, tag::SEQUENCE, &ext);
        }
        if let Some(nonce) = options.nonce {
            let mut ext = Vec::new();
            der::push_tlv(&mut ext, tag::OID, NONCE_OID);
            der::push_tlv(&mut ext, tag::OCTET_STRING, nonce);
            der::push_tlv(&mut exts, tag::SEQUENCE, &ext);
        }
        let mut seq = Vec::new();
        der::push_tlv(&mut seq, tag::SEQUENCE, &exts);
        der::push_tlv(&mut body, tag::context(1), &seq);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    der::push_tlv(&mut out, tag::SEQUENCE, &body);
    out
}

/// Signs `tbs` (a ResponseData) and returns the head of a successful OCSPResponse whose
/// tail (`certs` field, possibly empty) is `tail_len` bytes long.
pub fn sign_head(signer: &dyn Signer, tbs: &[u8], tail_len: usize) -> Result<Vec<u8>, SignError> {
    let signature = signer.sign(tbs)?;
    Ok(assemble_head(
        tbs,
        signer.scheme().algorithm_identifier_der(),
        &signature,
        tail_len,
    ))
}

/// Wraps a signed ResponseData into the head of a successful OCSPResponse (see
/// [`sign_head`]); `alg` is the signature AlgorithmIdentifier DER.
pub fn assemble_head(tbs: &[u8], alg: &[u8], signature: &[u8], tail_len: usize) -> Vec<u8> {
    let bit_string_len = signature.len() + 1;
    let basic_len =
        tbs.len() + alg.len() + der::header_len(bit_string_len) + bit_string_len + tail_len;
    let octets_len = der::header_len(basic_len) + basic_len;
    let response_bytes_len = 2 + BASIC_OID.len() + der::header_len(octets_len) + octets_len;
    let explicit_len = der::header_len(response_bytes_len) + response_bytes_len;
    let total_len = 3 + der::header_len(explicit_len) + explicit_len;

    let mut out = Vec::with_capacity(total_len + 8 - tail_len);
    der::push_header(&mut out, tag::SEQUENCE, total_len);
    out.extend_from_slice(&[tag::ENUMERATED, 1, 0]); // successful
    der::push_header(
        &mut out,
        tag::context(0),
        response_bytes_len + der::header_len(response_bytes_len),
    );
    der::push_header(&mut out, tag::SEQUENCE, response_bytes_len);
    der::push_tlv(&mut out, tag::OID, BASIC_OID);
    der::push_header(
        &mut out,
        tag::OCTET_STRING,
        basic_len + der::header_len(basic_len),
    );
    der::push_header(&mut out, tag::SEQUENCE, basic_len);
    out.extend_from_slice(tbs);
    out.extend_from_slice(alg);
    der::push_header(&mut out, tag::BIT_STRING, bit_string_len);
    out.push(0);
    out.extend_from_slice(signature);
    out
}

/// The `certs [0] EXPLICIT SEQUENCE OF Certificate` field carrying `certs`.
pub fn certs_field(certs: &[&[u8]]) -> Vec<u8> {
    let inner: usize = certs.iter().map(|c| c.len()).sum();
    let mut out = Vec::with_capacity(inner + 12);
    der::push_header(&mut out, tag::context(0), der::header_len(inner) + inner);
    der::push_header(&mut out, tag::SEQUENCE, inner);
    for c in certs {
        out.extend_from_slice(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use ::der::{Decode, Encode};
    use revoca_signer::{KeyAlgorithm, SoftwareKey};

    use super::*;

    fn key() -> SoftwareKey {
        let pkcs8 = SoftwareKey::generate_pkcs8(KeyAlgorithm::EcdsaP256).unwrap();
        SoftwareKey::from_pkcs8_der(&pkcs8, "t").unwrap()
    }

    fn single(status: CertStatus, hash: HashAlgorithm) -> SingleResponse<'static> {
        let n = hash.output_len();
        let name: &'static [u8] = Box::leak(vec![0x11; n].into_boxed_slice());
        let key: &'static [u8] = Box::leak(vec![0x22; n].into_boxed_slice());
        SingleResponse {
            hash,
            issuer_name_hash: name,
            issuer_key_hash: key,
            serial: Serial::from_hex("00ff01").unwrap(),
            status,
            this_update: 1_700_000_000,
            next_update: 1_700_345_600,
        }
    }

    /// Our encoding parsed by an independent decoder (x509-ocsp) must give back what we
    /// put in, with and without a tail, for every status.
    #[test]
    fn x509_ocsp_decodes_what_we_build() {
        let signer = key();
        let cert = include_bytes!("../testdata/fixture-cert.der").to_vec();
        for tail in [Vec::new(), certs_field(&[&cert])] {
            for (status, hash) in [
                (CertStatus::Good, HashAlgorithm::Sha1),
                (
                    CertStatus::Revoked {
                        at: 1_600_000_000,
                        reason: RevocationReason::KeyCompromise,
                    },
                    HashAlgorithm::Sha256,
                ),
                (
                    CertStatus::Revoked {
                        at: 1_600_000_000,
                        reason: RevocationReason::Unspecified,
                    },
                    HashAlgorithm::Sha384,
                ),
                (CertStatus::Unknown, HashAlgorithm::Sha512),
            ] {
                let tbs = response_data(
                    &[7; 20],
                    1_700_000_001,
                    &[single(status, hash)],
                    ResponseOptions {
                        nonce: Some(&[4, 2, 1, 2]),
                        extended_revoke: true,
                    },
                );
                let mut full = sign_head(&signer, &tbs, tail.len()).unwrap();
                full.extend_from_slice(&tail);
                let resp = x509_ocsp::OcspResponse::from_der(&full).expect("decodes");
                let bytes = resp.response_bytes.expect("response bytes");
                let basic =
                    x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
                assert_eq!(basic.tbs_response_data.to_der().unwrap(), tbs);
                assert_eq!(basic.certs.is_some(), !tail.is_empty());
                let sr = &basic.tbs_response_data.responses[0];
                assert_eq!(sr.cert_id.serial_number.as_bytes(), &[0x00, 0xff, 0x01]);
                assert_eq!(sr.cert_id.hash_algorithm.oid.as_bytes(), hash.oid_content());
                assert!(sr.single_extensions.is_none());
                match (status, &sr.cert_status) {
                    (CertStatus::Good, x509_ocsp::CertStatus::Good(_)) => {}
                    (CertStatus::Unknown, x509_ocsp::CertStatus::Unknown(_)) => {}
                    (CertStatus::Revoked { reason, .. }, x509_ocsp::CertStatus::Revoked(info)) => {
                        assert_eq!(
                            info.revocation_reason.map(|r| r as u8),
                            (reason != RevocationReason::Unspecified).then_some(reason.code())
                        );
                    }
                    other => panic!("status mismatch {other:?}"),
                }
                assert_eq!(
                    basic
                        .tbs_response_data
                        .response_extensions
                        .as_ref()
                        .map(|e| e.len()),
                    Some(2)
                );
            }
        }
    }

    #[test]
    fn error_statuses_decode() {
        for s in [
            ErrorStatus::MalformedRequest,
            ErrorStatus::InternalError,
            ErrorStatus::TryLater,
            ErrorStatus::Unauthorized,
        ] {
            let r = x509_ocsp::OcspResponse::from_der(s.der()).unwrap();
            assert!(r.response_bytes.is_none());
        }
    }
}

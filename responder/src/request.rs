//! OCSP request parsing (RFC 6960 §4.1.1), strict DER, no allocation.
//!
//! Signed requests are accepted but the signature is not checked (RFC 6960 makes it
//! optional and Revoca answers public status). Unknown request extensions are ignored
//! unless critical; the nonce (RFC 8954/9654) is returned to the caller.

use revoca_status::{HashAlgorithm, Serial};

use crate::der::{self, DerError, Reader, tag};

/// The most CertIDs one request may carry. Bigger requests are refused as malformed:
/// multi-certificate requests are signed on demand and must stay cheap.
pub const MAX_CERT_IDS: usize = 16;

/// DER content of id-pkix-ocsp-nonce (1.3.6.1.5.5.7.48.1.2).
const NONCE_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];

/// Why a request is malformed. Every variant becomes `malformedRequest` (HTTP 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not DER, or not the OCSPRequest structure.
    #[error("not a DER OCSPRequest: {0}")]
    Der(#[from] DerError),
    /// A version other than v1.
    #[error("unsupported OCSPRequest version")]
    Version,
    /// No CertID at all.
    #[error("request lists no certificates")]
    Empty,
    /// More CertIDs than [`MAX_CERT_IDS`].
    #[error("request lists more than {MAX_CERT_IDS} certificates")]
    TooMany,
    /// A CertID hash algorithm other than SHA-1/256/384/512.
    #[error("unsupported CertID hash algorithm")]
    HashAlgorithm,
    /// Issuer hashes of the wrong length for their algorithm.
    #[error("issuer hash length does not match the hash algorithm")]
    HashLength,
    /// A serial that is not a valid positive INTEGER of at most 20 octets.
    #[error("invalid serial number")]
    Serial,
    /// A critical extension Revoca does not understand (RFC 5280 §4.2 semantics).
    #[error("unsupported critical extension")]
    CriticalExtension,
    /// A nonce that is empty or longer than 128 octets (RFC 9654 §2.1 bounds it to 32
    /// on the wire to responders, some clients send more; 128 keeps the response small).
    #[error("invalid nonce")]
    Nonce,
}

/// One CertID from a request, borrowing the request bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertIdRef<'a> {
    /// The hash algorithm of the issuer hashes.
    pub hash: HashAlgorithm,
    /// Hash of the issuer's distinguished name.
    pub issuer_name_hash: &'a [u8],
    /// Hash of the issuer's public key bits.
    pub issuer_key_hash: &'a [u8],
    /// The certificate's serial.
    pub serial: Serial,
}

/// A parsed request.
#[derive(Clone, Debug)]
pub struct OcspRequest<'a> {
    ids: [Option<CertIdRef<'a>>; MAX_CERT_IDS],
    count: usize,
    /// The nonce extension's extnValue (the DER the response must echo), if any.
    pub nonce: Option<&'a [u8]>,
}

impl<'a> OcspRequest<'a> {
    /// Parses a DER `OCSPRequest`.
    pub fn parse(input: &'a [u8]) -> Result<Self, RequestError> {
        let ocsp_request = der::single(input, tag::SEQUENCE)?;
        let mut outer = Reader::new(ocsp_request);
        let tbs = outer.expect(tag::SEQUENCE)?;
        // optionalSignature [0]: accepted, not verified.
        outer.optional(tag::context(0))?;
        outer.finish()?;

        let mut tbs = Reader::new(tbs);
        if let Some(version) = tbs.optional(tag::context(0))? {
            // DER forbids encoding the DEFAULT, but tolerate an explicit v1 (0).
            if der::single(version, tag::INTEGER)? != [0] {
                return Err(RequestError::Version);
            }
        }
        tbs.optional(tag::context(1))?; // requestorName
        let list = tbs.expect(tag::SEQUENCE)?;
        let mut nonce = None;
        if let Some(exts) = tbs.optional(tag::context(2))? {
            nonce = parse_extensions(exts)?;
        }
        tbs.finish()?;

        let mut request = Self {
            ids: [None; MAX_CERT_IDS],
            count: 0,
            nonce,
        };
        let mut list = Reader::new(list);
        while !list.is_empty() {
            if request.count == MAX_CERT_IDS {
                return Err(RequestError::TooMany);
            }
            let mut single = Reader::new(list.expect(tag::SEQUENCE)?);
            let id = parse_cert_id(single.expect(tag::SEQUENCE)?)?;
            if let Some(exts) = single.optional(tag::context(0))? {
                // singleRequestExtensions: only criticality matters.
                parse_extensions(exts)?;
            }
            single.finish()?;
            request.ids[request.count] = Some(id);
            request.count += 1;
        }
        if request.count == 0 {
            return Err(RequestError::Empty);
        }
        Ok(request)
    }

    /// The CertIDs, in request order.
    pub fn cert_ids(&self) -> impl Iterator<Item = &CertIdRef<'a>> + '_ {
        self.ids[..self.count].iter().flatten()
    }

    /// Number of CertIDs.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a parsed request has at least one CertID.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first CertID.
    pub fn first(&self) -> &CertIdRef<'a> {
        self.ids[0].as_ref().expect("a parsed request has a CertID")
    }
}

fn parse_cert_id(content: &[u8]) -> Result<CertIdRef<'_>, RequestError> {
    let mut r = Reader::new(content);
    let mut alg = Reader::new(r.expect(tag::SEQUENCE)?);
    let oid = alg.expect(tag::OID)?;
    // Parameters: absent or NULL (both occur in the wild).
    if let Some(params) = alg.optional(tag::NULL)?
        && !params.is_empty()
    {
        return Err(DerError::BadContent("NULL with content").into());
    }
    alg.finish()?;
    let hash = HashAlgorithm::from_oid_content(oid).ok_or(RequestError::HashAlgorithm)?;
    let issuer_name_hash = r.expect(tag::OCTET_STRING)?;
    let issuer_key_hash = r.expect(tag::OCTET_STRING)?;
    if issuer_name_hash.len() != hash.output_len() || issuer_key_hash.len() != hash.output_len() {
        return Err(RequestError::HashLength);
    }
    let serial =
        Serial::from_der_content(r.expect(tag::INTEGER)?).map_err(|_| RequestError::Serial)?;
    r.finish()?;
    Ok(CertIdRef {
        hash,
        issuer_name_hash,
        issuer_key_hash,
        serial,
    })
}

/// Walks `Extensions`; returns the nonce extnValue if present.
fn parse_extensions(content: &[u8]) -> Result<Option<&[u8]>, RequestError> {
    let mut seq = Reader::new(der::single(content, tag::SEQUENCE)?);
    let mut nonce = None;
    while !seq.is_empty() {
        let mut ext = Reader::new(seq.expect(tag::SEQUENCE)?);
        let oid = ext.expect(tag::OID)?;
        let critical = match ext.optional(tag::BOOLEAN)? {
            Some([0xff]) => true,
            Some([0x00]) => false,
            Some(_) => return Err(DerError::BadContent("BOOLEAN").into()),
            None => false,
        };
        let value = ext.expect(tag::OCTET_STRING)?;
        ext.finish()?;
        if oid == NONCE_OID {
            if value.is_empty() || value.len() > 128 {
                return Err(RequestError::Nonce);
            }
            nonce = Some(value);
        } else if critical {
            return Err(RequestError::CriticalExtension);
        }
    }
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request as `openssl ocsp -issuer ca.pem -serial 0x1234 -reqout` writes it,
    /// assembled here from its parts.
    fn request(ids: &[(&[u8], &[u8])], nonce: Option<&[u8]>) -> Vec<u8> {
        let mut list = Vec::new();
        for (alg_oid, serial) in ids {
            let hash_len = HashAlgorithm::from_oid_content(alg_oid).map_or(20, |h| h.output_len());
            let mut cert_id = Vec::new();
            let mut alg = Vec::new();
            der::push_tlv(&mut alg, tag::OID, alg_oid);
            alg.extend_from_slice(&[0x05, 0x00]);
            der::push_tlv(&mut cert_id, tag::SEQUENCE, &alg);
            der::push_tlv(&mut cert_id, tag::OCTET_STRING, &vec![1; hash_len]);
            der::push_tlv(&mut cert_id, tag::OCTET_STRING, &vec![2; hash_len]);
            der::push_tlv(&mut cert_id, tag::INTEGER, serial);
            let mut single = Vec::new();
            der::push_tlv(&mut single, tag::SEQUENCE, &cert_id);
            der::push_tlv(&mut list, tag::SEQUENCE, &single);
        }
        let mut tbs = Vec::new();
        der::push_tlv(&mut tbs, tag::SEQUENCE, &list);
        if let Some(n) = nonce {
            let mut ext = Vec::new();
            der::push_tlv(&mut ext, tag::OID, NONCE_OID);
            der::push_tlv(&mut ext, tag::OCTET_STRING, n);
            let mut exts = Vec::new();
            der::push_tlv(&mut exts, tag::SEQUENCE, &ext);
            let mut seq = Vec::new();
            der::push_tlv(&mut seq, tag::SEQUENCE, &exts);
            der::push_tlv(&mut tbs, tag::context(2), &seq);
        }
        let mut req = Vec::new();
        der::push_tlv(&mut req, tag::SEQUENCE, &tbs);
        let mut out = Vec::new();
        der::push_tlv(&mut out, tag::SEQUENCE, &req);
        out
    }

    const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

    #[test]
    fn parses_single_and_multiple_cert_ids() {
        let der = request(&[(SHA1, &[0x12, 0x34])], None);
        let req = OcspRequest::parse(&der).unwrap();
        assert_eq!(req.len(), 1);
        assert_eq!(req.first().hash, HashAlgorithm::Sha1);
        assert_eq!(req.first().serial.to_hex(), "1234");
        assert_eq!(req.nonce, None);

        let der = request(
            &[(SHA256, &[0x01]), (SHA1, &[0x00, 0x80])],
            Some(&[4, 2, 9, 9]),
        );
        let req = OcspRequest::parse(&der).unwrap();
        let ids: Vec<_> = req.cert_ids().collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0].hash, HashAlgorithm::Sha256);
        assert_eq!(ids[0].issuer_name_hash.len(), 32);
        assert_eq!(ids[1].serial.to_hex(), "80");
        assert_eq!(req.nonce, Some(&[4, 2, 9, 9][..]));
    }

    #[test]
    fn cross_checked_with_x509_ocsp() {
        use ::der::Decode;
        let der = request(
            &[(SHA256, &[0x7f, 0x01]), (SHA1, &[0x05])],
            Some(&[4, 1, 1]),
        );
        let theirs = x509_ocsp::OcspRequest::from_der(&der).unwrap();
        let ours = OcspRequest::parse(&der).unwrap();
        for (a, b) in ours.cert_ids().zip(theirs.tbs_request.request_list.iter()) {
            assert_eq!(
                a.serial.as_der_content(),
                b.req_cert.serial_number.as_bytes()
            );
            assert_eq!(a.issuer_key_hash, b.req_cert.issuer_key_hash.as_bytes());
            assert_eq!(
                a.hash.oid_content(),
                b.req_cert.hash_algorithm.oid.as_bytes()
            );
        }
    }

    #[test]
    fn refuses_malformed_requests() {
        let good = request(&[(SHA1, &[0x01])], None);
        // Every truncation fails cleanly.
        for cut in 0..good.len() {
            assert!(OcspRequest::parse(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(OcspRequest::parse(&trailing).is_err());
        assert_eq!(
            OcspRequest::parse(&request(&[(&[0x2a, 0x03], &[1])], None)).unwrap_err(),
            RequestError::HashAlgorithm
        );
        assert_eq!(
            OcspRequest::parse(&request(&[(SHA1, &[0x00, 0x01])], None)).unwrap_err(),
            RequestError::Serial
        );
        assert_eq!(
            OcspRequest::parse(&request(&[(SHA1, &[1; 21])], None)).unwrap_err(),
            RequestError::Serial
        );
        assert_eq!(
            OcspRequest::parse(&request(&[], None)).unwrap_err(),
            RequestError::Empty
        );
        let many: Vec<(&[u8], &[u8])> = (0..17).map(|_| (SHA1, &[1u8][..])).collect();
        assert_eq!(
            OcspRequest::parse(&request(&many, None)).unwrap_err(),
            RequestError::TooMany
        );
        assert_eq!(
            OcspRequest::parse(&request(&[(SHA1, &[1])], Some(&[]))).unwrap_err(),
            RequestError::Nonce
        );
        assert!(OcspRequest::parse(b"").is_err());
        assert!(OcspRequest::parse(b"hello world").is_err());
    }

    #[test]
    fn never_panics_on_mutations() {
        let good = request(
            &[(SHA1, &[0x01, 0x02]), (SHA256, &[0x03])],
            Some(&[4, 1, 7]),
        );
        // Flip every bit of every byte: parsing must return, never panic.
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut m = good.clone();
                m[i] ^= 1 << bit;
                let _ = OcspRequest::parse(&m);
            }
        }
    }
}

//! PEM (RFC 7468) encoding and decoding of DER blobs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why a PEM block could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    /// No `-----BEGIN {label}-----` line was found.
    #[error("no PEM block labelled {0:?} found")]
    NotFound(String),
    /// The block has no matching `-----END {label}-----` line.
    #[error("PEM block labelled {0:?} has no END line")]
    Unterminated(String),
    /// The block's body is not valid base64.
    #[error("PEM block labelled {label:?} is not valid base64: {source}")]
    Base64 {
        /// The block's label.
        label: String,
        /// The decoder's error.
        source: base64::DecodeError,
    },
    /// The block is empty.
    #[error("PEM block labelled {0:?} is empty")]
    Empty(String),
}

/// Encodes `der` as a PEM block with the given label (for example `CERTIFICATE`), with
/// 64-character lines and a trailing newline.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Decodes the first PEM block labelled `label` in `text`. Whitespace (including CRLF line
/// endings) inside the body is ignored, as is any text around the block.
pub fn pem_decode_first(label: &str, text: &str) -> Result<Vec<u8>, PemError> {
    decode_from(label, text).map(|(der, _)| der)
}

/// Decodes every PEM block labelled `label` in `text`, in order (for example a chain file).
/// Returns an empty vector when there is none.
pub fn pem_decode_all(label: &str, text: &str) -> Result<Vec<Vec<u8>>, PemError> {
    let mut blocks = Vec::new();
    let mut rest = text;
    loop {
        match decode_from(label, rest) {
            Ok((der, consumed)) => {
                blocks.push(der);
                rest = &rest[consumed..];
            }
            Err(PemError::NotFound(_)) => return Ok(blocks),
            Err(e) => return Err(e),
        }
    }
}

/// Decodes the first block and returns it with the offset just past its END line.
fn decode_from(label: &str, text: &str) -> Result<(Vec<u8>, usize), PemError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| PemError::NotFound(label.to_owned()))?
        + begin.len();
    let body_len = text[start..]
        .find(&end)
        .ok_or_else(|| PemError::Unterminated(label.to_owned()))?;
    let body: Vec<u8> = text[start..start + body_len]
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = STANDARD.decode(&body).map_err(|source| PemError::Base64 {
        label: label.to_owned(),
        source,
    })?;
    if der.is_empty() {
        return Err(PemError::Empty(label.to_owned()));
    }
    Ok((der, start + body_len + end.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_line_length() {
        let der: Vec<u8> = (0..=255u8).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(pem.lines().nth(1).unwrap().len(), 64);
        assert_eq!(pem_decode_first("CERTIFICATE", &pem).unwrap(), der);
    }

    #[test]
    fn tolerant_of_crlf_and_surrounding_text() {
        let pem = pem_encode("CERTIFICATE", b"hello world").replace('\n', "\r\n");
        let text = format!(
            "junk\r\n{}\r\n",
            pem_encode("PRIVATE KEY", b"key") + "Subject: x\r\n" + &pem
        );
        assert_eq!(
            pem_decode_first("CERTIFICATE", &text).unwrap(),
            b"hello world"
        );
        assert_eq!(pem_decode_first("PRIVATE KEY", &text).unwrap(), b"key");
    }

    #[test]
    fn label_must_match_exactly() {
        let pem = pem_encode("CERTIFICATE REQUEST", b"csr");
        assert!(matches!(
            pem_decode_first("CERTIFICATE", &pem),
            Err(PemError::NotFound(_))
        ));
    }

    #[test]
    fn all_blocks() {
        let text = pem_encode("CERTIFICATE", b"one") + &pem_encode("CERTIFICATE", b"two");
        assert_eq!(
            pem_decode_all("CERTIFICATE", &text).unwrap(),
            [b"one".to_vec(), b"two".to_vec()]
        );
        assert!(pem_decode_all("CRL", &text).unwrap().is_empty());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            pem_decode_first("CERTIFICATE", "-----BEGIN CERTIFICATE-----\nAAAA\n"),
            Err(PemError::Unterminated(_))
        ));
        assert!(matches!(
            pem_decode_first(
                "CERTIFICATE",
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"
            ),
            Err(PemError::Base64 { .. })
        ));
        assert!(matches!(
            pem_decode_first(
                "CERTIFICATE",
                "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
            ),
            Err(PemError::Empty(_))
        ));
    }
}

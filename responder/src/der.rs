//! The small, strict DER reader and writer the OCSP hot path uses. Requests are parsed
//! without allocating; responses are assembled from pre-computed pieces.
//!
//! Only definite lengths in minimal form are accepted (DER, X.690 §10.1), with at most
//! four length octets: nothing Revoca reads comes close to 4 GiB.

/// Why bytes are not the DER that was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// The input ended inside a value.
    #[error("truncated DER")]
    Truncated,
    /// A length in non-minimal or indefinite form, or too large.
    #[error("invalid DER length")]
    BadLength,
    /// A different tag than the structure requires.
    #[error("unexpected DER tag 0x{found:02x} (expected 0x{expected:02x})")]
    UnexpectedTag {
        /// The tag the structure requires.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// Bytes after the end of the outermost value.
    #[error("trailing bytes after DER value")]
    TrailingData,
    /// A value whose content breaks its type's rules (e.g. a non-minimal INTEGER).
    #[error("invalid DER content: {0}")]
    BadContent(&'static str),
}

/// Tag numbers used by OCSP.
pub mod tag {
    /// BOOLEAN
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// ENUMERATED
    pub const ENUMERATED: u8 = 0x0a;
    /// GeneralizedTime
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// SEQUENCE (constructed)
    pub const SEQUENCE: u8 = 0x30;
    /// `[n]` context-specific constructed, for n < 31.
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }
}

/// A cursor over DER bytes.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next tag, without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one TLV and returns (tag, content).
    pub fn any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, after_tag) = self.rest.split_first().ok_or(DerError::Truncated)?;
        if tag & 0x1f == 0x1f {
            // High tag numbers never occur in OCSP.
            return Err(DerError::BadContent("multi-byte tag"));
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError::Truncated)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return Err(if n == 0 || n > 4 {
                    DerError::BadLength
                } else {
                    DerError::Truncated
                });
            }
            let mut len = 0usize;
            for &b in &after_len[..n] {
                len = (len << 8) | usize::from(b);
            }
            // Minimal form: no leading zero octet, and long form only from 128 on.
            if after_len[0] == 0 || len < 0x80 {
                return Err(DerError::BadLength);
            }
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return Err(DerError::Truncated);
        }
        let (content, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok((tag, content))
    }

    /// Reads one TLV with the given tag and returns its content.
    pub fn expect(&mut self, expected: u8) -> Result<&'a [u8], DerError> {
        let (found, content) = self.any()?;
        if found != expected {
            return Err(DerError::UnexpectedTag { expected, found });
        }
        Ok(content)
    }

    /// Reads a TLV with the given tag only if it is next.
    pub fn optional(&mut self, expected: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(expected) {
            self.expect(expected).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError::TrailingData)
        }
    }
}

/// Reads exactly one TLV with tag `expected` spanning all of `input`.
pub fn single(input: &[u8], expected: u8) -> Result<&[u8], DerError> {
    let mut r = Reader::new(input);
    let content = r.expect(expected)?;
    r.finish()?;
    Ok(content)
}

/// Appends a DER length.
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// The size of a TLV header for content of `len` bytes.
pub fn header_len(len: usize) -> usize {
    match len {
        0..=0x7f => 2,
        0x80..=0xff => 3,
        0x100..=0xffff => 4,
        0x1_0000..=0xff_ffff => 5,
        _ => 6,
    }
}

/// Appends a tag and length.
pub fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    push_len(out, len);
}

/// Appends a whole TLV.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// Appends a GeneralizedTime `YYYYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5.2: no fractions).
pub fn push_generalized_time(out: &mut Vec<u8>, unix: i64) {
    out.push(tag::GENERALIZED_TIME);
    out.push(15);
    out.extend_from_slice(&generalized_time(unix));
}

/// The 15 characters of a GeneralizedTime for `unix` seconds (years 0000–9999).
pub fn generalized_time(unix: i64) -> [u8; 15] {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    let mut out = [0u8; 15];
    let mut put = |pos: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[pos + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y, 4);
    put(4, m, 2);
    put(6, d, 2);
    put(8, (secs / 3600) as u32, 2);
    put(10, ((secs % 3600) / 60) as u32, 2);
    put(12, (secs % 60) as u32, 2);
    out[14] = b'Z';
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm, public domain).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_and_must_be_minimal() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 1 << 24] {
            let mut out = vec![0x04];
            push_len(&mut out, len);
            assert_eq!(out.len(), header_len(len), "len {len}");
            out.resize(out.len() + len, 0);
            let mut r = Reader::new(&out);
            assert_eq!(r.expect(0x04).unwrap().len(), len);
            r.finish().unwrap();
        }
        // Non-minimal long form, leading zero, indefinite, and too many octets.
        for bad in [
            &[0x04, 0x81, 0x05, 0, 0, 0, 0, 0][..],
            &[0x04, 0x82, 0x00, 0x80],
            &[0x30, 0x80, 0x00, 0x00],
            &[0x04, 0x85, 1, 0, 0, 0, 0],
        ] {
            assert_eq!(Reader::new(bad).any().unwrap_err(), DerError::BadLength);
        }
        assert_eq!(
            Reader::new(&[0x04, 0x05, 1]).any().unwrap_err(),
            DerError::Truncated
        );
        assert_eq!(
            single(&[0x05, 0x00, 0x00], 0x05).unwrap_err(),
            DerError::TrailingData
        );
    }

    #[test]
    fn generalized_time_matches_known_dates() {
        assert_eq!(&generalized_time(0), b"19700101000000Z");
        assert_eq!(&generalized_time(951_782_400), b"20000229000000Z");
        assert_eq!(&generalized_time(1_700_000_000), b"20231114221320Z");
        assert_eq!(&generalized_time(4_102_444_799), b"20991231235959Z");
    }
}

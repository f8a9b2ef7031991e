//! The few DER pieces a CRL needs: lengths (computed ahead, in `u64`, so a multi-gigabyte
//! CRL is measured before a byte is written) and headers.

use crate::CrlError;

/// Tag numbers.
pub mod tag {
    /// BOOLEAN
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// ENUMERATED
    pub const ENUMERATED: u8 = 0x0a;
    /// SEQUENCE (constructed)
    pub const SEQUENCE: u8 = 0x30;
}

/// The number of octets DER uses for a length of `len`.
pub fn len_of_len(len: u64) -> u64 {
    if len < 0x80 {
        1
    } else {
        1 + u64::from((64 - len.leading_zeros()).div_ceil(8))
    }
}

/// The length of a whole TLV (one-octet tag) whose content is `content` octets long.
pub fn tlv_len(content: u64) -> Result<u64, CrlError> {
    content
        .checked_add(1 + len_of_len(content))
        .ok_or(CrlError::TooLarge)
}

/// Sums lengths, failing instead of overflowing.
pub fn sum(parts: &[u64]) -> Result<u64, CrlError> {
    parts
        .iter()
        .try_fold(0u64, |acc, p| acc.checked_add(*p))
        .ok_or(CrlError::TooLarge)
}

/// Appends a tag and a minimal-form length.
pub fn header(out: &mut Vec<u8>, tag: u8, len: u64) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let octets = len_of_len(len) - 1;
        out.push(0x80 | octets as u8);
        for i in (0..octets).rev() {
            out.push((len >> (8 * i)) as u8);
        }
    }
}

/// Appends a whole TLV.
pub fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    header(out, tag, content.len() as u64);
    out.extend_from_slice(content);
}

/// Reads the header of the single TLV that must span all of `input` and returns its tag.
/// Only minimal definite lengths are accepted (DER).
pub fn single_tlv_tag(input: &[u8]) -> Option<u8> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (u64::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 8 || rest.len() < n || rest[0] == 0 {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        if len < 0x80 {
            return None;
        }
        (len, &rest[n..])
    };
    (rest.len() as u64 == len).then_some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_minimal() {
        for (len, want) in [
            (0u64, vec![0x00]),
            (0x7f, vec![0x7f]),
            (0x80, vec![0x81, 0x80]),
            (0xff, vec![0x81, 0xff]),
            (0x100, vec![0x82, 0x01, 0x00]),
            (0x01_0000, vec![0x83, 0x01, 0x00, 0x00]),
            (0x1_0000_0000, vec![0x85, 0x01, 0, 0, 0, 0]),
        ] {
            let mut out = Vec::new();
            header(&mut out, 0x30, len);
            assert_eq!(out[1..], want[..], "len {len:#x}");
            assert_eq!(len_of_len(len), want.len() as u64);
            assert_eq!(tlv_len(len).unwrap(), 1 + want.len() as u64 + len);
        }
        assert!(tlv_len(u64::MAX).is_err());
        assert!(sum(&[u64::MAX, 1]).is_err());
    }

    #[test]
    fn single_tlv_checks_the_span() {
        assert_eq!(single_tlv_tag(&[0x30, 0x00]), Some(0x30));
        assert_eq!(single_tlv_tag(&[0x30, 0x01, 0x05]), Some(0x30));
        assert_eq!(single_tlv_tag(&[0x30, 0x01]), None);
        assert_eq!(single_tlv_tag(&[0x30, 0x00, 0x00]), None);
        assert_eq!(single_tlv_tag(&[0x30, 0x81, 0x01, 0x00]), None);
        assert_eq!(single_tlv_tag(&[0x30, 0x80]), None);
        assert_eq!(single_tlv_tag(&[]), None);
        let mut long = vec![0x30, 0x81, 0x80];
        long.extend(std::iter::repeat_n(0u8, 0x80));
        assert_eq!(single_tlv_tag(&long), Some(0x30));
    }
}

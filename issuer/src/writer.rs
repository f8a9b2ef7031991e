//! A minimal DER writer: tag-length-value encoding into a `Vec<u8>`.
//!
//! Lengths of constructed values are back-patched once their content is written, so nested
//! structures are encoded in one pass without intermediate buffers.

/// DER tags used by the certificate encoder.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTF8_STRING: u8 = 0x0c;
    pub(crate) const PRINTABLE_STRING: u8 = 0x13;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;
    /// `[0]` constructed (EXPLICIT), context-specific.
    pub(crate) const CONTEXT_0_CONSTRUCTED: u8 = 0xa0;
    /// `[3]` constructed (EXPLICIT), context-specific.
    pub(crate) const CONTEXT_3_CONSTRUCTED: u8 = 0xa3;
    /// `[0]` primitive (IMPLICIT), context-specific.
    pub(crate) const CONTEXT_0_PRIMITIVE: u8 = 0x80;
    /// `[2]` primitive (IMPLICIT): `GeneralName.dNSName`.
    pub(crate) const CONTEXT_2_PRIMITIVE: u8 = 0x82;
    /// `[6]` primitive (IMPLICIT): `GeneralName.uniformResourceIdentifier`.
    pub(crate) const CONTEXT_6_PRIMITIVE: u8 = 0x86;
}

/// Encodes a DER length into `buf`, returning how many bytes were used.
fn length_bytes(len: usize, buf: &mut [u8; 9]) -> usize {
    if len < 0x80 {
        buf[0] = len as u8;
        return 1;
    }
    let be = len.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    let n = be.len() - skip;
    buf[0] = 0x80 | n as u8;
    buf[1..=n].copy_from_slice(&be[skip..]);
    n + 1
}

/// Appends a DER length.
pub(crate) fn write_length(out: &mut Vec<u8>, len: usize) {
    let mut buf = [0u8; 9];
    let n = length_bytes(len, &mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Appends a complete TLV with the given content.
pub(crate) fn tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    write_length(out, content.len());
    out.extend_from_slice(content);
}

/// Appends a TLV whose content is written by `f`; the length is patched in afterwards.
pub(crate) fn nested(out: &mut Vec<u8>, tag: u8, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(tag);
    let start = out.len();
    f(out);
    let len = out.len() - start;
    let mut buf = [0u8; 9];
    let n = length_bytes(len, &mut buf);
    out.splice(start..start, buf[..n].iter().copied());
}

/// Appends an OBJECT IDENTIFIER.
pub(crate) fn oid(out: &mut Vec<u8>, oid: &const_oid::ObjectIdentifier) {
    tlv(out, tag::OID, oid.as_bytes());
}

/// Appends a BOOLEAN (DER: TRUE is 0xff).
pub(crate) fn boolean(out: &mut Vec<u8>, value: bool) {
    tlv(out, tag::BOOLEAN, &[if value { 0xff } else { 0x00 }]);
}

/// Appends a non-negative INTEGER from a small value.
pub(crate) fn small_uint(out: &mut Vec<u8>, value: u8) {
    if value & 0x80 != 0 {
        tlv(out, tag::INTEGER, &[0x00, value]);
    } else {
        tlv(out, tag::INTEGER, &[value]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        for (len, expected) in [
            (0usize, vec![0x00]),
            (0x7f, vec![0x7f]),
            (0x80, vec![0x81, 0x80]),
            (0xff, vec![0x81, 0xff]),
            (0x100, vec![0x82, 0x01, 0x00]),
            (0x1_0000, vec![0x83, 0x01, 0x00, 0x00]),
        ] {
            let mut out = Vec::new();
            write_length(&mut out, len);
            assert_eq!(out, expected, "length {len}");
        }
    }

    #[test]
    fn nested_patches_long_lengths() {
        let mut out = Vec::new();
        nested(&mut out, tag::SEQUENCE, |out| {
            tlv(out, tag::OCTET_STRING, &[0xaa; 200]);
        });
        assert_eq!(&out[..6], &[0x30, 0x81, 203, 0x04, 0x81, 200]);
        assert_eq!(out.len(), 206);
    }

    #[test]
    fn small_integers() {
        let mut out = Vec::new();
        small_uint(&mut out, 0);
        small_uint(&mut out, 0x80);
        assert_eq!(out, [0x02, 0x01, 0x00, 0x02, 0x02, 0x00, 0x80]);
    }
}

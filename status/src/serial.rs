//! Certificate serial numbers.

use std::fmt;

/// The largest serial number RFC 5280 §4.1.2.2 allows, in octets of the DER INTEGER content.
pub const MAX_SERIAL_LEN: usize = 20;

/// A certificate serial number as the content octets of its DER INTEGER (two's complement,
/// minimal length), at most 20 octets. Stored inline, no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial {
    len: u8,
    bytes: [u8; MAX_SERIAL_LEN],
}

/// Why a byte string or text is not a serial number we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    /// No octets at all.
    #[error("serial number is empty")]
    Empty,
    /// More than 20 content octets.
    #[error("serial number is {0} octets long; at most 20 are allowed")]
    TooLong(usize),
    /// Not a minimal DER INTEGER encoding (a redundant leading 0x00 or 0xff).
    #[error("serial number is not minimally encoded")]
    NotMinimal,
    /// Text that is not hexadecimal.
    #[error("serial number is not hexadecimal: {0}")]
    NotHex(String),
}

impl Serial {
    /// From the content octets of a DER INTEGER, checked for minimal encoding and length.
    pub fn from_der_content(content: &[u8]) -> Result<Self, SerialError> {
        match content {
            [] => return Err(SerialError::Empty),
            [0x00, next, ..] if next & 0x80 == 0 => return Err(SerialError::NotMinimal),
            [0xff, next, ..] if next & 0x80 != 0 => return Err(SerialError::NotMinimal),
            _ => {}
        }
        if content.len() > MAX_SERIAL_LEN {
            return Err(SerialError::TooLong(content.len()));
        }
        let mut bytes = [0u8; MAX_SERIAL_LEN];
        bytes[..content.len()].copy_from_slice(content);
        Ok(Self {
            len: content.len() as u8,
            bytes,
        })
    }

    /// From an unsigned big-endian magnitude (as OpenSSL prints serials): leading zeros are
    /// dropped and a 0x00 is prepended when the top bit is set, giving the DER content.
    pub fn from_unsigned_be(magnitude: &[u8]) -> Result<Self, SerialError> {
        let first = magnitude.iter().position(|&b| b != 0);
        let trimmed = match first {
            Some(i) => &magnitude[i..],
            None => &[0u8][..],
        };
        if trimmed[0] & 0x80 != 0 {
            let mut content = Vec::with_capacity(trimmed.len() + 1);
            content.push(0);
            content.extend_from_slice(trimmed);
            Self::from_der_content(&content)
        } else {
            Self::from_der_content(trimmed)
        }
    }

    /// From hexadecimal text (upper or lower case, optional `0x`, optional `:` separators),
    /// read as an unsigned magnitude.
    pub fn from_hex(text: &str) -> Result<Self, SerialError> {
        let cleaned: String = text
            .trim()
            .trim_start_matches("0x")
            .chars()
            .filter(|c| *c != ':')
            .collect();
        if cleaned.is_empty() {
            return Err(SerialError::Empty);
        }
        let padded = if cleaned.len() % 2 == 1 {
            format!("0{cleaned}")
        } else {
            cleaned
        };
        let mut magnitude = Vec::with_capacity(padded.len() / 2);
        for pair in padded.as_bytes().chunks(2) {
            let hi = hex_digit(pair[0]);
            let lo = hex_digit(pair[1]);
            match (hi, lo) {
                (Some(h), Some(l)) => magnitude.push(h << 4 | l),
                _ => return Err(SerialError::NotHex(text.to_owned())),
            }
        }
        if magnitude.len() > MAX_SERIAL_LEN + 1 {
            return Err(SerialError::TooLong(magnitude.len()));
        }
        Self::from_unsigned_be(&magnitude)
    }

    /// The DER INTEGER content octets.
    pub fn as_der_content(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The unsigned magnitude (the content without a leading sign octet).
    pub fn magnitude(&self) -> &[u8] {
        match self.as_der_content() {
            [0x00, rest @ ..] if !rest.is_empty() => rest,
            all => all,
        }
    }

    /// Lowercase hex of the unsigned magnitude without leading zeros (as Python's
    /// `format(n, "x")` and `openssl x509 -serial` read back), for manifests and logs.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(self.len as usize * 2);
        for b in self.magnitude() {
            if !(out.is_empty() && b >> 4 == 0) {
                out.push(char::from(HEX[(b >> 4) as usize]));
            }
            out.push(char::from(HEX[(b & 0xf) as usize]));
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_encoding_is_enforced() {
        assert_eq!(
            Serial::from_der_content(&[0x00, 0x01]),
            Err(SerialError::NotMinimal)
        );
        assert!(Serial::from_der_content(&[0x00, 0x80]).is_ok());
        assert_eq!(Serial::from_der_content(&[]), Err(SerialError::Empty));
        assert_eq!(
            Serial::from_der_content(&[1; 21]),
            Err(SerialError::TooLong(21))
        );
    }

    #[test]
    fn hex_round_trip_adds_sign_octet() {
        let s = Serial::from_hex("80ff").unwrap();
        assert_eq!(s.as_der_content(), &[0x00, 0x80, 0xff]);
        assert_eq!(s.to_hex(), "80ff");
        assert_eq!(Serial::from_hex("0a1b").unwrap().to_hex(), "a1b");
        assert_eq!(Serial::from_hex("00").unwrap().to_hex(), "0");
        let s = Serial::from_hex("0x00:7F").unwrap();
        assert_eq!(s.as_der_content(), &[0x7f]);
        assert!(Serial::from_hex("zz").is_err());
        // 20 octets with the top bit set still fit: 21 content octets is refused.
        assert!(Serial::from_hex(&"ff".repeat(20)).is_err());
        assert!(Serial::from_hex(&"7f".repeat(20)).is_ok());
    }
}

//! Certificate serial numbers: random ones (CA/B Forum BR 7.1) and caller-supplied ones.

use std::fmt;

/// The longest serial number content RFC 5280 (4.1.2.2) allows, in octets.
pub const MAX_SERIAL_LEN: usize = 20;

/// Why a serial number was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SerialError {
    /// The serial is zero (or empty); RFC 5280 requires a positive integer.
    #[error("serial number must be positive (it is zero or empty)")]
    Zero,
    /// The DER INTEGER content would exceed 20 octets.
    #[error("serial number needs {0} octets as a DER INTEGER; at most 20 are allowed")]
    TooLong(usize),
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Random,
}

/// A positive certificate serial number of at most 20 octets of DER INTEGER content.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Serial {
    /// DER INTEGER content octets (with a leading 0x00 when the top bit would be set).
    content: [u8; MAX_SERIAL_LEN],
    len: u8,
}

impl Serial {
    /// A fresh random serial: 16 octets from the system RNG, the top bit cleared and the
    /// first octet non-zero, so the INTEGER is positive with exactly 16 content octets
    /// (more than 120 bits of entropy).
    pub fn random() -> Result<Self, SerialError> {
        Self::from_magnitude(&random_serial()?)
    }

    /// A caller-supplied serial: an unsigned big-endian magnitude. Leading zero octets are
    /// ignored; the value must be non-zero and fit in 20 octets of DER INTEGER content
    /// (so a 20-octet magnitude must have its top bit clear).
    pub fn from_magnitude(magnitude: &[u8]) -> Result<Self, SerialError> {
        let skip = magnitude.iter().take_while(|b| **b == 0).count();
        let magnitude = &magnitude[skip..];
        let Some(first) = magnitude.first() else {
            return Err(SerialError::Zero);
        };
        let pad = usize::from(first & 0x80 != 0);
        let len = magnitude.len() + pad;
        if len > MAX_SERIAL_LEN {
            return Err(SerialError::TooLong(len));
        }
        let mut content = [0u8; MAX_SERIAL_LEN];
        content[pad..len].copy_from_slice(magnitude);
        Ok(Self {
            content,
            len: len as u8,
        })
    }

    /// The unsigned big-endian magnitude, without leading zeros.
    pub fn magnitude(&self) -> &[u8] {
        let content = self.der_content();
        match content {
            [0, rest @ ..] => rest,
            _ => content,
        }
    }

    /// The content octets of the DER INTEGER (a leading 0x00 when the top bit is set).
    pub fn der_content(&self) -> &[u8] {
        &self.content[..usize::from(self.len)]
    }
}

impl fmt::Display for Serial {
    /// Lower-case hex of the magnitude.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.magnitude() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

/// 16 random octets for a serial number: top bit cleared and first octet non-zero, so the
/// DER INTEGER is positive with exactly 16 content octets.
pub fn random_serial() -> Result<[u8; 16], SerialError> {
    let mut bytes = [0u8; 16];
    loop {
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SerialError::Random)?;
        bytes[0] &= 0x7f;
        if bytes[0] != 0 {
            return Ok(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_16_positive_octets() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let s = Serial::random().unwrap();
            assert_eq!(s.der_content().len(), 16);
            assert!(s.der_content()[0] != 0 && s.der_content()[0] & 0x80 == 0);
            assert_eq!(s.magnitude(), s.der_content());
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn encoding_edge_cases() {
        let s = Serial::from_magnitude(&[0x80]).unwrap();
        assert_eq!(s.der_content(), [0x00, 0x80]);
        assert_eq!(s.magnitude(), [0x80]);
        assert_eq!(s.to_string(), "80");

        let s = Serial::from_magnitude(&[0x00, 0x00, 0x01, 0x02]).unwrap();
        assert_eq!(s.der_content(), [0x01, 0x02]);

        let s = Serial::from_magnitude(&[0x00, 0xff, 0x00]).unwrap();
        assert_eq!(s.der_content(), [0x00, 0xff, 0x00]);
        assert_eq!(s.magnitude(), [0xff, 0x00]);

        assert_eq!(
            Serial::from_magnitude(&[0x7f; 20]).unwrap().der_content(),
            [0x7f; 20]
        );
        let mut long = vec![0u8; 5];
        long.extend_from_slice(&[0x11; 20]);
        assert_eq!(
            Serial::from_magnitude(&long).unwrap().der_content().len(),
            20
        );
    }

    #[test]
    fn rejects_zero_and_too_long() {
        assert!(matches!(
            Serial::from_magnitude(&[]),
            Err(SerialError::Zero)
        ));
        assert!(matches!(
            Serial::from_magnitude(&[0, 0]),
            Err(SerialError::Zero)
        ));
        assert!(matches!(
            Serial::from_magnitude(&[0x01; 21]),
            Err(SerialError::TooLong(21))
        ));
        // 20 octets with the top bit set need a 21st (sign) octet.
        assert!(matches!(
            Serial::from_magnitude(&[0x80; 20]),
            Err(SerialError::TooLong(21))
        ));
    }
}

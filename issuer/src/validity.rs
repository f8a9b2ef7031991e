//! Certificate validity periods and their time encoding (RFC 5280 4.1.2.5).

use time::OffsetDateTime;

use crate::writer::{self, tag};

/// Why a validity period was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ValidityError {
    /// A timestamp is outside what a certificate can carry (years 1950 through 9999).
    #[error("timestamp {0} is outside the years 1950..=9999 a certificate can encode")]
    OutOfRange(i64),
    /// `not_after` is before `not_before`.
    #[error("notAfter ({not_after}) is before notBefore ({not_before})")]
    Inverted {
        /// Start, in Unix seconds.
        not_before: i64,
        /// End, in Unix seconds.
        not_after: i64,
    },
}

/// A certificate's validity period, with both ends inclusive, in Unix seconds (UTC).
///
/// Times up to the end of 2049 are encoded as `UTCTime`, later ones as `GeneralizedTime`,
/// as RFC 5280 requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validity {
    not_before: i64,
    not_after: i64,
    /// The DER `Validity` SEQUENCE.
    der: Vec<u8>,
}

impl Validity {
    /// A validity period from `not_before` to `not_after` (Unix seconds, inclusive).
    pub fn new(not_before: i64, not_after: i64) -> Result<Self, ValidityError> {
        if not_after < not_before {
            return Err(ValidityError::Inverted {
                not_before,
                not_after,
            });
        }
        let start = encode_time(not_before)?;
        let end = encode_time(not_after)?;
        let mut der = Vec::with_capacity(34);
        writer::nested(&mut der, tag::SEQUENCE, |out| {
            out.extend_from_slice(&start);
            out.extend_from_slice(&end);
        });
        Ok(Self {
            not_before,
            not_after,
            der,
        })
    }

    /// A validity period starting at `not_before` and lasting `lifetime_secs` seconds. The
    /// end is inclusive, so it is `not_before + lifetime_secs - 1`.
    pub fn starting_at(not_before: i64, lifetime_secs: u32) -> Result<Self, ValidityError> {
        let not_after = not_before
            .saturating_add(i64::from(lifetime_secs))
            .saturating_sub(1)
            .max(not_before);
        Self::new(not_before, not_after)
    }

    /// The start, in Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// The end (inclusive), in Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// The DER `Validity` SEQUENCE.
    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }
}

/// Encodes one time as a complete DER `Time` (UTCTime or GeneralizedTime TLV).
fn encode_time(secs: i64) -> Result<Vec<u8>, ValidityError> {
    let t =
        OffsetDateTime::from_unix_timestamp(secs).map_err(|_| ValidityError::OutOfRange(secs))?;
    let year = t.year();
    if !(1950..=9999).contains(&year) {
        return Err(ValidityError::OutOfRange(secs));
    }
    let rest = [
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    ];
    let mut text = String::with_capacity(15);
    let tag = if year < 2050 {
        push2(&mut text, (year % 100) as u8);
        tag::UTC_TIME
    } else {
        push2(&mut text, (year / 100) as u8);
        push2(&mut text, (year % 100) as u8);
        tag::GENERALIZED_TIME
    };
    for v in rest {
        push2(&mut text, v);
    }
    text.push('Z');
    let mut out = Vec::with_capacity(17);
    writer::tlv(&mut out, tag, text.as_bytes());
    Ok(out)
}

fn push2(s: &mut String, v: u8) {
    s.push(char::from(b'0' + v / 10));
    s.push(char::from(b'0' + v % 10));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(secs: i64) -> (u8, String) {
        let der = encode_time(secs).unwrap();
        (der[0], String::from_utf8(der[2..].to_vec()).unwrap())
    }

    #[test]
    fn utc_time_until_2049() {
        // 2049-12-31T23:59:59Z
        assert_eq!(text(2_524_607_999), (0x17, "491231235959Z".to_owned()));
        // 1950-01-01T00:00:00Z
        assert_eq!(text(-631_152_000), (0x17, "500101000000Z".to_owned()));
        assert_eq!(text(0), (0x17, "700101000000Z".to_owned()));
    }

    #[test]
    fn generalized_time_from_2050() {
        // 2050-01-01T00:00:00Z
        assert_eq!(text(2_524_608_000), (0x18, "20500101000000Z".to_owned()));
        // 9999-12-31T23:59:59Z (RFC 5280's "no well-defined expiration")
        assert_eq!(text(253_402_300_799), (0x18, "99991231235959Z".to_owned()));
    }

    #[test]
    fn out_of_range() {
        assert!(matches!(
            encode_time(-631_152_001),
            Err(ValidityError::OutOfRange(_))
        ));
        assert!(matches!(
            encode_time(253_402_300_800),
            Err(ValidityError::OutOfRange(_))
        ));
        assert!(matches!(
            encode_time(i64::MAX),
            Err(ValidityError::OutOfRange(_))
        ));
    }

    #[test]
    fn validity() {
        let v = Validity::new(0, 86_399).unwrap();
        assert_eq!(v.der()[0], 0x30);
        assert_eq!(v.der().len(), 2 + 15 + 15);
        assert!(matches!(
            Validity::new(10, 9),
            Err(ValidityError::Inverted { .. })
        ));
        let v = Validity::starting_at(100, 3600).unwrap();
        assert_eq!((v.not_before(), v.not_after()), (100, 3699));
    }
}

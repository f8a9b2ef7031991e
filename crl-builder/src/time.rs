//! CRL times: UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §5.1.2.4,
//! §5.1.2.6), and GeneralizedTime for invalidityDate (RFC 5280 §5.3.2). Always `Z`, always
//! seconds, never fractions.

use crate::CrlError;

/// DER tag of UTCTime.
const UTC_TIME: u8 = 0x17;
/// DER tag of GeneralizedTime.
const GENERALIZED_TIME: u8 = 0x18;

/// 0001-01-01T00:00:00Z, the earliest time GeneralizedTime's four-digit year can carry
/// (year 0000 is not used).
pub const MIN_TIME: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the latest time a four-digit year can carry.
pub const MAX_TIME: i64 = 253_402_300_799;
/// 1950-01-01T00:00:00Z: UTCTime's two-digit years cover 1950–2049.
const UTC_TIME_FIRST: i64 = -631_152_000;
/// 2050-01-01T00:00:00Z: from here on RFC 5280 requires GeneralizedTime.
const UTC_TIME_END: i64 = 2_524_608_000;

/// The largest encoded time: a GeneralizedTime TLV (2 + 15 octets).
pub const MAX_TIME_TLV: usize = 17;

/// One encoded time TLV, on the stack.
#[derive(Clone, Copy)]
pub struct TimeTlv {
    bytes: [u8; MAX_TIME_TLV],
    len: u8,
}

impl TimeTlv {
    /// The TLV octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The TLV octets followed by zero padding up to [`MAX_TIME_TLV`] (for fixed-size
    /// copies).
    pub fn as_array(&self) -> &[u8; MAX_TIME_TLV] {
        &self.bytes
    }
}

fn check(t: i64, what: &'static str) -> Result<(), CrlError> {
    if (MIN_TIME..=MAX_TIME).contains(&t) {
        Ok(())
    } else {
        Err(CrlError::TimeOutOfRange { what, value: t })
    }
}

/// Whether RFC 5280's `Time` for `t` is a UTCTime (1950 through 2049).
fn is_utc_time(t: i64) -> bool {
    (UTC_TIME_FIRST..UTC_TIME_END).contains(&t)
}

/// The encoded length of `Time` (UTCTime or GeneralizedTime) for `t`.
pub fn time_tlv_len(t: i64, what: &'static str) -> Result<usize, CrlError> {
    check(t, what)?;
    Ok(if is_utc_time(t) { 15 } else { 17 })
}

/// Encodes RFC 5280 `Time`: UTCTime for 1950–2049, GeneralizedTime otherwise.
pub fn encode_time(t: i64, what: &'static str) -> Result<TimeTlv, CrlError> {
    check(t, what)?;
    Ok(encode(t, !is_utc_time(t)))
}

/// Encodes a GeneralizedTime whatever the year (invalidityDate).
pub fn encode_generalized_time(t: i64, what: &'static str) -> Result<TimeTlv, CrlError> {
    check(t, what)?;
    Ok(encode(t, true))
}

/// Splits seconds since the epoch into a proleptic Gregorian date and time of day
/// (H. Hinnant's `civil_from_days`, in unsigned arithmetic: `t` is within [`MIN_TIME`,
/// `MAX_TIME`], so every intermediate value is non-negative).
fn civil(t: i64) -> (u32, u32, u32, u32, u32, u32) {
    let since_min = t.abs_diff(MIN_TIME);
    let secs = (since_min % 86_400) as u32;
    // MIN_TIME is day −719 162 of the epoch; the algorithm counts from 0000-03-01,
    // 719 468 days before the epoch.
    let z = since_min / 86_400 + 306;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + u64::from(month <= 2)) as u32;
    (year, month, day, secs / 3600, secs / 60 % 60, secs % 60)
}

/// "00" to "99".
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn encode(t: i64, generalized: bool) -> TimeTlv {
    let (year, month, day, hour, minute, second) = civil(t);
    let mut bytes = [0u8; MAX_TIME_TLV];
    let mut n = 2;
    let mut put2 = |bytes: &mut [u8; MAX_TIME_TLV], v: u32| {
        let i = (v % 100) as usize * 2;
        bytes[n..n + 2].copy_from_slice(&PAIRS[i..i + 2]);
        n += 2;
    };
    if generalized {
        put2(&mut bytes, year / 100);
    }
    put2(&mut bytes, year % 100);
    put2(&mut bytes, month);
    put2(&mut bytes, day);
    put2(&mut bytes, hour);
    put2(&mut bytes, minute);
    put2(&mut bytes, second);
    bytes[n] = b'Z';
    n += 1;
    bytes[0] = if generalized {
        GENERALIZED_TIME
    } else {
        UTC_TIME
    };
    bytes[1] = (n - 2) as u8;
    TimeTlv {
        bytes,
        len: n as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: TimeTlv) -> (u8, String) {
        let b = t.as_bytes();
        assert_eq!(usize::from(b[1]), b.len() - 2);
        (b[0], String::from_utf8(b[2..].to_vec()).unwrap())
    }

    #[test]
    fn utc_time_through_2049_generalized_from_2050() {
        let cases: &[(i64, u8, &str)] = &[
            (0, UTC_TIME, "700101000000Z"),
            (1_700_000_000, UTC_TIME, "231114221320Z"),
            (951_782_400, UTC_TIME, "000229000000Z"),
            (UTC_TIME_END - 1, UTC_TIME, "491231235959Z"),
            (UTC_TIME_END, GENERALIZED_TIME, "20500101000000Z"),
            (UTC_TIME_FIRST, UTC_TIME, "500101000000Z"),
            (UTC_TIME_FIRST - 1, GENERALIZED_TIME, "19491231235959Z"),
            (4_107_542_400, GENERALIZED_TIME, "21000301000000Z"),
            (MAX_TIME, GENERALIZED_TIME, "99991231235959Z"),
            (MIN_TIME, GENERALIZED_TIME, "00010101000000Z"),
        ];
        for &(t, tag, want) in cases {
            let enc = encode_time(t, "t").unwrap();
            assert_eq!(text(enc), (tag, want.to_owned()), "t={t}");
            assert_eq!(time_tlv_len(t, "t").unwrap(), enc.as_bytes().len());
        }
        assert_eq!(
            text(encode_generalized_time(0, "t").unwrap()),
            (GENERALIZED_TIME, "19700101000000Z".to_owned())
        );
        for bad in [MAX_TIME + 1, MIN_TIME - 1, i64::MAX, i64::MIN] {
            assert!(matches!(
                encode_time(bad, "t"),
                Err(CrlError::TimeOutOfRange { .. })
            ));
            assert!(time_tlv_len(bad, "t").is_err());
            assert!(encode_generalized_time(bad, "t").is_err());
        }
    }

    /// Every day boundary over four centuries matches a naive day-by-day calendar walk.
    #[test]
    fn calendar_matches_a_naive_walk() {
        let (mut y, mut m, mut d) = (1900i64, 1i64, 1i64);
        let mut t = -2_208_988_800i64; // 1900-01-01
        while y < 2300 {
            let (cy, cm, cd, hh, mi, ss) = civil(t + 86_399);
            assert_eq!(
                (i64::from(cy), i64::from(cm), i64::from(cd), hh, mi, ss),
                (y, m, d, 23, 59, 59)
            );
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let days_in = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > days_in {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
            t += 86_400;
        }
    }
}

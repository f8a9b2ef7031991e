//! Synthetic CRL entries shared by the benchmark and the scale example: 16-octet serials
//! in ascending order (a counter in the high half, a scrambled low half), a mix of
//! reasons, one in ten with an invalidity date.

use revoca_crl_builder::CrlEntry;
use revoca_status::{RevocationReason, Serial};

/// The `i`-th entry; ascending in `i`.
pub fn entry(i: u64) -> CrlEntry {
    let mut magnitude = [0u8; 16];
    magnitude[..8].copy_from_slice(&(0x1000_0000_0000_0000 | i).to_be_bytes());
    magnitude[8..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    CrlEntry {
        serial: Serial::from_unsigned_be(&magnitude).expect("16-octet serial"),
        revocation_time: 1_760_000_000 + (i % 86_400) as i64,
        reason: match i % 4 {
            0 => None,
            1 => Some(RevocationReason::KeyCompromise),
            2 => Some(RevocationReason::Superseded),
            _ => Some(RevocationReason::CessationOfOperation),
        },
        invalidity_date: i.is_multiple_of(10).then_some(1_759_000_000),
    }
}

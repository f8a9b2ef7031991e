//! Wall-clock time for everything that goes into responses, with an offset for tests.

use std::time::{SystemTime, UNIX_EPOCH};

use revoca_status::UnixTime;

/// The responder's clock: system time plus a fixed offset (zero outside tests; set with
/// `REVOCA_CLOCK_OFFSET_SECS` to prove that expired responses are never served).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    offset_secs: i64,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system clock shifted by `offset_secs`.
    pub fn with_offset(offset_secs: i64) -> Self {
        Self { offset_secs }
    }

    /// Seconds since the Unix epoch.
    pub fn now(&self) -> UnixTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        secs + self.offset_secs
    }
}

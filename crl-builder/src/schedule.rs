//! CRL timing rules: how long a CRL is valid (nextUpdate − thisUpdate) and how often a new
//! one is published, checked against a policy.
//!
//! | Policy | Max validity | Max period | Source |
//! |---|---|---|---|
//! | [`SchedulePolicy::br_subscriber`] | 10 days | 7 days with OCSP in every certificate, else 4 days | BR 4.9.7, 7.2 |
//! | [`SchedulePolicy::BR_CA`] | 12 months (365 days) | 12 months | BR 4.9.7, 7.2 |
//! | [`SchedulePolicy::ACCV_SUBSCRIBER`] | 4 days | 5 hours | ACCV CPS 4.9.7 |
//!
//! A stricter operator limit is a policy with smaller numbers
//! ([`SchedulePolicy::with_max_validity`]). Publishing soon after a revocation (BR 24 h,
//! Revoca's 60 s target) is the scheduler's business, not a limit here.

use crate::UnixTime;

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Upper bounds on a CRL's validity and on the time between two CRLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedulePolicy {
    /// Largest allowed nextUpdate − thisUpdate, seconds.
    pub max_validity_secs: u64,
    /// Largest allowed time between two consecutive CRLs, seconds.
    pub max_period_secs: u64,
}

/// How an issuer's CRLs are produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// A new CRL is published at least this often, seconds (even without changes).
    pub period_secs: u64,
    /// nextUpdate − thisUpdate, seconds.
    pub validity_secs: u64,
}

/// Why a schedule or a CRL's dates break a policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Zero period or validity.
    #[error("CRL {0} must be positive")]
    Zero(&'static str),
    /// The validity exceeds the policy.
    #[error("CRL validity of {validity_secs} s exceeds the maximum of {max_secs} s")]
    ValidityTooLong {
        /// The validity asked for.
        validity_secs: u64,
        /// The policy's maximum.
        max_secs: u64,
    },
    /// The period exceeds the policy.
    #[error("CRL period of {period_secs} s exceeds the maximum of {max_secs} s")]
    PeriodTooLong {
        /// The period asked for.
        period_secs: u64,
        /// The policy's maximum.
        max_secs: u64,
    },
    /// A CRL would expire before the next one is due: relying parties would see an
    /// expired CRL.
    #[error("CRL period of {period_secs} s is not shorter than its validity of {validity_secs} s")]
    Gap {
        /// The period.
        period_secs: u64,
        /// The validity.
        validity_secs: u64,
    },
    /// nextUpdate is not after thisUpdate.
    #[error("nextUpdate {next_update} is not after thisUpdate {this_update}")]
    NotAfter {
        /// thisUpdate.
        this_update: UnixTime,
        /// nextUpdate.
        next_update: UnixTime,
    },
}

impl SchedulePolicy {
    /// BR limits for a subscriber-certificate CRL: validity ≤ 10 days; a new CRL at least
    /// every 7 days if every certificate in scope has an OCSP URL, otherwise every 4 days.
    pub const fn br_subscriber(all_certificates_have_ocsp: bool) -> Self {
        Self {
            max_validity_secs: 10 * DAY,
            max_period_secs: if all_certificates_have_ocsp {
                7 * DAY
            } else {
                4 * DAY
            },
        }
    }

    /// BR limits for a CRL of CA certificates (a root's CRL or ARL): 12 months, counted as
    /// 365 days.
    pub const BR_CA: Self = Self {
        max_validity_secs: 365 * DAY,
        max_period_secs: 365 * DAY,
    };

    /// ACCV end-entity CRLs: nextUpdate at most 4 days ahead, a new CRL at least every
    /// 5 hours.
    pub const ACCV_SUBSCRIBER: Self = Self {
        max_validity_secs: 4 * DAY,
        max_period_secs: 5 * HOUR,
    };

    /// This policy with a stricter validity limit (a looser one is ignored).
    pub const fn with_max_validity(self, secs: u64) -> Self {
        Self {
            max_validity_secs: if secs < self.max_validity_secs {
                secs
            } else {
                self.max_validity_secs
            },
            ..self
        }
    }

    /// This policy with a stricter period limit (a looser one is ignored).
    pub const fn with_max_period(self, secs: u64) -> Self {
        Self {
            max_period_secs: if secs < self.max_period_secs {
                secs
            } else {
                self.max_period_secs
            },
            ..self
        }
    }

    /// Checks one CRL's thisUpdate and nextUpdate against the validity limit.
    pub fn check_dates(
        &self,
        this_update: UnixTime,
        next_update: UnixTime,
    ) -> Result<(), ScheduleError> {
        if next_update <= this_update {
            return Err(ScheduleError::NotAfter {
                this_update,
                next_update,
            });
        }
        let validity_secs = next_update.abs_diff(this_update);
        if validity_secs > self.max_validity_secs {
            return Err(ScheduleError::ValidityTooLong {
                validity_secs,
                max_secs: self.max_validity_secs,
            });
        }
        Ok(())
    }
}

/// Checks a schedule against a policy: both durations positive and within the limits, and
/// the period strictly shorter than the validity (so a fresh CRL is always out before the
/// previous one expires; leave room for generation and publication latency on top).
pub fn validate_schedule(
    schedule: &Schedule,
    policy: &SchedulePolicy,
) -> Result<(), ScheduleError> {
    if schedule.period_secs == 0 {
        return Err(ScheduleError::Zero("period"));
    }
    if schedule.validity_secs == 0 {
        return Err(ScheduleError::Zero("validity"));
    }
    if schedule.validity_secs > policy.max_validity_secs {
        return Err(ScheduleError::ValidityTooLong {
            validity_secs: schedule.validity_secs,
            max_secs: policy.max_validity_secs,
        });
    }
    if schedule.period_secs > policy.max_period_secs {
        return Err(ScheduleError::PeriodTooLong {
            period_secs: schedule.period_secs,
            max_secs: policy.max_period_secs,
        });
    }
    if schedule.period_secs >= schedule.validity_secs {
        return Err(ScheduleError::Gap {
            period_secs: schedule.period_secs,
            validity_secs: schedule.validity_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let br = SchedulePolicy::br_subscriber(true);
        let ok = Schedule {
            period_secs: 6 * HOUR,
            validity_secs: 9 * DAY,
        };
        assert_eq!(validate_schedule(&ok, &br), Ok(()));
        // Exactly 10 days is allowed, one second more is not.
        let ten = Schedule {
            validity_secs: 10 * DAY,
            ..ok
        };
        assert_eq!(validate_schedule(&ten, &br), Ok(()));
        assert!(matches!(
            validate_schedule(
                &Schedule {
                    validity_secs: 10 * DAY + 1,
                    ..ok
                },
                &br
            ),
            Err(ScheduleError::ValidityTooLong { .. })
        ));
        // Without OCSP everywhere the BR period is 4 days.
        let weekly = Schedule {
            period_secs: 7 * DAY,
            validity_secs: 10 * DAY,
        };
        assert_eq!(validate_schedule(&weekly, &br), Ok(()));
        assert!(matches!(
            validate_schedule(&weekly, &SchedulePolicy::br_subscriber(false)),
            Err(ScheduleError::PeriodTooLong { .. })
        ));
        // ACCV: 9 days of validity is too long, 5 h / 4 days is fine, 6 h is too slow.
        let accv = SchedulePolicy::ACCV_SUBSCRIBER;
        assert!(validate_schedule(&ok, &accv).is_err());
        let accv_ok = Schedule {
            period_secs: 5 * HOUR,
            validity_secs: 4 * DAY,
        };
        assert_eq!(validate_schedule(&accv_ok, &accv), Ok(()));
        assert!(matches!(
            validate_schedule(
                &Schedule {
                    period_secs: 6 * HOUR,
                    ..accv_ok
                },
                &accv
            ),
            Err(ScheduleError::PeriodTooLong { .. })
        ));
        // An operator limit only tightens.
        let strict = br.with_max_validity(4 * DAY).with_max_period(30 * DAY);
        assert_eq!(strict.max_validity_secs, 4 * DAY);
        assert_eq!(strict.max_period_secs, 7 * DAY);
        assert!(validate_schedule(&ok, &strict).is_err());
        // Gaps and zeros.
        assert!(matches!(
            validate_schedule(
                &Schedule {
                    period_secs: DAY,
                    validity_secs: DAY
                },
                &br
            ),
            Err(ScheduleError::Gap { .. })
        ));
        assert_eq!(
            validate_schedule(
                &Schedule {
                    period_secs: 0,
                    validity_secs: DAY
                },
                &br
            ),
            Err(ScheduleError::Zero("period"))
        );
        assert!(
            validate_schedule(
                &Schedule {
                    period_secs: DAY,
                    validity_secs: 0
                },
                &br
            )
            .is_err()
        );
        assert!(
            validate_schedule(
                &Schedule {
                    period_secs: 30 * DAY,
                    validity_secs: 300 * DAY
                },
                &SchedulePolicy::BR_CA
            )
            .is_ok()
        );
    }

    #[test]
    fn dates() {
        let br = SchedulePolicy::br_subscriber(false);
        let t = 1_700_000_000;
        assert_eq!(br.check_dates(t, t + 10 * DAY as i64), Ok(()));
        assert!(br.check_dates(t, t + 10 * DAY as i64 + 1).is_err());
        assert!(matches!(
            br.check_dates(t, t),
            Err(ScheduleError::NotAfter { .. })
        ));
        assert!(br.check_dates(i64::MIN, i64::MAX).is_err());
    }
}

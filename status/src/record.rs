//! The state of one certificate and the rules for changing it.

use crate::UnixTime;
use crate::event::EventKind;
use crate::reason::RevocationReason;

/// Where a certificate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertState {
    /// Issued and neither revoked nor suspended.
    Good,
    /// Revoked: final. `reason` is never `CertificateHold` or `RemoveFromCrl`.
    Revoked {
        /// When the CA recorded the revocation.
        at: UnixTime,
        /// Why.
        reason: RevocationReason,
    },
    /// Suspended (certificateHold) since `at`; may be released or revoked.
    Held {
        /// When the CA recorded the hold.
        at: UnixTime,
    },
}

/// Everything Revoca keeps about one assigned serial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertRecord {
    /// Current state.
    pub state: CertState,
    /// The certificate's notAfter.
    pub not_after: UnixTime,
    /// The serial was assigned by a precertificate (RFC 6962); status is authoritative anyway.
    pub precertificate: bool,
    /// The CRL partition written into the certificate's CRL distribution point, if any.
    pub crl_partition: Option<u32>,
    /// The date the key is known or suspected to have been compromised (RFC 5280 §5.3.2).
    pub invalidity_date: Option<UnixTime>,
}

/// Why an event cannot be applied to a certificate's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The serial is not assigned for this issuer.
    #[error("no certificate with this serial was issued by this issuer")]
    NotIssued,
    /// An issuance event for a serial that is already assigned, with different details.
    #[error("this serial is already assigned to another certificate of this issuer")]
    SerialReused,
    /// Revocation is final.
    #[error("the certificate is already revoked (revocation is final)")]
    AlreadyRevoked,
    /// A hold for a certificate already on hold.
    #[error("the certificate is already on hold")]
    AlreadyHeld,
    /// A release for a certificate that is not on hold.
    #[error("the certificate is not on hold")]
    NotHeld,
    /// A reason update for a certificate that is not revoked.
    #[error("the certificate is not revoked, so its reason cannot be updated")]
    NotRevoked,
    /// A reason that cannot be used for this event.
    #[error("reason {0} cannot be used here (use hold/release for suspension)")]
    ReasonNotAllowed(RevocationReason),
}

/// What applying an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The record changed; responses must be re-signed.
    Changed(CertRecord),
    /// The event repeats what the record already says (idempotent replay).
    Unchanged,
}

impl CertRecord {
    /// A freshly issued certificate.
    pub fn issued(not_after: UnixTime, precertificate: bool, crl_partition: Option<u32>) -> Self {
        Self {
            state: CertState::Good,
            not_after,
            precertificate,
            crl_partition,
            invalidity_date: None,
        }
    }

    /// Applies `kind` to `current` (None = serial unassigned) and returns the outcome.
    /// Exact repeats of an earlier event are `Unchanged`, so replaying a log is idempotent.
    pub fn apply(
        current: Option<&CertRecord>,
        kind: &EventKind,
        at: UnixTime,
    ) -> Result<Applied, TransitionError> {
        let Some(cur) = current else {
            return match kind {
                EventKind::Issued {
                    not_after,
                    precertificate,
                    crl_partition,
                    ..
                } => Ok(Applied::Changed(CertRecord::issued(
                    *not_after,
                    *precertificate,
                    *crl_partition,
                ))),
                _ => Err(TransitionError::NotIssued),
            };
        };
        let mut next = *cur;
        match (*kind, cur.state) {
            (
                EventKind::Issued {
                    not_after,
                    precertificate,
                    crl_partition,
                    ..
                },
                _,
            ) => {
                // A final certificate following its precertificate shares the serial.
                if not_after == cur.not_after && crl_partition == cur.crl_partition {
                    if cur.precertificate && !precertificate {
                        next.precertificate = false;
                        return Ok(Applied::Changed(next));
                    }
                    return Ok(Applied::Unchanged);
                }
                return Err(TransitionError::SerialReused);
            }
            (EventKind::Revoked { reason, .. }, _)
                if matches!(
                    reason,
                    RevocationReason::CertificateHold | RevocationReason::RemoveFromCrl
                ) =>
            {
                return Err(TransitionError::ReasonNotAllowed(reason));
            }
            (
                EventKind::Revoked {
                    reason,
                    invalidity_date,
                },
                CertState::Revoked {
                    at: prev_at,
                    reason: prev_reason,
                },
            ) => {
                if prev_at == at && prev_reason == reason && cur.invalidity_date == invalidity_date
                {
                    return Ok(Applied::Unchanged);
                }
                return Err(TransitionError::AlreadyRevoked);
            }
            (
                EventKind::Revoked {
                    reason,
                    invalidity_date,
                },
                CertState::Good | CertState::Held { .. },
            ) => {
                next.state = CertState::Revoked { at, reason };
                next.invalidity_date = invalidity_date;
            }
            (EventKind::Held, CertState::Good) => next.state = CertState::Held { at },
            (EventKind::Held, CertState::Held { at: prev }) => {
                return if prev == at {
                    Ok(Applied::Unchanged)
                } else {
                    Err(TransitionError::AlreadyHeld)
                };
            }
            (EventKind::Held | EventKind::Released, CertState::Revoked { .. }) => {
                return Err(TransitionError::AlreadyRevoked);
            }
            (EventKind::Released, CertState::Held { .. }) => next.state = CertState::Good,
            (EventKind::Released, CertState::Good) => return Err(TransitionError::NotHeld),
            (
                EventKind::ReasonUpdated {
                    reason,
                    invalidity_date,
                },
                CertState::Revoked {
                    at: revoked_at,
                    reason: prev,
                },
            ) => {
                if matches!(
                    reason,
                    RevocationReason::CertificateHold | RevocationReason::RemoveFromCrl
                ) {
                    return Err(TransitionError::ReasonNotAllowed(reason));
                }
                let invalidity = invalidity_date.or(cur.invalidity_date);
                if prev == reason && invalidity == cur.invalidity_date {
                    return Ok(Applied::Unchanged);
                }
                // The revocation time stays when the CA first recorded it: never backdated.
                next.state = CertState::Revoked {
                    at: revoked_at,
                    reason,
                };
                next.invalidity_date = invalidity;
            }
            (EventKind::ReasonUpdated { .. }, _) => return Err(TransitionError::NotRevoked),
        }
        Ok(Applied::Changed(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued() -> EventKind {
        EventKind::Issued {
            not_after: 2_000_000_000,
            precertificate: false,
            crl_partition: Some(3),
            spki_sha256: None,
        }
    }

    fn changed(r: Result<Applied, TransitionError>) -> CertRecord {
        match r {
            Ok(Applied::Changed(rec)) => rec,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    #[test]
    fn lifecycle_and_finality() {
        let rec = changed(CertRecord::apply(None, &issued(), 10));
        assert_eq!(rec.state, CertState::Good);
        assert_eq!(
            CertRecord::apply(Some(&rec), &issued(), 11),
            Ok(Applied::Unchanged)
        );
        let held = changed(CertRecord::apply(Some(&rec), &EventKind::Held, 20));
        assert_eq!(held.state, CertState::Held { at: 20 });
        let released = changed(CertRecord::apply(Some(&held), &EventKind::Released, 30));
        assert_eq!(released.state, CertState::Good);
        assert_eq!(
            CertRecord::apply(Some(&released), &EventKind::Released, 31),
            Err(TransitionError::NotHeld)
        );
        let revoke = EventKind::Revoked {
            reason: RevocationReason::Superseded,
            invalidity_date: None,
        };
        let revoked = changed(CertRecord::apply(Some(&released), &revoke, 40));
        // Replaying the same event is a no-op; a different revocation is refused.
        assert_eq!(
            CertRecord::apply(Some(&revoked), &revoke, 40),
            Ok(Applied::Unchanged)
        );
        assert_eq!(
            CertRecord::apply(Some(&revoked), &revoke, 41),
            Err(TransitionError::AlreadyRevoked)
        );
        for kind in [EventKind::Held, EventKind::Released] {
            assert_eq!(
                CertRecord::apply(Some(&revoked), &kind, 50),
                Err(TransitionError::AlreadyRevoked)
            );
        }
        let kc = changed(CertRecord::apply(
            Some(&revoked),
            &EventKind::ReasonUpdated {
                reason: RevocationReason::KeyCompromise,
                invalidity_date: Some(5),
            },
            60,
        ));
        assert_eq!(
            kc.state,
            CertState::Revoked {
                at: 40,
                reason: RevocationReason::KeyCompromise
            }
        );
        assert_eq!(kc.invalidity_date, Some(5));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            CertRecord::apply(None, &EventKind::Held, 1),
            Err(TransitionError::NotIssued)
        );
        let rec = changed(CertRecord::apply(None, &issued(), 10));
        let reused = EventKind::Issued {
            not_after: 1,
            precertificate: false,
            crl_partition: None,
            spki_sha256: None,
        };
        assert_eq!(
            CertRecord::apply(Some(&rec), &reused, 11),
            Err(TransitionError::SerialReused)
        );
        let hold_reason = EventKind::Revoked {
            reason: RevocationReason::CertificateHold,
            invalidity_date: None,
        };
        assert!(matches!(
            CertRecord::apply(Some(&rec), &hold_reason, 12),
            Err(TransitionError::ReasonNotAllowed(_))
        ));
        let update = EventKind::ReasonUpdated {
            reason: RevocationReason::KeyCompromise,
            invalidity_date: None,
        };
        assert_eq!(
            CertRecord::apply(Some(&rec), &update, 13),
            Err(TransitionError::NotRevoked)
        );
    }

    #[test]
    fn final_certificate_after_precertificate() {
        let pre = EventKind::Issued {
            not_after: 99,
            precertificate: true,
            crl_partition: None,
            spki_sha256: None,
        };
        let rec = changed(CertRecord::apply(None, &pre, 1));
        assert!(rec.precertificate);
        let fin = EventKind::Issued {
            not_after: 99,
            precertificate: false,
            crl_partition: None,
            spki_sha256: None,
        };
        let rec = changed(CertRecord::apply(Some(&rec), &fin, 2));
        assert!(!rec.precertificate);
    }
}

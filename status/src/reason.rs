//! CRL/OCSP revocation reasons (RFC 5280 §5.3.1).

use std::fmt;
use std::str::FromStr;

/// A revocation reason code. `certificateHold` is not a revocation reason in Revoca's
/// model (holds are their own state) but is listed because it is what the wire carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RevocationReason {
    /// 0: no reason given (omitted on the wire by BR profiles).
    Unspecified = 0,
    /// 1
    KeyCompromise = 1,
    /// 2
    CaCompromise = 2,
    /// 3
    AffiliationChanged = 3,
    /// 4
    Superseded = 4,
    /// 5
    CessationOfOperation = 5,
    /// 6: suspension.
    CertificateHold = 6,
    /// 8
    RemoveFromCrl = 8,
    /// 9
    PrivilegeWithdrawn = 9,
    /// 10
    AaCompromise = 10,
}

/// A reason name or code Revoca does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown revocation reason {0:?}; expected one of unspecified, keyCompromise, caCompromise, \
     affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, \
     aaCompromise"
)]
pub struct UnknownReason(pub String);

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 10] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::RemoveFromCrl,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// From a CRLReason code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The RFC 5280 name, as OpenSSL prints it (`keyCompromise`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RevocationReason {
    type Err = UnknownReason;

    /// Accepts the RFC 5280 names in any case, with or without `-`/`_` separators
    /// (`keyCompromise`, `key-compromise`, `KEY_COMPROMISE`), and decimal codes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(code) = s.trim().parse::<u8>() {
            return Self::from_code(code).ok_or_else(|| UnknownReason(s.to_owned()));
        }
        let folded: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_' && !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        Self::ALL
            .into_iter()
            .find(|r| r.name().to_lowercase() == folded)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
            assert_eq!(r.name().parse::<RevocationReason>(), Ok(r));
        }
        assert_eq!(
            "key-compromise".parse::<RevocationReason>(),
            Ok(RevocationReason::KeyCompromise)
        );
        assert_eq!("7".parse::<RevocationReason>().ok(), None);
        assert!("nonsense".parse::<RevocationReason>().is_err());
    }
}

//! Operators, their roles, and which role may do what.
//!
//! Operators authenticate with a client certificate; the registry maps the SHA-256 of
//! that certificate's DER to a name and one role. The permission matrix is a single
//! function ([`Role::may`]) so that it can be read, tested and audited in one place.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The roles of the RA and the CA (FNMT's "registration officer" and "RA head", a CA
/// operator who runs the CA keys, and a read-only auditor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Registration officer: takes and verifies requests, revokes.
    Officer,
    /// Head of the RA: approves, suspends and releases.
    RaHead,
    /// CA operator: runs the CA keys; revokes (e.g. on key compromise).
    CaOperator,
    /// Auditor: reads the audit log and the request list, changes nothing.
    Auditor,
}

impl Role {
    /// Every role, in a fixed order (for matrices and listings).
    pub const ALL: [Role; 4] = [Role::Officer, Role::RaHead, Role::CaOperator, Role::Auditor];

    /// The name used in configuration, the manifest and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::RaHead => "ra-head",
            Role::CaOperator => "ca-operator",
            Role::Auditor => "auditor",
        }
    }

    /// Parses [`Role::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether this role may perform `action`. Separation of duties: whoever approves
    /// is checked separately against who verified (the two-person rule is in the
    /// workflow, not here); CA operators do not approve registrations; auditors only read.
    pub fn may(self, action: Action) -> bool {
        use Action::*;
        match self {
            // Officers take and verify requests; approval is the RA head's (FNMT: the
            // "responsable de la Oficina de Registro"), never by the request's verifier.
            Role::Officer => matches!(
                action,
                ListProfiles | Submit | Verify | Reject | ListRequests | Revoke | KeyCompromise
            ),
            Role::RaHead => matches!(
                action,
                ListProfiles
                    | Submit
                    | Verify
                    | Approve
                    | Reject
                    | ListRequests
                    | Revoke
                    | Hold
                    | Release
                    | KeyCompromise
            ),
            Role::CaOperator => {
                matches!(action, ListProfiles | ListRequests | Revoke | KeyCompromise)
            }
            Role::Auditor => matches!(action, ListProfiles | ListRequests | ReadAudit),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What an operator asks the RA to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// List the certificate profiles.
    ListProfiles,
    /// Submit a certificate request (the submitting officer verifies it).
    Submit,
    /// Record that a request's data was verified.
    Verify,
    /// Approve a verified request, which issues the certificate.
    Approve,
    /// Reject a request with a reason.
    Reject,
    /// List or read requests.
    ListRequests,
    /// Revoke a certificate.
    Revoke,
    /// Suspend a certificate (certificateHold).
    Hold,
    /// Lift a suspension.
    Release,
    /// Report a compromised key (with proof): revoke every certificate with it, block it.
    KeyCompromise,
    /// Read the audit log.
    ReadAudit,
}

impl Action {
    /// Every action, in a fixed order.
    pub const ALL: [Action; 11] = [
        Action::ListProfiles,
        Action::Submit,
        Action::Verify,
        Action::Approve,
        Action::Reject,
        Action::ListRequests,
        Action::Revoke,
        Action::Hold,
        Action::Release,
        Action::KeyCompromise,
        Action::ReadAudit,
    ];

    /// The name used in the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Action::ListProfiles => "list-profiles",
            Action::Submit => "request",
            Action::Verify => "verify",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::ListRequests => "list-requests",
            Action::Revoke => "revoke",
            Action::Hold => "suspend",
            Action::Release => "release",
            Action::KeyCompromise => "key-compromise",
            Action::ReadAudit => "read-audit",
        }
    }
}

/// One operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// Unique name (shown in the audit log).
    pub name: String,
    /// The role.
    pub role: Role,
    /// SHA-256 of the operator's client certificate (DER), lowercase hex.
    pub cert_sha256: String,
}

/// Why the operator registry cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a JSON array of operators.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
}

/// Operators by client-certificate fingerprint.
#[derive(Clone, Debug, Default)]
pub struct Operators {
    by_cert: HashMap<[u8; 32], Operator>,
}

impl Operators {
    /// Builds the registry; names and certificates must be unique.
    pub fn new(list: Vec<Operator>) -> Result<Self, String> {
        let mut by_cert = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for op in list {
            let bad = || format!("operator {:?}: cert_sha256 must be 64 hex digits", op.name);
            let bytes = hex::decode(&op.cert_sha256).map_err(|_| bad())?;
            let fp: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
            if op.name.is_empty() || op.name.len() > 64 {
                return Err(format!(
                    "operator name {:?} must be 1 to 64 characters",
                    op.name
                ));
            }
            if !names.insert(op.name.clone()) {
                return Err(format!("operator name {:?} appears twice", op.name));
            }
            if by_cert.insert(fp, op).is_some() {
                return Err("two operators share one client certificate".to_owned());
            }
        }
        Ok(Self { by_cert })
    }

    /// Loads a JSON array of [`Operator`]s.
    pub fn load(path: &Path) -> Result<Self, OperatorsError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| OperatorsError::Io {
            path: p.clone(),
            source,
        })?;
        let list: Vec<Operator> =
            serde_json::from_str(&text).map_err(|e| OperatorsError::Invalid {
                path: p.clone(),
                message: e.to_string(),
            })?;
        Self::new(list).map_err(|message| OperatorsError::Invalid { path: p, message })
    }

    /// The operator whose client certificate has this SHA-256.
    pub fn by_cert_sha256(&self, fingerprint: &[u8; 32]) -> Option<&Operator> {
        self.by_cert.get(fingerprint)
    }

    /// Number of operators.
    pub fn len(&self) -> usize {
        self.by_cert.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_cert.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_has_expected_shape() {
        // Only the RA head suspends and releases; only the auditor reads the audit log;
        // the auditor changes nothing; CA operators do not take part in registration.
        for action in Action::ALL {
            let allowed: Vec<Role> = Role::ALL.into_iter().filter(|r| r.may(action)).collect();
            match action {
                Action::Hold | Action::Release => assert_eq!(allowed, [Role::RaHead]),
                Action::ReadAudit => assert_eq!(allowed, [Role::Auditor]),
                Action::Approve => assert_eq!(allowed, [Role::RaHead]),
                Action::Submit | Action::Verify | Action::Reject => {
                    assert_eq!(allowed, [Role::Officer, Role::RaHead])
                }
                Action::Revoke | Action::KeyCompromise => {
                    assert_eq!(allowed, [Role::Officer, Role::RaHead, Role::CaOperator])
                }
                Action::ListProfiles | Action::ListRequests => assert_eq!(allowed.len(), 4),
            }
        }
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.name())
            );
        }
        assert_eq!(Role::from_name("root"), None);
    }

    #[test]
    fn registry_refuses_duplicates_and_bad_fingerprints() {
        let op = |name: &str, fp: &str| Operator {
            name: name.to_owned(),
            role: Role::Officer,
            cert_sha256: fp.to_owned(),
        };
        let a = "aa".repeat(32);
        let b = "bb".repeat(32);
        let ops = Operators::new(vec![op("alice", &a), op("bob", &b)]).unwrap();
        assert_eq!(ops.by_cert_sha256(&[0xaa; 32]).unwrap().name, "alice");
        assert!(ops.by_cert_sha256(&[0xcc; 32]).is_none());
        assert!(Operators::new(vec![op("alice", &a), op("alice", &b)]).is_err());
        assert!(Operators::new(vec![op("alice", &a), op("bob", &a)]).is_err());
        assert!(Operators::new(vec![op("alice", "abc")]).is_err());
    }
}

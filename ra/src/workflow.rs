//! The RA's workflows: request → verify → approve (two-person rule) → issue; rejection;
//! revocation by an operator, by the subscriber (revocation code) or by ACME; suspension
//! and release by the RA head with automatic revocation when the hold ends; key
//! compromise (revoke every certificate with the key and block it).
//!
//! Every method takes the [`Actor`] it acts for, checks the role, does the work, and
//! appends one audit record with the outcome (refusals included) before returning. A
//! life-cycle change is returned only once its event is durable in the revocation
//! stream, so OCSP is authoritative for it at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use revoca_ingest::{Accepted, Ingest, Rejection};
use revoca_issuer::{CertificationRequest, CompromisedKeys, KeyPolicy, Profile, spki_sha256};
use revoca_signer::Signer;
use revoca_status::{Event, EventKind, RevocationReason, Serial, TransitionError};
use serde::Serialize;

use crate::audit::{self, AuditEntry, AuditLog, Channel, Outcome};
use crate::certinfo::CertInfo;
use crate::roles::{Action, Operator, Role};
use crate::store::{CertEntry, RaStore, RequestRecord, RequestState, Step};

/// Longest accepted PEM/DER input (a CSR or a certificate), bytes.
pub const MAX_CERT_INPUT: usize = 16 * 1024;
/// Most subject fields in a request.
pub const MAX_SUBJECT_FIELDS: usize = 32;
/// Longest subject field name and value, characters.
pub const MAX_SUBJECT_FIELD_LEN: usize = 256;
/// PBKDF2 iterations for revocation codes.
const CODE_PBKDF2_ITERATIONS: u32 = 50_000;

/// An issuing CA the RA can issue from.
pub struct CaEntry {
    /// Name used in configuration, the API and the audit log (e.g. `ap`).
    pub name: String,
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// Its subject and key, for building certificates.
    pub info: revoca_issuer::IssuerInfo,
    /// Its notAfter, Unix seconds (issued certificates never outlive it).
    pub not_after: i64,
    /// SHA-256 of its subjectPublicKey bits: its id in the revocation stream.
    pub key_sha256: [u8; 32],
    /// The CA key.
    pub signer: Arc<dyn Signer>,
    /// Profiles this CA issues under.
    pub profiles: Vec<String>,
    /// Whether the CA allows suspension at all.
    pub allow_hold: bool,
    /// OCSP URL written into AIA.
    pub ocsp_url: String,
    /// caIssuers URL written into AIA.
    pub ca_issuers_url: String,
    /// Base URL of the CA's CRLs; the profile's partition name is appended.
    pub crl_base_url: String,
}

impl std::fmt::Debug for CaEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Workflow settings.
#[derive(Clone, Debug)]
pub struct RaSettings {
    /// Default suspension period before automatic revocation, days (default 30; FNMT AP).
    pub hold_days: u32,
    /// Longest per-case suspension period, days (default 365).
    pub max_hold_days: u32,
    /// Reason recorded when a hold ends without release (default `unspecified`, which
    /// CRLs and OCSP omit).
    pub hold_expiry_reason: RevocationReason,
}

impl Default for RaSettings {
    fn default() -> Self {
        Self {
            hold_days: 30,
            max_hold_days: 365,
            hold_expiry_reason: RevocationReason::Unspecified,
        }
    }
}

/// Who is acting, and through which channel.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Operator name, if authenticated as one.
    pub name: Option<String>,
    /// The operator's role, if any.
    pub role: Option<Role>,
    /// How the actor is identified in the audit log.
    pub audit_role: audit::Role,
    /// The channel.
    pub channel: Channel,
}

impl Actor {
    /// An authenticated operator on `channel`.
    pub fn operator(op: &Operator, channel: Channel) -> Self {
        Self {
            name: Some(op.name.clone()),
            role: Some(op.role),
            audit_role: audit_role(op.role),
            channel,
        }
    }

    /// A caller that presented no (known) operator credential.
    pub fn unauthenticated(channel: Channel, what: Option<String>) -> Self {
        Self {
            name: what,
            role: None,
            audit_role: audit::Role::Unauthenticated,
            channel,
        }
    }

    /// A subscriber proving control with a revocation code or the certificate's key.
    pub fn subscriber(channel: Channel) -> Self {
        Self {
            name: None,
            role: None,
            audit_role: if channel == Channel::Acme {
                audit::Role::Acme
            } else {
                audit::Role::Subscriber
            },
            channel,
        }
    }

    /// Revoca itself (e.g. hold expiry).
    pub fn system() -> Self {
        Self {
            name: None,
            role: None,
            audit_role: audit::Role::System,
            channel: Channel::System,
        }
    }
}

fn audit_role(role: Role) -> audit::Role {
    match role {
        Role::Officer => audit::Role::Officer,
        Role::RaHead => audit::Role::RaHead,
        Role::CaOperator => audit::Role::CaOperator,
        Role::Auditor => audit::Role::Auditor,
    }
}

fn audit_action(action: Action) -> audit::Action {
    match action {
        Action::ListProfiles => audit::Action::ListProfiles,
        Action::Submit => audit::Action::Request,
        Action::Verify => audit::Action::Verify,
        Action::Approve => audit::Action::Approve,
        Action::Reject => audit::Action::Reject,
        Action::ListRequests => audit::Action::ListRequests,
        Action::Revoke => audit::Action::Revoke,
        Action::Hold => audit::Action::Suspend,
        Action::Release => audit::Action::Release,
        Action::KeyCompromise => audit::Action::KeyCompromise,
        Action::ReadAudit => audit::Action::ReadAudit,
    }
}

/// How a refusal or failure maps onto the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is invalid (400).
    BadRequest,
    /// No valid operator credential (401).
    Unauthenticated,
    /// Not allowed for this actor (403).
    Forbidden,
    /// No such request or certificate (404).
    NotFound,
    /// Not possible in the current state (409).
    Conflict,
    /// A revocation reason not allowed here (400; ACME badRevocationReason).
    BadReason,
    /// Too many attempts at once (429).
    TooManyRequests,
    /// Revoca failed (500).
    Internal,
}

/// A refused or failed RA action; the message says what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RaError {
    /// The kind.
    pub kind: ErrorKind,
    /// What was wrong, for the caller.
    pub message: String,
}

impl RaError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The HTTP status for the API.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::BadReason => 400,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Internal => 500,
        }
    }

    fn outcome(&self) -> Outcome {
        match self.kind {
            ErrorKind::Internal => Outcome::Error,
            _ => Outcome::Refused,
        }
    }
}

impl From<crate::store::RaStoreError> for RaError {
    fn from(e: crate::store::RaStoreError) -> Self {
        RaError::internal(e.to_string())
    }
}

/// A profile as the API lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileSummary {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The CA that issues under it.
    pub issuer: String,
    /// Whether certificates under it may be suspended.
    pub suspension_allowed: bool,
    /// Allowed subject keys.
    pub keys: Vec<String>,
    /// Longest validity, days.
    pub max_validity_days: u64,
}

/// A certificate request as the API receives it.
#[derive(Clone, Debug)]
pub struct NewRequest {
    /// Profile name.
    pub profile: String,
    /// PKCS#10, PEM or DER.
    pub csr: Vec<u8>,
    /// Subject fields (names per profile).
    pub subject: BTreeMap<String, String>,
    /// Requested validity, days.
    pub validity_days: Option<u32>,
}

/// An issued certificate, as returned to the approver.
#[derive(Clone, Debug, Serialize)]
pub struct Issued {
    /// The request id.
    pub request: u64,
    /// The issuing CA.
    pub issuer: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// The certificate, PEM.
    pub certificate: String,
    /// The revocation code for the subscriber's revocation channel. Shown once; only a
    /// salted hash is kept.
    pub revocation_code: String,
}

/// The result of a life-cycle change.
#[derive(Clone, Debug, Serialize)]
pub struct Changed {
    /// The issuing CA.
    pub issuer: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// `changed` or `unchanged` (the certificate was already in that state).
    pub result: &'static str,
}

/// Which certificate an action is about.
#[derive(Clone, Debug)]
pub enum CertRef {
    /// The certificate itself (PEM or DER).
    Certificate(Vec<u8>),
    /// An issuing CA name and a serial in hex.
    Serial {
        /// CA name.
        issuer: String,
        /// Serial, hex.
        serial: String,
    },
}

/// The registration authority.
pub struct Ra {
    cas: Vec<CaEntry>,
    profiles: BTreeMap<String, Profile>,
    store: RaStore,
    ingest: Arc<Ingest>,
    audit: Arc<AuditLog>,
    blocked: RwLock<CompromisedKeys>,
    settings: RaSettings,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    // Serialises request state changes (approve/reject races) and hold bookkeeping.
    transitions: Mutex<()>,
    /// One revocation-code check at a time (each is a PBKDF2).
    code_checks: Mutex<()>,
    settle: Option<SettleHook>,
}

/// Called after a change is durable, to wait (bounded) until it is served, so that a
/// caller told "done" finds OCSP already answering the new status.
pub type SettleHook = Arc<dyn Fn(revoca_status::CertKey) + Send + Sync>;

impl std::fmt::Debug for Ra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ra")
            .field("cas", &self.cas)
            .finish_non_exhaustive()
    }
}

/// The certificate an action resolved to.
struct Resolved<'a> {
    ca: &'a CaEntry,
    serial: Serial,
    entry: Option<CertEntry>,
    /// The certificate as presented (DER and facts), when given in full.
    presented: Option<(Vec<u8>, CertInfo)>,
}

impl Ra {
    /// Wires the RA. Every profile a CA lists must exist.
    pub fn new(
        cas: Vec<CaEntry>,
        profiles: Vec<Profile>,
        store: RaStore,
        ingest: Arc<Ingest>,
        audit: Arc<AuditLog>,
        settings: RaSettings,
        clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> Result<Self, String> {
        let profiles: BTreeMap<String, Profile> =
            profiles.into_iter().map(|p| (p.name.clone(), p)).collect();
        for ca in &cas {
            for p in &ca.profiles {
                if !profiles.contains_key(p) {
                    return Err(format!("CA {:?} lists unknown profile {p:?}", ca.name));
                }
            }
        }
        let mut blocked = CompromisedKeys::new();
        for h in store.blocked_keys().map_err(|e| e.to_string())? {
            blocked.insert_hash(h);
        }
        Ok(Self {
            cas,
            profiles,
            store,
            ingest,
            audit,
            blocked: RwLock::new(blocked),
            settings,
            clock,
            transitions: Mutex::new(()),
            code_checks: Mutex::new(()),
            settle: None,
        })
    }

    /// Sets the hook run after each durable change (see [`SettleHook`]).
    pub fn with_settle(mut self, settle: SettleHook) -> Self {
        self.settle = Some(settle);
        self
    }

    fn settled(&self, accepted: &Accepted) {
        if let (Some(settle), Accepted::Changed(key)) = (&self.settle, accepted) {
            settle(*key);
        }
    }

    /// The current time, Unix seconds.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The audit log.
    pub fn audit_log(&self) -> &Arc<AuditLog> {
        &self.audit
    }

    fn record(
        &self,
        actor: &Actor,
        action: audit::Action,
        target: &str,
        outcome: Outcome,
        detail: &str,
    ) -> Result<(), RaError> {
        let mut entry = AuditEntry::new(actor.audit_role, actor.channel, action, outcome)
            .target(target)
            .detail(detail);
        if let Some(name) = &actor.name {
            entry = entry.actor(name.clone());
        }
        self.audit.append(entry).map(|_| ()).map_err(|e| {
            tracing::error!(error = %e, "audit log append failed");
            RaError::internal("the audit log could not be written")
        })
    }

    /// Checks that `actor` may perform `action`; a refusal is audited.
    pub fn authorize(&self, actor: &Actor, action: Action, target: &str) -> Result<(), RaError> {
        match self.role_check(actor, action) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.refused(actor, action, target, e)),
        }
    }

    /// Audits `e` as a refused (or failed) attempt at `action` and returns it.
    pub fn refused(&self, actor: &Actor, action: Action, target: &str, e: RaError) -> RaError {
        match self.record(actor, audit_action(action), target, e.outcome(), &e.message) {
            Ok(()) => e,
            Err(audit_failure) => audit_failure,
        }
    }

    fn role_check(&self, actor: &Actor, action: Action) -> Result<(), RaError> {
        match actor.role {
            Some(role) if role.may(action) => Ok(()),
            Some(role) => Err(RaError::forbidden(format!(
                "role {role} may not {}",
                action.name()
            ))),
            None => Err(RaError::new(
                ErrorKind::Unauthenticated,
                "this action needs an operator client certificate",
            )),
        }
    }

    /// Runs `f` as `action` for `actor`: checks the role, then audits the outcome.
    fn audited<T>(
        &self,
        actor: &Actor,
        action: Action,
        target: &str,
        f: impl FnOnce() -> Result<(T, String), RaError>,
    ) -> Result<T, RaError> {
        let result = self.role_check(actor, action).and_then(|()| f());
        self.finish(actor, audit_action(action), target, result)
    }

    fn finish<T>(
        &self,
        actor: &Actor,
        action: audit::Action,
        target: &str,
        result: Result<(T, String), RaError>,
    ) -> Result<T, RaError> {
        match result {
            Ok((value, detail)) => {
                self.record(actor, action, target, Outcome::Ok, &detail)?;
                Ok(value)
            }
            Err(e) => {
                self.record(actor, action, target, e.outcome(), &e.message)?;
                Err(e)
            }
        }
    }

    /// The profiles, with the CA issuing under each.
    pub fn profiles(&self, actor: &Actor) -> Result<Vec<ProfileSummary>, RaError> {
        self.audited(actor, Action::ListProfiles, "", || {
            let mut out = Vec::new();
            for ca in &self.cas {
                for name in &ca.profiles {
                    let p = &self.profiles[name];
                    out.push(ProfileSummary {
                        name: p.name.clone(),
                        description: p.description.clone(),
                        issuer: ca.name.clone(),
                        suspension_allowed: ca.allow_hold && p.suspension_allowed(),
                        keys: p.allowed_key_names().to_vec(),
                        max_validity_days: p.max_validity_secs() / 86_400,
                    });
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok((out, String::new()))
        })
    }

    fn profile_ca(&self, profile: &str) -> Option<(&Profile, &CaEntry)> {
        let p = self.profiles.get(profile)?;
        let ca = self
            .cas
            .iter()
            .find(|ca| ca.profiles.iter().any(|n| n == profile))?;
        Some((p, ca))
    }

    /// Checks a request against its profile and the key policy, without issuing.
    fn check_request(&self, req: &NewRequest) -> Result<CertificationRequest, RaError> {
        let (profile, ca) = self.profile_ca(&req.profile).ok_or_else(|| {
            RaError::bad(format!(
                "unknown profile {:?} (see `revoca ra profiles`)",
                req.profile
            ))
        })?;
        if req.csr.len() > MAX_CERT_INPUT {
            return Err(RaError::bad(format!(
                "the CSR is {} bytes; at most {MAX_CERT_INPUT} are accepted",
                req.csr.len()
            )));
        }
        if req.subject.len() > MAX_SUBJECT_FIELDS {
            return Err(RaError::bad(format!(
                "{} subject fields; at most {MAX_SUBJECT_FIELDS}",
                req.subject.len()
            )));
        }
        if let Some((k, _)) = req.subject.iter().find(|(k, v)| {
            k.chars().count() > MAX_SUBJECT_FIELD_LEN || v.chars().count() > MAX_SUBJECT_FIELD_LEN
        }) {
            return Err(RaError::bad(format!(
                "subject field {:?} is longer than {MAX_SUBJECT_FIELD_LEN} characters",
                truncate(k, 40)
            )));
        }
        let csr = CertificationRequest::from_pem_or_der(&req.csr)
            .map_err(|e| RaError::bad(format!("CSR: {e}")))?;
        let policy = KeyPolicy::from_names(profile.allowed_key_names())
            .map_err(|e| RaError::internal(format!("profile {}: {e}", profile.name)))?;
        policy
            .check(csr.spki_der())
            .map_err(|e| RaError::bad(format!("key refused by profile {}: {e}", profile.name)))?;
        self.check_not_blocked(csr.spki_der())?;
        // Build (unsigned) once now, so field errors surface at submission, not approval.
        let serial = revoca_issuer::Serial::random()
            .map_err(|e| RaError::internal(format!("serial: {e}")))?;
        self.build(profile, ca, &csr, req, serial)?;
        Ok(csr)
    }

    fn check_not_blocked(&self, spki_der: &[u8]) -> Result<(), RaError> {
        let blocked = self
            .blocked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if blocked.contains_spki(spki_der) {
            return Err(RaError::forbidden(
                "this public key is blocked (reported compromised); generate a new key",
            ));
        }
        Ok(())
    }

    fn build(
        &self,
        profile: &Profile,
        ca: &CaEntry,
        csr: &CertificationRequest,
        req: &NewRequest,
        serial: revoca_issuer::Serial,
    ) -> Result<revoca_issuer::CertificateBuilder, RaError> {
        let partition = profile.crl_partition(&serial);
        // Unpartitioned profiles point at the CA's full CRL.
        let file = if partition.is_empty() {
            FULL_CRL_FILE
        } else {
            partition.as_str()
        };
        let crl_url = format!("{}{file}", ca.crl_base_url);
        let common_name = csr.common_name();
        let input = revoca_issuer::IssueInput {
            subject: &req.subject,
            csr_common_name: common_name.as_deref(),
            csr_dns_names: csr.dns_names(),
            spki_der: csr.spki_der(),
            serial,
            issuer: &ca.info,
            issuer_not_after: ca.not_after,
            now_unix: self.now(),
            requested_validity_secs: req.validity_days.map(|d| u64::from(d) * 86_400),
            ocsp_url: &ca.ocsp_url,
            ca_issuers_url: &ca.ca_issuers_url,
            crl_url: &crl_url,
            precertificate: false,
        };
        profile
            .build(&input)
            .map_err(|e| RaError::bad(format!("profile {}: {e}", profile.name)))
    }

    /// Submits a request; the submitting operator is recorded as its verifier.
    pub fn submit(&self, actor: &Actor, req: NewRequest) -> Result<RequestRecord, RaError> {
        let target = format!("profile:{}", truncate(&req.profile, 64));
        self.audited(actor, Action::Submit, &target, || {
            let csr = self.check_request(&req)?;
            let record = RequestRecord {
                id: 0,
                profile: req.profile.clone(),
                subject: req.subject.clone(),
                csr_hex: hex::encode(csr.as_der()),
                validity_days: req.validity_days,
                state: RequestState::Verified,
                verified: self.step(actor),
                approved: None,
                rejected: None,
                certificate: None,
            };
            let id = self.store.insert_request(record.clone())?;
            let record = RequestRecord { id, ..record };
            Ok((record, format!("request {id} submitted and verified")))
        })
    }

    fn step(&self, actor: &Actor) -> Step {
        Step {
            operator: actor.name.clone().unwrap_or_default(),
            role: actor.role.unwrap_or(Role::Auditor),
            at: self.now(),
        }
    }

    fn pending(&self, id: u64) -> Result<RequestRecord, RaError> {
        let record = self
            .store
            .request(id)?
            .ok_or_else(|| RaError::not_found(format!("no request {id}")))?;
        match record.state {
            RequestState::Verified => Ok(record),
            RequestState::Issued => Err(RaError::conflict(format!(
                "request {id} was already approved and issued"
            ))),
            RequestState::Rejected => Err(RaError::conflict(format!("request {id} was rejected"))),
        }
    }

    /// Approves a verified request (by another operator than its verifier) and issues
    /// the certificate. The "issued" event is durable before this returns.
    pub fn approve(&self, actor: &Actor, id: u64) -> Result<Issued, RaError> {
        let target = format!("request:{id}");
        self.audited(actor, Action::Approve, &target, || {
            let _t = self.lock();
            let mut record = self.pending(id)?;
            if actor.name.as_deref() == Some(record.verified.operator.as_str()) {
                return Err(RaError::forbidden(format!(
                    "two-person rule: {} verified request {id} and cannot also approve it",
                    record.verified.operator
                )));
            }
            let issued = self.issue(actor, &mut record)?;
            Ok((issued, format!("request {id} approved")))
        })
    }

    fn issue(&self, actor: &Actor, record: &mut RequestRecord) -> Result<Issued, RaError> {
        let (profile, ca) = self
            .profile_ca(&record.profile)
            .ok_or_else(|| RaError::conflict(format!("profile {} is gone", record.profile)))?;
        let csr_der =
            hex::decode(&record.csr_hex).map_err(|_| RaError::internal("stored CSR is damaged"))?;
        let csr = CertificationRequest::from_der(&csr_der)
            .map_err(|e| RaError::internal(format!("stored CSR: {e}")))?;
        // The key may have been reported compromised since submission.
        self.check_not_blocked(csr.spki_der())?;
        let req = NewRequest {
            profile: record.profile.clone(),
            csr: csr_der,
            subject: record.subject.clone(),
            validity_days: record.validity_days,
        };
        let key_target = format!("ca:{}", ca.name);
        // A fresh serial collides with an assigned one with negligible probability; the
        // stream refuses a reused serial, so retry rather than trust luck.
        for _ in 0..3 {
            let serial = revoca_issuer::Serial::random()
                .map_err(|e| RaError::internal(format!("serial: {e}")))?;
            let builder = self.build(profile, ca, &csr, &req, serial)?;
            let cert_der = match builder.build(ca.signer.as_ref()) {
                Ok(der) => {
                    self.record(
                        actor,
                        audit::Action::KeyUse,
                        &key_target,
                        Outcome::Ok,
                        &format!("signed certificate for request {}", record.id),
                    )?;
                    der
                }
                Err(e) => {
                    self.record(
                        actor,
                        audit::Action::KeyUse,
                        &key_target,
                        Outcome::Error,
                        &e.to_string(),
                    )?;
                    return Err(RaError::internal(format!("signing failed: {e}")));
                }
            };
            let info = CertInfo::parse(&cert_der).map_err(RaError::internal)?;
            let status_serial = Serial::from_der_content(&info.serial_der)
                .map_err(|e| RaError::internal(format!("serial: {e}")))?;
            let spki_hash = spki_sha256(&info.spki_der);
            let event = Event {
                issuer_key_sha256: ca.key_sha256,
                serial: status_serial,
                at: self.now(),
                kind: EventKind::Issued {
                    not_after: info.not_after,
                    precertificate: false,
                    crl_partition: profile.crl_partition_index(&serial),
                    spki_sha256: Some(spki_hash),
                },
            };
            let code = new_revocation_code()?;
            let entry = CertEntry {
                issuer: ca.name.clone(),
                serial: status_serial.to_hex(),
                profile: profile.name.clone(),
                spki_sha256: hex::encode(spki_hash),
                not_after: info.not_after,
                cert_hex: hex::encode(&cert_der),
                revocation_code_hash: Some(hash_code(&code)?),
                hold_until: None,
            };
            // The certificate entry first, then the event, then the request: after a crash
            // at any point every certificate that may be in the stream is known to the RA
            // (revocation by code, key sweeps), and a request is never "issued" without
            // its certificate.
            self.store.put_cert(&entry)?;
            match self.submit_event(event)? {
                Ok(accepted) => self.settled(&accepted),
                Err(Rejection::Transition(TransitionError::SerialReused)) => continue,
                Err(e) => return Err(RaError::internal(format!("issued event refused: {e}"))),
            }
            record.state = RequestState::Issued;
            record.approved = Some(self.step(actor));
            record.certificate = Some(entry.key());
            self.store.update_request(record, None)?;
            // The certificate exists now; losing its revocation code because the audit
            // record failed would be worse than a log line (the failure is logged, and the
            // approve record still follows).
            let _ = self.record(
                actor,
                audit::Action::Issue,
                &entry.key(),
                Outcome::Ok,
                &format!("request {} profile {}", record.id, profile.name),
            );
            return Ok(Issued {
                request: record.id,
                issuer: ca.name.clone(),
                serial: entry.serial,
                certificate: revoca_issuer::pem_encode("CERTIFICATE", &cert_der),
                revocation_code: code,
            });
        }
        Err(RaError::internal("could not find an unused serial"))
    }

    /// Rejects a pending request with a reason.
    pub fn reject(&self, actor: &Actor, id: u64, reason: &str) -> Result<RequestRecord, RaError> {
        let target = format!("request:{id}");
        self.audited(actor, Action::Reject, &target, || {
            let reason = reason.trim();
            if reason.is_empty() || reason.chars().count() > 512 {
                return Err(RaError::bad(
                    "a rejection needs a reason of 1 to 512 characters",
                ));
            }
            let _t = self.lock();
            let mut record = self.pending(id)?;
            record.state = RequestState::Rejected;
            record.rejected = Some((self.step(actor), reason.to_owned()));
            self.store.update_request(&record, None)?;
            Ok((record, format!("rejected: {}", truncate(reason, 200))))
        })
    }

    /// The most recent requests.
    pub fn list(&self, actor: &Actor, limit: usize) -> Result<Vec<RequestRecord>, RaError> {
        self.audited(actor, Action::ListRequests, "", || {
            Ok((self.store.requests(limit.min(1000))?, String::new()))
        })
    }

    /// One request.
    pub fn request(&self, actor: &Actor, id: u64) -> Result<RequestRecord, RaError> {
        self.audited(
            actor,
            Action::ListRequests,
            &format!("request:{id}"),
            || {
                let record = self
                    .store
                    .request(id)?
                    .ok_or_else(|| RaError::not_found(format!("no request {id}")))?;
                Ok((record, String::new()))
            },
        )
    }

    /// The most recent audit records (auditors only).
    pub fn read_audit(
        &self,
        actor: &Actor,
        limit: usize,
    ) -> Result<Vec<audit::AuditRecord>, RaError> {
        self.audited(actor, Action::ReadAudit, "", || {
            let mut all = audit::read_all(self.audit.dir())
                .map_err(|e| RaError::internal(format!("audit log: {e}")))?;
            let keep = all.len().saturating_sub(limit.min(10_000));
            Ok((all.split_off(keep), String::new()))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.transitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn submit_event(&self, event: Event) -> Result<Result<Accepted, Rejection>, RaError> {
        let mut results = self
            .ingest
            .submit(&[event])
            .map_err(|e| RaError::internal(format!("revocation stream: {e}")))?;
        results
            .pop()
            .ok_or_else(|| RaError::internal("revocation stream returned no result"))
    }

    /// Finds the CA and serial of a certificate reference, and the RA's entry for it.
    /// A certificate given in full must carry a valid signature of one of the RA's CAs.
    /// Nothing is written: callers [`Ra::remember`] it only once authorised.
    fn resolve(&self, cert: &CertRef) -> Result<Resolved<'_>, RaError> {
        match cert {
            CertRef::Certificate(bytes) => {
                if bytes.len() > MAX_CERT_INPUT {
                    return Err(RaError::bad(format!(
                        "the certificate is {} bytes; at most {MAX_CERT_INPUT} are accepted",
                        bytes.len()
                    )));
                }
                let der = crate::certinfo::pem_or_der_certificate(bytes).map_err(RaError::bad)?;
                let info = CertInfo::parse(&der).map_err(RaError::bad)?;
                let ca = self
                    .cas
                    .iter()
                    .find(|ca| info.issued_by(&ca.cert_der))
                    .ok_or_else(|| {
                        RaError::not_found("the certificate was not issued by any CA of this RA")
                    })?;
                let serial = Serial::from_der_content(&info.serial_der)
                    .map_err(|e| RaError::bad(format!("serial: {e}")))?;
                let entry = self.store.cert(&ca.name, &serial.to_hex())?;
                Ok(Resolved {
                    ca,
                    serial,
                    entry,
                    presented: Some((der, info)),
                })
            }
            CertRef::Serial { issuer, serial } => {
                let ca = self
                    .cas
                    .iter()
                    .find(|ca| &ca.name == issuer)
                    .ok_or_else(|| RaError::not_found(format!("no CA named {issuer:?}")))?;
                let serial = Serial::from_hex(serial)
                    .map_err(|e| RaError::bad(format!("serial {serial:?}: {e}")))?;
                let entry = self.store.cert(&ca.name, &serial.to_hex())?;
                Ok(Resolved {
                    ca,
                    serial,
                    entry,
                    presented: None,
                })
            }
        }
    }

    /// The RA's entry for a resolved certificate, created if it was issued outside the RA
    /// (e.g. the demo's samples), so that holds expire and key sweeps find it. Call only
    /// after the action was authorised and applied.
    fn remember(&self, r: &Resolved<'_>) -> Result<CertEntry, RaError> {
        if let Some(e) = self.store.cert(&r.ca.name, &r.serial.to_hex())? {
            return Ok(e);
        }
        let (cert_hex, spki_hex, not_after) = match &r.presented {
            Some((der, info)) => (
                hex::encode(der),
                hex::encode(spki_sha256(&info.spki_der)),
                info.not_after,
            ),
            None => (String::new(), String::new(), 0),
        };
        let e = CertEntry {
            issuer: r.ca.name.clone(),
            serial: r.serial.to_hex(),
            profile: String::new(),
            spki_sha256: spki_hex,
            not_after,
            cert_hex,
            revocation_code_hash: None,
            hold_until: None,
        };
        self.store.put_cert(&e)?;
        Ok(e)
    }

    fn target(r: &Resolved<'_>) -> String {
        format!("{}/{}", r.ca.name, r.serial.to_hex())
    }

    fn apply(&self, r: &Resolved<'_>, kind: EventKind) -> Result<Changed, RaError> {
        let event = Event {
            issuer_key_sha256: r.ca.key_sha256,
            serial: r.serial,
            at: self.now(),
            kind,
        };
        let accepted = self.submit_event(event)?;
        if let Ok(a) = &accepted {
            self.settled(a);
        }
        let result = match accepted {
            Ok(Accepted::Changed(_)) => "changed",
            Ok(Accepted::Unchanged(_)) => "unchanged",
            Err(Rejection::UnknownIssuer) => {
                return Err(RaError::internal(
                    "the CA is not known to the revocation stream",
                ));
            }
            Err(Rejection::Transition(TransitionError::NotIssued)) => {
                return Err(RaError::not_found(format!(
                    "no certificate with serial {} was issued by {}",
                    r.serial.to_hex(),
                    r.ca.name
                )));
            }
            Err(Rejection::Transition(e)) => return Err(RaError::conflict(e.to_string())),
        };
        Ok(Changed {
            issuer: r.ca.name.clone(),
            serial: r.serial.to_hex(),
            result,
        })
    }

    /// The profile governing a certificate: its own if issued through the RA.
    fn profile_of(&self, r: &Resolved<'_>) -> Option<&Profile> {
        r.entry.as_ref().and_then(|e| self.profiles.get(&e.profile))
    }

    /// Checks a revocation reason: never hold/removeFromCRL; the certificate's profile
    /// decides, or, for a certificate issued outside the RA, every profile of its CA must
    /// allow the reason (the strictest rule, e.g. the BR set on a TLS CA).
    fn check_reason(&self, r: &Resolved<'_>, reason: RevocationReason) -> Result<(), RaError> {
        if reason == RevocationReason::CertificateHold {
            return Err(RaError::new(
                ErrorKind::BadReason,
                "certificateHold is a suspension: use hold",
            ));
        }
        if reason == RevocationReason::RemoveFromCrl {
            return Err(RaError::new(
                ErrorKind::BadReason,
                "removeFromCRL is not a revocation reason: use release",
            ));
        }
        let refusing = match self.profile_of(r) {
            Some(p) => (!p.allowed_reasons().contains(&reason)).then_some(p),
            None => {
                r.ca.profiles
                    .iter()
                    .filter_map(|n| self.profiles.get(n))
                    .find(|p| !p.allowed_reasons().contains(&reason))
            }
        };
        match refusing {
            Some(p) => Err(RaError::new(
                ErrorKind::BadReason,
                format!("reason {reason} is not allowed for profile {}", p.name),
            )),
            None => Ok(()),
        }
    }

    fn check_invalidity_date(&self, date: Option<i64>) -> Result<(), RaError> {
        match date {
            // A few minutes of clock skew between the reporter and the CA are tolerated.
            Some(d) if d > self.now() + 300 => {
                Err(RaError::bad("invalidity_date is in the future"))
            }
            Some(d) if d < 0 => Err(RaError::bad("invalidity_date is before 1970")),
            _ => Ok(()),
        }
    }

    /// Revokes a certificate at once (operators). keyCompromise also revokes every other
    /// certificate with the key and blocks it.
    pub fn revoke(
        &self,
        actor: &Actor,
        cert: &CertRef,
        reason: RevocationReason,
        invalidity_date: Option<i64>,
    ) -> Result<Changed, RaError> {
        let resolved = self.resolve(cert);
        let target = resolved.as_ref().map(Self::target).unwrap_or_default();
        self.audited(actor, Action::Revoke, &target, || {
            let r = resolved?;
            self.check_reason(&r, reason)?;
            self.check_invalidity_date(invalidity_date)?;
            let _t = self.lock();
            let changed = self.revoke_locked(&r, reason, invalidity_date)?;
            let mut detail = format!("reason {reason}");
            if reason == RevocationReason::KeyCompromise {
                let entry = self.remember(&r)?;
                if let Ok(Ok(spki)) = hex::decode(&entry.spki_sha256).map(<[u8; 32]>::try_from) {
                    let swept = self.sweep_locked(&spki)?;
                    detail.push_str(&format!(
                        "; key blocked, {} other certificate(s) revoked",
                        swept.changed.len()
                    ));
                }
            }
            Ok((changed, detail))
        })
    }

    /// Revokes and clears any hold; the caller holds the transitions lock.
    fn revoke_locked(
        &self,
        r: &Resolved<'_>,
        reason: RevocationReason,
        invalidity_date: Option<i64>,
    ) -> Result<Changed, RaError> {
        let changed = self.apply(
            r,
            EventKind::Revoked {
                reason,
                invalidity_date,
            },
        )?;
        self.clear_hold_locked(&r.ca.name, &r.serial.to_hex())?;
        Ok(changed)
    }

    fn clear_hold_locked(&self, issuer: &str, serial_hex: &str) -> Result<(), RaError> {
        if let Some(mut e) = self.store.cert(issuer, serial_hex)?
            && e.hold_until.is_some()
        {
            e.hold_until = None;
            self.store.put_cert(&e)?;
        }
        Ok(())
    }

    /// Suspends a certificate (RA head; only where the CA and the profile allow it).
    /// It is revoked automatically after `hold_days` (default from settings) unless
    /// released.
    pub fn hold(
        &self,
        actor: &Actor,
        cert: &CertRef,
        hold_days: Option<u32>,
    ) -> Result<Changed, RaError> {
        let resolved = self.resolve(cert);
        let target = resolved.as_ref().map(Self::target).unwrap_or_default();
        self.audited(actor, Action::Hold, &target, || {
            let r = resolved?;
            let days = hold_days.unwrap_or(self.settings.hold_days);
            if days == 0 || days > self.settings.max_hold_days {
                return Err(RaError::bad(format!(
                    "hold period must be 1 to {} days",
                    self.settings.max_hold_days
                )));
            }
            if !r.ca.allow_hold {
                return Err(RaError::forbidden(format!(
                    "CA {} does not allow suspension",
                    r.ca.name
                )));
            }
            if let Some(profile) = self.profile_of(&r)
                && !profile.suspension_allowed()
            {
                return Err(RaError::forbidden(format!(
                    "profile {} does not allow suspension",
                    profile.name
                )));
            }
            // Event and bookkeeping under one lock: a concurrent release or expiry sees
            // both or neither.
            let _t = self.lock();
            let changed = self.apply(&r, EventKind::Held)?;
            let mut entry = self.remember(&r)?;
            entry.hold_until = Some(self.now() + i64::from(days) * 86_400);
            self.store.put_cert(&entry)?;
            Ok((changed, format!("on hold for {days} days")))
        })
    }

    /// Lifts a suspension (RA head).
    pub fn release(&self, actor: &Actor, cert: &CertRef) -> Result<Changed, RaError> {
        let resolved = self.resolve(cert);
        let target = resolved.as_ref().map(Self::target).unwrap_or_default();
        self.audited(actor, Action::Release, &target, || {
            let r = resolved?;
            let _t = self.lock();
            let changed = self.apply(&r, EventKind::Released)?;
            self.clear_hold_locked(&r.ca.name, &r.serial.to_hex())?;
            Ok((changed, String::new()))
        })
    }

    /// Revokes every certificate whose hold ended without release. Returns how many.
    pub fn expire_holds(&self) -> Result<usize, RaError> {
        let now = self.now();
        let due = self.store.expired_holds(now)?;
        let actor = Actor::system();
        let reason = self.settings.hold_expiry_reason;
        let mut revoked = 0;
        for candidate in due {
            let _t = self.lock();
            // Re-read under the lock: a release may have cleared the hold meanwhile.
            let Some(entry) = self.store.cert(&candidate.issuer, &candidate.serial)? else {
                continue;
            };
            if entry.hold_until.is_none_or(|t| t > now) {
                continue;
            }
            let target = entry.key();
            let result = self
                .resolve(&CertRef::Serial {
                    issuer: entry.issuer.clone(),
                    serial: entry.serial.clone(),
                })
                .and_then(|r| self.revoke_locked(&r, reason, None));
            let result = match result {
                Ok(c) => Ok((c, "hold period ended without release".to_owned())),
                Err(e) => {
                    // Already revoked, released elsewhere, or unknown: the hold is over
                    // either way; stop retrying it.
                    if matches!(e.kind, ErrorKind::Conflict | ErrorKind::NotFound) {
                        self.clear_hold_locked(&entry.issuer, &entry.serial)?;
                    }
                    Err(e)
                }
            };
            if self
                .finish(&actor, audit::Action::HoldExpiry, &target, result)
                .is_ok()
            {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// Revocation by the subscriber with the revocation code handed out at issuance.
    pub fn subscriber_revoke(
        &self,
        cert: &CertRef,
        code: &str,
        reason: RevocationReason,
    ) -> Result<Changed, RaError> {
        let actor = Actor::subscriber(Channel::Subscriber);
        let resolved = self.resolve(cert);
        let target = resolved.as_ref().map(Self::target).unwrap_or_default();
        let result = resolved.and_then(|r| {
            let stored = r
                .entry
                .as_ref()
                .and_then(|e| e.revocation_code_hash.as_deref())
                .ok_or_else(|| {
                    RaError::forbidden("this certificate has no revocation code; ask the RA")
                })?;
            // Each check costs a PBKDF2: one at a time, so guessing cannot starve the
            // responder sharing these cores.
            let Ok(_one) = self.code_checks.try_lock() else {
                return Err(RaError::new(
                    ErrorKind::TooManyRequests,
                    "another revocation-code check is running; retry in a moment",
                ));
            };
            if code.len() > 128 || !verify_code(code, stored) {
                return Err(RaError::forbidden("wrong revocation code"));
            }
            self.check_reason(&r, reason)?;
            let _t = self.lock();
            let changed = self.revoke_locked(&r, reason, None)?;
            let mut detail = format!("reason {reason}, revocation code");
            if reason == RevocationReason::KeyCompromise
                && let Some((_, info)) = &r.presented
            {
                let swept = self.sweep_locked(&spki_sha256(&info.spki_der))?;
                detail.push_str(&format!("; key blocked, {} swept", swept.changed.len()));
            }
            Ok((changed, detail))
        });
        self.finish(&actor, audit::Action::Revoke, &target, result)
    }

    /// Revocation requested over ACME, already authenticated by the certificate's own
    /// key (the JWS) and by the CA's signature on the certificate ([`Ra::resolve`]).
    /// keyCompromise also revokes every other certificate with the key and blocks it,
    /// even when this one was already revoked.
    pub fn acme_revoke(
        &self,
        request: &crate::acme::RevocationRequest,
        reason: RevocationReason,
    ) -> Result<Vec<Changed>, RaError> {
        let actor = Actor::subscriber(Channel::Acme);
        let cert = CertRef::Certificate(request.certificate_der.clone());
        let resolved = self.resolve(&cert);
        let target = resolved.as_ref().map(Self::target).unwrap_or_default();
        let result = resolved.and_then(|r| {
            self.check_reason(&r, reason)?;
            let _t = self.lock();
            let first = self.revoke_locked(&r, reason, None);
            let mut out = Vec::new();
            let mut detail = format!("reason {reason}, signed by the certificate key");
            if reason == RevocationReason::KeyCompromise {
                self.remember(&r)?;
                let swept = self.sweep_locked(&spki_sha256(&request.jwk_spki_der))?;
                detail.push_str(&format!("; key blocked, {} swept", swept.changed.len()));
                out.extend(swept.changed);
            }
            let first = match first {
                Ok(c) if c.result == "unchanged" => {
                    Err(RaError::conflict("the certificate is already revoked"))
                }
                Err(e) if e.kind == ErrorKind::Conflict => Err(RaError::conflict(format!(
                    "the certificate is already revoked: {e}"
                ))),
                other => other,
            }?;
            out.insert(0, first);
            Ok((out, detail))
        });
        self.finish(&actor, audit::Action::Revoke, &target, result)
    }

    /// Key compromise with proof of possession: `proof` is a PKCS#10 request signed by
    /// the compromised key whose subject common name is [`KEY_COMPROMISE_CN`] (so that
    /// an old issuance request cannot be replayed as a statement). Revokes every known
    /// certificate with that key (reason keyCompromise), including `extra_cert` if given,
    /// and blocks the key. `actor` may be an operator or a subscriber: the proof is what
    /// authorises it.
    pub fn key_compromise(
        &self,
        actor: &Actor,
        proof: &[u8],
        extra_cert: Option<&CertRef>,
    ) -> Result<Vec<Changed>, RaError> {
        let csr = CertificationRequest::from_pem_or_der(proof).map_err(|e| {
            RaError::bad(format!(
                "proof of possession (a CSR signed by the key): {e}"
            ))
        });
        // The audit names the key the proof is about (not the proof's bytes).
        let target = csr.as_ref().map_or_else(
            |_| String::new(),
            |c| format!("key:{}", hex::encode(&spki_sha256(c.spki_der())[..8])),
        );
        let result = (|| {
            if actor.role.is_some_and(|r| !r.may(Action::KeyCompromise)) {
                return Err(RaError::forbidden(
                    "this role may not report key compromise",
                ));
            }
            let csr = csr?;
            if !csr
                .common_name()
                .is_some_and(|cn| cn.trim().eq_ignore_ascii_case(KEY_COMPROMISE_CN))
            {
                return Err(RaError::bad(format!(
                    "the proof must be a CSR signed by the key with subject CN={KEY_COMPROMISE_CN:?}"
                )));
            }
            let spki = spki_sha256(csr.spki_der());
            let _t = self.lock();
            if let Some(cert) = extra_cert {
                let r = self.resolve(cert)?;
                let same = r
                    .presented
                    .as_ref()
                    .is_some_and(|(_, info)| spki_sha256(&info.spki_der) == spki);
                if !same {
                    return Err(RaError::bad(
                        "the certificate's key is not the key of the proof",
                    ));
                }
                self.remember(&r)?;
            }
            let swept = self.sweep_locked(&spki)?;
            let detail = format!(
                "key blocked; {} certificate(s) revoked, {} failed",
                swept.changed.len(),
                swept.failed
            );
            Ok((swept.changed, detail))
        })();
        self.finish(actor, audit::Action::KeyCompromise, &target, result)
    }

    /// Blocks the key and revokes (or re-reasons to keyCompromise) every certificate the
    /// RA knows with it. One failure does not stop the others. Caller holds the lock.
    fn sweep_locked(&self, spki_sha256: &[u8; 32]) -> Result<Swept, RaError> {
        self.store.block_key(spki_sha256, self.now())?;
        self.blocked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert_hash(*spki_sha256);
        let mut swept = Swept::default();
        for entry in self.store.certs_with_key(spki_sha256)? {
            let outcome = self
                .resolve(&CertRef::Serial {
                    issuer: entry.issuer.clone(),
                    serial: entry.serial.clone(),
                })
                .and_then(|r| {
                    match self.revoke_locked(&r, RevocationReason::KeyCompromise, None) {
                        // Already revoked for another reason: it becomes keyCompromise.
                        Err(e) if e.kind == ErrorKind::Conflict => self.apply(
                            &r,
                            EventKind::ReasonUpdated {
                                reason: RevocationReason::KeyCompromise,
                                invalidity_date: None,
                            },
                        ),
                        other => other,
                    }
                });
            match outcome {
                Ok(c) if c.result == "changed" => swept.changed.push(c),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(certificate = %entry.key(), error = %e, "key sweep: not revoked");
                    swept.failed += 1;
                }
            }
        }
        Ok(swept)
    }
}

/// What a key sweep did.
#[derive(Default)]
struct Swept {
    changed: Vec<Changed>,
    failed: usize,
}

/// File name of a CA's full (unpartitioned) CRL under its CRL base URL.
pub const FULL_CRL_FILE: &str = "full.crl";

/// The subject common name a key-compromise proof CSR must carry.
pub const KEY_COMPROMISE_CN: &str = "key compromise";

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// A new revocation code: 20 hex digits in groups of 4 (80 bits from the OS CSPRNG).
fn new_revocation_code() -> Result<String, RaError> {
    let mut bytes = [0u8; 10];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RaError::internal("random source failed"))?;
    let hex = hex::encode_upper(bytes);
    Ok(hex
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-"))
}

fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn pbkdf2_iterations() -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(CODE_PBKDF2_ITERATIONS).expect("non-zero")
}

fn hash_code(code: &str) -> Result<String, RaError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| RaError::internal("random source failed"))?;
    let mut out = [0u8; 32];
    aws_lc_rs::pbkdf2::derive(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
        pbkdf2_iterations(),
        &salt,
        normalise_code(code).as_bytes(),
        &mut out,
    );
    Ok(format!("{}${}", hex::encode(salt), hex::encode(out)))
}

fn verify_code(code: &str, stored: &str) -> bool {
    let Some((salt, hash)) = stored.split_once('$') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (hex::decode(salt), hex::decode(hash)) else {
        return false;
    };
    aws_lc_rs::pbkdf2::verify(
        aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
        pbkdf2_iterations(),
        &salt,
        normalise_code(code).as_bytes(),
        &hash,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_codes_verify_and_tolerate_formatting() {
        let code = new_revocation_code().unwrap();
        assert_eq!(code.len(), 24);
        let stored = hash_code(&code).unwrap();
        assert!(verify_code(&code, &stored));
        assert!(verify_code(&code.to_lowercase().replace('-', " "), &stored));
        assert!(!verify_code("0000-0000-0000-0000-0000", &stored));
        assert!(!verify_code(&code, "garbage"));
        assert!(!stored.contains(&normalise_code(&code)));
    }
}

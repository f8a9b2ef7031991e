//! The append-only, hash-chained audit log.
//!
//! Every attempt, successful or not, to request, verify, approve, reject, issue, revoke, suspend,
//! release, sign a CRL or otherwise use a CA key is appended here with the actor, role, channel,
//! time and outcome ([`AuditLog::append`]). [`verify`] (behind `revoca audit verify`) detects any
//! modified, removed, duplicated or reordered record, and a truncated tail.
//!
//! # Secrets never enter the log
//!
//! The log is written in clear and handed to auditors. Callers must never put a secret in any
//! field: no PIN, no private key or key share, no revocation code (nor a hash of one short enough
//! to brute-force), no password or bearer token. Name the thing instead ("revocation code
//! accepted", "PIN file /etc/revoca/pin read"). Request ids, certificate serials, subject names
//! and key fingerprints are not secrets and belong in `target` / `detail`.
//!
//! # Durability
//!
//! [`AuditLog::append`] returns only after the record line has been written and `fsync`ed, and
//! after `audit.head` has been replaced atomically (write to a temporary file, `fsync`, rename,
//! `fsync` the directory). An action must be acknowledged to its requester only after its audit
//! record was appended. If any write fails the handle refuses every further append
//! ([`AuditError::Poisoned`]) until the log is reopened, so the RA fails closed.
//!
//! One process at a time may hold a log open for appending: [`AuditLog::open`] takes an exclusive
//! advisory lock on `audit.log`. [`verify`] takes no lock and may run while the log is appended.
//!
//! # File format (version 1)
//!
//! A log directory holds two files.
//!
//! **`audit.log`** is UTF-8 text, one record per line, every line terminated by a single `\n`
//! (0x0A), no blank lines. Each line is a JSON object (RFC 8259) without insignificant whitespace
//! whose members appear in exactly this order:
//!
//! | member    | JSON type       | content |
//! |-----------|-----------------|---------|
//! | `seq`     | number          | 0 for the first record, then +1 per record (the line number minus one) |
//! | `time`    | string          | UTC time of the append, `YYYY-MM-DDTHH:MM:SS.ffffffZ` (exactly six fractional digits) |
//! | `actor`   | string or null  | who acted (certificate subject, account, ACME account URL); null when unknown or the system; ≤ 128 characters |
//! | `role`    | string          | one of [`Role`]: `officer`, `ra-head`, `ca-operator`, `auditor`, `subscriber`, `acme`, `system`, `unauthenticated` |
//! | `channel` | string          | one of [`Channel`]: `ra-api`, `cli`, `acme`, `subscriber`, `system` |
//! | `action`  | string          | one of [`Action`], e.g. `request`, `approve`, `issue`, `revoke`, `crl-sign`, `key-use` |
//! | `target`  | string          | what was acted on (request id, `issuer:serial`, key label); ≤ 256 characters, may be empty |
//! | `outcome` | string          | one of [`Outcome`]: `ok`, `refused`, `error` |
//! | `detail`  | string          | short free text (reason, error); ≤ 512 characters, may be empty |
//! | `prev`    | string          | `hash` of the previous record; 64 `0` characters for seq 0 |
//! | `hash`    | string          | 64 lowercase hexadecimal digits, defined below |
//!
//! Strings are encoded as `serde_json` writes them: every character appears literally as UTF-8
//! except `"` and `\`, written `\"` and `\\`. Control characters (and the invisible
//! bidirectional and zero-width format characters) are removed from the text fields before a
//! record is written, with tab, CR, LF and the Unicode line separators turned into a space, so no
//! other escape can occur; a text field longer than its limit is cut and ends with `…`.
//!
//! **Canonical bytes and hash.** Let `L` be a line without its final `\n`. `L` always ends with
//! the 75 bytes `,"hash":"` + 64 hex digits + `"}`. The canonical bytes `C` of the record are `L`
//! with those 75 bytes replaced by the single byte `}`: the same JSON object without its `hash`
//! member. Then `hash = lowercase_hex(SHA-256(C))`. A record line is valid only if it is exactly
//! the serialization above of the values it holds (so no member can be added, repeated, moved or
//! re-escaped without detection).
//!
//! **`audit.head`** is one line, `{"records":N,"last_hash":"<64 hex>"}` + `\n`: the number of
//! acknowledged records and the `hash` of the last of them (64 `0` when `N` is 0). It is
//! replaced atomically after every append, so a log that lost acknowledged records at its end
//! no longer reaches the head.
//!
//! **Verification.** For line `i` (1-based): `seq = i - 1`, `prev` = the previous line's `hash`
//! (64 `0` for line 1), and `hash` recomputed as above. The head must name a record of the log:
//! `records ≤` the number of lines and, when `records > 0`, line `records` has hash `last_hash`.
//! The log may run ahead of the head (a crash between the log `fsync` and the head rename, or a
//! verifier racing an append); [`AuditLog::open`] then moves the head forward. A final line
//! without `\n` was never acknowledged (a crash in the middle of a write): [`verify`] reports its
//! size and [`AuditLog::open`] removes it.
//!
//! An independent check, for example in Python:
//!
//! ```text
//! import hashlib, json
//! prev = "0" * 64
//! for i, line in enumerate(open("audit.log", "rb")):
//!     assert line.endswith(b"\n"); L = line[:-1]
//!     r = json.loads(L)
//!     assert r["seq"] == i and r["prev"] == prev
//!     assert hashlib.sha256(L[:-75] + b"}").hexdigest() == r["hash"] == L[-66:-2].decode()
//!     prev = r["hash"]
//! head = json.load(open("audit.head"))
//! assert head["records"] <= i + 1   # and line head["records"] has hash head["last_hash"]
//! ```
//!
//! # What the chain does and does not prove
//!
//! The chain and the head detect any edit, removal, duplication or reordering of records, and the
//! loss of acknowledged records at the end. The chain has no key: someone able to rewrite both
//! files can recompute a consistent forgery. Auditors therefore note the `records` and
//! `last_hash` of each review ([`VerifyReport::checkpoint`]) and later check that the log still
//! extends it ([`verify_against`]); exporting records to a separate system (syslog, WORM storage)
//! serves the same purpose.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// File name of the record log inside the audit directory.
pub const LOG_FILE: &str = "audit.log";
/// File name of the head (count and hash of the acknowledged records) inside the audit directory.
pub const HEAD_FILE: &str = "audit.head";
/// Temporary file the head is written to before it is renamed over [`HEAD_FILE`].
const HEAD_TMP_FILE: &str = "audit.head.tmp";
/// `prev` of the first record, and `last_hash` of a head with no records.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Longest `actor`, in characters.
pub const MAX_ACTOR_CHARS: usize = 128;
/// Longest `target`, in characters.
pub const MAX_TARGET_CHARS: usize = 256;
/// Longest `detail`, in characters.
pub const MAX_DETAIL_CHARS: usize = 512;
/// Longest line accepted when reading (a written line stays under 8 KiB).
const MAX_LINE_BYTES: usize = 16 * 1024;
/// Length of the `,"hash":"<64 hex>"}` suffix of every line.
const HASH_SUFFIX_LEN: usize = 75;
/// Prefix of that suffix.
const HASH_MEMBER: &[u8] = b",\"hash\":\"";

/// Who acted, by RA role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Registration officer: records and verifies requests.
    Officer,
    /// RA head / approver: approves or rejects verified requests.
    RaHead,
    /// CA operator: issues, revokes, suspends, releases, manages keys.
    CaOperator,
    /// Auditor: reads the audit log.
    Auditor,
    /// A subscriber acting on their own certificate.
    Subscriber,
    /// An ACME client (RFC 8555 `revokeCert`).
    Acme,
    /// Revoca itself (scheduled jobs, start-up, hold expiry).
    System,
    /// A caller whose authentication failed or was absent.
    Unauthenticated,
}

/// The way an action reached Revoca.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// The RA intake HTTPS API (client-certificate authenticated).
    RaApi,
    /// The `revoca` command line.
    Cli,
    /// The ACME endpoint.
    Acme,
    /// The subscriber-facing revocation endpoint.
    Subscriber,
    /// Internal: schedulers, start-up, shutdown.
    System,
}

/// What was attempted: the audit event catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// A certificate request was submitted.
    Request,
    /// A registration officer verified a request (identity, documents, domain control).
    Verify,
    /// A verified request was approved.
    Approve,
    /// A request was rejected.
    Reject,
    /// A certificate was issued (or issuance was attempted).
    Issue,
    /// A certificate was revoked.
    Revoke,
    /// A certificate was suspended (put on hold).
    Suspend,
    /// A suspension was lifted.
    Release,
    /// A key compromise was reported (the key joins the block list).
    KeyCompromise,
    /// A suspension reached its maximum duration and was resolved by the system.
    HoldExpiry,
    /// A CRL was signed.
    CrlSign,
    /// Any other use of a CA key (e.g. signing an OCSP responder certificate).
    KeyUse,
    /// A CA key was generated.
    KeyGenerate,
    /// A CA key was activated.
    KeyActivate,
    /// A CA key was deactivated or retired.
    KeyDeactivate,
    /// An authentication attempt.
    Login,
    /// A session ended.
    Logout,
    /// An RA user or role assignment was created.
    UserCreate,
    /// An RA user or role assignment was changed.
    UserModify,
    /// An RA user or role assignment was removed.
    UserDelete,
    /// Configuration was changed or reloaded.
    ConfigChange,
    /// Revoca started.
    Start,
    /// Revoca stopped.
    Stop,
    /// The audit log was read.
    ReadAudit,
    /// The certificate profiles were listed.
    ListProfiles,
    /// Requests were listed or read.
    ListRequests,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The action was carried out.
    Ok,
    /// The action was refused (not authorised, invalid, policy).
    Refused,
    /// The action failed (internal or backend error).
    Error,
}

macro_rules! wire_names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// The name used in the log file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names!(Role {
    Officer => "officer",
    RaHead => "ra-head",
    CaOperator => "ca-operator",
    Auditor => "auditor",
    Subscriber => "subscriber",
    Acme => "acme",
    System => "system",
    Unauthenticated => "unauthenticated",
});

wire_names!(Channel {
    RaApi => "ra-api",
    Cli => "cli",
    Acme => "acme",
    Subscriber => "subscriber",
    System => "system",
});

wire_names!(Action {
    Request => "request",
    Verify => "verify",
    Approve => "approve",
    Reject => "reject",
    Issue => "issue",
    Revoke => "revoke",
    Suspend => "suspend",
    Release => "release",
    KeyCompromise => "key-compromise",
    HoldExpiry => "hold-expiry",
    CrlSign => "crl-sign",
    KeyUse => "key-use",
    KeyGenerate => "key-generate",
    KeyActivate => "key-activate",
    KeyDeactivate => "key-deactivate",
    Login => "login",
    Logout => "logout",
    UserCreate => "user-create",
    UserModify => "user-modify",
    UserDelete => "user-delete",
    ConfigChange => "config-change",
    Start => "start",
    Stop => "stop",
    ReadAudit => "read-audit",
    ListProfiles => "list-profiles",
    ListRequests => "list-requests",
});

wire_names!(Outcome {
    Ok => "ok",
    Refused => "refused",
    Error => "error",
});

/// One event to append. Text fields are cleaned and bounded by [`AuditLog::append`]; they must
/// never hold a secret (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who acted, if known.
    pub actor: Option<String>,
    /// The actor's role.
    pub role: Role,
    /// The way the action arrived.
    pub channel: Channel,
    /// What was attempted.
    pub action: Action,
    /// What it was attempted on (request id, `issuer:serial`, key label).
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Short free text: reason, error message.
    pub detail: String,
}

impl AuditEntry {
    /// An entry with no actor, target or detail; add them with the builder methods.
    pub fn new(role: Role, channel: Channel, action: Action, outcome: Outcome) -> Self {
        Self {
            actor: None,
            role,
            channel,
            action,
            target: String::new(),
            outcome,
            detail: String::new(),
        }
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// One record of the log, as written (field order is the on-disk member order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the log, from 0.
    pub seq: u64,
    /// UTC time of the append, at microsecond precision.
    #[serde(with = "utc_micros")]
    pub time: OffsetDateTime,
    /// Who acted, if known.
    pub actor: Option<String>,
    /// The actor's role.
    pub role: Role,
    /// The way the action arrived.
    pub channel: Channel,
    /// What was attempted.
    pub action: Action,
    /// What it was attempted on.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Short free text.
    pub detail: String,
    /// `hash` of the previous record ([`GENESIS_HASH`] for seq 0).
    pub prev: String,
    /// Lowercase hex SHA-256 of the record's canonical bytes.
    pub hash: String,
}

/// The record without its hash: serializes to the canonical bytes.
#[derive(Serialize)]
struct Unsealed<'a> {
    seq: u64,
    #[serde(with = "utc_micros")]
    time: OffsetDateTime,
    actor: Option<&'a str>,
    role: Role,
    channel: Channel,
    action: Action,
    target: &'a str,
    outcome: Outcome,
    detail: &'a str,
    prev: &'a str,
}

impl AuditRecord {
    /// Builds the record that follows `prev` at `seq`, with cleaned text fields, and seals it.
    fn seal(
        seq: u64,
        prev: &str,
        time: OffsetDateTime,
        entry: &AuditEntry,
    ) -> Result<(Self, Vec<u8>), AuditError> {
        let actor = entry
            .actor
            .as_deref()
            .map(|a| clean_text(a, MAX_ACTOR_CHARS))
            .filter(|a| !a.is_empty());
        let target = clean_text(&entry.target, MAX_TARGET_CHARS);
        let detail = clean_text(&entry.detail, MAX_DETAIL_CHARS);
        let time = to_micros(time);
        let canonical = serde_json::to_vec(&Unsealed {
            seq,
            time,
            actor: actor.as_deref(),
            role: entry.role,
            channel: entry.channel,
            action: entry.action,
            target: &target,
            outcome: entry.outcome,
            detail: &detail,
            prev,
        })
        .map_err(|source| AuditError::Encode { source })?;
        let hash = sha256_hex(&canonical);
        let record = Self {
            seq,
            time,
            actor,
            role: entry.role,
            channel: entry.channel,
            action: entry.action,
            target,
            outcome: entry.outcome,
            detail,
            prev: prev.to_owned(),
            hash,
        };
        let mut line =
            serde_json::to_vec(&record).map_err(|source| AuditError::Encode { source })?;
        line.push(b'\n');
        Ok((record, line))
    }
}

/// A point of the log that must still be there: the first `records` records, the last of which
/// has hash `last_hash`. `audit.head` holds one; auditors keep others from earlier reviews.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Number of records covered.
    pub records: u64,
    /// Hash of record `records - 1`, or [`GENESIS_HASH`] when `records` is 0.
    pub last_hash: String,
}

/// The result of a successful [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of valid records in the log.
    pub records: u64,
    /// Hash of the last record ([`GENESIS_HASH`] for an empty log).
    pub last_hash: String,
    /// Time of the first record.
    pub first_time: Option<OffsetDateTime>,
    /// Time of the last record.
    pub last_time: Option<OffsetDateTime>,
    /// Records acknowledged by `audit.head`; `records` may exceed it by records appended since
    /// it was read or after a crash before its update.
    pub head_records: u64,
    /// Size of an incomplete final line (a write interrupted by a crash, never acknowledged;
    /// [`AuditLog::open`] removes it). 0 normally.
    pub unacknowledged_tail_bytes: u64,
}

impl VerifyReport {
    /// The checkpoint an auditor notes to check later that the log still extends it.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            records: self.records,
            last_hash: self.last_hash.clone(),
        }
    }
}

/// Why the audit log could not be opened, appended to, read or verified.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file-system operation failed.
    #[error("audit log: cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another handle (in this or another process) holds the log open for appending.
    #[error("audit log {} is already open for appending by another handle or process", path.display())]
    Locked {
        /// The locked log file.
        path: PathBuf,
    },
    /// The directory holds neither `audit.log` nor `audit.head`.
    #[error("no audit log in {}", dir.display())]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
    },
    /// A line is not a well-formed record.
    #[error("audit log line {line}: not a valid record: {msg}")]
    Parse {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        msg: String,
    },
    /// A record's content no longer matches its hash, or is not in canonical form.
    #[error("audit record seq {seq} (line {line}) was modified: {msg}")]
    Modified {
        /// The seq the record claims.
        seq: u64,
        /// 1-based line number.
        line: u64,
        /// What does not match.
        msg: &'static str,
    },
    /// Records are missing: a line holds a later seq than expected, and the expected seq appears
    /// nowhere after it.
    #[error(
        "audit records removed: line {line} holds seq {found_seq} where seq {expected_seq} was \
         expected, and seq {expected_seq} is nowhere in the rest of the log"
    )]
    Removed {
        /// The seq that should have been on this line.
        expected_seq: u64,
        /// The seq found there.
        found_seq: u64,
        /// 1-based line number.
        line: u64,
    },
    /// Records are out of order: a line holds a later seq than expected, and the expected seq
    /// appears further down.
    #[error(
        "audit records reordered: line {line} holds seq {found_seq} where seq {expected_seq} was \
         expected, and seq {expected_seq} appears later in the log"
    )]
    Reordered {
        /// The seq that should have been on this line.
        expected_seq: u64,
        /// The seq found there.
        found_seq: u64,
        /// 1-based line number.
        line: u64,
    },
    /// A record appears a second time.
    #[error("audit record seq {seq} appears again on line {line} (expected seq {expected_seq})")]
    Duplicated {
        /// The repeated seq.
        seq: u64,
        /// The seq that should have been on this line.
        expected_seq: u64,
        /// 1-based line number of the repetition.
        line: u64,
    },
    /// A record's `prev` is not the hash of the record before it (records removed or replaced
    /// and the following ones renumbered).
    #[error(
        "audit chain broken at seq {seq} (line {line}): its prev is not the hash of the record \
         before it"
    )]
    ChainBroken {
        /// The seq of the record whose `prev` does not match.
        seq: u64,
        /// 1-based line number.
        line: u64,
    },
    /// `audit.head` names a record the log holds with a different hash.
    #[error(
        "audit.head does not match the log: it acknowledges {head_records} records, but the \
         last of them has a different hash in the log"
    )]
    HeadMismatch {
        /// The record count in `audit.head`.
        head_records: u64,
    },
    /// The log holds fewer records than `audit.head` acknowledges: records were removed from
    /// its end (or the whole log was replaced).
    #[error(
        "audit log truncated: audit.head acknowledges {head_records} records but the log holds \
         only {log_records}"
    )]
    Truncated {
        /// The record count in `audit.head`.
        head_records: u64,
        /// The valid records found in the log.
        log_records: u64,
    },
    /// `audit.head` is missing while the log holds records, or is not a valid head.
    #[error("audit.head is missing or invalid: {msg}")]
    HeadInvalid {
        /// What is wrong with it.
        msg: String,
    },
    /// The log does not extend a checkpoint noted earlier ([`verify_against`]).
    #[error(
        "audit log does not extend the checkpoint of {records} records: {msg} (log holds \
         {log_records} records)"
    )]
    CheckpointMismatch {
        /// The checkpoint's record count.
        records: u64,
        /// The valid records found in the log.
        log_records: u64,
        /// What differs.
        msg: &'static str,
    },
    /// A record could not be serialized.
    #[error("audit record could not be encoded: {source}")]
    Encode {
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// An earlier write failed; this handle appends nothing more. Drop it and open the log
    /// again, which checks the chain and removes any partial line.
    #[error("audit log disabled after an earlier write failure; close it and open it again")]
    Poisoned,
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AuditError {
    move |source| AuditError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Mutable state of an open log, behind the mutex.
struct State {
    file: File,
    /// Bytes of complete records in the file.
    len: u64,
    records: u64,
    last_hash: String,
    /// Set after a failed write: the file or head may be in an unknown state.
    failed: bool,
}

/// An open audit log, appended to by one process. Cheap to share (`Arc<AuditLog>`): appends are
/// serialized by an internal mutex.
pub struct AuditLog {
    dir: PathBuf,
    state: Mutex<State>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log in `dir`, creating the directory and an empty log if needed.
    ///
    /// The whole chain is verified first and a broken log is refused with the error naming the
    /// record. An incomplete final line left by a crash (never acknowledged) is removed, and a
    /// head left behind by a crash is moved to the last record. Fails with
    /// [`AuditError::Locked`] if another handle holds the log.
    pub fn open(dir: &Path) -> Result<Self, AuditError> {
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let log_path = dir.join(LOG_FILE);
        let created = !log_path
            .try_exists()
            .map_err(io_err("look for", &log_path))?;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(io_err("open", &log_path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(AuditError::Locked { path: log_path }),
            Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", &log_path)(e)),
        }
        if created {
            sync_dir(dir)?;
        }

        let head = read_head(dir)?;
        let scan = scan(&log_path, head.as_ref(), &mut |_| {})?;
        if head.is_none() && scan.records > 0 {
            return Err(AuditError::HeadInvalid {
                msg: format!(
                    "{HEAD_FILE} not found but the log holds {} records",
                    scan.records
                ),
            });
        }
        if scan.torn_bytes > 0 {
            file.set_len(scan.complete_len)
                .map_err(io_err("truncate the incomplete last line of", &log_path))?;
            file.sync_all().map_err(io_err("sync", &log_path))?;
        }
        if head.as_ref().is_none_or(|h| h.records < scan.records) {
            write_head(
                dir,
                &Checkpoint {
                    records: scan.records,
                    last_hash: scan.last_hash.clone(),
                },
            )?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            state: Mutex::new(State {
                file,
                len: scan.complete_len,
                records: scan.records,
                last_hash: scan.last_hash,
                failed: false,
            }),
        })
    }

    /// The directory holding the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and returns it once it is durable (line `fsync`ed, head replaced).
    ///
    /// Text fields are cleaned first: control and invisible format characters removed (tab, CR,
    /// LF become spaces), then cut to [`MAX_ACTOR_CHARS`], [`MAX_TARGET_CHARS`] and
    /// [`MAX_DETAIL_CHARS`]. On error the action must not be acknowledged; the record may or may
    /// not have reached the disk, and the handle refuses further appends.
    pub fn append(&self, entry: AuditEntry) -> Result<AuditRecord, AuditError> {
        let mut state = self.state.lock().map_err(|_| AuditError::Poisoned)?;
        if state.failed {
            return Err(AuditError::Poisoned);
        }
        let (record, line) = AuditRecord::seal(
            state.records,
            &state.last_hash,
            OffsetDateTime::now_utc(),
            &entry,
        )?;
        let log_path = self.dir.join(LOG_FILE);
        let written = state
            .file
            .write_all(&line)
            .map_err(io_err("write", &log_path))
            .and_then(|()| state.file.sync_data().map_err(io_err("sync", &log_path)));
        if let Err(e) = written {
            state.failed = true;
            // Best effort: do not leave a partial line for the next reader.
            let _ = state.file.set_len(state.len);
            return Err(e);
        }
        state.len += line.len() as u64;
        state.records += 1;
        state.last_hash.clone_from(&record.hash);
        let head = Checkpoint {
            records: state.records,
            last_hash: record.hash.clone(),
        };
        if let Err(e) = write_head(&self.dir, &head) {
            state.failed = true;
            return Err(e);
        }
        Ok(record)
    }

    /// Number of records in the log.
    pub fn record_count(&self) -> Result<u64, AuditError> {
        Ok(self.state.lock().map_err(|_| AuditError::Poisoned)?.records)
    }

    /// The current checkpoint: record count and hash of the last record.
    pub fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        let state = self.state.lock().map_err(|_| AuditError::Poisoned)?;
        Ok(Checkpoint {
            records: state.records,
            last_hash: state.last_hash.clone(),
        })
    }

    /// The last `limit` records, oldest first (for the auditor's API).
    pub fn recent(&self, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let mut out = VecDeque::with_capacity(limit.min(1024));
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.for_each_record(|record| {
            if out.len() == limit {
                out.pop_front();
            }
            out.push_back(record);
            true
        })?;
        Ok(out.into())
    }

    /// Up to `limit` records from seq `from_seq` on, oldest first (for paging through the log).
    pub fn range(&self, from_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, AuditError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        if limit == 0 {
            return Ok(out);
        }
        self.for_each_record(|record| {
            if record.seq >= from_seq {
                out.push(record);
            }
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Reads the acknowledged records in order (each line checked against its hash) until `f`
    /// returns false. Appends continue meanwhile: only the bytes present when called are read.
    fn for_each_record(&self, mut f: impl FnMut(AuditRecord) -> bool) -> Result<(), AuditError> {
        let len = self.state.lock().map_err(|_| AuditError::Poisoned)?.len;
        let log_path = self.dir.join(LOG_FILE);
        let file = File::open(&log_path).map_err(io_err("open", &log_path))?;
        let mut lines = Lines::new(file.take(len));
        while let Some(kind) = lines.next().map_err(io_err("read", &log_path))? {
            if !kind.complete(lines.line_no)? {
                break;
            }
            let record = check_line(lines.line(), lines.line_no)?;
            if !f(record) {
                break;
            }
        }
        Ok(())
    }
}

/// Verifies the log in `dir` (see the module documentation for the rules) without modifying
/// it. May run while another process appends.
pub fn verify(dir: &Path) -> Result<VerifyReport, AuditError> {
    verify_each(dir, &mut |_| {})
}

/// Verifies the log in `dir` like [`verify`] and returns all its records, oldest first. The
/// whole log is held in memory; [`AuditLog::recent`] and [`AuditLog::range`] read a bounded
/// number of records from an open log.
pub fn read_all(dir: &Path) -> Result<Vec<AuditRecord>, AuditError> {
    let mut records = Vec::new();
    verify_each(dir, &mut |record| records.push(record.clone()))?;
    Ok(records)
}

/// [`verify`], calling `on_record` with each valid record in order.
fn verify_each(
    dir: &Path,
    on_record: &mut dyn FnMut(&AuditRecord),
) -> Result<VerifyReport, AuditError> {
    // The head first: appends only move it forward after the log, so a log read afterwards
    // always reaches it.
    let head = read_head(dir)?;
    let log_path = dir.join(LOG_FILE);
    let log_exists = log_path
        .try_exists()
        .map_err(io_err("look for", &log_path))?;
    let Some(head) = head else {
        if !log_exists {
            return Err(AuditError::NotFound {
                dir: dir.to_owned(),
            });
        }
        let scan = scan(&log_path, None, on_record)?;
        if scan.records > 0 {
            return Err(AuditError::HeadInvalid {
                msg: format!(
                    "{HEAD_FILE} not found but the log holds {} records",
                    scan.records
                ),
            });
        }
        return Ok(scan.report(0));
    };
    if !log_exists {
        if head.records == 0 && head.last_hash == GENESIS_HASH {
            return Ok(VerifyReport {
                records: 0,
                last_hash: GENESIS_HASH.to_owned(),
                first_time: None,
                last_time: None,
                head_records: 0,
                unacknowledged_tail_bytes: 0,
            });
        }
        return Err(AuditError::Truncated {
            head_records: head.records,
            log_records: 0,
        });
    }
    let scan = scan(&log_path, Some(&head), on_record)?;
    Ok(scan.report(head.records))
}

/// [`verify`], and also checks that the log still extends `checkpoint` (noted at an earlier
/// review): at least as many records, and the same hash at the checkpoint's last record.
pub fn verify_against(dir: &Path, checkpoint: &Checkpoint) -> Result<VerifyReport, AuditError> {
    let report = verify(dir)?;
    let log_path = dir.join(LOG_FILE);
    let mismatch = |msg| AuditError::CheckpointMismatch {
        records: checkpoint.records,
        log_records: report.records,
        msg,
    };
    if checkpoint.records > report.records {
        return Err(mismatch("the log holds fewer records"));
    }
    let hash = hash_of_record(&log_path, checkpoint.records)?;
    if hash != checkpoint.last_hash {
        return Err(mismatch("the checkpoint's last record has another hash"));
    }
    Ok(report)
}

/// Hash of record `records - 1` ([`GENESIS_HASH`] for 0), from a log already verified.
fn hash_of_record(log_path: &Path, records: u64) -> Result<String, AuditError> {
    if records == 0 {
        return Ok(GENESIS_HASH.to_owned());
    }
    let file = File::open(log_path).map_err(io_err("open", log_path))?;
    let mut lines = Lines::new(file);
    while let Some(kind) = lines.next().map_err(io_err("read", log_path))? {
        if kind == LineKind::Complete && lines.line_no == records {
            return Ok(check_line(lines.line(), lines.line_no)?.hash);
        }
    }
    Ok(String::new())
}

/// The outcome of reading a whole log.
struct Scan {
    records: u64,
    last_hash: String,
    first_time: Option<OffsetDateTime>,
    last_time: Option<OffsetDateTime>,
    /// Bytes up to the end of the last complete line.
    complete_len: u64,
    /// Bytes of an unterminated final line.
    torn_bytes: u64,
}

impl Scan {
    fn report(self, head_records: u64) -> VerifyReport {
        VerifyReport {
            records: self.records,
            last_hash: self.last_hash,
            first_time: self.first_time,
            last_time: self.last_time,
            head_records,
            unacknowledged_tail_bytes: self.torn_bytes,
        }
    }
}

/// Reads and checks every line of the log, and its agreement with `head`, passing each valid
/// record to `on_record`.
fn scan(
    log_path: &Path,
    head: Option<&Checkpoint>,
    on_record: &mut dyn FnMut(&AuditRecord),
) -> Result<Scan, AuditError> {
    if let Some(head) = head
        && head.records == 0
        && head.last_hash != GENESIS_HASH
    {
        return Err(AuditError::HeadMismatch { head_records: 0 });
    }
    let file = File::open(log_path).map_err(io_err("open", log_path))?;
    let mut lines = Lines::new(file);
    let mut out = Scan {
        records: 0,
        last_hash: GENESIS_HASH.to_owned(),
        first_time: None,
        last_time: None,
        complete_len: 0,
        torn_bytes: 0,
    };
    while let Some(kind) = lines.next().map_err(io_err("read", log_path))? {
        if !kind.complete(lines.line_no)? {
            // Only the last line can lack its '\n'.
            out.torn_bytes = lines.raw_len;
            break;
        }
        let line_no = lines.line_no;
        let record = check_line(lines.line(), line_no)?;
        let expected = out.records;
        if record.seq > expected {
            return Err(if seq_appears_after(log_path, expected, line_no)? {
                AuditError::Reordered {
                    expected_seq: expected,
                    found_seq: record.seq,
                    line: line_no,
                }
            } else {
                AuditError::Removed {
                    expected_seq: expected,
                    found_seq: record.seq,
                    line: line_no,
                }
            });
        }
        if record.seq < expected {
            return Err(AuditError::Duplicated {
                seq: record.seq,
                expected_seq: expected,
                line: line_no,
            });
        }
        if record.prev != out.last_hash {
            return Err(AuditError::ChainBroken {
                seq: record.seq,
                line: line_no,
            });
        }
        if let Some(head) = head
            && head.records == record.seq + 1
            && head.last_hash != record.hash
        {
            return Err(AuditError::HeadMismatch {
                head_records: head.records,
            });
        }
        on_record(&record);
        out.records += 1;
        out.complete_len += lines.raw_len;
        out.first_time.get_or_insert(record.time);
        out.last_time = Some(record.time);
        out.last_hash = record.hash;
    }
    if let Some(head) = head
        && head.records > out.records
    {
        return Err(AuditError::Truncated {
            head_records: head.records,
            log_records: out.records,
        });
    }
    Ok(out)
}

/// Whether a line after `after_line` holds seq `seq` (to tell a reordering from a removal).
fn seq_appears_after(log_path: &Path, seq: u64, after_line: u64) -> Result<bool, AuditError> {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    let file = File::open(log_path).map_err(io_err("open", log_path))?;
    let mut lines = Lines::new(file);
    while let Some(kind) = lines.next().map_err(io_err("read", log_path))? {
        if kind == LineKind::Complete
            && lines.line_no > after_line
            && serde_json::from_slice::<SeqOnly>(lines.line()).is_ok_and(|s| s.seq == seq)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Parses one line (without its '\n') and checks its hash and canonical form.
fn check_line(line: &[u8], line_no: u64) -> Result<AuditRecord, AuditError> {
    let parse_err = |msg: String| AuditError::Parse { line: line_no, msg };
    if line.is_empty() {
        return Err(parse_err("empty line".into()));
    }
    let suffix_ok = line.len() > HASH_SUFFIX_LEN
        && line[line.len() - HASH_SUFFIX_LEN..].starts_with(HASH_MEMBER)
        && line.ends_with(b"\"}")
        && line[line.len() - 66..line.len() - 2]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !suffix_ok {
        return Err(parse_err(
            "the line does not end with a \"hash\" member of 64 lowercase hex digits".into(),
        ));
    }
    let record: AuditRecord = serde_json::from_slice(line).map_err(|e| parse_err(e.to_string()))?;
    let mut canonical = Vec::with_capacity(line.len());
    canonical.extend_from_slice(&line[..line.len() - HASH_SUFFIX_LEN]);
    canonical.push(b'}');
    if sha256_hex(&canonical) != record.hash {
        return Err(AuditError::Modified {
            seq: record.seq,
            line: line_no,
            msg: "its content does not match its hash",
        });
    }
    let rewritten = serde_json::to_vec(&record).map_err(|source| AuditError::Encode { source })?;
    if rewritten != line {
        return Err(AuditError::Modified {
            seq: record.seq,
            line: line_no,
            msg: "it is not in canonical form",
        });
    }
    Ok(record)
}

/// What [`Lines::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// A line ended by '\n'.
    Complete,
    /// The end of the input without a '\n' (only ever the last line).
    Unterminated,
    /// More than [`MAX_LINE_BYTES`] without a '\n'.
    TooLong,
}

impl LineKind {
    /// `Ok(true)` for a complete line, `Ok(false)` for an unterminated last line.
    fn complete(self, line_no: u64) -> Result<bool, AuditError> {
        match self {
            Self::Complete => Ok(true),
            Self::Unterminated => Ok(false),
            Self::TooLong => Err(AuditError::Parse {
                line: line_no,
                msg: format!("longer than {MAX_LINE_BYTES} bytes"),
            }),
        }
    }
}

/// Reads lines of at most [`MAX_LINE_BYTES`].
struct Lines<R> {
    reader: BufReader<R>,
    buf: Vec<u8>,
    /// 1-based number of the current line.
    line_no: u64,
    /// Bytes of the current line, '\n' included.
    raw_len: u64,
}

impl<R: Read> Lines<R> {
    fn new(reader: R) -> Self {
        Self {
            reader: BufReader::new(reader),
            buf: Vec::new(),
            line_no: 0,
            raw_len: 0,
        }
    }

    /// Advances to the next line: `None` at the end of the input.
    fn next(&mut self) -> io::Result<Option<LineKind>> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        self.raw_len = n as u64;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            Ok(Some(LineKind::Complete))
        } else if n as u64 == limit {
            Ok(Some(LineKind::TooLong))
        } else {
            Ok(Some(LineKind::Unterminated))
        }
    }

    /// The current line without its '\n'.
    fn line(&self) -> &[u8] {
        &self.buf
    }
}

/// Reads `audit.head`: `None` if it does not exist.
fn read_head(dir: &Path) -> Result<Option<Checkpoint>, AuditError> {
    let path = dir.join(HEAD_FILE);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", &path)(e)),
    };
    let head: Checkpoint = serde_json::from_slice(&text).map_err(|e| AuditError::HeadInvalid {
        msg: format!("{HEAD_FILE}: {e}"),
    })?;
    let hex_ok = head.last_hash.len() == 64
        && head
            .last_hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex_ok {
        return Err(AuditError::HeadInvalid {
            msg: format!("{HEAD_FILE}: last_hash is not 64 lowercase hex digits"),
        });
    }
    Ok(Some(head))
}

/// Replaces `audit.head` atomically and durably.
fn write_head(dir: &Path, head: &Checkpoint) -> Result<(), AuditError> {
    let tmp = dir.join(HEAD_TMP_FILE);
    let path = dir.join(HEAD_FILE);
    let mut text = serde_json::to_vec(head).map_err(|source| AuditError::Encode { source })?;
    text.push(b'\n');
    let mut file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    file.write_all(&text).map_err(io_err("write", &tmp))?;
    file.sync_all().map_err(io_err("sync", &tmp))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(io_err("rename into place", &path))?;
    sync_dir(dir)
}

/// Makes a directory's entries (created or renamed files) durable.
fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

/// `time` in UTC, cut to whole microseconds (what the file holds).
fn to_micros(time: OffsetDateTime) -> OffsetDateTime {
    let time = time.to_offset(time::UtcOffset::UTC);
    time.replace_nanosecond(time.nanosecond() / 1_000 * 1_000)
        .unwrap_or(time)
}

/// Removes control and invisible format characters (tab, CR, LF and line separators become a
/// space) and cuts to `max_chars`, ending a cut text with `…`.
fn clean_text(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    let mut count = 0;
    for c in text.chars() {
        let c = match c {
            '\t' | '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => ' ',
            c if c.is_control() => continue,
            // Zero-width and bidirectional controls: invisible, and able to disguise text.
            '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}' => continue,
            c => c,
        };
        if count == max_chars {
            if max_chars > 0 {
                out.pop();
                out.push('…');
            }
            break;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Serde for [`AuditRecord::time`]: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
mod utc_micros {
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::BorrowedFormatItem;
    use time::macros::format_description;
    use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

    const FORMAT: &[BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

    pub(super) fn serialize<S: Serializer>(
        time: &OffsetDateTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text = time
            .to_offset(UtcOffset::UTC)
            .format(FORMAT)
            .map_err(S::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        PrimitiveDateTime::parse(&text, FORMAT)
            .map(PrimitiveDateTime::assume_utc)
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(i: usize) -> AuditEntry {
        AuditEntry::new(Role::Officer, Channel::RaApi, Action::Approve, Outcome::Ok)
            .actor(format!("CN=officer {i}"))
            .target(format!("req-{i:04}"))
            .detail(format!("approved request number {i}"))
    }

    /// A log with `n` records; returns the directory.
    fn log_with(n: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        for i in 0..n {
            log.append(entry(i)).unwrap();
        }
        dir
    }

    fn read_lines(dir: &Path) -> Vec<Vec<u8>> {
        let bytes = fs::read(dir.join(LOG_FILE)).unwrap();
        bytes
            .split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn write_lines(dir: &Path, lines: &[Vec<u8>]) {
        fs::write(dir.join(LOG_FILE), lines.concat()).unwrap();
    }

    /// Replaces the first occurrence of `from` by `to` in a line.
    fn replace(line: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = String::from_utf8(line.to_vec()).unwrap();
        assert!(text.contains(from), "{from} not in {text}");
        text.replacen(from, to, 1).into_bytes()
    }

    /// Re-seals a line (recomputes its hash) after changing its seq and/or prev, as a forger
    /// without the rest of the chain would.
    fn reseal(line: &[u8], seq: u64, prev: Option<&str>) -> Vec<u8> {
        let mut record: AuditRecord =
            serde_json::from_slice(line.strip_suffix(b"\n").unwrap()).unwrap();
        record.seq = seq;
        if let Some(prev) = prev {
            record.prev = prev.to_owned();
        }
        let canonical = serde_json::to_vec(&Unsealed {
            seq: record.seq,
            time: record.time,
            actor: record.actor.as_deref(),
            role: record.role,
            channel: record.channel,
            action: record.action,
            target: &record.target,
            outcome: record.outcome,
            detail: &record.detail,
            prev: &record.prev,
        })
        .unwrap();
        record.hash = sha256_hex(&canonical);
        let mut out = serde_json::to_vec(&record).unwrap();
        out.push(b'\n');
        out
    }

    #[test]
    fn many_appends_verify() {
        let dir = log_with(50);
        let report = verify(dir.path()).unwrap();
        assert_eq!(report.records, 50);
        assert_eq!(report.head_records, 50);
        assert_eq!(report.unacknowledged_tail_bytes, 0);
        assert!(report.first_time.unwrap() <= report.last_time.unwrap());
        let lines = read_lines(dir.path());
        assert_eq!(lines.len(), 50);
        let last: AuditRecord =
            serde_json::from_slice(lines[49].strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(report.last_hash, last.hash);
        assert_eq!(last.seq, 49);
    }

    #[test]
    fn format_matches_the_documented_spec() {
        let dir = log_with(3);
        let mut prev = GENESIS_HASH.to_owned();
        for (i, line) in read_lines(dir.path()).iter().enumerate() {
            let l = line.strip_suffix(b"\n").unwrap();
            let text = std::str::from_utf8(l).unwrap();
            // Member order, no whitespace.
            let expected_start = format!("{{\"seq\":{i},\"time\":\"");
            assert!(text.starts_with(&expected_start), "{text}");
            let order = [
                "\"seq\":",
                "\"time\":",
                "\"actor\":",
                "\"role\":",
                "\"channel\":",
                "\"action\":",
                "\"target\":",
                "\"outcome\":",
                "\"detail\":",
                "\"prev\":",
                "\"hash\":",
            ];
            let positions: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
            assert!(text.contains(&format!("\"prev\":\"{prev}\"")));
            assert!(
                text.contains("\"role\":\"officer\",\"channel\":\"ra-api\",\"action\":\"approve\"")
            );
            // Independent hash: the line minus its 75-byte hash member, closed with '}'.
            let canonical = [&l[..l.len() - 75], b"}"].concat();
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &canonical);
            let hash = hex::encode(digest);
            assert_eq!(&text[text.len() - 66..text.len() - 2], hash);
            assert!(!String::from_utf8(canonical).unwrap().contains("\"hash\""));
            // Time: UTC with exactly six fractional digits.
            let time = &text[expected_start.len()..expected_start.len() + 27];
            assert_eq!(time.len(), 27);
            assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
            prev = hash;
        }
        let head = fs::read_to_string(dir.path().join(HEAD_FILE)).unwrap();
        assert_eq!(
            head,
            format!("{{\"records\":3,\"last_hash\":\"{prev}\"}}\n")
        );
    }

    #[test]
    fn modified_detail_is_detected_at_its_seq() {
        let dir = log_with(9);
        let mut lines = read_lines(dir.path());
        lines[4] = replace(&lines[4], "approved request", "approved requesT");
        write_lines(dir.path(), &lines);
        match verify(dir.path()) {
            Err(AuditError::Modified {
                seq: 4, line: 5, ..
            }) => {}
            other => panic!("expected Modified at seq 4, got {other:?}"),
        }
        // Nor can it be read.
        assert!(matches!(
            read_all(dir.path()),
            Err(AuditError::Modified { seq: 4, .. })
        ));
        // And the log is refused on open.
        assert!(matches!(
            AuditLog::open(dir.path()),
            Err(AuditError::Modified { seq: 4, .. })
        ));
    }

    #[test]
    fn modified_outcome_and_actor_are_detected() {
        let dir = log_with(5);
        let mut lines = read_lines(dir.path());
        lines[1] = replace(&lines[1], "\"outcome\":\"ok\"", "\"outcome\":\"refused\"");
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Modified { seq: 1, .. })
        ));

        let dir = log_with(5);
        let mut lines = read_lines(dir.path());
        lines[2] = replace(&lines[2], "CN=officer 2", "CN=officer 3");
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Modified { seq: 2, .. })
        ));
    }

    #[test]
    fn non_canonical_line_with_recomputed_hash_is_detected() {
        let dir = log_with(4);
        let mut lines = read_lines(dir.path());
        // Same values, one escape written differently, hash recomputed over the new bytes.
        let changed = replace(&lines[2], "CN=officer", "CN\\u003dofficer");
        let l = changed.strip_suffix(b"\n").unwrap();
        let canonical = [&l[..l.len() - 75], b"}"].concat();
        let text = String::from_utf8(l.to_vec()).unwrap();
        let old_hash = &text[text.len() - 66..text.len() - 2];
        let new = text.replace(old_hash, &sha256_hex(&canonical));
        lines[2] = format!("{new}\n").into_bytes();
        write_lines(dir.path(), &lines);
        match verify(dir.path()) {
            Err(AuditError::Modified { seq: 2, msg, .. }) => {
                assert_eq!(msg, "it is not in canonical form");
            }
            other => panic!("expected non-canonical Modified, got {other:?}"),
        }
    }

    #[test]
    fn removed_middle_line_is_detected() {
        let dir = log_with(10);
        let mut lines = read_lines(dir.path());
        lines.remove(5);
        write_lines(dir.path(), &lines);
        match verify(dir.path()) {
            Err(AuditError::Removed {
                expected_seq: 5,
                found_seq: 6,
                line: 6,
            }) => {}
            other => panic!("expected Removed, got {other:?}"),
        }
    }

    #[test]
    fn removed_first_line_is_detected() {
        let dir = log_with(3);
        let mut lines = read_lines(dir.path());
        lines.remove(0);
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Removed {
                expected_seq: 0,
                found_seq: 1,
                line: 1
            })
        ));
    }

    #[test]
    fn removal_with_renumbering_breaks_the_chain() {
        let dir = log_with(6);
        let mut lines = read_lines(dir.path());
        lines.remove(3);
        // The forger renumbers and re-hashes the following records, but cannot fix prev
        // without rewriting the whole rest of the chain.
        for (i, line) in lines.iter_mut().enumerate().skip(3) {
            *line = reseal(line, i as u64, None);
        }
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::ChainBroken { seq: 3, line: 4 })
        ));
    }

    #[test]
    fn swapped_lines_are_detected() {
        let dir = log_with(8);
        let mut lines = read_lines(dir.path());
        lines.swap(3, 4);
        write_lines(dir.path(), &lines);
        match verify(dir.path()) {
            Err(AuditError::Reordered {
                expected_seq: 3,
                found_seq: 4,
                line: 4,
            }) => {}
            other => panic!("expected Reordered, got {other:?}"),
        }
    }

    #[test]
    fn swapped_and_renumbered_lines_break_the_chain() {
        let dir = log_with(8);
        let mut lines = read_lines(dir.path());
        lines.swap(3, 4);
        lines[3] = reseal(&lines[3], 3, None);
        lines[4] = reseal(&lines[4], 4, None);
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::ChainBroken { seq: 3, .. })
        ));
    }

    #[test]
    fn duplicated_line_is_detected() {
        let dir = log_with(5);
        let mut lines = read_lines(dir.path());
        let copy = lines[2].clone();
        lines.insert(3, copy);
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Duplicated {
                seq: 2,
                expected_seq: 3,
                line: 4
            })
        ));
    }

    #[test]
    fn removed_last_line_is_detected_by_the_head() {
        let dir = log_with(7);
        let mut lines = read_lines(dir.path());
        lines.pop();
        write_lines(dir.path(), &lines);
        match verify(dir.path()) {
            Err(AuditError::Truncated {
                head_records: 7,
                log_records: 6,
            }) => {}
            other => panic!("expected Truncated, got {other:?}"),
        }
        assert!(matches!(
            AuditLog::open(dir.path()),
            Err(AuditError::Truncated { .. })
        ));
    }

    #[test]
    fn emptied_or_deleted_log_is_detected() {
        let dir = log_with(3);
        write_lines(dir.path(), &[]);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Truncated {
                head_records: 3,
                log_records: 0
            })
        ));
        fs::remove_file(dir.path().join(LOG_FILE)).unwrap();
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Truncated {
                head_records: 3,
                log_records: 0
            })
        ));
    }

    #[test]
    fn stripped_final_newline_of_an_acknowledged_record_is_not_dropped() {
        let dir = log_with(4);
        let mut bytes = fs::read(dir.path().join(LOG_FILE)).unwrap();
        bytes.pop();
        fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
        // The head acknowledges record 3, so this is not an unacknowledged torn write.
        assert!(matches!(
            AuditLog::open(dir.path()),
            Err(AuditError::Truncated {
                head_records: 4,
                log_records: 3
            })
        ));
        assert_eq!(fs::read(dir.path().join(LOG_FILE)).unwrap(), bytes);
    }

    #[test]
    fn tampered_or_missing_head_is_detected() {
        let dir = log_with(4);
        let head = fs::read_to_string(dir.path().join(HEAD_FILE)).unwrap();
        let lines = read_lines(dir.path());
        let second: AuditRecord =
            serde_json::from_slice(lines[1].strip_suffix(b"\n").unwrap()).unwrap();
        // Right count, wrong hash.
        let forged = format!("{{\"records\":4,\"last_hash\":\"{}\"}}\n", second.hash);
        fs::write(dir.path().join(HEAD_FILE), forged).unwrap();
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::HeadMismatch { head_records: 4 })
        ));
        // Deleted.
        fs::remove_file(dir.path().join(HEAD_FILE)).unwrap();
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::HeadInvalid { .. })
        ));
        assert!(matches!(
            AuditLog::open(dir.path()),
            Err(AuditError::HeadInvalid { .. })
        ));
        // Garbage.
        fs::write(dir.path().join(HEAD_FILE), "{\"records\":4}").unwrap();
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::HeadInvalid { .. })
        ));
        // Restored: fine again.
        fs::write(dir.path().join(HEAD_FILE), head).unwrap();
        assert_eq!(verify(dir.path()).unwrap().records, 4);
    }

    #[test]
    fn head_behind_by_a_crash_is_accepted_and_repaired() {
        let dir = log_with(5);
        let lines = read_lines(dir.path());
        let third: AuditRecord =
            serde_json::from_slice(lines[2].strip_suffix(b"\n").unwrap()).unwrap();
        // As if the process died after fsyncing records 3 and 4 but before renaming the head.
        let old = format!("{{\"records\":3,\"last_hash\":\"{}\"}}\n", third.hash);
        fs::write(dir.path().join(HEAD_FILE), old).unwrap();
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.records, report.head_records), (5, 3));
        drop(AuditLog::open(dir.path()).unwrap());
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.records, report.head_records), (5, 5));
    }

    #[test]
    fn torn_final_line_is_recovered_on_open() {
        let dir = log_with(6);
        let good = fs::read(dir.path().join(LOG_FILE)).unwrap();
        let seventh = {
            let log = AuditLog::open(dir.path()).unwrap();
            log.append(entry(6)).unwrap();
            fs::read(dir.path().join(LOG_FILE)).unwrap()[good.len()..].to_vec()
        };
        // The crash: half of the 7th line reached the disk, the head still says 6.
        let mut torn = good.clone();
        torn.extend_from_slice(&seventh[..seventh.len() / 2]);
        fs::write(dir.path().join(LOG_FILE), &torn).unwrap();
        let six: AuditRecord =
            serde_json::from_slice(good.split(|b| *b == b'\n').nth(5).unwrap()).unwrap();
        write_head(
            dir.path(),
            &Checkpoint {
                records: 6,
                last_hash: six.hash.clone(),
            },
        )
        .unwrap();

        let report = verify(dir.path()).unwrap();
        assert_eq!(report.records, 6);
        assert_eq!(report.unacknowledged_tail_bytes, (seventh.len() / 2) as u64);

        let log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join(LOG_FILE)).unwrap(), good);
        let next = log.append(entry(99)).unwrap();
        assert_eq!(next.seq, 6);
        assert_eq!(next.prev, six.hash);
        drop(log);
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.records, report.unacknowledged_tail_bytes), (7, 0));
    }

    #[test]
    fn complete_but_unterminated_final_line_is_recovered() {
        let dir = log_with(2);
        let good = fs::read(dir.path().join(LOG_FILE)).unwrap();
        let head = fs::read(dir.path().join(HEAD_FILE)).unwrap();
        {
            let log = AuditLog::open(dir.path()).unwrap();
            log.append(entry(2)).unwrap();
        }
        // Everything but the '\n' reached the disk: the fsync never returned.
        let mut bytes = fs::read(dir.path().join(LOG_FILE)).unwrap();
        bytes.pop();
        fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
        fs::write(dir.path().join(HEAD_FILE), head).unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.record_count().unwrap(), 2);
        assert_eq!(fs::read(dir.path().join(LOG_FILE)).unwrap(), good);
    }

    #[test]
    fn reopen_continues_the_chain() {
        let dir = log_with(3);
        let before = verify(dir.path()).unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.checkpoint().unwrap(), before.checkpoint());
        let record = log.append(entry(3)).unwrap();
        assert_eq!(record.seq, 3);
        assert_eq!(record.prev, before.last_hash);
        drop(log);
        let after = verify_against(dir.path(), &before.checkpoint()).unwrap();
        assert_eq!(after.records, 4);
        assert_eq!(after.last_hash, record.hash);
    }

    #[test]
    fn checkpoint_detects_a_rewritten_history() {
        let dir = log_with(3);
        let noted = verify(dir.path()).unwrap().checkpoint();
        // Someone rewrites the whole log consistently (new chain, new head).
        fs::remove_file(dir.path().join(LOG_FILE)).unwrap();
        fs::remove_file(dir.path().join(HEAD_FILE)).unwrap();
        {
            let log = AuditLog::open(dir.path()).unwrap();
            for i in 10..14 {
                log.append(entry(i)).unwrap();
            }
        }
        assert_eq!(verify(dir.path()).unwrap().records, 4);
        assert!(matches!(
            verify_against(dir.path(), &noted),
            Err(AuditError::CheckpointMismatch {
                records: 3,
                log_records: 4,
                ..
            })
        ));
        let far = Checkpoint {
            records: 9,
            last_hash: noted.last_hash,
        };
        assert!(matches!(
            verify_against(dir.path(), &far),
            Err(AuditError::CheckpointMismatch { records: 9, .. })
        ));
    }

    #[test]
    fn concurrent_appends_keep_a_valid_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(AuditLog::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    (0..25)
                        .map(|i| log.append(entry(t * 100 + i)).unwrap().seq)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..200).collect::<Vec<_>>());
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.records, report.head_records), (200, 200));
        assert_eq!(log.checkpoint().unwrap(), report.checkpoint());
    }

    #[test]
    fn second_open_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = AuditLog::open(dir.path()).unwrap();
        assert!(matches!(
            AuditLog::open(dir.path()),
            Err(AuditError::Locked { .. })
        ));
        drop(first);
        AuditLog::open(dir.path()).unwrap();
    }

    #[test]
    fn empty_and_missing_logs() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::NotFound { .. })
        ));
        drop(AuditLog::open(dir.path()).unwrap());
        let report = verify(dir.path()).unwrap();
        assert_eq!(report.records, 0);
        assert_eq!(report.last_hash, GENESIS_HASH);
        assert_eq!(report.first_time, None);
    }

    #[test]
    fn text_fields_are_cleaned_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        let long = "é".repeat(MAX_DETAIL_CHARS + 10);
        let record = log
            .append(
                AuditEntry::new(
                    Role::Subscriber,
                    Channel::Subscriber,
                    Action::Revoke,
                    Outcome::Refused,
                )
                .actor("evil\n{\"seq\":7}\u{202E}\u{0}")
                .target("x".repeat(MAX_TARGET_CHARS * 3))
                .detail(long),
            )
            .unwrap();
        assert_eq!(record.actor.as_deref(), Some("evil {\"seq\":7}"));
        assert_eq!(record.target.chars().count(), MAX_TARGET_CHARS);
        assert!(record.target.ends_with('…'));
        assert_eq!(record.detail.chars().count(), MAX_DETAIL_CHARS);
        assert!(record.detail.ends_with("é…"));
        // An actor that is nothing but control characters is no actor.
        let record = log
            .append(entry(1).actor("\u{1}\u{7f}").detail("tab\there"))
            .unwrap();
        assert_eq!(record.actor, None);
        assert_eq!(record.detail, "tab here");
        drop(log);
        assert_eq!(read_lines(dir.path()).len(), 2);
        assert_eq!(verify(dir.path()).unwrap().records, 2);
        assert_eq!(clean_text("abc", 0), "");
        assert_eq!(clean_text("abc", 3), "abc");
        assert_eq!(clean_text("abcd", 3), "ab…");
    }

    #[test]
    fn recent_and_range_return_records_in_order() {
        let dir = log_with(20);
        let log = AuditLog::open(dir.path()).unwrap();
        let recent = log.recent(5).unwrap();
        assert_eq!(
            recent.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [15, 16, 17, 18, 19]
        );
        assert_eq!(recent[4].target, "req-0019");
        assert_eq!(log.recent(100).unwrap().len(), 20);
        assert!(log.recent(0).unwrap().is_empty());
        let page = log.range(7, 3).unwrap();
        assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [7, 8, 9]);
        assert!(log.range(20, 3).unwrap().is_empty());
        let all = read_all(dir.path()).unwrap();
        assert_eq!(
            all.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (0..20).collect::<Vec<_>>()
        );
        assert_eq!(all[15..], recent[..]);
        // What is read back equals what append returned.
        let appended = log.append(entry(20)).unwrap();
        assert_eq!(log.recent(1).unwrap(), vec![appended]);
    }

    #[test]
    fn wire_names_match_serde() {
        for role in [
            Role::Officer,
            Role::RaHead,
            Role::CaOperator,
            Role::Auditor,
            Role::Subscriber,
            Role::Acme,
            Role::System,
            Role::Unauthenticated,
        ] {
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        for channel in [
            Channel::RaApi,
            Channel::Cli,
            Channel::Acme,
            Channel::Subscriber,
            Channel::System,
        ] {
            assert_eq!(
                serde_json::to_string(&channel).unwrap(),
                format!("\"{channel}\"")
            );
        }
        for action in [
            Action::Request,
            Action::Verify,
            Action::Approve,
            Action::Reject,
            Action::Issue,
            Action::Revoke,
            Action::Suspend,
            Action::Release,
            Action::KeyCompromise,
            Action::HoldExpiry,
            Action::CrlSign,
            Action::KeyUse,
            Action::KeyGenerate,
            Action::KeyActivate,
            Action::KeyDeactivate,
            Action::Login,
            Action::Logout,
            Action::UserCreate,
            Action::UserModify,
            Action::UserDelete,
            Action::ConfigChange,
            Action::Start,
            Action::Stop,
            Action::ReadAudit,
            Action::ListProfiles,
            Action::ListRequests,
        ] {
            assert_eq!(
                serde_json::to_string(&action).unwrap(),
                format!("\"{action}\"")
            );
        }
        for outcome in [Outcome::Ok, Outcome::Refused, Outcome::Error] {
            assert_eq!(
                serde_json::to_string(&outcome).unwrap(),
                format!("\"{outcome}\"")
            );
        }
    }

    #[test]
    fn overlong_and_garbage_lines_are_parse_errors() {
        let dir = log_with(2);
        let mut lines = read_lines(dir.path());
        lines.insert(1, b"not json\n".to_vec());
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Parse { line: 2, .. })
        ));

        let dir = log_with(2);
        let mut lines = read_lines(dir.path());
        lines.insert(
            1,
            [vec![b'x'; MAX_LINE_BYTES + 10], b"\n".to_vec()].concat(),
        );
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Parse { line: 2, .. })
        ));

        let dir = log_with(2);
        let mut lines = read_lines(dir.path());
        lines.insert(1, b"\n".to_vec());
        write_lines(dir.path(), &lines);
        assert!(matches!(
            verify(dir.path()),
            Err(AuditError::Parse { line: 2, .. })
        ));
    }
}

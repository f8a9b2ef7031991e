//! CRL numbers (RFC 5280 §5.2.3, BR 7.2): non-negative, below 2^159 (at most 20 octets of
//! DER INTEGER content) and strictly increasing per CRL scope, across restarts.
//!
//! [`CrlNumberStore`] persists the last number handed out in a small file, written with
//! the temp-file + `fsync` + `rename` + directory-`fsync` sequence, **before** the number is
//! returned. A number is therefore durable before any CRL carrying it can be published: a
//! crash can waste a number (a gap, which RFC 5280 allows) but can never make one go back or
//! be used twice. An exclusive advisory lock on `<file>.lock` keeps a second process (or a
//! second store in this process) from allocating from the same file.
//!
//! One store per CRL-signing key is enough: numbers that increase across all of an
//! issuer's CRLs also increase within each partition's scope. Callers that want numbers
//! which survive the loss of the file (Boulder uses a timestamp) pass a floor to
//! [`CrlNumberStore::allocate_at_least`], e.g. the current Unix time in nanoseconds.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Octets of a CRL number's unsigned magnitude: 20 (values below 2^159).
pub const CRL_NUMBER_OCTETS: usize = 20;

/// A CRL number: an integer in `0..2^159`, stored as a fixed-width big-endian magnitude so
/// that the derived ordering is numeric.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CrlNumber([u8; CRL_NUMBER_OCTETS]);

/// Why a value is not a CRL number, or a CRL number could not be allocated or persisted.
#[derive(Debug, thiserror::Error)]
pub enum CrlNumberError {
    /// The value is 2^159 or more (BR 7.2: the CRL number must be below 2^159).
    #[error("CRL number does not fit below 2^159 (at most 20 octets with the top bit clear)")]
    TooLarge,
    /// The last number is 2^159 − 1: no larger number exists.
    #[error("CRL numbers are exhausted (the last one is 2^159 - 1)")]
    Exhausted,
    /// The text is not a CRL number in hexadecimal.
    #[error("CRL number {0:?} is not hexadecimal")]
    NotHex(String),
    /// The state file exists but does not hold a CRL number. Revoca never restarts the
    /// sequence on its own: that could reuse numbers.
    #[error("CRL number file {path} is corrupt: {reason}")]
    Corrupt {
        /// The state file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another store (process) holds the lock on this state file.
    #[error("CRL number file {path} is in use by another process (lock {lock} is held)")]
    Locked {
        /// The state file.
        path: String,
        /// The lock file.
        lock: String,
    },
    /// Reading, writing, syncing or renaming failed; no number was handed out.
    #[error("CRL number file {path}: {source}")]
    Io {
        /// The file being worked on.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl CrlNumber {
    /// Zero.
    pub const ZERO: Self = Self([0; CRL_NUMBER_OCTETS]);
    /// The largest CRL number, 2^159 − 1.
    pub const MAX: Self = {
        let mut b = [0xff; CRL_NUMBER_OCTETS];
        b[0] = 0x7f;
        Self(b)
    };

    /// From a `u64` (always fits).
    pub const fn from_u64(n: u64) -> Self {
        let mut b = [0u8; CRL_NUMBER_OCTETS];
        let be = n.to_be_bytes();
        let mut i = 0;
        while i < 8 {
            b[CRL_NUMBER_OCTETS - 8 + i] = be[i];
            i += 1;
        }
        Self(b)
    }

    /// From an unsigned big-endian magnitude of any length; leading zero octets are ignored.
    pub fn from_be_bytes(magnitude: &[u8]) -> Result<Self, CrlNumberError> {
        let skip = magnitude.iter().take_while(|b| **b == 0).count();
        let magnitude = &magnitude[skip..];
        if magnitude.len() > CRL_NUMBER_OCTETS
            || (magnitude.len() == CRL_NUMBER_OCTETS && magnitude[0] & 0x80 != 0)
        {
            return Err(CrlNumberError::TooLarge);
        }
        let mut b = [0u8; CRL_NUMBER_OCTETS];
        b[CRL_NUMBER_OCTETS - magnitude.len()..].copy_from_slice(magnitude);
        Ok(Self(b))
    }

    /// From hexadecimal text (optional `0x`, upper or lower case).
    pub fn from_hex(text: &str) -> Result<Self, CrlNumberError> {
        let digits = text.trim();
        let digits = digits.strip_prefix("0x").unwrap_or(digits);
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(CrlNumberError::NotHex(text.to_owned()));
        }
        let digits = digits.trim_start_matches('0');
        if digits.len() > 2 * CRL_NUMBER_OCTETS {
            return Err(CrlNumberError::TooLarge);
        }
        let mut b = [0u8; CRL_NUMBER_OCTETS];
        for (i, c) in digits.bytes().rev().enumerate() {
            let v = (c as char).to_digit(16).unwrap_or(0) as u8;
            let byte = CRL_NUMBER_OCTETS - 1 - i / 2;
            b[byte] |= if i % 2 == 0 { v } else { v << 4 };
        }
        Self::from_be_bytes(&b)
    }

    /// The fixed-width big-endian magnitude.
    pub fn to_be_bytes(&self) -> [u8; CRL_NUMBER_OCTETS] {
        self.0
    }

    /// The value as a `u64`, when it fits.
    pub fn to_u64(&self) -> Option<u64> {
        let (high, low) = self.0.split_at(CRL_NUMBER_OCTETS - 8);
        if high.iter().any(|b| *b != 0) {
            return None;
        }
        let mut be = [0u8; 8];
        be.copy_from_slice(low);
        Some(u64::from_be_bytes(be))
    }

    /// The content octets of the DER INTEGER (minimal, non-negative): 1 to 20 octets.
    pub fn der_content(&self) -> &[u8] {
        let first = self.0.iter().position(|b| *b != 0);
        match first {
            // A first non-zero octet with the top bit set needs the zero octet before it
            // as a sign octet. That zero exists: below 2^159 the top bit of octet 0 is
            // clear, so such an octet is never octet 0.
            Some(i) if self.0[i] & 0x80 != 0 => &self.0[i - 1..],
            Some(i) => &self.0[i..],
            None => &self.0[CRL_NUMBER_OCTETS - 1..],
        }
    }

    /// This number plus one, unless it is [`CrlNumber::MAX`].
    pub fn checked_next(&self) -> Option<Self> {
        if *self == Self::MAX {
            return None;
        }
        let mut b = self.0;
        for byte in b.iter_mut().rev() {
            let (v, carry) = byte.overflowing_add(1);
            *byte = v;
            if !carry {
                break;
            }
        }
        Some(Self(b))
    }

    /// Lowercase hexadecimal without leading zeros (`0` for zero).
    pub fn to_hex(&self) -> String {
        let mut s: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        let trimmed = s.trim_start_matches('0').len();
        if trimmed == 0 {
            return "0".to_owned();
        }
        s.drain(..s.len() - trimmed);
        s
    }
}

impl From<u64> for CrlNumber {
    fn from(n: u64) -> Self {
        Self::from_u64(n)
    }
}

impl fmt::Debug for CrlNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CrlNumber(0x{})", self.to_hex())
    }
}

impl fmt::Display for CrlNumber {
    /// Hexadecimal with a `0x` prefix (as `openssl crl -text` prints large numbers).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", self.to_hex())
    }
}

/// The first line of a state file.
const MAGIC: &str = "revoca-crl-number v1";

/// A persistent, strictly increasing CRL number sequence in one file (see the module
/// documentation). Holds an exclusive lock for its lifetime.
#[derive(Debug)]
pub struct CrlNumberStore {
    path: PathBuf,
    tmp: PathBuf,
    last: Option<CrlNumber>,
    /// Held open: the advisory lock lives as long as the file handle.
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CrlNumberError + '_ {
    move |source| CrlNumberError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

impl CrlNumberStore {
    /// Opens the sequence kept in `path`, creating nothing until the first allocation. A
    /// missing file means a fresh sequence; an unreadable or malformed one is an error.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CrlNumberError> {
        let path = path.as_ref().to_path_buf();
        let lock_path = sibling(&path, ".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(CrlNumberError::Locked {
                    path: path.display().to_string(),
                    lock: lock_path.display().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let last = match fs::read(&path) {
            Ok(bytes) => Some(
                parse_state(&bytes).map_err(|reason| CrlNumberError::Corrupt {
                    path: path.display().to_string(),
                    reason,
                })?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(Self {
            tmp: sibling(&path, ".tmp"),
            path,
            last,
            _lock: lock,
        })
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last number handed out (persisted), if any.
    pub fn last(&self) -> Option<CrlNumber> {
        self.last
    }

    /// The next number (the last plus one; 1 for a fresh sequence), persisted before it is
    /// returned.
    pub fn allocate(&mut self) -> Result<CrlNumber, CrlNumberError> {
        self.allocate_at_least(CrlNumber::from_u64(1))
    }

    /// The larger of `floor` and the last number plus one, persisted before it is returned.
    /// On error nothing was handed out and the in-memory state is unchanged.
    pub fn allocate_at_least(&mut self, floor: CrlNumber) -> Result<CrlNumber, CrlNumberError> {
        let next = match self.last {
            Some(last) => last.checked_next().ok_or(CrlNumberError::Exhausted)?,
            None => CrlNumber::ZERO,
        };
        let number = next.max(floor);
        self.persist(number)?;
        self.last = Some(number);
        Ok(number)
    }

    fn persist(&self, number: CrlNumber) -> Result<(), CrlNumberError> {
        let text = format!("{MAGIC}\n{}\n", number.to_hex());
        let mut tmp = File::create(&self.tmp).map_err(io_err(&self.tmp))?;
        tmp.write_all(text.as_bytes()).map_err(io_err(&self.tmp))?;
        tmp.sync_all().map_err(io_err(&self.tmp))?;
        drop(tmp);
        fs::rename(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        // The rename itself must be durable: sync the directory entry.
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
        Ok(())
    }
}

fn parse_state(bytes: &[u8]) -> Result<CrlNumber, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    let mut lines = text.split('\n');
    if lines.next() != Some(MAGIC) {
        return Err(format!("first line is not {MAGIC:?}"));
    }
    let number = lines.next().ok_or("no number line")?;
    if lines.next() != Some("") || lines.next().is_some() {
        return Err("unexpected content after the number".to_owned());
    }
    CrlNumber::from_hex(number).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_order_encode_and_bound() {
        assert_eq!(CrlNumber::from_u64(0).der_content(), [0x00]);
        assert_eq!(CrlNumber::from_u64(0x7f).der_content(), [0x7f]);
        assert_eq!(CrlNumber::from_u64(0x80).der_content(), [0x00, 0x80]);
        assert_eq!(CrlNumber::from_u64(0x1234).der_content(), [0x12, 0x34]);
        assert_eq!(
            CrlNumber::from_u64(u64::MAX).der_content(),
            [0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(CrlNumber::MAX.der_content().len(), 20);
        assert_eq!(CrlNumber::MAX.der_content()[0], 0x7f);
        assert!(CrlNumber::from_u64(2) > CrlNumber::from_u64(1));
        assert!(CrlNumber::MAX > CrlNumber::from_u64(u64::MAX));
        assert_eq!(CrlNumber::MAX.checked_next(), None);
        assert_eq!(
            CrlNumber::from_u64(0xff).checked_next(),
            Some(CrlNumber::from_u64(0x100))
        );
        assert_eq!(
            CrlNumber::from_u64(u64::MAX)
                .checked_next()
                .unwrap()
                .to_hex(),
            "10000000000000000"
        );
        assert!(matches!(
            CrlNumber::from_be_bytes(&[0x80; 20]),
            Err(CrlNumberError::TooLarge)
        ));
        assert!(CrlNumber::from_be_bytes(&[0x7f; 20]).is_ok());
        let mut padded = vec![0u8; 5];
        padded.extend_from_slice(&[0x7f; 20]);
        assert_eq!(
            CrlNumber::from_be_bytes(&padded).unwrap(),
            CrlNumber::from_be_bytes(&[0x7f; 20]).unwrap()
        );
        assert!(CrlNumber::from_be_bytes(&[1; 21]).is_err());
        assert_eq!(
            CrlNumber::from_hex("0x1F").unwrap(),
            CrlNumber::from_u64(31)
        );
        assert_eq!(CrlNumber::from_hex("000").unwrap(), CrlNumber::ZERO);
        assert_eq!(CrlNumber::ZERO.to_hex(), "0");
        assert_eq!(
            CrlNumber::from_hex(&CrlNumber::MAX.to_hex()).unwrap(),
            CrlNumber::MAX
        );
        assert!(CrlNumber::from_hex(&"f".repeat(40)).is_err());
        assert!(CrlNumber::from_hex("12g").is_err());
        assert!(CrlNumber::from_hex("").is_err());
        assert_eq!(CrlNumber::from_u64(77).to_u64(), Some(77));
        assert_eq!(CrlNumber::MAX.to_u64(), None);
        assert_eq!(format!("{}", CrlNumber::from_u64(255)), "0xff");
    }

    #[test]
    fn store_increases_across_reopen_and_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("issuer.crlnumber");
        {
            let mut store = CrlNumberStore::open(&path).unwrap();
            assert_eq!(store.last(), None);
            assert_eq!(store.allocate().unwrap(), CrlNumber::from_u64(1));
            assert_eq!(store.allocate().unwrap(), CrlNumber::from_u64(2));
            // A second store on the same file is refused while the first is open.
            assert!(matches!(
                CrlNumberStore::open(&path),
                Err(CrlNumberError::Locked { .. })
            ));
        }
        let mut store = CrlNumberStore::open(&path).unwrap();
        assert_eq!(store.last(), Some(CrlNumber::from_u64(2)));
        assert_eq!(store.allocate().unwrap(), CrlNumber::from_u64(3));
        // A floor jumps ahead (time-based numbers); a floor in the past is ignored.
        let floor = CrlNumber::from_u64(1_700_000_000_000_000_000);
        assert_eq!(store.allocate_at_least(floor).unwrap(), floor);
        assert_eq!(
            store.allocate_at_least(CrlNumber::from_u64(5)).unwrap(),
            floor.checked_next().unwrap()
        );
        drop(store);
        let mut store = CrlNumberStore::open(&path).unwrap();
        assert_eq!(store.last(), floor.checked_next());
        assert!(store.allocate().unwrap() > floor.checked_next().unwrap());
        assert!(!dir.path().join("issuer.crlnumber.tmp").exists());
        assert_eq!(store.path(), path);
    }

    #[test]
    fn exhaustion_and_corruption_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        let mut store = CrlNumberStore::open(&path).unwrap();
        assert_eq!(
            store.allocate_at_least(CrlNumber::MAX).unwrap(),
            CrlNumber::MAX
        );
        assert!(matches!(store.allocate(), Err(CrlNumberError::Exhausted)));
        assert_eq!(store.last(), Some(CrlNumber::MAX));
        drop(store);

        for bad in [
            &b""[..],
            b"garbage\n",
            b"revoca-crl-number v1\n",
            b"revoca-crl-number v1\nzz\n",
            b"revoca-crl-number v1\n12\n34\n",
            b"revoca-crl-number v1\nffffffffffffffffffffffffffffffffffffffff\n",
        ] {
            fs::write(&path, bad).unwrap();
            assert!(
                matches!(
                    CrlNumberStore::open(&path),
                    Err(CrlNumberError::Corrupt { .. })
                ),
                "{bad:?}"
            );
        }
        fs::write(&path, b"revoca-crl-number v1\n2a\n").unwrap();
        let mut store = CrlNumberStore::open(&path).unwrap();
        assert_eq!(store.allocate().unwrap(), CrlNumber::from_u64(43));

        // A state file in a directory that does not exist fails to persist: no number.
        let mut orphan = CrlNumberStore::open(dir.path().join("n2")).unwrap();
        fs::remove_dir_all(dir.path()).unwrap();
        assert!(orphan.allocate().is_err());
        assert_eq!(orphan.last(), None);
    }
}

//! Revoca's side of `loadtests/crl_peers.sh`: the same revoked entries, built by Revoca,
//! `openssl ca -gencrl` and pyca/cryptography.
//!
//! ```text
//! crl_peers gen N SEED OUT_DIR
//!     writes OUT_DIR/entries.bin (N records of 25 octets: 16-octet serial, revocation
//!     time as big-endian u64 seconds, reason code or 0xff for none; ascending serials)
//!     and OUT_DIR/index.txt (the same entries as OpenSSL `ca` database `R` lines).
//! crl_peers build ENTRIES_BIN CA_KEY_PEM ISSUER_NAME_DER SKI_HEX OUT_DER [REPS]
//!     loads the entries into a vector, then builds and signs a full CRL (AKI, cRLNumber 1,
//!     thisUpdate now, nextUpdate now + 4 days, like `openssl ca -gencrl -crldays 4`) to
//!     OUT_DER, REPS times (after a one-entry warm-up CRL, timed apart); prints one
//!     `RESULT` line of key=value pairs.
//! ```
//!
//! Serials are random (splitmix64 seeded with SEED, so reproducible), positive, 16 octets
//! of DER content; revocation times are spread over the year before 2025-10-09; a quarter
//! of the entries have no reason, the rest keyCompromise, superseded or
//! cessationOfOperation.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use revoca_crl_builder::{CrlEntry, CrlNumber, CrlParams, write_crl};
use revoca_signer::SoftwareKey;
use revoca_status::{RevocationReason, Serial};

const RECORD: usize = 25;
const NO_REASON: u8 = 0xff;
const BASE_TIME: u64 = 1_760_000_000;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() == 5 => generate(args[2].parse()?, args[3].parse()?, &args[4]),
        Some("build") if (7..=8).contains(&args.len()) => {
            let reps = args.get(7).map_or(Ok(1), |r| r.parse())?;
            build(&args[2], &args[3], &args[4], &args[5], &args[6], reps)
        }
        _ => Err("usage: crl_peers gen N SEED OUT_DIR | \
                  build ENTRIES_BIN CA_KEY_PEM ISSUER_NAME_DER SKI_HEX OUT_DER [REPS]"
            .into()),
    }
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `YYMMDDHHMMSSZ` for a Unix time (UTCTime, years 1950–2049).
fn utc_time(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        y % 100,
        m,
        d,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn openssl_reason(code: u8) -> &'static str {
    match code {
        1 => "keyCompromise",
        4 => "superseded",
        5 => "cessationOfOperation",
        _ => unreachable!("generated reasons only"),
    }
}

fn generate(n: usize, seed: u64, dir: &str) -> Res<()> {
    let started = Instant::now();
    let mut rng = SplitMix64(seed);
    let mut serials: Vec<[u8; 16]> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = [0u8; 16];
        s[..8].copy_from_slice(&rng.next().to_be_bytes());
        s[8..].copy_from_slice(&rng.next().to_be_bytes());
        // Positive and 16 octets of DER content, as a CA's random serials usually are.
        s[0] = (s[0] & 0x7f).max(1);
        serials.push(s);
    }
    serials.sort_unstable();
    serials.dedup();
    if serials.len() != n {
        return Err("duplicate serials: try another seed".into());
    }
    let mut bin = BufWriter::with_capacity(1 << 20, File::create(format!("{dir}/entries.bin"))?);
    let mut idx = BufWriter::with_capacity(1 << 20, File::create(format!("{dir}/index.txt"))?);
    for s in &serials {
        let time = BASE_TIME - rng.next() % (365 * 86_400);
        let reason = match rng.next() % 4 {
            0 => NO_REASON,
            1 => 1,
            2 => 4,
            _ => 5,
        };
        bin.write_all(s)?;
        bin.write_all(&time.to_be_bytes())?;
        bin.write_all(&[reason])?;
        let revoked = if reason == NO_REASON {
            utc_time(time)
        } else {
            format!("{},{}", utc_time(time), openssl_reason(reason))
        };
        let hex: String = s.iter().map(|b| format!("{b:02X}")).collect();
        writeln!(idx, "R\t301231235959Z\t{revoked}\t{hex}\tunknown\t/CN=x")?;
    }
    bin.flush()?;
    idx.flush()?;
    println!("generated {n} entries in {:.2?}", started.elapsed());
    Ok(())
}

fn load(path: &str) -> Res<Vec<CrlEntry>> {
    let file = File::open(path)?;
    let n = usize::try_from(file.metadata()?.len())? / RECORD;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut entries = Vec::with_capacity(n);
    let mut rec = [0u8; RECORD];
    for _ in 0..n {
        reader.read_exact(&mut rec)?;
        let time = u64::from_be_bytes(rec[16..24].try_into()?);
        entries.push(CrlEntry {
            serial: Serial::from_unsigned_be(&rec[..16])?,
            revocation_time: i64::try_from(time)?,
            reason: match rec[24] {
                NO_REASON => None,
                code => Some(RevocationReason::from_code(code).ok_or("bad reason")?),
            },
            invalidity_date: None,
        });
    }
    Ok(entries)
}

/// Peak resident set size of this process (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn build(
    entries_path: &str,
    key_path: &str,
    issuer_path: &str,
    ski_hex: &str,
    out_path: &str,
    reps: usize,
) -> Res<()> {
    let key = SoftwareKey::from_pem_file(std::path::Path::new(key_path))?;
    let issuer = std::fs::read(issuer_path)?;
    let ski = hex::decode(ski_hex.trim())?;
    let rss_start = peak_rss();

    let started = Instant::now();
    let entries = load(entries_path)?;
    let load_s = started.elapsed().as_secs_f64();
    let rss_loaded = peak_rss();

    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let params = CrlParams::new(&issuer, &ski, CrlNumber::from(1), now, now + 4 * 86_400);
    // One-time costs of the process (aws-lc's lazy initialisation, first signature) are
    // paid by a one-entry CRL first, timed apart as warmup_s (they are in the wall time).
    let t = Instant::now();
    write_crl(
        std::io::sink(),
        &params,
        &entries[..entries.len().min(1)],
        &key,
    )?;
    let warmup_s = t.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let mut summary = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let file = File::create(out_path)?;
        // Written to the page cache, not synced: as the peers write theirs.
        let s = write_crl(&file, &params, &entries, &key)?;
        times.push(t.elapsed().as_secs_f64());
        summary = Some(s);
    }
    let s = summary.ok_or("no run")?;
    let list = times
        .iter()
        .map(|t| format!("{t:.4}"))
        .collect::<Vec<_>>()
        .join(",");
    println!(
        "RESULT tool=revoca entries={} load_s={load_s:.4} warmup_s={warmup_s:.4} bs_s={list} bytes={} signing={:?} \
         entry_size={} rss_start_mb={:.1} rss_loaded_mb={:.1} vmhwm_mb={:.1}",
        s.entries,
        s.bytes,
        s.signing,
        std::mem::size_of::<CrlEntry>(),
        rss_start as f64 / 1e6,
        rss_loaded as f64 / 1e6,
        peak_rss() as f64 / 1e6,
    );
    Ok(())
}

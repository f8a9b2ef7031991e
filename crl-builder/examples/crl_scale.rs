//! Builds and signs one large CRL and prints the time and the process's peak resident
//! memory, for the scale targets (1 M entries ≤ 0.3 s, 10 M ≤ 3 s, peak ≤ 1.5 × the CRL).
//!
//! ```text
//! cargo run --release -p revoca-crl-builder --example crl_scale -- 10000000 vec file
//! ```
//!
//! Arguments: entry count; `vec` (entries collected in a vector first, as after
//! partitioning) or `gen` (entries generated on every pass, as from a store); `sink`,
//! `file` (a temporary file) or `memory` (`encode_crl_to_vec`); key `p256`, `p384`, `rsa`
//! or `ed25519` (the buffered path); repetitions of the build (with `vec`; the minimum and
//! median are printed).

#[path = "../benches/support/synthetic.rs"]
mod synthetic;

use std::time::Instant;

use revoca_crl_builder::{
    CrlEntry, CrlNumber, CrlParams, FnSource, IssuingDistributionPoint, encode_crl_to_vec,
    write_crl,
};
use revoca_signer::{KeyAlgorithm, SoftwareKey};

use synthetic::entry;

/// Peak resident set size of this process, from /proc (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).map_or(Ok(1_000_000), |a| a.parse())?;
    let source_kind = args.get(2).map_or("vec", String::as_str);
    let output = args.get(3).map_or("sink", String::as_str);
    let alg = match args.get(4).map_or("p256", String::as_str) {
        "p384" => KeyAlgorithm::EcdsaP384,
        "rsa" => KeyAlgorithm::Rsa2048,
        "ed25519" => KeyAlgorithm::Ed25519,
        _ => KeyAlgorithm::EcdsaP256,
    };
    let reps: usize = args.get(5).map_or(Ok(1), |a| a.parse())?.max(1);
    let key = SoftwareKey::from_pkcs8_der(&SoftwareKey::generate_pkcs8(alg)?, "scale")?;
    let name = [
        0x30, 0x13, 0x31, 0x11, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x08, b'S', b'c',
        b'a', b'l', b'e', b' ', b'C', b'A',
    ];
    let uris = ["http://crl.example.test/CRL1.crl"];
    let params = CrlParams {
        idp: Some(IssuingDistributionPoint::new(&uris)),
        ..CrlParams::new(
            &name,
            &[0x11; 20],
            CrlNumber::from(42),
            1_760_000_000,
            1_760_000_000 + 7 * 86_400,
        )
    };
    let rss_before = peak_rss().unwrap_or(0);

    let collected: Vec<CrlEntry>;
    let generated = FnSource(|| (0..n).map(entry));
    let started = Instant::now();
    let (bytes, signing) = match source_kind {
        "gen" => run(output, &params, &generated, &key)?,
        _ => {
            collected = (0..n).map(entry).collect();
            let made = started.elapsed();
            println!("collected {n} entries in {made:.2?}");
            // Several runs: the minimum is the figure least disturbed by other load.
            let mut times = Vec::new();
            let mut r = None;
            for _ in 0..reps {
                let build = Instant::now();
                r = Some(run(output, &params, &collected, &key)?);
                times.push(build.elapsed());
            }
            times.sort();
            println!(
                "build+sign only, {reps} runs: min {:.3?}, median {:.3?}",
                times[0],
                times[times.len() / 2]
            );
            r.ok_or("no run")?
        }
    };
    let elapsed = started.elapsed();
    let peak = peak_rss().unwrap_or(0);
    println!(
        "{n} entries, {} key, source {source_kind}, output {output}: {bytes} bytes ({:.1} MB), \
         {signing}, {elapsed:.3?} total",
        alg.name(),
        bytes as f64 / 1e6
    );
    println!(
        "peak RSS {:.1} MB (before building {:.1} MB) = {:.2} x the CRL",
        peak as f64 / 1e6,
        rss_before as f64 / 1e6,
        peak as f64 / bytes as f64
    );
    Ok(())
}

fn run<S: revoca_crl_builder::EntrySource + ?Sized>(
    output: &str,
    params: &CrlParams<'_>,
    source: &S,
    key: &SoftwareKey,
) -> Result<(u64, String), Box<dyn std::error::Error>> {
    Ok(match output {
        "memory" => {
            let der = encode_crl_to_vec(params, source, key)?;
            (der.len() as u64, "encode_crl_to_vec".to_owned())
        }
        "file" => {
            let dir = std::env::temp_dir().join(format!("crl_scale_{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let path = dir.join("scale.crl");
            let file = std::fs::File::create(&path)?;
            let s = write_crl(file, params, source, key)?;
            std::fs::remove_dir_all(&dir)?;
            (s.bytes, format!("{:?}", s.signing))
        }
        _ => {
            let s = write_crl(std::io::sink(), params, source, key)?;
            (s.bytes, format!("{:?}", s.signing))
        }
    })
}

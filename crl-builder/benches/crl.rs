//! Build + sign throughput of the streamed CRL encoder with a P-256 key.
//!
//! `cargo bench -p revoca-crl-builder --bench crl`
//!
//! Entries come from a pre-built vector (what [`revoca_crl_builder::partition`] produces)
//! and the CRL goes to `io::sink()`, so the figure is encoding + hashing + signing.

#[path = "support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use revoca_crl_builder::{CrlEntry, CrlNumber, CrlParams, IssuingDistributionPoint, write_crl};
use revoca_signer::{KeyAlgorithm, SoftwareKey};

/// `n` synthetic entries in ascending order.
fn entries(n: u64) -> Vec<CrlEntry> {
    (0..n).map(synthetic::entry).collect()
}

fn crl(c: &mut Criterion) {
    let key = SoftwareKey::from_pkcs8_der(
        &SoftwareKey::generate_pkcs8(KeyAlgorithm::EcdsaP256).expect("generate"),
        "bench",
    )
    .expect("load");
    // SEQUENCE { SET { SEQUENCE { commonName, UTF8String "Bench CA" } } }
    let name = [
        0x30, 0x13, 0x31, 0x11, 0x30, 0x0f, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x08, b'B', b'e',
        b'n', b'c', b'h', b' ', b'C', b'A',
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
    let mut group = c.benchmark_group("crl_p256");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for n in [100_000u64, 1_000_000] {
        let list = entries(n);
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("{n}_entries"), |b| {
            b.iter(|| {
                let summary = write_crl(std::io::sink(), &params, black_box(&list), &key)
                    .expect("CRL builds");
                black_box(summary.bytes)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, crl);
criterion_main!(benches);

//! The OCSP request path without the network: parse → look up → response bytes.
//!
//! `cargo bench -p revoca-benches --bench request_path`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use revoca_benches::{fixture, response_bytes};
use revoca_responder::Answer;
use revoca_responder::request::OcspRequest;

fn request_path(c: &mut Criterion) {
    let f = fixture(20_000);
    let mut group = c.benchmark_group("request_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % f.requests.len();
            black_box(OcspRequest::parse(black_box(&f.requests[i])).is_ok())
        })
    });
    group.bench_function("parse_lookup_bytes", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % f.requests.len();
            match f.service.answer_presigned(black_box(&f.requests[i])) {
                Some(Answer::Cacheable(p)) => black_box(response_bytes(&p).len()),
                other => panic!("unexpected answer {other:?}"),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, request_path);
criterion_main!(benches);

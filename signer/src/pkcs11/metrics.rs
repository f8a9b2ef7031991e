//! Signer metrics: lock-free counters, gauges and a fixed-bucket latency histogram, with a
//! Prometheus text rendering.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::SignError;

/// Upper bounds (seconds) of the latency histogram buckets; a last `+Inf` bucket follows.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Metrics of one signing key. Every field is an atomic, so updating costs a few
/// uncontended atomic adds; read them with [`SignerMetrics::snapshot`] or
/// [`SignerMetrics::render_prometheus`].
#[derive(Debug)]
pub struct SignerMetrics {
    backend: &'static str,
    key: String,
    signatures: AtomicU64,
    errors: [AtomicU64; SignError::KINDS.len()],
    in_flight: AtomicI64,
    queue_depth: AtomicI64,
    sessions_open: AtomicI64,
    reconnects: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_nanos: AtomicU64,
}

/// A point-in-time copy of [`SignerMetrics`].
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// The backend label (`pkcs11`).
    pub backend: &'static str,
    /// The key label.
    pub key: String,
    /// Signatures produced.
    pub signatures: u64,
    /// Failed signing calls by [`SignError::kind`] (only kinds seen at least once).
    pub errors: Vec<(&'static str, u64)>,
    /// Signing calls admitted and not finished (waiting for a session or signing).
    pub in_flight: i64,
    /// Callers waiting for a free session.
    pub queue_depth: i64,
    /// Sessions currently open on the token.
    pub sessions_open: i64,
    /// Attempts to open a session or re-initialise the module after a failure.
    pub reconnects: u64,
    /// Non-cumulative histogram counts, one per [`LATENCY_BUCKETS`] entry plus `+Inf`.
    pub latency_buckets: Vec<u64>,
    /// Sum of all observed latencies.
    pub latency_sum: Duration,
}

impl MetricsSnapshot {
    /// Failed calls of one kind.
    pub fn errors_of(&self, kind: &str) -> u64 {
        self.errors
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }

    /// Observations in the latency histogram (successful signatures).
    pub fn latency_count(&self) -> u64 {
        self.latency_buckets.iter().sum()
    }
}

impl SignerMetrics {
    /// Metrics for the key `key` of backend `backend` (both become Prometheus labels).
    pub fn new(backend: &'static str, key: &str) -> Self {
        Self {
            backend,
            key: key.to_owned(),
            signatures: AtomicU64::new(0),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            in_flight: AtomicI64::new(0),
            queue_depth: AtomicI64::new(0),
            sessions_open: AtomicI64::new(0),
            reconnects: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one successful signature and its latency.
    pub fn observe_success(&self, latency: Duration) {
        self.signatures.fetch_add(1, Ordering::Relaxed);
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Records one failed signing call.
    pub fn observe_error(&self, error: &SignError) {
        let kind = error.kind();
        if let Some(i) = SignError::KINDS.iter().position(|k| *k == kind) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    pub(crate) fn add_queue_depth(&self, delta: i64) {
        self.queue_depth.fetch_add(delta, Ordering::Relaxed);
    }

    pub(crate) fn add_sessions_open(&self, delta: i64) {
        self.sessions_open.fetch_add(delta, Ordering::Relaxed);
    }

    pub(crate) fn add_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// A consistent-enough copy of every value (each read is atomic on its own).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let errors = SignError::KINDS
            .iter()
            .zip(&self.errors)
            .filter_map(|(kind, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then_some((*kind, n))
            })
            .collect();
        MetricsSnapshot {
            backend: self.backend,
            key: self.key.clone(),
            signatures: self.signatures.load(Ordering::Relaxed),
            errors,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            sessions_open: self.sessions_open.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            latency_buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            latency_sum: Duration::from_nanos(self.latency_sum_nanos.load(Ordering::Relaxed)),
        }
    }

    /// The Prometheus text exposition of this key's metrics, names starting with `prefix`
    /// (for example `revoca_signer` gives `revoca_signer_sign_seconds_bucket{backend=
    /// "pkcs11",key="ocsp",le="0.001"}`). To expose several keys, use
    /// [`SignerMetrics::render_prometheus_all`], which writes each `# TYPE` line once.
    pub fn render_prometheus(&self, prefix: &str) -> String {
        Self::render_prometheus_all(prefix, &[self])
    }

    /// The Prometheus text exposition of several keys' metrics, grouped by metric family.
    pub fn render_prometheus_all(prefix: &str, all: &[&SignerMetrics]) -> String {
        let snaps: Vec<MetricsSnapshot> = all.iter().map(|m| m.snapshot()).collect();
        let mut out = String::new();
        let labels = |s: &MetricsSnapshot| {
            format!(
                "backend=\"{}\",key=\"{}\"",
                escape_label(s.backend),
                escape_label(&s.key)
            )
        };

        let _ = writeln!(
            out,
            "# HELP {prefix}_sign_seconds Time for one successful signature, including the wait \
             for a session.\n# TYPE {prefix}_sign_seconds histogram"
        );
        for s in &snaps {
            let l = labels(s);
            let mut cumulative = 0;
            for (i, n) in s.latency_buckets.iter().enumerate() {
                cumulative += n;
                let le = LATENCY_BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "{prefix}_sign_seconds_bucket{{{l},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{prefix}_sign_seconds_sum{{{l}}} {}",
                s.latency_sum.as_secs_f64()
            );
            let _ = writeln!(out, "{prefix}_sign_seconds_count{{{l}}} {cumulative}");
        }

        type Family = (
            &'static str,
            &'static str,
            &'static str,
            fn(&MetricsSnapshot) -> String,
        );
        let simple: [Family; 5] = [
            ("signatures_total", "counter", "Signatures produced.", |s| {
                s.signatures.to_string()
            }),
            (
                "in_flight",
                "gauge",
                "Signing calls admitted and not finished.",
                |s| s.in_flight.to_string(),
            ),
            (
                "queue_depth",
                "gauge",
                "Signing calls waiting for a free session.",
                |s| s.queue_depth.to_string(),
            ),
            (
                "sessions_open",
                "gauge",
                "Sessions open on the token.",
                |s| s.sessions_open.to_string(),
            ),
            (
                "reconnects_total",
                "counter",
                "Attempts to reopen a session or re-initialise the module after an error.",
                |s| s.reconnects.to_string(),
            ),
        ];
        for (name, kind, help, value) in simple {
            let _ = writeln!(
                out,
                "# HELP {prefix}_{name} {help}\n# TYPE {prefix}_{name} {kind}"
            );
            for s in &snaps {
                let _ = writeln!(out, "{prefix}_{name}{{{}}} {}", labels(s), value(s));
            }
        }

        let _ = writeln!(
            out,
            "# HELP {prefix}_sign_errors_total Failed signing calls by kind.\n\
             # TYPE {prefix}_sign_errors_total counter"
        );
        for s in &snaps {
            let l = labels(s);
            for (kind, n) in &s.errors {
                let _ = writeln!(out, "{prefix}_sign_errors_total{{{l},kind=\"{kind}\"}} {n}");
            }
        }
        out
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_and_rendering() {
        let m = SignerMetrics::new("pkcs11", "ocsp \"a\"");
        m.observe_success(Duration::from_micros(50));
        m.observe_success(Duration::from_millis(3));
        m.observe_success(Duration::from_secs(10));
        m.observe_error(&SignError::Busy {
            label: "x".into(),
            waited: Duration::from_millis(1),
        });
        m.add_in_flight(2);
        let s = m.snapshot();
        assert_eq!(s.signatures, 3);
        assert_eq!(s.latency_count(), 3);
        assert_eq!(s.latency_buckets[0], 1);
        assert_eq!(s.latency_buckets[5], 1);
        assert_eq!(s.latency_buckets[LATENCY_BUCKETS.len()], 1);
        assert_eq!(s.errors_of("busy"), 1);
        assert_eq!(s.errors_of("unavailable"), 0);
        let text = m.render_prometheus("revoca_signer");
        assert!(text.contains(
            "revoca_signer_sign_seconds_bucket{backend=\"pkcs11\",key=\"ocsp \\\"a\\\"\",le=\"0.0001\"} 1"
        ));
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains(
            "revoca_signer_sign_seconds_count{backend=\"pkcs11\",key=\"ocsp \\\"a\\\"\"} 3"
        ));
        assert!(
            text.contains("revoca_signer_in_flight{backend=\"pkcs11\",key=\"ocsp \\\"a\\\"\"} 2")
        );
        assert!(text.contains("kind=\"busy\"} 1"));
        // Two keys: one TYPE line per family.
        let other = SignerMetrics::new("pkcs11", "crl");
        let both = SignerMetrics::render_prometheus_all("p", &[&m, &other]);
        assert_eq!(both.matches("# TYPE p_sign_seconds histogram").count(), 1);
        assert!(both.contains("p_signatures_total{backend=\"pkcs11\",key=\"crl\"} 0"));
    }
}

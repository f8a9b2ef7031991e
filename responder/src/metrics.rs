//! Prometheus text exposition of the responder's counters, named for what operators ask
//! ("how many answers of each kind", "is anything expiring").

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::service::Service;

/// The service's counters in Prometheus text format.
pub fn render_metrics(service: &Service) -> String {
    let m = &service.metrics;
    let mut out = String::with_capacity(1024);
    let _ = writeln!(
        out,
        "# HELP revoca_ocsp_responses_total OCSP answers sent, by kind.\n# TYPE revoca_ocsp_responses_total counter"
    );
    for (kind, counter) in [
        ("presigned", &m.presigned),
        ("on_demand", &m.on_demand),
        ("malformed", &m.malformed),
        ("unauthorized", &m.unauthorized),
        ("try_later", &m.try_later),
    ] {
        let _ = writeln!(
            out,
            "revoca_ocsp_responses_total{{kind=\"{kind}\"}} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP revoca_ocsp_expired_refusals_total Requests whose response was past nextUpdate (alarm).\n# TYPE revoca_ocsp_expired_refusals_total counter\nrevoca_ocsp_expired_refusals_total {}",
        m.expired.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP revoca_ocsp_on_demand_shed_total On-demand signatures refused by the rate limit or a full pool.\n# TYPE revoca_ocsp_on_demand_shed_total counter\nrevoca_ocsp_on_demand_shed_total {}",
        m.shed.load(Ordering::Relaxed)
    );
    out
}

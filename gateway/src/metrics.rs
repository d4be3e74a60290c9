//! Request metrics in the Prometheus text format: counts by method, route and status, and a latency
//! histogram by route. Routes are the matched patterns, so cardinality stays bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    requests: RwLock<BTreeMap<(String, String, u16), AtomicU64>>,
    latency: RwLock<BTreeMap<String, Histogram>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let key = (method.to_owned(), route.to_owned(), status);
        // The common case takes only the read lock; a new series takes the write lock once.
        let counted =
            self.requests.read().ok().and_then(|m| m.get(&key).map(|c| c.fetch_add(1, Ordering::Relaxed))).is_some();
        if !counted && let Ok(mut m) = self.requests.write() {
            m.entry(key).or_default().fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        let record = |h: &Histogram| {
            for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                if seconds <= *bound {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            h.count.fetch_add(1, Ordering::Relaxed);
            h.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        };
        let recorded = self.latency.read().ok().and_then(|m| m.get(route).map(record)).is_some();
        if !recorded && let Ok(mut m) = self.latency.write() {
            record(m.entry(route.to_owned()).or_default());
        }
    }

    /// The exposition text for `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP ibal_http_requests_total HTTP requests handled, by method, route and status.\n");
        out.push_str("# TYPE ibal_http_requests_total counter\n");
        if let Ok(m) = self.requests.read() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "ibal_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {}",
                    escape(method),
                    escape(route),
                    n.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP ibal_http_request_duration_seconds Time to answer HTTP requests, by route.\n");
        out.push_str("# TYPE ibal_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.read() {
            for (route, h) in m.iter() {
                let route = escape(route);
                for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(
                        out,
                        "ibal_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {}",
                        count.load(Ordering::Relaxed)
                    );
                }
                let count = h.count.load(Ordering::Relaxed);
                let _ =
                    writeln!(out, "ibal_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}");
                let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
                let _ = writeln!(out, "ibal_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}");
                let _ = writeln!(out, "ibal_http_request_duration_seconds_count{{route=\"{route}\"}} {count}");
            }
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let m = Metrics::default();
        m.observe_request("GET", "/health", 200, Duration::from_micros(500));
        m.observe_request("GET", "/health", 200, Duration::from_millis(30));
        m.observe_request("GET", "/x\"y", 404, Duration::from_millis(2));
        let text = m.render();
        assert!(text.contains("ibal_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("route=\"/x\\\"y\""), "labels are escaped: {text}");
        assert!(text.contains("ibal_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.001\"} 1"));
        assert!(text.contains("ibal_http_request_duration_seconds_bucket{route=\"/health\",le=\"0.05\"} 2"));
        assert!(text.contains("ibal_http_request_duration_seconds_count{route=\"/health\"} 2"));
    }
}

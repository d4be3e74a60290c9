//! The gateway's metrics in the Prometheus text format (OpenMetrics), through `prometheus-client`:
//! one registry per gateway, no global. The HTTP request metrics are here; each part that has
//! metrics of its own (the store, the chat) creates them and registers them here at start-up.
//! Routes are the matched patterns, so label cardinality stays bounded.

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A latency histogram with [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ibal");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests handled, by method, route and status", requests.clone());
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "Time to answer HTTP requests, by route", latency.clone());
        Self { registry, requests, latency }
    }

    /// Registers a metric a part of the gateway keeps (it updates its own clone).
    pub fn register(&mut self, name: &str, help: &str, metric: impl Metric) {
        self.registry.register(name, help, metric);
    }

    /// Registers a collector: metrics computed when scraped.
    pub fn register_collector(&mut self, collector: impl Collector) {
        self.registry.register_collector(Box::new(collector));
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let (method, route) = (label_value(method), label_value(route));
        self.requests.get_or_create(&RequestLabels { method, route: route.clone(), status }).inc();
        self.latency.get_or_create(&RouteLabels { route }).observe(elapsed.as_secs_f64());
    }

    /// The exposition text for `/metrics`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// prometheus-client writes label values as they are: a quote, backslash or newline (none of which a
/// method token or one of our route patterns holds) would break the exposition, so it becomes `_`.
fn label_value(value: &str) -> String {
    value.replace(['"', '\\', '\n'], "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let mut m = Metrics::new();
        let extra = Counter::<u64>::default();
        m.register("things", "Things", extra.clone());
        extra.inc_by(3);
        m.observe_request("GET", "/health", 200, Duration::from_micros(500));
        m.observe_request("GET", "/health", 200, Duration::from_millis(30));
        m.observe_request("GET", "/x\"y", 404, Duration::from_millis(2));
        let text = m.render();
        assert!(text.contains("ibal_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("route=\"/x_y\""), "a quote cannot break the exposition: {text}");
        assert!(text.contains("ibal_http_request_duration_seconds_bucket{le=\"0.001\",route=\"/health\"} 1"), "{text}");
        assert!(text.contains("ibal_http_request_duration_seconds_bucket{le=\"0.05\",route=\"/health\"} 2"), "{text}");
        assert!(text.contains("ibal_http_request_duration_seconds_count{route=\"/health\"} 2"), "{text}");
        assert!(text.contains("ibal_things_total 3"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}

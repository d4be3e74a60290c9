//! Percentiles over recorded samples, ratios, and the result table.

use std::time::Duration;

/// Latency samples in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    values: Vec<u64>,
    sorted: bool,
}

impl Samples {
    pub fn record(&mut self, d: Duration) {
        self.values.push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.sorted = false;
    }

    pub fn extend(&mut self, other: Samples) {
        self.values.extend(other.values);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The nearest-rank percentile (`p` in 0..=100), in microseconds; 0 when empty.
    pub fn percentile_us(&mut self, p: f64) -> f64 {
        if !self.sorted {
            self.values.sort_unstable();
            self.sorted = true;
        }
        percentile(&self.values, p) as f64 / 1_000.0
    }
}

/// Nearest-rank percentile of sorted values; 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `a / b`, or NaN when `b` is zero.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { f64::NAN } else { a / b }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Miss,
    /// Reported without a target.
    Info,
}

impl Verdict {
    pub fn of(pass: bool) -> Self {
        if pass { Verdict::Pass } else { Verdict::Miss }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Info => "—",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub gateway: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
}

impl Row {
    pub fn new(
        scenario: impl Into<String>,
        gateway: impl Into<String>,
        baseline: impl Into<String>,
        ratio: f64,
        target: impl Into<String>,
        verdict: Verdict,
    ) -> Self {
        let ratio = if ratio.is_finite() { format!("{ratio:.2}") } else { "—".into() };
        Row {
            scenario: scenario.into(),
            gateway: gateway.into(),
            baseline: baseline.into(),
            ratio,
            target: target.into(),
            verdict,
        }
    }

    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {} | {} |",
            self.scenario,
            self.gateway,
            self.baseline,
            self.ratio,
            self.target,
            self.verdict.label()
        )
    }
}

pub const TABLE_HEADER: &str =
    "| scenario | gateway | baseline (same run) | ratio | target | result |\n|---|---|---|---|---|---|";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[7], 99.0), 7);
    }

    #[test]
    fn samples_in_microseconds() {
        let mut s = Samples::default();
        for us in [300u64, 100, 200] {
            s.record(Duration::from_micros(us));
        }
        assert_eq!(s.percentile_us(50.0), 200.0);
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(1.0, 2.0), 0.5);
        assert!(ratio(1.0, 0.0).is_nan());
        assert_eq!(Row::new("x", "1", "2", f64::NAN, "t", Verdict::Info).ratio, "—");
    }
}

#[derive(Default)]
pub struct Outcome {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

pub fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

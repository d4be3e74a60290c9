//! In-process baselines: what a step costs with nothing of the gateway around it.

use std::time::Duration;

use serde_json::Value;

/// Verifications per second of `token` with `key`, in-process, one thread per core for 2 s; (rate, threads).
pub fn raw_verify_rate(
    token: &str,
    key: &jsonwebtoken::DecodingKey,
    validation: &jsonwebtoken::Validation,
) -> (f64, usize) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let window = Duration::from_secs(2);
    let verified: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let end = std::time::Instant::now() + window;
                    let mut n = 0u64;
                    while std::time::Instant::now() < end && n < 100_000_000 {
                        if jsonwebtoken::decode::<Value>(token, key, validation).is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    (verified as f64 / window.as_secs_f64(), cores)
}

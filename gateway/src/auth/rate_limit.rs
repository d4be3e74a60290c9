//! A keyed token bucket: `capacity` actions at once, refilled at `per_minute` a minute. Used to slow
//! down password guessing (and by the chat for messages per user).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    refill_per_sec: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(capacity: u32, per_minute: u32) -> Self {
        Self {
            capacity: f64::from(capacity),
            refill_per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`: Ok, or Err with the wait until the next one.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() > 100_000 {
            // Bounded memory: forget buckets that have refilled completely.
            let full = self.capacity / self.refill_per_sec.max(f64::EPSILON);
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() < full);
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((self.capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.refill_per_sec).min(self.capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *tokens) / self.refill_per_sec.max(f64::EPSILON);
            Err(Duration::from_secs_f64(wait.max(0.001)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_empties_then_says_how_long_to_wait() {
        let limiter = RateLimiter::new(3, 60);
        for _ in 0..3 {
            assert!(limiter.check("alice").is_ok());
        }
        let wait = limiter.check("alice").expect_err("limited");
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO, "{wait:?}");
        assert!(limiter.check("bob").is_ok(), "buckets are per key");
    }
}

//! A keyed token bucket: `capacity` actions at once, refilled at `per_minute` a minute. Used to slow
//! down password guessing (and by the chat for messages per user).
//!
//! Memory is bounded by construction: at most [`MAX_KEYS`] buckets, the least recently used one
//! forgotten to make room (an idle key, whose bucket has refilled by then in any real use), and keys
//! longer than [`MAX_KEY_LEN`] are hashed first, so no request can grow the map or its keys.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// The most keys remembered at once.
pub const MAX_KEYS: usize = 65_536;
/// Longer keys are remembered by their SHA-256.
pub const MAX_KEY_LEN: usize = 96;

#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    refill_per_sec: f64,
    buckets: Mutex<LruCache<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(capacity: u32, per_minute: u32) -> Self {
        Self::with_max_keys(capacity, per_minute, MAX_KEYS)
    }

    pub fn with_max_keys(capacity: u32, per_minute: u32, max_keys: usize) -> Self {
        Self {
            capacity: f64::from(capacity),
            refill_per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(LruCache::new(NonZeroUsize::new(max_keys).unwrap_or(NonZeroUsize::MIN))),
        }
    }

    /// How many keys are remembered now.
    pub fn len(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one token for `key`: Ok, or Err with the wait until the next one.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let key = if key.len() > MAX_KEY_LEN { crate::crypto::sha256_hex(key) } else { key.to_owned() };
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        let (tokens, at) = buckets.get_or_insert_mut(key, || (self.capacity, now));
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

    #[test]
    fn memory_stays_bounded_whatever_the_keys() {
        let limiter = RateLimiter::with_max_keys(1, 1, 100);
        assert!(limiter.check("target").is_ok());
        for i in 0..10_000 {
            let _ = limiter.check(&format!("flood-{i}"));
        }
        assert_eq!(limiter.len(), 100, "never more keys than the bound");
        let long = "x".repeat(10_000);
        assert!(limiter.check(&long).is_ok());
        assert!(limiter.check(&long).is_err(), "a long key is still one bucket (by its hash)");
    }
}

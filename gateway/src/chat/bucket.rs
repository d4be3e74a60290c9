//! A token bucket owned by one socket, for the frames a client may send often but not without end:
//! `typing` (it fans out to the whole room) and `history` (each is a database read). A flood of them
//! from one socket is answered with `slow_down` instead of being passed on to everyone else.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    at: Instant,
}

impl Bucket {
    /// `capacity` at once, refilled at `per_sec` a second.
    pub fn new(capacity: u32, per_sec: f64) -> Self {
        let capacity = f64::from(capacity);
        Self { tokens: capacity, capacity, per_sec, at: Instant::now() }
    }

    /// `typing` frames: a burst of five, one a second after that (clients send one every few).
    pub fn typing() -> Self {
        Self::new(5, 1.0)
    }

    /// `history` frames: a burst of ten pages, then one every two seconds.
    pub fn history() -> Self {
        Self::new(10, 0.5)
    }

    /// One token: Ok, or Err with the wait until the next.
    pub fn take(&mut self) -> Result<(), Duration> {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> Result<(), Duration> {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.per_sec).min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec.max(f64::EPSILON)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_refill_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(3, 1.0);
        bucket.at = start;
        for _ in 0..3 {
            assert!(bucket.take_at(start).is_ok());
        }
        let wait = bucket.take_at(start).expect_err("empty");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(bucket.take_at(start + Duration::from_millis(1100)).is_ok(), "refilled");
        assert!(bucket.take_at(start + Duration::from_millis(1200)).is_err());
    }
}

//! Which logins were alive a moment ago, so that every API call and chat heartbeat does not read the
//! database to learn that a login still is. Only "alive" is remembered, for [`TTL`], and everything
//! is forgotten the moment this process commits a revocation (a sign-out, a reused refresh token, a
//! retirement or an erasure): on this replica a revocation takes effect at once, on the others
//! within [`TTL`]. Access tokens live 15 minutes; without this check a revoked one would live on
//! until then.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

/// How long an "alive" answer is trusted without asking the database again.
pub const TTL: Duration = Duration::from_secs(5);
/// Logins remembered at once; the least recently checked is forgotten first.
const CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct LiveLogins {
    /// Key → (when it was found alive, the revocation count read before asking).
    alive: Mutex<LruCache<String, (Instant, u64)>>,
}

impl Default for LiveLogins {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self { alive: Mutex::new(LruCache::new(capacity)) }
    }
}

impl LiveLogins {
    /// Whether `key` was found alive within [`TTL`] and no revocation was committed since.
    pub fn known_alive(&self, key: &str, revocations: u64) -> bool {
        let mut alive = self.alive.lock().unwrap_or_else(PoisonError::into_inner);
        match alive.get(key) {
            Some(&(at, seen)) if seen == revocations && at.elapsed() < TTL => true,
            Some(_) => {
                alive.pop(key);
                false
            }
            None => false,
        }
    }

    /// Remembers that `key` was found alive, by a check that read `revocations` before asking.
    pub fn found_alive(&self, key: String, revocations: u64) {
        self.alive.lock().unwrap_or_else(PoisonError::into_inner).put(key, (Instant::now(), revocations));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_forgets_every_login() {
        let logins = LiveLogins::default();
        assert!(!logins.known_alive("sid:a", 0));
        logins.found_alive("sid:a".into(), 0);
        assert!(logins.known_alive("sid:a", 0));
        assert!(!logins.known_alive("sid:a", 1), "one revocation later, it is asked again");
        assert!(!logins.known_alive("sid:a", 0), "and forgotten");
    }

    #[test]
    fn a_check_that_raced_a_revocation_is_not_trusted() {
        let logins = LiveLogins::default();
        // Read 0, asked the database, a revocation committed (now 1), then the answer is stored.
        logins.found_alive("sub:u".into(), 0);
        assert!(!logins.known_alive("sub:u", 1));
    }
}

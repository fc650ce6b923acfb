//! Keyed rate limits (governor): login attempts per IP and per account.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct KeyedLimit {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl KeyedLimit {
    /// `per_minute` attempts per key, refilled evenly, all usable at once.
    pub fn per_minute(per_minute: u32) -> KeyedLimit {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        KeyedLimit {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// `Ok` when allowed; `Err(seconds to wait)` otherwise.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
            })
    }

    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

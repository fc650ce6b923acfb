//! Rate limits on REST publishing (publish and Realtime Events): per API key for callers
//! that hold one (your backends), per client IP for everyone else (anonymous callers,
//! client tokens, dashboard sessions). WebSocket publishes have their own per-connection
//! limit in the session. Each dialect answers a refusal in its own shape: Syncano's
//! `{"detail": …}` (`ApiError::RateLimited`) or Rocket.Chat's `error-too-many-requests`.

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::HttpResponse;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::auth::{Caller, Principal};
use crate::config::Settings;

pub struct PublishLimits {
    per_key: DefaultKeyedRateLimiter<i64>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_key_rate: u32,
    per_ip_rate: u32,
}

/// A refused publish: how long to wait, and the limit that refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: u64,
    pub limit: u32,
}

fn quota(per_second: u32) -> Quota {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    Quota::per_second(rate).allow_burst(burst)
}

impl PublishLimits {
    pub fn new(settings: &Settings) -> PublishLimits {
        PublishLimits {
            per_key: RateLimiter::keyed(quota(settings.rest_publish_rate_per_key)),
            per_ip: RateLimiter::keyed(quota(settings.rest_publish_rate_per_ip)),
            per_key_rate: settings.rest_publish_rate_per_key,
            per_ip_rate: settings.rest_publish_rate_per_ip,
        }
    }

    /// Counts one publish by `caller` from `ip`.
    pub fn check(&self, caller: &Caller, ip: Option<IpAddr>) -> Result<(), Throttled> {
        let (result, limit) = match (&caller.principal, ip) {
            (Principal::ApiKey(key), _) => (self.per_key.check_key(&key.id), self.per_key_rate),
            (_, Some(ip)) => (self.per_ip.check_key(&ip), self.per_ip_rate),
            (_, None) => return Ok(()),
        };
        result.map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Throttled {
                retry_after: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
                limit,
            }
        })
    }

    /// Forgets keys and addresses whose buckets are full again (periodic housekeeping).
    pub fn forget_idle(&self) {
        self.per_key.retain_recent();
        self.per_ip.retain_recent();
    }
}

/// The Rocket.Chat dialect's 429 (SPEC §6): `error-too-many-requests` with the
/// `X-RateLimit-*` headers.
pub fn rocketchat_too_many_requests(t: Throttled) -> HttpResponse {
    let reset_ms = chrono::Utc::now().timestamp_millis() + (t.retry_after as i64) * 1000;
    HttpResponse::TooManyRequests()
        .insert_header(("X-RateLimit-Limit", t.limit.to_string()))
        .insert_header(("X-RateLimit-Remaining", "0"))
        .insert_header(("X-RateLimit-Reset", reset_ms.to_string()))
        .insert_header((actix_web::http::header::RETRY_AFTER, t.retry_after.to_string()))
        .json(json!({
            "success": false,
            "error": format!(
                "Error, too many requests. Please slow down. You must wait {} seconds before trying this endpoint again. [error-too-many-requests]",
                t.retry_after
            ),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_callers_are_limited_per_ip_with_a_burst_of_twice_the_rate() {
        let mut settings = Settings::with_defaults("/tmp/x".into());
        settings.rest_publish_rate_per_ip = 5;
        let limits = PublishLimits::new(&settings);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let anon = Caller::anonymous();
        for _ in 0..10 {
            limits.check(&anon, Some(a)).unwrap();
        }
        let refused = limits.check(&anon, Some(a)).unwrap_err();
        assert_eq!(refused.limit, 5);
        assert!(refused.retry_after >= 1);
        assert!(
            limits.check(&anon, Some(b)).is_ok(),
            "other IPs are not affected"
        );
    }
}
